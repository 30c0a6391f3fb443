"""The fake RunPod REST API v2 (``https://api.runpod.io/v2/...``) and legacy GraphQL (``/graphql``).

It speaks the v2 OpenAPI contract: Bearer auth (problem+json 401), request bodies validated like
the spec (schema violations → 422 problem+json with ``errors``, rule violations and capacity
→ 400), wrapped lists, ``RateLimit``/``RateLimit-Policy`` headers on every authenticated
response and 429 with ``Retry-After`` past the quota. Pods move PROVISIONING → STARTING →
RUNNING on the simulated clock (an image containing ``crashloop`` ends in ERROR); terminated
pods disappear; costs accrue into billing; ``/v2/pods/{id}/logs`` is Server-Sent Events with
``id:`` lines and ``Last-Event-ID`` resume, honouring the ``slow_stream``, ``malformed`` and
``drop`` fault knobs. GraphQL answers ``gpuTypes``/``lowestPrice``, ``dataCenters`` and
``podRentInterruptable`` (spot pods), with client errors as HTTP 200 + ``errors``.

Real-API quirks it reproduces (so a client that ignores them fails its tests):

* "no capacity" is a 400 whose ``detail`` is worded in several ways (``CAPACITY_WORDINGS``,
  taken in turn): the spec promises only a human-readable detail, so a client must tell
  capacity from the catalogue (``GET /v2/catalog/gpus/{id}?include=AVAILABILITY``), which
  shows the same stock the scheduler uses;
* a pod the account's balance (``RunPodWorld.balance``) cannot pay for an hour of is refused
  with **402**;
* ``/v2/pods/{id}/logs`` produces ``text/event-stream`` only: a request whose ``Accept``
  excludes it gets **406**.

    >>> import httpx, asyncio
    >>> from atlas_nb.sandbox._state import SandboxState
    >>> state = SandboxState()
    >>> app = build_app(state)
    >>> async def call():
    ...     async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
    ...                                  base_url="http://rp") as client:
    ...         return (await client.get("/v2/pods")).json()
    >>> asyncio.run(call())
    {'title': 'Unauthorized', 'status': 401, 'detail': 'missing bearer token'}
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .._http import ConnectionDropped, FaultMiddleware, bearer_token
from .._state import SandboxState
from ..pod_guard import scoped_pod
from . import schema
from .catalog import CPUS, DATA_CENTERS, GPUS, FakeGpu, cpu_row
from .faults import PeekFaults, fault_for
from .graphql import execute as graphql_execute
from .world import (
    BUCKETS,
    LOG_INTERVAL_S,
    FakeEndpoint,
    FakePod,
    PlacementError,
    RunPodWorld,
    bucket_floor,
    bucket_next,
    buckets,
    endpoint_json,
    iso,
    parse_iso,
    runpod_world,
    spread,
    template_json,
)

FAULT_PROVIDER = "runpod"
PROBLEM = "application/problem+json"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Problem(Exception):
    """Raised by handlers; rendered as an RFC 9457 problem+json response."""

    def __init__(self, status: int, detail: str, errors: list[str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors


def problem(
    status: int, detail: str, errors: list[str] | None = None, headers: dict[str, str] | None = None
) -> Response:
    """A problem+json response (``title``, ``status``, ``detail``, optional ``errors``)."""
    body: dict[str, Any] = {
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def error_response(status: int, message: str) -> Response:
    """What FaultMiddleware sends for an injected error status."""
    return problem(status, message)


Handler = Callable[[Request, RunPodWorld], Awaitable[Any]]


def _api(world: RunPodWorld, state: SandboxState, fn: Handler) -> Callable[[Request], Any]:
    """Auth, rate limits, problem rendering and RateLimit headers around one handler."""

    async def endpoint(request: Request) -> Response:
        token = bearer_token(request)
        if not request.headers.get("authorization"):
            return problem(401, "missing bearer token")
        if token != state.api_keys["runpod"]:
            own = scoped_pod(state, "runpod", token or "")
            if own is None:
                return problem(401, "invalid bearer token")
            if fn is not delete_pod or request.path_params.get("id") != own:
                # a pod-scoped key may remove its own pod, nothing else (RunPod: Unauthorized)
                return problem(401, "this pod-scoped key may only remove its own pod")
        headers, retry_after = world.rate_limit(token or "")
        if retry_after is not None:
            return problem(
                429,
                "rate limit exceeded for the minute window",
                headers={**headers, "Retry-After": f"{retry_after:g}"},
            )
        try:
            result = await fn(request, world)
        except Problem as exc:
            return problem(exc.status, exc.detail, exc.errors, headers)
        if isinstance(result, Response):
            result.headers.update(headers)
            return result
        status, body = result if isinstance(result, tuple) else (200, result)
        if status == 204:
            return Response(status_code=204, headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)

    return endpoint


async def _body(request: Request, spec: schema.Schema) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise Problem(400, "request body is not valid JSON") from None
    if data is None:
        raise Problem(422, "Request validation failed.", ["$: a JSON object body is required"])
    errors = schema.validate(data, spec)
    if errors:
        raise Problem(422, "Request validation failed.", errors)
    assert isinstance(data, dict)
    return data


def _csv(request: Request, name: str) -> list[str]:
    values = request.query_params.getlist(name)
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


def _enum_param(request: Request, name: str, allowed: tuple[str, ...] | list[str]) -> list[str]:
    values = _csv(request, name)
    bad = [v for v in values if v not in allowed]
    if bad:
        raise Problem(
            422,
            "Request validation failed.",
            [f"query.{name}: value {bad[0]!r} must be one of {', '.join(map(repr, allowed))}"],
        )
    return values


def _int_param(request: Request, name: str, minimum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise Problem(422, "Request validation failed.", [f"query.{name}: expected integer"])
    if minimum is not None and value < minimum:
        raise Problem(422, "Request validation failed.", [f"query.{name}: must be >= {minimum}"])
    return value


# -- pods ----------------------------------------------------------------------------------


def _live_pod(world: RunPodWorld, request: Request) -> FakePod:
    pod = world.pods.get(request.path_params["id"])
    if pod is None or pod.terminated_at is not None:
        raise Problem(404, "pod not found")
    return pod


async def list_pods(request: Request, world: RunPodWorld) -> Any:
    pods = [p for p in world.pods.values() if p.terminated_at is None]
    pods.sort(key=lambda p: p.created_at)
    return {"pods": [world.pod_json(p) for p in pods]}


async def create_pod(request: Request, world: RunPodWorld) -> Any:
    body = await _body(request, schema.CREATE_POD)
    if ("gpu" in body) == ("cpu" in body):
        raise Problem(400, "exactly one of gpu or cpu must be set")
    if "templateId" not in body and "image" not in body:
        raise Problem(422, "Request validation failed.", ["$: missing property 'image'"])
    settings: dict[str, Any] = {}
    if "templateId" in body:
        tpl = world.templates.get(body["templateId"])
        if tpl is None:
            raise Problem(404, f"template {body['templateId']} not found")
        if tpl["serverless"]:
            raise Problem(422, "a serverless template cannot be used for a pod")
        settings = {k: tpl[k] for k in ("image", "args", "disk", "ports", "registry")}
        settings["env"] = dict(tpl["env"])
        if tpl["mounts"].get("persistent") and "gpu" in body:
            settings["mounts"] = {"persistent": tpl["mounts"]["persistent"]}
    for key in ("image", "args", "disk", "ports", "registry", "mounts"):
        if key in body:
            settings[key] = body[key]
    settings["env"] = {**settings.get("env", {}), **body.get("env", {})}
    gpu = body.get("gpu") or {}
    if gpu.get("allowedCudaVersions") and gpu.get("minCudaVersion"):
        raise Problem(400, "gpu.allowedCudaVersions and gpu.minCudaVersion are mutually exclusive")
    if body.get("startJupyter") and "JUPYTER_PASSWORD" not in settings["env"]:
        settings["env"]["JUPYTER_PASSWORD"] = world.new_id(16)
    try:
        pod = world.place_pod(
            name=body["name"],
            image=settings.get("image", ""),
            gpu_id=gpu.get("id"),
            gpu_count=int(gpu.get("count", 1)),
            cpu=body.get("cpu"),
            cloud=body.get("cloud", "SECURE"),
            data_centers=body.get("dataCenterIds"),
            mounts=settings.get("mounts"),
            global_networking=bool(body.get("globalNetworking", False)),
            args=settings.get("args", ""),
            disk=int(settings.get("disk", 50)),
            ports=list(settings.get("ports", [])),
            env=settings["env"],
            registry=settings.get("registry"),
        )
    except PlacementError as exc:
        raise Problem(exc.status, exc.detail) from None
    return 201, world.pod_json(pod)


async def get_pod(request: Request, world: RunPodWorld) -> Any:
    return world.pod_json(_live_pod(world, request))


async def update_pod(request: Request, world: RunPodWorld) -> Any:
    pod = _live_pod(world, request)
    body = await _body(request, schema.UPDATE_POD)
    if "templateId" in body:
        tpl = world.templates.get(body["templateId"])
        if tpl is None:
            raise Problem(404, f"template {body['templateId']} not found")
        if tpl["serverless"]:
            raise Problem(422, "a serverless template cannot be applied to a pod")
        body = {
            **{k: tpl[k] for k in ("image", "args", "disk", "ports", "registry")},
            **body,
            "env": {**tpl["env"], **body.get("env", {})},
        }
    mounts = body.get("mounts") or {}
    if mounts:
        if set(mounts) - set(pod.mounts) or (
            mounts.get("network")
            and mounts["network"][0]["volumeId"] != pod.mounts["network"][0]["volumeId"]
        ):
            raise Problem(400, "the mount kind and network volume id are fixed at create")
        pod.mounts = {**pod.mounts, **mounts}
    restart = "image" in body and body["image"] != pod.image
    for key, attr in (
        ("name", "name"),
        ("image", "image"),
        ("args", "args"),
        ("disk", "disk"),
        ("ports", "ports"),
        ("env", "env"),
        ("registry", "registry"),
        ("locked", "locked"),
        ("globalNetworking", "global_networking"),
    ):
        if key in body:
            setattr(pod, attr, body[key])
    if restart and world.pod_status(pod) not in ("EXITED", "ERROR"):
        world.boot(pod, "restart")
    return world.pod_json(pod)


async def delete_pod(request: Request, world: RunPodWorld) -> Any:
    pod = _live_pod(world, request)
    world.halt(pod, terminate=True)
    return 204, None


async def pod_action(request: Request, world: RunPodWorld) -> Any:
    pod = _live_pod(world, request)
    body = await _body(request, schema.POD_ACTION)
    action = body["action"]
    status = world.pod_status(pod)
    allowed = world.pod_json(pod)["actions"]
    if action not in allowed:
        raise Problem(409, f"cannot {action} a pod that is {status}; allowed: {', '.join(allowed)}")
    if pod.locked and action in ("stop", "restart"):
        raise Problem(409, "the pod is locked; unlock it (PATCH locked=false) first")
    if action == "terminate":
        world.halt(pod, terminate=True)
        return 204, None
    if action == "stop":
        world.halt(pod)
    elif action == "start":
        world.boot(pod, "start")
    else:
        world.boot(pod, "restart")
    return world.pod_json(pod)


def _resume_index(world: RunPodWorld, pod: FakePod, request: Request) -> int:
    """Index of the first log line to send (Last-Event-ID > since > tail)."""
    count = _log_count(world, pod)
    last = request.headers.get("last-event-id")
    since = request.query_params.get("since")
    if last or since:
        cursor = (last or since or "").partition("/")[0]
        try:
            when = parse_iso(cursor)
        except ValueError:
            where = "header.Last-Event-ID" if last else "query.since"
            raise Problem(422, "Request validation failed.", [f"{where}: expected date-time"])
        steps = (when - pod.created_at) / LOG_INTERVAL_S
        if last:  # resume after the line with that timestamp
            return max(0, math.floor(steps + 1e-3) + 1)
        return max(0, math.ceil(steps - 1e-3))  # since: lines at or after that time
    tail = _int_param(request, "tail", 0)
    tail = 100 if tail is None else min(tail, 5000)
    return max(0, count - tail)


def _log_count(world: RunPodWorld, pod: FakePod) -> int:
    now = world.now()
    end = now if pod.terminated_at is None else min(now, pod.terminated_at)
    return int(max(0.0, end - pod.created_at) // LOG_INTERVAL_S) + 1


async def pod_logs(request: Request, world: RunPodWorld) -> Any:
    accept = request.headers.get("accept", "*/*").lower()
    if not any(t in accept for t in ("text/event-stream", "*/*", "text/*")):
        raise Problem(
            406,
            f"this endpoint produces text/event-stream; the request accepts only {accept}",
        )
    pod = _live_pod(world, request)
    source = _enum_param(request, "source", ["container", "system"])
    index = _resume_index(world, pod, request)
    state = world.state
    rule = fault_for(request)

    async def events() -> AsyncIterator[bytes]:
        nonlocal index
        if rule is not None and rule.malformed:
            yield b'data: {"ts": "oops", "line": \n\n'
        sent = 0
        idle = time.monotonic()
        while True:
            count = _log_count(world, pod)
            while index < count:
                line = world.log_line(pod, index)
                index += 1
                if source and line["source"] not in source:
                    continue
                payload = json.dumps({k: line[k] for k in ("ts", "source", "line")})
                yield f"id: {line['id']}\ndata: {payload}\n\n".encode()
                sent += 1
                idle = time.monotonic()
                if rule is not None and rule.drop and sent >= 3:
                    raise ConnectionDropped("sandbox fault: log stream dropped")
                if rule is not None and rule.slow_stream:
                    await asyncio.sleep(rule.slow_stream)
            if pod.terminated_at is not None:
                return
            if time.monotonic() - idle > 10:
                idle = time.monotonic()
                yield b": keep-alive\n\n"
            due = pod.created_at + index * LOG_INTERVAL_S
            wait = state.clock.real_seconds(max(0.0, due - world.now()))
            await asyncio.sleep(min(max(wait, 0.005), 1.0))

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# -- serverless endpoints -------------------------------------------------------------------


def _endpoint(world: RunPodWorld, request: Request) -> FakeEndpoint:
    ep = world.endpoints.get(request.path_params["id"])
    if ep is None:
        raise Problem(404, "endpoint not found")
    return ep


def _check_endpoint_body(world: RunPodWorld, body: dict[str, Any], kind: str | None) -> None:
    scaling = body.get("scaling") or {}
    if scaling:
        need = "queueDelay" if scaling["type"] == "QUEUE_DELAY" else "requestCount"
        if need not in scaling:
            raise Problem(
                422, "Request validation failed.", [f"$.scaling: missing property '{need}'"]
            )
    if kind == "LOAD_BALANCER" and scaling.get("type") == "QUEUE_DELAY":
        raise Problem(
            422,
            "Request validation failed.",
            ["$.scaling.type: LOAD_BALANCER endpoints scale on REQUEST_COUNT"],
        )
    if body.get("gpu") and body.get("cpu"):
        raise Problem(400, "set gpu or cpu, not both")
    gpu = body.get("gpu") or {}
    if gpu.get("allowedCudaVersions") and gpu.get("minCudaVersion"):
        raise Problem(400, "gpu.allowedCudaVersions and gpu.minCudaVersion are mutually exclusive")
    pools = {g.pool for g in GPUS.values() if g.pool}
    bad = [p for p in gpu.get("pools", []) if p not in pools]
    if bad:
        raise Problem(400, f"unknown GPU pool(s): {', '.join(bad)}; see GET /v2/catalog/gpus")
    for vol in body.get("networkVolumes", []):
        if vol not in world.volumes:
            raise Problem(404, f"network volume {vol} not found")
    if "templateId" in body:
        tpl = world.templates.get(body["templateId"])
        if tpl is None:
            raise Problem(404, f"template {body['templateId']} not found")
        if not tpl["serverless"]:
            raise Problem(422, "the template is not a serverless template")


async def list_endpoints(request: Request, world: RunPodWorld) -> Any:
    return {"endpoints": [ep.body for ep in world.endpoints.values()]}


async def create_endpoint(request: Request, world: RunPodWorld) -> Any:
    body = await _body(request, schema.CREATE_ENDPOINT)
    if "templateId" not in body and "image" not in body:
        raise Problem(422, "Request validation failed.", ["$: missing property 'image'"])
    _check_endpoint_body(world, body, body["type"])
    if "templateId" in body:
        tpl = world.templates[body["templateId"]]
        body = {
            **{k: tpl[k] for k in ("image", "args", "disk", "ports", "registry")},
            **body,
            "env": {**tpl["env"], **body.get("env", {})},
        }
    eid = world.new_id(14)
    ep = FakeEndpoint(eid, endpoint_json(eid, body, world.now()), world.now())
    world.endpoints[eid] = ep
    return 201, ep.body


async def get_endpoint(request: Request, world: RunPodWorld) -> Any:
    return _endpoint(world, request).body


async def update_endpoint(request: Request, world: RunPodWorld) -> Any:
    ep = _endpoint(world, request)
    body = await _body(request, schema.UPDATE_ENDPOINT)
    _check_endpoint_body(world, body, ep.body.get("type"))
    if body.get("gpu", {}).get("excludedTypes") and "pools" not in body["gpu"]:
        raise Problem(422, "Request validation failed.", ["$.gpu: excludedTypes requires pools"])
    for key, value in body.items():
        if key == "workers":
            ep.body["workers"] = {**ep.body["workers"], **value}
        elif key == "gpu":
            ep.body["gpu"] = {**(ep.body.get("gpu") or {}), **value}
        elif key != "templateId":
            ep.body[key] = value
    return ep.body


async def delete_endpoint(request: Request, world: RunPodWorld) -> Any:
    ep = _endpoint(world, request)
    world.deleted_endpoints[ep.id] = world.endpoints.pop(ep.id)
    return 204, None


# -- templates, network volumes, registries ---------------------------------------------------


async def list_templates(request: Request, world: RunPodWorld) -> Any:
    return {"templates": list(world.templates.values())}


async def create_template(request: Request, world: RunPodWorld) -> Any:
    body = await _body(request, schema.CREATE_TEMPLATE)
    if body.get("registry") and body["registry"] not in world.registries:
        raise Problem(404, f"registry {body['registry']} not found")
    tid = world.new_id(10)
    world.templates[tid] = template_json(tid, body)
    return 201, world.templates[tid]


def _template(world: RunPodWorld, request: Request) -> dict[str, Any]:
    tpl = world.templates.get(request.path_params["id"])
    if tpl is None:
        raise Problem(404, "template not found")
    return tpl


async def get_template(request: Request, world: RunPodWorld) -> Any:
    return _template(world, request)


async def update_template(request: Request, world: RunPodWorld) -> Any:
    tpl = _template(world, request)
    body = await _body(request, schema.UPDATE_TEMPLATE)
    tpl.update(body)
    return tpl


async def delete_template(request: Request, world: RunPodWorld) -> Any:
    tpl = _template(world, request)
    tid = tpl["id"]
    if any(ep.body.get("templateId") == tid for ep in world.endpoints.values()):
        raise Problem(400, "the template is used by a serverless endpoint")
    del world.templates[tid]
    return 204, None


async def list_volumes(request: Request, world: RunPodWorld) -> Any:
    return {"networkVolumes": [_public(v) for v in world.volumes.values()]}


def _public(vol: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in vol.items() if not k.startswith("_")}


async def create_volume(request: Request, world: RunPodWorld) -> Any:
    body = await _body(request, schema.CREATE_VOLUME)
    dc = DATA_CENTERS.get(body["dataCenter"])
    if dc is None:
        raise Problem(400, f"unknown data center {body['dataCenter']}")
    kind = body.get("type") or (dc.volume_types[0] if dc.volume_types else "STANDARD")
    if kind not in dc.volume_types:
        raise Problem(400, f"{dc.id} does not offer {kind} network volumes")
    vid = world.new_id(10)
    world.volumes[vid] = {
        "id": vid,
        "name": body["name"],
        "size": body["size"],
        "dataCenter": dc.id,
        "type": kind,
        "_created_at": world.now(),
    }
    return 201, _public(world.volumes[vid])


def _volume(world: RunPodWorld, request: Request) -> dict[str, Any]:
    vol = world.volumes.get(request.path_params["id"])
    if vol is None:
        raise Problem(404, "network volume not found")
    return vol


async def get_volume(request: Request, world: RunPodWorld) -> Any:
    return _public(_volume(world, request))


async def update_volume(request: Request, world: RunPodWorld) -> Any:
    vol = _volume(world, request)
    body = await _body(request, schema.UPDATE_VOLUME)
    if "size" in body and body["size"] < vol["size"]:
        raise Problem(400, f"size can only grow (currently {vol['size']} GB)")
    vol.update(body)
    return _public(vol)


async def delete_volume(request: Request, world: RunPodWorld) -> Any:
    vol = _volume(world, request)
    in_use = [
        p.id
        for p in world.pods.values()
        if p.terminated_at is None
        and any(m["volumeId"] == vol["id"] for m in p.mounts.get("network") or [])
    ]
    if in_use:
        raise Problem(400, f"the volume is attached to pod(s) {', '.join(in_use)}")
    vol["_deleted_at"] = world.now()
    world.state.providers.setdefault("runpod_deleted_volumes", []).append(vol)
    del world.volumes[vol["id"]]
    return 204, None


async def list_registries(request: Request, world: RunPodWorld) -> Any:
    return {"registries": [{"id": r["id"], "name": r["name"]} for r in world.registries.values()]}


async def create_registry(request: Request, world: RunPodWorld) -> Any:
    body = await _body(request, schema.CREATE_REGISTRY)
    rid = world.new_id(10)
    world.registries[rid] = {"id": rid, **body}
    return 201, {"id": rid, "name": body["name"]}


async def get_registry(request: Request, world: RunPodWorld) -> Any:
    reg = world.registries.get(request.path_params["id"])
    if reg is None:
        raise Problem(404, "registry not found")
    return {"id": reg["id"], "name": reg["name"]}


async def delete_registry(request: Request, world: RunPodWorld) -> Any:
    reg = world.registries.get(request.path_params["id"])
    if reg is None:
        raise Problem(404, "registry not found")
    if any(t.get("registry") == reg["id"] for t in world.templates.values()):
        raise Problem(400, "the registry credential is used by a template")
    del world.registries[reg["id"]]
    return 204, None


# -- catalogue ------------------------------------------------------------------------------

_LEVELS = ("NONE", "LOW", "MEDIUM", "HIGH")


def _gpu_availability(
    world: RunPodWorld,
    g: FakeGpu,
    products: list[str],
    cloud: str,
    count: int,
    countries: list[str],
) -> tuple[str, list[str]]:
    """(overall level, data centers offering it) for the product contexts asked."""
    levels = []
    for product in products:
        if product == "SERVERLESS":
            levels.append("HIGH" if g.pool else "NONE")
        elif g.max_count[cloud.lower()] >= count:
            levels.append(world.stock(g, cloud))
        else:
            levels.append("NONE")
    level = max(levels, key=_LEVELS.index) if levels else "NONE"
    dcs = [dc for dc in g.data_centers if not countries or DATA_CENTERS[dc].country in countries]
    if not dcs:
        level = "NONE"
    return level, dcs if level != "NONE" else []


def _gpu_row(g: FakeGpu) -> dict[str, Any]:
    return {
        "id": g.id,
        "name": g.name,
        "pool": g.pool,
        "manufacturer": g.manufacturer,
        "memory": g.memory,
        "secure": g.max_count["secure"] > 0,
        "community": g.max_count["community"] > 0,
        "price": dict(g.price),
        "maxCount": dict(g.max_count),
    }


def _catalog_args(request: Request) -> tuple[list[str], list[str], str, int, list[str]]:
    include = _enum_param(request, "include", ["AVAILABILITY"])
    products = _enum_param(request, "product", ["POD", "CLUSTER", "SERVERLESS"])
    clouds = _enum_param(request, "cloud", ["SECURE", "COMMUNITY"])
    count = _int_param(request, "count", 1)
    countries = _csv(request, "countryCodes")
    scoped = [
        n
        for n in ("product", "count", "cloud", "countryCodes", "cudaVersions", "minCudaVersion")
        if n in request.query_params
    ]
    if include and not products:
        raise Problem(400, "include=AVAILABILITY requires product (POD, CLUSTER or SERVERLESS)")
    if scoped and not include:
        raise Problem(400, f"{scoped[0]} is valid only with include=AVAILABILITY")
    bad = [c for c in countries if len(c) != 2 or not c.isupper()]
    if bad:
        raise Problem(
            422, "Request validation failed.", [f"query.countryCodes: bad code {bad[0]!r}"]
        )
    return include, products, (clouds[0] if clouds else "SECURE"), count or 1, countries


def _render_gpu(
    world: RunPodWorld, g: FakeGpu, args: tuple[list[str], list[str], str, int, list[str]]
) -> Any:
    include, products, cloud, count, countries = args
    row = _gpu_row(g)
    if include:
        level, dcs = _gpu_availability(world, g, products, cloud, count, countries)
        row["availability"] = level
        if dcs:
            row["dataCenters"] = [
                {"id": dc, "name": DATA_CENTERS[dc].name, "availability": level} for dc in dcs
            ]
        if g.manufacturer == "NVIDIA":
            row["cudaVersions"] = [{"version": v, "available": level != "NONE"} for v in g.cuda]
    return row


async def list_gpus(request: Request, world: RunPodWorld) -> Any:
    args = _catalog_args(request)
    rows = []
    for g in GPUS.values():
        if args[4] and not any(DATA_CENTERS[dc].country in args[4] for dc in g.data_centers):
            continue
        rows.append(_render_gpu(world, g, args))
    return {"gpus": rows}


async def get_gpu(request: Request, world: RunPodWorld) -> Any:
    g = GPUS.get(unquote(request.path_params["id"]))
    if g is None:
        raise Problem(404, "GPU type not found")
    return _render_gpu(world, g, _catalog_args(request))


async def list_cpus(request: Request, world: RunPodWorld) -> Any:
    include = _enum_param(request, "include", ["AVAILABILITY"])
    products = _enum_param(request, "product", ["POD", "SERVERLESS"])
    if include and not products:
        raise Problem(400, "include=AVAILABILITY requires product (POD or SERVERLESS)")
    if products and not include:
        raise Problem(400, "product is valid only with include=AVAILABILITY")
    rows = []
    for cid in CPUS:
        row = cpu_row(cid)
        if include:
            row["availability"] = "HIGH"
            row["dataCenters"] = [{"id": "US-TX-3", "name": "US Texas 3", "availability": "HIGH"}]
        rows.append(row)
    return {"cpus": rows}


async def list_datacenters(request: Request, world: RunPodWorld) -> Any:
    include = _enum_param(request, "include", ["GPU_AVAILABILITY", "CPU_AVAILABILITY"])
    regions = _enum_param(
        request,
        "regions",
        [
            "NORTH_AMERICA",
            "SOUTH_AMERICA",
            "EUROPE",
            "ASIA",
            "MIDDLE_EAST",
            "AFRICA",
            "OCEANIA",
            "ANTARCTICA",
            "UNKNOWN",
        ],
    )
    global_network = request.query_params.get("globalNetwork")
    out = []
    for dc in DATA_CENTERS.values():
        if regions and dc.region not in regions:
            continue
        if global_network is not None and (global_network == "true") != dc.global_network:
            continue
        row: dict[str, Any] = {
            "id": dc.id,
            "name": dc.name,
            "region": dc.region,
            "globalNetwork": dc.global_network,
            "networkVolumeTypes": list(dc.volume_types),
            "compliance": list(dc.compliance),
        }
        if "GPU_AVAILABILITY" in include:
            gpus = [g for g in GPUS.values() if dc.id in g.data_centers]
            if gpus:
                row["gpuAvailability"] = [
                    {
                        "id": g.id,
                        "name": g.name,
                        "availability": max(
                            (world.stock(g, c) for c in g.stock), key=_LEVELS.index
                        ),
                    }
                    for g in gpus
                ]
        if "CPU_AVAILABILITY" in include and dc.id == "US-TX-3":
            row["cpuAvailability"] = [
                {"id": cid, "name": CPUS[cid][0], "availability": "HIGH"} for cid in CPUS
            ]
        out.append(row)
    return {"dataCenters": out}


# -- billing -----------------------------------------------------------------------------------


def _window(request: Request, world: RunPodWorld) -> tuple[str, list[tuple[float, float]]]:
    size_values = _enum_param(request, "bucketSize", BUCKETS)
    size = size_values[0] if size_values else "day"
    last_n = _int_param(request, "lastN", 1)
    start_raw, end_raw = request.query_params.get("startTime"), request.query_params.get("endTime")
    now = world.now()
    if last_n is not None:
        if start_raw or end_raw:
            raise Problem(400, "lastN is mutually exclusive with startTime/endTime")
        current = bucket_floor(now, size)
        first = current
        for _ in range(last_n - 1):
            first = _bucket_prev(first, size)
        return size, buckets(first.timestamp(), bucket_next(current, size).timestamp() - 1, size)
    try:
        end = parse_iso(end_raw) if end_raw else now
        start = parse_iso(start_raw) if start_raw else end - 30 * 86400
    except ValueError:
        raise Problem(422, "Request validation failed.", ["query: times must be RFC 3339"])
    if start >= end:
        raise Problem(400, "startTime must be before endTime")
    return size, buckets(start, end, size)


def _bucket_prev(dt: datetime, size: str) -> datetime:
    if size in ("hour", "day", "week"):
        return (
            dt
            - {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}[
                size
            ]
        )
    if size == "month":
        return dt.replace(year=dt.year - (dt.month == 1), month=(dt.month - 2) % 12 + 1)
    return dt.replace(year=dt.year - 1)


def _billing(
    request: Request,
    world: RunPodWorld,
    key: str,
    resources: dict[str, list[tuple[float, float, float, str]]],
    components: dict[str, str],
    unique_key: str,
) -> Any:
    size, edges = _window(request, world)
    wanted = request.query_params.get(key)
    records = []
    totals = {name: 0.0 for name in ("totalAmount", *components.values())}
    used = set()
    for rid, intervals in sorted(resources.items()):
        if wanted and rid != wanted:
            continue
        for (lo, hi), amounts in zip(edges, spread(intervals, edges), strict=True):
            alive = any(min(e, hi) > max(s, lo) for s, e, _r, _c in intervals)
            if not alive:
                continue
            rec: dict[str, Any] = {"startTime": iso(lo), "endTime": iso(hi)}
            total = 0.0
            for comp, name in components.items():
                value = round(amounts.get(comp, 0.0), 6)
                rec[name] = value
                totals[name] += value
                total += value
            rec["totalAmount"] = round(total, 6)
            totals["totalAmount"] += total
            rec[key] = rid
            records.append(rec)
            used.add(rid)
    query: dict[str, Any] = {
        "startTime": iso(edges[0][0]) if edges else iso(world.now()),
        "endTime": iso(edges[-1][1]) if edges else iso(world.now()),
        "bucketSize": size,
        key: wanted,
    }
    return {
        "records": records,
        "metadata": {
            "query": query,
            "recordCount": len(records),
            unique_key: len(used),
            "totals": {k: round(v, 6) for k, v in totals.items()},
        },
    }


async def billing_pods(request: Request, world: RunPodWorld) -> Any:
    now = world.now()
    resources = {p.id: world.pod_costs(p, now) for p in world.pods.values()}
    components = {"gpu": "gpuAmount", "cpu": "cpuAmount", "disk": "diskAmount"}
    return _billing(request, world, "podId", resources, components, "uniquePodCount")


async def billing_serverless(request: Request, world: RunPodWorld) -> Any:
    resources: dict[str, list[tuple[float, float, float, str]]] = {}
    for eid, points in world.job_costs(time.monotonic()).items():
        # a job's cost as a one-second interval at the (simulated) moment it ended
        resources[eid] = [(t, t + 1.0, usd * 3600.0, "gpu") for t, usd in points]
    components = {"gpu": "gpuAmount", "cpu": "cpuAmount", "disk": "diskAmount", "fee": "feeAmount"}
    return _billing(request, world, "serverlessId", resources, components, "uniqueServerlessCount")


async def billing_volumes(request: Request, world: RunPodWorld) -> Any:
    now = world.now()
    vols = list(world.volumes.values()) + world.state.providers.get("runpod_deleted_volumes", [])
    resources = {v["id"]: world.volume_costs(v, now) for v in vols}
    components = {"standard": "standardAmount", "highPerformance": "highPerformanceAmount"}
    return _billing(
        request, world, "networkVolumeId", resources, components, "uniqueNetworkVolumeCount"
    )


# -- GraphQL ---------------------------------------------------------------------------------


def _graphql(world: RunPodWorld, state: SandboxState) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        key = bearer_token(request) or request.query_params.get("api_key")
        if key != state.api_keys["runpod"]:
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": "Unauthorized: invalid or missing API key",
                            "extensions": {"code": "UNAUTHENTICATED"},
                        }
                    ]
                },
                status_code=401,
            )
        headers, retry_after = world.rate_limit(key)
        if retry_after is not None:
            return JSONResponse(
                {"errors": [{"message": "rate limit exceeded"}]},
                status_code=429,
                headers={**headers, "Retry-After": f"{retry_after:g}"},
            )
        if request.method != "POST":
            return JSONResponse({"errors": [{"message": "use POST"}]}, status_code=405)
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return JSONResponse(
                {"errors": [{"message": "POST body is not valid JSON"}]}, status_code=400
            )
        return JSONResponse(graphql_execute(world, body), headers=headers)

    return endpoint


# -- app ---------------------------------------------------------------------------------------


def build_app(state: SandboxState) -> PeekFaults:
    """The REST v2 + GraphQL ASGI app, wrapped in the fault middleware (provider ``runpod``)."""
    world = runpod_world(state)

    def r(path: str, methods: list[str], fn: Handler) -> Route:
        return Route(path, _api(world, state, fn), methods=methods)

    routes = [
        r("/v2/pods", ["GET"], list_pods),
        r("/v2/pods", ["POST"], create_pod),
        r("/v2/pods/{id}", ["GET"], get_pod),
        r("/v2/pods/{id}", ["PATCH"], update_pod),
        r("/v2/pods/{id}", ["DELETE"], delete_pod),
        r("/v2/pods/{id}/action", ["POST"], pod_action),
        r("/v2/pods/{id}/logs", ["GET"], pod_logs),
        r("/v2/serverless", ["GET"], list_endpoints),
        r("/v2/serverless", ["POST"], create_endpoint),
        r("/v2/serverless/{id}", ["GET"], get_endpoint),
        r("/v2/serverless/{id}", ["PATCH"], update_endpoint),
        r("/v2/serverless/{id}", ["DELETE"], delete_endpoint),
        r("/v2/templates", ["GET"], list_templates),
        r("/v2/templates", ["POST"], create_template),
        r("/v2/templates/{id}", ["GET"], get_template),
        r("/v2/templates/{id}", ["PATCH"], update_template),
        r("/v2/templates/{id}", ["DELETE"], delete_template),
        r("/v2/network-volumes", ["GET"], list_volumes),
        r("/v2/network-volumes", ["POST"], create_volume),
        r("/v2/network-volumes/{id}", ["GET"], get_volume),
        r("/v2/network-volumes/{id}", ["PATCH"], update_volume),
        r("/v2/network-volumes/{id}", ["DELETE"], delete_volume),
        r("/v2/registries", ["GET"], list_registries),
        r("/v2/registries", ["POST"], create_registry),
        r("/v2/registries/{id}", ["GET"], get_registry),
        r("/v2/registries/{id}", ["DELETE"], delete_registry),
        r("/v2/catalog/gpus", ["GET"], list_gpus),
        r("/v2/catalog/gpus/{id:path}", ["GET"], get_gpu),
        r("/v2/catalog/cpus", ["GET"], list_cpus),
        r("/v2/catalog/datacenters", ["GET"], list_datacenters),
        r("/v2/billing/pods", ["GET"], billing_pods),
        r("/v2/billing/serverless", ["GET"], billing_serverless),
        r("/v2/billing/network-volumes", ["GET"], billing_volumes),
        Route("/graphql", _graphql(world, state), methods=["GET", "POST"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return problem(
                405,
                "The requested method is not allowed for this path.",
                headers={"Allow": (exc.headers or {}).get("Allow", "")},
            )
        return problem(
            exc.status_code, "resource not found" if exc.status_code == 404 else str(exc.detail)
        )

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return PeekFaults(
        FaultMiddleware(app, state, FAULT_PROVIDER, error_response), state, FAULT_PROVIDER
    )


__all__ = ["build_app", "error_response", "problem"]
