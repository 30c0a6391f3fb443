"""The sandbox runs pod guards for real, and serves what a guarded spawn needs from the cloud.

A sandbox pod (RunPod pod, Vast instance, Fly machine) created with the guard injected by
:mod:`atlas_nb.guard` gets that guard started as a local process — the injected launcher
only, never the image's command — with the environment the cloud gives: ``RUNPOD_POD_ID`` and
a pod-scoped ``RUNPOD_API_KEY`` plus a fake ``runpodctl`` on ``PATH`` (RunPod),
``CONTAINER_ID``/``CONTAINER_API_KEY`` (Vast), ``FLY_APP_NAME``/``FLY_MACHINE_ID`` (Fly), the
provider URLs pointing back at the sandbox and ``ATLAS_GUARD_TIME_SCALE`` set to the sandbox's
clock speed (so limits in cloud time shrink with it). Stopping or terminating the pod stops the
process; starting or restarting it starts the guard again with the same state file (a restart
keeps its deadline). A Fly guard that exits stops its machine (``restart.policy = "no"``) and
destroys it (``auto_destroy``).

The pod-scoped keys are accepted only for that pod's own removal (RunPod ``DELETE
/v2/pods/{id}``; Vast ``PUT``/``DELETE /api/v0/instances/{id}/``) and refused for anything
else. This app serves two routes a real cloud has elsewhere:

- ``/guard/registry/v2/<name>/manifests/<ref>`` and ``.../blobs/<digest>``: an OCI registry
  whose every image has ``CMD ["/start.sh"]`` (the ``oci_registry`` base URL);
- ``/guard/lease/<provider>/<id>/lease``: the route to a pod's lease port (RunPod's
  ``https://{podId}-{port}.proxy.runpod.net``, Vast's mapped port, a Fly service), forwarded to
  the guard's local port (the ``guard_lease`` base URL).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._state import SandboxState

IMAGE_CMD = ["/start.sh"]
LAUNCHER_ARGV0 = "atlas-guard"

RUNPODCTL = '''#!{python}
"""The sandbox's fake runpodctl: ``remove pod ID`` / ``stop pod ID`` with $RUNPOD_API_KEY."""
import json, os, sys, urllib.request
API = {api!r}
args = sys.argv[1:]
if len(args) != 3 or args[1] != "pod" or args[0] not in ("remove", "stop"):
    print("usage: runpodctl remove|stop pod POD_ID", file=sys.stderr); sys.exit(2)
verb, pod = args[0], args[2]
url = API + "/v2/pods/" + pod + ("" if verb == "remove" else "/action")
body = None if verb == "remove" else json.dumps({{"action": "stop"}}).encode()
req = urllib.request.Request(url, data=body, method="DELETE" if verb == "remove" else "POST")
req.add_header("Authorization", "Bearer " + os.environ.get("RUNPOD_API_KEY", ""))
req.add_header("Content-Type", "application/json")
try:
    urllib.request.urlopen(req, timeout=30).read()
except Exception as exc:
    print("Error: " + str(exc), file=sys.stderr); sys.exit(1)
print('pod "' + pod + '" ' + ("removed" if verb == "remove" else "stopped"))
'''


RUNPODCTL_SH = """#!/bin/sh
# The sandbox's fake runpodctl (curl): remove|stop pod POD_ID with $RUNPOD_API_KEY.
api={api}
usage() {{ echo "usage: runpodctl remove|stop pod POD_ID" >&2; exit 2; }}
[ "$#" -eq 3 ] && [ "$2" = pod ] || usage
auth="Authorization: Bearer $RUNPOD_API_KEY"
case "$1" in
  remove) curl -fsS -X DELETE -H "$auth" "$api/v2/pods/$3" >/dev/null || exit 1
    echo "pod \\"$3\\" removed" ;;
  stop) curl -fsS -X POST -H "$auth" -H 'Content-Type: application/json' \\
      -d '{{"action": "stop"}}' "$api/v2/pods/$3/action" >/dev/null || exit 1
    echo "pod \\"$3\\" stopped" ;;
  *) usage ;;
esac
"""


def guard_argv(
    *, args: str | None = None, init: Any = None, onstart: str | None = None
) -> list[str] | None:
    """The guard part of a pod's start hook (never the user's command), or None.

    >>> guard_argv(args="sh -c 'echo launcher' atlas-guard python serve.py")
    ['sh', '-c', 'echo launcher', 'atlas-guard']
    >>> guard_argv(args="python serve.py") is None, guard_argv(onstart="echo hi") is None
    (True, True)
    """
    if args:
        try:
            parts = shlex.split(args)
        except ValueError:
            return None
        return parts[:4] if parts[:2] == ["sh", "-c"] and parts[3:4] == [LAUNCHER_ARGV0] else None
    if isinstance(init, dict):
        entry = init.get("entrypoint") or []
        return list(entry) if entry[:2] == ["sh", "-c"] and entry[3:4] == [LAUNCHER_ARGV0] else None
    if onstart and (LAUNCHER_ARGV0 in onstart or onstart.startswith("echo H4sI")):
        return ["sh", "-c", onstart]
    return None


@dataclass
class GuardProcess:
    provider: str
    pod_id: str
    proc: subprocess.Popen[bytes]
    dir: Path
    stopping: bool = False


@dataclass
class PodGuards:
    """The guard processes of one sandbox, their pod-scoped keys and their state dirs."""

    state: SandboxState
    origin: str
    root: Path = field(init=False)
    procs: dict[tuple[str, str], GuardProcess] = field(default_factory=dict)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    keeper: subprocess.Popen[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="atlas-sandbox-guards-"))
        # ends the guards if this process dies without stop_all (see guard_keeper); run as a
        # script in isolated mode, it imports only the standard library and starts in ~20 ms
        self.keeper = subprocess.Popen(
            [
                sys.executable,
                "-I",
                str(Path(__file__).with_name("guard_keeper.py")),
                str(self.root),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        (self.root / "bin").mkdir()
        ctl = self.root / "bin" / "runpodctl"
        api = f"{self.origin}/runpod"
        # a shell script when curl exists (it starts as fast as the real Go binary), else Python
        fake = RUNPODCTL_SH.format(api=shlex.quote(api)) if shutil.which("curl") else None
        ctl.write_text(fake or RUNPODCTL.format(python=sys.executable, api=api))
        ctl.chmod(ctl.stat().st_mode | stat.S_IXUSR)

    # -- keys ------------------------------------------------------------------------------
    def scoped_key(self, provider: str, pod_id: str) -> str:
        """The pod-scoped key a pod's container gets (accepted only for its own removal)."""
        digest = hmac.new(
            self.state.secret.encode(), f"{provider}:{pod_id}".encode(), hashlib.sha256
        ).hexdigest()
        key = f"rpa_POD{digest[:40].upper()}" if provider == "runpod" else digest
        self.keys[key] = (provider, pod_id)
        return key

    def key_pod(self, provider: str, key: str) -> str | None:
        """The pod a pod-scoped key belongs to (None: not a pod-scoped key of ``provider``)."""
        owner = self.keys.get(key)
        return owner[1] if owner and owner[0] == provider else None

    # -- processes -------------------------------------------------------------------------
    def start(
        self,
        provider: str,
        pod_id: str,
        argv: list[str] | None,
        env: dict[str, str],
        *,
        image: str = "",
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        """Start the guard of a pod (no-op without one, or when it already runs). An image
        without ``sh`` (the sandbox's ``*distroless*`` images) cannot run it: the wrapped start
        command fails at once, as ``exec sh`` would (a Fly machine then stops)."""
        if argv is None or "ATLAS_GUARD_AGENT" not in env:
            return
        if "distroless" in image:
            if on_exit is not None:
                threading.Thread(target=on_exit, args=(127,), daemon=True).start()
            return
        key = (provider, pod_id)
        with self.lock:
            if key in self.procs and _alive(self.procs[key]):
                return
            pod_dir = self.root / provider / hashlib.sha256(pod_id.encode()).hexdigest()[:16]
            pod_dir.mkdir(parents=True, exist_ok=True)
            full = {**self._base_env(), **env, **self._cloud_env(provider, pod_id, pod_dir)}
            environ = b"\0".join(f"{k}={v}".encode() for k, v in full.items()) + b"\0"
            (pod_dir / "environ").write_bytes(environ)
            log = open(pod_dir / "guard.log", "ab")  # noqa: SIM115 - handed to the child
            try:
                proc = subprocess.Popen(
                    argv,
                    env=full,
                    cwd=pod_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            finally:
                log.close()
            gp = GuardProcess(provider, pod_id, proc, pod_dir)
            self.procs[key] = gp
            self._tell_keeper(f"+{proc.pid}")
        if on_exit is not None:
            threading.Thread(target=self._watch, args=(gp, on_exit), daemon=True).start()

    def _watch(self, gp: GuardProcess, on_exit: Callable[[int], None]) -> None:
        code = gp.proc.wait()
        if not gp.stopping:  # it exited by itself (a Fly guard ending its machine)
            with contextlib.suppress(Exception):
                on_exit(code)

    def stop(self, provider: str, pod_id: str) -> None:
        """Stop a pod's guard (its process group: the launcher, agent and any helpers)."""
        with self.lock:
            gp = self.procs.pop((provider, pod_id), None)
        if gp is None:
            return
        if not _alive(gp):
            self._tell_keeper(f"-{gp.proc.pid}")
            return
        gp.stopping = True
        _signal_group(gp.proc.pid, signal.SIGTERM)
        threading.Thread(target=self._reap, args=(gp.proc,), daemon=True).start()

    def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        _signal_group(proc.pid, signal.SIGKILL)  # a Vast onstart's background guard outlives sh
        self._tell_keeper(f"-{proc.pid}")

    def _tell_keeper(self, line: str) -> None:
        keeper = self.keeper
        if keeper is None or keeper.stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):  # a keeper gone or closed: nothing to tell
            keeper.stdin.write(line + "\n")
            keeper.stdin.flush()

    def running(self, provider: str, pod_id: str) -> bool:
        gp = self.procs.get((provider, pod_id))
        return gp is not None and _alive(gp)

    def port(self, provider: str, pod_id: str) -> int | None:
        """The local port the pod's guard serves its lease on (from its state file)."""
        pod_dir = self.root / provider / hashlib.sha256(pod_id.encode()).hexdigest()[:16]
        try:
            port = json.loads((pod_dir / "state.json").read_text()).get("port")
        except (OSError, ValueError):
            return None
        return (
            port if isinstance(port, int) and port > 0 and self.running(provider, pod_id) else None
        )

    def stop_all(self) -> None:
        for provider, pod_id in list(self.procs):
            self.stop(provider, pod_id)
        for gp in list(self.procs.values()):
            _signal_group(gp.proc.pid, signal.SIGKILL)
        keeper, self.keeper = self.keeper, None
        if keeper is not None and keeper.stdin is not None:
            with contextlib.suppress(OSError):
                keeper.stdin.close()  # the keeper ends the groups still listed and exits
            with contextlib.suppress(subprocess.TimeoutExpired):
                keeper.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    def _base_env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
        return {k: os.environ[k] for k in keep if k in os.environ}

    def _cloud_env(self, provider: str, pod_id: str, pod_dir: Path) -> dict[str, str]:
        env = {
            "ATLAS_GUARD_STATE": str(pod_dir / "state.json"),
            "ATLAS_GUARD_DIR": str(pod_dir),
            "ATLAS_GUARD_PROC1_ENVIRON": str(pod_dir / "environ"),
            "ATLAS_GUARD_HOST": "127.0.0.1",
            "ATLAS_GUARD_PORT": "0",  # the cloud maps the guard port; here: any free one
            "ATLAS_GUARD_TIME_SCALE": f"{self.state.clock.speed or 1.0:g}",
        }
        key = self.scoped_key(provider, pod_id)
        if provider == "runpod":
            path = f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
            env.update(
                RUNPOD_POD_ID=pod_id,
                RUNPOD_API_KEY=key,
                PATH=path,
                ATLAS_GUARD_RUNPOD_API=f"{self.origin}/runpod",
            )
        elif provider == "vast":
            env.update(
                CONTAINER_ID=pod_id,
                CONTAINER_API_KEY=key,
                ATLAS_GUARD_VAST_API=f"{self.origin}/vast",
            )
        else:
            app, _, machine = pod_id.partition("/")
            env.update(FLY_APP_NAME=app, FLY_MACHINE_ID=machine, FLY_REGION="iad")
        return env


def _alive(gp: GuardProcess) -> bool:
    """Whether the guard runs: its process, or its process group (a Vast ``onstart`` puts the
    guard in the background and its shell exits)."""
    if gp.proc.poll() is None:
        return True
    try:
        os.killpg(gp.proc.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def pod_guards(state: SandboxState) -> PodGuards:
    """The sandbox's :class:`PodGuards` (made by :func:`prepare` once its origin is known)."""
    guards = state.providers.get("pod_guards")
    if guards is None:
        guards = PodGuards(state, state.public_base)
        state.providers["pod_guards"] = guards
        state.on_stop.append(guards.stop_all)
    return guards


def prepare(state: SandboxState, origin: str) -> None:
    # an in-process sandbox has no socket a guard could call back on: it runs no guards
    state.info["pod_guards_run"] = origin.startswith("http://127.0.0.1:")
    if state.info["pod_guards_run"]:
        pod_guards(state)


def start_guard(
    state: SandboxState,
    provider: str,
    pod_id: str,
    env: dict[str, str],
    *,
    image: str = "",
    on_exit: Callable[[int], None] | None = None,
    **hook: Any,
) -> None:
    """Start a pod's guard if it was created with one (``hook``: ``args``/``init``/``onstart``)."""
    if state.info.get("pod_guards_run"):
        argv = guard_argv(**hook)
        pod_guards(state).start(provider, pod_id, argv, env, image=image, on_exit=on_exit)


def stop_guard(state: SandboxState, provider: str, pod_id: str) -> None:
    guards = state.providers.get("pod_guards")
    if guards is not None:
        guards.stop(provider, pod_id)


def scoped_pod(state: SandboxState, provider: str, key: str) -> str | None:
    """The pod a pod-scoped key belongs to, or None (not such a key)."""
    guards = state.providers.get("pod_guards")
    return guards.key_pod(provider, key) if guards is not None else None


def build_app(state: SandboxState) -> Starlette:
    """The fake OCI registry and the lease route (see the module docstring)."""

    def config_blob(name: str) -> bytes:
        return json.dumps(
            {"architecture": "amd64", "os": "linux", "config": {"Cmd": IMAGE_CMD}}
        ).encode()

    async def manifest(request: Request) -> Response:
        name = request.path_params["name"]
        blob = config_blob(name)
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        body = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest},
            "layers": [],
        }
        return JSONResponse(body, media_type="application/vnd.oci.image.manifest.v1+json")

    async def blob(request: Request) -> Response:
        return Response(config_blob(request.path_params["name"]), media_type="application/json")

    async def lease(request: Request) -> Response:
        provider, pod_id = request.path_params["provider"], request.path_params["pod"]
        if not state.info.get("pod_guards_run"):
            return JSONResponse(
                {"error": "an in-process sandbox runs no pod guards; use atlas.sandbox.start()"},
                502,
            )
        port = pod_guards(state).port(provider, pod_id)
        if port is None:  # as a cloud's proxy answers for a pod with nothing listening
            return JSONResponse({"error": f"no guard listening for {provider} {pod_id}"}, 502)
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "content-type")
        }
        try:
            async with httpx.AsyncClient(timeout=15) as http:
                resp = await http.request(
                    request.method,
                    f"http://127.0.0.1:{port}/lease",
                    content=await request.body(),
                    headers=headers,
                )
        except httpx.HTTPError as exc:
            return JSONResponse({"error": f"the guard did not answer: {exc}"}, 502)
        return Response(resp.content, resp.status_code, media_type="application/json")

    return Starlette(
        routes=[
            Route("/registry/v2/{name:path}/manifests/{ref}", manifest, methods=["GET"]),
            Route("/registry/v2/{name:path}/blobs/{digest}", blob, methods=["GET"]),
            Route("/lease/{provider}/{pod:path}/lease", lease, methods=["GET", "POST"]),
        ]
    )
