"""The fake Vast.ai API, driven with raw HTTP (in-process, simulated clock)."""

import base64
import json

import httpx
import pytest

from atlas_nb.sandbox._state import SandboxState
from atlas_nb.sandbox.vast.api import LOADING_S, PROVISION_S, STOP_S, build_app, vast_world
from atlas_nb.sandbox.vast.offers import country_of, generate_offers, prepare, search

MB = 1


@pytest.fixture(scope="module")
def offers():
    found = generate_offers(seed=0, count=3_000)
    prepare(found)
    return found


@pytest.mark.parametrize(
    ("flt", "check"),
    [
        ({"num_gpus": {"eq": 2}}, lambda o: o["num_gpus"] == 2),
        ({"num_gpus": {"neq": 1}}, lambda o: o["num_gpus"] != 1),
        ({"num_gpus": {"gt": 2}}, lambda o: o["num_gpus"] > 2),
        ({"num_gpus": {"gte": 4}}, lambda o: o["num_gpus"] >= 4),
        ({"num_gpus": {"lt": 2}}, lambda o: o["num_gpus"] < 2),
        ({"num_gpus": {"lte": 2}}, lambda o: o["num_gpus"] <= 2),
        (
            {"gpu_name": {"in": ["RTX 4090", "H100 SXM"]}},
            lambda o: o["gpu_name"] in ("RTX 4090", "H100 SXM"),
        ),
        ({"gpu_name": {"notin": ["RTX 4090"]}}, lambda o: o["gpu_name"] != "RTX 4090"),
        ({"gpu_ram": {"gte": 40000 * MB}}, lambda o: o["gpu_ram"] >= 40000),
        ({"geolocation": {"in": ["US", "CA"]}}, lambda o: country_of(o) in ("US", "CA")),
        ({"reliability": {"gte": 0.99}}, lambda o: o["reliability"] >= 0.99),
        ({"dph_total": {"lte": 0.3}}, lambda o: o["dph_total"] <= 0.3),
        ({"num_gpus": {"gte": "4"}}, lambda o: o["num_gpus"] >= 4),  # the CLI sends strings
    ],
)
def test_operators(offers, flt, check):
    found = search(offers, {**flt, "limit": 10_000})
    assert found, flt
    assert all(check(o) for o in found)
    # the complement is really excluded: nothing matching is missing
    everything = search(offers, {"limit": 10_000})
    assert len(found) == sum(1 for o in everything if check(o))


def test_defaults_hide_rented_but_not_unverified(offers):
    default = search(offers, {"limit": 10_000})
    assert not any(o["rented"] for o in default)
    assert {o["verification"] for o in default} >= {"verified", "unverified"}
    verified = search(offers, {"verified": {"eq": True}, "limit": 10_000})
    assert all(o["verification"] == "verified" for o in verified)
    anything = search(offers, {"rented": {"in": [True, False]}, "limit": 10_000})
    assert len(anything) > len(default) > len(verified)


def test_type_prices_and_order(offers):
    cheap = search(offers, {"order": [["dph_total", "asc"]], "limit": 50})
    prices = [o["dph_total"] for o in cheap]
    assert prices == sorted(prices) and len(cheap) == 50
    bid = search(offers, {"order": [["dph_total", "asc"]], "limit": 50, "type": "bid"})
    assert all(o["is_bid"] for o in bid) and bid[0]["dph_total"] < cheap[0]["dph_total"]
    for spelling in ("on-demand", "ondemand"):
        same = search(offers, {"order": [["dph_total", "asc"]], "limit": 50, "type": spelling})
        assert [o["id"] for o in same] == [o["id"] for o in cheap]
    more_disk = search(
        offers, {"order": [["dph_total", "asc"]], "limit": 1, "allocated_storage": 500}
    )
    assert more_disk[0]["dph_total"] > cheap[0]["dph_total"]
    desc = search(offers, {"order": [["score", "desc"]], "limit": 20})
    assert [o["score"] for o in desc] == sorted((o["score"] for o in desc), reverse=True)


def test_units_and_names(offers):
    names = {o["gpu_name"] for o in offers}
    assert "RTX 4090" in names and not any("_" in n for n in names)
    sample = next(o for o in offers if o["gpu_name"] == "RTX 4090")
    assert sample["gpu_ram"] == 24564  # MB
    assert sample["geolocation"].count(",") == 1
    spellings = {len(o["geolocation"].split(", ")[1]) == 2 for o in offers}
    assert spellings == {True, False}  # "Texas, US" and "California, United States" both occur


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"not_a_field": {"eq": 1}},
        {"num_gpus": 2},
        {"num_gpus": {"approx": 2}},
        {"gpu_name": {"in": "RTX 4090"}},
        {"type": "spot"},
        {"order": [["dph_total", "sideways"]]},
        {"order": [["nope", "asc"]]},
        {"limit": 0},
        {"num_gpus": {"gte": "many"}},
    ],
)
def test_malformed_queries_are_refused(offers, body):
    from atlas_nb.sandbox.vast.offers import QueryError

    with pytest.raises(QueryError):
        search(offers, body)


# -- the HTTP API ------------------------------------------------------------------------------


@pytest.fixture
def state():
    s = SandboxState(seed=0, speed=0.0)
    vast_world(s).offer_count = 3_000
    return s


@pytest.fixture
async def client(state):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_app(state)),
        base_url="http://vast.test",
        headers={"authorization": f"Bearer {state.api_keys['vast']}"},
    ) as c:
        yield c


async def cheapest(client, **flt):
    body = {"order": [["dph_total", "asc"]], "limit": 1, **flt}
    return (await client.post("/api/v0/bundles/", json=body)).json()["offers"][0]


async def test_auth(state, client):
    transport = httpx.ASGITransport(app=build_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as anon:
        bad = await anon.post("/api/v0/bundles/", json={}, headers={"authorization": "Bearer x"})
        legacy = await anon.post(f"/api/v0/bundles/?api_key={state.api_keys['vast']}", json={})
    assert bad.status_code == 401
    assert bad.json() == {"success": False, "error": "auth_error", "msg": "Invalid user key"}
    assert legacy.status_code == 200


async def test_both_slash_forms(client):
    with_slash = await client.post("/api/v0/bundles/", json={"limit": 1})
    without = await client.post("/api/v0/bundles", json={"limit": 1})
    assert with_slash.json() == without.json()


async def test_bad_query_is_a_400(client):
    response = await client.post("/api/v0/bundles/", json={"dph": {"lte": 1}})
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["error"] == "invalid_request" and "dph" in body["msg"]


async def test_rent_lifecycle_stop_start_label_destroy(client, state):
    offer = await cheapest(client, num_gpus={"eq": 1})
    body = {"image": "python:3.11", "label": "job-1", "disk": 10, "env": "-e A=1 -p 8000:8000"}
    created = (await client.put(f"/api/v0/asks/{offer['id']}/", json=body)).json()
    assert created["success"] is True and isinstance(created["new_contract"], int)
    iid = created["new_contract"]

    async def show():
        return (await client.get(f"/api/v0/instances/{iid}/")).json()["instances"]

    got = await show()
    assert got["actual_status"] is None and got["intended_status"] == "running"
    assert got["label"] == "job-1" and got["extra_env"] == [["A", "1"]]
    assert got["ports"] is None
    state.clock.advance(PROVISION_S)
    assert (await show())["actual_status"] == "loading"
    state.clock.advance(LOADING_S)
    running = await show()
    assert running["actual_status"] == "running"
    assert set(running["ports"]) == {"22/tcp", "8000/tcp"}
    # the offer left the market
    taken = await client.put(f"/api/v0/asks/{offer['id']}/", json=body)
    assert taken.status_code == 410 and taken.json()["error"] == "no_such_ask"

    assert (await client.put(f"/api/v0/instances/{iid}/", json={"state": "stopped"})).json() == {
        "success": True
    }
    stopping = await show()
    assert (stopping["actual_status"], stopping["intended_status"]) == ("running", "stopped")
    state.clock.advance(STOP_S)
    assert (await show())["actual_status"] == "exited"
    await client.put(f"/api/v0/instances/{iid}/", json={"state": "running", "label": "job-2"})
    again = await show()
    assert (again["actual_status"], again["label"]) == ("loading", "job-2")

    gone = await client.delete(f"/api/v0/instances/{iid}/")
    assert gone.json()["success"] is True
    assert await show() is None  # not yours (any more): null under the plural key
    assert (await client.delete(f"/api/v0/instances/{iid}/")).json()["error"] == "not_found"
    back = await client.put(f"/api/v0/asks/{offer['id']}/", json=body)
    assert back.status_code == 200  # rentable again


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "invalid_args"),
        ({"image": "x", "runtype": "docker"}, 400, "invalid_args"),
        ({"image": "x", "target_state": "paused"}, 400, "invalid_args"),
        ({"image": "x", "disk": -1}, 400, "invalid_args"),
        ({"image": "x", "disk": 1e9}, 400, "invalid_args"),
        ({"image": "x", "price": 0.0001}, 400, "invalid_price"),
        ({"image": "x", "price": 0.001}, 400, "invalid_price"),  # below the minimum bid
        ({"image": "x", "env": "-x nope"}, 400, "invalid_args"),
        ({"image": "x", "env": "-p notaport"}, 400, "invalid_args"),
        ({"image": "x", "onstart": "x" * 5000}, 400, "invalid_args"),
    ],
)
async def test_create_validation(client, body, status, code):
    offer = await cheapest(client)
    response = await client.put(f"/api/v0/asks/{offer['id']}/", json=body)
    assert response.status_code == status and response.json()["error"] == code


async def test_create_unknown_offer_and_env_object(client):
    missing = await client.put("/api/v0/asks/1/", json={"image": "x"})
    assert missing.status_code == 404 and missing.json()["ask_id"] == 1
    offer = await cheapest(client)
    body = {"image": "x", "env": {"A": "1", "-p 9000:9000": "1"}}
    iid = (await client.put(f"/api/v0/asks/{offer['id']}/", json=body)).json()["new_contract"]
    got = (await client.get(f"/api/v0/instances/{iid}/")).json()["instances"]
    assert got["extra_env"] == [["A", "1"]]


async def test_v1_list_pages_with_a_keyset_cursor(client, state):
    ids = []
    found = (
        await client.post("/api/v0/bundles/", json={"order": [["id", "asc"]], "limit": 30})
    ).json()["offers"]
    for i, offer in enumerate(found):
        body = {"image": "x", "label": "even" if i % 2 == 0 else "odd"}
        r = await client.put(f"/api/v0/asks/{offer['id']}/", json=body)
        ids.append(r.json()["new_contract"])
    seen, token, pages = [], None, 0
    while True:
        params = {"limit": 25}
        if token:
            params["after_token"] = token
        page = (await client.get("/api/v1/instances/", params=params)).json()
        pages += 1
        assert page["total_instances"] == 30 and page["instances_found"] == len(page["instances"])
        assert page["label_counts"] == {"even": 15, "odd": 15}
        seen += [i["id"] for i in page["instances"]]
        token = page["next_token"]
        if token is None:
            break
    assert pages == 2 and seen == sorted(ids)
    capped = (await client.get("/api/v1/instances/", params={"limit": 100})).json()
    assert len(capped["instances"]) == 25
    evens = (
        await client.get(
            "/api/v1/instances/",
            params={
                "select_filters": json.dumps({"label": {"eq": "even"}}),
                "order_by": json.dumps([{"col": "id", "dir": "desc"}]),
                "select_cols": json.dumps(["id", "label"]),
            },
        )
    ).json()
    assert [i["id"] for i in evens["instances"]] == sorted(ids[::2], reverse=True)
    assert set(evens["instances"][0]) == {"id", "label"}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"select_filters": json.dumps({"dph_total": {"lte": 1}})}, "invalid_request"),
        ({"order_by": json.dumps([{"col": "num_gpus", "dir": "asc"}])}, "invalid_request"),
        ({"after_token": "not-a-token"}, "invalid_token"),
        ({"after_token": base64.urlsafe_b64encode(b'{"x": 1}').decode()}, "invalid_token"),
        ({"select_filters": "{not json"}, "invalid_request"),
        ({"limit": "ten"}, "invalid_request"),
    ],
)
async def test_v1_list_errors(client, params, code):
    response = await client.get("/api/v1/instances/", params=params)
    assert response.status_code == 400 and response.json()["error"] == code


async def test_manage_validation(client):
    offer = await cheapest(client)
    iid = (await client.put(f"/api/v0/asks/{offer['id']}/", json={"image": "x"})).json()[
        "new_contract"
    ]
    assert (await client.put(f"/api/v0/instances/{iid}/", json={})).status_code == 400
    bad = await client.put(f"/api/v0/instances/{iid}/", json={"state": "paused"})
    assert bad.status_code == 400
    assert (await client.put("/api/v0/instances/1/", json={"state": "stopped"})).status_code == 404
    assert (await client.get("/api/v0/instances/abc/")).status_code == 400


async def test_fault_429_has_vasts_shape(client, state):
    state.faults.add("vast", "POST /api/v0/bundles", status=429, count=1)
    limited = await client.post("/api/v0/bundles/", json={})
    assert limited.status_code == 429 and "too frequent" in limited.json()["detail"]
    assert "retry-after" not in limited.headers  # Vast sends none; clients back off themselves
