"""``LogStream``: one object for live logs (Fly apps, pods), everywhere.

It pumps batches of :class:`~atlas_nb.models.LogEntry` from a source on the runtime loop into a
bounded ring buffer. In Jupyter it displays itself as the live log viewer; elsewhere it is an
iterator (sync and async) of lists of entries and a context manager; ``to_frame()`` returns
what it holds; ``close()`` ends the subscription.

    >>> import atlas_nb as atlas
    >>> c = atlas.spawn(provider="mock", gpu="l4", image="python:3.11")
    >>> with atlas.logs(c.id, provider="mock") as stream:
    ...     first = next(iter(stream))
    >>> first[0].message
    'container started (#0)'
    >>> atlas.terminate(c.id, provider="mock")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._runtime import DualIterator
from .broadcast import Broadcast
from .config import settings
from .frames import logs_frame
from .models import LogEntry

if TYPE_CHECKING:
    import pandas as pd
else:
    from ._lazy import pandas as pd

Batch = list[LogEntry]


class LogStream(Broadcast[LogEntry]):
    """A live, bounded log buffer fed by ``source``; see the module docstring."""

    def __init__(
        self,
        source: Callable[[], AsyncIterator[Batch]],
        *,
        title: str,
        maxlen: int | None = None,
        on_close: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        super().__init__(
            source, title=title, maxlen=maxlen or settings().log_buffer_lines, on_close=on_close
        )

    def to_frame(self) -> pd.DataFrame:
        """What the stream holds as a DataFrame (``frames.LOG_COLUMNS``)."""
        return logs_frame(self.entries)

    def __iter__(self) -> DualIterator[Batch]:
        """Batches of entries: what the buffer holds first, then every new batch."""
        return DualIterator(self._batches)

    def __aiter__(self) -> DualIterator[Batch]:
        return DualIterator(self._batches)

    def __enter__(self) -> LogStream:
        return self

    async def __aenter__(self) -> LogStream:
        return self

    def __repr__(self) -> str:
        return f"<LogStream {self.title}: {self.status_line}, {len(self)} lines>"

    # -- notebook and terminal display ----------------------------------------------------------
    def viewer(self) -> Any:
        """The live log viewer widget of this stream (one per stream)."""
        from .widgets.log_viewer import attach

        if self._viewer is None or self._viewer.is_closed:
            self._viewer = attach(self)
        return self._viewer

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        from .widgets._env import in_notebook

        if in_notebook():
            return self.viewer()._repr_mimebundle_(include=include, exclude=exclude)
        return {"text/plain": f"LogStream({self.title!r})"}

    def follow(self, *, file: Any = None, limit: int | None = None) -> int:
        """Print lines as they arrive (outside Jupyter) until the stream stops, ``limit``
        lines were printed, or Ctrl-C. Returns the number printed."""
        import sys

        out = file or sys.stdout
        printed = 0
        try:
            for batch in self:
                for entry in batch:
                    out.write(format_entry(entry) + "\n")
                    printed += 1
                    if limit is not None and printed >= limit:
                        return printed
                out.flush()
        except KeyboardInterrupt:
            pass
        return printed


def format_entry(entry: LogEntry) -> str:
    """One log entry as a terminal line: time, level, region, instance, message."""
    ts = entry.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if entry.timestamp else "-"
    parts = [ts, (entry.level or "-").upper()[:5].ljust(5)]
    if entry.region:
        parts.append(entry.region)
    if entry.instance:
        parts.append(entry.instance)
    parts.append(entry.message)
    return " ".join(parts)
