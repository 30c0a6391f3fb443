"""The tracked-record conformance suite against the local store (files)."""

from __future__ import annotations

from pathlib import Path

from atlas_nb.orchestrator.state import TrackStore
from atlas_nb.testing import RecordStoreConformance


class TestTrackStore(RecordStoreConformance):
    def make_store(self, path: Path) -> TrackStore:
        return TrackStore(path)

    def corrupt(self, store, compute_id: str) -> None:
        (Path(store.path) / f"{compute_id}.json").write_text("{not json")
