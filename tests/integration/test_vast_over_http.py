"""Vast.ai over real HTTP (loopback sandbox): the conformance suite plus the marketplace."""

import asyncio
from typing import Any, ClassVar

import pytest

import atlas_nb as atlas
from atlas_nb.errors import CapacityError, ProviderError, RateLimitedError, ValidationError
from atlas_nb.providers import vast
from atlas_nb.sandbox.vast.api import vast_world
from atlas_nb.testing import ProviderConformance


@pytest.fixture(autouse=True)
def vast_sandbox(sandbox):
    return sandbox


class TestVastConformance(ProviderConformance):
    provider = "vast"
    spawn_kwargs: ClassVar[dict[str, Any]] = {
        "gpu": "h100",
        "image": "test/image:latest",
        "ports": ["8000/http"],
    }
    wait_timeout = 15.0


def rented_offer(sb, compute):
    return vast_world(sb.state).instances[int(compute.id)].offer


def test_an_offer_row_rents_exactly_that_offer(vast_sandbox):
    df = atlas.offers(providers="vast", gpu="rtx_4090", count=2)
    row = df.iloc[3]  # not simply the cheapest
    c = atlas.spawn(row, image="python:3.11", ports=["8000/http"])
    assert rented_offer(vast_sandbox, c)["id"] == int(row["offer_id"])
    assert (c.gpu, c.gpu_count, c.region) == (row["gpu"], row["gpu_count"], row["region"])
    with pytest.raises(CapacityError, match=f"offer {row['offer_id']} is no longer available"):
        atlas.spawn(row, image="python:3.11")  # the same offer cannot be rented twice
    c.terminate()
    again = atlas.spawn(row, image="python:3.11")  # back on the market
    assert rented_offer(vast_sandbox, again)["id"] == int(row["offer_id"])


def test_spawn_rents_the_cheapest_matching_offer(vast_sandbox):
    best = vast.search_offers(gpu="rtx_3090", num_gpus=2, countries=["US"], limit=1)
    c = atlas.spawn(provider="vast", gpu="rtx_3090", gpu_count=2, regions=["US"], image="x")
    assert rented_offer(vast_sandbox, c)["id"] == int(best["offer_id"][0])
    assert c.region == "US" and c.raw["is_bid"] is False


def test_spot_bids(vast_sandbox):
    c = atlas.spawn(provider="vast", gpu="h100", image="x", spot=True)
    offer = rented_offer(vast_sandbox, c)
    assert c.raw["is_bid"] is True and c.raw["dph_base"] == offer["min_bid"]
    bid = round(offer["min_bid"] + 0.5, 4)
    row = atlas.offers(providers="vast", gpu="h100", spot=True).iloc[0]
    d = atlas.spawn(row, image="x", spot=True, provider_opts={"bid_price": bid})
    assert d.raw["dph_base"] == bid
    low = atlas.offers(providers="vast", gpu="h100", spot=True).iloc[0]
    with pytest.raises(ValidationError, match="below the minimum bid"):
        atlas.spawn(low, image="x", spot=True, provider_opts={"bid_price": 0.001})
    with pytest.raises(ValidationError, match="only applies to interruptible"):
        atlas.spawn(low, image="x", provider_opts={"bid_price": 1.0})


def test_nothing_matching_is_a_capacity_error(vast_sandbox):
    with pytest.raises(CapacityError, match="no Vast offer has 8 x rtx_3060"):
        atlas.spawn(provider="vast", gpu="rtx_3060", gpu_count=8, image="x")


def test_list_follows_every_page(vast_sandbox):
    made = [atlas.spawn(provider="vast", gpu="rtx_4090", image="x").id for _ in range(27)]
    df = atlas.computes(provider="vast")
    assert sorted(df["id"]) == sorted(made)  # 27 instances: two pages of at most 25
    one = atlas.computes(provider="vast", name=atlas.compute(made[5], provider="vast").name)
    assert list(one["id"]) == [made[5]]


def test_label_and_sizes_in_gb(vast_sandbox):
    c = atlas.spawn(provider="vast", gpu="a100_80g", image="x")
    assert c.gpu == "a100_80g" and c.raw["gpu_ram"] >= 60_000
    labelled = vast.label(c.id, "training-run")
    assert labelled.name == "training-run"
    assert atlas.compute(c.id, provider="vast").name == "training-run"


def test_failure_statuses(vast_sandbox):
    c = atlas.spawn(provider="vast", gpu="rtx_4090", image="x")
    vast_world(vast_sandbox.state).instances[int(c.id)].forced_status = "offline"
    got = atlas.compute(c.id, provider="vast")
    assert got.status == atlas.ComputeStatus.FAILED and got.provider_status == "offline"
    with pytest.raises(ProviderError, match="is failed"):
        got.wait_until_running(timeout=5, progress=False)


def test_search_offers_builder(vast_sandbox):
    df = vast.search_offers(
        gpu=["rtx_4090", "rtx_3090"],
        num_gpus=[1, 2],
        min_vram_gb=24,
        max_price_per_hr=1.0,
        min_reliability=0.95,
        countries=["US", "CA", "DE"],
        order_by="-value",
        limit=40,
    )
    assert 0 < len(df) <= 40
    assert set(df["gpu"]) <= {"rtx_4090", "rtx_3090"} and set(df["gpu_count"]) <= {1, 2}
    assert (df["price_per_hr"] <= 1.0).all() and set(df["region"]) <= {"US", "CA", "DE"}
    raw = vast.search_offers(gpu="h100", type="bid", raw=True, limit=5)
    assert all(o["is_bid"] for o in raw) and raw[0]["gpu_name"] == "H100 SXM"
    with pytest.raises(ValidationError, match="two-letter"):
        vast.search_offers(countries=["Germany"])


def test_gpu_types(vast_sandbox):
    df = atlas.gpu_types(provider="vast")
    h100 = df[df["gpu"] == "h100"].iloc[0]
    assert h100["native_id"] == "H100 SXM" and h100["vram_gb"] == pytest.approx(79.6)
    assert h100["spot_price_per_hr"] < h100["price_per_hr"]


def test_fault_knobs(vast_sandbox):
    vast_sandbox.faults("vast", "POST /api/v0/bundles", status=429, count=1)
    assert not atlas.offers(providers="vast", gpu="h100", limit=3).empty  # backed off, retried
    vast_sandbox.faults("vast", "PUT /api/v0/asks", status=429, count=1)
    with pytest.raises(RateLimitedError, match="not retried automatically"):
        atlas.spawn(provider="vast", gpu="h100", image="x")  # a rent is never retried blindly
    assert vast_world(vast_sandbox.state).instances == {}
    c = atlas.spawn(provider="vast", gpu="h100", image="x")
    vast_sandbox.faults("vast", "GET /api/v0/instances", malformed=True, count=1)
    with pytest.raises(ProviderError, match="unexpected body"):
        atlas.compute(c.id, provider="vast")
    vast_sandbox.faults("vast", "GET /api/v1/instances", error_rate=1.0, count=2)
    assert list(atlas.computes(provider="vast")["id"]) == [c.id]
    vast_sandbox.faults("vast", "GET /api/v0/instances", drop=True, count=1)
    assert atlas.compute(c.id, provider="vast").id == c.id  # retried after the dropped reply
    vast_sandbox.faults("vast", "DELETE /api/v0/instances", drop=True, count=1)
    # the first DELETE went through before its reply was cut; the retry finds nothing left
    with pytest.raises(atlas.NotFoundError):
        atlas.terminate(c.id, provider="vast")
    assert atlas.computes(provider="vast").empty


def test_non_numeric_ids_are_not_found(vast_sandbox):
    with pytest.raises(atlas.NotFoundError, match="numbers"):
        atlas.stop("abc", provider="vast")


def test_inputs_vast_cannot_honour_are_refused(vast_sandbox):
    with pytest.raises(ValidationError, match="places offers by country"):
        atlas.spawn(provider="vast", gpu="h100", image="x", regions=["us-east-1"])
    with pytest.raises(atlas.UnsupportedError, match="volume_gb"):
        atlas.spawn(provider="vast", gpu="h100", image="x", volume_gb=50)
    with pytest.raises(ValidationError, match="Did you mean 'bid_price'"):
        atlas.spawn(
            provider="vast", gpu="h100", image="x", spot=True, provider_opts={"bid_prize": 1}
        )
    secure = atlas.spawn(provider="vast", gpu="rtx_4090", image="x", cloud="secure")
    assert vast_world(vast_sandbox.state).instances[int(secure.id)].offer["datacenter"] is True


def running_instance(sb, **kw):
    c = atlas.spawn(provider="vast", gpu="rtx_4090", image="x", **kw)
    sb.state.clock.advance(120)  # past provisioning and loading
    return c, vast_world(sb.state).instances[int(c.id)]


def test_a_200_with_success_false_is_an_error_with_vasts_message(vast_sandbox):
    c, inst = running_instance(vast_sandbox)
    world = vast_world(vast_sandbox.state)
    world.offline_machines.add(inst.machine_id)
    for action in (
        lambda: atlas.stop(c.id, provider="vast"),
        lambda: atlas.start(c.id, provider="vast"),
        lambda: vast.label(c.id, "renamed"),
        lambda: atlas.terminate(c.id, provider="vast"),
    ):
        with pytest.raises(ProviderError, match="Vast refused to .*is offline") as info:
            action()
        assert info.value.status == 200 and info.value.raw["success"] is False
    got = atlas.compute(c.id, provider="vast")  # nothing changed, and it says why
    assert got.provider_status == "offline" and "offline" in got.status_message
    assert got.name != "renamed"
    world.offline_machines.discard(inst.machine_id)
    atlas.terminate(c.id, provider="vast")
    assert int(c.id) not in world.instances


def test_a_start_waits_in_scheduling_while_the_gpus_are_rented(vast_sandbox):
    c, inst = running_instance(vast_sandbox)
    world = vast_world(vast_sandbox.state)
    atlas.stop(c.id, provider="vast")
    vast_sandbox.state.clock.advance(30)
    world.busy_machines.add(inst.machine_id)
    started = atlas.start(c.id, provider="vast")
    assert started.provider_status == "scheduling"
    assert started.status == atlas.ComputeStatus.PROVISIONING
    assert "another client rents them" in started.status_message
    world.busy_machines.discard(inst.machine_id)  # the other client let go: it starts
    assert started.wait_until_running(timeout=10, progress=False).is_running


def test_ssh_and_the_status_message_are_fields(vast_sandbox):
    c, inst = running_instance(vast_sandbox)
    got = atlas.compute(c.id, provider="vast")
    assert (got.ssh_host, got.ssh_port) == (got.raw["ssh_host"], int(got.raw["ssh_port"]))
    assert got.ssh_host.endswith(".vast.ai") and got.status_message == got.raw["status_msg"]


def test_a_country_written_out_still_gives_the_region(vast_sandbox):
    raw = vast.search_offers(gpu="rtx_4090", raw=True, limit=500)
    spelt = next(o for o in raw if o["geolocation"].endswith(", United States"))
    df = vast.search_offers(gpu="rtx_4090", limit=500)
    assert df.set_index("offer_id").loc[str(spelt["id"]), "region"] == "US"
    us = vast.search_offers(gpu="rtx_4090", countries=["US"], raw=True, limit=500)
    assert spelt["id"] in {o["id"] for o in us}
    c = atlas.spawn(df[df["offer_id"] == str(spelt["id"])].iloc[0], image="x")
    assert c.region == "US"


def test_searches_send_type_and_the_cli_defaults(vast_sandbox):
    world = vast_world(vast_sandbox.state)
    atlas.offers(providers="vast", gpu="h100")
    assert world.last_search["type"] == "on-demand"
    assert world.last_search["external"] == {"eq": False}
    assert world.last_search["verified"] == {"eq": True}
    everything = vast.search_offers(verified=None, raw=True, limit=None)
    assert "verified" not in world.last_search  # as the vast CLI sends verified=any
    assert {o["verification"] for o in everything} >= {"verified", "unverified"}
    assert not any(o["external"] for o in everything)  # external offers stay out
    assert any(o["external"] for o in world.offers)  # although the market lists some


def test_an_offer_rented_twice_at_once_goes_to_one(vast_sandbox):
    row = atlas.offers(providers="vast", gpu="rtx_4090").iloc[0]

    async def race():
        return await asyncio.gather(
            atlas.aio.spawn(row, image="x"), atlas.aio.spawn(row, image="x"), return_exceptions=True
        )

    results = asyncio.run(race())
    assert sum(isinstance(r, atlas.Compute) for r in results) == 1
    lost = [r for r in results if not isinstance(r, atlas.Compute)]
    assert len(lost) == 1 and isinstance(lost[0], CapacityError)  # 410 or gone from search
