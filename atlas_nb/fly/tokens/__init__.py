"""Fly tokens for the logs API: ``atlas.fly.tokens.get(app)`` and friends.

Where a token comes from, in order: a manual override (``set_manual``), the configured Fly key
(``configure(api_keys={"fly": ...})`` or ``FLY_API_TOKEN`` / ``FLY_ACCESS_TOKEN``), a token
minted earlier and stored, flyctl's ``~/.fly/config.yml``, and finally ``fly tokens create
readonly``. See :mod:`atlas_nb.fly.tokens.resolver` for the details.

    >>> import atlas_nb as atlas
    >>> atlas.fly.tokens.set_storage(atlas.fly.MemoryTokenStorage())  # keep the example off disk
    >>> atlas.fly.tokens.set_manual("atlas-demo-web", "FlyV1 fm2_ZXhhbXBsZQ==")
    >>> atlas.fly.tokens.get("atlas-demo-web")
    'FlyV1 fm2_ZXhhbXBsZQ=='
    >>> atlas.fly.tokens.clear_manual("atlas-demo-web")
>>> atlas.fly.tokens.set_storage(None)  # back to the default store
"""

from __future__ import annotations

from ..._runtime import run_sync
from .._services import services
from . import aio
from .aio import set_storage
from .resolver import emit_fast


def get(app: str, *, org: str | None = None) -> str:
    """A token for ``app``; warm calls are answered from memory without a loop round-trip."""
    token = services().tokens.peek(app)
    if token is not None:
        emit_fast(app)
        return token
    return run_sync(aio.get(app, org=org))


def invalidate(app: str) -> None:
    """Forget ``app``'s token (memory and the persisted copy)."""
    run_sync(aio.invalidate(app))


def refresh(app: str, *, org: str | None = None) -> str:
    """Drop ``app``'s token and acquire a new one now."""
    return run_sync(aio.refresh(app, org=org))


def set_manual(app: str, token: str) -> None:
    """Use ``token`` for ``app`` (an explicit override, persisted); ``TokenPersistError`` when
    it cannot be saved."""
    run_sync(aio.set_manual(app, token))


def clear_manual(app: str) -> None:
    """Remove ``app``'s manual token."""
    run_sync(aio.clear_manual(app))


__all__ = ["aio", "clear_manual", "get", "invalidate", "refresh", "set_manual", "set_storage"]
