"""Providers: one async contract (``Provider``) and the built-in clouds.

The built-in classes load lazily: ``from atlas_nb.providers import RunPodProvider`` imports only
that provider.
"""

from __future__ import annotations

from typing import Any

from .base import CAPABILITIES, CAPABILITY_DOCS, OfferQuery, OfferRow, Provider
from .registry import get_provider, provider_names, resolve_provider_class

_LAZY = {
    "MockProvider": "mock",
    "RunPodProvider": "runpod",
    "LambdaProvider": "lambda",
    "VastProvider": "vast",
    "FlyMachinesProvider": "fly",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return resolve_provider_class(_LAZY[name])
    raise AttributeError(name)


__all__ = [
    "CAPABILITIES",
    "CAPABILITY_DOCS",
    "OfferQuery",
    "OfferRow",
    "Provider",
    "get_provider",
    "provider_names",
    "resolve_provider_class",
    *_LAZY,
]
