"""The orchestrator's public functions: track, touch, untrack, tracked, reap, events.

>>> import atlas_nb as atlas
>>> pod = atlas.spawn(provider="mock", gpu="l4", image="python:3.11", idle_ttl="30m")
>>> atlas.tracked()["id"].tolist() == [pod.id]
True
>>> atlas.untrack(pod.id, terminate=True)
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._durations import Duration, optional_seconds
from .._runtime import current_runtime, get_runtime, on_runtime, run_sync
from ..config import settings
from ..errors import (
    ComputeMayExistError,
    MissingCredentialsError,
    NotFoundError,
    UnsupportedError,
    ValidationError,
)
from ..frames import frame, mark
from ..guard.lease import lease_url_for
from ..guard.plan import choose_guard
from ..models import Compute, ComputeRequest, ComputeStatus
from ..naming import owner_tag
from ..providers.base import Provider
from ..providers.created import on_created
from ..providers.registry import (
    ProviderLike,
    Providers,
    configured_providers,
    get_provider,
    provider_list,
)
from . import pod_lease
from .events import EventSubscription
from .limits import next_deadline, spend_at
from .reaper import reap_providers
from .state import DEFAULT_PROVISION_TIMEOUT_S, TrackedRecord, TrackStore
from .store import RecordStore
from .supervisor import Supervisor, holder_id, provider_ref

log = logging.getLogger("atlas_nb.orchestrator")

Create = Callable[..., Coroutine[Any, Any, Compute]]
"""``create(provider, request, *, undo)``: makes the compute; ``undo`` ends one interrupted."""

if TYPE_CHECKING:
    import pandas as pd
else:
    from .._lazy import pandas as pd

TRACKED_COLUMNS: dict[str, str] = {
    "id": "string",
    "provider": "string",
    "name": "string",
    "gpu": "string",
    "status": "string",
    "cost_per_hr": "Float64",
    "spend_usd": "Float64",
    "uptime_s": "Float64",
    "idle_s": "Float64",
    "idle_left_s": "Float64",
    "limit": "string",
    "limit_in_s": "Float64",
    "idle_ttl_s": "Float64",
    "max_runtime_s": "Float64",
    "max_cost_usd": "Float64",
    "terminating": "string",
    "started_at": "datetime64[ns, UTC]",
    "guard": "string",
    "owner": "string",
    "lease_expires_at": "datetime64[ns, UTC]",
    "lease_error": "string",
}


def supervisor() -> Supervisor:
    """The supervisor of the tracked computes in the configured store: the local files of the
    current ``data_dir``, or a team's Redis (``settings().store``). One per store and runtime,
    so a sandbox's pods and the real clouds' pods are never mixed."""
    rt = get_runtime()
    cfg = settings()
    make_store: Any
    if cfg.store is None:
        where = str(cfg.data_dir / "tracked")

        def make_store() -> RecordStore:
            return TrackStore(cfg.data_dir / "tracked")
    else:
        where = cfg.store.get_secret_value()
        url = cfg.store

        def make_store() -> RecordStore:
            from .redis_store import RedisTrackStore

            return RedisTrackStore(url, holder=holder_id())

    def make() -> Supervisor:
        store = make_store()
        sup = Supervisor(
            store,
            holder=getattr(store, "holder", None),
            reap=functools.partial(reap_once, dry_run=False),
        )
        rt.on_shutdown(sup.stop)
        return sup

    return rt.service(("orchestrator", where), make)


async def _running() -> Supervisor:
    """The supervisor, connected to its store and guarding (``StoreUnavailableError`` naming
    the store when a team's Redis cannot be reached: nothing falls back to the local files)."""
    sup = supervisor()
    await sup.store.connect()
    sup.ensure_running()
    return sup


def check_limits(
    *,
    idle_ttl: float | None,
    max_runtime: float | None,
    max_cost_usd: float | None,
    provision_timeout: float | None = None,
) -> None:
    """Every limit must be able to fire: finite and positive (``ValidationError`` naming it).

    >>> check_limits(idle_ttl=float("inf"), max_runtime=None, max_cost_usd=None)
    Traceback (most recent call last):
    ...
    atlas_nb.errors.ValidationError: validation: idle_ttl=inf must be a finite, positive number...
    """
    if idle_ttl is None and max_runtime is None and max_cost_usd is None:
        raise ValidationError(
            "a tracked compute needs at least one limit",
            field="idle_ttl",
            hint="Give idle_ttl, max_runtime or max_cost_usd.",
        )
    for field, value in (
        ("idle_ttl", idle_ttl),
        ("max_runtime", max_runtime),
        ("max_cost_usd", max_cost_usd),
        ("provision_timeout", provision_timeout),
    ):
        if value is None:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value <= 0:
            raise ValidationError(
                f"{field}={value!r} must be a finite, positive number",
                field=field,
                hint="Use None for no such limit.",
            )


async def hourly_rate(compute: Compute, provider: Provider) -> float | None:
    """The compute's $/hr, else its GPU's catalogue price times its GPU count (None if unknown)."""
    if compute.cost_per_hr is not None:
        return compute.cost_per_hr
    if not compute.gpu:
        return None
    try:
        types = await provider.gpu_types()
    except Exception as exc:  # no catalogue: the caller refuses the cap
        log.warning("no %s catalogue to price %s: %s", provider.name, compute.id, exc)
        return None
    for t in types:
        if compute.gpu in (t.gpu, t.native_id) and t.price_per_hr is not None:
            return t.price_per_hr * max(1, compute.gpu_count)
    return None


def _unpriced(compute_id: str, provider: str, gpu: str | None) -> ValidationError:
    return ValidationError(
        f"max_cost_usd cannot be enforced on {compute_id}: {provider} reports no $/hr for it "
        f"and its GPU ({gpu or 'none'}) has no catalogue price",
        field="max_cost_usd",
        hint="Use max_runtime= (a deadline) instead of a cost cap for this compute.",
    )


def _record(
    compute: Compute,
    provider: Provider,
    *,
    idle_ttl: float | None,
    max_runtime: float | None,
    max_cost_usd: float | None,
    provision_timeout: float | None = DEFAULT_PROVISION_TIMEOUT_S,
    cost_per_hr: float | None = None,
    armed: pod_lease.Armed | None = None,
) -> TrackedRecord:
    check_limits(
        idle_ttl=idle_ttl,
        max_runtime=max_runtime,
        max_cost_usd=max_cost_usd,
        provision_timeout=provision_timeout,
    )
    now = time.time()
    started = compute.created_at.timestamp() if compute.created_at else now
    return TrackedRecord(
        id=compute.id,
        provider=provider_ref(provider),
        name=compute.name,
        gpu=compute.gpu,
        owner=owner_tag(),
        idle_ttl_s=idle_ttl,
        max_runtime_s=max_runtime,
        max_cost_usd=max_cost_usd,
        started_at=min(started, now),
        last_activity=now,
        cost_per_hr=compute.cost_per_hr if cost_per_hr is None else cost_per_hr,
        spend_usd=0.0,
        spend_at=min(started, now),
        status=compute.status.value,
        running_since=now if compute.status == ComputeStatus.RUNNING else None,
        provision_timeout_s=provision_timeout,
        **_guard_fields(compute, armed, idle_ttl, now),
    )


def _guard_fields(
    compute: Compute, armed: pod_lease.Armed | None, idle_ttl: float | None, now: float
) -> dict[str, Any]:
    if armed is None or armed.guard != "pod":
        return {"guard": "client", "lease_error": armed.why_client if armed else None}
    url, _ = lease_url_for(compute, override=settings().base_url("guard_lease"))
    return {
        "guard": "pod",
        "lease_token": armed.token,
        "lease_url": url,
        "lease_expires_at": now + idle_ttl if idle_ttl else None,
    }


async def spawn_tracked(
    provider: Provider,
    request: ComputeRequest,
    *,
    create: Create,
    provision_timeout: float | None = DEFAULT_PROVISION_TIMEOUT_S,
    guard: str = "auto",
) -> Compute:
    """Spawn (through ``create``, the core's ``create_or_undo``: the orchestrator never calls
    back up into the core) and track in one step. A compute that may exist is tracked before
    the error is raised; one interrupted (Ctrl-C) is tracked and terminated by the supervisor
    (retried until gone); one whose cost cap cannot be priced is terminated and refused.

    ``guard`` (``"auto"``, ``"pod"``, ``"client"``): whether the pod gets its own guard
    (:mod:`atlas_nb.orchestrator.pod_lease`), so its limits hold with no client running."""
    sup = await _running()  # guard first, so nothing spawned is ever unguarded
    idle = request.idle_ttl
    if idle is None and request.max_runtime is None and request.max_cost_usd is None:
        idle = settings().idle_ttl_s
    limits = {
        "idle_ttl": idle,
        "max_runtime": request.max_runtime,
        "max_cost_usd": request.max_cost_usd,
        "provision_timeout": provision_timeout,
    }
    check_limits(**limits)  # before anything bills
    provider_ref(provider)
    sup.store.ensure()  # an unusable tracked dir is refused before anything bills
    price = None
    pod_capable = "pod_guard" in type(provider).capabilities()
    if request.max_cost_usd is not None and guard != "client" and pod_capable:
        priced = Compute(
            id="-", provider=provider.name, gpu=request.gpu, gpu_count=request.gpu_count
        )
        price = await hourly_rate(priced, provider)
    armed = await pod_lease.arm(provider, request, guard, idle_ttl=idle, price_hr=price)
    request = armed.request

    def placeholder(compute_id: str) -> TrackedRecord:
        stub = Compute(id=compute_id, provider=provider.name, name=request.name, gpu=request.gpu)
        return _record(stub, provider, **limits, armed=armed)

    async def terminate_interrupted(prov: Provider, compute_id: str) -> None:
        sup.condemn(placeholder(compute_id), prov, "interrupted")

    def record_early(compute_id: str) -> None:  # before the read-back: a crash loses nothing
        sup.add(placeholder(compute_id), provider)

    try:
        with on_created(record_early):
            compute = await create(provider, request, undo=terminate_interrupted)
    except ComputeMayExistError as exc:
        if exc.compute_id:  # guard it: the supervisor terminates it at its limits
            if exc.compute_id not in sup.records:
                sup.add(placeholder(exc.compute_id), provider)
            exc.amend(message=f"{exc.message}; it is tracked, so its limits are enforced")
        raise
    try:
        rate = None
        if request.max_cost_usd is not None:
            rate = await hourly_rate(compute, provider)
            if rate is None:
                raise _unpriced(compute.id, provider.name, compute.gpu)
        sup.add(_record(compute, provider, **limits, cost_per_hr=rate, armed=armed), provider)
    except BaseException:
        try:
            await provider.terminate(compute.id)
            sup.forget(compute.id)
        except BaseException:  # the supervisor terminates it, retrying until it is gone
            sup.condemn(placeholder(compute.id), provider, "not trackable")
        raise
    return compute


@dataclass(frozen=True)
class Tracked:
    """A compute under guard, with its limits; ``touch()``, ``untrack()`` and ``events()``."""

    compute: Compute
    idle_ttl_s: float | None
    max_runtime_s: float | None
    max_cost_usd: float | None

    @property
    def id(self) -> str:
        return self.compute.id

    def touch(self) -> None:
        """Mark activity: the idle timer starts again."""
        run_sync(touch(self.id))

    def untrack(self, *, terminate: bool = False) -> None:
        run_sync(untrack(self.id, terminate=terminate))

    def events(self) -> EventSubscription:
        return events(self.id)

    def __repr__(self) -> str:
        limits = ", ".join(
            f"{k}={v:g}"
            for k, v in (
                ("idle_ttl_s", self.idle_ttl_s),
                ("max_runtime_s", self.max_runtime_s),
                ("max_cost_usd", self.max_cost_usd),
            )
            if v is not None
        )
        return f"Tracked({self.id!r}, {limits})"


@on_runtime
async def track(
    compute: Compute | str,
    *,
    provider: ProviderLike | None = None,
    idle_ttl: Duration | None = "30m",
    max_runtime: Duration | None = None,
    max_cost_usd: float | None = None,
    provision_timeout: Duration | None = "20m",
    guard: str = "auto",
) -> Tracked:
    """Guard an existing compute: terminate it when idle for ``idle_ttl`` (counted from when it
    first runs), past ``max_runtime`` or once it has cost ``max_cost_usd`` (both counted from
    its creation), whichever comes first; one that never runs is terminated after
    ``provision_timeout``.

    The state is kept on disk, so a new kernel or ``atlas-nb reap`` keeps enforcing it. A pod
    guard is installed at spawn only, so here ``guard="auto"`` means the client guards it and
    ``guard="pod"`` raises ``UnsupportedError`` (spawn with ``track=True`` instead).
    """
    if guard == "pod":
        raise UnsupportedError(
            "guard='pod' cannot be added to a compute that already runs: the guard is "
            "injected into its start command at spawn",
            hint="Spawn it with atlas.spawn(..., track=True, guard='pod'), or track it with "
            "guard='client' (a kernel or `atlas-nb reap` then enforces its limits).",
        )
    choose_guard("mock", guard)  # validates the word
    limits: dict[str, Any] = {
        "idle_ttl": optional_seconds(idle_ttl, field="idle_ttl"),
        "max_runtime": optional_seconds(max_runtime, field="max_runtime"),
        "max_cost_usd": max_cost_usd,
        "provision_timeout": optional_seconds(provision_timeout, field="provision_timeout"),
    }
    check_limits(**limits)
    sup = await _running()
    sup.store.ensure()
    if isinstance(compute, str):
        prov = get_provider(provider)
        compute = await prov.get(compute)
    else:
        prov = compute.bound_provider or get_provider(provider or compute.provider)
    rate = None
    if max_cost_usd is not None:
        rate = await hourly_rate(compute, prov)
        if rate is None:
            raise _unpriced(compute.id, prov.name, compute.gpu)
    record = _record(compute, prov, **limits, cost_per_hr=rate)
    sup.add(record, prov)
    return Tracked(compute, record.idle_ttl_s, record.max_runtime_s, record.max_cost_usd)


@on_runtime
async def touch(compute_id: str) -> None:
    """Mark activity: the idle timer of a tracked compute starts again."""
    sup = await _running()
    rec = sup.records.get(compute_id)
    if rec is None or rec.released:
        raise NotFoundError(
            f"compute {compute_id} is not tracked",
            hint="Track it with atlas.track(compute) (or spawn with track=True).",
        )
    sup.touch(compute_id)


def check_owner(rec: TrackedRecord, action: str, *, allow_destructive: bool) -> dict[str, Any]:
    """Refuse to ``action`` another owner's compute unless ``allow_destructive``; returns the
    ``action`` event's data (who did it, whose it was).

    >>> rec = TrackedRecord(id="p", provider="mock", owner="alice0001")
    >>> check_owner(rec, "terminate", allow_destructive=True)["owner"]
    'alice0001'
    """
    me = owner_tag()
    if rec.owner and rec.owner != me and not allow_destructive:
        raise ValidationError(
            f"{rec.id} belongs to {rec.owner}, not to this installation ({me}); refusing to "
            f"{action} another owner's compute",
            field="allow_destructive",
            hint=f"Pass allow_destructive=True to {action} it anyway (it is recorded as an "
            "event naming you), or ask its owner.",
        )
    return {"action": action, "by": me, "owner": rec.owner}


def authorize(
    sup: Supervisor, rec: TrackedRecord, action: str, *, allow_destructive: bool
) -> Callable[[], None]:
    """:func:`check_owner`, then what to call once ``action`` is done: it publishes the
    ``action`` event naming who did it (``untrack``, ``atlas.stop``/``terminate`` and the
    dashboard all go through here)."""
    who = check_owner(rec, action, allow_destructive=allow_destructive)
    return functools.partial(sup.publish, rec.id, "action", **who)


async def check_destructive(
    compute_id: str, action: str, *, allow_destructive: bool
) -> Callable[[], None]:
    """Before ``atlas.stop``/``atlas.terminate``: refuse another owner's tracked compute unless
    ``allow_destructive`` (see :func:`check_owner`). Returns what to call once it is done: it
    publishes the ``action`` event naming who did it (a no-op for untracked computes).

    With a team store the supervisor is started, so the team's records are known.
    """
    if settings().store is not None:
        await _running()
    for sup, rec in _records_of(compute_id):
        if not rec.released:
            return authorize(sup, rec, action, allow_destructive=allow_destructive)
    return lambda: None


def _records_of(compute_id: str) -> Iterator[tuple[Supervisor, TrackedRecord]]:
    """Each running supervisor that holds a record of ``compute_id`` (released or not), with it."""
    rt = current_runtime()
    for sup in [] if rt is None else rt.services_of("orchestrator"):
        rec = sup.records.get(compute_id)
        if rec is not None:
            yield sup, rec


@on_runtime
async def untrack(
    compute_id: str, *, terminate: bool = False, allow_destructive: bool = False
) -> None:
    """Stop guarding a compute; ``terminate=True`` also terminates it.

    Untracked without terminating, it keeps running and the reaper leaves it alone — until
    its own pod guard (``guard="pod"``, set at spawn) ends it at the limits it was given.
    Another owner's compute (a team store) needs ``allow_destructive=True``; either way an
    ``action`` event records who did it.
    """
    sup = await _running()
    rec = sup.records.get(compute_id)
    if rec is None or rec.released:
        raise NotFoundError(f"compute {compute_id} is not tracked")
    action = "terminate" if terminate else "untrack"
    done = authorize(sup, rec, action, allow_destructive=allow_destructive)
    if terminate:
        await sup.provider_for(rec).terminate(compute_id)
        done()
        sup.forget(compute_id, reason="untracked and terminated")
    else:
        done()
        sup.release(compute_id)


def observe(compute: Compute) -> None:
    """Note a fresh view of a compute (status, $/hr) if it is tracked; cheap otherwise."""
    for sup, rec in _records_of(compute.id):
        sup.note_view(rec, compute, time.time())


def forget(compute_id: str) -> None:
    """Drop tracking after an explicit terminate (called by ``atlas.terminate``)."""
    sup = supervisor()
    if compute_id in sup.records or compute_id in sup.store.load():
        rec = sup.records.get(compute_id)
        if rec is not None and rec.owner and rec.owner != owner_tag():
            sup.publish(compute_id, "action", action="terminate", by=owner_tag(), owner=rec.owner)
        sup.forget(compute_id, reason="terminated by user")


def _tracked_row(rec: TrackedRecord, now: float) -> dict[str, Any]:
    d = next_deadline(rec, now)
    idle_s = max(0.0, now - rec.last_activity)
    return {
        "id": rec.id,
        "provider": rec.provider,
        "name": rec.name,
        "gpu": rec.gpu,
        "status": rec.status,
        "cost_per_hr": rec.cost_per_hr,
        "spend_usd": spend_at(rec, now),
        "uptime_s": max(0.0, now - rec.started_at),
        "idle_s": idle_s,
        "idle_left_s": None if rec.idle_ttl_s is None else max(0.0, rec.idle_ttl_s - idle_s),
        "limit": d.reason if d else None,
        "limit_in_s": max(0.0, d.at - now) if d else None,
        "idle_ttl_s": rec.idle_ttl_s,
        "max_runtime_s": rec.max_runtime_s,
        "max_cost_usd": rec.max_cost_usd,
        "terminating": rec.terminating,
        "started_at": datetime.fromtimestamp(rec.started_at, UTC),
        "guard": rec.guard,
        "owner": rec.owner,
        "lease_expires_at": None
        if rec.lease_expires_at is None
        else datetime.fromtimestamp(rec.lease_expires_at, UTC),
        "lease_error": rec.lease_error if rec.guard == "pod" else None,
    }


@on_runtime
async def tracked(owner: str | None = None) -> pd.DataFrame:
    """Tracked computes with spend so far, time left before the next limit and ``owner``.

    Every record the store holds (a team's, with a shared store); ``owner="me"`` keeps this
    installation's, any other string that owner's. Spend per owner:
    ``atlas.tracked().groupby("owner")["spend_usd"].sum()``.
    """
    if owner is not None and (not isinstance(owner, str) or not owner):
        raise ValidationError(
            f"owner={owner!r} must be a non-empty string", field="owner",
            hint='Use owner="me" for this installation\'s computes, or None for all.',
        )  # fmt: skip
    sup = await _running()
    sup.store.check()  # an unusable tracked dir is an error here, not an empty table
    sup.sync_from_store()
    now = time.time()
    wanted = owner_tag() if owner == "me" else owner
    rows = [_tracked_row(r, now) for r in sup.guarded() if wanted is None or r.owner == wanted]
    return mark(frame(rows, TRACKED_COLUMNS), "tracked")


async def reap_once(*, dry_run: bool = True, providers: Providers | None = None) -> pd.DataFrame:
    cfg = settings()
    names = provider_list(providers or cfg.reap_providers or configured_providers())
    targets = []
    skipped: dict[str, str] = {}
    for name in names:
        try:
            targets.append(get_provider(name))
        except Exception as exc:  # no credentials: nothing to reap there (listed in attrs)
            label = name if isinstance(name, str) else getattr(name, "name", str(name))
            skipped[label] = (
                "no credentials" if isinstance(exc, MissingCredentialsError) else str(exc)
            )
            continue
    records = supervisor().store.load()
    tracked_ids = {cid for cid, r in records.items() if not r.released}
    released_ids = {cid for cid, r in records.items() if r.released}
    df = await reap_providers(
        targets,
        tracked=tracked_ids,
        prefix=cfg.name_prefix,
        owner=owner_tag(),
        grace_s=cfg.reap_grace_s,
        dry_run=dry_run,
        released=released_ids,
    )
    df.attrs.update(
        examined=[p.name for p in targets], skipped=sorted(skipped), skipped_reasons=skipped
    )
    return df


@on_runtime
async def reap(*, dry_run: bool = True, providers: Providers | None = None) -> pd.DataFrame:
    """Find (``dry_run=True``) or terminate orphans: computes named with this installation's
    prefix and owner tag, untracked, older than ``reap_grace_s``. Never anything else.

    Returns every examined compute with ``action`` (terminate / keep) and ``reason``.
    """
    return await reap_once(dry_run=dry_run, providers=providers)


@on_runtime
async def enforce(*, wait_s: float = 60.0) -> list[str]:
    """Adopt the tracked state and terminate what is past its limits now (for the CLI).

    Waits up to ``wait_s`` for the terminations; ones still failing keep retrying in the
    background (and are reported as ``terminate_failed`` events).
    """
    sup = await _running()
    sup.store.check()
    sup.sync_from_store()
    fired = sup.enforce_deadlines(time.time())
    tasks = sup.terminations_in_flight(fired)
    if tasks:
        await asyncio.wait(tasks, timeout=wait_s)
    return fired


def events(compute_id: str | None = None) -> EventSubscription:
    """Orchestrator events (all computes, or one) as a sync/async iterator."""
    subscription = EventSubscription(supervisor().bus, compute_id)  # before anything can fire
    get_runtime().run(_start())
    return subscription


async def _start() -> None:
    await _running()


@on_runtime
async def terminate_all_tracked() -> dict[str, str]:
    """Terminate every tracked compute now, concurrently (``shutdown(terminate_tracked=True)``).

    Returns ``{compute_id: error}`` for those that could not be terminated (still tracked).
    """
    sup = await _running()
    me = owner_tag()  # a team store: only this installation's computes
    recs = [r for r in sup.guarded() if not sup.store.shared or r.owner in (None, me)]

    async def one(rec: TrackedRecord) -> None:
        try:
            await sup.provider_for(rec).terminate(rec.id)
        except NotFoundError:
            pass
        sup.forget(rec.id, reason="shutdown")

    results = await asyncio.gather(*(one(r) for r in recs), return_exceptions=True)
    return {
        r.id: str(res)
        for r, res in zip(recs, results, strict=True)
        if isinstance(res, BaseException)
    }
