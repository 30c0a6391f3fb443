"""The Redis connection of a team store: the URL (masked everywhere), the client, retries.

A store URL is ``redis://[:password@]host[:port][/db]``, ``rediss://...`` (TLS; redis-py's
``ssl_*`` query parameters such as ``?ssl_ca_certs=/path/ca.pem`` apply) or
``unix://[:password@]/path/to/redis.sock[?db=0]``. :class:`StoreURL` keeps it like a secret:
its repr and ``str`` show it with the password redacted, ``get_secret_value()`` gives it whole.

    >>> url = store_url("redis://:hunter2@cache.internal:6379/0")
    >>> url
    StoreURL('redis://REDACTED@cache.internal:6379/0')
    >>> url.tls, store_url("rediss://cache.internal").tls
    (False, True)
    >>> try:
    ...     store_url("http://:hunter2@cache.internal")
    ... except ValidationError as err:
    ...     print(err.field, "hunter2" in str(err), "http://REDACTED@cache.internal" in str(err))
    store False True

:class:`RedisConnection` owns one ``redis.asyncio`` client on atlas_nb's runtime loop.
``call`` runs one operation and, when the connection is lost, retries it with exponential
backoff before raising :class:`~atlas_nb.errors.StoreUnavailableError` (naming the masked URL).
redis-py is the ``redis`` extra: ``pip install 'atlas_nb[redis]'``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import SecretStr

from ._runtime import current_runtime
from .errors import StoreUnavailableError, ValidationError
from .transport.redact import redact_url

log = logging.getLogger("atlas_nb.store")

T = TypeVar("T")

SCHEMES = ("redis", "rediss", "unix")
#: seconds between attempts when Redis is unreachable (then StoreUnavailableError)
RETRY_DELAYS_S: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


class StoreURL(SecretStr):
    """A store URL: shown with its password redacted, ``get_secret_value()`` for the client."""

    def _display(self) -> str:
        raw = self.get_secret_value()
        shown = redact_url(raw)
        scheme, _, rest = shown.partition(":")
        if raw.partition(":")[2].startswith("//") and not rest.startswith("//"):
            shown = f"{scheme}://{rest}"  # urlunsplit drops the empty host of unix:///path
        return shown

    @property
    def masked(self) -> str:
        return self._display()

    @property
    def scheme(self) -> str:
        return urlsplit(self.get_secret_value()).scheme.lower()

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    @property
    def password(self) -> str | None:
        return urlsplit(self.get_secret_value()).password


def store_url(value: str | SecretStr) -> StoreURL:
    """Check a store URL; ``ValidationError`` (password masked) when it is not one."""
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not isinstance(raw, str):
        raise ValidationError(
            f"store must be a URL string (got {type(raw).__name__})",
            field="store",
            hint='Use e.g. store="redis://host:6379/0", or store=None for the local files.',
        )
    shown = redact_url(raw)
    try:
        parts = urlsplit(raw.strip())
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError as exc:
        raise ValidationError(f"store URL {shown!r} is malformed ({exc})", field="store") from None
    if parts.scheme.lower() not in SCHEMES:
        raise ValidationError(
            f"store must be a redis://, rediss:// or unix:// URL (got {shown!r})",
            field="store",
            hint='Use e.g. store="redis://host:6379/0", or store=None for the local files.',
        )
    if parts.scheme.lower() == "unix":
        if not parts.path:
            raise ValidationError(
                f"store URL {shown!r} names no socket path", field="store",
                hint='Use e.g. store="unix:///run/redis/redis.sock".',
            )  # fmt: skip
    elif not parts.hostname:
        raise ValidationError(
            f"store URL {shown!r} names no host",
            field="store",
            hint='Use e.g. store="redis://host:6379/0".',
        )
    elif parts.path not in ("", "/") and not parts.path.lstrip("/").isdigit():
        raise ValidationError(
            f"store URL {shown!r}: the path must be a database number (like /0)", field="store"
        )
    return StoreURL(raw.strip())


#: how to make a team key (in every "not a Fernet key" message)
FERNET_KEY_HINT = (
    "Make one with `python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'` and share it with the team."
)


def is_fernet_key(key: str) -> bool:
    """Whether ``key`` is what ``cryptography.fernet.Fernet`` takes (32 url-safe base64 bytes).

    >>> is_fernet_key("A" * 43 + "="), is_fernet_key("team-password")
    (True, False)
    """
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
    except (ValueError, UnicodeEncodeError):
        return False


def _scrub(text: str, url: StoreURL) -> str:
    """``text`` without the URL's password, should a library have echoed it."""
    password = url.password
    if password:
        text = text.replace(password, "REDACTED")
    return text.replace(url.get_secret_value(), url.masked)


def _redis_module() -> Any:
    try:
        import redis.asyncio as aioredis
    except ImportError:  # pragma: no cover - the extra is part of dev
        raise StoreUnavailableError(
            "the Redis store needs redis-py, which is not installed",
            hint="pip install 'atlas_nb[redis]'",
        ) from None
    return aioredis


class RedisConnection:
    """One ``redis.asyncio`` client for ``url``, created on first use on the running loop.

    ``delays`` are the waits between attempts when the connection is lost (the defaults
    give up after about 3 s); ``timeout_s`` bounds each connect and each reply.
    """

    def __init__(
        self,
        url: str | SecretStr,
        *,
        delays: tuple[float, ...] = RETRY_DELAYS_S,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = store_url(url)
        self.delays = tuple(delays)
        self.timeout_s = timeout_s
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<RedisConnection {self.url.masked}>"

    def _make_client(self) -> Any:
        aioredis = _redis_module()
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return aioredis.Redis.from_url(
            self.url.get_secret_value(),
            socket_connect_timeout=self.timeout_s,
            socket_timeout=self.timeout_s,
            retry=Retry(NoBackoff(), 0),  # call() owns the retry policy
            health_check_interval=0,
        )

    @property
    def client(self) -> Any:
        """The client of the running loop (a new one after the runtime restarted)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = self._make_client(), loop
            runtime = current_runtime()
            if runtime is not None and runtime.loop is loop:  # closed before the loop is
                runtime.on_shutdown(functools.partial(self._close_client, self._client), last=True)
        return self._client

    async def _close_client(self, client: Any) -> None:
        if self._client is client:
            self._client = None
        await client.aclose()

    async def connect(self) -> None:
        """PING once: a clear ``StoreUnavailableError`` now rather than at the first token."""
        try:
            await self.client.ping()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await self.aclose()
            raise self._unavailable("cannot connect to", exc) from None

    async def call(self, what: str, op: Callable[[Any], Awaitable[T]]) -> T:
        """``await op(client)``, retried with backoff while the connection is lost.

        ``what`` names the operation for the log and the final error.
        """
        from redis.exceptions import AuthenticationError, ResponseError
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        attempt = 0
        while True:
            try:
                return await op(self.client)
            except (AuthenticationError, ResponseError) as exc:
                raise self._unavailable(f"{what}: refused by", exc) from None
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if attempt >= len(self.delays):
                    raise self._unavailable(
                        f"{what}: gave up after {attempt + 1} attempts on", exc
                    ) from None
                delay = self.delays[attempt]
                attempt += 1
                log.warning(
                    "Redis store %s: %s failed (%s); retry %d in %.2fs",
                    self.url.masked, what, _scrub(str(exc), self.url), attempt, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)

    def _unavailable(self, doing: str, exc: BaseException) -> StoreUnavailableError:
        detail = _scrub(f"{type(exc).__name__}: {exc}", self.url)
        return StoreUnavailableError(f"{doing} the Redis store {self.url.masked} ({detail})")

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()  # aclose() of a closed client is a no-op (shutdown may too)
