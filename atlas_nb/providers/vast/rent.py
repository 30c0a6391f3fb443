"""Renting a Vast offer: the search that finds the offer a request rents, and the body of
``PUT /api/v0/asks/{offer}/`` that rents it (no I/O).

Containers run the image's own entrypoint (``runtype="args"``) unless
``provider_opts={"runtype": "ssh"}``; an interruptible rent bids ``provider_opts["bid_price"]``
or the offer's minimum bid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import ValidationError
from ...models import ComputeRequest
from .query import OfferType, build_query
from .translate import env_flags

#: the ``provider_opts`` keys Vast understands
OPTS = (
    "bid_price",
    "runtype",
    "args",
    "onstart",
    "image_login",
    "template_hash_id",
    "min_reliability",
    "verified",
    "countries",
)
DEFAULT_DISK_GB = 16


def offer_type(request: ComputeRequest) -> OfferType:
    """The kind of offer a request rents: interruptible (``"bid"``) for ``spot=True``."""
    return "bid" if request.spot else "on-demand"


def offer_id_query(request: ComputeRequest, disk: int) -> tuple[int, dict[str, Any]]:
    """(offer id, the search for just that offer) for a request naming ``offer_id``."""
    try:
        offer_id = int(request.offer_id or "")
    except ValueError:
        raise ValidationError(
            f"offer_id={request.offer_id!r} is not a Vast offer id (a number)",
            field="offer_id",
        ) from None
    query = build_query(offer_ids=offer_id, verified=None, type=offer_type(request), disk_gb=disk)
    return offer_id, query


def cheapest_offer_query(
    request: ComputeRequest, opts: Mapping[str, Any], disk: int
) -> tuple[dict[str, Any], list[str] | None]:
    """(the search for the cheapest offer matching a request, the countries it asks for)."""
    if not request.gpu:
        raise ValidationError(
            "Vast rents GPU machines; give gpu= (or a row of atlas.offers())",
            field="gpu",
        )
    bad = [r for r in request.regions if not (len(r) == 2 and r.isalpha())]
    if bad:
        raise ValidationError(
            f"regions={request.regions!r}: Vast places offers by country",
            field="regions",
            hint="Use two-letter country codes such as ['US', 'CA'].",
        )
    countries = opts.get("countries") or request.regions or None
    query = build_query(
        gpu=request.gpu,
        num_gpus=request.gpu_count,
        countries=countries,
        min_reliability=opts.get("min_reliability"),
        verified=opts.get("verified", True),
        type=offer_type(request),
        order_by="price",
        limit=1,
        disk_gb=disk,
        extra={"datacenter": {"eq": True}} if request.cloud == "secure" else None,
    )
    return query, (list(countries) if countries else None)


def rent_body(
    request: ComputeRequest,
    opts: Mapping[str, Any],
    offer: Mapping[str, Any],
    disk: int,
    env: Mapping[str, str],
) -> dict[str, Any]:
    """The body that rents ``offer`` for ``request`` (``env`` already holds any auth secret)."""
    body: dict[str, Any] = {
        "image": request.image or "",
        "disk": float(disk),
        "runtype": opts.get("runtype", "args"),
        "target_state": "running",
    }
    if not request.image:
        body.pop("image")
    if request.name:
        body["label"] = request.name
    flags = env_flags(env, [(p.port, p.protocol) for p in request.ports])
    if flags:
        body["env"] = flags
    for key in ("args", "onstart", "image_login", "template_hash_id"):
        if opts.get(key) is not None:
            body[key] = opts[key]
    if request.spot:
        bid = opts.get("bid_price")
        body["price"] = float(bid if bid is not None else offer.get("min_bid") or 0.0)
    return body
