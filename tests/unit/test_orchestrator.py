"""Tracked computes: idle TTL, deadlines, cost caps, touch, failures, adoption, the reaper."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import atlas_nb as atlas
from atlas_nb.errors import NotFoundError, TransportError, ValidationError
from atlas_nb.orchestrator.limits import Deadline, next_deadline, spend_at
from atlas_nb.orchestrator.reaper import decide
from atlas_nb.orchestrator.state import TrackedRecord
from atlas_nb.orchestrator.supervisor import Supervisor
from atlas_nb.providers.mock import MockProvider
from tests.helpers.fileprovider import ENV, FileProvider

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fast_orchestrator():
    atlas.configure(heartbeat_s=0.1, reap_interval_s=3600, reap_grace_s=0)
    old = Supervisor.terminate_backoff_s
    Supervisor.terminate_backoff_s = (0.05, 0.2)
    yield
    Supervisor.terminate_backoff_s = old
    atlas.shutdown()


def rec(**kw):
    base = {
        "id": "p",
        "provider": "mock",
        "idle_ttl_s": None,
        "started_at": 0.0,
        "last_activity": 0.0,
        "running_since": 0.0,
    }
    return TrackedRecord(**{**base, **kw})


@pytest.mark.parametrize(
    ("fields", "now", "expected"),
    [
        ({"idle_ttl_s": 60}, 10, Deadline(60.0, "idle_timeout")),
        # still provisioning: not idle yet; the provision timeout bounds it
        ({"idle_ttl_s": 60, "running_since": None}, 10, Deadline(1200.0, "provision_timeout")),
        (
            {"idle_ttl_s": 60, "running_since": None, "provision_timeout_s": None},
            10,
            None,
        ),
        # first ran at 100: idle counts from then, not from the spawn
        ({"idle_ttl_s": 60, "running_since": 100.0}, 110, Deadline(160.0, "idle_timeout")),
        # runtime counts from creation even while provisioning
        (
            {"max_runtime_s": 100, "running_since": None},
            10,
            Deadline(100.0, "max_runtime"),
        ),
        ({"idle_ttl_s": 60, "last_activity": 50}, 55, Deadline(110.0, "idle_timeout")),
        ({"idle_ttl_s": 600, "max_runtime_s": 100}, 10, Deadline(100.0, "max_runtime")),
        ({"max_cost_usd": 1.0, "cost_per_hr": 3.6}, 0, Deadline(1000.0, "max_cost")),
        (
            {"max_cost_usd": 1.0, "cost_per_hr": 3.6, "spend_usd": 0.5, "spend_at": 100},
            100,
            Deadline(600.0, "max_cost"),
        ),
        (
            {"max_cost_usd": 1.0, "cost_per_hr": 3.6, "spend_usd": 1.0, "spend_at": 5},
            5,
            Deadline(5.0, "max_cost"),
        ),
        ({"max_cost_usd": 1.0, "cost_per_hr": 0.0}, 10, None),  # stopped: not spending
        ({}, 10, None),
    ],
)
def test_next_deadline(fields, now, expected):
    assert next_deadline(rec(**fields), now) == expected


def test_spend():
    r = rec(cost_per_hr=2.0, spend_usd=1.0, spend_at=3600)
    assert spend_at(r, 7200) == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("name", "cid", "age", "tracked", "status", "action", "reason_part"),
    [
        ("atlas-me1234-abcdef", "a", 700, set(), "running", "terminate", "orphan"),
        ("atlas-me1234-abcdef", "a", 700, set(), "stopped", "terminate", "orphan"),
        ("atlas-me1234-abcdef", "a", 700, {"a"}, "running", "keep", "tracked"),
        ("atlas-me1234-abcdef", "a", 10, set(), "running", "keep", "grace"),
        ("atlas-me1234-abcdef", "a", None, set(), "running", "keep", "age unknown"),
        ("atlas-other9-abcdef", "a", 700, set(), "running", "keep", "another installation"),
        ("atlas-abcdefgh", "a", 700, set(), "running", "keep", "another installation"),
        ("training-run", "a", 700, set(), "running", "keep", "prefix"),
        (None, "a", 700, set(), "running", "keep", "prefix"),
        ("atlas-me1234-abcdef", "a", 700, set(), "terminated", "keep", "already"),
    ],
)
def test_reaper_safety_rules(name, cid, age, tracked, status, action, reason_part):
    got = decide(
        name=name,
        compute_id=cid,
        age_s=age,
        tracked=tracked,
        prefix="atlas-",
        owner="me1234",
        grace_s=600,
        status=status,
    )
    assert got[0] == action and reason_part in got[1]


def test_empty_prefix_refused():
    with pytest.raises(ValidationError, match="non-empty name prefix"):
        decide(
            name="x",
            compute_id="a",
            age_s=1,
            tracked=set(),
            prefix="",
            owner="o",
            grace_s=0,
            status="running",
        )


def wait_for_event(sub, compute_id, kind, timeout=10.0):
    """Consume events until ``kind`` arrives for ``compute_id``; returns all seen."""
    seen = []
    deadline = time.monotonic() + timeout
    for event in sub:
        seen.append(event)
        if event.compute_id == compute_id and event.kind == kind:
            return seen
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"no {kind} event for {compute_id}; saw {[e.kind for e in seen]}")


def test_idle_ttl_terminates_and_reports():
    with atlas.events() as sub:
        t0 = time.monotonic()  # before the spawn: the idle clock starts inside it
        pod = atlas.spawn(provider="mock", gpu="l4", image="x", idle_ttl=0.5)
        assert pod.name.startswith("atlas-testown-")
        seen = wait_for_event(sub, pod.id, "terminated")
    kinds = [e.kind for e in seen if e.compute_id == pod.id]
    assert kinds[0] == "status" and "terminating" in kinds
    terminating = next(e for e in seen if e.kind == "terminating")
    assert terminating.data["reason"] == "idle_timeout"
    assert time.monotonic() - t0 >= 0.4
    assert atlas.compute(pod.id, provider="mock").status.value == "terminated"
    assert len(atlas.tracked()) == 0


def test_touch_keeps_it_alive_then_idle_wins():
    pod = atlas.spawn(provider="mock", gpu="l4", image="x", idle_ttl=1.5)
    for _ in range(20):  # 2 s of touches 0.1 s apart: a loaded machine has 15x slack
        time.sleep(0.1)
        pod.touch()
    assert atlas.tracked()["id"].tolist() == [pod.id]
    assert atlas.compute(pod.id, provider="mock").status.value != "terminated"
    with atlas.events(pod.id) as sub:
        wait_for_event(sub, pod.id, "terminated")


def test_max_runtime_and_cost_cap():
    with atlas.events() as sub:
        a = atlas.spawn(provider="mock", gpu="l4", image="x", max_runtime=0.5, idle_ttl="1h")
        # mock h100 costs $2.49/hr: $0.0005 lasts about 0.72 s
        b = atlas.spawn(provider="mock", gpu="h100", image="x", max_cost_usd=0.0005, idle_ttl="1h")
        reasons = {}
        for event in sub:
            if event.kind == "terminating":
                reasons[event.compute_id] = event.data["reason"]
            if len(reasons) == 2:
                break
    assert reasons == {a.id: "max_runtime", b.id: "max_cost"}


def test_touch_unknown_is_truthful():
    with pytest.raises(NotFoundError, match="not tracked"):
        atlas.touch("mock-nope")


def test_track_needs_a_limit():
    pod = atlas.spawn(provider="mock", gpu="l4", image="x")
    assert not pod.name.startswith("atlas-testown-")  # untracked: no owner tag, never reaped
    with pytest.raises(ValidationError, match="at least one limit"):
        atlas.track(pod, idle_ttl=None)
    guard = atlas.track(pod, idle_ttl="1h")
    assert isinstance(guard, atlas.Tracked) and guard.id == pod.id
    assert repr(guard) == f"Tracked({pod.id!r}, idle_ttl_s=3600)"
    assert atlas.tracked().loc[0, "idle_ttl_s"] == 3600
    guard.touch()
    atlas.untrack(pod.id)
    assert len(atlas.tracked()) == 0
    assert atlas.compute(pod.id, provider="mock").status.value != "terminated"
    pod.terminate()


def test_explicit_terminate_untracks():
    pod = atlas.spawn(provider="mock", gpu="l4", image="x", track=True)
    assert atlas.tracked().loc[0, "idle_ttl_s"] == 1800  # default idle TTL
    pod.terminate()
    assert len(atlas.tracked()) == 0


class FlakyProvider(MockProvider):
    """Listing fails (a network blip) and the first terminates fail."""

    name = "flaky"
    fail_list = True
    terminate_failures = 2

    async def list_computes(self, *, status=None, name=None):
        if FlakyProvider.fail_list:
            raise TransportError("network blip", provider="flaky")
        return await super().list_computes(status=status, name=name)

    async def terminate(self, compute_id):
        if FlakyProvider.terminate_failures > 0:
            FlakyProvider.terminate_failures -= 1
            raise TransportError("terminate failed", provider="flaky")
        await super().terminate(compute_id)


def test_failed_poll_is_not_death_and_failed_terminate_is_retried():
    FlakyProvider.fail_list, FlakyProvider.terminate_failures = True, 2
    with atlas.events() as sub:
        # max_runtime counts from creation (idle waits for a first "running", never seen here)
        pod = atlas.spawn(provider=FlakyProvider, gpu="l4", image="x", max_runtime=1.0)
        seen = wait_for_event(sub, pod.id, "terminated")
    kinds = [e.kind for e in seen if e.compute_id == pod.id]
    heartbeats = [e for e in seen if e.kind == "heartbeat"]
    assert heartbeats and all(not h.data["ok"] for h in heartbeats)  # blips, still tracked
    assert kinds.count("terminate_failed") == 2
    failed = next(e for e in seen if e.kind == "terminate_failed")
    assert "terminate failed" in failed.data["error"] and failed.data["retry_in_s"] > 0
    assert kinds[-1] == "terminated"


def test_heartbeat_lists_once_and_notices_outside_termination():
    with atlas.events() as sub:
        pod = atlas.spawn(provider="mock", gpu="l4", image="x", idle_ttl="1h")
        MockProvider()._store.computes[pod.id].phase = "terminated"  # killed elsewhere
        seen = wait_for_event(sub, pod.id, "terminated")
    assert seen[-1].data["reason"] in ("terminated outside atlas_nb", "gone")


def test_reap_dry_run_then_real(tmp_path):
    ours = atlas.spawn(provider="mock", gpu="l4", image="x", name="atlas-testown-orphan")
    other = atlas.spawn(provider="mock", gpu="l4", image="x", name="atlas-someone-else1")
    mine_untracked = atlas.spawn(provider="mock", gpu="l4", image="x")
    tracked = atlas.spawn(provider="mock", gpu="l4", image="x", idle_ttl="1h")
    plain = atlas.spawn(provider="mock", gpu="l4", image="x", name="notebook-job")
    df = atlas.reap(dry_run=True, providers=["mock"])
    actions = dict(zip(df["id"], df["action"], strict=True))
    assert actions == {
        ours.id: "terminate",
        other.id: "keep",
        mine_untracked.id: "keep",
        tracked.id: "keep",
        plain.id: "keep",
    }
    assert atlas.compute(ours.id, provider="mock").status.value != "terminated"
    done = atlas.reap(dry_run=False, providers=["mock"])
    assert done.set_index("id").loc[ours.id, "result"] == "terminated"
    survivors = set(atlas.computes(provider="mock")["id"])
    assert survivors == {other.id, mine_untracked.id, tracked.id, plain.id}


@pytest.mark.parametrize("providers", ["mock", MockProvider, MockProvider()], ids=str)
def test_reap_takes_one_provider_as_a_name_a_class_or_an_instance(providers):
    ours = atlas.spawn(provider="mock", gpu="l4", image="x", name="atlas-testown-orphan")
    df = atlas.reap(dry_run=True, providers=providers)
    assert df.set_index("id").loc[ours.id, "action"] == "terminate"


def test_shutdown_keeps_tracking_on_disk():
    pod = atlas.spawn(provider="mock", gpu="l4", image="x", idle_ttl="1h")
    atlas.shutdown()
    assert atlas.tracked()["id"].tolist() == [pod.id]  # adopted by the new runtime


def test_second_process_adopts_and_enforces(tmp_path, monkeypatch):
    cloud = tmp_path / "cloud.json"
    monkeypatch.setenv(ENV, str(cloud))
    pod = atlas.spawn(provider=FileProvider, gpu="l4", image="x", idle_ttl=1.5)
    atlas.shutdown()  # the kernel dies: nobody guards the pod in this process any more
    data_dir = atlas.settings().data_dir
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        import atlas_nb as atlas
        from tests.helpers.fileprovider import FileProvider
        atlas.register_provider(FileProvider)  # records name providers; code is not imported
        atlas.configure(data_dir={str(data_dir)!r}, owner="testown", heartbeat_s=0.1,
                        reap_interval_s=3600)
        with atlas.events({pod.id!r}) as sub:  # adopts the tracked state on disk
            for event in sub:
                print(event.kind, event.data.get("reason", ""), flush=True)
                if event.kind == "terminated":
                    break
        atlas.shutdown()
    """)
    env = {**os.environ, ENV: str(cloud)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        raise AssertionError(f"the second process hung:\n{stdout}\n{stderr}") from None
    assert proc.returncode == 0, stderr
    out = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert "terminating idle_timeout" in out.stdout and "terminated" in out.stdout
    assert FileProvider()._load()[pod.id]["status"] == "terminated"


def test_untrack_keeps_it_running_and_the_reaper_leaves_it_alone():
    atlas.configure(reap_grace_s=0)
    pod = atlas.spawn(provider="mock", gpu="l4", image="x", track=True)
    atlas.untrack(pod.id)
    assert len(atlas.tracked()) == 0
    report = atlas.reap(dry_run=True, providers=["mock"]).set_index("id")
    assert report.loc[pod.id, "action"] == "keep"
    assert "untrack()" in report.loc[pod.id, "reason"]
    with pytest.raises(NotFoundError):
        atlas.touch(pod.id)


def test_a_touch_from_another_process_is_honoured_before_firing():
    from atlas_nb._runtime import get_runtime
    from atlas_nb.orchestrator.api import supervisor

    pod = atlas.spawn(provider="mock", gpu="l4", image="x", idle_ttl=0.5)
    pod.wait_until_running(timeout=10)  # the idle timer starts once it runs
    sup = supervisor()
    later = time.time() + 30
    sup.store.merge_activity(pod.id, later)  # as another kernel would, on disk only

    async def fire_now():
        return sup.enforce_deadlines(time.time() + 1)

    assert get_runtime().run(fire_now()) == []  # re-read from disk: not idle after all
    assert sup.records[pod.id].last_activity == later
    atlas.untrack(pod.id, terminate=True)


def test_guarded_with_the_key_it_was_spawned_with(sandbox_inproc):
    from atlas_nb.providers.registry import get_provider

    key = atlas.settings().api_key("runpod").get_secret_value()
    atlas.configure(api_keys={"runpod": None})  # nothing configured any more ...
    pod = atlas.spawn(provider="runpod", gpu="l4", image="x", api_key=key, max_runtime=0.5)
    with atlas.events(pod.id) as sub:  # ... yet the guard terminates it with the spawn key
        seen = wait_for_event(sub, pod.id, "terminated", timeout=20)
    assert not [e for e in seen if e.kind == "terminate_failed"]
    assert get_provider("runpod", api_key=key).list_computes is not None


def test_not_found_with_another_key_is_not_taken_as_gone():
    from atlas_nb.orchestrator.supervisor import provider_fingerprint

    pod = atlas.spawn(provider="mock", gpu="l4", image="x", idle_ttl="1h")
    from atlas_nb.orchestrator.api import supervisor

    sup = supervisor()
    rec = sup.records[pod.id]
    rec.key_fp = "someone-else"
    assert not sup._trusts_not_found(rec, sup.provider_for(rec))
    rec.key_fp = provider_fingerprint(sup.provider_for(rec))
    assert sup._trusts_not_found(rec, sup.provider_for(rec))


def test_shutdown_terminates_every_tracked_compute_concurrently():
    pods = [atlas.spawn(provider="mock", gpu="l4", image="x", idle_ttl="1h") for _ in range(3)]
    atlas.shutdown(terminate_tracked=True)
    assert all(atlas.compute(p.id, provider="mock").status.value == "terminated" for p in pods)
    assert len(atlas.tracked()) == 0


def test_zero_limits_are_refused():
    pod = atlas.spawn(provider="mock", gpu="l4", image="x")
    with pytest.raises(ValidationError, match="must be a finite, positive number"):
        atlas.track(pod, idle_ttl=0)
    pod.terminate()


def test_half_written_files_never_break_loading(tmp_path):
    from atlas_nb.orchestrator.state import TrackedRecord, TrackStore

    store = TrackStore(tmp_path / "tracked")
    store.put(TrackedRecord(id="a", provider="mock", started_at=0, last_activity=0))
    (tmp_path / "tracked" / ".tmp-abc.partial").write_text("")
    assert list(store.load()) == ["a"]


def test_limits_on_the_runpod_sandbox_over_loopback(sandbox):
    """Idle TTL, deadline and cost cap enforced by the client (``guard="client"``: with the pod
    guard the pods would end themselves first) against the RunPod fake on its fast clock; the
    pods are really gone from the (fake) account afterwards."""
    client = {"provider": "runpod", "image": "x", "guard": "client"}
    with atlas.events() as sub:
        idle = atlas.spawn(gpu="l4", idle_ttl=1.0, **client)
        deadline = atlas.spawn(gpu="l4", max_runtime=1.0, idle_ttl="1h", **client)
        capped = atlas.spawn(gpu="h100", max_cost_usd=0.001, idle_ttl="1h", **client)
        reasons, done = {}, set()
        for event in sub:
            if event.kind == "terminating":
                reasons[event.compute_id] = event.data["reason"]
            if event.kind == "terminated":
                done.add(event.compute_id)
            if done >= {idle.id, deadline.id, capped.id}:
                break
    assert reasons == {idle.id: "idle_timeout", deadline.id: "max_runtime", capped.id: "max_cost"}
    left = set(atlas.computes(provider="runpod")["id"])
    assert not left & {idle.id, deadline.id, capped.id}
