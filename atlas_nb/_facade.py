"""The blocking facade: every public function of ``atlas_nb`` that waits for its result.

Each one runs its ``atlas_nb.aio`` twin on atlas_nb's loop thread and blocks until done; the
package re-exports them, so users write ``atlas.spawn(...)``:

    >>> from atlas_nb import _facade
    >>> _facade.capabilities("mock") >= {"serverless", "offers"}
    True
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from . import aio
from ._runtime import shutdown as _shutdown_runtime
from ._runtime import syncify
from .providers.registry import ProviderLike, resolve_provider_class

if TYPE_CHECKING:
    from ._durations import Duration
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


def dashboard(*, refresh: Duration = "5s", allow_destructive: bool = False) -> ComputeDashboard:
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
