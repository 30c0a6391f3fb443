"""``atlas_nb.providers.fly_machines.aio``: the Fly Machines extras, awaitable.

The blocking twin, with the same name, is :func:`atlas_nb.providers.fly_machines.wait`; the old
``fly_machines.wait_async`` still works for one release and warns (DeprecationWarning).

    >>> __all__
    ['wait']
"""

from __future__ import annotations

from ..._runtime import on_runtime
from ...models import Compute
from ..registry import typed_provider
from .provider import FlyMachinesProvider


@on_runtime
async def wait(
    compute_id: str, state: str = "started", *, timeout: float = 60.0, api_key: str | None = None
) -> Compute:
    """Wait until a Fly machine reaches ``state`` (started, stopped, suspended, destroyed)."""
    prov = typed_provider(FlyMachinesProvider, api_key)
    return await prov.wait_for_state(compute_id, state, timeout=timeout)


__all__ = ["wait"]
