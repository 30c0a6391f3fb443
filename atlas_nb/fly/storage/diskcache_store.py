"""The default token store: two diskcache databases in a private directory, JSON values only.

Layout: ``<root>/cached/`` and ``<root>/manual/``, directories 0700 and files 0600 (created
that way, not chmodded afterwards). ``root`` is the ``path`` argument, else the
``fly_token_storage_path`` setting, else ``<data_dir>/fly_tokens`` (the platformdirs user data
dir). When ``root`` cannot be used the store falls back to a per-user temp directory with a
warning (tokens then may not survive a reboot).

Values are stored as JSON text by :class:`JsonOnlyDisk`, which refuses to unpickle anything
(diskcache's pickle path would run code from a tampered file). A corrupt ``cached`` database
is recreated with a warning (its tokens can be acquired again); a corrupt ``manual`` database
is left untouched and reported as :class:`~atlas_nb.errors.ManualTokenStoreCorrupt`.

    >>> import tempfile
    >>> from atlas_nb.fly.storage.base import TokenRecord
    >>> store = DiskcacheTokenStorage(tempfile.mkdtemp() + "/tokens")
    >>> store.put("web", "cached", TokenRecord("FlyV1 fm2_abc", 2e9))
    >>> store.get("web", "cached").expires_at
    2000000000.0
    >>> store.close()
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import stat
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import diskcache
from diskcache.core import MODE_PICKLE, UNKNOWN

from ...errors import ManualTokenStoreCorrupt, TokenPersistError
from .base import Kind, TokenRecord, check_app, check_kind

log = logging.getLogger("atlas_nb.fly.storage")

DB_NAME = "cache.db"


class UnpicklingRefused(ValueError):
    """The token store held a pickled value or key; it is never loaded."""


class JsonOnlyDisk(diskcache.Disk):
    """A diskcache ``Disk`` that stores JSON text and refuses pickles in both directions."""

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) is not str:
            raise TypeError(f"token store keys must be str (got {type(key).__name__})")
        return super().put(key)

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise UnpicklingRefused("refusing to unpickle a key from the token store")
        return super().get(key, raw)

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> Any:
        if read:
            raise TypeError("the token store does not take file-like values")
        return super().store(json.dumps(value, separators=(",", ":")), False, key=key)

    def fetch(self, mode: int, filename: Any, value: Any, read: bool) -> Any:
        if mode == MODE_PICKLE:
            raise UnpicklingRefused("refusing to unpickle a value from the token store")
        data = super().fetch(mode, filename, value, read)
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return json.loads(data)


def _owned_private_dir(path: Path) -> None:
    """Create ``path`` (0700) or accept an existing one we own; make it private."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(f"{path} is not a plain directory")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to another user")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)
    probe = path / f".probe-{os.getpid()}-{threading.get_ident()}"
    fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    os.close(fd)
    probe.unlink()


def _fallback_root() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    candidate = Path(tempfile.gettempdir()) / f"atlas_nb-{uid}" / "fly_tokens"
    try:
        _owned_private_dir(candidate.parent)
        _owned_private_dir(candidate)
        return candidate
    except OSError:
        return Path(tempfile.mkdtemp(prefix="atlas_nb-fly-tokens-"))


def resolve_root(path: str | os.PathLike[str] | None = None) -> tuple[Path, str | None]:
    """The directory to use and, when it is a fallback, why the wanted one was refused."""
    if path is None:
        from ...config import settings

        s = settings()
        path = s.fly_token_storage_path or (s.data_dir / "fly_tokens")
    wanted = Path(path).expanduser()
    try:
        _owned_private_dir(wanted)
        return wanted, None
    except OSError as exc:
        fallback = _fallback_root()
        reason = f"cannot use {wanted} ({exc}); using {fallback} instead"
        return fallback, reason


def _private_files(directory: Path) -> None:
    for root, dirs, files in os.walk(directory):
        for d in dirs:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, d), 0o700)
        for f in files:
            p = os.path.join(root, f)
            with contextlib.suppress(OSError):
                if stat.S_IMODE(os.lstat(p).st_mode) & 0o077:
                    os.chmod(p, 0o600)


def _open_cache(directory: Path) -> diskcache.Cache:
    _owned_private_dir(directory)
    db = directory / DB_NAME
    # sqlite keeps an existing file's mode and gives -wal/-shm the same one, so creating the
    # database 0600 up front leaves no window where a token file is world-readable
    fd = os.open(db, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    cache = diskcache.Cache(str(directory), disk=JsonOnlyDisk, eviction_policy="none")
    try:
        cache.get("\x00probe")
    except BaseException:
        cache.close()
        raise
    _private_files(directory)
    return cache


class DiskcacheTokenStorage:
    """Token storage in ``<root>/cached`` and ``<root>/manual`` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.root, fallback_reason = resolve_root(path)
        if fallback_reason:
            message = f"atlas_nb Fly token storage: {fallback_reason}; tokens may not persist"
            log.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=2)
        self.location = str(self.root)
        self._lock = threading.Lock()
        self._caches: dict[Kind, diskcache.Cache] = {}
        self._closed = False

    # -- opening ---------------------------------------------------------------------------
    def _cache(self, kind: Kind) -> diskcache.Cache:
        cache = self._caches.get(kind)
        if cache is not None:
            return cache
        with self._lock:
            cache = self._caches.get(kind)
            if cache is None:
                cache = self._open(kind)
                self._caches[kind] = cache
            return cache

    def _open(self, kind: Kind) -> diskcache.Cache:
        directory = self.root / kind
        try:
            return _open_cache(directory)
        except (sqlite3.DatabaseError, UnpicklingRefused, ValueError) as exc:
            if kind == "manual":
                raise self._manual_corrupt(exc) from exc
            message = (
                f"atlas_nb Fly token cache {directory} is unreadable ({exc}); recreating it "
                "(cached tokens are acquired again)"
            )
            log.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=4)
            shutil.rmtree(directory, ignore_errors=True)
            return _open_cache(directory)

    def _manual_corrupt(self, exc: BaseException) -> ManualTokenStoreCorrupt:
        path = self.root / "manual"
        log.error(
            "the manual Fly token store %s is unreadable (%s); it was left untouched", path, exc
        )
        err = ManualTokenStoreCorrupt(
            f"the manual Fly token store {path} cannot be read ({exc}); it was left as it is "
            "because manual tokens cannot be acquired again",
            provider="fly",
        )
        err.path = str(path)  # type: ignore[attr-defined]
        err.reason = str(exc)  # type: ignore[attr-defined]
        return err

    def _reset_cached(self, exc: BaseException) -> None:
        with self._lock:
            cache = self._caches.pop("cached", None)
        if cache is not None:
            with contextlib.suppress(Exception):
                cache.close()
        directory = self.root / "cached"
        log.warning("atlas_nb Fly token cache %s failed (%s); recreating it", directory, exc)
        shutil.rmtree(directory, ignore_errors=True)

    # -- the protocol ----------------------------------------------------------------------
    def get(self, app: str, kind: Kind) -> TokenRecord | None:
        check_app(app)
        check_kind(kind)
        try:
            value = self._cache(kind).get(app)
            return None if value is None else TokenRecord.from_json(value)
        except (sqlite3.DatabaseError, UnpicklingRefused, ValueError) as exc:
            if kind == "manual":
                raise self._manual_corrupt(exc) from exc
            self._reset_cached(exc)
            return None

    def put(self, app: str, kind: Kind, record: TokenRecord) -> None:
        check_app(app)
        check_kind(kind)
        if not isinstance(record, TokenRecord):
            raise TypeError(f"record must be a TokenRecord (got {type(record).__name__})")
        try:
            cache = self._cache(kind)
            cache.set(app, record.to_json())
        except ManualTokenStoreCorrupt as exc:
            raise TokenPersistError(
                f"could not save the manual token for {app}: {exc.message}", provider="fly"
            ) from exc
        except (OSError, sqlite3.Error, diskcache.Timeout) as exc:
            if kind == "manual":
                raise TokenPersistError(
                    f"could not save the manual token for {app} in {self.root / kind}: {exc}",
                    provider="fly",
                ) from exc
            raise
        _private_files(self.root / kind)

    def delete(self, app: str, kind: Kind) -> None:
        check_app(app)
        check_kind(kind)
        try:
            self._cache(kind).delete(app)
        except (sqlite3.DatabaseError, ValueError) as exc:
            if kind == "manual":
                raise self._manual_corrupt(exc) from exc
            self._reset_cached(exc)

    def close(self) -> None:
        with self._lock:
            caches, self._caches = list(self._caches.values()), {}
        for cache in caches:
            with contextlib.suppress(Exception):
                cache.close()
        self._closed = True

    def __repr__(self) -> str:
        return f"<DiskcacheTokenStorage {self.root}>"
