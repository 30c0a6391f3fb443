"""``LogViewer``: a :class:`~atlas_nb.logstream.LogStream` shown live in the notebook.

It keeps streaming between cells and while another cell blocks (the stream is pumped on
atlas_nb's loop thread). Closing the viewer closes its subscription.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from .._runtime import get_runtime
from ..frames import logs_frame
from .stream_view import StreamView

if TYPE_CHECKING:
    from ..logstream import LogStream


class LogViewer(StreamView):
    """Level colouring, timestamp, region/instance columns, filter, pause, clear, follow."""

    def __init__(self, stream: LogStream, **kwargs: Any) -> None:
        super().__init__(
            mode="logs",
            title=stream.title,
            max_lines=stream.maxlen,
            on_close=stream.aclose,
            **kwargs,
        )
        self.stream = stream

    def to_frame(self) -> pd.DataFrame:
        """What the viewer holds, as a DataFrame (``frames.LOG_COLUMNS``)."""
        return logs_frame(self.items)

    def _listener(self, kind: str, payload: Any) -> None:
        if kind == "entries":
            self.push(payload)
        elif kind == "status":
            self.set_status("paused" if self.paused else payload)

    def _on_paused(self, change: dict[str, Any]) -> None:
        self.set_status("paused" if change["new"] else self.stream.status_line)
        super()._on_paused(change)

    def text_repr(self) -> str:
        return f"LogViewer({self.title!r})"


def attach(stream: LogStream) -> LogViewer:
    """A viewer subscribed to ``stream``: history first, then every new batch, no gaps."""
    viewer = LogViewer(stream)

    async def subscribe() -> None:  # on the loop, so no batch slips between the two steps
        viewer.push(stream.entries)
        viewer.set_status(stream.status_line)
        stream.add_listener(viewer._listener)

    rt = get_runtime()
    if rt.in_loop_thread:
        viewer.push(stream.entries)
        stream.add_listener(viewer._listener)
    else:
        rt.run(subscribe())
    return viewer
