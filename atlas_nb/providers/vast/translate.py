"""Pure translation of Vast's instance payloads into :class:`~atlas_nb.models.Compute` fields.

No I/O here: Vast's ``actual_status`` normalised, sizes from MB to GB, env and ports in Vast's
docker-flag form (with ``ATLAS_PORTS`` recording each port's protocol) and the
``"success": false`` answers of a refused change.

    >>> mb_to_gb(24564)
    24.0
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ...errors import ValidationError
from ...gpus import canonical
from ...models import ComputeStatus, Port
from .._parse import ident
from ..base import redact_env
from .query import MB_PER_GB, country

PROVIDER = "vast"
PORTS_ENV = "ATLAS_PORTS"


def vast_status(
    actual: str | None, intended: str | None = "running", cur_state: str | None = None
) -> ComputeStatus:
    """Normalise Vast's ``actual_status`` given the ``intended_status``/``cur_state``.

    >>> vast_status(None), vast_status("loading"), vast_status("running")
    (<ComputeStatus.PROVISIONING: 'provisioning'>, <ComputeStatus.STARTING: 'starting'>, \
<ComputeStatus.RUNNING: 'running'>)
    >>> vast_status("exited", "stopped"), vast_status("exited", "running")
    (<ComputeStatus.STOPPED: 'stopped'>, <ComputeStatus.FAILED: 'failed'>)
    >>> vast_status("scheduling", "running", "stopped")  # started; waiting for its GPUs
    <ComputeStatus.PROVISIONING: 'provisioning'>
    """
    waiting = actual == "scheduling" and intended == "running"
    wants_stop = "stopped" in (intended, cur_state) and not waiting
    if wants_stop:
        if actual in ("running", "loading", "stopping"):
            return ComputeStatus.STOPPING
        if actual == "unknown":
            return ComputeStatus.UNKNOWN
        return ComputeStatus.STOPPED
    return {
        None: ComputeStatus.PROVISIONING,
        "created": ComputeStatus.PROVISIONING,
        "scheduling": ComputeStatus.PROVISIONING,
        "loading": ComputeStatus.STARTING,
        "running": ComputeStatus.RUNNING,
        "stopping": ComputeStatus.STOPPING,
        "stopped": ComputeStatus.STARTING,  # intended running: on its way back up
        "exited": ComputeStatus.FAILED,
        "offline": ComputeStatus.FAILED,
        "unknown": ComputeStatus.UNKNOWN,
    }.get(actual, ComputeStatus.UNKNOWN)


@functools.lru_cache(maxsize=512)
def canonical_gpu(name: str, vram_gb: float | None) -> str | None:
    """atlas_nb's name for Vast's GPU ``name`` with ``vram_gb`` of memory (cached)."""
    return canonical(name, PROVIDER, vram_gb=vram_gb)


def mb_to_gb(mb: Any) -> float | None:
    """Vast's MB → GB (one decimal). ``mb_to_gb(24564) == 24.0``."""
    return None if mb is None else round(float(mb) / MB_PER_GB, 1)


def env_flags(env: Mapping[str, str], ports: Iterable[tuple[int, str]]) -> str:
    """Env and ports in Vast's docker-flag form.

    >>> env_flags({"A": "1", "B": "two words"}, [(8000, "http")])
    '-e A=1 -e "B=two words" -e ATLAS_PORTS=8000/http -p 8000:8000'
    """
    ports = list(ports)
    items = dict(env)
    if ports:
        items[PORTS_ENV] = ",".join(f"{p}/{proto}" for p, proto in ports)
    parts = []
    for k, v in items.items():
        if any(c in v for c in '"\\\n\r'):
            raise ValidationError(
                f"env {k} holds a quote, backslash or line break, which Vast's docker-flag "
                "env cannot carry",
                field="env",
                hint="Encode the value (e.g. base64) and decode it in the container.",
            )
        needs_quotes = any(c.isspace() for c in v) or "'" in v or not v
        parts.append(f'-e "{k}={v}"' if needs_quotes else f"-e {k}={v}")
    parts += [f"-p {p}:{p}" for p, _ in ports]
    return " ".join(parts)


def _env_pairs(data: Mapping[str, Any]) -> dict[str, str]:
    env = data.get("extra_env") or []
    if isinstance(env, Mapping):
        return {str(k): str(v) for k, v in env.items()}
    out = {}
    for pair in env:
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            out[str(pair[0])] = str(pair[1])
    return out


def instance_ports(data: Mapping[str, Any]) -> list[Port]:
    """Requested ports (from ``ATLAS_PORTS``) with their public mapping once running."""
    wanted: dict[int, str] = {}
    for item in _env_pairs(data).get(PORTS_ENV, "").split(","):
        num, _, proto = item.partition("/")
        if num.isdigit():
            wanted[int(num)] = "tcp" if proto == "tcp" else "http"
    mapped = data.get("ports") or {}
    ip = data.get("public_ipaddr")
    out = []
    for port, proto in wanted.items():
        external = None
        for key in (f"{port}/tcp", f"{port}/udp", str(port)):
            bindings = mapped.get(key) if isinstance(mapped, Mapping) else None
            if bindings:
                with contextlib.suppress(TypeError, ValueError, KeyError, IndexError):
                    external = int(bindings[0]["HostPort"])
                break
        url = None
        if external is not None and ip:
            url = f"http://{ip}:{external}" if proto == "http" else f"tcp://{ip}:{external}"
        out.append(Port(internal=port, external=external, protocol=proto, url=url))
    return out


def instance_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`Compute` fields of a Vast instance payload (no I/O)."""
    status = vast_status(
        data.get("actual_status"), data.get("intended_status"), data.get("cur_state")
    )
    vram = mb_to_gb(data.get("gpu_ram"))
    name = data.get("gpu_name")
    total, base = data.get("dph_total"), data.get("dph_base")
    if status in (ComputeStatus.STOPPED, ComputeStatus.STOPPING) and total is not None:
        cost = round(max(0.0, total - (base or 0.0)), 6)  # storage keeps billing
    else:
        cost = total
    raw = dict(data)
    env = _env_pairs(data)
    if env:
        raw["extra_env"] = [[k, v] for k, v in redact_env(env).items()]
    created = data.get("start_date")
    return {
        "id": ident(data, provider=PROVIDER, what="an instance"),
        "name": data.get("label"),
        "status": status,
        "provider_status": data.get("actual_status"),
        "gpu": (canonical_gpu(name, vram) or name) if name else None,
        "gpu_count": int(data.get("num_gpus") or 0),
        "image": data.get("image_uuid"),
        "region": country(data.get("geolocation")),
        "cost_per_hr": cost,
        "ports": instance_ports(data),
        "public_ip": data.get("public_ipaddr"),
        "ssh_host": data.get("ssh_host"),
        "ssh_port": _port_number(data.get("ssh_port")),
        "status_message": (str(data["status_msg"]).strip() or None)
        if data.get("status_msg")
        else None,
        "created_at": datetime.fromtimestamp(float(created), UTC) if created else None,
        "raw": raw,
    }


def _port_number(value: Any) -> int | None:
    with contextlib.suppress(TypeError, ValueError):
        port = int(value)
        return port if 0 < port < 65536 else None
    return None


def refused(body: Any) -> str | None:
    """Vast's reason when a 200 answer says ``"success": false`` (None when it succeeded).

    The vast CLI checks ``success`` after every 200: a refused start, stop, label or destroy
    comes back as ``{"success": false, "msg": "..."}`` with HTTP 200.

    >>> refused({"success": True}), refused({"success": False, "msg": "machine offline"})
    (None, 'machine offline')
    """
    if isinstance(body, Mapping) and body.get("success") is False:
        text = body.get("msg") or body.get("error") or "Vast did not say why"
        return str(text)
    return None
