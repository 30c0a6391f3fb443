"""The fake Lambda Cloud's catalogue: instance types, regions and seeded capacity.

Names, descriptions and the price unit (integer US cents per hour) follow Lambda's API; the
prices are illustrative. Capacity is a small count per (instance type, region), drawn from
the sandbox seed: a launch takes one, a termination gives it back.

    >>> cap = initial_capacity(seed=0)
    >>> sum(cap["gpu_1x_h100_sxm5"].values()) > 0, sum(cap["gpu_8x_b200_sxm6"].values())
    (True, 0)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

#: region code -> description (codes from Lambda's PublicRegionCode enum)
REGIONS: dict[str, str] = {
    "us-east-1": "Virginia, USA",
    "us-east-2": "Washington DC, USA",
    "us-west-1": "California, USA",
    "us-west-2": "Arizona, USA",
    "us-west-3": "Utah, USA",
    "us-south-1": "Texas, USA",
    "us-midwest-1": "Illinois, USA",
    "europe-central-1": "Germany",
    "asia-northeast-1": "Tokyo, Japan",
    "asia-south-1": "India",
    "me-west-1": "Israel",
    "australia-east-1": "Australia",
}

#: every region code Lambda's API accepts (spec 1.8.3 ``PublicRegionCode``)
PUBLIC_REGION_CODES = frozenset(
    {
        "europe-central-1",
        "asia-south-1",
        "australia-east-1",
        "me-west-1",
        "asia-northeast-1",
        "asia-northeast-2",
        "us-east-1",
        "us-west-2",
        "us-west-1",
        "us-south-1",
        "us-west-3",
        "us-midwest-1",
        "us-east-2",
        "us-south-2",
        "us-south-3",
        "us-east-3",
        "us-midwest-2",
    }
)


@dataclass(frozen=True)
class InstanceTypeSpec:
    name: str
    gpu_description: str
    price_cents_per_hour: int
    vcpus: int
    memory_gib: int
    storage_gib: int
    gpus: int

    @property
    def description(self) -> str:
        return f"{self.gpus}x {self.gpu_description}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "gpu_description": self.gpu_description,
            "price_cents_per_hour": self.price_cents_per_hour,
            "specs": {
                "vcpus": self.vcpus,
                "memory_gib": self.memory_gib,
                "storage_gib": self.storage_gib,
                "gpus": self.gpus,
            },
        }


def _family(
    part: str, gpu: str, cents: int, vcpus: int, mem: int, disk: int, counts: tuple[int, ...]
) -> list[InstanceTypeSpec]:
    return [
        InstanceTypeSpec(f"gpu_{n}x_{part}", gpu, cents * n, vcpus * n, mem * n, disk * n, n)
        for n in counts
    ]


INSTANCE_TYPES: dict[str, InstanceTypeSpec] = {
    t.name: t
    for t in (
        *_family("a10", "A10 (24 GB PCIe)", 75, 30, 200, 1400, (1,)),
        *_family("rtx6000", "RTX 6000 (24 GB)", 50, 14, 46, 512, (1,)),
        *_family("a6000", "A6000 (48 GB)", 80, 14, 100, 512, (1, 2, 4)),
        *_family("a100_sxm4", "A100 (40 GB SXM4)", 129, 30, 200, 512, (1,)),
        InstanceTypeSpec("gpu_8x_a100", "A100 (40 GB SXM4)", 1032, 124, 1800, 6144, 8),
        *_family("a100_80gb_sxm4", "A100 (80 GB SXM4)", 179, 30, 225, 2432, (8,)),
        *_family("h100_pcie", "H100 (80 GB PCIe)", 249, 26, 200, 1024, (1,)),
        *_family("h100_sxm5", "H100 (80 GB SXM5)", 329, 26, 225, 2816, (1, 2, 4, 8)),
        *_family("gh200", "GH200 (96 GB)", 149, 64, 432, 4096, (1,)),
        *_family("b200_sxm6", "B200 (180 GB SXM6)", 499, 26, 225, 2816, (1, 8)),
        *_family("v100", "Tesla V100 (16 GB)", 55, 11, 56, 729, (8,)),
    )
}

#: types that always have capacity somewhere (so demos and tests can launch them)
ALWAYS_AVAILABLE = ("gpu_1x_a10", "gpu_1x_h100_sxm5", "gpu_1x_a6000")
#: a type with no capacity anywhere (exercises the capacity error)
NEVER_AVAILABLE = ("gpu_8x_b200_sxm6",)


def initial_capacity(seed: int) -> dict[str, dict[str, int]]:
    """Free instances per (type, region), deterministic for a seed."""
    rng = random.Random(seed * 7_919 + 17)
    regions = list(REGIONS)
    out: dict[str, dict[str, int]] = {}
    for name in INSTANCE_TYPES:
        if name in NEVER_AVAILABLE:
            out[name] = {}
            continue
        if name in ALWAYS_AVAILABLE:
            chosen = rng.sample(regions, 3)
            out[name] = {r: rng.randint(4, 8) for r in chosen}
            continue
        chosen = rng.sample(regions, rng.randint(0, 4))
        out[name] = {r: rng.randint(1, 3) for r in chosen}
    return out


def region_json(code: str) -> dict[str, str]:
    return {"name": code, "description": REGIONS.get(code, code)}
