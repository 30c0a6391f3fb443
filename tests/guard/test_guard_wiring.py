"""The pod guard through the public API, against a loopback sandbox that runs the guards.

Edge cases with a defined outcome: a client clock that is off, a pod restarted by the provider,
a spot pod preempted and resumed, an image without ``sh``, pod-scoped keys used for anything
but their own pod's removal, a broken renewal channel (recorded and shown, never a kill).
"""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import atlas_nb as atlas
from atlas_nb.errors import UnsupportedError, ValidationError
from atlas_nb.guard.plan import choose_guard
from atlas_nb.orchestrator import api as orchestrator
from atlas_nb.orchestrator.pod_lease import lease_ttl
from atlas_nb.orchestrator.state import TrackedRecord
from atlas_nb.sandbox.pod_guard import guard_argv
from tests.guard.cloud import spawn_guarded
from tests.helpers.waiting import eventually

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def cloud():
    """A loopback sandbox at 10x (guards honour it) and a client heartbeat of 0.5 s."""
    with atlas.sandbox.start(speed=10, seed=3) as sb:
        atlas.configure(heartbeat_s=0.5, reaper_enabled=False)
        yield sb


def guards(sb: Any) -> Any:
    return sb.state.providers["pod_guards"]


def guard_state(sb: Any, provider: str, pod_id: str) -> dict[str, Any]:
    import hashlib
    import json

    digest = hashlib.sha256(pod_id.encode()).hexdigest()[:16]
    path = guards(sb).root / provider / digest / "state.json"
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def record(pod_id: str) -> TrackedRecord:
    return orchestrator.supervisor().records[pod_id]


def runpod(sb: Any, method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or sb.api_keys['runpod']}"}
    return httpx.request(method, sb.urls["runpod_rest"] + path, headers=headers, **kw)


# -- choosing the guard ---------------------------------------------------------------------


def test_capabilities_say_which_providers_can_pod_guard():
    can = {
        p
        for p in ("runpod", "vast", "fly", "lambda", "mock")
        if "pod_guard" in atlas.capabilities(p)
    }
    assert can == {"runpod", "vast", "fly"}


def test_choose_guard_table():
    assert choose_guard("runpod", "auto") == "pod"
    assert choose_guard("lambda", "auto") == "client"
    assert choose_guard("runpod", "client") == "client"
    with pytest.raises(UnsupportedError, match="no credential exists inside a Lambda instance"):
        choose_guard("lambda", "pod")
    with pytest.raises(ValidationError, match="guard='pods' is not one of auto, pod, client"):
        choose_guard("runpod", "pods")


def test_track_cannot_add_a_pod_guard_to_a_running_compute():
    c = atlas.spawn(provider="mock", gpu="l4", image="python:3.11")
    with pytest.raises(UnsupportedError, match="injected into its start command at spawn") as exc:
        atlas.track(c, guard="pod")
    assert "track=True, guard='pod'" in str(exc.value)
    t = atlas.track(c, guard="auto", idle_ttl="10m")
    assert atlas.tracked().set_index("id").loc[t.id, "guard"] == "client"
    atlas.untrack(c.id, terminate=True)


def test_lambda_guard_auto_is_the_client_guard(sandbox_inproc):
    c = atlas.spawn(provider="lambda", gpu="a10", image="ubuntu", track=True, idle_ttl="10m")
    row = atlas.tracked().set_index("id").loc[c.id]
    assert row["guard"] == "client" and row["owner"] == "testown"
    assert pd.isna(row["lease_expires_at"])
    atlas.untrack(c.id, terminate=True)


# -- the guard runs, and is renewed ---------------------------------------------------------


def test_spawn_guard_pod_records_the_guard_and_touch_renews_the_lease(cloud):
    c = spawn_guarded(idle_ttl=120)
    row = atlas.tracked().set_index("id").loc[c.id]
    assert row["guard"] == "pod" and not pd.isna(row["lease_expires_at"])
    assert record(c.id).lease_url.endswith(f"/guard/lease/runpod/{c.id}/lease")
    eventually(lambda: guard_state(cloud, "runpod", c.id).get("port"), timeout=30)
    before = guard_state(cloud, "runpod", c.id)["lease_expires_at"]
    atlas.touch(c.id)
    eventually(lambda: guard_state(cloud, "runpod", c.id)["lease_expires_at"] > before, timeout=30)
    events = []
    sub = atlas.events(c.id)
    atlas.touch(c.id)
    for ev in sub:
        if ev.kind == "lease":
            events.append(ev)
            break
    assert events[0].data["ok"] is True
    atlas.untrack(c.id, terminate=True)
    eventually(lambda: not guards(cloud).running("runpod", c.id), timeout=30)


def test_a_failed_renewal_is_retried_recorded_shown_and_never_ends_the_pod(cloud):
    atlas.configure(base_urls={**cloud.urls, "guard_lease": "http://127.0.0.1:9/nowhere"})
    c = spawn_guarded()
    atlas.touch(c.id)
    eventually(lambda: (record(c.id).lease_error or "").startswith("unreachable"), timeout=60)
    row = atlas.tracked().set_index("id").loc[c.id]
    assert row["lease_error"].startswith("unreachable")
    from atlas_nb.widgets.dashboard import guard_cell

    assert guard_cell(row.to_dict()).startswith("pod · renewal failed: unreachable")
    assert runpod(cloud, "GET", f"/v2/pods/{c.id}").json()["status"] == "RUNNING"
    assert guard_state(cloud, "runpod", c.id)["ending"] is None
    atlas.untrack(c.id, terminate=True)


def test_an_in_process_sandbox_runs_no_guards_and_says_so(sandbox_inproc):
    atlas.configure(heartbeat_s=0.5)
    c = spawn_guarded(idle_ttl=600)
    atlas.touch(c.id)
    eventually(lambda: "runs no pod guards" in (record(c.id).lease_error or ""), timeout=30)
    atlas.untrack(c.id, terminate=True)


# -- edge cases -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    skew=st.floats(-1e7, 1e7, allow_nan=False),
    idle=st.floats(1, 1e5),
    since=st.floats(0, 1e5),
    touched=st.floats(0, 1e5),
    later=st.floats(0, 1e5),
)
def test_a_client_clock_that_is_off_sends_the_same_ttl(skew, idle, since, touched, later):
    """The renewal carries a relative TTL from the client's own clock: an offset cancels."""

    def rec(shift: float) -> TrackedRecord:
        return TrackedRecord(
            id="p",
            provider="runpod",
            idle_ttl_s=idle,
            started_at=shift,
            last_activity=shift + touched,
            running_since=shift + since,
        )

    now = since + touched + later
    assert lease_ttl(rec(skew), now + skew) == pytest.approx(lease_ttl(rec(0.0), now), abs=1e-3)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_guard_argv_never_runs_anything_but_the_launcher(text):
    argv = guard_argv(args=text)
    assert argv is None or (
        argv[:2] == ["sh", "-c"] and argv[3] == "atlas-guard" and len(argv) == 4
    )


def test_a_pod_restarted_by_the_provider_keeps_its_deadline(cloud):
    c = spawn_guarded(max_runtime=3600)
    eventually(lambda: guard_state(cloud, "runpod", c.id).get("port"), timeout=30)
    created = guard_state(cloud, "runpod", c.id)["created_at"]
    first_pid = guards(cloud).procs[("runpod", c.id)].proc.pid
    eventually(lambda: runpod(cloud, "GET", f"/v2/pods/{c.id}").json()["status"] == "RUNNING", 30)
    assert (
        runpod(cloud, "POST", f"/v2/pods/{c.id}/action", json={"action": "restart"}).status_code
        == 200
    )
    eventually(
        lambda: (
            guards(cloud).procs.get(("runpod", c.id)) is not None
            and guards(cloud).procs[("runpod", c.id)].proc.pid != first_pid
        ),
        timeout=30,
    )
    eventually(lambda: guard_state(cloud, "runpod", c.id).get("port"), timeout=30)
    assert guard_state(cloud, "runpod", c.id)["created_at"] == created  # the deadline holds
    atlas.untrack(c.id, terminate=True)


def test_a_spot_pod_preempted_and_resumed_keeps_its_deadline_and_lease(cloud):
    c = spawn_guarded(spot=True, max_runtime=3600)
    eventually(lambda: guard_state(cloud, "runpod", c.id).get("port"), timeout=30)
    created = guard_state(cloud, "runpod", c.id)["created_at"]
    world = cloud.state.providers["runpod_world"]
    pod = world.pods[c.id]
    world.halt(pod)  # what a preemption does: the container stops, the pod stays
    eventually(lambda: not guards(cloud).running("runpod", c.id), timeout=30)
    world.boot(pod, "start")  # resumed
    eventually(lambda: guards(cloud).running("runpod", c.id), timeout=30)
    eventually(lambda: guard_state(cloud, "runpod", c.id).get("port"), timeout=30)
    assert guard_state(cloud, "runpod", c.id)["created_at"] == created
    atlas.touch(c.id)  # the lease is served again after the resume
    eventually(lambda: record(c.id).lease_error is None and record(c.id).lease_expires_at, 30)
    atlas.untrack(c.id, terminate=True)


def test_an_image_without_sh_cannot_run_the_guard_a_fly_machine_then_ends(cloud):
    c = atlas.spawn(
        provider="fly",
        image="gcr.io/distroless/static:nonroot",
        track=True,
        guard="pod",
        idle_ttl=3600,
        provider_opts={"app": "atlas-demo-worker", "init": {"cmd": ["/app"]}},
    )
    # the wrapped start command cannot exec sh: the main process is gone, restart "no" stops
    # the machine and auto_destroy removes it (fail-closed: nothing keeps billing)
    app, mid = c.id.split("/")

    def state() -> str:
        r = httpx.get(
            f"{cloud.urls['fly_machines']}/apps/{app}/machines/{mid}",
            headers={"Authorization": cloud.api_keys["fly"]},
        )
        return str(r.json().get("state"))

    eventually(lambda: state() in ("destroying", "destroyed"), timeout=30)


def test_an_image_without_sh_on_runpod_shows_the_renewal_failing(cloud):
    c = spawn_guarded(image="gcr.io/distroless/python3")
    eventually(lambda: runpod(cloud, "GET", f"/v2/pods/{c.id}").json()["status"] == "RUNNING", 30)
    atlas.touch(c.id)
    # no guard listens: the renewal fails and says so; the client guard keeps the limits
    eventually(lambda: "no guard listening" in (record(c.id).lease_error or ""), timeout=60)
    atlas.untrack(c.id, terminate=True)


def test_pod_scoped_keys_remove_their_own_pod_and_nothing_else(cloud):
    a = spawn_guarded()
    b = spawn_guarded()
    key = guards(cloud).scoped_key("runpod", a.id)
    assert runpod(cloud, "GET", "/v2/pods", key).status_code == 401
    assert runpod(cloud, "GET", f"/v2/pods/{a.id}", key).status_code == 401
    assert runpod(cloud, "DELETE", f"/v2/pods/{b.id}", key).status_code == 401
    assert runpod(cloud, "POST", "/v2/pods", key, json={}).status_code == 401
    assert runpod(cloud, "DELETE", f"/v2/pods/{a.id}", key).status_code == 204
    assert runpod(cloud, "GET", f"/v2/pods/{b.id}").json()["status"] != "TERMINATED"
    atlas.untrack(b.id, terminate=True)


def test_vast_instance_keys_stop_or_destroy_their_own_instance_only(cloud):
    a = spawn_guarded(provider="vast")
    b = spawn_guarded(provider="vast")
    key = guards(cloud).scoped_key("vast", a.id)
    base = cloud.urls["vast"] + "/api/v0/instances/"
    h = {"Authorization": f"Bearer {key}"}
    assert httpx.get(cloud.urls["vast"] + "/api/v1/instances", headers=h).status_code == 401
    assert httpx.get(f"{base}{a.id}/", headers=h).status_code == 401
    assert httpx.put(f"{base}{b.id}/", json={"state": "stopped"}, headers=h).status_code == 401
    assert httpx.delete(f"{base}{b.id}/", headers=h).status_code == 401
    assert httpx.put(f"{base}{a.id}/", json={"state": "stopped"}, headers=h).json()["success"]
    eventually(lambda: not guards(cloud).running("vast", a.id), timeout=30)  # stop stops it
    assert httpx.delete(f"{base}{a.id}/", headers=h).json()["success"]
    atlas.untrack(b.id, terminate=True)


def test_the_dollar_cap_is_enforced_by_the_pod_from_its_catalogue_price(cloud):
    # a cap of under a minute of cloud time at the RTX 4090's $/hr
    c = spawn_guarded(max_cost_usd=0.01)
    eventually(lambda: runpod(cloud, "GET", f"/v2/pods/{c.id}").status_code == 404, timeout=90)
    assert guard_state(cloud, "runpod", c.id)["ending"] == "cap"
