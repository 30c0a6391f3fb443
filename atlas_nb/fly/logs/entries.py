"""Parsing Fly's logs API pages, tolerantly, with nanosecond timestamps.

A page is a JSON:API document ``{"data": [{"id", "attributes": {...}}], "meta":
{"next_token": "<ns>"}}`` (provider-apis.md §6b). Malformed entries (not an object, no
attributes, an unparseable timestamp) are skipped and counted, never fatal.

    >>> parse_timestamp_ns("2026-01-01T00:00:00.123456789Z")
    1767225600123456789
    >>> parse_timestamp_ns("2024-01-01T02:00:02+02:00")
    1704067202000000000
    >>> parse_timestamp_ns("yesterday") is None
    True
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ...models import LogEntry

log = logging.getLogger("atlas_nb.fly.logs")

_TS = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})"
    r"(?:[.,](\d{1,9})\d*)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?\s*$"
)


def parse_timestamp_ns(value: Any) -> int | None:
    """RFC 3339 text (up to 9 fractional digits, ``Z`` or an offset; no offset means UTC) or
    an integer of epoch nanoseconds → epoch nanoseconds; ``None`` when unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if not isinstance(value, str):
        return None
    m = _TS.match(value)
    if not m:
        if value.strip().isdigit():
            return int(value.strip())
        return None
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    try:
        datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    frac = (m.group(7) or "").ljust(9, "0")
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    if m.group(9):
        sign = 1 if m.group(9) == "+" else -1
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        seconds -= sign * (oh * 3600 + om * 60)
    return seconds * 1_000_000_000 + int(frac)


def ns_to_datetime(ns: int) -> datetime:
    """Epoch nanoseconds → an aware UTC datetime (microsecond precision).

    >>> ns_to_datetime(1767225600123456789).isoformat()
    '2026-01-01T00:00:00.123456+00:00'
    """
    seconds, rem = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rem // 1_000)


@dataclass(frozen=True)
class ParsedEntry:
    """A log entry plus its exact timestamp in epoch nanoseconds (for cursors and dedupe)."""

    entry: LogEntry
    ts_ns: int

    @property
    def key(self) -> tuple[int, str, str]:
        e = self.entry
        return (self.ts_ns, e.instance or "", e.message)


@dataclass
class Page:
    """One parsed page: good entries (server order), the cursor it returned, what was bad."""

    entries: list[ParsedEntry] = field(default_factory=list)
    next_token: str | None = None
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value)
        return text or None
    return None


def parse_entry(item: Any, app: str | None = None) -> ParsedEntry | str:
    """One ``data[]`` item → :class:`ParsedEntry`, or a short reason why it was skipped."""
    if not isinstance(item, Mapping):
        return f"entry is a {type(item).__name__}, not an object"
    attrs = item.get("attributes", item)
    if not isinstance(attrs, Mapping):
        return "entry has no attributes object"
    ts_ns = parse_timestamp_ns(attrs.get("timestamp"))
    if ts_ns is None:
        return f"unparseable timestamp {str(attrs.get('timestamp'))[:40]!r}"
    message = attrs.get("message")
    if message is None:
        message = ""
    if not isinstance(message, str):
        return f"message is a {type(message).__name__}, not text"
    raw_meta = attrs.get("meta")
    meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    level = _str(attrs.get("level"))
    entry = LogEntry(
        timestamp=ns_to_datetime(ts_ns),
        message=message.rstrip("\n"),
        level=level.lower() if level else None,
        region=_str(attrs.get("region")) or _str(meta.get("region")),
        instance=_str(attrs.get("instance")) or _str(meta.get("instance")),
        app=app,
        id=_str(item.get("id")),
    )
    return ParsedEntry(entry, ts_ns)


def parse_page(body: Any, app: str | None = None) -> Page:
    """A decoded response body → :class:`Page`. A body that is not a logs document at all
    raises ``ValueError`` (the caller treats it as a failed fetch)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("data", []), list):
        raise ValueError(f"not a Fly logs document (got {type(body).__name__})")
    page = Page()
    for item in body.get("data") or []:
        parsed = parse_entry(item, app)
        if isinstance(parsed, str):
            page.skipped += 1
            page.reasons.append(parsed)
        else:
            page.entries.append(parsed)
    meta = body.get("meta")
    if isinstance(meta, Mapping):
        token = meta.get("next_token")
        if isinstance(token, (str, int)) and not isinstance(token, bool) and str(token).strip():
            page.next_token = str(token).strip()
    if page.skipped:
        log.warning(
            "skipped %d malformed log entr%s for %s: %s",
            page.skipped,
            "y" if page.skipped == 1 else "ies",
            app,
            "; ".join(sorted(set(page.reasons))[:3]),
        )
    return page
