"""GPU types (a provider's catalogue) and offers (something you can rent right now)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from ._base import Model

Availability = Literal["high", "medium", "low", "none", "unknown"]


class GpuType(Model):
    """One GPU model as a provider sells it. Prices are USD per GPU per hour."""

    provider: str
    gpu: str | None = Field(description="canonical name, when catalogued")
    native_id: str
    display_name: str | None = None
    vram_gb: float | None = None
    max_count: int | None = None
    vcpus: float | None = None
    ram_gb: float | None = None
    price_per_hr: float | None = None
    spot_price_per_hr: float | None = None
    secure_price_per_hr: float | None = None
    community_price_per_hr: float | None = None
    serverless_price_per_hr: float | None = None
    availability: Availability = "unknown"
    regions: list[str] = Field(default_factory=list)
    fetched_at: datetime
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class Offer(Model):
    """A rentable configuration: ``gpu_count`` GPUs for ``price_per_hr`` (the whole machine)."""

    provider: str
    gpu: str | None = None
    native_id: str | None = None
    gpu_count: int = 1
    vram_gb: float | None = None
    vcpus: float | None = None
    ram_gb: float | None = None
    price_per_hr: float | None = None
    spot_price_per_hr: float | None = None
    region: str | None = None
    availability: Availability = "unknown"
    offer_id: str | None = None
    fetched_at: datetime
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)
