"""Fault tests: a fast orchestrator (heartbeat 0.1 s, quick retries), no reaper rounds."""

from __future__ import annotations

import pytest

import atlas_nb as atlas
from atlas_nb.orchestrator.supervisor import Supervisor


@pytest.fixture(autouse=True)
def fast_orchestrator():
    atlas.configure(heartbeat_s=0.1, reap_interval_s=3600, reap_grace_s=0)
    saved = Supervisor.terminate_backoff_s, Supervisor.store_backoff_s
    Supervisor.terminate_backoff_s = (0.05, 0.2)
    Supervisor.store_backoff_s = (0.05, 0.2)
    yield
    Supervisor.terminate_backoff_s, Supervisor.store_backoff_s = saved
    atlas.shutdown()
