"""The fake RunPod catalogue: GPU types with prices and stock, CPU flavours and data centers.

Prices are USD per GPU per hour (invented but in the right range). ``stock`` is the pod
availability per cloud; ``NONE`` means a create on that cloud fails for capacity.

    >>> GPUS["NVIDIA GeForce RTX 4090"].price["secure"]
    0.69
    >>> sorted(DATA_CENTERS)[:2]
    ['AP-JP-1', 'CA-MTL-1']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FakeGpu:
    id: str
    name: str
    memory: int
    pool: str | None
    price: dict[str, float]  # secure, community, serverless (absent when no pool)
    spot: dict[str, float]  # secure, community (minimum bid per GPU-hour)
    max_count: dict[str, int]  # secure, community
    stock: dict[str, str]  # SECURE/COMMUNITY -> HIGH|MEDIUM|LOW|NONE
    data_centers: tuple[str, ...]
    manufacturer: str = "NVIDIA"
    cuda: tuple[str, ...] = ("12.4", "12.6", "12.8")
    cuda_cores: int = 0

    @property
    def secure(self) -> bool:
        return self.max_count["secure"] > 0

    @property
    def community(self) -> bool:
        return self.max_count["community"] > 0


def _gpu(
    gid: str,
    name: str,
    memory: int,
    pool: str | None,
    secure: float,
    community: float,
    serverless: float | None,
    *,
    max_secure: int = 8,
    max_community: int = 8,
    stock: tuple[str, str] = ("HIGH", "HIGH"),
    dcs: tuple[str, ...] = ("US-TX-3", "US-KS-2", "EU-RO-1"),
    manufacturer: str = "NVIDIA",
    cores: int = 0,
) -> FakeGpu:
    price = {"secure": secure, "community": community}
    if serverless is not None:
        price["serverless"] = serverless
    return FakeGpu(
        id=gid,
        name=name,
        memory=memory,
        pool=pool,
        price=price,
        spot={"secure": round(secure * 0.55, 2), "community": round(community * 0.5, 2)},
        max_count={"secure": max_secure, "community": max_community},
        stock={"SECURE": stock[0], "COMMUNITY": stock[1]},
        data_centers=dcs,
        manufacturer=manufacturer,
        cuda_cores=cores,
    )


_LIST = (
    _gpu(
        "NVIDIA B200",
        "B200",
        180,
        "BLACKWELL_180",
        5.99,
        0.0,
        8.64,
        max_community=0,
        stock=("LOW", "NONE"),
        dcs=("US-KS-2",),
    ),
    _gpu(
        "NVIDIA H200",
        "H200 SXM",
        141,
        "HOPPER_141",
        3.99,
        3.59,
        5.58,
        stock=("MEDIUM", "LOW"),
        dcs=("US-KS-2", "EU-SE-1"),
    ),
    _gpu(
        "NVIDIA H100 80GB HBM3",
        "H100 SXM",
        80,
        "HOPPER_80",
        2.99,
        2.69,
        4.18,
        stock=("HIGH", "MEDIUM"),
        dcs=("US-TX-3", "US-KS-2", "EU-RO-1", "CA-MTL-1"),
        cores=16896,
    ),
    _gpu(
        "NVIDIA H100 PCIe",
        "H100 PCIe",
        80,
        "HOPPER_80",
        2.39,
        1.99,
        4.18,
        stock=("MEDIUM", "HIGH"),
        dcs=("US-TX-3", "EU-RO-1"),
        cores=14592,
    ),
    _gpu(
        "NVIDIA A100-SXM4-80GB",
        "A100 SXM",
        80,
        "AMPERE_80",
        1.89,
        1.39,
        2.72,
        dcs=("US-TX-3", "EU-RO-1", "CA-MTL-1"),
        cores=6912,
    ),
    _gpu(
        "NVIDIA A100 80GB PCIe",
        "A100 PCIe",
        80,
        "AMPERE_80",
        1.64,
        1.19,
        2.72,
        stock=("MEDIUM", "HIGH"),
        cores=6912,
    ),
    _gpu("NVIDIA L40S", "L40S", 48, "ADA_48_PRO", 0.86, 0.79, 1.33, cores=18176),
    _gpu("NVIDIA RTX A6000", "RTX A6000", 48, "AMPERE_48", 0.49, 0.33, 0.85, cores=10752),
    _gpu(
        "NVIDIA A40",
        "A40",
        48,
        "AMPERE_48",
        0.44,
        0.35,
        0.85,
        max_community=0,
        stock=("HIGH", "NONE"),
        dcs=("EU-SE-1",),
        cores=10752,
    ),
    _gpu(
        "NVIDIA GeForce RTX 5090",
        "RTX 5090",
        32,
        "ADA_32_PRO",
        0.94,
        0.69,
        1.58,
        stock=("LOW", "HIGH"),
        dcs=("EU-RO-1", "CA-MTL-1"),
    ),
    _gpu(
        "NVIDIA GeForce RTX 4090",
        "RTX 4090",
        24,
        "ADA_24",
        0.69,
        0.34,
        1.1,
        dcs=("US-TX-3", "US-CA-2", "EU-RO-1", "EU-SE-1", "CA-MTL-1"),
        cores=16384,
    ),
    _gpu("NVIDIA L4", "L4", 24, "ADA_24", 0.43, 0.28, 0.68, dcs=("US-CA-2", "AP-JP-1"), cores=7424),
    _gpu(
        "NVIDIA GeForce RTX 3090",
        "RTX 3090",
        24,
        "AMPERE_24",
        0.46,
        0.22,
        0.68,
        max_secure=0,
        stock=("NONE", "HIGH"),
        dcs=("EU-RO-1", "CA-MTL-1"),
        cores=10496,
    ),
    _gpu("NVIDIA RTX A4000", "RTX A4000", 16, "AMPERE_16", 0.32, 0.17, 0.58, cores=6144),
    _gpu(
        "AMD Instinct MI300X OAM",
        "MI300X",
        192,
        None,
        2.49,
        0.0,
        None,
        max_community=0,
        stock=("LOW", "NONE"),
        dcs=("EU-RO-1",),
        manufacturer="AMD",
    ),
)

GPUS: dict[str, FakeGpu] = {g.id: g for g in _LIST}


@dataclass(frozen=True)
class FakeDataCenter:
    id: str
    name: str
    region: str
    country: str
    global_network: bool = False
    volume_types: tuple[str, ...] = ("STANDARD",)
    compliance: tuple[str, ...] = field(default=("GDPR",))


DATA_CENTERS: dict[str, FakeDataCenter] = {
    dc.id: dc
    for dc in (
        FakeDataCenter(
            "US-TX-3",
            "US Texas 3",
            "NORTH_AMERICA",
            "US",
            True,
            ("STANDARD", "HIGH_PERFORMANCE"),
            ("SOC_2_TYPE_2",),
        ),
        FakeDataCenter(
            "US-KS-2",
            "US Kansas 2",
            "NORTH_AMERICA",
            "US",
            True,
            ("STANDARD",),
            ("SOC_2_TYPE_2", "ISO_IEC_27001"),
        ),
        FakeDataCenter(
            "US-CA-2", "US California 2", "NORTH_AMERICA", "US", False, ("STANDARD",), ()
        ),
        FakeDataCenter(
            "CA-MTL-1",
            "Canada Montreal 1",
            "NORTH_AMERICA",
            "CA",
            True,
            ("STANDARD",),
            ("RENEWABLE",),
        ),
        FakeDataCenter(
            "EU-RO-1",
            "Europe Romania 1",
            "EUROPE",
            "RO",
            True,
            ("STANDARD", "HIGH_PERFORMANCE"),
            ("GDPR", "ISO_IEC_27001"),
        ),
        FakeDataCenter(
            "EU-SE-1",
            "Europe Sweden 1",
            "EUROPE",
            "SE",
            False,
            ("STANDARD",),
            ("GDPR", "RENEWABLE"),
        ),
        FakeDataCenter("AP-JP-1", "Asia Japan 1", "ASIA", "JP", False, (), ()),
    )
}

#: CPU flavours: id -> (name, group, vcpu min, vcpu max, GB RAM per vCPU, secure $/vCPU-h,
#: serverless $/vCPU-h)
CPUS: dict[str, tuple[str, str, int, int, float, float, float]] = {
    "cpu3c": ("Compute-Optimized", "Gen 3", 2, 32, 2.0, 0.03, 0.02),
    "cpu3g": ("General Purpose", "Gen 3", 2, 32, 4.0, 0.035, 0.025),
    "cpu3m": ("Memory-Optimized", "Gen 3", 2, 16, 8.0, 0.045, 0.03),
    "cpu5c": ("Compute-Optimized", "Gen 5", 2, 32, 2.0, 0.04, 0.03),
    "cpu5g": ("General Purpose", "Gen 5", 2, 32, 4.0, 0.045, 0.035),
    "cpu5m": ("Memory-Optimized", "Gen 5", 2, 16, 8.0, 0.055, 0.04),
}

#: USD per GB-month
DISK_PRICE_GB_MONTH = 0.10
VOLUME_PRICE_GB_MONTH = {"STANDARD": 0.07, "HIGH_PERFORMANCE": 0.14}
HOURS_PER_MONTH = 730.0


def cpu_row(cpu_id: str) -> dict[str, Any]:
    name, group, lo, hi, ram, secure, serverless = CPUS[cpu_id]
    return {
        "id": cpu_id,
        "name": name,
        "group": group,
        "vcpu": {"min": lo, "max": hi},
        "ramGbPerVcpu": ram,
        "price": {"securePerVcpu": secure, "serverlessPerVcpu": serverless},
    }
