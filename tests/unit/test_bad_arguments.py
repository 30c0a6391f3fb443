"""Bad arguments to the facade end in a ValidationError naming the argument, never in a
TypeError/AttributeError from deep inside (and nothing is created)."""

import pytest

import atlas_nb as atlas
from atlas_nb._args import mapping, names, number, whole
from atlas_nb.errors import ValidationError


def spawn(**kw):
    return atlas.spawn(provider="mock", gpu="h100", image="python:3.11", **kw)


def offers(**kw):
    return atlas.offers(gpu="h100", providers="mock", **kw)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: spawn(regions=5), "regions"),
        (lambda: spawn(regions=[1]), "regions"),
        (lambda: spawn(regions={"us": 1}), "regions"),
        (lambda: spawn(provider_opts=[1]), "provider_opts"),
        (lambda: spawn(provider_opts="app=web"), "provider_opts"),
        (lambda: spawn(env=[("A", "1")]), "env"),
        (lambda: spawn(env="A=1"), "env"),
        (lambda: spawn(ports=object()), "ports"),
        (lambda: spawn(ports=8000.5), "ports"),
        (lambda: spawn(ports={"8000": "http"}), "ports"),
        (lambda: offers(regions=5), "regions"),
        (lambda: offers(count=[1]), "count"),
        (lambda: offers(count=0), "count"),
        (lambda: offers(count=True), "count"),
        (lambda: offers(limit="ten"), "limit"),
        (lambda: offers(max_price_per_hr="cheap"), "max_price_per_hr"),
        (lambda: offers(max_price_per_hr=-1), "max_price_per_hr"),
        (lambda: atlas.offers(gpu="h100", providers=5), "providers"),
        (lambda: atlas.gpu_types(providers=5), "providers"),
    ],
)
def test_bad_arguments_name_the_field(call, field):
    with pytest.raises(ValidationError) as err:
        call()
    assert err.value.field == field
    assert field in str(err.value)
    assert atlas.computes(provider="mock").empty  # nothing was spawned


def test_well_formed_arguments_still_work():
    c = spawn(regions="us-east-1", ports=(p for p in ["8000/http"]), env={"A": "1"})
    assert [p.internal for p in c.ports] == [8000]
    assert c.region == "us-east-1"
    df = offers(regions=("us-east-1",), limit=0, max_price_per_hr=100, count=1)
    assert df.empty


@pytest.mark.parametrize(
    ("check", "value", "expected"),
    [
        (names, None, []),
        (names, "a", ["a"]),
        (names, ("a", "b"), ["a", "b"]),
        (whole, None, None),
        (whole, 3, 3),
        (number, 2, 2.0),
        (number, None, None),
        (mapping, {}, None),
        (mapping, {"a": 1}, {"a": 1}),
    ],
)
def test_checks_pass_good_values(check, value, expected):
    assert check(value, "x") == expected


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (names, 5),
        (names, b"ab"),
        (names, {"a": 1}),
        (names, ["a", None]),
        (whole, 0),
        (whole, 1.5),
        (whole, "3"),
        (whole, False),
        (number, "1"),
        (number, -0.5),
        (number, True),
        (mapping, [("a", 1)]),
        (mapping, "a=1"),
    ],
)
def test_checks_refuse_bad_values(check, value):
    with pytest.raises(ValidationError) as err:
        check(value, "x")
    assert err.value.field == "x"
