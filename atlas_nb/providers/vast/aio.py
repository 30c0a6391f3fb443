"""``atlas_nb.providers.vast.aio``: Vast's offer search and instance labels, awaitable.

The blocking twins, with the same names, are in :mod:`atlas_nb.providers.vast`; the old
``vast.search_offers_async`` / ``vast.label_async`` still work for one release and warn
(DeprecationWarning).

    >>> __all__
    ['label', 'search_offers']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..._runtime import on_runtime
from ...models import Compute
from .._parse import reading
from ..registry import typed_provider
from .catalog import offer_rows
from .provider import VastProvider
from .query import OfferType, build_query
from .translate import PROVIDER


@on_runtime
async def search_offers(
    *,
    gpu: str | Iterable[str] | None = None,
    num_gpus: int | Iterable[int] | None = None,
    min_vram_gb: float | None = None,
    max_price_per_hr: float | None = None,
    min_reliability: float | None = None,
    countries: str | Iterable[str] | None = None,
    verified: bool | None = True,
    type: OfferType = "on-demand",
    order_by: str | Iterable[str] = "price",
    limit: int | None = 100,
    disk_gb: float | None = None,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    raw: bool = False,
    api_key: str | None = None,
) -> Any:
    """Search Vast offers with Python filters; an offers frame (``raw=True``: Vast's dicts).

    Rows keep Vast's order (``order_by``); ``atlas.spawn(df.iloc[i], image=...)`` rents one.
    """
    q = build_query(
        gpu=gpu,
        num_gpus=num_gpus,
        min_vram_gb=min_vram_gb,
        max_price_per_hr=max_price_per_hr,
        min_reliability=min_reliability,
        countries=countries,
        verified=verified,
        type=type,
        order_by=order_by,
        limit=limit,
        disk_gb=disk_gb,
        extra=extra,
    )
    offers = await typed_provider(VastProvider, api_key).search(q)
    if raw:
        return offers
    from ...frames import OFFER_COLUMNS, frame

    now = datetime.now(UTC)
    with reading(PROVIDER, "the offer search", offers):
        df = frame(offer_rows(offers, bid=type == "bid", now=now), OFFER_COLUMNS)
        df["price_per_gpu_hr"] = (df["price_per_hr"] / df["gpu_count"]).astype("Float64")
    return df


@on_runtime
async def label(compute_id: str, text: str, *, api_key: str | None = None) -> Compute:
    """Set a Vast instance's label."""
    return await typed_provider(VastProvider, api_key).set_label(compute_id, text)


__all__ = ["label", "search_offers"]
