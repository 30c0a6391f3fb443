"""The old home of Vast's offer-search builder, now :mod:`atlas_nb.providers.vast.query`;
its names still import from here."""

from __future__ import annotations

from .vast.query import (
    COUNTRY_CODES,
    MB_PER_GB,
    MB_PER_GB_FILTER,
    OPERATORS,
    ORDER_ALIASES,
    SEARCH_FIELDS,
    OfferType,
    build_query,
    country,
    vast_gpu_names,
)

__all__ = [
    "COUNTRY_CODES",
    "MB_PER_GB",
    "MB_PER_GB_FILTER",
    "OPERATORS",
    "ORDER_ALIASES",
    "SEARCH_FIELDS",
    "OfferType",
    "build_query",
    "country",
    "vast_gpu_names",
]
