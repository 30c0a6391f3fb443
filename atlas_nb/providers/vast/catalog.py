"""Vast offers as atlas_nb rows: offers-frame rows (prices for the whole offer per hour) and
one :class:`~atlas_nb.models.GpuType` per GPU (cheapest per-GPU prices).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from ...models import GpuType
from ..base import OfferRow
from .query import MB_PER_GB, country
from .translate import PROVIDER, canonical_gpu, mb_to_gb


def offer_prices(offer: Mapping[str, Any], *, bid: bool) -> tuple[float | None, float | None]:
    """(on-demand $/h, interruptible $/h) of an offer from a search of the given type.

    ``dph_total`` is the price of the searched type (on-demand or the minimum bid) including
    storage; the other type's price swaps the GPU part (``dph_base`` vs ``min_bid``).

    >>> offer_prices({"dph_total": 0.52, "dph_base": 0.5, "min_bid": 0.2}, bid=False)
    (0.52, 0.22)
    >>> offer_prices({"dph_total": 0.22, "dph_base": 0.5, "min_bid": 0.2}, bid=True)
    (0.52, 0.22)
    """
    total = offer.get("dph_total")
    base, min_bid = offer.get("dph_base"), offer.get("min_bid")
    if total is None:
        return None, None
    if bid:
        extra = total - min_bid if min_bid is not None else 0.0
        return (round(base + extra, 6) if base is not None else None), round(total, 6)
    extra = total - base if base is not None else 0.0
    return round(total, 6), (round(min_bid + extra, 6) if min_bid is not None else None)


@functools.lru_cache(maxsize=1024)
def _country(geolocation: str | None) -> str | None:
    return country(geolocation)


def offer_row(offer: Mapping[str, Any], *, bid: bool, now: datetime) -> OfferRow:
    """A Vast offer as an offers-frame row (prices for the whole offer per hour)."""
    return offer_rows([offer], bid=bid, now=now)[0]


def offer_rows(offers: Iterable[Mapping[str, Any]], *, bid: bool, now: datetime) -> list[OfferRow]:
    """:func:`offer_row` for many offers (a tight loop: 10k offers are common)."""
    canonical, where, prices = canonical_gpu, _country, offer_prices
    rows = []
    for o in offers:
        price, spot = prices(o, bid=bid)
        ram, cpu_ram, name = o.get("gpu_ram"), o.get("cpu_ram"), o.get("gpu_name") or ""
        vram = None if ram is None else round(ram / MB_PER_GB, 1)
        rows.append(
            {
                "provider": PROVIDER,
                "gpu": canonical(name, vram),
                "native_id": name,
                "gpu_count": o.get("num_gpus"),
                "vram_gb": vram,
                "vcpus": o.get("cpu_cores_effective"),
                "ram_gb": None if cpu_ram is None else round(cpu_ram / MB_PER_GB, 1),
                "price_per_hr": price,
                "spot_price_per_hr": spot,
                "region": where(o.get("geolocation")),
                "availability": "high",
                "offer_id": str(o["id"]),
                "fetched_at": now,
            }
        )
    return rows


def gpu_types_from_offers(offers: Iterable[Mapping[str, Any]], now: datetime) -> list[GpuType]:
    """Offers → one GpuType per GPU (cheapest per-GPU prices; availability by offer count)."""
    groups: dict[tuple[str, str | None], list[Mapping[str, Any]]] = {}
    for o in offers:
        vram = mb_to_gb(o.get("gpu_ram"))
        name = o.get("gpu_name") or ""
        groups.setdefault((name, canonical_gpu(name, vram)), []).append(o)
    out = []
    for (name, gpu), items in groups.items():
        per_gpu = []
        spot_per_gpu = []
        for o in items:
            price, spot = offer_prices(o, bid=False)
            n = o.get("num_gpus") or 1
            if price is not None:
                per_gpu.append(price / n)
            if spot is not None:
                spot_per_gpu.append(spot / n)
        n_offers = len(items)
        first = items[0]
        out.append(
            GpuType(
                provider=PROVIDER,
                gpu=gpu,
                native_id=name,
                display_name=name,
                vram_gb=mb_to_gb(first.get("gpu_ram")),
                max_count=max(int(o.get("num_gpus") or 1) for o in items),
                price_per_hr=round(min(per_gpu), 4) if per_gpu else None,
                spot_price_per_hr=round(min(spot_per_gpu), 4) if spot_per_gpu else None,
                community_price_per_hr=round(min(per_gpu), 4) if per_gpu else None,
                availability="high" if n_offers >= 20 else "medium" if n_offers >= 5 else "low",
                regions=sorted({c for o in items if (c := country(o.get("geolocation")))}),
                fetched_at=now,
                raw={"offers": n_offers},
            )
        )
    return out
