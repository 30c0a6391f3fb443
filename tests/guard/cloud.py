"""A sandbox served by its own process, and atlas_nb clients in child processes.

The pod guards the sandbox runs are that server process's children, so a client process can be
SIGKILLed and nothing of atlas_nb is left to guard its pods but the pods themselves.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

FLY_APP = "atlas-demo-worker"
ROOT = Path(__file__).resolve().parents[2]

SERVER = """
import json, sys
from atlas_nb import sandbox
sb = sandbox.start(port=0, speed=float(sys.argv[1]), configure=False)
print(json.dumps({"urls": sb.urls, "keys": sb.api_keys}), flush=True)
sys.stdin.read()  # serve until the test closes our stdin
sb.stop()
"""

CLIENT = """
import json, sys, time
import atlas_nb as atlas
provider, touch, kw = sys.argv[1], sys.argv[2] == "touch", json.loads(sys.argv[3])
if provider == "fly":
    kw["provider_opts"] = {"app": "FLY_APP"}
elif provider in ("runpod", "vast", "lambda"):
    kw["gpu"] = "rtx_4090" if provider != "lambda" else "a10"
try:
    c = atlas.spawn(provider=provider, image="python:3.11", track=True, **kw)
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
    sys.exit(3)
print(json.dumps({"id": c.id}), flush=True)
while True:
    if touch:
        atlas.touch(c.id)
    time.sleep(0.2)
""".replace("FLY_APP", FLY_APP)


class Cloud:
    """The sandbox server process; ``client()`` starts an atlas_nb client process against it."""

    def __init__(self, tmp: Path, speed: float) -> None:
        self.tmp = tmp
        self.speed = speed
        self.sbtmp = tmp / "sandbox-tmp"
        self.sbtmp.mkdir()
        env = {**os.environ, "TMPDIR": str(self.sbtmp), "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(speed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.urls: dict[str, str] = info["urls"]
        self.keys: dict[str, str] = info["keys"]
        self.clients: list[subprocess.Popen[str]] = []

    def config(self, name: str, **overrides: str) -> Path:
        """An atlas_nb.toml pointing a client at this sandbox (its own data dir)."""
        data = self.tmp / f"data-{name}"
        urls = {**self.urls, **overrides}
        lines = [
            "schema_version = 1",
            f"data_dir = {json.dumps(str(data))}",
            "heartbeat_s = 0.5",
            "reaper_enabled = false",
            "",
            "[base_urls]",
            *(f"{k} = {json.dumps(v)}" for k, v in urls.items()),
            "",
            "[api_keys]",
            *(f"{k} = {json.dumps(v)}" for k, v in self.keys.items()),
        ]
        path = self.tmp / f"{name}.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def client(
        self, provider: str, *, touch: bool = False, config: Path | None = None, **kw: Any
    ) -> tuple[subprocess.Popen[str], dict[str, Any]]:
        """Start a client that spawns one tracked pod; returns (process, its first line)."""
        cfg = config or self.config(f"client{len(self.clients)}")
        env = {**os.environ, "ATLAS_NB_CONFIG": str(cfg), "PYTHONPATH": str(ROOT)}
        for var in ("RUNPOD_API_KEY", "LAMBDA_API_KEY", "VAST_API_KEY", "FLY_API_TOKEN"):
            env.pop(var, None)
        proc = subprocess.Popen(
            [sys.executable, "-c", CLIENT, provider, "touch" if touch else "idle", json.dumps(kw)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.clients.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        return proc, json.loads(line) if line else {"error": "no output", "code": proc.wait()}

    # -- what the cloud says, read without atlas_nb ------------------------------------------
    def pod_state(self, provider: str, pod_id: str) -> str:
        """``running``, ``gone`` or another status word, straight from the provider API."""
        if provider == "runpod":
            r = httpx.get(
                f"{self.urls['runpod_rest']}/v2/pods/{pod_id}",
                headers={"Authorization": f"Bearer {self.keys['runpod']}"},
            )
            return "gone" if r.status_code == 404 else str(r.json()["status"]).lower()
        if provider == "vast":
            r = httpx.get(
                f"{self.urls['vast']}/api/v0/instances/{pod_id}/",
                headers={"Authorization": f"Bearer {self.keys['vast']}"},
            )
            inst = r.json().get("instances")
            return "gone" if not inst else str(inst["actual_status"])
        app, _, machine = pod_id.partition("/")
        r = httpx.get(
            f"{self.urls['fly_machines']}/apps/{app}/machines/{machine}",
            headers={"Authorization": self.keys["fly"]},
        )
        state = "gone" if r.status_code == 404 else str(r.json()["state"])
        return "gone" if state in ("destroyed", "destroying") else state

    def guard_state(self, provider: str, pod_id: str) -> dict[str, Any]:
        """The pod guard's state file (its lease and whether it is ending the pod, and why)."""
        digest = hashlib.sha256(pod_id.encode()).hexdigest()[:16]
        for path in self.sbtmp.glob(f"atlas-sandbox-guards-*/{provider}/{digest}/state.json"):
            try:
                return dict(json.loads(path.read_text()))
            except (OSError, ValueError):
                return {}
        return {}

    def close(self) -> None:
        for proc in self.clients:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


GUARDED_SPAWN: dict[str, Any] = {
    "provider": "runpod",
    "gpu": "rtx_4090",
    "image": "python:3.11",
    "track": True,
    "guard": "pod",
    "idle_ttl": 3600,
}


def spawn_guarded(**overrides: Any) -> Any:
    """``atlas.spawn`` of a tracked RunPod pod with its own guard (``GUARDED_SPAWN``), in this
    process, with ``overrides`` on top (``idle_ttl=120``, ``spot=True``, ...)."""
    import atlas_nb as atlas

    return atlas.spawn(**{**GUARDED_SPAWN, **overrides})
