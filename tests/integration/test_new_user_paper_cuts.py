"""What a new user hits in their first hour (issue 21), each against the loopback sandbox."""

from __future__ import annotations

import pytest

import atlas_nb as atlas
from atlas_nb.errors import UnsupportedError


@pytest.mark.parametrize("provider", ["lambda", "vast", "fly"])
def test_volume_gb_where_a_provider_has_none_is_unsupported(sandbox, provider):
    opts = {"app": sandbox.fly_apps[0]} if provider == "fly" else None
    gpu = None if provider == "fly" else "a100"
    with pytest.raises(UnsupportedError, match="volume_gb=20") as info:
        atlas.spawn(
            provider=provider, gpu=gpu, image="python:3.11", volume_gb=20, provider_opts=opts
        )
    assert info.value.provider == provider
    assert info.value.hint
    assert atlas.computes(provider=provider).empty  # nothing was created
