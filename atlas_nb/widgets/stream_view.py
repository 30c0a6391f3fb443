"""``StreamView``: the live viewer behind log streams, deploy consoles and job streams.

The front end receives only new rows, batched to at most ``1 / flush_interval`` (8.3) messages per
second however fast rows arrive; a view that (re)renders asks for the bounded history once.
Memory is bounded on both sides (``max_lines``). Filtering (text, level), pause/resume,
clear and follow-tail work in the browser; ``paused`` stops sending (rows keep arriving and
are delivered on resume, up to ``max_lines``).

    >>> view = StreamView(mode="lines", title="demo", max_lines=3)
    >>> view.push(["a", "b", "c", "d"])
    >>> [row[1] for row in view.encoded()]
    ['b', 'c', 'd']
    >>> view.text_repr()
    "StreamView(mode='lines', title='demo', status='starting')"
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .._runtime import current_runtime, get_runtime

_HERE = Path(__file__).resolve().parent


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def encode_log(entry: Any) -> list[Any]:
    """A LogEntry as the compact row the front end renders."""
    return [_ms(entry.timestamp), entry.level, entry.region, entry.instance, entry.message]


def encode_line(item: Any) -> list[Any]:
    """A text line (or a ``(epoch_ms, text)`` pair) as a front-end row."""
    if isinstance(item, tuple):
        return [item[0], item[1]]
    return [int(time.time() * 1000), str(item)]


def line_bytes(row: list[Any]) -> int:
    """Size of the row as the plain-text line it stands for (time, level, ..., message)."""
    return len(" ".join("" if v is None else str(v) for v in row).encode())


class StreamView(anywidget.AnyWidget):
    """The live viewer (anywidget). Feed it with :meth:`push`; see the module docstring."""

    _esm = _HERE / "stream_view.js"
    _css = _HERE / "stream_view.css"

    mode = traitlets.Unicode("logs").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("starting").tag(sync=True)
    filter_text = traitlets.Unicode("").tag(sync=True)
    filter_level = traitlets.Unicode("all").tag(sync=True)
    paused = traitlets.Bool(False).tag(sync=True)
    follow = traitlets.Bool(True).tag(sync=True)
    max_lines = traitlets.Int(5000).tag(sync=True)
    cancellable = traitlets.Bool(False).tag(sync=True)

    def __init__(
        self,
        *,
        mode: str = "logs",
        title: str = "",
        max_lines: int = 5000,
        flush_interval: float = 0.12,
        on_cancel: Callable[[], Any] | None = None,
        on_close: Callable[[], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._closed = False
        super().__init__(
            mode=mode, title=title, max_lines=max_lines, cancellable=on_cancel is not None, **kwargs
        )
        self._encode = encode_log if mode == "logs" else encode_line
        self._items: deque[Any] = deque(maxlen=max_lines)
        self._lock = threading.Lock()
        self._pending = 0
        self._replace: Any = None
        self._flush_interval = flush_interval
        self._last_flush = 0.0
        self._flush_scheduled = False
        self._on_cancel = on_cancel
        self._on_close = on_close
        self._stats = {"messages": 0, "bytes": 0, "rows_sent": 0, "line_bytes": 0}
        self.on_msg(self._from_front_end)
        self.observe(self._on_paused, names=["paused"])

    # -- feeding ---------------------------------------------------------------------------
    def push(self, items: Iterable[Any]) -> None:
        """Add rows (LogEntry in ``logs`` mode, text lines otherwise); thread-safe."""
        added = 0
        with self._lock:
            for item in items:
                self._items.append(item)
                added += 1
            self._pending = min(self._pending + added, self.max_lines)
        if added:
            self._schedule_flush()

    def replace_last(self, item: Any) -> None:
        """Redraw the newest row (a ``\\r`` progress line) instead of adding one."""
        with self._lock:
            if not self._items:
                self._items.append(item)
                self._pending = min(self._pending + 1, self.max_lines)
            else:
                self._items[-1] = item
                if self._pending == 0:  # the browser already has that row: redraw it there
                    self._replace = item
        self._schedule_flush()

    def encoded(self) -> list[list[Any]]:
        """Every held row, encoded as the front end receives it."""
        with self._lock:
            items = list(self._items)
        return [self._encode(i) for i in items]

    @property
    def items(self) -> list[Any]:
        with self._lock:
            return list(self._items)

    def _schedule_flush(self) -> None:
        with self._lock:  # pushes (loop) and resumes (comm thread) must not both schedule
            if self._flush_scheduled or self._closed:
                return
            self._flush_scheduled = True
        rt = get_runtime()
        delay = max(0.0, self._last_flush + self._flush_interval - time.monotonic())
        if rt.in_loop_thread:
            rt.loop.call_later(delay, self._flush)
        else:
            rt.loop.call_soon_threadsafe(rt.loop.call_later, delay, self._flush)

    def _flush(self) -> None:
        with self._lock:
            self._flush_scheduled = False
        if self.paused or self._closed:
            return
        with self._lock:
            n = self._pending
            self._pending = 0
            batch = list(self._items)[-n:] if n else []
            replace, self._replace = self._replace, None
        if not batch and replace is None:
            return
        self._last_flush = time.monotonic()
        rows = [self._encode(i) for i in batch]
        message: dict[str, Any] = {"type": "rows", "rows": rows}
        if replace is not None:
            message["replace_last"] = self._encode(replace)
        self._send_rows(message, rows)

    @property
    def stats(self) -> dict[str, int]:
        """What was sent so far (``messages``, ``bytes``, ``rows_sent``, ``line_bytes``): one
        consistent snapshot, taken after the messages it counts were sent."""
        with self._lock:
            return dict(self._stats)

    def _send_rows(self, message: dict[str, Any], rows: list[list[Any]]) -> None:
        size = len(json.dumps(message, separators=(",", ":"), default=str))
        payload = sum(line_bytes(r) for r in rows)
        self.send(message)
        with self._lock:  # all four together, so no reader sees a half-counted message
            self._stats["messages"] += 1
            self._stats["bytes"] += size
            self._stats["rows_sent"] += len(rows)
            self._stats["line_bytes"] += payload

    def _on_paused(self, change: dict[str, Any]) -> None:
        if not change["new"]:
            self._schedule_flush()

    def _from_front_end(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "hello":
            with self._lock:  # snapshot and pending together: nothing lost or sent twice
                items = list(self._items)
                self._pending = 0
                self._replace = None
            rows = [self._encode(i) for i in items]
            self._send_rows({"type": "reset", "rows": rows}, rows)
        elif kind == "clear":
            self.clear()
        elif kind == "cancel" and self._on_cancel is not None:
            self._on_cancel()

    def clear(self) -> None:
        """Forget every held row, here and in the browser."""
        with self._lock:
            self._items.clear()
            self._pending = 0
        self.send({"type": "clear"})

    def set_status(self, text: str) -> None:
        """Update the status line (thread-safe trait update)."""
        if self.status != text:
            self.status = text

    @property
    def is_closed(self) -> bool:
        """True once :meth:`close` ran (a closed view shows nothing more)."""
        return bool(getattr(self, "_closed", True))

    def close(self) -> None:
        if not getattr(self, "_closed", True):
            self._closed = True
            if self._on_close is not None:
                result = self._on_close()
                if asyncio.iscoroutine(result):
                    rt = current_runtime()  # none after shutdown or at exit: nothing to stop
                    if rt is None:
                        result.close()
                    else:
                        rt.spawn(result)
        super().close()

    # -- text ------------------------------------------------------------------------------
    def text_repr(self) -> str:
        return f"StreamView(mode={self.mode!r}, title={self.title!r}, status={self.status!r})"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):
            data, meta = bundle
            return {**data, "text/plain": self.text_repr()}, meta
        if isinstance(bundle, dict):
            return {**bundle, "text/plain": self.text_repr()}
        return bundle
