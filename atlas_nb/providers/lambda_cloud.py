"""Lambda Cloud (``https://cloud.lambda.ai/api/v1``): GPU instances, SSH keys and file systems.

Lambda rents whole VMs by *instance type* (``gpu_8x_h100_sxm5``: eight H100 SXM5). atlas_nb
picks the type from ``gpu`` and ``gpu_count`` (or launches exactly the offer of an offers-frame
row) and a region with free capacity. Without ``image=`` the VM itself is launched (Lambda
Stack; SSH in): ``atlas.spawn(provider="lambda", gpu="h100")``; ``provider_opts={"image":
{"family": ...}}`` picks another VM image. With ``image=`` (a container image) a cloud-init
script runs it with ``docker run --gpus all`` on boot, with ``env`` (and the bearer token, for
``auth="bearer"``) and the requested ports published on the instance's public IP.

Lambda's firewall lets in only SSH by default, so a spawn that publishes ports attaches a
firewall ruleset opening them (and SSH) to anyone: ``atlas-nb us-east-1 ports 8000,9000``
in the instance's region, made once and reused. Pass ``provider_opts={"firewall_rulesets": [ids]}``
to use your own rules instead (then the ports are open only as far as those rules say).

Lambda cannot stop or start an instance, only terminate it; launches are limited to one per
12 s per account, so atlas_nb queues them client-side (``LambdaProvider.launch_interval_s``).

``provider_opts`` keys: ``ssh_key`` (name; if omitted and the account has exactly one key, that
one), ``file_systems`` (names to mount), ``file_system_mounts``, ``image`` (the VM image:
``{"family": ...}``, ``{"id": ...}`` or a family name), ``instance_type``, ``user_data``
(replaces the generated cloud-init), ``tags`` (dict), ``firewall_rulesets`` (ids),
``hostname``.

SSH keys and file systems (module functions, blocking; ``*_async`` twins are awaitable)::

    from atlas_nb.providers import lambda_cloud
    lambda_cloud.ssh_keys()                          # DataFrame: id, name, public_key
    lambda_cloud.add_ssh_key("laptop", "ssh-ed25519 AAAA... me@laptop")
    lambda_cloud.file_systems()                      # DataFrame
    lambda_cloud.create_file_system("datasets", "us-east-1")
    lambda_cloud.delete_file_system("datasets")
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import yaml
from pydantic import SecretStr

from .._runtime import get_runtime, on_runtime, syncify
from ..auth import auth_material
from ..errors import (
    CapacityError,
    ConflictError,
    NotFoundError,
    ProviderError,
    QuotaExceededError,
    RateLimitedError,
    UnsupportedError,
    ValidationError,
    did_you_mean,
)
from ..gpus import canonical as canonical_gpu
from ..gpus import native_ids, to_canonical
from ..models import Compute, ComputeRequest, ComputeStatus, GpuType, Port
from ..models._base import Model
from ..transport.http import HttpApi
from ..transport.paths import segment
from ._parse import ident, reading, reads
from .base import OfferQuery, OfferRow, Provider, progress_reporter
from .created import created_id, read_back, submit_create

if TYPE_CHECKING:
    import pandas as pd
else:
    from .._lazy import pandas as pd

_TYPE_NAME = re.compile(r"^gpu_(\d+)x_([a-z0-9_]+)$")
_VRAM = re.compile(r"\((\d+(?:\.\d+)?)\s*GB")
_TAG_KEY = re.compile(r"^[a-z][a-z0-9-:]+$")  # RequestedTagEntry.key in the 1.8.3 spec
TAG_KEY_MAX, TAG_VALUE_MAX = 55, 128
TAG_IMAGE = "atlas:image"
TAG_PORTS = "atlas:ports"
TAG_CREATED = "atlas:created"
OPTS = (
    "ssh_key",
    "file_systems",
    "file_system_mounts",
    "image",
    "instance_type",
    "user_data",
    "tags",
    "firewall_rulesets",
    "hostname",
)

#: Lambda's instance status -> atlas_nb's
STATUS_MAP: dict[str, ComputeStatus] = {
    "booting": ComputeStatus.PROVISIONING,
    "active": ComputeStatus.RUNNING,
    "unhealthy": ComputeStatus.UNKNOWN,
    "terminating": ComputeStatus.TERMINATING,
    "terminated": ComputeStatus.TERMINATED,
    "preempted": ComputeStatus.FAILED,
}


# -- pure helpers (table-tested) -------------------------------------------------------------


def parse_type_name(name: str) -> tuple[int, str] | None:
    """``"gpu_8x_h100_sxm5"`` → ``(8, "h100_sxm5")``; None for anything else.

    >>> parse_type_name("gpu_8x_h100_sxm5"), parse_type_name("cpu_4x_general")
    ((8, 'h100_sxm5'), None)
    """
    m = _TYPE_NAME.match(name)
    return (int(m.group(1)), m.group(2)) if m else None


def lambda_status(status: str | None) -> ComputeStatus:
    """Lambda's instance status as a :class:`ComputeStatus` (unknown values → UNKNOWN)."""
    return STATUS_MAP.get(status or "", ComputeStatus.UNKNOWN)


def vram_from_description(text: str | None) -> float | None:
    """``"H100 (80 GB SXM5)"`` → ``80.0``.

    >>> vram_from_description("A10 (24 GB PCIe)")
    24.0
    """
    m = _VRAM.search(text or "")
    return float(m.group(1)) if m else None


def tag_dict(tags: Any) -> dict[str, str]:
    """Lambda's ``[{"key", "value"}]`` tags as a dict."""
    if not isinstance(tags, list):
        return {}
    return {
        t["key"]: str(t.get("value", ""))
        for t in tags
        if isinstance(t, Mapping) and isinstance(t.get("key"), str)
    }


def cloud_init(image: str, env: Mapping[str, str], ports: Sequence[tuple[int, str]]) -> str:
    """A cloud-config that runs ``image`` with Docker (GPUs, ports, env from a 0600 file).

    >>> text = cloud_init("python:3.11", {"A": "1"}, [(8000, "http")])
    >>> text.startswith("#cloud-config") and "8000:8000" in text
    True
    """
    for name, value in env.items():
        if "\n" in value or "\r" in value:
            raise ValidationError(
                f"env {name} contains a line break, which Docker env files cannot hold",
                field="env",
                hint="Encode the value (e.g. base64) and decode it in the container.",
            )
    cmd = ["docker", "run", "-d", "--restart", "unless-stopped", "--gpus", "all"]
    cmd += ["--name", "atlas-workload", "--env-file", "/etc/atlas/workload.env"]
    for port, _proto in ports:
        cmd += ["-p", f"{port}:{port}"]
    cmd.append(image)
    doc = {
        "write_files": [
            {
                "path": "/etc/atlas/workload.env",
                "permissions": "0600",
                "content": "".join(f"{k}={v}\n" for k, v in env.items()),
            }
        ],
        "runcmd": [cmd],
    }
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False, width=1000)


def check_tags(tags: Any) -> dict[str, str]:
    """User tags as ``{key: value}``, keys and values checked as Lambda checks them.

    >>> check_tags({"team": "ml"})
    {'team': 'ml'}
    >>> check_tags({"Team": "ml"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    atlas_nb.errors.ValidationError: validation: Lambda tag key 'Team' is not valid...
    """
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise ValidationError(
            "provider_opts tags must be a dict of key -> value", field="provider_opts"
        )
    out = {}
    for key, value in tags.items():
        key, value = str(key), str(value)
        if len(key) > TAG_KEY_MAX or not _TAG_KEY.match(key):
            raise ValidationError(
                f"Lambda tag key {key!r} is not valid",
                field="provider_opts",
                hint=f"Tag keys start with a lower-case letter, then lower-case letters, digits, "
                f"'-' or ':' (2-{TAG_KEY_MAX} characters), e.g. 'team' or 'cost-centre'.",
            )
        if len(value) > TAG_VALUE_MAX:
            raise ValidationError(
                f"Lambda tag {key!r} has a value longer than {TAG_VALUE_MAX} characters",
                field="provider_opts",
                hint="Shorten the value.",
            )
        out[key] = value
    return out


def ports_ruleset(region: str, ports: Sequence[int]) -> dict[str, Any]:
    """The firewall ruleset that opens ``ports`` (and SSH, and ping) to anyone.

    >>> r = ports_ruleset("us-east-1", [8000])
    >>> r["name"], [rule.get("port_range") for rule in r["rules"]]
    ('atlas-nb us-east-1 ports 8000', [[22, 22], [8000, 8000], None])
    """
    wanted = sorted(set(ports))
    name = f"atlas-nb {region} ports " + ",".join(map(str, wanted))
    if len(name) > 64:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = f"atlas-nb {region} ports {wanted[0]}..{wanted[-1]} {digest}"
    anyone = "0.0.0.0/0"
    rules = [
        {
            "protocol": "tcp",
            "port_range": [22, 22],
            "source_network": anyone,
            "description": "SSH (atlas_nb)",
        },
    ]
    rules += [
        {
            "protocol": "tcp",
            "port_range": [p, p],
            "source_network": anyone,
            "description": f"port {p} published by atlas_nb",
        }
        for p in wanted
        if p != 22
    ]
    rules.append({"protocol": "icmp", "source_network": anyone, "description": "ping (atlas_nb)"})
    return {"name": name, "region": region, "rules": rules}


def instance_ports(data: Mapping[str, Any]) -> list[Port]:
    """Ports recorded in the ``atlas:ports`` tag, reachable on the instance's public IP."""
    spec = tag_dict(data.get("tags")).get(TAG_PORTS, "")
    ip = data.get("ip")
    out = []
    for item in filter(None, spec.split(",")):
        num, _, proto = item.partition("/")
        if not num.isdigit():
            continue
        port, protocol = int(num), ("tcp" if proto == "tcp" else "http")
        url = None
        if ip:
            url = f"http://{ip}:{port}" if protocol == "http" else f"tcp://{ip}:{port}"
        out.append(Port(internal=port, external=port, protocol=protocol, url=url))
    return out


def instance_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`Compute` fields of one Lambda instance payload (no I/O)."""
    itype = data.get("instance_type") or {}
    parsed = parse_type_name(str(itype.get("name", "")))
    count, part = parsed if parsed else (int((itype.get("specs") or {}).get("gpus") or 0), None)
    status = lambda_status(data.get("status"))
    tags = tag_dict(data.get("tags"))
    created = None
    with contextlib.suppress(ValueError):
        if tags.get(TAG_CREATED):
            created = datetime.fromtimestamp(float(tags[TAG_CREATED]), UTC)
    cents = itype.get("price_cents_per_hour")
    billed = status not in (ComputeStatus.TERMINATED, ComputeStatus.FAILED)
    return {
        "id": ident(data, provider="lambda", what="an instance"),
        "name": data.get("name"),
        "status": status,
        "provider_status": data.get("status"),
        "gpu": (canonical_gpu(part, "lambda") or part) if part else None,
        "gpu_count": count,
        "image": tags.get(TAG_IMAGE),
        "region": (data.get("region") or {}).get("name"),
        "cost_per_hr": (cents / 100.0 if billed else 0.0) if cents is not None else None,
        "ports": instance_ports(data),
        "public_ip": data.get("ip"),
        "private_ip": data.get("private_ip"),
        "hostname": data.get("hostname"),
        "jupyter_url": data.get("jupyter_url"),
        "created_at": created,
        "raw": dict(data),
    }


def gpu_types_from_catalogue(payload: Mapping[str, Any], now: datetime) -> list[GpuType]:
    """``GET /instance-types`` data → one GpuType per GPU model (price per GPU-hour)."""
    groups: dict[str, list[tuple[int, dict[str, Any], list[str]]]] = {}
    for name, item in payload.items():
        parsed = parse_type_name(name)
        if parsed is None:
            continue
        regions = [r["name"] for r in item.get("regions_with_capacity_available") or []]
        groups.setdefault(parsed[1], []).append((parsed[0], item["instance_type"], regions))
    out = []
    for part, items in groups.items():
        items.sort(key=lambda t: t[0])
        smallest_count, smallest, _ = items[0]
        per_gpu = min(t[1]["price_cents_per_hour"] / 100.0 / t[0] for t in items)
        regions = sorted({r for _, _, rs in items for r in rs})
        specs = smallest.get("specs") or {}
        out.append(
            GpuType(
                provider="lambda",
                gpu=canonical_gpu(part, "lambda"),
                native_id=part,
                display_name=smallest.get("gpu_description"),
                vram_gb=vram_from_description(smallest.get("gpu_description")),
                max_count=max(t[0] for t in items),
                vcpus=(specs.get("vcpus") or 0) / smallest_count or None,
                ram_gb=(specs.get("memory_gib") or 0) / smallest_count or None,
                price_per_hr=round(per_gpu, 4),
                secure_price_per_hr=round(per_gpu, 4),
                availability="high" if regions else "none",
                regions=regions,
                fetched_at=now,
                raw={"instance_types": [t[1]["name"] for t in items]},
            )
        )
    return out


def offer_rows(payload: Mapping[str, Any], now: datetime) -> list[OfferRow]:
    """One offer per (instance type, region with capacity); prices for the whole instance."""
    rows: list[OfferRow] = []
    for name, item in payload.items():
        parsed = parse_type_name(name)
        if parsed is None:
            continue
        count, part = parsed
        itype = item["instance_type"]
        specs = itype.get("specs") or {}
        price = itype["price_cents_per_hour"] / 100.0
        gpu = canonical_gpu(part, "lambda")
        vram = vram_from_description(itype.get("gpu_description"))
        for region in item.get("regions_with_capacity_available") or []:
            rows.append(
                {
                    "provider": "lambda",
                    "gpu": gpu,
                    "native_id": part,
                    "gpu_count": count,
                    "vram_gb": vram,
                    "vcpus": float(specs.get("vcpus") or 0) or None,
                    "ram_gb": float(specs.get("memory_gib") or 0) or None,
                    "price_per_hr": price,
                    "spot_price_per_hr": None,
                    "region": region["name"],
                    "availability": "high",
                    "offer_id": f"{name}@{region['name']}",
                    "fetched_at": now,
                }
            )
    return rows


def matching_types(payload: Mapping[str, Any], gpu: str, count: int) -> tuple[list[str], list[int]]:
    """Instance types selling ``count`` x ``gpu`` (cheapest first) and the counts on sale."""
    canonical = to_canonical(gpu)
    parts = set(native_ids(canonical, "lambda")) if canonical else set()
    parts.add(gpu.lower())
    found, counts = [], set()
    for name, item in payload.items():
        parsed = parse_type_name(name)
        if parsed is None or parsed[1] not in parts:
            continue
        counts.add(parsed[0])
        if parsed[0] == count:
            found.append((item["instance_type"]["price_cents_per_hour"], name))
    return [name for _, name in sorted(found)], sorted(counts)


def capacity_message(type_name: str, wanted: list[str], free: list[str]) -> str:
    """The CapacityError text: where it was asked for and where there is room now.

    >>> capacity_message("gpu_1x_a10", ["us-east-1"], ["us-west-1"])
    'no capacity for gpu_1x_a10 in region us-east-1; regions with capacity now: us-west-1'
    """
    where = f" in region {', '.join(wanted)}" if wanted else ""
    now = ", ".join(free) if free else "none (try another GPU, count or provider)"
    return f"no capacity for {type_name}{where}; regions with capacity now: {now}"


# -- the provider ------------------------------------------------------------------------------

_last_launch: dict[tuple[str, str], float] = {}


class LambdaProvider(Provider):
    """Lambda Cloud GPU instances (terminate only: Lambda has no stop/start)."""

    name = "lambda"
    display_name = "Lambda"
    CAPABILITIES = frozenset({"raw_tcp", "symmetric_ports", "restart", "gpu_types", "offers"})
    UNSUPPORTED_HINTS: ClassVar[Mapping[str, str]] = {
        "stop": "Lambda can only terminate instances (it has no stop/start). Terminate it and "
        "spawn again later; keep data on a Lambda file system "
        "(provider_opts={'file_systems': ['name']}).",
        "start": "Lambda can only terminate instances (it has no stop/start); spawn a new one.",
        "logs": "Lambda has no log API; read logs over SSH on the instance.",
    }

    #: seconds between two launches (Lambda allows one per 12 s); tests and the sandbox shrink it
    launch_interval_s: ClassVar[float] = 12.0
    #: how often a launch answered with HTTP 429 is tried again
    launch_retries: ClassVar[int] = 3

    @functools.cached_property
    def api(self) -> HttpApi:
        return self.http_api("rest", "lambda", auth_headers=self.bearer_headers)

    async def _data(self, method: str, path: str, **kwargs: Any) -> Any:
        body = await self.api.json(method, path, **kwargs)
        if not isinstance(body, Mapping) or "data" not in body:
            raise ProviderError(
                f"Lambda answered {method} {path} without a 'data' envelope",
                provider=self.name,
                raw=body,
            )
        return body["data"]

    # -- catalogue ---------------------------------------------------------------------------
    @reads("the instance-type catalogue")
    async def instance_types(self) -> dict[str, Any]:
        """The raw ``GET /instance-types`` data (type name → type and regions with capacity)."""
        data = await self._data("GET", "/instance-types")
        return dict(data)

    @reads("the instance-type catalogue", models=True)
    async def gpu_types(self) -> list[GpuType]:
        return gpu_types_from_catalogue(await self.instance_types(), datetime.now(UTC))

    @reads("the instance-type catalogue")
    async def offers(self, query: OfferQuery) -> list[OfferRow]:
        if query.get("spot"):
            return []  # Lambda has no spot instances
        rows = offer_rows(await self.instance_types(), datetime.now(UTC))
        gpu = query.get("gpu")
        if gpu:
            want = to_canonical(gpu)
            rows = [r for r in rows if r["gpu"] == want or r["native_id"] == gpu]
        regions = set(query.get("regions") or ())
        if regions:
            rows = [r for r in rows if r["region"] in regions]
        return rows

    # -- computes ----------------------------------------------------------------------------
    def _compute(self, data: Mapping[str, Any]) -> Compute:
        with reading(self.name, "an instance", data):
            return Compute(provider=self.name, **instance_fields(data)).bind(self)

    @reads("an instance")
    async def get(self, compute_id: str) -> Compute:
        return self._compute(await self._data("GET", f"/instances/{segment(compute_id, 'lambda')}"))

    @reads("the instance list")
    async def list_computes(
        self, *, status: ComputeStatus | None = None, name: str | None = None
    ) -> list[Compute]:
        items = [self._compute(d) for d in await self._data("GET", "/instances")]
        if status is None:
            gone = (ComputeStatus.TERMINATING, ComputeStatus.TERMINATED)
            items = [c for c in items if c.status not in gone]
        else:
            items = [c for c in items if c.status == status]
        if name is not None:
            items = [c for c in items if c.name == name]
        return items

    @reads("an instance restart")
    async def restart(self, compute_id: str) -> Compute:
        data = await self._data(
            "POST",
            "/instance-operations/restart",
            json={"instance_ids": [segment(compute_id, "lambda")]},
            idempotent=True,
        )
        return self._compute(data["restarted_instances"][0])

    @reads("an instance terminate")
    async def terminate(self, compute_id: str) -> None:
        await self._data(
            "POST",
            "/instance-operations/terminate",
            json={"instance_ids": [segment(compute_id, "lambda")]},
            idempotent=True,
        )

    async def spawn(self, request: ComputeRequest) -> Compute:
        opts = dict(request.provider_opts)
        self.check_opts(opts, OPTS)
        if request.template:
            raise ValidationError(
                "Lambda has no templates",
                field="template",
                hint="Pass image= (a container run on boot), or nothing for the plain VM "
                "(provider_opts={'image': {'family': ...}} picks the VM image).",
            )
        self._refuse_what_lambda_lacks(request)
        catalogue = await self.instance_types()
        type_name, region = self._choose(request, opts, catalogue)
        key_name = await self._ssh_key_name(opts.get("ssh_key"))
        env, handle = auth_material(request.auth)
        body = self._launch_body(request, opts, type_name, region, key_name, {**request.env, **env})
        if request.ports and "firewall_rulesets" not in body:
            ruleset = await self._ports_ruleset(region, [p.port for p in request.ports])
            body["firewall_rulesets"] = [{"id": ruleset}]
        try:
            data = await submit_create(self.name, request.name, self._launch(body), auth=handle)
        except QuotaExceededError:
            raise
        except CapacityError as exc:
            free = (await self.instance_types()).get(type_name, {})
            regions = [r["name"] for r in free.get("regions_with_capacity_available") or []]
            raise CapacityError(
                capacity_message(type_name, [region], regions),
                provider=self.name,
                status=exc.status,
                code=exc.code,
                raw=exc.raw,
            ) from None
        iid = created_id(
            data, "instance_ids", 0, provider=self.name, name=request.name, auth=handle
        )
        compute = await read_back(self.name, iid, request.name, self.get, auth=handle)
        return compute.model_copy(update={"auth": handle}) if handle else compute

    def _refuse_what_lambda_lacks(self, request: ComputeRequest) -> None:
        """Inputs Lambda cannot honour are refused (never silently dropped)."""
        if request.spot:
            raise UnsupportedError(
                "Lambda has no spot (interruptible) instances",
                provider=self.name,
                hint="Drop spot=True, or use provider='vast' or 'runpod' for spot GPUs.",
            )
        self.refuse_volume(
            request.volume_gb,
            "Keep data on a Lambda file system: create one with "
            "atlas_nb.providers.lambda_cloud.create_file_system(name, region) and pass "
            "provider_opts={'file_systems': [name]}.",
        )
        if request.disk_gb:
            raise ValidationError(
                "Lambda instance types come with fixed local storage",
                field="disk_gb",
                hint="Drop disk_gb; atlas.gpu_types(provider='lambda') shows each type's storage "
                "(or use a file system for more).",
            )
        if request.cloud == "community":
            raise ValidationError(
                "Lambda runs its own data centres only (no community cloud)",
                field="cloud",
                hint="Drop cloud=, or use provider='vast' or 'runpod' for community GPUs.",
            )

    def _choose(
        self, request: ComputeRequest, opts: Mapping[str, Any], catalogue: Mapping[str, Any]
    ) -> tuple[str, str]:
        """(instance type, region) for a request: the offer, or the cheapest with capacity."""
        wanted = list(request.regions)
        if request.offer_id:
            type_name, _, region = request.offer_id.partition("@")
            if type_name not in catalogue:
                raise ValidationError(
                    f"offer {request.offer_id!r} names an instance type Lambda does not sell",
                    field="offer_id",
                    hint="Take a fresh row from atlas.offers(providers='lambda').",
                )
            candidates = [type_name]
            wanted = [region] if region else wanted
        elif opts.get("instance_type"):
            type_name = str(opts["instance_type"])
            if type_name not in catalogue:
                raise ValidationError(
                    f"Lambda has no instance type {type_name!r}."
                    f"{did_you_mean(type_name, catalogue)}",
                    field="provider_opts",
                    hint="atlas.gpu_types(provider='lambda') lists what Lambda sells.",
                )
            candidates = [type_name]
        else:
            if not request.gpu:
                raise ValidationError(
                    "Lambda sells GPU instances only; give gpu=",
                    field="gpu",
                    hint="atlas.gpu_types(provider='lambda') lists the GPUs.",
                )
            candidates, counts = matching_types(catalogue, request.gpu, request.gpu_count)
            if not candidates:
                if counts:
                    raise ValidationError(
                        f"Lambda has no instance type with {request.gpu_count} x {request.gpu}; "
                        f"it sells {', '.join(f'{n}x' for n in counts)}",
                        field="gpu_count",
                    )
                sold = {
                    canonical_gpu(p[1], "lambda") or p[1]
                    for n in catalogue
                    if (p := parse_type_name(n))
                }
                raise ValidationError(
                    f"Lambda does not sell {request.gpu}",
                    field="gpu",
                    hint=f"Lambda sells: {', '.join(sorted(sold))}. Or use another provider "
                    "(atlas.offers(gpu=...) compares them).",
                )
        for type_name in candidates:
            free = [
                r["name"] for r in catalogue[type_name].get("regions_with_capacity_available") or []
            ]
            usable = [r for r in wanted if r in free] if wanted else free
            if usable:
                return type_name, usable[0]
        type_name = candidates[0]
        free = [
            r["name"] for r in catalogue[type_name].get("regions_with_capacity_available") or []
        ]
        raise CapacityError(capacity_message(type_name, wanted, free), provider=self.name)

    async def _ssh_key_name(self, wanted: Any) -> str:
        wanted = wanted or self.settings.lambda_ssh_key
        keys = await self._data("GET", "/ssh-keys")
        names = [k["name"] for k in keys]
        how = (
            "List keys with atlas_nb.providers.lambda_cloud.ssh_keys(); add one with "
            "lambda_cloud.add_ssh_key('name', 'ssh-ed25519 AAAA...')."
        )
        if wanted:
            for k in keys:
                if wanted in (k["name"], k["id"]):
                    return str(k["name"])
            raise ValidationError(
                f"Lambda has no SSH key {wanted!r}; your keys: {', '.join(names) or 'none'}",
                field="provider_opts",
                hint=how,
            )
        if len(names) == 1:
            return str(names[0])
        if not names:
            raise ValidationError(
                "your Lambda account has no SSH key, and Lambda needs one to launch",
                field="provider_opts",
                hint="Add one with atlas_nb.providers.lambda_cloud.add_ssh_key('name', "
                "'ssh-ed25519 AAAA...') (leave out the public key to have Lambda generate a "
                "pair), then spawn again.",
            )
        raise ValidationError(
            f"your Lambda account has {len(names)} SSH keys ({', '.join(names)}); "
            "say which one to install",
            field="provider_opts",
            hint="Pass provider_opts={'ssh_key': '<name>'} or atlas.configure("
            "lambda_ssh_key='<name>'). " + how,
        )

    def _launch_body(
        self,
        request: ComputeRequest,
        opts: Mapping[str, Any],
        type_name: str,
        region: str,
        key_name: str,
        env: Mapping[str, str],
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "region_name": region,
            "instance_type_name": type_name,
            "ssh_key_names": [key_name],
        }
        if request.name:
            body["name"] = request.name
        if opts.get("hostname"):
            body["hostname"] = str(opts["hostname"])
        fs = opts.get("file_systems")
        if fs:
            body["file_system_names"] = [fs] if isinstance(fs, str) else list(fs)
        if opts.get("file_system_mounts"):
            body["file_system_mounts"] = list(opts["file_system_mounts"])
        image = opts.get("image")
        if image:
            body["image"] = {"family": image} if isinstance(image, str) else dict(image)
        ports = [(p.port, p.protocol) for p in request.ports]
        if opts.get("user_data"):
            body["user_data"] = str(opts["user_data"])
        elif request.image:
            body["user_data"] = cloud_init(request.image, env, ports)
        tags = {TAG_CREATED: f"{time.time():.0f}"}
        if request.image and len(request.image) <= 128:
            tags[TAG_IMAGE] = request.image
        if ports:
            tags[TAG_PORTS] = ",".join(f"{p}/{proto}" for p, proto in ports)[:128]
        tags.update(check_tags(opts.get("tags")))
        body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        if opts.get("firewall_rulesets"):
            body["firewall_rulesets"] = [{"id": str(i)} for i in opts["firewall_rulesets"]]
        return body

    async def _ports_ruleset(self, region: str, ports: Sequence[int]) -> str:
        """The id of a ruleset in ``region`` opening ``ports`` (made on first use)."""
        wanted = ports_ruleset(region, ports)

        async def existing() -> str | None:
            for ruleset in await self._data("GET", "/firewall-rulesets"):
                same_region = (ruleset.get("region") or {}).get("name") == region
                if ruleset.get("name") == wanted["name"] and same_region:
                    return str(ruleset["id"])
            return None

        found = await existing()
        if found:
            return found
        try:
            created = await self._data(
                "POST", "/firewall-rulesets", json=wanted, what="create firewall ruleset"
            )
        except ConflictError:  # another spawn made it meanwhile: use that one
            found = await existing()
            if found:
                return found
            raise
        return str(created["id"])

    async def _launch(self, body: dict[str, Any]) -> Any:
        """POST the launch, paced to one per ``launch_interval_s``; a 429 waits and retries."""
        key = (self.api.base_url, hashlib.sha256(self.secret().encode()).hexdigest())
        locks: dict[Any, asyncio.Lock] = get_runtime().service("lambda-launch-locks", dict)
        lock = locks.setdefault(key, asyncio.Lock())
        async with lock:
            attempt = 0
            extra_wait = 0.0
            while True:
                attempt += 1
                await self._wait_for_launch_slot(key, extra_wait)
                _last_launch[key] = time.monotonic()
                try:
                    return await self._data(
                        "POST", "/instance-operations/launch", json=body, what="launch"
                    )
                except RateLimitedError as exc:
                    # a 429 means the launch was refused, so trying again cannot double-bill
                    if attempt > self.launch_retries:
                        raise
                    extra_wait = max(0.0, (exc.retry_after_s or 0.0) - self.launch_interval_s)

    async def _wait_for_launch_slot(self, key: tuple[str, str], extra: float = 0.0) -> float:
        last = _last_launch.get(key)
        if last is None:
            return 0.0
        wait = last + self.launch_interval_s + extra - time.monotonic()
        if wait <= 0:
            return 0.0
        every = f"{self.launch_interval_s:g}"
        with progress_reporter.get()("Lambda launch queued", wait) as bar:
            start = time.monotonic()
            while (left := wait - (time.monotonic() - start)) > 0:
                bar.update(wait - left, f"Lambda allows one launch per {every} s; {left:.0f} s")
                await asyncio.sleep(min(0.5, left))
        return wait


# -- SSH keys and file systems -------------------------------------------------------------------

SSH_KEY_COLUMNS = {"id": "string", "name": "string", "public_key": "string"}
FILE_SYSTEM_COLUMNS = {
    "id": "string",
    "name": "string",
    "region": "string",
    "mount_point": "string",
    "is_in_use": "boolean",
    "bytes_used": "Int64",
    "created": "datetime64[ns, UTC]",
}


def _provider(api_key: str | None) -> LambdaProvider:
    from .registry import get_provider

    prov = get_provider("lambda", api_key=api_key)
    assert isinstance(prov, LambdaProvider)
    return prov


@on_runtime
@reads("the SSH key list", provider="lambda")
async def ssh_keys_async(*, api_key: str | None = None) -> pd.DataFrame:
    """Your Lambda SSH keys (columns ``id, name, public_key``)."""
    from ..frames import frame

    return frame(await _provider(api_key)._data("GET", "/ssh-keys"), SSH_KEY_COLUMNS)


class SSHKey(Model):
    """A Lambda SSH key. ``private_key`` is set only when Lambda generated the pair (once)."""

    id: str
    name: str
    public_key: str
    private_key: SecretStr | None = None


@on_runtime
async def add_ssh_key_async(
    name: str, public_key: str | None = None, *, api_key: str | None = None
) -> SSHKey:
    """Add an SSH key; without ``public_key`` Lambda generates a pair and returns its
    ``private_key`` once (``key.private_key.get_secret_value()``; save it, it cannot be
    fetched again)."""
    body: dict[str, Any] = {"name": name}
    if public_key is not None:
        body["public_key"] = public_key.strip()
    data = await _provider(api_key)._data("POST", "/ssh-keys", json=body, what="add key")
    with reading("lambda", "the new SSH key", data):
        return SSHKey(
            id=ident(data, provider="lambda", what="the new SSH key"),
            name=str(data["name"]),
            public_key=str(data["public_key"]),
            private_key=data.get("private_key"),
        )


async def _resolve(prov: LambdaProvider, path: str, ref: str, what: str) -> dict[str, Any]:
    items = await prov._data("GET", path)
    for item in items:
        if ref in (item.get("id"), item.get("name")):
            return dict(item)
    names = [i.get("name") for i in items]
    raise NotFoundError(
        f"no Lambda {what} {ref!r}; yours: {', '.join(map(str, names)) or 'none'}",
        provider="lambda",
    )


@on_runtime
@reads("the SSH key list", provider="lambda")
async def delete_ssh_key_async(key: str, *, api_key: str | None = None) -> None:
    """Delete an SSH key by id or name."""
    prov = _provider(api_key)
    found = await _resolve(prov, "/ssh-keys", key, "SSH key")
    await prov._data("DELETE", f"/ssh-keys/{segment(found['id'], 'lambda', field='id')}")


@on_runtime
@reads("the file system list", provider="lambda")
async def file_systems_async(*, api_key: str | None = None) -> pd.DataFrame:
    """Your Lambda file systems (columns ``id, name, region, mount_point, is_in_use, ...``)."""
    from ..frames import frame

    rows = [
        {**fs, "region": (fs.get("region") or {}).get("name")}
        for fs in await _provider(api_key)._data("GET", "/file-systems")
    ]
    return frame(rows, FILE_SYSTEM_COLUMNS)


@on_runtime
@reads("the new file system", provider="lambda")
async def create_file_system_async(
    name: str, region: str, *, api_key: str | None = None
) -> dict[str, Any]:
    """Create a persistent file system in a region (mount it with
    ``provider_opts={"file_systems": [name]}`` on instances in that region)."""
    body = {"name": name, "region": region}
    return dict(
        await _provider(api_key)._data("POST", "/filesystems", json=body, what="create filesystem")
    )


@on_runtime
@reads("the file system list", provider="lambda")
async def delete_file_system_async(fs: str, *, api_key: str | None = None) -> None:
    """Delete a file system by id or name (it must not be attached to an instance)."""
    prov = _provider(api_key)
    found = await _resolve(prov, "/file-systems", fs, "file system")
    await prov._data("DELETE", f"/filesystems/{segment(found['id'], 'lambda', field='id')}")


ssh_keys = syncify(ssh_keys_async)
add_ssh_key = syncify(add_ssh_key_async)
delete_ssh_key = syncify(delete_ssh_key_async)
file_systems = syncify(file_systems_async)
create_file_system = syncify(create_file_system_async)
delete_file_system = syncify(delete_file_system_async)

__all__ = [
    "LambdaProvider",
    "SSHKey",
    "add_ssh_key",
    "add_ssh_key_async",
    "create_file_system",
    "create_file_system_async",
    "delete_file_system",
    "delete_file_system_async",
    "delete_ssh_key",
    "delete_ssh_key_async",
    "file_systems",
    "file_systems_async",
    "ssh_keys",
    "ssh_keys_async",
]
