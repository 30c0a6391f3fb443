"""atlas.offers() across Lambda, Vast and Fly (and RunPod when registered) over loopback HTTP."""

import matplotlib

matplotlib.use("Agg")

import pytest

import atlas_nb as atlas
from atlas_nb.frames import OFFER_COLUMNS
from atlas_nb.providers.lambda_cloud import LambdaProvider
from atlas_nb.sandbox.lambda_cloud.api import lambda_world
from atlas_nb.sandbox.vast.api import vast_world

PROVIDERS = ["lambda", "vast", "fly"]


@pytest.fixture(autouse=True)
def clouds(sandbox, monkeypatch):
    monkeypatch.setattr(LambdaProvider, "launch_interval_s", 0.15)
    return sandbox


def test_one_frame_cheapest_first(clouds):
    df = atlas.offers(providers=PROVIDERS, limit=300)
    assert list(df.columns) == list(OFFER_COLUMNS) and len(df) == 300
    assert df.attrs["skipped"] == ["fly"] and df.attrs["errors"] == {}
    prices = list(df["price_per_hr"])
    assert prices == sorted(prices)
    assert (df["price_per_gpu_hr"] == df["price_per_hr"] / df["gpu_count"]).all()
    full = atlas.offers(providers=["lambda", "vast"], gpu="h100")
    assert set(full["provider"]) == {"lambda", "vast"} and set(full["gpu"]) == {"h100"}


def test_spot_regions_and_count(clouds):
    spot = atlas.offers("h100", providers=PROVIDERS, spot=True)
    assert set(spot["provider"]) == {"vast"}  # Lambda sells no spot instances
    assert list(spot["spot_price_per_hr"]) == sorted(spot["spot_price_per_hr"])
    us = atlas.offers(providers=PROVIDERS, regions=["US"], limit=50)
    assert set(us["region"]) == {"US"} and set(us["provider"]) == {"vast"}
    region = lambda_world(clouds.state).regions_with_capacity("gpu_1x_a10")[0]
    lam = atlas.offers("a10", providers=PROVIDERS, regions=[region])
    assert set(lam["provider"]) == {"lambda"} and set(lam["region"]) == {region}
    four = atlas.offers("rtx_4090", providers=PROVIDERS, count=4, limit=20)
    assert (four["gpu_count"] >= 4).all() and len(four) == 20
    cheap = atlas.offers(providers=PROVIDERS, max_price_per_hr=0.2, limit=100)
    assert (cheap["price_per_hr"] <= 0.2).all()


def test_a_failing_provider_does_not_hide_the_others(clouds):
    atlas.configure(max_retries=0)
    clouds.faults("lambda", "GET /api/v1/instance-types", status=500, count=1)
    df = atlas.offers("h100", providers=PROVIDERS)
    assert set(df["provider"]) == {"vast"} and "lambda" in df.attrs["errors"]


def test_rows_spawn_exactly_their_offer(clouds):
    df = atlas.offers("a6000", providers=["lambda", "vast"])
    for provider in ("lambda", "vast"):
        row = df[df["provider"] == provider].iloc[0]
        c = atlas.spawn(row, image="python:3.11")
        assert c.provider == provider and c.gpu == "a6000" and c.region == row["region"]
        if provider == "vast":
            rented = vast_world(clouds.state).instances[int(c.id)].offer["id"]
            assert str(rented) == row["offer_id"]
        else:
            assert f"{c.raw['instance_type']['name']}@{c.region}" == row["offer_id"]
        c.terminate()


def test_gpu_types_across_clouds(clouds):
    df = atlas.gpu_types(providers=PROVIDERS)
    assert df.attrs["skipped"] == ["fly"] and set(df["provider"]) == {"lambda", "vast"}
    assert {"h100", "a10"} <= set(df["gpu"].dropna())


def test_plot_offers_reads_well(clouds, tmp_path):
    df = atlas.offers(providers=["lambda", "vast"])
    ax = atlas.plot_offers(df)
    path = tmp_path / "offers.png"
    ax.figure.savefig(path)
    assert path.stat().st_size > 10_000
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "H100 SXM" in labels and "RTX 4090" in labels  # names as people write them
    cheapest = df.loc[df["price_per_gpu_hr"].idxmin(), "gpu"]
    assert labels[-1] == atlas.gpus.model(cheapest).display  # the cheapest GPU is on top
    assert len(labels) == len(set(labels)) == df["gpu"].nunique()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["lambda", "vast"]
    with pytest.raises(atlas.ValidationError, match="empty"):
        atlas.plot_offers(df.iloc[0:0])
    import matplotlib.pyplot as plt

    fig, own = plt.subplots()
    assert atlas.plot_offers(df, ax=own) is own  # draws into the caller's axes
    plt.close("all")
