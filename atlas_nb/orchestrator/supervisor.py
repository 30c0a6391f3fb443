"""The supervisor: one task on the runtime loop that guards every tracked compute.

It sleeps until the earliest deadline (idle TTL, max runtime, cost cap) or the next heartbeat,
whichever is sooner, so a limit fires on time however long the heartbeat is. A heartbeat
round lists each provider's computes once (not one call per compute), refreshes status and
$/hr, and treats only *not found* as death. A terminate that fails is retried with backoff and
reported as ``terminate_failed``; it is never dropped. Every ``reap_interval_s`` it also runs
the reaper when ``reaper_enabled`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from typing import Any

from ..config import settings
from ..errors import NotFoundError
from ..models import Compute, ComputeStatus
from ..providers.base import Provider
from ..providers.registry import BUILTIN, get_provider
from .events import ComputeEvent, EventBus
from .limits import next_deadline, spend_at
from .state import TrackedRecord, TrackStore

log = logging.getLogger("atlas_nb.orchestrator")


def provider_ref(provider: Provider | type[Provider]) -> str:
    """How a provider is written in the tracked file: its name, or module:qualname if custom."""
    cls = provider if isinstance(provider, type) else type(provider)
    if cls.name in BUILTIN and BUILTIN[cls.name].split(":")[1] == cls.__name__:
        return cls.name
    return f"{cls.__module__}:{cls.__qualname__}"


def provider_for(ref: str) -> Provider:
    """The provider instance for a tracked record's reference."""
    if ":" in ref:
        module, _, qualname = ref.partition(":")
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return get_provider(obj)
    return get_provider(ref)


class Supervisor:
    """Tracked records (mirrored from the store), the event bus and the guarding task."""

    #: first retry delay and cap (seconds) when a terminate fails
    terminate_backoff_s: tuple[float, float] = (1.0, 60.0)

    def __init__(self, store: TrackStore) -> None:
        self.store = store
        self.bus = EventBus()
        self.records: dict[str, TrackedRecord] = {}
        self._terminations: dict[str, asyncio.Task[None]] = {}
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_heartbeat = 0.0
        self._next_reap = 0.0
        self.rounds = 0
        self.last_error: str | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def ensure_running(self) -> None:
        """Adopt what the store holds and start guarding (idempotent; on the loop)."""
        if self._task is not None and not self._task.done():
            return
        self.sync_from_store()
        cfg = settings()
        now = time.time()
        self._next_heartbeat = now + cfg.heartbeat_s
        self._next_reap = now + cfg.reap_interval_s
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="atlas-orchestrator")

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def stop(self) -> None:
        for task in [self._task, *self._terminations.values()]:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._task = None

    # -- store mirroring -------------------------------------------------------------------
    def sync_from_store(self) -> None:
        """Adopt records added by other processes, drop removed ones, merge touches."""
        on_disk = self.store.load()
        for cid, rec in on_disk.items():
            mine = self.records.get(cid)
            if mine is None:
                self.records[cid] = rec
            else:
                mine.last_activity = max(mine.last_activity, rec.last_activity)
        for cid in list(self.records):
            if cid not in on_disk and cid not in self._terminations:
                del self.records[cid]

    def add(self, record: TrackedRecord) -> None:
        self.records[record.id] = record
        self.store.put(record)
        self.publish(record.id, "status", status=record.status)
        self.wake()

    def forget(self, compute_id: str, *, reason: str | None = None) -> bool:
        found = self.records.pop(compute_id, None) is not None
        found = self.store.remove(compute_id) or found
        task = self._terminations.pop(compute_id, None)
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        if found and reason:
            self.publish(compute_id, "terminated", reason=reason)
        return found

    def touch(self, compute_id: str) -> None:
        now = time.time()
        rec = self.records.get(compute_id)
        if rec is not None:
            rec.last_activity = now
        self.store.merge_activity(compute_id, now)
        self.wake()

    def publish(self, compute_id: str, kind: str, **data: Any) -> None:
        self.bus.publish(ComputeEvent(compute_id, kind, data))

    # -- the loop ----------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep guarding whatever happens
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("orchestrator tick failed: %s", exc, exc_info=True)
                await asyncio.sleep(1.0)

    async def _tick(self) -> None:
        cfg = settings()
        now = time.time()
        self.enforce_deadlines(now)
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + cfg.heartbeat_s
            await self.heartbeat()
            self.enforce_deadlines(time.time())
        if cfg.reaper_enabled and now >= self._next_reap:
            self._next_reap = now + cfg.reap_interval_s
            await self.reap_orphans()
        wake_at = [self._next_heartbeat]
        if cfg.reaper_enabled:
            wake_at.append(self._next_reap)
        for rec in self.records.values():
            if rec.id not in self._terminations:
                d = next_deadline(rec, now)
                if d is not None:
                    wake_at.append(d.at)
        timeout = max(0.0, min(wake_at) - time.time())
        assert self._wake is not None
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # lands as its timeout fires, and the supervisor would then outlive shutdown()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        self._wake.clear()

    def enforce_deadlines(self, now: float) -> list[str]:
        """Start terminating every record whose limit has passed; returns their ids."""
        fired = []
        for rec in list(self.records.values()):
            if rec.id in self._terminations:
                continue
            d = next_deadline(rec, now)
            if d is not None and d.at <= now:
                fired.append(rec.id)
                self._terminations[rec.id] = asyncio.get_running_loop().create_task(
                    self._terminate(rec, d.reason), name=f"atlas-terminate {rec.id}"
                )
        return fired

    async def _terminate(self, rec: TrackedRecord, reason: str) -> None:
        rec.terminating = reason
        self.store.update(rec.id, terminating=reason)
        self.publish(rec.id, "terminating", reason=reason)
        delay, cap = self.terminate_backoff_s
        while True:
            try:
                await provider_for(rec.provider).terminate(rec.id)
                break
            except NotFoundError:
                break
            except Exception as exc:
                self.publish(rec.id, "terminate_failed", error=str(exc), retry_in_s=delay)
                log.warning("terminating %s failed (%s); retrying in %g s", rec.id, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, cap)
        self._terminations.pop(rec.id, None)
        self.records.pop(rec.id, None)
        self.store.remove(rec.id)
        self.publish(rec.id, "terminated", reason=reason)

    async def heartbeat(self) -> None:
        """One round: refresh every tracked compute with one list call per provider."""
        self.sync_from_store()
        self.rounds += 1
        by_provider: dict[str, list[TrackedRecord]] = {}
        for rec in self.records.values():
            if rec.id not in self._terminations:
                by_provider.setdefault(rec.provider, []).append(rec)
        await asyncio.gather(*(self._poll(ref, recs) for ref, recs in by_provider.items()))

    async def _poll(self, ref: str, recs: list[TrackedRecord]) -> None:
        try:
            prov = provider_for(ref)
            listed = {c.id: c for c in await prov.list_computes()}
        except Exception as exc:  # a failed poll is not a death
            for rec in recs:
                self.publish(rec.id, "heartbeat", ok=False, error=str(exc), status=rec.status)
            return
        now = time.time()
        for rec in recs:
            compute: Compute | None = listed.get(rec.id)
            if compute is None:
                try:
                    compute = await prov.get(rec.id)
                except NotFoundError:
                    self.forget(rec.id, reason="gone")
                    continue
                except Exception as exc:
                    self.publish(rec.id, "heartbeat", ok=False, error=str(exc), status=rec.status)
                    continue
            self._observe(rec, compute, now)

    def _observe(self, rec: TrackedRecord, compute: Compute, now: float) -> None:
        changed = False
        rate = compute.cost_per_hr
        if rate is not None and rate != rec.cost_per_hr:
            rec.spend_usd, rec.spend_at = spend_at(rec, now), now
            rec.cost_per_hr = rate
            changed = True
        status = compute.status.value
        if status != rec.status:
            rec.status = status
            changed = True
            self.publish(rec.id, "status", status=status)
        if changed:
            self.store.update(
                rec.id,
                status=rec.status,
                cost_per_hr=rec.cost_per_hr,
                spend_usd=rec.spend_usd,
                spend_at=rec.spend_at,
            )
        self.publish(rec.id, "heartbeat", ok=True, status=status, spend_usd=spend_at(rec, now))
        if compute.status == ComputeStatus.TERMINATED:
            self.forget(rec.id, reason="terminated outside atlas_nb")

    async def reap_orphans(self) -> None:
        from .api import reap_once

        try:
            await reap_once(dry_run=False)
        except Exception as exc:
            self.last_error = f"reaper: {exc}"
            log.warning("reaper failed: %s", exc)
