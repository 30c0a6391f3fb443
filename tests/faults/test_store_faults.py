"""The tracked store misbehaving: corrupt records, a held lock, a full or read-only disk.

Whatever the store does, every healthy record keeps being guarded and no limit is dropped.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
from pathlib import Path

import pytest

import atlas_nb as atlas
from atlas_nb._runtime import get_runtime
from atlas_nb.errors import TrackedStoreError, ValidationError
from atlas_nb.orchestrator.api import supervisor
from atlas_nb.orchestrator.state import FileOps, TrackedRecord, TrackStore
from atlas_nb.providers.mock import MockProvider
from tests.helpers.waiting import eventually


def tracked_dir() -> Path:
    return atlas.settings().data_dir / "tracked"


def phase(compute_id: str) -> str:
    return MockProvider._store.computes[compute_id].phase


def running_pod(**limits):
    pod = atlas.spawn(provider="mock", gpu="l4", image="x", **limits)
    pod.wait_until_running(timeout=10)
    return pod


def record(**kw) -> dict:
    base = {
        "id": "bad1",
        "provider": "mock",
        "idle_ttl_s": 60.0,
        "started_at": 1.0,
        "last_activity": 1.0,
    }
    return {**base, **kw}


CORRUPT = {
    "a JSON list": "[]",
    "an empty file": "",
    "truncated JSON": '{"id": "bad1", "provid',
    "started_at as a naive string": json.dumps(record(started_at="2024-05-01T10:00:00")),
    "started_at not a time": json.dumps(record(started_at="yesterday")),
    "idle_ttl_s NaN": json.dumps(record(idle_ttl_s=float("nan"))),
    "idle_ttl_s negative": json.dumps(record(idle_ttl_s=-5)),
    "released as a string": json.dumps(record(released="no")),
    "no id": json.dumps({"provider": "mock"}),
    "last_activity a bool": json.dumps(record(last_activity=True)),
}


@pytest.mark.parametrize("text", list(CORRUPT.values()), ids=list(CORRUPT))
def test_a_corrupt_record_is_quarantined_and_the_others_keep_being_guarded(text):
    atlas.tracked()  # the supervisor runs
    tracked_dir().mkdir(parents=True, exist_ok=True)
    (tracked_dir() / "bad1.json").write_text(text)
    with atlas.events() as sub:
        pod = running_pod(idle_ttl=0.5)
        kinds = []
        for event in sub:
            kinds.append((event.compute_id, event.kind))
            if event.compute_id == pod.id and event.kind == "terminated":
                break
    assert ("bad1", "store_error") in kinds and kinds.count(("bad1", "store_error")) == 1
    assert phase(pod.id) == "terminated"
    moved = list((tracked_dir() / "quarantine").glob("bad1.*.json"))
    assert len(moved) == 1 and moved[0].read_text() == text
    assert "bad1.json" in moved[0].with_suffix(".reason.txt").read_text()
    assert not (tracked_dir() / "bad1.json").exists()
    assert atlas.tracked().empty  # tracked(), touch() and the supervisor all still work


def test_a_timezone_aware_iso_time_is_accepted():
    rec = TrackedRecord.from_dict(record(started_at="2024-05-01T10:00:00+00:00"))
    assert rec.started_at == 1714557600.0


def test_fields_from_a_newer_schema_survive_a_rewrite(tmp_path):
    store = TrackStore(tmp_path / "tracked")
    store.put(TrackedRecord(id="p1", provider="mock", started_at=1.0, last_activity=1.0))
    path = tmp_path / "tracked" / "p1.json"
    data = json.loads(path.read_text())
    data["replicas"] = 123.0
    data["placement"] = {"kind": "pod"}
    path.write_text(json.dumps(data))
    store.update("p1", status="running")
    again = json.loads(path.read_text())
    assert again["status"] == "running"
    assert again["replicas"] == 123.0 and again["placement"] == {"kind": "pod"}


def test_a_record_naming_code_on_disk_is_never_imported(tmp_path):
    marker = tmp_path / "imported"
    module = tmp_path / "evil_provider_mod.py"
    module.write_text(f"open({str(marker)!r}, 'w').write('x')\nclass P: pass\n")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        sup = supervisor()
        rec = TrackedRecord(id="x1", provider="evil_provider_mod:P", started_at=1.0)
        with pytest.raises(ValidationError, match="never imported"):
            sup.provider_for(rec)
    finally:
        sys.path.remove(str(tmp_path))
    assert not marker.exists()


def test_the_tracked_dir_is_private_and_a_symlink_is_refused(tmp_path):
    store = TrackStore(tmp_path / "tracked")
    store.put(TrackedRecord(id="p1", provider="mock", started_at=1.0))
    assert (tmp_path / "tracked").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "tracked" / "p1.json").stat().st_mode & 0o777 == 0o600
    os.chmod(tmp_path / "tracked", 0o755)
    store.load()
    assert (tmp_path / "tracked").stat().st_mode & 0o777 == 0o700  # made private again
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "linked").symlink_to(elsewhere)
    with pytest.raises(TrackedStoreError, match="symlink"):
        TrackStore(tmp_path / "linked").put(TrackedRecord(id="p2", provider="mock"))
    assert list(elsewhere.iterdir()) == []


def test_a_tracked_path_that_is_a_file_gives_a_clear_error():
    atlas.settings().data_dir.mkdir(parents=True, exist_ok=True)
    tracked_dir().write_text("not a directory")
    pod = atlas.spawn(provider="mock", gpu="l4", image="x")
    with pytest.raises(TrackedStoreError, match="not a directory") as info:
        atlas.track(pod, idle_ttl="1h")
    assert "Move it aside" in str(info.value)  # never a raw FileExistsError
    assert not isinstance(info.value, FileExistsError)


class FailingOps(FileOps):
    """Real file operations, except that writes fail with ``error`` while ``failing`` is set."""

    def __init__(self, error: int) -> None:
        self.error = error
        self.failing = threading.Event()
        self.failures = 0

    def write_durably(self, path: Path, payload: bytes) -> None:
        if self.failing.is_set():
            self.failures += 1
            raise OSError(self.error, os.strerror(self.error), str(path))
        super().write_durably(path, payload)

    def unlink(self, path: Path) -> None:
        if self.failing.is_set():
            raise OSError(self.error, os.strerror(self.error), str(path))
        super().unlink(path)


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS], ids=["disk full", "read-only"])
def test_a_failing_store_write_never_drops_the_limit(error):
    pod = running_pod(idle_ttl="1h")
    sup = supervisor()
    ops = FailingOps(error)
    sup.store.ops = ops
    ops.failing.set()
    with atlas.events(pod.id) as sub:
        atlas.track(pod, idle_ttl=0.5)  # the new limit cannot be saved: guarded in memory
        seen = []
        for event in sub:
            seen.append(event)
            if event.kind == "terminated":
                break
    assert phase(pod.id) == "terminated"
    errors = [e for e in seen if e.kind == "store_error"]
    assert errors and errno.errorcode[error] in errors[0].data["error"]
    assert ops.failures >= 1
    ops.failing.clear()  # the disk recovers: the stale file is removed by a retry
    eventually(lambda: not (tracked_dir() / f"{pod.id}.json").exists())


def test_a_store_write_failing_for_a_tracked_spawn_keeps_the_pod_guarded():
    atlas.tracked()
    ops = FailingOps(errno.ENOSPC)
    supervisor().store.ops = ops
    ops.failing.set()
    with atlas.events() as sub:
        pod = atlas.spawn(provider="mock", gpu="l4", image="x", max_runtime=0.5)
        for event in sub:
            if event.compute_id == pod.id and event.kind == "terminated":
                break
    assert phase(pod.id) == "terminated" and ops.failures >= 1


def hold_lock(path: Path, seconds: float, held: threading.Event) -> None:
    fd = os.open(path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.set()
        time.sleep(seconds)
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def test_a_lock_held_across_the_trigger_delays_but_never_drops_the_termination():
    pod = running_pod(idle_ttl=0.3)
    held = threading.Event()
    holder = threading.Thread(target=hold_lock, args=(tracked_dir(), 1.5, held))
    with atlas.events(pod.id) as sub:
        holder.start()
        held.wait(5)
        kinds = []
        for event in sub:
            kinds.append(event.kind)
            if event.kind == "terminated":
                break
    holder.join()
    assert phase(pod.id) == "terminated"
    assert "terminating" in kinds
    eventually(lambda: not (tracked_dir() / f"{pod.id}.json").exists())


def test_remove_takes_the_lock(tmp_path):
    store = TrackStore(tmp_path / "tracked")
    store.put(TrackedRecord(id="p1", provider="mock"))
    held = threading.Event()
    holder = threading.Thread(target=hold_lock, args=(tmp_path / "tracked", 1.0, held))
    holder.start()
    held.wait(5)
    with pytest.raises(TrackedStoreError, match="locked by another process"):
        store.remove("p1")
    holder.join()
    assert store.remove("p1") is True


def test_a_store_that_cannot_be_listed_does_not_stop_the_supervisor():
    pod = running_pod(idle_ttl=0.5)
    sup = supervisor()

    async def break_the_dir():
        tracked_dir().rename(tracked_dir().with_name("tracked-moved"))
        tracked_dir().write_text("now a file")  # every load now fails
        sup.sync_from_store()

    get_runtime().run(break_the_dir())
    eventually(lambda: phase(pod.id) == "terminated")


def test_a_record_corrupted_mid_run_is_restored_from_memory_and_still_enforced():
    pod = running_pod(idle_ttl="1h")
    path = tracked_dir() / f"{pod.id}.json"
    with atlas.events(pod.id) as sub:
        path.write_text('{"id": ')  # corrupted under the running supervisor
        assert pod.id in set(atlas.tracked()["id"])  # quarantined, restored, still listed
        assert json.loads(path.read_text())["id"] == pod.id
        atlas.track(pod, idle_ttl=0.5)  # and the limit then tightened from this kernel
        seen = []
        for event in sub:
            seen.append(event)
            if event.kind == "terminated":
                break
    quarantined = [e for e in seen if e.kind == "store_error" and e.data["action"] == "quarantine"]
    assert phase(pod.id) == "terminated"
    assert len(quarantined) == 1 and quarantined[0].data["restored"] is True


def test_an_unusable_tracked_dir_is_a_clear_error_in_tracked_and_the_cli(capsys):
    from atlas_nb.cli import main

    atlas.settings().data_dir.mkdir(parents=True, exist_ok=True)
    tracked_dir().write_text("not a directory")
    with pytest.raises(TrackedStoreError, match="not a directory"):
        atlas.tracked()
    assert main(["reap", "--providers", "mock"]) != 0
    captured = capsys.readouterr()
    assert "not a directory" in captured.err + captured.out
    assert "Traceback" not in captured.err


def _random_json(rng, depth=0):
    kinds = ["null", "bool", "int", "float", "str"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.randint(-(10**12), 10**12)
    if kind == "float":
        return rng.choice([rng.uniform(-1e9, 1e9), float("inf"), float("nan"), 0.0])
    if kind == "str":
        return rng.choice(["", "mock", "2024-01-01T00:00:00", "2024-01-01T00:00:00+00:00", "x"])
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = [f.name for f in __import__("dataclasses").fields(TrackedRecord)] + ["future_field"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 12))}


def test_any_json_either_loads_as_a_valid_record_or_raises_tracked_store_error():
    import math
    import random

    rng = random.Random(12)
    loaded = 0
    for _ in range(3000):
        value = _random_json(rng)
        if isinstance(value, dict) and rng.random() < 0.7:
            value = {"id": "p", "provider": "mock", **value}
        try:
            rec = TrackedRecord.from_dict(value)
        except TrackedStoreError:
            continue
        loaded += 1
        for key in ("started_at", "last_activity", "spend_at", "spend_usd"):
            assert math.isfinite(getattr(rec, key))
        for key in ("idle_ttl_s", "max_runtime_s", "max_cost_usd", "provision_timeout_s"):
            value = getattr(rec, key)
            assert value is None or (math.isfinite(value) and value > 0)
        assert isinstance(rec.id, str) and rec.id and isinstance(rec.released, bool)
        json.dumps(rec.to_dict())  # and it can be written back
    assert loaded > 20  # the table reached valid records too, not only refusals


def test_providers_resolve_by_registered_name_or_entry_point(tmp_path, monkeypatch):
    from atlas_nb.providers import registry

    (tmp_path / "ep_provider_mod.py").write_text(
        "from atlas_nb.providers.mock import MockProvider\n"
        "class EntryPointProvider(MockProvider):\n    name = 'viaentry'\n"
    )
    dist = tmp_path / "ep_provider-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-provider\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[atlas_nb.providers]\nviaentry = ep_provider_mod:EntryPointProvider\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_registered", {})
    cls = registry.resolve_provider_class("viaentry")
    assert cls.__name__ == "EntryPointProvider" and registry.registered_name(cls) == "viaentry"

    class Registered(MockProvider):
        name = "registered1"

    with pytest.raises(ValidationError, match="unknown provider"):
        registry.resolve_provider_class("registered1")
    atlas.register_provider(Registered)
    assert registry.resolve_provider_class("registered1") is Registered
    with pytest.raises(ValidationError, match="cannot register"):
        atlas.register_provider(Registered, name="mock")  # a built-in name is never taken


def test_a_retried_write_keeps_a_touch_made_meanwhile_by_another_process(tmp_path):
    store = TrackStore(tmp_path / "tracked")
    mine = TrackedRecord(id="p1", provider="mock", started_at=1.0, last_activity=10.0)
    store.put(mine)
    store.merge_activity("p1", 50.0)  # another kernel touched it
    mine.status = "running"
    store.put(mine)  # this kernel's delayed write (e.g. retried after ENOSPC)
    assert store.get("p1").last_activity == 50.0 and store.get("p1").status == "running"
