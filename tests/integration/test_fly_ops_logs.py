"""``atlas.fly.logs`` against the loopback sandbox: polling, cursors, filters, shared pollers,
401 recovery, faults, eviction (B-120..B-134, W-10, W-16, W-31)."""

import asyncio

import pytest

import atlas_nb as atlas
from atlas_nb import telemetry
from atlas_nb._runtime import run_sync
from atlas_nb.errors import MissingCredentialsError, NotFoundError, UnauthorizedError
from atlas_nb.fly import LogBatch, LogsStopped, SlowSubscriberError
from atlas_nb.fly._services import reset, services
from atlas_nb.sandbox.fly import api as fly_api
from atlas_nb.sandbox.fly import fake_fly
from tests.helpers.waiting import eventually

APP = "atlas-demo-web"


@pytest.fixture
def fly(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("FLY_CONFIG_DIR", str(tmp_path / "flycfg"))
    atlas.configure(fly_poll_interval_s=0.05, fly_token_storage_path=str(tmp_path / "tokens"))
    run_sync(reset())
    events = []
    telemetry.attach(
        "test-fly-logs", ["atlas.fly.logs.fetch.*"], lambda e, m, md: events.append((e, dict(md)))
    )
    sandbox.fetches = events
    yield sandbox
    telemetry.detach("test-fly-logs")
    run_sync(reset())


def collect(stream, at_least):
    entries = []
    for batch in stream:
        entries += batch
        if len(entries) >= at_least:
            return entries
    return entries


def streamers():
    return run_sync(_streamers())


async def _streamers():
    return services().streamers.streamers()


def test_a_stream_delivers_everything_once_in_order(fly):
    with atlas.fly.logs(APP) as stream:
        entries = collect(stream, 400)
        frame = stream.to_frame()
    assert len(entries) >= 400
    keys = [(e.timestamp, e.instance, e.message, e.id) for e in entries]
    assert len(set(keys)) == len(keys)  # no duplicates across polls
    assert [e.timestamp for e in entries] == sorted(e.timestamp for e in entries)
    assert {e.app for e in entries} == {APP} and all(e.level for e in entries)
    assert frame.columns.tolist()[:3] == ["timestamp", "level", "region"]
    assert stream.status == "stopped"


def test_the_first_batch_is_not_lost(fly):
    got = []
    sub = atlas.fly.subscribe_logs(APP, callback=got.append)
    eventually(lambda: got)
    sub.close()
    assert isinstance(got[0], LogBatch) and len(got[0].entries) == 100


@pytest.mark.parametrize("field", ["region", "instance"])
def test_filters(fly, field):
    with atlas.fly.logs(APP) as stream:
        sample = next(iter(stream))
    value = getattr(sample[0], field)
    with atlas.fly.logs(APP, **{field: value}) as stream:
        entries = collect(stream, 150)
    assert entries and {getattr(e, field) for e in entries} == {value}
    assert stream.title == f"fly {APP} {field}={value}"


def test_subscribers_share_one_poller_that_stops_with_the_last(fly):
    a = atlas.fly.logs(APP)
    b = atlas.fly.logs(APP)
    next(iter(a))
    next(iter(b))
    (only,) = streamers()
    a.close()
    assert streamers() == [only] and not only.task.done()
    b.close()
    eventually(lambda: only.task.done())
    assert streamers() == []
    assert only.status == "stopped"
    # a new subscriber gets a fresh poller
    with atlas.fly.logs(APP) as c:
        next(iter(c))
        (fresh,) = streamers()
        assert fresh is not only


def test_a_revoked_cli_token_is_replaced_and_the_stream_goes_on(fly):
    atlas.configure(api_keys={"fly": None})  # no configured key: tokens come from the fake CLI
    token = atlas.fly.tokens.get(APP)
    with atlas.fly.logs(APP) as stream:
        it = iter(stream)
        next(it)
        fly_api.revoke_token(fly.state, token)
        before = len(stream)
        for _ in it:
            if len(stream) > before + 20:
                break
    runs = [c for c in fake_fly.cli_calls(fly.state) if c[:2] == ["tokens", "create"]]
    assert len(runs) == 2
    assert atlas.fly.tokens.get(APP) != token
    statuses = [md.get("status") for e, md in fly.fetches if not e.endswith(".start")]
    assert statuses.count("unauthorized") == 0  # the retry inside the fetch hid the 401


def test_a_rejected_manual_token_stops_the_stream_and_says_why(fly):
    atlas.configure(api_keys={"fly": None})
    token = atlas.fly.tokens.get("atlas-demo-worker")
    atlas.fly.tokens.set_manual(APP, token)
    fly_api.revoke_token(fly.state, token)
    messages = []
    sub = atlas.fly.subscribe_logs(APP, callback=messages.append)
    eventually(lambda: messages)
    assert isinstance(messages[-1], LogsStopped)
    assert isinstance(messages[-1].error, UnauthorizedError)
    assert "set_manual" in messages[-1].reason
    sub.close()
    stream = atlas.fly.logs(APP)
    with pytest.raises(UnauthorizedError):
        list(atlas.fly.subscribe_logs(APP))
    eventually(lambda: stream.status == "stopped")
    assert "unauthorized" in stream.status_line
    stream.close()


def test_unknown_app_stops_with_not_found(fly):
    with pytest.raises(NotFoundError, match="Could not find App"):
        list(atlas.fly.subscribe_logs("no-such-app"))


def test_no_token_is_reported_before_streaming(fly):
    atlas.configure(api_keys={"fly": None}, fly_executable=str(fly.state.info["fly_cli_dir"]))
    with pytest.raises(MissingCredentialsError, match="set_manual"):
        atlas.fly.logs(APP)
    assert streamers() == []


def test_malformed_entries_are_skipped(fly):
    fly.faults("fly_api", "GET /api/v1/apps", malformed=True, count=3)
    with atlas.fly.logs(APP) as stream:
        entries = collect(stream, 250)
    assert all(isinstance(e.message, str) and e.timestamp for e in entries)
    assert len({e.id for e in entries}) == len(entries)


def test_server_errors_back_off_and_recover(fly):
    fly.faults("fly_api", "GET /api/v1/apps", status=503, count=3)
    with atlas.fly.logs(APP) as stream:
        entries = collect(stream, 100)
    assert len(entries) >= 100
    statuses = [md.get("status") for e, md in fly.fetches if not e.endswith(".start")]
    assert statuses[0] == "provider" and "ok" in statuses


def test_a_slow_subscriber_is_evicted(fly):
    sub = atlas.fly.subscribe_logs(APP, threshold=2)  # and never read
    eventually(lambda: sub.streamer.task.done())  # evicted: it was the only subscriber
    with pytest.raises(SlowSubscriberError, match="fell 2 batches behind"):
        list(sub)
    assert sub.stopped_reason.startswith("evicted")


async def test_async_use(fly):
    stream = await atlas.fly.aio.logs(APP)
    async with stream:
        async for batch in stream:
            assert batch and batch[0].app == APP
            break
    sub = await atlas.fly.aio.subscribe_logs(APP)
    async with sub:
        async for batch in sub:
            assert len(batch) == 100
            break
    await asyncio.sleep(0)


def test_machines_of_the_app_are_its_instances(fly):
    """A Machine created through the (fake) Machines API logs under its id."""
    c = atlas.spawn(provider="fly", image="python:3.11", provider_opts={"app": APP})
    try:
        c = c.wait_until_running(timeout=30)
        with atlas.fly.logs(APP, instance=c.id) as stream:  # "<app>/<machine id>" is accepted
            entries = collect(stream, 20)
        machine_id = c.id.split("/", 1)[1]
        assert {e.instance for e in entries} == {machine_id}
        assert {e.region for e in entries} == {c.region}
    finally:
        atlas.terminate(c.id, provider="fly")


def test_a_typo_in_the_app_name_raises_with_a_hint(sandbox):
    stream = atlas.fly.logs("no-such-app")
    with pytest.raises(atlas.NotFoundError, match="Check the app name 'no-such-app'"):
        for _batch in stream:
            pass
    assert stream.status_line.startswith("stopped: error")
