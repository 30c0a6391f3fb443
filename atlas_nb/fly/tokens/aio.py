"""The async token API (``atlas_nb.fly.aio.tokens``); the sync twins are in ``atlas.fly.tokens``.

>>> import asyncio, atlas_nb.fly.aio as fly
>>> from atlas_nb.fly.storage import MemoryTokenStorage
>>> fly.tokens.set_storage(MemoryTokenStorage())  # keep the example off disk
>>> async def main():
...     await fly.tokens.set_manual("atlas-demo-web", "FlyV1 fm2_ZXhhbXBsZQ==")
...     token = await fly.tokens.get("atlas-demo-web")
...     await fly.tokens.clear_manual("atlas-demo-web")
...     return token
>>> asyncio.run(main())
'FlyV1 fm2_ZXhhbXBsZQ=='
>>> fly.tokens.set_storage(None)
"""

from __future__ import annotations

from ..._runtime import on_runtime
from .._services import services
from ..storage.base import TokenStorage


@on_runtime
async def get(app: str, *, org: str | None = None) -> str:
    """A token for ``app`` (see :mod:`atlas_nb.fly.tokens.resolver` for where it comes from).

    ``org`` names the Fly organisation when the CLI has to mint one (default: the
    ``fly_org`` setting, else the CLI's default org).
    """
    return await services().tokens.get(app, org=org)


@on_runtime
async def invalidate(app: str) -> None:
    """Forget ``app``'s token (in memory and the persisted copy); the next get re-resolves."""
    await services().tokens.invalidate(app)


@on_runtime
async def refresh(app: str, *, org: str | None = None) -> str:
    """Drop ``app``'s token and acquire a new one now (the CLI first)."""
    return await services().tokens.refresh(app, org=org)


@on_runtime
async def set_manual(app: str, token: str) -> None:
    """Use ``token`` for ``app`` from now on, across restarts (raises ``TokenPersistError``
    when it cannot be saved, and nothing changes)."""
    await services().tokens.set_manual(app, token)


@on_runtime
async def clear_manual(app: str) -> None:
    """Remove ``app``'s manual token; the other sources apply again."""
    await services().tokens.clear_manual(app)


def set_storage(storage: TokenStorage | None) -> None:
    """Keep tokens in ``storage`` (any :class:`~atlas_nb.fly.storage.TokenStorage`);
    ``None`` goes back to the default diskcache store."""
    services().tokens.set_storage(storage)


__all__ = ["clear_manual", "get", "invalidate", "refresh", "set_manual", "set_storage"]
