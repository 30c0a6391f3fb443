"""RunPod billing (REST v2 ``/v2/billing/{pods,serverless,network-volumes}``) as DataFrames.

One row per bucket and resource: ``time`` (bucket start, UTC), ``end_time``, the grouping key
(``pod_id``, ``endpoint_id`` or ``network_volume_id``), ``amount_usd`` and the cost components.

    >>> billing_params(start="2026-06-01T00:00:00Z", end=None, bucket="day", last=None)
    {'bucketSize': 'day', 'startTime': '2026-06-01T00:00:00Z'}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ...errors import ValidationError
from ...frames import UTC_TS, frame
from ...transport.http import HttpApi
from .translate import PROVIDER

if TYPE_CHECKING:
    import pandas as pd
else:
    from ..._lazy import pandas as pd

BUCKETS = ("hour", "day", "week", "month", "year")

#: kind -> (path, the record's key, our column, {record field: our column})
KINDS: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "pods": (
        "/v2/billing/pods",
        "podId",
        "pod_id",
        {"gpuAmount": "gpu_usd", "cpuAmount": "cpu_usd", "diskAmount": "disk_usd"},
    ),
    "serverless": (
        "/v2/billing/serverless",
        "serverlessId",
        "endpoint_id",
        {
            "gpuAmount": "gpu_usd",
            "cpuAmount": "cpu_usd",
            "diskAmount": "disk_usd",
            "feeAmount": "fee_usd",
        },
    ),
    "network_volumes": (
        "/v2/billing/network-volumes",
        "networkVolumeId",
        "network_volume_id",
        {"standardAmount": "standard_usd", "highPerformanceAmount": "high_performance_usd"},
    ),
}
FILTERS = {"pods": "podId", "serverless": "serverlessId", "network_volumes": "networkVolumeId"}


def columns(kind: str) -> dict[str, str]:
    """The frame schema of one billing kind."""
    _path, _key, column, parts = KINDS[kind]
    return {
        "time": UTC_TS,
        "end_time": UTC_TS,
        column: "string",
        "amount_usd": "Float64",
        **{name: "Float64" for name in parts.values()},
    }


def _when(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return value
    raise ValidationError(
        f"{field}={value!r} is not a time",
        field=field,
        provider=PROVIDER,
        hint="Pass a datetime or an RFC 3339 string like '2026-06-01T00:00:00Z'.",
    )


def billing_params(
    *,
    start: Any,
    end: Any,
    bucket: str,
    last: int | None,
    resource_id: str | None = None,
    kind: str = "pods",
) -> dict[str, Any]:
    """Query parameters for a billing call (validated)."""
    if bucket not in BUCKETS:
        raise ValidationError(
            f"bucket={bucket!r} is not a bucket size",
            field="bucket",
            provider=PROVIDER,
            hint=f"Use one of: {', '.join(BUCKETS)}.",
        )
    params: dict[str, Any] = {"bucketSize": bucket}
    if last is not None:
        if start is not None or end is not None:
            raise ValidationError(
                "last= cannot be combined with start=/end=", field="last", provider=PROVIDER
            )
        if last < 1:
            raise ValidationError("last must be >= 1", field="last", provider=PROVIDER)
        params["lastN"] = last
    for name, value in (("startTime", _when(start, "start")), ("endTime", _when(end, "end"))):
        if value is not None:
            params[name] = value
    if resource_id is not None:
        params[FILTERS[kind]] = resource_id
    return params


def billing_frame(kind: str, body: Any) -> pd.DataFrame:
    """A v2 billing response → DataFrame (``metadata`` kept in ``df.attrs``)."""
    _path, key, column, parts = KINDS[kind]
    records = body.get("records") if isinstance(body, Mapping) else None
    rows = []
    for rec in records or []:
        row = {
            "time": rec.get("startTime"),
            "end_time": rec.get("endTime"),
            column: rec.get(key),
            "amount_usd": rec.get("totalAmount"),
        }
        row.update({name: rec.get(field) for field, name in parts.items()})
        rows.append(row)
    df = frame(rows, columns(kind))
    if isinstance(body, Mapping):
        df.attrs["metadata"] = body.get("metadata") or {}
    return df


async def fetch(
    rest: HttpApi,
    kind: str,
    *,
    start: Any = None,
    end: Any = None,
    bucket: str = "day",
    last: int | None = None,
    resource_id: str | None = None,
) -> pd.DataFrame:
    """One billing kind over a time range as a DataFrame."""
    if kind not in KINDS:
        raise ValidationError(f"unknown billing kind {kind!r}", field="kind", provider=PROVIDER)
    params = billing_params(
        start=start, end=end, bucket=bucket, last=last, resource_id=resource_id, kind=kind
    )
    return billing_frame(kind, await rest.json("GET", KINDS[kind][0], params=params))
