"""Public signatures name what they accept: loosely typed arguments use a named alias
(``Ports``, ``Providers``, ``SpawnFrom``, ``Duration``), never a bare ``Any``."""

from __future__ import annotations

import inspect

import pytest

import atlas_nb as atlas
from atlas_nb import aio

LOOSE_ARGUMENTS = [
    (atlas.spawn, "request", "SpawnFrom | None"),
    (atlas.spawn, "ports", "Ports"),
    (aio.spawn, "ports", "Ports"),
    (atlas.offers, "providers", "Providers | None"),
    (atlas.offers, "provider", "Providers | None"),
    (atlas.gpu_types, "providers", "Providers | None"),
    (atlas.launch, "providers", "Providers | None"),
    (atlas.dashboard, "refresh", "Duration"),
]


@pytest.mark.parametrize(("fn", "name", "alias"), LOOSE_ARGUMENTS)
def test_a_loose_argument_has_a_named_type(fn, name, alias):
    annotation = inspect.signature(fn).parameters[name].annotation
    assert str(annotation) == alias


def test_no_public_function_takes_a_bare_any():
    loose = []
    for public in atlas.__all__:
        fn = getattr(atlas, public)
        if not inspect.isfunction(fn):
            continue
        for param in inspect.signature(fn).parameters.values():
            if param.kind is param.VAR_KEYWORD:
                continue  # **fields / **provider_opts pass through to a named model
            if str(param.annotation) == "Any":
                loose.append(f"{public}({param.name})")
    assert loose == []


def test_the_aliases_are_importable_where_they_are_defined():
    from atlas_nb._durations import Duration
    from atlas_nb.core.compute import SpawnFrom
    from atlas_nb.models.compute import Ports
    from atlas_nb.providers.registry import Providers

    assert all(a is not None for a in (Duration, SpawnFrom, Ports, Providers))
