"""Resolving a Fly token for an app: the chain, single-flight per app, soft-expiry refresh.

The chain (first hit wins):

1. ``manual`` — a token set with ``atlas.fly.tokens.set_manual(app, token)``: an explicit
   per-app override, kept in the manual store and cached in memory until cleared.
2. ``configured`` — the Fly key atlas_nb is configured with: ``configure(api_keys={"fly":
   ...})``, the config file, or ``FLY_API_TOKEN`` / ``FLY_ACCESS_TOKEN``. Read every time
   (not cached), so changing it takes effect at once.
3. ``storage`` — a token minted earlier and persisted, while it has not expired.
4. ``config_file`` — ``access_token`` in flyctl's ``~/.fly/config.yml`` (``$FLY_CONFIG_DIR``),
   unless the ``fly_config_file_enabled`` setting is off.
5. ``cli`` — ``fly tokens create readonly --json [--org <fly_org>]``; only stdout is read and
   it must look like a token; a hung CLI is killed after ``fly_cli_timeout_s``; a missing
   binary is a miss. The token is cached for ``fly_token_ttl_s`` and persisted in the
   background (the caller does not wait for the disk).
6. nothing → :class:`~atlas_nb.errors.MissingCredentialsError` saying how to provide one.

Concurrent callers for one app share one resolution (the CLI runs once); different apps
resolve in parallel. ``invalidate`` and ``refresh`` also delete the persisted token so a
revoked one is never loaded again, and ``refresh`` skips storage and config.yml to get a new
token from the CLI (config.yml is then only the fallback). A CLI token is refreshed
``fly_soft_expiry_lead_s`` before it expires, in the background; until a new one arrives
the old one keeps being served, and a failed refresh is retried.

Telemetry span ``atlas.fly.token.acquire`` (app; stop adds ``source`` — ``cache`` (warm),
``coalesced`` (waited for another caller's resolution), or the chain step above, ``none`` on
failure — and ``acquirer``: ``facade`` for the warm path, ``resolver`` otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ... import telemetry
from ...config import Settings, settings
from ...errors import MissingCredentialsError, TokenPersistError, ValidationError
from ..storage.base import TokenRecord, TokenStorage
from ..storage.diskcache_store import DiskcacheTokenStorage
from ..storage.redis_store import RedisTokenStorage
from .cache import CachedToken, TokenCache
from .cli import CliMiss, CliTokenRunner
from .config_file import config_path, read_access_token
from .shape import normalize_token

log = logging.getLogger("atlas_nb.fly.tokens")

EVENT = "atlas.fly.token.acquire"
STORED_MARGIN_S = 5.0
RETRY_SOFT_REFRESH_S = 300.0


@dataclass(frozen=True)
class Resolved:
    token: str
    source: str


def emit_fast(app: str) -> None:
    """Telemetry for a warm-cache answer (skipped entirely when nobody listens)."""
    if telemetry.enabled(EVENT + ".start") or telemetry.enabled(EVENT + ".stop"):
        t0 = time.monotonic_ns()
        telemetry.emit(
            EVENT + ".start", {"system_time": time.time_ns(), "monotonic_time": t0}, {"app": app}
        )
        telemetry.emit(
            EVENT + ".stop",
            {"duration_ns": time.monotonic_ns() - t0},
            {"app": app, "source": "cache", "acquirer": "facade"},
        )


def choose_storage(s: Settings) -> tuple[str, Callable[[], TokenStorage]]:
    """The token store the settings select, as (an identity, a factory): the team's Redis when
    ``store`` and ``store_key`` are both set, else the local diskcache. Without the team key
    tokens stay local (they are never written to Redis in clear)."""
    if s.store is not None and s.store_key is not None:
        url, key = s.store, s.store_key
        identity = hashlib.sha256(
            f"{url.get_secret_value()}\0{key.get_secret_value()}".encode()
        ).hexdigest()
        return f"redis:{identity}", lambda: RedisTokenStorage(url, key=key)
    wanted = str(s.fly_token_storage_path or (s.data_dir / "fly_tokens"))
    team = s.store

    def local() -> TokenStorage:
        if team is not None:
            log.warning(
                "Fly tokens stay in the local store %s: the Redis store %s needs a team key "
                "(ATLAS_NB_STORE_KEY) to hold them encrypted",
                wanted, team.masked,
            )  # fmt: skip
        return DiskcacheTokenStorage(wanted)

    return wanted, local


class TokenResolver:
    """Per-runtime token state. Every method except :meth:`peek` runs on the runtime loop."""

    def __init__(self, storage: TokenStorage | None = None) -> None:
        self.cache = TokenCache()
        self.cli = CliTokenRunner()
        self._explicit_storage = storage
        self._storage: TokenStorage | None = storage
        self._storage_key: str | None = None
        self._storage_error: str | None = None
        self._storage_lock: asyncio.Lock | None = None
        self._inflight: dict[str, asyncio.Task[Resolved]] = {}
        self._gen: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._writes: dict[str, asyncio.Task[None]] = {}
        self._orgs: dict[str, str | None] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # -- the warm path (any thread) ------------------------------------------------------------
    def peek(self, app: str) -> str | None:
        row = self.cache.peek(app)
        return None if row is None else row.token

    # -- public operations -------------------------------------------------------------------
    async def get(self, app: str, *, org: str | None = None) -> str:
        row = self.cache.peek(app)
        if row is not None:
            emit_fast(app)
            return row.token
        return await self._acquire(app, org, refresh=False)

    async def refresh(self, app: str, *, org: str | None = None) -> str:
        await self.invalidate(app)
        return await self._acquire(app, org, refresh=True)

    async def invalidate(self, app: str) -> None:
        self._bump(app)
        row = self.cache.drop(app)
        if row is not None:
            self.cli.forget(row.token)
        pending = self._writes.get(app)
        if pending is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(pending)
        storage = await self._storage_for(settings())
        if storage is not None:
            try:
                await asyncio.to_thread(storage.delete, app, "cached")
            except Exception as exc:
                log.warning("could not delete the stored token of %s: %s", app, exc)

    async def set_manual(self, app: str, token: str) -> None:
        norm = normalize_token(token)
        if norm is None:
            raise ValidationError(
                "that does not look like a Fly token (expected `FlyV1 fm2_...` or a personal "
                "access token)",
                field="token",
                hint="Copy the whole output of `fly tokens create readonly`.",
            )
        storage = await self._storage_for(settings())
        if storage is None:
            raise TokenPersistError(
                f"no token storage is available ({self._storage_error}); nothing was saved",
                provider="fly",
            )
        try:
            await asyncio.to_thread(storage.put, app, "manual", TokenRecord(norm, None))
        except TokenPersistError:
            raise
        except Exception as exc:
            log.error("could not save the manual token of %s: %s", app, exc)
            raise TokenPersistError(
                f"could not save the manual token for {app} in {storage.location}: {exc}",
                provider="fly",
            ) from exc
        self._bump(app)
        self.cache.put(app, CachedToken(norm, None, "manual"))

    async def clear_manual(self, app: str) -> None:
        storage = await self._storage_for(settings())
        if storage is not None:
            await asyncio.to_thread(storage.delete, app, "manual")
        row = self.cache.peek(app)
        if row is not None and row.source == "manual":
            self._bump(app)
            self.cache.drop(app)

    def set_storage(self, storage: TokenStorage | None) -> None:
        """Use ``storage`` from now on (``None``: back to the default diskcache store)."""
        old = self._storage if self._explicit_storage is None else None
        self._explicit_storage = storage
        self._storage = storage
        self._storage_key = None
        if old is not None:
            with contextlib.suppress(Exception):
                old.close()

    async def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._background):
            task.cancel()
        writes = list(self._writes.values())
        if writes:
            await asyncio.wait(writes, timeout=5)
        if self._explicit_storage is None and self._storage is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._storage.close)
            self._storage = None
            self._storage_key = None
        self.cache.clear()
        self.cli.forget()

    # -- resolution ------------------------------------------------------------------------
    def _bump(self, app: str) -> int:
        gen = self._gen.get(app, 0) + 1
        self._gen[app] = gen
        self._inflight.pop(app, None)
        handle = self._timers.pop(app, None)
        if handle is not None:
            handle.cancel()
        return gen

    def _current(self, app: str, gen: int) -> bool:
        return self._gen.get(app, 0) == gen

    async def _acquire(self, app: str, org: str | None, *, refresh: bool) -> str:
        with telemetry.span(EVENT, {"app": app}) as meta:
            meta["acquirer"] = "resolver"
            meta["source"] = "none"
            task = None if refresh else self._inflight.get(app)
            leader = task is None
            if task is None:
                gen = self._gen.get(app, 0)
                task = asyncio.get_running_loop().create_task(
                    self._resolve(app, org, gen, refresh=refresh)
                )
                self._inflight[app] = task

                def done(t: asyncio.Task[Resolved], app: str = app) -> None:
                    if self._inflight.get(app) is t:
                        del self._inflight[app]
                    if not t.cancelled():
                        t.exception()  # retrieved: waiters re-raise it

                task.add_done_callback(done)
            resolved = await asyncio.shield(task)
            meta["source"] = resolved.source if leader else "coalesced"
            return resolved.token

    async def _resolve(self, app: str, org: str | None, gen: int, *, refresh: bool) -> Resolved:
        s = settings()
        org = org or s.fly_org
        self._orgs[app] = org
        misses: list[str] = []
        storage = await self._storage_for(s)

        # 1. manual override
        if storage is None:
            misses.append(f"token storage unavailable ({self._storage_error})")
        elif (found := await self._from_manual(storage, app, gen)) is not None:
            return found

        # 2. the configured key (configure(), config file, FLY_API_TOKEN / FLY_ACCESS_TOKEN)
        key = s.api_key("fly")
        if key is not None and key.get_secret_value():
            return Resolved(key.get_secret_value(), "configured")

        # 3. a persisted token that has not expired
        if storage is not None and not refresh:
            found = await self._from_store(storage, app, gen, s)
            if found is not None:
                return found

        # 4. flyctl's config.yml
        if s.fly_config_file_enabled and not refresh:
            found = await self._from_config_file(app, gen, s, misses)
            if found is not None:
                return found
        elif not s.fly_config_file_enabled:
            misses.append("flyctl's config.yml (disabled by the fly_config_file_enabled setting)")

        # 5. `fly tokens create readonly`
        found = await self._from_cli(app, org, gen, s, misses, refresh=refresh)
        if found is not None:
            return found

        # a refresh falls back to config.yml only when the CLI could not help
        if refresh and s.fly_config_file_enabled:
            found = await self._from_config_file(app, gen, s, misses)
            if found is not None:
                return found

        where = storage.location if storage is not None else "unavailable"
        raise MissingCredentialsError(
            f"no Fly token for app {app!r}. Looked in: atlas.fly.tokens.set_manual(); "
            "configure(api_keys={'fly': ...}), the config file and FLY_API_TOKEN / "
            f"FLY_ACCESS_TOKEN; the token store ({where}); " + "; ".join(misses),
            provider="fly",
            hint=(
                "Run `fly auth login` (atlas_nb then mints a read-only token with the fly CLI), "
                "set FLY_API_TOKEN, or call atlas.fly.tokens.set_manual(app, token)."
            ),
        )

    async def _from_manual(self, storage: TokenStorage, app: str, gen: int) -> Resolved | None:
        rec = await asyncio.to_thread(storage.get, app, "manual")
        if rec is None:
            return None
        if self._current(app, gen):
            self.cache.put(app, CachedToken(rec.token, None, "manual"))
        return Resolved(rec.token, "manual")

    async def _from_store(
        self, storage: TokenStorage, app: str, gen: int, s: Settings
    ) -> Resolved | None:
        rec = await self._read_cached(storage, app)
        if rec is None:
            return None
        if self._current(app, gen):
            assert rec.expires_at is not None
            self.cache.put(app, CachedToken(rec.token, rec.expires_at, "storage"))
            self._arm(app, gen, rec.expires_at, s)
        return Resolved(rec.token, "storage")

    async def _from_cli(
        self, app: str, org: str | None, gen: int, s: Settings, misses: list[str], *, refresh: bool
    ) -> Resolved | None:
        try:
            minted = await self.cli.acquire(
                org, timeout=s.fly_cli_timeout_s, ttl=s.fly_token_ttl_s, reuse=not refresh
            )
        except CliMiss as miss:
            log.warning("no token from the fly CLI for %s: %s", app, miss)
            misses.append(str(miss))
            return None
        if self._current(app, gen):
            self.cache.put(app, CachedToken(minted.token, minted.expires_at, "cli"))
            self._persist(app, gen, minted.token, minted.expires_at)
            self._arm(app, gen, minted.expires_at, s)
        return Resolved(minted.token, "cli")

    async def _from_config_file(
        self, app: str, gen: int, s: Settings, misses: list[str]
    ) -> Resolved | None:
        path = config_path()
        raw = await asyncio.to_thread(read_access_token, path)
        token = normalize_token(raw)
        if token is None:
            misses.append(f"{path} (no usable access_token)")
            return None
        if self._current(app, gen):
            self.cache.put(app, CachedToken(token, time.time() + s.fly_token_ttl_s, "config_file"))
        return Resolved(token, "config_file")

    async def _read_cached(self, storage: TokenStorage, app: str) -> TokenRecord | None:
        try:
            rec = await asyncio.to_thread(storage.get, app, "cached")
        except Exception as exc:
            log.warning("could not read the stored token of %s: %s", app, exc)
            return None
        if rec is None:
            return None
        if rec.expires_at is None or rec.expires_at <= time.time() + STORED_MARGIN_S:
            return None
        if normalize_token(rec.token) is None:
            log.warning("ignoring a stored token of %s that does not look like a token", app)
            return None
        return rec

    async def _storage_for(self, s: Settings) -> TokenStorage | None:
        if self._explicit_storage is not None:
            return self._explicit_storage
        wanted, make = choose_storage(s)
        if self._storage is not None and self._storage_key == wanted:
            return self._storage
        if self._storage_lock is None:
            self._storage_lock = asyncio.Lock()
        async with self._storage_lock:
            if self._storage is not None and self._storage_key == wanted:
                return self._storage
            try:
                storage = await asyncio.to_thread(make)
            except Exception as exc:
                self._storage_error = f"{type(exc).__name__}: {exc}"
                log.error("Fly token storage is unavailable: %s", self._storage_error)
                return None
            old, self._storage, self._storage_key = self._storage, storage, wanted
            if old is not None:
                with contextlib.suppress(Exception):
                    old.close()
            return storage

    # -- background work -------------------------------------------------------------------
    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _persist(self, app: str, gen: int, token: str, expires_at: float) -> None:
        previous = self._writes.get(app)

        async def write() -> None:
            if previous is not None:
                with contextlib.suppress(BaseException):
                    await previous
            if not self._current(app, gen):
                return
            storage = await self._storage_for(settings())
            if storage is None:
                return
            try:
                await asyncio.to_thread(storage.put, app, "cached", TokenRecord(token, expires_at))
            except Exception as exc:
                log.error("cached token persist failed for %s: %s", app, exc)

        task = asyncio.get_running_loop().create_task(write())
        self._writes[app] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._writes.get(app) is t:
                del self._writes[app]

        task.add_done_callback(done)

    def _arm(self, app: str, gen: int, expires_at: float, s: Settings) -> None:
        lead = s.fly_soft_expiry_lead_s
        if lead <= 0:
            return
        delay = expires_at - time.time() - lead
        if delay <= 0:
            return
        self._schedule(app, gen, delay)

    def _schedule(self, app: str, gen: int, delay: float) -> None:
        old = self._timers.pop(app, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[app] = loop.call_later(
            delay, lambda: self._spawn(self._soft_refresh(app, gen))
        )

    async def _soft_refresh(self, app: str, gen: int) -> None:
        self._timers.pop(app, None)
        if not self._current(app, gen):
            return
        s = settings()
        log.debug("refreshing the Fly token of %s ahead of its expiry", app)
        try:
            minted = await self.cli.acquire(
                self._orgs.get(app),
                timeout=s.fly_cli_timeout_s,
                ttl=s.fly_token_ttl_s,
                reuse=False,
            )
        except CliMiss as miss:
            row = self.cache.peek(app)
            if row is None or row.expires_at is None or not self._current(app, gen):
                return
            retry = min(RETRY_SOFT_REFRESH_S, max(1.0, (row.expires_at - time.time()) / 2))
            log.warning(
                "soft refresh of the Fly token of %s failed (%s); retrying in %.0f s",
                app,
                miss,
                retry,
            )
            self._schedule(app, gen, retry)
            return
        if not self._current(app, gen):
            return
        old = self.cache.peek(app)
        if old is not None and old.token != minted.token:
            self.cli.forget(old.token)
        self.cache.put(app, CachedToken(minted.token, minted.expires_at, "cli"))
        self._persist(app, gen, minted.token, minted.expires_at)
        self._arm(app, gen, minted.expires_at, s)
