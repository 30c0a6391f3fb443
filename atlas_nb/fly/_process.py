"""Subprocesses for Fly ops: each runs in its own process group, killed as a whole.

A ``fly deploy`` starts builders, docker clients and ssh helpers; killing only the ``fly``
process would orphan them. ``kill_group`` sends SIGTERM to the whole group, waits a moment,
then SIGKILLs whatever is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

GRACE_S = 2.0


async def start(
    argv: list[str], *, cwd: str | None = None, **kwargs: Any
) -> asyncio.subprocess.Process:
    """Start ``argv`` in a new session (its own process group) with stdin closed."""
    return await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        start_new_session=os.name == "posix",
        **kwargs,
    )


def _signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    killpg = getattr(os, "killpg", None)
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if killpg is not None:
            killpg(proc.pid, sig)
        elif proc.returncode is None:
            proc.kill()


async def kill_group(proc: asyncio.subprocess.Process, grace: float = GRACE_S) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds, and reap the leader."""
    _signal_group(proc, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
    except TimeoutError:
        pass
    _signal_group(proc, getattr(signal, "SIGKILL", signal.SIGTERM))
    with contextlib.suppress(Exception):
        await asyncio.wait_for(proc.wait(), 10)
