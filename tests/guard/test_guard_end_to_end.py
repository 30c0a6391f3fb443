"""End to end: a tracked pod on a separately running sandbox ends itself when its client dies.

The sandbox runs in its own process (its pod guards are its children); each atlas_nb client is
a child process that spawns one tracked pod with ``guard="pod"``. The sandbox clock runs
``SPEED`` times fast and the guards honour it, so a 40 s lease lasts 4 s of wall time. Waits
poll the provider API and the guard's state file with generous deadlines; nothing here asserts
how long anything took.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.guard.cloud import Cloud
from tests.helpers.waiting import eventually, pid_alive

SPEED = 10.0
IDLE_S = 40.0  # the lease, in cloud seconds (4 s here)
PROVIDERS = ["runpod", "vast", "fly"]

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    c = Cloud(tmp_path_factory.mktemp("guard-cloud"), SPEED)
    yield c
    c.close()


def spawned(cloud: Cloud, provider: str, **kw: Any) -> tuple[subprocess.Popen[str], str]:
    proc, first = cloud.client(provider, **kw)
    assert "id" in first, first
    pod = first["id"]
    eventually(lambda: cloud.guard_state(provider, pod).get("port"), timeout=60)
    return proc, pod


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_killed_client_leaves_a_pod_that_ends_itself(cloud: Cloud, provider: str):
    proc, pod = spawned(cloud, provider, guard="pod", idle_ttl=IDLE_S)
    first_lease = cloud.guard_state(provider, pod)["lease_expires_at"]
    # the client renews the lease (heartbeats) before it dies
    eventually(
        lambda: cloud.guard_state(provider, pod).get("lease_expires_at", 0) > first_lease,
        timeout=60,
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not pid_alive(proc.pid)  # no atlas_nb client is left
    eventually(lambda: cloud.pod_state(provider, pod) == "gone", timeout=90, interval=0.2)
    assert cloud.guard_state(provider, pod)["ending"] == "idle"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_client_that_keeps_touching_keeps_its_pod_for_several_leases(cloud: Cloud, provider: str):
    proc, pod = spawned(cloud, provider, guard="pod", idle_ttl=IDLE_S, touch=True)
    first = cloud.guard_state(provider, pod)["lease_expires_at"]
    # renewed past three whole leases (guard clock): several leases lived through
    eventually(
        lambda: cloud.guard_state(provider, pod).get("lease_expires_at", 0) > first + 3 * IDLE_S,
        timeout=120,
        interval=0.1,
    )
    state = cloud.guard_state(provider, pod)
    assert state["ending"] is None
    assert cloud.pod_state(provider, pod) not in ("gone", "exited", "stopped")
    proc.kill()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_broken_renewal_channel_still_ends_the_pod_at_its_deadline(
    cloud: Cloud, provider: str, tmp_path: Path
):
    # every renewal goes to a port nothing listens on; the client stays alive and touching
    cfg = cloud.config(f"broken-{provider}", guard_lease="http://127.0.0.1:9/nowhere")
    proc, pod = spawned(
        cloud, provider, guard="pod", idle_ttl=3600, max_runtime=60, touch=True, config=cfg
    )
    eventually(lambda: cloud.pod_state(provider, pod) == "gone", timeout=90, interval=0.2)
    assert cloud.guard_state(provider, pod)["ending"] == "deadline"
    assert proc.poll() is None  # the client was alive all along
    proc.kill()


def test_guard_pod_on_lambda_is_refused_and_says_what_to_do(cloud: Cloud):
    proc, first = cloud.client("lambda", guard="pod", idle_ttl=IDLE_S)
    assert first["error"] == "UnsupportedError", first
    assert "no credential exists inside a Lambda instance" in first["message"]
    assert "guard='client'" in first["message"]
    assert proc.wait() == 3
