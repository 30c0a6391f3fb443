"""A progress bar for waits (pod boot, a queued launch), drawn by ``tqdm.auto``: a widget bar in
Jupyter and VS Code notebooks, a text bar on a terminal, nothing when output is not a terminal
(a log file, CI) unless asked for.

>>> with progress_bar("waiting", total=10, enabled=False) as bar:
...     bar.update(5, "starting")
...     print(bar.text)
waiting: starting (5/10 s)
>>> bar.text
'waiting: done (10/10 s)'
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from ._env import in_notebook

#: ``waiting for pod-1: ▕████    ▏ 12/600 s, starting`` (the notebook splits it at the bar).
BAR_FORMAT = "{desc}: {bar} {n:.0f}/{total:.0f} s{postfix}"


class ProgressBar:
    """Elapsed-vs-total progress with a status word; ``text`` is its deterministic plain form."""

    def __init__(
        self, description: str, total: float, *, show: bool, file: IO[str] | None = None
    ) -> None:
        self.description = description
        self.total = max(total, 1e-9)
        self.value = 0.0
        self.status = ""
        self._bar: Any = None
        if show:
            from tqdm.auto import tqdm

            # a terminal that reports no size (0 x 0) would hide the bar: fall back to 80 x 24;
            # a notebook bar keeps ipywidgets' own layout (a width in columns would squash it)
            size = shutil.get_terminal_size()
            text = file is None and not in_notebook()
            self._bar = tqdm(
                total=self.total,
                desc=description,
                bar_format=BAR_FORMAT,
                file=file,
                leave=True,
                ncols=min(size.columns, 100) if text else None,
                nrows=size.lines,
                mininterval=0.2,
            )

    @property
    def text(self) -> str:
        return f"{self.description}: {self.status} ({self.value:g}/{self.total:g} s)"

    def update(self, value: float, status: str = "") -> None:
        """Elapsed seconds so far (not an increment) and the current status word."""
        self.value = round(min(max(value, 0.0), self.total), 1)
        self.status = status
        if self._bar is not None:
            self._bar.n = self.value
            self._bar.set_postfix_str(status, refresh=False)
            self._bar.refresh()

    def finish(self, status: str = "done") -> None:
        """Fill the bar when done (green in a notebook); leave it where it was otherwise (red)."""
        self.status = status
        if status == "done":
            self.value = self.total
        bar, self._bar = self._bar, None
        if bar is None:
            return
        bar.n = self.value
        bar.set_postfix_str(status, refresh=False)
        if status != "done" and hasattr(bar, "container"):  # notebook: danger before close
            bar.disp(bar_style="danger", check_delay=False)
        bar.close()


def _terminal(file: IO[str] | None) -> bool:
    stream = file if file is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


@contextmanager
def progress_bar(
    description: str,
    *,
    total: float,
    enabled: bool | None = None,
    file: IO[str] | None = None,
) -> Iterator[ProgressBar]:
    """Show a bar while the block runs.

    ``enabled=None``: in a notebook, or when ``file`` (default stderr) is a terminal;
    ``True``: always (to ``file``); ``False``: never.
    """
    show = (in_notebook() or _terminal(file)) if enabled is None else bool(enabled)
    bar = ProgressBar(description, total, show=show, file=file)
    try:
        yield bar
    except BaseException:
        bar.finish("failed")
        raise
    bar.finish("done")
