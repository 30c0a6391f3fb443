"""What ``atlas.launch`` shows while it tries offers: a live list in a notebook, lines elsewhere.

Every reporter has the same calls: ``attempt_started(row)``, ``attempt_waiting(row,
provision_timeout_s)`` (created, waiting for it to run), ``attempt_finished(row)`` and
``finished(summary, ok=...)``, where a row is one attempt of
:data:`~atlas_nb.core.launch.ATTEMPT_COLUMNS`. In a terminal each finished attempt is a line:

    >>> import io
    >>> out = io.StringIO()
    >>> lines = LaunchLines("launch 1 x h100", stream=out)
    >>> lines.attempt_finished({"attempt": 1, "provider": "vast", "gpu": "h100", "gpu_count": 1,
    ...     "region": "SE", "price_per_hr": 1.5669, "outcome": "offer_gone",
    ...     "reason": "offer taken", "seconds": 0.04})
    >>> print(out.getvalue().strip())
    launch 1 x h100: #1 vast 1 x h100 SE $1.567/h -> offer_gone (0.0 s): offer taken
"""

from __future__ import annotations

import html
import sys
from collections.abc import Mapping
from typing import IO, Any

from ._env import in_notebook
from .theme import OUTCOME_COLOURS, PALETTE


def _present(value: Any) -> bool:
    """Not None, NaN, NA or empty (rows come from DataFrames)."""
    import pandas as pd

    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return False
    return str(value) != ""


def describe_offer(row: Mapping[str, Any]) -> str:
    """``vast 1 x h100 SE $1.567/h`` (what was tried), from an attempt row.

    >>> describe_offer({"provider": "lambda", "gpu": "h100", "gpu_count": 1,
    ...                 "region": "us-east-1", "price_per_hr": 3.29})
    'lambda 1 x h100 us-east-1 $3.29/h'
    """
    bits = [str(row.get("provider") or "?")]
    if _present(row.get("gpu")):
        count: Any = row.get("gpu_count")
        bits.append(f"{int(count) if _present(count) else 1} x {row['gpu']}")
    if _present(row.get("region")):
        bits.append(str(row["region"]))
    if _present(row.get("price_per_hr")):
        bits.append(f"${float(row['price_per_hr']):.4g}/h")
    return " ".join(bits)


def format_attempt(row: Mapping[str, Any]) -> str:
    """One finished attempt as a line (pure; the terminal lines and the widget's text form).

    >>> format_attempt({"provider": "lambda", "outcome": "skipped", "reason": "no credentials"})
    'lambda -> skipped: no credentials'
    """
    number = f"#{int(row['attempt'])} " if _present(row.get("attempt")) else ""
    seconds: Any = row.get("seconds")
    took = f" ({float(seconds):.1f} s)" if _present(seconds) and number else ""
    reason = f": {row['reason']}" if _present(row.get("reason")) else ""
    return f"{number}{describe_offer(row)} -> {row.get('outcome') or '?'}{took}{reason}"


class NullReporter:
    """Shows nothing (``progress=False``)."""

    def attempt_started(self, row: Mapping[str, Any]) -> None:
        pass

    def attempt_waiting(self, row: Mapping[str, Any], provision_timeout_s: float) -> None:
        pass

    def attempt_finished(self, row: Mapping[str, Any]) -> None:
        pass

    def finished(self, summary: str, *, ok: bool) -> None:
        pass


class LaunchLines(NullReporter):
    """A line per finished attempt, and one at the end, on a text stream (stderr by default)."""

    def __init__(self, title: str, *, stream: IO[str] | None = None) -> None:
        self.title = title
        self.stream = stream

    def _write(self, text: str) -> None:
        out = self.stream if self.stream is not None else sys.stderr
        print(f"{self.title}: {text}", file=out, flush=True)

    def attempt_finished(self, row: Mapping[str, Any]) -> None:
        self._write(format_attempt(row))

    def finished(self, summary: str, *, ok: bool) -> None:
        self._write(summary)


class LaunchView(NullReporter):
    """The notebook view: a progress line above the list of attempts, updated live.

    ``progress`` and ``table`` are ipywidgets ``HTML`` widgets (their ``value`` trait is what
    the page shows); ``lines`` holds the attempts as text, ``state`` is ``running``, ``done``
    or ``failed``.
    """

    def __init__(self, title: str, *, display: bool = True) -> None:
        import ipywidgets as w

        self.title = title
        self.lines: list[str] = []
        self._rows: list[str] = []
        self.state = "running"
        self.progress = w.HTML(value=self._progress_html("fetching offers..."))
        self.table = w.HTML(value="")
        self.widget = w.VBox([self.progress, self.table])
        self.widget.add_class("atlas-launch-view")
        if display:
            from IPython.display import display as show

            show(self)

    def _progress_html(self, text: str, colour: str = PALETTE["info"]) -> str:
        return (
            f'<div style="font-family:monospace;color:{colour}">'
            f"<b>{html.escape(self.title)}</b>: {html.escape(text)}</div>"
        )

    def attempt_started(self, row: Mapping[str, Any]) -> None:
        number = int(row["attempt"]) if _present(row.get("attempt")) else len(self.lines) + 1
        self.progress.value = self._progress_html(f"trying #{number}: {describe_offer(row)}...")

    def attempt_waiting(self, row: Mapping[str, Any], provision_timeout_s: float) -> None:
        self.progress.value = self._progress_html(
            f"#{row.get('attempt')}: {describe_offer(row)}: created {row.get('compute_id')}, "
            f"waiting for it to run (at most {provision_timeout_s:g} s)..."
        )

    def attempt_finished(self, row: Mapping[str, Any]) -> None:
        line = format_attempt(row)
        self.lines.append(line)
        outcome = str(row.get("outcome") or "")
        colour = OUTCOME_COLOURS.get(outcome, PALETTE["bad"])
        self._rows.append(f'<li style="color:{colour}">{html.escape(line)}</li>')
        self.table.value = (
            '<ol style="font-family:monospace;margin:2px 0;padding-left:1.5em">'
            + "".join(self._rows)
            + "</ol>"
        )

    def finished(self, summary: str, *, ok: bool) -> None:
        self.state = "done" if ok else "failed"
        colour = OUTCOME_COLOURS["launched"] if ok else PALETTE["bad"]
        self.progress.value = self._progress_html(summary, colour)

    def text_repr(self) -> str:
        return f"LaunchView({self.title!r}, state={self.state}, attempts={len(self.lines)})"

    def __repr__(self) -> str:
        return self.text_repr()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget view, with a deterministic text form (saved notebooks compare it)."""
        data: dict[str, Any] = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        data["text/plain"] = self.text_repr()
        return data


def launch_reporter(title: str, *, enabled: bool | None = None) -> NullReporter:
    """The reporter for this environment: the widget in a notebook, lines in a terminal,
    nothing with ``enabled=False``."""
    if enabled is False:
        return NullReporter()
    if in_notebook():
        return LaunchView(title)
    return LaunchLines(title)
