"""The launcher's sh-only path (an image without python3): deadline and $ cap, no idle lease."""

from __future__ import annotations

import os
import shutil

import pytest

from atlas_nb.guard import GuardSpec
from tests.guard.harness import TOKEN, FakePod, FakeREST
from tests.helpers.waiting import eventually

TOOLS = (
    "sh",
    "tr",
    "sed",
    "head",
    "mkdir",
    "date",
    "cat",
    "awk",
    "sleep",
    "curl",
)  # no nohup either


@pytest.fixture
def no_python(pod: FakePod) -> str:
    """A PATH with the usual shell tools (and the fake runpodctl's dir) but no python3."""
    tools = pod.tmp / "tools"
    tools.mkdir()
    for name in TOOLS:
        found = shutil.which(name)
        if found is None:
            pytest.skip(f"{name} is not installed here")
        os.symlink(found, tools / name)
    assert shutil.which("python3", path=f"{pod.bin}:{tools}") is None
    return f"{pod.bin}:{tools}"


def test_without_python3_the_deadline_still_ends_a_runpod_pod(pod: FakePod, no_python: str):
    pod.fake_runpodctl()
    pod.pid1 = {"RUNPOD_POD_ID": "pod-9"}
    spec = GuardSpec(idle_ttl_s=3600, deadline_s=1, token=TOKEN)
    proc = pod.start("runpod", spec, PATH=no_python)
    eventually(lambda: pod.ctl_calls() == ["remove pod pod-9"], timeout=20)
    eventually(lambda: proc.poll() is not None)
    assert "no idle lease without python3" in pod.guard_log()


def test_without_python3_the_cap_destroys_a_vast_instance_or_stops_it(
    pod: FakePod, rest: FakeREST, no_python: str
):
    rest.status["DELETE"] = 403  # the scoped key may not destroy: it stops instead
    pod.pid1 = {"CONTAINER_ID": "55", "CONTAINER_API_KEY": "k55"}
    spec = GuardSpec(idle_ttl_s=3600, cap_usd=0.01, price_hr=36.0, token=TOKEN)
    pod.start("vast", spec, PATH=no_python)
    path = "/api/v0/instances/55/"
    eventually(lambda: rest.calls() == [("DELETE", path), ("PUT", path)], timeout=20)
    assert rest.requests[1]["body"] == {"state": "stopped"}
    assert rest.requests[0]["auth"] == "Bearer k55"
