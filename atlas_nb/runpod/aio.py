"""``atlas_nb.runpod.aio``: the async twins of :mod:`atlas_nb.runpod` (same names, awaitable).

>>> import asyncio
>>> import atlas_nb.runpod.aio as runpod_aio
>>> sorted(n for n in runpod_aio.__all__ if not n[0].isupper())[:4]
['billing', 'endpoints', 'health', 'network_volumes']
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._runtime import on_runtime
from ..models import Compute
from ..providers.registry import get_provider

if TYPE_CHECKING:
    import pandas as pd
else:
    from .._lazy import pandas as pd

T = TypeVar("T")


@on_runtime
async def _call(fn: Callable[[Any], Awaitable[T]], api_key: str | None) -> T:
    return await fn(get_provider("runpod", api_key=api_key))


def _merge(body: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {**dict(body or {}), **fields}


class AsyncCollection:
    """One RunPod resource collection, async (``await aio.templates.list()``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    async def list(self, *, api_key: str | None = None) -> pd.DataFrame:
        """Every item as a DataFrame (the raw v2 objects are in ``df.attrs["raw"]``)."""
        return await _call(lambda p: p.resource_list(self.kind), api_key)

    async def get(self, resource_id: str, *, api_key: str | None = None) -> dict[str, Any]:
        """One item as RunPod returns it."""
        return await _call(lambda p: p.resource_get(self.kind, resource_id), api_key)

    async def create(
        self, body: Mapping[str, Any] | None = None, /, *, api_key: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Create an item from a v2 create body and/or its fields as keywords."""
        data = _merge(body, fields)
        return await _call(lambda p: p.resource_create(self.kind, data), api_key)

    async def update(
        self,
        resource_id: str,
        body: Mapping[str, Any] | None = None,
        /,
        *,
        api_key: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Change the given fields (PATCH semantics) and return the updated item."""
        data = _merge(body, fields)
        return await _call(lambda p: p.resource_update(self.kind, resource_id, data), api_key)

    async def delete(self, resource_id: str, *, api_key: str | None = None) -> None:
        """Delete an item."""
        await _call(lambda p: p.resource_delete(self.kind, resource_id), api_key)


class AsyncBilling:
    """Billing over a time range, bucketed (``bucket``: hour, day, week, month, year)."""

    async def pods(
        self,
        *,
        start: Any = None,
        end: Any = None,
        bucket: str = "day",
        last: int | None = None,
        pod_id: str | None = None,
        api_key: str | None = None,
    ) -> pd.DataFrame:
        """Pod spend: columns time, end_time, pod_id, amount_usd, gpu_usd, cpu_usd, disk_usd."""
        q = {"start": start, "end": end, "bucket": bucket, "last": last, "resource_id": pod_id}
        return await _call(lambda p: p.billing("pods", **q), api_key)

    async def serverless(
        self,
        *,
        start: Any = None,
        end: Any = None,
        bucket: str = "day",
        last: int | None = None,
        endpoint: str | None = None,
        api_key: str | None = None,
    ) -> pd.DataFrame:
        """Serverless spend per endpoint: time, end_time, endpoint_id, amount_usd, ..."""
        q = {"start": start, "end": end, "bucket": bucket, "last": last, "resource_id": endpoint}
        return await _call(lambda p: p.billing("serverless", **q), api_key)

    async def network_volumes(
        self,
        *,
        start: Any = None,
        end: Any = None,
        bucket: str = "day",
        last: int | None = None,
        volume_id: str | None = None,
        api_key: str | None = None,
    ) -> pd.DataFrame:
        """Network volume spend: time, end_time, network_volume_id, amount_usd, ..."""
        q = {"start": start, "end": end, "bucket": bucket, "last": last, "resource_id": volume_id}
        return await _call(lambda p: p.billing("network_volumes", **q), api_key)


async def health(endpoint: str, *, api_key: str | None = None) -> dict[str, Any]:
    """An endpoint's job counts (completed, failed, inProgress, inQueue, retried) and workers."""
    return await _call(lambda p: p.health(endpoint), api_key)


async def purge_queue(endpoint: str, *, api_key: str | None = None) -> dict[str, Any]:
    """Remove the endpoint's queued (not yet running) jobs; ``{"removed": n, ...}``."""
    return await _call(lambda p: p.purge_queue(endpoint), api_key)


async def update_pod(compute_id: str, *, api_key: str | None = None, **fields: Any) -> Compute:
    """Change a pod: name, image, env, ports, disk_gb, locked, global_networking, ..."""
    return await _call(lambda p: p.update(compute_id, **fields), api_key)


endpoints = AsyncCollection("endpoints")
templates = AsyncCollection("templates")
network_volumes = AsyncCollection("network_volumes")
registries = AsyncCollection("registries")
billing = AsyncBilling()

__all__ = [
    "AsyncBilling",
    "AsyncCollection",
    "billing",
    "endpoints",
    "health",
    "network_volumes",
    "purge_queue",
    "registries",
    "templates",
    "update_pod",
]
