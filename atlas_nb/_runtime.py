"""The runtime: one asyncio event loop owned by atlas_nb, running in a daemon thread.

All I/O in atlas_nb is ``async`` and runs on this loop. The sync facade submits coroutines to it
and waits; long-lived work (log streamers, token timers, trackers, the reaper) runs here as tasks,
so it keeps going while a notebook cell blocks.

    >>> from atlas_nb._runtime import get_runtime
    >>> async def answer():
    ...     return 42
    >>> get_runtime().run(answer())
    42
"""

from __future__ import annotations

import _thread
import asyncio
import atexit
import contextlib
import functools
import inspect
import logging
import os
import sys
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, ParamSpec, TypeVar

log = logging.getLogger("atlas_nb.runtime")

T = TypeVar("T")
P = ParamSpec("P")

_CANCEL_GRACE_S = 5.0


class LoopThreadError(RuntimeError):
    """A sync atlas_nb function was called on atlas_nb's own event loop thread.

    That would deadlock (the loop would wait for itself), so it is refused. Code running on the
    loop (callbacks, telemetry handlers, custom providers) must ``await`` the ``atlas_nb.aio``
    twin instead.
    """


class Runtime:
    """Owns the event loop thread and the per-runtime services (HTTP clients, streamers...)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._services: dict[Any, Any] = {}
        self._services_lock = threading.Lock()
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._last_closers: list[Callable[[], Awaitable[None]]] = []
        self._closed = False
        self._closing = False
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="atlas-nb-runtime", daemon=True
        )
        self._thread.start()
        ready.wait()

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        try:
            self.loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    # -- where are we ------------------------------------------------------------------------
    @property
    def in_loop_thread(self) -> bool:
        return threading.get_ident() == self._thread.ident

    @property
    def closed(self) -> bool:
        return self._closed

    # -- running coroutines ------------------------------------------------------------------
    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result from a plain thread.

        ``KeyboardInterrupt`` (the notebook's stop button) cancels the coroutine on the loop,
        waits briefly for it to unwind (so sockets are closed), then re-raises.
        """
        if self.in_loop_thread:
            coro.close()
            raise LoopThreadError(
                "a sync atlas_nb function was called from atlas_nb's own event loop thread "
                "(inside a callback, telemetry handler or provider). Await the async twin in "
                "atlas_nb.aio instead, e.g. `await atlas_nb.aio.computes()`."
            )
        if self._closed or self._closing:
            coro.close()
            raise RuntimeError("the atlas_nb runtime was shut down; call the function again")
        # A bare lock is the cheapest cross-thread hand-off (a Future's Condition costs more).
        finished = _thread.allocate_lock()
        finished.acquire()
        outcome: list[Any] = []
        holder: list[asyncio.Task[None]] = []

        async def runner() -> None:
            try:
                outcome.append((True, await coro))
            except BaseException as exc:
                outcome.append((False, exc))
                if isinstance(exc, asyncio.CancelledError):
                    raise
            finally:
                finished.release()

        def start() -> None:
            if self._closing:  # shutdown began after we were scheduled: do not start
                coro.close()
                outcome.append((False, RuntimeError("the atlas_nb runtime is shutting down")))
                finished.release()
                return
            holder.append(self.loop.create_task(runner()))

        self.loop.call_soon_threadsafe(start)
        try:
            if not finished.acquire(timeout=-1 if timeout is None else timeout):
                self.loop.call_soon_threadsafe(lambda: holder and holder[0].cancel())
                raise TimeoutError(f"the call did not finish within {timeout} s")
        except KeyboardInterrupt:
            self.loop.call_soon_threadsafe(lambda: holder and holder[0].cancel())
            finished.acquire(timeout=_CANCEL_GRACE_S)
            raise
        ok, value = outcome[0]
        if ok:
            return value  # type: ignore[no-any-return,unused-ignore]
        raise value

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the runtime loop from any event loop (e.g. Jupyter's)."""
        if self.in_loop_thread:
            return await coro
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return await asyncio.wrap_future(fut)
        except asyncio.CancelledError:
            fut.cancel()
            raise

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Start ``coro`` as a background task on the loop (from any thread)."""
        if self.in_loop_thread:
            return self.loop.create_task(coro, name=name)

        async def create() -> asyncio.Task[T]:
            return asyncio.get_running_loop().create_task(coro, name=name)

        return asyncio.run_coroutine_threadsafe(create(), self.loop).result(_CANCEL_GRACE_S * 2)

    # -- services ------------------------------------------------------------------------------
    def service(self, key: Any, factory: Callable[[], T]) -> T:
        """Get or create a per-runtime object (clients, registries); forks get new ones."""
        with self._services_lock:
            if key not in self._services:
                self._services[key] = factory()
            return self._services[key]  # type: ignore[no-any-return,unused-ignore]

    def services_of(self, kind: str) -> list[Any]:
        """The services made with a key ``(kind, ...)`` (e.g. every orchestrator)."""
        with self._services_lock:
            return [v for k, v in self._services.items() if isinstance(k, tuple) and k[0] == kind]

    def on_shutdown(self, closer: Callable[[], Awaitable[None]], *, last: bool = False) -> None:
        """Register an async cleanup run (newest first) by :meth:`shutdown`.

        ``last=True`` runs it after every other one (resources producers use, e.g. HTTP
        clients, close only once the producers — streamers, the orchestrator — have stopped).
        """
        (self._last_closers if last else self._closers).append(closer)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Run cleanups, cancel remaining tasks, stop the loop and join its thread."""
        if self._closed or os.getpid() != self.pid:
            return
        if self.in_loop_thread:
            raise LoopThreadError("atlas_nb.shutdown() cannot run on atlas_nb's own loop thread")
        self._closing = True  # from now on run() refuses new work

        async def close_all() -> None:
            for closer in [*reversed(self._closers), *reversed(self._last_closers)]:
                try:
                    await asyncio.wait_for(closer(), timeout)
                except Exception:  # a failing cleanup must not stop the others
                    log.warning("atlas_nb cleanup %r failed", closer, exc_info=True)
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)

        if self.loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(timeout * 2)
            self._closed = True
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
        self._closed = True


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


#: set by the exit hook: from then on no runtime starts (a thread started while the interpreter
#: finalizes never runs, so waiting for it would hang the exit)
_exiting = False
#: the runtime that shutdown() is stopping: code on its loop thread (cleanups, listeners that
#: see their stream stop) still gets it, instead of starting a new runtime from a dying one
_stopping: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's runtime, started on first use (and again after fork or shutdown)."""
    global _runtime
    rt = _runtime
    if rt is not None and not rt.closed and rt.pid == os.getpid():
        return rt
    stopping = _stopping
    if stopping is not None and stopping.in_loop_thread:
        return stopping
    if _exiting or sys.is_finalizing():
        raise RuntimeError(
            "the interpreter is exiting, so atlas_nb does not start its runtime again "
            "(close widgets and streams before the end of the script, or ignore this)"
        )
    with _runtime_lock:
        rt = _runtime
        if rt is None or rt.closed or rt.pid != os.getpid():
            rt = _runtime = Runtime()
        return rt


def current_runtime() -> Runtime | None:
    """The live runtime, or None when none has started (nothing to shut down)."""
    rt = _runtime
    if rt is None or rt.closed or rt.pid != os.getpid():
        return None
    return rt


def cancel_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` from any thread, on its own loop; a no-op once that loop has stopped
    (after ``shutdown()``, at interpreter exit), so a ``close()`` never starts a runtime."""
    if task is None or task.done():
        return
    with contextlib.suppress(RuntimeError):  # its loop closed meanwhile: the task is gone
        task.get_loop().call_soon_threadsafe(task.cancel)


def run_anywhere(make: Callable[[], Coroutine[Any, Any, Any]]) -> bool:
    """Run a (cleanup) coroutine from any thread: wait for it from a plain thread, schedule it
    when already on the loop. Returns False, running nothing, when no runtime is alive."""
    rt = current_runtime()
    if rt is None:
        return False
    if rt.in_loop_thread:
        rt.spawn(make())
    else:
        rt.run(make())
    return True


def shutdown() -> None:
    """Stop streams and timers, close HTTP clients and stop the loop thread.

    Tracked pods stay tracked (their state is on disk); the next atlas_nb call starts a
    fresh runtime.

        >>> import atlas_nb
        >>> atlas_nb.shutdown()
    """
    global _runtime, _stopping
    with _runtime_lock:
        rt, _runtime = _runtime, None
    if rt is not None:
        _stopping = rt
        try:
            rt.shutdown()
        finally:
            _stopping = None


def _after_fork_in_child() -> None:
    # The loop thread does not exist in the child; drop the parent's runtime without touching it.
    global _runtime, _runtime_lock
    _runtime = None
    _runtime_lock = threading.Lock()


def _at_exit() -> None:
    global _exiting
    _exiting = True
    shutdown()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)


# -- bridging helpers used by every public async function --------------------------------------


def on_runtime(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Make an async function always execute on the runtime loop, whoever awaits it."""

    @functools.wraps(fn)
    async def bridged(*args: P.args, **kwargs: P.kwargs) -> T:
        rt = get_runtime()
        if rt.in_loop_thread:
            return await fn(*args, **kwargs)
        return await rt.arun(fn(*args, **kwargs))

    bridged.__atlas_core__ = fn  # type: ignore[attr-defined]
    return bridged


def syncify(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """The blocking twin of an async function: runs it on the runtime loop and waits."""

    # run() always executes on the loop, so skip on_runtime's bridge (one coroutine less)
    target: Callable[P, Coroutine[Any, Any, T]] = getattr(fn, "__atlas_core__", fn)

    @functools.wraps(fn)
    def blocking(*args: P.args, **kwargs: P.kwargs) -> T:
        return get_runtime().run(target(*args, **kwargs))

    blocking.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined,unused-ignore]
    return blocking


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the runtime loop and wait (the body of every blocking method)."""
    return get_runtime().run(coro)


class DualIterator(AsyncIterator[T], Iterator[T]):
    """An async iterator that is also a sync iterator, always driven on the runtime loop.

    ``for x in it`` blocks the calling thread per item; ``async for x in it`` awaits from any
    loop. ``close()`` / ``aclose()`` stop the underlying generator.

        >>> async def numbers():
        ...     for i in range(3):
        ...         yield i
        >>> list(DualIterator(numbers()))
        [0, 1, 2]
    """

    def __init__(self, source: AsyncIterable[T] | Callable[[], AsyncIterable[T]]) -> None:
        self._source = source
        self._it: AsyncIterator[T] | None = None
        self._closed = False

    def _iterator(self) -> AsyncIterator[T]:
        if self._it is None:
            src = self._source() if callable(self._source) else self._source
            self._it = src.__aiter__()
        return self._it

    async def _next(self) -> T:
        return await self._iterator().__anext__()

    def __aiter__(self) -> DualIterator[T]:
        return self

    async def __anext__(self) -> T:
        if self._closed:
            raise StopAsyncIteration
        return await get_runtime().arun(self._next())

    def __iter__(self) -> DualIterator[T]:
        return self

    def __next__(self) -> T:
        if self._closed:
            raise StopIteration
        try:
            return get_runtime().run(self._next())
        except StopAsyncIteration:
            raise StopIteration from None

    async def _aclose(self) -> None:
        self._closed = True
        it = self._it
        if it is not None and hasattr(it, "aclose"):
            await it.aclose()

    async def aclose(self) -> None:
        await get_runtime().arun(self._aclose())

    def close(self) -> None:
        self._closed = True
        run_anywhere(self._aclose)

    def __enter__(self) -> DualIterator[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> DualIterator[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
