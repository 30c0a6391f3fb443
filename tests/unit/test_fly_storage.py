"""Token storage: both backends pass the conformance suite; diskcache hardening (W-19)."""

import os
import pickle
import sqlite3
import stat
import warnings

import diskcache
import pytest

from atlas_nb.errors import ManualTokenStoreCorrupt, StorageError, TokenPersistError
from atlas_nb.fly.storage import DiskcacheTokenStorage, MemoryTokenStorage, TokenRecord
from atlas_nb.fly.storage.diskcache_store import JsonOnlyDisk, UnpicklingRefused
from atlas_nb.testing import TokenStorageConformance


class TestMemoryStorage(TokenStorageConformance):
    def make_storage(self, path):
        return MemoryTokenStorage()


class TestDiskcacheStorage(TokenStorageConformance):
    persistent = True

    def make_storage(self, path):
        return DiskcacheTokenStorage(path)


def modes(root):
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        out[dirpath] = stat.S_IMODE(os.stat(dirpath).st_mode)
        for f in files:
            p = os.path.join(dirpath, f)
            out[p] = stat.S_IMODE(os.stat(p).st_mode)
    return out


def test_private_dirs_and_files_even_with_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        store = DiskcacheTokenStorage(tmp_path / "tokens")
        store.put("web", "cached", TokenRecord("FlyV1 fm2_x", 2e9))
        store.put("web", "manual", TokenRecord("FlyV1 fm2_y"))
    finally:
        os.umask(old)
    found = modes(tmp_path / "tokens")
    assert found, "nothing was created"
    for path, mode in found.items():
        expected = 0o700 if os.path.isdir(path) else 0o600
        assert mode == expected, f"{path}: {oct(mode)}"
    assert {"cache.db"} <= set(os.listdir(tmp_path / "tokens" / "cached"))
    store.close()


def test_values_are_json_text_on_disk(tmp_path):
    store = DiskcacheTokenStorage(tmp_path / "tokens")
    store.put("web", "manual", TokenRecord("FlyV1 fm2_json", None))
    store.close()
    db = sqlite3.connect(tmp_path / "tokens" / "manual" / "cache.db")
    ((mode, value),) = db.execute("SELECT mode, value FROM Cache WHERE key = 'web'").fetchall()
    db.close()
    assert mode == diskcache.core.MODE_RAW
    assert value == '{"token":"FlyV1 fm2_json","expires_at":null}'


def test_a_planted_pickle_is_never_loaded(tmp_path):
    """Someone with write access plants a pickled value: it must not be unpickled."""
    store = DiskcacheTokenStorage(tmp_path / "tokens")
    store.put("web", "cached", TokenRecord("FlyV1 fm2_ok", 2e9))
    store.close()
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))  # unpickling would create the marker file

    evil = diskcache.Cache(str(tmp_path / "tokens" / "cached"))  # the default Disk pickles
    evil.set("web", {"token": "FlyV1 fm2_evil", "expires_at": 2e9, "x": Evil()})
    evil.close()
    fresh = DiskcacheTokenStorage(tmp_path / "tokens")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert fresh.get("web", "cached") is None  # refused, and the cached store is reset
    fresh.close()
    assert not marker.exists()

    disk = JsonOnlyDisk(str(tmp_path))
    with pytest.raises(UnpicklingRefused):
        disk.fetch(diskcache.core.MODE_PICKLE, None, pickle.dumps({"a": 1}), False)
    with pytest.raises(UnpicklingRefused):
        disk.get(pickle.dumps(("k",)), False)
    with pytest.raises(TypeError):
        disk.put(("tuple", "key"))


def test_a_planted_pickle_in_the_manual_store_is_reported(tmp_path):
    store = DiskcacheTokenStorage(tmp_path / "tokens")
    store.put("web", "manual", TokenRecord("FlyV1 fm2_ok"))
    store.close()
    evil = diskcache.Cache(str(tmp_path / "tokens" / "manual"))
    evil.set("web", ("not", "json"))
    evil.close()
    with pytest.raises(ManualTokenStoreCorrupt):
        DiskcacheTokenStorage(tmp_path / "tokens").get("web", "manual")


def test_corrupt_cached_store_is_recreated_with_a_warning(tmp_path):
    store = DiskcacheTokenStorage(tmp_path / "tokens")
    store.put("web", "cached", TokenRecord("FlyV1 fm2_x", 2e9))
    store.close()
    (tmp_path / "tokens" / "cached" / "cache.db").write_bytes(b"garbage" * 200)
    for extra in ("cache.db-wal", "cache.db-shm"):
        (tmp_path / "tokens" / "cached" / extra).unlink(missing_ok=True)
    fresh = DiskcacheTokenStorage(tmp_path / "tokens")
    with pytest.warns(RuntimeWarning, match="unreadable.*recreating"):
        assert fresh.get("web", "cached") is None
    fresh.put("web", "cached", TokenRecord("FlyV1 fm2_new", 2e9))
    assert fresh.get("web", "cached").token == "FlyV1 fm2_new"
    fresh.close()


def test_corrupt_manual_store_is_left_untouched_and_reported(tmp_path):
    store = DiskcacheTokenStorage(tmp_path / "tokens")
    store.put("web", "manual", TokenRecord("FlyV1 fm2_x"))
    store.close()
    db = tmp_path / "tokens" / "manual" / "cache.db"
    for extra in ("cache.db-wal", "cache.db-shm"):
        (tmp_path / "tokens" / "manual" / extra).unlink(missing_ok=True)
    db.write_bytes(b"garbage" * 200)
    fresh = DiskcacheTokenStorage(tmp_path / "tokens")
    with pytest.raises(ManualTokenStoreCorrupt) as info:
        fresh.get("web", "manual")
    assert str(db.parent) in str(info.value) and info.value.path == str(db.parent)
    assert db.read_bytes() == b"garbage" * 200  # untouched
    with pytest.raises(TokenPersistError, match="could not save the manual token"):
        fresh.put("web", "manual", TokenRecord("FlyV1 fm2_new"))
    assert db.read_bytes() == b"garbage" * 200
    # the cached side keeps working
    fresh.put("web", "cached", TokenRecord("FlyV1 fm2_c", 2e9))
    assert fresh.get("web", "cached").token == "FlyV1 fm2_c"
    fresh.close()


def test_unwritable_path_falls_back_to_a_private_temp_dir(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.warns(RuntimeWarning, match="cannot use .*a-file/store"):
        store = DiskcacheTokenStorage(blocker / "store")
    assert not str(store.root).startswith(str(blocker))
    assert stat.S_IMODE(os.stat(store.root).st_mode) == 0o700
    store.put("web", "manual", TokenRecord("FlyV1 fm2_x"))
    assert store.get("web", "manual").token == "FlyV1 fm2_x"
    store.delete("web", "manual")
    store.close()


def test_default_location_comes_from_settings(tmp_path):
    import atlas_nb as atlas

    atlas.configure(data_dir=str(tmp_path / "data"))
    assert DiskcacheTokenStorage().root == tmp_path / "data" / "fly_tokens"
    atlas.configure(fly_token_storage_path=str(tmp_path / "explicit"))
    assert DiskcacheTokenStorage().root == tmp_path / "explicit"


def test_failing_memory_store_raises_on_put():
    store = MemoryTokenStorage(fail_writes=True)
    with pytest.raises(OSError, match="simulated storage outage"):
        store.put("web", "manual", TokenRecord("FlyV1 fm2_x"))


def test_records_validate_and_hide_the_token():
    rec = TokenRecord("FlyV1 fm2_supersecretvalue", 5.0)
    assert "supersecret" not in repr(rec)
    for bad in (
        {},
        {"token": ""},
        {"token": "x", "expires_at": "soon"},
        [],
        {"token": "x", "expires_at": float("nan")},
        {"token": "x", "expires_at": True},
    ):
        with pytest.raises(ValueError):
            TokenRecord.from_json(bad)


def test_a_locked_store_is_retried_then_reported_and_never_deleted(tmp_path):
    store = DiskcacheTokenStorage(tmp_path / "tokens", busy_timeout_s=0.05)
    store.put("web", "cached", TokenRecord("FlyV1 fm2_keep", 2e9))
    db = tmp_path / "tokens" / "cached" / "cache.db"
    holder = sqlite3.connect(db, isolation_level=None)  # another process, mid-write
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match="locked by another process") as info:
            store.put("web", "cached", TokenRecord("FlyV1 fm2_other", 2e9))
        assert "nothing was deleted" in str(info.value) and info.value.kind == "provider"
        assert db.exists()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.get("web", "cached").token == "FlyV1 fm2_keep"  # nothing was lost
    store.put("web", "cached", TokenRecord("FlyV1 fm2_new", 2e9))  # and it works again
    store.close()


def _sqlite_error(cls, text, code=None):
    exc = cls(text)
    if code is not None:
        exc.sqlite_errorcode = code
    return exc


@pytest.mark.parametrize(
    ("exc", "corrupt", "busy"),
    [
        (_sqlite_error(sqlite3.DatabaseError, "file is not a database", 26), True, False),
        (_sqlite_error(sqlite3.DatabaseError, "database disk image is malformed", 11), True, False),
        (_sqlite_error(sqlite3.DatabaseError, "file is not a database"), True, False),
        (_sqlite_error(sqlite3.OperationalError, "database is locked", 5), False, True),
        (_sqlite_error(sqlite3.OperationalError, "database table is locked", 6), False, True),
        (_sqlite_error(sqlite3.OperationalError, "database is locked"), False, True),
        (_sqlite_error(sqlite3.OperationalError, "disk I/O error", 10), False, False),
        (_sqlite_error(sqlite3.OperationalError, "disk I/O error", 10 | (3 << 8)), False, False),
        (_sqlite_error(sqlite3.OperationalError, "database or disk is full", 13), False, False),
        (_sqlite_error(sqlite3.OperationalError, "unable to open database file", 14), False, False),
        (
            _sqlite_error(sqlite3.OperationalError, "attempt to write a readonly database"),
            False,
            False,
        ),
        (diskcache.Timeout("busy"), False, True),
        (UnpicklingRefused("pickle"), True, False),
        (ValueError("stored token has no token text"), True, False),
        (OSError(28, "No space left on device"), False, False),
    ],
)
def test_only_real_corruption_counts_as_corruption(exc, corrupt, busy):
    from atlas_nb.fly.storage.diskcache_store import is_busy, is_corrupt

    assert (is_corrupt(exc), is_busy(exc)) == (corrupt, busy)


def test_an_io_error_is_a_storage_error_not_corruption(tmp_path):
    store = DiskcacheTokenStorage(tmp_path / "tokens")
    store.put("web", "cached", TokenRecord("FlyV1 fm2_x", 2e9))
    store.close()
    cached = tmp_path / "tokens" / "cached"
    for name in os.listdir(cached):
        os.unlink(cached / name)
    (cached / "cache.db").mkdir()  # unopenable as a database file
    (cached / "cache.db" / "someone-elses").write_text("keep me")
    fresh = DiskcacheTokenStorage(tmp_path / "tokens")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "recreating it" warning: nothing is recreated
        with pytest.raises(StorageError, match="could not open the cached Fly token store"):
            fresh.get("web", "cached")
    assert (cached / "cache.db" / "someone-elses").read_text() == "keep me"
    fresh.close()


def test_a_symlinked_manual_token_dir_is_a_clear_storage_error(tmp_path):
    root = tmp_path / "tokens"
    DiskcacheTokenStorage(root).close()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "manual").rmdir() if (root / "manual").exists() else None
    (root / "manual").symlink_to(elsewhere)
    store = DiskcacheTokenStorage(root)
    with pytest.raises(StorageError, match="not a plain directory") as info:
        store.get("web", "manual")
    assert "not a symlink" in str(info.value)
    with pytest.raises(TokenPersistError, match="could not save the manual token"):
        store.put("web", "manual", TokenRecord("FlyV1 fm2_x"))
    assert list(elsewhere.iterdir()) == []  # nothing written through the link
    store.close()
