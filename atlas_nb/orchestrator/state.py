"""Tracked computes on disk, so a new kernel (or ``atlas-nb reap``) adopts and keeps guarding them.

They live in ``<data_dir>/tracked/`` (a private 0700 directory that must not be a symlink, one
``<id>.json`` per compute, mode 0600, fsynced then renamed into place), so a kernel and a shell
can share them. Every record is validated on load; one that cannot be parsed is moved to
``tracked/quarantine/`` with the reason, and the others keep being guarded. Fields written by a
newer atlas_nb are kept on rewrite.

    >>> import tempfile, pathlib
    >>> store = TrackStore(pathlib.Path(tempfile.mkdtemp()) / "tracked")
    >>> store.put(TrackedRecord(id="pod1", provider="mock", idle_ttl_s=60, started_at=0.0,
    ...                         last_activity=0.0))
    >>> sorted(store.load())
    ['pod1']
    >>> store.remove("pod1")
    True
    >>> store.load()
    {}
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TrackedStoreError
from .store import Claim

if TYPE_CHECKING:
    from .events import ComputeEvent
    from .lease import LeaseLock
    from .store import Listener

LOCK_WAIT_S = 0.5
DEFAULT_PROVISION_TIMEOUT_S = 1200.0


@dataclass
class TrackedRecord:
    """Everything needed to keep guarding one compute, in any process."""

    id: str
    provider: str  # a registered provider name (built-in, entry point or register_provider)
    name: str | None = None
    gpu: str | None = None
    owner: str | None = None
    idle_ttl_s: float | None = 1800.0
    max_runtime_s: float | None = None
    max_cost_usd: float | None = None
    started_at: float = 0.0  # unix seconds
    last_activity: float = 0.0  # unix seconds
    cost_per_hr: float | None = None
    spend_usd: float = 0.0
    spend_at: float = 0.0  # unix seconds when spend_usd was last brought up to date
    status: str = "unknown"
    terminating: str | None = None  # the reason, once a limit fired
    key_fp: str = ""  # fingerprint of the API key it was spawned with ("" = unknown/none)
    released: bool = False  # untracked but kept: the reaper must leave it alone
    extra: dict[str, Any] = field(default_factory=dict)
    #: when it was first seen running (the idle timer starts then); None while provisioning
    running_since: float | None = None
    #: how long it may take to first run before it is terminated (None: no bound)
    provision_timeout_s: float | None = DEFAULT_PROVISION_TIMEOUT_S
    #: who guards it: "pod" (it ends itself, atlas_nb.guard) or "client" (a supervisor only)
    guard: str = "client"
    #: the pod guard's lease endpoint, its bearer token, when its lease runs out (unix
    #: seconds, as last answered) and why the last renewal failed (None: it succeeded)
    lease_url: str | None = None
    lease_token: str | None = field(default=None, repr=False)
    lease_expires_at: float | None = None
    lease_error: str | None = None
    #: fields written by a newer atlas_nb: kept as they are on rewrite
    unknown: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Any) -> TrackedRecord:
        """A validated record (``TrackedStoreError`` saying which field is wrong otherwise).

        >>> TrackedRecord.from_dict({"id": "p", "provider": "mock", "started_at": "x"})
        Traceback (most recent call last):
        ...
        atlas_nb.errors.TrackedStoreError: validation: started_at='x' is not a time ...
        """
        if not isinstance(data, dict):
            raise _invalid(f"a record must be a JSON object, not {type(data).__name__}")
        known = _FIELD_NAMES
        values = {k: v for k, v in data.items() if k in known}
        for key in ("id", "provider"):
            if not isinstance(values.get(key), str) or not values[key]:
                raise _invalid(f"{key}={values.get(key)!r} must be a non-empty string")
        for key, check in _FIELD_CHECKS.items():
            if key in values:
                values[key] = check(key, values[key])
        rec = cls(**values)
        if len(values) < len(data):
            rec.unknown = {k: v for k, v in data.items() if k not in known}
        return rec

    def to_dict(self) -> dict[str, Any]:
        """What is written to disk: every field, plus the unknown ones it was read with."""
        data = asdict(self)
        data.pop("unknown")
        return {**self.unknown, **data}


#: the fields a record file may set (``unknown`` is where the others go)
_FIELD_NAMES = frozenset(f.name for f in fields(TrackedRecord)) - {"unknown"}


def _invalid(message: str) -> TrackedStoreError:
    return TrackedStoreError(message, field="tracked")


def _number(key: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _invalid(f"{key}={value!r} must be a finite number")
    if value < 0 or (positive and value == 0):
        raise _invalid(f"{key}={value!r} must be {'positive' if positive else 'zero or more'}")
    return float(value)


def _time(key: str, value: Any) -> float:
    """Unix seconds, or an ISO-8601 time with a timezone (a naive time is refused)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _invalid(f"{key}={value!r} is not a time (unix seconds or ISO-8601)") from None
        if parsed.tzinfo is None:
            raise _invalid(f"{key}={value!r} has no timezone")
        return parsed.timestamp()
    return _number(key, value)


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{key}={value!r} must be a string")
    return value


def _string_or_null(key: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _invalid(f"{key}={value!r} must be a string or null")
    return value


def _positive_or_null(key: str, value: Any) -> float | None:
    return None if value is None else _number(key, value, positive=True)


def _number_or_null(key: str, value: Any) -> float | None:
    return None if value is None else _number(key, value)


def _time_or_null(key: str, value: Any) -> float | None:
    return None if value is None else _time(key, value)


def _guard(key: str, value: Any) -> str:
    if value not in ("pod", "client"):
        raise _invalid(f"{key}={value!r} must be 'pod' or 'client'")
    return str(value)


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(f"{key}={value!r} must be true or false")
    return value


def _object(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"{key}={value!r} must be an object")
    return value


#: how each field a record file sets is checked (and normalised) when present
_FIELD_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    **dict.fromkeys(("status", "key_fp"), _string),
    **dict.fromkeys(
        ("name", "gpu", "owner", "terminating", "lease_url", "lease_token", "lease_error"),
        _string_or_null,
    ),
    **dict.fromkeys(
        ("idle_ttl_s", "max_runtime_s", "max_cost_usd", "provision_timeout_s"), _positive_or_null
    ),
    "cost_per_hr": _number_or_null,
    "spend_usd": _number,
    **dict.fromkeys(("started_at", "last_activity", "spend_at"), _time),
    **dict.fromkeys(("running_since", "lease_expires_at"), _time_or_null),
    "guard": _guard,
    "released": _bool,
    "extra": _object,
}


class FileOps:
    """The few file operations the store makes (a seam: fault tests pass a failing one)."""

    def write_durably(self, path: Path, payload: bytes) -> None:
        """Write ``payload`` to a new file and fsync it before it is renamed into place."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)

    def replace(self, src: Path, dst: Path) -> None:
        os.replace(src, dst)

    def unlink(self, path: Path) -> None:
        path.unlink()


class TrackStore:
    """Tracked computes as one small JSON file per compute in a private directory.

    Adding, updating or removing one compute touches only its file (atomic rename), so the
    cost does not grow with the number tracked; loading reads the directory.
    ``quarantined`` lists ``(file, reason)`` for records moved aside since it was last emptied.
    """

    shared = False  # one machine: every supervisor enforces (there is no lease)

    def __init__(self, path: Path, *, ops: FileOps | None = None) -> None:
        self.path = path  # a directory
        self.location = str(path)
        self.ops = ops or FileOps()
        self.quarantined: list[tuple[Path, str]] = []
        self._unreadable: set[Path] = set()  # corrupt but could not be moved: reported once

    def file_of(self, compute_id: str) -> Path:
        """The file that holds a compute's record."""
        return self._file(compute_id)

    def _file(self, compute_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in compute_id)
        return self.path / f"{safe}.json"

    def _check_dir(self) -> bool:
        """True when the directory exists (and is usable); raises when it is not usable."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._unusable(f"cannot be read ({exc.strerror})") from None
        if stat.S_ISLNK(st.st_mode):
            raise self._unusable("is a symlink (refused: it could point anywhere)")
        if not stat.S_ISDIR(st.st_mode):
            raise self._unusable("exists but is not a directory")
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise self._unusable("belongs to another user")
        if stat.S_IMODE(st.st_mode) & 0o077:
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o700)
        return True

    def _unusable(self, why: str) -> TrackedStoreError:
        return TrackedStoreError(
            f"the tracked-computes directory {self.path} {why}",
            field="tracked",
            hint="Move it aside (or point atlas.configure(data_dir=...) elsewhere); tracked "
            "computes keep running meanwhile: check atlas.computes().",
        )

    def check(self) -> None:
        """``TrackedStoreError`` when the directory exists but cannot be used (never creates)."""
        self._check_dir()

    def ensure(self) -> None:
        """Create the directory if needed; ``TrackedStoreError`` when it cannot be used."""
        self._ensure()

    def _ensure(self) -> None:
        if self._check_dir():
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise self._unusable(f"cannot be created ({exc.strerror or exc})") from None
        self._check_dir()

    @contextlib.contextmanager
    def _locked(self, compute_id: str) -> Iterator[None]:
        self._ensure()
        try:
            fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise self._unusable(f"has an unusable .lock ({exc.strerror or exc})") from None
        try:
            # never wait long: this can run on atlas_nb's loop thread (a stopped peer process
            # holding the lock must not freeze every stream)
            deadline = time.monotonic() + LOCK_WAIT_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TrackedStoreError(
                            f"the tracked-computes store {self.path} is locked by another process",
                            field="tracked",
                            hint="Retry; if it persists, stop the other atlas_nb process.",
                        ) from None
                    time.sleep(0.005)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _read_one(self, file: Path, *, link: bool | None = None) -> TrackedRecord | None:
        """The record in ``file`` (None if gone); ``TrackedStoreError`` when it is corrupt.
        ``link``: whether it is a symlink, when the caller knows (from a directory scan)."""
        try:
            if stat.S_ISLNK(os.lstat(file).st_mode) if link is None else link:
                raise _invalid("the record is a symlink (refused)")
            with open(file, "rb") as f:
                text = f.read().decode()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise _invalid(f"cannot be read ({exc})") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _invalid(f"not JSON ({exc})") from None
        return TrackedRecord.from_dict(data)

    def _quarantine(self, file: Path, reason: str) -> None:
        """Move a corrupt record aside with the reason; report it once."""
        if file in self._unreadable:
            return
        target_dir = self.path / "quarantine"
        try:
            target_dir.mkdir(exist_ok=True, mode=0o700)
            stamp = time.strftime("%Y%m%dT%H%M%S")
            target = target_dir / f"{file.stem}.{stamp}.{os.getpid()}.json"
            self.ops.replace(file, target)
            reason_file = target.with_suffix(".reason.txt")
            reason_file.write_text(f"{file.name}: {reason}\n")
        except FileNotFoundError:
            return  # removed meanwhile: nothing to report
        except OSError as exc:
            self._unreadable.add(file)  # left in place; skipped (and not reported) from now on
            reason = f"{reason}; it could not be moved aside ({exc.strerror or exc})"
        self.quarantined.append((file, reason))

    def _write_one(self, record: TrackedRecord) -> None:
        self._ensure()
        payload = json.dumps(record.to_dict(), separators=(",", ":")).encode()
        # the temp name must not match "*.json", or load() could read a half-written file
        tmp = self.path / f".tmp-{os.getpid()}-{secrets.token_hex(8)}.partial"
        try:
            self.ops.write_durably(tmp, payload)
            self.ops.replace(tmp, self._file(record.id))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            what = errno.errorcode.get(exc.errno or 0, "")
            raise TrackedStoreError(
                f"could not save the tracked record of {record.id} in {self.path} "
                f"({what + ': ' if what else ''}{exc.strerror or exc})",
                field="tracked",
                hint="Free disk space or make the directory writable; the compute keeps being "
                "guarded in this process meanwhile.",
            ) from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._unreadable.discard(self._file(record.id))

    def load(self) -> dict[str, TrackedRecord]:
        """Every readable record by id; corrupt ones are quarantined (see ``quarantined``)."""
        if not self._check_dir():
            return {}
        out = {}
        try:
            with os.scandir(self.path) as scan:
                entries = sorted((e.name, e.is_symlink()) for e in scan if e.name.endswith(".json"))
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise self._unusable(f"cannot be listed ({exc.strerror or exc})") from None
        for name, link in entries:
            file = self.path / name
            if file in self._unreadable:
                continue
            try:
                rec = self._read_one(file, link=link)
            except TrackedStoreError as exc:
                self._quarantine(file, exc.message or str(exc))
                continue
            if rec is not None:
                out[rec.id] = rec
        return out

    def get(self, compute_id: str) -> TrackedRecord | None:
        """One record (None if not tracked); ``TrackedStoreError`` when it is corrupt."""
        return self._read_one(self._file(compute_id)) if self._check_dir() else None

    def put(self, record: TrackedRecord) -> None:
        """Write a record; a later touch already on disk (from any process) is kept."""
        with self._locked(record.id):
            with contextlib.suppress(TrackedStoreError):  # a corrupt old file is overwritten
                old = self.get(record.id)
                if old is not None and old.last_activity > record.last_activity:
                    record.last_activity = old.last_activity
            self._write_one(record)

    def update(self, compute_id: str, **changes: Any) -> TrackedRecord | None:
        """Apply changes to one record (if still tracked); returns the new record."""
        with self._locked(compute_id):
            rec = self.get(compute_id)
            if rec is None:
                return None
            for key, value in changes.items():
                setattr(rec, key, value)
            self._write_one(rec)
            return rec

    def merge_activity(self, compute_id: str, last_activity: float) -> None:
        """Move last_activity forward (never back): touches from any process win."""
        with self._locked(compute_id):
            rec = self.get(compute_id)
            if rec is not None and last_activity > rec.last_activity:
                rec.last_activity = last_activity
                self._write_one(rec)

    def remove(self, compute_id: str) -> bool:
        with self._locked(compute_id):
            try:
                self.ops.unlink(self._file(compute_id))
                return True
            except FileNotFoundError:
                return False

    # -- the rest of the RecordStore interface (files need no server) ------------------------
    async def connect(self) -> None:
        return None

    async def refresh(self) -> None:
        return None

    async def claim_termination(
        self, compute_id: str, reason: str, *, by: str, last_activity: float | None
    ) -> Claim:
        """Mark the record terminating under the directory lock (see ``store.Claim``)."""
        with self._locked(compute_id):
            rec = self.get(compute_id)
            if rec is None:
                return Claim("gone")
            if rec.released:
                return Claim("released")
            if last_activity is not None and rec.last_activity > last_activity:
                return Claim("touched", last_activity=rec.last_activity)
            if rec.terminating:
                return Claim("resumed", by=str(rec.extra.get("terminating_by") or ""))
            rec.terminating = reason
            rec.extra["terminating_by"] = by
            self._write_one(rec)
            return Claim("claimed", by=by)

    def record_event(self, event: ComputeEvent) -> None:
        return None  # events stay in this process's bus

    def start(self, listener: Listener) -> None:
        return None

    def lease(self, holder: str, on_change: Callable[[], None]) -> LeaseLock | None:
        return None

    async def aclose(self) -> None:
        return None
