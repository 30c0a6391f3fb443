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

This module holds what every cloud shares; each cloud's fake says in a :class:`LaunchFaults`
how it words a refusal and where its world keeps the pods a create makes (RunPod:
``runpod/rest/launch_faults.py``; Lambda and Vast: in their ``api`` modules), and hands it to
its :class:`~atlas_nb.sandbox._http.FaultMiddleware`.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from ._asgi import ASGIApp, Message, Receive, Scope, Send, json_response, relative_path
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


class LaunchFaults(Protocol):
    """One cloud's side of the launch faults."""

    def refusal(self, kind: str, path: str) -> tuple[int, dict[str, Any]]:
        """(status, body) of a create refused for ``kind`` (one of :data:`REFUSALS`), as the
        cloud's API words it."""
        ...

    def sell_out(self, state: SandboxState, kind: str, path: str, body: bytes) -> None:
        """Make the world agree with a refusal of the create ``body`` sent to ``path``."""
        ...

    def created_ids(self, body: bytes) -> list[str]:
        """The ids a successful create response names."""
        ...

    def freeze(self, state: SandboxState, ids: list[str], until: float) -> None:
        """Keep these new pods provisioning until the simulated time ``until``."""
        ...


def check_refusal(kind: str) -> None:
    if kind not in REFUSALS:
        raise ValueError(f"refuse={kind!r}: use one of {REFUSALS}")


async def serve_launch_fault(
    rule: FaultRule,
    state: SandboxState,
    cloud: LaunchFaults,
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Answer one create under a ``refuse``/``stuck`` rule."""
    if rule.error_rate and not state.faults.roll(rule.error_rate):
        await app(scope, receive, send)
        return
    if rule.refuse:
        check_refusal(rule.refuse)
        path = relative_path(scope)
        cloud.sell_out(state, rule.refuse, path, await _body(receive))
        status, body = cloud.refusal(rule.refuse, path)
        await json_response(body, status)(scope, receive, send)
        return
    await _create_then_freeze(state, cloud, app, scope, receive, send)


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


async def _create_then_freeze(
    state: SandboxState,
    cloud: LaunchFaults,
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    # hold the response until the new pod is frozen, so no read can see it boot
    held: list[Message] = []

    async def hold(message: Message) -> None:
        held.append(message)

    await app(scope, receive, hold)
    status = next((m.get("status", 0) for m in held if m["type"] == "http.response.start"), 0)
    if 200 <= status < 300:
        body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
        cloud.freeze(state, cloud.created_ids(body), state.clock.now() + STUCK_FOR_S)
    for message in held:
        await send(message)


def json_object(body: bytes) -> dict[str, Any]:
    """A request or response body as a JSON object ({} when it is not one).

    >>> json_object(b'{"id": "p1"}'), json_object(b"[1]"), json_object(b"not json")
    ({'id': 'p1'}, {}, {})
    """
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
