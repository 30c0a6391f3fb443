"""Build Vast.ai offer-search queries from Python arguments (pure; no I/O).

Vast searches offers with a JSON object of ``field: {op: value}`` filters (ops ``eq``, ``neq``,
``gt``, ``gte``, ``lt``, ``lte``, ``in``, ``notin``) plus ``order``, ``limit``, ``type`` and
``allocated_storage``. :func:`build_query` turns friendly arguments into that object, in
Vast's units (GPU memory in MB, like the vast CLI: GB x 1000), and raises ``ValidationError``
for anything the query language cannot express — a filter is never dropped silently.

Like the vast CLI it always sends ``type`` (``"on-demand"``, ``"bid"`` or ``"reserved"``), the
CLI's defaults ``verified: {eq: true}``, ``external: {eq: false}``, ``rentable: {eq: true}``
and ``rented: {eq: false}``, and leaves ``verified`` out for "verified or not"
(``verified=None``), as the CLI does for ``verified=any``.

    >>> q = build_query(gpu="rtx_4090", num_gpus=2, max_price_per_hr=0.8, countries=["us"])
    >>> q["gpu_name"], q["num_gpus"], q["dph_total"], q["geolocation"]
    ({'in': ['RTX 4090']}, {'eq': 2}, {'lte': 0.8}, {'in': ['US']})
    >>> q["order"], q["type"], q["external"], "verified" in build_query(verified=None)
    ([['dph_total', 'asc'], ['id', 'asc']], 'on-demand', {'eq': False}, False)
    >>> build_query(gpu=["a100_80g", "rtx_4090"])
    Traceback (most recent call last):
    ...
    atlas_nb.errors.ValidationError: validation: Vast names a100_80g 'A100 SXM4'/'A100 PCIE' \
like other memory sizes, so it needs a GPU-memory filter that cannot be combined with \
['rtx_4090'] in one query. Search each GPU separately.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ...errors import ValidationError, did_you_mean
from ...gpus import CATALOGUE, model, to_canonical

OfferType = Literal["on-demand", "bid", "reserved"]
OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "notin")

#: friendly sort keys -> (Vast field, default direction)
ORDER_ALIASES: dict[str, tuple[str, str]] = {
    "price": ("dph_total", "asc"),
    "price_per_hr": ("dph_total", "asc"),
    "reliability": ("reliability", "desc"),
    "score": ("score", "desc"),
    "dlperf": ("dlperf", "desc"),
    "value": ("dlperf_per_dphtotal", "desc"),
    "vram": ("gpu_ram", "desc"),
    "num_gpus": ("num_gpus", "desc"),
    "download": ("inet_down", "desc"),
}

#: offer fields Vast lets a search filter or sort on
SEARCH_FIELDS = frozenset(
    {
        "bw_nvlink",
        "compute_cap",
        "cpu_arch",
        "cpu_cores",
        "cpu_cores_effective",
        "cpu_ghz",
        "cpu_ram",
        "cuda_max_good",
        "datacenter",
        "direct_port_count",
        "disk_bw",
        "disk_space",
        "dlperf",
        "dlperf_per_dphtotal",
        "dph_base",
        "dph_total",
        "driver_version",
        "duration",
        "external",
        "flops_per_dphtotal",
        "geolocation",
        "gpu_arch",
        "gpu_display_active",
        "gpu_frac",
        "gpu_max_power",
        "gpu_max_temp",
        "gpu_mem_bw",
        "gpu_name",
        "gpu_ram",
        "gpu_total_ram",
        "has_avx",
        "host_id",
        "id",
        "inet_down",
        "inet_down_cost",
        "inet_up",
        "inet_up_cost",
        "machine_id",
        "min_bid",
        "mobo_name",
        "num_gpus",
        "os_version",
        "pci_gen",
        "pcie_bw",
        "reliability",
        "rentable",
        "rented",
        "score",
        "static_ip",
        "storage_cost",
        "total_flops",
        "ubuntu_version",
        "verification",
        "verified",
        "vms_enabled",
    }
)

_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
#: Vast's CLI and docs treat 1 GB as 1000 MB in filters (a nominal 24 GB card is 24564 MB)
MB_PER_GB_FILTER = 1000
#: MB of a GiB, for turning Vast's sizes into the GB atlas_nb reports
MB_PER_GB = 1024


def vast_gpu_names(gpu: str) -> tuple[list[str], dict[str, float] | None]:
    """Vast's GPU names for a canonical name or a Vast name, plus a GPU-memory filter when the
    names are shared with other memory sizes (``a100_80g``: A100 SXM4/PCIE with >= 60 GB).

    >>> vast_gpu_names("rtx_4090")
    (['RTX 4090'], None)
    >>> vast_gpu_names("a100_80g")
    (['A100 SXM4', 'A100 PCIE'], {'gte': 60000})
    >>> vast_gpu_names("RTX 3060")
    (['RTX 3060'], None)
    """
    canonical = to_canonical(gpu)
    if canonical is None:
        text = gpu.strip()
        if any(c.isupper() for c in text) or " " in text:
            return [text.replace("_", " ")], None  # a Vast name atlas_nb doesn't catalogue
        from ...gpus import names as gpu_names

        raise ValidationError(
            f"gpu={gpu!r} is not a GPU atlas_nb knows.{did_you_mean(text, gpu_names())}",
            field="gpu",
            hint="Use a canonical name (atlas_nb.gpus.names()) or Vast's own name ('RTX 4090').",
        )
    names = list(model(canonical).ids("vast"))
    if not names:
        raise ValidationError(
            f"Vast does not list {canonical}",
            field="gpu",
            hint="atlas.offers(gpu=...) compares the providers that sell it.",
        )
    mine = model(canonical).vram_gb
    sharing = [m for m in CATALOGUE if m.name != canonical and set(m.ids("vast")) & set(names)]
    if not sharing:
        return names, None
    # split halfway between this model's memory and the nearest other size
    others = sorted(m.vram_gb for m in sharing)
    below = [v for v in others if v < mine]
    above = [v for v in others if v > mine]
    ram: dict[str, float] = {}
    if below:
        ram["gte"] = int((mine + max(below)) / 2 * MB_PER_GB_FILTER)
    if above:
        ram["lt"] = int((mine + min(above)) / 2 * MB_PER_GB_FILTER)
    return names, ram


def _merge(query: dict[str, Any], field: str, ops: Mapping[str, Any]) -> None:
    """Add ops to a field, refusing contradictions (two different values for one op)."""
    current = query.setdefault(field, {})
    for op, value in ops.items():
        if op in current and current[op] != value:
            if op in ("gte", "gt"):
                value = max(current[op], value)
            elif op in ("lte", "lt"):
                value = min(current[op], value)
            else:
                raise ValidationError(
                    f"two filters ask {field} {op} {current[op]!r} and {value!r}",
                    field=field,
                    hint="Give one value for it.",
                )
        current[op] = value


def _order(order_by: str | Iterable[str]) -> list[list[str]]:
    items = [order_by] if isinstance(order_by, str) else list(order_by)
    out = []
    for item in items:
        desc = item.startswith("-")
        key = item.lstrip("-+")
        if key in ORDER_ALIASES:
            field, direction = ORDER_ALIASES[key]
            if item.startswith(("-", "+")):
                direction = "desc" if desc else "asc"
        elif key in SEARCH_FIELDS:
            field, direction = key, "desc" if desc else "asc"
        else:
            known = [*ORDER_ALIASES, *sorted(SEARCH_FIELDS)]
            raise ValidationError(
                f"order_by={item!r} is not a field Vast can sort offers by."
                f"{did_you_mean(key, known)}",
                field="order_by",
                hint=f"Use one of {', '.join(ORDER_ALIASES)} or a Vast offer field; "
                "prefix '-' for descending.",
            )
        out.append([field, direction])
    if len(out) == 1 and out[0][0] != "id":
        # a tiebreaker keeps equal prices in a stable order (and the spec's schema asks for
        # two sort entries)
        out.append(["id", "asc"])
    return out


def _gpu_filter(q: dict[str, Any], gpu: str | Iterable[str]) -> None:
    """``gpu_name`` (and ``gpu_ram`` for a name Vast shares between memory sizes)."""
    gpus = [gpu] if isinstance(gpu, str) else list(gpu)
    if not gpus:
        raise ValidationError("gpu=[] matches nothing", field="gpu", hint="Leave gpu out.")
    names: list[str] = []
    ram_filters: list[tuple[str, dict[str, float] | None]] = []
    for g in gpus:
        found, ram = vast_gpu_names(g)
        names += [n for n in found if n not in names]
        ram_filters.append((g, ram))
    needing = [(g, r) for g, r in ram_filters if r]
    if needing and len(gpus) > 1:
        g, _ = needing[0]
        others = [x for x in gpus if x != g]
        shown = "/".join(repr(n) for n in vast_gpu_names(g)[0])
        raise ValidationError(
            f"Vast names {g} {shown} like other memory sizes, so it needs a GPU-memory "
            f"filter that cannot be combined with {others} in one query",
            field="gpu",
            hint="Search each GPU separately.",
        )
    q["gpu_name"] = {"in": names}
    if needing:
        _merge(q, "gpu_ram", needing[0][1] or {})


def _count_filters(
    q: dict[str, Any], num_gpus: int | Iterable[int] | None, min_gpus: int | None
) -> None:
    """``num_gpus``: an exact count, one of several, and/or a lower bound."""
    if num_gpus is not None:
        if isinstance(num_gpus, int):
            counts = [num_gpus]
            ops: dict[str, Any] = {"eq": num_gpus}
        else:
            counts = sorted(set(num_gpus))
            ops = {"in": counts}
        if not counts or any(not isinstance(n, int) or n < 1 for n in counts):
            raise ValidationError(
                f"num_gpus={num_gpus!r} must be a count >= 1 or a list of them", field="num_gpus"
            )
        _merge(q, "num_gpus", ops)
    if min_gpus is not None:
        if min_gpus < 1:
            raise ValidationError("min_gpus must be >= 1", field="min_gpus")
        _merge(q, "num_gpus", {"gte": int(min_gpus)})


def _bound_filters(
    q: dict[str, Any],
    min_vram_gb: float | None,
    max_price_per_hr: float | None,
    min_reliability: float | None,
) -> None:
    """Lower and upper bounds: GPU memory, the offer's $/h, the host's reliability."""
    if min_vram_gb is not None:
        if min_vram_gb <= 0:
            raise ValidationError("min_vram_gb must be > 0", field="min_vram_gb")
        _merge(q, "gpu_ram", {"gte": int(min_vram_gb * MB_PER_GB_FILTER)})
    if max_price_per_hr is not None:
        if max_price_per_hr <= 0:
            raise ValidationError("max_price_per_hr must be > 0", field="max_price_per_hr")
        _merge(q, "dph_total", {"lte": float(max_price_per_hr)})
    if min_reliability is not None:
        if not 0 <= min_reliability <= 1:
            raise ValidationError(
                "min_reliability is a fraction between 0 and 1 (e.g. 0.98)",
                field="min_reliability",
            )
        _merge(q, "reliability", {"gte": float(min_reliability)})


def _country_filter(q: dict[str, Any], countries: str | Iterable[str]) -> None:
    """``geolocation`` in these two-letter country codes."""
    codes = [countries] if isinstance(countries, str) else list(countries)
    bad = [c for c in codes if not isinstance(c, str) or not _COUNTRY.match(c)]
    if bad or not codes:
        raise ValidationError(
            f"countries={countries!r}: Vast filters locations by two-letter country codes",
            field="countries",
            hint="Use codes such as ['US', 'CA', 'DE'].",
        )
    q["geolocation"] = {"in": [c.upper() for c in codes]}


def _extra_filters(q: dict[str, Any], extra: Mapping[str, Mapping[str, Any]]) -> None:
    """Raw Vast filters, checked for known fields and operators."""
    for field, raw_ops in extra.items():
        if field not in SEARCH_FIELDS:
            raise ValidationError(
                f"{field!r} is not a Vast offer field.{did_you_mean(field, SEARCH_FIELDS)}",
                field="extra",
            )
        if not isinstance(raw_ops, Mapping) or not raw_ops:
            raise ValidationError(f"extra[{field!r}] must be {{op: value}}", field="extra")
        for op in raw_ops:
            if op not in OPERATORS:
                raise ValidationError(
                    f"{op!r} is not a Vast query operator",
                    field="extra",
                    hint=f"Use one of {', '.join(OPERATORS)}.",
                )
        _merge(q, field, raw_ops)


def build_query(
    *,
    gpu: str | Iterable[str] | None = None,
    num_gpus: int | Iterable[int] | None = None,
    min_gpus: int | None = None,
    min_vram_gb: float | None = None,
    max_price_per_hr: float | None = None,
    min_reliability: float | None = None,
    countries: str | Iterable[str] | None = None,
    verified: bool | None = True,
    type: OfferType = "on-demand",
    order_by: str | Iterable[str] = "price",
    limit: int | None = None,
    disk_gb: float | None = None,
    offer_ids: int | Iterable[int] | None = None,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The Vast search body for these filters (see the module docstring).

    ``gpu`` takes canonical names or Vast names (one or several); ``num_gpus`` an exact count
    or a list of counts; ``min_gpus`` a lower bound; ``min_vram_gb`` GPU memory per GPU;
    ``verified`` None for verified and unverified machines; ``max_price_per_hr`` the whole
    offer's $/h (the bid price for ``type="bid"``);
    ``countries`` two-letter codes; ``order_by`` a friendly key (``price``, ``reliability``,
    ``value``, ...) or a Vast field, ``-`` for descending; ``disk_gb`` the disk to price in;
    ``extra`` raw Vast filters (``{"cuda_max_good": {"gte": 12.4}}``), checked for known
    fields and operators.
    """
    q: dict[str, Any] = {"rentable": {"eq": True}, "rented": {"eq": False}}
    if verified is not None:  # None: either (the vast CLI drops the key for verified=any)
        q["verified"] = {"eq": bool(verified)}
    q["external"] = {"eq": False}  # the vast CLI's default: offers Vast itself can rent out
    if gpu is not None:
        _gpu_filter(q, gpu)
    _count_filters(q, num_gpus, min_gpus)
    _bound_filters(q, min_vram_gb, max_price_per_hr, min_reliability)
    if countries is not None:
        _country_filter(q, countries)
    if offer_ids is not None:
        ids = [offer_ids] if isinstance(offer_ids, int) else list(offer_ids)
        q["id"] = {"eq": ids[0]} if len(ids) == 1 else {"in": ids}
    _extra_filters(q, extra or {})
    if type not in ("on-demand", "bid", "reserved"):
        raise ValidationError(
            f"type={type!r} must be 'on-demand', 'bid' (interruptible) or 'reserved'",
            field="type",
        )
    q["type"] = type  # always, spelt as the vast CLI spells it
    q["order"] = _order(order_by)
    if limit is not None:
        if not isinstance(limit, int) or limit < 1:
            raise ValidationError("limit must be a positive integer", field="limit")
        q["limit"] = limit
    if disk_gb is not None:
        if disk_gb <= 0:
            raise ValidationError("disk_gb must be > 0", field="disk_gb")
        q["allocated_storage"] = float(disk_gb)
    return q


#: country names Vast writes in ``geolocation`` (``"California, United States"``) -> ISO code
COUNTRY_CODES: dict[str, str] = {
    "argentina": "AR", "australia": "AU", "austria": "AT", "belgium": "BE", "brazil": "BR",
    "bulgaria": "BG", "canada": "CA", "chile": "CL", "china": "CN", "colombia": "CO",
    "croatia": "HR", "czechia": "CZ", "czech republic": "CZ", "denmark": "DK", "estonia": "EE",
    "finland": "FI", "france": "FR", "germany": "DE", "greece": "GR", "hong kong": "HK",
    "hungary": "HU", "iceland": "IS", "india": "IN", "indonesia": "ID", "ireland": "IE",
    "israel": "IL", "italy": "IT", "japan": "JP", "kazakhstan": "KZ", "latvia": "LV",
    "lithuania": "LT", "luxembourg": "LU", "malaysia": "MY", "mexico": "MX", "moldova": "MD",
    "netherlands": "NL", "the netherlands": "NL", "new zealand": "NZ", "norway": "NO",
    "philippines": "PH", "poland": "PL", "portugal": "PT", "romania": "RO", "russia": "RU",
    "serbia": "RS", "singapore": "SG", "slovakia": "SK", "slovenia": "SI",
    "south africa": "ZA", "south korea": "KR", "korea": "KR", "republic of korea": "KR",
    "spain": "ES", "sweden": "SE", "switzerland": "CH", "taiwan": "TW", "thailand": "TH",
    "turkey": "TR", "türkiye": "TR", "ukraine": "UA", "united arab emirates": "AE",
    "united kingdom": "GB", "great britain": "GB", "england": "GB", "uk": "GB",
    "united states": "US", "united states of america": "US", "usa": "US", "vietnam": "VN",
    "viet nam": "VN",
}  # fmt: skip


def country(geolocation: str | None) -> str | None:
    """The country code of Vast's geolocation: ``"City, CC"``, ``"State, Country Name"`` or
    just ``"Country Name"``.

    >>> country("Texas, US"), country("California, United States"), country("Norway")
    ('US', 'US', 'NO')
    >>> country("Atlantis"), country(None)
    (None, None)
    """
    if not geolocation:
        return None
    tail = geolocation.rsplit(",", 1)[-1].strip()
    if _COUNTRY.match(tail) and "," in geolocation:
        return tail.upper()
    return COUNTRY_CODES.get(tail.lower())
