"""atlas_nb: price GPUs across clouds, spawn pods, run serverless jobs and operate Fly.io apps
from notebook cells, without leaving a forgotten pod burning money.

    >>> import atlas_nb as atlas
    >>> atlas.capabilities("mock") >= {"serverless", "offers"}
    True

Every function here blocks until done; ``atlas_nb.aio`` has the same names as coroutines.

``import atlas_nb`` is quick: a public name is imported from the module that defines it the
first time it is read (PEP 562), so pydantic, pandas, httpx and the providers load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors
from ._redact import install_log_redaction as _install_log_redaction
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

__version__ = "0.1.0"

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers and IDEs
    from . import aio, auth, frames, gpus, telemetry
    from ._facade import (
        cancel_job,
        capabilities,
        compute,
        computes,
        dashboard,
        events,
        gpu_types,
        job,
        launch,
        logs,
        offers,
        reap,
        restart,
        retry_job,
        run_job,
        shutdown,
        spawn,
        start,
        stop,
        stream_job,
        terminate,
        touch,
        track,
        tracked,
        untrack,
        wait_until_running,
    )
    from ._runtime import DualIterator, LoopThreadError
    from .config import Settings, configure, settings
    from .core.catalog import plot_offers
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
    from .providers.registry import register_provider

#: public name -> the module that defines it (relative to this package)
_LAZY_NAMES: dict[str, str] = {
    **dict.fromkeys(
        [
            "spawn",
            "compute",
            "computes",
            "start",
            "stop",
            "restart",
            "terminate",
            "wait_until_running",
            "launch",
            "logs",
            "gpu_types",
            "offers",
            "run_job",
            "job",
            "cancel_job",
            "retry_job",
            "stream_job",
            "track",
            "touch",
            "untrack",
            "tracked",
            "reap",
            "events",
            "dashboard",
            "shutdown",
            "capabilities",
        ],
        "._facade",
    ),
    **dict.fromkeys(
        [
            "AuthHandle",
            "Compute",
            "ComputeRequest",
            "ComputeStatus",
            "GpuType",
            "Job",
            "JobRequest",
            "JobStatus",
            "LogEntry",
            "Offer",
            "Port",
        ],
        ".models",
    ),
    **dict.fromkeys(["DualIterator", "LoopThreadError", "syncify"], "._runtime"),
    **dict.fromkeys(["Settings", "configure", "settings"], ".config"),
    **dict.fromkeys(
        ["ProviderLike", "register_provider", "resolve_provider_class"], ".providers.registry"
    ),
    "plot_offers": ".core.catalog",
    "LogStream": ".logstream",
    "Tracked": ".orchestrator.api",
    "Provider": ".providers",
}
_LAZY_MODULES = (
    "aio",
    "auth",
    "frames",
    "gpus",
    "telemetry",
    "fly",
    "sandbox",
    "runpod",
    "widgets",
    "orchestrator",
    "testing",
    "cli",
    "naming",
)
#: provider extras: ``atlas.lambda_.ssh_keys()``, ``atlas.vast.search_offers(...)``
_ALIASES = {
    "lambda_": ".providers.lambda_cloud",
    "vast": ".providers.vast",
    "fly_machines": ".providers.fly_machines",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name], __name__), name)
        globals()[name] = value  # later reads are plain attribute lookups
        return value
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _ALIASES:
        return importlib.import_module(_ALIASES[name], __name__)
    raise AttributeError(f"module 'atlas_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_LAZY_MODULES, *_ALIASES})


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
