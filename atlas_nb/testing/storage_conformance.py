"""The token storage conformance suite: prove any Fly token store against the protocol.

Subclass it in a test module, name the subclass ``Test...`` and say how to build the store::

    from atlas_nb.testing import TokenStorageConformance

    class TestMyStore(TokenStorageConformance):
        persistent = True                      # data survives close() + a new instance

        def make_storage(self, path):          # path: a fresh, empty directory
            return MyStore(path)

The built-in backends (``MemoryTokenStorage``, ``DiskcacheTokenStorage``, and
``RedisTokenStorage`` against a real redis-server) pass it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest

from atlas_nb.fly.storage.base import TokenRecord, TokenStorage


class TokenStorageConformance:
    """Base class of the suite (not collected by itself: no ``Test`` prefix)."""

    #: True when a new instance over the same ``path`` sees what an earlier one stored
    persistent: ClassVar[bool] = False

    def make_storage(self, path: Path) -> TokenStorage:
        raise NotImplementedError("return a TokenStorage that keeps its data under `path`")

    @pytest.fixture
    def store_path(self, tmp_path: Path) -> Path:
        path = tmp_path / "token-store"
        return path

    @pytest.fixture
    def storage(self, store_path: Path) -> Any:
        store = self.make_storage(store_path)
        yield store
        store.close()

    # -- the contract ------------------------------------------------------------------------
    def test_implements_the_protocol(self, storage: TokenStorage) -> None:
        assert isinstance(storage, TokenStorage)
        assert isinstance(storage.location, str) and storage.location

    def test_get_of_nothing_is_none(self, storage: TokenStorage) -> None:
        assert storage.get("web", "cached") is None
        assert storage.get("web", "manual") is None

    def test_cached_round_trip_keeps_the_expiry(self, storage: TokenStorage) -> None:
        rec = TokenRecord("FlyV1 fm2_cached", 1_900_000_000.5)
        storage.put("web", "cached", rec)
        assert storage.get("web", "cached") == rec

    def test_manual_round_trip_has_no_expiry(self, storage: TokenStorage) -> None:
        storage.put("web", "manual", TokenRecord("FlyV1 fm2_manual"))
        got = storage.get("web", "manual")
        assert got is not None and got.token == "FlyV1 fm2_manual" and got.expires_at is None

    def test_put_overwrites(self, storage: TokenStorage) -> None:
        storage.put("web", "cached", TokenRecord("FlyV1 fm2_one", 1.0e9))
        storage.put("web", "cached", TokenRecord("FlyV1 fm2_two", 2.0e9))
        assert storage.get("web", "cached") == TokenRecord("FlyV1 fm2_two", 2.0e9)

    def test_delete_and_delete_of_nothing(self, storage: TokenStorage) -> None:
        storage.put("web", "cached", TokenRecord("FlyV1 fm2_x", 2e9))
        storage.delete("web", "cached")
        assert storage.get("web", "cached") is None
        storage.delete("web", "cached")  # absent: fine
        storage.delete("never-seen", "manual")

    def test_kinds_are_independent(self, storage: TokenStorage) -> None:
        storage.put("web", "cached", TokenRecord("FlyV1 fm2_c", 2e9))
        storage.put("web", "manual", TokenRecord("FlyV1 fm2_m"))
        storage.delete("web", "cached")
        assert storage.get("web", "cached") is None
        assert storage.get("web", "manual") == TokenRecord("FlyV1 fm2_m")

    def test_apps_are_independent(self, storage: TokenStorage) -> None:
        storage.put("web", "cached", TokenRecord("FlyV1 fm2_web", 2e9))
        storage.put("worker", "cached", TokenRecord("FlyV1 fm2_worker", 3e9))
        storage.delete("web", "cached")
        assert storage.get("worker", "cached") == TokenRecord("FlyV1 fm2_worker", 3e9)

    @pytest.mark.parametrize("app", ["a", "my-app-ünïcode", "with/slash", "x" * 200, "1234"])
    def test_any_app_name(self, storage: TokenStorage, app: str) -> None:
        storage.put(app, "manual", TokenRecord("FlyV1 fm2_z"))
        assert storage.get(app, "manual") == TokenRecord("FlyV1 fm2_z")

    @pytest.mark.parametrize("kind", ["", "Cached", "other", None])
    def test_unknown_kinds_are_refused(self, storage: TokenStorage, kind: Any) -> None:
        with pytest.raises(ValueError):
            storage.get("web", kind)
        with pytest.raises(ValueError):
            storage.put("web", kind, TokenRecord("FlyV1 fm2_z"))

    def test_concurrent_writers(self, storage: TokenStorage) -> None:
        errors: list[BaseException] = []

        def writer(n: int) -> None:
            try:
                for i in range(20):
                    storage.put(f"app-{n}", "cached", TokenRecord(f"FlyV1 fm2_{n}x{i}", 2e9 + i))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for n in range(6):
            assert storage.get(f"app-{n}", "cached") == TokenRecord(f"FlyV1 fm2_{n}x19", 2e9 + 19)

    def test_survives_a_new_instance(self, store_path: Path) -> None:
        if not self.persistent:
            pytest.skip("this store is not persistent")
        first = self.make_storage(store_path)
        first.put("web", "manual", TokenRecord("FlyV1 fm2_kept"))
        first.put("web", "cached", TokenRecord("FlyV1 fm2_c", 2e9))
        first.close()
        second = self.make_storage(store_path)
        try:
            assert second.get("web", "manual") == TokenRecord("FlyV1 fm2_kept")
            assert second.get("web", "cached") == TokenRecord("FlyV1 fm2_c", 2e9)
        finally:
            second.close()
