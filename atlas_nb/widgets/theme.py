"""The one place for widget colours and money formatting (tables, dashboard, launch view, reprs).

The stylesheet ``stream_view.css`` names the same colours as CSS variables (``--atlas-good``
...); a unit test checks the two agree.

    >>> status_colour("running") == PALETTE["good"]
    True
    >>> money(1234.5), money(0.0421), money(0.0421, digits=2), money(None)
    ('$1,234.50', '$0.0421', '$0.04', '-')
"""

from __future__ import annotations

from typing import Any

#: Named colours (Material 800 shades: readable on light and dark JupyterLab themes).
PALETTE: dict[str, str] = {
    "good": "#2e7d32",  # running, launched, high availability
    "busy": "#f9a825",  # provisioning, starting, medium availability
    "warn": "#ef6c00",  # stopping, interrupted, low availability
    "bad": "#c62828",  # failed, errors
    "idle": "#757575",  # stopped, skipped, unknown
    "gone": "#424242",  # terminated
    "info": "#1565c0",  # in progress, info log level, finished jobs
    "muted": "#888888",  # timestamps, counters
    "region": "#6a1b9a",
    "instance": "#00838f",
}

#: Compute status → colour (``ComputeStatus`` values).
STATUS_COLOURS: dict[str, str] = {
    "running": PALETTE["good"],
    "provisioning": PALETTE["busy"],
    "starting": PALETTE["busy"],
    "stopping": PALETTE["warn"],
    "stopped": PALETTE["idle"],
    "terminating": PALETTE["warn"],
    "terminated": PALETTE["gone"],
    "failed": PALETTE["bad"],
}

#: Offer availability → colour.
AVAILABILITY_COLOURS: dict[str, str] = {
    "high": PALETTE["good"],
    "medium": PALETTE["busy"],
    "low": PALETTE["warn"],
    "none": PALETTE["bad"],
    "unknown": PALETTE["idle"],
}

#: Launch attempt outcome → colour (any other outcome is a failure: ``PALETTE["bad"]``).
OUTCOME_COLOURS: dict[str, str] = {
    "launched": PALETTE["good"],
    "skipped": PALETTE["idle"],
    "interrupted": PALETTE["warn"],
}


def status_colour(status: Any, default: str = "#333333") -> str:
    """The colour of a compute status (a ``ComputeStatus`` or its value)."""
    return STATUS_COLOURS.get(str(getattr(status, "value", status)).lower(), default)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN
    except (TypeError, ValueError):  # pandas.NA
        return True


def money(value: Any, digits: int | None = None) -> str:
    """USD as text: ``digits`` decimals, or by default 2 from $0.10 up and up to 4 below (cents
    of a cheap GPU-hour matter; a value rounded to fewer keeps its rounding); ``-`` if missing.

        >>> money(0.04), money(0.0421), money(0.04213), money(2.5)
        ('$0.04', '$0.0421', '$0.0421', '$2.50')
    """
    if _missing(value):
        return "-"
    number = float(value)
    if digits is None:
        digits = 2
        if abs(number) < 0.1:
            digits = next((d for d in (2, 3) if round(number, d) == number), 4)
    return f"${number:,.{digits}f}"
