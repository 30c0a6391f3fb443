"""Lambda's instance-type catalogue (``GET /instance-types``): GPU types, offers, and the
instance type and region a launch request picks.

Lambda sells whole VMs by instance type (``gpu_8x_h100_sxm5``); the catalogue lists each type
with its price and the regions that have capacity now.

    >>> matching_types({"gpu_1x_a10": {"instance_type": {"price_cents_per_hour": 75}}}, "a10", 2)
    ([], [1])
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ...errors import CapacityError, ValidationError, did_you_mean
from ...gpus import canonical as canonical_gpu
from ...gpus import native_ids, to_canonical
from ...models import ComputeRequest, GpuType
from ..base import OfferRow
from .translate import PROVIDER, parse_type_name

_VRAM = re.compile(r"\((\d+(?:\.\d+)?)\s*GB")


def vram_from_description(text: str | None) -> float | None:
    """``"H100 (80 GB SXM5)"`` → ``80.0``.

    >>> vram_from_description("A10 (24 GB PCIe)")
    24.0
    """
    m = _VRAM.search(text or "")
    return float(m.group(1)) if m else None


def gpu_types_from_catalogue(payload: Mapping[str, Any], now: datetime) -> list[GpuType]:
    """``GET /instance-types`` data → one GpuType per GPU model (price per GPU-hour)."""
    groups: dict[str, list[tuple[int, dict[str, Any], list[str]]]] = {}
    for name, item in payload.items():
        parsed = parse_type_name(name)
        if parsed is None:
            continue
        regions = [r["name"] for r in item.get("regions_with_capacity_available") or []]
        groups.setdefault(parsed[1], []).append((parsed[0], item["instance_type"], regions))
    out = []
    for part, items in groups.items():
        items.sort(key=lambda t: t[0])
        smallest_count, smallest, _ = items[0]
        per_gpu = min(t[1]["price_cents_per_hour"] / 100.0 / t[0] for t in items)
        regions = sorted({r for _, _, rs in items for r in rs})
        specs = smallest.get("specs") or {}
        out.append(
            GpuType(
                provider=PROVIDER,
                gpu=canonical_gpu(part, PROVIDER),
                native_id=part,
                display_name=smallest.get("gpu_description"),
                vram_gb=vram_from_description(smallest.get("gpu_description")),
                max_count=max(t[0] for t in items),
                vcpus=(specs.get("vcpus") or 0) / smallest_count or None,
                ram_gb=(specs.get("memory_gib") or 0) / smallest_count or None,
                price_per_hr=round(per_gpu, 4),
                secure_price_per_hr=round(per_gpu, 4),
                availability="high" if regions else "none",
                regions=regions,
                fetched_at=now,
                raw={"instance_types": [t[1]["name"] for t in items]},
            )
        )
    return out


def offer_rows(payload: Mapping[str, Any], now: datetime) -> list[OfferRow]:
    """One offer per (instance type, region with capacity); prices for the whole instance."""
    rows: list[OfferRow] = []
    for name, item in payload.items():
        parsed = parse_type_name(name)
        if parsed is None:
            continue
        count, part = parsed
        itype = item["instance_type"]
        specs = itype.get("specs") or {}
        price = itype["price_cents_per_hour"] / 100.0
        gpu = canonical_gpu(part, PROVIDER)
        vram = vram_from_description(itype.get("gpu_description"))
        for region in item.get("regions_with_capacity_available") or []:
            rows.append(
                {
                    "provider": PROVIDER,
                    "gpu": gpu,
                    "native_id": part,
                    "gpu_count": count,
                    "vram_gb": vram,
                    "vcpus": float(specs.get("vcpus") or 0) or None,
                    "ram_gb": float(specs.get("memory_gib") or 0) or None,
                    "price_per_hr": price,
                    "spot_price_per_hr": None,
                    "region": region["name"],
                    "availability": "high",
                    "offer_id": f"{name}@{region['name']}",
                    "fetched_at": now,
                }
            )
    return rows


def matching_types(payload: Mapping[str, Any], gpu: str, count: int) -> tuple[list[str], list[int]]:
    """Instance types selling ``count`` x ``gpu`` (cheapest first) and the counts on sale."""
    canonical = to_canonical(gpu)
    parts = set(native_ids(canonical, PROVIDER)) if canonical else set()
    parts.add(gpu.lower())
    found, counts = [], set()
    for name, item in payload.items():
        parsed = parse_type_name(name)
        if parsed is None or parsed[1] not in parts:
            continue
        counts.add(parsed[0])
        if parsed[0] == count:
            found.append((item["instance_type"]["price_cents_per_hour"], name))
    return [name for _, name in sorted(found)], sorted(counts)


def capacity_message(type_name: str, wanted: list[str], free: list[str]) -> str:
    """The CapacityError text: where it was asked for and where there is room now.

    >>> capacity_message("gpu_1x_a10", ["us-east-1"], ["us-west-1"])
    'no capacity for gpu_1x_a10 in region us-east-1; regions with capacity now: us-west-1'
    """
    where = f" in region {', '.join(wanted)}" if wanted else ""
    now = ", ".join(free) if free else "none (try another GPU, count or provider)"
    return f"no capacity for {type_name}{where}; regions with capacity now: {now}"


def regions_with_capacity(catalogue: Mapping[str, Any], type_name: str) -> list[str]:
    """The regions where ``type_name`` can be launched now."""
    item = catalogue.get(type_name, {})
    return [r["name"] for r in item.get("regions_with_capacity_available") or []]


def choose_instance(
    request: ComputeRequest, opts: Mapping[str, Any], catalogue: Mapping[str, Any]
) -> tuple[str, str]:
    """(instance type, region) for a request: the offer, or the cheapest with capacity."""
    wanted = list(request.regions)
    if request.offer_id:
        type_name, _, region = request.offer_id.partition("@")
        if type_name not in catalogue:
            raise ValidationError(
                f"offer {request.offer_id!r} names an instance type Lambda does not sell",
                field="offer_id",
                hint="Take a fresh row from atlas.offers(providers='lambda').",
            )
        candidates = [type_name]
        wanted = [region] if region else wanted
    elif opts.get("instance_type"):
        type_name = str(opts["instance_type"])
        if type_name not in catalogue:
            raise ValidationError(
                f"Lambda has no instance type {type_name!r}.{did_you_mean(type_name, catalogue)}",
                field="provider_opts",
                hint="atlas.gpu_types(provider='lambda') lists what Lambda sells.",
            )
        candidates = [type_name]
    else:
        candidates = _types_for_gpu(request, catalogue)
    for type_name in candidates:
        free = regions_with_capacity(catalogue, type_name)
        usable = [r for r in wanted if r in free] if wanted else free
        if usable:
            return type_name, usable[0]
    type_name = candidates[0]
    free = regions_with_capacity(catalogue, type_name)
    raise CapacityError(capacity_message(type_name, wanted, free), provider=PROVIDER)


def _types_for_gpu(request: ComputeRequest, catalogue: Mapping[str, Any]) -> list[str]:
    """The instance types selling ``request.gpu_count`` x ``request.gpu``, cheapest first."""
    if not request.gpu:
        raise ValidationError(
            "Lambda sells GPU instances only; give gpu=",
            field="gpu",
            hint="atlas.gpu_types(provider='lambda') lists the GPUs.",
        )
    candidates, counts = matching_types(catalogue, request.gpu, request.gpu_count)
    if candidates:
        return candidates
    if counts:
        raise ValidationError(
            f"Lambda has no instance type with {request.gpu_count} x {request.gpu}; "
            f"it sells {', '.join(f'{n}x' for n in counts)}",
            field="gpu_count",
        )
    sold = {canonical_gpu(p[1], PROVIDER) or p[1] for n in catalogue if (p := parse_type_name(n))}
    raise ValidationError(
        f"Lambda does not sell {request.gpu}",
        field="gpu",
        hint=f"Lambda sells: {', '.join(sorted(sold))}. Or use another provider "
        "(atlas.offers(gpu=...) compares them).",
    )
