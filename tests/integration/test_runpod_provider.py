"""The RunPod provider end to end against the loopback sandbox (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import pytest

import atlas_nb as atlas
from atlas_nb import telemetry
from atlas_nb.errors import (
    AtlasTimeoutError,
    CapacityError,
    InsufficientBalanceError,
    MissingCredentialsError,
    ProviderError,
    RateLimitedError,
    UnauthorizedError,
    UnsupportedError,
    ValidationError,
)
from atlas_nb.models import ComputeStatus
from atlas_nb.providers.registry import get_provider
from atlas_nb.sandbox.runpod.world import CAPACITY_WORDINGS, runpod_world
from atlas_nb.testing import ProviderConformance


@pytest.fixture(scope="class")
def class_sandbox(request):
    with atlas.sandbox.start(speed=100, seed=1, configure=False) as sb:
        request.cls.sb = sb
        yield sb


@pytest.mark.usefixtures("class_sandbox")
class TestRunPodConformance(ProviderConformance):
    provider = "runpod"

    def reset(self):
        self.sb.configure()  # each test starts from a fresh configuration


@pytest.fixture
def http_events():
    seen: list[dict] = []
    telemetry.attach("rp-test-http", ["atlas.http.request"], lambda e, m, meta: seen.append(meta))
    yield seen
    telemetry.detach("rp-test-http")


def world(sb):
    return runpod_world(sb.state)


def test_status_walks_the_v2_lifecycle(sandbox):
    c = atlas.spawn(provider="runpod", gpu="h100", image="img", ports=["8888/http", "22/tcp"])
    assert (c.status, c.provider_status) == (ComputeStatus.PROVISIONING, "PROVISIONING")
    clock = sandbox.state.clock
    clock.speed = 0  # hold simulated time still; move it by hand
    clock.advance(3.5)
    assert c.refresh().status == ComputeStatus.STARTING
    clock.advance(4)
    running = c.refresh()
    assert running.status == ComputeStatus.RUNNING and running.cost_per_hr == 2.99
    assert running.url(8888) == f"https://{c.id}-8888.proxy.runpod.net"
    assert running.url(22).startswith("tcp://203.0.113.") and running.public_ip
    assert atlas.stop(c.id, provider="runpod").status == ComputeStatus.STOPPED
    assert atlas.start(c.id, provider="runpod").status == ComputeStatus.STARTING
    clock.advance(5)
    assert atlas.restart(c.id, provider="runpod").status == ComputeStatus.STARTING
    atlas.terminate(c.id, provider="runpod")
    assert c.id not in set(atlas.computes(provider="runpod")["id"])


def test_a_crashing_pod_fails_the_wait(sandbox):
    c = atlas.spawn(provider="runpod", gpu="l4", image="broken/crashloop:1")
    with pytest.raises(ProviderError, match="failed"):
        c.wait_until_running(timeout=20, progress=False)
    assert c.refresh().provider_status == "ERROR"


@pytest.mark.parametrize(
    ("auth", "env"), [("bearer", "ATLAS_PRESHARED_KEY"), ("signed_url", "ATLAS_SIGNING_SECRET")]
)
def test_auth_material_is_injected_as_an_env_object(sandbox, auth, env):
    c = atlas.spawn(
        provider="runpod", gpu="l4", image="img", env={env: "user", "X": "1"}, auth=auth
    )
    token = c.auth.token.get_secret_value()
    pod = world(sandbox).pods[c.id]
    assert pod.env == {env: token, "X": "1"}  # the minted secret wins
    assert token not in repr(c) and token not in repr(c.raw)
    assert atlas.compute(c.id, provider="runpod").auth is None


def test_a_users_secret_env_reaches_the_pod_but_is_never_shown(sandbox):
    env = {"HF_TOKEN": "hf_sentinelSECRET42", "MY_API_KEY": "k-sentinelSECRET42", "X": "1"}
    c = atlas.spawn(provider="runpod", gpu="l4", image="img", env=env)
    assert world(sandbox).pods[c.id].env == env  # sent as given
    again = atlas.compute(c.id, provider="runpod")
    for shown in (repr(c), repr(c.raw), c.model_dump_json(), again.model_dump_json()):
        assert "sentinelSECRET42" not in shown
    assert again.raw["env"] == {"HF_TOKEN": "***", "MY_API_KEY": "***", "X": "1"}


def test_cloud_any_tries_the_other_cloud_and_capacity_is_clear(sandbox):
    c = atlas.spawn(provider="runpod", gpu="rtx_3090", image="img", cloud="any")
    assert world(sandbox).pods[c.id].cloud == "COMMUNITY"
    with pytest.raises(CapacityError) as info:
        atlas.spawn(provider="runpod", gpu="rtx_3090", image="img", cloud="secure")
    assert info.value.status == 400
    with pytest.raises(ValidationError, match="RunPod has no GPU"):
        atlas.spawn(provider="runpod", gpu="gh200", image="img")


def test_cpu_pods_update_and_list_filters(sandbox):
    cpu = atlas.spawn(
        provider="runpod",
        image="python:3.11",
        name="atlas-cpu",
        provider_opts={"cpu": {"id": "cpu5c", "vcpuCount": 4}},
    )
    gpu = atlas.spawn(provider="runpod", gpu="l4", image="img", name="atlas-gpu")
    assert cpu.gpu is None and cpu.gpu_count == 0 and gpu.gpu == "l4"
    updated = atlas.runpod.update_pod(gpu.id, name="atlas-renamed", env={"A": "1"})
    assert updated.name == "atlas-renamed"
    prov = get_provider("runpod")
    rt = atlas._runtime.get_runtime()
    assert [c.id for c in rt.run(prov.list_computes(gpu="l4"))] == [gpu.id]
    assert list(atlas.computes(provider="runpod", name="atlas-cpu")["id"]) == [cpu.id]
    atlas.stop(cpu.id, provider="runpod")
    assert list(atlas.computes(provider="runpod", status="stopped")["id"]) == [cpu.id]


def test_a_429_on_list_is_retried(sandbox, http_events):
    sandbox.faults("runpod", "GET /v2/pods", status=429, retry_after=0.05, count=1)
    assert len(atlas.computes(provider="runpod")) == 0
    lists = [m for m in http_events if m["method"] == "GET" and m["url"].endswith("/v2/pods")]
    assert [m["status"] for m in lists] == [429, 200] and lists[1]["attempt"] == 2


def test_a_429_on_spawn_is_not_retried(sandbox, http_events):
    sandbox.faults("runpod", "POST /v2/pods", status=429, retry_after=7, count=1)
    with pytest.raises(RateLimitedError) as info:
        atlas.spawn(provider="runpod", gpu="l4", image="img")
    err = info.value
    assert err.retry_after_s == 7 and "spawn was not retried automatically" in str(err)
    assert len([m for m in http_events if m["method"] == "POST"]) == 1
    assert world(sandbox).pods == {}


def test_spot_spawn_is_not_retried_either(sandbox, http_events):
    sandbox.faults("runpod", "POST /graphql", status=503, count=5)
    with pytest.raises(ProviderError):
        atlas.spawn(
            provider="runpod", gpu="l4", image="img", spot=True, provider_opts={"bid_price": 0.2}
        )
    assert len([m for m in http_events if m["api"] == "graphql"]) == 1


def test_wrong_or_missing_key(sandbox):
    with pytest.raises(UnauthorizedError) as info:
        atlas.computes(provider="runpod", api_key="rpa_not_the_key")
    assert info.value.status == 401 and "rpa_not_the_key" not in str(info.value)
    bad = get_provider("runpod", api_key="rpa_bad")
    with pytest.raises(UnauthorizedError):
        atlas._runtime.get_runtime().run(bad.graphql.execute("{ gpuTypes { id } }"))
    with pytest.raises(UnauthorizedError):
        atlas.run_job(sandbox.runpod_endpoint_id, {}, provider="runpod", api_key="rpa_bad")
    sandbox.restore_config()
    with pytest.raises(MissingCredentialsError, match="RUNPOD_API_KEY"):
        atlas.computes(provider="runpod")


def test_the_key_never_shows_in_urls_telemetry_or_reprs(sandbox):
    key = sandbox.api_keys["runpod"]
    events: list[tuple] = []
    telemetry.attach("rp-leak", ["atlas.*"], lambda e, m, meta: events.append((e, m, meta)))
    try:
        c = atlas.spawn(provider="runpod", gpu="l4", image="img", spot=True)
        atlas.gpu_types(provider="runpod")
        atlas.run_job(sandbox.runpod_endpoint_id, {"sleep_ms": 1}, provider="runpod", wait=True)
        with atlas.logs(c.id, provider="runpod") as stream:
            next(iter(stream))
        with pytest.raises(UnauthorizedError) as info:
            atlas.computes(provider="runpod", api_key=key + "x")
    finally:
        telemetry.detach("rp-leak")
    apis = {meta.get("api") for _e, _m, meta in events}
    assert {"rest", "graphql", "runtime"} <= apis
    assert key not in repr(events)
    assert all("api_key" not in str(meta.get("url", "")) for _e, _m, meta in events)
    prov = get_provider("runpod")
    for text in (repr(prov.rest.headers), repr(atlas.settings()), str(info.value), repr(c)):
        assert key not in text


def test_fault_knobs_on_rest_routes(sandbox, http_events):
    sandbox.faults("runpod", "GET /v2/catalog/gpus", latency=0.05, count=2)
    assert len(atlas.gpu_types(provider="runpod")) > 10
    sandbox.faults("runpod", "GET /v2/pods", burst=2)
    assert len(atlas.computes(provider="runpod")) == 0  # two 503s, then success
    c = atlas.spawn(provider="runpod", gpu="l4", image="img")
    sandbox.faults("runpod", f"GET /v2/pods/{c.id}", drop=True, count=1)
    assert atlas.compute(c.id, provider="runpod").id == c.id  # dropped once, retried
    sandbox.faults("runpod", "GET /v2/pods", malformed=True, count=1)
    with pytest.raises(ProviderError, match="not the expected"):
        atlas.computes(provider="runpod")
    sandbox.faults("runpod", "GET /v2/pods", error_rate=1.0, status=502, count=1)
    assert len(atlas.computes(provider="runpod")) == 1
    atlas.configure(timeout_s=0.3, max_retries=0)
    sandbox.faults("runpod", "GET /v2/pods", hang=True, count=1)
    with pytest.raises(AtlasTimeoutError):
        atlas.computes(provider="runpod")
    statuses = [m["status"] for m in http_events if m["url"].endswith("/v2/pods")]
    assert statuses.count(503) == 2 and 502 in statuses


def test_offers_rows_launch_exactly_that_offer(sandbox):
    df = atlas.offers("rtx_4090", count=2, providers="runpod")
    assert set(df["provider"]) == {"runpod"} and set(df["gpu_count"]) == {2}
    community = df[df["offer_id"].str.contains("|COMMUNITY|", regex=False)].iloc[0]
    c = atlas.spawn(community, image="img")
    pod = world(sandbox).pods[c.id]
    assert (pod.cloud, pod.gpu_id, pod.gpu_count, pod.spot) == (
        "COMMUNITY",
        "NVIDIA GeForce RTX 4090",
        2,
        False,
    )
    assert c.cost_per_hr == pytest.approx(community["price_per_hr"])
    spot = atlas.offers("rtx_4090", spot=True, providers="runpod", regions=["EU-RO-1"])
    row = spot.iloc[0]
    assert row["region"] == "EU-RO-1" and row["spot_price_per_hr"] < row["price_per_hr"]
    s = atlas.spawn(row, image="img")
    pod = world(sandbox).pods[s.id]
    assert pod.spot and pod.data_center == "EU-RO-1"
    assert s.cost_per_hr == pytest.approx(row["spot_price_per_hr"])
    with pytest.raises(ValidationError, match="not a RunPod offer id"):
        atlas.spawn({"provider": "runpod", "offer_id": "vast:1"}, image="img")


def test_spot_pods_bid_the_minimum_or_the_given_price(sandbox):
    c = atlas.spawn(
        provider="runpod", gpu="h100", gpu_count=2, image="img", spot=True, cloud="community"
    )
    assert c.cost_per_hr == pytest.approx(1.34 * 2) and world(sandbox).pods[c.id].spot
    with pytest.raises(ValidationError, match="below the minimum bid"):
        atlas.spawn(
            provider="runpod",
            gpu="h100",
            image="img",
            spot=True,
            cloud="secure",
            provider_opts={"bid_price": 0.5},
        )


def test_gpu_types_come_from_v2_with_graphql_spot_prices_and_are_cached(sandbox, http_events):
    df = atlas.gpu_types(provider="runpod")
    row = df.set_index("native_id").loc["NVIDIA GeForce RTX 4090"]
    assert (row["gpu"], row["secure_price_per_hr"], row["community_price_per_hr"]) == (
        "rtx_4090",
        0.69,
        0.34,
    )
    assert row["spot_price_per_hr"] == 0.17 and row["serverless_price_per_hr"] == 1.1
    assert (
        row["availability"] == "high"
        and row["max_count"] == 8
        and not df["fetched_at"].isna().any()
    )
    calls = len(http_events)
    atlas.gpu_types(provider="runpod")
    assert len(http_events) == calls  # served from the cache
    atlas.gpu_types(provider="runpod", refresh=True)
    assert len(http_events) == calls + 3  # two catalogue reads + one GraphQL query
    sandbox.faults("runpod", "POST /graphql", status=500, count=5)
    degraded = atlas.gpu_types(provider="runpod", refresh=True)
    assert degraded["spot_price_per_hr"].isna().all() and len(degraded) == len(df)


def test_management_collections(sandbox):
    rp = atlas.runpod
    reg = rp.registries.create(name="ghcr", username="me", password="pw")
    assert list(rp.registries.list()["name"]) == ["ghcr"]
    with pytest.raises(UnsupportedError, match="Delete it"):
        rp.registries.update(reg["id"], name="x")
    tpl = rp.templates.create(
        name="worker", image="me/worker:1", serverless=True, registry=reg["id"]
    )
    assert rp.templates.update(tpl["id"], name="worker2")["name"] == "worker2"
    ep = rp.endpoints.create(name="mine", templateId=tpl["id"], workers={"max": 2})
    assert ep["type"] == "QUEUE" and ep["scaling"]["type"] == "QUEUE_DELAY"
    assert rp.endpoints.update(ep["id"], workers={"max": 5})["workers"]["max"] == 5
    df = rp.endpoints.list()
    assert {"atlas-echo", "mine"} <= set(df["name"]) and df["workers_max"].notna().all()
    job = atlas.run_job(ep["id"], {"sleep_ms": 1}, provider="runpod", wait=True)
    assert job.status.value == "completed" and job.endpoint == ep["id"]
    with pytest.raises(ValidationError) as info:
        rp.network_volumes.create(name="v", size=5000, dataCenter="EU-RO-1", bogus=1)
    assert "bogus" in str(info.value) and "4096" in str(info.value)
    vol = rp.network_volumes.create(name="v", size=20, dataCenter="EU-RO-1")
    assert rp.network_volumes.get(vol["id"])["type"] == "STANDARD"
    with pytest.raises(ValidationError, match="only grow"):
        rp.network_volumes.update(vol["id"], size=10)
    for collection, item in (
        (rp.endpoints, ep),
        (rp.templates, tpl),
        (rp.network_volumes, vol),
        (rp.registries, reg),
    ):
        collection.delete(item["id"])
    assert list(rp.registries.list()["id"]) == []


def test_billing_frames(sandbox):
    sandbox.speed = 0
    c = atlas.spawn(provider="runpod", gpu="l4", gpu_count=2, image="img")
    vol = atlas.runpod.network_volumes.create(name="v", size=100, dataCenter="US-TX-3")
    atlas.run_job(sandbox.runpod_endpoint_id, {"sleep_ms": 20}, provider="runpod", wait=True)
    sandbox.state.clock.advance(3 * 3600)
    pods = atlas.runpod.billing.pods(bucket="hour", last=5, pod_id=c.id)
    assert set(pods["pod_id"]) == {c.id}
    assert pods["gpu_usd"].sum() == pytest.approx(0.43 * 2 * 3, rel=0.01)
    assert (pods["amount_usd"] >= pods["gpu_usd"]).all()
    serverless = atlas.runpod.billing.serverless(bucket="day")
    assert serverless["amount_usd"].sum() > 0 and sandbox.runpod_endpoint_id in set(
        serverless["endpoint_id"]
    )
    volumes = atlas.runpod.billing.network_volumes(bucket="day", volume_id=vol["id"])
    assert volumes["standard_usd"].sum() == pytest.approx(100 * 0.07 / 730 * 3, rel=0.05)
    with pytest.raises(ValidationError, match="bucket"):
        atlas.runpod.billing.pods(bucket="fortnight")


@pytest.mark.parametrize("index", range(len(CAPACITY_WORDINGS)))
def test_capacity_is_read_from_the_catalogue_whatever_the_wording(sandbox, index):
    world(sandbox).capacity_refusals = index  # RunPod words "no capacity" in several ways
    with pytest.raises(CapacityError) as info:  # sold out in that data centre
        atlas.spawn(provider="runpod", gpu="rtx_4090", image="img", regions=["AP-JP-1"])
    assert info.value.status == 400
    assert CAPACITY_WORDINGS[index] in str(info.value)
    assert "catalogue shows no 1 x NVIDIA GeForce RTX 4090 available" in str(info.value)
    assert "in AP-JP-1" in str(info.value)


def test_a_refusal_the_catalogue_does_not_explain_stays_what_runpod_said(sandbox):
    with pytest.raises(ValidationError) as info:  # RTX 4090s are available: not capacity
        atlas.spawn(provider="runpod", gpu="rtx_4090", gpu_count=9, image="img", cloud="secure")
    assert not isinstance(info.value, CapacityError)
    assert info.value.status == 400 and "at most 8 GPUs" in str(info.value)


def test_a_pod_the_balance_cannot_pay_for_is_its_own_error(sandbox):
    world(sandbox).balance = 0.05
    with pytest.raises(InsufficientBalanceError) as info:
        atlas.spawn(provider="runpod", gpu="l4", image="img")
    assert info.value.status == 402 and not isinstance(info.value, CapacityError)
    assert "Insufficient balance" in str(info.value) and "Add funds" in str(info.value)
    assert world(sandbox).pods == {}


@pytest.mark.parametrize("index", range(len(CAPACITY_WORDINGS)))
def test_a_spot_rent_refused_for_capacity_is_a_capacity_error_whatever_the_wording(sandbox, index):
    world(sandbox).capacity_refusals = index
    with pytest.raises(CapacityError) as info:
        atlas.spawn(
            provider="runpod",
            gpu="rtx_4090",
            image="img",
            spot=True,
            cloud="secure",
            regions=["AP-JP-1"],
            provider_opts={"bid_price": 5.0},
        )
    assert CAPACITY_WORDINGS[index] in str(info.value)
    assert world(sandbox).pods == {}
