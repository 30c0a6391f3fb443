"""The sandbox's fake Fly logs API and fake fly CLI, driven directly."""

import itertools
import json
import subprocess

import httpx
import pytest

from atlas_nb.sandbox._state import SandboxState
from atlas_nb.sandbox.fly import api as fly_api
from atlas_nb.sandbox.fly import cli as _flyops_cli
from atlas_nb.sandbox.fly import fake_fly
from atlas_nb.sandbox.fly.world import fly_world

APP = "atlas-demo-web"


@pytest.fixture
def state():
    # a frozen clock, moved by hand: no line may appear between two calls of a test
    s = SandboxState(seed=1, speed=0)
    s.clock.advance(3600)
    yield s
    for hook in s.on_stop:
        hook()


@pytest.fixture
def api(state):
    transport = httpx.ASGITransport(app=fly_api.build_app(state))

    async def get(path, token=None, **params):
        headers = {"authorization": token or state.api_keys["fly"]}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get(path, params=params, headers=headers)

    return get


def logs_path(app=APP):
    return f"/api/v1/apps/{app}/logs"


async def test_first_page_is_the_latest_100_lines(api):
    r = await api(logs_path(), next_token="")
    assert r.status_code == 200 and r.headers["fly-request-id"].startswith("01J")
    body = r.json()
    assert len(body["data"]) == 100
    stamps = [int(_ns(d)) for d in body["data"]]
    assert stamps == sorted(stamps)
    assert body["meta"]["next_token"] == str(stamps[-1])
    attrs = body["data"][0]["attributes"]
    assert set(attrs) == {"timestamp", "message", "level", "instance", "region", "meta"}
    assert attrs["timestamp"].endswith("Z") and len(attrs["timestamp"].split(".")[1]) == 10


def _ns(item):
    from atlas_nb.fly.logs.entries import parse_timestamp_ns

    return parse_timestamp_ns(item["attributes"]["timestamp"])


async def test_paging_is_exclusive_and_empty_pages_have_no_token(api, state):
    first = (await api(logs_path())).json()
    token = first["meta"]["next_token"]
    state.clock.advance(5)
    second = (await api(logs_path(), next_token=token)).json()
    assert second["data"] and all(_ns(d) > int(token) for d in second["data"])
    last = second["meta"]["next_token"]
    empty = (await api(logs_path(), next_token=last)).json()
    assert empty == {"data": [], "meta": {"next_token": ""}}


async def test_same_microsecond_bursts_exist(api):
    body = (await api(logs_path())).json()
    stamps = [_ns(d) for d in body["data"]]
    assert any(b - a == 250 and a // 1000 == b // 1000 for a, b in itertools.pairwise(stamps))


async def test_filters(api):
    everything = (await api(logs_path())).json()["data"]
    regions = {d["attributes"]["region"] for d in everything}
    instances = {d["attributes"]["instance"] for d in everything}
    assert len(regions) == 2 and len(instances) == 2
    region = sorted(regions)[0]
    only = (await api(logs_path(), region=region)).json()["data"]
    assert len(only) == 100 and {d["attributes"]["region"] for d in only} == {region}
    inst = sorted(instances)[1]
    only = (await api(logs_path(), instance=inst)).json()["data"]
    assert {d["attributes"]["instance"] for d in only} == {inst}
    none = (await api(logs_path(), region="nowhere")).json()
    assert none == {"data": [], "meta": {"next_token": ""}}


async def test_machines_become_instances(api, state):
    app = fly_world(state).apps[APP]
    app.machines["148ed123abc456"] = {"id": "148ed123abc456", "region": "fra", "state": "started"}
    app.machines["stopped0000000"] = {"id": "stopped0000000", "region": "syd", "state": "stopped"}
    token = (await api(logs_path())).json()["meta"]["next_token"]
    state.clock.advance(10)
    new = (await api(logs_path(), next_token=token)).json()["data"]
    assert new and {(d["attributes"]["instance"], d["attributes"]["region"]) for d in new} == {
        ("148ed123abc456", "fra")
    }


@pytest.mark.parametrize(
    "token",
    ["", "Bearer nope", "FlyV1 fm2_bm90IHNpZ25lZA==", "FlyV1 " + _flyops_cli.mint("wrong", "o")],
)
async def test_bad_credentials_get_401(api, token):
    r = await api(logs_path(), token=token or " ")
    assert r.status_code == 401
    assert r.json() == {"error": "Authenticate: token validation error"}


async def test_minted_tokens_work_until_revoked(api, state):
    minted = _flyops_cli.mint(state.secret, "personal")
    assert (await api(logs_path(), token=minted)).status_code == 200
    bare = minted.removeprefix("FlyV1 ")
    assert (await api(logs_path(), token=f"Bearer {bare}")).status_code == 200
    assert fly_api.revoke_token(state, minted) == 1
    assert (await api(logs_path(), token=minted)).status_code == 401
    other = _flyops_cli.mint(state.secret, "personal")
    assert (await api(logs_path(), token=other)).status_code == 200


async def test_revoke_route_and_the_sandbox_key(api, state):
    transport = httpx.ASGITransport(app=fly_api.build_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.post("/_sandbox/tokens/revoke", json={"token": state.api_keys["fly"]})
        assert r.json() == {"revoked": 1}
        assert (await c.post("/_sandbox/tokens/revoke", content=b"{")).status_code == 400
    assert (await api(logs_path())).status_code == 401


async def test_unknown_app_and_bad_token(api):
    r = await api(logs_path("no-such-app"))
    assert r.status_code == 404 and "Could not find App" in r.json()["error"]
    assert (await api(logs_path(), next_token="abc")).status_code == 400


async def test_malformed_knob_injects_bad_entries_in_a_valid_page(api, state):
    state.faults.add("fly_api", "GET /api/v1/apps", malformed=True, count=1)
    body = (await api(logs_path())).json()  # still valid JSON
    bad = [
        d
        for d in body["data"]
        if not isinstance(d, dict)
        or not isinstance(d.get("attributes"), dict)
        or not str(d["attributes"].get("timestamp", "")).startswith("2")
        or not isinstance(d["attributes"].get("message"), str)
    ]
    assert len(bad) == 5 and len(body["data"]) == 105
    assert len((await api(logs_path())).json()["data"]) == 100  # count=1: next page is clean


async def test_status_faults_still_apply(api, state):
    state.faults.add("fly_api", None, status=503, count=1)
    assert (await api(logs_path())).status_code == 503
    assert (await api(logs_path())).status_code == 200


# -- the fake CLI ----------------------------------------------------------------------------


def run(path, *args, cwd=None):
    return subprocess.run([path, *args], capture_output=True, text=True, cwd=cwd, timeout=30)


def test_cli_version_tokens_and_knobs(state, tmp_path):
    path = fake_fly.install(state, "http://127.0.0.1:9/fly-api")
    assert fake_fly.install(state, "ignored") == path  # once per sandbox
    assert run(path, "--version").stdout.startswith("fly v0.3")
    out = run(path, "tokens", "create", "readonly", "--json")
    token = json.loads(out.stdout)["token"]
    assert "new version" in out.stderr and token.startswith("FlyV1 fm2_")
    claims = _flyops_cli.verify(state.secret, token.split(" ")[1])
    assert claims["org"] == "personal" and claims["kind"] == "readonly"
    org = run(path, "tokens", "create", "readonly", "-o", "acme").stdout.strip()
    assert _flyops_cli.verify(state.secret, org.split(" ")[1])["org"] == "acme"
    assert fake_fly.configure_cli(state, tokens="fail")["tokens"] == "fail"
    failed = run(path, "tokens", "create", "readonly")
    assert failed.returncode == 1 and failed.stdout == "" and "Error" in failed.stderr
    assert fake_fly.configure_cli(state, reset=True)["tokens"] == "ok"
    assert run(path, "nope").returncode == 1
    assert [c[0] for c in fake_fly.cli_calls(state)] == [
        "--version",
        "tokens",
        "tokens",
        "tokens",
        "nope",
    ]
    with pytest.raises(ValueError, match="unknown fake fly knob"):
        fake_fly.configure_cli(state, tokenz="ok")
    with pytest.raises(ValueError, match="must be one of"):
        fake_fly.configure_cli(state, deploy="explode")
    assert "secret" not in fake_fly.configure_cli(state)


def test_cli_deploy_output(state, tmp_path):
    path = fake_fly.install(state, "http://127.0.0.1:9/fly-api")
    fake_fly.configure_cli(state, deploy_delay_s=0)
    missing = run(path, "deploy", "--remote-only", cwd=tmp_path)
    assert missing.returncode == 1 and "missing an app name" in missing.stderr
    (tmp_path / "fly.toml").write_text('app = "atlas-demo-web"  # web\n')
    ok = subprocess.run([path, "deploy", "--remote-only"], capture_output=True, cwd=tmp_path)
    assert ok.returncode == 0 and b"% |" in ok.stdout and b"\r" in ok.stdout  # progress redraws
    assert b"Visit your newly deployed app at https://atlas-demo-web.fly.dev/" in ok.stdout
    fake_fly.configure_cli(state, deploy="fail", exit_code=3, deploy_lines=2)
    bad = run(path, "deploy", "--remote-only", "--app", "other", cwd=tmp_path)
    assert bad.returncode == 3 and "Error: failed to fetch an image" in bad.stdout
