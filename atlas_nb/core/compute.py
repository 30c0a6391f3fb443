"""The compute API: spawn, look up, list, start, stop and terminate computes on any provider.

These are the async core functions; ``atlas_nb`` exposes blocking twins and ``atlas_nb.aio``
these (callable from any event loop).

    >>> import atlas_nb as atlas
    >>> c = atlas.spawn(provider="mock", gpu="rtx_4090", image="python:3.11", ports=["8000/http"])
    >>> c.wait_until_running(timeout=10).status.value
    'running'
    >>> atlas.terminate(c.id, provider="mock")
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeAlias

from .._args import mapping
from .._durations import Duration, optional_seconds
from .._runtime import on_runtime
from ..config import settings
from ..errors import (
    AtlasTimeoutError,
    ComputeMayExistError,
    MissingCredentialsError,
    ProviderError,
    ValidationError,
)
from ..frames import computes_frame
from ..gpus import family_members, to_canonical
from ..models import Compute, ComputeRequest, ComputeStatus
from ..models.compute import FINAL_COMPUTE_STATUSES, Ports
from ..naming import default_name
from ..providers.base import Progress, Provider, reporting_progress
from ..providers.registry import (
    ProviderLike,
    configured_providers,
    get_provider,
    seen_with,
)

if TYPE_CHECKING:
    import pandas as pd
else:
    from .._lazy import pandas as pd

log = logging.getLogger("atlas_nb.compute")

#: what a spawn may start from: a request, a row of ``atlas.offers()`` (a Series or a mapping)
SpawnFrom: TypeAlias = "ComputeRequest | pd.Series[Any] | Mapping[str, Any]"

_SPAWN_FIELDS = (
    "gpu",
    "gpu_count",
    "image",
    "name",
    "ports",
    "env",
    "spot",
    "cloud",
    "regions",
    "disk_gb",
    "volume_gb",
    "template",
    "auth",
    "idle_ttl",
    "max_runtime",
    "max_cost_usd",
    "provider_opts",
)


def _request_from_row(row: Any) -> tuple[ComputeRequest, str]:
    """An offers-frame row → (request for exactly that offer, provider name)."""
    data = row.to_dict() if isinstance(row, pd.Series) else dict(row)
    if not data.get("offer_id") or not data.get("provider"):
        raise ValidationError(
            "this row is not an offer (it needs provider and offer_id columns)",
            field="request",
            hint="Pass a row of atlas.offers(...), e.g. atlas.spawn(df.iloc[0], image=...).",
        )
    # the GPU is informational here (the offer id decides what launches): keep it only when
    # atlas_nb knows it, so uncatalogued marketplace GPUs still launch
    native, canonical = data.get("native_id"), data.get("gpu")
    known = isinstance(native, str) and to_canonical(native) and not family_members(native)
    gpu = native if known else None
    gpu = gpu or (canonical if isinstance(canonical, str) and to_canonical(canonical) else None)
    return ComputeRequest(
        gpu=gpu,
        gpu_count=int(data.get("gpu_count") or 1),
        offer_id=str(data["offer_id"]),
        regions=[data["region"]] if isinstance(data.get("region"), str) else [],
    ), str(data["provider"])


def build_request(
    request: SpawnFrom | None = None, /, **fields: Any
) -> tuple[ComputeRequest, str | None]:
    """Merge a request object / offer row with keyword fields into a validated request."""
    given = {k: v for k, v in fields.items() if v is not None and v != () and v is not False}
    if fields.get("gpu_count") == 1:
        given.pop("gpu_count", None)
    row_provider = None
    if request is None:
        base: dict[str, Any] = {}
    elif isinstance(request, ComputeRequest):
        base = request.model_dump(exclude_unset=True)
    elif isinstance(request, (pd.Series, Mapping)):
        offer_req, row_provider = _request_from_row(request)
        base = offer_req.model_dump(exclude_unset=True)
    else:
        raise ValidationError(
            f"request must be a ComputeRequest or a row of atlas.offers(), not "
            f"{type(request).__name__}",
            field="request",
        )
    merged = {**base, **given}
    if "spot" in fields and fields["spot"] is not None:
        merged["spot"] = fields["spot"]
    return ComputeRequest(**merged), row_provider


@on_runtime
async def spawn(
    request: SpawnFrom | None = None,
    /,
    *,
    provider: ProviderLike | None = None,
    api_key: str | None = None,
    gpu: str | None = None,
    gpu_count: int = 1,
    image: str | None = None,
    name: str | None = None,
    ports: Ports = (),
    env: Mapping[str, str] | None = None,
    spot: bool = False,
    cloud: str | None = None,
    regions: list[str] | str | None = None,
    disk_gb: int | None = None,
    volume_gb: int | None = None,
    template: str | None = None,
    auth: str | None = None,
    track: bool = False,
    idle_ttl: Duration | None = None,
    max_runtime: Duration | None = None,
    max_cost_usd: float | None = None,
    provision_timeout: Duration | None = "20m",
    provider_opts: Mapping[str, Any] | None = None,
    guard: str = "auto",
) -> Compute:
    """Spawn a compute and return it (usually still provisioning).

    ``request`` may be a :class:`ComputeRequest` or a row of :func:`offers` (then exactly that
    offer is launched). ``track=True`` (or any of ``idle_ttl``, ``max_runtime``,
    ``max_cost_usd``) hands it to the orchestrator, which terminates it when idle, past its
    deadline or over its cost cap (the idle timer starts once it runs; ``provision_timeout``
    bounds how long it may take to get there). ``guard="auto"`` also gives a tracked pod its
    own guard where the provider allows it (RunPod, Vast, Fly Machines), so its limits hold
    with no client running; ``"pod"`` insists (``UnsupportedError`` elsewhere), ``"client"``
    leaves it to the kernel. ``auth="bearer"`` returns a token in ``compute.auth``.

        >>> import atlas_nb as atlas
        >>> c = atlas.spawn(provider="mock", gpu="h100", image="python:3.11", auth="bearer")
        >>> c.auth.scheme
        'bearer'
        >>> c.terminate()
    """
    req, row_provider = build_request(
        request,
        gpu=gpu,
        gpu_count=gpu_count,
        image=image,
        name=name,
        ports=ports or None,
        env=mapping(env, "env"),
        spot=spot or None,
        cloud=cloud,
        regions=regions,
        disk_gb=disk_gb,
        volume_gb=volume_gb,
        template=template,
        auth=auth,
        idle_ttl=optional_seconds(idle_ttl, field="idle_ttl"),
        max_runtime=optional_seconds(max_runtime, field="max_runtime"),
        max_cost_usd=max_cost_usd,
        provider_opts=mapping(provider_opts, "provider_opts"),
    )
    guarded = track or any(v is not None for v in (req.idle_ttl, req.max_runtime, req.max_cost_usd))
    if req.name is None:
        req = req.model_copy(update={"name": default_name(managed=guarded)})
    prov = get_provider(provider or row_provider, api_key=api_key)
    if guarded:
        from ..orchestrator import api as orchestrator

        return await orchestrator.spawn_tracked(
            prov,
            req,
            create=create_or_undo,
            provision_timeout=optional_seconds(provision_timeout, field="provision_timeout"),
            guard=guard,
        )
    return await create_or_undo(prov, req)


Undo = Callable[[Provider, str], Coroutine[Any, Any, None]]


async def create_or_undo(
    prov: Provider, req: ComputeRequest, *, undo: Undo | None = None
) -> Compute:
    """``prov.spawn(req)``, finished even if the caller is interrupted (Ctrl-C): a compute the
    provider created after all is then handed to ``undo`` (default: terminate it), so an
    interrupted spawn never leaves a pod billing unnoticed.

    A create whose outcome is unknown (timeout, 5xx, an id-less answer) is reconciled by
    listing the unique name: the compute is returned when it exists, else
    ``ComputeMayExistError`` (with the name) is raised.
    """
    task = asyncio.ensure_future(_create_reconciled(prov, req))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(functools.partial(_undo_interrupted_spawn, prov, undo))
        raise


def _progress_bar(description: str, total: float) -> AbstractContextManager[Progress]:
    from ..widgets.progress import progress_bar

    return progress_bar(description, total=total)


async def _create_reconciled(prov: Provider, req: ComputeRequest) -> Compute:
    try:
        with reporting_progress(_progress_bar):  # e.g. Lambda's queued launch
            return await prov.spawn(req)
    except ComputeMayExistError as exc:
        if exc.compute_id or not req.name:
            raise
        found = await _find_by_name(prov, req.name)
        if found is None:
            exc.amend(
                message=f"{exc.message}; no compute named {req.name} is listed yet, "
                "but it may appear"
            )
            raise
        log.warning(
            "the create of %s on %s was uncertain; found it as %s", req.name, prov.name, found.id
        )
        return found.model_copy(update={"auth": exc.auth}) if exc.auth else found


async def _find_by_name(prov: Provider, name: str) -> Compute | None:
    try:
        listed = await prov.list_computes(name=name)
    except Exception as exc:  # cannot tell: the caller raises "may exist"
        log.warning("could not list %s computes named %s: %s", prov.name, name, exc)
        return None
    live = [c for c in listed if c.name == name and c.status not in FINAL_COMPUTE_STATUSES]
    return live[0] if live else None


def _undo_interrupted_spawn(
    prov: Provider, undo: Undo | None, task: asyncio.Future[Compute]
) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is None:
        compute_id, name = task.result().id, task.result().name
    elif isinstance(exc, ComputeMayExistError) and exc.compute_id:
        compute_id, name = exc.compute_id, exc.name
    else:
        if isinstance(exc, ComputeMayExistError):
            log.error(
                "an interrupted spawn may have created %s on %s: %s", exc.name, prov.name, exc
            )
        return
    log.warning(
        "spawn of %s was interrupted after %s created %s; undoing it", name, prov.name, compute_id
    )
    asyncio.get_running_loop().create_task((undo or _terminate_quietly)(prov, compute_id))


async def _terminate_quietly(prov: Provider, compute_id: str) -> None:
    try:
        await prov.terminate(compute_id)
    except Exception as exc:  # say so: this compute may still be billing
        log.error(
            "could not terminate %s (%s) after an interrupted spawn: %s; terminate it "
            "with atlas.terminate(%r, provider=%r)",
            compute_id,
            prov.name,
            exc,
            compute_id,
            prov.name,
        )


def provider_for(
    compute_id: str, provider: ProviderLike | None = None, *, api_key: str | None = None
) -> Provider:
    """The provider of a compute id: the one given; else the one atlas_nb saw it on (spawned,
    fetched or listed in this process, or a tracked record); else the default provider, or the
    only provider with a key. Otherwise a ``ValidationError`` lists the candidates.

        >>> import atlas_nb as atlas
        >>> c = atlas.spawn(provider="mock", gpu="l4", image="python:3.11")
        >>> provider_for(c.id).name
        'mock'
        >>> atlas.terminate(c.id)  # no provider= needed: the id is enough
    """
    if provider is not None:
        return get_provider(provider, api_key=api_key)
    known = {type(p): p for p in seen_with(compute_id)}
    tracked = _tracked_provider(compute_id)
    if tracked is not None:
        known.setdefault(type(tracked), tracked)
    if len(known) > 1:
        names = sorted(cls.name for cls in known)
        raise ValidationError(
            f"compute {compute_id} was seen on more than one provider: {', '.join(names)}",
            field="provider",
            hint=f"Say which: provider={names[0]!r} (or another of {names}).",
        )
    if known:
        seen = next(iter(known.values()))
        return get_provider(type(seen), api_key=api_key or seen.api_key)
    candidates = configured_providers()
    if settings().default_provider or len(candidates) == 1:
        return get_provider(settings().default_provider or candidates[0], api_key=api_key)
    listed = ", ".join(candidates) or "none has a key configured"
    raise ValidationError(
        f"no provider given for compute {compute_id}, and atlas_nb has not seen it (it was not "
        f"spawned, fetched or listed in this process and is not tracked); candidates: {listed}",
        field="provider",
        hint="Pass provider=... (atlas.computes() lists every provider's computes), or call "
        "atlas.configure(default_provider=...).",
    )


def _tracked_provider(compute_id: str) -> Provider | None:
    """The provider a tracked (or released) record names for this id, if there is one."""
    from ..orchestrator import api as orchestrator

    sup = orchestrator.supervisor()
    try:
        rec = sup.records.get(compute_id) or sup.store.get(compute_id)
    except ValidationError:  # a corrupt record: it cannot name the provider, others may
        return None
    return sup.provider_for(rec) if rec is not None else None


@on_runtime
async def compute(
    compute_id: str, *, provider: ProviderLike | None = None, api_key: str | None = None
) -> Compute:
    """One compute by id (``NotFoundError`` if it does not exist)."""
    from ..orchestrator import api as orchestrator

    found = await provider_for(compute_id, provider, api_key=api_key).get(compute_id)
    orchestrator.observe(found)
    return found


@on_runtime
async def computes(
    *,
    provider: ProviderLike | None = None,
    status: str | ComputeStatus | None = None,
    name: str | None = None,
    api_key: str | None = None,
) -> pd.DataFrame:
    """Computes as a DataFrame (columns: ``frames.COMPUTE_COLUMNS``).

    With no ``provider`` and no ``default_provider``, lists every provider with a key.
    """
    st = None
    if status is not None:
        try:
            st = ComputeStatus(status)
        except ValueError:
            raise ValidationError(
                f"status={status!r} is not a compute status",
                field="status",
                hint=f"Use one of: {', '.join(s.value for s in ComputeStatus)}.",
            ) from None
    if provider is not None or settings().default_provider:
        items = await get_provider(provider, api_key=api_key).list_computes(status=st, name=name)
        return computes_frame(items)
    names = configured_providers()
    results = await asyncio.gather(
        *(get_provider(p).list_computes(status=st, name=name) for p in names),
        return_exceptions=True,
    )
    found: list[Compute] = []
    errors: dict[str, str] = {}
    for p, res in zip(names, results, strict=True):
        if isinstance(res, BaseException):
            errors[p] = str(res)
        else:
            found.extend(res)
    df = computes_frame(found)
    df.attrs["errors"] = errors
    return df


@on_runtime
async def start(
    compute_id: str, *, provider: ProviderLike | None = None, api_key: str | None = None
) -> Compute:
    """Start a stopped compute."""
    return await provider_for(compute_id, provider, api_key=api_key).start(compute_id)


@on_runtime
async def stop(
    compute_id: str,
    *,
    provider: ProviderLike | None = None,
    api_key: str | None = None,
    allow_destructive: bool = False,
) -> Compute:
    """Stop a compute (its disk is kept where the provider supports it). Another owner's
    tracked compute (a team store) needs ``allow_destructive=True``."""
    from ..orchestrator import api as orchestrator

    done = await orchestrator.check_destructive(
        compute_id, "stop", allow_destructive=allow_destructive
    )
    stopped = await provider_for(compute_id, provider, api_key=api_key).stop(compute_id)
    done()
    return stopped


@on_runtime
async def restart(
    compute_id: str, *, provider: ProviderLike | None = None, api_key: str | None = None
) -> Compute:
    """Restart a compute in place."""
    return await provider_for(compute_id, provider, api_key=api_key).restart(compute_id)


@on_runtime
async def terminate(
    compute_id: str,
    *,
    provider: ProviderLike | None = None,
    api_key: str | None = None,
    allow_destructive: bool = False,
) -> None:
    """Destroy a compute for good. Tracked computes are untracked; another owner's (a team
    store) needs ``allow_destructive=True``, and an ``action`` event records who did it."""
    from ..orchestrator import api as orchestrator

    done = await orchestrator.check_destructive(
        compute_id, "terminate", allow_destructive=allow_destructive
    )
    await provider_for(compute_id, provider, api_key=api_key).terminate(compute_id)
    done()
    orchestrator.forget(compute_id)


@on_runtime
async def wait_until_running(
    compute: Compute | str,
    *,
    timeout: float = 600.0,
    provider: ProviderLike | None = None,
    progress: bool | None = None,
) -> Compute:
    """Poll (with backoff) until the compute runs; raise if it fails or ``timeout`` passes.

    In a notebook a progress bar shows the status while waiting (``progress=False`` hides it).
    """
    from ..widgets.progress import progress_bar

    if isinstance(compute, str):
        compute = await provider_for(compute, provider).get(compute)
    prov = compute.bound_provider or get_provider(provider or compute.provider)
    deadline = time.monotonic() + timeout
    delay = 0.25
    with progress_bar(f"waiting for {compute.id}", total=timeout, enabled=progress) as bar:
        current = compute
        while True:
            bar.update(timeout - (deadline - time.monotonic()), current.status.value)
            if current.status == ComputeStatus.RUNNING:
                from ..orchestrator import api as orchestrator

                orchestrator.observe(current)
                return current
            if current.status in FINAL_COMPUTE_STATUSES:
                raise ProviderError(
                    f"compute {current.id} is {current.status.value} "
                    f"(provider status {current.provider_status}) and will not start",
                    provider=current.provider,
                    hint="Look at compute.raw for the reason, then spawn a new one.",
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise AtlasTimeoutError(
                    f"compute {current.id} is still {current.status.value} after {timeout:g} s",
                    provider=current.provider,
                    hint="It keeps booting: call wait_until_running() again, or terminate it.",
                )
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 1.6, 5.0)
            current = await prov.get(current.id)


def logs(
    compute_id: str, *, provider: ProviderLike | None = None, api_key: str | None = None
) -> Any:
    """A live :class:`~atlas_nb.logstream.LogStream` of a compute's logs."""
    from ..logstream import LogStream

    prov = provider_for(compute_id, provider, api_key=api_key)
    if "logs" not in prov.capabilities():
        prov.logs(compute_id)  # raises UnsupportedError with the provider's hint
    return LogStream(lambda: prov.logs(compute_id), title=f"{prov.name} {compute_id}")


__all__ = [
    "MissingCredentialsError",
    "compute",
    "computes",
    "configured_providers",
    "logs",
    "provider_for",
    "restart",
    "spawn",
    "start",
    "stop",
    "terminate",
    "wait_until_running",
]
