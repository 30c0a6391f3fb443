"""Validation rules of the fake Fly Machines API: guests, size presets, regions, services.

Fly.io removed GPU Machines in 2026: a guest with ``gpu_kind``/``gpus`` or a GPU size preset
is refused with HTTP 400, as the real API does.

    >>> check_config({"image": "nginx", "size": "shared-cpu-2x"})["guest"]
    {'cpu_kind': 'shared', 'cpus': 2, 'memory_mb': 512}
    >>> check_config({"image": "nginx", "guest": {"gpu_kind": "a100-80gb"}})
    Traceback (most recent call last):
    ...
    atlas_nb.sandbox.fly.rules.ConfigError: GPU machines are no longer available on Fly.io: \
remove config.guest.gpu_kind / gpus (and GPU size presets)
"""

from __future__ import annotations

import re
from typing import Any

REGIONS = (
    "ams",
    "arn",
    "atl",
    "bog",
    "bom",
    "bos",
    "cdg",
    "den",
    "dfw",
    "ewr",
    "eze",
    "fra",
    "gdl",
    "gig",
    "gru",
    "hkg",
    "iad",
    "jnb",
    "lax",
    "lhr",
    "mad",
    "mia",
    "nrt",
    "ord",
    "otp",
    "phx",
    "qro",
    "scl",
    "sea",
    "sin",
    "sjc",
    "syd",
    "waw",
    "yul",
    "yyz",
)
DEFAULT_REGION = "iad"
SHARED_CPUS = (1, 2, 4, 6, 8)
PERFORMANCE_CPUS = (1, 2, 4, 6, 8, 10, 12, 14, 16)
#: size preset -> guest
PRESETS: dict[str, dict[str, Any]] = {
    **{
        f"shared-cpu-{n}x": {"cpu_kind": "shared", "cpus": n, "memory_mb": 256 * n}
        for n in SHARED_CPUS
    },
    **{
        f"performance-{n}x": {"cpu_kind": "performance", "cpus": n, "memory_mb": 2048 * n}
        for n in PERFORMANCE_CPUS
    },
}
GPU_PRESETS = ("a100-40gb", "a100-80gb", "l40s", "a10")
RESTART_POLICIES = ("no", "always", "on-failure")
HANDLERS = ("http", "tls", "proxy_proto", "pg_tls", "edge_http")
_APP_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


class ConfigError(ValueError):
    """Bad input; the API answers 400 with ``{"error": str(exc)}``."""


def gpu_error() -> ConfigError:
    return ConfigError(
        "GPU machines are no longer available on Fly.io: remove config.guest.gpu_kind / gpus "
        "(and GPU size presets)"
    )


def check_guest(guest: Any) -> dict[str, Any]:
    if not isinstance(guest, dict):
        raise ConfigError("config.guest must be an object")
    if guest.get("gpu_kind") or guest.get("gpus"):
        raise gpu_error()
    kind = guest.get("cpu_kind", "shared")
    if kind not in ("shared", "performance"):
        raise ConfigError(f"invalid config.guest.cpu_kind {kind!r}: use shared or performance")
    cpus = guest.get("cpus", 1)
    allowed = SHARED_CPUS if kind == "shared" else PERFORMANCE_CPUS
    if isinstance(cpus, bool) or cpus not in allowed:
        raise ConfigError(f"invalid config.guest.cpus {cpus!r} for {kind}: use one of {allowed}")
    lo, hi = (256 * cpus, 2048 * cpus) if kind == "shared" else (2048 * cpus, 8192 * cpus)
    memory = guest.get("memory_mb", lo)
    if isinstance(memory, bool) or not isinstance(memory, int) or memory % 256:
        raise ConfigError("config.guest.memory_mb must be a multiple of 256")
    if not lo <= memory <= hi:
        raise ConfigError(
            f"invalid config.guest.memory_mb {memory}: {cpus} {kind} CPU(s) take {lo}-{hi} MB"
        )
    out = {"cpu_kind": kind, "cpus": cpus, "memory_mb": memory}
    for extra in ("kernel_args", "host_dedication_id", "max_memory_mb"):
        if extra in guest:
            out[extra] = guest[extra]
    return out


def check_services(services: Any) -> list[dict[str, Any]]:
    if not isinstance(services, list):
        raise ConfigError("config.services must be a list")
    for svc in services:
        if not isinstance(svc, dict):
            raise ConfigError("each service must be an object")
        port = svc.get("internal_port")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ConfigError(f"invalid service internal_port {port!r}")
        if svc.get("protocol", "tcp") not in ("tcp", "udp"):
            raise ConfigError(f"invalid service protocol {svc.get('protocol')!r}: tcp or udp")
        for p in svc.get("ports") or []:
            if not isinstance(p, dict):
                raise ConfigError("service ports must be objects")
            num = p.get("port")
            if num is not None and (not isinstance(num, int) or not 1 <= num <= 65535):
                raise ConfigError(f"invalid service port {num!r}")
            for h in p.get("handlers") or []:
                if h not in HANDLERS:
                    raise ConfigError(f"invalid port handler {h!r}: use one of {HANDLERS}")
    return services


def check_config(config: Any) -> dict[str, Any]:
    """A validated copy of a MachineConfig (a size preset is expanded into ``guest``)."""
    if not isinstance(config, dict):
        raise ConfigError("config is required and must be an object")
    image = config.get("image")
    if not isinstance(image, str) or not image.strip():
        raise ConfigError("invalid config.image: an image is required")
    out = dict(config)
    size = out.pop("size", None)
    if size is not None:
        if size in GPU_PRESETS:
            raise gpu_error()
        if size not in PRESETS:
            raise ConfigError(f"invalid config.size {size!r}: use one of {sorted(PRESETS)}")
        if "guest" in config:
            raise ConfigError("config.size and config.guest are mutually exclusive")
        out["guest"] = dict(PRESETS[size])
    elif "guest" in out:
        out["guest"] = check_guest(out["guest"])
    else:
        out["guest"] = dict(PRESETS["shared-cpu-1x"])
    env = out.get("env")
    if env is not None and (
        not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values())
    ):
        raise ConfigError("config.env must be an object of strings")
    meta = out.get("metadata")
    if meta is not None and (
        not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values())
    ):
        raise ConfigError("config.metadata must be an object of strings")
    restart = out.get("restart")
    if restart is not None and (
        not isinstance(restart, dict) or restart.get("policy", "always") not in RESTART_POLICIES
    ):
        raise ConfigError(f"invalid config.restart.policy: use one of {RESTART_POLICIES}")
    if "services" in out:
        check_services(out["services"])
    if "auto_destroy" in out and not isinstance(out["auto_destroy"], bool):
        raise ConfigError("config.auto_destroy must be a boolean")
    return out


def check_region(region: Any) -> str:
    if region is None or region == "":
        return DEFAULT_REGION
    if region not in REGIONS:
        raise ConfigError(f"invalid region {region!r}: use one of {', '.join(REGIONS)}")
    return str(region)


def check_app_name(name: Any) -> str:
    if not isinstance(name, str) or not _APP_NAME.match(name):
        raise ConfigError("invalid app name: use 3-63 lower-case letters, digits and hyphens")
    return name


def image_ref(image: str, digest: str) -> dict[str, Any]:
    """Fly's ``image_ref`` for an image reference."""
    rest, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    tag = tag or "latest"
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first):
        registry, repository = first, remainder
    else:
        registry = "docker-hub-mirror.fly.io"
        repository = rest if "/" in rest else f"library/{rest}"
    return {
        "registry": registry,
        "repository": repository,
        "tag": tag,
        "digest": digest,
        "labels": {},
    }
