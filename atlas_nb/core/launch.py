"""Launch with failover: the cheapest offer that actually comes up, across clouds.

:func:`launch` fetches fresh offers, tries them cheapest first (ties broken by availability) and
moves to the next on a capacity-type failure (no capacity, quota, the offer rented meanwhile, a
pod stuck provisioning past ``provision_timeout``); a provider-wide failure (missing or bad key,
no permission, unsupported) skips that provider for the rest of the launch. Every attempt that
created something and was abandoned is terminated and checked gone, on Ctrl-C and ``timeout``
too. ``compute.launch_attempts`` is the DataFrame of the attempts (:data:`ATTEMPT_COLUMNS`);
when they all fail, :class:`~atlas_nb.errors.CapacityError` carries it as ``err.attempts``.
Each finished attempt also emits the telemetry event ``atlas.launch.attempt``.

The decisions are plain functions (:func:`rank_offers`, :func:`classify`, :func:`relax_advice`):

    >>> from atlas_nb.errors import CapacityError, UnauthorizedError
    >>> classify(CapacityError("no capacity", provider="runpod", status=400))
    ('capacity', False)
    >>> classify(UnauthorizedError("bad key", provider="lambda", status=401))
    ('skipped', True)

End to end (the mock provider has capacity for everything):

    >>> import atlas_nb as atlas
    >>> c = atlas.launch("l4", providers=["mock"], image="python:3.11", track=False,
    ...                  progress=False)
    >>> c.launch_attempts[["provider", "outcome"]].to_dict("records")
    [{'provider': 'mock', 'outcome': 'launched'}]
    >>> c.terminate()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import telemetry
from .._durations import Duration, optional_seconds, to_seconds
from .._runtime import on_runtime
from ..errors import (
    AtlasError,
    AtlasTimeoutError,
    CapacityError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    UnsupportedError,
    ValidationError,
)
from ..frames import frame, mark
from ..models import Compute, ComputeStatus
from ..naming import default_name
from ..providers.base import Provider
from ..providers.registry import Providers, get_provider, provider_list, provider_names

if TYPE_CHECKING:
    import pandas as pd
else:
    from .._lazy import pandas as pd

log = logging.getLogger("atlas_nb.launch")

#: ``compute.launch_attempts`` / ``CapacityError.attempts``: one row per attempt, plus one per
#: provider skipped before any attempt (``attempt`` is then NA). ``outcome`` is one of
#: launched, capacity, quota, offer_gone, stuck (not running within provision_timeout), failed
#: (the pod failed while booting), error (another provider error), skipped (the provider is
#: left out: key, permission, unsupported input) or interrupted (Ctrl-C, timeout); ``reason``
#: is the provider's words; ``cleanup`` says how an abandoned compute ended ("terminated" once
#: verified gone)
ATTEMPT_COLUMNS: dict[str, str] = {
    "attempt": "Int64",
    "provider": "string",
    "gpu": "string",
    "gpu_count": "Int64",
    "region": "string",
    "offer_id": "string",
    "price_per_hr": "Float64",
    "outcome": "string",
    "reason": "string",
    "compute_id": "string",
    "cleanup": "string",
    "seconds": "Float64",
}

LAUNCHED = "launched"
CAPACITY = "capacity"
QUOTA = "quota"
OFFER_GONE = "offer_gone"
STUCK = "stuck"
FAILED = "failed"
ERROR = "error"
SKIPPED = "skipped"
INTERRUPTED = "interrupted"

#: outcomes that mean "this offer was not available": relaxing the request helps
CAPACITY_OUTCOMES = frozenset({CAPACITY, QUOTA, OFFER_GONE, STUCK})

_AVAILABILITY_RANK = {"high": 0, "medium": 1, "low": 2, "unknown": 3}
_VRAM_TOLERANCE = 0.02
_QUOTA_CODES = frozenset({"global/quota-exceeded"})
_OFFER_GONE_CODES = frozenset({"no_such_ask"})
#: pods that failed while booting before launch stops (a broken image fails on every cloud)
MAX_BOOT_FAILURES = 2
#: how long an abandoned compute may take to disappear before it is reported as not verified
VERIFY_GONE_S = 120.0

#: ``spawn`` keywords that :func:`launch` passes through (the rest are launch's own)
SPAWN_ARGS = frozenset(
    {
        "name",
        "ports",
        "env",
        "cloud",
        "disk_gb",
        "volume_gb",
        "template",
        "auth",
        "idle_ttl",
        "max_runtime",
        "max_cost_usd",
        "provider_opts",
    }
)

#: cleanups still running (a strong reference, so an interrupted launch's cleanup finishes)
_PENDING_CLEANUPS: set[asyncio.Task[str]] = set()


# -- pure decisions ----------------------------------------------------------------------------


def rank_offers(
    offers: pd.DataFrame, *, count: int = 1, spot: bool = False, min_vram_gb: float | None = None
) -> pd.DataFrame:
    """The offers to try, in order: exactly ``count`` GPUs, at least ``min_vram_gb`` per GPU
    (within 2 %: clouds list an 80 GB card as 79.6 when they count GiB), priced (the spot
    price with ``spot=True``), not sold out; cheapest first, ties broken by availability
    (high first), then by the frame's order.

    >>> df = pd.DataFrame({"provider": ["a", "b", "c", "d"], "gpu_count": [1, 1, 1, 2],
    ...     "vram_gb": [80.0, 80.0, 80.0, 80.0], "price_per_hr": [2.0, 2.0, 1.0, 0.5],
    ...     "spot_price_per_hr": [None, None, None, None],
    ...     "availability": ["low", "high", "none", "high"]})
    >>> rank_offers(df)["provider"].tolist()
    ['b', 'a']
    """
    price_col = "spot_price_per_hr" if spot else "price_per_hr"
    df = offers.copy()
    df["_price"] = pd.to_numeric(df[price_col], errors="coerce")
    keep = df["_price"].notna() & (df["gpu_count"].fillna(1).astype(int) == count)
    keep &= df["availability"].fillna("unknown").astype(str) != "none"
    if min_vram_gb is not None:
        vram = pd.to_numeric(df["vram_gb"], errors="coerce").fillna(-1.0)
        keep &= vram >= min_vram_gb * (1 - _VRAM_TOLERANCE)
    df = df[keep].copy()
    df["_rank"] = df["availability"].fillna("unknown").astype(str).map(_AVAILABILITY_RANK)
    df["_order"] = range(len(df))
    df["_rank"] = df["_rank"].fillna(len(_AVAILABILITY_RANK))
    df = df.sort_values(["_price", "_rank", "_order"], kind="stable")
    return df.drop(columns=["_price", "_rank", "_order"]).reset_index(drop=True)


def classify(exc: BaseException) -> tuple[str, bool]:
    """(outcome, skip the provider?) for a failed create.

    Capacity-type failures (outcomes ``capacity``, ``quota``, ``offer_gone``) move on to the
    next offer; so do other provider errors (``error``). Failures that every offer of the
    provider would hit (no or bad key, no permission, unsupported, refused input, rate limit,
    no balance) skip the provider (``skipped``).

    >>> from atlas_nb.errors import CapacityError, NotFoundError, RateLimitedError
    >>> classify(CapacityError("taken", provider="vast", status=410, code="no_such_ask"))
    ('offer_gone', False)
    >>> classify(RateLimitedError("quota", provider="lambda", code="global/quota-exceeded"))
    ('quota', False)
    >>> classify(RateLimitedError("slow down", provider="lambda", status=429))
    ('skipped', True)
    """
    code = getattr(exc, "code", None)
    status = getattr(exc, "status", None)
    if isinstance(exc, (UnauthorizedError, ForbiddenError)) or status == 402:
        return SKIPPED, True  # a key / account problem: every offer of this provider fails
    if code in _QUOTA_CODES or type(exc).__name__ == "QuotaExceededError":
        return QUOTA, False
    if isinstance(exc, CapacityError):
        gone = code in _OFFER_GONE_CODES or status in (404, 410)
        return (OFFER_GONE if gone else CAPACITY), False
    if isinstance(exc, NotFoundError):
        return OFFER_GONE, False
    if isinstance(exc, (UnsupportedError, ValidationError, RateLimitedError)):
        return SKIPPED, True
    return ERROR, False


def relax_advice(
    attempts: pd.DataFrame,
    *,
    max_price_per_hr: float | None = None,
    regions: Sequence[str] | None = None,
    providers: Sequence[str] | None = None,
    spot: bool = False,
    min_vram_gb: float | None = None,
    max_attempts: int | None = None,
    untried: int = 0,
    no_key: Sequence[str] = (),
) -> str:
    """What to relax after every attempt failed, most useful first (one sentence).

    >>> print(relax_advice(pd.DataFrame({"outcome": ["capacity"], "provider": ["vast"]}),
    ...                    max_price_per_hr=3.0, spot=True))  # doctest: +NORMALIZE_WHITESPACE
    Relax the request: raise max_price_per_hr (now 3), try spot=False,
    or try another GPU type or count.
    """
    outcomes = set(attempts["outcome"].dropna()) if "outcome" in attempts else set()
    steps: list[str] = []
    if FAILED in outcomes:
        steps.append("check the image and its command (pods failed while booting: see reason)")
    if max_attempts is not None and untried > 0:
        steps.append(f"raise max_attempts (now {max_attempts}; {untried} more offers matched)")
    if max_price_per_hr is not None:
        steps.append(f"raise max_price_per_hr (now {max_price_per_hr:g})")
    if regions:
        steps.append(f"allow more regions (now {', '.join(regions)})")
    if providers:
        steps.append(f"add providers (now {', '.join(providers)})")
    elif no_key:
        steps.append(f"add a key for {', '.join(no_key)} (atlas.configure(api_keys=...))")
    if spot:
        steps.append("try spot=False")
    if min_vram_gb is not None:
        steps.append(f"lower min_vram_gb (now {min_vram_gb:g})")
    if SKIPPED in outcomes:
        skipped = sorted(set(attempts.loc[attempts["outcome"] == SKIPPED, "provider"].dropna()))
        steps.append(f"fix the skipped providers ({', '.join(skipped)}; see the reason column)")
    steps.append("try another GPU type or count")
    if len(steps) > 1:
        steps[-1] = "or " + steps[-1]
    return "Relax the request: " + ", ".join(steps) + "."


def attempts_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Attempt records → the :data:`ATTEMPT_COLUMNS` frame."""
    return mark(frame(rows, ATTEMPT_COLUMNS), "launch_attempts")


def spawn_args_for(spawn_args: Mapping[str, Any], provider: str) -> dict[str, Any]:
    """The spawn keywords for one provider: ``provider_opts`` may be keyed by provider name.

    >>> spawn_args_for({"provider_opts": {"vast": {"bid_price": 1}, "lambda": {}}}, "vast")
    {'provider_opts': {'bid_price': 1}}
    >>> spawn_args_for({"provider_opts": {"bid_price": 1}}, "vast")
    {'provider_opts': {'bid_price': 1}}
    """
    out = dict(spawn_args)
    opts = out.get("provider_opts")
    if isinstance(opts, Mapping) and opts and set(opts) <= set(provider_names()):
        mine = opts.get(provider)
        out["provider_opts"] = dict(mine) if mine else None
        if out["provider_opts"] is None:
            del out["provider_opts"]
    return out


def _reason(exc: BaseException) -> str:
    """The provider's words without our hint (the hint is about one spawn, not the launch)."""
    text = str(exc)
    if isinstance(exc, AtlasError) and exc.message:
        status = f"HTTP {exc.status}: " if exc.status is not None else ""
        text = f"{status}{exc.message}"
    return text if len(text) <= 300 else text[:297] + "..."


# -- the loop ----------------------------------------------------------------------------------


class _Launch:
    """One launch: its attempts, the providers it skips and the cleanups it started."""

    def __init__(self, options: dict[str, Any], reporter: Any) -> None:
        self.o = options
        self.reporter = reporter
        self.rows: list[dict[str, Any]] = []
        self.skip: set[str] = set()
        self.cleanups: list[tuple[dict[str, Any], asyncio.Task[str]]] = []
        self.current: dict[str, Any] | None = None
        self.current_started = 0.0
        self.creating: tuple[Provider, asyncio.Future[Compute]] | None = None
        self.live: tuple[Provider, str] | None = None
        self.untried = 0
        self.no_key: list[str] = []

    def frame(self) -> pd.DataFrame:
        return attempts_frame(self.rows)

    # -- offers --------------------------------------------------------------------------------
    async def candidates(self) -> pd.DataFrame:
        from .catalog import offers

        o = self.o
        with _quiet_skips():
            df = await offers(
                o["gpu"],
                count=o["count"],
                max_price_per_hr=o["max_price_per_hr"],
                spot=o["spot"],
                providers=list(o["targets"].values()) or None,
                regions=o["regions"],
            )
        explicit = o["providers"] is not None
        for name, why in (df.attrs.get("skipped_reasons") or {}).items():
            if explicit:
                self._skipped_row(name, why)
        if not explicit:
            self.no_key = _sellers_without_key()
        for name, why in (df.attrs.get("errors") or {}).items():
            self._skipped_row(name, f"offers failed: {why}")
        return rank_offers(df, count=o["count"], spot=o["spot"], min_vram_gb=o["min_vram_gb"])

    def _skipped_row(self, provider: str, reason: str) -> None:
        self.skip.add(provider)
        row = {"provider": provider, "outcome": SKIPPED, "reason": reason, "seconds": 0.0}
        self.rows.append(row)
        self.reporter.attempt_finished(row)

    # -- attempts ------------------------------------------------------------------------------
    async def run(self) -> Compute:
        ranked = await self.candidates()
        tried = 0
        offers: list[dict[str, Any]] = [
            {str(k): v for k, v in r.items()} for r in ranked.to_dict("records")
        ]
        for index, offer in enumerate(offers):
            if offer["provider"] in self.skip:
                continue
            if tried >= self.o["max_attempts"]:
                rest = ranked.iloc[index:]
                self.untried = int((~rest["provider"].isin(self.skip)).sum())
                break
            tried += 1
            launched = await self.attempt(tried, offer)
            if launched is not None:
                return launched
            if sum(r.get("outcome") == FAILED for r in self.rows) >= MAX_BOOT_FAILURES:
                break  # the image (or its command) is the likely cause: stop paying for boots
        raise self.exhausted()

    async def attempt(self, n: int, offer: dict[str, Any]) -> Compute | None:
        from .compute import spawn, wait_until_running

        row: dict[str, Any] = {
            "attempt": n,
            "provider": offer["provider"],
            "gpu": offer.get("gpu")
            if isinstance(offer.get("gpu"), str)
            else offer.get("native_id"),
            "gpu_count": offer.get("gpu_count"),
            "region": offer.get("region"),
            "offer_id": offer.get("offer_id"),
            "price_per_hr": offer.get("spot_price_per_hr" if self.o["spot"] else "price_per_hr"),
        }
        self.rows.append(row)
        self.current, self.current_started = row, time.monotonic()
        started = self.current_started
        self.reporter.attempt_started(row)
        provider = str(offer["provider"])
        args = spawn_args_for(self.o["spawn_args"], provider)
        ours = args.get("name") is None  # a fresh name per attempt finds what a failure left
        if ours:
            args["name"] = default_name(managed=self.o["track"])
        prov: Provider | None = None
        try:
            prov = get_provider(self.o["targets"].get(provider, provider))
            creating = asyncio.ensure_future(
                spawn(
                    pd.Series(offer),
                    provider=prov,
                    image=self.o["image"],
                    spot=self.o["spot"],
                    track=self.o["track"],
                    **args,
                )
            )
            # shielded: an interruption lets the create finish, then removes what it made
            self.creating = (prov, creating)
            created = await asyncio.shield(creating)
            self.creating = None
        except AtlasError as exc:
            self.creating = None
            outcome, skip = classify(exc)
            if skip:
                self.skip.add(provider)
            if outcome == ERROR and ours and prov is not None:
                # the create may have happened before the failure (a lost response, a failed
                # read-back): whatever carries this attempt's name is ours to remove
                await self._sweep(prov, args["name"], row)
            self._finish(row, started, outcome, _reason(exc))
            return None
        row["compute_id"] = created.id
        self.live = (prov, created.id)  # what an interruption must terminate
        self.reporter.attempt_waiting(row, self.o["provision_timeout_s"])
        try:
            running = await wait_until_running(
                created, timeout=self.o["provision_timeout_s"], progress=False
            )
        except AtlasTimeoutError:
            self._abandon(row, prov, created.id)
            wait = self.o["provision_timeout_s"]
            self._finish(row, started, STUCK, f"not running after provision_timeout={wait:g} s")
            return None
        except AtlasError as exc:
            self._abandon(row, prov, created.id)
            self._finish(row, started, FAILED, _reason(exc))
            return None
        self.live = None
        self._finish(row, started, LAUNCHED, f"running after {time.monotonic() - started:.1f} s")
        return running

    def _finish(self, row: dict[str, Any], started: float, outcome: str, reason: str) -> None:
        row.update(outcome=outcome, reason=reason, seconds=round(time.monotonic() - started, 3))
        self.current = None
        self.reporter.attempt_finished(row)
        telemetry.emit(
            "atlas.launch.attempt",
            {"seconds": row["seconds"], "price_per_hr": row.get("price_per_hr")},
            {k: row.get(k) for k in ("attempt", "provider", "offer_id", "outcome", "compute_id")},
        )

    # -- cleanup -------------------------------------------------------------------------------
    def _abandon(self, row: dict[str, Any], prov: Provider, compute_id: str) -> None:
        """Terminate this attempt's compute (in the background; :meth:`settle` checks it)."""
        if self.live == (prov, compute_id):
            self.live = None
        row["compute_id"] = compute_id
        self._track_cleanup(row, terminate_and_verify(prov, compute_id))

    def _track_cleanup(self, row: dict[str, Any], cleanup: Coroutine[Any, Any, str]) -> None:
        row["cleanup"] = "terminating"
        task = asyncio.get_running_loop().create_task(cleanup)
        _PENDING_CLEANUPS.add(task)
        task.add_done_callback(_PENDING_CLEANUPS.discard)
        self.cleanups.append((row, task))

    @staticmethod
    async def _remove_once_created(
        row: dict[str, Any], prov: Provider, creating: asyncio.Future[Compute]
    ) -> str:
        """An interrupted create: wait for it to end, then remove what it made."""
        try:
            created = await creating
        except Exception:  # the create failed: it left nothing (a name sweep is not needed)
            return "nothing created"
        row["compute_id"] = created.id
        return await terminate_and_verify(prov, created.id)

    async def _sweep(self, prov: Provider, name: str, row: dict[str, Any]) -> None:
        try:
            found = await prov.list_computes(name=name)
        except AtlasError as exc:
            row["cleanup"] = f"not checked: {_reason(exc)}"
            log.error(
                "launch could not check whether %s created %r before failing: %s; look with "
                "atlas.computes(provider=%r, name=%r)",
                prov.name,
                name,
                exc,
                prov.name,
                name,
            )
            return
        for leftover in found:
            if leftover.status is not ComputeStatus.TERMINATED:
                self._abandon(row, prov, leftover.id)

    def interrupted(self, reason: str) -> None:
        """The launch was stopped (Ctrl-C, timeout): abandon the attempt under way."""
        row = self.current
        if row is None:
            return
        if self.live is not None:
            self._abandon(row, *self.live)
        elif self.creating is not None:
            prov, creating = self.creating
            self._track_cleanup(row, self._remove_once_created(row, prov, creating))
        self._finish(row, self.current_started, INTERRUPTED, reason)

    async def settle(self) -> None:
        """Wait for every cleanup and record how it ended."""
        for row, task in self.cleanups:
            try:
                row["cleanup"] = await asyncio.shield(task)
            except Exception as exc:  # reported in the frame and the log: it may still bill
                row["cleanup"] = f"not verified: {_reason(exc)}"
        self.cleanups = []

    def exhausted(self) -> CapacityError:
        o = self.o
        attempts = self.frame()
        tried = attempts["attempt"].notna().sum()
        advice = relax_advice(
            attempts,
            max_price_per_hr=o["max_price_per_hr"],
            regions=o["regions"],
            providers=o["providers"],
            spot=o["spot"],
            min_vram_gb=o["min_vram_gb"],
            max_attempts=o["max_attempts"],
            untried=self.untried,
            no_key=self.no_key,
        )
        what = f"{o['count']} x {o['gpu']}"
        if tried == 0:
            message = f"no offer matches {what}" + _constraints(o)
        else:
            message = f"none of the {tried} offers tried for {what} came up" + _constraints(o)
        return CapacityError(
            message + " (err.attempts lists each attempt)", hint=advice, attempts=attempts
        )


def _constraints(o: Mapping[str, Any]) -> str:
    bits = []
    if o["max_price_per_hr"] is not None:
        bits.append(f"at most ${o['max_price_per_hr']:g}/h")
    if o["regions"]:
        bits.append(f"in {', '.join(o['regions'])}")
    if o["providers"]:
        bits.append(f"on {', '.join(o['providers'])}")
    if o["spot"]:
        bits.append("spot")
    return f" ({', '.join(bits)})" if bits else ""


@contextlib.contextmanager
def _quiet_skips() -> Any:
    """offers() warns about named providers it skipped; launch reports them as rows instead."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="provider .* was skipped")
        yield


async def terminate_and_verify(
    prov: Provider, compute_id: str, timeout: float = VERIFY_GONE_S
) -> str:
    """Terminate a compute and poll until the provider no longer has it running.

    Returns ``"terminated"``; raises when it cannot be terminated or is not gone in time
    (then it is logged with the command to finish the job).
    """
    from .compute import terminate

    try:
        try:
            await terminate(compute_id, provider=prov)
        except NotFoundError:  # gone already (a failed pod the provider removed)
            from ..orchestrator import api as orchestrator

            orchestrator.forget(compute_id)
            return "terminated"
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            try:
                found = await prov.get(compute_id)
            except NotFoundError:
                return "terminated"
            if found.status in (ComputeStatus.TERMINATED,):
                return "terminated"
            if time.monotonic() > deadline:
                raise AtlasTimeoutError(
                    f"{compute_id} is still {found.status.value} {timeout:g} s after terminate",
                    provider=prov.name,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.6, 2.0)
    except Exception as exc:  # say so loudly: this compute may still be billing
        log.error(
            "launch could not verify that %s (%s) is gone: %s; check with "
            "atlas.compute(%r, provider=%r) and terminate it",
            compute_id,
            prov.name,
            exc,
            compute_id,
            prov.name,
        )
        raise


def _check_options(count: int, max_attempts: int, min_vram_gb: float | None) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValidationError(f"count={count!r} must be a whole number >= 1", field="count")
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValidationError(
            f"max_attempts={max_attempts!r} must be a whole number >= 1", field="max_attempts"
        )
    if min_vram_gb is not None and min_vram_gb < 0:
        raise ValidationError(f"min_vram_gb={min_vram_gb!r} must be >= 0", field="min_vram_gb")


def _check_spawn_args(spawn_args: Mapping[str, Any], gpu: str, count: int, **given: Any) -> None:
    """Unknown keywords and bad values fail before any offer is tried."""
    from .compute import build_request

    unknown = sorted(set(spawn_args) - SPAWN_ARGS)
    if unknown:
        raise ValidationError(
            f"launch() got unexpected keyword(s) {unknown}",
            field=unknown[0],
            hint=f"launch passes these to spawn: {', '.join(sorted(SPAWN_ARGS))}.",
        )
    fields = dict(spawn_args)
    fields["provider_opts"] = None  # per provider; checked by each provider
    for key in ("idle_ttl", "max_runtime"):
        fields[key] = optional_seconds(fields.get(key), field=key)
    if fields.get("ports") is not None:
        fields["ports"] = list(fields["ports"])
    build_request(None, gpu=gpu, gpu_count=count, offer_id="-", **given, **fields)


def _sellers_without_key() -> list[str]:
    """Built-in providers that sell GPUs (have offers) but have no key configured."""
    from ..config import settings
    from ..providers.registry import resolve_provider_class

    cfg = settings()
    return [
        name
        for name in provider_names()
        if name != "mock"
        and "offers" in resolve_provider_class(name).capabilities()
        and cfg.api_key(name) is None
    ]


def _positive(seconds: float, field: str) -> float:
    if seconds <= 0:
        raise ValidationError(
            f"{field}={seconds:g} s: it must be longer than 0", field=field, hint='e.g. "15m".'
        )
    return seconds


def _interruption(exc: BaseException) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "interrupted (Ctrl-C, cancelled or the launch timeout)"
    return f"stopped by {type(exc).__name__}: {_reason(exc)}"


def _targets(value: Providers | None) -> dict[str, Any]:
    """Provider name -> what the caller passed (a name, a Provider class or an instance)."""
    if value is None:
        return {}
    items = provider_list(value)
    return {i if isinstance(i, str) else getattr(i, "name", str(i)): i for i in items}


@on_runtime
async def launch(
    gpu: str,
    count: int = 1,
    *,
    image: str | None = None,
    providers: Providers | None = None,
    max_price_per_hr: float | None = None,
    spot: bool = False,
    regions: list[str] | str | None = None,
    min_vram_gb: float | None = None,
    timeout: Duration = "15m",
    max_attempts: int = 10,
    track: bool = True,
    provision_timeout: Duration = "20m",
    progress: bool | None = None,
    **spawn_args: Any,
) -> Compute:
    """The cheapest offer of ``count`` x ``gpu`` that actually reaches running, across clouds.

    Offers are fetched fresh and tried cheapest first; a capacity-type failure moves on to the
    next offer, a provider-wide one (bad key...) skips the provider. Abandoned attempts are
    terminated and checked gone, also on Ctrl-C and when ``timeout`` (the whole launch) passes.
    With ``track=True`` the compute is guarded by the orchestrator with the limits given
    (``idle_ttl``, ``max_runtime``, ``max_cost_usd``; else the default idle TTL). The other
    keywords go to :func:`~atlas_nb.core.compute.spawn`; ``provider_opts`` may be keyed by
    provider (``{"vast": {...}, "lambda": {...}}``). In a notebook the attempts show as a live
    list; in a terminal as a line each (``progress=False``: silent).

    ``compute.launch_attempts`` is the DataFrame of attempts. When no offer comes up,
    ``CapacityError`` is raised with ``err.attempts`` and a hint saying what to relax.

        >>> import atlas_nb as atlas
        >>> c = atlas.launch("h100", providers="mock", max_price_per_hr=5, image="python:3.11",
        ...                  progress=False)
        >>> c.status.value, c.launch_attempts["outcome"].tolist()
        ('running', ['launched'])
        >>> c.terminate()
    """
    from ..gpus import normalize_gpu

    gpu = normalize_gpu(gpu)
    _check_options(count, max_attempts, min_vram_gb)
    total_s = _positive(to_seconds(timeout, field="timeout"), "timeout")
    region_list = [regions] if isinstance(regions, str) else list(regions or []) or None
    _check_spawn_args(spawn_args, gpu, count, image=image, spot=spot or None)
    options: dict[str, Any] = {
        "gpu": gpu,
        "count": count,
        "image": image,
        "providers": None if providers is None else list(_targets(providers)),
        "targets": _targets(providers),
        "max_price_per_hr": max_price_per_hr,
        "spot": spot,
        "regions": region_list,
        "min_vram_gb": min_vram_gb,
        "max_attempts": max_attempts,
        "track": track,
        "provision_timeout_s": _positive(
            to_seconds(provision_timeout, field="provision_timeout"), "provision_timeout"
        ),
        "spawn_args": spawn_args,
    }
    from ..widgets.launch_view import launch_reporter

    reporter = launch_reporter(f"launch {count} x {gpu}", enabled=progress)
    run = _Launch(options, reporter)
    started = time.monotonic()
    deadline = asyncio.timeout(total_s)
    try:
        async with deadline:
            try:
                compute = await run.run()
            except BaseException as exc:  # Ctrl-C, the timeout, a bug: clean up, then re-raise
                run.interrupted(_interruption(exc))
                with contextlib.suppress(BaseException):
                    await asyncio.shield(run.settle())
                raise
    except TimeoutError:
        if not deadline.expired():
            raise
        for row in run.rows:
            if row.get("outcome") == INTERRUPTED:
                row["reason"] = f"the launch timeout ({total_s:g} s) was reached"
        err = run.exhausted()
        err.message = f"no offer came up within timeout={total_s:g} s; {err.message}"
        reporter.finished(err.message, ok=False)
        raise err from None
    except CapacityError as err:
        err.attempts = run.frame()
        reporter.finished(str(err.message), ok=False)
        raise
    except BaseException:
        reporter.finished("stopped; abandoned attempts were terminated", ok=False)
        raise
    await run.settle()
    attempts = run.frame()
    compute.launch_attempts = attempts
    tried = int(attempts["attempt"].notna().sum())
    reporter.finished(
        f"launched {compute.id} on {compute.provider} after {tried} attempt(s) "
        f"in {time.monotonic() - started:.1f} s",
        ok=True,
    )
    return compute
