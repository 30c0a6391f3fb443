"""Styled display of atlas_nb's DataFrames, while they stay plain DataFrames.

Frames atlas_nb returns carry ``df.attrs["atlas_kind"]`` ("offers", "gpu_types", "computes",
"tracked"). In IPython a display formatter renders those with prices formatted and
availability / status coloured; every other DataFrame displays as usual.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"provider": ["mock"], "price_per_hr": [0.44],
    ...                    "availability": ["high"]})
    >>> df.attrs["atlas_kind"] = "offers"
    >>> "$0.44" in styled_html(df) and "#2e7d32" in styled_html(df)
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
else:
    from .._lazy import pandas as pd

AVAILABILITY_COLOURS = {
    "high": "#2e7d32",
    "medium": "#f9a825",
    "low": "#ef6c00",
    "none": "#c62828",
    "unknown": "#757575",
}
STATUS_COLOURS = {
    "running": "#2e7d32",
    "provisioning": "#f9a825",
    "starting": "#f9a825",
    "stopping": "#ef6c00",
    "stopped": "#757575",
    "terminating": "#ef6c00",
    "terminated": "#424242",
    "failed": "#c62828",
}
MAX_ROWS = 60


def _colour(table: dict[str, str]) -> Any:
    def css(value: Any) -> str:
        colour = table.get(str(value).lower())
        return f"color: {colour}; font-weight: 600" if colour else ""

    return css


def _money(value: Any) -> str:
    return "-" if pd.isna(value) else f"${value:,.2f}" if value >= 0.1 else f"${value:,.4f}"


def styled_html(df: pd.DataFrame) -> str:
    """HTML of a marked frame: money formatted, availability and status coloured."""
    shown = df.head(MAX_ROWS)
    style = shown.style
    formats: dict[str, Any] = {}
    for col in shown.columns:
        if col.endswith(("price_per_hr", "price_per_gpu_hr", "cost_per_hr", "_usd")):
            formats[col] = _money
        elif col.endswith("_gb"):
            formats[col] = lambda v: "-" if pd.isna(v) else f"{v:g} GB"
        elif col.endswith("_s"):
            formats[col] = lambda v: "-" if pd.isna(v) else f"{v:,.0f} s"
        elif col == "fetched_at" or col.endswith("_at"):
            formats[col] = lambda v: "-" if pd.isna(v) else v.strftime("%Y-%m-%d %H:%M:%S")
    style = style.format(formats, na_rep="-")
    if "availability" in shown.columns:
        style = style.map(_colour(AVAILABILITY_COLOURS), subset=["availability"])
    if "status" in shown.columns:
        style = style.map(_colour(STATUS_COLOURS), subset=["status"])
    style = style.hide(axis="index")
    more = f"<p><i>{len(df) - MAX_ROWS:,} more rows</i></p>" if len(df) > MAX_ROWS else ""
    return style.to_html() + more


def _format(df: pd.DataFrame) -> str | None:
    if df.attrs.get("atlas_kind"):
        try:
            return styled_html(df)
        except Exception:  # display must never fail: fall back to pandas' own HTML
            pass
    return df._repr_html_()  # type: ignore[operator]


def register() -> bool:
    """Install the formatter in the running IPython (no-op elsewhere)."""
    import sys

    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    if shell is None:
        return False
    # by name, so registering does not import pandas (IPython resolves it once it is loaded)
    html = shell.display_formatter.formatters["text/html"]
    for module in ("pandas", "pandas.core.frame"):  # DataFrame.__module__ differs by version
        html.for_type_by_name(module, "DataFrame", _format)
    return True
