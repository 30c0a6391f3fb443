"""When must a tracked compute be terminated, and why (pure functions, table-tested).

The idle timer starts when the compute first runs (``running_since``); until then only
``provision_timeout_s`` (from creation) bounds it. Runtime and cost count from creation, as
billing does.

>>> from atlas_nb.orchestrator.state import TrackedRecord
>>> r = TrackedRecord(id="p", provider="mock", idle_ttl_s=60, max_runtime_s=3600,
...                   max_cost_usd=1.0, started_at=0, last_activity=0, cost_per_hr=2.0)
>>> next_deadline(r, now=10)  # still provisioning: the provision timeout bounds it
Deadline(at=1200.0, reason='provision_timeout')
>>> r.running_since = 5.0
>>> next_deadline(r, now=10)
Deadline(at=65.0, reason='idle_timeout')
>>> r.last_activity = 1790  # touched recently: the cost cap ($1 at $2/hr) comes first
>>> next_deadline(r, now=1790)
Deadline(at=1800.0, reason='max_cost')
>>> spend_at(r, 1800)
1.0
"""

from __future__ import annotations

from dataclasses import dataclass

from .state import TrackedRecord


@dataclass(frozen=True)
class Deadline:
    at: float  # unix seconds
    reason: str  # idle_timeout | max_runtime | max_cost


def spend_at(record: TrackedRecord, now: float) -> float:
    """USD spent by ``now``: the recorded spend plus the current rate since it was recorded."""
    rate = record.cost_per_hr or 0.0
    since = record.spend_at or record.started_at
    return record.spend_usd + rate * max(0.0, now - since) / 3600.0


def next_deadline(record: TrackedRecord, now: float) -> Deadline | None:
    """The earliest limit: idle TTL since last activity (once running), the provision timeout
    (until running), max runtime since start, or the moment spend reaches the cost cap at the
    current $/hr. ``None`` when nothing limits it."""
    candidates: list[Deadline] = []
    if record.running_since is None:
        if record.provision_timeout_s:
            at = record.started_at + record.provision_timeout_s
            candidates.append(Deadline(float(at), "provision_timeout"))
    elif record.idle_ttl_s:
        idle_from = max(record.last_activity, record.running_since)
        candidates.append(Deadline(float(idle_from + record.idle_ttl_s), "idle_timeout"))
    if record.max_runtime_s:
        candidates.append(Deadline(float(record.started_at + record.max_runtime_s), "max_runtime"))
    if record.max_cost_usd is not None:
        spent = spend_at(record, now)
        rate = record.cost_per_hr or 0.0
        if spent >= record.max_cost_usd:
            candidates.append(Deadline(float(now), "max_cost"))
        elif rate > 0:
            left_h = (record.max_cost_usd - spent) / rate
            candidates.append(Deadline(float(now + left_h * 3600.0), "max_cost"))
    if not candidates:
        return None
    return min(candidates, key=lambda d: d.at)
