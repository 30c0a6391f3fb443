"""atlas_nb: price GPUs across clouds, spawn pods, run serverless jobs and operate Fly.io apps
from notebook cells, without leaving a forgotten pod burning money.

    >>> import atlas_nb as atlas
    >>> atlas.capabilities("mock") >= {"serverless", "offers"}
    True

Every function here blocks until done; ``atlas_nb.aio`` has the same names as coroutines.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from . import aio, auth, errors, frames, gpus, telemetry
from ._redact import install_log_redaction as _install_log_redaction
from ._runtime import DualIterator, LoopThreadError, syncify
from ._runtime import shutdown as _shutdown_runtime
from .config import Settings, configure, settings
from .core.catalog import plot_offers
from .errors import (
    AtlasError,
    AtlasTimeoutError,
    CapacityError,
    ComputeMayExistError,
    ConflictError,
    DeployError,
    DeployInvalidDirError,
    ForbiddenError,
    JobFailedError,
    ManualTokenStoreCorrupt,
    MissingCredentialsError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    SignatureError,
    StorageError,
    StoreUnavailableError,
    TokenPersistError,
    TrackedStoreError,
    TransportError,
    UnauthorizedError,
    UnsupportedError,
    ValidationError,
)
from .logstream import LogStream
from .models import (
    AuthHandle,
    Compute,
    ComputeRequest,
    ComputeStatus,
    GpuType,
    Job,
    JobRequest,
    JobStatus,
    LogEntry,
    Offer,
    Port,
)
from .orchestrator.api import Tracked
from .providers import Provider
from .providers.registry import ProviderLike, register_provider, resolve_provider_class

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .widgets.dashboard import ComputeDashboard

# -- compute ---------------------------------------------------------------------------------
spawn = syncify(aio.spawn)
compute = syncify(aio.compute)
computes = syncify(aio.computes)
start = syncify(aio.start)
stop = syncify(aio.stop)
restart = syncify(aio.restart)
terminate = syncify(aio.terminate)
wait_until_running = syncify(aio.wait_until_running)
launch = syncify(aio.launch)
logs = aio.logs

# -- catalogue -------------------------------------------------------------------------------
gpu_types = syncify(aio.gpu_types)
offers = syncify(aio.offers)

# -- serverless jobs -------------------------------------------------------------------------
run_job = syncify(aio.run_job)
job = syncify(aio.job)
cancel_job = syncify(aio.cancel_job)
retry_job = syncify(aio.retry_job)
stream_job = aio.stream_job


# -- orchestrator ----------------------------------------------------------------------------
track = syncify(aio.track)
touch = syncify(aio.touch)
untrack = syncify(aio.untrack)
tracked = syncify(aio.tracked)
reap = syncify(aio.reap)
events = aio.events


def dashboard(*, refresh: Any = "5s", allow_destructive: bool = False) -> ComputeDashboard:
    """A live table of tracked computes with Touch / Stop / Terminate per row (a widget).

    Stop and Terminate are disabled unless ``allow_destructive=True`` and ask to confirm.
    """
    from .widgets.dashboard import ComputeDashboard

    return ComputeDashboard(refresh=refresh, allow_destructive=allow_destructive)


def shutdown(*, terminate_tracked: bool = False) -> None:
    """Stop streams and timers, close HTTP clients and stop atlas_nb's loop thread.

    Tracked computes stay tracked (their limits are on disk and are enforced again by the next
    kernel or ``atlas-nb reap``) unless ``terminate_tracked=True``.
    """
    try:
        if terminate_tracked:
            failed = syncify(aio.terminate_all_tracked)()
            for compute_id, error in failed.items():
                warnings.warn(
                    f"could not terminate tracked compute {compute_id} at shutdown: {error}; "
                    "it stays tracked on disk",
                    RuntimeWarning,
                    stacklevel=2,
                )
    finally:
        _shutdown_runtime()


def capabilities(provider: ProviderLike) -> frozenset[str]:
    """What a provider (name or Provider class) can do.

    >>> sorted(capabilities("mock"))[:3]
    ['gpu_types', 'http_proxy', 'logs']
    """
    return resolve_provider_class(provider).capabilities()


_LAZY_MODULES = ("fly", "sandbox", "runpod", "widgets", "orchestrator", "testing", "cli", "naming")
#: provider extras: ``atlas.lambda_.ssh_keys()``, ``atlas.vast.search_offers(...)``
_ALIASES = {
    "lambda_": ".providers.lambda_cloud",
    "vast": ".providers.vast",
    "fly_machines": ".providers.fly_machines",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _ALIASES:
        return importlib.import_module(_ALIASES[name], __name__)
    raise AttributeError(f"module 'atlas_nb' has no attribute {name!r}")


__all__ = [
    "AtlasError",
    "AtlasTimeoutError",
    "AuthHandle",
    "CapacityError",
    "Compute",
    "ComputeMayExistError",
    "ComputeRequest",
    "ComputeStatus",
    "ConflictError",
    "DeployError",
    "DeployInvalidDirError",
    "DualIterator",
    "ForbiddenError",
    "GpuType",
    "Job",
    "JobFailedError",
    "JobRequest",
    "JobStatus",
    "LogEntry",
    "LogStream",
    "LoopThreadError",
    "ManualTokenStoreCorrupt",
    "MissingCredentialsError",
    "NotFoundError",
    "Offer",
    "Port",
    "Provider",
    "ProviderError",
    "RateLimitedError",
    "Settings",
    "SignatureError",
    "StorageError",
    "StoreUnavailableError",
    "TokenPersistError",
    "Tracked",
    "TrackedStoreError",
    "TransportError",
    "UnauthorizedError",
    "UnsupportedError",
    "ValidationError",
    "__version__",
    "aio",
    "auth",
    "cancel_job",
    "capabilities",
    "compute",
    "computes",
    "configure",
    "dashboard",
    "errors",
    "events",
    "frames",
    "gpu_types",
    "gpus",
    "job",
    "launch",
    "logs",
    "offers",
    "plot_offers",
    "reap",
    "register_provider",
    "restart",
    "retry_job",
    "run_job",
    "settings",
    "shutdown",
    "spawn",
    "start",
    "stop",
    "stream_job",
    "telemetry",
    "terminate",
    "touch",
    "track",
    "tracked",
    "untrack",
    "wait_until_running",
]

from .widgets.tables import register as _register_table_formatter  # noqa: E402

_register_table_formatter()
_install_log_redaction()
