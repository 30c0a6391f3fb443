"""Lambda Cloud: the pure translation between Lambda's payloads and atlas_nb's models."""

from datetime import UTC, datetime

import pytest
import yaml

from atlas_nb.errors import CapacityError, ValidationError
from atlas_nb.models import ComputeRequest, ComputeStatus
from atlas_nb.providers.lambda_cloud import (
    TAG_CREATED,
    TAG_IMAGE,
    TAG_PORTS,
    LambdaProvider,
    capacity_message,
    cloud_init,
    gpu_types_from_catalogue,
    instance_fields,
    instance_ports,
    lambda_status,
    matching_types,
    offer_rows,
    parse_type_name,
    vram_from_description,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def itype(name, cents, gpus, desc="H100 (80 GB SXM5)"):
    return {
        "name": name,
        "description": f"{gpus}x {desc}",
        "gpu_description": desc,
        "price_cents_per_hour": cents,
        "specs": {"vcpus": 26 * gpus, "memory_gib": 225 * gpus, "storage_gib": 2816, "gpus": gpus},
    }


def region(name):
    return {"name": name, "description": name}


CATALOGUE = {
    "gpu_1x_h100_sxm5": {
        "instance_type": itype("gpu_1x_h100_sxm5", 329, 1),
        "regions_with_capacity_available": [region("us-east-1"), region("us-west-1")],
    },
    "gpu_8x_h100_sxm5": {
        "instance_type": itype("gpu_8x_h100_sxm5", 2392, 8),
        "regions_with_capacity_available": [],
    },
    "gpu_1x_a10": {
        "instance_type": itype("gpu_1x_a10", 75, 1, "A10 (24 GB PCIe)"),
        "regions_with_capacity_available": [region("us-south-1")],
    },
    "gpu_1x_a100_sxm4": {
        "instance_type": itype("gpu_1x_a100_sxm4", 129, 1, "A100 (40 GB SXM4)"),
        "regions_with_capacity_available": [region("us-east-1")],
    },
    "gpu_8x_a100": {
        "instance_type": itype("gpu_8x_a100", 1032, 8, "A100 (40 GB SXM4)"),
        "regions_with_capacity_available": [region("us-west-2")],
    },
    "cpu_4x_general": {
        "instance_type": itype("cpu_4x_general", 20, 0, "None"),
        "regions_with_capacity_available": [region("us-east-1")],
    },
}


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("gpu_1x_a10", (1, "a10")),
        ("gpu_8x_h100_sxm5", (8, "h100_sxm5")),
        ("gpu_8x_a100_80gb_sxm4", (8, "a100_80gb_sxm4")),
        ("gpu_1x_gh200", (1, "gh200")),
        ("cpu_4x_general", None),
        ("gpu_x_a10", None),
        ("", None),
    ],
)
def test_parse_type_name(name, parsed):
    assert parse_type_name(name) == parsed


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("booting", ComputeStatus.PROVISIONING),
        ("active", ComputeStatus.RUNNING),
        ("unhealthy", ComputeStatus.UNKNOWN),
        ("terminating", ComputeStatus.TERMINATING),
        ("terminated", ComputeStatus.TERMINATED),
        ("preempted", ComputeStatus.FAILED),
        ("something-new", ComputeStatus.UNKNOWN),
        (None, ComputeStatus.UNKNOWN),
    ],
)
def test_status_mapping(status, expected):
    assert lambda_status(status) == expected


@pytest.mark.parametrize(
    ("text", "gb"),
    [
        ("H100 (80 GB SXM5)", 80.0),
        ("GH200 (96 GB)", 96.0),
        ("Tesla V100 (16 GB)", 16.0),
        ("", None),
    ],
)
def test_vram_from_description(text, gb):
    assert vram_from_description(text) == gb


def test_cloud_init_runs_the_image_with_env_file_and_ports():
    text = cloud_init(
        "vllm/vllm:latest", {"TOKEN": "abc def", "A": "1"}, [(8000, "http"), (22, "tcp")]
    )
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    env_file = doc["write_files"][0]
    assert env_file["permissions"] == "0600"
    assert env_file["content"] == "TOKEN=abc def\nA=1\n"
    cmd = doc["runcmd"][0]
    assert cmd[:2] == ["docker", "run"] and cmd[-1] == "vllm/vllm:latest"
    assert "--gpus" in cmd and "8000:8000" in cmd and "22:22" in cmd
    assert "abc def" not in " ".join(cmd)  # secrets travel in the 0600 env file, not argv


def test_cloud_init_refuses_multiline_env():
    with pytest.raises(ValidationError, match="line break"):
        cloud_init("x", {"K": "a\nb"}, [])


def instance(status="active", ip="198.51.100.2", tags=None, cents=329):
    return {
        "id": "abc123",
        "name": "atlas-x",
        "status": status,
        "ip": ip,
        "ssh_key_names": ["k"],
        "file_system_names": [],
        "region": {"name": "us-east-1", "description": "Virginia, USA"},
        "instance_type": itype("gpu_1x_h100_sxm5", cents, 1),
        "actions": {},
        "tags": tags
        if tags is not None
        else [
            {"key": TAG_IMAGE, "value": "python:3.11"},
            {"key": TAG_PORTS, "value": "8000/http,22/tcp"},
            {"key": TAG_CREATED, "value": "1767225600"},
        ],
    }


def test_instance_fields():
    f = instance_fields(instance())
    assert f["status"] == ComputeStatus.RUNNING and f["provider_status"] == "active"
    assert (f["gpu"], f["gpu_count"], f["region"]) == ("h100", 1, "us-east-1")
    assert f["cost_per_hr"] == 3.29  # cents -> dollars
    assert f["image"] == "python:3.11"
    assert f["created_at"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert [(p.internal, p.protocol, p.url) for p in f["ports"]] == [
        (8000, "http", "http://198.51.100.2:8000"),
        (22, "tcp", "tcp://198.51.100.2:22"),
    ]


def test_instance_fields_while_booting_and_after_termination():
    booting = instance_fields(instance(status="booting", ip=None, tags=[]))
    assert booting["ports"] == [] and booting["public_ip"] is None and booting["image"] is None
    assert booting["cost_per_hr"] == 3.29
    gone = instance_fields(instance(status="terminated"))
    assert gone["status"] == ComputeStatus.TERMINATED and gone["cost_per_hr"] == 0.0


def test_instance_ports_without_ip_have_no_url():
    ports = instance_ports(instance(ip=None))
    assert [(p.internal, p.external, p.url) for p in ports] == [(8000, 8000, None), (22, 22, None)]


def test_gpu_types_group_by_gpu_with_per_gpu_price():
    types = {t.native_id: t for t in gpu_types_from_catalogue(CATALOGUE, NOW)}
    h100 = types["h100_sxm5"]
    assert h100.gpu == "h100" and h100.max_count == 8
    assert h100.price_per_hr == 2.99  # min(3.29, 23.92 / 8)
    assert h100.vram_gb == 80.0 and h100.vcpus == 26 and h100.ram_gb == 225
    assert h100.regions == ["us-east-1", "us-west-1"] and h100.availability == "high"
    assert types["a100"].gpu == "a100_40g" and types["a100"].regions == ["us-west-2"]
    assert "general" not in types  # CPU types are not GPUs
    full = {"gpu_8x_h100_sxm5": CATALOGUE["gpu_8x_h100_sxm5"]}
    assert gpu_types_from_catalogue(full, NOW)[0].availability == "none"


def test_offer_rows_one_per_region_with_capacity():
    rows = offer_rows(CATALOGUE, NOW)
    h100 = [r for r in rows if r["native_id"] == "h100_sxm5"]
    assert sorted(r["offer_id"] for r in h100) == [
        "gpu_1x_h100_sxm5@us-east-1",
        "gpu_1x_h100_sxm5@us-west-1",
    ]
    assert all(r["price_per_hr"] == 3.29 and r["spot_price_per_hr"] is None for r in h100)
    assert not [r for r in rows if r["gpu_count"] == 8 and r["native_id"] == "h100_sxm5"]


@pytest.mark.parametrize(
    ("gpu", "count", "types", "counts"),
    [
        ("h100", 1, ["gpu_1x_h100_sxm5"], [1, 8]),
        ("h100", 8, ["gpu_8x_h100_sxm5"], [1, 8]),
        ("h100", 2, [], [1, 8]),
        ("h100_sxm5", 1, ["gpu_1x_h100_sxm5"], [1, 8]),
        ("a100_40g", 1, ["gpu_1x_a100_sxm4"], [1, 8]),
        ("a100_40g", 8, ["gpu_8x_a100"], [1, 8]),
        ("rtx_4090", 1, [], []),
    ],
)
def test_matching_types(gpu, count, types, counts):
    assert matching_types(CATALOGUE, gpu, count) == (types, counts)


def choose(**kw):
    prov = LambdaProvider()
    request = ComputeRequest(image="python:3.11", **kw)
    return prov._choose(request, dict(request.provider_opts), CATALOGUE)


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"gpu": "h100"}, ("gpu_1x_h100_sxm5", "us-east-1")),
        ({"gpu": "h100", "regions": ["us-west-1"]}, ("gpu_1x_h100_sxm5", "us-west-1")),
        ({"gpu": "a10", "regions": ["eu-x", "us-south-1"]}, ("gpu_1x_a10", "us-south-1")),
        ({"offer_id": "gpu_1x_a10@us-south-1"}, ("gpu_1x_a10", "us-south-1")),
        (
            {"gpu": "h100", "provider_opts": {"instance_type": "gpu_1x_a10"}},
            ("gpu_1x_a10", "us-south-1"),
        ),
    ],
)
def test_choose_type_and_region(kw, expected):
    assert choose(**kw) == expected


def test_choose_explains_what_is_missing():
    with pytest.raises(CapacityError) as info:
        choose(gpu="h100", regions=["europe-central-1"])
    assert str(info.value).startswith(
        "[lambda] provider: no capacity for gpu_1x_h100_sxm5 in region europe-central-1; "
        "regions with capacity now: us-east-1, us-west-1"
    )
    with pytest.raises(CapacityError, match="regions with capacity now: none"):
        choose(gpu="h100", gpu_count=8)
    with pytest.raises(ValidationError, match=r"no instance type with 2 x h100; it sells 1x, 8x"):
        choose(gpu="h100", gpu_count=2)
    with pytest.raises(
        ValidationError, match="does not sell rtx_4090.*Lambda sells: a10, a100_40g"
    ):
        choose(gpu="rtx_4090")
    with pytest.raises(ValidationError, match="instance type Lambda does not sell"):
        choose(offer_id="gpu_9x_nope@us-east-1")


def test_capacity_message():
    assert capacity_message("gpu_1x_a10", [], []) == (
        "no capacity for gpu_1x_a10; regions with capacity now: none "
        "(try another GPU, count or provider)"
    )


def test_stop_and_start_are_unsupported_with_a_reason():
    import asyncio

    from atlas_nb.errors import UnsupportedError

    prov = LambdaProvider()
    for call in (prov.stop, prov.start):
        with pytest.raises(UnsupportedError, match="Lambda can only terminate"):
            asyncio.run(call("abc"))
