"""Pure translation between atlas_nb's models and RunPod's REST v2 / runtime / GraphQL shapes.

No I/O here: status maps, request bodies, pod → Compute, job bodies → Job, offer ids.

    >>> pod_status("RUNNING"), pod_status("EXITED"), pod_status("REBOOTING")
    (<ComputeStatus.RUNNING: 'running'>, <ComputeStatus.STOPPED: 'stopped'>, \
<ComputeStatus.UNKNOWN: 'unknown'>)
    >>> job_status("IN_PROGRESS").value, job_status("TIMED_OUT").value
    ('running', 'timed_out')
    >>> gpu_type_id("h100")
    'NVIDIA H100 80GB HBM3'
    >>> decode_offer_id(encode_offer_id("NVIDIA L4", "COMMUNITY", spot=True, count=2))
    Offer(gpu_id='NVIDIA L4', cloud='COMMUNITY', spot=True, gpu_count=2, data_center=None)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from ...errors import ValidationError, did_you_mean
from ...gpus import CATALOGUE, canonical, to_canonical
from ...models import ComputeRequest, ComputeStatus, JobStatus, Port
from .._parse import ident
from ..base import redact_env

PROVIDER = "runpod"

#: v2 ``PodStatus`` → normalised status
POD_STATUSES: dict[str, ComputeStatus] = {
    "PROVISIONING": ComputeStatus.PROVISIONING,
    "STARTING": ComputeStatus.STARTING,
    "RUNNING": ComputeStatus.RUNNING,
    "EXITED": ComputeStatus.STOPPED,
    "ERROR": ComputeStatus.FAILED,
    "TERMINATED": ComputeStatus.TERMINATED,
}

#: serverless job status → normalised status
JOB_STATUSES: dict[str, JobStatus] = {
    "IN_QUEUE": JobStatus.QUEUED,
    "IN_PROGRESS": JobStatus.RUNNING,
    "RUNNING": JobStatus.RUNNING,
    "COMPLETED": JobStatus.COMPLETED,
    "FAILED": JobStatus.FAILED,
    "CANCELLED": JobStatus.CANCELLED,
    "TIMED_OUT": JobStatus.TIMED_OUT,
}

#: v2 CreatePodRequest top-level fields (what ``provider_opts`` may set)
CREATE_POD_FIELDS = frozenset(
    {
        "args",
        "cloud",
        "cpu",
        "dataCenterIds",
        "disk",
        "env",
        "globalNetworking",
        "gpu",
        "image",
        "mounts",
        "name",
        "ports",
        "registry",
        "startJupyter",
        "startSsh",
        "templateId",
    }
)
#: v2 UpdatePodRequest fields
UPDATE_POD_FIELDS = frozenset(
    {
        "args",
        "disk",
        "env",
        "globalNetworking",
        "image",
        "locked",
        "mounts",
        "name",
        "ports",
        "registry",
        "templateId",
    }
)
#: provider_opts keys atlas_nb handles itself (not sent as-is)
SPAWN_OPTS = frozenset({"networkVolumeId", "volumeMountPath", "bid_price", "bidPerGpu"})


def pod_status(value: Any) -> ComputeStatus:
    """A v2 pod status → :class:`ComputeStatus` (anything unknown, or not text → ``unknown``)."""
    return POD_STATUSES.get(value.upper() if isinstance(value, str) else "", ComputeStatus.UNKNOWN)


def job_status(value: Any) -> JobStatus:
    """A runtime job status → :class:`JobStatus`; unknown values (or not text) count as still
    queued."""
    return JOB_STATUSES.get(value.upper() if isinstance(value, str) else "", JobStatus.QUEUED)


def status_filter(status: ComputeStatus) -> set[str]:
    """The v2 statuses that normalise to ``status`` (for client-side list filters).

    >>> sorted(status_filter(ComputeStatus.STOPPED))
    ['EXITED']
    """
    return {k for k, v in POD_STATUSES.items() if v == status}


# -- GPUs ----------------------------------------------------------------------------------


def runpod_gpu_ids() -> list[str]:
    """Every RunPod GPU id atlas_nb's catalogue knows."""
    return [native for m in CATALOGUE for native in m.runpod]


def gpu_type_id(gpu: str) -> str:
    """Canonical name or RunPod id → the RunPod GPU id to send (``ValidationError`` if none).

    >>> gpu_type_id("NVIDIA GeForce RTX 4090"), gpu_type_id("rtx_4090")
    ('NVIDIA GeForce RTX 4090', 'NVIDIA GeForce RTX 4090')
    """
    for native in runpod_gpu_ids():
        if native.lower() == gpu.strip().lower():
            return native
    name = to_canonical(gpu)
    model = next((m for m in CATALOGUE if m.name == name), None)
    if model is None or not model.runpod:
        known = sorted({m.name for m in CATALOGUE if m.runpod})
        raise ValidationError(
            f"RunPod has no GPU for gpu={gpu!r}.{did_you_mean(str(name or gpu), known)}",
            field="gpu",
            provider=PROVIDER,
            hint=f"RunPod GPUs: {', '.join(known)} (or pass a RunPod GPU id).",
        )
    return model.runpod[0]


def canonical_gpu(gpu_id: str | None, vram_gb: float | None = None) -> str | None:
    """RunPod GPU id → canonical name, else the id itself (None for CPU pods)."""
    if not gpu_id:
        return None
    return canonical(gpu_id, PROVIDER, vram_gb=vram_gb) or gpu_id


# -- offers ---------------------------------------------------------------------------------


class Offer(NamedTuple):
    gpu_id: str
    cloud: str
    spot: bool
    gpu_count: int
    data_center: str | None = None


_OFFER_PREFIX = "rp1"


def encode_offer_id(
    gpu_id: str, cloud: str, *, spot: bool, count: int, data_center: str | None = None
) -> str:
    """An offer id that says exactly what to launch: ``rp1|<gpu id>|<cloud>|od|spot|<n>|<dc>``."""
    kind = "spot" if spot else "od"
    return "|".join((_OFFER_PREFIX, gpu_id, cloud, kind, str(count), data_center or ""))


def decode_offer_id(offer_id: str) -> Offer:
    """Parse :func:`encode_offer_id`'s output (``ValidationError`` for anything else)."""
    parts = offer_id.split("|")
    if (
        len(parts) != 6
        or parts[0] != _OFFER_PREFIX
        or parts[2] not in ("SECURE", "COMMUNITY")
        or parts[3] not in ("od", "spot")
        or not parts[4].isdigit()
    ):
        raise ValidationError(
            f"offer_id={offer_id!r} is not a RunPod offer id",
            field="offer_id",
            provider=PROVIDER,
            hint="Pass a row of atlas.offers(providers='runpod') as it is.",
        )
    return Offer(parts[1], parts[2], parts[3] == "spot", int(parts[4]), parts[5] or None)


# -- requests ------------------------------------------------------------------------------


def clouds_for(cloud: str | None) -> list[str | None]:
    """Which v2 ``cloud`` values to try, in order (``any`` tries SECURE then COMMUNITY).

    >>> clouds_for(None), clouds_for("community"), clouds_for("any")
    ([None], ['COMMUNITY'], ['SECURE', 'COMMUNITY'])
    """
    if cloud is None:
        return [None]
    if cloud == "any":
        return ["SECURE", "COMMUNITY"]
    return [cloud.upper()]


def _check_opts(opts: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(opts) - allowed - SPAWN_OPTS)
    if unknown:
        raise ValidationError(
            f"provider_opts {unknown} are not fields of RunPod's {what}"
            f"{did_you_mean(unknown[0], allowed | SPAWN_OPTS)}",
            field="provider_opts",
            provider=PROVIDER,
            hint=f"Use fields of the v2 body: {', '.join(sorted(allowed))}.",
        )


def create_pod_body(
    request: ComputeRequest,
    *,
    env: Mapping[str, str],
    gpu_id: str | None,
    cloud: str | None,
    data_centers: list[str] | None = None,
) -> dict[str, Any]:
    """A v2 ``CreatePodRequest`` body. ``provider_opts`` override computed fields; an opt
    whose value is None removes that field.

    >>> req = ComputeRequest(gpu="h100", image="img", name="atlas-x", ports=["8000/http"],
    ...                      volume_gb=20)
    >>> create_pod_body(req, env={"A": "1"}, gpu_id="NVIDIA H100 80GB HBM3", cloud="SECURE")
    {'name': 'atlas-x', 'image': 'img', 'gpu': {'id': 'NVIDIA H100 80GB HBM3', 'count': 1}, \
'cloud': 'SECURE', 'ports': ['8000/http'], 'env': {'A': '1'}, \
'mounts': {'persistent': {'size': 20, 'path': '/workspace'}}}
    """
    opts = dict(request.provider_opts)
    _check_opts(opts, CREATE_POD_FIELDS, "CreatePodRequest")
    body: dict[str, Any] = {"name": request.name or "atlas-pod"}
    if request.image:
        body["image"] = request.image
    if request.template:
        body["templateId"] = request.template
    if gpu_id:
        body["gpu"] = {"id": gpu_id, "count": request.gpu_count}
    if cloud:
        body["cloud"] = cloud
    regions = data_centers if data_centers is not None else request.regions
    if regions:
        body["dataCenterIds"] = list(regions)
    if request.ports:
        body["ports"] = [str(p) for p in request.ports]
    if env:
        body["env"] = dict(env)
    if request.disk_gb is not None:
        body["disk"] = request.disk_gb
    mounts = _mounts(request, opts)
    if mounts:
        body["mounts"] = mounts
    opts.pop("bid_price", None)
    opts.pop("bidPerGpu", None)
    if "cpu" in opts:
        body.pop("gpu", None)
    if "env" in opts and isinstance(opts["env"], Mapping):
        opts["env"] = {**body.get("env", {}), **{k: str(v) for k, v in opts["env"].items()}}
    for key, value in opts.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def _mounts(request: ComputeRequest, opts: dict[str, Any]) -> dict[str, Any] | None:
    """The body's ``mounts``: a network volume named in ``opts`` (taken out of them), else a
    persistent volume of ``volume_gb``, else None."""
    path = str(opts.pop("volumeMountPath", None) or "/workspace")
    volume_id = opts.pop("networkVolumeId", None)
    if volume_id:
        return {"network": [{"volumeId": str(volume_id), "path": path}]}
    if request.volume_gb is None:
        return None
    if request.volume_gb < 10:
        raise ValidationError(
            f"volume_gb={request.volume_gb} is below RunPod's 10 GB minimum",
            field="volume_gb",
            provider=PROVIDER,
            hint="Ask for volume_gb=10 or more, or none.",
        )
    return {"persistent": {"size": request.volume_gb, "path": path}}


def spot_pod_input(
    request: ComputeRequest,
    *,
    env: Mapping[str, str],
    gpu_id: str,
    cloud: str | None,
    bid_per_gpu: float,
    data_center: str | None = None,
) -> dict[str, Any]:
    """GraphQL ``PodRentInterruptableInput`` (spot pods: REST v2 has no interruptible field).

    >>> req = ComputeRequest(gpu="l4", image="img", name="atlas-s", ports=["22/tcp"])
    >>> spot_pod_input(req, env={"K": "v"}, gpu_id="NVIDIA L4", cloud=None, bid_per_gpu=0.2)
    {'name': 'atlas-s', 'gpuTypeId': 'NVIDIA L4', 'gpuCount': 1, 'bidPerGpu': 0.2, \
'cloudType': 'ALL', 'imageName': 'img', 'ports': '22/tcp', 'env': [{'key': 'K', 'value': 'v'}]}
    """
    opts = dict(request.provider_opts)
    _check_opts(opts, CREATE_POD_FIELDS, "CreatePodRequest")
    inp: dict[str, Any] = {
        "name": request.name or "atlas-spot",
        "gpuTypeId": gpu_id,
        "gpuCount": request.gpu_count,
        "bidPerGpu": float(bid_per_gpu),
        "cloudType": cloud or "ALL",
    }
    if request.image:
        inp["imageName"] = request.image
    if request.template:
        inp["templateId"] = request.template
    if request.ports:
        inp["ports"] = ",".join(str(p) for p in request.ports)
    if env:
        inp["env"] = [{"key": k, "value": v} for k, v in env.items()]
    if request.disk_gb is not None:
        inp["containerDiskInGb"] = request.disk_gb
    if request.volume_gb is not None:
        inp["volumeInGb"] = request.volume_gb
    if opts.get("volumeMountPath") or request.volume_gb is not None:
        inp["volumeMountPath"] = str(opts.get("volumeMountPath") or "/workspace")
    if opts.get("networkVolumeId"):
        inp["networkVolumeId"] = str(opts["networkVolumeId"])
    dc = data_center or (request.regions[0] if request.regions else None)
    if dc:
        inp["dataCenterId"] = dc
    if opts.get("args"):
        inp["dockerArgs"] = str(opts["args"])
    return inp


def update_pod_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A v2 ``UpdatePodRequest`` from keyword fields (atlas names or v2 names).

    >>> update_pod_body({"name": "b", "ports": ["8000/http"], "disk_gb": 80})
    {'name': 'b', 'ports': ['8000/http'], 'disk': 80}
    """
    aliases = {"disk_gb": "disk", "global_networking": "globalNetworking", "template": "templateId"}
    body: dict[str, Any] = {}
    for key, value in fields.items():
        name = aliases.get(key, key)
        if name not in UPDATE_POD_FIELDS:
            raise ValidationError(
                f"{key!r} cannot be updated on a RunPod pod{did_you_mean(name, UPDATE_POD_FIELDS)}",
                field=key,
                provider=PROVIDER,
                hint=f"Updatable: {', '.join(sorted(UPDATE_POD_FIELDS))}.",
            )
        if name == "ports":
            from ...models import parse_port

            value = [str(parse_port(p)) for p in value]
        body[name] = value
    if not body:
        raise ValidationError("nothing to update", field="fields", provider=PROVIDER)
    return body


# -- responses -----------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 → aware datetime (None when missing or unparseable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def pod_ports(pod: Mapping[str, Any]) -> list[Port]:
    """Ports with URLs: ``https://{id}-{port}.proxy.runpod.net`` for http, ``tcp://ip:public``
    for tcp once the running pod has a mapping in ``runtime.ports``.

    >>> pod = {"id": "p1", "ports": ["8888/http", "22/tcp"],
    ...        "runtime": {"ports": [{"private": 22, "public": 40022, "type": "tcp",
    ...                               "ip": "203.0.113.5"}]}}
    >>> [(p.internal, p.external, p.url) for p in pod_ports(pod)]
    [(8888, None, 'https://p1-8888.proxy.runpod.net'), (22, 40022, 'tcp://203.0.113.5:40022')]
    """
    runtime = pod.get("runtime") or {}
    mapped = {}
    for entry in runtime.get("ports") or []:
        if isinstance(entry, Mapping) and entry.get("private") is not None:
            mapped[(int(entry["private"]), str(entry.get("type") or "tcp").lower())] = entry
    out = []
    for spec in pod.get("ports") or []:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\w+)\s*", str(spec))
        if not m:
            continue
        port, proto = int(m.group(1)), m.group(2).lower()
        if proto == "http":
            out.append(
                Port(
                    internal=port,
                    protocol="http",
                    url=f"https://{pod.get('id')}-{port}.proxy.runpod.net",
                )
            )
            continue
        entry = mapped.get((port, "tcp"), {})
        public, ip = entry.get("public"), entry.get("ip")
        url = f"tcp://{ip}:{public}" if ip and public else None
        out.append(Port(internal=port, external=public, protocol="tcp", url=url))
    return out


def public_ip(pod: Mapping[str, Any]) -> str | None:
    for entry in (pod.get("runtime") or {}).get("ports") or []:
        if isinstance(entry, Mapping) and entry.get("ip"):
            return str(entry["ip"])
    direct = (pod.get("ssh") or {}).get("direct") or {}
    return direct.get("host")


def compute_fields(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`~atlas_nb.models.Compute` fields of a v2 pod (``auth`` not included).

    >>> f = compute_fields({"id": "p", "name": "n", "status": "EXITED", "image": "i",
    ...                     "gpu": {"id": "NVIDIA L4", "count": 2}, "cost": 0.0,
    ...                     "dataCenterId": "US-CA-2", "env": {"ATLAS_PRESHARED_KEY": "t"}})
    >>> f["status"].value, f["provider_status"], f["gpu"], f["gpu_count"], f["raw"]["env"]
    ('stopped', 'EXITED', 'l4', 2, {'ATLAS_PRESHARED_KEY': '***'})
    """
    gpu = pod.get("gpu") or {}
    raw = dict(pod)
    if isinstance(raw.get("env"), Mapping):
        raw["env"] = redact_env(raw["env"])
    cost = pod.get("cost")
    return {
        "id": ident(pod, provider=PROVIDER, what="a pod"),
        "provider": PROVIDER,
        "name": pod.get("name"),
        "status": pod_status(pod.get("status")),
        "provider_status": pod.get("status"),
        "gpu": canonical_gpu(gpu.get("id")),
        "gpu_count": int(gpu.get("count") or (1 if gpu.get("id") else 0)),
        "image": pod.get("image"),
        "region": pod.get("dataCenterId"),
        "cost_per_hr": float(cost) if isinstance(cost, (int, float, str)) and cost != "" else None,
        "ports": pod_ports(pod),
        "public_ip": public_ip(pod),
        "created_at": parse_time(pod.get("createdAt")),
        "raw": raw,
    }


def job_fields(body: Mapping[str, Any], endpoint: str) -> dict[str, Any]:
    """The :class:`~atlas_nb.models.Job` fields of a runtime job body.

    >>> f = job_fields({"id": "j", "status": "FAILED", "error": "boom", "delayTime": 5,
    ...                 "executionTime": 7}, "ep")
    >>> f["status"].value, f["error"], f["delay_ms"], f["execution_ms"], f["endpoint"]
    ('failed', 'boom', 5, 7, 'ep')
    """

    def ms(v: Any) -> int | None:
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    return {
        "id": ident(body, provider=PROVIDER, what="a job"),
        "endpoint": endpoint,
        "provider": PROVIDER,
        "status": job_status(body.get("status")),
        "output": body.get("output"),
        "error": body.get("error"),
        "delay_ms": ms(body.get("delayTime")),
        "execution_ms": ms(body.get("executionTime")),
        "raw": dict(body),
    }


def run_body(
    inp: Any, *, webhook: str | None, policy: Mapping[str, Any], opts: Mapping[str, Any]
) -> dict[str, Any]:
    """A ``/run`` or ``/runsync`` body: input, webhook and policy (only when given), opts.

    >>> run_body({"x": 1}, webhook=None, policy={}, opts={})
    {'input': {'x': 1}}
    """
    body: dict[str, Any] = {"input": inp}
    if webhook:
        body["webhook"] = webhook
    if policy:
        body["policy"] = dict(policy)
    for key, value in opts.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body
