"""What a spawn adds to a pod so it guards itself: env, and a start command / ``onstart`` / init.

The guard program (``agent.py``) travels in the env as ``ATLAS_GUARD_AGENT`` (zlib + base64); the
launcher (``launcher.sh``) unpacks and runs it. Pure functions, no I/O beyond package data:

    >>> spec = GuardSpec(idle_ttl_s=900, deadline_s=3600, cap_usd=5, price_hr=2.5, token="t0k")
    >>> inj = runpod_injection(spec, ["python", "train.py"])
    >>> inj["args"].startswith("sh -c "), inj["args"].endswith("atlas-guard python train.py")
    (True, True)
    >>> inj["env"]["ATLAS_GUARD_PROVIDER"], "t0k" in str(inj["env"])
    ('runpod', False)
    >>> len(vast_injection(spec)["onstart"]) <= VAST_ONSTART_MAX
    True
    >>> pod_guard_supported("lambda")
    False
"""

from __future__ import annotations

import base64
import gzip
import shlex
import zlib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..auth import hash_token
from ..errors import UnsupportedError, ValidationError

POD_GUARD_PROVIDERS = ("runpod", "vast", "fly")
VAST_ONSTART_MAX = 4048
DEFAULT_PORT = 8642


@dataclass(frozen=True)
class GuardSpec:
    """The limits a pod enforces on itself; durations in seconds, 0 = no such limit."""

    idle_ttl_s: float
    deadline_s: float = 0.0
    cap_usd: float = 0.0
    price_hr: float = 0.0
    token: str = field(default="", repr=False)
    grace_s: float = 30.0
    port: int = DEFAULT_PORT


def pod_guard_supported(provider: str) -> bool:
    """Whether ``provider``'s pods can end themselves (an in-instance credential exists)."""
    return provider in POD_GUARD_PROVIDERS


def require_pod_guard(provider: str) -> None:
    """Raise :class:`UnsupportedError` (why, and what to do) when ``provider`` cannot self-guard."""
    if pod_guard_supported(provider):
        return
    why = (
        "no credential exists inside a Lambda instance, and an OS shutdown does not end billing"
        if provider == "lambda"
        else f"{provider!r} gives its instances no credential to end themselves"
    )
    raise UnsupportedError(
        f"guard='pod' is not possible on {provider}: {why}",
        provider=provider,
        hint=f"Use guard='client' (or 'auto') and keep a kernel or `atlas-nb reap` running; "
        f"pod guards work on {', '.join(POD_GUARD_PROVIDERS)}.",
    )


def agent_source() -> str:
    """The guard program's source (stdlib-only Python)."""
    return resources.files(__package__).joinpath("agent.py").read_text()


def launcher_source() -> str:
    """The POSIX sh launcher that runs the guard with python3 (or a deadline-only sh loop)."""
    return resources.files(__package__).joinpath("launcher.sh").read_text()


def guard_env(provider: str, spec: GuardSpec) -> dict[str, str]:
    """The env a guarded pod gets: settings, the token's SHA-256 (never the token), the program."""
    require_pod_guard(provider)
    if spec.idle_ttl_s < 0 or spec.deadline_s < 0 or spec.cap_usd < 0 or spec.price_hr < 0:
        raise ValidationError("guard limits must be >= 0 (0 means no such limit)", field="guard")
    if spec.cap_usd > 0 and spec.price_hr <= 0:
        raise ValidationError("a $ cap needs the pod's $/hr (price_hr > 0)", field="price_hr")
    agent = base64.b64encode(zlib.compress(agent_source().encode(), 9)).decode()
    return {
        "ATLAS_GUARD_PROVIDER": provider,
        "ATLAS_GUARD_IDLE_TTL_S": f"{spec.idle_ttl_s:g}",
        "ATLAS_GUARD_DEADLINE_S": f"{spec.deadline_s:g}",
        "ATLAS_GUARD_CAP_USD": f"{spec.cap_usd:g}",
        "ATLAS_GUARD_PRICE_HR": f"{spec.price_hr:g}",
        "ATLAS_GUARD_GRACE_S": f"{spec.grace_s:g}",
        "ATLAS_GUARD_PORT": str(spec.port),
        "ATLAS_GUARD_TOKEN_SHA256": hash_token(spec.token) if spec.token else "",
        "ATLAS_GUARD_AGENT": agent,
    }


def _wrapped(command: list[str] | None, provider: str) -> list[str]:
    if not command:
        raise ValidationError(
            f"a pod guard on {provider} wraps the start command, and none was given. Pass "
            "command=[...] (resolve_image_command(image) reads the image's own), or spawn with "
            "guard='client'",
            field="command",
        )
    return ["sh", "-c", launcher_source(), "atlas-guard", *command]


def runpod_injection(spec: GuardSpec, command: list[str] | None) -> dict[str, Any]:
    """RunPod: ``args`` (REST v2 ``BaseContainerConfig.args``) wrapping ``command``, plus ``env``.

    ``args`` replaces the image's CMD and keeps its ENTRYPOINT, so the wrapper suits images
    without an ENTRYPOINT (RunPod's own: CMD ``/start.sh``) or whose entrypoint ends in
    ``exec "$@"``. A command is required: when the user gives none, resolve the image's with
    :func:`atlas_nb.guard.image_command.resolve_image_command` (its registry's OCI API) and pass
    that; without one this raises :class:`ValidationError`.
    """
    return {
        "env": guard_env("runpod", spec),
        "args": shlex.join(_wrapped(command, "runpod")),
        "ports": [f"{spec.port}/http"],  # reached at https://{podId}-{port}.proxy.runpod.net
    }


def vast_onstart(script: str) -> str:
    """``script`` as a Vast ``onstart``: as is when it fits 4048 characters, else gzip + base64.

    >>> vast_onstart("echo hi\\n")
    'echo hi\\n'
    >>> vast_onstart("echo " + "x" * 5000 + "\\n").startswith("echo H4sI")
    True
    """
    if len(script) <= VAST_ONSTART_MAX:
        return script
    packed = base64.b64encode(gzip.compress(script.encode(), 9, mtime=0)).decode()
    run = f"echo {packed} | base64 -d | gunzip | sh\n"
    if len(run) > VAST_ONSTART_MAX:
        raise ValidationError(
            f"the onstart script is {len(run)} characters packed; Vast allows {VAST_ONSTART_MAX}",
            field="onstart",
        )
    return run


def vast_injection(spec: GuardSpec) -> dict[str, Any]:
    """Vast: an ``onstart`` starting the guard in the background (the entrypoint is untouched)."""
    log = ">/var/tmp/atlas_guard.log 2>&1 &\n"
    run = f"N=$(command -v nohup); $N sh -c {shlex.quote(launcher_source())} atlas-guard {log}"
    return {
        "env": guard_env("vast", spec),
        "onstart": vast_onstart(run),
        "ports": [f"{spec.port}/tcp"],  # mapped to a host port on public_ipaddr
    }


def fly_injection(spec: GuardSpec, command: list[str] | None) -> dict[str, Any]:
    """Fly Machines: ``init`` running the guard as the main process around ``command``.

    When the guard ends the pod it exits; ``restart.policy = "no"`` stops the machine and
    ``auto_destroy`` removes it. Like RunPod, a ``command`` (the image's CMD) is required.
    """
    wrapped = _wrapped(command, "fly")
    return {
        "env": guard_env("fly", spec),
        "init": {"entrypoint": wrapped[:4], "cmd": wrapped[4:]},
        "restart": {"policy": "no"},
        "auto_destroy": True,
        "services": [
            {
                "protocol": "tcp",
                "internal_port": spec.port,
                "ports": [{"port": spec.port, "handlers": ["tls", "http"]}],
            }
        ],
    }
