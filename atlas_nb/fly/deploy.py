"""``fly deploy --remote-only`` from a notebook: a :class:`Deploy` you can watch, wait or cancel.

The CLI runs in its own process group with stdout and stderr merged. Output is split into
lines (partial lines carried over; ``\\r`` progress redraws collapsed, see
:mod:`atlas_nb.fly._lines`). Two clocks bound a deploy: ``activity_timeout`` (no output for that
long: stalled; reset by every chunk) and ``max_timeout`` (absolute). Either one, ``cancel()``,
or interrupting a blocking call kills the whole process group, so no orphaned deploy keeps
running. Only one deploy per app runs at a time.

The CLI gets only the environment it needs (PATH, HOME, locale, proxies, ``FLY_*``; see
:func:`atlas_nb.fly._process.child_env`) — never other providers' keys. When atlas_nb has a Fly
key configured and the environment has none, the CLI gets it as ``FLY_API_TOKEN``.

Outcomes raise distinct errors: :class:`~atlas_nb.errors.DeployInvalidDirError` (no such
directory), :class:`~atlas_nb.errors.DeployNotFoundError` (no ``fly`` executable),
:class:`~atlas_nb.errors.ConflictError` (the app is already deploying),
:class:`~atlas_nb.errors.DeployTimeoutError` and :class:`~atlas_nb.errors.DeployExitError`.
Every outcome emits one ``atlas.fly.deploy.exit`` event (app, ticket, result); each line emits
``atlas.fly.deploy.line`` (app, ticket) — never the text, which can hold secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import telemetry
from .._runtime import DualIterator, current_runtime, get_runtime, on_runtime
from ..config import settings
from ..errors import (
    AtlasTimeoutError,
    ConflictError,
    DeployError,
    DeployExitError,
    DeployInvalidDirError,
    DeployNotFoundError,
    DeployTimeoutError,
)
from . import _process
from ._executable import find_fly
from ._lines import LineSplitter
from ._services import services
from .discovery import app_from_dir

log = logging.getLogger("atlas_nb.fly.deploy")

LINE_EVENT = "atlas.fly.deploy.line"
EXIT_EVENT = "atlas.fly.deploy.exit"
TERMINAL = frozenset({"succeeded", "failed", "timeout", "cancelled"})
READ_SIZE = 65_536

Listener = Callable[[str, Any], None]  # ("line" | "progress", text) or ("status", status_line)


@dataclass(frozen=True)
class DeployLine:
    ticket: str
    kind: str  # "line" or "progress"
    text: str


@dataclass(frozen=True)
class DeployStatus:
    ticket: str
    status: str
    line: str


def _emit_exit(app: str | None, ticket: str, result: str, **extra: Any) -> None:
    telemetry.emit(
        EXIT_EVENT,
        {"duration_ns": extra.pop("duration_ns", 0)},
        {"app": app, "ticket": ticket, "result": result, **extra},
    )


class Deploy:
    """A running or finished ``fly deploy``.

    Attributes: ``app``, ``path``, ``ticket``, ``status`` (``starting``, ``running``,
    ``succeeded``, ``failed``, ``timeout``, ``cancelled``), ``ok``, ``exit_code``, ``lines``
    (the output as a terminal would show it), ``duration_s``, ``error``. Iterating yields the
    output lines (what was already printed, then live ones) until the deploy ends.
    """

    def __init__(
        self,
        *,
        app: str | None,
        path: str,
        argv: list[str],
        lock_key: str,
        activity_timeout: float | None,
        max_timeout: float | None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.app = app
        self.path = path
        self.ticket = secrets.token_hex(6)
        self.argv = argv
        self.lock_key = lock_key
        self.activity_timeout = activity_timeout
        self.max_timeout = max_timeout
        self.status = "starting"
        self.exit_code: int | None = None
        self.error: DeployError | None = None
        self._env = env
        self._lines: list[str] = []
        self._last_progress = False
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._t1: float | None = None
        self._finished = threading.Event()
        self._done: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._cancel_reason: str | None = None
        self._listener_subs: dict[int, Any] = {}
        self._console: Any = None  # the notebook widget, made on first display
        self._shown = False  # already displayed by fly.deploy(); don't show it twice
        self.topic = f"fly.deploy:{self.ticket}"

    # -- state -----------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def duration_s(self) -> float:
        end = self._t1 if self._t1 is not None else time.monotonic()
        return end - self._t0

    @property
    def status_line(self) -> str:
        if self.status == "failed" and self.exit_code is not None:
            return f"failed (exit {self.exit_code})"
        if self.status == "succeeded":
            return "succeeded (exit 0)"
        return self.status

    def __repr__(self) -> str:
        return f"<Deploy {self.app or self.path}: {self.status_line}, {len(self.lines)} lines>"

    def console(self) -> Any:
        """The live deploy console widget (lines, elapsed time, outcome, Cancel)."""
        from ..widgets.deploy_console import attach

        if self._console is None:
            self._console = attach(self)
        return self._console

    def show(self) -> None:
        """Display the live console in the notebook cell now; the deploy, as a cell's value,
        then shows as text, so its console is not shown twice."""
        from IPython.display import display

        display(self.console())
        self._shown = True

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        from ..widgets._env import in_notebook

        if in_notebook() and not self._shown:
            return self.console()._repr_mimebundle_(include=include, exclude=exclude)
        return {"text/plain": f"Deploy({self.app or self.path!r}, status={self.status_line!r})"}

    # -- running (loop thread) ----------------------------------------------------------------
    def _start(self) -> None:
        self._done = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"fly deploy {self.app or self.path}"
        )

    def _record(self, kind: str, text: str) -> None:
        with self._lock:
            if self._last_progress and self._lines:
                self._lines[-1] = text
            else:
                self._lines.append(text)
            self._last_progress = kind == "progress"
        services().dispatcher.dispatch(self.topic, DeployLine(self.ticket, kind, text))
        telemetry.emit(LINE_EVENT, {"count": 1}, {"app": self.app, "ticket": self.ticket})

    def _set_status(self, status: str) -> None:
        self.status = status
        services().dispatcher.dispatch(
            self.topic, DeployStatus(self.ticket, status, self.status_line)
        )

    async def _read(self, proc: asyncio.subprocess.Process) -> str | None:
        """Pump output until EOF; returns None, or which timeout fired."""
        assert proc.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = None if self.max_timeout is None else loop.time() + self.max_timeout
        splitter = LineSplitter()
        try:
            while True:
                wait = self.activity_timeout
                which = "activity"
                if deadline is not None:
                    left = deadline - loop.time()
                    if wait is None or left <= wait:
                        wait, which = left, "max"
                    if left <= 0:
                        return "max"
                try:  # asyncio.timeout: wait_for can swallow a cancel on 3.11 (see supervisor)
                    async with asyncio.timeout(wait):
                        chunk = await proc.stdout.read(READ_SIZE)
                except TimeoutError:
                    return which
                if not chunk:
                    return None
                for kind, text in splitter.feed(chunk):
                    self._record(kind, text)
        finally:
            for kind, text in splitter.flush():
                self._record(kind, text)

    async def _run(self) -> None:
        label = self.app or self.path
        try:
            try:
                proc = await _process.start(
                    self.argv,
                    cwd=self.path,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    env=self._env,
                )
            except OSError as exc:
                self._finish(
                    "failed",
                    DeployNotFoundError(
                        f"could not run {self.argv[0]}: {exc.strerror or exc}",
                        provider="fly",
                        reason="not_found",
                    ),
                    result="not_found",
                )
                return
            self._proc = proc
            self._set_status("running")
            log.info("fly deploy of %s started (ticket %s)", label, self.ticket)
            timed_out = await self._read(proc)
            if timed_out is None:
                try:
                    async with asyncio.timeout(30):
                        code = await proc.wait()
                except TimeoutError:
                    timed_out = "exit"
            if timed_out is not None:
                await _process.kill_group(proc)
                limit = self._limit_text(timed_out)
                log.error("fly deploy of %s timed out (%s); killed it", label, limit)
                self._finish(
                    "timeout",
                    DeployTimeoutError(
                        f"fly deploy of {label} timed out: {limit}; its process group was killed",
                        provider="fly",
                        reason="timeout",
                        output=self.output,
                    ),
                    result="timeout",
                    limit=timed_out,
                )
                return
            await _process.kill_group(proc, grace=0.2)  # stragglers of a finished deploy
            self.exit_code = code
            if code == 0:
                log.info("fly deploy of %s succeeded", label)
                self._finish("succeeded", None, result="ok", exit_code=0)
            else:
                log.error("fly deploy of %s failed with exit code %s", label, code)
                # the output stays on .output / .lines: lines can hold tokens, so none goes
                # into the error text (which reaches logs and telemetry spans)
                self._finish(
                    "failed",
                    DeployExitError(
                        f"fly deploy of {label} exited with code {code}; its output is in "
                        "deploy.output (or the console above)",
                        provider="fly",
                        reason="exit",
                        exit_code=code,
                        output=self.output,
                    ),
                    result="exit_code",
                    exit_code=code,
                )
        except Exception as exc:  # broad: any bug here must still end the deploy and free its slot
            log.exception("fly deploy of %s failed inside atlas_nb", label)
            if self._proc is not None:
                await _process.kill_group(self._proc, grace=1.0)
            self._finish(
                "failed",
                DeployError(
                    f"fly deploy of {label} failed inside atlas_nb ({type(exc).__name__}); "
                    "its process group was killed",
                    provider="fly",
                    reason="internal",
                    output=self.output,
                ),
                result="internal_error",
            )
        except asyncio.CancelledError:
            if self._proc is not None:
                await _process.kill_group(self._proc, grace=1.0)
            reason = self._cancel_reason or "cancelled"
            self._finish(
                "cancelled",
                DeployError(
                    f"fly deploy of {label} was cancelled ({reason}); its process group was killed",
                    provider="fly",
                    reason="cancelled",
                    output=self.output,
                ),
                result="cancelled",
            )
            raise

    def _limit_text(self, which: str) -> str:
        """What ran out, in words: only the limit that fired is formatted (others may be None)."""
        if which == "activity":
            return f"no output for {self.activity_timeout:g} s"
        if which == "max":
            return f"it ran longer than {self.max_timeout:g} s"
        return "it closed its output but did not exit"

    def _finish(self, status: str, error: DeployError | None, *, result: str, **extra: Any) -> None:
        if self.done:
            return
        self._t1 = time.monotonic()
        self.error = error
        svc = services()
        if svc.deploys.get(self.lock_key) is self:
            del svc.deploys[self.lock_key]
        _emit_exit(
            self.app,
            self.ticket,
            result,
            duration_ns=int((self._t1 - self._t0) * 1e9),
            **extra,
        )
        self._set_status(status)
        services().dispatcher.drop_topic(self.topic)  # nothing more will be published
        self._listener_subs.clear()
        self._finished.set()
        if self._done is not None:
            self._done.set()

    async def _cancel(self, reason: str) -> None:
        if self.done or self._task is None:
            return
        self._cancel_reason = reason
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task

    async def _wait(self, timeout: float | None = None) -> None:
        if self.done:
            return
        assert self._done is not None
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            raise AtlasTimeoutError(
                f"the deploy of {self.app or self.path} is still running after {timeout:g} s",
                provider="fly",
                hint="It keeps running; wait again, or call cancel().",
            ) from None

    # -- public methods ----------------------------------------------------------------------
    def result(self, timeout: float | None = None) -> str:
        """Wait for the end; return the output, or raise the :class:`DeployError`.

        ``timeout`` bounds this wait only (``AtlasTimeoutError``); the deploy keeps running.
        """
        get_runtime().run(self._wait(timeout))
        if self.error is not None:
            raise self.error
        return self.output

    async def aresult(self, timeout: float | None = None) -> str:
        """The async twin of :meth:`result`."""
        await get_runtime().arun(self._wait(timeout))
        if self.error is not None:
            raise self.error
        return self.output

    def cancel(self) -> None:
        """Kill the deploy's process group (no-op when it has ended)."""
        rt = get_runtime()
        if rt.in_loop_thread:
            rt.spawn(self._cancel("cancel() was called"))
        else:
            rt.run(self._cancel("cancel() was called"))

    async def acancel(self, reason: str = "cancel() was called") -> None:
        """The async twin of :meth:`cancel`; ``reason`` is what the deploy's status shows."""
        await get_runtime().arun(self._cancel(reason))

    def add_listener(self, fn: Listener, *, replay: bool = False) -> None:
        """Call ``fn(kind, payload)`` on atlas_nb's loop for each ``("line", text)``,
        ``("progress", text)`` (a redraw of the last line) and ``("status", status_line)``.

        ``replay=True`` first feeds it the lines so far and the current status, atomically,
        so a view attached mid-deploy misses nothing.
        """

        def deliver(msg: Any) -> None:
            if isinstance(msg, DeployLine):
                fn(msg.kind, msg.text)
            elif isinstance(msg, DeployStatus):
                fn("status", msg.line)

        def attach() -> None:
            if replay:
                for line in self.lines:
                    fn("line", line)
                fn("status", self.status_line)
            if not self.done:
                sub = services().dispatcher.subscribe(self.topic, callback=deliver)
                self._listener_subs[id(fn)] = sub

        rt = get_runtime()
        if rt.in_loop_thread:
            attach()
        else:
            rt.loop.call_soon_threadsafe(attach)

    def remove_listener(self, fn: Listener) -> None:
        def detach() -> None:
            sub = self._listener_subs.pop(id(fn), None)
            if sub is not None:
                sub.close()

        rt = current_runtime()  # none after shutdown: the dispatcher went with it
        if rt is None:
            self._listener_subs.pop(id(fn), None)
        elif rt.in_loop_thread:
            detach()
        else:
            rt.loop.call_soon_threadsafe(detach)

    async def _iter_lines(self) -> AsyncIterator[str]:
        snapshot, finished = self.lines, self.done
        if finished:
            for line in snapshot:
                yield line
            return
        sub = services().dispatcher.subscribe(self.topic)  # same loop step as the snapshot
        assert sub.queue is not None
        try:
            for line in snapshot:
                yield line
            while True:
                msg = await sub.queue.get()
                if isinstance(msg, DeployLine):
                    yield msg.text
                elif isinstance(msg, DeployStatus) and msg.status in TERMINAL:
                    return
        finally:
            sub.close()

    def __iter__(self) -> DualIterator[str]:
        return DualIterator(self._iter_lines)

    def __aiter__(self) -> DualIterator[str]:
        return DualIterator(self._iter_lines)


# -- starting ---------------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    """The CLI's environment (:func:`~atlas_nb.fly._process.child_env`: no other keys), plus
    the configured Fly key when the environment has none."""
    if os.environ.get("FLY_API_TOKEN") or os.environ.get("FLY_ACCESS_TOKEN"):
        return _process.child_env()
    key = settings().api_key("fly")
    if key is None:
        return _process.child_env()
    return _process.child_env({"FLY_API_TOKEN": key.get_secret_value()})


def _start(
    path: str | os.PathLike[str],
    *,
    app: str | None,
    activity_timeout: float | None,
    max_timeout: float | None,
) -> Deploy:
    """Validate, take the app's deploy slot and start the CLI (loop thread)."""
    directory = Path(path).expanduser()
    inferred = None
    if not directory.is_dir():
        ticket = secrets.token_hex(6)
        _emit_exit(app, ticket, "invalid_dir")
        raise DeployInvalidDirError(
            f"cannot deploy from {os.fspath(path)!r}: it is not a directory",
            provider="fly",
            reason="invalid_dir",
        )
    inferred = app or app_from_dir(directory)
    exe, why = find_fly()
    if exe is None:
        _emit_exit(inferred, secrets.token_hex(6), "not_found")
        raise DeployNotFoundError(
            f"cannot deploy {inferred or directory}: the fly CLI was not found ({why})",
            provider="fly",
            reason="not_found",
        )
    for name, value in (("timeout", max_timeout), ("activity_timeout", activity_timeout)):
        if value is not None and value <= 0:
            from ..errors import ValidationError

            raise ValidationError(f"{name} must be positive seconds (got {value!r})", field=name)
    lock_key = inferred or os.path.realpath(directory)
    svc = services()
    running = svc.deploys.get(lock_key)
    if running is not None and not running.done:
        _emit_exit(inferred, secrets.token_hex(6), "conflict")
        raise ConflictError(
            f"{inferred or directory} is already deploying (ticket {running.ticket}, "
            f"{running.duration_s:.0f} s so far)",
            provider="fly",
            hint="Wait for it (deploy.result()) or cancel it (deploy.cancel()) first.",
        )
    argv = [exe, "deploy", "--remote-only"]
    if app:
        argv += ["--app", app]
    d = Deploy(
        app=inferred,
        path=str(directory),
        argv=argv,
        lock_key=lock_key,
        activity_timeout=activity_timeout,
        max_timeout=max_timeout,
        env=_child_env(),
    )
    svc.deploys[lock_key] = d
    d._start()
    return d


@on_runtime
async def deploy(
    path: str | os.PathLike[str] = ".",
    *,
    app: str | None = None,
    wait: bool = True,
    timeout: float | None = 900,
    activity_timeout: float | None = None,
) -> Deploy:
    """Run ``fly deploy --remote-only`` in ``path`` (the directory with ``fly.toml``).

    ``app`` is passed as ``--app`` (default: the one ``fly.toml`` names). ``timeout`` caps the
    whole deploy, ``activity_timeout`` (optional) the silence between output lines. With
    ``wait=True`` it returns when done and raises ``DeployError`` on failure (interrupting it
    kills the deploy); with ``wait=False`` it returns the running :class:`Deploy` at once.

        >>> import atlas_nb as atlas, tempfile
        >>> atlas.fly.deploy(tempfile.mkdtemp() + "/nope")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        atlas_nb.errors.DeployInvalidDirError: [fly] validation: cannot deploy from ...
    """
    d = _start(path, app=app, activity_timeout=activity_timeout, max_timeout=timeout)
    if wait:
        try:
            await d._wait()
        except asyncio.CancelledError:
            await d._cancel("the waiting call was interrupted")
            raise
        if d.error is not None:
            raise d.error
    return d


def stream_deploy(
    path: str | os.PathLike[str] = ".",
    *,
    app: str | None = None,
    activity_timeout: float | None = 300,
    max_timeout: float | None = 1800,
) -> DualIterator[str]:
    """Deploy and yield the output line by line (sync ``for`` or ``async for``).

    The deploy starts when iteration begins. After the last line a failed deploy raises its
    ``DeployError``; closing the iterator early (``break``) cancels the deploy.

        >>> import atlas_nb as atlas, tempfile
        >>> next(atlas.fly.stream_deploy(tempfile.mkdtemp() + "/nope"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        atlas_nb.errors.DeployInvalidDirError: [fly] validation: cannot deploy from ...
    """

    async def lines() -> AsyncIterator[str]:
        d = _start(path, app=app, activity_timeout=activity_timeout, max_timeout=max_timeout)
        try:
            async for line in d._iter_lines():
                yield line
            await d._wait()
            if d.error is not None:
                raise d.error
        finally:
            if not d.done:
                await d._cancel("the stream was closed")

    return DualIterator(lines)
