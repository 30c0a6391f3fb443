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

# what flyctl needs from the parent: where things are, who the user is, the locale, proxies and
# CA bundles, and its own FLY_* settings — never other providers' keys or the user's secrets
_PASS_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TERM",
        "TMPDIR",
        "TEMP",
        "TMP",
        "TZ",
        "LANG",
        "LANGUAGE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "DOCKER_HOST",
        "DOCKER_CONFIG",
        "DOCKER_CERT_PATH",
        "DOCKER_TLS_VERIFY",
        # Windows: where the system, the profile and app data live
        "SYSTEMROOT",
        "SYSTEMDRIVE",
        "WINDIR",
        "COMSPEC",
        "PATHEXT",
        "USERPROFILE",
        "APPDATA",
        "LOCALAPPDATA",
        "PROGRAMDATA",
        "HOMEDRIVE",
        "HOMEPATH",
    }
)
_PASS_PREFIXES = ("LC_", "XDG_", "FLY_", "FLYCTL_")


def child_env(
    extra: dict[str, str] | None = None, environ: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment a ``fly`` child gets: the allow-listed parts of ours, plus ``extra``.

    >>> child_env({"FLY_API_TOKEN": "t"}, {"PATH": "/bin", "RUNPOD_API_KEY": "rpa_x",
    ...                                    "https_proxy": "http://p:3128", "LC_ALL": "C"})
    {'PATH': '/bin', 'https_proxy': 'http://p:3128', 'LC_ALL': 'C', 'FLY_API_TOKEN': 't'}
    """
    source = os.environ if environ is None else environ
    env = {
        name: value
        for name, value in source.items()
        if name.upper() in _PASS_NAMES or name.upper().startswith(_PASS_PREFIXES)
    }
    return {**env, **(extra or {})}


async def start(
    argv: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None, **kwargs: Any
) -> asyncio.subprocess.Process:
    """Start ``argv`` in a new session (its own process group) with stdin closed and only
    :func:`child_env` (or ``env``) for environment."""
    return await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=child_env() if env is None else env,
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
