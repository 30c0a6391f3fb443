"""RunPod's GPU catalogue and offers: REST v2 ``/v2/catalog/gpus`` (prices, VRAM, max count,
availability, data centers), with GraphQL ``gpuTypes``/``lowestPrice`` filling only what v2
lacks (spot / minimum-bid prices).

    >>> row = {"id": "NVIDIA L4", "name": "L4", "memory": 24, "secure": True,
    ...        "community": True, "price": {"secure": 0.43, "community": 0.28},
    ...        "maxCount": {"secure": 8, "community": 8}, "availability": "HIGH",
    ...        "dataCenters": [{"id": "US-CA-2", "name": "x", "availability": "HIGH"}]}
    >>> from datetime import UTC, datetime
    >>> gt = gpu_type(row, {"secure": 0.24, "community": 0.14}, datetime(2026, 1, 1, tzinfo=UTC))
    >>> gt.gpu, gt.price_per_hr, gt.spot_price_per_hr, gt.availability, gt.regions
    ('l4', 0.43, 0.14, 'high', ['US-CA-2'])
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ...models import Availability, GpuType
from ...transport.http import HttpApi
from ..base import OfferQuery, OfferRow
from . import graphql as gql
from .translate import PROVIDER, canonical_gpu, encode_offer_id

log = logging.getLogger("atlas_nb.runpod.catalog")

_LEVELS: dict[str, Availability] = {
    "HIGH": "high",
    "MEDIUM": "medium",
    "LOW": "low",
    "NONE": "none",
}
CLOUDS = ("SECURE", "COMMUNITY")


def availability(value: Any) -> Availability:
    """v2 ``AvailabilityLevel`` (or GraphQL ``stockStatus``) → atlas_nb's availability."""
    return _LEVELS.get(str(value or "").upper(), "unknown")


async def fetch_gpus(
    rest: HttpApi, *, cloud: str = "SECURE", count: int = 1
) -> list[dict[str, Any]]:
    """``GET /v2/catalog/gpus`` with pod availability for ``count`` GPUs on ``cloud``."""
    body = await rest.json(
        "GET",
        "/v2/catalog/gpus",
        params={"include": "AVAILABILITY", "product": "POD", "cloud": cloud, "count": count},
    )
    rows = body.get("gpus") if isinstance(body, Mapping) else None
    return [dict(r) for r in rows or [] if isinstance(r, Mapping) and r.get("id")]


async def fetch_spot_prices(
    graphql: gql.GraphQLClient, count: int = 1
) -> dict[str, dict[str, float]]:
    """GPU id → {"secure", "community", "minimum"} spot prices per GPU-hour (GraphQL)."""
    data = await graphql.execute(gql.GPU_PRICES, {"lowest": {"gpuCount": count}})
    out: dict[str, dict[str, float]] = {}
    for row in data.get("gpuTypes") or []:
        if not isinstance(row, Mapping) or not row.get("id"):
            continue
        prices = {}
        for key, name in (("secureSpotPrice", "secure"), ("communitySpotPrice", "community")):
            if isinstance(row.get(key), (int, float)):
                prices[name] = float(row[key])
        bid = (row.get("lowestPrice") or {}).get("minimumBidPrice")
        if isinstance(bid, (int, float)):
            prices["minimum"] = float(bid)
        out[str(row["id"])] = prices
    return out


async def spot_prices_or_empty(
    graphql: gql.GraphQLClient, count: int = 1
) -> tuple[dict[str, dict[str, float]], str | None]:
    """Spot prices, or ({}, reason) when GraphQL fails: v2 data still answers."""
    try:
        return await fetch_spot_prices(graphql, count), None
    except Exception as exc:  # spot prices are an extra; the catalogue must not fail on them
        log.warning("RunPod spot prices unavailable: %s", exc)
        return {}, str(exc)


def _price(row: Mapping[str, Any], cloud: str) -> float | None:
    if not row.get(cloud.lower()):
        return None
    value = (row.get("price") or {}).get(cloud.lower())
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def gpu_type(row: Mapping[str, Any], spot: Mapping[str, float], fetched_at: datetime) -> GpuType:
    """One v2 catalogue row (+ its GraphQL spot prices) → :class:`GpuType`."""
    secure, community = _price(row, "SECURE"), _price(row, "COMMUNITY")
    spot_values = [spot[k] for k in ("secure", "community") if spot.get(k)]
    if not spot_values and spot.get("minimum"):
        spot_values = [spot["minimum"]]
    price = row.get("price") or {}
    max_count = row.get("maxCount") or {}
    vram = row.get("memory")
    return GpuType(
        provider=PROVIDER,
        gpu=canonical_gpu(str(row["id"]), vram),
        native_id=str(row["id"]),
        display_name=row.get("name"),
        vram_gb=float(vram) if isinstance(vram, (int, float)) else None,
        max_count=max([int(v) for v in max_count.values() if isinstance(v, int)] or [0]) or None,
        price_per_hr=secure if secure is not None else community,
        spot_price_per_hr=min(spot_values) if spot_values else None,
        secure_price_per_hr=secure,
        community_price_per_hr=community,
        serverless_price_per_hr=price.get("serverless"),
        availability=availability(row.get("availability")),
        regions=[str(dc["id"]) for dc in row.get("dataCenters") or [] if dc.get("id")],
        fetched_at=fetched_at,
        raw={"catalog": dict(row), "spot": dict(spot)},
    )


def merge_clouds(
    secure: list[dict[str, Any]], community: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per GPU with the better availability of the two clouds and all data centers.

    >>> merge_clouds([{"id": "g", "availability": "NONE"}],
    ...              [{"id": "g", "availability": "LOW", "dataCenters": [{"id": "X"}]}])
    [{'id': 'g', 'availability': 'LOW', 'dataCenters': [{'id': 'X'}]}]
    """
    order = ["NONE", "LOW", "MEDIUM", "HIGH"]
    merged: dict[str, dict[str, Any]] = {}
    for row in [*secure, *community]:
        have = merged.get(row["id"])
        if have is None:
            merged[row["id"]] = dict(row)
            continue
        a, b = str(have.get("availability", "NONE")), str(row.get("availability", "NONE"))
        if a in order and b in order and order.index(b) > order.index(a):
            have["availability"] = b
        seen = {dc.get("id") for dc in have.get("dataCenters") or []}
        extra = [dc for dc in row.get("dataCenters") or [] if dc.get("id") not in seen]
        if extra:
            have["dataCenters"] = [*(have.get("dataCenters") or []), *extra]
    return list(merged.values())


async def gpu_types(rest: HttpApi, graphql: gql.GraphQLClient, now: datetime) -> list[GpuType]:
    """The whole catalogue, one :class:`GpuType` per GPU (availability: the better cloud)."""
    secure, community, (spot, _err) = await asyncio.gather(
        fetch_gpus(rest, cloud="SECURE"),
        fetch_gpus(rest, cloud="COMMUNITY"),
        spot_prices_or_empty(graphql),
    )
    rows = merge_clouds(secure, community)
    return [gpu_type(r, spot.get(str(r["id"]), {}), now) for r in rows]


def offer_rows(
    by_cloud: Mapping[str, list[dict[str, Any]]],
    spot: Mapping[str, Mapping[str, float]],
    query: Mapping[str, Any],
    fetched_at: datetime,
) -> list[OfferRow]:
    """Offers: one row per GPU type x cloud (on-demand, or spot when ``query["spot"]``) that
    has a price and stock for ``query["count"]`` GPUs; with ``regions``, one per region.
    """
    count = int(query.get("count") or 1)
    want_spot = bool(query.get("spot"))
    regions = list(query.get("regions") or [])
    out: list[OfferRow] = []
    for cloud in CLOUDS:
        for row in by_cloud.get(cloud, []):
            gpu_id = str(row["id"])
            on_demand = _price(row, cloud)
            spot_price = spot.get(gpu_id, {}).get(cloud.lower())
            level = availability(row.get("availability"))
            if on_demand is None or level == "none":
                continue
            if want_spot and spot_price is None:
                continue
            if int((row.get("maxCount") or {}).get(cloud.lower()) or 0) < count:
                continue
            dcs = [str(dc["id"]) for dc in row.get("dataCenters") or [] if dc.get("id")]
            places: list[str | None] = [r for r in regions if r in dcs] if regions else [None]
            vram = row.get("memory")
            for dc in places:
                out.append(
                    {
                        "provider": PROVIDER,
                        "gpu": canonical_gpu(gpu_id, vram),
                        "native_id": gpu_id,
                        "gpu_count": count,
                        "vram_gb": float(vram) if isinstance(vram, (int, float)) else None,
                        "vcpus": None,
                        "ram_gb": None,
                        "price_per_hr": round(on_demand * count, 4),
                        "spot_price_per_hr": round(spot_price * count, 4)
                        if spot_price is not None
                        else None,
                        "region": dc,
                        "availability": level,
                        "offer_id": encode_offer_id(
                            gpu_id, cloud, spot=want_spot, count=count, data_center=dc
                        ),
                        "fetched_at": fetched_at,
                    }
                )
    return out


async def offers(
    rest: HttpApi, graphql: gql.GraphQLClient, query: OfferQuery, now: datetime
) -> list[OfferRow]:
    """Live offers for ``query`` (availability per cloud for the asked GPU count)."""
    count = int(query.get("count") or 1)
    secure, community, (spot, _err) = await asyncio.gather(
        fetch_gpus(rest, cloud="SECURE", count=count),
        fetch_gpus(rest, cloud="COMMUNITY", count=count),
        spot_prices_or_empty(graphql, count),
    )
    return offer_rows({"SECURE": secure, "COMMUNITY": community}, spot, query, now)
