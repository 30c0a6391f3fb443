"""The simulated log of one Fly app: lines appear over simulated time, deterministically.

Every ``INTERVAL_S`` simulated seconds each app logs one line from one of its instances (the
Machines created through the fake Machines API when there are started ones, else two built-in
instances); every fifth tick logs a second line 250 ns later, in the same microsecond, so
clients that truncate timestamps to microseconds show up. Content is derived from a hash of
(app id, tick), so a seed gives the same log every time. An hour of history exists when the
book is opened; at most ``RETENTION`` lines are kept.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .._state import SandboxState
from .world import REGIONS, FlyApp

INTERVAL_S = 1.0
HISTORY_S = 3600.0
RETENTION = 20_000
PAGE = 100
NS = 1_000_000_000

_MESSAGES = (
    ("info", "GET /healthz 200 in {ms}ms"),
    ("info", "GET /api/items?page={n} 200 in {ms}ms"),
    ("info", "POST /api/jobs 201 in {ms}ms"),
    ("warn", "slow request: GET /api/report took {slow}ms"),
    ("info", "worker {n}: processed batch of {n2} items"),
    ("error", "upstream timeout talking to db.internal:5432 (attempt {n})"),
    ("info", "cache hit ratio {pct}%"),
    ("debug", "gc: collected {n2} objects in {ms}ms"),
)


@dataclass(frozen=True)
class Line:
    ts_ns: int
    id: str
    instance: str
    region: str
    level: str
    message: str


def rfc3339_ns(ts_ns: int) -> str:
    """``2026-01-01T00:00:00.123456789Z`` (always nine fractional digits).

    >>> rfc3339_ns(1767225600123456789)
    '2026-01-01T00:00:00.123456789Z'
    """
    seconds, frac = divmod(ts_ns, NS)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


class LogBook:
    """One app's lines, generated up to ``state.clock.now()`` on each query."""

    def __init__(self, state: SandboxState, app: FlyApp) -> None:
        self.state = state
        self.app = app
        self.interval_ns = int(INTERVAL_S * NS)
        # whole microseconds, so a burst's second line (+250 ns) stays in the same microsecond
        self.t0_ns = int((state.clock.now() - HISTORY_S) * NS) // 1_000 * 1_000
        self.next_tick = 0
        self.lines: list[Line] = []
        self.stamps: list[int] = []

    def _instances(self) -> list[tuple[str, str]]:
        started = [
            (mid, str(m.get("region") or REGIONS[0]))
            for mid, m in sorted(self.app.machines.items())
            if isinstance(m, dict) and m.get("state") in ("started", None)
        ]
        if started:
            return started
        digest = hashlib.sha256(f"instances:{self.app.id}".encode()).hexdigest()
        return [(digest[:14], REGIONS[0]), (digest[14:28], REGIONS[1])]

    def _make(self, tick: int, instances: list[tuple[str, str]]) -> list[Line]:
        h = hashlib.blake2b(f"{self.app.id}:{tick}".encode(), digest_size=16).digest()
        micro = int.from_bytes(h[:4], "big") % 500_000  # up to half an interval of jitter
        base = self.t0_ns + tick * self.interval_ns + micro * 1_000 + 100
        out = []
        for k in range(2 if tick % 5 == 4 else 1):
            instance, region = instances[(tick + k) % len(instances)]
            level, template = _MESSAGES[(h[4] + k) % len(_MESSAGES)]
            message = template.format(
                ms=1 + h[5] % 90, n=h[6] % 16, n2=h[7] % 500, slow=800 + h[8] * 7, pct=h[9] % 100
            )
            out.append(
                Line(
                    ts_ns=base + k * 250,
                    id=f"{self.app.id}-{tick}-{k}",
                    instance=instance,
                    region=region,
                    level=level,
                    message=message,
                )
            )
        return out

    def catch_up(self) -> None:
        now_ns = int(self.state.clock.now() * NS)
        due = (now_ns - self.t0_ns) // self.interval_ns  # ticks whose whole slot has passed
        if due - self.next_tick > RETENTION:
            self.next_tick = int(due - RETENTION)
        if self.next_tick >= due:
            return
        instances = self._instances()
        for tick in range(self.next_tick, int(due)):
            for line in self._make(tick, instances):
                if line.ts_ns <= now_ns:
                    self.lines.append(line)
                    self.stamps.append(line.ts_ns)
        self.next_tick = int(due)
        if len(self.lines) > RETENTION * 3 // 2:
            drop = len(self.lines) - RETENTION
            del self.lines[:drop]
            del self.stamps[:drop]

    def page(
        self,
        after_ns: int | None,
        *,
        region: str | None = None,
        instance: str | None = None,
        limit: int = PAGE,
    ) -> tuple[list[Line], str]:
        """Lines after ``after_ns`` (exclusive; ``None``: the latest ``limit`` of the last
        24 h) matching the filters, oldest first, and the ``next_token`` to send next."""
        self.catch_up()

        def keep(line: Line) -> bool:
            return (region is None or line.region == region) and (
                instance is None or line.instance == instance
            )

        out: list[Line] = []
        if after_ns is None:
            floor = int(self.state.clock.now() * NS) - 24 * 3600 * NS
            for line in reversed(self.lines):
                if line.ts_ns < floor or len(out) >= limit:
                    break
                if keep(line):
                    out.append(line)
            out.reverse()
        else:
            start = bisect.bisect_right(self.stamps, after_ns)
            for line in self.lines[start:]:
                if keep(line):
                    out.append(line)
                    if len(out) >= limit:
                        break
        return out, (str(out[-1].ts_ns) if out else "")


def to_json(app: str, line: Line) -> dict[str, Any]:
    """A ``data[]`` item of the logs API (fly-go's LogEntry wrapped JSON:API style)."""
    return {
        "id": line.id,
        "type": "logs",
        "attributes": {
            "timestamp": rfc3339_ns(line.ts_ns),
            "message": line.message,
            "level": line.level,
            "instance": line.instance,
            "region": line.region,
            "meta": {
                "instance": line.instance,
                "region": line.region,
                "event": {"provider": "app"},
                "http": {
                    "request": {"id": "", "method": "", "version": ""},
                    "response": {"status_code": 0},
                },
                "error": {"code": 0, "message": ""},
                "url": {"full": ""},
            },
        },
    }
