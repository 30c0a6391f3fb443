"""Ends a sandbox's pod guards when the sandbox process is gone, however it ended.

The sandbox runs each pod's guard as a local process group in its own session, so that
stopping a pod stops exactly that guard. A sandbox killed by a signal (SIGKILL, an OOM kill, a
crashed kernel) cannot stop them, and its "pods" vanish with it, so the guards would go on
calling a server that no longer exists. This keeper is started beside the guards with a pipe
on its stdin: the sandbox writes ``+<pgid>`` for a guard it started and ``-<pgid>`` for one
that has ended. End of input — the sandbox closed the pipe, exited or was killed — makes the
keeper kill every group still listed and remove the guards' state folder. It imports only the
standard library, so the sandbox starts it as a script (``python -I guard_keeper.py ROOT``).

    >>> import io, os, subprocess, sys, tempfile
    >>> root = tempfile.mkdtemp()
    >>> guard = subprocess.Popen(["sleep", "60"], start_new_session=True)
    >>> killed = keep(io.StringIO(f"+{guard.pid}\\n"), root)  # the input ends: sandbox gone
    >>> killed == [guard.pid]
    True
    >>> guard.wait() == -9, os.path.exists(root)
    (True, False)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Iterable


def keep(lines: Iterable[str], root: str) -> list[int]:
    """Follow ``+pgid``/``-pgid`` lines until they end; then kill the groups still listed and
    remove ``root``. Returns the groups it killed."""
    groups: dict[int, None] = {}
    for line in lines:
        sign, number = line[:1], line[1:].strip()
        if sign in "+-" and number.isdigit():
            if sign == "+":
                groups[int(number)] = None
            else:
                groups.pop(int(number), None)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    shutil.rmtree(root, ignore_errors=True)
    return list(groups)


def main(argv: list[str] | None = None) -> int:
    """``python -I .../guard_keeper.py ROOT`` (the pipe on stdin)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -I guard_keeper.py ROOT", file=sys.stderr)
        return 2
    # terminal signals go to the sandbox's process group; only the end of the pipe ends us
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep(sys.stdin, args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
