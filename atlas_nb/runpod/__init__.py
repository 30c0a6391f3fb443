"""``atlas.runpod``: RunPod account resources, billing and serverless endpoint operations.

Collections (each with ``list()`` → DataFrame, ``get(id)``, ``create(...)``, ``update(id, ...)``,
``delete(id)``): ``endpoints`` (serverless), ``templates``, ``network_volumes``, ``registries``
(container-registry credentials; RunPod cannot update them). Billing as DataFrames:
``billing.pods()``, ``billing.serverless()``, ``billing.network_volumes()``. Endpoint operations:
``health(endpoint)``, ``purge_queue(endpoint)``; pods: ``update_pod(id, **fields)``.
Every function blocks; ``atlas_nb.runpod.aio`` has the same names as coroutines.

    >>> import atlas_nb as atlas
    >>> with atlas.sandbox.start(speed=100) as sb:
    ...     vol = atlas.runpod.network_volumes.create(name="data", size=20, dataCenter="EU-RO-1")
    ...     sizes = atlas.runpod.network_volumes.list()["size_gb"].tolist()
    ...     atlas.runpod.network_volumes.delete(vol["id"])
    ...     health = atlas.runpod.health(sb.runpod_endpoint_id)
    >>> sizes, sorted(health)
    ([20], ['jobs', 'workers'])
"""

from __future__ import annotations

from .._runtime import syncify
from . import aio
from .aio import AsyncBilling, AsyncCollection


class Collection:
    """The blocking face of an :class:`AsyncCollection` (same methods and arguments)."""

    def __init__(self, aio: AsyncCollection) -> None:
        self.aio = aio
        self.list = syncify(aio.list)
        self.get = syncify(aio.get)
        self.create = syncify(aio.create)
        self.update = syncify(aio.update)
        self.delete = syncify(aio.delete)

    def __repr__(self) -> str:
        return f"<atlas.runpod.{self.aio.kind}: list() get() create() update() delete()>"


class Billing:
    """The blocking face of :class:`AsyncBilling`."""

    def __init__(self, aio: AsyncBilling) -> None:
        self.aio = aio
        self.pods = syncify(aio.pods)
        self.serverless = syncify(aio.serverless)
        self.network_volumes = syncify(aio.network_volumes)


endpoints = Collection(aio.endpoints)
templates = Collection(aio.templates)
network_volumes = Collection(aio.network_volumes)
registries = Collection(aio.registries)
billing = Billing(aio.billing)
health = syncify(aio.health)
purge_queue = syncify(aio.purge_queue)
update_pod = syncify(aio.update_pod)

__all__ = [
    "aio",
    "billing",
    "endpoints",
    "health",
    "network_volumes",
    "purge_queue",
    "registries",
    "templates",
    "update_pod",
]
