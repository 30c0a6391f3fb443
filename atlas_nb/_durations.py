"""Durations as seconds: numbers, ``timedelta`` or strings like ``"90s"``, ``"30m"``, ``"1h30m"``.

>>> [to_seconds(v) for v in (90, 1.5, "90s", "30m", "2h", "1h30m", "500ms", "1d")]
[90.0, 1.5, 90.0, 1800.0, 7200.0, 5400.0, 0.5, 86400.0]
"""

from __future__ import annotations

import re
from datetime import timedelta

from .errors import ValidationError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")

Duration = int | float | timedelta | str


def to_seconds(value: Duration, *, field: str = "duration") -> float:
    """Convert a duration to seconds; bad input raises ``ValidationError`` naming ``field``."""
    if isinstance(value, bool):
        raise _bad(value, field)
    if isinstance(value, (int, float)):
        if value < 0:
            raise _bad(value, field)
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        try:
            return to_seconds(float(text), field=field)
        except ValueError:
            pass
        pos, total = 0, 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                raise _bad(value, field)
            total += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos == len(text) and pos > 0:
            return total
    raise _bad(value, field)


def optional_seconds(value: Duration | None, *, field: str = "duration") -> float | None:
    return None if value is None else to_seconds(value, field=field)


def _bad(value: object, field: str) -> ValidationError:
    return ValidationError(
        f"{field}={value!r} is not a duration",
        field=field,
        hint='Use seconds (90), a timedelta, or a string like "90s", "30m", "2h" or "1h30m".',
    )
