"""Drive :mod:`tests.helpers.team_kernel` processes from a test or a benchmark."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class _Forked:
    """A forkserver child (atlas_nb already imported) that looks like a ``Popen``."""

    def __init__(self, settings: dict[str, Any], fifo_dir: Path) -> None:
        import multiprocessing

        from . import team_kernel

        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["tests.helpers.team_kernel"])
        fifo_dir.mkdir(parents=True, exist_ok=True)
        fin, fout = fifo_dir / "in", fifo_dir / "out"
        os.mkfifo(fin)
        os.mkfifo(fout)
        self._proc = ctx.Process(
            target=team_kernel.from_fifos, args=(json.dumps(settings), str(fin), str(fout))
        )
        self._proc.start()
        self.pid = self._proc.pid
        self.stdin = open(fin, "w")  # noqa: SIM115 (same order as the child: no deadlock)
        self.stdout = open(fout)  # noqa: SIM115
        self.stderr = iter(())

    @property
    def returncode(self) -> int | None:
        return self._proc.exitcode

    def poll(self) -> int | None:
        return self._proc.exitcode

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def kill(self) -> None:
        self._proc.kill()

    def wait(self, timeout: float | None = None) -> int | None:
        self._proc.join(timeout)
        if self._proc.exitcode is None:
            raise subprocess.TimeoutExpired("kernel", timeout or 0)
        return self._proc.exitcode


class Kernel:
    """One kernel process; ``lines`` collects what it printed (parsed), ``send`` a command.

    ``fork=True`` forks it from a forkserver that imported atlas_nb once (much cheaper when
    starting many; its stderr is not captured), else it is a new interpreter.
    """

    def __init__(self, settings: dict[str, Any], *, fork: Path | None = None) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("ATLAS_NB_STORE", None)
        self.process: Any
        if fork is not None:
            self.process = _Forked(settings, fork)
        else:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.helpers.team_kernel", json.dumps(settings)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, cwd=ROOT, env=env,
            )  # fmt: skip
        self.lines: list[dict[str, Any]] = []
        self._new: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.stderr: list[str] = []
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            self.lines.append(data)
            self._new.put(data)

    def _read_err(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    def send(self, **cmd: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(cmd) + "\n")
        self.process.stdin.flush()

    def wait_for(self, key: str, timeout: float = 60.0, since: int = 0, **match: Any) -> dict:
        """The first line (at index ``since`` or later) with ``key`` and the ``match`` values."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines[since:]:
                if key in line and all(line.get(k) == v for k, v in match.items()):
                    return line
            if self.process.poll() is not None and self._new.empty():
                raise AssertionError(
                    f"kernel exited ({self.process.returncode}) before {key} {match}: "
                    + "".join(self.stderr[-30:])
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no {key} {match} in time; stderr: {''.join(self.stderr[-30:])}"
                )
            try:
                self._new.get(timeout=min(left, 0.5))
            except queue.Empty:
                pass

    def ask(self, key: str, timeout: float = 60.0, **cmd: Any) -> dict:
        since = len(self.lines)
        self.send(**cmd)
        return self.wait_for(key, timeout, since=since)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease release (a crashed kernel)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except Exception:
                self.process.kill()
                self.process.wait(timeout=30)
