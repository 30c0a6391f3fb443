"""``/v2/billing``: costs of pods, serverless endpoints and network volumes per time bucket.

The window is ``lastN`` buckets up to now, or ``startTime``..``endTime`` (default: the last 30
days); each record is one resource in one bucket it was alive in, with its cost components and
their total, and ``metadata`` repeats the query with the totals.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request

from ..world import BUCKETS, RunPodWorld, bucket_floor, bucket_next, buckets, iso, parse_iso, spread
from .params import enum_param, int_param
from .problems import Problem, invalid

#: resource id -> its cost intervals (start, end, USD per hour, component)
Costs = dict[str, list[tuple[float, float, float, str]]]
_FIXED_STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}


def _window(request: Request, world: RunPodWorld) -> tuple[str, list[tuple[float, float]]]:
    """The bucket size and the (start, end) edges of each bucket asked for."""
    size_values = enum_param(request, "bucketSize", BUCKETS)
    size = size_values[0] if size_values else "day"
    last_n = int_param(request, "lastN", 1)
    start_raw, end_raw = request.query_params.get("startTime"), request.query_params.get("endTime")
    now = world.now()
    if last_n is not None:
        if start_raw or end_raw:
            raise Problem(400, "lastN is mutually exclusive with startTime/endTime")
        current = bucket_floor(now, size)
        first = current
        for _ in range(last_n - 1):
            first = _bucket_prev(first, size)
        return size, buckets(first.timestamp(), bucket_next(current, size).timestamp() - 1, size)
    try:
        end = parse_iso(end_raw) if end_raw else now
        start = parse_iso(start_raw) if start_raw else end - 30 * 86400
    except ValueError:
        raise invalid("query: times must be RFC 3339")
    if start >= end:
        raise Problem(400, "startTime must be before endTime")
    return size, buckets(start, end, size)


def _bucket_prev(dt: datetime, size: str) -> datetime:
    """The start of the bucket before the one starting at ``dt``."""
    if size in _FIXED_STEPS:
        return dt - _FIXED_STEPS[size]
    if size == "month":
        return dt.replace(year=dt.year - (dt.month == 1), month=(dt.month - 2) % 12 + 1)
    return dt.replace(year=dt.year - 1)


def _billing(
    request: Request,
    world: RunPodWorld,
    key: str,
    resources: Costs,
    components: dict[str, str],
    unique_key: str,
) -> Any:
    """The records and metadata of one billing report (``key``: the resource id's field)."""
    size, edges = _window(request, world)
    wanted = request.query_params.get(key)
    records = []
    totals = {name: 0.0 for name in ("totalAmount", *components.values())}
    used = set()
    for rid, intervals in sorted(resources.items()):
        if wanted and rid != wanted:
            continue
        for (lo, hi), amounts in zip(edges, spread(intervals, edges), strict=True):
            alive = any(min(e, hi) > max(s, lo) for s, e, _r, _c in intervals)
            if not alive:
                continue
            rec: dict[str, Any] = {"startTime": iso(lo), "endTime": iso(hi)}
            total = 0.0
            for comp, name in components.items():
                value = round(amounts.get(comp, 0.0), 6)
                rec[name] = value
                totals[name] += value
                total += value
            rec["totalAmount"] = round(total, 6)
            totals["totalAmount"] += total
            rec[key] = rid
            records.append(rec)
            used.add(rid)
    query: dict[str, Any] = {
        "startTime": iso(edges[0][0]) if edges else iso(world.now()),
        "endTime": iso(edges[-1][1]) if edges else iso(world.now()),
        "bucketSize": size,
        key: wanted,
    }
    return {
        "records": records,
        "metadata": {
            "query": query,
            "recordCount": len(records),
            unique_key: len(used),
            "totals": {k: round(v, 6) for k, v in totals.items()},
        },
    }


async def billing_pods(request: Request, world: RunPodWorld) -> Any:
    now = world.now()
    resources = {p.id: world.pod_costs(p, now) for p in world.pods.values()}
    components = {"gpu": "gpuAmount", "cpu": "cpuAmount", "disk": "diskAmount"}
    return _billing(request, world, "podId", resources, components, "uniquePodCount")


async def billing_serverless(request: Request, world: RunPodWorld) -> Any:
    resources: Costs = {}
    for eid, points in world.job_costs(time.monotonic()).items():
        # a job's cost as a one-second interval at the (simulated) moment it ended
        resources[eid] = [(t, t + 1.0, usd * 3600.0, "gpu") for t, usd in points]
    components = {"gpu": "gpuAmount", "cpu": "cpuAmount", "disk": "diskAmount", "fee": "feeAmount"}
    return _billing(request, world, "serverlessId", resources, components, "uniqueServerlessCount")


async def billing_volumes(request: Request, world: RunPodWorld) -> Any:
    now = world.now()
    vols = list(world.volumes.values()) + world.state.providers.get("runpod_deleted_volumes", [])
    resources = {v["id"]: world.volume_costs(v, now) for v in vols}
    components = {"standard": "standardAmount", "highPerformance": "highPerformanceAmount"}
    return _billing(
        request, world, "networkVolumeId", resources, components, "uniqueNetworkVolumeCount"
    )
