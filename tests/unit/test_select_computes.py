"""``providers.base.select_computes``: the one status/name filter behind every provider's
``list_computes`` (each provider says which statuses a plain list hides)."""

from __future__ import annotations

import pytest

from atlas_nb.models import Compute, ComputeStatus
from atlas_nb.providers.base import select_computes

S = ComputeStatus
PODS = [
    Compute(id="run", provider="mock", name="web", status=S.RUNNING),
    Compute(id="ending", provider="mock", name="web", status=S.TERMINATING),
    Compute(id="gone", provider="mock", name="web", status=S.TERMINATED),
    Compute(id="db", provider="mock", name="db", status=S.STOPPED),
]
GONE = (S.TERMINATING, S.TERMINATED)


@pytest.mark.parametrize(
    ("kwargs", "ids"),
    [
        ({}, ["run", "ending", "db"]),
        ({"hidden": GONE}, ["run", "db"]),
        ({"hidden": ()}, ["run", "ending", "gone", "db"]),
        ({"name": "web"}, ["run", "ending"]),
        ({"name": "web", "hidden": GONE}, ["run"]),
        ({"status": S.TERMINATED}, ["gone"]),
        ({"status": S.TERMINATED, "hidden": GONE}, ["gone"]),  # asked for: shown
        ({"status": S.STOPPED, "name": "web"}, []),
        ({"name": "nobody"}, []),
    ],
)
def test_select_computes(kwargs, ids):
    assert [c.id for c in select_computes(PODS, **kwargs)] == ids
