"""Helpers that run the real guard program as a local process, the way a pod would.

A :class:`FakePod` has: a fake ``runpodctl`` on PATH (records its argv), a fake provider
REST endpoint (records every request), a fake ``/proc/1/environ`` file and a private state file.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from atlas_nb.guard import GuardSpec, fly_injection, guard_env, runpod_injection, vast_injection
from tests.helpers.waiting import eventually

TOKEN = "the-bearer-token"


class FakeREST:
    """A provider API on loopback: records requests; answers ``status[method]`` (default 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status: dict[str, int] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size) if size else b""
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "auth": self.headers.get("Authorization"),
                        "body": json.loads(body) if body else None,
                    }
                )
                code = fake.status.get(self.command, 200)
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_DELETE = do_PUT = do_POST = answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def calls(self) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakePod:
    """One pod's worth of environment for the guard; :meth:`start` runs an injection for real."""

    def __init__(self, tmp: Path, rest: FakeREST) -> None:
        self.tmp, self.rest = tmp, rest
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.ctl_log = tmp / "runpodctl.log"
        self.state = tmp / "state.json"
        self.environ = tmp / "proc1_environ"
        self.pid1: dict[str, str] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.port: int | None = None

    def fake_runpodctl(self, rc: int = 0) -> None:
        script = self.bin / "runpodctl"
        script.write_text(f'#!/bin/sh\necho "$*" >> {shlex.quote(str(self.ctl_log))}\nexit {rc}\n')
        script.chmod(script.stat().st_mode | stat.S_IEXEC)

    def ctl_calls(self) -> list[str]:
        return self.ctl_log.read_text().splitlines() if self.ctl_log.exists() else []

    def env(self, inj_env: dict[str, str], **extra: str) -> dict[str, str]:
        self.environ.write_bytes(b"".join(f"{k}={v}\0".encode() for k, v in self.pid1.items()))
        env = {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            **inj_env,
            "ATLAS_GUARD_HOST": "127.0.0.1",
            "ATLAS_GUARD_PORT": "0",
            "ATLAS_GUARD_STATE": str(self.state),
            "ATLAS_GUARD_DIR": str(self.tmp / "guard"),
            "ATLAS_GUARD_PROC1_ENVIRON": str(self.environ),
            "ATLAS_GUARD_RUNPOD_API": self.rest.url,
            "ATLAS_GUARD_VAST_API": self.rest.url,
        }
        env.update(extra)
        return env

    def start(
        self,
        provider: str,
        spec: GuardSpec,
        command: list[str] | None = None,
        *,
        env_in_pid1: bool = False,
        **extra: str,
    ) -> subprocess.Popen[bytes]:
        """Start the guard as the provider would: RunPod ``args``, Fly ``init``, Vast ``onstart``.

        ``env_in_pid1`` puts the injected env only in the fake ``/proc/1/environ`` (an ``onstart``
        or SSH shell that did not inherit the container's env)."""
        if provider == "runpod":
            inj = runpod_injection(spec, command or ["sleep", "300"])
            argv = shlex.split(inj["args"])
        elif provider == "fly":
            inj = fly_injection(spec, command or ["sleep", "300"])
            argv = [*inj["init"]["entrypoint"], *inj["init"]["cmd"]]
        else:
            inj = vast_injection(spec)
            argv = ["sh", "-c", inj["onstart"]]
        if env_in_pid1:
            self.pid1 = {**self.pid1, **inj["env"]}
        proc = subprocess.Popen(
            argv,
            env=self.env({} if env_in_pid1 else inj["env"], **extra),
            stderr=open(self.tmp / f"guard-{len(self.procs)}.log", "wb"),  # noqa: SIM115
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def start_agent(
        self, args: list[str], spec: GuardSpec, **extra: str
    ) -> subprocess.Popen[bytes]:
        """Run ``agent.py`` directly with ``args`` (e.g. ``--time-scale``), as the launcher would."""
        agent = Path(__file__).parents[2] / "atlas_nb" / "guard" / "agent.py"
        proc = subprocess.Popen(
            [sys.executable, str(agent), *args],
            env=self.env(guard_env("runpod", spec), **extra),
            stderr=open(self.tmp / f"guard-{len(self.procs)}.log", "wb"),  # noqa: SIM115
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def read_state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state.read_text())
        except (OSError, ValueError):
            return {}

    def wait_port(self) -> int:
        self.port = eventually(lambda: self.read_state().get("port") or None)
        return self.port

    def lease_url(self) -> str:
        return f"http://127.0.0.1:{self.port or self.wait_port()}/lease"

    def post(self, body: Any = None, token: str | None = TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.post(self.lease_url(), json=body or {}, headers=headers, timeout=10)

    def get(self, token: str | None = TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.get(self.lease_url(), headers=headers, timeout=10)

    def guard_log(self) -> str:
        return "".join(p.read_text() for p in sorted(self.tmp.glob("guard-*.log")))

    def stop_all(self) -> None:
        for proc in self.procs:  # the whole session: a Vast onstart leaves the guard detached
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
