"""The fake Vast.ai marketplace: thousands of seeded offers and the search-query evaluator.

Offers use Vast's field names and units (``gpu_ram``/``cpu_ram`` in MB, ``disk_space`` in GB,
prices in $/h for the whole offer, ``geolocation`` as ``"City, CC"``, GPU names in the space
form ``"RTX 4090"``). :func:`search` applies a query body the way ``POST /api/v0/bundles/``
does: default filters, the operators ``eq neq gt gte lt lte in notin``, ``type`` pricing,
``allocated_storage``, ``order`` and ``limit``; anything malformed raises :class:`QueryError`.

    >>> offers = generate_offers(seed=0, count=200)
    >>> prepare(offers)
    >>> found = search(offers, {"num_gpus": {"gte": 2}, "order": [["dph_total", "asc"]],
    ...                         "limit": 3})
    >>> len(found), all(o["num_gpus"] >= 2 for o in found)
    (3, True)
    >>> found[0]["dph_total"] <= found[1]["dph_total"] <= found[2]["dph_total"]
    True
"""

from __future__ import annotations

import json
import operator
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...providers.vast.query import SEARCH_FIELDS as _CLIENT_SEARCH_FIELDS

#: (Vast name, MB per GPU, on-demand $/GPU-h range, GPU counts, weight, compute cap, TFLOPs)
GPU_MODELS: tuple[tuple[str, int, tuple[float, float], tuple[int, ...], int, int, float], ...] = (
    ("RTX 4090", 24564, (0.25, 0.60), (1, 2, 4, 8), 30, 890, 82.6),
    ("RTX 3090", 24576, (0.12, 0.30), (1, 2, 4, 8), 20, 860, 35.6),
    ("RTX 5090", 32607, (0.45, 0.90), (1, 2, 4, 8), 8, 1200, 104.8),
    ("RTX 4080", 16376, (0.15, 0.30), (1, 2, 4), 4, 890, 48.7),
    ("RTX 3060", 12288, (0.05, 0.10), (1, 2), 5, 860, 12.7),
    ("RTX A6000", 49140, (0.35, 0.70), (1, 2, 4, 8), 6, 860, 38.7),
    ("RTX A5000", 24564, (0.18, 0.35), (1, 2, 4), 4, 860, 27.8),
    ("RTX A4000", 16376, (0.10, 0.20), (1, 2, 4), 4, 860, 19.2),
    ("RTX 6000Ada", 49140, (0.60, 1.00), (1, 2, 4, 8), 5, 890, 91.1),
    ("RTX 4000Ada", 20475, (0.15, 0.30), (1, 2), 2, 890, 26.7),
    ("L40S", 46068, (0.70, 1.10), (1, 2, 4, 8), 4, 890, 91.6),
    ("L40", 46068, (0.60, 0.95), (1, 2, 4, 8), 2, 890, 90.5),
    ("L4", 23034, (0.25, 0.45), (1, 2, 4, 8), 3, 890, 30.3),
    ("A40", 46068, (0.35, 0.55), (1, 2, 4, 8), 3, 860, 37.4),
    ("A10", 23028, (0.20, 0.35), (1,), 1, 860, 31.2),
    ("A100 PCIE", 40960, (0.60, 1.00), (1, 2, 4), 2, 800, 19.5),
    ("A100 PCIE", 81920, (0.80, 1.30), (1, 2, 4, 8), 3, 800, 19.5),
    ("A100 SXM4", 40960, (0.70, 1.10), (1, 2, 4, 8), 2, 800, 19.5),
    ("A100 SXM4", 81920, (0.90, 1.50), (1, 2, 4, 8), 5, 800, 19.5),
    ("H100 SXM", 81559, (1.60, 2.80), (1, 2, 4, 8), 8, 900, 66.9),
    ("H100 PCIE", 81559, (1.40, 2.20), (1, 2), 3, 900, 51.2),
    ("H100 NVL", 95830, (1.80, 2.60), (1, 2, 4, 8), 2, 900, 60.0),
    ("H200", 143771, (2.50, 3.80), (1, 2, 4, 8), 3, 900, 66.9),
    ("B200", 183359, (3.50, 5.50), (1, 8), 1, 1000, 80.0),
    ("Tesla V100", 16384, (0.10, 0.25), (1, 2, 4, 8), 2, 700, 15.7),
    ("Tesla T4", 15360, (0.06, 0.15), (1, 2, 4), 2, 750, 8.1),
    ("RTX PRO 6000 WS", 97887, (1.00, 1.60), (1, 2, 4, 8), 2, 1200, 126.0),
)

LOCATIONS = (
    "Texas, US",
    "California, US",
    "Washington, US",
    "Ohio, US",
    "Virginia, US",
    "Quebec, CA",
    "Ontario, CA",
    "Bavaria, DE",
    "Hesse, DE",
    "Helsinki, FI",
    "Stockholm, SE",
    "Oslo, NO",
    "Ile-de-France, FR",
    "North Holland, NL",
    "England, GB",
    "Tokyo, JP",
    "Seoul, KR",
    "Taipei, TW",
    "Singapore, SG",
    "New South Wales, AU",
    "Sao Paulo, BR",
    "Masovia, PL",
    "Prague, CZ",
    "Bucharest, RO",
)
#: how some hosts spell their country in ``geolocation`` ("California, United States")
COUNTRY_NAMES = {
    "US": "United States", "CA": "Canada", "DE": "Germany", "FI": "Finland", "SE": "Sweden",
    "NO": "Norway", "FR": "France", "NL": "Netherlands", "GB": "United Kingdom", "JP": "Japan",
    "KR": "South Korea", "TW": "Taiwan", "SG": "Singapore", "AU": "Australia", "BR": "Brazil",
    "PL": "Poland", "CZ": "Czechia", "RO": "Romania",
}  # fmt: skip
CPUS = (
    ("AMD EPYC 7763 64-Core Processor", 128, 2.45),
    ("AMD EPYC 9654 96-Core Processor", 192, 2.4),
    ("AMD Ryzen 9 7950X 16-Core Processor", 32, 4.5),
    ("Intel Xeon Platinum 8480+", 112, 2.0),
    ("Intel Core i9-13900K", 32, 3.0),
    ("AMD Ryzen Threadripper PRO 5975WX", 64, 3.6),
)
DISKS = ("Samsung SSD 990 PRO", "WD_BLACK SN850X", "Micron 7450", "KIOXIA CD6", "Samsung PM9A3")
MOBOS = ("ROMED8-2T", "ProArt X670E", "H13SSL-N", "WRX80E-SAGE", "MZ73-LM0")

#: fields a search may filter or sort on (Vast's documented list, shared with the client's
#: query builder so the two never drift; plus ``reliability2``, which the API also accepts)
SEARCH_FIELDS = _CLIENT_SEARCH_FIELDS | {"reliability2"}
OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "notin")
SPECIAL_KEYS = frozenset({"order", "limit", "type", "allocated_storage", "disable_bundling"})
#: what the server assumes when a filter is missing (``verified``, ``external``: either; the
#: vast CLI adds ``verified: {eq: true}`` and ``external: {eq: false}`` itself)
DEFAULT_FILTERS = {"rentable": {"eq": True}, "rented": {"eq": False}}
DEFAULT_STORAGE_GB = 8.0
HOURS_PER_MONTH = 730.0
RESERVED_DISCOUNT = 0.25


class QueryError(ValueError):
    """A malformed search; ``code`` is Vast's error code."""

    def __init__(self, message: str, code: str = "invalid_args") -> None:
        super().__init__(message)
        self.code = code


def generate_offers(seed: int, count: int) -> list[dict[str, Any]]:
    """``count`` deterministic offers (ids ascending); a third are on the same machines."""
    rng = random.Random(seed * 31 + 5)
    weights = [m[4] for m in GPU_MODELS]
    offers = []
    machine: dict[str, Any] = {}
    for i in range(count):
        if i % 3 == 0:  # a new machine: up to three offers (GPU counts) on it
            gname, mb, (lo, hi), counts, _w, cap, tflops = rng.choices(GPU_MODELS, weights)[0]
            cpu, cores, ghz = rng.choice(CPUS)
            location = rng.choice(LOCATIONS)
            datacenter = rng.random() < 0.3
            machine = {
                "gpu": (gname, mb, cap, tflops),
                "counts": counts,
                "price": round(rng.uniform(lo, hi), 3),
                "cpu": (cpu, cores, ghz),
                "ram_mb": rng.choice((64, 128, 256, 512, 1024)) * 1024,
                "location": location,
                "machine_id": 20_000 + i // 3,
                "host_id": 100_000 + rng.randint(0, 4_000),
                "reliability": round(rng.uniform(0.85, 0.9995), 4),
                "verification": rng.choices(("verified", "unverified", "deverified"), (78, 19, 3))[
                    0
                ],
                "datacenter": datacenter,
                "disk_gb": float(rng.choice((500, 1000, 2000, 4000, 8000))),
                "inet_down": round(rng.uniform(100, 9000), 1),
                "inet_up": round(rng.uniform(50, 5000), 1),
                "ip": f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                f"{rng.randint(1, 254)}",
                "driver": rng.choice(("535.183.01", "550.127.05", "560.35.03", "570.86.10")),
                "cuda": rng.choice((12.2, 12.4, 12.6, 12.8)),
                "static_ip": rng.random() < 0.4,
                "storage_cost": round(rng.uniform(0.05, 0.3), 4),
            }
        gname, mb, cap, tflops = machine["gpu"]
        n = rng.choice(machine["counts"])
        total = max(machine["counts"])
        frac = n / total
        cpu, cores, ghz = machine["cpu"]
        price = round(machine["price"] * n * rng.uniform(0.95, 1.08), 4)
        dlperf = round(tflops * n * rng.uniform(0.8, 1.05), 3)
        offer_id = 5_000_000 + i
        offers.append(
            {
                "id": offer_id,
                "ask_contract_id": offer_id,
                "bundle_id": 900_000_000 + i,
                "bundled_results": None,
                "machine_id": machine["machine_id"],
                "host_id": machine["host_id"],
                "hostname": None,
                "gpu_name": gname,
                "num_gpus": n,
                "gpu_ram": mb,
                "gpu_total_ram": mb * n,
                "gpu_frac": round(frac, 4),
                "gpu_arch": "nvidia",
                "gpu_display_active": False,
                "gpu_lanes": 16,
                "gpu_mem_bw": round(tflops * 12.5, 1),
                "gpu_max_power": 450,
                "gpu_max_temp": 83,
                "bw_nvlink": 0.0 if n == 1 or "RTX" in gname else 450.0,
                "compute_cap": cap,
                "cuda_max_good": machine["cuda"],
                "driver_version": machine["driver"],
                "cpu_name": cpu,
                "cpu_arch": "amd64",
                "cpu_cores": cores,
                "cpu_cores_effective": round(cores * frac, 1),
                "cpu_ghz": ghz,
                "cpu_ram": int(machine["ram_mb"] * frac),
                "has_avx": 1,
                "disk_space": round(machine["disk_gb"] * frac, 1),
                "disk_bw": round(rng.uniform(800, 6500), 1),
                "disk_name": DISKS[machine["machine_id"] % len(DISKS)],
                "inet_down": machine["inet_down"],
                "inet_up": machine["inet_up"],
                "inet_down_cost": 0.005,
                "inet_up_cost": 0.005,
                "direct_port_count": rng.choice((20, 50, 100, 500)),
                "geolocation": _spelt(machine["location"], machine["machine_id"]),
                "public_ipaddr": machine["ip"],
                "static_ip": machine["static_ip"],
                "external": False,
                "datacenter": machine["datacenter"],
                "hosting_type": 1 if machine["datacenter"] else 0,
                "verification": machine["verification"],
                "reliability": machine["reliability"],
                "reliability2": machine["reliability"],
                "rentable": True,
                "rented": rng.random() < 0.06,
                "dph_base": price,
                "min_bid": round(price * rng.uniform(0.35, 0.6), 4),
                "storage_cost": machine["storage_cost"],
                "dlperf": dlperf,
                "total_flops": round(tflops * n, 2),
                "score": round(dlperf / max(price, 0.01) * machine["reliability"], 3),
                "duration": round(rng.uniform(2, 180) * 86_400, 1),
                "os_version": "22.04",
                "ubuntu_version": "22.04",
                "mobo_name": MOBOS[machine["machine_id"] % len(MOBOS)],
                "pci_gen": 4.0,
                "pcie_bw": 24.5,
                "vms_enabled": False,
                "logo": "/static/logos/vastai_small2.png",
            }
        )
    return offers


#: fields each offer carries in search results (besides the per-search ones below); the fake
#: keeps every searchable field but sends the ones clients read, to keep 10k-offer pages lean
PUBLIC_FIELDS = (
    "id",
    "ask_contract_id",
    "bundle_id",
    "machine_id",
    "host_id",
    "gpu_name",
    "num_gpus",
    "gpu_ram",
    "gpu_total_ram",
    "gpu_frac",
    "compute_cap",
    "cuda_max_good",
    "cpu_cores",
    "cpu_cores_effective",
    "cpu_ram",
    "disk_space",
    "inet_up",
    "inet_down",
    "direct_port_count",
    "geolocation",
    "static_ip",
    "verification",
    "reliability",
    "reliability2",
    "dph_base",
    "min_bid",
    "storage_cost",
    "dlperf",
    "total_flops",
    "score",
    "duration",
    "hosting_type",
    "datacenter",
    "external",
)
#: fields that depend on the search (type, allocated_storage) or on rentals
DYNAMIC_FIELDS = ("rentable", "rented", "dph_total", "is_bid", "dlperf_per_dphtotal")
_DERIVED = {"verified": "_verified", "geolocation": "_country", "ubuntu_version": "os_version"}


def prepare(offers: list[dict[str, Any]]) -> None:
    """Add the lookup keys the evaluator uses and each offer's pre-encoded static JSON."""
    for o in offers:
        o["_country"] = country_of(o)
        o["_verified"] = o["verification"] == "verified"
        o["_json"] = json.dumps(
            {k: o[k] for k in PUBLIC_FIELDS}, separators=(",", ":"), ensure_ascii=False
        )[:-1]


def _spelt(location: str, machine_id: int) -> str:
    """Every fifth machine writes its country's name, not its code (as real hosts do)."""
    region, _, code = location.rpartition(", ")
    if machine_id % 5 == 0 and code in COUNTRY_NAMES:
        return f"{region}, {COUNTRY_NAMES[code]}"
    return location


def country_of(offer: dict[str, Any]) -> str:
    tail = str(offer["geolocation"]).rsplit(",", 1)[-1].strip()
    by_name = {name: code for code, name in COUNTRY_NAMES.items()}
    return by_name.get(tail, tail)


def external_offers(offers: list[dict[str, Any]], every: int = 40) -> list[dict[str, Any]]:
    """Offers listed from outside clouds (``external: true``), one per ``every`` offers.

    Searches return them unless they ask ``external: {eq: false}`` (the vast CLI's default).
    """
    out = []
    for i, base in enumerate(offers[::every]):
        offer_id = 7_000_000 + i
        out.append(
            {
                **{k: v for k, v in base.items() if not k.startswith("_")},
                "id": offer_id,
                "ask_contract_id": offer_id,
                "bundle_id": 950_000_000 + i,
                "machine_id": 90_000 + i,
                "external": True,
                "datacenter": False,
                "hosting_type": 0,
            }
        )
    return out


def gpu_hour(offer: dict[str, Any], kind: str) -> float:
    if kind == "bid":
        return float(offer["min_bid"])
    if kind == "reserved":
        return float(offer["dph_base"]) * (1 - RESERVED_DISCOUNT)
    return float(offer["dph_base"])


def total_price(offer: dict[str, Any], kind: str, storage_gb: float) -> float:
    """``dph_total``: the GPU price of the searched type plus the allocated storage."""
    return round(
        gpu_hour(offer, kind) + float(offer["storage_cost"]) * storage_gb / HOURS_PER_MONTH, 6
    )


def dynamic(offer: dict[str, Any], kind: str, total: float) -> dict[str, Any]:
    """The per-search fields of an offer (its ``dph_total`` already computed)."""
    return {
        "rentable": offer["rentable"],
        "rented": offer["rented"],
        "dph_total": total,
        "is_bid": kind == "bid",
        "dlperf_per_dphtotal": round(offer["dlperf"] / total, 3),
    }


def priced(offer: dict[str, Any], kind: str, storage_gb: float) -> dict[str, Any]:
    """The offer as a search returns it (public fields plus the per-search ones)."""
    total = total_price(offer, kind, storage_gb)
    return {**{k: offer[k] for k in PUBLIC_FIELDS}, **dynamic(offer, kind, total)}


Getter = Callable[[dict[str, Any], float], Any]


def _getter(field: str, kind: str) -> Getter:
    """Reads a field of (offer, dph_total); derived and per-search fields included."""
    if field == "dph_total":
        return lambda o, t: t
    if field == "dlperf_per_dphtotal":
        return lambda o, t: o["dlperf"] / t
    if field == "is_bid":
        bid = kind == "bid"
        return lambda o, t: bid
    key = _DERIVED.get(field, field)
    return lambda o, t: o.get(key)


def _coerce(field: str, sample: Any, value: Any) -> Any:
    """Vast's CLI sends numbers as strings; compare them as numbers."""
    if isinstance(sample, bool) or value is None:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return value
    if isinstance(sample, (int, float)) and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise QueryError(f"Invalid value {value!r} for numeric field {field}") from None
    return value


Predicate = Callable[[dict[str, Any], float], bool]


def _predicate(field: str, op: str, value: Any, sample: Any, get: Getter) -> Predicate:
    if op in ("in", "notin"):
        if not isinstance(value, list):
            raise QueryError(f"Operator '{op}' on {field} needs a list")
        values = {_coerce(field, sample, v) for v in value}
        if op == "in":
            return lambda o, t: get(o, t) in values
        return lambda o, t: get(o, t) not in values
    v = _coerce(field, sample, value)
    if isinstance(v, (list, dict)):
        raise QueryError(f"Operator '{op}' on {field} needs a single value")
    if op == "eq":
        return lambda o, t: get(o, t) == v
    if op == "neq":
        return lambda o, t: get(o, t) != v
    compare = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}[op]
    if sample is not None and not isinstance(sample, bool):
        try:
            compare(sample, v)
        except TypeError:
            raise QueryError(f"Cannot compare {field} with {v!r}") from None

    def check(o: dict[str, Any], t: float) -> bool:
        a = get(o, t)
        return a is not None and bool(compare(a, v))

    return check


@dataclass
class SearchResult:
    """The offers a search found, each with its ``dph_total`` for the searched type."""

    found: list[tuple[dict[str, Any], float]]
    kind: str
    storage_gb: float

    @property
    def offers(self) -> list[dict[str, Any]]:
        return [o for o, _ in self.found]

    def dicts(self) -> list[dict[str, Any]]:
        return [
            {**{k: o[k] for k in PUBLIC_FIELDS}, **dynamic(o, self.kind, t)} for o, t in self.found
        ]

    def to_json(self) -> bytes:
        """``{"offers": [...]}`` from the pre-encoded static parts (fast for 10k offers)."""
        bid = _b(self.kind == "bid")
        parts = [
            f'{o["_json"]},"rentable":{_b(o["rentable"])},"rented":{_b(o["rented"])},'
            f'"dph_total":{t!r},"is_bid":{bid},'
            f'"dlperf_per_dphtotal":{round(o["dlperf"] / t, 3)!r}}}'
            for o, t in self.found
        ]
        return ('{"offers":[' + ",".join(parts) + "]}").encode()


def _b(value: bool) -> str:
    return "true" if value else "false"


def run(offers: list[dict[str, Any]], body: Any) -> SearchResult:
    """Apply a ``POST /bundles/`` body (raises QueryError when it is malformed)."""
    if not isinstance(body, dict):
        raise QueryError("The query must be a JSON object")
    kind = _search_kind(body)
    storage = _storage_gb(body)
    filters = {**DEFAULT_FILTERS, **{k: v for k, v in body.items() if k not in SPECIAL_KEYS}}
    order = _order(body)
    limit = _limit(body)
    preds = _predicates(filters, kind, offers[0] if offers else {})
    found = _matching(offers, preds, kind, storage / HOURS_PER_MONTH)
    for field, direction in reversed(order):
        get = _getter(field, kind)
        found.sort(key=lambda pair: _sort_value(get(*pair)), reverse=direction == "desc")
    if limit is not None:
        found = found[:limit]
    return SearchResult(found, kind, float(storage))


def _search_kind(body: dict[str, Any]) -> str:
    """The rental type searched: ``on-demand`` (default), ``bid`` or ``reserved``."""
    kind = body.get("type", "on-demand")
    if kind not in ("on-demand", "ondemand", "bid", "reserved", "interruptible"):
        raise QueryError(f"Invalid type {kind!r}: use on-demand, bid or reserved")
    return "bid" if kind == "interruptible" else str(kind)


def _storage_gb(body: dict[str, Any]) -> float:
    """``allocated_storage``: the disk the price includes."""
    storage = body.get("allocated_storage", DEFAULT_STORAGE_GB)
    if isinstance(storage, bool) or not isinstance(storage, (int, float)) or storage < 0:
        raise QueryError("allocated_storage must be a number of GB")
    return storage


def _order(body: dict[str, Any]) -> list[list[str]]:
    """``order``: [field, direction] pairs, the first the primary sort key."""
    order = body.get("order", [["score", "desc"]])
    if not isinstance(order, list):
        raise QueryError("order must be a list of [field, direction] pairs")
    for item in order:
        if not (isinstance(item, list) and len(item) == 2 and item[0] in SEARCH_FIELDS):
            raise QueryError(f"Invalid order entry {item!r}")
        if item[1] not in ("asc", "desc"):
            raise QueryError(f"Invalid order direction {item[1]!r}: use asc or desc")
    return order


def _limit(body: dict[str, Any]) -> int | None:
    """``limit``: at most this many offers (``None``: all)."""
    limit = body.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise QueryError("limit must be a positive integer")
    return limit


def _predicates(filters: dict[str, Any], kind: str, sample: dict[str, Any]) -> list[Predicate]:
    """One predicate per (field, operator) of the filters; ``sample`` types the values."""
    preds: list[Predicate] = []
    for field, ops in filters.items():
        if field not in SEARCH_FIELDS:
            raise QueryError(
                f"Error in query parameters: {field} is not a valid search key", "invalid_request"
            )
        if not isinstance(ops, dict):
            raise QueryError(f'Filter for {field} must be an object like {{"eq": value}}')
        get = _getter(field, kind)
        for op, value in ops.items():
            if op not in OPERATORS:
                raise QueryError(f"Unknown operator '{op}' for {field}")
            example = get(sample, 1.0) if sample else None
            preds.append(_predicate(field, op, value, example, get))
    return preds


def _matching(
    offers: list[dict[str, Any]], preds: list[Predicate], kind: str, per_gb: float
) -> list[tuple[dict[str, Any], float]]:
    """The offers every predicate accepts, each with its hourly total (storage ``per_gb``)."""
    found = []
    try:
        for o in offers:
            t = round(gpu_hour(o, kind) + o["storage_cost"] * per_gb, 6)
            for p in preds:
                if not p(o, t):
                    break
            else:
                found.append((o, t))
    except TypeError as exc:  # a value of the wrong type for its field
        raise QueryError(f"Cannot compare values in this query: {exc}") from None
    return found


def search(offers: list[dict[str, Any]], body: Any) -> list[dict[str, Any]]:
    """The offers a search returns, as dicts."""
    return run(offers, body).dicts()


def _sort_value(v: Any) -> Any:
    return (v is not None, v if v is not None else 0)
