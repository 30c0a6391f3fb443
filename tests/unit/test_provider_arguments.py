"""``providers=`` means the same everywhere it is taken (offers, gpu_types, launch, reap): one
provider as a name, a class or an instance, or a list of them (``registry.provider_list``)."""

from __future__ import annotations

import pytest

import atlas_nb as atlas
from atlas_nb.errors import ValidationError
from atlas_nb.providers.mock import MockProvider

ONE_PROVIDER = ["mock", MockProvider, MockProvider(), ["mock"], ("mock",)]


@pytest.mark.parametrize("providers", ONE_PROVIDER, ids=repr)
def test_the_catalogue_calls_take_one_provider_in_every_form(providers):
    assert set(atlas.offers("h100", providers=providers)["provider"]) == {"mock"}
    assert set(atlas.gpu_types(providers=providers)["provider"]) == {"mock"}


@pytest.mark.parametrize("providers", ONE_PROVIDER, ids=repr)
def test_launch_takes_one_provider_in_every_form(providers):
    c = atlas.launch("h100", providers=providers, image="x", track=False, progress=False)
    try:
        assert c.provider == "mock"
    finally:
        c.terminate()


@pytest.mark.parametrize("call", [atlas.offers, atlas.launch], ids=lambda f: f.__name__)
def test_a_providers_value_that_is_no_provider_is_refused_by_name(call):
    with pytest.raises(ValidationError, match="providers must be a provider or a list"):
        call("h100", providers=5)
