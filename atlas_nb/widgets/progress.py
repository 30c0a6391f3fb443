"""A progress bar for waits (pod boot, a queued launch): a widget in Jupyter, silent elsewhere.

>>> with progress_bar("waiting", total=10, enabled=False) as bar:
...     bar.update(5, "starting")
...     print(bar.text)
waiting: starting (5/10 s)
>>> bar.text
'waiting: done (5/10 s)'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._env import in_notebook


class ProgressBar:
    """Elapsed-vs-total progress with a status word; ``text`` is its deterministic plain form."""

    def __init__(self, description: str, total: float, *, widget: bool) -> None:
        self.description = description
        self.total = max(total, 1e-9)
        self.value = 0.0
        self.status = ""
        self._bar: Any = None
        self._label: Any = None
        if widget:
            import ipywidgets as w
            from IPython.display import display

            self._bar = w.FloatProgress(
                value=0.0, min=0.0, max=self.total, description=description[:20]
            )
            self._label = w.Label(value="")
            self._box = w.HBox([self._bar, self._label])
            display(self._box)

    @property
    def text(self) -> str:
        return f"{self.description}: {self.status} ({self.value:g}/{self.total:g} s)"

    def update(self, value: float, status: str = "") -> None:
        self.value = round(min(max(value, 0.0), self.total), 1)
        self.status = status
        if self._bar is not None:
            self._bar.value = self.value
            self._label.value = status

    def finish(self, status: str = "done") -> None:
        self.status = status
        if self._bar is not None:
            self._bar.bar_style = "success" if status == "done" else "danger"
            self._label.value = status


@contextmanager
def progress_bar(
    description: str, *, total: float, enabled: bool | None = None
) -> Iterator[ProgressBar]:
    """Show a bar while the block runs (``enabled=None``: only in a notebook)."""
    widget = in_notebook() if enabled is None else bool(enabled) and in_notebook()
    bar = ProgressBar(description, total, widget=widget)
    try:
        yield bar
    except BaseException:
        bar.finish("failed")
        raise
    bar.finish("done")
