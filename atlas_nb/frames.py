"""DataFrames with documented, stable schemas (names, dtypes, units in the names).

Every table atlas_nb returns goes through :func:`frame`, so an empty result has the same
columns and dtypes as a full one.

    >>> df = frame([], COMPUTE_COLUMNS)
    >>> list(df.columns)[:4], len(df)
    (['id', 'provider', 'name', 'status'], 0)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from .models import Compute, GpuType, LogEntry

if TYPE_CHECKING:
    import pandas as pd
else:
    from ._lazy import pandas as pd

UTC_TS = "datetime64[ns, UTC]"

#: ``atlas.computes()``
COMPUTE_COLUMNS: dict[str, str] = {
    "id": "string",
    "provider": "string",
    "name": "string",
    "status": "string",
    "provider_status": "string",
    "gpu": "string",
    "gpu_count": "Int64",
    "image": "string",
    "region": "string",
    "cost_per_hr": "Float64",
    "public_ip": "string",
    "created_at": UTC_TS,
}

#: ``atlas.offers()`` (prices in USD per hour for the whole offer)
OFFER_COLUMNS: dict[str, str] = {
    "provider": "string",
    "gpu": "string",
    "gpu_count": "Int64",
    "vram_gb": "Float64",
    "vcpus": "Float64",
    "ram_gb": "Float64",
    "price_per_hr": "Float64",
    "spot_price_per_hr": "Float64",
    "region": "string",
    "availability": "string",
    "offer_id": "string",
    "fetched_at": UTC_TS,
    "native_id": "string",
    "price_per_gpu_hr": "Float64",
    "family": "string",
}

#: ``atlas.gpu_types()`` (prices in USD per GPU per hour)
GPU_TYPE_COLUMNS: dict[str, str] = {
    "provider": "string",
    "gpu": "string",
    "gpu_count": "Int64",
    "vram_gb": "Float64",
    "vcpus": "Float64",
    "ram_gb": "Float64",
    "price_per_hr": "Float64",
    "spot_price_per_hr": "Float64",
    "region": "string",
    "availability": "string",
    "offer_id": "string",
    "fetched_at": UTC_TS,
    "native_id": "string",
    "display_name": "string",
    "max_count": "Int64",
    "secure_price_per_hr": "Float64",
    "community_price_per_hr": "Float64",
    "serverless_price_per_hr": "Float64",
}

#: log viewers' ``to_frame()``
LOG_COLUMNS: dict[str, str] = {
    "timestamp": UTC_TS,
    "level": "string",
    "region": "string",
    "instance": "string",
    "app": "string",
    "message": "string",
}


def frame(rows: Iterable[Mapping[str, Any]], schema: Mapping[str, str]) -> pd.DataFrame:
    """Rows (dicts) → a DataFrame with exactly ``schema``'s columns and dtypes, in order.

    Missing keys become NA; extra keys are dropped.
    """
    records = list(rows)
    columns: dict[str, Any] = {}
    for c, dtype in schema.items():  # one typed array per column (no object frame first)
        values = [r.get(c) for r in records]
        if dtype == UTC_TS:
            stamps = pd.to_datetime(pd.Series(values, dtype="object"), utc=True)
            columns[c] = stamps.astype(cast(Any, UTC_TS)).array
        else:
            columns[c] = pd.array(values, dtype=cast(Any, dtype))
    df = pd.DataFrame(columns, index=pd.RangeIndex(len(records)), copy=False)
    return mark(df, "table")


def mark(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Tag a frame so notebooks display it styled (it stays a plain DataFrame).

    Records the columns atlas_nb made it with: selections of them stay styled, a frame the
    user reshapes (pivot, groupby, transpose) displays as pandas shows it.

        >>> import pandas as pd
        >>> mark(pd.DataFrame({"gpu": ["h100"]}), "offers").attrs
        {'atlas_kind': 'offers', 'atlas_columns': ('gpu',)}
    """
    df.attrs["atlas_kind"] = kind
    made = df.attrs.get("atlas_columns")
    df.attrs["atlas_columns"] = tuple(dict.fromkeys((*(made or ()), *map(str, df.columns))))
    return df


def computes_frame(computes: Iterable[Compute]) -> pd.DataFrame:
    return mark(frame((_compute_row(c) for c in computes), COMPUTE_COLUMNS), "computes")


def _compute_row(c: Compute) -> dict[str, Any]:
    row = c.model_dump(include=set(COMPUTE_COLUMNS))
    row["status"] = c.status.value
    return row


def gpu_types_frame(types: Iterable[GpuType]) -> pd.DataFrame:
    rows = []
    for t in types:
        row = t.model_dump(exclude={"raw", "regions"})
        row["gpu_count"] = 1
        row["region"] = ",".join(t.regions) if t.regions else None
        rows.append(row)
    df = frame(rows, GPU_TYPE_COLUMNS)
    df = df.sort_values(["provider", "price_per_hr"], na_position="last", kind="stable")
    return mark(df.reset_index(drop=True), "gpu_types")


def offers_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Offer rows → the offers frame, cheapest first, with ``price_per_gpu_hr`` and ``family``
    (``a100`` for both ``a100_80g`` and ``a100_40g`` rows) derived."""
    from .gpus import family_of

    df = frame(rows, OFFER_COLUMNS)
    df["price_per_gpu_hr"] = (df["price_per_hr"] / df["gpu_count"]).astype("Float64")
    df["family"] = pd.array([family_of(g) for g in df["gpu"].tolist()], dtype="string")
    df = df.sort_values("price_per_hr", na_position="last", kind="stable")
    return mark(df.reset_index(drop=True), "offers")


def logs_frame(entries: Iterable[LogEntry]) -> pd.DataFrame:
    return frame((e.model_dump() for e in entries), LOG_COLUMNS)
