"""A faithful fake of the Vast.ai REST API (``https://console.vast.ai``).

* ``POST /api/v0/bundles/`` searches thousands of seeded offers with the full query language
  (see :mod:`.offers`).
* ``PUT /api/v0/asks/{id}/`` rents an offer and answers ``{"success": true, "new_contract":
  <instance id>}``; the offer leaves the market until the instance is destroyed.
* Instances move on the simulated clock: ``actual_status`` ``null`` → ``"loading"`` →
  ``"running"``; stop → ``"exited"`` with ``intended_status`` ``"stopped"``; start → loading →
  running. ``GET /api/v1/instances/`` pages with a keyset cursor (``limit`` ≤ 25,
  ``after_token``, ``next_token``); ``GET/PUT/DELETE /api/v0/instances/{id}/`` (the single
  instance comes under the plural key ``instances``, ``null`` when it is not yours);
  ``PUT`` sets ``state`` and/or ``label``.
* Errors are ``{"success": false, "error": <code>, "msg": <text>}``; a bad key gets 401
  ``auth_error``. Auth is ``Authorization: Bearer <key>`` or the legacy ``?api_key=``.

Real-API quirks it reproduces (so a client that ignores them fails its tests):

* **HTTP 200 with ``{"success": false, "msg": ...}``**: start, stop, label and destroy of an
  instance whose host is offline (``VastWorld.offline_machines``) are refused that way (the
  vast CLI checks ``success`` after every 200); such an instance reports ``actual_status``
  ``"offline"`` and a ``status_msg`` saying why;
* the **``scheduling``** state: starting a stopped instance whose GPUs another client now
  rents (``VastWorld.busy_machines``) answers success and waits in ``"scheduling"`` until
  they are free, then loads and runs;
* **410** ``no_such_ask`` when renting an offer that someone else took (404 for an id that
  never existed);
* **external offers** (``external: true``, from outside clouds) are in search results unless
  the query says ``external: {eq: false}`` (the vast CLI's default), and a missing
  ``verified`` filter means verified or not (the CLI sends ``verified: {eq: true}`` by
  default and drops it for ``verified=any``); ``type`` may be ``on-demand`` (the CLI),
  ``ondemand`` (the spec), ``bid`` or ``reserved``;
* ``geolocation`` is ``"State, CC"`` for most hosts and ``"State, Country Name"`` (e.g.
  ``"California, United States"``) for some; searches by country code match both;
* ``ssh_host``/``ssh_port`` (the proxy SSH way in) and ``status_msg`` on every instance.

Paths are served with and without the trailing slash (the vast CLI sends it; the published
spec lists them without).
"""

from __future__ import annotations

import base64
import hmac
import json
import operator
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._http import Api, Endpoint, FaultMiddleware, json_body, json_response
from .._offer_faults import json_object
from .._state import SandboxState
from ..pod_guard import scoped_pod, start_guard, stop_guard
from .offers import QueryError, external_offers, generate_offers, priced, run
from .offers import prepare as prepare_offers

FAULT_NAME = "vast"
OFFER_COUNT = 15_000
PROVISION_S = 20.0
LOADING_S = 30.0
RESTART_LOADING_S = 15.0
STOP_S = 5.0
PAGE_MAX = 25
RUNTYPES = ("ssh", "jupyter", "args", "ssh_proxy", "ssh_direct", "jupyter_proxy", "jupyter_direct")
#: instance columns the v1 list may filter and sort on (computed ones like dph_total may not)
STORED_COLUMNS = frozenset(
    {
        "id",
        "actual_status",
        "intended_status",
        "cur_state",
        "next_state",
        "label",
        "gpu_name",
        "verification",
        "machine_id",
        "host_id",
        "image_uuid",
        "template_hash_id",
        "start_date",
        "geolocation",
        "is_bid",
    }
)
_OPS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "notin")


@dataclass
class RawJson:
    """A response body already encoded as JSON."""

    body: bytes


class VastApiError(Exception):
    def __init__(self, status: int, code: str, msg: str, **extra: Any) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg, self.extra = status, code, msg, extra

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": self.code, "msg": self.msg, **self.extra}


@dataclass
class VastInstance:
    id: int
    offer: dict[str, Any]
    created: float
    image: str
    label: str | None
    runtype: str
    args: list[str]
    env_pairs: list[list[str]]
    ports: list[int]
    onstart: str | None
    disk: float
    price: float
    is_bid: bool
    ssh_port: int
    jupyter_token: str
    phase: str = "create"  # create | start | stop
    phase_at: float = 0.0
    #: tests may force an actual_status ("exited", "unknown", "offline") to simulate failures
    forced_status: str | None = None
    #: the world's machines whose GPUs someone else rents, and machines that are offline
    busy_machines: set[int] = field(default_factory=set)
    offline_machines: set[int] = field(default_factory=set)

    @property
    def machine_id(self) -> int:
        return int(self.offer["machine_id"])

    def statuses(self, now: float) -> tuple[str | None, str, str]:
        """(actual_status, intended_status, cur_state) at ``now``."""
        if self.machine_id in self.offline_machines:
            return "offline", "stopped" if self.phase == "stop" else "running", "running"
        if self.phase == "schedule":
            if self.machine_id in self.busy_machines:
                return "scheduling", "running", "stopped"
            self.phase, self.phase_at = "start", now  # the GPUs are free again: it starts
        age = now - self.phase_at
        if self.phase == "stop":
            stopping = "running" if age < STOP_S else "exited"
            return (self.forced_status or stopping), "stopped", "stopped"
        if self.phase == "create":
            actual: str | None = (
                None
                if age < PROVISION_S
                else "loading"
                if age < PROVISION_S + LOADING_S
                else "running"
            )
        else:
            actual = "loading" if age < RESTART_LOADING_S else "running"
        return (self.forced_status or actual), "running", "running"

    def status_msg(self, actual: str | None) -> str | None:
        if actual == "scheduling":
            return (
                f"Waiting for the GPUs of machine {self.machine_id}: another client rents them; "
                "the instance starts when they are free"
            )
        if actual == "offline":
            return f"Host machine {self.machine_id} is offline (no contact with Vast's servers)"
        if actual == "exited" and self.forced_status == "exited":
            return f"Error: container {self.image} exited with code 1 (see the instance logs)"
        return None if actual is None else f"{actual}, {self.image}/{self.runtype}"

    def to_json(self, now: float) -> dict[str, Any]:
        o = self.offer
        actual, intended, cur = self.statuses(now)
        running = actual == "running"
        ports = None
        if running:
            host = 40_000 + (self.id % 1_000) * 10
            ports = {"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(self.ssh_port)}]}
            for i, p in enumerate(self.ports):
                ports[f"{p}/tcp"] = [{"HostIp": "0.0.0.0", "HostPort": str(host + i)}]
        return {
            "id": self.id,
            "actual_status": actual,
            "intended_status": intended,
            "cur_state": cur,
            "next_state": cur,
            "status_msg": self.status_msg(actual),
            "label": self.label,
            "template_id": None,
            "template_hash_id": None,
            "template_name": None,
            "image_uuid": self.image,
            "image_args": list(self.args),
            "image_runtype": self.runtype,
            "extra_env": [list(p) for p in self.env_pairs],
            "onstart": self.onstart or "",
            "jupyter_token": self.jupyter_token,
            "public_ipaddr": o["public_ipaddr"],
            "local_ipaddrs": "10.0.0.5 172.17.0.2",
            "ssh_host": f"ssh{self.id % 9 + 1}.vast.ai",
            "ssh_idx": str(self.id % 9 + 1),
            "ssh_port": self.ssh_port,
            "machine_dir_ssh_port": self.ssh_port + 1,
            "machine_id": o["machine_id"],
            "host_id": o["host_id"],
            "bundle_id": o["bundle_id"],
            "start_date": self.created,
            "end_date": self.created + o["duration"],
            "duration": o["duration"],
            "uptime_mins": round((now - self.phase_at) / 60, 2) if running else None,
            "cpu_arch": o["cpu_arch"],
            "cpu_cores": o["cpu_cores"],
            "cpu_cores_effective": o["cpu_cores_effective"],
            "cpu_name": o["cpu_name"],
            "cpu_ram": o["cpu_ram"],
            "cpu_util": 0.02 if running else 0.0,
            "mem_limit": None,
            "mem_usage": None,
            "vmem_usage": None,
            "gpu_name": o["gpu_name"],
            "gpu_arch": o["gpu_arch"],
            "gpu_totalram": o["gpu_total_ram"],
            "gpu_ram": o["gpu_ram"],
            "gpu_util": 0.0 if running else None,
            "gpu_temp": 41.0 if running else None,
            "gpu_frac": o["gpu_frac"],
            "gpu_lanes": o["gpu_lanes"],
            "gpu_mem_bw": o["gpu_mem_bw"],
            "bw_nvlink": o["bw_nvlink"],
            "disk_name": o["disk_name"],
            "disk_space": self.disk,
            "disk_bw": o["disk_bw"],
            "disk_util": 0.01,
            "disk_usage": 0.01,
            "direct_port_count": o["direct_port_count"],
            "direct_port_start": 40_000 if running else -1,
            "direct_port_end": 40_000 + o["direct_port_count"] if running else -1,
            "ports": ports,
            "static_ip": o["static_ip"],
            "geolocation": o["geolocation"],
            "verification": o["verification"],
            "rentable": True,
            "host_run_time": 2_592_000.0,
            "hosting_type": o["hosting_type"],
            "min_bid": o["min_bid"],
            "is_bid": self.is_bid,
            "dph_base": round(self.price, 6),
            "dph_total": round(self.price + o["storage_cost"] * self.disk / 730.0, 6),
            "storage_cost": o["storage_cost"],
            "dlperf": o["dlperf"],
            "total_flops": o["total_flops"],
            "reliability2": o["reliability2"],
            "num_gpus": o["num_gpus"],
            "os_version": o["os_version"],
            "mobo_name": o["mobo_name"],
            "pci_gen": o["pci_gen"],
            "pcie_bw": o["pcie_bw"],
            "external": False,
            "logo": o["logo"],
            "webpage": None,
        }


@dataclass
class VastWorld:
    """The simulated Vast account and marketplace."""

    state: SandboxState
    offer_count: int = OFFER_COUNT
    _offers: list[dict[str, Any]] | None = None
    _by_id: dict[int, dict[str, Any]] = field(default_factory=dict)
    instances: dict[int, VastInstance] = field(default_factory=dict)
    next_id: int = 0
    #: machines whose GPUs another client rents (starting a stopped instance there waits in
    #: ``scheduling``) and machines that are offline (changes to their instances are refused
    #: with HTTP 200 ``{"success": false, "msg": ...}``)
    busy_machines: set[int] = field(default_factory=set)
    offline_machines: set[int] = field(default_factory=set)
    #: the body of the latest offer search (tests read what a client sent)
    last_search: Any = None

    @property
    def offers(self) -> list[dict[str, Any]]:
        if self._offers is None:
            market = generate_offers(self.state.seed, self.offer_count)
            self._offers = market + external_offers(market)
            prepare_offers(self._offers)
            self._by_id = {o["id"]: o for o in self._offers}
        return self._offers

    def offer(self, offer_id: int) -> dict[str, Any] | None:
        _ = self.offers
        return self._by_id.get(offer_id)

    def now(self) -> float:
        return self.state.clock.now()


def vast_world(state: SandboxState) -> VastWorld:
    """The sandbox's Vast account (offers are generated on first search)."""
    world = state.providers.get("vast")
    if world is None:
        world = VastWorld(state=state, next_id=8_000_000 + state.seed * 1_000)
        state.providers["vast"] = world
    return world  # type: ignore[no-any-return,unused-ignore]


def parse_env(env: Any) -> tuple[list[list[str]], list[int]]:
    """Vast's ``env``: a docker-flag string (``"-e K=V -p 8000:8000"``) or the CLI's object
    (``{"K": "V", "-p 8000:8000": "1"}``) → (env pairs, container ports)."""
    pairs: list[list[str]] = []
    ports: list[int] = []

    def port(spec: str) -> None:
        inner = spec.split(":")[-1].split("/")[0]
        if not inner.isdigit() or not 1 <= int(inner) <= 65535:
            raise VastApiError(400, "invalid_args", f"Invalid port mapping {spec!r} in env")
        ports.append(int(inner))

    if env is None:
        return pairs, ports
    if isinstance(env, dict):
        for k, v in env.items():
            if k.startswith("-p "):
                port(k[3:].strip())
            else:
                pairs.append([str(k), str(v)])
        return pairs, ports
    if not isinstance(env, str):
        raise VastApiError(400, "invalid_args", "env must be a string of docker flags")
    try:
        words = shlex.split(env)
    except ValueError as exc:
        raise VastApiError(400, "invalid_args", f"Cannot parse env: {exc}") from None
    it = iter(words)
    for word in it:
        if word not in ("-e", "-p", "-h"):
            raise VastApiError(400, "invalid_args", f"Unexpected {word!r} in env flags")
        value = next(it, None)
        if value is None:
            raise VastApiError(400, "invalid_args", f"Flag {word} needs a value in env")
        if word == "-e":
            k, sep, v = value.partition("=")
            if not sep or not k:
                raise VastApiError(400, "invalid_args", f"Invalid env entry {value!r}")
            pairs.append([k, v])
        elif word == "-p":
            port(value)
    return pairs, ports


def _int_id(raw: str, what: str = "id") -> int:
    try:
        return int(raw)
    except ValueError:
        raise VastApiError(400, "invalid_args", f"invalid {what} {raw!r}") from None


def _json_param(request: Request, name: str, default: Any) -> Any:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        raise VastApiError(400, "invalid_request", f"{name} is not valid JSON") from None


class _Desc:
    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.v < self.v)

    def __gt__(self, other: _Desc) -> bool:
        return bool(other.v > self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.v == other.v


def _row_key(row: dict[str, Any], order: list[tuple[str, bool]]) -> tuple[Any, ...]:
    out: list[Any] = []
    for col, desc in order:
        v = row.get(col)
        k = (v is not None, v if v is not None else 0)
        out.append(_Desc(k) if desc else k)
    return tuple(out)


def _check(op: str, v: Any, want: Any) -> bool:
    if op == "eq":
        return bool(v == want)
    if op == "neq":
        return bool(v != want)
    if op in ("in", "notin"):
        if not isinstance(want, list):
            raise VastApiError(400, "invalid_request", f"operator {op} needs a list")
        return (v in want) == (op == "in")
    if v is None:
        return False
    compare = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
    return bool(compare[op](v, want))


def _matches(row: dict[str, Any], col: str, ops: dict[str, Any]) -> bool:
    v = row.get(col)
    for op, want in ops.items():
        try:
            ok = _check(op, v, want)
        except TypeError:
            raise VastApiError(400, "invalid_request", f"cannot compare {col} with {want!r}")
        if not ok:
            return False
    return True


def _has_key(request: Request, key: str) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    given = value.strip() if scheme.lower() == "bearer" else ""
    given = given or request.query_params.get("api_key") or ""
    return bool(given) and hmac.compare_digest(given.encode(), key.encode())


def _own_instance(state: SandboxState, request: Request) -> bool:
    """Whether the bearer is the CONTAINER_API_KEY of the instance in the path."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    own = scoped_pod(state, "vast", value.strip()) if scheme.lower() == "bearer" else None
    return own is not None and request.path_params.get("id", "").strip("/") == own


def _unauthorized() -> Response:
    return json_response({"success": False, "error": "auth_error", "msg": "Invalid user key"}, 401)


def _error(exc: VastApiError) -> Response:
    return json_response(exc.body(), exc.status)


def _render(result: tuple[int, Any]) -> Response:
    status, data = result
    if isinstance(data, RawJson):
        return Response(data.body, status, media_type="application/json")
    return json_response(data, status)


# -- the handlers ------------------------------------------------------------------------------


async def _object_body(request: Request) -> dict[str, Any]:
    try:
        body = await json_body(request)
    except ValueError:
        raise VastApiError(400, "invalid_args", "Request body is not valid JSON") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise VastApiError(400, "invalid_args", "Request body must be a JSON object")
    return body


async def bundles(request: Request, world: VastWorld) -> tuple[int, Any]:
    try:
        body = await json_body(request)
    except ValueError:
        raise VastApiError(400, "invalid_args", "Request body is not valid JSON") from None
    world.last_search = body
    try:
        result = run(world.offers, {} if body is None else body)
    except QueryError as exc:
        raise VastApiError(400, exc.code, str(exc)) from None
    return 200, RawJson(result.to_json())


def _rentable_offer(world: VastWorld, ask_id: int) -> dict[str, Any]:
    """The offer ``ask_id``: 404 when there is none, 410 when someone took it."""
    offer = world.offer(ask_id)
    if offer is None:
        raise VastApiError(
            404,
            "no_such_ask",
            f"error 404/3603: no_such_ask Instance type by id {ask_id} is not available.",
            ask_id=ask_id,
        )
    if offer["rented"] or not offer["rentable"]:  # it existed, and someone took it
        raise VastApiError(
            410,
            "no_such_ask",
            f"error 410/3603: no_such_ask Offer {ask_id} is no longer available.",
            ask_id=ask_id,
        )
    return offer


def _bid_price(body: dict[str, Any], offer: dict[str, Any], ask_id: int) -> float | None:
    """The body's ``price`` (a bid in $/hour, checked against the offer) or None (on demand)."""
    price = body.get("price")
    if price is None:
        return None
    if isinstance(price, bool) or not isinstance(price, (int, float)):
        raise VastApiError(400, "invalid_price", "price must be a number ($/hour)")
    if not 0.001 <= price <= 128:
        raise VastApiError(400, "invalid_price", "price must be between 0.001 and 128")
    if price < offer["min_bid"]:
        raise VastApiError(
            400,
            "invalid_price",
            f"Bid price {price:g} is below the minimum bid {offer['min_bid']:g} $/hr",
            ask_id=ask_id,
        )
    return price


async def create(request: Request, world: VastWorld) -> tuple[int, Any]:
    ask_id = _int_id(request.path_params["id"], "offer id")
    body = await _object_body(request)
    image = body.get("image")
    if not isinstance(image, str) or not image.strip():
        if not body.get("template_hash_id"):
            raise VastApiError(
                400,
                "invalid_args",
                "'image' is required (or a template_hash_id)",
                ask_id=ask_id,
            )
        image = "vastai/base-image:@vastai-automatic-tag"
    offer = _rentable_offer(world, ask_id)
    runtype = body.get("runtype", "args" if body.get("args") or body.get("args_str") else "ssh")
    if runtype not in RUNTYPES:
        raise VastApiError(400, "invalid_args", f"Invalid runtype {runtype!r}", ask_id=ask_id)
    target = body.get("target_state", "running")
    if target not in ("running", "stopped"):
        raise VastApiError(400, "invalid_args", f"Invalid target_state {target!r}")
    label = body.get("label")
    if label is not None and not isinstance(label, str):
        raise VastApiError(400, "invalid_args", "label must be a string")
    onstart = body.get("onstart")
    if onstart is not None and (not isinstance(onstart, str) or len(onstart) > 4048):
        raise VastApiError(400, "invalid_args", "onstart must be a string of ≤ 4048 chars")
    args = body.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise VastApiError(400, "invalid_args", "args must be a list of strings")
    disk = body.get("disk", 10.0)
    if isinstance(disk, bool) or not isinstance(disk, (int, float)) or disk <= 0:
        raise VastApiError(400, "invalid_args", "disk must be a positive number of GB")
    if disk > offer["disk_space"]:
        raise VastApiError(
            400,
            "invalid_args",
            f"Requested disk {disk:g} GB exceeds the {offer['disk_space']:g} GB offered",
            ask_id=ask_id,
        )
    price = _bid_price(body, offer, ask_id)
    is_bid = price is not None
    pairs, ports = parse_env(body.get("env"))
    now = world.now()
    world.next_id += 1 + world.state.rng.randint(0, 40)
    iid = world.next_id
    inst = VastInstance(
        id=iid,
        offer=offer,
        created=now,
        image=image.strip(),
        label=label,
        runtype=runtype,
        args=args,
        env_pairs=pairs,
        ports=ports,
        onstart=onstart,
        disk=float(disk),
        price=float(offer["dph_base"] if price is None else price),
        is_bid=is_bid,
        ssh_port=20_000 + iid % 20_000,
        jupyter_token=world.state.id("", 64, "0123456789abcdef"),
        phase="create" if target == "running" else "stop",
        phase_at=now if target == "running" else now - STOP_S,
        busy_machines=world.busy_machines,
        offline_machines=world.offline_machines,
    )
    world.instances[iid] = inst
    offer["rented"], offer["rentable"] = True, False
    if target == "running":
        start_guard(world.state, "vast", str(iid), dict(pairs), onstart=onstart, image=inst.image)
    return 200, {
        "success": True,
        "new_contract": iid,
        "instance_api_key": world.state.id("", 64, "0123456789abcdef"),
    }


def _instance(world: VastWorld, raw_id: str) -> VastInstance:
    inst = world.instances.get(_int_id(raw_id, "instance id"))
    if inst is None:
        raise VastApiError(404, "not_found", "Instance not found")
    return inst


async def show(request: Request, world: VastWorld) -> tuple[int, Any]:
    iid = _int_id(request.path_params["id"], "instance id")
    inst = world.instances.get(iid)
    return 200, {"instances": inst.to_json(world.now()) if inst else None}


async def manage(request: Request, world: VastWorld) -> tuple[int, Any]:
    inst = _instance(world, request.path_params["id"])
    body = await _object_body(request)
    if "state" not in body and "label" not in body:
        raise VastApiError(400, "invalid_args", "Give 'state' and/or 'label'")
    target = body.get("state")
    if target is not None and target not in ("running", "stopped"):
        raise VastApiError(400, "invalid_args", f"Invalid state {target!r}: running or stopped")
    if "label" in body:
        label = body["label"]
        if label is not None and (not isinstance(label, str) or len(label) > 1024):
            raise VastApiError(400, "invalid_args", "label must be a string of ≤ 1024 chars")
    if inst.machine_id in world.offline_machines:
        return 200, {"success": False, "msg": offline_msg(inst)}
    if "label" in body:
        inst.label = body["label"]
    now = world.now()
    if target == "stopped" and inst.phase != "stop":
        inst.phase, inst.phase_at = "stop", now
        stop_guard(world.state, "vast", str(inst.id))
    elif target == "running" and inst.phase == "stop":
        busy = inst.machine_id in world.busy_machines
        inst.phase, inst.phase_at = ("schedule" if busy else "start"), now
        env = dict(inst.env_pairs)
        start_guard(world.state, "vast", str(inst.id), env, onstart=inst.onstart, image=inst.image)
    return 200, {"success": True}


async def destroy(request: Request, world: VastWorld) -> tuple[int, Any]:
    inst = _instance(world, request.path_params["id"])
    if inst.machine_id in world.offline_machines:
        return 200, {"success": False, "msg": offline_msg(inst)}
    del world.instances[inst.id]
    inst.offer["rented"], inst.offer["rentable"] = False, True
    stop_guard(world.state, "vast", str(inst.id))
    return 200, {"success": True, "msg": "Instance destroyed successfully"}


def _sort_order(order_raw: Any) -> list[tuple[str, bool]]:
    """``order_by`` as (column, descending) pairs, ending with ``id`` when it is not there."""
    if not isinstance(order_raw, list) or not all(isinstance(o, dict) for o in order_raw):
        raise VastApiError(400, "invalid_request", "order_by must be a JSON array of objects")
    order: list[tuple[str, bool]] = []
    for o in order_raw:
        if o.get("col") not in STORED_COLUMNS:
            raise VastApiError(400, "invalid_request", f"Invalid order_by column {o.get('col')!r}")
        order.append((o["col"], o.get("dir") == "desc"))
    if not any(c == "id" for c, _ in order):
        order.append(("id", False))
    return order


async def list_v1(request: Request, world: VastWorld) -> tuple[int, Any]:
    raw_limit = request.query_params.get("limit", "25")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise VastApiError(400, "invalid_request", "limit must be an integer") from None
    limit = 5 if limit <= 0 else min(limit, PAGE_MAX)
    order_raw = _json_param(request, "order_by", [{"col": "id", "dir": "asc"}])
    filters = _json_param(request, "select_filters", {})
    cols = _json_param(request, "select_cols", ["*"])
    order = _sort_order(order_raw)
    if not isinstance(filters, dict):
        raise VastApiError(400, "invalid_request", "select_filters must be a JSON object")
    for col, ops in filters.items():
        if col not in STORED_COLUMNS:
            raise VastApiError(
                400,
                "invalid_request",
                f"Error in query parameters: {col} is not a valid search key",
            )
        if not isinstance(ops, dict) or any(op not in _OPS for op in ops):
            raise VastApiError(400, "invalid_request", f"Invalid operator for {col}")
    if not isinstance(cols, list):
        raise VastApiError(400, "invalid_request", "select_cols must be a JSON array")
    now = world.now()
    rows = [i.to_json(now) for i in world.instances.values()]
    rows = [r for r in rows if all(_matches(r, c, ops) for c, ops in filters.items())]
    rows.sort(key=lambda r: _row_key(r, order))
    total = len(rows)
    labels: dict[str, int] = {}
    for r in rows:
        labels[r["label"] or ""] = labels.get(r["label"] or "", 0) + 1
    token = request.query_params.get("after_token")
    if token:
        try:
            values = json.loads(base64.urlsafe_b64decode(token.encode()))["values"]
            assert isinstance(values, dict) and "id" in values
        except Exception:
            raise VastApiError(400, "invalid_token", "Invalid after_token") from None
        after = _row_key(values, order)
        rows = [r for r in rows if _row_key(r, order) > after]
    page, more = rows[:limit], len(rows) > limit
    next_token = None
    if more:
        last = page[-1]
        values = {c: last.get(c) for c, _ in order}
        next_token = base64.urlsafe_b64encode(json.dumps({"values": values}).encode()).decode()
    if cols != ["*"]:
        page = [{c: r.get(c) for c in cols} for r in page]
    return 200, {
        "success": True,
        "instances_found": len(page),
        "total_instances": total,
        "label_counts": labels,
        "next_token": next_token,
        "instances": page,
    }


# -- the app -----------------------------------------------------------------------------------


def build_app(state: SandboxState) -> FaultMiddleware:
    world = vast_world(state)
    key = state.api_keys["vast"]

    def authorize(request: Request) -> Response | None:
        return None if _has_key(request, key) else _unauthorized()

    def authorize_own(request: Request) -> Response | None:
        """The key, or an instance's own CONTAINER_API_KEY (it may stop or destroy that one)."""
        own = _has_key(request, key) or _own_instance(state, request)
        return None if own else _unauthorized()

    api: Api[VastWorld, tuple[int, Any], VastApiError] = Api(
        world, authorize, VastApiError, _error, _render
    )

    def both(path: str, endpoint: Endpoint, methods: list[str]) -> list[Route]:
        return [
            Route(path, endpoint, methods=methods),
            Route(path + "/", endpoint, methods=methods),
        ]

    routes = [
        *both("/api/v0/bundles", api(bundles), ["POST"]),
        *both("/api/v0/asks/{id}", api(create), ["PUT"]),
        *both("/api/v0/instances/{id}", api(show), ["GET"]),
        *both("/api/v0/instances/{id}", api(manage, authorize_own), ["PUT"]),
        *both("/api/v0/instances/{id}", api(destroy, authorize_own), ["DELETE"]),
        *both("/api/v1/instances", api(list_v1), ["GET"]),
    ]
    app = Starlette(routes=routes)
    app.router.redirect_slashes = False
    return FaultMiddleware(app, state, FAULT_NAME, error_response, VastLaunchFaults())


class VastLaunchFaults:
    """How Vast refuses renting an offer (410 ``no_such_ask``), and the world agreeing: the
    offer was rented by someone else, so it leaves the search results.

        >>> VastLaunchFaults().refusal("offer_gone", "/api/v0/asks/5001/")[1]["error"]
        'no_such_ask'
        >>> VastLaunchFaults().created_ids(b'{"success": true, "new_contract": 8000123}')
        ['8000123']
    """

    def refusal(self, kind: str, path: str) -> tuple[int, dict[str, Any]]:
        ask_id = _ask_id(path)
        return 410, {
            "success": False,
            "error": "no_such_ask",
            "msg": f"error 410/3603: no_such_ask Instance type by id {ask_id} is not available.",
            "ask_id": ask_id,
        }

    def sell_out(self, state: SandboxState, kind: str, path: str, body: bytes) -> None:
        ask_id = _ask_id(path)
        offer = vast_world(state).offer(ask_id) if ask_id is not None else None
        if offer is not None:
            offer["rented"], offer["rentable"] = True, False

    def created_ids(self, body: bytes) -> list[str]:
        contract = json_object(body).get("new_contract")
        return [str(contract)] if contract is not None else []

    def freeze(self, state: SandboxState, ids: list[str], until: float) -> None:
        instances = vast_world(state).instances
        for iid in ids:
            if iid.isdigit() and int(iid) in instances:
                instances[int(iid)].phase_at = until


def _ask_id(path: str) -> int | None:
    found = re.search(r"/asks/(\d+)", path)
    return int(found.group(1)) if found else None


def offline_msg(inst: VastInstance) -> str:
    return (
        f"Host machine {inst.machine_id} of instance {inst.id} is offline; the change cannot "
        "be made until it reconnects"
    )


def error_response(status: int, message: str) -> Response:
    """Fault responses in Vast's shapes (429 bodies carry ``detail`` like the real API)."""
    if status == 429:
        return json_response({"detail": "API requests too frequent endpoint threshold=2.0"}, 429)
    code = {401: "auth_error", 404: "not_found"}.get(status, "server_error")
    return json_response({"success": False, "error": code, "msg": message}, status)


def offer_view(world: VastWorld, offer_id: int) -> dict[str, Any] | None:
    """An offer as an on-demand search shows it (for tests)."""
    offer = world.offer(offer_id)
    return None if offer is None else priced(offer, "on-demand", 8.0)
