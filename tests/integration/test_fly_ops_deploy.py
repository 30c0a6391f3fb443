"""``atlas.fly.deploy`` / ``stream_deploy`` against the sandbox's fake ``fly`` CLI (B-114..B-119,
W-11): outcomes, timeouts that kill the process group, one deploy per app, telemetry."""

import asyncio

import pytest

import atlas_nb as atlas
from atlas_nb import telemetry
from atlas_nb._runtime import run_sync
from atlas_nb.errors import (
    AtlasTimeoutError,
    ConflictError,
    DeployError,
    DeployExitError,
    DeployInvalidDirError,
    DeployNotFoundError,
    DeployTimeoutError,
)
from atlas_nb.fly._services import reset
from atlas_nb.sandbox.fly import fake_fly
from tests.helpers.waiting import eventually, pid_alive

APP = "atlas-demo-web"


@pytest.fixture
def fly(sandbox, tmp_path):
    run_sync(reset())
    project = tmp_path / "web"
    project.mkdir()
    (project / "fly.toml").write_text(f'app = "{APP}"\nprimary_region = "iad"\n')
    sandbox.fly_cli(deploy_delay_s=0.002)
    events = []
    telemetry.attach(
        "test-fly-deploy", ["atlas.fly.deploy.*"], lambda e, m, md: events.append((e, dict(md)))
    )
    sandbox.project = project
    sandbox.events = events
    sandbox.exits = lambda: [md for e, md in events if e == "atlas.fly.deploy.exit"]
    yield sandbox
    telemetry.detach("test-fly-deploy")
    run_sync(reset())


def test_a_successful_deploy(fly):
    d = atlas.fly.deploy(fly.project)
    assert d.ok and d.status == "succeeded" and d.exit_code == 0 and d.app == APP
    assert d.lines[0] == "==> Verifying app config"
    assert d.lines[-1] == f"Visit your newly deployed app at https://{APP}.fly.dev/"
    pushes = [ln for ln in d.lines if ln.startswith("Pushing image")]
    assert pushes == ["Pushing image to fly 100% |##########|"]  # redraws collapsed
    assert (
        d.duration_s > 0 and repr(d) == f"<Deploy {APP}: succeeded (exit 0), {len(d.lines)} lines>"
    )
    assert list(d) == d.lines  # a finished deploy replays its lines
    assert d.result() == d.output
    exits = fly.exits()
    assert exits == [{"app": APP, "ticket": d.ticket, "result": "ok", "exit_code": 0}]
    line_events = [md for e, md in fly.events if e == "atlas.fly.deploy.line"]
    assert len(line_events) >= len(d.lines)
    assert all(md == {"app": APP, "ticket": d.ticket} for md in line_events)  # never the text
    calls = fake_fly.cli_calls(fly.state)
    assert calls[-1] == ["deploy", "--remote-only"]


OTHER_SECRETS = {
    "RUNPOD_API_KEY": "rpa_NOTFORFLY",
    "LAMBDA_API_KEY": "secret_notforfly.x",
    "VAST_API_KEY": "v" * 64,
    "AWS_SECRET_ACCESS_KEY": "aws-not-for-fly",
    "HF_TOKEN": "hf_not_for_fly",
}


def test_the_cli_gets_only_the_environment_it_needs(fly, monkeypatch):
    for name, value in OTHER_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("FLY_ORG", "personal")
    monkeypatch.delenv("FLY_API_TOKEN", raising=False)
    monkeypatch.delenv("FLY_ACCESS_TOKEN", raising=False)
    assert atlas.fly.deploy(fly.project).ok
    seen = set(fake_fly.cli_env_names(fly.state)[-1])
    assert not seen & set(OTHER_SECRETS)
    assert {"PATH", "HTTPS_PROXY", "NO_PROXY", "LC_ALL", "FLY_ORG"} <= seen
    assert "FLY_API_TOKEN" in seen  # the configured Fly key, given as the CLI expects it


def test_app_is_passed_when_given(fly):
    d = atlas.fly.deploy(fly.project, app="atlas-demo-worker")
    assert d.app == "atlas-demo-worker" and "atlas-demo-worker.fly.dev" in d.lines[-1]
    assert fake_fly.cli_calls(fly.state)[-1] == [
        "deploy",
        "--remote-only",
        "--app",
        "atlas-demo-worker",
    ]


def test_a_failed_deploy_raises_its_exit_code(fly):
    fly.fly_cli(deploy="fail", exit_code=3)
    with pytest.raises(DeployExitError) as info:
        atlas.fly.deploy(fly.project)
    err = info.value
    assert err.exit_code == 3 and err.reason == "exit"
    assert "exited with code 3" in str(err) and "failed to fetch an image" in err.output
    assert fly.exits()[-1]["result"] == "exit_code" and fly.exits()[-1]["exit_code"] == 3
    d = atlas.fly.deploy(fly.project, wait=False)
    with pytest.raises(DeployExitError):
        d.result()
    assert not d.ok and d.status == "failed" and d.status_line == "failed (exit 3)"


def test_silence_kills_the_whole_process_group(fly):
    fly.fly_cli(deploy="hang")
    seen = []
    with pytest.raises(DeployTimeoutError, match="no output for 0.5 s") as info:
        for line in atlas.fly.stream_deploy(fly.project, activity_timeout=0.5):
            seen.append(line)
    assert seen[:2] == ["==> Verifying app config", f"Validating {fly.project}/fly.toml"]
    assert info.value.reason == "timeout" and isinstance(info.value, AtlasTimeoutError)
    pids = eventually(lambda: fake_fly.hung_pids(fly.state))
    assert len(pids) == 2
    eventually(lambda: not any(pid_alive(p) for p in pids))
    assert fly.exits()[-1]["result"] == "timeout" and fly.exits()[-1]["limit"] == "activity"


def test_output_does_not_extend_the_absolute_cap(fly):
    fly.fly_cli(deploy="trickle")
    with pytest.raises(DeployTimeoutError, match="ran longer than 1 s"):
        atlas.fly.deploy(fly.project, timeout=1.0, activity_timeout=0.5)
    assert fly.exits()[-1]["limit"] == "max"


@pytest.mark.parametrize(
    ("mode", "activity", "cap", "limit", "message"),
    [
        ("hang", 0.5, None, "activity", "no output for 0.5 s"),
        ("hang", None, 1.0, "max", "ran longer than 1 s"),
        ("hang", 0.5, 30.0, "activity", "no output for 0.5 s"),
        ("trickle", 0.5, 1.0, "max", "ran longer than 1 s"),
        ("trickle", None, 1.0, "max", "ran longer than 1 s"),
    ],
)
def test_every_timeout_combination_ends_the_deploy_and_frees_the_app(
    fly, mode, activity, cap, limit, message
):
    fly.fly_cli(deploy=mode)
    d = atlas.fly.deploy(fly.project, wait=False, timeout=cap, activity_timeout=activity)
    with pytest.raises(DeployTimeoutError, match=message):
        d.result(timeout=20)  # a bug in the timeout path used to leave it 'running' forever
    assert d.status == "timeout" and d.done
    assert fly.exits()[-1]["result"] == "timeout" and fly.exits()[-1]["limit"] == limit
    fly.fly_cli(deploy="ok")
    assert atlas.fly.deploy(fly.project).ok  # the app's deploy slot was released


def test_missing_executable(fly):
    atlas.configure(fly_executable=str(fly.project / "no-fly"))
    with pytest.raises(DeployNotFoundError, match="fly CLI was not found"):
        atlas.fly.deploy(fly.project)
    with pytest.raises(DeployNotFoundError):
        next(atlas.fly.stream_deploy(fly.project))
    assert [md["result"] for md in fly.exits()] == ["not_found", "not_found"]
    assert fly.exits()[0]["app"] == APP


def test_invalid_dir(fly):
    with pytest.raises(DeployInvalidDirError, match="not a directory"):
        atlas.fly.deploy(fly.project / "fly.toml")
    assert fly.exits()[-1]["result"] == "invalid_dir"


def test_one_deploy_per_app(fly):
    fly.fly_cli(deploy_delay_s=0.02)
    first = atlas.fly.deploy(fly.project, wait=False)
    with pytest.raises(ConflictError, match="already deploying"):
        atlas.fly.deploy(fly.project)
    with pytest.raises(ConflictError):
        next(atlas.fly.stream_deploy(fly.project))
    assert first.result()
    assert atlas.fly.deploy(fly.project).ok  # free again
    results = [md["result"] for md in fly.exits()]
    assert results == ["conflict", "conflict", "ok", "ok"]


def test_cancel_kills_the_deploy(fly):
    fly.fly_cli(deploy="hang")
    d = atlas.fly.deploy(fly.project, wait=False)
    pids = eventually(lambda: fake_fly.hung_pids(fly.state))
    assert d.status == "running" and not d.done
    with pytest.raises(AtlasTimeoutError, match="still running"):
        d.result(timeout=0.1)  # only the wait times out
    d.cancel()
    assert d.status == "cancelled"
    with pytest.raises(DeployError, match="cancelled"):
        d.result()
    eventually(lambda: not any(pid_alive(p) for p in pids))
    assert fly.exits()[-1]["result"] == "cancelled"


def test_breaking_out_of_a_stream_cancels_the_deploy(fly):
    fly.fly_cli(deploy="hang")
    it = atlas.fly.stream_deploy(fly.project)
    assert next(it) == "==> Verifying app config"
    pids = eventually(lambda: fake_fly.hung_pids(fly.state))
    it.close()
    eventually(lambda: not any(pid_alive(p) for p in pids))
    assert fly.exits()[-1]["result"] == "cancelled"


def test_stream_deploy_yields_each_line_once(fly):
    lines = list(atlas.fly.stream_deploy(fly.project))
    assert lines[0] == "==> Verifying app config"
    assert lines[-1] == f"Visit your newly deployed app at https://{APP}.fly.dev/"
    assert "Pushing image to fly 100% |##########|" in lines
    assert sum(1 for ln in lines if ln == "--> Pushing image done") == 1


def test_listener_sees_every_line_and_the_final_status(fly):
    fly.fly_cli(deploy_delay_s=0.01)
    d = atlas.fly.deploy(fly.project, wait=False)
    eventually(lambda: len(d.lines) >= 5)
    got = []
    d.add_listener(lambda kind, payload: got.append((kind, payload)), replay=True)
    d.result()
    eventually(lambda: got and got[-1] == ("status", "succeeded (exit 0)"))
    # replay + live, applied like a terminal (progress redraws replace the last line)
    screen = []
    last_progress = False
    for kind, text in got:
        if kind == "status":
            continue
        if last_progress and screen:
            screen[-1] = text
        else:
            screen.append(text)
        last_progress = kind == "progress"
    assert screen == d.lines
    statuses = [p for k, p in got if k == "status"]
    assert statuses[0] == "running" and statuses[-1] == "succeeded (exit 0)"


async def test_async_twins(fly):
    d = await atlas.fly.aio.deploy(fly.project)
    assert d.ok
    lines = [line async for line in atlas.fly.aio.stream_deploy(fly.project)]
    assert lines[-1].startswith("Visit your newly deployed app")
    assert [line async for line in d] == d.lines
    fly.fly_cli(deploy="fail")
    d2 = await atlas.fly.aio.deploy(fly.project, wait=False)
    with pytest.raises(DeployExitError):
        await d2.aresult()


async def test_interrupting_a_blocking_deploy_kills_it(fly):
    fly.fly_cli(deploy="hang")
    task = asyncio.ensure_future(atlas.fly.aio.deploy(fly.project))
    pids = await asyncio.to_thread(eventually, lambda: fake_fly.hung_pids(fly.state))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(eventually, lambda: not any(pid_alive(p) for p in pids))
    await asyncio.to_thread(
        eventually, lambda: fly.exits() and fly.exits()[-1]["result"] == "cancelled"
    )


def test_deploy_echoes_its_lines_in_a_terminal(fly, capsys):
    d = atlas.fly.deploy(fly.project, echo=True)
    assert d.ok
    printed = capsys.readouterr().out.splitlines()
    # every finished line, in order (progress redraws are not echoed)
    assert printed[0] == "==> Verifying app config"
    assert printed[-1] == f"Visit your newly deployed app at https://{APP}.fly.dev/"
    assert [line for line in d.lines if line in printed] == printed
