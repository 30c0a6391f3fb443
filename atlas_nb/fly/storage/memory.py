"""An in-memory token store (tests, short-lived scripts, or when nothing may touch disk).

>>> from atlas_nb.fly.storage.base import TokenRecord
>>> store = MemoryTokenStorage()
>>> store.put("web", "manual", TokenRecord("FlyV1 fm2_abc"))
>>> store.get("web", "manual").token, store.get("web", "cached")
('FlyV1 fm2_abc', None)
"""

from __future__ import annotations

import threading

from .base import Kind, TokenRecord, check_app, check_kind


class MemoryTokenStorage:
    """A dict behind a lock. ``fail_writes=True`` makes every put raise ``OSError``
    (to see how callers handle a storage outage)."""

    location = "memory"

    def __init__(self, *, fail_writes: bool = False) -> None:
        self._lock = threading.Lock()
        self._data: dict[tuple[str, Kind], TokenRecord] = {}
        self.fail_writes = fail_writes

    def get(self, app: str, kind: Kind) -> TokenRecord | None:
        key = (check_app(app), check_kind(kind))
        with self._lock:
            return self._data.get(key)

    def put(self, app: str, kind: Kind, record: TokenRecord) -> None:
        key = (check_app(app), check_kind(kind))
        if not isinstance(record, TokenRecord):
            raise TypeError(f"record must be a TokenRecord (got {type(record).__name__})")
        if self.fail_writes:
            raise OSError(f"simulated storage outage for {app}")
        with self._lock:
            self._data[key] = record

    def delete(self, app: str, kind: Kind) -> None:
        key = (check_app(app), check_kind(kind))
        with self._lock:
            self._data.pop(key, None)

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"<MemoryTokenStorage {len(self._data)} records>"
