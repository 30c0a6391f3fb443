"""The fake RunPod REST API v2 (``https://api.runpod.io/v2/...``) and legacy GraphQL (``/graphql``).

It speaks the v2 OpenAPI contract: Bearer auth (problem+json 401), request bodies validated like
the spec (schema violations → 422 problem+json with ``errors``, rule violations and capacity
→ 400), wrapped lists, ``RateLimit``/``RateLimit-Policy`` headers on every authenticated
response and 429 with ``Retry-After`` past the quota. Pods move PROVISIONING → STARTING →
RUNNING on the simulated clock (an image containing ``crashloop`` ends in ERROR); terminated
pods disappear; costs accrue into billing; ``/v2/pods/{id}/logs`` is Server-Sent Events with
``id:`` lines and ``Last-Event-ID`` resume, honouring the ``slow_stream``, ``malformed`` and
``drop`` fault knobs. GraphQL answers ``gpuTypes``/``lowestPrice``, ``dataCenters`` and
``podRentInterruptable`` (spot pods), with client errors as HTTP 200 + ``errors``.

One module per resource: :mod:`.pods`, :mod:`.pod_logs`, :mod:`.serverless`,
:mod:`.templates`, :mod:`.network_volumes`, :mod:`.registries`, :mod:`.catalog`,
:mod:`.billing` and :mod:`.graphql_endpoint`; :mod:`.problems`, :mod:`.params` and
:mod:`.wrapper` are what every handler shares, and :mod:`.app` holds the route table and
:func:`build_app`.

Real-API quirks it reproduces (so a client that ignores them fails its tests):

* "no capacity" is a 400 whose ``detail`` is worded in several ways (``CAPACITY_WORDINGS``,
  taken in turn): the spec promises only a human-readable detail, so a client must tell
  capacity from the catalogue (``GET /v2/catalog/gpus/{id}?include=AVAILABILITY``), which
  shows the same stock the scheduler uses;
* a pod the account's balance (``RunPodWorld.balance``) cannot pay for an hour of is refused
  with **402**;
* ``/v2/pods/{id}/logs`` produces ``text/event-stream`` only: a request whose ``Accept``
  excludes it gets **406**.

    >>> import httpx, asyncio
    >>> from atlas_nb.sandbox._state import SandboxState
    >>> state = SandboxState()
    >>> app = build_app(state)
    >>> async def call():
    ...     async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
    ...                                  base_url="http://rp") as client:
    ...         return (await client.get("/v2/pods")).json()
    >>> asyncio.run(call())
    {'title': 'Unauthorized', 'status': 401, 'detail': 'missing bearer token'}
"""

from __future__ import annotations

from .app import build_app
from .problems import error_response, problem

__all__ = ["build_app", "error_response", "problem"]
