"""The token storage protocol: where Fly tokens survive a kernel restart.

Two independent namespaces (``kind``): ``"cached"`` holds tokens atlas_nb acquired (they
expire and can be acquired again), ``"manual"`` holds tokens a user set with
``atlas.fly.tokens.set_manual`` (they cannot be re-acquired, so they are never dropped
silently). Implementations are small and synchronous; atlas_nb calls them off the event loop.

    >>> rec = TokenRecord("FlyV1 fm2_secret", expires_at=1_800_000_000.0)
    >>> rec
    TokenRecord(token='FlyV…', expires_at=1800000000.0)
    >>> TokenRecord.from_json(rec.to_json()) == rec
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from ..._redact import mask

Kind = Literal["cached", "manual"]
KINDS: tuple[Kind, ...] = ("cached", "manual")


def check_kind(kind: str) -> Kind:
    """``kind`` itself when it is ``"cached"`` or ``"manual"``, else ``ValueError``."""
    if kind not in KINDS:
        raise ValueError(f"token storage kind must be 'cached' or 'manual' (got {kind!r})")
    return kind


def check_app(app: str) -> str:
    if not isinstance(app, str) or not app:
        raise ValueError(f"app must be a non-empty string (got {app!r})")
    return app


@dataclass(frozen=True)
class TokenRecord:
    """A stored token. ``expires_at`` is unix seconds, ``None`` for tokens that never expire."""

    token: str
    expires_at: float | None = None

    def __repr__(self) -> str:
        return f"TokenRecord(token={mask(self.token)!r}, expires_at={self.expires_at!r})"

    def to_json(self) -> dict[str, Any]:
        return {"token": self.token, "expires_at": self.expires_at}

    @classmethod
    def from_json(cls, data: Any) -> TokenRecord:
        """Validate a stored JSON value; ``ValueError`` when it is not a token record."""
        if not isinstance(data, Mapping):
            raise ValueError(f"stored token is a {type(data).__name__}, not an object")
        token, expires = data.get("token"), data.get("expires_at")
        if not isinstance(token, str) or not token:
            raise ValueError("stored token has no token text")
        if expires is not None:
            if isinstance(expires, bool) or not isinstance(expires, (int, float)):
                raise ValueError("stored token has a non-numeric expires_at")
            if not math.isfinite(expires):
                raise ValueError("stored token has a non-finite expires_at")
            expires = float(expires)
        return cls(token, expires)

    def valid_at(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


@runtime_checkable
class TokenStorage(Protocol):
    """What a token store implements. Methods may block; they must be thread-safe.

    ``get`` returns ``None`` when nothing is stored; ``put`` overwrites; ``delete`` of an
    absent record is fine. Raise on failure (a failed manual ``put`` reaches the caller as
    ``TokenPersistError``). ``location`` names where data lives, for messages.
    """

    location: str

    def get(self, app: str, kind: Kind) -> TokenRecord | None: ...

    def put(self, app: str, kind: Kind, record: TokenRecord) -> None: ...

    def delete(self, app: str, kind: Kind) -> None: ...

    def close(self) -> None: ...
