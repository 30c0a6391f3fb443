"""The in-memory token cache: the warm path of ``atlas.fly.tokens.get`` is one dict lookup.

Only the runtime loop writes it; any thread may read it (single dict operations are atomic),
which lets the sync facade answer warm calls without a hop to the loop.

    >>> c = TokenCache()
    >>> c.put("web", CachedToken("FlyV1 fm2_x", expires_at=None, source="manual"))
    >>> c.peek("web").source, c.peek("api")
    ('manual', None)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..._redact import mask


@dataclass(frozen=True)
class CachedToken:
    token: str
    expires_at: float | None  # unix seconds; None: until invalidated (manual tokens)
    source: str

    def __repr__(self) -> str:
        return (
            f"CachedToken(token={mask(self.token)!r}, expires_at={self.expires_at!r}, "
            f"source={self.source!r})"
        )


class TokenCache:
    def __init__(self) -> None:
        self._rows: dict[str, CachedToken] = {}

    def peek(self, app: str, now: float | None = None) -> CachedToken | None:
        """The live entry for ``app`` (expired entries count as absent)."""
        row = self._rows.get(app)
        if row is None:
            return None
        if row.expires_at is not None and row.expires_at <= (now or time.time()):
            return None
        return row

    def put(self, app: str, row: CachedToken) -> None:
        self._rows[app] = row

    def drop(self, app: str) -> CachedToken | None:
        return self._rows.pop(app, None)

    def clear(self) -> None:
        self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)
