"""Vast.ai over real HTTP (loopback sandbox): the conformance suite plus the marketplace."""

from typing import Any, ClassVar

import pytest

import atlas_nb as atlas
from atlas_nb.errors import CapacityError, ProviderError, RateLimitedError, ValidationError
from atlas_nb.providers import vast
from atlas_nb.sandbox.vast import vast_world
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
