"""A faithful fake of the Fly Machines API (``https://api.machines.dev/v1``).

Apps (list by ``org_slug``, create, get, delete) and Machines (create, list, get, update,
start, stop, restart, suspend, wait, delete) in the sandbox's shared Fly organisation
(:func:`~atlas_nb.sandbox.fly.world.fly_world`). Machines move on the simulated clock:
``created`` → ``starting`` → ``started``; stop → ``stopping`` → ``stopped``; restart →
``restarting`` → ``started``; suspend → ``suspending`` → ``suspended``; delete →
``destroying`` → ``destroyed`` (hidden from lists unless ``include_deleted=true``).
``GET .../wait?state=...&timeout=...`` blocks until the state is reached or answers 408.

Real-API quirks it reproduces (so a client that ignores them fails its tests):

* ``/wait?state=stopped`` needs the machine's current ``instance_id`` (400 without it);
* machines report ``private_ip`` (6PN IPv6), ``host_status`` and ``checks`` (one result per
  configured check: critical until the machine is started, then passing);
* the Machines API allocates no public IP: an app gets its shared IPv4 / IPv6 only through
  the GraphQL API (:mod:`.graphql`, served with the platform API), and
  ``FlyApp.extra["ips"]`` / ``["shared_ip"]`` hold what was allocated.

Like the real API since 2026, any GPU guest (``guest.gpu_kind``/``guest.gpus`` or a GPU size
preset) is refused with HTTP 400. Errors are ``{"error": "..."}``; a bad token gets 401
``{"error": "Authenticate: token validation error"}``. Tokens: the sandbox's Fly key (sent as
``FlyV1 ...`` or ``Bearer ...``) or one minted by the fake ``fly tokens create``.

Machine records live in ``FlyApp.machines`` as dicts whose ``state`` is computed from the
clock when read, so the fake logs API sees the same machines and states.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._http import Api, FaultMiddleware, json_body, json_response
from .._state import SandboxState
from ..pod_guard import start_guard, stop_guard
from .rules import (
    ConfigError,
    check_app_name,
    check_config,
    check_region,
    image_ref,
)
from .world import FlyApp, FlyWorld, fly_world

FAULT_NAME = "fly"
CREATE_S = 1.0
START_S = 3.0
STOP_S = 2.0
RESTART_S = 3.0
SUSPEND_S = 2.0
DESTROY_S = 1.0
WAIT_STATES = ("started", "stopped", "suspended", "destroyed")
MAX_WAIT_S = 60
_TRANSIENT = {
    "start": ("starting", START_S, "started"),
    "stop": ("stopping", STOP_S, "stopped"),
    "restart": ("restarting", RESTART_S, "started"),
    "suspend": ("suspending", SUSPEND_S, "suspended"),
    "destroy": ("destroying", DESTROY_S, "destroyed"),
    "update": ("updating", START_S, "started"),
}


class FlyApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.code:
            out["status"] = self.code
        return out


@dataclass
class Lifecycle:
    """When the machine last changed phase; its state follows from the clock."""

    phase: str  # create | start | stop | restart | suspend | destroy | update
    at: float
    skip_launch: bool = False
    previous: str = "created"

    def state(self, now: float) -> str:
        age = now - self.at
        if self.phase == "create":
            if self.skip_launch:
                return "created"
            if age < CREATE_S:
                return "created"
            return "starting" if age < CREATE_S + START_S else "started"
        transient, duration, final = _TRANSIENT[self.phase]
        return transient if age < duration else final


class LiveMachine(dict[str, Any]):
    """A Machine record whose ``state`` (and ``updated_at``) is read from the clock."""

    def __init__(self, data: dict[str, Any], state: SandboxState, life: Lifecycle) -> None:
        super().__init__(data)
        self.sim = state
        self.life = life

    def current_state(self) -> str:
        return self.life.state(self.sim.clock.now())

    def __getitem__(self, key: Any) -> Any:
        if key == "state":
            return self.current_state()
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        if key == "state":
            return self.current_state()
        return super().get(key, default)

    def to_json(self) -> dict[str, Any]:
        out = dict(self.items())
        out["state"] = self.current_state()
        out["checks"] = self.checks(out["state"])
        return out

    def checks(self, current: str) -> list[dict[str, Any]]:
        """The configured checks' results: passing once started, critical before."""
        configured = (self.get("config") or {}).get("checks") or {}
        ok = current == "started"
        return [
            {
                "name": name,
                "status": "passing" if ok else "critical",
                "output": "200 OK" if ok else f"the machine is {current}",
                "updated_at": self["updated_at"],
            }
            for name in sorted(configured)
        ]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class MachinesWorld:
    """What the handlers work on: the sandbox (clock, ids, pod guards) and its Fly organisation."""

    state: SandboxState
    fly: FlyWorld


def _error(exc: Exception) -> Response:
    if isinstance(exc, FlyApiError):
        return json_response(exc.body(), exc.status)
    return json_response({"error": str(exc)}, 400)  # a ConfigError


def _render(result: tuple[int, Any]) -> Response:
    status, data = result
    if data is None:
        return Response(status_code=status)
    return json_response(data, status)


async def _body_of(request: Request, *, required: bool = True) -> dict[str, Any]:
    try:
        body = await json_body(request)
    except ValueError:
        raise FlyApiError(400, "invalid JSON body") from None
    if body is None and not required:
        return {}
    if not isinstance(body, dict):
        raise FlyApiError(400, "request body must be a JSON object")
    return body


def _app_of(world: MachinesWorld, request: Request) -> FlyApp:
    app = world.fly.apps.get(request.path_params["app"])
    if app is None:
        raise FlyApiError(404, "app not found")
    return app


def _machine_of(world: MachinesWorld, request: Request) -> tuple[FlyApp, LiveMachine]:
    app = _app_of(world, request)
    m = app.machines.get(request.path_params["id"])
    if not isinstance(m, LiveMachine):
        raise FlyApiError(404, "machine not found")
    return app, m


# -- apps ----------------------------------------------------------------------------------
async def list_apps(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    org = request.query_params.get("org_slug")
    if not org:
        raise FlyApiError(400, "org_slug is required")
    apps = [a for a in world.fly.apps.values() if a.org == org]
    return 200, {
        "total_apps": len(apps),
        "apps": [
            {
                "id": a.id,
                "name": a.name,
                "machine_count": sum(
                    1
                    for m in a.machines.values()
                    if isinstance(m, dict) and m.get("state") != "destroyed"
                ),
                "volume_count": 0,
            }
            for a in sorted(apps, key=lambda a: a.name)
        ],
    }


async def create_app(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    body = await _body_of(request)
    name = check_app_name(body.get("app_name") or body.get("name"))
    org = body.get("org_slug")
    if not isinstance(org, str) or not org:
        raise FlyApiError(400, "org_slug is required")
    if name in world.fly.apps:
        raise FlyApiError(422, f"Name '{name}' has already been taken", "name_taken")
    app = world.fly.add_app(world.state, name, org)
    return 201, {"id": app.id, "created_at": int(app.created_at * 1000)}


async def get_app(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    app = _app_of(world, request)
    return 200, {
        "id": app.id,
        "name": app.name,
        "status": app.status,
        "organization": {"name": app.org, "slug": app.org},
    }


async def delete_app(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    app = _app_of(world, request)
    del world.fly.apps[app.name]
    world.state.info["fly_apps"] = sorted(world.fly.apps)
    return 202, None


# -- machines ----------------------------------------------------------------------------
def _new_machine(state: SandboxState, app: FlyApp, body: dict[str, Any]) -> LiveMachine:
    config = check_config(body.get("config"))
    region = check_region(body.get("region"))
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise FlyApiError(400, "name must be a string")
    mid = state.id("", 14, "0123456789abcdef")
    name = name or f"{app.name}-{mid[:6]}"
    for other in app.machines.values():
        if (
            isinstance(other, dict)
            and other.get("name") == name
            and (other.get("state") != "destroyed")
        ):
            raise FlyApiError(409, f"machine name '{name}' is already taken", "name_taken")
    now = state.clock.now()
    skip = bool(body.get("skip_launch"))
    digest = "sha256:" + hashlib.sha256(config["image"].encode()).hexdigest()
    data = {
        "id": mid,
        "name": name,
        "region": region,
        "instance_id": _instance_id(state),
        "private_ip": f"fdaa:0:{mid[:4]}:a7b:{mid[4:8]}:{mid[8:12]}:{mid[12:]}:2",
        "config": config,
        "image_ref": image_ref(config["image"], digest),
        "created_at": _iso(now),
        "updated_at": _iso(now),
        "events": [
            {
                "id": state.id("01J", 23, "0123456789ABCDEFGHJKMNPQRSTVWXYZ"),
                "type": "launch",
                "status": "created",
                "source": "user",
                "timestamp": int(now * 1000),
            }
        ],
        "checks": [],
        "host_status": "ok",
    }
    return LiveMachine(data, state, Lifecycle("create", now, skip_launch=skip))


def _event(state: SandboxState, m: LiveMachine, kind: str, status: str) -> None:
    now = state.clock.now()
    m["events"] = [
        {
            "id": state.id("01J", 23, "0123456789ABCDEFGHJKMNPQRSTVWXYZ"),
            "type": kind,
            "status": status,
            "source": "user",
            "timestamp": int(now * 1000),
        },
        *m["events"],
    ][:10]
    m["updated_at"] = _iso(now)


def _transition(state: SandboxState, m: LiveMachine, phase: str) -> None:
    m.life = Lifecycle(phase, state.clock.now(), previous=m.current_state())
    _event(state, m, phase, _TRANSIENT[phase][2])


async def list_machines(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    app = _app_of(world, request)
    deleted = request.query_params.get("include_deleted", "").lower() in ("true", "1")
    region = request.query_params.get("region")
    meta = {
        k[len("metadata.") :]: v
        for k, v in request.query_params.items()
        if k.startswith("metadata.")
    }
    out = []
    for m in app.machines.values():
        if not isinstance(m, LiveMachine):
            continue
        if not deleted and m.current_state() == "destroyed":
            continue
        if region and m["region"] != region:
            continue
        md = m["config"].get("metadata") or {}
        if any(md.get(k) != v for k, v in meta.items()):
            continue
        out.append(m.to_json())
    out.sort(key=lambda d: (d["created_at"], d["id"]))
    return 200, out


def _run_guard(state: SandboxState, app: FlyApp, m: LiveMachine) -> None:
    """Start the machine's pod guard (if it has one); when the guard exits by itself the
    main process has ended: restart "no" stops the machine, auto_destroy destroys it."""
    config = m["config"]

    def exited(code: int) -> None:
        if (config.get("restart") or {}).get("policy", "always") != "no":
            return  # Fly would restart the main process; the guard injects policy "no"
        if m.current_state() not in ("destroyed", "destroying", "stopped", "stopping"):
            _transition(state, m, "destroy" if config.get("auto_destroy") else "stop")

    env = dict(config.get("env") or {})
    pod_id, image = f"{app.name}/{m['id']}", str(config.get("image") or "")
    start_guard(state, "fly", pod_id, env, image=image, on_exit=exited, init=config.get("init"))


async def create_machine(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    app = _app_of(world, request)
    m = _new_machine(world.state, app, await _body_of(request))
    app.machines[m["id"]] = m
    if not m.life.skip_launch:
        _run_guard(world.state, app, m)
    return 200, m.to_json()


async def get_machine(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    _, m = _machine_of(world, request)
    return 200, m.to_json()


async def update_machine(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    _, m = _machine_of(world, request)
    if m.current_state() in ("destroyed", "destroying"):
        raise FlyApiError(412, "failed_precondition: machine is destroyed")
    body = await _body_of(request)
    m["config"] = check_config(body.get("config"))
    m["image_ref"] = image_ref(
        m["config"]["image"],
        "sha256:" + hashlib.sha256(m["config"]["image"].encode()).hexdigest(),
    )
    m["instance_id"] = _instance_id(world.state)
    if body.get("name"):
        m["name"] = str(body["name"])
    if m.current_state() in ("started", "starting", "restarting", "updating"):
        _transition(world.state, m, "update")
    else:
        _event(world.state, m, "update", m.current_state())
    return 200, m.to_json()


def _not_destroyed(m: LiveMachine) -> str:
    current = m.current_state()
    if current in ("destroyed", "destroying"):
        raise FlyApiError(412, f"failed_precondition: machine is {current}")
    return current


async def start(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    app, m = _machine_of(world, request)
    current = _not_destroyed(m)
    if current in ("stopped", "suspended", "created", "stopping", "suspending"):
        _transition(world.state, m, "start")
        _run_guard(world.state, app, m)
    return 200, {"previous_state": current}


async def stop(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    _, m = _machine_of(world, request)
    body = await _body_of(request, required=False)
    if "signal" in body and not isinstance(body["signal"], str):
        raise FlyApiError(400, "signal must be a string such as SIGINT")
    current = _not_destroyed(m)
    if current in ("started", "starting", "restarting", "updating", "created"):
        _transition(world.state, m, "stop")
        stop_guard(world.state, "fly", f"{request.path_params['app']}/{m['id']}")
    return 200, {"ok": True}


async def restart(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    app, m = _machine_of(world, request)
    current = _not_destroyed(m)
    if current not in ("started", "starting", "restarting", "updating"):
        raise FlyApiError(412, f"failed_precondition: cannot restart a {current} machine")
    _transition(world.state, m, "restart")
    stop_guard(world.state, "fly", f"{app.name}/{m['id']}")
    _run_guard(world.state, app, m)
    return 200, {"ok": True}


async def suspend(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    _, m = _machine_of(world, request)
    current = _not_destroyed(m)
    if current not in ("started", "starting"):
        raise FlyApiError(412, f"failed_precondition: cannot suspend a {current} machine")
    _transition(world.state, m, "suspend")
    stop_guard(world.state, "fly", f"{request.path_params['app']}/{m['id']}")
    return 200, {"ok": True}


async def delete_machine(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    _, m = _machine_of(world, request)
    current = m.current_state()
    if current in ("destroyed", "destroying"):
        raise FlyApiError(404, "machine not found")
    force = any(request.query_params.get(k, "").lower() in ("true", "1") for k in ("force", "kill"))
    if current in ("started", "starting", "restarting", "updating") and not force:
        raise FlyApiError(
            412,
            "failed_precondition: unable to destroy machine, not currently stopped, "
            "suspended, or failed (use force=true)",
        )
    _transition(world.state, m, "destroy")
    stop_guard(world.state, "fly", f"{request.path_params['app']}/{m['id']}")
    return 200, {"ok": True}


async def wait(request: Request, world: MachinesWorld) -> tuple[int, Any]:
    _, m = _machine_of(world, request)
    target = request.query_params.get("state", "started")
    if target not in WAIT_STATES:
        raise FlyApiError(400, f"invalid state {target!r}: use one of {WAIT_STATES}")
    raw_timeout = request.query_params.get("timeout", str(MAX_WAIT_S))
    try:
        timeout = int(raw_timeout)
    except ValueError:
        raise FlyApiError(400, f"invalid timeout {raw_timeout!r}: seconds") from None
    if not 1 <= timeout <= MAX_WAIT_S:
        raise FlyApiError(400, f"invalid timeout {timeout}: 1-{MAX_WAIT_S} seconds")
    if target == "stopped":  # as Fly: a stop is waited for on one version of the machine
        instance = request.query_params.get("instance_id")
        if not instance:
            raise FlyApiError(400, "instance_id is required when waiting for state stopped")
        if instance != m["instance_id"]:
            raise FlyApiError(400, f"instance_id {instance} is not the machine's current instance")
    deadline = world.state.clock.now() + timeout
    while m.current_state() != target:
        left = deadline - world.state.clock.now()
        if left <= 0:
            raise FlyApiError(
                408,
                f"deadline_exceeded: machine {m['id']} did not reach {target} "
                f"(it is {m.current_state()})",
            )
        await asyncio.sleep(min(0.05, max(0.005, world.state.clock.real_seconds(left))))
    return 200, {"ok": True}


def build_app(state: SandboxState) -> FaultMiddleware:
    world = MachinesWorld(state, fly_world(state))
    request_ids = itertools.count(1)

    def authorize(request: Request) -> Response | None:
        from .api import authorized

        if authorized(state, request.headers.get("authorization", "")):
            return None
        return json_response({"error": "Authenticate: token validation error"}, 401)

    def request_id() -> dict[str, str]:
        return {"fly-request-id": f"01JSANDBOX{next(request_ids):016d}-iad"}

    api: Api[MachinesWorld, tuple[int, Any], Exception] = Api(
        world, authorize, (FlyApiError, ConfigError), _error, _render, headers=request_id
    )
    base = "/v1/apps"
    routes = [
        Route(base, api(list_apps), methods=["GET"]),
        Route(base, api(create_app), methods=["POST"]),
        Route(f"{base}/{{app}}", api(get_app), methods=["GET"]),
        Route(f"{base}/{{app}}", api(delete_app), methods=["DELETE"]),
        Route(f"{base}/{{app}}/machines", api(list_machines), methods=["GET"]),
        Route(f"{base}/{{app}}/machines", api(create_machine), methods=["POST"]),
        Route(f"{base}/{{app}}/machines/{{id}}", api(get_machine), methods=["GET"]),
        Route(f"{base}/{{app}}/machines/{{id}}", api(update_machine), methods=["POST"]),
        Route(f"{base}/{{app}}/machines/{{id}}", api(delete_machine), methods=["DELETE"]),
        Route(f"{base}/{{app}}/machines/{{id}}/start", api(start), methods=["POST"]),
        Route(f"{base}/{{app}}/machines/{{id}}/stop", api(stop), methods=["POST"]),
        Route(f"{base}/{{app}}/machines/{{id}}/restart", api(restart), methods=["POST"]),
        Route(f"{base}/{{app}}/machines/{{id}}/suspend", api(suspend), methods=["POST"]),
        Route(f"{base}/{{app}}/machines/{{id}}/wait", api(wait), methods=["GET"]),
    ]
    return FaultMiddleware(Starlette(routes=routes), state, FAULT_NAME, error_response)


def _instance_id(state: SandboxState) -> str:
    return state.id("01J", 23, "0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def machines_of(world: FlyWorld, app: str) -> list[LiveMachine]:
    """The Machines of an app in the shared world (for tests and other fakes)."""
    found = world.apps.get(app)
    if found is None:
        return []
    return [m for m in found.machines.values() if isinstance(m, LiveMachine)]
