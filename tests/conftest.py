"""Isolation for every test: a private config file, data dir and no real provider keys."""

from __future__ import annotations

import os

import pytest

from atlas_nb.errors import ENV_VARS

# Never pick up a developer's real keys or config.
for _names in ENV_VARS.values():
    for _name in _names:
        os.environ.pop(_name, None)


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
