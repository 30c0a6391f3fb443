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


@pytest.mark.parametrize("spelling", ["provider", "providers"])
def test_offers_and_gpu_types_take_either_spelling(sandbox, spelling):
    offers = atlas.offers(gpu="h100", **{spelling: "vast"})
    assert not offers.empty and set(offers["provider"]) == {"vast"}
    types = atlas.gpu_types(**{spelling: "lambda"})
    assert not types.empty and set(types["provider"]) == {"lambda"}
    both = atlas.gpu_types(**{spelling: ["lambda", "vast"]})
    assert set(both["provider"]) == {"lambda", "vast"}


@pytest.mark.parametrize("call", [atlas.offers, atlas.gpu_types])
def test_both_spellings_at_once_are_a_validation_error(call):
    with pytest.raises(atlas.ValidationError, match="both provider='vast' and providers"):
        call(provider="vast", providers="lambda")
