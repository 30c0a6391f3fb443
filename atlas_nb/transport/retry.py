"""The retry policy, as pure functions (table-tested).

Safe calls (GET, HEAD, OPTIONS, PUT, DELETE, or calls marked idempotent) retry on connection
errors, 408, 429 and 5xx with exponential backoff and jitter, honouring ``Retry-After`` up to a
cap. Calls that create or bill (spawn, launch, run a job) are never retried blindly: only when
the connection could not be opened at all, so the request cannot have reached the provider.

    >>> p = RetryPolicy()
    >>> should_retry(p, attempt=1, idempotent=True, status=503)
    True
    >>> should_retry(p, attempt=1, idempotent=False, status=503)
    False
    >>> should_retry(p, attempt=1, idempotent=False, error="connect")
    True
    >>> retry_delay(p, attempt=1, retry_after="7", rand=lambda: 1.0)
    7.0
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import httpx
else:
    from .._lazy import httpx

ErrorClass = Literal["connect", "read", "protocol", "timeout", "other"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    retry_after_cap_s: float = 30.0
    retry_statuses: frozenset[int] = field(
        default_factory=lambda: frozenset({408, 429, 500, 502, 503, 504})
    )


def is_idempotent(method: str) -> bool:
    return method.upper() in IDEMPOTENT_METHODS


def classify(exc: BaseException) -> ErrorClass:
    """Which retry class an httpx exception belongs to."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return "connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return "read"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol"
    return "other"


def should_retry(
    policy: RetryPolicy,
    *,
    attempt: int,
    idempotent: bool,
    status: int | None = None,
    error: ErrorClass | None = None,
) -> bool:
    """Whether attempt number ``attempt`` (1-based, just failed) should be followed by another."""
    if attempt > policy.max_retries:
        return False
    if error is not None:
        if error == "connect":
            return True
        return idempotent and error in ("read", "protocol", "timeout")
    return idempotent and status in policy.retry_statuses


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_delay(
    policy: RetryPolicy,
    *,
    attempt: int,
    retry_after: str | None = None,
    now: datetime | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to sleep before the next attempt (``attempt`` is the one that just failed)."""
    hinted = parse_retry_after(retry_after, now)
    if hinted is not None:
        return min(hinted, policy.retry_after_cap_s)
    base = min(policy.max_delay_s, policy.base_delay_s * (2.0 ** (attempt - 1)))
    return base * (0.5 + rand() / 2)
