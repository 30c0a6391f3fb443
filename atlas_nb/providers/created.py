"""After a provider accepted a create: never lose the compute it made.

A create (``POST``/``PUT`` that bills) whose outcome is unknown — a timeout, a dropped
connection, a 5xx — and a read-back that fails after the provider returned an id both raise
:class:`~atlas_nb.errors.ComputeMayExistError`, carrying the id when there is one and the
unique name always, so the caller (and a tracked spawn) can find the compute again.

    >>> import asyncio
    >>> async def refused():
    ...     raise AtlasTimeoutError("no answer", provider="vast")
    >>> asyncio.run(submit_create("vast", "atlas-me-abc", refused()))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    atlas_nb.errors.ComputeMayExistError: [vast] provider: the create of atlas-me-abc may have ...
    >>> created_id({"id": "p1"}, "id", provider="runpod", name="n")
    'p1'
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

from ..errors import (
    AtlasError,
    AtlasTimeoutError,
    CapacityError,
    ComputeMayExistError,
    TransportError,
)

T = TypeVar("T")
log = logging.getLogger("atlas_nb.providers")

#: called with the new compute's id as soon as the provider returned it (before reading back)
_on_created: ContextVar[Callable[[str], None] | None] = ContextVar(
    "atlas_nb_on_created", default=None
)


@contextlib.contextmanager
def on_created(callback: Callable[[str], None]) -> Iterator[None]:
    """Within this block, creates report each new compute id to ``callback`` before they
    read it back (a tracked spawn records it there, so a crash mid-read-back loses nothing)."""
    token = _on_created.set(callback)
    try:
        yield
    finally:
        _on_created.reset(token)


def announce(compute_id: str) -> None:
    callback = _on_created.get()
    if callback is not None:
        try:
            callback(compute_id)
        except Exception as exc:  # recording failed: the read-back still goes ahead
            log.warning("could not record the new compute %s: %s", compute_id, exc)


#: read-back attempts (and the pause between them) before the compute is reported as may-exist
READ_BACK_ATTEMPTS = 3
READ_BACK_PAUSE_S = 0.5


def outcome_unknown(exc: BaseException) -> bool:
    """Whether a failed create may still have created something: a timeout, a dropped
    connection, a 5xx, or a 2xx answer that could not be understood."""
    if isinstance(exc, (AtlasTimeoutError, TransportError)):
        return True
    if isinstance(exc, CapacityError) or not isinstance(exc, AtlasError):
        return False
    if exc.kind != "provider":
        return False
    status = exc.status
    if status is not None and status >= 500:
        return True
    if isinstance(exc.raw, Mapping) and exc.raw.get("errors"):
        return False  # a GraphQL answer with an errors list: the mutation was refused
    # a 2xx (or no status) it could not understand; an explicit error code is a refusal
    return (status is None or 200 <= status < 300) and exc.code is None


async def submit_create(
    provider: str, name: str | None, call: Awaitable[T], *, auth: Any = None
) -> T:
    """Await the create call; an unknown outcome raises ``ComputeMayExistError(name=...)``
    (carrying ``auth``, the pod's token handle, so a compute found later is still usable)."""
    try:
        return await call
    except AtlasError as exc:
        if not outcome_unknown(exc):
            raise
        raise ComputeMayExistError(
            f"the create of {name or 'the compute'} may have succeeded: {exc.message or exc}",
            provider=provider,
            name=name,
            auth=auth,
            status=exc.status,
            request_id=exc.request_id,
            raw=exc.raw,
        ) from exc


def created_id(
    body: Any, *path: str | int, provider: str, name: str | None, auth: Any = None
) -> str:
    """The new compute's id at ``path`` in the create's answer (``ComputeMayExistError`` when
    the provider answered 2xx without one: it accepted the create)."""
    value: Any = body
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and len(value) > key else None
        else:
            value = value.get(key) if isinstance(value, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise ComputeMayExistError(
            f"{provider} accepted the create of {name or 'the compute'} but its answer has no id "
            f"(got {str(body)[:200]!r})",
            provider=provider,
            name=name,
            auth=auth,
            raw=body,
        )
    return str(value)


async def read_back(
    provider: str,
    compute_id: str,
    name: str | None,
    get: Callable[[str], Awaitable[T]],
    *,
    auth: Any = None,
) -> T:
    """``get(compute_id)`` right after a create, retried a little (a fresh compute may not be
    readable yet); failing that, ``ComputeMayExistError`` carrying the id."""
    announce(compute_id)
    last: BaseException | None = None
    for attempt in range(READ_BACK_ATTEMPTS):
        if attempt:
            await asyncio.sleep(READ_BACK_PAUSE_S * attempt)
        try:
            return await get(compute_id)
        except (AtlasError, ValueError, KeyError, TypeError, AttributeError) as exc:
            last = exc
    detail = last.message if isinstance(last, AtlasError) else f"{type(last).__name__}: {last}"
    raise ComputeMayExistError(
        f"{provider} created {compute_id} ({name or 'unnamed'}) but it could not be read back "
        f"({detail})",
        provider=provider,
        compute_id=compute_id,
        name=name,
        auth=auth,
        raw=getattr(last, "raw", None),
    ) from last
