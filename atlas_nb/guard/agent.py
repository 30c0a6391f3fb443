"""The pod-side guard (stdlib only, Python >= 3.7: it runs in foreign images, not atlas_nb).

It runs beside (or around) the user's command and ends the pod when the hard deadline or the $ cap
is reached on the pod's own clock (no network needed to decide), or when the idle lease, renewed
with ``POST /lease`` and the bearer token, has expired for longer than the grace. Settings come
from ``ATLAS_GUARD_*`` variables (see :func:`settings`); ``python3 agent.py [--time-scale S] [--]
[cmd ...]`` runs ``cmd`` as a child and keeps guarding after it exits. A state file keeps the
creation time (and a kill under way) across restarts, so the deadline and cap count from the first
start; the idle lease starts afresh after a restart.

    >>> lease_ttl({"ttl_s": 60}, 3600.0), lease_ttl({}, 900.0), lease_ttl({"ttl_s": -1}, 9.0)
    (60.0, 900.0, None)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_TTL_S = 7 * 24 * 3600.0


def lease_ttl(body: Any, default: float) -> float | None:
    """The TTL a renewal asks for (relative seconds), the default when absent, None when bad."""
    ttl = body.get("ttl_s", default) if isinstance(body, dict) else None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl <= MAX_TTL_S:
        return None
    return float(ttl)


def read_environ(path: str) -> dict[str, str]:
    """A ``/proc/<pid>/environ``-style file (NUL-separated ``K=V``) as a dict; {} if unreadable."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


class Env:
    """Our environment, falling back to PID 1's (an SSH or ``onstart`` shell may lack RunPod's)."""

    def __init__(self, own: dict[str, str]) -> None:
        self.own = own
        self.pid1 = read_environ(own.get("ATLAS_GUARD_PROC1_ENVIRON", "/proc/1/environ"))

    def get(self, name: str, default: str = "") -> str:
        return self.own.get(name) or self.pid1.get(name) or default

    def num(self, name: str, default: float = 0.0) -> float:
        try:
            return float(self.get(name) or default)
        except ValueError:
            return default


def settings(env: Env) -> dict[str, Any]:
    """The guard's settings; durations are seconds, 0 means "no such limit"."""
    state = (
        "/workspace/.atlas_guard.json"
        if os.path.isdir("/workspace")
        else "/var/tmp/atlas_guard.json"
    )
    token = env.get("ATLAS_PRESHARED_KEY")
    return {
        "provider": env.get("ATLAS_GUARD_PROVIDER", "runpod"),
        "deadline_s": env.num("ATLAS_GUARD_DEADLINE_S"),
        "cap_usd": env.num("ATLAS_GUARD_CAP_USD"),
        "price_hr": env.num("ATLAS_GUARD_PRICE_HR"),
        "idle_ttl_s": env.num("ATLAS_GUARD_IDLE_TTL_S"),
        "grace_s": env.num("ATLAS_GUARD_GRACE_S", 30.0),
        "host": env.get("ATLAS_GUARD_HOST", "0.0.0.0"),
        "port": int(env.num("ATLAS_GUARD_PORT", 8642)),
        "token_sha256": env.get("ATLAS_GUARD_TOKEN_SHA256")
        or (hashlib.sha256(token.encode()).hexdigest() if token else ""),
        "state_path": env.get("ATLAS_GUARD_STATE", state),
        "runpod_api": env.get("ATLAS_GUARD_RUNPOD_API", "https://api.runpod.io").rstrip("/"),
        "vast_api": env.get("ATLAS_GUARD_VAST_API", "https://console.vast.ai").rstrip("/"),
        "time_scale": env.num("ATLAS_GUARD_TIME_SCALE", 1.0) or 1.0,
    }


def log(event: str, **fields: Any) -> None:
    print(json.dumps({"guard": event, **fields}), file=sys.stderr, flush=True)


class Guard:
    """Timers, the lease and the kill; ``clock()`` is guard seconds (wall time x time scale)."""

    def __init__(self, env: Env, conf: dict[str, Any]) -> None:
        self.env, self.conf = env, conf
        self.lock = threading.Lock()
        self.ending: str | None = None
        self.done = threading.Event()
        self.child: subprocess.Popen[bytes] | None = None
        self.child_exit: int | None = None
        state = self.load_state()
        created, now = state.get("created_at"), self.clock()
        if not isinstance(created, (int, float)) or isinstance(created, bool) or created > now:
            if state:
                log("state_unusable", created_at=repr(created), note="counting from now")
            created = now
        self.created = float(created)
        self.ending = state.get("ending") if isinstance(state.get("ending"), str) else None
        self.lease_expires = self.clock() + conf["idle_ttl_s"]
        self.port = conf["port"]
        self.save_state()

    def clock(self) -> float:
        return time.time() * float(self.conf["time_scale"])

    def load_state(self) -> dict[str, Any]:
        try:
            with open(self.conf["state_path"]) as f:
                data = json.load(f)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def save_state(self) -> None:
        state = {"created_at": self.created, "ending": self.ending, "port": self.port}
        state.update(lease_expires_at=self.lease_expires, child_exit=self.child_exit)
        tmp = self.conf["state_path"] + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(state, f)
            os.replace(tmp, self.conf["state_path"])
        except OSError as exc:  # a full or read-only disk must not stop the guard
            log("state_unwritable", error=str(exc))

    def limit_at(self) -> float:
        """Guard time when the deadline or the $ cap ends the pod (inf when neither is set)."""
        c = self.conf
        ends = [self.created + c["deadline_s"]] if c["deadline_s"] > 0 else []
        if c["cap_usd"] > 0 and c["price_hr"] > 0:
            ends.append(self.created + c["cap_usd"] / c["price_hr"] * 3600.0)
        return min(ends, default=float("inf"))

    def status(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "state": "ending" if self.ending else "held",
            "reason": self.ending,
            "lease_expires_in_s": round(self.lease_expires - now, 3)
            if self.conf["idle_ttl_s"]
            else None,
            "limit_in_s": None
            if self.limit_at() == float("inf")
            else round(self.limit_at() - now, 3),
            "command_exit": self.child_exit,
            "time_scale": self.conf["time_scale"],  # guard seconds per wall second
        }

    def renew(self, ttl: float) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.ending:  # a late renewal never revives a pod already being ended
                return 409, self.status()
            self.lease_expires = max(self.lease_expires, self.clock() + ttl)
            self.save_state()
            return 200, self.status()

    def due(self) -> str | None:
        now = self.clock()
        if now >= self.limit_at():
            return (
                "deadline" if self.limit_at() == self.created + self.conf["deadline_s"] else "cap"
            )
        if self.conf["idle_ttl_s"] > 0 and now >= self.lease_expires + self.conf["grace_s"]:
            return "idle"
        return None

    def check(self) -> None:
        """Start ending the pod when a limit or the lease says so (once; it is never undone)."""
        with self.lock:
            reason = None if self.ending else self.due()
            if reason:
                self.ending = reason
                log("ending", reason=reason)
                self.save_state()

    def run(self) -> int:
        backoff = 1.0
        while True:
            self.check()
            if self.child is not None and self.child_exit is None and self.child.poll() is not None:
                self.child_exit = self.child.returncode
                log("command_exited", code=self.child_exit)  # the guard keeps holding the pod
                self.save_state()
            if self.ending:
                if self.end_pod():
                    self.stop_child()
                    log("ended", reason=self.ending)
                    return 0
                self.done.wait(backoff / self.conf["time_scale"])
                backoff = min(backoff * 2, 60.0)
                continue
            self.done.wait(min(1.0 / self.conf["time_scale"], 0.5))

    def stop_child(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(10)
            except subprocess.TimeoutExpired:
                self.child.kill()

    def end_pod(self) -> bool:
        """One attempt to end the pod with its own credential; True when the provider took it."""
        provider, get = self.conf["provider"], self.env.get
        try:
            if provider == "fly":
                return (
                    True  # the main process exits: restart "no" stops it, auto_destroy removes it
                )
            if provider == "runpod":
                pod = get("RUNPOD_POD_ID")
                if not pod:
                    log("no_pod_id", note="RUNPOD_POD_ID is in neither our env nor PID 1's")
                ctl = shutil.which("runpodctl", path=self.env.own.get("PATH"))
                if ctl and subprocess.run([ctl, "remove", "pod", pod], timeout=60).returncode == 0:
                    return True
                url = f"{self.conf['runpod_api']}/v2/pods/{pod}"
                return http("DELETE", url, get("RUNPOD_API_KEY"))
            if provider == "vast":
                url = f"{self.conf['vast_api']}/api/v0/instances/{get('CONTAINER_ID')}/"
                key = get("CONTAINER_API_KEY")
                # destroy first: a stop ends this container (and the guard) at once, so a
                # destroy sent after it may never leave; the scoped key may not destroy, and
                # then stopped is enough (GPU billing ends; storage bills until destroyed)
                if http("DELETE", url, key):
                    return True
                if not http("PUT", url, key, {"state": "stopped"}):
                    return False
                log("destroy_refused", note="instance stopped; storage bills until destroyed")
                return True
            log("unknown_provider", provider=provider)
            return True
        except (OSError, subprocess.SubprocessError) as exc:
            log("end_failed", error=str(exc))
            return False


def http(method: str, url: str, key: str, body: Any = None) -> bool:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return bool(200 <= resp.status < 300)
    except OSError as exc:
        log("http_failed", method=method, url=url, error=str(exc))
        return False


def serve(guard: Guard) -> ThreadingHTTPServer:
    """The lease endpoint: ``POST /lease {"ttl_s": N}`` renews, ``GET /lease`` reads."""

    class Handler(BaseHTTPRequestHandler):
        timeout = 15  # a client that stalls mid-request cannot hold a thread for long

        def reply(self, code: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def authorized(self) -> bool:
            # Compares SHA-256 hashes like atlas_nb.auth.verify_token; with no token configured
            # every renewal is refused (fail-closed: the lease then simply expires).
            given = self.headers.get("Authorization", "")
            digest = hashlib.sha256(given[7:].encode()).hexdigest()
            want = guard.conf["token_sha256"]
            return hmac.compare_digest(digest, want) and given.startswith("Bearer ") and bool(want)

        def handle_one(self, renew: bool) -> None:
            if self.path.split("?")[0] != "/lease":
                return self.reply(404, {"error": "not found; use /lease"})
            if not self.authorized():
                return self.reply(401, {"error": "missing or wrong bearer token"})
            if not renew:
                return self.reply(200, guard.status())
            try:
                size = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(size) or b"{}") if size <= 4096 else None
            except ValueError:
                body = None
            ttl = lease_ttl(body, guard.conf["idle_ttl_s"] or 0.0)
            if ttl is None:
                return self.reply(400, {"error": f"ttl_s must be a number in (0, {MAX_TTL_S:.0f}]"})
            self.reply(*guard.renew(ttl))

        def do_GET(self) -> None:
            self.handle_one(renew=False)

        def do_POST(self) -> None:
            self.handle_one(renew=True)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((guard.conf["host"], guard.conf["port"]), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str]) -> int:
    env = Env(dict(os.environ))
    conf = settings(env)
    if argv[:1] == ["--time-scale"]:
        conf["time_scale"], argv = float(argv[1]), argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    guard = Guard(env, conf)
    if conf["idle_ttl_s"] > 0:
        try:
            guard.port = serve(guard).server_address[1]
        except OSError as exc:  # the lease cannot be renewed: it expires, limits still hold
            log("lease_port_unavailable", error=str(exc))
        guard.save_state()
    log(
        "started",
        port=guard.port,
        **{k: guard.status()[k] for k in ("lease_expires_in_s", "limit_in_s")},
    )
    guard.check()  # a restart past the deadline ends the pod without starting the command
    if argv and not guard.ending:
        guard.child = subprocess.Popen(argv)

    def on_term(*_: Any) -> None:  # the provider stops the container: take the command down too
        guard.stop_child()
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    return guard.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
