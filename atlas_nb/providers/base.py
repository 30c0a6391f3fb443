"""The one async Provider contract every cloud (built-in or yours) implements.

Required: :meth:`Provider.spawn`, :meth:`~Provider.get`, :meth:`~Provider.list_computes`,
:meth:`~Provider.terminate`. Everything else is optional: the default raises
``UnsupportedError`` with a sentence saying what to do instead, and :meth:`capabilities`
says up front what a provider can do.

A provider of your own::

    class MyCloud(atlas.Provider):
        name = "mycloud"
        requires_api_key = False
        CAPABILITIES = frozenset()

        async def spawn(self, request): ...
        async def get(self, compute_id): ...
        async def list_computes(self, *, status=None, name=None): ...
        async def terminate(self, compute_id): ...

    atlas.spawn(provider=MyCloud, gpu="h100", image="python:3.11")
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, ClassVar, Protocol

from pydantic import SecretStr

from .._redact import redact_env as redact_env  # providers import it from here
from ..config import Settings, settings
from ..errors import UnsupportedError, ValidationError, did_you_mean
from ..models import (
    Compute,
    ComputeRequest,
    ComputeStatus,
    GpuType,
    Job,
    JobRequest,
    LogEntry,
)
from ..transport.http import ErrorMapper, HttpApi
from ..transport.retry import RetryPolicy

#: The capability vocabulary. ``capabilities()`` returns a subset of these.
CAPABILITY_DOCS: dict[str, str] = {
    "spot": "interruptible (spot / bid) instances",
    "serverless": "serverless jobs: run_job, job, cancel_job, stream_job",
    "network_volumes": "persistent network volumes",
    "http_proxy": "the provider terminates TLS on a proxy hostname per port",
    "raw_tcp": "a public IP with mapped TCP ports",
    "symmetric_ports": "internal port == external port",
    "webhooks": "job completion webhooks",
    "global_networking": "private networking across regions",
    "stop_start": "stop and start a compute while keeping its disk",
    "restart": "restart a compute in place",
    "logs": "stream a compute's logs",
    "gpu_types": "a GPU catalogue with prices",
    "offers": "live offers (rentable configurations) with prices",
    "pod_guard": "a tracked compute can end itself when every client is gone (atlas_nb.guard)",
}
CAPABILITIES = frozenset(CAPABILITY_DOCS)


def select_computes(
    computes: Iterable[Compute],
    *,
    status: ComputeStatus | None = None,
    name: str | None = None,
    hidden: Iterable[ComputeStatus] = (ComputeStatus.TERMINATED,),
) -> list[Compute]:
    """What ``list_computes(status=, name=)`` returns from everything a provider listed: those
    in ``status`` (by default every one not ``hidden``), and named ``name`` when it is given.

        >>> from atlas_nb.models import Compute
        >>> pods = [Compute(id=i, provider="mock", name=n, status=s) for i, n, s in
        ...         [("a", "web", "running"), ("b", "web", "terminated"), ("c", "db", "running")]]
        >>> [c.id for c in select_computes(pods)], [c.id for c in select_computes(pods, name="web")]
        (['a', 'c'], ['a'])
        >>> [c.id for c in select_computes(pods, status=ComputeStatus.TERMINATED)]
        ['b']
    """
    gone = frozenset(hidden)
    return [
        c
        for c in computes
        if (c.status == status if status is not None else c.status not in gone)
        and (name is None or c.name == name)
    ]


class OfferQuery(dict[str, Any]):
    """Filters for :meth:`Provider.offers`: gpu, count, max_price_per_hr, spot, regions, limit.

    Providers push down what their API can filter; atlas_nb re-applies every filter after.
    """


#: One offer as a plain dict with the keys of ``frames.OFFER_COLUMNS`` (plain dicts, not
#: models, so ten thousand offers become a DataFrame fast; ``Offer(**row)`` validates one).
OfferRow = dict[str, Any]


class Provider(abc.ABC):
    """Base class of every provider. One instance per (API key, settings) on the runtime."""

    #: short name used in ``provider=`` arguments, frames and errors
    name: ClassVar[str] = "custom"
    #: human name for messages
    display_name: ClassVar[str] = ""
    #: whether a missing API key is an error
    requires_api_key: ClassVar[bool] = True
    #: what this provider supports (see :data:`CAPABILITY_DOCS`)
    CAPABILITIES: ClassVar[frozenset[str]] = frozenset()
    #: per-method sentences shown when an optional method is unsupported
    UNSUPPORTED_HINTS: ClassVar[Mapping[str, str]] = {}

    def __init__(self, *, api_key: SecretStr | None = None, config: Settings | None = None):
        self.api_key = api_key
        self.settings = config or settings()

    @classmethod
    def label(cls) -> str:
        return cls.display_name or cls.name

    @classmethod
    def capabilities(cls) -> frozenset[str]:
        """What this provider can do (a subset of :data:`CAPABILITIES`)."""
        return frozenset(cls.CAPABILITIES)

    def _unsupported(self, action: str, default_hint: str) -> UnsupportedError:
        hint = self.UNSUPPORTED_HINTS.get(action, default_hint)
        return UnsupportedError(
            f"{self.label()} does not support {action}", provider=self.name, hint=hint
        )

    async def aclose(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release resources (called at shutdown)."""

    def http_api(
        self,
        api: str,
        url_key: str,
        *,
        auth_headers: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
        timeout: float | None = None,
        error_mapper: ErrorMapper | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpApi:
        """An :class:`HttpApi` for one of this provider's APIs, from the settings.

        ``url_key`` is a ``base_urls`` key (``"runpod_rest"``, ``"lambda"``, ...); the
        timeout, retry policy and transport (the in-process sandbox's, in tests) come from the
        settings.
        """
        cfg = self.settings
        return HttpApi(
            provider=self.name,
            api=api,
            base_url=cfg.base_url(url_key),
            auth_headers=auth_headers,
            timeout=timeout or cfg.timeout_s,
            policy=RetryPolicy(
                max_retries=cfg.max_retries, retry_after_cap_s=cfg.retry_after_cap_s
            ),
            transport=cfg.http_transport,
            headers=headers,
            error_mapper=error_mapper,
        )

    def check_opts(self, opts: Mapping[str, Any], known: Iterable[str]) -> None:
        """Refuse ``provider_opts`` keys this provider does not understand (naming them)."""
        allowed = list(known)
        unknown = sorted(set(opts) - set(allowed))
        if unknown:
            raise ValidationError(
                f"unknown {self.label()} provider_opts {unknown}."
                f"{did_you_mean(unknown[0], allowed)}",
                field="provider_opts",
                provider=self.name,
                hint=f"{self.label()} understands: {', '.join(allowed)}.",
            )

    def refuse_volume(self, volume_gb: int | None, hint: str) -> None:
        """Refuse ``volume_gb`` on a provider without per-compute volumes (``UnsupportedError``
        saying what to use instead): an input a provider cannot serve is never dropped."""
        if volume_gb:
            raise UnsupportedError(
                f"{self.label()} has no per-compute volumes (asked for volume_gb={volume_gb})",
                provider=self.name,
                hint=hint,
            )

    def bearer_headers(self) -> dict[str, str]:
        """``Authorization: Bearer <key>`` (looked up per request, so a missing key fails only
        when a call needs it)."""
        return {"authorization": f"Bearer {self.secret()}"}

    def secret(self) -> str:
        """The API key's value (raises ``MissingCredentialsError`` when there is none)."""
        if self.api_key is None:
            from ..config import resolve_api_key

            key = resolve_api_key(self.name, config=self.settings)
            assert key is not None
            return key.get_secret_value()
        return self.api_key.get_secret_value()

    # -- required ----------------------------------------------------------------------------
    @abc.abstractmethod
    async def spawn(self, request: ComputeRequest) -> Compute:
        """Create a compute. Never retried blindly (it bills)."""

    @abc.abstractmethod
    async def get(self, compute_id: str) -> Compute:
        """One compute; ``NotFoundError`` when it does not exist."""

    @abc.abstractmethod
    async def list_computes(
        self, *, status: ComputeStatus | None = None, name: str | None = None
    ) -> list[Compute]:
        """Computes that exist (terminated ones are not listed unless asked by status)."""

    @abc.abstractmethod
    async def terminate(self, compute_id: str) -> None:
        """Destroy a compute for good."""

    # -- optional ----------------------------------------------------------------------------
    async def start(self, compute_id: str) -> Compute:
        raise self._unsupported("start", "Terminate it and spawn a new one instead.")

    async def stop(self, compute_id: str) -> Compute:
        raise self._unsupported("stop", "Terminate it instead (its disk is lost).")

    async def restart(self, compute_id: str) -> Compute:
        raise self._unsupported("restart", "Stop and start it, or terminate and spawn again.")

    def logs(self, compute_id: str) -> AsyncIterator[list[LogEntry]]:
        raise self._unsupported("logs", "Read logs on the machine itself (e.g. over SSH).")

    async def gpu_types(self) -> list[GpuType]:
        raise self._unsupported("a GPU catalogue", "Use atlas.offers() on another provider.")

    async def offers(self, query: OfferQuery) -> list[OfferRow]:
        raise self._unsupported("offers", "Use atlas.gpu_types(provider=...) for list prices.")

    async def run_job(
        self, request: JobRequest, *, wait: bool = False, timeout: float | None = None
    ) -> Job:
        raise self._unsupported("serverless jobs", "Use provider='runpod' for serverless jobs.")

    async def get_job(self, job_id: str, *, endpoint: str) -> Job:
        raise self._unsupported("serverless jobs", "Use provider='runpod' for serverless jobs.")

    async def cancel_job(self, job_id: str, *, endpoint: str) -> Job:
        raise self._unsupported("serverless jobs", "Use provider='runpod' for serverless jobs.")

    async def retry_job(self, job_id: str, *, endpoint: str) -> Job:
        raise self._unsupported("job retry", "Run the job again with atlas.run_job().")

    def stream_job(self, job_id: str, *, endpoint: str) -> AsyncIterator[Any]:
        raise self._unsupported("job streaming", "Wait for the job and read job.output.")


# -- progress of a wait a provider imposes (e.g. Lambda's one launch per interval) --------------


class Progress(Protocol):
    def update(self, value: float, status: str = "") -> None:
        """Elapsed seconds so far and what is happening."""


#: ``(description, total seconds) -> a context manager yielding a Progress``
ProgressFactory = Callable[[str, float], contextlib.AbstractContextManager[Progress]]


class _Silent:
    def update(self, value: float, status: str = "") -> None:
        pass


@contextlib.contextmanager
def silent_progress(description: str, total: float) -> Iterator[Progress]:
    """Shows nothing: a provider used on its own reports no progress."""
    yield _Silent()


#: how providers show a wait in the current call; the core sets a progress bar around a spawn,
#: so a provider never imports widgets
progress_reporter: ContextVar[ProgressFactory] = ContextVar(
    "atlas_nb_progress_reporter", default=silent_progress
)


@contextlib.contextmanager
def reporting_progress(factory: ProgressFactory) -> Iterator[None]:
    """Within the block (and the tasks it starts), providers report waits through ``factory``.

    >>> seen = []
    >>> @contextlib.contextmanager
    ... def record(description, total):
    ...     seen.append(description)
    ...     yield _Silent()
    >>> with reporting_progress(record), progress_reporter.get()("queued", 3.0) as bar:
    ...     bar.update(1.0, "waiting")
    >>> seen, progress_reporter.get() is silent_progress
    (['queued'], True)
    """
    token = progress_reporter.set(factory)
    try:
        yield
    finally:
        progress_reporter.reset(token)
