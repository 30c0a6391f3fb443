"""Every provider response parser, fed bodies a provider (or a proxy in front of it) may send:
``null``, ``[]``, ``{}``, HTML, empty and truncated JSON, wrong types, missing, extra and
``null`` fields and items, under success and error statuses. The only exceptions allowed out
are AtlasErrors, and no compute comes back with a made-up id.

Bodies are driven through ``httpx.MockTransport`` (the same body answers every request of a
call, so multi-request calls meet it at each step). Hypothesis runs derandomized: the same
examples every run, so a failure is reproducible and the suite is not flaky.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import atlas_nb as atlas
from atlas_nb._runtime import get_runtime
from atlas_nb.errors import AtlasError, NotFoundError, ProviderError, ValidationError
from atlas_nb.fly.logs.client import FlyLogsClient
from atlas_nb.models import Compute, JobRequest
from atlas_nb.providers import get_provider
from atlas_nb.providers import lambda_cloud as lambda_mod
from atlas_nb.providers import vast as vast_mod
from atlas_nb.providers._parse import reading
from atlas_nb.providers.base import OfferQuery
from tests.helpers.json_bodies import any_json

KEYS = {"runpod": "rpa_test", "lambda": "secret_test", "vast": "vast_test", "fly": "fm2_test"}
PROFILE = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Wire:
    """A MockTransport answering every request with the current (status, body bytes)."""

    def __init__(self) -> None:
        self.status = 200
        self.content = b"{}"
        self.transport = httpx.MockTransport(self.answer)

    def answer(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            self.status, content=self.content, headers={"content-type": "application/json"}
        )


WIRE = Wire()


# -- sample bodies (roughly what each API sends; mutations of them reach deep parsers) -----

RUNPOD_POD = {
    "id": "xedezhzb9la3ye",
    "name": "atlas-1",
    "status": "RUNNING",
    "image": "python:3.11",
    "gpu": {"id": "NVIDIA L4", "count": 1},
    "cost": 0.44,
    "dataCenterId": "US-CA-2",
    "ports": ["8000/http", "22/tcp"],
    "publicIp": "1.2.3.4",
    "portMappings": {"22": 10022},
    "createdAt": "2026-01-01T00:00:00Z",
    "env": {"A": "1"},
}
RUNPOD_CATALOG = {
    "gpus": [
        {
            "id": "NVIDIA L4",
            "name": "L4",
            "memory": 24,
            "secure": True,
            "community": True,
            "price": {"secure": 0.5, "community": 0.4, "serverless": 0.6},
            "maxCount": {"secure": 8},
            "availability": "HIGH",
            "dataCenters": [{"id": "US-CA-2"}],
        }
    ],
    "data": {
        "gpuTypes": [
            {"id": "NVIDIA L4", "secureSpotPrice": 0.2, "lowestPrice": {"minimumBidPrice": 0.1}}
        ]
    },
}
RUNPOD_JOB = {
    "id": "c80ffee4-u1",
    "status": "COMPLETED",
    "output": {"a": 1},
    "delayTime": 5,
    "executionTime": 7,
}
LAMBDA_INSTANCE = {
    "id": "0920582c7ff041399e34823a0be62549",
    "name": "atlas-1",
    "ip": "1.2.3.4",
    "status": "active",
    "region": {"name": "us-east-1"},
    "instance_type": {"name": "gpu_1x_a10", "price_cents_per_hour": 75, "specs": {"gpus": 1}},
    "tags": [{"key": "atlas:ports", "value": "8000/http"}, {"key": "atlas:created", "value": "1"}],
}
LAMBDA_TYPES = {
    "data": {
        "gpu_1x_a10": {
            "instance_type": {
                "name": "gpu_1x_a10",
                "gpu_description": "A10 (24 GB PCIe)",
                "price_cents_per_hour": 75,
                "specs": {"vcpus": 30, "memory_gib": 200, "storage_gib": 1400, "gpus": 1},
            },
            "regions_with_capacity_available": [{"name": "us-east-1"}],
        }
    }
}
VAST_INSTANCE = {
    "id": 13794342,
    "actual_status": "running",
    "intended_status": "running",
    "cur_state": "running",
    "gpu_name": "RTX 4090",
    "gpu_ram": 24564,
    "num_gpus": 1,
    "dph_total": 0.5,
    "dph_base": 0.4,
    "label": "atlas-1",
    "image_uuid": "python:3.11",
    "geolocation": "Washington, US",
    "public_ipaddr": "1.2.3.4",
    "ports": {"8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "40000"}]},
    "extra_env": [["ATLAS_PORTS", "8000/http"]],
    "start_date": 1767225600.0,
}
VAST_OFFERS = {
    "offers": [
        {
            "id": 4242,
            "gpu_name": "RTX 4090",
            "num_gpus": 1,
            "gpu_ram": 24564,
            "dph_total": 0.4,
            "min_bid": 0.2,
            "geolocation": "Washington, US",
            "cpu_cores_effective": 8,
            "cpu_ram": 32000,
            "reliability2": 0.99,
            "verification": "verified",
            "rentable": True,
        }
    ]
}
FLY_MACHINE = {
    "id": "148ed193b95e89",
    "name": "atlas-1",
    "state": "started",
    "region": "iad",
    "instance_id": "01JABCDEF",
    "created_at": "2026-01-01T00:00:00Z",
    "config": {
        "image": "nginx",
        "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 256},
        "services": [
            {
                "internal_port": 8000,
                "protocol": "tcp",
                "ports": [{"port": 443, "handlers": ["tls", "http"]}],
            }
        ],
        "metadata": {"atlas_auth": "bearer"},
        "env": {"A": "1"},
    },
}
FLY_LOGS = {
    "data": [
        {
            "id": "1",
            "attributes": {
                "timestamp": "2026-01-01T00:00:00.5Z",
                "message": "listening on :8080",
                "level": "info",
                "region": "iad",
                "instance": "148ed1",
            },
        }
    ],
    "meta": {"next_token": "1767225600500000000"},
}


@dataclass(frozen=True)
class Endpoint:
    name: str
    provider: str
    sample: Any
    call: Callable[[], Any]

    def __str__(self) -> str:  # pytest ids
        return self.name


def run(coro: Any) -> Any:
    return get_runtime().run(coro)


def prov(name: str) -> Any:
    return get_provider(name)


def fly_logs() -> Any:
    client = FlyLogsClient(
        "web",
        token=lambda: "fm2_test",
        invalidate=lambda: None,
        base_url="https://fly.invalid",
        transport=WIRE.transport,
    )
    return run(client.fetch(""))


ENDPOINTS = [
    # RunPod
    Endpoint("runpod.get", "runpod", RUNPOD_POD, lambda: run(prov("runpod").get("abc"))),
    Endpoint(
        "runpod.list", "runpod", {"pods": [RUNPOD_POD]}, lambda: run(prov("runpod").list_computes())
    ),
    Endpoint("runpod.stop", "runpod", RUNPOD_POD, lambda: run(prov("runpod").stop("abc"))),
    Endpoint(
        "runpod.update", "runpod", RUNPOD_POD, lambda: run(prov("runpod").update("abc", name="x"))
    ),
    Endpoint("runpod.terminate", "runpod", {}, lambda: run(prov("runpod").terminate("abc"))),
    Endpoint("runpod.gpu_types", "runpod", RUNPOD_CATALOG, lambda: run(prov("runpod").gpu_types())),
    Endpoint(
        "runpod.offers",
        "runpod",
        RUNPOD_CATALOG,
        lambda: run(prov("runpod").offers(OfferQuery(gpu="l4", count=1, regions=[]))),
    ),
    Endpoint(
        "runpod.run_job",
        "runpod",
        RUNPOD_JOB,
        lambda: run(prov("runpod").run_job(JobRequest(endpoint="ep1", input={"a": 1}))),
    ),
    Endpoint(
        "runpod.get_job",
        "runpod",
        RUNPOD_JOB,
        lambda: run(prov("runpod").get_job("j1", endpoint="ep1")),
    ),
    Endpoint(
        "runpod.cancel_job",
        "runpod",
        RUNPOD_JOB,
        lambda: run(prov("runpod").cancel_job("j1", endpoint="ep1")),
    ),
    Endpoint(
        "runpod.health",
        "runpod",
        {"jobs": {"completed": 1, "inQueue": 0}, "workers": {"idle": 1, "running": 0}},
        lambda: run(prov("runpod").health("ep1")),
    ),
    Endpoint(
        "runpod.purge_queue",
        "runpod",
        {"removed": 1, "status": "completed"},
        lambda: run(prov("runpod").purge_queue("ep1")),
    ),
    Endpoint(
        "runpod.templates",
        "runpod",
        {"templates": [{"id": "t1", "name": "tpl", "imageName": "img", "isServerless": False}]},
        lambda: run(prov("runpod").resource_list("templates")),
    ),
    Endpoint(
        "runpod.endpoints",
        "runpod",
        {"endpoints": [{"id": "e1", "name": "echo", "workers": {"min": 0, "max": 3}}]},
        lambda: run(prov("runpod").resource_list("endpoints")),
    ),
    Endpoint(
        "runpod.template",
        "runpod",
        {"id": "t1", "name": "tpl"},
        lambda: run(prov("runpod").resource_get("templates", "t1")),
    ),
    Endpoint(
        "runpod.create_template",
        "runpod",
        {"id": "t1", "name": "tpl"},
        lambda: run(prov("runpod").resource_create("templates", {"name": "tpl", "imageName": "i"})),
    ),
    Endpoint(
        "runpod.billing",
        "runpod",
        [{"time": "2026-01-01T00:00:00Z", "podId": "abc", "gpuAmount": 0.5, "diskAmount": 0.1}],
        lambda: run(prov("runpod").billing("pods")),
    ),
    # Lambda
    Endpoint(
        "lambda.get", "lambda", {"data": LAMBDA_INSTANCE}, lambda: run(prov("lambda").get("abc"))
    ),
    Endpoint(
        "lambda.list",
        "lambda",
        {"data": [LAMBDA_INSTANCE]},
        lambda: run(prov("lambda").list_computes()),
    ),
    Endpoint(
        "lambda.restart",
        "lambda",
        {"data": {"restarted_instances": [LAMBDA_INSTANCE]}},
        lambda: run(prov("lambda").restart("abc")),
    ),
    Endpoint(
        "lambda.terminate",
        "lambda",
        {"data": {"terminated_instances": [LAMBDA_INSTANCE]}},
        lambda: run(prov("lambda").terminate("abc")),
    ),
    Endpoint("lambda.gpu_types", "lambda", LAMBDA_TYPES, lambda: run(prov("lambda").gpu_types())),
    Endpoint(
        "lambda.offers",
        "lambda",
        LAMBDA_TYPES,
        lambda: run(prov("lambda").offers(OfferQuery(gpu="a10", count=1, regions=["us-east-1"]))),
    ),
    Endpoint(
        "lambda.ssh_keys",
        "lambda",
        {"data": [{"id": "k1", "name": "laptop", "public_key": "ssh-ed25519 AAAA"}]},
        lambda: lambda_mod.ssh_keys(),
    ),
    Endpoint(
        "lambda.delete_ssh_key",
        "lambda",
        {"data": [{"id": "k1", "name": "laptop", "public_key": "ssh-ed25519 AAAA"}]},
        lambda: lambda_mod.delete_ssh_key("laptop"),
    ),
    Endpoint(
        "lambda.file_systems",
        "lambda",
        {"data": [{"id": "f1", "name": "data", "region": {"name": "us-east-1"}}]},
        lambda: lambda_mod.file_systems(),
    ),
    Endpoint(
        "lambda.add_ssh_key",
        "lambda",
        {"data": {"id": "k1", "name": "laptop", "public_key": "ssh-ed25519 AAAA"}},
        lambda: lambda_mod.add_ssh_key("laptop", "ssh-ed25519 AAAA"),
    ),
    Endpoint(
        "lambda.create_file_system",
        "lambda",
        {"data": {"id": "f1", "name": "data", "region": {"name": "us-east-1"}}},
        lambda: lambda_mod.create_file_system("data", "us-east-1"),
    ),
    # Vast
    Endpoint(
        "vast.get", "vast", {"instances": VAST_INSTANCE}, lambda: run(prov("vast").get("13794342"))
    ),
    Endpoint(
        "vast.list",
        "vast",
        {"instances": [VAST_INSTANCE], "next_token": None},
        lambda: run(prov("vast").list_computes()),
    ),
    Endpoint(
        "vast.stop", "vast", {"instances": VAST_INSTANCE}, lambda: run(prov("vast").stop("1"))
    ),
    Endpoint("vast.terminate", "vast", {"success": True}, lambda: run(prov("vast").terminate("1"))),
    Endpoint("vast.gpu_types", "vast", VAST_OFFERS, lambda: run(prov("vast").gpu_types())),
    Endpoint(
        "vast.offers",
        "vast",
        VAST_OFFERS,
        lambda: run(prov("vast").offers(OfferQuery(gpu="rtx_4090", count=1, regions=[]))),
    ),
    Endpoint(
        "vast.search_offers", "vast", VAST_OFFERS, lambda: vast_mod.search_offers(gpu="RTX 4090")
    ),
    # Fly Machines (fly_app set: one app) and Fly logs
    Endpoint("fly.get", "fly", FLY_MACHINE, lambda: run(prov("fly").get("web/148ed193b95e89"))),
    Endpoint("fly.list", "fly", [FLY_MACHINE], lambda: run(prov("fly").list_computes())),
    Endpoint("fly.stop", "fly", FLY_MACHINE, lambda: run(prov("fly").stop("web/148ed193b95e89"))),
    Endpoint(
        "fly.terminate", "fly", {"ok": True}, lambda: run(prov("fly").terminate("web/148ed1"))
    ),
    Endpoint(
        "fly.wait_started",
        "fly",
        FLY_MACHINE,
        lambda: run(prov("fly").wait_for_state("web/148ed193b95e89", "started", timeout=0.1)),
    ),
    Endpoint(
        "fly.wait_stopped",
        "fly",
        FLY_MACHINE,
        lambda: run(prov("fly").wait_for_state("web/148ed193b95e89", "stopped", timeout=0.1)),
    ),
    Endpoint("fly.apps", "fly", {"apps": [{"name": "web"}]}, lambda: run(prov("fly").apps())),
    Endpoint("fly.logs", "fly", FLY_LOGS, fly_logs),
]


# -- body strategies ---------------------------------------------------------------------


def _slots(body: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in a JSON value."""
    out: list[tuple[Any, Any]] = []
    stack = [body]
    while stack:
        node = stack.pop()
        keys = (
            list(node)
            if isinstance(node, dict)
            else range(len(node))
            if isinstance(node, list)
            else []
        )
        for key in keys:
            out.append((node, key))
            stack.append(node[key])
    return out


@st.composite
def mutated(draw: Any, sample: Any) -> Any:
    """``sample`` with 1-3 fields or items dropped, nulled, retyped, or extra ones added."""
    body = copy.deepcopy(sample)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        slots = _slots(body)
        if not slots:
            return draw(any_json)
        container, key = draw(st.sampled_from(slots))
        op = draw(st.sampled_from(["drop", "null", "retype", "extra"]))
        if op == "drop":
            del container[key]
        elif op == "null":
            container[key] = None
        elif op == "retype":
            container[key] = draw(any_json)
        elif isinstance(container, dict):
            container[draw(st.text(max_size=8))] = draw(any_json)
        else:
            container.append(draw(any_json))
    return body


def _dump(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


FIXED_BODIES = [
    *(b"null", b"[]", b"{}", b"", b'""', b"0", b"true", b'{"data": null}', b"[null]"),
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b"\xff\xfe\x00garbage",
]


def bodies(sample: Any) -> st.SearchStrategy[bytes]:
    whole = _dump(sample)
    return st.one_of(
        st.sampled_from(FIXED_BODIES),
        st.integers(min_value=0, max_value=max(0, len(whole) - 1)).map(lambda k: whole[:k]),
        any_json.map(_dump),
        mutated(sample).map(_dump),
        mutated(sample).map(_dump),
        mutated(sample).map(_dump),
    )


statuses = st.sampled_from([200, 200, 200, 200, 201, 400, 401, 403, 404, 409, 422, 500, 503])


def _configure() -> None:
    atlas.configure(http_transport=WIRE.transport, api_keys=KEYS, max_retries=0, fly_app="web")
    lambda_mod.LambdaProvider.launch_interval_s = 0.0


def _check_result(result: Any) -> None:
    computes = result if isinstance(result, list) else [result]
    for c in computes:
        if isinstance(c, Compute):
            assert c.id and "None" not in c.id.split("/"), c.id
    if isinstance(result, pd.DataFrame) and "id" in result.columns:
        assert not result["id"].isin(["None"]).any()


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
@PROFILE
@given(status=statuses, data=st.data())
def test_only_atlas_errors_come_out_of_a_parser(endpoint, status, data):
    _configure()
    WIRE.status = status
    WIRE.content = data.draw(bodies(endpoint.sample), label="body")
    try:
        result = endpoint.call()
    except AtlasError:
        return
    _check_result(result)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_the_sample_bodies_parse(endpoint):
    """The samples are realistic: each call succeeds on its own sample (so mutations of it
    exercise the parsers past the envelope)."""
    _configure()
    WIRE.status, WIRE.content = 200, _dump(endpoint.sample)
    _check_result(endpoint.call())


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("runpod.get", {"id": None, "status": "RUNNING"}),
        ("lambda.get", {"data": {"id": None, "status": "active"}}),
        ("lambda.list", {"data": None}),
        ("lambda.list", {"data": [None]}),
        ("vast.get", {"instances": {"id": None, "actual_status": "running"}}),
        ("vast.list", {"instances": [None]}),
        ("fly.get", {"id": None, "state": "started"}),
        ("fly.list", [None]),
        ("fly.apps", {"apps": [None]}),
        ("runpod.get_job", {"id": None, "status": "COMPLETED"}),
        ("lambda.add_ssh_key", {"data": {"id": None, "name": "k", "public_key": "ssh-ed25519"}}),
    ],
)
def test_null_ids_items_and_data_are_provider_errors(endpoint, body):
    _configure()
    WIRE.status, WIRE.content = 200, _dump(body)
    call = next(e for e in ENDPOINTS if e.name == endpoint).call
    with pytest.raises(ProviderError) as err:
        call()
    assert f"{err.value.provider}] provider: " in str(err.value)
    assert "answered" in str(err.value)  # it says the provider's body was the problem


@pytest.mark.parametrize(
    ("raised", "models", "out"),
    [
        (KeyError("id"), False, ProviderError),
        (TypeError("'NoneType' object is not iterable"), False, ProviderError),
        (AttributeError("'list' object has no attribute 'get'"), True, ProviderError),
        (ValueError("bad float"), False, ProviderError),
        (ValidationError("invalid Compute: name", field="name"), True, ProviderError),
        (ValidationError("invalid Compute: name", field="name"), False, ValidationError),
        (ValidationError("bad request", status=400, provider="runpod"), True, ValidationError),
        (NotFoundError("no pod", provider="runpod", status=404), True, NotFoundError),
        (RuntimeError("a bug, not a body"), True, RuntimeError),
    ],
)
def test_reading_relabels_only_what_a_bad_body_causes(raised, models, out):
    with pytest.raises(out) as err:
        with reading("runpod", "a pod", {"id": 1}, models=models):
            raise raised
    if out is ProviderError:
        assert err.value.provider == "runpod" and err.value.raw == {"id": 1}
        assert "RunPod answered a pod with a body atlas_nb cannot read" in str(err.value)
        assert isinstance(err.value.__cause__, type(raised))


@pytest.mark.parametrize(
    "body",
    [b"data: not json\n\n", b"<html>502</html>", b'data: {"line": 5}\n\n', b"null"],
)
def test_pod_logs_with_unreadable_events_and_pod_end_in_an_atlas_error(body):
    """The log stream skips events it cannot read; when the stream ends, the pod status it
    then reads is the same bad body: that is a ProviderError, not a ValueError."""
    _configure()
    WIRE.status, WIRE.content = 200, body

    async def first_batch():
        async for batch in prov("runpod").logs("xedezhzb9la3ye"):
            return batch
        return None

    with pytest.raises(ProviderError, match="answered"):
        run(first_batch())


@pytest.mark.parametrize(
    "body",
    [
        b'{"status": "FAILED", "stream": []}',
        b'{"status": "FAILED", "stream": [], "id": null}',
        b'{"status": "CANCELLED", "stream": [], "id": "j1", "error": {"a": 1}}',
        b'{"status": "TIMED_OUT", "stream": {}, "id": "j1"}',
        b"<html>502</html>",
        b"null",
    ],
)
def test_job_streams_with_bad_answers_end_in_atlas_errors(body):
    """Each body ends the stream (a terminal status, or unreadable answers in a row)."""
    _configure()
    WIRE.status, WIRE.content = 200, body

    async def drain():
        return [chunk async for chunk in prov("runpod").stream_job("j1", endpoint="ep1")]

    with pytest.raises(AtlasError):
        run(drain())
