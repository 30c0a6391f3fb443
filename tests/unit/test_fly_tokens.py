"""Fly token resolution against the sandbox's fake ``fly`` CLI (B-135..B-150, W-04, W-08,
W-09, W-12, W-14, W-15)."""

import asyncio
import time
from types import SimpleNamespace

import pytest

import atlas_nb as atlas
from atlas_nb import telemetry
from atlas_nb._runtime import run_sync
from atlas_nb.errors import (
    ManualTokenStoreCorrupt,
    MissingCredentialsError,
    TokenPersistError,
    ValidationError,
)
from atlas_nb.fly._services import reset, services
from atlas_nb.fly.storage import DiskcacheTokenStorage, MemoryTokenStorage, TokenRecord
from atlas_nb.sandbox._state import SandboxState
from atlas_nb.sandbox.fly import cli as _flyops_cli
from atlas_nb.sandbox.fly import fake_fly
from tests.helpers.waiting import eventually, pid_alive

APP = "atlas-demo-web"


@pytest.fixture
def fly(tmp_path, monkeypatch):
    state = SandboxState(seed=3)
    path = fake_fly.install(state, "http://127.0.0.1:9/fly-api")
    monkeypatch.setenv("FLY_CONFIG_DIR", str(tmp_path / "flycfg"))
    atlas.configure(fly_executable=path, fly_token_storage_path=str(tmp_path / "tokens"))
    run_sync(reset())
    events = []
    telemetry.attach(
        "test-fly-tokens",
        ["atlas.fly.token.acquire.*"],
        lambda e, m, md: events.append((e, dict(md))),
    )

    def token_runs():
        return [c for c in fake_fly.cli_calls(state) if c[:2] == ["tokens", "create"]]

    def stops():
        return [(md["source"], md["acquirer"]) for e, md in events if e.endswith(".stop")]

    def stored(app=APP, kind="cached"):
        store = DiskcacheTokenStorage(tmp_path / "tokens")
        try:
            return store.get(app, kind)
        finally:
            store.close()

    yield SimpleNamespace(
        state=state,
        path=path,
        tmp=tmp_path,
        events=events,
        runs=token_runs,
        stops=stops,
        stored=stored,
        knobs=lambda **k: fake_fly.configure_cli(state, **k),
        config_dir=tmp_path / "flycfg",
    )
    telemetry.detach("test-fly-tokens")
    run_sync(reset())
    for hook in state.on_stop:
        hook()


def write_config_yml(directory, token):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yml").write_text(f"access_token: '{token}'\nsend_metrics: true\n")


def test_cli_token_is_minted_verified_and_then_served_from_memory(fly):
    token = atlas.fly.tokens.get(APP)
    assert token.startswith("FlyV1 fm2_") and "new version" not in token
    assert _flyops_cli.verify(fly.state.secret, token.split(" ", 1)[1])["org"] == "personal"
    assert fly.runs() == [["tokens", "create", "readonly", "--json"]]
    assert atlas.fly.tokens.get(APP) == token
    assert fly.stops() == [("cli", "resolver"), ("cache", "facade")]
    assert len(fly.runs()) == 1


def test_the_token_cli_does_not_inherit_other_providers_keys(fly, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "rpa_NOTFORFLY")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-fly")
    assert atlas.fly.tokens.get(APP).startswith("FlyV1 fm2_")
    seen = set(fake_fly.cli_env_names(fly.state)[-1])
    assert "RUNPOD_API_KEY" not in seen and "OPENAI_API_KEY" not in seen
    assert {"PATH", "FLY_CONFIG_DIR"} <= seen


def test_org_is_passed_to_the_cli(fly):
    atlas.fly.tokens.get(APP, org="acme")
    atlas.configure(fly_org="globex")
    atlas.fly.tokens.get("other-app")
    assert fly.runs() == [
        ["tokens", "create", "readonly", "--json", "--org", "acme"],
        ["tokens", "create", "readonly", "--json", "--org", "globex"],
    ]


async def test_200_concurrent_gets_run_the_cli_once(fly):
    fly.knobs(token_delay_s=0.3)
    tokens = await asyncio.gather(*(atlas.fly.aio.tokens.get(APP) for _ in range(200)))
    assert len(set(tokens)) == 1
    assert len(fly.runs()) == 1
    sources = [s for s, _ in fly.stops()]
    assert sources.count("cli") == 1 and sources.count("coalesced") == 199


async def test_different_orgs_resolve_in_parallel(fly):
    gate = fly.tmp / "gate"
    fly.knobs(token_gate=str(gate))
    gets = [
        asyncio.ensure_future(atlas.fly.aio.tokens.get(f"app-{n}", org=f"org-{n}"))
        for n in range(5)
    ]
    # all five CLI runs are in flight at the same time (each waits at the gate)
    await asyncio.to_thread(eventually, lambda: len(fly.runs()) == 5)
    assert not any(g.done() for g in gets)
    gate.write_text("open")
    tokens = await asyncio.gather(*gets)
    assert len(set(tokens)) == 5


async def test_apps_of_one_org_share_one_cli_run(fly):
    fly.knobs(token_delay_s=0.2)
    tokens = await asyncio.gather(*(atlas.fly.aio.tokens.get(f"app-{n}") for n in range(20)))
    assert len(set(tokens)) == 1 and len(fly.runs()) == 1


def test_chain_order(fly, monkeypatch):
    """manual > configured key > stored > config.yml > CLI."""
    assert atlas.fly.tokens.get("cli-app").startswith("FlyV1 fm2_")
    write_config_yml(fly.config_dir, "FlyV1 fm2_ZnJvbS1jb25maWc=")
    assert atlas.fly.tokens.get("config-app") == "FlyV1 fm2_ZnJvbS1jb25maWc="
    # a stored, unexpired token beats config.yml
    svc_store = DiskcacheTokenStorage(fly.tmp / "tokens")
    svc_store.put("stored-app", "cached", TokenRecord("FlyV1 fm2_c3RvcmVk", time.time() + 999))
    svc_store.close()
    assert atlas.fly.tokens.get("stored-app") == "FlyV1 fm2_c3RvcmVk"
    # an expired stored token does not
    svc_store = DiskcacheTokenStorage(fly.tmp / "tokens")
    svc_store.put("expired-app", "cached", TokenRecord("FlyV1 fm2_b2xk", time.time() - 1))
    svc_store.close()
    assert atlas.fly.tokens.get("expired-app") == "FlyV1 fm2_ZnJvbS1jb25maWc="
    # the configured key beats stored and config.yml (FLY_API_TOKEN here)
    monkeypatch.setenv("FLY_API_TOKEN", "FlyV1 fm2_ZW52")
    assert atlas.fly.tokens.get("env-app") == "FlyV1 fm2_ZW52"
    # and a manual override beats everything
    atlas.fly.tokens.set_manual("env-app", "FlyV1 fm2_bWFudWFs")
    assert atlas.fly.tokens.get("env-app") == "FlyV1 fm2_bWFudWFs"
    assert [s for s, _ in fly.stops()] == [
        "cli",
        "config_file",
        "storage",
        "config_file",
        "configured",
        "cache",
    ]
    assert len(fly.runs()) == 1


def test_config_file_can_be_disabled(fly):
    write_config_yml(fly.config_dir, "FlyV1 fm2_ZnJvbS1jb25maWc=")
    atlas.configure(fly_config_file_enabled=False)
    assert atlas.fly.tokens.get(APP) != "FlyV1 fm2_ZnJvbS1jb25maWc="
    assert len(fly.runs()) == 1


def test_manual_token_is_an_explicit_cached_override(fly):
    atlas.fly.tokens.get(APP)  # a CLI token first
    atlas.fly.tokens.set_manual(APP, "  FlyV1 fm2_bWFudWFs\n")
    assert atlas.fly.tokens.get(APP) == "FlyV1 fm2_bWFudWFs"
    assert fly.stored(kind="manual") == TokenRecord("FlyV1 fm2_bWFudWFs")
    # it survives a restart and is cached again after one resolution
    run_sync(reset())
    assert atlas.fly.tokens.get(APP) == "FlyV1 fm2_bWFudWFs"
    assert atlas.fly.tokens.get(APP) == "FlyV1 fm2_bWFudWFs"
    assert fly.stops()[-2:] == [("manual", "resolver"), ("cache", "facade")]
    assert len(fly.runs()) == 1  # never the CLI again while the override is set
    atlas.fly.tokens.clear_manual(APP)
    assert fly.stored(kind="manual") is None
    assert atlas.fly.tokens.get(APP) != "FlyV1 fm2_bWFudWFs"


def test_set_manual_rejects_non_tokens_and_reports_failed_writes(fly):
    with pytest.raises(ValidationError, match="does not look like a Fly token"):
        atlas.fly.tokens.set_manual(APP, "Error: please log in")
    atlas.fly.tokens.set_storage(MemoryTokenStorage(fail_writes=True))
    with pytest.raises(TokenPersistError, match="simulated storage outage"):
        atlas.fly.tokens.set_manual(APP, "FlyV1 fm2_bWFudWFs")
    assert atlas.fly.tokens.get(APP) != "FlyV1 fm2_bWFudWFs"  # nothing changed


def test_missing_binary_is_a_miss_not_a_crash(fly):
    atlas.configure(fly_executable=str(fly.tmp / "no-such-fly"))
    with pytest.raises(MissingCredentialsError) as info:
        atlas.fly.tokens.get(APP)
    msg = str(info.value)
    assert "fly CLI not found" in msg and "set_manual" in msg and "FLY_API_TOKEN" in msg
    write_config_yml(fly.config_dir, "FlyV1 fm2_ZnJvbS1jb25maWc=")
    assert atlas.fly.tokens.get(APP) == "FlyV1 fm2_ZnJvbS1jb25maWc="
    failed = [md for e, md in fly.events if e.endswith(".exception")]
    assert [(md["source"], md["acquirer"], md["kind"]) for md in failed] == [
        ("none", "resolver", "MissingCredentialsError")
    ]


def test_no_fly_anywhere_on_path(fly, monkeypatch):
    atlas.configure(fly_executable=None)
    monkeypatch.setenv("PATH", str(fly.tmp))  # no fly, no flyctl
    with pytest.raises(MissingCredentialsError, match="neither fly nor flyctl is on PATH"):
        atlas.fly.tokens.get(APP)


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("fail", "exited with 1: Error: failed to create token"),
        ("garbage", "nothing that looks like a token"),
        ("empty", "nothing that looks like a token"),
    ],
)
def test_cli_failures_are_misses_with_a_reason(fly, mode, why):
    fly.knobs(tokens=mode)
    with pytest.raises(MissingCredentialsError, match=why):
        atlas.fly.tokens.get(APP)


def test_a_token_printed_by_a_failing_cli_is_never_shown(fly, caplog):
    fly.knobs(tokens="leak", stderr_notice=False)
    caplog.set_level("DEBUG", logger="atlas_nb")
    with pytest.raises(MissingCredentialsError) as info:
        atlas.fly.tokens.get(APP)
    assert "exited with 1" in str(info.value)
    shown = [str(info.value), repr(info.value), info.value.message or "", str(info.value.raw)]
    shown += [r.getMessage() for r in caplog.records]
    shown += [repr(md) for _, md in fly.events]
    assert any("exited with 1" in text for text in shown[4:])  # the miss was logged
    assert [e for e, _ in fly.events if e.endswith(".exception")]  # ... and reported
    leaks = [text for text in shown if "fm2_" in text]
    assert leaks == []


def test_a_hung_cli_is_killed_with_its_children(fly):
    fly.knobs(tokens="hang")
    atlas.configure(fly_cli_timeout_s=0.5)
    with pytest.raises(MissingCredentialsError, match="did not finish in 0.5 s"):
        atlas.fly.tokens.get(APP)
    pids = eventually(lambda: fake_fly.hung_pids(fly.state))
    assert len(pids) == 2  # the CLI and the child it started
    eventually(lambda: not any(pid_alive(p) for p in pids))


def test_invalidate_deletes_the_stored_token_too(fly):
    first = atlas.fly.tokens.get(APP)
    eventually(lambda: fly.stored() is not None)  # persisted in the background
    assert fly.stored().token == first
    atlas.fly.tokens.invalidate(APP)
    assert fly.stored() is None
    run_sync(reset())  # even after a restart the revoked token is not loaded again
    second = atlas.fly.tokens.get(APP)
    assert second != first and len(fly.runs()) == 2


def test_a_stored_token_survives_a_restart(fly):
    first = atlas.fly.tokens.get(APP)
    eventually(lambda: fly.stored() is not None)
    run_sync(reset())
    assert atlas.fly.tokens.get(APP) == first
    assert fly.stops()[-1] == ("storage", "resolver")
    assert len(fly.runs()) == 1


def test_refresh_skips_storage_and_config(fly):
    first = atlas.fly.tokens.get(APP)
    eventually(lambda: fly.stored() is not None)
    write_config_yml(fly.config_dir, "FlyV1 fm2_ZnJvbS1jb25maWc=")
    second = atlas.fly.tokens.refresh(APP)
    assert second not in (first, "FlyV1 fm2_ZnJvbS1jb25maWc=")
    assert fly.stops()[-1] == ("cli", "resolver") and len(fly.runs()) == 2
    eventually(lambda: fly.stored() is not None and fly.stored().token == second)


def test_refresh_falls_back_to_config_when_the_cli_cannot_help(fly):
    write_config_yml(fly.config_dir, "FlyV1 fm2_ZnJvbS1jb25maWc=")
    fly.knobs(tokens="fail")
    assert atlas.fly.tokens.refresh(APP) == "FlyV1 fm2_ZnJvbS1jb25maWc="


def test_soft_refresh_runs_ahead_of_expiry_and_survives_cache_hits(fly):
    atlas.configure(fly_token_ttl_s=4.0, fly_soft_expiry_lead_s=3.0)
    first = atlas.fly.tokens.get(APP)
    for _ in range(20):  # warm hits must not cancel the pending refresh (W-08)
        assert atlas.fly.tokens.get(APP) == first
    eventually(lambda: len(fly.runs()) == 2, timeout=10)
    second = eventually(lambda: (t := services().tokens.peek(APP)) != first and t)
    assert second.startswith("FlyV1 fm2_")
    assert atlas.fly.tokens.get(APP) == second


def test_a_failed_soft_refresh_keeps_the_old_token(fly):
    atlas.configure(fly_token_ttl_s=6.0, fly_soft_expiry_lead_s=5.5)
    first = atlas.fly.tokens.get(APP)
    fly.knobs(tokens="fail")
    eventually(lambda: len(fly.runs()) >= 2, timeout=10)
    assert atlas.fly.tokens.get(APP) == first  # still valid: served until it expires


def test_a_corrupt_manual_store_is_reported(fly):
    manual = fly.tmp / "tokens" / "manual"
    manual.mkdir(parents=True)
    (manual / "cache.db").write_bytes(b"garbage" * 100)
    with pytest.raises(ManualTokenStoreCorrupt, match=str(manual)):
        atlas.fly.tokens.get(APP)
    assert (manual / "cache.db").read_bytes() == b"garbage" * 100


def test_unwritable_storage_falls_back_and_still_works(fly):
    blocker = fly.tmp / "file"
    blocker.write_text("x")
    atlas.configure(fly_token_storage_path=str(blocker / "tokens"))
    with pytest.warns(RuntimeWarning, match="cannot use"):
        atlas.fly.tokens.set_manual(APP, "FlyV1 fm2_bWFudWFs")
    assert atlas.fly.tokens.get(APP) == "FlyV1 fm2_bWFudWFs"
    atlas.fly.tokens.clear_manual(APP)


def test_sync_warm_path_works_from_other_threads(fly):
    import concurrent.futures

    token = atlas.fly.tokens.get(APP)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: atlas.fly.tokens.get(APP), range(100)))
    assert set(got) == {token}
