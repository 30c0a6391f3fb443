"""The guard program run for real as a local process, injected as each provider would run it."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time

from atlas_nb.guard import GuardSpec, renew_lease
from tests.guard.harness import TOKEN, FakePod, FakeREST
from tests.helpers.waiting import eventually, pid_alive

RUNPOD_PID1 = {"RUNPOD_POD_ID": "pod-123", "RUNPOD_API_KEY": "pod-scoped-key"}


def idle_spec(ttl: float = 1.0, grace: float = 0.5, **kw: float) -> GuardSpec:
    return GuardSpec(idle_ttl_s=ttl, grace_s=grace, token=TOKEN, **kw)


def renew(pod: FakePod, ttl: float, token: str = TOKEN):
    return asyncio.run(renew_lease(pod.lease_url(), token, ttl, attempts=1))


def test_renewals_keep_the_pod_alive_over_several_leases_then_it_ends(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    proc = pod.start("runpod", idle_spec(ttl=1.0, grace=0.5))
    pod.wait_port()
    leases_over = time.monotonic() + 4 * 1.5  # four leases + grace, renewing all along
    while time.monotonic() < leases_over:
        outcome = renew(pod, 1.0)
        assert outcome.status == "renewed", outcome
        assert outcome.lease_expires_in_s is not None and outcome.lease_expires_in_s > 0
        time.sleep(0.2)  # the renewal cadence, not an assertion
    assert pod.ctl_calls() == [] and proc.poll() is None
    # renewals stop: the pod removes itself with runpodctl, read from PID 1's environment
    eventually(lambda: pod.ctl_calls() == ["remove pod pod-123"], timeout=20)
    assert eventually(lambda: proc.poll() is not None) and proc.returncode == 0
    assert pod.read_state()["ending"] == "idle"


def test_deadline_fires_with_the_lease_channel_broken(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy_port = str(taken.getsockname()[1])
    try:  # the lease port cannot be bound, and the idle lease is long: only the deadline can act
        proc = pod.start("runpod", idle_spec(ttl=3600, deadline_s=1.0), ATLAS_GUARD_PORT=busy_port)
        eventually(lambda: pod.ctl_calls() == ["remove pod pod-123"], timeout=20)
    finally:
        taken.close()
    eventually(lambda: proc.poll() is not None)
    assert pod.read_state()["ending"] == "deadline"
    assert "lease_port_unavailable" in pod.guard_log()


def test_dollar_cap_fires_from_price_per_hour(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    # $0.01 at $36/hr is one second of pod time
    pod.start("runpod", idle_spec(ttl=3600, cap_usd=0.01, price_hr=36.0))
    eventually(lambda: pod.ctl_calls() == ["remove pod pod-123"], timeout=20)
    assert pod.read_state()["ending"] == "cap"


def test_time_scale_speeds_up_the_pods_clock(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    # a 120 s deadline at 60x pod time ends in about two real seconds
    pod.start("runpod", idle_spec(ttl=3600, deadline_s=120), ATLAS_GUARD_TIME_SCALE="60")
    eventually(lambda: pod.ctl_calls() == ["remove pod pod-123"], timeout=20)


def test_renewal_after_expiry_does_not_revive_a_pod_being_ended(pod: FakePod, rest: FakeREST):
    pod.fake_runpodctl(rc=1)  # runpodctl fails and the REST fallback answers 503: kill retries
    rest.status["DELETE"] = 503
    pod.pid1 = RUNPOD_PID1
    proc = pod.start("runpod", idle_spec(ttl=0.5, grace=0.2))
    pod.wait_port()
    eventually(lambda: pod.read_state().get("ending") == "idle", timeout=20)
    outcome = renew(pod, 60)
    assert outcome.status == "ending" and not outcome.ok
    assert pod.get().json()["state"] == "ending"
    # it keeps retrying with backoff; once the provider answers, the pod ends
    eventually(lambda: len(rest.calls()) >= 2, timeout=20)
    assert len(pod.ctl_calls()) >= 2
    rest.status["DELETE"] = 200
    eventually(lambda: proc.poll() is not None, timeout=30)
    assert rest.calls()[-1] == ("DELETE", "/v2/pods/pod-123")


def test_bad_or_missing_bearer_token_is_refused(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    pod.start("runpod", idle_spec(ttl=60))
    pod.wait_port()
    assert pod.post({"ttl_s": 60}, token=None).status_code == 401
    assert pod.post({"ttl_s": 60}, token="wrong").status_code == 401
    assert pod.get(token=None).status_code == 401
    assert renew(pod, 60, token="wrong").status == "unauthorized"
    assert pod.get().status_code == 200
    assert pod.post({"ttl_s": -5}).status_code == 400
    assert pod.post({"ttl_s": "soon"}).status_code == 400


def test_no_token_configured_refuses_every_renewal(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    pod.start("runpod", GuardSpec(idle_ttl_s=60))  # no token: fail-closed
    pod.wait_port()
    assert pod.post({"ttl_s": 60}, token=None).status_code == 401
    assert pod.post({"ttl_s": 60}, token="anything").status_code == 401


def test_a_renewal_never_shortens_the_lease(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    pod.start("runpod", idle_spec(ttl=600))
    pod.wait_port()
    assert pod.post({"ttl_s": 1}).json()["lease_expires_in_s"] > 500


def test_restart_keeps_the_deadline(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    spec = idle_spec(ttl=3600, deadline_s=3600)
    first = pod.start("runpod", spec)
    created = eventually(lambda: pod.read_state().get("created_at"))
    os.killpg(first.pid, 9)  # the provider restarts the container
    first.wait()
    second = pod.start("runpod", spec)
    eventually(lambda: pod.read_state().get("port") and pod.read_state().get("created_at"))
    assert pod.read_state()["created_at"] == created
    assert second.poll() is None and pod.ctl_calls() == []


def test_restart_past_the_deadline_ends_at_once_without_starting_the_command(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    pod.state.write_text(json.dumps({"created_at": time.time() - 7200}))  # started 2 h ago
    marker = pod.tmp / "command-ran"
    pod.start("runpod", idle_spec(ttl=3600, deadline_s=3600), ["touch", str(marker)])
    eventually(lambda: pod.ctl_calls() == ["remove pod pod-123"], timeout=20)
    assert pod.read_state()["ending"] == "deadline" and not marker.exists()


def test_restart_while_ending_resumes_the_kill(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    pod.state.write_text(json.dumps({"created_at": time.time(), "ending": "idle"}))
    pod.start("runpod", idle_spec(ttl=3600))
    eventually(lambda: pod.ctl_calls() == ["remove pod pod-123"], timeout=20)


def test_a_wrapped_command_that_exits_at_once_leaves_the_pod_guarded(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    proc = pod.start("runpod", idle_spec(ttl=60), ["sh", "-c", "exit 3"])
    eventually(lambda: pod.get().json()["command_exit"] == 3)
    status = pod.get().json()
    assert status["state"] == "held" and proc.poll() is None and pod.ctl_calls() == []
    assert pod.post({"ttl_s": 0.3}).status_code == 200  # the lease still works


def test_runpodctl_missing_falls_back_to_rest_with_the_pod_key(pod: FakePod, rest: FakeREST):
    pod.pid1 = RUNPOD_PID1  # only PID 1 has them, as in an SSH session on RunPod
    proc = pod.start("runpod", idle_spec(ttl=0.5, grace=0.2))
    eventually(lambda: rest.calls() == [("DELETE", "/v2/pods/pod-123")], timeout=20)
    assert rest.requests[0]["auth"] == "Bearer pod-scoped-key"
    eventually(lambda: proc.poll() is not None)


def test_own_environment_wins_over_pid1(pod: FakePod, rest: FakeREST):
    pod.pid1 = RUNPOD_PID1
    pod.start("runpod", idle_spec(ttl=0.5, grace=0.2), RUNPOD_POD_ID="own-pod")
    eventually(lambda: rest.calls() == [("DELETE", "/v2/pods/own-pod")], timeout=20)


def test_vast_destroys_itself_from_onstart(pod: FakePod, rest: FakeREST):
    pod.pid1 = {"CONTAINER_ID": "777", "CONTAINER_API_KEY": "instance-key"}
    pod.start("vast", idle_spec(ttl=0.5, grace=0.2))  # onstart returns; the guard runs detached
    path = "/api/v0/instances/777/"
    # destroy first: a stop would end the container (and the guard) before a destroy left
    eventually(lambda: rest.calls() == [("DELETE", path)], timeout=20)
    assert {r["auth"] for r in rest.requests} == {"Bearer instance-key"}


def test_vast_destroy_refused_stops_instead_and_counts_as_ended(pod: FakePod, rest: FakeREST):
    rest.status["DELETE"] = 403
    pod.pid1 = {"CONTAINER_ID": "777", "CONTAINER_API_KEY": "instance-key"}
    pod.start("vast", idle_spec(ttl=0.5, grace=0.2))
    path = "/api/v0/instances/777/"
    eventually(lambda: rest.calls() == [("DELETE", path), ("PUT", path)], timeout=20)
    assert rest.requests[1]["body"] == {"state": "stopped"}
    eventually(lambda: pid_alive_from_state(pod) is False, timeout=20)
    assert len(rest.calls()) == 2  # stopped is enough: no retry loop on destroy


def pid_alive_from_state(pod: FakePod) -> bool:
    port = pod.read_state().get("port")
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_fly_guard_exits_the_main_process_and_takes_the_command_down(pod: FakePod):
    pidfile = pod.tmp / "child.pid"
    command = ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 300"]
    proc = pod.start("fly", idle_spec(ttl=0.5, grace=0.2), command)
    child = int(eventually(lambda: pidfile.exists() and pidfile.read_text().strip()))
    eventually(lambda: proc.poll() is not None, timeout=20)
    assert proc.returncode == 0
    eventually(lambda: not pid_alive(child))


def test_a_renewal_after_expiry_but_within_the_grace_is_honoured(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    pod.start("runpod", idle_spec(ttl=0.3, grace=3600))
    pod.wait_port()
    eventually(lambda: pod.get().json()["lease_expires_in_s"] < 0)  # expired, grace running
    outcome = renew(pod, 600)
    assert outcome.status == "renewed" and (outcome.lease_expires_in_s or 0) > 500
    assert pod.ctl_calls() == []


def test_sigterm_from_the_provider_takes_the_command_down(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    pidfile = pod.tmp / "child.pid"
    command = ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 300"]
    proc = pod.start("runpod", idle_spec(ttl=3600), command)
    child = int(eventually(lambda: pidfile.exists() and pidfile.read_text().strip()))
    proc.terminate()
    assert eventually(lambda: proc.poll() is not None) and proc.returncode == 143
    eventually(lambda: not pid_alive(child))
    assert pod.ctl_calls() == []  # a stop is not a removal


def test_an_unwritable_state_file_does_not_stop_the_guard(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    missing = pod.tmp / "no-such-dir" / "state.json"
    pod.start("runpod", idle_spec(ttl=3600, deadline_s=1.0), ATLAS_GUARD_STATE=str(missing))
    eventually(lambda: pod.ctl_calls() == ["remove pod pod-123"], timeout=20)
    assert "state_unwritable" in pod.guard_log()


def test_the_time_scale_flag(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    # a 10-minute idle lease (plus a 1-minute grace) at 300x pod time is about 2.2 real seconds
    proc = pod.start_agent(["--time-scale", "300", "--", "sleep", "300"], idle_spec(600, 60))
    eventually(lambda: pod.ctl_calls() == ["remove pod pod-123"], timeout=30)
    eventually(lambda: proc.poll() is not None)
    assert pod.read_state()["ending"] == "idle"


def test_a_corrupt_state_file_counts_from_now_and_still_guards(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    pod.state.write_text('{"created_at": "yesterday", "ending": 7}')
    pod.start("runpod", idle_spec(ttl=3600, deadline_s=1.0))
    eventually(lambda: pod.ctl_calls() == ["remove pod pod-123"], timeout=20)
    assert "state_unusable" in pod.guard_log()
    assert isinstance(pod.read_state()["created_at"], float)


def test_a_creation_time_in_the_future_is_clamped(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = RUNPOD_PID1
    pod.state.write_text(json.dumps({"created_at": time.time() + 86400}))  # a clock that was off
    pod.start("runpod", idle_spec(ttl=3600, deadline_s=1.0))
    eventually(lambda: pod.ctl_calls() == ["remove pod pod-123"], timeout=20)


def test_the_program_and_its_settings_are_read_from_pid1_when_the_shell_lacks_them(
    pod: FakePod, rest: FakeREST
):
    pod.pid1 = {"CONTAINER_ID": "31", "CONTAINER_API_KEY": "k31"}
    pod.start("vast", idle_spec(ttl=0.5, grace=0.2), env_in_pid1=True)
    eventually(lambda: [m for m, _ in rest.calls()] == ["DELETE"], timeout=20)
