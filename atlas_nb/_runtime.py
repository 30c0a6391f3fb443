"""The runtime: one asyncio event loop owned by atlas_nb, running in a daemon thread.

All I/O in atlas_nb is ``async`` and runs on this loop. The sync facade submits coroutines to it
and waits; long-lived work (log streamers, token timers, trackers, the reaper) runs here as tasks,
so it keeps going while a notebook cell blocks.

A sync call whose loop is idle (waiting in ``select``) skips the thread hop for its first step:
the caller takes the loop's hand-over lock, runs the task's first step itself, and gives the loop
back. Work that finishes without waiting (the mock, cached answers) never wakes the loop thread;
work that waits (a socket, a timer) carries on in the loop thread as usual. The loop thread and
a caller never run loop code at the same time, so the loop stays single-threaded in effect.

    >>> from atlas_nb._runtime import get_runtime
    >>> async def answer():
    ...     return 42
    >>> get_runtime().run(answer())
    42
"""

from __future__ import annotations

import _signal  # signal's own functions, without its enum wrapping (a cost per call)
import _thread
import asyncio
import atexit
import contextlib
import contextvars
import functools
import inspect
import logging
import math
import os
import selectors
import signal
import sys
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, ParamSpec, TypeVar

log = logging.getLogger("atlas_nb.runtime")

T = TypeVar("T")
P = ParamSpec("P")

_CANCEL_GRACE_S = 5.0
_HAND_OVER_WAIT_S = 0.002


class LoopThreadError(RuntimeError):
    """A sync atlas_nb function was called on atlas_nb's own event loop thread.

    That would deadlock (the loop would wait for itself), so it is refused. Code running on the
    loop (callbacks, telemetry handlers, custom providers) must ``await`` the ``atlas_nb.aio``
    twin instead.
    """


def _nothing() -> None:
    """A no-op callback: scheduling it wakes the loop thread."""


@contextlib.contextmanager
def _sigint_between_iterations(loop: asyncio.AbstractEventLoop, flag: list[bool]) -> Iterator[bool]:
    """While a caller drives the loop: Ctrl-C is noted in ``flag`` (and wakes select) instead
    of raising inside whichever task's callback runs, so it cancels the caller's call only.

    Yields False (do not drive) when this is the main thread and SIGINT has a custom handler.
    """
    if threading.current_thread() is not threading.main_thread():
        yield True  # signals are only delivered to the main thread
        return
    if _signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield False
        return

    def note(signum: int, frame: Any) -> None:
        flag.append(True)
        loop.call_soon_threadsafe(_nothing)  # select returns at once

    _signal.signal(signal.SIGINT, note)
    try:
        yield True
    finally:
        _signal.signal(signal.SIGINT, signal.default_int_handler)


class _HandOverSelector(selectors.DefaultSelector):
    """The loop's selector: the loop thread holds ``rt._exclusive`` except while it waits here.

    A caller that takes the lock meanwhile may change what is registered, so a wait that
    overlapped such a hand-over is asked again without blocking (epoll and select are
    level-triggered in asyncio: nothing ready is lost, nothing stale is acted on).
    """

    def __init__(self, rt: Runtime) -> None:
        super().__init__()
        self._rt = rt

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        rt = self._rt
        if rt._borrower == threading.get_ident():  # a caller drives the loop: it has the lock
            return super().select(timeout)
        seen = rt._hand_overs
        rt._exclusive.release()
        try:
            events = super().select(timeout)
        finally:
            rt._exclusive.acquire()
        if rt._hand_overs != seen:
            events = super().select(0)
        return events


class Runtime:
    """Owns the event loop thread and the per-runtime services (HTTP clients, streamers...)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        #: held by whoever runs loop code: the loop thread, except while it waits in select
        self._exclusive = _thread.allocate_lock()
        self._hand_overs = 0  # counts callers that ran a first step themselves
        self._borrower: int | None = None  # the caller thread running loop code right now
        if sys.platform == "win32":  # keep Windows' default (proactor) loop; no hand-over
            self.loop = asyncio.new_event_loop()
            self._can_hand_over = self._can_drive = False
        else:
            selector = _HandOverSelector(self)
            self.loop = asyncio.SelectorEventLoop(selector)
            self._can_hand_over = True
            # a caller may wait in the selector beside the loop thread only where an event
            # wakes every waiter of a level-triggered set (Linux epoll); elsewhere a caller
            # runs the first step only
            self._can_drive = isinstance(selector, getattr(selectors, "EpollSelector", ()))
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
        self._exclusive.acquire()
        try:
            self.loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()
            self._exclusive.release()

    # -- where are we ------------------------------------------------------------------------
    @property
    def in_loop_thread(self) -> bool:
        """Whether this thread runs loop code now (the loop thread, or a caller's first step)."""
        me = threading.get_ident()
        return me == self._thread.ident or me == self._borrower

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

        try:
            if not self._run_here(runner, holder, drive=timeout is None):
                self.loop.call_soon_threadsafe(start)
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

    def _run_here(
        self,
        make: Callable[[], Coroutine[Any, Any, None]],
        holder: list[asyncio.Task[None]],
        *,
        drive: bool,
    ) -> bool:
        """Start ``make()`` as a loop task (put in ``holder``) and run it on this thread while
        the loop thread is idle in select; False (nothing started) when the loop is busy or
        hand-over is off.

        The first step runs here; with ``drive``, this thread then runs the loop's iterations
        (every task's, not just this one) until the task is done, so a call that waits for a
        socket wakes one thread, not two. The loop thread waits meanwhile and carries on once
        this returns. Code runs with the runtime loop as the running loop, tasks as the
        current task, in a fresh context (as if the loop thread ran it). Whatever is left
        scheduled (ready callbacks, an earlier timer, a stop) wakes the loop thread; a call
        that finished and left nothing sleeps it on.
        """
        loop = self.loop
        if not self._can_hand_over or loop.get_debug():
            return False
        # the loop thread may still be finishing the iteration that answered our last call:
        # wait a moment for it to reach select (a busy loop would delay a hop just as much)
        if not self._exclusive.acquire(timeout=_HAND_OVER_WAIT_S):
            return False
        interrupted: list[bool] = []
        try:
            if loop.is_closed() or self._closing:
                return False
            ready: Any = getattr(loop, "_ready", None)
            timers: Any = getattr(loop, "_scheduled", None)
            run_once: Any = getattr(loop, "_run_once", None)
            if ready is None or timers is None or run_once is None:  # another asyncio
                self._can_hand_over = False
                return False
            earliest = timers[0].when() if timers else math.inf
            outer = asyncio.events._get_running_loop()
            self._borrower = threading.get_ident()
            self._hand_overs += 1
            asyncio.events._set_running_loop(loop)
            try:
                task = loop.create_task(make(), context=contextvars.Context())
                holder.append(task)  # from now on a Ctrl-C cancels it (see run)
                # run what is ready, in order, up to and including the step create_task just
                # scheduled (another thread may have added callbacks meanwhile: they run too,
                # as the loop thread's next iteration would have run them)
                for _ in range(len(ready)):
                    handle = ready.popleft()
                    if not handle._cancelled:
                        handle._run()
                if drive and self._can_drive and not task.done():
                    with _sigint_between_iterations(loop, interrupted) as ok:
                        while ok and not task.done() and not interrupted:
                            run_once()
            finally:
                asyncio.events._set_running_loop(outer)
                self._borrower = None
            wake = (
                bool(ready)
                or bool(timers and timers[0].when() < earliest)
                or getattr(loop, "_stopping", False)
            )
        finally:
            self._exclusive.release()
        if interrupted:
            raise KeyboardInterrupt  # run() cancels the task on the loop thread
        if wake:
            loop.call_soon_threadsafe(_nothing)
        return True

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
    target = getattr(fn, "__atlas_core__", fn)

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
