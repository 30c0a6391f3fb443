"""The per-runtime Fly ops state: token resolver, dispatcher, log streamers, running deploys.

Created on first use on atlas_nb's runtime (a fork or ``atlas.shutdown()`` starts afresh) and
closed by ``atlas.shutdown()``: streamers stop, timers are cancelled, deploys are killed.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from .._runtime import get_runtime
from .dispatcher import Dispatcher

if TYPE_CHECKING:
    from .deploy import Deploy
    from .logs.streamer import StreamerRegistry
    from .tokens.resolver import TokenResolver


class FlyServices:
    def __init__(self) -> None:
        from .logs.streamer import StreamerRegistry
        from .tokens.resolver import TokenResolver

        self.tokens: TokenResolver = TokenResolver()
        self.dispatcher = Dispatcher()
        self.streamers: StreamerRegistry = StreamerRegistry(self)
        #: lock key (app name, else the deploy directory) -> the running deploy
        self.deploys: dict[str, Deploy] = {}

    async def aclose(self) -> None:
        """Stop every streamer and deploy, cancel token timers, close the token store."""
        await self.streamers.close_all("atlas_nb is shutting down")
        for deploy in list(self.deploys.values()):
            with contextlib.suppress(Exception):
                await deploy.acancel("atlas_nb is shutting down")
        await self.tokens.close()


def services() -> FlyServices:
    """This runtime's :class:`FlyServices` (created on first use)."""
    rt = get_runtime()

    def make() -> FlyServices:
        svc = FlyServices()
        rt.on_shutdown(svc.aclose)
        return svc

    return rt.service("atlas_nb.fly", make)


async def reset() -> None:
    """Close and forget all Fly ops state (tests; a clean slate after changing settings)."""
    from .logs.streamer import StreamerRegistry
    from .tokens.resolver import TokenResolver

    svc = services()
    await svc.aclose()
    svc.tokens = TokenResolver()
    svc.dispatcher = Dispatcher()
    svc.streamers = StreamerRegistry(svc)
    svc.deploys.clear()
