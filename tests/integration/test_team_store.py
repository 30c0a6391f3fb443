"""A team on one real redis-server: shared records, one enforcer, failover, Redis restarts."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
import redis

import atlas_nb as atlas
from atlas_nb.errors import StoreUnavailableError, ValidationError
from atlas_nb.models import Compute
from atlas_nb.orchestrator.api import supervisor
from atlas_nb.orchestrator.state import TrackedRecord
from tests.helpers.redis_server import REDIS_PASSWORD, free_port
from tests.helpers.team import Kernel
from tests.helpers.waiting import eventually

LEASE_TTL_S, LEASE_RENEW_S, HEARTBEAT_S = 3.0, 0.25, 0.25


@pytest.fixture
def sandbox():
    with atlas.sandbox.start(speed=50) as sb:
        yield sb
    atlas.shutdown()


@pytest.fixture
def kernels(sandbox, own_redis, tmp_path):
    """``kernels(owner)``: a new kernel process on the sandbox and this test's Redis."""
    started: list[Kernel] = []

    def start(owner: str) -> Kernel:
        settings = {
            "store": own_redis.url, "urls": sandbox.urls, "api_keys": sandbox.api_keys,
            "data_dir": str(tmp_path / owner), "owner": owner, "heartbeat_s": HEARTBEAT_S,
            "lease_ttl_s": LEASE_TTL_S, "lease_renew_s": LEASE_RENEW_S,
        }  # fmt: skip
        started.append(Kernel(settings))
        started[-1].wait_for("ready")
        return started[-1]

    yield start
    for kernel in started:
        kernel.close()


def runpod_status(compute_id: str) -> str | None:
    df = atlas.computes(provider="runpod")
    return dict(zip(df["id"], df["status"], strict=True)).get(compute_id)


def test_two_kernels_share_records_one_enforces_and_the_other_takes_over(kernels):
    alice = kernels("alice0001")
    alice.wait_for("lease", lease=True)
    bob = kernels("bob000001")
    pod_a = alice.ask("spawned", op="spawn", n=1)["spawned"][0]
    pod_b = bob.ask("spawned", op="spawn", n=1)["spawned"][0]

    # both see both, each with its owner
    for k in (alice, bob):
        seen = eventually(lambda k=k: _tracked(k, {pod_a, pod_b}), timeout=30)
        assert seen == {pod_a: "alice0001", pod_b: "bob000001"}
    assert not any(line.get("lease") for line in bob.lines)  # bob observes

    # a touch in bob's kernel reaches the enforcer
    bob.ask("touched", op="touch", id=pod_a)
    seen = alice.wait_for("touch_seen", touch_seen=pod_a)
    assert seen["enforcing"] is True

    # a limit comes due while the enforcer is dead: bob takes over and enforces it, once
    pod_due = bob.ask("spawned", op="spawn", n=1, max_runtime=3)["spawned"][0]
    alice.kill()
    killed_at = time.time()
    took = bob.wait_for("lease", lease=True)
    assert took["at"] - killed_at <= LEASE_TTL_S + HEARTBEAT_S + 1.0  # + process scheduling
    bob.wait_for("event", event="terminated", id=pod_due)
    firsts = [ln for ln in bob.lines if ln.get("event") == "terminating" and ln["id"] == pod_due]
    assert [ln["resumed"] for ln in firsts] == [False]
    assert eventually(lambda: runpod_status(pod_due) in (None, "terminated"), timeout=30)
    assert {pod_a, pod_b} <= set(_tracked(bob, {pod_a, pod_b}) or {})  # nothing else went


def _tracked(kernel: Kernel, wanted: set[str]) -> dict[str, str] | None:
    rows = dict(kernel.ask("tracked", op="tracked")["tracked"])
    return rows if wanted <= set(rows) else None


def test_a_claim_left_by_a_dead_enforcer_is_resumed_not_repeated(kernels, own_redis):
    alice = kernels("alice0001")
    alice.wait_for("lease", lease=True)
    bob = kernels("bob000001")
    pod = alice.ask("spawned", op="spawn", n=1)["spawned"][0]
    # alice claims the termination (as she would at the limit), then dies before finishing
    raw = redis.Redis.from_url(own_redis.url)
    eventually(lambda: raw.sismember("atlas_nb:ids", pod), timeout=30)
    alice.kill()
    raw.set(f"atlas_nb:claim:{pod}", "alice-dead-holder")
    raw.hset(f"atlas_nb:rec:{pod}", "terminating", '"max_runtime"')
    raw.incr("atlas_nb:rev")
    bob.wait_for("lease", lease=True)
    bob.wait_for("event", event="terminated", id=pod)
    terminating = [ln for ln in bob.lines if ln.get("event") == "terminating" and ln["id"] == pod]
    assert [ln["resumed"] for ln in terminating] == [True]
    raw.close()


@pytest.fixture
def team(sandbox, own_redis, tmp_path):
    """This process as a kernel of the team (store = this test's Redis)."""
    atlas.configure(
        store=own_redis.url, owner="carol0001", heartbeat_s=0.25, reaper_enabled=False,
        data_dir=tmp_path / "carol",
    )  # fmt: skip
    yield own_redis
    atlas.shutdown()  # while Redis still runs


def test_redis_restarted_mid_run_loses_nothing(team, sandbox):
    keep = [atlas.spawn(provider="runpod", gpu="rtx_4090", image="x", idle_ttl="1h") for _ in "ab"]
    sup = supervisor()
    eventually(lambda: sup.enforcing, timeout=30)
    raw = redis.Redis.from_url(team.url)
    eventually(lambda: raw.scard("atlas_nb:ids") == 2, timeout=30)
    before = float(raw.hget(f"atlas_nb:rec:{keep[0].id}", "last_activity"))
    with atlas.events() as events:
        team.stop()
        # while Redis is away: a new compute is tracked, with a limit due soon, and touched
        due = atlas.spawn(  # the client guard: the team's enforcer, not the pod, ends it
            provider="runpod", gpu="rtx_4090", image="x", idle_ttl="1h", max_runtime=2,
            guard="client",
        )  # fmt: skip
        atlas.touch(keep[0].id)
        assert {due.id, *(p.id for p in keep)} <= set(atlas.tracked()["id"])
        eventually(lambda: sup.last_error and "store" in sup.last_error, timeout=30)
        team.start()  # same port, same dir (appendonly): what was written is back
        kinds = Counter()
        for event in events:
            if event.compute_id == due.id:
                kinds[event.kind] += 1
                if event.kind == "terminated":
                    break
    assert kinds["terminating"] == 1
    ids = eventually(lambda: {m.decode() for m in raw.smembers("atlas_nb:ids")} or None)
    assert ids == {p.id for p in keep}  # the due one is gone, nothing else lost
    touched = float(raw.hget(f"atlas_nb:rec:{keep[0].id}", "last_activity"))
    assert touched > before  # the touch made while Redis was away reached it
    raw.close()


def test_redis_down_at_start_is_a_clear_error_and_the_local_store_is_untouched(sandbox, tmp_path):
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    atlas.configure(store=url, data_dir=tmp_path / "data", owner="dave00001")
    with pytest.raises(StoreUnavailableError) as err:
        atlas.spawn(provider="runpod", gpu="rtx_4090", image="x", idle_ttl="1h")
    assert "127.0.0.1" in str(err.value) and REDIS_PASSWORD not in str(err.value)
    with pytest.raises(StoreUnavailableError):
        atlas.tracked()
    assert not (tmp_path / "data" / "tracked").exists()
    assert atlas.computes(provider="runpod").empty  # nothing was spawned


def _erins_pod(team) -> tuple[Compute, redis.Redis]:
    """A pod another kernel (erin's) tracked: her record, as her store wrote it, adopted here."""
    pod = atlas.spawn(provider="runpod", gpu="rtx_4090", image="x", track=False)
    raw = redis.Redis.from_url(team.url)
    erin = TrackedRecord(id=pod.id, provider="runpod", owner="erin00001", idle_ttl_s=3600.0,
                         started_at=time.time(), last_activity=time.time())  # fmt: skip
    raw.hset(
        f"atlas_nb:rec:{pod.id}", mapping={k: json.dumps(v) for k, v in erin.to_dict().items()}
    )
    raw.sadd("atlas_nb:ids", pod.id)
    raw.incr("atlas_nb:rev")
    atlas.tracked()  # this kernel's supervisor runs and watches the store
    sup = supervisor()
    eventually(lambda: pod.id in sup.records, timeout=30)  # adopted at a heartbeat
    return pod, raw


def test_another_owners_compute_needs_allow_destructive_and_is_recorded(team, sandbox):
    mine = atlas.spawn(provider="runpod", gpu="rtx_4090", image="x", idle_ttl="1h")
    pod, raw = _erins_pod(team)
    assert atlas.tracked(owner="me")["id"].tolist() == [mine.id]
    assert set(atlas.tracked()["owner"]) == {"carol0001", "erin00001"}
    assert atlas.tracked(owner="erin00001")["id"].tolist() == [pod.id]
    with pytest.raises(ValidationError, match="allow_destructive=True"):
        atlas.untrack(pod.id, terminate=True)
    with atlas.events(pod.id) as events:
        atlas.untrack(pod.id, terminate=True, allow_destructive=True)
        action = next(e for e in events if e.kind == "action")
    assert action.data == {"action": "terminate", "by": "carol0001", "owner": "erin00001"}
    entries = raw.xrange("atlas_nb:events")
    recorded = [f for _, f in entries if f[b"kind"] == b"action"]
    assert recorded and b"carol0001" in recorded[-1][b"data"]
    raw.close()


def test_atlas_stop_and_terminate_refuse_another_owners_compute(team, sandbox):
    pod, raw = _erins_pod(team)
    for refused in (lambda: atlas.stop(pod.id), lambda: atlas.terminate(pod.id), pod.terminate):
        with pytest.raises(ValidationError, match="belongs to erin00001"):
            refused()
    assert pod.id in set(atlas.computes(provider="runpod")["id"])  # nothing was done to it
    with atlas.events(pod.id) as events:
        pod.terminate(allow_destructive=True)
        action = next(e for e in events if e.kind == "action")
    assert action.data == {"action": "terminate", "by": "carol0001", "owner": "erin00001"}
    assert pod.id not in set(atlas.computes(provider="runpod")["id"])
    assert pod.id not in set(atlas.tracked()["id"])
    raw.close()
