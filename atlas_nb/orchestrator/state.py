"""Tracked computes on disk, so a new kernel (or ``atlas-nb reap``) adopts and keeps guarding them.

They live in ``<data_dir>/tracked/`` (directory 0700, one ``<id>.json`` per compute, written
atomically with mode 0600), so a kernel and a shell can share them.

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
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ValidationError

LOCK_WAIT_S = 0.5


@dataclass
class TrackedRecord:
    """Everything needed to keep guarding one compute, in any process."""

    id: str
    provider: str  # a provider name, or "module:qualname" of a custom Provider class
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackedRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class TrackStore:
    """Tracked computes as one small JSON file per compute in a private directory.

    Adding, updating or removing one compute touches only its file (atomic rename), so the
    cost does not grow with the number tracked; loading reads the directory.
    """

    def __init__(self, path: Path) -> None:
        self.path = path  # a directory

    def _file(self, compute_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in compute_id)
        return self.path / f"{safe}.json"

    def _ensure(self) -> None:
        if not self.path.is_dir():
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)

    @contextlib.contextmanager
    def _locked(self, compute_id: str) -> Iterator[None]:
        self._ensure()
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
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
                        raise ValidationError(
                            f"the tracked-computes store {self.path} is locked by another process",
                            field="tracked",
                            hint="Retry; if it persists, stop the other atlas_nb process.",
                        ) from None
                    time.sleep(0.005)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _read_one(self, file: Path) -> TrackedRecord | None:
        try:
            return TrackedRecord.from_dict(json.loads(file.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise ValidationError(
                f"the tracked-compute file {file} is corrupt ({exc})",
                field="tracked",
                hint="It was left untouched; move it aside to stop tracking that compute (the "
                "compute keeps running: check atlas.computes()).",
            ) from None

    def _write_one(self, record: TrackedRecord) -> None:
        self._ensure()
        payload = json.dumps(asdict(record), separators=(",", ":"))
        # the temp name must not match "*.json", or load() could read a half-written file
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-", suffix=".partial")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(payload)
            os.replace(tmp, self._file(record.id))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def load(self) -> dict[str, TrackedRecord]:
        if not self.path.is_dir():
            return {}
        out = {}
        for file in self.path.glob("*.json"):
            rec = self._read_one(file)
            if rec is not None:
                out[rec.id] = rec
        return out

    def get(self, compute_id: str) -> TrackedRecord | None:
        return self._read_one(self._file(compute_id)) if self.path.is_dir() else None

    def put(self, record: TrackedRecord) -> None:
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
        try:
            self._file(compute_id).unlink()
            return True
        except FileNotFoundError:
            return False
