"""The Fly Machines provider: requests to machine configs, machines to computes.

>>> fly_authorization("fm2_abc"), fly_authorization("personal-token")
('FlyV1 fm2_abc', 'Bearer personal-token')
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from ...auth import auth_material
from ...errors import (
    AtlasError,
    AtlasTimeoutError,
    NotFoundError,
    ProviderError,
    UnsupportedError,
    ValidationError,
)
from ...models import AuthHandle, Compute, ComputeRequest, ComputeStatus, Port
from ...transport.http import HttpApi
from ...transport.paths import segment
from .._parse import ident, reading, reads
from ..base import Provider, redact_env, select_computes
from ..created import created_id, read_back, submit_create

CONFIG_PASSTHROUGH = (
    "metadata",
    "init",
    "mounts",
    "checks",
    "files",
    "stop_config",
    "schedule",
    "dns",
)
OPTS = (
    "app",
    "guest",
    "cpu_kind",
    "cpus",
    "memory_mb",
    "size",
    "region",
    "services",
    "auto_destroy",
    "restart",
    "skip_launch",
    *CONFIG_PASSTHROUGH,
)
#: an app's public addresses (Fly GraphQL); shared_v4 shows as ``sharedIpAddress``
APP_IPS = """
query AtlasAppIps($name: String!) {
  app(name: $name) { sharedIpAddress ipAddresses { nodes { address type } } }
}
"""
ALLOCATE_IP = """
mutation AtlasAllocateIp($input: AllocateIPAddressInput!) {
  allocateIpAddress(input: $input) { ipAddress { address type } app { sharedIpAddress } }
}
"""
META_PORTS = "atlas_ports"
META_AUTH = "atlas_auth"
META_AUTH_HASH = "atlas_auth_hash"
GPU_PROVIDERS_HINT = (
    "Fly.io removed GPU Machines in 2026 and its Machines API rejects GPU guests. Use "
    "provider='runpod', 'lambda' or 'vast' for GPUs (atlas.offers(gpu=...) compares them), "
    "or drop gpu= to spawn a CPU machine on Fly."
)
#: list prices ($ per hour) used to estimate cost_per_hr
PRICE_SHARED_VCPU = 0.00095
PRICE_PERFORMANCE_VCPU = 0.0287
PRICE_RAM_GB = 0.00687

#: Fly machine state -> atlas_nb's
STATUS_MAP: dict[str, ComputeStatus] = {
    "creating": ComputeStatus.PROVISIONING,
    "created": ComputeStatus.PROVISIONING,
    "starting": ComputeStatus.STARTING,
    "started": ComputeStatus.RUNNING,
    "restarting": ComputeStatus.STARTING,
    "updating": ComputeStatus.STARTING,
    "replacing": ComputeStatus.STARTING,
    "stopping": ComputeStatus.STOPPING,
    "stopped": ComputeStatus.STOPPED,
    "suspending": ComputeStatus.STOPPING,
    "suspended": ComputeStatus.STOPPED,
    "destroying": ComputeStatus.TERMINATING,
    "destroyed": ComputeStatus.TERMINATED,
    "replaced": ComputeStatus.TERMINATED,
    "migrated": ComputeStatus.TERMINATED,
    "failed": ComputeStatus.FAILED,
    "launch_failed": ComputeStatus.FAILED,
}
_GONE = (ComputeStatus.TERMINATING, ComputeStatus.TERMINATED)


# -- pure helpers (table-tested) -------------------------------------------------------------


def fly_authorization(token: str) -> str:
    """The ``Authorization`` header value for a Fly token (see the module docstring)."""
    t = token.strip()
    if t.startswith(("FlyV1 ", "Bearer ")):
        return t
    parts = [p.strip() for p in t.split(",")]
    if any(p.startswith(("fm1r_", "fm1a_", "fm2_")) for p in parts):
        return "FlyV1 " + t
    return "Bearer " + t


def fly_status(state: str | None) -> ComputeStatus:
    """A Machine ``state`` as a :class:`ComputeStatus` (unknown values → UNKNOWN)."""
    return STATUS_MAP.get(state or "", ComputeStatus.UNKNOWN)


def services_for(ports: Sequence[tuple[int, str]]) -> list[dict[str, Any]]:
    """Fly services exposing ports: the first http port on 443 (TLS) and 80, other http ports
    on their own number with TLS, tcp ports as raw TCP.

    >>> [s["ports"] for s in services_for([(8000, "http"), (22, "tcp")])]
    [[{'port': 443, 'handlers': ['tls', 'http']}, {'port': 80, 'handlers': ['http']}], \
[{'port': 22}]]
    """
    out = []
    first_http = True
    for port, proto in ports:
        if proto == "http":
            if first_http:
                mapped = [
                    {"port": 443, "handlers": ["tls", "http"]},
                    {"port": 80, "handlers": ["http"]},
                ]
                first_http = False
            else:
                mapped = [{"port": port, "handlers": ["tls", "http"]}]
        else:
            mapped = [{"port": port}]
        out.append({"protocol": "tcp", "internal_port": port, "ports": mapped})
    return out


def guest_price(guest: Mapping[str, Any] | None) -> float | None:
    """Estimated $/h of a running guest from Fly's list prices."""
    if not guest:
        return None
    cpus = float(guest.get("cpus") or 1)
    per_cpu = (
        PRICE_PERFORMANCE_VCPU if guest.get("cpu_kind") == "performance" else PRICE_SHARED_VCPU
    )
    memory_gb = float(guest.get("memory_mb") or 256) / 1024
    return round(cpus * per_cpu + memory_gb * PRICE_RAM_GB, 6)


def machine_ports(app: str, config: Mapping[str, Any]) -> list[Port]:
    """Ports of a machine's services, reachable on the app's ``<app>.fly.dev`` address."""
    out = []
    for svc in config.get("services") or []:
        internal = svc.get("internal_port")
        if not isinstance(internal, int):
            continue
        ports = svc.get("ports") or []
        http = [p for p in ports if "http" in (p.get("handlers") or [])]
        chosen = (http or ports or [{}])[0]
        external = chosen.get("port")
        host = f"{app}.fly.dev"
        if http:
            tls = "tls" in (chosen.get("handlers") or [])
            scheme = "https" if tls else "http"
            default = 443 if tls else 80
            web = f"{scheme}://{host}" + ("" if external == default else f":{external}")
            out.append(Port(internal=internal, external=external, protocol="http", url=web))
        else:
            raw = f"tcp://{host}:{external}" if external else None
            out.append(Port(internal=internal, external=external, protocol="tcp", url=raw))
    return out


def machine_checks(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The machine's health checks as Fly reports them (``[{name, status, output, ...}]``)."""
    checks = data.get("checks")
    return [dict(c) for c in checks if isinstance(c, Mapping)] if isinstance(checks, list) else []


def machine_fields(app: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`Compute` fields of a Machine payload (no I/O)."""
    config = data.get("config") or {}
    status = fly_status(data.get("state"))
    meta = config.get("metadata") or {}
    auth = None
    if meta.get(META_AUTH) in ("bearer", "signed_url"):
        auth = AuthHandle(scheme=meta[META_AUTH], hash=meta.get(META_AUTH_HASH) or None)
    raw = dict(data)
    if config.get("env"):
        raw["config"] = {**config, "env": redact_env(config["env"])}
    created = data.get("created_at")
    running = status not in (ComputeStatus.STOPPED, *_GONE, ComputeStatus.FAILED)
    return {
        "id": f"{app}/{ident(data, provider='fly', what='a machine')}",
        "name": data.get("name"),
        "status": status,
        "provider_status": data.get("state"),
        "gpu": None,
        "gpu_count": 0,
        "image": config.get("image"),
        "region": data.get("region"),
        "cost_per_hr": guest_price(config.get("guest")) if running else 0.0,
        "ports": machine_ports(app, config),
        "public_ip": None,
        "private_ip": data.get("private_ip"),
        "host_status": data.get("host_status"),
        "checks": machine_checks(data),
        "created_at": datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None,
        "auth": auth,
        "raw": raw,
    }


def guest_from_opts(opts: Mapping[str, Any]) -> dict[str, Any]:
    """``guest`` or ``size`` for the machine config from provider_opts (validated shape)."""
    keys = ("cpu_kind", "cpus", "memory_mb")
    loose = {k: opts[k] for k in keys if opts.get(k) is not None}
    given = [n for n, v in (("guest", opts.get("guest")), ("size", opts.get("size"))) if v]
    if loose:
        given.append("cpu_kind/cpus/memory_mb")
    if len(given) > 1:
        raise ValidationError(
            f"give the machine size one way, not {' and '.join(given)}",
            field="provider_opts",
            hint="Use size='shared-cpu-2x' or guest={...} or cpu_kind/cpus/memory_mb.",
        )
    if opts.get("size"):
        return {"size": str(opts["size"])}
    guest = dict(opts.get("guest") or loose)
    if guest.get("gpu_kind") or guest.get("gpus"):
        raise UnsupportedError(
            "Fly.io no longer offers GPU Machines", provider="fly", hint=GPU_PROVIDERS_HINT
        )
    return {"guest": guest} if guest else {}


def machines_path(app: str, machine_id: str | None = None, suffix: str = "") -> str:
    """``/apps/{app}/machines[/{id}{suffix}]`` with the app name and machine id checked and
    escaped (neither can change the path).

    >>> machines_path("web", "148ed193b95e89", "/stop")
    '/apps/web/machines/148ed193b95e89/stop'
    """
    path = f"/apps/{segment(app, 'fly_app', field='app')}/machines"
    if machine_id is None:
        return path
    return f"{path}/{segment(machine_id, 'fly_machine')}{suffix}"


# -- the provider ------------------------------------------------------------------------------


def machine_body(
    request: ComputeRequest,
    opts: dict[str, Any],
    env: Mapping[str, str],
    handle: AuthHandle | None,
) -> dict[str, Any]:
    """The ``POST /apps/{app}/machines`` body: config (image, guest, env, services, metadata,
    passthrough options), name, region."""
    ports = [(p.port, p.protocol) for p in request.ports]
    metadata = {str(k): str(v) for k, v in (opts.get("metadata") or {}).items()}
    if ports:
        metadata[META_PORTS] = ",".join(f"{p}/{proto}" for p, proto in ports)
    if handle is not None:
        metadata[META_AUTH] = handle.scheme
        if handle.hash:
            metadata[META_AUTH_HASH] = handle.hash
    config: dict[str, Any] = {"image": request.image, **guest_from_opts(opts)}
    if request.env or env:
        config["env"] = {**request.env, **env}
    services = opts.get("services")
    if services is None and ports:
        services = services_for(ports)
    if services:
        config["services"] = list(services)
    if opts.get("auto_destroy") is not None:
        config["auto_destroy"] = bool(opts["auto_destroy"])
    restart = opts.get("restart")
    if restart is not None:
        config["restart"] = {"policy": restart} if isinstance(restart, str) else dict(restart)
    for key in CONFIG_PASSTHROUGH:
        if key != "metadata" and opts.get(key) is not None:
            config[key] = opts[key]
    if metadata:
        config["metadata"] = metadata
    body: dict[str, Any] = {"config": config}
    if request.name:
        body["name"] = request.name
    region = opts.get("region") or (request.regions[0] if request.regions else None)
    if region:
        body["region"] = region
    if opts.get("skip_launch"):
        body["skip_launch"] = True
    return body


class FlyMachinesProvider(Provider):
    """Fly.io Machines: CPU machines in a Fly app."""

    name = "fly"
    display_name = "Fly.io Machines"
    CAPABILITIES = frozenset(
        {"http_proxy", "raw_tcp", "global_networking", "stop_start", "restart", "pod_guard"}
    )
    UNSUPPORTED_HINTS: ClassVar[Mapping[str, str]] = {
        "a GPU catalogue": GPU_PROVIDERS_HINT,
        "offers": GPU_PROVIDERS_HINT,
        "logs": "Use atlas.fly.logs(app, instance=<machine id>) for a machine's logs.",
    }

    @functools.cached_property
    def api(self) -> HttpApi:
        return self.http_api(
            "machines",
            "fly_machines",
            auth_headers=lambda: {"authorization": fly_authorization(self.secret())},
        )

    @property
    def org(self) -> str:
        return self.settings.fly_org or "personal"

    @reads("the app list")
    async def apps(self) -> list[str]:
        """Names of the apps in the organisation (the ``fly_org`` setting, else personal)."""
        body = await self.api.json("GET", "/apps", params={"org_slug": self.org})
        if not isinstance(body, Mapping):
            raise self._unexpected("the app list", body)
        return [
            ident(a, provider=self.name, what="an app", key="name") for a in body.get("apps") or []
        ]

    async def _locate(self, compute_id: str) -> tuple[str, str]:
        if isinstance(compute_id, str) and "/" in compute_id:
            app, _, mid = compute_id.partition("/")
            return segment(app, "fly_app"), segment(mid, "fly_machine")
        mid = segment(compute_id, "fly_machine")  # before any app is searched for it
        if self.settings.fly_app:
            return self.settings.fly_app, mid
        for app in await self.apps():
            for m in await self._machines(app, deleted=True):
                if m.get("id") == mid:
                    return app, mid
        raise NotFoundError(
            f"no Fly machine {mid!r} in organisation {self.org!r}",
            provider=self.name,
            hint="Use the '<app>/<machine id>' id atlas_nb returned, or set fly_app.",
        )

    async def _machines(self, app: str, *, deleted: bool = False) -> list[dict[str, Any]]:
        params = {"include_deleted": "true"} if deleted else None
        body = await self.api.json("GET", machines_path(app), params=params)
        if not isinstance(body, list):
            raise self._unexpected(f"the machine list of {app}", body)
        return body

    def _unexpected(self, what: str, body: Any) -> ProviderError:
        return ProviderError(
            f"Fly answered {what} with an unexpected body",
            provider=self.name,
            raw=body,
            hint="Retry; if it persists, check https://status.flyio.net.",
        )

    def _compute(self, app: str, data: Any) -> Compute:
        if not isinstance(data, Mapping) or "id" not in data:
            raise self._unexpected("a machine request", data)
        with reading(self.name, "a machine", data):
            return Compute(provider=self.name, **machine_fields(app, data)).bind(self)

    @reads("a machine")
    async def get(self, compute_id: str) -> Compute:
        app, mid = await self._locate(compute_id)
        return self._compute(app, await self.api.json("GET", machines_path(app, mid)))

    @reads("the machine list")
    async def list_computes(
        self, *, status: ComputeStatus | None = None, name: str | None = None
    ) -> list[Compute]:
        apps = [self.settings.fly_app] if self.settings.fly_app else await self.apps()
        deleted = status in _GONE
        batches = await asyncio.gather(*(self._machines(a, deleted=deleted) for a in apps))
        found = [self._compute(a, m) for a, ms in zip(apps, batches, strict=True) for m in ms]
        return select_computes(found, status=status, name=name, hidden=_GONE)

    @reads("a machine action")
    async def _action(self, compute_id: str, action: str, **kwargs: Any) -> Compute:
        app, mid = await self._locate(compute_id)
        await self.api.json(
            "POST", machines_path(app, mid, f"/{action}"), idempotent=True, **kwargs
        )
        return self._compute(app, await self.api.json("GET", machines_path(app, mid)))

    async def start(self, compute_id: str) -> Compute:
        return await self._action(compute_id, "start")

    async def stop(self, compute_id: str) -> Compute:
        return await self._action(compute_id, "stop", json={})

    async def restart(self, compute_id: str) -> Compute:
        return await self._action(compute_id, "restart")

    @reads("a machine delete")
    async def terminate(self, compute_id: str) -> None:
        app, mid = await self._locate(compute_id)
        await self.api.json("DELETE", machines_path(app, mid), params={"force": "true"})

    @reads("a machine wait")
    async def wait_for_state(
        self, compute_id: str, state: str = "started", *, timeout: float = 60.0
    ) -> Compute:
        """Block until the machine reaches ``state`` (started, stopped, suspended, destroyed)
        using Fly's server-side wait; ``AtlasTimeoutError`` after ``timeout`` seconds."""
        if state not in ("started", "stopped", "suspended", "destroyed"):
            raise ValidationError(
                f"state={state!r} cannot be waited for",
                field="state",
                hint="Use started, stopped, suspended or destroyed.",
            )
        app, mid = await self._locate(compute_id)
        path = machines_path(app, mid)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                current = self._compute(app, await self.api.json("GET", path))
                raise AtlasTimeoutError(
                    f"Fly machine {mid} did not reach {state} in {timeout:g} s "
                    f"(it is {current.provider_status})",
                    provider=self.name,
                )
            params: dict[str, Any] = {"state": state, "timeout": max(1, min(60, int(left)))}
            if state == "stopped":
                machine = await self.api.json("GET", path)
                params["instance_id"] = machine.get("instance_id")
            response = await self.api.request(
                "GET", f"{path}/wait", params=params, ok_statuses=(408,), timeout=70.0
            )
            if response.status_code == 200:
                return self._compute(app, await self.api.json("GET", path))

    def _check_spawn(self, request: ComputeRequest, opts: dict[str, Any]) -> str:
        """The app the Machine goes in, once the request is one Fly Machines can serve."""
        if request.gpu:
            raise UnsupportedError(
                f"Fly.io no longer offers GPU Machines (asked for {request.gpu})",
                provider=self.name,
                hint=GPU_PROVIDERS_HINT,
            )
        self.check_opts(opts, OPTS)
        app = opts.get("app") or self.settings.fly_app
        if not app:
            raise ValidationError(
                "Fly Machines live in an app and none was given",
                field="provider_opts",
                hint="Pass provider_opts={'app': 'my-app'} or atlas.configure(fly_app='my-app') "
                "(atlas.fly.discover_apps() finds the apps in your projects).",
            )
        if request.spot:
            raise UnsupportedError(
                "Fly Machines have no spot instances", provider=self.name, hint="Drop spot=True."
            )
        if request.template:
            raise ValidationError(
                "Fly Machines have no templates", field="template", hint="Pass image=."
            )
        if not request.image:
            raise ValidationError("Fly Machines need an image", field="image", hint="Pass image=.")
        mounts_hint = (
            "Create a Fly volume and pass provider_opts={'mounts': "
            "[{'volume': 'vol_...', 'path': '/data'}]}."
        )
        self.refuse_volume(request.volume_gb, mounts_hint)
        if request.disk_gb:
            raise ValidationError(
                "Fly Machines take storage as volumes, not disk_gb",
                field="disk_gb",
                hint=mounts_hint,
            )
        return str(app)

    async def spawn(self, request: ComputeRequest) -> Compute:
        opts = dict(request.provider_opts)
        app = self._check_spawn(request, opts)
        env, handle = auth_material(request.auth)
        body = machine_body(request, opts, env, handle)
        services = body["config"].get("services")
        public_ip = await self.ensure_public_ips(app) if services else None
        data = await submit_create(
            self.name,
            request.name,
            self.api.json("POST", machines_path(app), json=body, idempotent=False, what="spawn"),
            auth=handle,
        )
        mid = created_id(data, "id", provider=self.name, name=request.name, auth=handle)
        try:
            compute = self._compute(app, data)
        except (AtlasError, ValueError, KeyError, TypeError):  # accepted, but not readable
            compute = await read_back(
                self.name, f"{app}/{mid}", request.name, self.get, auth=handle
            )
        update: dict[str, Any] = {"public_ip": public_ip} if public_ip else {}
        if handle:
            update["auth"] = handle
        return compute.model_copy(update=update) if update else compute

    @functools.cached_property
    def graphql(self) -> HttpApi:
        return self.http_api(
            "graphql",
            "fly_api",
            auth_headers=lambda: {"authorization": fly_authorization(self.secret())},
        )

    async def _graphql(self, query: str, variables: Mapping[str, Any], app: str) -> Any:
        try:
            body = await self.graphql.json(
                "POST", "/graphql", json={"query": query, "variables": dict(variables)}
            )
        except AtlasError as exc:
            body = {"errors": [{"message": str(exc)}]}
        errors = body.get("errors") if isinstance(body, Mapping) else None
        if errors or not isinstance(body, Mapping) or not isinstance(body.get("data"), Mapping):
            first = errors[0] if isinstance(errors, list) and errors else body
            reason = first.get("message") if isinstance(first, Mapping) else first
            raise ProviderError(
                f"Fly could not give app {app} a public address ({reason}); nothing was created",
                provider=self.name,
                raw=body,
                hint=f"Allocate them by hand (fly ips allocate-v4 --shared -a {app}; fly ips "
                f"allocate-v6 -a {app}), then spawn again; or spawn without ports.",
            )
        return body["data"]

    async def ensure_public_ips(self, app: str) -> str | None:
        """Give ``app`` a shared IPv4 and an IPv6 unless it has them; its shared IPv4."""
        data = await self._graphql(APP_IPS, {"name": app}, app)
        found = data.get("app") or {}
        types = {n.get("type") for n in (found.get("ipAddresses") or {}).get("nodes") or []}
        shared = found.get("sharedIpAddress")
        if not shared and "v4" not in types:
            got = await self._graphql(
                ALLOCATE_IP, {"input": {"appId": app, "type": "shared_v4"}}, app
            )
            shared = ((got.get("allocateIpAddress") or {}).get("app") or {}).get("sharedIpAddress")
        if "v6" not in types:
            await self._graphql(ALLOCATE_IP, {"input": {"appId": app, "type": "v6"}}, app)
        return str(shared) if shared else None
