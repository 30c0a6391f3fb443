"""One poller per app log (and filter), shared by all its subscribers.

The first subscription starts the poller — it is registered before the first poll, so the
first batch is not lost — and closing the last one stops it (no zombie pollers). Polls run
every ``fly_poll_interval_s`` (a full page is followed at once by the next), back off
exponentially on errors, and stop for good on errors that polling cannot fix (the token is
rejected even after a refresh, the app does not exist, no token at all). When a poller stops,
every subscriber gets a :class:`LogsStopped` message with the reason.

Subscribers are callbacks (called on the loop with :class:`LogBatch` / :class:`LogsStopped`
/ :class:`~atlas_nb.fly.dispatcher.Evicted` messages) or bounded queues read through the
:class:`LogSubscription`, which is a context manager and a sync/async iterator of lists of
:class:`~atlas_nb.models.LogEntry`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..._runtime import DualIterator, current_runtime, get_runtime
from ...config import settings
from ...errors import (
    AtlasError,
    ManualTokenStoreCorrupt,
    NotFoundError,
    UnauthorizedError,
)
from ...models import LogEntry
from ...transport.paths import segment
from ..dispatcher import DEFAULT_THRESHOLD, DispatchSubscription, Evicted
from .client import FlyLogsClient
from .cursor import LogCursor

if TYPE_CHECKING:
    from .._services import FlyServices

log = logging.getLogger("atlas_nb.fly.logs")

PAGE_SIZE = 100
MAX_PAGES_PER_POLL = 10
MAX_BACKOFF_S = 60.0

Key = tuple[str, str | None, str | None]


@dataclass(frozen=True)
class LogBatch:
    """New entries of ``app`` (oldest first, never seen before by this poller)."""

    app: str
    entries: list[LogEntry]


@dataclass(frozen=True)
class LogsStopped:
    """The poller of ``app`` stopped; ``error`` is set when it stopped because of one."""

    app: str
    reason: str
    error: BaseException | None = None


class SlowSubscriberError(AtlasError):
    """A log subscription fell too far behind and was dropped."""

    default_hint = "Read the subscription faster, or subscribe with a callback."


def backoff_delay(
    interval: float, failures: int, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after ``failures`` consecutive failed polls (jittered ±20 %).

    >>> [round(backoff_delay(2.0, n, rand=lambda: 0.5), 1) for n in (1, 2, 3, 10)]
    [4.0, 8.0, 16.0, 60.0]
    """
    base = min(interval * (2.0 ** min(failures, 16)), MAX_BACKOFF_S)
    return base * (0.8 + 0.4 * rand())


def fatal(exc: BaseException) -> bool:
    """Errors that another poll cannot fix (the stream stops and says why)."""
    return isinstance(exc, (UnauthorizedError, NotFoundError, ManualTokenStoreCorrupt))


def check_app_name(app: Any) -> str:
    """``app`` if it is a Fly app name (the one rule for names placed in URL paths)."""
    segment(app, "fly_app", field="app")
    return str(app)


class LogStreamer:
    """The poller of one (app, region, instance)."""

    _ids = itertools.count(1)

    def __init__(
        self,
        registry: StreamerRegistry,
        key: Key,
        *,
        poll_interval: float,
        client: FlyLogsClient,
    ) -> None:
        self.registry = registry
        self.key = key
        self.app = key[0]
        self.topic = f"fly.logs:{key[0]}:{key[1] or '*'}:{key[2] or '*'}#{next(self._ids)}"
        self.poll_interval = poll_interval
        self.client = client
        self.cursor = LogCursor()
        self.status = "starting"
        self.failures = 0
        self.polls = 0
        self.task: asyncio.Task[None] | None = None
        self._stop_reason: str | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"fly logs {self.app}")

    def stop(self, reason: str) -> None:
        """Cancel the poller (its subscribers get :class:`LogsStopped` with ``reason``)."""
        if self._stop_reason is None:
            self._stop_reason = reason
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _poll(self) -> None:
        for _ in range(MAX_PAGES_PER_POLL):
            page = await self.client.fetch(self.cursor.token)
            self.polls += 1
            fresh = self.cursor.accept(page)
            if fresh:
                self.registry.services.dispatcher.dispatch(self.topic, LogBatch(self.app, fresh))
            if len(page.entries) + page.skipped < PAGE_SIZE:
                return

    async def _run(self) -> None:
        reason, error = "stopped", None
        try:
            while True:
                try:
                    await self._poll()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if fatal(exc):
                        reason, error = f"error: {exc}", exc
                        log.warning("stopping the Fly log stream of %s: %s", self.app, exc)
                        return
                    self.failures += 1
                    self.status = "backoff"
                    delay = backoff_delay(self.poll_interval, self.failures)
                    retry_after = getattr(exc, "retry_after_s", None)
                    if retry_after:
                        delay = max(delay, min(float(retry_after), MAX_BACKOFF_S))
                    if self.failures & (self.failures - 1) == 0:  # 1, 2, 4, 8... in a row
                        log.warning(
                            "Fly logs of %s: poll failed %d time(s) in a row (%s); retrying in "
                            "%.1f s",
                            self.app,
                            self.failures,
                            exc,
                            delay,
                        )
                    await asyncio.sleep(delay)
                    continue
                self.failures = 0
                self.status = "streaming"
                await asyncio.sleep(self.poll_interval)
        except asyncio.CancelledError:
            reason = self._stop_reason or "closed"
            raise
        finally:
            self.status = "stopped"
            self.registry._finished(self, reason, error)


class LogSubscription:
    """A subscriber's handle: ``close()`` it (or use ``with``); iterate it for batches.

    ``stopped_reason`` says why the stream ended (closed, the poller stopped, evicted).
    """

    def __init__(self, sub: DispatchSubscription, streamer: LogStreamer) -> None:
        self._sub = sub
        self.streamer = streamer
        self.app, self.region, self.instance = streamer.key
        self.stopped_reason: str | None = None
        self.error: BaseException | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _close_now(self) -> None:
        # loop thread only
        if self._closed:
            return
        self._closed = True
        self.stopped_reason = self.stopped_reason or "closed"
        self._sub.close()
        if self._sub.queue is not None:
            self._sub.queue.put_nowait(_CLOSED)

    async def _aclose(self) -> None:
        self._close_now()

    async def aclose(self) -> None:
        """Unsubscribe; the poller stops when this was its last subscriber."""
        await get_runtime().arun(self._aclose())

    def close(self) -> None:
        """Unsubscribe (from any thread); the poller stops when this was its last subscriber."""
        rt = current_runtime()
        if rt is None:
            self._closed = True
        elif rt.in_loop_thread:
            self._close_now()
        else:
            rt.run(self._aclose())

    def __enter__(self) -> LogSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> LogSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def batches(self) -> AsyncIterator[list[LogEntry]]:
        """Batches until the subscription ends; a stop caused by an error raises it."""
        queue = self._sub.queue
        if queue is None:
            raise TypeError("a callback subscription delivers to its callback; it is not iterable")
        while True:
            msg = await queue.get()
            if isinstance(msg, LogBatch):
                yield msg.entries
            elif isinstance(msg, LogsStopped):
                self.stopped_reason, self.error = msg.reason, msg.error
                self._close_now()
                if msg.error is not None:
                    raise msg.error
                return
            elif isinstance(msg, Evicted):
                self.stopped_reason = "evicted: fell too far behind"
                self._closed = True
                raise SlowSubscriberError(
                    f"the log subscription of {self.app} fell {msg.queue_len} batches behind "
                    "and was dropped",
                    provider="fly",
                )
            else:  # closed
                return

    def __iter__(self) -> DualIterator[list[LogEntry]]:
        return DualIterator(self.batches)

    def __aiter__(self) -> DualIterator[list[LogEntry]]:
        return DualIterator(self.batches)

    def __repr__(self) -> str:
        state = self.stopped_reason or ("closed" if self._closed else "open")
        return f"<LogSubscription {self.app}: {state}>"


_CLOSED = object()


class StreamerRegistry:
    """Get-or-create of pollers, keyed by (app, region, instance). Loop thread only."""

    def __init__(self, services: FlyServices) -> None:
        self.services = services
        self._streamers: dict[Key, LogStreamer] = {}

    def subscribe(
        self,
        app: str,
        *,
        region: str | None = None,
        instance: str | None = None,
        callback: Callable[[Any], None] | None = None,
        threshold: int = DEFAULT_THRESHOLD,
    ) -> LogSubscription:
        """Subscribe (starting the poller if needed). Never waits on I/O."""
        key: Key = (check_app_name(app), region or None, instance or None)
        dispatcher = self.services.dispatcher
        streamer = self._streamers.get(key)
        if streamer is None:
            client = FlyLogsClient(app, region=key[1], instance=key[2])
            streamer = LogStreamer(
                self, key, poll_interval=settings().fly_poll_interval_s, client=client
            )
            self._streamers[key] = streamer
            dispatcher.on_empty[streamer.topic] = functools.partial(self._last_left_topic, streamer)
            sub = dispatcher.subscribe(streamer.topic, callback=callback, threshold=threshold)
            streamer.start()
        else:
            sub = dispatcher.subscribe(streamer.topic, callback=callback, threshold=threshold)
        return LogSubscription(sub, streamer)

    def _last_left_topic(self, streamer: LogStreamer, _topic: str) -> None:
        if self._streamers.get(streamer.key) is streamer:
            del self._streamers[streamer.key]  # a new subscriber gets a fresh poller
        streamer.stop("no subscribers left")

    def _finished(self, streamer: LogStreamer, reason: str, error: BaseException | None) -> None:
        if self._streamers.get(streamer.key) is streamer:
            del self._streamers[streamer.key]
        dispatcher = self.services.dispatcher
        dispatcher.on_empty.pop(streamer.topic, None)
        dispatcher.dispatch(streamer.topic, LogsStopped(streamer.app, reason, error))
        dispatcher.drop_topic(streamer.topic)

    def running(self, app: str, region: str | None = None, instance: str | None = None) -> bool:
        s = self._streamers.get((app, region, instance))
        return s is not None and s.task is not None and not s.task.done()

    def streamers(self) -> list[LogStreamer]:
        return list(self._streamers.values())

    async def stop(
        self,
        app: str,
        region: str | None = None,
        instance: str | None = None,
        reason: str = "stopped",
    ) -> bool:
        s = self._streamers.pop((app, region, instance), None)
        if s is None:
            return False
        s.stop(reason)
        if s.task is not None:
            with contextlib.suppress(BaseException):
                await s.task
        return True

    async def close_all(self, reason: str) -> None:
        streamers, self._streamers = list(self._streamers.values()), {}
        for s in streamers:
            s.stop(reason)
        tasks = [s.task for s in streamers if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5)
