"""A sandbox killed by a signal takes its pod guards with it (their pods vanished with it).

Before the keeper, a SIGKILLed sandbox left every guard it ran alive in its own session,
calling a server that no longer existed; a CI run once found 250 of them.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from tests.guard.cloud import Cloud
from tests.helpers.waiting import eventually, pid_alive

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]


def guard_pids(folder: Path) -> set[int]:
    """Live processes whose environment points into ``folder`` (the sandbox's guard dirs)."""
    marker = f"ATLAS_GUARD_DIR={folder}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ and pid_alive(int(entry.name)):
                found.add(int(entry.name))
    return found


@pytest.mark.parametrize("provider", ["runpod", "vast"])
def test_a_sigkilled_sandbox_leaves_no_guard_running(tmp_path: Path, provider: str):
    cloud = Cloud(tmp_path, speed=10.0)
    try:
        client, first = cloud.client(provider, guard="pod", idle_ttl=3600)
        assert "id" in first, first
        pod = first["id"]
        eventually(lambda: cloud.guard_state(provider, pod).get("port"), timeout=60)
        client.kill()
        client.wait()
        guards = eventually(lambda: guard_pids(cloud.sbtmp), timeout=30)

        os.kill(cloud.proc.pid, signal.SIGKILL)
        cloud.proc.wait()

        eventually(lambda: not any(pid_alive(pid) for pid in guards), timeout=30)
        assert not guard_pids(cloud.sbtmp)
        eventually(lambda: not list(cloud.sbtmp.glob("atlas-sandbox-guards-*")), timeout=30)
    finally:
        cloud.close()
