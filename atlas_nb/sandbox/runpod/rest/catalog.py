"""``/v2/catalog``: GPU types, CPU flavours and data centers, with availability on request.

The rows come from the static catalogue (:mod:`..catalog`); ``include=AVAILABILITY`` adds the
stock the scheduler itself uses (:meth:`RunPodWorld.stock`), so a client can tell "no capacity"
from the catalogue whatever the wording of a refused create.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from starlette.requests import Request

from ..catalog import CPUS, DATA_CENTERS, GPUS, FakeDataCenter, FakeGpu, cpu_row
from ..world import RunPodWorld
from .params import csv_param, enum_param, int_param
from .problems import Problem, invalid

_LEVELS = ("NONE", "LOW", "MEDIUM", "HIGH")
_REGIONS = (
    "NORTH_AMERICA",
    "SOUTH_AMERICA",
    "EUROPE",
    "ASIA",
    "MIDDLE_EAST",
    "AFRICA",
    "OCEANIA",
    "ANTARCTICA",
    "UNKNOWN",
)
#: the one data center with CPU pods
_CPU_DATA_CENTER = {"id": "US-TX-3", "name": "US Texas 3"}

#: include, products, cloud, count, country codes: the GPU queries' parameters
CatalogArgs = tuple[list[str], list[str], str, int, list[str]]


def _gpu_availability(
    world: RunPodWorld,
    g: FakeGpu,
    products: list[str],
    cloud: str,
    count: int,
    countries: list[str],
) -> tuple[str, list[str]]:
    """(overall level, data centers offering it) for the product contexts asked."""
    levels = []
    for product in products:
        if product == "SERVERLESS":
            levels.append("HIGH" if g.pool else "NONE")
        elif g.max_count[cloud.lower()] >= count:
            levels.append(world.stock(g, cloud))
        else:
            levels.append("NONE")
    level = max(levels, key=_LEVELS.index) if levels else "NONE"
    dcs = [dc for dc in g.data_centers if not countries or DATA_CENTERS[dc].country in countries]
    if not dcs:
        level = "NONE"
    return level, dcs if level != "NONE" else []


def _gpu_row(g: FakeGpu) -> dict[str, Any]:
    return {
        "id": g.id,
        "name": g.name,
        "pool": g.pool,
        "manufacturer": g.manufacturer,
        "memory": g.memory,
        "secure": g.max_count["secure"] > 0,
        "community": g.max_count["community"] > 0,
        "price": dict(g.price),
        "maxCount": dict(g.max_count),
    }


def _catalog_args(request: Request) -> CatalogArgs:
    include = enum_param(request, "include", ["AVAILABILITY"])
    products = enum_param(request, "product", ["POD", "CLUSTER", "SERVERLESS"])
    clouds = enum_param(request, "cloud", ["SECURE", "COMMUNITY"])
    count = int_param(request, "count", 1)
    countries = csv_param(request, "countryCodes")
    scoped = [
        n
        for n in ("product", "count", "cloud", "countryCodes", "cudaVersions", "minCudaVersion")
        if n in request.query_params
    ]
    if include and not products:
        raise Problem(400, "include=AVAILABILITY requires product (POD, CLUSTER or SERVERLESS)")
    if scoped and not include:
        raise Problem(400, f"{scoped[0]} is valid only with include=AVAILABILITY")
    bad = [c for c in countries if len(c) != 2 or not c.isupper()]
    if bad:
        raise invalid(f"query.countryCodes: bad code {bad[0]!r}")
    return include, products, (clouds[0] if clouds else "SECURE"), count or 1, countries


def _render_gpu(world: RunPodWorld, g: FakeGpu, args: CatalogArgs) -> Any:
    include, products, cloud, count, countries = args
    row = _gpu_row(g)
    if include:
        level, dcs = _gpu_availability(world, g, products, cloud, count, countries)
        row["availability"] = level
        if dcs:
            row["dataCenters"] = [
                {"id": dc, "name": DATA_CENTERS[dc].name, "availability": level} for dc in dcs
            ]
        if g.manufacturer == "NVIDIA":
            row["cudaVersions"] = [{"version": v, "available": level != "NONE"} for v in g.cuda]
    return row


def _datacenter_row(world: RunPodWorld, dc: FakeDataCenter, include: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": dc.id,
        "name": dc.name,
        "region": dc.region,
        "globalNetwork": dc.global_network,
        "networkVolumeTypes": list(dc.volume_types),
        "compliance": list(dc.compliance),
    }
    if "GPU_AVAILABILITY" in include:
        gpus = [g for g in GPUS.values() if dc.id in g.data_centers]
        if gpus:
            row["gpuAvailability"] = [
                {
                    "id": g.id,
                    "name": g.name,
                    "availability": max((world.stock(g, c) for c in g.stock), key=_LEVELS.index),
                }
                for g in gpus
            ]
    if "CPU_AVAILABILITY" in include and dc.id == _CPU_DATA_CENTER["id"]:
        row["cpuAvailability"] = [
            {"id": cid, "name": CPUS[cid][0], "availability": "HIGH"} for cid in CPUS
        ]
    return row


async def list_gpus(request: Request, world: RunPodWorld) -> Any:
    args = _catalog_args(request)
    rows = []
    for g in GPUS.values():
        if args[4] and not any(DATA_CENTERS[dc].country in args[4] for dc in g.data_centers):
            continue
        rows.append(_render_gpu(world, g, args))
    return {"gpus": rows}


async def get_gpu(request: Request, world: RunPodWorld) -> Any:
    g = GPUS.get(unquote(request.path_params["id"]))
    if g is None:
        raise Problem(404, "GPU type not found")
    return _render_gpu(world, g, _catalog_args(request))


async def list_cpus(request: Request, world: RunPodWorld) -> Any:
    include = enum_param(request, "include", ["AVAILABILITY"])
    products = enum_param(request, "product", ["POD", "SERVERLESS"])
    if include and not products:
        raise Problem(400, "include=AVAILABILITY requires product (POD or SERVERLESS)")
    if products and not include:
        raise Problem(400, "product is valid only with include=AVAILABILITY")
    rows = []
    for cid in CPUS:
        row = cpu_row(cid)
        if include:
            row["availability"] = "HIGH"
            row["dataCenters"] = [{**_CPU_DATA_CENTER, "availability": "HIGH"}]
        rows.append(row)
    return {"cpus": rows}


async def list_datacenters(request: Request, world: RunPodWorld) -> Any:
    include = enum_param(request, "include", ["GPU_AVAILABILITY", "CPU_AVAILABILITY"])
    regions = enum_param(request, "regions", list(_REGIONS))
    global_network = request.query_params.get("globalNetwork")
    out = []
    for dc in DATA_CENTERS.values():
        if regions and dc.region not in regions:
            continue
        if global_network is not None and (global_network == "true") != dc.global_network:
            continue
        out.append(_datacenter_row(world, dc, include))
    return {"dataCenters": out}
