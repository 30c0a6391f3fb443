"""Who guards a tracked compute, and the spawn request that carries its pod guard.

``guard="auto"`` gives the pod its own guard where the provider can end its own pods
(``"pod_guard" in capabilities(provider)``) and the guard can be installed; otherwise the client
guards it (a kernel or ``atlas-nb reap``) and says why. ``"pod"`` raises where it cannot be;
``"client"`` injects nothing.

    >>> from atlas_nb.models import ComputeRequest
    >>> req = ComputeRequest(gpu="l4", image="img", provider_opts={"args": "python serve.py"})
    >>> user_command("runpod", req)
    ['python', 'serve.py']
    >>> spec = GuardSpec(idle_ttl_s=600, token="t")
    >>> out = guarded_request("runpod", req, spec, ["python", "serve.py"])
    >>> [str(p) for p in out.ports], out.provider_opts["args"].startswith("sh -c ")
    (['8642/http'], True)
    >>> choose_guard("lambda", "auto")
    'client'
"""

from __future__ import annotations

import shlex
from typing import Any

from ..errors import UnsupportedError, ValidationError
from ..models import ComputeRequest
from .injection import (
    GuardSpec,
    fly_injection,
    require_pod_guard,
    runpod_injection,
    vast_injection,
)

GUARD_CHOICES = ("auto", "pod", "client")
#: atlas_nb provider name -> the guard's provider name (what ends the pod)
GUARD_PROVIDER = {"runpod": "runpod", "vast": "vast", "fly": "fly"}


def choose_guard(provider: str, guard: str, *, capable: bool | None = None) -> str:
    """``"pod"`` or ``"client"`` for ``guard`` on ``provider`` (``UnsupportedError`` for
    ``guard="pod"`` where the pod cannot end itself, saying why and what to do)."""
    if guard not in GUARD_CHOICES:
        raise ValidationError(
            f"guard={guard!r} is not one of {', '.join(GUARD_CHOICES)}",
            field="guard",
            hint="guard='auto' (the pod guards itself where it can), 'pod' or 'client'.",
        )
    supported = provider in GUARD_PROVIDER if capable is None else capable
    if guard == "client":
        return "client"
    if not supported:
        if guard == "pod":
            require_pod_guard(provider)  # raises, saying why (Lambda: no in-instance key)
            raise UnsupportedError(f"guard='pod' is not possible on {provider}")
        return "client"
    return "pod"


def user_command(provider: str, request: ComputeRequest) -> list[str] | None:
    """The start command the user gave (RunPod ``args``, Fly ``init``), or None."""
    opts = request.provider_opts
    if provider == "runpod" and isinstance(opts.get("args"), str) and opts["args"].strip():
        return shlex.split(opts["args"])
    if provider == "fly" and isinstance(opts.get("init"), dict):
        init = opts["init"]
        parts = [*(init.get("entrypoint") or []), *(init.get("cmd") or [])]
        return [str(p) for p in parts] or None
    return None


def needs_command(provider: str) -> bool:
    """RunPod and Fly wrap the start command; Vast's ``onstart`` leaves it alone."""
    return provider in ("runpod", "fly")


def guarded_request(
    provider: str, request: ComputeRequest, spec: GuardSpec, command: list[str] | None
) -> ComputeRequest:
    """``request`` with the guard's env, its lease port and the provider's start hook."""
    name = GUARD_PROVIDER[provider]
    injection: dict[str, Any]
    opts = dict(request.provider_opts)
    if name == "runpod":
        injection = runpod_injection(spec, command)
        opts["args"] = injection["args"]
    elif name == "vast":
        injection = vast_injection(spec)
        if opts.get("onstart"):  # the user's own onstart runs after the guard has started
            injection["onstart"] = injection["onstart"] + str(opts["onstart"])
        opts["onstart"] = injection["onstart"]
    else:
        injection = fly_injection(spec, command)
        opts.update(init=injection["init"], restart=injection["restart"], auto_destroy=True)
        if "services" in opts or request.ports:
            from ..providers.fly_machines import services_for

            given = opts.get("services") or services_for(
                [(p.port, p.protocol) for p in request.ports]
            )
            opts["services"] = [*given, *injection["services"]]
        else:
            opts["services"] = injection["services"]
    env = {**request.env, **injection["env"]}
    ports = [str(p) for p in request.ports]
    if name != "fly":
        ports += [p for p in injection["ports"] if p not in ports]
    return request.model_copy(
        update={"env": env, "provider_opts": opts, "ports": ComputeRequest(ports=ports).ports}
    )
