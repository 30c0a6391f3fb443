"""The async API: the same names and arguments as ``atlas_nb``, awaitable from any event loop.

Work always runs on atlas_nb's own loop thread, so it is safe to ``await`` these from Jupyter's
loop, from ``asyncio.run`` or from another library's loop.

    >>> import asyncio, atlas_nb.aio as aio
    >>> async def main():
    ...     c = await aio.spawn(provider="mock", gpu="l4", image="python:3.11")
    ...     await aio.terminate(c.id, provider="mock")
    ...     return c.provider
    >>> asyncio.run(main())
    'mock'

Namespaces have ``aio`` modules of their own: ``atlas_nb.aio.runpod`` is ``atlas_nb.runpod.aio``,
``atlas_nb.aio.fly`` is ``atlas_nb.fly.aio``; ``atlas_nb.aio.lambda_``, ``.vast`` and
``.fly_machines`` hold the provider extras (``await aio.lambda_.ssh_keys()``). Methods of
objects use an ``a`` prefix (``await pod.aterminate()``, ``await deploy.acancel()``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .core.catalog import gpu_types, offers, plot_offers
from .core.compute import (
    compute,
    computes,
    logs,
    restart,
    spawn,
    start,
    stop,
    terminate,
    wait_until_running,
)
from .core.jobs import cancel_job, job, retry_job, run_job, stream_job
from .core.jobs import wait_for as wait_job
from .core.launch import launch
from .orchestrator.api import events, reap, terminate_all_tracked, touch, track, tracked, untrack


async def configure(**kwargs: Any) -> None:
    """:func:`atlas_nb.configure`, awaitable (it does no I/O)."""
    from .config import configure as _configure

    _configure(**kwargs)


async def settings() -> Any:
    """:func:`atlas_nb.settings`, awaitable."""
    from .config import settings as _settings

    return _settings()


async def capabilities(provider: Any) -> frozenset[str]:
    """:func:`atlas_nb.capabilities`, awaitable."""
    from .providers.registry import resolve_provider_class

    return resolve_provider_class(provider).capabilities()


async def shutdown(*, terminate_tracked: bool = False) -> None:
    """:func:`atlas_nb.shutdown`, awaitable from another event loop (not atlas_nb's own)."""
    import asyncio

    from . import shutdown as _shutdown

    await asyncio.to_thread(_shutdown, terminate_tracked=terminate_tracked)


async def dashboard(*, refresh: Any = "5s", allow_destructive: bool = False) -> Any:
    """:func:`atlas_nb.dashboard` (the widget), awaitable."""
    import asyncio

    from . import dashboard as _dashboard

    return await asyncio.to_thread(_dashboard, refresh=refresh, allow_destructive=allow_destructive)


#: ``atlas_nb.aio.lambda_.ssh_keys()`` ...: the provider extras' awaitable twins, each
#: provider package's own ``aio`` module
_PROVIDER_EXTRAS = {
    "lambda_": "atlas_nb.providers.lambda_cloud.aio",
    "vast": "atlas_nb.providers.vast.aio",
    "fly_machines": "atlas_nb.providers.fly_machines.aio",
}


def _extras(name: str) -> ModuleType:
    import importlib
    import sys

    namespace = importlib.import_module(_PROVIDER_EXTRAS[name])
    sys.modules[f"atlas_nb.aio.{name}"] = namespace
    globals()[name] = namespace
    return namespace


def __getattr__(name: str) -> Any:
    # namespaces load their modules (Fly: diskcache, yaml) only when used
    if name == "fly":
        from .fly import aio as fly

        return fly
    if name == "runpod":
        from .runpod import aio as runpod

        return runpod
    if name in _PROVIDER_EXTRAS:
        return _extras(name)
    raise AttributeError(f"module 'atlas_nb.aio' has no attribute {name!r}")


__all__ = [
    "cancel_job",
    "capabilities",
    "compute",
    "computes",
    "configure",
    "dashboard",
    "events",
    "gpu_types",
    "job",
    "launch",
    "logs",
    "offers",
    "plot_offers",
    "reap",
    "restart",
    "retry_job",
    "run_job",
    "settings",
    "shutdown",
    "spawn",
    "start",
    "stop",
    "stream_job",
    "terminate",
    "terminate_all_tracked",
    "touch",
    "track",
    "tracked",
    "untrack",
    "wait_job",
    "wait_until_running",
]
