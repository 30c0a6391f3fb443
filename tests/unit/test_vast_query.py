"""The Vast filter builder: Python arguments -> Vast's query JSON, refusing what it can't say."""

import pytest

from atlas_nb.errors import ValidationError
from atlas_nb.providers.vast_query import build_query, country, vast_gpu_names

BASE = {
    "verified": {"eq": True},
    "external": {"eq": False},
    "rentable": {"eq": True},
    "rented": {"eq": False},
    "type": "on-demand",
}


def without_base(q):
    return {k: v for k, v in q.items() if k not in BASE}


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, {"order": [["dph_total", "asc"], ["id", "asc"]]}),
        (
            {"gpu": "rtx_4090"},
            {"gpu_name": {"in": ["RTX 4090"]}, "order": [["dph_total", "asc"], ["id", "asc"]]},
        ),
        (
            {"gpu": ["rtx_4090", "RTX 3090"]},
            {
                "gpu_name": {"in": ["RTX 4090", "RTX 3090"]},
                "order": [["dph_total", "asc"], ["id", "asc"]],
            },
        ),
        (
            {"gpu": "a100_80g"},
            {
                "gpu_name": {"in": ["A100 SXM4", "A100 PCIE"]},
                "gpu_ram": {"gte": 60000},
                "order": [["dph_total", "asc"], ["id", "asc"]],
            },
        ),
        (
            {"gpu": "a100_40g", "min_vram_gb": 30},
            {
                "gpu_name": {"in": ["A100 SXM4", "A100 PCIE"]},
                "gpu_ram": {"lt": 60000, "gte": 30000},
                "order": [["dph_total", "asc"], ["id", "asc"]],
            },
        ),
        (
            {"gpu": "a100_80g", "min_vram_gb": 70},  # the tighter lower bound wins
            {
                "gpu_name": {"in": ["A100 SXM4", "A100 PCIE"]},
                "gpu_ram": {"gte": 70000},
                "order": [["dph_total", "asc"], ["id", "asc"]],
            },
        ),
        (
            {"gpu": "RTX_3060"},
            {"gpu_name": {"in": ["RTX 3060"]}, "order": [["dph_total", "asc"], ["id", "asc"]]},
        ),
        ({"num_gpus": 4}, {"num_gpus": {"eq": 4}, "order": [["dph_total", "asc"], ["id", "asc"]]}),
        (
            {"num_gpus": [8, 2, 2]},
            {"num_gpus": {"in": [2, 8]}, "order": [["dph_total", "asc"], ["id", "asc"]]},
        ),
        ({"min_gpus": 2}, {"num_gpus": {"gte": 2}, "order": [["dph_total", "asc"], ["id", "asc"]]}),
        (
            {"min_vram_gb": 24},
            {"gpu_ram": {"gte": 24000}, "order": [["dph_total", "asc"], ["id", "asc"]]},
        ),
        (
            {"max_price_per_hr": 0.5},
            {"dph_total": {"lte": 0.5}, "order": [["dph_total", "asc"], ["id", "asc"]]},
        ),
        (
            {"min_reliability": 0.98},
            {"reliability": {"gte": 0.98}, "order": [["dph_total", "asc"], ["id", "asc"]]},
        ),
        (
            {"countries": ["us", "CA"]},
            {"geolocation": {"in": ["US", "CA"]}, "order": [["dph_total", "asc"], ["id", "asc"]]},
        ),
        (
            {"countries": "DE"},
            {"geolocation": {"in": ["DE"]}, "order": [["dph_total", "asc"], ["id", "asc"]]},
        ),
        ({"type": "bid"}, {"type": "bid", "order": [["dph_total", "asc"], ["id", "asc"]]}),
        (
            {"type": "reserved"},
            {"type": "reserved", "order": [["dph_total", "asc"], ["id", "asc"]]},
        ),
        ({"order_by": "-reliability"}, {"order": [["reliability", "desc"], ["id", "asc"]]}),
        ({"order_by": "+reliability"}, {"order": [["reliability", "asc"], ["id", "asc"]]}),
        ({"order_by": "value"}, {"order": [["dlperf_per_dphtotal", "desc"], ["id", "asc"]]}),
        (
            {"order_by": ["-score", "inet_down"]},
            {"order": [["score", "desc"], ["inet_down", "asc"]]},
        ),
        ({"limit": 20}, {"order": [["dph_total", "asc"], ["id", "asc"]], "limit": 20}),
        (
            {"disk_gb": 50},
            {"order": [["dph_total", "asc"], ["id", "asc"]], "allocated_storage": 50.0},
        ),
        ({"offer_ids": 7}, {"id": {"eq": 7}, "order": [["dph_total", "asc"], ["id", "asc"]]}),
        (
            {"offer_ids": [7, 8]},
            {"id": {"in": [7, 8]}, "order": [["dph_total", "asc"], ["id", "asc"]]},
        ),
        (
            {"extra": {"cuda_max_good": {"gte": 12.4}}},
            {"cuda_max_good": {"gte": 12.4}, "order": [["dph_total", "asc"], ["id", "asc"]]},
        ),
    ],
)
def test_build_query(kw, expected):
    q = build_query(**kw)
    base = {**BASE, "type": kw.get("type", "on-demand")}
    assert {k: q[k] for k in base} == base
    assert without_base(q) == {k: v for k, v in expected.items() if k != "type"}


def test_verified_choices():
    assert build_query(verified=False)["verified"] == {"eq": False}
    assert "verified" not in build_query(verified=None)  # as the vast CLI sends verified=any


@pytest.mark.parametrize("kind", ["on-demand", "bid", "reserved"])
def test_type_and_the_cli_defaults_are_always_sent(kind):
    q = build_query(type=kind)
    assert q["type"] == kind
    assert q["external"] == {"eq": False}


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"gpu": ["a100_80g", "rtx_4090"]}, "cannot be combined"),
        ({"gpu": "mi300x"}, "Vast does not list mi300x"),
        ({"gpu": "h10"}, "Did you mean 'h100'"),
        ({"gpu": []}, "matches nothing"),
        ({"num_gpus": 0}, "num_gpus"),
        ({"num_gpus": []}, "num_gpus"),
        ({"min_gpus": 0}, "min_gpus"),
        ({"min_vram_gb": -1}, "min_vram_gb"),
        ({"max_price_per_hr": 0}, "max_price_per_hr"),
        ({"min_reliability": 98}, "fraction"),
        ({"countries": ["USA"]}, "two-letter"),
        ({"countries": []}, "two-letter"),
        ({"type": "spot"}, "type="),
        ({"order_by": "cheapness"}, "not a field Vast can sort"),
        ({"limit": 0}, "positive"),
        ({"disk_gb": 0}, "disk_gb"),
        ({"extra": {"not_a_field": {"eq": 1}}}, "not a Vast offer field"),
        ({"extra": {"num_gpus": {"approx": 1}}}, "not a Vast query operator"),
        ({"extra": {"num_gpus": {"eq": 2}}, "num_gpus": 4}, "two filters ask num_gpus eq"),
    ],
)
def test_refuses_instead_of_dropping(kw, message):
    with pytest.raises(ValidationError, match=message):
        build_query(**kw)


@pytest.mark.parametrize(
    ("gpu", "names", "ram"),
    [
        ("h100", ["H100 SXM"], None),
        ("rtx_4090", ["RTX 4090"], None),
        ("a100_40g", ["A100 SXM4", "A100 PCIE"], {"lt": 60000}),
        ("H100 SXM", ["H100 SXM"], None),
        ("GTX 1080 Ti", ["GTX 1080 Ti"], None),
    ],
)
def test_vast_gpu_names(gpu, names, ram):
    assert vast_gpu_names(gpu) == (names, ram)


@pytest.mark.parametrize(
    ("geo", "cc"),
    [
        ("Texas, US", "US"),
        ("Ile-de-France, FR", "FR"),
        ("California, United States", "US"),
        ("Ontario, Canada", "CA"),
        ("Sweden", "SE"),
        ("Atlantis", None),
        ("", None),
        (None, None),
    ],
)
def test_country(geo, cc):
    assert country(geo) == cc
