"""A faithful fake of the Lambda Cloud API v1 (``https://cloud.lambda.ai/api/v1``).

Speaks the real envelopes (``{"data": ...}`` / ``{"error": {code, message, suggestion}}``),
accepts ``Authorization: Bearer <key>`` and HTTP Basic with the key as user name, and simulates
on the sandbox's clock:

* instance types with ``regions_with_capacity_available`` (seeded capacity, taken by launches
  and given back by terminations);
* instances: ``booting`` → ``active``; restart → ``booting`` → ``active``; terminate →
  ``terminating`` → ``terminated`` (then gone from ``GET /instances``);
* launch validation as the API does it (required ``region_name``, ``instance_type_name``,
  ``ssh_key_names`` with exactly one key; unknown names; file systems in another region;
  ``insufficient-capacity`` per region) and the launch rate limit (one per 12 simulated
  seconds, else HTTP 429);
* SSH keys (the account starts with exactly one) and file systems (list at
  ``/file-systems``, create and delete at ``/filesystems``).

Real-API quirks it reproduces (so a client that ignores them fails its tests):

* an account quota (``LambdaWorld.instance_quota``): past it a launch answers **HTTP 400**
  ``global/quota-exceeded`` "Contact Support to increase your quota" (not a 429; waiting does
  not help);
* the firewall: an instance without a firewall ruleset gets the global rules, which let in SSH
  (22) and ping only; ``/firewall-rulesets`` (list, create, delete; 409 ``global/duplicate``
  on a taken name, ``firewall-rulesets/firewall-ruleset-in-use`` while attached) opens more,
  and ``LambdaWorld.open_ports(instance)`` says what is reachable; a launch naming an unknown
  ruleset, or one in another region, is refused;
* tag keys must match ``^[a-z][a-z0-9-:]+$`` (at most 55), values at most 128 characters;
* no ``image``/``user_data`` is a plain VM (Lambda Stack) and launches as is;
* ``ip``, ``private_ip``, ``hostname`` and ``jupyter_url`` appear once the instance is active.

The 429 body's ``code`` is not documented by Lambda; the fake sends
``global/rate-limit-exceeded`` (clients should rely on the status).
"""

from __future__ import annotations

import base64
import hmac
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._http import Api, FaultMiddleware, json_body, json_response
from .._offer_faults import json_object
from .._state import SandboxState
from .catalog import (
    INSTANCE_TYPES,
    PUBLIC_REGION_CODES,
    InstanceTypeSpec,
    initial_capacity,
    region_json,
)

FAULT_NAME = "lambda"
API = "/api/v1"
BOOT_S = 40.0
RESTART_S = 20.0
TERMINATE_S = 10.0
RETAIN_TERMINATED_S = 3_600.0
LAUNCH_INTERVAL_S = 12.0
USER = {"id": "sandbox-user-0001", "email": "sandbox@example.com", "status": "active"}

_HOSTNAME = re.compile(r"^[a-z0-9][0-9a-z-]{0,62}$")
_TAG_KEY = re.compile(r"^[a-z][a-z0-9-:]+$")
_FS_NAME = re.compile(r"^[a-zA-Z]+[0-9a-zA-Z-]*$")
_MOUNT = re.compile(r"^(/home|/lambda/nfs|/data)[//a-zA-Z0-9-]*$")


class LambdaApiError(Exception):
    def __init__(self, status: int, code: str, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.suggestion = status, code, message, suggestion


def error_body(code: str, message: str, suggestion: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if suggestion:
        err["suggestion"] = suggestion
    return {"error": err}


def _invalid(message: str, suggestion: str | None = None) -> LambdaApiError:
    return LambdaApiError(400, "global/invalid-parameters", message, suggestion)


def _missing(what: str, suggestion: str) -> LambdaApiError:
    return LambdaApiError(404, "global/object-does-not-exist", what, suggestion)


@dataclass
class LambdaInstance:
    id: str
    type: InstanceTypeSpec
    region: str
    ssh_key_names: list[str]
    file_systems: list[dict[str, Any]]
    created: float
    name: str | None = None
    hostname: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    firewall_rulesets: list[dict[str, str]] = field(default_factory=list)
    phase: str = "boot"  # boot | restart | terminate
    phase_at: float = 0.0
    ip: str = ""
    private_ip: str = ""
    jupyter_token: str = ""

    def status(self, now: float) -> str:
        age = now - self.phase_at
        if self.phase == "terminate":
            return "terminating" if age < TERMINATE_S else "terminated"
        limit = BOOT_S if self.phase == "boot" else RESTART_S
        return "booting" if age < limit else "active"

    def gone(self, now: float) -> bool:
        return (
            self.phase == "terminate" and now - self.phase_at >= TERMINATE_S + RETAIN_TERMINATED_S
        )

    def to_json(self, now: float) -> dict[str, Any]:
        status = self.status(now)
        out: dict[str, Any] = {"id": self.id}
        if self.name is not None:
            out["name"] = self.name
        if status == "active":
            out["ip"] = self.ip
            out["private_ip"] = self.private_ip
            out["hostname"] = self.hostname or self.ip.replace(".", "-")
            out["jupyter_token"] = self.jupyter_token
            out["jupyter_url"] = (
                f"https://jupyter-{self.id}.lambdaspaces.com/?token={self.jupyter_token}"
            )
        out.update(
            status=status,
            ssh_key_names=list(self.ssh_key_names),
            file_system_names=[fs["name"] for fs in self.file_systems],
            region=region_json(self.region),
            instance_type=self.type.to_json(),
            actions=_actions(status),
            tags=[dict(t) for t in self.tags],
            firewall_rulesets=[dict(r) for r in self.firewall_rulesets],
        )
        if self.file_systems:
            out["file_system_mounts"] = [
                {"mount_point": fs["mount_point"], "file_system_id": fs["id"]}
                for fs in self.file_systems
            ]
        return out


def _actions(status: str) -> dict[str, Any]:
    if status in ("terminating", "terminated"):
        off = {
            "available": False,
            "reason_code": "vm-is-terminating",
            "reason_description": "The instance is terminating.",
        }
        return {k: dict(off) for k in ("migrate", "rebuild", "restart", "cold_reboot", "terminate")}
    if status == "booting":
        off = {
            "available": False,
            "reason_code": "vm-has-not-launched",
            "reason_description": "The instance has not finished booting.",
        }
        return {
            "migrate": dict(off),
            "rebuild": dict(off),
            "restart": dict(off),
            "cold_reboot": dict(off),
            "terminate": {"available": True},
        }
    on = {"available": True}
    return {k: dict(on) for k in ("migrate", "rebuild", "restart", "cold_reboot", "terminate")}


@dataclass
class LambdaWorld:
    """The simulated Lambda account."""

    state: SandboxState
    capacity: dict[str, dict[str, int]]
    instances: dict[str, LambdaInstance] = field(default_factory=dict)
    ssh_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    file_systems: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_launch: float | None = None
    launches: int = 0
    #: the most instances the account may run at once (None: no quota); past it, a launch
    #: answers 400 ``global/quota-exceeded`` as the real API does
    instance_quota: int | None = None
    #: firewall rulesets by id; instances without one get the global rules (SSH only)
    firewall_rulesets: dict[str, dict[str, Any]] = field(default_factory=dict)
    global_rules: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {
                "protocol": "tcp",
                "port_range": [22, 22],
                "source_network": "0.0.0.0/0",
                "description": "Allow SSH from anywhere",
            },
            {"protocol": "icmp", "source_network": "0.0.0.0/0", "description": "Allow ping"},
        ]
    )

    def now(self) -> float:
        return self.state.clock.now()

    def hex_id(self) -> str:
        return self.state.id("", 32, "0123456789abcdef")

    def live_instances(self) -> list[LambdaInstance]:
        now = self.now()
        for iid in [i.id for i in self.instances.values() if i.gone(now)]:
            del self.instances[iid]
        return list(self.instances.values())

    def instance(self, instance_id: str) -> LambdaInstance:
        inst = self.instances.get(instance_id)
        if inst is None or inst.gone(self.now()):
            raise LambdaApiError(
                404,
                "global/object-does-not-exist",
                "Specified instance does not exist.",
                "Check the instance id (GET /instances lists yours).",
            )
        return inst

    def regions_with_capacity(self, type_name: str) -> list[str]:
        return sorted(r for r, n in self.capacity.get(type_name, {}).items() if n > 0)

    def fs_in_use(self, fs_id: str) -> bool:
        now = self.now()
        return any(
            fs["id"] == fs_id and inst.status(now) != "terminated"
            for inst in self.instances.values()
            for fs in inst.file_systems
        )

    def open_ports(self, inst: LambdaInstance) -> set[int]:
        """TCP ports the instance's firewall lets in from anywhere (its rulesets, else global)."""
        rules = [
            rule
            for ref in inst.firewall_rulesets
            for rule in self.firewall_rulesets.get(ref["id"], {}).get("rules", [])
        ] or self.global_rules
        out: set[int] = set()
        for rule in rules:
            if rule["protocol"] in ("tcp", "all") and rule["source_network"] == "0.0.0.0/0":
                low, high = rule.get("port_range") or [1, 65535]
                out.update(range(low, high + 1))
        return out

    def ruleset_json(self, ruleset: dict[str, Any]) -> dict[str, Any]:
        now = self.now()
        users = [
            i.id
            for i in self.instances.values()
            if i.status(now) != "terminated" and {"id": ruleset["id"]} in i.firewall_rulesets
        ]
        return {**ruleset, "region": region_json(ruleset["region"]), "instance_ids": users}

    def fs_json(self, fs: dict[str, Any]) -> dict[str, Any]:
        return {**fs, "is_in_use": self.fs_in_use(fs["id"]), "region": region_json(fs["region"])}


def lambda_world(state: SandboxState) -> LambdaWorld:
    """The sandbox's Lambda account, created on first use (one SSH key, seeded capacity)."""
    world = state.providers.get("lambda")
    if world is None:
        world = LambdaWorld(state=state, capacity=initial_capacity(state.seed))
        key_id = world.hex_id()
        world.ssh_keys[key_id] = {
            "id": key_id,
            "name": "sandbox-key",
            "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISandboxSandboxSandboxSandboxKey "
            "sandbox@atlas",
        }
        state.providers["lambda"] = world
    return world  # type: ignore[no-any-return,unused-ignore]


# -- request validation helpers ------------------------------------------------------------------


def _str_list(body: dict[str, Any], key: str, *, required: bool = False) -> list[str]:
    if key not in body or body[key] is None:
        if required:
            raise _invalid(f"Missing required field '{key}'.")
        return []
    value = body[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(f"Field '{key}' must be a list of strings.")
    return value


def _opt_str(body: dict[str, Any], key: str, *, max_len: int | None = None) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"Field '{key}' must be a string.")
    if max_len is not None and len(value) > max_len:
        raise _invalid(f"Field '{key}' must be at most {max_len} characters.")
    return value


async def _object_body(request: Request) -> dict[str, Any]:
    try:
        body = await json_body(request)
    except ValueError:
        raise _invalid("Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _invalid("Request body must be a JSON object.")
    return body


def _authorized(request: Request, key: str) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.encode(), key.encode())
    if scheme.lower() == "basic":
        if hmac.compare_digest(value.encode(), key.encode()):
            return True
        try:
            user = base64.b64decode(value, validate=True).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user.encode(), key.encode())
    return False


def _unauthorized() -> Response:
    return json_response(
        error_body(
            "global/invalid-api-key",
            "API key was invalid, expired, or deleted.",
            "Check your API key or create a new one, then try again.",
        ),
        401,
    )


def _error(exc: LambdaApiError) -> Response:
    return json_response(error_body(exc.code, exc.message, exc.suggestion), exc.status)


def _data(result: tuple[int, Any]) -> Response:
    status, data = result
    return json_response({"data": data}, status)


# -- the handlers ------------------------------------------------------------------------------


async def instance_types(_request: Request, world: LambdaWorld) -> tuple[int, Any]:
    return 200, {
        name: {
            "instance_type": spec.to_json(),
            "regions_with_capacity_available": [
                region_json(r) for r in world.regions_with_capacity(name)
            ],
        }
        for name, spec in INSTANCE_TYPES.items()
    }


async def list_instances(request: Request, world: LambdaWorld) -> tuple[int, Any]:
    now = world.now()
    found = sorted(world.live_instances(), key=lambda i: i.created)
    return 200, [i.to_json(now) for i in found if i.status(now) != "terminated"]


async def get_instance(request: Request, world: LambdaWorld) -> tuple[int, Any]:
    return 200, world.instance(request.path_params["id"]).to_json(world.now())


async def update_instance(request: Request, world: LambdaWorld) -> tuple[int, Any]:
    inst = world.instance(request.path_params["id"])
    body = await _object_body(request)
    name = _opt_str(body, "name", max_len=64)
    if name is not None:
        inst.name = name
    return 200, inst.to_json(world.now())


async def launch(request: Request, world: LambdaWorld) -> tuple[int, Any]:
    now = world.now()
    if world.last_launch is not None and now - world.last_launch < LAUNCH_INTERVAL_S:
        raise LambdaApiError(
            429,
            "global/rate-limit-exceeded",
            "Too many launch requests: at most one launch every 12 seconds.",
            "Wait a few seconds, then try again.",
        )
    world.last_launch = now
    body = await _object_body(request)
    region = body.get("region_name")
    type_name = body.get("instance_type_name")
    for field_name, value in (("region_name", region), ("instance_type_name", type_name)):
        if value is None:
            raise _invalid(f"Missing required field '{field_name}'.")
        if not isinstance(value, str):
            raise _invalid(f"Field '{field_name}' must be a string.")
    keys = _str_list(body, "ssh_key_names", required=True)
    if region not in PUBLIC_REGION_CODES:
        raise _invalid(
            f"Invalid region_name '{region}'.",
            f"Use one of: {', '.join(sorted(PUBLIC_REGION_CODES))}.",
        )
    if len(keys) != 1:
        raise _invalid("Exactly one SSH key name must be given in 'ssh_key_names'.")
    name = _opt_str(body, "name", max_len=64)
    hostname = _opt_str(body, "hostname", max_len=63)
    if hostname is not None and not _HOSTNAME.match(hostname):
        raise _invalid("Field 'hostname' must match ^[a-z0-9][0-9a-z-]{0,62}$.")
    _opt_str(body, "user_data")
    tags = _tags(body)
    rulesets = _rulesets(body)
    _image(body)
    spec = INSTANCE_TYPES.get(type_name)  # type: ignore[arg-type]
    if spec is None:
        raise _missing(
            f"Instance type '{type_name}' does not exist.",
            "GET /instance-types lists the instance types.",
        )
    known = {k["name"] for k in world.ssh_keys.values()}
    if keys[0] not in known:
        raise _missing(
            f"SSH key '{keys[0]}' does not exist.",
            "GET /ssh-keys lists your SSH keys; POST /ssh-keys adds one.",
        )
    file_systems = _launch_file_systems(world, body, region)
    for ref in rulesets:
        found = world.firewall_rulesets.get(ref["id"])
        if found is None:
            raise _missing(
                f"Firewall ruleset '{ref['id']}' does not exist.",
                "GET /firewall-rulesets lists your firewall rulesets.",
            )
        if found["region"] != region:
            raise _invalid(
                f"Firewall ruleset '{found['name']}' is in region {found['region']}, not {region}.",
                "Use a firewall ruleset in the instance's region.",
            )
    live = [i for i in world.live_instances() if i.status(now) != "terminated"]
    if world.instance_quota is not None and len(live) >= world.instance_quota:
        raise LambdaApiError(
            400,
            "global/quota-exceeded",
            "Quota exceeded.",
            "Contact Support to increase your quota.",
        )
    available = world.capacity.get(spec.name, {})
    if available.get(region, 0) <= 0:
        raise LambdaApiError(
            400,
            "instance-operations/launch/insufficient-capacity",
            "Not enough capacity to fulfill launch request.",
            "Try a different region or instance type.",
        )
    available[region] -= 1
    iid = world.hex_id()
    rng = world.state.rng
    world.instances[iid] = LambdaInstance(
        id=iid,
        type=spec,
        region=region,
        ssh_key_names=keys,
        file_systems=file_systems,
        created=now,
        name=name,
        hostname=hostname,
        tags=tags,
        firewall_rulesets=rulesets,
        phase_at=now,
        ip=f"198.51.100.{rng.randint(2, 254)}",
        private_ip=f"10.0.{rng.randint(0, 255)}.{rng.randint(2, 254)}",
        jupyter_token=world.hex_id(),
    )
    world.launches += 1
    return 200, {"instance_ids": [iid]}


async def _ids(request: Request, world: LambdaWorld) -> list[LambdaInstance]:
    body = await _object_body(request)
    ids = _str_list(body, "instance_ids", required=True)
    insts = [world.instance(i) for i in ids]
    now = world.now()
    for inst in insts:
        if inst.status(now) == "terminated":
            raise LambdaApiError(
                404,
                "global/object-does-not-exist",
                "Specified instance does not exist.",
                "It has been terminated.",
            )
    return insts


async def restart(request: Request, world: LambdaWorld) -> tuple[int, Any]:
    now = world.now()
    insts = await _ids(request, world)
    for inst in insts:
        if inst.phase != "terminate":
            inst.phase, inst.phase_at = "restart", now
    return 200, {"restarted_instances": [i.to_json(now) for i in insts]}


async def terminate(request: Request, world: LambdaWorld) -> tuple[int, Any]:
    now = world.now()
    insts = await _ids(request, world)
    for inst in insts:
        if inst.phase != "terminate":
            inst.phase, inst.phase_at = "terminate", now
            cap = world.capacity.setdefault(inst.type.name, {})
            cap[inst.region] = cap.get(inst.region, 0) + 1
    return 200, {"terminated_instances": [i.to_json(now) for i in insts]}


async def list_keys(_request: Request, world: LambdaWorld) -> tuple[int, Any]:
    return 200, [dict(k) for k in world.ssh_keys.values()]


async def add_key(request: Request, world: LambdaWorld) -> tuple[int, Any]:
    body = await _object_body(request)
    name = _opt_str(body, "name", max_len=64)
    if not name:
        raise _invalid("Missing required field 'name'.")
    if any(k["name"] == name for k in world.ssh_keys.values()):
        raise _invalid(f"An SSH key named '{name}' already exists.", "Choose another name.")
    public = _opt_str(body, "public_key", max_len=4096)
    kid = world.hex_id()
    if public is None:
        secret = base64.b64encode(world.state.rng.randbytes(48)).decode()
        public = f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5{secret[:43]} {name}"
        key_obj = {"id": kid, "name": name, "public_key": public}
        world.ssh_keys[kid] = key_obj
        private = (
            f"-----BEGIN OPENSSH PRIVATE KEY-----\n{secret}\n-----END OPENSSH PRIVATE KEY-----\n"
        )
        return 200, {**key_obj, "private_key": private}
    if not public.startswith(("ssh-", "ecdsa-", "sk-")) or len(public.split()) < 2:
        raise _invalid(
            "Invalid public key.", "Give an OpenSSH public key such as 'ssh-ed25519 AAAA...'."
        )
    key_obj = {"id": kid, "name": name, "public_key": public.strip()}
    world.ssh_keys[kid] = key_obj
    return 200, dict(key_obj)


async def delete_key(request: Request, world: LambdaWorld) -> tuple[int, Any]:
    kid = request.path_params["id"]
    if kid not in world.ssh_keys:
        raise _invalid(f"SSH key '{kid}' does not exist.", "GET /ssh-keys lists your keys.")
    del world.ssh_keys[kid]
    return 200, {}


async def list_fs(_request: Request, world: LambdaWorld) -> tuple[int, Any]:
    return 200, [world.fs_json(fs) for fs in world.file_systems.values()]


async def create_fs(request: Request, world: LambdaWorld) -> tuple[int, Any]:
    body = await _object_body(request)
    name = _opt_str(body, "name", max_len=60)
    region = _opt_str(body, "region")
    if not name:
        raise _invalid("Missing required field 'name'.")
    if not _FS_NAME.match(name):
        raise _invalid(
            "Invalid filesystem name.",
            "Start with a letter; use letters, digits and hyphens (at most 60).",
        )
    if region is None:
        raise _invalid("Missing required field 'region'.")
    if region not in PUBLIC_REGION_CODES:
        raise _invalid(f"Invalid region '{region}'.")
    if any(fs["name"] == name for fs in world.file_systems.values()):
        raise LambdaApiError(
            400, "global/duplicate", f"A filesystem named '{name}' already exists."
        )
    fid = world.hex_id()
    fs = {
        "id": fid,
        "name": name,
        "mount_point": f"/lambda/nfs/{name}",
        "created": datetime.fromtimestamp(world.now(), UTC).isoformat().replace("+00:00", "Z"),
        "created_by": dict(USER),
        "region": region,
        "bytes_used": 0,
    }
    world.file_systems[fid] = fs
    return 200, world.fs_json(fs)


async def delete_fs(request: Request, world: LambdaWorld) -> tuple[int, Any]:
    fid = request.path_params["id"]
    fs = world.file_systems.get(fid)
    if fs is None:
        raise LambdaApiError(404, "global/object-does-not-exist", "Filesystem was not found.")
    if world.fs_in_use(fid):
        raise LambdaApiError(
            400,
            "filesystems/filesystem-in-use",
            f"Filesystem '{fs['name']}' is attached to an instance.",
            "Terminate the instances that use it first.",
        )
    del world.file_systems[fid]
    return 200, {"deleted_ids": [fid]}


async def list_rulesets(_request: Request, world: LambdaWorld) -> tuple[int, Any]:
    return 200, [world.ruleset_json(r) for r in world.firewall_rulesets.values()]


async def create_ruleset(request: Request, world: LambdaWorld) -> tuple[int, Any]:
    body = await _object_body(request)
    name = _opt_str(body, "name", max_len=64)
    region = _opt_str(body, "region")
    if not name:
        raise _invalid("Missing required field 'name'.")
    if region not in PUBLIC_REGION_CODES:
        raise _invalid(f"Invalid region '{region}'.")
    rules = _firewall_rules(body.get("rules"))
    if any(r["name"] == name for r in world.firewall_rulesets.values()):
        raise LambdaApiError(
            409, "global/duplicate", f"A firewall ruleset named '{name}' already exists."
        )
    rid = world.hex_id()
    created = datetime.fromtimestamp(world.now(), UTC).isoformat().replace("+00:00", "Z")
    ruleset = {"id": rid, "name": name, "region": region, "rules": rules, "created": created}
    world.firewall_rulesets[rid] = ruleset
    return 200, world.ruleset_json(ruleset)


async def delete_ruleset(request: Request, world: LambdaWorld) -> tuple[int, Any]:
    ruleset = world.firewall_rulesets.get(request.path_params["id"])
    if ruleset is None:
        raise LambdaApiError(
            404,
            "global/object-does-not-exist",
            "Firewall ruleset does not exist or you do not have permission to access it.",
            "Check your firewall ruleset ID and try again.",
        )
    if world.ruleset_json(ruleset)["instance_ids"]:
        raise LambdaApiError(
            409,
            "firewall-rulesets/firewall-ruleset-in-use",
            "Firewall ruleset is in use by one or more instances.",
            "Terminate all instances that are using the ruleset before deleting it.",
        )
    del world.firewall_rulesets[ruleset["id"]]
    return 200, {}


# -- the app -----------------------------------------------------------------------------------


def build_app(state: SandboxState) -> FaultMiddleware:
    world = lambda_world(state)
    key = state.api_keys["lambda"]

    def authorize(request: Request) -> Response | None:
        return None if _authorized(request, key) else _unauthorized()

    api: Api[LambdaWorld, tuple[int, Any], LambdaApiError] = Api(
        world, authorize, LambdaApiError, _error, _data
    )
    routes = [
        Route(f"{API}/firewall-rulesets", api(list_rulesets), methods=["GET"]),
        Route(f"{API}/firewall-rulesets", api(create_ruleset), methods=["POST"]),
        Route(f"{API}/firewall-rulesets/{{id}}", api(delete_ruleset), methods=["DELETE"]),
        Route(f"{API}/instance-types", api(instance_types), methods=["GET"]),
        Route(f"{API}/instances", api(list_instances), methods=["GET"]),
        Route(f"{API}/instances/{{id}}", api(get_instance), methods=["GET"]),
        Route(f"{API}/instances/{{id}}", api(update_instance), methods=["POST"]),
        Route(f"{API}/instance-operations/launch", api(launch), methods=["POST"]),
        Route(f"{API}/instance-operations/restart", api(restart), methods=["POST"]),
        Route(f"{API}/instance-operations/terminate", api(terminate), methods=["POST"]),
        Route(f"{API}/ssh-keys", api(list_keys), methods=["GET"]),
        Route(f"{API}/ssh-keys", api(add_key), methods=["POST"]),
        Route(f"{API}/ssh-keys/{{id}}", api(delete_key), methods=["DELETE"]),
        Route(f"{API}/file-systems", api(list_fs), methods=["GET"]),
        Route(f"{API}/filesystems", api(create_fs), methods=["POST"]),
        Route(f"{API}/filesystems/{{id}}", api(delete_fs), methods=["DELETE"]),
    ]
    return FaultMiddleware(
        Starlette(routes=routes), state, FAULT_NAME, error_response, LambdaLaunchFaults()
    )


class LambdaLaunchFaults:
    """How Lambda refuses a launch (its error codes), and the world agreeing: a region out of
    capacity leaves ``regions_with_capacity_available`` (a quota changes nothing).

        >>> LambdaLaunchFaults().refusal("quota", "/api/v1/instance-operations/launch")[1]
        ... # doctest: +ELLIPSIS
        {'error': {'code': 'global/quota-exceeded', ...}}
        >>> LambdaLaunchFaults().created_ids(b'{"data": {"instance_ids": ["abc"]}}')
        ['abc']
    """

    def refusal(self, kind: str, path: str) -> tuple[int, dict[str, Any]]:
        if kind == "quota":
            return 400, error_body(
                "global/quota-exceeded",
                "Launching this instance would exceed your account's quota.",
                "Terminate instances you no longer need or ask Lambda for a higher quota.",
            )
        return 400, error_body(
            "instance-operations/launch/insufficient-capacity",
            "Not enough capacity to fulfill launch request.",
            "Try a different region or instance type.",
        )

    def sell_out(self, state: SandboxState, kind: str, path: str, body: bytes) -> None:
        if kind == "quota":
            return
        launch = json_object(body)
        regions = lambda_world(state).capacity.get(str(launch.get("instance_type_name")))
        if regions is not None and launch.get("region_name") in regions:
            regions[launch["region_name"]] = 0

    def created_ids(self, body: bytes) -> list[str]:
        data = json_object(body).get("data") or {}
        return [str(i) for i in data.get("instance_ids") or []]

    def freeze(self, state: SandboxState, ids: list[str], until: float) -> None:
        instances = lambda_world(state).instances
        for iid in ids:
            if iid in instances:
                instances[iid].phase_at = until


def _tags(body: dict[str, Any]) -> list[dict[str, str]]:
    raw = body.get("tags")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _invalid("Field 'tags' must be a list of {key, value} objects.")
    out = []
    for tag in raw:
        if not isinstance(tag, dict) or not isinstance(tag.get("key"), str):
            raise _invalid("Each tag must be an object with string 'key' and 'value'.")
        k, v = tag["key"], tag.get("value")
        if not isinstance(v, str):
            raise _invalid(f"Tag '{k}' needs a string 'value'.")
        if len(k) > 55 or not _TAG_KEY.match(k):
            raise _invalid(f"Invalid tag key '{k}'.", "Tag keys match ^[a-z][a-z0-9-:]+$ (≤55).")
        if len(v) > 128:
            raise _invalid(f"Tag '{k}' value is longer than 128 characters.")
        out.append({"key": k, "value": v})
    return out


def _rulesets(body: dict[str, Any]) -> list[dict[str, str]]:
    raw = body.get("firewall_rulesets")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(
        isinstance(r, dict) and isinstance(r.get("id"), str) for r in raw
    ):
        raise _invalid("Field 'firewall_rulesets' must be a list of {id} objects.")
    return [{"id": r["id"]} for r in raw]


def _firewall_rules(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise _invalid("Missing required field 'rules' (a list of firewall rules).")
    out = []
    for rule in raw:
        if not isinstance(rule, dict) or rule.get("protocol") not in ("tcp", "udp", "icmp", "all"):
            raise _invalid("Each rule needs 'protocol': one of tcp, udp, icmp, all.")
        if not isinstance(rule.get("source_network"), str) or not isinstance(
            rule.get("description"), str
        ):
            raise _invalid("Each rule needs a 'source_network' (CIDR) and a 'description'.")
        ports = rule.get("port_range")
        if rule["protocol"] == "icmp":
            if ports is not None:
                raise _invalid("'port_range' is not allowed for the icmp protocol.")
        elif not (
            isinstance(ports, list)
            and len(ports) == 2
            and all(isinstance(p, int) and 1 <= p <= 65535 for p in ports)
            and ports[0] <= ports[1]
        ):
            raise _invalid("'port_range' must be [min, max] with ports 1-65535.")
        out.append(dict(rule))
    return out


def _image(body: dict[str, Any]) -> None:
    image = body.get("image")
    if image is None:
        return
    if not isinstance(image, dict) or not (
        isinstance(image.get("id"), str) or isinstance(image.get("family"), str)
    ):
        raise _invalid('Field \'image\' must be {"id": ...} or {"family": ...}.')


def _launch_file_systems(
    world: LambdaWorld, body: dict[str, Any], region: str
) -> list[dict[str, Any]]:
    names = _str_list(body, "file_system_names")
    by_name = {fs["name"]: fs for fs in world.file_systems.values()}
    chosen: list[dict[str, Any]] = []
    for n in names:
        fs = by_name.get(n)
        if fs is None:
            raise _missing(
                f"Filesystem '{n}' does not exist.", "GET /file-systems lists your filesystems."
            )
        chosen.append(fs)
    mounts = body.get("file_system_mounts")
    if mounts is not None:
        if not isinstance(mounts, list):
            raise _invalid("Field 'file_system_mounts' must be a list.")
        for m in mounts:
            if not isinstance(m, dict) or not isinstance(m.get("file_system_id"), str):
                raise _invalid("Each file system mount needs 'mount_point' and 'file_system_id'.")
            point = m.get("mount_point")
            if not isinstance(point, str) or len(point) > 256 or not _MOUNT.match(point):
                raise _invalid(f"Invalid mount_point {point!r}.")
            fs = world.file_systems.get(m["file_system_id"])
            if fs is None:
                raise _missing(
                    f"Filesystem '{m['file_system_id']}' does not exist.",
                    "GET /file-systems lists your filesystems.",
                )
            if fs not in chosen:
                chosen.append({**fs, "mount_point": point})
    for fs in chosen:
        if fs["region"] != region:
            raise LambdaApiError(
                400,
                "instance-operations/launch/file-system-in-wrong-region",
                f"Filesystem '{fs['name']}' is in {fs['region']}, not {region}.",
                "Launch in the filesystem's region, or create a filesystem in this region.",
            )
    return chosen


def error_response(status: int, message: str) -> Response:
    """Fault responses in Lambda's envelope."""
    code = {
        401: "global/invalid-api-key",
        403: "global/account-inactive",
        404: "global/object-does-not-exist",
        429: "global/rate-limit-exceeded",
    }.get(status, "global/internal-error" if status >= 500 else "global/invalid-parameters")
    return json_response(error_body(code, message), status)
