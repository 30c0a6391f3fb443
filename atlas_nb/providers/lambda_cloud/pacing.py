"""Lambda allows one launch per 12 s per account: launches are queued client-side, one at a
time per (API, key), each waiting for its slot (shown through
:data:`~atlas_nb.providers.base.progress_reporter`), and a launch refused with HTTP 429 waits
and is tried again (a refused launch created nothing, so a retry cannot double-bill).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..._runtime import get_runtime
from ...errors import RateLimitedError
from ..base import progress_reporter

T = TypeVar("T")
#: (API base URL, SHA-256 of the key): one launch queue per account and endpoint
LaunchKey = tuple[str, str]

#: when each account last launched (``time.monotonic()``)
_last_launch: dict[LaunchKey, float] = {}


async def paced_launch(
    key: LaunchKey, launch: Callable[[], Awaitable[T]], *, interval_s: float, retries: int
) -> T:
    """Run ``launch()`` in its slot: at most one per ``interval_s`` for ``key``; a 429 is
    retried up to ``retries`` times, after the wait it asked for."""
    locks: dict[Any, asyncio.Lock] = get_runtime().service("lambda-launch-locks", dict)
    lock = locks.setdefault(key, asyncio.Lock())
    async with lock:
        attempt = 0
        extra_wait = 0.0
        while True:
            attempt += 1
            await wait_for_launch_slot(key, interval_s, extra_wait)
            _last_launch[key] = time.monotonic()
            try:
                return await launch()
            except RateLimitedError as exc:
                if attempt > retries:
                    raise
                extra_wait = max(0.0, (exc.retry_after_s or 0.0) - interval_s)


async def wait_for_launch_slot(key: LaunchKey, interval_s: float, extra: float = 0.0) -> float:
    """Sleep until ``key`` may launch again; the seconds waited."""
    last = _last_launch.get(key)
    if last is None:
        return 0.0
    wait = last + interval_s + extra - time.monotonic()
    if wait <= 0:
        return 0.0
    every = f"{interval_s:g}"
    with progress_reporter.get()("Lambda launch queued", wait) as bar:
        start = time.monotonic()
        while (left := wait - (time.monotonic() - start)) > 0:
            bar.update(wait - left, f"Lambda allows one launch per {every} s; {left:.0f} s")
            await asyncio.sleep(min(0.5, left))
    return wait
