"""The browser tests' artifacts: one screenshot per notebook, in ``$ATLAS_NB_TEST_ARTIFACTS`` or
a fresh temporary directory; the directory is printed in pytest's summary."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ARTIFACTS = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def artifacts(request, tmp_path_factory):
    """Where screenshots go (created)."""
    where = os.environ.get("ATLAS_NB_TEST_ARTIFACTS")
    path = Path(where) if where else tmp_path_factory.mktemp("browser-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    request.config.stash[ARTIFACTS] = path
    return path


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    path = config.stash.get(ARTIFACTS, None)
    if path is not None:
        shots = sorted(p.name for p in path.glob("*.png"))
        terminalreporter.write_line(f"browser screenshots ({len(shots)}): {path}")
