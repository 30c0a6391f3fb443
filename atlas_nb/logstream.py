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

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pandas as pd

from ._runtime import DualIterator, current_runtime, get_runtime
from .config import settings
from .frames import logs_frame
from .models import LogEntry

Batch = list[LogEntry]
Listener = Callable[[str, Any], None]  # (kind, payload): ("entries", batch) | ("status", text)

_END = object()


class LogStream:
    """A live, bounded log buffer fed by ``source``; see the module docstring."""

    def __init__(
        self,
        source: Callable[[], AsyncIterator[Batch]],
        *,
        title: str,
        maxlen: int | None = None,
        on_close: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        self.title = title
        self.maxlen = maxlen or settings().log_buffer_lines
        self._buffer: deque[LogEntry] = deque(maxlen=self.maxlen)
        self._lock = threading.Lock()
        self._queues: list[asyncio.Queue[Any]] = []
        self._listeners: list[Listener] = []
        self._source = source
        self._on_close = on_close
        self.status = "starting"
        self.reason: str | None = None
        self.total = 0
        self._closed = False
        self._task = get_runtime().spawn(self._pump(), name=f"logstream {title}")

    # -- pumping ---------------------------------------------------------------------------
    async def _pump(self) -> None:
        self._set_status("streaming")
        reason = "the source ended"
        try:
            async for batch in self._source():
                if batch:
                    self._publish(batch)
        except asyncio.CancelledError:
            reason = "closed"
            raise
        except Exception as exc:
            reason = f"error: {exc}"
        finally:
            self._finish(reason)

    def _publish(self, batch: Batch) -> None:
        with self._lock:
            self._buffer.extend(batch)
            self.total += len(batch)
        for q in list(self._queues):
            q.put_nowait(batch)
        for listener in list(self._listeners):
            try:
                listener("entries", batch)
            except Exception:  # a broken view must not stop the stream
                self._listeners.remove(listener)

    def _set_status(self, status: str, reason: str | None = None) -> None:
        self.status, self.reason = status, reason
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):
                listener("status", self.status_line)

    def _finish(self, reason: str) -> None:
        self._set_status("stopped", reason)
        for q in list(self._queues):
            q.put_nowait(_END)

    @property
    def status_line(self) -> str:
        """``streaming``, ``stopped: <reason>`` ..."""
        return self.status if not self.reason else f"{self.status}: {self.reason}"

    # -- consumers -------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(kind, payload)`` on new entries and status changes (on the loop)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    @property
    def entries(self) -> list[LogEntry]:
        """A snapshot of what the buffer holds (oldest first)."""
        with self._lock:
            return list(self._buffer)

    def __len__(self) -> int:
        with self._lock:
            return len(self._buffer)

    def to_frame(self) -> pd.DataFrame:
        """What the stream holds as a DataFrame (``frames.LOG_COLUMNS``)."""
        return logs_frame(self.entries)

    async def _batches(self) -> AsyncIterator[Batch]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        history = self.entries
        if history:
            queue.put_nowait(history)
        if self.status == "stopped":
            queue.put_nowait(_END)
        self._queues.append(queue)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                yield item
        finally:
            with contextlib.suppress(ValueError):
                self._queues.remove(queue)

    def __iter__(self) -> DualIterator[Batch]:
        return DualIterator(self._batches)

    def __aiter__(self) -> DualIterator[Batch]:
        return DualIterator(self._batches)

    # -- lifecycle -------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Stop the stream and release its subscription."""
        if self._closed:
            return
        self._closed = True
        rt = get_runtime()
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await rt.arun(_wait(self._task))
        if self._on_close is not None:
            result = self._on_close()
            if asyncio.iscoroutine(result):
                await rt.arun(result)

    def close(self) -> None:
        rt = current_runtime()
        if rt is None:
            self._closed = True
            return
        if rt.in_loop_thread:
            rt.spawn(self.aclose())
        else:
            rt.run(self.aclose())

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> LogStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> LogStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<LogStream {self.title}: {self.status_line}, {len(self)} lines>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": repr(self)}


async def _wait(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(BaseException):
        await task
