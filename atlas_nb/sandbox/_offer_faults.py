"""Launch-time faults: offers refused the way each real cloud refuses them, and stuck pods.

Two fault knobs of :meth:`Sandbox.faults <atlas_nb.sandbox.handle.Sandbox.faults>` live here:

* ``refuse=`` answers a create with the provider's own refusal (status and body as the real API
  sends them): ``"capacity"`` (RunPod's 400 "no longer any instances available", Lambda's
  ``instance-operations/launch/insufficient-capacity``, Vast's 410 ``no_such_ask``),
  ``"offer_gone"`` (Vast: the offer was rented by someone else meanwhile; elsewhere the same as
  ``"capacity"``) and ``"quota"`` (Lambda's ``global/quota-exceeded``). The world agrees: the
  Vast offer is rented from then on, the Lambda region sold out of that type;
* ``stuck=True`` lets the create succeed, then keeps the new pod provisioning for good.

With ``count=N`` a knob affects the next N creates; with ``error_rate=p`` each create is
affected with probability p, drawn from the sandbox's seeded RNG (so a seed replays a run).

    >>> refusal("lambda", "quota", "/api/v1/instance-operations/launch")[0]
    400
    >>> refusal("vast", "offer_gone", "/api/v0/asks/5001/")[1]["error"]
    'no_such_ask'
"""

from __future__ import annotations

import json
import re
from typing import Any

from ._http import ASGIApp, Message, Receive, Scope, Send, json_response, relative_path
from ._state import FaultRule, SandboxState

REFUSALS = ("capacity", "offer_gone", "quota")

#: the route that creates a pod, per provider (relative to its base URL)
CREATE_ROUTES = {
    "runpod": "POST /v2/pods",
    "lambda": "POST /api/v1/instance-operations/launch",
    "vast": "PUT /api/v0/asks/",
}


def launch_knobs(provider: str, kind: str) -> tuple[str, dict[str, Any]]:
    """(route, knobs) that make ``provider``'s creates fail as ``kind`` (a refusal or "stuck").

    >>> launch_knobs("runpod", "stuck")
    ('POST /v2/pods', {'stuck': True})
    """
    if provider not in CREATE_ROUTES:
        raise ValueError(f"launch faults exist for {sorted(CREATE_ROUTES)}, not {provider!r}")
    if kind == "stuck":
        return CREATE_ROUTES[provider], {"stuck": True}
    if kind not in REFUSALS:
        raise ValueError(f"kind={kind!r}: use one of {[*REFUSALS, 'stuck']}")
    return CREATE_ROUTES[provider], {"refuse": kind}


#: simulated seconds a stuck pod's boot is pushed into the future (about 30 years)
STUCK_FOR_S = 1e9

_RUNPOD_CAPACITY = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)


def refusal(provider: str, kind: str, path: str) -> tuple[int, dict[str, Any]]:
    """(status, body) of a create refused for ``kind`` by ``provider``, as its API words it."""
    if kind not in REFUSALS:
        raise ValueError(f"refuse={kind!r}: use one of {REFUSALS}")
    if provider == "runpod":
        return 400, {"title": "Bad Request", "status": 400, "detail": _RUNPOD_CAPACITY}
    if provider == "lambda":
        if kind == "quota":
            return 400, _lambda_error(
                "global/quota-exceeded",
                "Launching this instance would exceed your account's quota.",
                "Terminate instances you no longer need or ask Lambda for a higher quota.",
            )
        return 400, _lambda_error(
            "instance-operations/launch/insufficient-capacity",
            "Not enough capacity to fulfill launch request.",
            "Try a different region or instance type.",
        )
    if provider == "vast":
        found = re.search(r"/asks/(\d+)", path)
        ask_id = int(found.group(1)) if found else None
        return 410, {
            "success": False,
            "error": "no_such_ask",
            "msg": f"error 410/3603: no_such_ask Instance type by id {ask_id} is not available.",
            "ask_id": ask_id,
        }
    raise ValueError(f"refuse= is known for runpod, lambda and vast, not {provider!r}")


def _lambda_error(code: str, message: str, suggestion: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "suggestion": suggestion}}


async def serve(
    rule: FaultRule,
    state: SandboxState,
    provider: str,
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Answer one request under a ``refuse``/``stuck`` rule."""
    if rule.error_rate and not state.faults.roll(rule.error_rate):
        await app(scope, receive, send)
        return
    if rule.refuse:
        path = relative_path(scope)
        sell_out(state, provider, rule.refuse, path, await _body(receive))
        status, body = refusal(provider, rule.refuse, path)
        await json_response(body, status)(scope, receive, send)
        return
    await _create_then_freeze(state, provider, app, scope, receive, send)


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def sell_out(state: SandboxState, provider: str, kind: str, path: str, body: bytes) -> None:
    """Make the world agree with a refusal: a Vast offer was rented by someone else (it leaves
    the search results); a Lambda region has no more of that type (it leaves
    ``regions_with_capacity_available``); a RunPod GPU type shows no stock in the catalogue
    (RunPod's client decides capacity from that). A quota changes nothing."""
    if provider == "runpod":
        from .runpod.world import runpod_world

        try:
            create = json.loads(body or b"{}")
        except ValueError:
            return
        gpu = create.get("gpu") if isinstance(create, dict) else None
        if isinstance(gpu, dict) and gpu.get("id"):
            cloud = str(create.get("cloud") or "SECURE").upper()
            runpod_world(state).sold_out.add((str(gpu["id"]), cloud))
    elif provider == "vast":
        from .vast.api import vast_world

        found = re.search(r"/asks/(\d+)", path)
        offer = vast_world(state).offer(int(found.group(1))) if found else None
        if offer is not None:
            offer["rented"], offer["rentable"] = True, False
    elif provider == "lambda" and kind != "quota":
        from .lambda_cloud.api import lambda_world

        try:
            launch = json.loads(body or b"{}")
        except ValueError:
            return
        if isinstance(launch, dict):
            regions = lambda_world(state).capacity.get(str(launch.get("instance_type_name")))
            if regions is not None and launch.get("region_name") in regions:
                regions[launch["region_name"]] = 0


async def _create_then_freeze(
    state: SandboxState, provider: str, app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    # hold the response until the new pod is frozen, so no read can see it boot
    held: list[Message] = []

    async def hold(message: Message) -> None:
        held.append(message)

    await app(scope, receive, hold)
    status = next((m.get("status", 0) for m in held if m["type"] == "http.response.start"), 0)
    if 200 <= status < 300:
        body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
        freeze(state, provider, created_ids(provider, body))
    for message in held:
        await send(message)


def created_ids(provider: str, body: bytes) -> list[str]:
    """The ids a successful create response names.

    >>> created_ids("lambda", b'{"data": {"instance_ids": ["abc"]}}')
    ['abc']
    >>> created_ids("vast", b'{"success": true, "new_contract": 8000123}')
    ['8000123']
    """
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    if provider == "lambda":
        return [str(i) for i in (data.get("data") or {}).get("instance_ids") or []]
    if provider == "vast":
        return [str(data["new_contract"])] if data.get("new_contract") is not None else []
    return [str(data["id"])] if data.get("id") is not None else []


def freeze(state: SandboxState, provider: str, ids: list[str]) -> None:
    """Keep these new pods provisioning: their boot starts :data:`STUCK_FOR_S` from now."""
    later = state.clock.now() + STUCK_FOR_S
    if provider == "runpod":
        from .runpod.world import runpod_world

        pods = runpod_world(state).pods
        for pid in ids:
            if pid in pods:
                pods[pid].boot_at = later
    elif provider == "lambda":
        from .lambda_cloud.api import lambda_world

        instances = lambda_world(state).instances
        for iid in ids:
            if iid in instances:
                instances[iid].phase_at = later
    elif provider == "vast":
        from .vast.api import vast_world

        vast = vast_world(state).instances
        for iid in ids:
            if iid.isdigit() and int(iid) in vast:
                vast[int(iid)].phase_at = later
