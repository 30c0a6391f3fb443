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

Faults never stop the guarding: a store write that fails (lock held, disk full, read-only) is
reported as ``store_error`` and retried while the record stays guarded in memory; a corrupt
record is quarantined and reported once; a compute is forgotten only once its death is
confirmed (a second miss one heartbeat later, or a list after a 404 on terminate).

The store is a :class:`~atlas_nb.orchestrator.store.RecordStore`. A shared one (Redis) is
guarded by one supervisor at a time, the holder of its lease (:mod:`.lease`); the others
observe (follow the store, publish its events) and take over when the holder dies. Every
termination is claimed in the store first, so a limit is enforced once, by one process, and a
claim left by a dead holder is resumed by the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from ..config import settings
from ..errors import NotFoundError, ValidationError
from ..models import Compute, ComputeStatus
from ..providers.base import Provider
from ..providers.registry import (
    get_provider,
    key_fingerprint,
    register_provider,
    registered_name,
    resolve_provider_class,
)
from . import pod_lease
from .events import ComputeEvent, EventBus
from .limits import next_deadline, spend_at
from .pod_lease import LeaseRenewals
from .state import TrackedRecord
from .store import Claim, Listener, RecordStore

log = logging.getLogger("atlas_nb.orchestrator")


def provider_ref(provider: Provider | type[Provider]) -> str:
    """How a provider is written in the tracked file: its registered name (a custom class not
    registered yet is registered under its ``name`` in this process)."""
    cls = provider if isinstance(provider, type) else type(provider)
    name = registered_name(cls)
    if name is not None:
        return name
    taken = None
    with contextlib.suppress(ValidationError):
        taken = resolve_provider_class(cls.name) if cls.name else None
    if taken is None and cls.name:
        register_provider(cls)
        return cls.name.strip().lower()
    raise ValidationError(
        f"the provider class {cls.__qualname__} cannot be tracked under the name {cls.name!r} "
        "(that name is empty or already taken)",
        field="provider",
        hint="Give the class its own name = '...' and atlas.register_provider(cls) it in every "
        "process that should guard its computes.",
    )


def provider_fingerprint(provider: Provider) -> str:
    """A short, non-secret fingerprint of the provider's API key ("" when it has none)."""
    return key_fingerprint(provider.api_key.get_secret_value())[:16] if provider.api_key else ""


def _resolve(ref: str) -> Provider:
    """The provider a record names: a registered name only (nothing on disk is imported)."""
    if ":" in ref:
        raise ValidationError(
            f"the tracked record names its provider as {ref!r}; code named on disk is never "
            "imported",
            field="provider",
            hint="Register the class with atlas.register_provider(cls) (or the atlas_nb.providers "
            "entry point) and track the compute again.",
        )
    return get_provider(ref)


class Supervisor:
    """Tracked records (mirrored from the store), the event bus and the guarding task."""

    #: first retry delay and cap (seconds) when a terminate fails
    terminate_backoff_s: tuple[float, float] = (1.0, 60.0)
    #: first retry delay and cap (seconds) when a store write fails
    store_backoff_s: tuple[float, float] = (0.5, 30.0)

    def __init__(
        self,
        store: RecordStore,
        *,
        holder: str | None = None,
        reap: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.store = store
        #: one orphan-reaping round (the orchestrator's API passes it; None: never reaps)
        self._reap = reap
        #: who this process is in a shared store (lease, claims, events)
        self.holder = holder or (holder_id() if store.shared else f"local:{os.getpid()}")
        self.bus = EventBus()
        #: the enforcer's lease of a shared store (None: this process always enforces)
        self.lease = store.lease(self.holder, self.wake)
        self._lease_task: asyncio.Task[None] | None = None
        self._dirty: set[str] = set()  # ids another process wrote ("": maybe all)
        #: touches from other processes applied here (benchmarks read it)
        self.remote_touches = 0
        self.records: dict[str, TrackedRecord] = {}
        #: the provider instance (and key) each compute was spawned or tracked with
        self.providers: dict[str, Provider] = {}
        self._terminations: dict[str, asyncio.Task[None]] = {}
        self._rounds: dict[str, asyncio.Task[None]] = {}
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_heartbeat = 0.0
        self._next_reap = 0.0
        #: records guarded in memory whose file could not be written yet (retried each tick)
        self._unsaved: set[str] = set()
        #: records terminated whose file could not be removed yet (never re-adopted)
        self._gone: set[str] = set()
        #: consecutive heartbeats in which a compute was not found
        self._misses: dict[str, int] = {}
        self._store_retry_at = 0.0
        self._store_delay = self.store_backoff_s[0]
        self._store_broken: str | None = None
        self.rounds = 0
        self.last_error: str | None = None
        #: pod-guard lease renewals in flight, and computes touched meanwhile (pod_lease)
        self.lease_renewals = LeaseRenewals()

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

    @property
    def enforcing(self) -> bool:
        """Whether this process enforces the limits (always, unless another holds the lease)."""
        return self.lease is None or self.lease.held

    # -- lifecycle -------------------------------------------------------------------------
    def ensure_running(self) -> None:
        """Adopt what the store holds and start guarding (idempotent; on the loop, after
        ``await store.connect()``)."""
        if self._task is not None and not self._task.done():
            return
        self.sync_from_store()
        self.store.start(
            Listener(
                changed=self._remote_change,
                touched=lambda cid, at: self.remote_touch(cid, at),
                event=self.bus.publish,
                health=self._store_health,
            )
        )
        if self.lease is not None:
            self._lease_task = asyncio.get_running_loop().create_task(
                self.lease.run(), name="atlas-orchestrator lease"
            )
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
        tasks = [
            self._task, self._lease_task, *self._terminations.values(), *self._rounds.values()
        ]  # fmt: skip
        for task in tasks:
            if task is not None and not task.done():
                task.cancel()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task
        self._task = self._lease_task = None
        if self.lease is not None:
            await self.lease.release()  # the next observer takes over at once
        with contextlib.suppress(Exception):
            await self.store.aclose()

    # -- what other processes did (a shared store) -----------------------------------------
    def _remote_change(self, compute_id: str) -> None:
        self._dirty.add(compute_id)
        self.wake()

    def remote_touch(self, compute_id: str, at: float) -> None:
        """A touch made in another process: the idle timer starts again here too."""
        rec = self.records.get(compute_id)
        if rec is not None and at > rec.last_activity:
            rec.last_activity = at
        self.remote_touches += 1
        self.wake()

    def _store_health(self, error: str | None) -> None:
        if error is not None:
            self._store_error("", "reach the store", RuntimeError(error))
        else:
            self.last_error = None
            self._dirty.add("")
            self.wake()

    # -- the store (every write may fail: report, keep guarding, retry) --------------------
    def _store_error(self, compute_id: str, action: str, exc: BaseException) -> None:
        error = f"{action}: {exc}"
        self.last_error = f"store: {error}"
        log.warning("tracked store: %s", error)
        self.publish(compute_id, "store_error", action=action, error=str(exc))

    def _save(self, rec: TrackedRecord) -> bool:
        """Write a record guarded in memory; on failure it is retried on later ticks."""
        try:
            self.store.put(rec)
        except Exception as exc:
            if rec.id not in self._unsaved:
                self._store_error(rec.id, "save", exc)
            self._unsaved.add(rec.id)
            return False
        self._unsaved.discard(rec.id)
        return True

    def update(self, rec: TrackedRecord, **changes: Any) -> None:
        """Change a record in memory and on disk (a failed write is retried later)."""
        for key, value in changes.items():
            setattr(rec, key, value)
        try:
            self.store.update(rec.id, **changes)  # None when untracked elsewhere: sync drops it
        except Exception as exc:
            if rec.id not in self._unsaved:
                self._store_error(rec.id, "update", exc)
            self._unsaved.add(rec.id)

    def _remove(self, compute_id: str) -> bool:
        try:
            found = self.store.remove(compute_id)
        except Exception as exc:
            if compute_id not in self._gone:
                self._store_error(compute_id, "remove", exc)
            self._gone.add(compute_id)
            return False
        self._gone.discard(compute_id)
        return found

    def _retry_store(self, now: float) -> None:
        """Retry failed saves and removals, with backoff while the store keeps failing."""
        if not (self._unsaved or self._gone) or now < self._store_retry_at:
            return
        failed = False
        for cid in list(self._unsaved):
            rec = self.records.get(cid)
            if rec is None:
                self._unsaved.discard(cid)
            elif not self._save(rec):
                failed = True
        for cid in list(self._gone):
            if not self._remove(cid):
                failed = True
        if failed:
            self._store_retry_at = now + self._store_delay
            self._store_delay = min(self._store_delay * 2, self.store_backoff_s[1])
        else:
            self._store_delay = self.store_backoff_s[0]

    # -- store mirroring -------------------------------------------------------------------
    def sync_from_store(self) -> None:
        """Adopt records added by other processes, drop removed ones, merge touches.

        A store that cannot be read is reported and what is in memory keeps being guarded;
        corrupt records are quarantined by the store and reported here once each.
        """
        try:
            on_disk = self.store.load()
        except Exception as exc:
            if self._store_broken != str(exc):
                self._store_broken = str(exc)
                self._store_error("", "load", exc)
            return
        self._store_broken = None
        quarantined = self.store.quarantined
        by_file = (
            {self.store.file_of(cid): rec for cid, rec in self.records.items()}
            if quarantined
            else {}
        )
        for file, reason in quarantined:
            mine = by_file.get(file)
            self.publish(
                mine.id if mine else (file.stem if isinstance(file, Path) else str(file)),
                "store_error",
                action="quarantine",
                error=reason,
                restored=mine is not None,
            )
            log.warning("tracked record %s is corrupt and was set aside: %s", file, reason)
            if mine is not None:  # this process still knows it: write the good copy back
                self._save(mine)
                on_disk[mine.id] = mine
        self.store.quarantined.clear()
        for cid, rec in on_disk.items():
            self._merge(cid, rec)
        for cid in list(self.records):
            if cid not in on_disk:
                self._merge(cid, None)
        self._dirty.clear()

    def _merge(self, cid: str, rec: TrackedRecord | None) -> None:
        """Bring one record in memory in line with the store's copy (``None``: not there)."""
        if rec is None:
            if cid in self.records and cid not in self._terminations and cid not in self._unsaved:
                del self.records[cid]
                self.providers.pop(cid, None)
                self._misses.pop(cid, None)
            return
        if cid in self._gone:
            return
        mine = self.records.get(cid)
        if mine is None:
            self.records[cid] = rec
        elif self.store.shared and not self.enforcing and cid not in self._unsaved:
            # an observer: the enforcer writes status and spend; touches merge
            rec.last_activity = max(mine.last_activity, rec.last_activity)
            self.records[cid] = rec
        else:
            if rec.terminating and not mine.terminating:  # claimed elsewhere
                mine.terminating = rec.terminating
            mine.last_activity = max(mine.last_activity, rec.last_activity)
            mine.released = rec.released
            if mine.running_since is None:
                mine.running_since = rec.running_since

    def _sync_dirty(self) -> None:
        """Merge only the records other processes wrote since the last tick (a shared store)."""
        dirty, self._dirty = self._dirty, set()
        if "" in dirty:  # everything may have changed (the store came back)
            self.sync_from_store()
            return
        for cid in dirty:
            try:
                rec = self.store.get(cid)
            except Exception as exc:
                self._store_error(cid, "load", exc)
                continue
            self._merge(cid, rec)

    def guarded(self) -> list[TrackedRecord]:
        """Records under guard (not released), oldest first."""
        return sorted(
            (r for r in self.records.values() if not r.released), key=lambda r: r.started_at
        )

    def add(self, record: TrackedRecord, provider: Provider | None = None) -> None:
        """Guard a record from now on; if it cannot be saved it is guarded in memory (and the
        write retried), never dropped."""
        if provider is not None:
            self.providers[record.id] = provider
            record.key_fp = provider_fingerprint(provider)
        self.records[record.id] = record
        self._gone.discard(record.id)
        self._save(record)
        self.publish(record.id, "status", status=record.status)
        self.wake()

    def condemn(self, record: TrackedRecord, provider: Provider, reason: str) -> None:
        """Track a compute and terminate it now, retrying until it is gone (an interrupted
        spawn: the pod exists but nobody wanted it)."""
        self.add(record, provider)
        if record.id not in self._terminations:
            self._terminations[record.id] = asyncio.get_running_loop().create_task(
                self._terminate(record, reason), name=f"atlas-terminate {record.id}"
            )

    def release(self, compute_id: str) -> None:
        """Stop guarding but remember it was ours: the reaper must leave it alone."""
        rec = self.records.get(compute_id)
        if rec is not None:
            rec.released = True
        self.store.update(compute_id, released=True)
        self.publish(compute_id, "status", status="untracked")

    def terminations_in_flight(self, compute_ids: Iterable[str]) -> list[asyncio.Task[None]]:
        """The termination tasks still running or retrying for these computes."""
        return [self._terminations[c] for c in compute_ids if c in self._terminations]

    def forget(self, compute_id: str, *, reason: str | None = None) -> bool:
        found = self.records.pop(compute_id, None) is not None
        self.providers.pop(compute_id, None)
        self._unsaved.discard(compute_id)
        self._misses.pop(compute_id, None)
        found = self._remove(compute_id) or found
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
        try:
            self.store.merge_activity(compute_id, now)
        except Exception as exc:  # the touch holds in memory; the write is retried
            self._store_error(compute_id, "touch", exc)
            if rec is not None:
                self._unsaved.add(compute_id)
        if rec is not None:
            pod_lease.schedule(self, rec)  # the pod's own guard hears of the activity too
        self.wake()

    def publish(self, compute_id: str, kind: str, **data: Any) -> None:
        event = ComputeEvent(compute_id, kind, data)
        self.bus.publish(event)
        self.store.record_event(event)  # a shared store tells the other kernels

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
        self._retry_store(now)
        if self._dirty:  # another process wrote to the shared store
            self._sync_dirty()
        enforcing = self.enforcing  # observers follow the store and wait for the lease
        if enforcing:
            self.enforce_deadlines(now)
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + cfg.heartbeat_s
            self._start_round("heartbeat", self.heartbeat if enforcing else self.observe)
        if enforcing and cfg.reaper_enabled and now >= self._next_reap:
            self._next_reap = now + cfg.reap_interval_s
            self._start_round("reap", self.reap_orphans)
        wake_at = [self._next_heartbeat]
        if enforcing and cfg.reaper_enabled:
            wake_at.append(self._next_reap)
        if self._unsaved or self._gone:
            wake_at.append(self._store_retry_at)
        for rec in self.guarded() if enforcing else ():
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
        process is honoured; when the disk cannot be read, the limit fires on what is known.
        """
        fired = []
        for rec in self.guarded():
            if rec.id in self._terminations:
                continue
            if rec.terminating and self.store.shared:  # claimed by a holder that died: finish
                self._terminations[rec.id] = asyncio.get_running_loop().create_task(
                    self._terminate(rec, rec.terminating), name=f"atlas-terminate {rec.id}"
                )
                continue
            d = next_deadline(rec, now)
            if d is None or d.at > now:
                continue
            try:
                on_disk = self.store.get(rec.id)
            except Exception as exc:  # unreadable: the limit still fires
                self._store_error(rec.id, "read before terminating", exc)
                on_disk = rec
            if on_disk is None and rec.id in self._unsaved:
                on_disk = rec  # never saved: it is ours alone
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
        """Terminate until the provider confirms it gone; every failure is retried."""
        try:
            claim = await self._claim(rec, reason)
            if claim is None:
                return  # another process enforces now
            if claim.outcome == "touched":
                rec.last_activity = max(rec.last_activity, claim.last_activity or 0.0)
                self.wake()
                return
            if claim.outcome in ("gone", "released") and rec.id not in self._unsaved:
                self.records.pop(rec.id, None)  # untracked meanwhile: nothing to do
                return
            rec.terminating = reason
            if claim.outcome == "resumed":
                self.publish(rec.id, "terminating", reason=reason, resumed=True)
            else:
                self.publish(rec.id, "terminating", reason=reason)
            await self._terminate_until_gone(rec)
            self.records.pop(rec.id, None)
            self.providers.pop(rec.id, None)
            self._unsaved.discard(rec.id)
            self._misses.pop(rec.id, None)
            self._remove(rec.id)
            self.publish(rec.id, "terminated", reason=reason)
        finally:
            if self._terminations.get(rec.id) is asyncio.current_task():
                del self._terminations[rec.id]

    async def _claim(self, rec: TrackedRecord, reason: str) -> Claim | None:
        """Claim the termination in the store (once for every process sharing it).

        A local store that fails is reported and the limit fires anyway (the limit matters
        more than the note on disk); a shared store is retried with backoff (another process
        could otherwise enforce it too) for as long as this process holds the lease.
        """
        known = rec.last_activity if reason == "idle_timeout" else None
        delay, cap = self.store_backoff_s
        reported = False
        while True:
            if not self.enforcing:
                return None
            try:
                return await self.store.claim_termination(
                    rec.id, reason, by=self.holder, last_activity=known
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not reported:
                    self._store_error(rec.id, "mark terminating", exc)
                    reported = True
                if not self.store.shared:
                    return Claim("claimed", by=self.holder)
            await asyncio.sleep(delay)
            delay = min(delay * 2, cap)

    async def _terminate_until_gone(self, rec: TrackedRecord) -> None:
        delay, cap = self.terminate_backoff_s
        while True:
            error: str | None = None
            try:
                prov = self.provider_for(rec)
                try:
                    await prov.terminate(rec.id)
                    return
                except NotFoundError:
                    if not self._trusts_not_found(rec, prov):
                        error = self._key_mismatch(rec)
                    elif await self._confirmed_gone(prov, rec.id):
                        return
                    else:
                        error = f"terminate said {rec.id} was not found, but it is still listed"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = str(exc) or type(exc).__name__
            self.publish(rec.id, "terminate_failed", error=error, retry_in_s=delay)
            log.warning("terminating %s failed (%s); retrying in %g s", rec.id, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, cap)

    async def _confirmed_gone(self, prov: Provider, compute_id: str) -> bool:
        """A 404 is confirmed by a list: gone when not listed (or listed as terminated)."""
        for c in await prov.list_computes():
            if c.id == compute_id:
                return c.status == ComputeStatus.TERMINATED
        return True

    async def observe(self) -> None:
        """An observer's round (another process enforces): bring the view up to date."""
        await self.store.refresh()
        self.sync_from_store()
        self.rounds += 1

    async def heartbeat(self) -> None:
        """One round: refresh every tracked compute with one list call per provider."""
        await self.store.refresh()
        self.sync_from_store()
        self.rounds += 1
        groups: dict[int, tuple[Provider, list[TrackedRecord]]] = {}
        for rec in list(self.records.values()):
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
                    self._missed(rec, prov)
                    continue
                except Exception as exc:
                    if not rec.released:
                        self.publish(
                            rec.id, "heartbeat", ok=False, error=str(exc), status=rec.status
                        )
                    continue
            self._misses.pop(rec.id, None)
            if not rec.released:
                self.note_view(rec, compute, now)
            elif compute.status == ComputeStatus.TERMINATED:
                self.forget(rec.id)

    def _missed(self, rec: TrackedRecord, prov: Provider) -> None:
        """Not listed and 404 on get: gone only when it happens twice in a row."""
        if not self._trusts_not_found(rec, prov):
            if not rec.released:
                self.publish(
                    rec.id, "heartbeat", ok=False, error=self._key_mismatch(rec), status=rec.status
                )
            return
        misses = self._misses.get(rec.id, 0) + 1
        if misses >= 2:
            self.forget(rec.id, reason=None if rec.released else "gone")
            return
        self._misses[rec.id] = misses
        if not rec.released:
            self.publish(
                rec.id,
                "heartbeat",
                ok=False,
                error=f"{rec.id} was not found; confirming at the next heartbeat",
                status=rec.status,
            )

    def note_view(self, rec: TrackedRecord, compute: Compute, now: float) -> None:
        """Take a fresh view of a tracked compute: its $/hr, status and running start."""
        changes: dict[str, Any] = {}
        rate = compute.cost_per_hr
        if rate is not None and rate != rec.cost_per_hr:
            changes.update(spend_usd=spend_at(rec, now), spend_at=now, cost_per_hr=rate)
        status = compute.status.value
        if status != rec.status:
            changes["status"] = status
            self.publish(rec.id, "status", status=status)
        if compute.status == ComputeStatus.RUNNING and rec.running_since is None:
            changes["running_since"] = now  # the idle timer starts now
        if changes:
            self.update(rec, **changes)
        self.publish(rec.id, "heartbeat", ok=True, status=status, spend_usd=spend_at(rec, now))
        if compute.status == ComputeStatus.TERMINATED:
            self.forget(rec.id, reason="terminated outside atlas_nb")
        elif compute.status == ComputeStatus.RUNNING:
            pod_lease.schedule(self, rec, compute)  # every heartbeat renews the pod's lease

    async def reap_orphans(self) -> None:
        if self._reap is None:
            return
        try:
            await self._reap()
        except Exception as exc:
            self.last_error = f"reaper: {exc}"
            log.warning("reaper failed: %s", exc)


def holder_id() -> str:
    """Who this process is in a shared store: owner tag, host, pid and a random part."""
    from ..naming import owner_tag

    try:
        owner = owner_tag()
    except Exception:  # an unwritable data dir: still a usable (random) identity
        owner = "unknown"
    return f"{owner}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
