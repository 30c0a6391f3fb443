"""The enforcer's lease: one supervisor per shared store holds it, every other one observes.

The lease is one Redis key (``SET key holder NX PX ttl``) renewed every ``renew_s`` while its
holder lives. When the holder's process dies the key expires after ``ttl_s``; the next
observer to try (they try every ``renew_s``) takes it, so enforcement resumes within
``ttl_s + renew_s``. A holder that cannot reach Redis keeps the lease only as long as it would
still be valid on the server (``ttl_s`` after its last successful renewal), then steps down.

    >>> LeaseLock.ttl_s, LeaseLock.renew_s
    (10.0, 2.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from .._redis import RedisConnection

log = logging.getLogger("atlas_nb.orchestrator")

# 1: renewed (ours already), 2: taken (was free), 0: held by someone else
_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if cur == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseLock:
    """``held`` tells whether this process is the enforcer; ``run()`` keeps it up to date.

    ``on_change`` is called (on the loop) whenever ``held`` flips.
    """

    #: seconds the lease lives without renewal (how long a dead holder blocks others)
    ttl_s: float = 10.0
    #: seconds between renewals (holder) and attempts (observers)
    renew_s: float = 2.0

    def __init__(
        self,
        conn: RedisConnection,
        key: str,
        holder: str,
        on_change: Callable[[], None],
        *,
        ttl_s: float | None = None,
        renew_s: float | None = None,
    ) -> None:
        self.conn = conn
        self.key = key
        self.holder = holder
        self.on_change = on_change
        self.ttl_s = float(ttl_s if ttl_s is not None else type(self).ttl_s)
        self.renew_s = float(renew_s if renew_s is not None else type(self).renew_s)
        if not 0 < self.renew_s < self.ttl_s:
            raise ValueError(f"renew_s={self.renew_s} must be positive and below ttl_s")
        self.held = False
        self._valid_until = 0.0  # monotonic: the lease is surely still ours until then
        #: how many times this process took the lease (for tests and benchmarks)
        self.acquired = 0

    def __repr__(self) -> str:
        return f"<LeaseLock {self.key} holder={self.holder} held={self.held}>"

    def _set_held(self, held: bool) -> None:
        if held != self.held:
            self.held = held
            log.info("orchestrator lease %s %s", self.key, "taken" if held else "lost")
            self.on_change()

    async def attempt(self) -> bool:
        """One try to take or renew the lease; returns ``held``. Never raises."""
        started = time.monotonic()
        try:
            result = await self.conn.call(
                "renewing the enforcer lease",
                lambda r: r.eval(_ACQUIRE, 1, self.key, self.holder, int(self.ttl_s * 1000)),
            )
        except Exception as exc:  # unreachable: keep it only while it surely is still ours
            if self.held and time.monotonic() >= self._valid_until:
                log.warning("enforcer lease expired while the store is unreachable: %s", exc)
                self._set_held(False)
            return self.held
        if result:
            self._valid_until = started + self.ttl_s
            if not self.held:
                self.acquired += 1
        self._set_held(bool(result))
        return self.held

    async def run(self) -> None:
        """Renew (or try to take) the lease every ``renew_s`` until cancelled."""
        while True:
            await self.attempt()
            await asyncio.sleep(self.renew_s)

    async def release(self) -> None:
        """Give the lease up now (a clean shutdown: the next observer takes over at once)."""
        if not self.held:
            return
        self.held = False
        with contextlib.suppress(Exception):
            await self.conn.call(
                "releasing the enforcer lease",
                lambda r: r.eval(_RELEASE, 1, self.key, self.holder),
            )
