"""RunPod REST v2: the requests atlas_nb sends and the sandbox's answers fit the official spec.

Every REST route the provider uses is exercised through the public API against the in-process
sandbox, recorded, and validated against ``runpod-rest-v2.openapi.json`` (requests and
responses, success and error answers alike).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json

import httpx
import pytest

import atlas_nb as atlas
from atlas_nb.errors import (
    ConflictError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    ValidationError,
)

from .openapi_check import RecordingTransport, check_exchanges, route_for, specs_dir

pytestmark = pytest.mark.contract


@pytest.fixture
def recorded():
    specs_dir()  # skip cleanly without the specs
    sb = atlas.sandbox.in_process(speed=1000, seed=3)
    recorder = RecordingTransport(sb.transport)
    atlas.configure(http_transport=recorder)
    try:
        yield sb, recorder
    finally:
        sb.stop()


def _paths(recorder: RecordingTransport) -> set[str]:
    return {f"{ex.method} {ex.url.path}" for ex in recorder.exchanges}


@functools.cache
def _problem_aware_spec():
    """The v2 spec, able to read ``application/problem+json`` error bodies as JSON."""
    from openapi_core import Config, OpenAPI

    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_file_path(str(specs_dir() / "runpod-rest-v2.openapi.json"), config=config)


def _check_problem_response(ex) -> list[str]:
    from openapi_core.testing import MockRequest, MockResponse

    _route, path = route_for(ex.url)
    query = ex.url.query.decode()
    request = MockRequest(
        "https://api.runpod.io",
        ex.method.lower(),
        path,
        args=dict(httpx.QueryParams(query).multi_items()) if query else None,
        headers=ex.request_headers,
    )
    response = MockResponse(
        data=ex.response_body,
        status_code=ex.status,
        content_type="application/problem+json",
        headers=ex.response_headers,
    )
    try:
        _problem_aware_spec().validate_response(request, response)
    except Exception as exc:
        return [f"response {ex.status} to {ex.method} {path}: {exc}"]
    return []


def _assert_fits(recorder: RecordingTransport, *, requests: bool = True) -> None:
    """Every recorded RunPod REST exchange fits the spec (SSE bodies as text, problem+json as
    JSON). Other clouds' traffic is not this test's: a supervisor left by an earlier test may
    still be confirming a Vast instance gone through the same transport."""
    problems: list[str] = []
    for ex in recorder.exchanges:
        if not ex.url.path.startswith("/runpod/") or route_for(ex.url) is None:
            continue  # the runtime and GraphQL have no OpenAPI document
        ctype = ex.response_headers.get("content-type", "")
        if ctype.startswith("text/event-stream"):
            ex = dataclasses.replace(ex, response_body=ex.response_body.decode())
        problem = ctype.startswith("application/problem+json")
        problems += check_exchanges([ex], check_request=requests, check_response=not problem)
        if problem:
            problems += _check_problem_response(ex)
    assert not problems, "\n".join(problems)


def test_pod_lifecycle_requests_and_responses_fit_the_spec(recorded):
    sb, recorder = recorded
    c = atlas.spawn(
        provider="runpod",
        gpu="rtx_4090",
        image="runpod/pytorch:2.4",
        ports=["8888/http", "22/tcp"],
        env={"MODEL": "x"},
        disk_gb=40,
        volume_gb=20,
        regions=["EU-RO-1"],
        cloud="secure",
        auth="bearer",
    )
    sb.state.clock.advance(30)
    running = atlas.compute(c.id, provider="runpod")
    assert running.status.value == "running"
    atlas.computes(provider="runpod")
    atlas.runpod.update_pod(c.id, name="renamed", env={"A": "1"})
    atlas.stop(c.id, provider="runpod")
    atlas.start(c.id, provider="runpod")
    sb.state.clock.advance(30)
    atlas.restart(c.id, provider="runpod")
    cpu = atlas.spawn(
        provider="runpod",
        image="python:3.11",
        provider_opts={"cpu": {"id": "cpu5c", "vcpuCount": 4}},
    )
    atlas.terminate(cpu.id, provider="runpod")
    atlas.terminate(c.id, provider="runpod")
    seen = _paths(recorder)
    assert "POST /runpod/v2/pods" in seen and f"POST /runpod/v2/pods/{c.id}/action" in seen
    assert f"PATCH /runpod/v2/pods/{c.id}" in seen and f"DELETE /runpod/v2/pods/{c.id}" in seen
    _assert_fits(recorder)


def test_pod_logs_stream_fits_the_spec(recorded):
    sb, recorder = recorded
    c = atlas.spawn(provider="runpod", gpu="l4", image="img")
    sb.state.clock.advance(20)
    from atlas_nb.providers.registry import get_provider

    prov = get_provider("runpod")

    async def read_then_terminate():
        sse = {"accept": "text/event-stream"}  # as logs.follow asks (the spec's media type)
        first = asyncio.ensure_future(
            prov.rest.request("GET", f"/v2/pods/{c.id}/logs", headers=sse)
        )
        resumed = asyncio.ensure_future(
            prov.rest.request(
                "GET",
                f"/v2/pods/{c.id}/logs",
                params={"source": "container"},
                headers={**sse, "last-event-id": "2026-01-01T00:00:00Z"},
            )
        )
        await asyncio.sleep(0.05)
        await prov.pods.delete(c.id)
        return await asyncio.wait_for(asyncio.gather(first, resumed), 10)

    response, resumed = atlas._runtime.get_runtime().run(read_then_terminate())
    asked = [e for e in recorder.exchanges if e.url.path.endswith("/logs")]
    assert asked and all(e.request_headers["accept"] == "text/event-stream" for e in asked)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert b"id: " in response.content and b"data: " in response.content
    assert b'"source": "system"' not in resumed.content
    _assert_fits(recorder)


def test_catalogue_offers_and_billing_fit_the_spec(recorded):
    sb, recorder = recorded
    atlas.gpu_types(provider="runpod")
    atlas.offers("h100", providers="runpod", regions=["US-TX-3"])
    c = atlas.spawn(provider="runpod", gpu="l4", image="img")
    sb.state.clock.advance(7200)
    atlas.runpod.billing.pods(bucket="hour", last=3)
    atlas.runpod.billing.pods(start="2026-01-01T00:00:00Z", pod_id=c.id)
    atlas.run_job(sb.runpod_endpoint_id, {"sleep_ms": 5}, provider="runpod", wait=True)
    atlas.runpod.billing.serverless(bucket="day")
    atlas.runpod.network_volumes.create(name="v", size=10, dataCenter="US-TX-3")
    atlas.runpod.billing.network_volumes(bucket="month", last=1)
    seen = _paths(recorder)
    assert {"GET /runpod/v2/catalog/gpus", "GET /runpod/v2/billing/pods"} <= seen
    _assert_fits(recorder)


def test_management_routes_fit_the_spec(recorded):
    _sb, recorder = recorded
    rp = atlas.runpod
    reg = rp.registries.create(name="ghcr", username="me", password="secret-pw")
    rp.registries.list()
    rp.registries.get(reg["id"])
    tpl = rp.templates.create(name="t", image="img", serverless=True, ports=["8000/http"])
    rp.templates.update(tpl["id"], name="t2")
    rp.templates.get(tpl["id"])
    rp.templates.list()
    ep = rp.endpoints.create(
        name="e", templateId=tpl["id"], gpu={"pools": ["ADA_24"]}, workers={"max": 2}
    )
    rp.endpoints.update(ep["id"], workers={"max": 4}, timeout=60000)
    rp.endpoints.get(ep["id"])
    rp.endpoints.list()
    vol = rp.network_volumes.create(name="v", size=50, dataCenter="EU-RO-1")
    rp.network_volumes.update(vol["id"], size=60)
    rp.network_volumes.get(vol["id"])
    rp.network_volumes.list()
    rp.endpoints.delete(ep["id"])
    rp.templates.delete(tpl["id"])
    rp.network_volumes.delete(vol["id"])
    rp.registries.delete(reg["id"])
    assert "secret-pw" not in str(rp.registries.list().attrs["raw"])
    _assert_fits(recorder)


def test_error_answers_fit_the_spec(recorded):
    sb, recorder = recorded
    with pytest.raises(NotFoundError):
        atlas.compute("nopodhere", provider="runpod")
    with pytest.raises(ValidationError) as info:
        atlas.runpod.network_volumes.create(name="v", size=5, dataCenter="EU-RO-1")
    assert "size" in str(info.value)
    c = atlas.spawn(provider="runpod", gpu="l4", image="img")
    with pytest.raises(ConflictError):
        atlas.start(c.id, provider="runpod")  # not stopped
    sb.faults("runpod", "GET /v2/pods", status=429, retry_after=0, count=10)
    with pytest.raises(RateLimitedError):
        atlas.computes(provider="runpod")
    sb.clear_faults()
    with pytest.raises(UnauthorizedError):
        atlas.computes(provider="runpod", api_key="rpa_wrong")
    statuses = {ex.status for ex in recorder.exchanges}
    assert {401, 404, 409, 422, 429} <= statuses
    _assert_fits(recorder, requests=False)  # the 422 request is invalid on purpose


def test_unauthenticated_request_fits_the_spec(recorded):
    sb, recorder = recorded

    async def bare():
        async with httpx.AsyncClient(transport=recorder, base_url=sb.origin) as client:
            return await client.get("/runpod/v2/pods")

    response = atlas._runtime.get_runtime().run(bare())
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    _assert_fits(recorder, requests=False)
