"""The supervisor: one task on the runtime loop that guards every tracked compute.

It sleeps until the earliest deadline (idle TTL, max runtime, cost cap) or the next heartbeat,
whichever is sooner; heartbeats and reaper rounds run as their own tasks, so a limit fires on
time however long a round takes. Before a limit fires, the record is re-read from disk, so a
touch or an untrack from another process (a second kernel, ``atlas-nb reap``) is honoured.
A heartbeat round lists each provider's computes once (not one call per compute), refreshes
status and $/hr, and treats only *not found* as death. A terminate that fails is retried
with backoff and reported as ``terminate_failed``; it is never dropped.

Each compute is guarded with the provider instance (and so the API key) that spawned it. A
compute adopted from disk uses the configured key; when that key is not the one it was
spawned with, "not found" is not trusted as death (another account cannot see the pod) and
the failure is reported instead.
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
from ..providers.registry import BUILTIN, get_provider, key_fingerprint
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


def provider_fingerprint(provider: Provider) -> str:
    """A short, non-secret fingerprint of the provider's API key ("" when it has none)."""
    return key_fingerprint(provider.api_key.get_secret_value())[:16] if provider.api_key else ""


def _resolve(ref: str) -> Provider:
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
        #: the provider instance (and key) each compute was spawned or tracked with
        self.providers: dict[str, Provider] = {}
        self._terminations: dict[str, asyncio.Task[None]] = {}
        self._rounds: dict[str, asyncio.Task[None]] = {}
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_heartbeat = 0.0
        self._next_reap = 0.0
        self.rounds = 0
        self.last_error: str | None = None

    # -- providers -------------------------------------------------------------------------
    def provider_for(self, rec: TrackedRecord) -> Provider:
        """The instance that spawned it, else one with the configured key."""
        return self.providers.get(rec.id) or _resolve(rec.provider)

    def _trusts_not_found(self, rec: TrackedRecord, prov: Provider) -> bool:
        """Whether "not found" from ``prov`` means the compute is gone (same key as spawn)."""
        return not rec.key_fp or provider_fingerprint(prov) == rec.key_fp

    def _key_mismatch(self, rec: TrackedRecord) -> str:
        return (
            f"the {rec.provider} key configured now is not the one {rec.id} was spawned with, "
            "so its absence proves nothing; configure that key (atlas.configure(api_keys=...))"
        )

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
        tasks = [self._task, *self._terminations.values(), *self._rounds.values()]
        for task in tasks:
            if task is not None and not task.done():
                task.cancel()
        for task in tasks:
            if task is not None:
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
                mine.released = rec.released
        for cid in list(self.records):
            if cid not in on_disk and cid not in self._terminations:
                del self.records[cid]
                self.providers.pop(cid, None)

    def guarded(self) -> list[TrackedRecord]:
        """Records under guard (not released), oldest first."""
        return sorted(
            (r for r in self.records.values() if not r.released), key=lambda r: r.started_at
        )

    def add(self, record: TrackedRecord, provider: Provider | None = None) -> None:
        if provider is not None:
            self.providers[record.id] = provider
            record.key_fp = provider_fingerprint(provider)
        self.records[record.id] = record
        self.store.put(record)
        self.publish(record.id, "status", status=record.status)
        self.wake()

    def release(self, compute_id: str) -> None:
        """Stop guarding but remember it was ours: the reaper must leave it alone."""
        rec = self.records.get(compute_id)
        if rec is not None:
            rec.released = True
        self.store.update(compute_id, released=True)
        self.publish(compute_id, "status", status="untracked")

    def forget(self, compute_id: str, *, reason: str | None = None) -> bool:
        found = self.records.pop(compute_id, None) is not None
        self.providers.pop(compute_id, None)
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

    def _start_round(self, name: str, make: Any) -> None:
        running = self._rounds.get(name)
        if running is None or running.done():
            self._rounds[name] = asyncio.get_running_loop().create_task(
                make(), name=f"atlas-orchestrator {name}"
            )

    async def _tick(self) -> None:
        cfg = settings()
        now = time.time()
        self.enforce_deadlines(now)
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + cfg.heartbeat_s
            self._start_round("heartbeat", self.heartbeat)
        if cfg.reaper_enabled and now >= self._next_reap:
            self._next_reap = now + cfg.reap_interval_s
            self._start_round("reap", self.reap_orphans)
        wake_at = [self._next_heartbeat]
        if cfg.reaper_enabled:
            wake_at.append(self._next_reap)
        for rec in self.guarded():
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
        """Start terminating every record whose limit has passed; returns their ids.

        Each candidate is re-read from disk first, so a touch or untrack made by another
        process is honoured.
        """
        fired = []
        for rec in self.guarded():
            if rec.id in self._terminations:
                continue
            d = next_deadline(rec, now)
            if d is None or d.at > now:
                continue
            on_disk = self.store.get(rec.id)
            if on_disk is None or on_disk.released:  # untracked elsewhere
                self.records.pop(rec.id, None)
                self.providers.pop(rec.id, None)
                continue
            rec.last_activity = max(rec.last_activity, on_disk.last_activity)
            d = next_deadline(rec, now)
            if d is None or d.at > now:  # touched elsewhere
                continue
            fired.append(rec.id)
            self._terminations[rec.id] = asyncio.get_running_loop().create_task(
                self._terminate(rec, d.reason), name=f"atlas-terminate {rec.id}"
            )
        return fired

    async def _terminate(self, rec: TrackedRecord, reason: str) -> None:
        rec.terminating = reason
        if self.store.update(rec.id, terminating=reason) is None:
            self._terminations.pop(rec.id, None)  # untracked meanwhile: nothing to do
            return
        self.publish(rec.id, "terminating", reason=reason)
        delay, cap = self.terminate_backoff_s
        while True:
            error: str | None = None
            try:
                prov = self.provider_for(rec)
                await prov.terminate(rec.id)
                break
            except NotFoundError:
                if self._trusts_not_found(rec, prov):
                    break
                error = self._key_mismatch(rec)
            except Exception as exc:
                error = str(exc)
            self.publish(rec.id, "terminate_failed", error=error, retry_in_s=delay)
            log.warning("terminating %s failed (%s); retrying in %g s", rec.id, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, cap)
        self._terminations.pop(rec.id, None)
        self.records.pop(rec.id, None)
        self.providers.pop(rec.id, None)
        self.store.remove(rec.id)
        self.publish(rec.id, "terminated", reason=reason)

    async def heartbeat(self) -> None:
        """One round: refresh every tracked compute with one list call per provider."""
        self.sync_from_store()
        self.rounds += 1
        groups: dict[int, tuple[Provider, list[TrackedRecord]]] = {}
        for rec in self.records.values():
            if rec.id in self._terminations:
                continue
            try:
                prov = self.provider_for(rec)
            except Exception as exc:  # no key, unknown provider: report, keep guarding
                self.publish(rec.id, "heartbeat", ok=False, error=str(exc), status=rec.status)
                continue
            groups.setdefault(id(prov), (prov, []))[1].append(rec)
        await asyncio.gather(*(self._poll(prov, recs) for prov, recs in groups.values()))

    async def _poll(self, prov: Provider, recs: list[TrackedRecord]) -> None:
        try:
            listed = {c.id: c for c in await prov.list_computes()}
        except Exception as exc:  # a failed poll is not a death
            for rec in recs:
                if not rec.released:
                    self.publish(rec.id, "heartbeat", ok=False, error=str(exc), status=rec.status)
            return
        now = time.time()
        for rec in recs:
            compute: Compute | None = listed.get(rec.id)
            if compute is None:
                try:
                    compute = await prov.get(rec.id)
                except NotFoundError:
                    if self._trusts_not_found(rec, prov):
                        self.forget(rec.id, reason=None if rec.released else "gone")
                    elif not rec.released:
                        self.publish(
                            rec.id,
                            "heartbeat",
                            ok=False,
                            error=self._key_mismatch(rec),
                            status=rec.status,
                        )
                    continue
                except Exception as exc:
                    if not rec.released:
                        self.publish(
                            rec.id, "heartbeat", ok=False, error=str(exc), status=rec.status
                        )
                    continue
            if not rec.released:
                self._observe(rec, compute, now)
            elif compute.status == ComputeStatus.TERMINATED:
                self.forget(rec.id)

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
