"""Lambda, Vast.ai and Fly Machines: what atlas_nb sends and what the sandbox answers fit the
providers' official OpenAPI documents.

Every route the three providers use is exercised through the public API against the
in-process sandbox, recorded, and validated (requests and responses, success and error
answers). Deliberate deviations from the documents are listed here with the reason:

* Vast paths: atlas_nb sends the trailing slash the vendor's own CLI sends
  (``/api/v0/bundles/``); the generated spec lists the paths without it. Both forms are
  served; the check strips the slash before looking the path up.
* Vast ``POST /api/v0/bundles/`` ``type``: atlas_nb always sends it, spelt as the vast CLI
  and the spec's own example spell it (``"on-demand"``); the spec's enum says ``"ondemand"``.
  The check reads ``on-demand`` as ``ondemand``.
* Vast ``GET /api/v0/instances/{id}``: the spec's ``Instance`` schema types ``ports`` as a list
  of integers and ``extra_env`` as a list of strings, but the same record in the v1 list schema
  (and the vast CLI, which turns ``extra_env`` pairs into a dict) has docker-style port
  mappings and ``[key, value]`` pairs. The fake answers the real shapes; those two fields are
  left out of the v0 check.
* Vast ``GET /api/v0/instances/{id}`` of an instance that is not (or no longer) yours answers
  ``{"instances": null}`` (the vast CLI checks for exactly that); the spec's schema is not
  nullable, so that answer is compared with ``{"instances": null}`` instead.
* Statuses a document does not declare are not response-checked, and must be exactly the
  expected ones: Lambda's 429 on a too-early launch (Lambda documents the limit but the spec
  lists no 429); the Fly document (Dec 2023) declares no 401/404/408/412 or the 400 for GPU
  guests that Fly added in 2026.
* Fly start/stop/restart/wait/delete: the 2023 document declares these 200 answers without a
  body; Fly's current docs (and fly-go) read small JSON objects (``{"ok": true}``,
  ``{"previous_state": "stopped"}``). openapi-core cannot match ``content: {}`` against any
  body, so for those the request is checked and the answer must be a 200 with a JSON object.
* Fly ``DELETE .../machines/{id}?force=true``: the docs take ``force``; the 2023 document has
  no query parameters there (openapi-core accepts the extra parameter).
"""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest

import atlas_nb as atlas
from atlas_nb.errors import (
    CapacityError,
    NotFoundError,
    ProviderError,
    QuotaExceededError,
    UnauthorizedError,
    UnsupportedError,
    ValidationError,
)
from atlas_nb.providers import fly_machines, lambda_cloud, vast
from atlas_nb.providers.lambda_cloud import LambdaProvider
from atlas_nb.sandbox.lambda_cloud.api import lambda_world
from atlas_nb.sandbox.vast.api import vast_world

from . import openapi_check
from .openapi_check import Exchange, RecordingTransport, check_exchange, specs_dir

pytestmark = pytest.mark.contract


@pytest.fixture
def recorded(monkeypatch):
    specs_dir()  # skip cleanly without the specs
    sb = atlas.sandbox.in_process(speed=1000, seed=3)
    recorder = RecordingTransport(sb.transport)
    atlas.configure(http_transport=recorder)
    monkeypatch.setattr(LambdaProvider, "launch_interval_s", 0.02)
    try:
        yield sb, recorder
    finally:
        sb.stop()


def _undeclared(problem: str) -> bool:
    return "ResponseNotFound" in problem or "Unknown response http status" in problem


def _vast_normalised(ex: Exchange) -> Exchange | None:
    """The exchange as the spec can check it (None: checked here instead)."""
    path = ex.url.path
    if path.endswith("/"):
        ex = dataclasses.replace(ex, url=ex.url.copy_with(path=path.rstrip("/")))
    if ex.method == "POST" and path.rstrip("/").endswith("/api/v0/bundles"):
        query = json.loads(ex.request_body)
        assert query.get("type") in ("on-demand", "bid", "reserved"), query  # always sent
        if query["type"] == "on-demand":
            query["type"] = "ondemand"
            ex = dataclasses.replace(ex, request_body=json.dumps(query).encode())
    if ex.method == "GET" and "/api/v0/instances/" in path and ex.status == 200:
        body = json.loads(ex.response_body)
        if body == {"instances": None}:
            return None
        if isinstance(body.get("instances"), dict):
            body["instances"] = {
                k: v for k, v in body["instances"].items() if k not in ("ports", "extra_env")
            }
            ex = dataclasses.replace(ex, response_body=json.dumps(body).encode())
    return ex


_FLY_BODYLESS = ("/start", "/stop", "/restart", "/wait")


def _fly_bodyless(ex: Exchange) -> bool:
    """A Fly 200 the 2023 document declares with ``content: {}`` (which openapi-core cannot
    match against any body, empty or not): its body must be a JSON object."""
    path = ex.url.path
    bodyless = path.endswith(_FLY_BODYLESS) or (ex.method == "DELETE" and "/machines/" in path)
    if bodyless and ex.status == 200:
        assert isinstance(json.loads(ex.response_body), dict), ex.response_body
        return True
    return False


def _assert_fits(
    recorder: RecordingTransport, prefix: str, *, undeclared: set[tuple[str, int]] = frozenset()
) -> set[str]:
    """Every exchange under ``prefix`` fits; returns the 'METHOD path' set seen."""
    problems: list[str] = []
    skipped: set[tuple[str, int]] = set()
    seen: set[str] = set()
    for ex in recorder.exchanges:
        if not ex.url.path.startswith(prefix):
            continue
        if prefix.startswith("/vast"):
            checked = _vast_normalised(ex)
            if checked is None:
                seen.add(f"{ex.method} {ex.url.path.rstrip('/')} (null)")
                continue
            ex = checked
        assert openapi_check.route_for(ex.url) is not None, ex.url
        seen.add(f"{ex.method} {ex.url.path}")
        bodyless = prefix.startswith("/fly-machines") and _fly_bodyless(ex)
        found = check_exchange(ex, check_response=not bodyless)
        for p in found:
            if p.startswith("response") and _undeclared(p):
                skipped.add((ex.method, ex.status))
            else:
                problems.append(p)
    assert not problems, "\n".join(problems)
    assert skipped == set(undeclared), skipped
    return seen


def test_lambda_requests_and_responses_fit_the_spec(recorded):
    sb, recorder = recorded
    atlas.gpu_types(provider="lambda")
    row = atlas.offers(providers="lambda", gpu="h100").iloc[0]
    fs = lambda_cloud.create_file_system("data", row["region"])
    c = atlas.spawn(
        row,
        image="vllm/vllm-openai:latest",
        ports=["8000/http", "22/tcp"],
        env={"MODEL": "m"},
        auth="bearer",
        provider_opts={"file_systems": ["data"], "tags": {"team": "ml"}},
    )
    sb.state.clock.advance(60)
    atlas.compute(c.id, provider="lambda")
    atlas.computes(provider="lambda")
    atlas.restart(c.id, provider="lambda")
    key = lambda_cloud.add_ssh_key("generated")
    lambda_cloud.add_ssh_key("laptop", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIxyz me@laptop")
    lambda_cloud.ssh_keys()
    lambda_cloud.delete_ssh_key(key.id)
    atlas.terminate(c.id, provider="lambda")
    sb.state.clock.advance(60)
    lambda_cloud.file_systems()
    lambda_cloud.delete_file_system(fs["id"])
    # error answers
    with pytest.raises(NotFoundError):
        atlas.compute("0" * 32, provider="lambda")
    with pytest.raises(CapacityError):
        atlas.spawn(
            provider="lambda",
            gpu="b200",
            gpu_count=8,
            image="x",
            provider_opts={"ssh_key": "laptop"},
        )
    with pytest.raises(UnauthorizedError):
        atlas.computes(provider="lambda", api_key="secret_wrong")
    sb.faults("lambda", "POST /api/v1/instance-operations/launch", status=429, count=1)
    atlas.spawn(provider="lambda", gpu="a10", image="x", provider_opts={"ssh_key": "laptop"})
    atlas.spawn(provider="lambda", gpu="a10", provider_opts={"ssh_key": "laptop"})  # plain VM
    lambda_world(sb.state).instance_quota = 0
    with pytest.raises(QuotaExceededError):
        atlas.spawn(provider="lambda", gpu="a10", provider_opts={"ssh_key": "laptop"})
    seen = _assert_fits(recorder, "/lambda/", undeclared={("POST", 429)})
    base = "/lambda/api/v1"
    for route in (
        "GET /instance-types",
        "POST /instance-operations/launch",
        "POST /instance-operations/restart",
        "POST /instance-operations/terminate",
        "GET /instances",
        "GET /ssh-keys",
        "POST /ssh-keys",
        "GET /file-systems",
        "POST /filesystems",
        "GET /firewall-rulesets",
        "POST /firewall-rulesets",
    ):
        method, path = route.split(" ")
        assert f"{method} {base}{path}" in seen, route
    assert any(s.startswith(f"DELETE {base}/filesystems/") for s in seen)
    assert any(s.startswith(f"DELETE {base}/ssh-keys/") for s in seen)


def test_vast_requests_and_responses_fit_the_spec(recorded):
    sb, recorder = recorded
    atlas.offers(providers="vast", gpu="rtx_4090", max_price_per_hr=2.0, regions=["US"], limit=50)
    atlas.offers(providers="vast", gpu="h100", spot=True, limit=10)
    vast.search_offers(
        gpu="a100_80g",
        num_gpus=[1, 2],
        min_reliability=0.9,
        countries=["US", "CA"],
        verified=None,
        order_by="-value",
        disk_gb=40,
        extra={"cuda_max_good": {"gte": 12.0}},
        limit=5,
    )
    row = atlas.offers(providers="vast", gpu="rtx_4090", limit=5).iloc[0]
    c = atlas.spawn(
        row, image="python:3.11", ports=["8000/http"], env={"A": "b c"}, auth="bearer", disk_gb=20
    )
    spot = atlas.spawn(provider="vast", gpu="h100", image="x", spot=True)
    sb.state.clock.advance(60)
    atlas.compute(c.id, provider="vast")
    atlas.computes(provider="vast")
    atlas.computes(provider="vast", name=c.name)
    atlas.stop(c.id, provider="vast")
    atlas.start(c.id, provider="vast")
    vast.label(c.id, "renamed")
    world = vast_world(sb.state)
    machine = world.instances[int(spot.id)].machine_id
    world.offline_machines.add(machine)
    with pytest.raises(ProviderError, match="refused"):  # 200 {"success": false, "msg"}
        atlas.stop(spot.id, provider="vast")
    with pytest.raises(ProviderError, match="refused"):
        atlas.terminate(spot.id, provider="vast")
    world.offline_machines.discard(machine)
    atlas.terminate(spot.id, provider="vast")
    atlas.terminate(c.id, provider="vast")
    # error answers
    with pytest.raises(NotFoundError):
        atlas.terminate(c.id, provider="vast")
    with pytest.raises(NotFoundError):
        atlas.compute(c.id, provider="vast")  # 200 with "instances": null
    with pytest.raises(ValidationError):
        low = atlas.offers(providers="vast", gpu="h100", spot=True).iloc[0]
        atlas.spawn(low, image="x", spot=True, provider_opts={"bid_price": 0.001})
    with pytest.raises(UnauthorizedError):
        atlas.compute(c.id, provider="vast", api_key="wrong")
    seen = _assert_fits(recorder, "/vast/")
    for route in (
        "POST /vast/api/v0/bundles",
        "GET /vast/api/v1/instances",
        f"GET /vast/api/v0/instances/{c.id}",
        f"PUT /vast/api/v0/instances/{c.id}",
        f"DELETE /vast/api/v0/instances/{c.id}",
        f"PUT /vast/api/v0/asks/{row['offer_id']}",
        f"GET /vast/api/v0/instances/{c.id} (null)",
    ):
        assert route in seen, route


def test_fly_machines_requests_and_responses_fit_the_spec(recorded):
    sb, recorder = recorded
    app = "atlas-demo-web"
    c = atlas.spawn(
        provider="fly",
        image="nginx:1.27",
        ports=["8080/http", "5432/tcp"],
        env={"MODE": "web"},
        regions=["ams"],
        auth="bearer",
        provider_opts={
            "app": app,
            "size": "shared-cpu-2x",
            "auto_destroy": True,
            "restart": "on-failure",
            "metadata": {"team": "ml"},
        },
    )
    sized = atlas.spawn(
        provider="fly",
        image="nginx:1.27",
        provider_opts={"app": app, "cpu_kind": "performance", "cpus": 1, "memory_mb": 2048},
    )
    fly_machines.wait(c.id, "started", timeout=10)
    atlas.computes(provider="fly")
    atlas.restart(c.id, provider="fly")
    atlas.stop(c.id, provider="fly")
    fly_machines.wait(c.id, "stopped", timeout=10)
    atlas.start(c.id, provider="fly")
    bare = c.id.split("/", 1)[1]
    atlas.compute(bare, provider="fly")  # looked up across the org's apps
    atlas.terminate(sized.id, provider="fly")
    atlas.terminate(c.id, provider="fly")
    # error answers
    with pytest.raises(NotFoundError):
        atlas.compute(f"{app}/0123456789abcd", provider="fly")
    with pytest.raises(UnauthorizedError):
        atlas.computes(provider="fly", api_key="fm2_forged")
    with pytest.raises(atlas.AtlasTimeoutError):
        stopped = atlas.spawn(provider="fly", image="x", provider_opts={"app": app})
        atlas.stop(stopped.id, provider="fly")
        sb.state.clock.advance(10)
        fly_machines.wait(stopped.id, "started", timeout=1)
    gpu = httpx.Request(
        "POST",
        sb.urls["fly_machines"] + f"/apps/{app}/machines",
        json={"config": {"image": "x", "guest": {"gpu_kind": "l40s", "gpus": 1}}},
        headers={"authorization": sb.api_keys["fly"]},
    )
    import asyncio

    async def send():
        async with httpx.AsyncClient(transport=recorder) as client:
            return await client.send(gpu)

    assert asyncio.run(send()).status_code == 400
    with pytest.raises(UnsupportedError):
        atlas.spawn(provider="fly", gpu="l40s", image="x", provider_opts={"app": app})
    seen = _assert_fits(
        recorder,
        "/fly-machines/",
        undeclared={("GET", 404), ("GET", 401), ("GET", 408), ("POST", 400)},
    )
    base = f"/fly-machines/v1/apps/{app}/machines"
    mid = bare
    for route in (
        f"POST {base}",
        f"GET {base}",
        f"GET {base}/{mid}",
        f"POST {base}/{mid}/start",
        f"POST {base}/{mid}/stop",
        f"POST {base}/{mid}/restart",
        f"GET {base}/{mid}/wait",
        f"DELETE {base}/{mid}",
        "GET /fly-machines/v1/apps",
    ):
        assert route in seen, route


def test_routes_atlas_nb_does_not_use_fit_too(recorded):
    """The fakes' remaining routes (app management, machine update, instance rename)."""
    import asyncio

    sb, recorder = recorded

    async def calls():
        fly = {"authorization": sb.api_keys["fly"]}
        lam = {"authorization": f"Bearer {sb.api_keys['lambda']}"}
        fm = sb.urls["fly_machines"]
        async with httpx.AsyncClient(transport=recorder) as c:
            made = await c.post(
                f"{fm}/apps", json={"app_name": "contract-app", "org_slug": "personal"}, headers=fly
            )
            assert made.status_code == 201
            assert (await c.get(f"{fm}/apps/contract-app", headers=fly)).status_code == 200
            m = (
                await c.post(
                    f"{fm}/apps/contract-app/machines",
                    json={"config": {"image": "nginx"}, "skip_launch": True},
                    headers=fly,
                )
            ).json()
            updated = await c.post(
                f"{fm}/apps/contract-app/machines/{m['id']}",
                json={"config": {"image": "nginx:2", "guest": {"cpus": 2, "memory_mb": 512}}},
                headers=fly,
            )
            assert updated.status_code == 200
            assert (await c.delete(f"{fm}/apps/contract-app", headers=fly)).status_code == 202
            key = {"name": "k", "public_key": "ssh-ed25519 AAAA k"}
            await c.post(f"{sb.urls['lambda']}/ssh-keys", json=key, headers=lam)
            launched = await c.post(
                f"{sb.urls['lambda']}/instance-operations/launch",
                json={
                    "region_name": lambda_world(sb.state).regions_with_capacity("gpu_1x_h100_sxm5")[
                        0
                    ],
                    "instance_type_name": "gpu_1x_h100_sxm5",
                    "ssh_key_names": ["k"],
                },
                headers=lam,
            )
            iid = launched.json()["data"]["instance_ids"][0]
            renamed = await c.post(
                f"{sb.urls['lambda']}/instances/{iid}", json={"name": "renamed"}, headers=lam
            )
            assert renamed.json()["data"]["name"] == "renamed"
            bad = await c.post(
                f"{sb.urls['lambda']}/instance-operations/launch",
                json={"instance_type_name": "gpu_1x_a10", "ssh_key_names": ["k"]},
                headers=lam,
            )
            assert bad.status_code in (400, 429)

    asyncio.run(calls())
    problems = []
    for ex in recorder.exchanges:
        if (ex.url.path.endswith("/v1/apps") and ex.method == "POST") or (
            ex.method == "DELETE" and ex.url.path.endswith("/apps/contract-app")
        ):
            # 201 / 202 are declared with ``content: {}`` (see the module docstring)
            problems += check_exchange(ex, check_response=False)
            continue
        invalid_on_purpose = b"region_name" not in ex.request_body and ex.url.path.endswith(
            "/launch"
        )
        problems += [
            p
            for p in check_exchange(ex, check_request=not invalid_on_purpose)
            if not (ex.status == 429 and _undeclared(p))
        ]
    assert not problems, "\n".join(problems)
