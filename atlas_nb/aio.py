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
"""

from __future__ import annotations

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
from .orchestrator.api import events, reap, terminate_all_tracked, touch, track, tracked, untrack


def __getattr__(name: str) -> Any:
    # ``atlas_nb.aio.fly`` loads the Fly module (diskcache, yaml) only when used
    if name == "fly":
        from .fly import aio as fly

        return fly
    raise AttributeError(f"module 'atlas_nb.aio' has no attribute {name!r}")


__all__ = [
    "cancel_job",
    "compute",
    "computes",
    "events",
    "gpu_types",
    "job",
    "logs",
    "offers",
    "plot_offers",
    "reap",
    "restart",
    "retry_job",
    "run_job",
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
