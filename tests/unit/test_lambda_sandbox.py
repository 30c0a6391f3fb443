"""The fake Lambda Cloud API, driven with raw HTTP (in-process, simulated clock)."""

import base64

import httpx
import pytest

from atlas_nb.sandbox._state import SandboxState
from atlas_nb.sandbox.lambda_cloud.api import (
    BOOT_S,
    LAUNCH_INTERVAL_S,
    RESTART_S,
    TERMINATE_S,
    build_app,
    lambda_world,
)

API = "/api/v1"


@pytest.fixture
def state():
    return SandboxState(seed=0, speed=0.0)  # the clock moves only with advance()


@pytest.fixture
async def client(state):
    key = state.api_keys["lambda"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(state)),
        base_url="http://lambda.test",
        headers={"authorization": f"Bearer {key}"},
    ) as c:
        yield c


def free_region(state, type_name="gpu_1x_h100_sxm5"):
    return lambda_world(state).regions_with_capacity(type_name)[0]


def launch_body(state, **over):
    body = {
        "region_name": free_region(state),
        "instance_type_name": "gpu_1x_h100_sxm5",
        "ssh_key_names": ["sandbox-key"],
        "name": "atlas-test",
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


async def launch(client, state, **over):
    response = await client.post(
        f"{API}/instance-operations/launch", json=launch_body(state, **over)
    )
    state.clock.advance(LAUNCH_INTERVAL_S)  # keep the next launch outside the rate limit
    return response


@pytest.mark.parametrize(
    "header",
    [
        "Bearer {key}",
        "Basic {b64}",  # curl -u key:
        "Basic {key}",  # the spec also allows the raw key
    ],
)
async def test_auth_forms(state, header):
    key = state.api_keys["lambda"]
    value = header.format(key=key, b64=base64.b64encode(f"{key}:".encode()).decode())
    transport = httpx.ASGITransport(app=build_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        ok = await c.get(f"{API}/instances", headers={"authorization": value})
        bad = await c.get(f"{API}/instances", headers={"authorization": "Bearer nope"})
    assert ok.status_code == 200 and ok.json() == {"data": []}
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "global/invalid-api-key"
    assert set(bad.json()["error"]) == {"code", "message", "suggestion"}


async def test_instance_types_and_capacity(client, state):
    data = (await client.get(f"{API}/instance-types")).json()["data"]
    item = data["gpu_1x_h100_sxm5"]
    assert item["instance_type"]["price_cents_per_hour"] == 329
    assert item["instance_type"]["specs"]["gpus"] == 1
    assert item["regions_with_capacity_available"]
    assert data["gpu_8x_b200_sxm6"]["regions_with_capacity_available"] == []


async def test_lifecycle_on_the_simulated_clock(client, state):
    response = await launch(client, state)
    assert response.status_code == 200
    (iid,) = response.json()["data"]["instance_ids"]
    state.clock.advance(-LAUNCH_INTERVAL_S)
    got = (await client.get(f"{API}/instances/{iid}")).json()["data"]
    assert got["status"] == "booting" and "ip" not in got
    assert got["actions"]["restart"]["available"] is False
    state.clock.advance(BOOT_S)
    got = (await client.get(f"{API}/instances/{iid}")).json()["data"]
    assert got["status"] == "active" and got["ip"].startswith("198.51.100.")
    restarted = (
        await client.post(f"{API}/instance-operations/restart", json={"instance_ids": [iid]})
    ).json()["data"]["restarted_instances"]
    assert restarted[0]["status"] == "booting"
    state.clock.advance(RESTART_S)
    renamed = await client.post(f"{API}/instances/{iid}", json={"name": "renamed"})
    assert renamed.json()["data"]["name"] == "renamed"
    term = (
        await client.post(f"{API}/instance-operations/terminate", json={"instance_ids": [iid]})
    ).json()["data"]["terminated_instances"]
    assert term[0]["status"] == "terminating"
    listed = (await client.get(f"{API}/instances")).json()["data"]
    assert [i["status"] for i in listed] == ["terminating"]
    state.clock.advance(TERMINATE_S)
    assert (await client.get(f"{API}/instances")).json()["data"] == []
    assert (await client.get(f"{API}/instances/{iid}")).json()["data"]["status"] == "terminated"
    again = await client.post(f"{API}/instance-operations/terminate", json={"instance_ids": [iid]})
    assert again.status_code == 404


async def test_launch_takes_capacity_and_terminate_gives_it_back(client, state):
    world = lambda_world(state)
    region = free_region(state)
    before = world.capacity["gpu_1x_h100_sxm5"][region]
    iid = (await launch(client, state)).json()["data"]["instance_ids"][0]
    assert world.capacity["gpu_1x_h100_sxm5"][region] == before - 1
    await client.post(f"{API}/instance-operations/terminate", json={"instance_ids": [iid]})
    assert world.capacity["gpu_1x_h100_sxm5"][region] == before


@pytest.mark.parametrize(
    ("over", "status", "code", "text"),
    [
        ({"region_name": None}, 400, "global/invalid-parameters", "region_name"),
        ({"instance_type_name": None}, 400, "global/invalid-parameters", "instance_type_name"),
        ({"ssh_key_names": None}, 400, "global/invalid-parameters", "ssh_key_names"),
        ({"ssh_key_names": []}, 400, "global/invalid-parameters", "Exactly one SSH key"),
        ({"ssh_key_names": ["a", "b"]}, 400, "global/invalid-parameters", "Exactly one SSH key"),
        ({"region_name": "mars-1"}, 400, "global/invalid-parameters", "Invalid region_name"),
        ({"instance_type_name": "gpu_9x_nope"}, 404, "global/object-does-not-exist", "gpu_9x"),
        ({"ssh_key_names": ["nokey"]}, 404, "global/object-does-not-exist", "nokey"),
        ({"name": "x" * 65}, 400, "global/invalid-parameters", "at most 64"),
        ({"hostname": "Bad_Host"}, 400, "global/invalid-parameters", "hostname"),
        ({"tags": [{"key": "Bad Key", "value": "v"}]}, 400, "global/invalid-parameters", "tag"),
        ({"image": {"nope": 1}}, 400, "global/invalid-parameters", "image"),
        ({"file_system_names": ["nofs"]}, 404, "global/object-does-not-exist", "nofs"),
        (
            {"region_name": "us-south-2"},
            400,
            "instance-operations/launch/insufficient-capacity",
            "capacity",
        ),
        (
            {"instance_type_name": "gpu_8x_b200_sxm6"},
            400,
            "instance-operations/launch/insufficient-capacity",
            "capacity",
        ),
    ],
)
async def test_launch_validation(client, state, over, status, code, text):
    response = await launch(client, state, **over)
    assert response.status_code == status
    err = response.json()["error"]
    assert err["code"] == code and text in (err["message"] + err.get("suggestion", ""))


async def test_launch_rate_limit_in_simulated_time(client, state):
    body = launch_body(state)
    first = await client.post(f"{API}/instance-operations/launch", json=body)
    second = await client.post(f"{API}/instance-operations/launch", json=body)
    assert first.status_code == 200 and second.status_code == 429
    state.clock.advance(LAUNCH_INTERVAL_S - 1)
    assert (await client.post(f"{API}/instance-operations/launch", json=body)).status_code == 429
    state.clock.advance(1)
    assert (await client.post(f"{API}/instance-operations/launch", json=body)).status_code == 200


async def test_ssh_keys(client, state):
    keys = (await client.get(f"{API}/ssh-keys")).json()["data"]
    assert [k["name"] for k in keys] == ["sandbox-key"]  # the account starts with one key
    generated = (await client.post(f"{API}/ssh-keys", json={"name": "gen"})).json()["data"]
    assert generated["private_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    added = await client.post(
        f"{API}/ssh-keys", json={"name": "mine", "public_key": "ssh-ed25519 AAAAC3Nz me@x"}
    )
    assert "private_key" not in added.json()["data"]
    dup = await client.post(f"{API}/ssh-keys", json={"name": "mine", "public_key": "ssh-rsa A b"})
    bad = await client.post(f"{API}/ssh-keys", json={"name": "bad", "public_key": "not a key"})
    assert dup.status_code == bad.status_code == 400
    gone = await client.delete(f"{API}/ssh-keys/{generated['id']}")
    assert gone.json() == {"data": {}}
    names = [k["name"] for k in (await client.get(f"{API}/ssh-keys")).json()["data"]]
    assert names == ["sandbox-key", "mine"]
    assert (await client.delete(f"{API}/ssh-keys/nope")).status_code == 400


async def test_file_systems_paths_and_rules(client, state):
    region = free_region(state)
    created = await client.post(f"{API}/filesystems", json={"name": "data1", "region": region})
    fs = created.json()["data"]
    assert fs["mount_point"] == "/lambda/nfs/data1" and fs["region"]["name"] == region
    assert (await client.get(f"{API}/filesystems")).status_code in (
        404,
        405,
    )  # list is /file-systems
    listed = (await client.get(f"{API}/file-systems")).json()["data"]
    assert [f["name"] for f in listed] == ["data1"] and listed[0]["is_in_use"] is False
    dup = await client.post(f"{API}/filesystems", json={"name": "data1", "region": region})
    assert dup.json()["error"]["code"] == "global/duplicate"
    bad = await client.post(f"{API}/filesystems", json={"name": "1bad", "region": region})
    assert bad.json()["error"]["code"] == "global/invalid-parameters"
    other = next(r for r in ("us-east-1", "us-west-1", "us-south-1") if r != region)
    wrong = await launch(client, state, region_name=other, file_system_names=["data1"])
    assert wrong.json()["error"]["code"] == "instance-operations/launch/file-system-in-wrong-region"
    ok = await launch(client, state, file_system_names=["data1"])
    iid = ok.json()["data"]["instance_ids"][0]
    inst = (await client.get(f"{API}/instances/{iid}")).json()["data"]
    assert inst["file_system_names"] == ["data1"]
    assert inst["file_system_mounts"] == [
        {"mount_point": "/lambda/nfs/data1", "file_system_id": fs["id"]}
    ]
    busy = await client.delete(f"{API}/filesystems/{fs['id']}")
    assert busy.json()["error"]["code"] == "filesystems/filesystem-in-use"
    await client.post(f"{API}/instance-operations/terminate", json={"instance_ids": [iid]})
    state.clock.advance(TERMINATE_S)
    done = await client.delete(f"{API}/filesystems/{fs['id']}")
    assert done.json() == {"data": {"deleted_ids": [fs["id"]]}}
    assert (await client.delete(f"{API}/filesystems/{fs['id']}")).status_code == 404


async def test_fault_knobs_use_lambdas_envelope(client, state):
    state.faults.add("lambda", "GET /api/v1/instances", status=503, count=1)
    failed = await client.get(f"{API}/instances")
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "global/internal-error"
    assert (await client.get(f"{API}/instances")).status_code == 200


async def test_body_must_be_json_object(client):
    response = await client.post(
        f"{API}/instance-operations/launch",
        content=b"[1,2]",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "global/invalid-parameters"
