"""The async Fly ops API: the names of ``atlas.fly``, awaitable from any event loop.

>>> import asyncio, tempfile, atlas_nb.fly.aio as fly
>>> asyncio.run(fly.discover_apps(tempfile.mkdtemp())).columns.tolist()
['app', 'path']
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._runtime import on_runtime
from ..logstream import LogStream
from ._services import services
from .deploy import Deploy, deploy, stream_deploy
from .discovery import discover_apps as _discover_apps
from .discovery import parse_app_name
from .dispatcher import DEFAULT_THRESHOLD
from .logs.streamer import LogSubscription, check_app_name
from .tokens import aio as tokens

if TYPE_CHECKING:
    import pandas as pd
else:
    from .._lazy import pandas as pd


async def discover_apps(path: str | os.PathLike[str] = ".", *, max_depth: int = 1) -> pd.DataFrame:
    """Fly apps under ``path`` (columns ``app``, ``path``); see ``atlas.fly.discover_apps``."""
    return await asyncio.to_thread(_discover_apps, path, max_depth=max_depth)


@on_runtime
async def subscribe_logs(
    app: str,
    *,
    region: str | None = None,
    instance: str | None = None,
    callback: Callable[[Any], None] | None = None,
    threshold: int = DEFAULT_THRESHOLD,
) -> LogSubscription:
    """A raw subscription to an app's logs (see :mod:`atlas_nb.fly.logs.streamer`).

    With ``callback`` it is called on atlas_nb's loop with ``LogBatch`` / ``LogsStopped``
    messages; without one, iterate the subscription. Raises at once when no token can be
    found for ``app``. ``instance`` is a Machine id (a Fly Machines compute id
    ``"<app>/<machine>"`` works too).
    """
    check_app_name(app)
    if instance and instance.startswith(app + "/"):
        instance = instance.split("/", 1)[1]
    await services().tokens.get(app)
    return services().streamers.subscribe(
        app, region=region, instance=instance, callback=callback, threshold=threshold
    )


@on_runtime
async def logs(app: str, *, region: str | None = None, instance: str | None = None) -> LogStream:
    """A live :class:`~atlas_nb.logstream.LogStream` of a Fly app's logs.

    ``region`` / ``instance`` (a Machine id) narrow it. All streams of one app and filter
    share one poller, which stops when the last stream is closed.
    """
    sub = await subscribe_logs(app, region=region, instance=instance)
    filters = (("region", sub.region), ("instance", sub.instance))
    where = "".join(f" {k}={v}" for k, v in filters if v)
    return LogStream(sub.batches, title=f"fly {app}{where}", on_close=sub.aclose)


__all__ = [
    "Deploy",
    "deploy",
    "discover_apps",
    "logs",
    "parse_app_name",
    "stream_deploy",
    "subscribe_logs",
    "tokens",
]
