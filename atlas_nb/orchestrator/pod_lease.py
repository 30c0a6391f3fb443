"""The orchestrator's side of the pod guard: arm it at spawn, renew its lease while guarding.

:func:`arm` decides who guards a spawn (``guard="auto"|"pod"|"client"``) and returns the request
with the guard injected; :func:`renew` renews a pod's lease on ``touch()`` and on every heartbeat
of a supervisor that still guards it. The TTL sent is what is left of the client's idle timer
(relative seconds: a client clock that is off changes nothing). A renewal that fails is retried
(:func:`atlas_nb.guard.renew_lease`), recorded on the record (``lease_error``) and published as a
``lease`` event; it never ends a pod by itself.

    >>> from atlas_nb.orchestrator.state import TrackedRecord
    >>> rec = TrackedRecord(id="p", provider="runpod", idle_ttl_s=600, started_at=0,
    ...                     last_activity=100, running_since=50)
    >>> lease_ttl(rec, now=400)
    300.0
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import settings
from ..errors import AtlasError, ValidationError
from ..guard import GuardSpec, resolve_image_command
from ..guard.lease import lease_url_for, renew_lease
from ..guard.plan import choose_guard, guarded_request, needs_command, user_command
from ..models import Compute, ComputeRequest

if TYPE_CHECKING:
    from ..providers.base import Provider
    from .state import TrackedRecord
    from .supervisor import Supervisor

log = logging.getLogger("atlas_nb.orchestrator")

#: shortest TTL a renewal asks for (the client's own idle timer fires first below it)
MIN_TTL_S = 1.0


@dataclass(frozen=True)
class Armed:
    """What :func:`arm` decided: the request to send, and the guard's token (pod guard only)."""

    request: ComputeRequest
    guard: str  # "pod" | "client"
    token: str | None = None
    why_client: str | None = None


async def arm(
    provider: Provider,
    request: ComputeRequest,
    guard: str,
    *,
    idle_ttl: float | None,
    price_hr: float | None,
) -> Armed:
    """The request with the pod guard injected (``guard="pod"``/``"auto"`` where possible)."""
    name = provider.name
    kind = choose_guard(name, guard, capable="pod_guard" in type(provider).capabilities())
    if kind == "client":
        return Armed(request, "client")
    if request.max_cost_usd is not None and not price_hr:
        return _fallback(
            request,
            guard,
            f"{name} gives no $/hr for this spawn before it runs, so the pod "
            "cannot enforce max_cost_usd",
        )
    command = user_command(name, request)
    if command is None and needs_command(name):
        if not request.image:
            return _fallback(request, guard, "a template's start command cannot be wrapped")
        registry = settings().base_url("oci_registry")
        transport = settings().http_transport
        from ..transport.bridge import blocking_client  # deferred: httpx loads on first use

        sync = blocking_client(transport, asyncio.get_running_loop()) if transport else None
        try:
            command = await asyncio.to_thread(
                resolve_image_command, request.image, registry_url=registry, client=sync
            )
        except AtlasError as exc:
            return _fallback(request, guard, f"the image's command is unknown ({exc})")
    token = secrets.token_urlsafe(32)
    spec = GuardSpec(
        idle_ttl_s=idle_ttl or 0.0,
        deadline_s=request.max_runtime or 0.0,
        cap_usd=request.max_cost_usd or 0.0,
        price_hr=price_hr or 0.0,
        token=token,
        grace_s=settings().pod_guard_grace_s,
    )
    return Armed(guarded_request(name, request, spec, command), "pod", token)


def _fallback(request: ComputeRequest, guard: str, why: str) -> Armed:
    if guard == "pod":
        raise ValidationError(
            f"guard='pod' cannot be installed: {why}",
            field="guard",
            hint="Pass the start command (RunPod provider_opts={'args': ...}, Fly "
            "provider_opts={'init': {'cmd': [...]}}), or use guard='auto'/'client'.",
        )
    log.warning("the client guards this compute (no pod guard): %s", why)
    return Armed(request, "client", why_client=why)


def lease_ttl(rec: TrackedRecord, now: float) -> float:
    """Seconds left on the client's idle timer (all of it until the compute first runs)."""
    ttl = float(rec.idle_ttl_s or 0.0)
    if rec.running_since is not None:
        ttl -= max(0.0, now - max(rec.last_activity, rec.running_since))
    return ttl


@dataclass
class LeaseRenewals:
    """A supervisor's lease renewals in flight, and the computes touched meanwhile (each gets
    one more renewal when its current one ends)."""

    running: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    again: set[str] = field(default_factory=set)


def wants_renewal(rec: TrackedRecord) -> bool:
    return (
        rec.guard == "pod" and bool(rec.idle_ttl_s) and not rec.released and bool(rec.lease_token)
    )


def schedule(sup: Supervisor, rec: TrackedRecord, compute: Compute | None = None) -> None:
    """Renew ``rec``'s lease soon (one renewal in flight per compute; a newer one waits)."""
    if not wants_renewal(rec) or rec.terminating or sup.records.get(rec.id) is not rec:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop (a sync caller): the next heartbeat renews it
        return
    renewals = sup.lease_renewals
    running = renewals.running.get(rec.id)
    if running is not None and not running.done():
        renewals.again.add(rec.id)
        return
    renewals.running[rec.id] = loop.create_task(
        _renew_loop(sup, rec, compute), name=f"lease {rec.id}"
    )


async def _renew_loop(sup: Supervisor, rec: TrackedRecord, compute: Compute | None) -> None:
    await renew(sup, rec, compute)
    again = sup.lease_renewals.again
    while rec.id in again:  # a touch arrived while renewing: renew once more
        again.discard(rec.id)
        await renew(sup, rec, None)


async def renew(sup: Supervisor, rec: TrackedRecord, compute: Compute | None = None) -> None:
    """One renewal of ``rec``'s pod lease (with retries); the outcome goes on the record."""
    if compute is not None:
        url, _ = lease_url_for(compute, override=settings().base_url("guard_lease"))
        if url and url != rec.lease_url:
            sup.update(rec, lease_url=url)
    if not rec.lease_url or not rec.lease_token:
        return _failed(sup, rec, "waiting for the pod's lease endpoint (it is not running yet)")
    now = time.time()
    ttl = lease_ttl(rec, now)
    if ttl < MIN_TTL_S:
        return  # the client's idle timer fires first
    stub = Compute(id=rec.id, provider=rec.provider)
    _, headers = lease_url_for(stub, override=settings().base_url("guard_lease"))
    transport = settings().http_transport
    import httpx  # deferred: httpx loads on first use

    client = httpx.AsyncClient(timeout=10.0, transport=transport) if transport else None
    try:
        outcome = await renew_lease(
            rec.lease_url, rec.lease_token, ttl, client=client, headers=headers
        )
    finally:
        if client is not None:
            await client.aclose()
    if not outcome.ok:
        return _failed(sup, rec, f"{outcome.status}: {outcome.detail}", attempts=outcome.attempts)
    left = outcome.wall_left_s if outcome.wall_left_s is not None else ttl
    expires = now + left
    sup.update(rec, lease_expires_at=expires, lease_error=None)
    sup.publish(rec.id, "lease", ok=True, lease_expires_at=expires, attempts=outcome.attempts)
    if left / 2 < settings().heartbeat_s:  # a short lease (a sped-up pod clock): renew sooner
        asyncio.get_running_loop().call_later(max(left / 2, 0.2), schedule, sup, rec)


def _failed(sup: Supervisor, rec: TrackedRecord, error: str, **data: Any) -> None:
    if rec.lease_error != error:
        sup.update(rec, lease_error=error)
    sup.publish(rec.id, "lease", ok=False, error=error, **data)
