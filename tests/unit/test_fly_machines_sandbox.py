"""The fake Fly Machines API, driven with raw HTTP (in-process, simulated clock)."""

import asyncio

import httpx
import pytest

from atlas_nb.sandbox._state import SandboxState
from atlas_nb.sandbox.fly.machines import (
    CREATE_S,
    DESTROY_S,
    START_S,
    STOP_S,
    build_app,
    machines_of,
)
from atlas_nb.sandbox.fly.world import fly_world

APP = "atlas-demo-web"
M = f"/v1/apps/{APP}/machines"


@pytest.fixture
def state():
    return SandboxState(seed=0, speed=0.0)


@pytest.fixture
async def client(state):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(state)),
        base_url="http://machines.test",
        headers={"authorization": state.api_keys["fly"]},
    ) as c:
        yield c


async def create(client, **config):
    body = {"config": {"image": "nginx:1.27", **config}, "region": "ams"}
    return await client.post(M, json=body)


@pytest.mark.parametrize("prefix", ["FlyV1 ", "Bearer "])
async def test_auth(state, prefix):
    token = state.api_keys["fly"].removeprefix("FlyV1 ")
    transport = httpx.ASGITransport(app=build_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        ok = await c.get(
            "/v1/apps", params={"org_slug": "personal"}, headers={"authorization": prefix + token}
        )
        bad = await c.get(
            "/v1/apps",
            params={"org_slug": "personal"},
            headers={"authorization": prefix + "fm2_forged"},
        )
    assert ok.status_code == 200
    assert bad.status_code == 401 and bad.json() == {
        "error": "Authenticate: token validation error"
    }


async def test_apps(client, state):
    listed = (await client.get("/v1/apps", params={"org_slug": "personal"})).json()
    assert listed["total_apps"] == 2 and {a["name"] for a in listed["apps"]} == set(
        fly_world(state).apps
    )
    assert (await client.get("/v1/apps")).status_code == 400  # org_slug is required
    made = await client.post("/v1/apps", json={"app_name": "my-new-app", "org_slug": "personal"})
    assert made.status_code == 201 and made.json()["id"]
    again = await client.post("/v1/apps", json={"name": "my-new-app", "org_slug": "personal"})
    assert again.status_code == 422 and again.json()["status"] == "name_taken"
    bad = await client.post("/v1/apps", json={"app_name": "Bad_Name", "org_slug": "personal"})
    assert bad.status_code == 400
    got = (await client.get("/v1/apps/my-new-app")).json()
    assert got["organization"]["slug"] == "personal" and got["status"] == "deployed"
    assert (await client.delete("/v1/apps/my-new-app")).status_code == 202
    assert (await client.get("/v1/apps/my-new-app")).status_code == 404
    assert state.info["fly_apps"] == sorted(fly_world(state).apps)


async def test_machine_lifecycle(client, state):
    made = await create(client, guest={"cpu_kind": "shared", "cpus": 1, "memory_mb": 512})
    assert made.status_code == 200
    m = made.json()
    mid = m["id"]
    assert m["state"] == "created" and m["region"] == "ams" and m["image_ref"]["tag"] == "1.27"
    assert made.headers["fly-request-id"]

    async def current():
        return (await client.get(f"{M}/{mid}")).json()["state"]

    state.clock.advance(CREATE_S)
    assert await current() == "starting"
    state.clock.advance(START_S)
    assert await current() == "started"
    # the shared world sees the live state (the fake logs API reads it)
    assert machines_of(fly_world(state), APP)[0].get("state") == "started"
    await client.post(f"{M}/{mid}/stop", json={"signal": "SIGINT", "timeout": "5s"})
    assert await current() == "stopping"
    state.clock.advance(STOP_S)
    assert await current() == "stopped"
    started = await client.post(f"{M}/{mid}/start")
    assert started.json() == {"previous_state": "stopped"}
    state.clock.advance(START_S)
    assert (await client.post(f"{M}/{mid}/restart")).status_code == 200
    assert await current() == "restarting"
    state.clock.advance(START_S)
    refused = await client.delete(f"{M}/{mid}")
    assert refused.status_code == 412  # a started machine needs force
    assert (await client.delete(f"{M}/{mid}", params={"force": "true"})).status_code == 200
    assert await current() == "destroying"
    state.clock.advance(DESTROY_S)
    assert await current() == "destroyed"
    assert (await client.get(M)).json() == []
    deleted = (await client.get(M, params={"include_deleted": "true"})).json()
    assert [d["id"] for d in deleted] == [mid]
    assert (await client.post(f"{M}/{mid}/start")).status_code == 412


async def test_update_replaces_config(client, state):
    mid = (await create(client)).json()["id"]
    state.clock.advance(CREATE_S + START_S)
    before = (await client.get(f"{M}/{mid}")).json()
    updated = await client.post(f"{M}/{mid}", json={"config": {"image": "nginx:1.28"}})
    after = updated.json()
    assert after["config"]["image"] == "nginx:1.28" and after["state"] == "updating"
    assert after["instance_id"] != before["instance_id"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"guest": {"cpu_kind": "shared", "cpus": 1, "gpu_kind": "a100-80gb"}}, "GPU"),
        ({"guest": {"cpu_kind": "performance", "cpus": 8, "gpus": 1}}, "GPU"),
        ({"size": "a100-40gb"}, "GPU"),
        ({"size": "l40s"}, "GPU"),
        ({"size": "huge-1x"}, "config.size"),
        ({"size": "shared-cpu-1x", "guest": {"cpus": 1}}, "mutually exclusive"),
        ({"guest": {"cpu_kind": "turbo"}}, "cpu_kind"),
        ({"guest": {"cpu_kind": "shared", "cpus": 3}}, "cpus"),
        ({"guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 300}}, "multiple of 256"),
        ({"guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 4096}}, "memory_mb"),
        ({"restart": {"policy": "sometimes"}}, "restart.policy"),
        ({"services": [{"internal_port": 0}]}, "internal_port"),
        (
            {"services": [{"internal_port": 80, "ports": [{"port": 443, "handlers": ["x"]}]}]},
            "handler",
        ),
        ({"env": {"A": 1}}, "env"),
        ({"image": ""}, "config.image"),
    ],
)
async def test_create_validation(client, config, message):
    response = await create(client, **config)
    assert response.status_code == 400 and message in response.json()["error"]


async def test_create_body_errors(client):
    assert (await client.post(M, json={"region": "iad"})).status_code == 400
    bad_region = await client.post(M, json={"config": {"image": "x"}, "region": "mars"})
    assert bad_region.status_code == 400 and "region" in bad_region.json()["error"]
    missing_app = await client.post("/v1/apps/nope/machines", json={"config": {"image": "x"}})
    assert missing_app.status_code == 404 and missing_app.json() == {"error": "app not found"}
    assert (await client.get(f"{M}/nope")).status_code == 404
    ok = await client.post(M, json={"config": {"image": "x"}, "name": "same"})
    dup = await client.post(M, json={"config": {"image": "x"}, "name": "same"})
    assert ok.status_code == 200 and dup.status_code == 409


async def test_size_preset_expands_to_guest(client):
    m = (await create(client, size="performance-2x")).json()
    assert m["config"]["guest"] == {"cpu_kind": "performance", "cpus": 2, "memory_mb": 4096}
    assert "size" not in m["config"]


async def test_wait_reaches_state_or_times_out():
    state = SandboxState(seed=0, speed=200.0)
    transport = httpx.ASGITransport(app=build_app(state))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://t",
        headers={"authorization": state.api_keys["fly"]},
    ) as client:
        mid = (await create(client)).json()["id"]
        ok = await client.get(f"{M}/{mid}/wait", params={"state": "started", "timeout": 30})
        assert ok.status_code == 200 and ok.json() == {"ok": True}
        instance = (await client.get(f"{M}/{mid}")).json()["instance_id"]
        bare = await client.get(f"{M}/{mid}/wait", params={"state": "stopped", "timeout": 1})
        assert bare.status_code == 400 and "instance_id is required" in bare.json()["error"]
        late = await client.get(
            f"{M}/{mid}/wait", params={"state": "stopped", "timeout": 1, "instance_id": instance}
        )
        assert late.status_code == 408 and "did not reach stopped" in late.json()["error"]
        bad = await client.get(f"{M}/{mid}/wait", params={"state": "asleep"})
        assert bad.status_code == 400
        too_long = await client.get(f"{M}/{mid}/wait", params={"timeout": 600})
        assert too_long.status_code == 400


async def test_skip_launch_stays_created(client, state):
    body = {"config": {"image": "x"}, "skip_launch": True}
    mid = (await client.post(M, json=body)).json()["id"]
    state.clock.advance(60)
    assert (await client.get(f"{M}/{mid}")).json()["state"] == "created"
    await client.post(f"{M}/{mid}/start")
    state.clock.advance(START_S)
    assert (await client.get(f"{M}/{mid}")).json()["state"] == "started"


async def test_fault_knobs(client, state):
    state.faults.add("fly", f"GET {M}", status=500, count=1)
    failed = await client.get(M)
    assert failed.status_code == 500 and "error" in failed.json()
    assert (await client.get(M)).status_code == 200


def test_wait_is_cancellable_with_the_request():
    # a waiting request does not block the loop: other requests are served meanwhile
    async def main():
        state = SandboxState(seed=0, speed=1.0)
        transport = httpx.ASGITransport(app=build_app(state))
        headers = {"authorization": state.api_keys["fly"]}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=headers
        ) as c:
            made = (await create(c)).json()
            mid, instance = made["id"], made["instance_id"]
            waiter = asyncio.create_task(
                c.get(
                    f"{M}/{mid}/wait",
                    params={"state": "stopped", "timeout": 60, "instance_id": instance},
                )
            )
            await asyncio.sleep(0.05)
            assert (await c.get(f"{M}/{mid}")).status_code == 200
            assert not waiter.done()
            waiter.cancel()

    asyncio.run(main())
