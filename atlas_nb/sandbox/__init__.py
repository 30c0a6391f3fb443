"""The sandbox: a faithful local fake of every provider API and of the ``fly`` CLI.

``start()`` serves it on loopback and points atlas_nb at it, so tutorials, the demo and tests
run with no account and no network; ``in_process()`` serves it through an httpx transport
with no sockets at all (for unit tests; streaming endpoints need loopback).

It reproduces the real APIs' quirks, not only their happy paths, so a client that would
misbehave in the cloud fails against it; each fake lists them in its docstring under
"Real-API quirks it reproduces": :mod:`.lambda_cloud.api` (HTTP 400 quota-exceeded, firewall
rulesets and the SSH-only default, tag rules), :mod:`.vast.api` (200 with ``success: false``,
``scheduling``, 410 on a taken offer, external offers, country names in ``geolocation``),
:mod:`.runpod.rest` (capacity in many wordings, 402, SSE-only logs), :mod:`.runpod.runtime`
(GET-only ``/status``/``/stream`` and their 2000 per 10 s limits) and :mod:`.fly.machines`
(no public IP until GraphQL allocates one, ``instance_id`` on ``/wait?state=stopped``).

    >>> import atlas_nb as atlas
    >>> with atlas.sandbox.start(speed=50) as sb:
    ...     sb.origin.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

from .handle import Sandbox, in_process, start

__all__ = ["Sandbox", "in_process", "start"]
