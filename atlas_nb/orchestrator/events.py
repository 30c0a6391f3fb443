"""Orchestrator events: what happened to a tracked compute, for callbacks, iterators and widgets.

Kinds: ``status`` (data: status), ``heartbeat`` (data: ok, status, spend_usd, error?),
``terminating`` (data: reason), ``terminated``, ``terminate_failed`` (data: error, retry_in_s),
``store_error`` (data: action, error; for a quarantined record also ``restored``: whether this
process wrote its good copy back), ``action`` (data: action, by, owner: someone untracked,
stopped or terminated it by hand). With a team store (Redis) every kernel sees the events of
the others (``data["by"]`` names the process); ``heartbeat`` stays local.
Each event is also emitted as telemetry ``atlas.compute.event``.

    >>> bus = EventBus()
    >>> seen = []
    >>> unsubscribe = bus.subscribe(seen.append)
    >>> bus.publish(ComputeEvent("pod1", "terminating", {"reason": "idle_timeout"}))
    >>> seen[0].kind, seen[0].data["reason"]
    ('terminating', 'idle_timeout')
    >>> unsubscribe()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from .. import telemetry
from .._runtime import DualIterator, current_runtime, get_runtime

log = logging.getLogger("atlas_nb.orchestrator")

_MAX_QUEUE = 10_000


@dataclass(frozen=True)
class ComputeEvent:
    compute_id: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


Callback = Callable[[ComputeEvent], None]


class EventBus:
    """Fan-out of events to callbacks; runs on the runtime loop (callbacks must be quick)."""

    def __init__(self) -> None:
        self._callbacks: list[tuple[str | None, Callback]] = []

    def subscribe(self, callback: Callback, compute_id: str | None = None) -> Callable[[], None]:
        entry = (compute_id, callback)
        self._callbacks.append(entry)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(entry)

        return unsubscribe

    def publish(self, event: ComputeEvent) -> None:
        telemetry.emit(
            "atlas.compute.event",
            {},
            {"compute_id": event.compute_id, "event": event.kind, **event.data},
        )
        for compute_id, callback in list(self._callbacks):
            if compute_id is not None and compute_id != event.compute_id:
                continue
            try:
                callback(event)
            except Exception:  # one broken subscriber must not stop the others
                log.warning("orchestrator event subscriber %r raised", callback, exc_info=True)


class EventSubscription:
    """Events for one compute (or all): a sync/async iterator, a context manager, ``close()``.

    Slow consumers are protected: past 10 000 queued events the oldest are dropped.
    """

    def __init__(self, bus: EventBus, compute_id: str | None = None) -> None:
        self._queue: asyncio.Queue[ComputeEvent | None] = asyncio.Queue()
        self.dropped = 0
        self._loop = get_runtime().loop
        self._unsubscribe = bus.subscribe(self._push, compute_id)
        self.closed = False

    def _push(self, event: ComputeEvent) -> None:
        if self._queue.qsize() >= _MAX_QUEUE:
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
                self.dropped += 1
        self._queue.put_nowait(event)

    async def _events(self) -> AsyncIterator[ComputeEvent]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    def __iter__(self) -> DualIterator[ComputeEvent]:
        return DualIterator(self._events)

    def __aiter__(self) -> DualIterator[ComputeEvent]:
        return DualIterator(self._events)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._unsubscribe()
        rt = current_runtime()
        if rt is not None:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)

    def __enter__(self) -> EventSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> EventSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
