"""Named telemetry events with measurements and metadata; spans emit start/stop/exception.

    >>> import atlas_nb.telemetry as telemetry
    >>> seen = []
    >>> telemetry.attach("demo", ["demo.*"], lambda e, m, md: seen.append((e, md)))
    >>> with telemetry.span("demo.work", {"app": "web"}) as stop_meta:
    ...     stop_meta["count"] = 3
    >>> [e for e, _ in seen]
    ['demo.work.start', 'demo.work.stop']
    >>> telemetry.detach("demo")
    True

Handlers run synchronously on the thread that emits (often atlas_nb's loop thread), so keep them
quick. A handler that raises is detached with a warning and never breaks the caller.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ._redact import redact_value

Handler = Callable[[str, Mapping[str, Any], Mapping[str, Any]], None]

log = logging.getLogger("atlas_nb.telemetry")


@dataclass(frozen=True)
class _Attachment:
    handler_id: str
    exact: frozenset[str]
    prefixes: tuple[str, ...]
    handler: Handler

    def matches(self, event: str) -> bool:
        return event in self.exact or event.startswith(self.prefixes)


_lock = threading.Lock()
_attachments: dict[str, _Attachment] = {}
_snapshot: tuple[_Attachment, ...] = ()


def attach(handler_id: str, events: list[str] | tuple[str, ...] | str, handler: Handler) -> None:
    """Call ``handler(event, measurements, metadata)`` for each matching event.

    ``events`` is a list of names; a name ending in ``.*`` matches everything under that prefix
    (``"atlas.*"`` matches all). Attaching an id that exists raises ``ValueError``.
    """
    global _snapshot
    names = [events] if isinstance(events, str) else list(events)
    exact = frozenset(n for n in names if not n.endswith("*"))
    prefixes = tuple(n[:-1] for n in names if n.endswith("*"))
    with _lock:
        if handler_id in _attachments:
            raise ValueError(f"a telemetry handler with id {handler_id!r} is already attached")
        _attachments[handler_id] = _Attachment(handler_id, exact, prefixes, handler)
        _snapshot = tuple(_attachments.values())


def detach(handler_id: str) -> bool:
    """Remove a handler. Returns False when no handler had that id."""
    global _snapshot
    with _lock:
        found = _attachments.pop(handler_id, None) is not None
        _snapshot = tuple(_attachments.values())
    return found


def handlers() -> list[str]:
    """Ids of the attached handlers."""
    return [a.handler_id for a in _snapshot]


def emit(
    event: str,
    measurements: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Deliver one event to every matching handler."""
    snapshot = _snapshot
    if not snapshot:
        return
    m = measurements or {}
    md = redact_value(dict(metadata)) if metadata else {}  # metadata can quote error text
    for att in snapshot:
        if not att.matches(event):
            continue
        try:
            att.handler(event, m, md)
        except Exception as exc:
            detach(att.handler_id)
            warnings.warn(
                f"atlas_nb telemetry handler {att.handler_id!r} raised {exc!r} on {event!r} "
                "and was detached",
                RuntimeWarning,
                stacklevel=2,
            )


def enabled(event: str) -> bool:
    """True when some handler would receive ``event`` (skip costly metadata otherwise)."""
    return any(a.matches(event) for a in _snapshot)


@contextmanager
def span(event: str, metadata: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Emit ``<event>.start``, then ``.stop`` (or ``.exception`` and re-raise).

    Yields a dict pre-filled with ``metadata``; keys added to it go into the stop event.
    Measurements: start ``system_time`` and ``monotonic_time``; stop/exception ``duration_ns``.
    """
    start_meta = dict(metadata or {})
    stop_meta = dict(start_meta)
    t0 = time.monotonic_ns()
    emit(f"{event}.start", {"system_time": time.time_ns(), "monotonic_time": t0}, start_meta)
    try:
        yield stop_meta
    except BaseException as exc:
        meta = {
            **stop_meta,
            "kind": type(exc).__name__,
            "reason": str(exc),
            "stacktrace": traceback.format_exception(exc),
        }
        emit(f"{event}.exception", {"duration_ns": time.monotonic_ns() - t0}, meta)
        raise
    emit(f"{event}.stop", {"duration_ns": time.monotonic_ns() - t0}, stop_meta)
