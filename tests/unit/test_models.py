import pytest

from atlas_nb.errors import ValidationError
from atlas_nb.models import Compute, ComputeRequest, ComputeStatus, JobStatus, PortSpec
from atlas_nb.models.job import TERMINAL_JOB_STATUSES


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8000/http", PortSpec(port=8000, protocol="http")),
        ("22/tcp", PortSpec(port=22, protocol="tcp")),
        ("22/TCP", PortSpec(port=22, protocol="tcp")),
        (8888, PortSpec(port=8888, protocol="http")),
        ((2222, "tcp"), PortSpec(port=2222, protocol="tcp")),
        (" 80 / http ", PortSpec(port=80, protocol="http")),
    ],
)
def test_ports_accepted(value, expected):
    assert ComputeRequest(image="x", ports=[value]).ports == [expected]


@pytest.mark.parametrize("value", ["8000/udp", "http", "0/http", "70000/tcp", "8000/ftp", True])
def test_ports_rejected(value):
    with pytest.raises(ValidationError) as info:
        ComputeRequest(image="x", ports=[value])
    assert info.value.field == "ports"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"gpu": "h10", "image": "x"}, "gpu"),
        ({"gpu": "h100", "image": "x", "gpu_count": 0}, "gpu_count"),
        ({"gpu": "h100", "image": "x", "cloud": "private"}, "cloud"),
        ({"gpu": "h100", "image": "x", "auth": "oauth"}, "auth"),
        ({"gpu": "h100", "image": "x", "disk_gb": -1}, "disk_gb"),
        ({"gpu": "h100", "image": "x", "env": {"1BAD": "x"}}, "env"),
        ({"gpu": "h100", "image": "x", "idle_ttl": "soon"}, "idle_ttl"),
        ({"gpu": "h100", "image": "x", "colour": "red"}, "colour"),
    ],
)
def test_request_validation_names_the_field(fields, field):
    with pytest.raises(ValidationError) as info:
        ComputeRequest(**fields)
    assert info.value.field == field
    assert field in str(info.value)


def test_an_image_is_optional_in_the_request_and_required_by_providers_that_run_one():
    request = ComputeRequest(gpu="h100")  # Lambda launches a plain VM from this
    assert request.image is None
    with pytest.raises(ValidationError, match="RunPod needs a container image") as info:
        request.require_image("RunPod")
    assert info.value.field == "image"
    ComputeRequest(gpu="h100", template="tpl").require_image("RunPod")


def test_request_allowed_values_in_message():
    with pytest.raises(ValidationError, match="secure.*community.*any"):
        ComputeRequest(gpu="h100", image="x", cloud="private")


def test_request_normalises():
    req = ComputeRequest(
        gpu="H100", image="x", env={"N": 3, "E": None}, regions="EU-RO-1", idle_ttl="30m"
    )
    assert req.gpu == "h100"
    assert req.env == {"N": "3", "E": ""}
    assert req.regions == ["EU-RO-1"]
    assert req.idle_ttl == 1800.0
    # native ids pass through untouched
    assert ComputeRequest(gpu="NVIDIA GeForce RTX 4090", image="x").gpu == "NVIDIA GeForce RTX 4090"


def test_secrets_never_in_repr():
    from atlas_nb.auth import auth_material

    _env, handle = auth_material("bearer")
    c = Compute(
        id="c1",
        provider="mock",
        status=ComputeStatus.RUNNING,
        auth=handle,
        raw={"env": {"ATLAS_PRESHARED_KEY": handle.token.get_secret_value()}},
    )
    secret = handle.token.get_secret_value()
    assert secret not in repr(c) and secret not in str(c) and secret not in c._repr_html_()


def test_terminal_job_statuses_are_one_definition():
    assert {s.value for s in TERMINAL_JOB_STATUSES} == {
        "completed",
        "failed",
        "cancelled",
        "timed_out",
    }
    assert JobStatus.TIMED_OUT.is_terminal and not JobStatus.RUNNING.is_terminal


def test_compute_html_repr():
    c = Compute(
        id="c1",
        provider="mock",
        status=ComputeStatus.RUNNING,
        gpu="h100",
        gpu_count=2,
        cost_per_hr=4.98,
    )
    html = c._repr_html_()
    assert "running" in html and "2 x h100" in html and "$4.9800/hr" in html
