"""Styled display of atlas_nb's DataFrames, while they stay plain DataFrames.

Every frame atlas_nb returns carries ``df.attrs["atlas_kind"]`` and the columns it was made with
(``df.attrs["atlas_columns"]``, see :func:`atlas_nb.frames.mark`). In IPython a display
formatter renders such a frame, and any row or column selection of it (``df.head()``,
``df[mask][cols]``, ``df.set_index(...)``), with money formatted, availability / status coloured,
text left-aligned and times shown to the second in your timezone. A frame whose columns are not
the ones atlas_nb made (a pivot, a groupby result) displays as pandas shows it.

    >>> import pandas as pd
    >>> from atlas_nb.frames import mark
    >>> df = mark(pd.DataFrame({"provider": ["mock"], "price_per_hr": [0.44],
    ...                         "availability": ["high"]}), "offers")
    >>> "$0.44" in styled_html(df) and "#2e7d32" in styled_html(df)
    True
    >>> is_styled(df), is_styled(df[["provider"]]), is_styled(df.T)
    (True, True, False)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .theme import AVAILABILITY_COLOURS, STATUS_COLOURS, money

if TYPE_CHECKING:
    import pandas as pd
else:
    from .._lazy import pandas as pd

MAX_ROWS = 60
MONEY_SUFFIXES = ("price_per_hr", "price_per_gpu_hr", "cost_per_hr", "_usd")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _colour(table: dict[str, str]) -> Any:
    def css(value: Any) -> str:
        colour = table.get(str(value).lower())
        return f"color: {colour}; font-weight: 600" if colour else ""

    return css


def is_styled(df: pd.DataFrame) -> bool:
    """True for a frame atlas_nb returned, or a selection of its rows / columns."""
    made = df.attrs.get("atlas_columns")
    if not df.attrs.get("atlas_kind") or not isinstance(made, tuple):
        return False
    try:
        return set(df.columns) <= set(made)
    except TypeError:  # unhashable column labels: not ours
        return False


def local_time(value: Any) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM:SS`` in this machine's timezone (naive: as it is).

    >>> import pandas as pd
    >>> local_time(pd.NaT), len(local_time(pd.Timestamp("2026-01-02T03:04:05.678+00:00")))
    ('-', 19)
    """
    if value is None or pd.isna(value):
        return "-"
    stamp = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    if isinstance(stamp, datetime) and stamp.tzinfo is not None:
        stamp = stamp.astimezone()  # the system's local timezone (DST per value)
    return str(stamp.strftime(TIME_FORMAT))


def plain_number(value: Any) -> str:
    """A float with as many decimals as it has (up to 6): ``0.44`` stays ``0.44``.

    >>> plain_number(0.44), plain_number(16.0), plain_number(1234567.891), plain_number(None)
    ('0.44', '16', '1,234,567.891', '-')
    """
    if value is None or pd.isna(value):
        return "-"
    text = f"{float(value):,.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _timezone_name() -> str:
    return datetime.now().astimezone().strftime("%Z") or "local time"


_RULE = re.compile(r"((?:#T_\w+(?:,\s*)?)+)\s*\{([^}]*)\}")
_CELL = re.compile(r'<(td|th) id="(T_\w+)"')


def inline_styles(html: str) -> str:
    """Copy the Styler's per-cell CSS rules into ``style=""`` attributes, so the styling
    survives where ``<style>`` blocks are dropped (JupyterLab's sanitizer on a saved notebook
    that is not trusted, GitHub, nbviewer).

    >>> inline_styles('<style>#T_a_row0_col0, #T_a_row1_col0 {\\n  color: red;\\n}</style>'
    ...               '<td id="T_a_row0_col0" class="data">x</td>').split("</style>")[1]
    '<td id="T_a_row0_col0" style="color: red;" class="data">x</td>'
    """
    rules: dict[str, list[str]] = {}
    for selectors, body in _RULE.findall(html):
        props = " ".join(p.strip() + ";" for p in body.split(";") if p.strip())
        for sel in selectors.split(","):
            rules.setdefault(sel.strip().lstrip("#"), []).append(props)
    if not rules:
        return html

    def attach(m: re.Match[str]) -> str:
        props = rules.get(m.group(2))
        return m.group(0) + (f' style="{" ".join(props)}"' if props else "")

    return _CELL.sub(attach, html)


def _default_index(index: pd.Index) -> bool:
    return (
        isinstance(index, pd.RangeIndex)
        and index.name is None
        and index.start == 0
        and index.step == 1
    )


def styled_html(df: pd.DataFrame) -> str:
    """HTML of an atlas_nb frame: money formatted, availability and status coloured, text
    left-aligned, times to the second in your timezone; a non-default index is kept."""
    shown = df.head(MAX_ROWS)
    hide_index = _default_index(df.index)
    if not hide_index and not shown.index.is_unique:  # the Styler needs unique labels
        shown, hide_index = shown.reset_index(), True
    formats: dict[Any, Any] = {}
    text: list[Any] = []
    for col in shown.columns:
        dtype = shown[col].dtype
        if _is_text(dtype):
            text.append(col)
        elif (fmt := _column_format(str(col), dtype)) is not None:
            formats[col] = fmt
    has_times = local_time in formats.values()
    style = shown.style.format(formats, na_rep="-")
    if isinstance(shown.index, pd.DatetimeIndex):
        style = style.format_index(local_time, axis="index")
    if text:
        style = style.set_properties(subset=text, **{"text-align": "left"})
    for col, colours in (("availability", AVAILABILITY_COLOURS), ("status", STATUS_COLOURS)):
        if col in shown.columns:
            style = style.map(_colour(colours), subset=[col])
    if hide_index:
        style = style.hide(axis="index")
    if has_times:
        style = style.set_caption(f"times in {_timezone_name()}").set_table_styles(
            [{"selector": "caption", "props": "caption-side: bottom; font-size: 0.85em"}],
            overwrite=False,
        )
    style = style.set_table_attributes('class="atlas-table"')
    more = f"<p><i>{len(df) - MAX_ROWS:,} more rows</i></p>" if len(df) > MAX_ROWS else ""
    html = inline_styles(style.to_html())
    if has_times:  # the caption's own rule, inline too
        html = html.replace(
            "<caption>", '<caption style="caption-side: bottom; font-size: 0.85em">'
        )
    return html + more


def _is_text(dtype: Any) -> bool:
    api = pd.api.types
    special = api.is_datetime64_any_dtype, api.is_bool_dtype, api.is_numeric_dtype
    return not any(is_kind(dtype) for is_kind in special)


def _column_format(name: str, dtype: Any) -> Callable[[Any], str] | None:
    """How a non-text column's cells are written (None: as pandas writes them)."""
    api = pd.api.types
    if api.is_datetime64_any_dtype(dtype):
        return local_time
    if api.is_bool_dtype(dtype):
        return None
    if name.endswith(MONEY_SUFFIXES):
        return money
    if name.endswith("_gb"):
        return lambda v: "-" if pd.isna(v) else f"{plain_number(v)} GB"
    if name.endswith("_s"):
        return lambda v: "-" if pd.isna(v) else f"{v:,.0f} s"
    return plain_number if api.is_float_dtype(dtype) else None


def _format(df: pd.DataFrame) -> str | None:
    if is_styled(df):
        try:
            return styled_html(df)
        except Exception:  # display must never fail: fall back to pandas' own HTML
            pass
    html: str | None = df._repr_html_()  # type: ignore[operator]
    return html


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
