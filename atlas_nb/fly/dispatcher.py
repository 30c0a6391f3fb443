"""Topic fan-out for Fly ops: log batches and deploy lines reach subscribers here.

A subscriber is a callback (called on atlas_nb's loop) or an ``asyncio.Queue``. Queues are
bounded by a threshold: a subscriber that falls further behind than that is *evicted* — it is
unsubscribed and gets an :class:`Evicted` notice as its last message — instead of letting memory
grow without bound. A callback that raises is logged and, after repeated failures, dropped.
Everything here runs on the loop thread (no locks).

    >>> import asyncio
    >>> async def demo():
    ...     d = Dispatcher()
    ...     sub = d.subscribe("logs:web", threshold=2)
    ...     for n in range(4):
    ...         d.dispatch("logs:web", n)
    ...     return [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    >>> asyncio.run(demo())  # doctest: +NORMALIZE_WHITESPACE
    [0, 1, Evicted(topic='logs:web', queue_len=2, threshold=2)]
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("atlas_nb.fly.dispatcher")

DEFAULT_THRESHOLD = 10_000
MAX_CALLBACK_FAILURES = 3


@dataclass(frozen=True)
class Evicted:
    """Last message to a queue subscriber that fell ``threshold`` messages behind."""

    topic: str
    queue_len: int
    threshold: int


class DispatchSubscription:
    """One subscriber of one topic. ``queue`` is set for queue subscribers."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        topic: str,
        *,
        callback: Callable[[Any], None] | None,
        threshold: int,
    ) -> None:
        self.id = next(dispatcher._ids)
        self.dispatcher = dispatcher
        self.topic = topic
        self.callback = callback
        self.threshold = threshold
        self.queue: asyncio.Queue[Any] | None = None if callback else asyncio.Queue()
        self.evicted = False
        self.closed = False
        self.failures = 0

    def deliver(self, message: Any) -> None:
        if self.callback is not None:
            try:
                self.callback(message)
                self.failures = 0
            except Exception:
                self.failures += 1
                log.warning(
                    "a subscriber of %s raised (%d in a row)",
                    self.topic,
                    self.failures,
                    exc_info=True,
                )
                if self.failures >= MAX_CALLBACK_FAILURES:
                    log.warning("dropping the failing subscriber of %s", self.topic)
                    self.close()
            return
        assert self.queue is not None
        size = self.queue.qsize()
        if size >= self.threshold:
            log.warning(
                "evicting slow subscriber of %s (queue_len=%d, threshold=%d)",
                self.topic,
                size,
                self.threshold,
            )
            self.evicted = True
            self.close()
            self.queue.put_nowait(Evicted(self.topic, size, self.threshold))
            return
        self.queue.put_nowait(message)

    def close(self) -> None:
        """Stop receiving (idempotent)."""
        if not self.closed:
            self.closed = True
            self.dispatcher._remove(self)


class Dispatcher:
    """Topics → subscribers; ``dispatch`` never raises."""

    def __init__(self) -> None:
        self._topics: dict[str, dict[int, DispatchSubscription]] = {}
        self._ids = itertools.count(1)
        #: called with the topic when its last subscriber leaves
        self.on_empty: dict[str, Callable[[str], None]] = {}

    def subscribe(
        self,
        topic: str,
        *,
        callback: Callable[[Any], None] | None = None,
        threshold: int = DEFAULT_THRESHOLD,
    ) -> DispatchSubscription:
        """Subscribe a callback, or (no callback) a bounded queue read from ``sub.queue``."""
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        sub = DispatchSubscription(self, topic, callback=callback, threshold=threshold)
        self._topics.setdefault(topic, {})[sub.id] = sub
        return sub

    def dispatch(self, topic: str, message: Any) -> int:
        """Deliver ``message`` to every subscriber of ``topic``; returns how many got it."""
        subs = self._topics.get(topic)
        if not subs:
            return 0
        n = 0
        for sub in list(subs.values()):
            if not sub.closed:
                sub.deliver(message)
                n += 1
        return n

    def drop_topic(self, topic: str) -> None:
        """Unsubscribe everyone from ``topic`` (its publisher is gone); no ``on_empty`` call.
        Queue subscribers can still read what was delivered before."""
        self.on_empty.pop(topic, None)
        for sub in list(self._topics.pop(topic, {}).values()):
            sub.closed = True

    def subscribers(self, topic: str) -> int:
        return len(self._topics.get(topic, ()))

    def _remove(self, sub: DispatchSubscription) -> None:
        subs = self._topics.get(sub.topic)
        if subs is None or subs.pop(sub.id, None) is None:
            return
        if not subs:
            del self._topics[sub.topic]
            hook = self.on_empty.get(sub.topic)
            if hook is not None:
                try:
                    hook(sub.topic)
                except Exception:
                    log.warning("on_empty hook for %s failed", sub.topic, exc_info=True)
