"""Vast.ai: normalising offers and instances (MB -> GB, actual_status, prices, ports)."""

from datetime import UTC, datetime

import pytest

from atlas_nb.errors import ValidationError
from atlas_nb.models import ComputeStatus
from atlas_nb.providers.vast import (
    PORTS_ENV,
    env_flags,
    gpu_types_from_offers,
    instance_fields,
    instance_ports,
    mb_to_gb,
    offer_prices,
    offer_row,
    vast_status,
)
from atlas_nb.sandbox.vast.api import parse_env

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("actual", "intended", "cur", "expected"),
    [
        (None, "running", "running", ComputeStatus.PROVISIONING),
        ("created", "running", "running", ComputeStatus.PROVISIONING),
        ("loading", "running", "running", ComputeStatus.STARTING),
        ("running", "running", "running", ComputeStatus.RUNNING),
        ("exited", "running", "running", ComputeStatus.FAILED),
        ("offline", "running", "running", ComputeStatus.FAILED),
        ("unknown", "running", "running", ComputeStatus.UNKNOWN),
        ("stopped", "running", "running", ComputeStatus.STARTING),
        ("brand-new", "running", "running", ComputeStatus.UNKNOWN),
        ("running", "stopped", "stopped", ComputeStatus.STOPPING),
        ("exited", "stopped", "stopped", ComputeStatus.STOPPED),
        ("stopped", "stopped", "stopped", ComputeStatus.STOPPED),
        (None, "stopped", "stopped", ComputeStatus.STOPPED),
        ("offline", "stopped", "stopped", ComputeStatus.STOPPED),
        ("unknown", "stopped", "stopped", ComputeStatus.UNKNOWN),
        ("exited", "running", "stopped", ComputeStatus.STOPPED),
    ],
)
def test_status_table(actual, intended, cur, expected):
    assert vast_status(actual, intended, cur) == expected


@pytest.mark.parametrize(
    ("offer", "bid", "expected"),
    [
        ({"dph_total": 0.52, "dph_base": 0.5, "min_bid": 0.2}, False, (0.52, 0.22)),
        ({"dph_total": 0.22, "dph_base": 0.5, "min_bid": 0.2}, True, (0.52, 0.22)),
        ({"dph_total": 0.5}, False, (0.5, None)),
        ({"dph_total": 0.2, "min_bid": 0.2}, True, (None, 0.2)),
        ({}, False, (None, None)),
    ],
)
def test_offer_prices(offer, bid, expected):
    assert offer_prices(offer, bid=bid) == expected


@pytest.mark.parametrize(
    ("mb", "gb"), [(24564, 24.0), (81920, 80.0), (143771, 140.4), (None, None)]
)
def test_mb_to_gb(mb, gb):
    assert mb_to_gb(mb) == gb


def offer(**over):
    base = {
        "id": 5000001,
        "gpu_name": "A100 SXM4",
        "num_gpus": 2,
        "gpu_ram": 81920,
        "cpu_cores_effective": 32.0,
        "cpu_ram": 131072,
        "dph_total": 2.01,
        "dph_base": 2.0,
        "min_bid": 0.9,
        "geolocation": "Quebec, CA",
    }
    base.update(over)
    return base


def test_offer_row_units_and_names():
    row = offer_row(offer(), bid=False, now=NOW)
    assert row == {
        "provider": "vast",
        "gpu": "a100_80g",  # the memory picks 80 GB among the names Vast shares
        "native_id": "A100 SXM4",
        "gpu_count": 2,
        "vram_gb": 80.0,
        "vcpus": 32.0,
        "ram_gb": 128.0,
        "price_per_hr": 2.01,
        "spot_price_per_hr": 0.91,
        "region": "CA",
        "availability": "high",
        "offer_id": "5000001",
        "fetched_at": NOW,
    }
    assert offer_row(offer(gpu_ram=40960), bid=False, now=NOW)["gpu"] == "a100_40g"
    assert offer_row(offer(gpu_name="GTX 1080 Ti"), bid=False, now=NOW)["gpu"] is None


def test_env_flags_round_trip_through_the_fakes_parser():
    flags = env_flags({"A": "1", "SPACED": "two words", "Q": "it's", "E": ""}, [(8000, "http")])
    pairs, ports = parse_env(flags)
    assert dict(pairs) == {
        "A": "1",
        "SPACED": "two words",
        "Q": "it's",
        "E": "",
        PORTS_ENV: "8000/http",
    }
    assert ports == [8000]


@pytest.mark.parametrize("value", ['say "hi"', "back\\slash", "two\nlines"])
def test_env_flags_refuse_what_docker_flags_cannot_carry(value):
    with pytest.raises(ValidationError, match="docker-flag"):
        env_flags({"K": value}, [])


def instance(**over):
    base = {
        "id": 8000123,
        "actual_status": "running",
        "intended_status": "running",
        "cur_state": "running",
        "label": "atlas-abc",
        "image_uuid": "python:3.11",
        "gpu_name": "RTX 4090",
        "num_gpus": 1,
        "gpu_ram": 24564,
        "dph_total": 0.41,
        "dph_base": 0.4,
        "geolocation": "Texas, US",
        "public_ipaddr": "203.0.113.7",
        "start_date": 1767225600.0,
        "extra_env": [["ATLAS_PRESHARED_KEY", "s3cret"], [PORTS_ENV, "8000/http,22/tcp"]],
        "ports": {
            "8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "40123"}],
            "22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "40022"}],
        },
    }
    base.update(over)
    return base


def test_instance_fields():
    f = instance_fields(instance())
    assert f["id"] == "8000123" and f["name"] == "atlas-abc"
    assert f["status"] == ComputeStatus.RUNNING and f["provider_status"] == "running"
    assert (f["gpu"], f["gpu_count"], f["region"], f["cost_per_hr"]) == ("rtx_4090", 1, "US", 0.41)
    assert f["created_at"] == NOW
    assert "s3cret" not in repr(f["raw"])  # the injected token is masked in raw
    assert [(p.internal, p.external, p.protocol, p.url) for p in f["ports"]] == [
        (8000, 40123, "http", "http://203.0.113.7:40123"),
        (22, 40022, "tcp", "tcp://203.0.113.7:40022"),
    ]


def test_stopped_instance_bills_storage_only():
    f = instance_fields(instance(actual_status="exited", intended_status="stopped"))
    assert f["status"] == ComputeStatus.STOPPED and f["cost_per_hr"] == 0.01


def test_ports_before_running_and_extra_env_as_object():
    ports = instance_ports(instance(ports=None, extra_env={PORTS_ENV: "8000/http"}))
    assert [(p.internal, p.external, p.url) for p in ports] == [(8000, None, None)]


def test_gpu_types_from_offers():
    offers = [
        offer(id=1, gpu_name="RTX 4090", gpu_ram=24564, num_gpus=1, dph_total=0.4, dph_base=0.39),
        offer(id=2, gpu_name="RTX 4090", gpu_ram=24564, num_gpus=4, dph_total=1.2, dph_base=1.19),
        offer(id=3, geolocation="Bavaria, DE"),
    ]
    types = {(t.native_id, t.gpu): t for t in gpu_types_from_offers(offers, NOW)}
    rtx = types[("RTX 4090", "rtx_4090")]
    assert rtx.price_per_hr == 0.3 and rtx.max_count == 4 and rtx.availability == "low"
    assert rtx.spot_price_per_hr == pytest.approx(0.9 / 4 + 0.01 / 4, abs=1e-4)
    assert types[("A100 SXM4", "a100_80g")].regions == ["DE"]


def test_offer_rows_match_offer_row():
    from atlas_nb.providers.vast import offer_rows

    offers = [
        offer(),
        offer(id=2, dph_total=0.95, gpu_name="GTX 1080 Ti", gpu_ram=None, cpu_ram=None),
        offer(id=3, dph_total=None),
        offer(id=4, min_bid=None, geolocation="Norway"),
        offer(id=5, dph_base=None),
    ]
    for bid in (False, True):
        assert offer_rows(offers, bid=bid, now=NOW) == [
            offer_row(o, bid=bid, now=NOW) for o in offers
        ]
