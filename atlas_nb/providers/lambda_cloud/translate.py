"""Pure translation of Lambda's instance payloads into :class:`~atlas_nb.models.Compute` fields.

No I/O here: the instance-type name, the status map, the ``[{"key", "value"}]`` tags and the
ports atlas_nb records in the ``atlas:ports`` tag.

    >>> lambda_status("active"), lambda_status("warming up")
    (<ComputeStatus.RUNNING: 'running'>, <ComputeStatus.UNKNOWN: 'unknown'>)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ...gpus import canonical as canonical_gpu
from ...models import ComputeStatus, Port
from .._parse import ident

PROVIDER = "lambda"
_TYPE_NAME = re.compile(r"^gpu_(\d+)x_([a-z0-9_]+)$")
TAG_IMAGE = "atlas:image"
TAG_PORTS = "atlas:ports"
TAG_CREATED = "atlas:created"

#: Lambda's instance status -> atlas_nb's
STATUS_MAP: dict[str, ComputeStatus] = {
    "booting": ComputeStatus.PROVISIONING,
    "active": ComputeStatus.RUNNING,
    "unhealthy": ComputeStatus.UNKNOWN,
    "terminating": ComputeStatus.TERMINATING,
    "terminated": ComputeStatus.TERMINATED,
    "preempted": ComputeStatus.FAILED,
}


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


def tag_dict(tags: Any) -> dict[str, str]:
    """Lambda's ``[{"key", "value"}]`` tags as a dict."""
    if not isinstance(tags, list):
        return {}
    return {
        t["key"]: str(t.get("value", ""))
        for t in tags
        if isinstance(t, Mapping) and isinstance(t.get("key"), str)
    }


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
        "id": ident(data, provider=PROVIDER, what="an instance"),
        "name": data.get("name"),
        "status": status,
        "provider_status": data.get("status"),
        "gpu": (canonical_gpu(part, PROVIDER) or part) if part else None,
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
