"""Fly Machines: auth headers, state mapping, services, costs and request translation."""

import asyncio

import pytest

from atlas_nb.errors import UnsupportedError, ValidationError
from atlas_nb.models import ComputeRequest, ComputeStatus
from atlas_nb.providers.fly_machines import (
    FlyMachinesProvider,
    fly_authorization,
    fly_status,
    guest_from_opts,
    guest_price,
    machine_fields,
    machine_ports,
    services_for,
)


@pytest.mark.parametrize(
    ("token", "header"),
    [
        ("fm2_abc", "FlyV1 fm2_abc"),
        ("fm1r_abc", "FlyV1 fm1r_abc"),
        ("fm1a_abc", "FlyV1 fm1a_abc"),
        ("fm2_a,fm2_b", "FlyV1 fm2_a,fm2_b"),
        ("FlyV1 fm2_abc", "FlyV1 fm2_abc"),
        ("Bearer abc", "Bearer abc"),
        ("personal-oauth-token", "Bearer personal-oauth-token"),
        ("  fm2_abc \n", "FlyV1 fm2_abc"),
    ],
)
def test_authorization_header(token, header):
    assert fly_authorization(token) == header


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("created", ComputeStatus.PROVISIONING),
        ("starting", ComputeStatus.STARTING),
        ("started", ComputeStatus.RUNNING),
        ("restarting", ComputeStatus.STARTING),
        ("updating", ComputeStatus.STARTING),
        ("stopping", ComputeStatus.STOPPING),
        ("stopped", ComputeStatus.STOPPED),
        ("suspending", ComputeStatus.STOPPING),
        ("suspended", ComputeStatus.STOPPED),
        ("destroying", ComputeStatus.TERMINATING),
        ("destroyed", ComputeStatus.TERMINATED),
        ("replaced", ComputeStatus.TERMINATED),
        ("failed", ComputeStatus.FAILED),
        ("launch_failed", ComputeStatus.FAILED),
        ("teleporting", ComputeStatus.UNKNOWN),
        (None, ComputeStatus.UNKNOWN),
    ],
)
def test_state_mapping(state, status):
    assert fly_status(state) == status


def test_services_and_ports_round_trip():
    config = {"services": services_for([(8000, "http"), (9000, "http"), (5432, "tcp")])}
    ports = machine_ports("my-app", config)
    assert [(p.internal, p.external, p.protocol, p.url) for p in ports] == [
        (8000, 443, "http", "https://my-app.fly.dev"),
        (9000, 9000, "http", "https://my-app.fly.dev:9000"),
        (5432, 5432, "tcp", "tcp://my-app.fly.dev:5432"),
    ]


@pytest.mark.parametrize(
    ("guest", "price"),
    [
        ({"cpu_kind": "shared", "cpus": 1, "memory_mb": 256}, 0.002668),
        ({"cpu_kind": "performance", "cpus": 2, "memory_mb": 4096}, 0.08488),
        (None, None),
    ],
)
def test_guest_price(guest, price):
    assert guest_price(guest) == price


def test_machine_fields_hide_injected_secrets_and_keep_the_auth_hash():
    data = {
        "id": "148ed123abc456",
        "name": "atlas-x",
        "state": "started",
        "region": "iad",
        "created_at": "2026-01-01T00:00:00Z",
        "config": {
            "image": "nginx",
            "env": {"ATLAS_PRESHARED_KEY": "s3cret", "MODE": "web"},
            "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
            "metadata": {"atlas_auth": "bearer", "atlas_auth_hash": "abc"},
        },
    }
    f = machine_fields("web", data)
    assert f["id"] == "web/148ed123abc456" and f["status"] == ComputeStatus.RUNNING
    assert f["gpu"] is None and f["gpu_count"] == 0 and f["cost_per_hr"] == 0.002668
    assert f["auth"].scheme == "bearer" and f["auth"].hash == "abc" and f["auth"].token is None
    assert "s3cret" not in repr(f["raw"]) and f["raw"]["config"]["env"]["MODE"] == "web"
    stopped = machine_fields("web", {**data, "state": "stopped"})
    assert stopped["cost_per_hr"] == 0.0


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        ({}, {}),
        ({"size": "performance-2x"}, {"size": "performance-2x"}),
        ({"cpus": 2, "memory_mb": 1024}, {"guest": {"cpus": 2, "memory_mb": 1024}}),
        (
            {"guest": {"cpu_kind": "performance", "cpus": 1}},
            {"guest": {"cpu_kind": "performance", "cpus": 1}},
        ),
    ],
)
def test_guest_from_opts(opts, expected):
    assert guest_from_opts(opts) == expected


def test_guest_from_opts_refuses_ambiguity_and_gpus():
    with pytest.raises(ValidationError, match="one way"):
        guest_from_opts({"size": "shared-cpu-1x", "cpus": 2})
    with pytest.raises(UnsupportedError, match="no longer offers GPU"):
        guest_from_opts({"guest": {"gpu_kind": "a100-80gb"}})


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        ({"gpu": "h100"}, UnsupportedError, "runpod"),
        ({"provider_opts": {}}, ValidationError, "need an app|live in an app"),
        ({"provider_opts": {"app": "a", "sise": "x"}}, ValidationError, "Did you mean 'size'"),
        ({"provider_opts": {"app": "a"}, "spot": True}, UnsupportedError, "spot"),
        ({"provider_opts": {"app": "a"}, "volume_gb": 10}, UnsupportedError, "volumes"),
        ({"provider_opts": {"app": "a"}, "disk_gb": 10}, ValidationError, "volumes"),
    ],
)
def test_spawn_refuses_before_any_request(kw, error, message):
    prov = FlyMachinesProvider()
    request = ComputeRequest(image="nginx", **kw)
    with pytest.raises(error, match=message):
        asyncio.run(prov.spawn(request))
