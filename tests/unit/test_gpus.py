import pytest

from atlas_nb import gpus
from atlas_nb.errors import ValidationError


@pytest.mark.parametrize(
    ("name", "provider", "native"),
    [
        ("h100", "runpod", "NVIDIA H100 80GB HBM3"),
        ("rtx_4090", "runpod", "NVIDIA GeForce RTX 4090"),
        ("mi300x", "runpod", "AMD Instinct MI300X OAM"),
        ("h100", "lambda", "h100_sxm5"),
        ("a10", "lambda", "a10"),
        ("rtx_4090", "vast", "RTX 4090"),
        ("h200", "vast", "H200"),
    ],
)
def test_both_directions(name, provider, native):
    assert gpus.native_ids(name, provider)[0] == native
    assert gpus.canonical(native, provider) == name


def test_required_names_exist():
    for name in (
        "h200",
        "h100",
        "a100_80g",
        "a100_40g",
        "l40s",
        "l4",
        "a6000",
        "rtx_4090",
        "rtx_3090",
        "mi300x",
        "b200",
    ):
        assert name in gpus.names()


def test_runpod_ids_are_in_the_official_enum():
    # the v1 spec's gpuTypeIds enum is the published list of RunPod GPU ids
    import json
    import os
    from pathlib import Path

    specs = os.environ.get("ATLAS_NB_SPECS_DIR")
    if not specs:
        pytest.skip("ATLAS_NB_SPECS_DIR is not set")
    spec = json.loads((Path(specs) / "runpod-rest-v1.openapi.json").read_text())
    enum = set(
        spec["components"]["schemas"]["PodCreateInput"]["properties"]["gpuTypeIds"]["items"]["enum"]
    )
    ours = {i for m in gpus.CATALOGUE for i in m.runpod}
    assert ours <= enum, ours - enum


def test_unknown_suggests():
    with pytest.raises(ValidationError, match="Did you mean 'rtx_4090'"):
        gpus.normalize_gpu("rtx4090x")


def test_no_duplicate_native_ids_within_a_provider_except_vram_split():
    for provider in gpus.GPU_PROVIDERS:
        seen = {}
        for m in gpus.CATALOGUE:
            for native in m.ids(provider):
                if native in seen:
                    # only Vast reuses a name for two memory sizes (A100 40/80 GB)
                    assert provider == "vast" and {seen[native], m.name} == {"a100_80g", "a100_40g"}
                seen[native] = m.name


@pytest.mark.parametrize(
    ("name", "members", "family"),
    [
        ("a100", ("a100_80g", "a100_40g"), "a100"),
        ("A100", ("a100_80g", "a100_40g"), "a100"),
        ("h100", (), "h100"),  # a model's own name means that model
        ("a100_80g", (), "a100"),
        ("rtx_4090", (), "rtx_4090"),
        ("nonsense", (), None),
    ],
)
def test_families(name, members, family):
    assert gpus.family_members(name) == members
    canonical = name.lower() if name.lower() in gpus.names() else (members or (None,))[0]
    assert gpus.family_of(canonical) == family


def test_every_family_member_is_a_variant_of_the_others():
    for m in gpus.CATALOGUE:
        assert m.name in gpus.variants(m.name)
        assert all(gpus.model(v).family == m.family for v in gpus.variants(m.name))
    assert gpus.normalize_gpu("A100") == "a100"
