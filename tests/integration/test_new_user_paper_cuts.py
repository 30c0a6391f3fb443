"""What a new user hits in their first hour (issue 21), each against the loopback sandbox."""

from __future__ import annotations

import pytest

import atlas_nb as atlas
from atlas_nb.errors import UnsupportedError


@pytest.mark.parametrize("provider", ["lambda", "vast", "fly"])
def test_volume_gb_where_a_provider_has_none_is_unsupported(sandbox, provider):
    opts = {"app": sandbox.fly_apps[0]} if provider == "fly" else None
    gpu = None if provider == "fly" else "h100"
    with pytest.raises(UnsupportedError, match="volume_gb=20") as info:
        atlas.spawn(
            provider=provider, gpu=gpu, image="python:3.11", volume_gb=20, provider_opts=opts
        )
    assert info.value.provider == provider
    assert info.value.hint
    assert atlas.computes(provider=provider).empty  # nothing was created


@pytest.mark.parametrize("spelling", ["provider", "providers"])
def test_offers_and_gpu_types_take_either_spelling(sandbox, spelling):
    offers = atlas.offers(gpu="h100", **{spelling: "vast"})
    assert not offers.empty and set(offers["provider"]) == {"vast"}
    types = atlas.gpu_types(**{spelling: "lambda"})
    assert not types.empty and set(types["provider"]) == {"lambda"}
    both = atlas.gpu_types(**{spelling: ["lambda", "vast"]})
    assert set(both["provider"]) == {"lambda", "vast"}


@pytest.mark.parametrize("call", [atlas.offers, atlas.gpu_types])
def test_both_spellings_at_once_are_a_validation_error(call):
    with pytest.raises(atlas.ValidationError, match="both provider='vast' and providers"):
        call(provider="vast", providers="lambda")


def test_an_id_is_enough_after_spawn(sandbox):
    pod = atlas.spawn(provider="runpod", gpu="rtx_4090", image="python:3.11")
    assert atlas.settings().default_provider is None
    assert atlas.compute(pod.id).provider == "runpod"
    stream = atlas.logs(pod.id)
    stream.close()
    atlas.terminate(pod.id)
    assert pod.id not in set(atlas.computes(provider="runpod")["id"])


def test_an_id_seen_in_a_listing_is_enough(sandbox):
    made = atlas.spawn(provider="vast", gpu="h100", image="python:3.11")
    from atlas_nb.providers import registry

    with registry._seen_lock:
        registry._seen.clear()  # as in a fresh process that only listed computes
    listed = atlas.computes(provider="vast")
    assert made.id in set(listed["id"])
    atlas.terminate(made.id)
    assert made.id not in set(atlas.computes(provider="vast")["id"])


def test_a_tracked_record_names_the_provider_in_a_new_process(sandbox, tmp_path):
    import subprocess
    import sys

    pod = atlas.spawn(provider="lambda", gpu="a10", image="python:3.11", idle_ttl="1h")
    script = (
        "import atlas_nb as atlas\n"
        f"atlas.configure(data_dir={str(atlas.settings().data_dir)!r}, owner='testown',\n"
        f"    base_urls={sandbox.urls!r}, api_keys={sandbox.api_keys!r})\n"
        f"print(atlas.compute({pod.id!r}).provider)\n"
        f"atlas.terminate({pod.id!r})\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "lambda"
    assert atlas.tracked().empty


def test_an_unknown_id_lists_the_candidates(sandbox):
    with pytest.raises(atlas.ValidationError, match="candidates: fly, lambda, runpod, vast"):
        atlas.terminate("pod-nobody-ever-saw")


def test_an_id_seen_on_two_providers_is_ambiguous(sandbox):
    from atlas_nb.providers import registry
    from atlas_nb.providers.registry import get_provider

    registry.remember("shared-id", get_provider("runpod"))
    registry.remember("shared-id", get_provider("vast"))
    with pytest.raises(atlas.ValidationError, match="more than one provider: runpod, vast"):
        atlas.compute("shared-id")


def test_with_one_key_configured_that_provider_is_asked(sandbox):
    atlas.configure(api_keys={"vast": None, "runpod": None, "fly": None})
    with pytest.raises(atlas.NotFoundError) as info:
        atlas.compute("12345")
    assert info.value.provider == "lambda"


def test_a_family_name_matches_every_variant(sandbox):
    family = atlas.offers(gpu="a100")
    assert set(family["gpu"]) == {"a100_80g", "a100_40g"}
    assert set(family["family"]) == {"a100"}
    assert "runpod" in set(family[family["gpu"] == "a100_80g"]["provider"])
    assert family.attrs["variants"] == ["a100_80g", "a100_40g"]
    assert not family.duplicated(["provider", "offer_id"]).any()
    for variant in ("a100_80g", "a100_40g"):
        alone = atlas.offers(gpu=variant)
        assert set(alone["gpu"]) == {variant}
        assert sorted(alone["offer_id"]) == sorted(family[family["gpu"] == variant]["offer_id"])
    prices = family["price_per_hr"].tolist()
    assert prices == sorted(prices)


def test_a_model_name_says_which_variants_exist(sandbox):
    df = atlas.offers(gpu="h100")
    assert set(df["gpu"]) == {"h100"}
    assert df.attrs["variants"] == ["h100", "h100_pcie", "h100_nvl"]


@pytest.mark.parametrize("provider", ["runpod", "lambda", "vast"])
def test_spawning_a_family_says_which_variants_exist(sandbox, provider):
    with pytest.raises(atlas.ValidationError, match=r"family of GPUs \(a100_80g, a100_40g\)"):
        atlas.spawn(provider=provider, gpu="a100", image="python:3.11")
    assert atlas.computes(provider=provider).empty  # nothing launched a guessed variant


def test_a_row_of_a_family_search_spawns_exactly_that_offer(sandbox):
    rows = atlas.offers(gpu="a100", providers="lambda")
    row = rows[rows["gpu"] == "a100_40g"].iloc[0]
    pod = atlas.spawn(row, image="python:3.11")
    assert (pod.provider, pod.gpu) == ("lambda", "a100_40g")
    atlas.terminate(pod.id)
