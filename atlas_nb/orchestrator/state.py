"""Tracked computes on disk, so a new kernel (or ``atlas-nb reap``) adopts and keeps guarding them.

The file is ``<data_dir>/tracked.json`` (mode 0600, directory 0700). Every change is a locked
read-modify-write with an atomic rename, so two processes (a kernel and a shell) can share it.

    >>> import tempfile, pathlib
    >>> store = TrackStore(pathlib.Path(tempfile.mkdtemp()) / "tracked.json")
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
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ValidationError


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
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackedRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class TrackStore:
    """The tracked-computes file (JSON, locked, atomic)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.path.with_suffix(".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _read(self) -> dict[str, TrackedRecord]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text) if text.strip() else {}
            return {k: TrackedRecord.from_dict(v) for k, v in data.get("computes", {}).items()}
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValidationError(
                f"the tracked-computes file {self.path} is corrupt ({exc})",
                field="tracked",
                hint="It was left untouched; move it aside to start fresh (your pods keep "
                "running: check atlas.computes()).",
            ) from None

    def _write(self, records: dict[str, TrackedRecord]) -> None:
        payload = json.dumps(
            {"version": 1, "computes": {k: asdict(v) for k, v in records.items()}},
            indent=1,
            sort_keys=True,
        )
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tracked-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(payload)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def load(self) -> dict[str, TrackedRecord]:
        with self._locked():
            return self._read()

    def put(self, record: TrackedRecord) -> None:
        with self._locked():
            records = self._read()
            records[record.id] = record
            self._write(records)

    def update(self, compute_id: str, **changes: Any) -> TrackedRecord | None:
        """Apply changes to one record (if still tracked); returns the new record."""
        with self._locked():
            records = self._read()
            rec = records.get(compute_id)
            if rec is None:
                return None
            for key, value in changes.items():
                setattr(rec, key, value)
            self._write(records)
            return rec

    def merge_activity(self, compute_id: str, last_activity: float) -> None:
        """Move last_activity forward (never back): touches from any process win."""
        with self._locked():
            records = self._read()
            rec = records.get(compute_id)
            if rec is not None and last_activity > rec.last_activity:
                rec.last_activity = last_activity
                self._write(records)

    def remove(self, compute_id: str) -> bool:
        with self._locked():
            records = self._read()
            found = records.pop(compute_id, None) is not None
            if found:
                self._write(records)
            return found
