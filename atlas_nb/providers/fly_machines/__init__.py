"""Fly.io Machines (``https://api.machines.dev/v1``): CPU machines in your Fly apps.

Fly.io stopped offering GPUs in 2026 (its Machines API rejects GPU guests), so this provider
spawns CPU machines only; ask for a GPU and you get ``UnsupportedError`` naming providers
that sell them. A machine lives in an app: ``provider_opts={"app": "my-app"}``, else the
``fly_app`` setting. Compute ids are ``"<app>/<machine id>"`` (a bare machine id works when
``fly_app`` is set, or is looked up in your organisation's apps).

The token is the ``fly`` API key (``FLY_API_TOKEN``): macaroon tokens (``fm1r_``, ``fm1a_``,
``fm2_``) are sent as ``FlyV1 <token>``, others as ``Bearer <token>``.

``provider_opts`` keys: ``app``; the guest as ``guest`` (dict) or ``cpu_kind``, ``cpus``,
``memory_mb``, or a ``size`` preset (``shared-cpu-2x``, ``performance-4x``, ...); ``region``;
``services`` (default: one per port: http ports on 443/80 with TLS, tcp ports as-is);
``auto_destroy``; ``restart`` (``"no"``, ``"always"``, ``"on-failure"`` or a dict);
``metadata``, ``init``, ``mounts``, ``checks``, ``files``, ``stop_config``, ``schedule``,
``dns``, ``skip_launch``.

The Machines API allocates no public address, so ``<app>.fly.dev`` answers only once the app
has IPs. A spawn that publishes ports (or gives ``services``) therefore makes sure the app has
a shared Anycast IPv4 and an IPv6, allocating what is missing through Fly's GraphQL API
(``allocateIpAddress``, as ``fly ips allocate-v4 --shared`` / ``allocate-v6`` do) before it
creates the machine; if Fly refuses, nothing is created and the error says how to allocate
them by hand. The compute's ``public_ip`` is the app's shared IPv4.

App names and machine ids are checked before they go into a URL (and escaped).

``cost_per_hr`` is estimated from Fly's list prices (per vCPU-hour: shared $0.00095,
performance $0.0287; $0.00687 per GB-hour of memory); stopped machines cost 0.

    >>> fly_authorization("fm2_abc"), fly_authorization("personal-token")
    ('FlyV1 fm2_abc', 'Bearer personal-token')

One concept per module: ``provider`` (the provider: requests to machine configs, machines to
computes, public IPs) and ``aio`` (the awaitable extras: ``await fly_machines.aio.wait(id)``).
"""

from __future__ import annotations

from ..._deprecated import moved_to_aio
from ..._runtime import syncify
from . import aio
from .provider import (
    FlyMachinesProvider,
    fly_authorization,
    fly_status,
    guest_from_opts,
    guest_price,
    machine_body,
    machine_checks,
    machine_fields,
    machine_ports,
    machines_path,
    services_for,
)

wait = syncify(aio.wait)

#: deprecated (removed in the next release): the awaitable twin is ``aio.wait``
wait_async = moved_to_aio(aio, "wait")

__all__ = [
    "FlyMachinesProvider",
    "aio",
    "fly_authorization",
    "fly_status",
    "guest_from_opts",
    "guest_price",
    "machine_body",
    "machine_checks",
    "machine_fields",
    "machine_ports",
    "machines_path",
    "services_for",
    "wait",
    "wait_async",
]
