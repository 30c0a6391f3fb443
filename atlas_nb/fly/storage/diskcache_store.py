"""The default token store: two diskcache databases in a private directory, JSON values only.

Layout: ``<root>/cached/`` and ``<root>/manual/``, directories 0700 and files 0600 (created
that way, not chmodded afterwards). ``root`` is the ``path`` argument, else the
``fly_token_storage_path`` setting, else ``<data_dir>/fly_tokens`` (the platformdirs user data
dir). When ``root`` cannot be used the store falls back to a per-user temp directory with a
warning (tokens then may not survive a reboot).

Values are stored as JSON text by :class:`JsonOnlyDisk`, which refuses to unpickle anything
(diskcache's pickle path would run code from a tampered file). Only real corruption (not a
database, a malformed image, content that is not a token record) recovers: a corrupt ``cached``
database is recreated with a warning (its tokens can be acquired again); a corrupt ``manual``
database is left untouched and reported as :class:`~atlas_nb.errors.ManualTokenStoreCorrupt`.
A busy or locked database (another process writing) is retried, then reported; disk full,
I/O and permission errors, or a directory that is not a plain one (a symlink), raise
:class:`~atlas_nb.errors.StorageError` and nothing is deleted — other processes may be using it.

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
import time
import warnings
from pathlib import Path
from typing import Any

import diskcache
from diskcache.core import MODE_PICKLE, UNKNOWN

from ...errors import ManualTokenStoreCorrupt, StorageError, TokenPersistError
from .base import Kind, TokenRecord, check_app, check_kind

log = logging.getLogger("atlas_nb.fly.storage")

DB_NAME = "cache.db"
BUSY_ATTEMPTS = 4  # tries of one operation while the database is busy or locked
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_NOTADB = 5, 6, 11, 26
_STORE_FAILURES = (OSError, sqlite3.Error, diskcache.Timeout)


class UnpicklingRefused(ValueError):
    """The token store held a pickled value or key; it is never loaded."""


class JsonOnlyDisk(diskcache.Disk):
    """A diskcache ``Disk`` that stores JSON text and refuses pickles in both directions."""

    def put(self, key: Any) -> tuple[Any, bool]:
        if type(key) is not str:
            raise TypeError(f"token store keys must be str (got {type(key).__name__})")
        stored: tuple[Any, bool] = super().put(key)
        return stored

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


def _sqlite_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_corrupt(exc: BaseException) -> bool:
    """Whether ``exc`` means the store's content is damaged (and only then may it be rebuilt).

    >>> is_corrupt(sqlite3.DatabaseError("file is not a database"))
    True
    >>> is_corrupt(sqlite3.OperationalError("database is locked"))
    False
    >>> is_corrupt(sqlite3.OperationalError("disk I/O error")), is_corrupt(ValueError("x"))
    (False, True)
    """
    if isinstance(exc, (UnpicklingRefused, ValueError)):  # bad JSON, a pickle, not a record
        return True
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = _sqlite_code(exc)
    if code is not None:
        return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    if isinstance(exc, sqlite3.OperationalError):  # I/O, disk full, busy, cannot open...
        return False
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text or type(exc) is sqlite3.DatabaseError


def is_busy(exc: BaseException) -> bool:
    """Whether another connection holds the database (worth retrying)."""
    if isinstance(exc, diskcache.Timeout):
        return True
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = _sqlite_code(exc)
    if code is not None:
        return code in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "locked" in str(exc).lower() or "busy" in str(exc).lower()


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


def _open_cache(directory: Path, busy_timeout_s: float) -> diskcache.Cache:
    _owned_private_dir(directory)
    db = directory / DB_NAME
    # sqlite keeps an existing file's mode and gives -wal/-shm the same one, so creating the
    # database 0600 up front leaves no window where a token file is world-readable
    fd = os.open(db, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    cache = diskcache.Cache(
        str(directory), disk=JsonOnlyDisk, eviction_policy="none", timeout=busy_timeout_s
    )
    try:
        cache.get("\x00probe")
    except BaseException:
        cache.close()
        raise
    _private_files(directory)
    return cache


class DiskcacheTokenStorage:
    """Token storage in ``<root>/cached`` and ``<root>/manual`` (see the module docstring).

    ``busy_timeout_s`` is how long one attempt waits for another process's lock (sqlite's
    busy timeout); a busy database is tried :data:`BUSY_ATTEMPTS` times in all.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, busy_timeout_s: float = 5.0
    ) -> None:
        self.busy_timeout_s = busy_timeout_s
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
            return self._retrying(lambda: _open_cache(directory, self.busy_timeout_s))
        except Exception as exc:  # broad: sorted below into corruption and storage failures
            if not is_corrupt(exc):
                raise self._storage_error(kind, "open", exc) from exc
            if kind == "manual":
                raise self._manual_corrupt(exc) from exc
            message = (
                f"atlas_nb Fly token cache {directory} is unreadable ({exc}); recreating it "
                "(cached tokens are acquired again)"
            )
            log.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=4)
            shutil.rmtree(directory, ignore_errors=True)
            try:
                return _open_cache(directory, self.busy_timeout_s)
            except Exception as again:  # broad: whatever it is, report it as storage
                raise self._storage_error(kind, "recreate", again) from again

    def _retrying(self, operation: Any) -> Any:
        """Run ``operation``; while the database is busy or locked, try again a few times."""
        for attempt in range(BUSY_ATTEMPTS):
            try:
                return operation()
            except Exception as exc:  # broad: only busy/locked is retried, the rest re-raised
                if not is_busy(exc) or attempt == BUSY_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _storage_error(self, kind: Kind, what: str, exc: BaseException) -> StorageError:
        where = self.root / kind
        if isinstance(exc, StorageError):
            return exc
        if is_busy(exc):
            why = "the database stayed locked by another process"
            hint = "Another kernel or process is using it; retry in a moment."
        elif isinstance(exc, NotADirectoryError):
            why = str(exc)
            hint = (
                f"Make {where} a real directory you own (not a symlink), or point "
                "fly_token_storage_path elsewhere."
            )
        else:
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            hint = None
        log.error("Fly token storage %s: could not %s (%s); nothing was deleted", where, what, why)
        err = StorageError(
            f"could not {what} the {kind} Fly token store {where}: {why}; nothing was deleted",
            provider="fly",
            hint=hint,
        )
        err.path = str(where)  # type: ignore[attr-defined]
        return err

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
    def apps(self, kind: Kind) -> list[str]:
        """The apps that have a ``kind`` token stored (for ``atlas-nb store migrate``)."""
        cache = self._cache(check_kind(kind))
        try:
            return sorted(
                k for k in self._retrying(lambda: list(cache.iterkeys())) if k != "\x00probe"
            )
        except (sqlite3.Error, OSError, diskcache.Timeout, UnpicklingRefused) as exc:
            raise self._storage_error(kind, "list", exc) from exc

    def get(self, app: str, kind: Kind) -> TokenRecord | None:
        check_app(app)
        check_kind(kind)
        cache = self._cache(kind)
        try:
            value = self._retrying(lambda: cache.get(app))
            return None if value is None else TokenRecord.from_json(value)
        except (sqlite3.Error, OSError, diskcache.Timeout, UnpicklingRefused, ValueError) as exc:
            if not is_corrupt(exc):
                raise self._storage_error(kind, "read", exc) from exc
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
            self._retrying(lambda: cache.set(app, record.to_json()))
        except (ManualTokenStoreCorrupt, StorageError, *_STORE_FAILURES) as exc:
            error = exc if isinstance(exc, (ManualTokenStoreCorrupt, StorageError)) else None
            error = error or self._storage_error(kind, "write", exc)
            if kind == "manual":  # the caller must know the override was not saved
                raise TokenPersistError(
                    f"could not save the manual token for {app}: {error.message}",
                    provider="fly",
                ) from exc
            raise error from exc
        _private_files(self.root / kind)

    def delete(self, app: str, kind: Kind) -> None:
        check_app(app)
        check_kind(kind)
        cache = self._cache(kind)
        try:
            self._retrying(lambda: cache.delete(app))
        except (sqlite3.Error, OSError, diskcache.Timeout, ValueError) as exc:
            if not is_corrupt(exc):
                raise self._storage_error(kind, "delete from", exc) from exc
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
