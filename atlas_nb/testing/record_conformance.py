"""The tracked-record conformance suite: prove a store of tracked computes against the interface.

Subclass it in a test module, name the subclass ``Test...`` and say how to build the store::

    from atlas_nb.testing import RecordStoreConformance

    class TestMyStore(RecordStoreConformance):
        def make_store(self, path):        # path: a fresh, empty directory
            return MyStore(path)

        def corrupt(self, store, compute_id):   # write a record that cannot be read
            ...

Every call runs on atlas_nb's runtime loop, as the supervisor makes it. The built-in stores
(``TrackStore`` on files and ``RedisTrackStore`` against a real redis-server) pass it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from atlas_nb._runtime import get_runtime
from atlas_nb.orchestrator.state import TrackedRecord
from atlas_nb.orchestrator.store import RecordStore


def record(compute_id: str = "pod1", **overrides: Any) -> TrackedRecord:
    """A complete record (every field set away from its default)."""
    values: dict[str, Any] = {
        "id": compute_id, "provider": "mock", "name": "atlas-x", "gpu": "l4",
        "owner": "alice0001", "idle_ttl_s": 60.0, "max_runtime_s": 3600.0,
        "max_cost_usd": 5.0, "started_at": 1_700_000_000.5, "last_activity": 1_700_000_100.25,
        "cost_per_hr": 0.39, "spend_usd": 0.01, "spend_at": 1_700_000_050.0,
        "status": "running", "key_fp": "abcd", "extra": {"note": "x"},
        "running_since": 1_700_000_010.0, "provision_timeout_s": 1200.0,
    }  # fmt: skip
    values.update(overrides)
    return TrackedRecord(**values)


class RecordStoreConformance:
    """Base class of the suite (not collected by itself: no ``Test`` prefix)."""

    def make_store(self, path: Path) -> RecordStore:
        raise NotImplementedError("return a RecordStore that keeps its records under `path`")

    def corrupt(self, store: RecordStore, compute_id: str) -> None:
        raise NotImplementedError("write a record for compute_id that cannot be read")

    async def settle(self, store: RecordStore) -> None:
        """Wait until writes are visible to another instance (write-behind stores)."""
        flush = getattr(store, "flush", None)
        if flush is not None:
            assert await flush(), "the store did not send its writes"

    # -- helpers ----------------------------------------------------------------------------
    def on_loop(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` on the runtime loop (awaited when it returns a coroutine)."""

        async def call() -> Any:
            result = fn()
            if asyncio.iscoroutine(result):
                return await result
            return result

        return get_runtime().run(call())

    def open(self, path: Path) -> RecordStore:
        store = self.make_store(path)
        self.on_loop(store.connect)
        self._opened.append(store)
        return store

    @pytest.fixture
    def store_path(self, tmp_path: Path) -> Path:
        return tmp_path / "tracked"

    @pytest.fixture
    def store(self, store_path: Path) -> Any:
        self._opened: list[RecordStore] = []
        yield self.open(store_path)
        for opened in self._opened:
            self.on_loop(opened.aclose)

    def reopened(self, store: RecordStore, path: Path) -> RecordStore:
        """A second instance over the same data, once the first one's writes landed."""
        self.on_loop(lambda: self.settle(store))
        return self.open(path)

    # -- the contract ------------------------------------------------------------------------
    def test_implements_the_interface(self, store: RecordStore) -> None:
        assert isinstance(store, RecordStore)
        assert isinstance(store.location, str) and isinstance(store.shared, bool)

    def test_an_empty_store_loads_nothing(self, store: RecordStore) -> None:
        assert self.on_loop(store.load) == {}
        assert self.on_loop(lambda: store.get("nope")) is None

    def test_a_record_round_trips_in_another_instance(
        self, store: RecordStore, store_path: Path
    ) -> None:
        self.on_loop(lambda: store.put(record()))
        assert self.on_loop(lambda: store.get("pod1")) == record()
        other = self.reopened(store, store_path)
        assert self.on_loop(other.load) == {"pod1": record()}

    def test_fields_of_a_newer_version_are_kept(self, store: RecordStore, store_path: Path) -> None:
        rec = TrackedRecord.from_dict({**record().to_dict(), "guard": "pod", "future": [1, 2]})
        self.on_loop(lambda: store.put(rec))
        self.on_loop(lambda: store.update("pod1", status="exited"))
        other = self.reopened(store, store_path)
        back = self.on_loop(lambda: other.get("pod1"))
        assert back is not None and back.status == "exited"
        assert back.to_dict()["guard"] == "pod" and back.to_dict()["future"] == [1, 2]

    def test_update_changes_the_given_fields_only(
        self, store: RecordStore, store_path: Path
    ) -> None:
        self.on_loop(lambda: store.put(record()))
        new = self.on_loop(lambda: store.update("pod1", status="exited", cost_per_hr=0.5))
        assert new is not None and (new.status, new.cost_per_hr) == ("exited", 0.5)
        other = self.reopened(store, store_path)
        back = self.on_loop(lambda: other.get("pod1"))
        assert back == record(status="exited", cost_per_hr=0.5)

    def test_update_of_an_untracked_id_is_none(self, store: RecordStore) -> None:
        assert self.on_loop(lambda: store.update("nope", status="x")) is None
        assert self.on_loop(store.load) == {}

    def test_activity_only_moves_forward(self, store: RecordStore, store_path: Path) -> None:
        self.on_loop(lambda: store.put(record(last_activity=100.0)))
        self.on_loop(lambda: store.merge_activity("pod1", 50.0))
        assert self.on_loop(lambda: store.get("pod1")).last_activity == 100.0
        self.on_loop(lambda: store.merge_activity("pod1", 150.0))
        other = self.reopened(store, store_path)
        assert self.on_loop(lambda: other.get("pod1")).last_activity == 150.0

    def test_a_put_keeps_a_later_touch(self, store: RecordStore, store_path: Path) -> None:
        self.on_loop(lambda: store.put(record(last_activity=100.0)))
        self.on_loop(lambda: store.merge_activity("pod1", 200.0))
        self.on_loop(lambda: store.put(record(last_activity=150.0, status="exited")))
        other = self.reopened(store, store_path)
        back = self.on_loop(lambda: other.get("pod1"))
        assert back is not None and (back.last_activity, back.status) == (200.0, "exited")

    def test_remove(self, store: RecordStore, store_path: Path) -> None:
        self.on_loop(lambda: store.put(record("a")))
        self.on_loop(lambda: store.put(record("b")))
        assert self.on_loop(lambda: store.remove("a")) is True
        assert self.on_loop(lambda: store.remove("a")) is False
        other = self.reopened(store, store_path)
        assert sorted(self.on_loop(other.load)) == ["b"]

    def test_a_termination_is_claimed_once(self, store: RecordStore, store_path: Path) -> None:
        self.on_loop(lambda: store.put(record()))
        self.on_loop(lambda: self.settle(store))
        other = self.open(store_path)

        async def both() -> list[Any]:
            return list(
                await asyncio.gather(
                    store.claim_termination("pod1", "max_runtime", by="a", last_activity=None),
                    other.claim_termination("pod1", "max_runtime", by="b", last_activity=None),
                )
            )

        outcomes = sorted(c.outcome for c in self.on_loop(both))
        assert outcomes == ["claimed", "resumed"]
        other = self.reopened(store, store_path)
        back = self.on_loop(lambda: other.get("pod1"))
        assert back is not None and back.terminating == "max_runtime"

    def test_a_claim_sees_a_newer_touch(self, store: RecordStore) -> None:
        self.on_loop(lambda: store.put(record(last_activity=100.0)))
        self.on_loop(lambda: store.merge_activity("pod1", 300.0))

        claim = self.on_loop(
            lambda: store.claim_termination("pod1", "idle_timeout", by="a", last_activity=200.0)
        )
        assert (claim.outcome, claim.last_activity) == ("touched", 300.0)
        assert self.on_loop(lambda: store.get("pod1")).terminating is None

    def test_a_claim_on_a_released_or_missing_record_does_nothing(self, store: RecordStore) -> None:
        self.on_loop(lambda: store.put(record(released=True)))
        released = self.on_loop(
            lambda: store.claim_termination("pod1", "max_runtime", by="a", last_activity=None)
        )
        gone = self.on_loop(
            lambda: store.claim_termination("nope", "max_runtime", by="a", last_activity=None)
        )
        assert (released.outcome, gone.outcome) == ("released", "gone")

    def test_a_corrupt_record_is_set_aside_and_the_others_kept(
        self, store: RecordStore, store_path: Path
    ) -> None:
        self.on_loop(lambda: store.put(record("good")))
        self.on_loop(lambda: self.settle(store))
        self.corrupt(store, "bad")
        fresh = self.open(store_path)
        assert sorted(self.on_loop(fresh.load)) == ["good"]
        assert [where for where, _ in fresh.quarantined] == [fresh.file_of("bad")]
        fresh.quarantined.clear()
        self.on_loop(lambda: self.settle(fresh))
        again = self.open(store_path)
        assert sorted(self.on_loop(again.load)) == ["good"] and again.quarantined == []
