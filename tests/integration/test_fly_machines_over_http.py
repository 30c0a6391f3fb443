"""Fly Machines over real HTTP (loopback sandbox): the conformance suite plus Fly's own rules."""

from typing import Any, ClassVar

import httpx
import pytest

import atlas_nb as atlas
from atlas_nb.errors import (
    AtlasTimeoutError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    UnsupportedError,
    ValidationError,
)
from atlas_nb.providers import fly_machines
from atlas_nb.sandbox.fly.world import fly_world
from atlas_nb.testing import ProviderConformance

APP = "atlas-demo-worker"


@pytest.fixture(autouse=True)
def fly_sandbox(sandbox):
    return sandbox


class TestFlyMachinesConformance(ProviderConformance):
    provider = "fly"
    spawn_kwargs: ClassVar[dict[str, Any]] = {
        "gpu": None,
        "image": "test/image:latest",
        "ports": ["8000/http"],
        "provider_opts": {"app": APP},
    }
    wait_timeout = 15.0


def spawn(**kw):
    kw.setdefault("image", "nginx:1.27")
    kw.setdefault("provider_opts", {"app": APP})
    return atlas.spawn(provider="fly", **kw)


def test_guest_region_env_services_restart(fly_sandbox):
    c = spawn(
        env={"MODE": "worker"},
        ports=["8000/http", "5432/tcp"],
        regions=["ams"],
        provider_opts={
            "app": APP,
            "cpu_kind": "performance",
            "cpus": 2,
            "memory_mb": 4096,
            "auto_destroy": True,
            "restart": "on-failure",
        },
    )
    config = c.raw["config"]
    assert config["guest"] == {"cpu_kind": "performance", "cpus": 2, "memory_mb": 4096}
    assert config["env"] == {"MODE": "worker"} and config["auto_destroy"] is True
    assert config["restart"] == {"policy": "on-failure"}
    assert c.region == "ams" and c.cost_per_hr == pytest.approx(2 * 0.0287 + 4 * 0.00687)
    assert [(p.internal, p.url) for p in c.ports] == [
        (8000, f"https://{APP}.fly.dev"),
        (5432, f"tcp://{APP}.fly.dev:5432"),
    ]
    sized = spawn(provider_opts={"app": APP, "size": "shared-cpu-4x"})
    assert sized.raw["config"]["guest"]["cpus"] == 4


def test_machines_are_shared_with_the_fly_world(fly_sandbox):
    c = spawn().wait_until_running(timeout=10, progress=False)
    machines = fly_world(fly_sandbox.state).apps[APP].machines
    mid = c.id.split("/", 1)[1]
    assert machines[mid].get("state") == "started"  # what the fake logs API reads


def test_wait_for_states(fly_sandbox):
    c = spawn()
    assert fly_machines.wait(c.id, "started", timeout=10).status == atlas.ComputeStatus.RUNNING
    atlas.stop(c.id, provider="fly")
    assert fly_machines.wait(c.id, "stopped", timeout=10).status == atlas.ComputeStatus.STOPPED
    with pytest.raises(AtlasTimeoutError, match="did not reach started"):
        fly_machines.wait(c.id, "started", timeout=1)
    with pytest.raises(ValidationError):
        fly_machines.wait(c.id, "sleeping")
    atlas.terminate(c.id, provider="fly")
    assert fly_machines.wait(c.id, "destroyed", timeout=10).status == atlas.ComputeStatus.TERMINATED


def test_restart(fly_sandbox):
    c = spawn().wait_until_running(timeout=10, progress=False)
    restarted = atlas.restart(c.id, provider="fly")
    assert restarted.provider_status == "restarting"
    assert restarted.wait_until_running(timeout=10, progress=False).is_running


def test_app_from_settings_and_bare_ids(fly_sandbox):
    with pytest.raises(ValidationError, match="provider_opts=\\{'app': 'my-app'\\}"):
        atlas.spawn(provider="fly", image="nginx")
    atlas.configure(fly_app=APP)
    c = atlas.spawn(provider="fly", image="nginx")
    mid = c.id.split("/", 1)[1]
    assert c.id == f"{APP}/{mid}"
    assert atlas.compute(mid, provider="fly").id == c.id  # bare id in the configured app
    assert list(atlas.computes(provider="fly")["id"]) == [c.id]
    atlas.configure(fly_app=None)
    assert atlas.compute(mid, provider="fly").id == c.id  # looked up across the org's apps
    with pytest.raises(NotFoundError):
        atlas.compute("0123456789abcd", provider="fly")


def test_gpus_are_refused_with_a_way_forward(fly_sandbox):
    with pytest.raises(UnsupportedError) as info:
        spawn(gpu="l40s")
    assert "runpod" in str(info.value) and "lambda" in str(info.value)
    with pytest.raises(UnsupportedError):
        spawn(provider_opts={"app": APP, "guest": {"gpu_kind": "a100-80gb", "gpus": 1}})
    # the API itself refuses GPU guests with HTTP 400, as Fly's does
    url = fly_sandbox.urls["fly_machines"] + f"/apps/{APP}/machines"
    response = httpx.post(
        url,
        json={"config": {"image": "x", "guest": {"gpu_kind": "l40s", "gpus": 1}}},
        headers={"authorization": fly_sandbox.api_keys["fly"]},
    )
    assert response.status_code == 400 and "GPU" in response.json()["error"]
    assert fly_world(fly_sandbox.state).apps[APP].machines == {}


def test_offers_skip_fly(fly_sandbox):
    df = atlas.offers(providers=["fly"])
    assert df.empty and df.attrs["skipped"] == ["fly"] and df.attrs["errors"] == {}


def test_token_forms(fly_sandbox):
    raw = fly_sandbox.api_keys["fly"].removeprefix("FlyV1 ")
    atlas.configure(api_keys={"fly": raw})  # sent as "FlyV1 fm2_..."
    assert atlas.computes(provider="fly").empty
    with pytest.raises(UnauthorizedError, match="FLY_API_TOKEN"):
        atlas.computes(provider="fly", api_key="personal-token-nope")


def test_fault_knobs(fly_sandbox):
    c = spawn()
    fly_sandbox.faults("fly", f"GET /v1/apps/{APP}/machines/", burst=2)
    assert atlas.compute(c.id, provider="fly").id == c.id  # retried through a 503 burst
    fly_sandbox.faults("fly", f"POST /v1/apps/{APP}/machines", status=429, retry_after=2, count=1)
    with pytest.raises(RateLimitedError) as info:
        spawn()  # a create is never retried blindly
    assert info.value.retry_after_s == 2 and "not retried automatically" in str(info.value)
    assert len(fly_world(fly_sandbox.state).apps[APP].machines) == 1
    fly_sandbox.faults("fly", f"GET /v1/apps/{APP}/machines", malformed=True, count=1)
    with pytest.raises(atlas.ProviderError, match="unexpected body|no message|malformed"):
        atlas.computes(provider="fly")


def test_a_spawn_with_ports_gives_the_app_public_addresses(fly_sandbox):
    app = fly_world(fly_sandbox.state).apps[APP]
    assert "shared_ip" not in app.extra  # the Machines API allocates none
    c = spawn(ports=["8000/http"])
    assert c.public_ip == app.extra["shared_ip"]
    assert [ip["type"] for ip in app.extra["ips"]] == ["v6"]
    assert c.url(8000) == f"https://{APP}.fly.dev"
    spawn(ports=["9000/tcp"])  # the app has them now: nothing more is allocated
    assert [ip["type"] for ip in app.extra["ips"]] == ["v6"]
    spawn()  # no ports, no services: no addresses needed
    other = fly_world(fly_sandbox.state).apps["atlas-demo-web"]
    spawn(provider_opts={"app": "atlas-demo-web"})
    assert "shared_ip" not in other.extra


def test_when_fly_gives_no_address_nothing_is_created(fly_sandbox):
    fly_sandbox.faults("fly_api", "POST /graphql", status=403, count=1)
    with pytest.raises(atlas.ProviderError, match="could not give app .* a public address"):
        spawn(ports=["8000/http"])  # the error says: fly ips allocate-v4 --shared -a ...
    assert fly_world(fly_sandbox.state).apps[APP].machines == {}


def test_machine_health_and_addresses_are_fields(fly_sandbox):
    c = spawn(
        ports=["8000/http"],
        provider_opts={
            "app": APP,
            "checks": {"alive": {"type": "http", "port": 8000, "path": "/", "interval": "10s"}},
        },
    )
    assert c.private_ip == c.raw["private_ip"] and c.private_ip.startswith("fdaa:")
    assert c.host_status == "ok"
    assert [(k["name"], k["status"]) for k in c.checks] == [("alive", "critical")]
    running = atlas.wait_until_running(c, timeout=10, progress=False)
    assert [(k["name"], k["status"]) for k in running.checks] == [("alive", "passing")]


@pytest.mark.parametrize(
    ("compute_id", "error"),
    [
        # what could change the path is refused; a harmless id of the wrong shape is not found
        ("../apps/abc", ValidationError),
        ("Bad_App/0123abcd", NotFoundError),
        (f"{APP}/..%2Fx", ValidationError),
        (f"{APP}/abc?x=1", ValidationError),
    ],
)
def test_ids_are_checked_before_they_reach_a_url(fly_sandbox, compute_id, error):
    seen = []
    atlas.telemetry.attach("fly-ids", ["atlas.http.request"], lambda e, m, md: seen.append(md))
    try:
        with pytest.raises(error):
            atlas.compute(compute_id, provider="fly")
    finally:
        atlas.telemetry.detach("fly-ids")
    assert seen == []  # refused before any request


def test_waiting_for_stopped_names_the_instance(fly_sandbox):
    c = spawn()
    mid = c.id.split("/")[1]
    url = f"{fly_sandbox.urls['fly_machines']}/apps/{APP}/machines/{mid}/wait"
    headers = {"authorization": fly_machines.fly_authorization(fly_sandbox.api_keys["fly"])}
    bare = httpx.get(url, params={"state": "stopped", "timeout": 1}, headers=headers)
    assert bare.status_code == 400 and "instance_id" in bare.json()["error"]
    atlas.stop(c.id, provider="fly")
    stopped = fly_machines.wait(c.id, "stopped", timeout=10)  # the client sends it
    assert stopped.provider_status == "stopped"
