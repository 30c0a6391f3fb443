"""Isolation for every test: a private config file, data dir and no real provider keys."""

from __future__ import annotations

import os
import signal

import pytest

from atlas_nb.config import ENV_VARS

# Never pick up a developer's real keys or config.
for _names in ENV_VARS.values():
    for _name in _names:
        os.environ.pop(_name, None)
for _name in ("ATLAS_NB_STORE", "ATLAS_NB_STORE_KEY"):  # a developer's team store, too
    os.environ.pop(_name, None)


@pytest.fixture(autouse=True, scope="session")
def ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt in the tests, even when pytest was started ignoring it.

    A shell starts a background job (`make test &`, `nohup`) with SIGINT ignored, and Python then
    leaves it ignored; the tests that press Ctrl-C on a blocking call would wait for nothing.
    """
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    import atlas_nb as atlas
    from atlas_nb.providers.mock import MockProvider

    monkeypatch.setenv("ATLAS_NB_CONFIG", str(tmp_path / "atlas_nb.toml"))
    atlas.configure(reset=True, data_dir=str(tmp_path / "data"), owner="testown")
    MockProvider.reset()
    yield
    atlas.configure(reset=True)
    MockProvider.reset()


@pytest.fixture
def sandbox():
    """A loopback sandbox (real HTTP on 127.0.0.1) with a fast clock; atlas_nb points at it."""
    import atlas_nb as atlas

    with atlas.sandbox.start(speed=100, seed=0) as sb:
        yield sb


@pytest.fixture
def sandbox_inproc():
    """The sandbox behind an in-process httpx transport (no sockets, no streaming)."""
    import atlas_nb as atlas

    sb = atlas.sandbox.in_process(speed=100, seed=0)
    try:
        yield sb
    finally:
        sb.stop()
