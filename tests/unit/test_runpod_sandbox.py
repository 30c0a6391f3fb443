"""The fake RunPod (REST v2, GraphQL, serverless runtime) behaves like the real thing.

Driven with plain httpx through the in-process sandbox; lifecycles use the simulated clock
(``advance``) so nothing here waits on wall time except the runtime's real-time workers.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

import atlas_nb as atlas
from atlas_nb.sandbox.runpod.graphql import GraphQLError, parse
from atlas_nb.sandbox.runpod.world import CAPACITY_WORDINGS, RATE_WINDOWS, runpod_world

GPU = "NVIDIA GeForce RTX 4090"


@pytest.fixture
def sb():
    sandbox = atlas.sandbox.in_process(speed=1.0, seed=7, configure=False)
    yield sandbox
    sandbox.stop()


def client(sb, key: str | None = "ok", base: str = "/runpod") -> httpx.AsyncClient:
    headers = {}
    if key == "ok":
        headers["authorization"] = f"Bearer {sb.api_keys['runpod']}"
    elif key:
        headers["authorization"] = f"Bearer {key}"
    return httpx.AsyncClient(transport=sb.transport, base_url=sb.origin + base, headers=headers)


def pod_body(**kw):
    return {"name": "atlas-t", "image": "img", "gpu": {"id": GPU, "count": 1}, **kw}


@pytest.mark.parametrize(
    ("key", "detail"), [(None, "missing bearer token"), ("rpa_wrong", "invalid bearer token")]
)
async def test_auth_is_enforced_with_problem_json(sb, key, detail):
    async with client(sb, key) as c:
        r = await c.get("/v2/pods")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json() == {"title": "Unauthorized", "status": 401, "detail": detail}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (pod_body(bogus=1), "$: additional properties 'bogus' not allowed"),
        (pod_body(cloud="ALL"), "$.cloud: value must be one of 'SECURE', 'COMMUNITY'"),
        ({"image": "img", "gpu": {"id": GPU}}, "$: missing property 'name'"),
        (pod_body(gpu={"count": 0}), "$.gpu.count: must be >= 1"),
        (pod_body(env=[{"key": "A", "value": "1"}]), "$.env: expected object, got array"),
        (pod_body(interruptible=True), "$: additional properties 'interruptible' not allowed"),
        ({"name": "x", "gpu": {"id": GPU}}, "$: missing property 'image'"),
    ],
)
async def test_bodies_are_validated_like_the_spec(sb, body, error):
    async with client(sb) as c:
        r = await c.post("/v2/pods", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert error in r.json()["errors"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (pod_body(cpu={"id": "cpu5c", "vcpuCount": 4}), 400, "exactly one of gpu or cpu"),
        (pod_body(gpu={"id": "NVIDIA Nonexistent"}), 400, "is not a GPU type"),
        (pod_body(gpu={"id": "NVIDIA B200"}, cloud="COMMUNITY"), 400, "not offered on"),
        (pod_body(gpu={"id": "NVIDIA GeForce RTX 3090"}), 400, "not offered on SECURE"),
        (pod_body(gpu={"id": GPU, "count": 9}), 400, "at most 8 GPUs"),
        (pod_body(dataCenterIds=["MARS-1"]), 400, "unknown data center"),
        (pod_body(dataCenterIds=["AP-JP-1"]), 400, "no longer any instances"),
        (pod_body(templateId="nope"), 404, "template nope not found"),
    ],
)
async def test_rules_and_capacity_are_400_or_404(sb, body, status, detail):
    async with client(sb) as c:
        r = await c.post("/v2/pods", json=body)
    assert r.status_code == status and detail in r.json()["detail"]


async def test_pod_lifecycle_on_the_simulated_clock(sb):
    clock = sb.state.clock
    async with client(sb) as c:
        r = await c.post("/v2/pods", json=pod_body(ports=["8888/http", "22/tcp"]))
        assert r.status_code == 201
        pod = r.json()
        assert pod["status"] == "PROVISIONING" and pod["runtime"] is None
        assert pod["actions"] == ["stop", "terminate"]
        clock.advance(3.5)
        assert (await c.get(f"/v2/pods/{pod['id']}")).json()["status"] == "STARTING"
        clock.advance(4)
        running = (await c.get(f"/v2/pods/{pod['id']}")).json()
        assert running["status"] == "RUNNING" and running["cost"] == 0.69
        assert running["runtime"]["ports"][0]["private"] == 22
        assert running["ssh"]["direct"]["port"] == running["runtime"]["ports"][0]["public"]
        r = await c.post(f"/v2/pods/{pod['id']}/action", json={"action": "restart"})
        assert r.json()["status"] == "STARTING"
        stopped = await c.post(f"/v2/pods/{pod['id']}/action", json={"action": "stop"})
        assert stopped.json()["status"] == "EXITED" and stopped.json()["cost"] == 0.0
        again = await c.post(f"/v2/pods/{pod['id']}/action", json={"action": "stop"})
        assert again.status_code == 409 and "allowed: start, terminate" in again.json()["detail"]
        bad = await c.post(f"/v2/pods/{pod['id']}/action", json={"action": "reset"})
        assert bad.status_code == 422
        r = await c.post(f"/v2/pods/{pod['id']}/action", json={"action": "terminate"})
        assert r.status_code == 204 and r.content == b""
        assert (await c.get(f"/v2/pods/{pod['id']}")).status_code == 404
        assert (await c.get("/v2/pods")).json() == {"pods": []}


async def test_crashloop_image_ends_in_error(sb):
    async with client(sb) as c:
        pod = (await c.post("/v2/pods", json=pod_body(image="bad/crashloop:1"))).json()
        sb.state.clock.advance(60)
        got = (await c.get(f"/v2/pods/{pod['id']}")).json()
    assert got["status"] == "ERROR" and got["actions"] == ["start", "terminate"]


async def test_update_and_templates_merge(sb):
    async with client(sb) as c:
        tpl = (
            await c.post(
                "/v2/templates", json={"name": "t", "image": "tpl-img", "env": {"A": "1", "B": "2"}}
            )
        ).json()
        pod = (
            await c.post(
                "/v2/pods",
                json={"name": "p", "templateId": tpl["id"], "gpu": {"id": GPU}, "env": {"B": "x"}},
            )
        ).json()
        assert pod["image"] == "tpl-img" and pod["env"] == {"A": "1", "B": "x"}
        r = await c.patch(f"/v2/pods/{pod['id']}", json={"name": "renamed", "locked": True})
        assert r.json()["name"] == "renamed" and r.json()["locked"] is True


async def test_rate_limit_headers_and_quota(sb):
    async with client(sb) as c:
        r = await c.get("/v2/pods")
    assert r.headers["ratelimit"].startswith('"minute";r=')
    assert '"hour";q=' in r.headers["ratelimit-policy"]
    world = runpod_world(sb.state)
    quota = RATE_WINDOWS[0].quota
    results = [world.rate_limit("k")[1] for _ in range(quota + 1)]
    assert results[-2] is None and results[-1] is not None and results[-1] > 0


async def test_costs_accrue_into_billing(sb):
    async with client(sb) as c:
        pod = (await c.post("/v2/pods", json=pod_body(gpu={"id": GPU, "count": 2}))).json()
        sb.state.clock.advance(2 * 3600)
        await c.post(f"/v2/pods/{pod['id']}/action", json={"action": "stop"})
        sb.state.clock.advance(3600)  # stopped: no GPU cost
        r = await c.get("/v2/billing/pods", params={"bucketSize": "day", "podId": pod["id"]})
        body = r.json()
        gpu_usd = sum(rec["gpuAmount"] for rec in body["records"])
        assert gpu_usd == pytest.approx(0.69 * 2 * 2, rel=0.01)
        assert body["metadata"]["uniquePodCount"] == 1
        bad = await c.get(
            "/v2/billing/pods", params={"lastN": 2, "startTime": "2026-01-01T00:00:00Z"}
        )
        assert bad.status_code == 400
        enum = await c.get("/v2/billing/pods", params={"bucketSize": "minute"})
        assert enum.status_code == 422


async def test_catalogue_availability_rules(sb):
    async with client(sb) as c:
        assert (
            await c.get("/v2/catalog/gpus", params={"include": "AVAILABILITY"})
        ).status_code == 400
        assert (await c.get("/v2/catalog/gpus", params={"product": "POD"})).status_code == 400
        plain = (await c.get("/v2/catalog/gpus")).json()["gpus"]
        assert "availability" not in plain[0]
        r = await c.get(
            "/v2/catalog/gpus",
            params={"include": "AVAILABILITY", "product": "POD", "cloud": "COMMUNITY"},
        )
        by_id = {g["id"]: g for g in r.json()["gpus"]}
        assert by_id["NVIDIA B200"]["availability"] == "NONE"
        assert "dataCenters" not in by_id["NVIDIA B200"]
        one = await c.get("/v2/catalog/gpus/" + GPU.replace(" ", "%20"))
        assert one.json()["name"] == "RTX 4090"
        dcs = (await c.get("/v2/catalog/datacenters", params={"regions": "EUROPE"})).json()
        assert {d["id"] for d in dcs["dataCenters"]} == {"EU-RO-1", "EU-SE-1"}


async def test_unknown_route_and_method_are_problems(sb):
    async with client(sb) as c:
        assert (await c.get("/v2/nothing")).json()["status"] == 404
        r = await c.put("/v2/pods")
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"


# -- GraphQL --------------------------------------------------------------------------------


async def gql(sb, query, variables=None, key="ok"):
    async with client(sb, key) as c:
        return await c.post("/graphql", json={"query": query, "variables": variables or {}})


async def test_graphql_prices_with_variables(sb):
    r = await gql(
        sb,
        "query Q($f: GpuTypeFilter, $l: GpuLowestPriceInput!) { gpuTypes(input: $f) { id "
        "spot: communitySpotPrice lowestPrice(input: $l) { minimumBidPrice stockStatus } } }",
        {"f": {"id": GPU}, "l": {"gpuCount": 1, "secureCloud": False}},
    )
    assert r.status_code == 200
    row = r.json()["data"]["gpuTypes"][0]
    assert row["spot"] == 0.17 and row["lowestPrice"] == {
        "minimumBidPrice": 0.17,
        "stockStatus": "High",
    }


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        ("{ gpuTypes { bogus } }", {}, 'Cannot query field "bogus" on type "GpuType".'),
        ("{ gpuTypes { lowestPrice { minimumBidPrice } } }", {}, 'argument "input"'),
        (
            "query Q($l: GpuLowestPriceInput!) { gpuTypes { lowestPrice(input: $l) "
            "{ minimumBidPrice } } }",
            {},
            'Variable "$l" of required type',
        ),
        ("{ gpuTypes { id } ", {}, "Syntax Error"),
        (
            "{ gpuTypes { lowestPrice(input: {gpuCount: 1, nope: 2}) { stockStatus } } }",
            {},
            'Field "nope" is not defined by type "GpuLowestPriceInput"',
        ),
        ("{ gpuTypes { ...F } }", {}, "fragments are not supported"),
    ],
)
async def test_graphql_client_errors_are_200_with_errors(sb, query, variables, message):
    r = await gql(sb, query, variables)
    assert r.status_code == 200
    assert message in r.json()["errors"][0]["message"]


async def test_graphql_needs_the_key_and_rents_spot_pods(sb):
    assert (await gql(sb, "{ gpuTypes { id } }", key=None)).status_code == 401
    mutation = (
        "mutation M($i: PodRentInterruptableInput!) { podRentInterruptable(input: $i) "
        "{ id costPerHr } }"
    )
    low = await gql(
        sb,
        mutation,
        {"i": {"gpuTypeId": GPU, "bidPerGpu": 0.01, "imageName": "x", "cloudType": "COMMUNITY"}},
    )
    assert low.status_code == 200 and "below the minimum bid" in low.json()["errors"][0]["message"]
    assert low.json()["data"] == {"podRentInterruptable": None}
    ok = await gql(
        sb,
        mutation,
        {
            "i": {
                "gpuTypeId": GPU,
                "bidPerGpu": 0.2,
                "gpuCount": 2,
                "imageName": "x",
                "cloudType": "COMMUNITY",
                "env": [{"key": "A", "value": "1"}],
                "ports": "8888/http",
            }
        },
    )
    rented = ok.json()["data"]["podRentInterruptable"]
    assert rented["costPerHr"] == pytest.approx(0.4)
    async with client(sb) as c:
        pod = (await c.get(f"/v2/pods/{rented['id']}")).json()
    assert pod["env"] == {"A": "1"} and pod["cloud"] == "COMMUNITY" and pod["gpu"]["count"] == 2


async def test_graphql_pod_and_my_pods_as_runpod_python_reads_them(sb):
    mutation = (
        "mutation M($i: PodRentInterruptableInput!) { podRentInterruptable(input: $i) { id } }"
    )
    inp = {"gpuTypeId": GPU, "bidPerGpu": 0.2, "imageName": "x", "cloudType": "COMMUNITY"}
    rented = (await gql(sb, mutation, {"i": {**inp, "env": [{"key": "A", "value": "1"}]}})).json()
    pod_id = rented["data"]["podRentInterruptable"]["id"]
    query = (
        '{ pod(input: {podId: "%s"}) { id desiredStatus env podType containerDiskInGb '
        "runtime { ports { privatePort } } machine { gpuDisplayName } } }"
    )
    pod = (await gql(sb, query % pod_id)).json()["data"]["pod"]
    assert pod["id"] == pod_id and pod["env"] == ["A=1"] and pod["podType"] == "INTERRUPTABLE"
    assert pod["desiredStatus"] in ("PROVISIONING", "STARTING", "RUNNING")
    assert pod["containerDiskInGb"] == 50 and pod["machine"]["gpuDisplayName"]
    mine = (await gql(sb, "{ myself { pods { id costPerHr } } }")).json()["data"]["myself"]
    assert pod_id in [p["id"] for p in mine["pods"]]
    async with client(sb) as c:
        assert (await c.delete(f"/v2/pods/{pod_id}")).status_code in (200, 204)
    gone = (await gql(sb, query % pod_id)).json()
    assert gone["data"] == {"pod": None}


def test_graphql_parser_reads_aliases_lists_and_escapes():
    op = parse('mutation { a: x(s: "q\\"\\u0041", l: [1, 2.5, true, null, ENUM]) { y } }')
    field = op.selections[0]
    assert op.kind == "mutation" and field.alias == "a" and field.name == "x"
    assert field.args["s"] == ("lit", 'q"A')
    assert [v for _k, v in field.args["l"][1]] == [1, 2.5, True, None, "ENUM"]
    with pytest.raises(GraphQLError):
        parse("subscription { x }")


# -- serverless runtime ----------------------------------------------------------------------


async def wait_status(c, path, wanted, limit=5.0):
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        body = (await c.get(path)).json()
        if body["status"] in wanted or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("inp", "policy", "status", "extra"),
    [
        ({"sleep_ms": 20}, None, "COMPLETED", {"output": {"sleep_ms": 20}}),
        ({"sleep_ms": 20, "fail": "boom"}, None, "FAILED", {"error": "boom"}),
        ({"sleep_ms": 500}, {"executionTimeout": 30}, "TIMED_OUT", {}),
    ],
)
async def test_runtime_job_outcomes(sb, inp, policy, status, extra):
    ep = sb.runpod_endpoint_id
    async with client(sb, base="/runpod-runtime/v2") as c:
        body = {"input": inp, **({"policy": policy} if policy else {})}
        job = (await c.post(f"/{ep}/run", json=body)).json()
        assert job["status"] == "IN_QUEUE"
        final = await wait_status(c, f"/{ep}/status/{job['id']}", {status})
    assert final["status"] == status
    for key, value in extra.items():
        assert final[key] == value


async def test_runtime_runsync_stream_cancel_retry_purge_health(sb):
    ep = sb.runpod_endpoint_id
    async with client(sb, base="/runpod-runtime/v2") as c:
        done = (
            await c.post(f"/{ep}/runsync", params={"wait": 5000}, json={"input": {"sleep_ms": 10}})
        ).json()
        assert done["status"] == "COMPLETED" and done["executionTime"] >= 9
        assert (
            await c.post(f"/{ep}/runsync", params={"wait": 10}, json={"input": {}})
        ).status_code == 400
        assert (await c.post(f"/{ep}/run", json={"nope": 1})).status_code == 400

        streamed = (
            await c.post(f"/{ep}/run", json={"input": {"sleep_ms": 60, "chunks": 3}})
        ).json()
        chunks, status, chunks_left = [], "", []
        while status != "COMPLETED" or chunks_left:
            body = (await c.get(f"/{ep}/stream/{streamed['id']}")).json()
            status, chunks_left = body["status"], body["stream"]
            chunks += [item["output"] for item in body["stream"]]
            await asyncio.sleep(0.01)
        assert chunks == [{"i": 0}, {"i": 1}, {"i": 2}]

        slow = (await c.post(f"/{ep}/run", json={"input": {"sleep_ms": 5000}})).json()
        cancelled = (await c.post(f"/{ep}/cancel/{slow['id']}")).json()
        assert cancelled["status"] == "CANCELLED"
        assert (await c.post(f"/{ep}/retry/{slow['id']}")).status_code == 400

        flaky = (
            await c.post(f"/{ep}/run", json={"input": {"fail": "x", "fail_attempts": 1}})
        ).json()
        assert (await wait_status(c, f"/{ep}/status/{flaky['id']}", {"FAILED"}))[
            "status"
        ] == "FAILED"
        assert (await c.post(f"/{ep}/retry/{flaky['id']}")).json()["id"] == flaky["id"]
        assert (await wait_status(c, f"/{ep}/status/{flaky['id']}", {"COMPLETED"}))[
            "status"
        ] == "COMPLETED"

        health = (await c.get(f"/{ep}/health")).json()
        assert health["jobs"]["retried"] == 1 and health["jobs"]["completed"] >= 3

    # a one-worker endpoint queues; purge removes what waits
    async with client(sb) as rest:
        small = (
            await rest.post(
                "/v2/serverless",
                json={
                    "name": "one",
                    "type": "QUEUE",
                    "image": "img",
                    "workers": {"max": 1},
                    "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
                },
            )
        ).json()
    async with client(sb, base="/runpod-runtime/v2") as c:
        for _ in range(3):
            await c.post(f"/{small['id']}/run", json={"input": {"sleep_ms": 2000}})
        jobs = {}
        for _ in range(200):  # until the one worker has picked up the first job
            jobs = (await c.get(f"/{small['id']}/health")).json()["jobs"]
            if jobs["inProgress"] == 1:
                break
            await asyncio.sleep(0.005)
        assert jobs["inProgress"] == 1 and jobs["inQueue"] == 2
        assert (await c.post(f"/{small['id']}/purge-queue")).json() == {
            "removed": 2,
            "status": "completed",
        }
        assert (await c.get(f"/{small['id']}/status/nojob")).status_code == 404
        assert (await c.get("/nothere/health")).status_code == 404
    async with client(sb, key="rpa_wrong", base="/runpod-runtime/v2") as c:
        r = await c.get(f"/{ep}/health")
    assert r.status_code == 401 and r.json() == {"error": "Unauthorized"}


async def test_runtime_status_and_stream_refuse_post(sb):
    ep = sb.runpod_endpoint_id
    async with client(sb, base="/runpod-runtime/v2") as c:
        job = (await c.post(f"/{ep}/run", json={"input": {"sleep_ms": 10}})).json()
        for route in ("status", "stream"):
            assert (await c.get(f"/{ep}/{route}/{job['id']}")).status_code == 200
            refused = await c.post(f"/{ep}/{route}/{job['id']}")
            assert refused.status_code == 405, route


async def test_runtime_limits_status_and_stream_per_endpoint(sb, monkeypatch):
    from atlas_nb.sandbox.runpod import runtime as runpod_runtime

    monkeypatch.setitem(runpod_runtime.RATE_LIMITS, "stream", (3, 3600.0))
    ep = sb.runpod_endpoint_id
    async with client(sb, base="/runpod-runtime/v2") as c:
        job = (await c.post(f"/{ep}/run", json={"input": {"sleep_ms": 10}})).json()
        answers = [await c.get(f"/{ep}/stream/{job['id']}") for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert int(answers[-1].headers["retry-after"]) >= 1
        assert (await c.get(f"/{ep}/status/{job['id']}")).status_code == 200  # its own budget
    counter = sb.state.providers["runpod_runtime_rates"]
    assert counter.peak["stream"] == 4 and counter.refused["stream"] == 1


async def test_pod_logs_are_event_streams_only(sb):
    async with client(sb) as c:
        pod = (await c.post("/v2/pods", json=pod_body())).json()
        refused = await c.get(f"/v2/pods/{pod['id']}/logs", headers={"accept": "application/json"})
        assert refused.status_code == 406 and "text/event-stream" in refused.json()["detail"]


@pytest.mark.parametrize("index", range(len(CAPACITY_WORDINGS)))
async def test_capacity_refusals_are_worded_in_several_ways(sb, index):
    runpod_world(sb.state).capacity_refusals = index
    async with client(sb) as c:
        r = await c.post("/v2/pods", json=pod_body(dataCenterIds=["AP-JP-1"]))
    assert r.status_code == 400 and r.json()["detail"] == CAPACITY_WORDINGS[index]


async def test_a_pod_the_balance_cannot_pay_for_is_402(sb):
    runpod_world(sb.state).balance = 0.05
    async with client(sb) as c:
        r = await c.post("/v2/pods", json=pod_body())
    assert r.status_code == 402 and "Insufficient balance" in r.json()["detail"]
