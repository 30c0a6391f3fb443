"""``Broadcast``: pump an async source on atlas_nb's loop into a bounded buffer and fan it out.

The base of :class:`~atlas_nb.logstream.LogStream` and :class:`~atlas_nb.jobstream.JobStream`.
The source yields batches; the broadcast keeps the newest ``maxlen`` items, calls listeners
(widgets) and feeds any number of iterators. An iterator first gets what the buffer holds,
then every new batch, with nothing lost or repeated in between; if the source failed, the
iteration ends by raising its error. It is a context manager and
``close()`` cancels the pump.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

from ._runtime import get_runtime, run_anywhere

T = TypeVar("T")
Listener = Callable[[str, Any], None]  # (kind, payload): ("entries", batch) | ("status", text)

_END = object()


class Broadcast(Generic[T]):
    """See the module docstring. ``status`` is starting / streaming / stopped."""

    def __init__(
        self,
        source: Callable[[], AsyncIterator[list[T]]],
        *,
        title: str,
        maxlen: int,
        on_close: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        self.title = title
        self.maxlen = maxlen
        self._buffer: deque[T] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._queues: list[asyncio.Queue[Any]] = []
        self._listeners: list[Listener] = []
        self._source = source
        self._on_close = on_close
        self.status = "starting"
        self.reason: str | None = None
        self.error: BaseException | None = None
        self.total = 0
        self._closed = False
        self._viewer: Any = None
        self._task = get_runtime().spawn(self._pump(), name=f"broadcast {title}")

    # -- pumping ---------------------------------------------------------------------------
    async def _pump(self) -> None:
        self._set_status("streaming")
        reason = self._ended_reason()
        try:
            async for batch in self._source():
                if batch:
                    self._publish(batch)
        except asyncio.CancelledError:
            reason = "closed"
            raise
        except Exception as exc:
            self.error = exc
            reason = f"error: {exc}"
        finally:
            self._finish(reason)

    def _ended_reason(self) -> str:
        return "the source ended"

    def _publish(self, batch: list[T]) -> None:
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
        """Call ``listener(kind, payload)`` on new batches and status changes (on the loop)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    @property
    def entries(self) -> list[T]:
        """A snapshot of what the buffer holds (oldest first)."""
        with self._lock:
            return list(self._buffer)

    def __len__(self) -> int:
        with self._lock:
            return len(self._buffer)

    async def _batches(self) -> AsyncIterator[list[T]]:
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
                    if self.error is not None:  # the source failed: say so, don't just end
                        raise self.error
                    return
                yield item
        finally:
            with contextlib.suppress(ValueError):
                self._queues.remove(queue)

    # -- lifecycle -------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Stop the pump and release the source (awaitable from any event loop)."""
        await get_runtime().arun(self._aclose())

    async def _aclose(self) -> None:  # on atlas_nb's loop: the pump task lives there
        if self._closed:
            return
        self._closed = True
        if not self._task.done():
            self._task.cancel()
            await _wait(self._task)
        if self._on_close is not None:
            result = self._on_close()
            if asyncio.iscoroutine(result):
                await result

    def close(self) -> None:
        if not run_anywhere(self._aclose):
            self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _wait(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(BaseException):
        await task
