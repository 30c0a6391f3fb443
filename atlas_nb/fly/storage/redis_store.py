"""Fly tokens in a team's Redis, encrypted with the team key (Fernet).

Each token is one Redis string ``<namespace>:fly_token:<kind>:<app>`` whose value is the
:class:`TokenRecord` JSON encrypted with ``ATLAS_NB_STORE_KEY`` (``store_key`` setting; make
one with ``cryptography.fernet.Fernet.generate_key()``). Redis never sees a token in clear, and
a cached token expires in Redis when it expires for Fly. Without a key the store refuses to be
built (``ValidationError``): tokens then stay in the local store, never in Redis unencrypted.
A token the key cannot open is left in Redis (a teammate's key may): a cached one reads as
absent with a warning, a manual one raises :class:`~atlas_nb.errors.ManualTokenStoreCorrupt`.

The protocol is synchronous; every call runs on atlas_nb's runtime loop with ``redis.asyncio``
(so it must not be called *on* that loop: atlas_nb calls token stores from worker threads).
Redis down when the store is built: :class:`~atlas_nb.errors.StoreUnavailableError` naming the
URL (password masked); lost mid-operation: retried with backoff, then the same error.

    >>> from atlas_nb.errors import ValidationError
    >>> try:
    ...     RedisTokenStorage("redis://:s3cret@db:1/0", key=None)
    ... except ValidationError as err:
    ...     print(err.message)
    refusing to store Fly tokens in the Redis store redis://REDACTED@db:1/0 without a team key
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from pydantic import SecretStr

from ..._redis import FERNET_KEY_HINT, RedisConnection
from ..._runtime import current_runtime, get_runtime
from ...errors import ManualTokenStoreCorrupt, StoreUnavailableError, TokenPersistError
from ...errors import ValidationError as AtlasValidationError
from .base import Kind, TokenRecord, check_app, check_kind

log = logging.getLogger("atlas_nb.fly.storage")

KEY_HINT = (
    "Set ATLAS_NB_STORE_KEY (or configure(store_key=...)) to a Fernet key shared by the team; "
    "until then tokens stay in the local store."
)


def _fernet(key: str | bytes | SecretStr, where: str) -> Any:
    from cryptography.fernet import Fernet

    raw = key.get_secret_value() if isinstance(key, SecretStr) else key
    try:
        return Fernet(raw)
    except (ValueError, TypeError):
        raise AtlasValidationError(
            f"the team key for the Redis store {where} is not a Fernet key (32 url-safe "
            "base64-encoded bytes)",
            field="store_key",
            hint=FERNET_KEY_HINT,
        ) from None


class RedisTokenStorage:
    """Fly token storage in Redis (see the module docstring). ``namespace`` prefixes keys."""

    def __init__(
        self,
        url: str | SecretStr,
        *,
        key: str | bytes | SecretStr | None,
        namespace: str = "atlas_nb",
        connection: RedisConnection | None = None,
    ) -> None:
        self._conn = connection or RedisConnection(url)
        self.location = self._conn.url.masked
        if not key:
            raise AtlasValidationError(
                f"refusing to store Fly tokens in the Redis store {self.location} without a "
                "team key",
                field="store_key",
                hint=KEY_HINT,
            )
        self._fernet = _fernet(key, self.location)
        self.namespace = namespace
        self._run(self._conn.connect())

    def __repr__(self) -> str:
        return f"<RedisTokenStorage {self.location} namespace={self.namespace!r}>"

    def _run(self, coro: Any) -> Any:
        return get_runtime().run(coro)

    def _key(self, app: str, kind: Kind) -> str:
        return f"{self.namespace}:fly_token:{kind}:{app}"

    # -- the protocol ----------------------------------------------------------------------
    def get(self, app: str, kind: Kind) -> TokenRecord | None:
        key = self._key(check_app(app), check_kind(kind))
        reading = f"reading the {kind} token of {app}"
        blob = self._run(self._conn.call(reading, lambda r: r.get(key)))
        if blob is None:
            return None
        try:
            return TokenRecord.from_json(json.loads(self._fernet.decrypt(blob)))
        except Exception as exc:
            from cryptography.fernet import InvalidToken

            why = "cannot be decrypted with the team key" if isinstance(exc, InvalidToken) else (
                f"is not a token record ({exc})"
            )  # fmt: skip
            if kind == "manual":
                raise ManualTokenStoreCorrupt(
                    f"the manual Fly token of {app} in the Redis store {self.location} {why}; "
                    "it was left as it is",
                    provider="fly",
                    hint="Check that ATLAS_NB_STORE_KEY is the team's key, or set the manual "
                    "token again.",
                ) from None
            # left in place: a teammate with the right key may still read it; the next
            # acquisition overwrites it
            log.warning("ignoring the cached Fly token of %s in %s: it %s", app, self.location, why)
            return None

    def put(self, app: str, kind: Kind, record: TokenRecord) -> None:
        key = self._key(check_app(app), check_kind(kind))
        if not isinstance(record, TokenRecord):
            raise TypeError(f"record must be a TokenRecord (got {type(record).__name__})")
        blob = self._fernet.encrypt(json.dumps(record.to_json()).encode())
        expires = record.expires_at
        # Redis forgets a cached token when it expires; one already past keeps no TTL (like
        # the other stores, the caller decides what an expired record means)
        pxat = int(expires * 1000) + 1 if expires and expires > time.time() else None
        try:
            self._run(
                self._conn.call(
                    f"saving the {kind} token of {app}", lambda r: r.set(key, blob, pxat=pxat)
                )
            )
        except StoreUnavailableError as exc:
            if kind == "manual":
                raise TokenPersistError(
                    f"could not save the manual token for {app}: {exc.message}", provider="fly"
                ) from exc
            raise

    def delete(self, app: str, kind: Kind) -> None:
        key = self._key(check_app(app), check_kind(kind))
        self._run(self._conn.call(f"deleting the {kind} token of {app}", lambda r: r.delete(key)))

    def close(self) -> None:
        """Close the connection; a later call opens a new one. Safe while atlas_nb shuts down."""
        runtime = current_runtime()
        if runtime is None:
            return
        # not runtime.run(): that refuses work once shutdown began, and shutdown closes us
        done = asyncio.run_coroutine_threadsafe(self._conn.aclose(), runtime.loop)
        if not runtime.in_loop_thread:
            with contextlib.suppress(Exception):
                done.result(timeout=10)
