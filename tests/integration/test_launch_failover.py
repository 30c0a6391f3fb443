"""atlas.launch against the loopback sandbox: offers refused the way the clouds refuse them."""

from __future__ import annotations

import asyncio
import signal
import threading

import pytest

import atlas_nb as atlas
from atlas_nb.core.launch import ATTEMPT_COLUMNS
from atlas_nb.providers.lambda_cloud import LambdaProvider
from atlas_nb.sandbox.lambda_cloud.api import lambda_world
from atlas_nb.sandbox.runpod.world import runpod_world
from atlas_nb.sandbox.vast.api import vast_world
from tests.helpers.waiting import eventually

IMAGE = "python:3.11"


@pytest.fixture(autouse=True)
def clouds(sandbox, monkeypatch):
    monkeypatch.setattr(LambdaProvider, "launch_interval_s", 0.15)
    return sandbox


def live_pods(sb) -> dict[str, set[str]]:
    """Every compute the sandbox still holds that is not terminated, per provider."""
    runpod = runpod_world(sb.state)
    lam = lambda_world(sb.state)
    now = lam.now()
    return {
        "runpod": {p.id for p in runpod.pods.values() if p.terminated_at is None},
        "lambda": {i.id for i in lam.instances.values() if i.status(now) != "terminated"},
        "vast": {str(i) for i in vast_world(sb.state).instances},
    }


def left_behind(sb, keep: str | None = None) -> set[str]:
    return {pid for ids in live_pods(sb).values() for pid in ids if pid != keep}


FAILOVER_CASES = [
    # (what the cloud does, gpu, providers, knob provider, kind, failures, wire status)
    ("runpod capacity 400", "rtx_4090", ["runpod"], "runpod", "capacity", 1, "HTTP 400"),
    ("vast offer rented meanwhile", "h100", ["vast"], "vast", "offer_gone", 3, "HTTP 410"),
    ("lambda region out of capacity", "gh200", ["lambda"], "lambda", "capacity", 2, "HTTP 400"),
]


@pytest.mark.parametrize(
    "case, gpu, providers, knob, kind, failures, wire",
    FAILOVER_CASES,
    ids=[c[0] for c in FAILOVER_CASES],
)
def test_first_n_offers_fail_then_the_next_is_returned(
    clouds, case, gpu, providers, knob, kind, failures, wire
):
    ranked = atlas.offers(gpu, providers=providers)
    clouds.fail_launches(knob, kind, count=failures)
    c = atlas.launch(gpu, providers=providers, image=IMAGE, track=False, progress=False)
    attempts = c.launch_attempts
    assert list(attempts.columns) == list(ATTEMPT_COLUMNS)
    assert attempts["attempt"].tolist() == list(range(1, failures + 2))
    assert attempts["outcome"].tolist() == [kind] * failures + ["launched"]
    assert all(wire in r for r in attempts["reason"].iloc[:failures])
    # cheapest first: exactly the first N + 1 offers were tried, in price order
    assert attempts["offer_id"].tolist() == ranked["offer_id"].iloc[: failures + 1].tolist()
    assert c.status.value == "running" and c.provider == knob
    assert attempts["compute_id"].iloc[-1] == c.id
    assert left_behind(clouds, keep=c.id) == set()
    c.terminate()


def test_lambda_quota_moves_on_to_the_next_provider(clouds):
    # every Lambda launch is over quota; the next offer (RunPod's B200) is taken instead
    clouds.fail_launches("lambda", "quota", count=None)
    c = atlas.launch("b200", providers=["lambda", "runpod"], image=IMAGE, progress=False)
    a = c.launch_attempts
    assert a["provider"].tolist() == ["lambda", "runpod"]
    assert a["outcome"].tolist() == ["quota", "launched"]
    assert "quota" in a["reason"].iloc[0]
    assert c.provider == "runpod" and left_behind(clouds, keep=c.id) == set()
    c.terminate()


def test_pods_stuck_provisioning_are_terminated_and_verified_gone(clouds):
    clouds.fail_launches("vast", "stuck", count=2)
    c = atlas.launch(
        "h100", providers=["vast"], image=IMAGE, provision_timeout=3, track=False, progress=False
    )
    a = c.launch_attempts
    assert a["outcome"].tolist() == ["stuck", "stuck", "launched"]
    assert a["cleanup"].tolist()[:2] == ["terminated", "terminated"]
    stuck_ids = set(a["compute_id"].iloc[:2])
    assert len(stuck_ids) == 2 and not stuck_ids & live_pods(clouds)["vast"]
    assert "provision_timeout=3 s" in a["reason"].iloc[0]
    assert left_behind(clouds, keep=c.id) == set()
    c.terminate()


def test_a_provider_with_a_bad_key_is_skipped_with_the_reason(clouds):
    atlas.configure(api_keys={"runpod": "rpa_NOT_THE_SANDBOX_KEY"})
    c = atlas.launch("h100", providers=["runpod", "lambda"], image=IMAGE, progress=False)
    a = c.launch_attempts
    skipped = a[a["outcome"] == "skipped"]
    assert skipped["provider"].tolist() == ["runpod"]
    assert "unauthorized" in skipped["reason"].iloc[0]
    assert skipped["attempt"].isna().all()  # skipped before any attempt
    assert a["outcome"].tolist()[-1] == "launched" and c.provider == "lambda"
    c.terminate()


def test_an_unauthorized_create_skips_the_rest_of_that_provider(clouds):
    # the offer search worked, then the create says the key is bad: no more Vast attempts
    clouds.faults("vast", "PUT /api/v0/asks/", status=401)
    c = atlas.launch("h100", providers=["vast", "runpod"], image=IMAGE, progress=False)
    a = c.launch_attempts
    assert a["provider"].tolist() == ["vast", "runpod"]
    assert a["outcome"].tolist() == ["skipped", "launched"]
    assert "HTTP 401" in a["reason"].iloc[0]
    c.terminate()


def test_every_attempt_failing_raises_capacity_error_with_the_attempts(clouds):
    clouds.fail_launches("vast", "offer_gone", count=None)
    with pytest.raises(atlas.CapacityError) as caught:
        atlas.launch(
            "h100",
            providers=["vast"],
            image=IMAGE,
            max_price_per_hr=1.7,
            max_attempts=4,
            progress=False,
        )
    err = caught.value
    assert err.attempts["outcome"].tolist() == ["offer_gone"] * 4
    text = str(err)
    assert "none of the 4 offers tried for 1 x h100" in text
    assert "raise max_attempts (now 4;" in text and "raise max_price_per_hr (now 1.7)" in text
    assert "add providers (now vast)" in text
    assert left_behind(clouds) == set()


def test_nothing_matching_raises_capacity_error_saying_what_to_relax(clouds):
    with pytest.raises(atlas.CapacityError) as caught:
        atlas.launch("h100", providers=["vast"], image=IMAGE, max_price_per_hr=0.01)
    err = caught.value
    assert "no offer matches 1 x h100 (at most $0.01/h, on vast)" in str(err)
    assert err.attempts.empty


def test_max_price_regions_and_vram_are_respected(clouds):
    clouds.fail_launches("vast", "offer_gone", count=2)
    c = atlas.launch(
        "h100",
        providers=["vast", "lambda"],
        regions=["US"],
        max_price_per_hr=2.0,
        min_vram_gb=80,
        image=IMAGE,
        progress=False,
    )
    a = c.launch_attempts
    assert len(a) == 3 and (a["region"] == "US").all() and (a["price_per_hr"] <= 2.0).all()
    assert c.region == "US" and c.cost_per_hr <= 2.0
    c.terminate()


def test_the_launched_compute_is_tracked_with_the_limits_given(clouds):
    clouds.fail_launches("runpod", "capacity", count=1)
    c = atlas.launch("rtx_4090", providers=["runpod"], image=IMAGE, idle_ttl="2h", progress=False)
    tracked = atlas.tracked()
    assert tracked["id"].tolist() == [c.id]
    assert tracked["idle_ttl_s"].tolist() == [7200.0]
    atlas.untrack(c.id, terminate=True)


def test_the_launch_timeout_cleans_up_and_says_so(clouds):
    clouds.fail_launches("vast", "stuck", count=None)
    with pytest.raises(atlas.CapacityError) as caught:
        atlas.launch("h100", providers=["vast"], image=IMAGE, timeout=6, progress=False)
    err = caught.value
    assert "no offer came up within timeout=6 s" in str(err)
    last = err.attempts.iloc[-1]  # stuck for good: only the launch timeout ends this attempt
    assert last["outcome"] == "interrupted" and "timeout (6 s)" in last["reason"]
    assert last["cleanup"] == "terminated"
    assert left_behind(clouds) == set()


def test_ctrl_c_mid_launch_leaves_no_pod(clouds):
    clouds.fail_launches("vast", "stuck", count=None)
    world = vast_world(clouds.state)

    def press_ctrl_c_once_a_pod_exists():
        eventually(lambda: world.instances, timeout=30)
        # a real SIGINT to the main thread, as the terminal's Ctrl-C sends
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c_once_a_pod_exists)
    presser.start()
    with pytest.raises(KeyboardInterrupt):
        atlas.launch("h100", providers=["vast"], image=IMAGE, provision_timeout="10m")
    presser.join()
    eventually(lambda: left_behind(clouds) == set(), timeout=30)
    eventually(lambda: atlas.tracked().empty, timeout=30)


def test_an_interrupted_create_finishes_and_is_removed(clouds):
    # the create is slow; the caller gives up while it is in flight
    clouds.faults("runpod", "POST /v2/pods", latency=1.0, count=1)
    world = runpod_world(clouds.state)

    async def main():
        task = asyncio.ensure_future(
            atlas.aio.launch("rtx_4090", providers=["runpod"], image=IMAGE, progress=False)
        )
        while not _create_seen(clouds):
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    eventually(lambda: world.pods, timeout=30)  # the create went through after all...
    eventually(lambda: left_behind(clouds) == set(), timeout=30)  # ...and was removed
    eventually(lambda: atlas.tracked().empty, timeout=30)  # and is no longer tracked


def _create_seen(sb) -> bool:
    """The slow create has reached the sandbox (its one-shot fault rule was taken)."""
    return sb.state.faults.peek("runpod", "POST", "/v2/pods") is None


def test_aio_launch_cancelled_leaves_no_pod(clouds):
    clouds.fail_launches("runpod", "stuck", count=None)
    world = runpod_world(clouds.state)

    async def main():
        task = asyncio.ensure_future(
            atlas.aio.launch("rtx_4090", providers=["runpod"], image=IMAGE, progress=False)
        )
        while not any(p.terminated_at is None for p in world.pods.values()):
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    eventually(lambda: left_behind(clouds) == set(), timeout=30)


def test_terminal_shows_a_line_per_attempt(clouds, capsys):
    clouds.fail_launches("runpod", "capacity", count=1)
    c = atlas.launch("rtx_4090", providers=["runpod"], image=IMAGE, track=False)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("launch 1 x rtx_4090: #1 runpod 1 x rtx_4090 $")
    assert "-> capacity" in lines[0] and "-> launched" in lines[1]
    assert lines[2].startswith(f"launch 1 x rtx_4090: launched {c.id} on runpod after 2")
    c.terminate()


@pytest.mark.parametrize(
    "route, knobs, outcomes",
    [
        # created, then the response was lost: the provider finds the pod by its unique name
        ("PUT /api/v0/asks/", {"drop": True, "count": 1}, ["launched"]),
        # created, then every read-back failed: launch removes it and moves on
        ("GET /api/v0/instances/", {"status": 500, "count": 3}, ["error", "launched"]),
    ],
    ids=["response lost", "read-back failed"],
)
def test_a_create_that_failed_after_creating_is_found_or_removed(clouds, route, knobs, outcomes):
    atlas.configure(max_retries=0)
    clouds.faults("vast", route, **knobs)
    c = atlas.launch("h100", providers=["vast"], image=IMAGE, track=False, progress=False)
    a = c.launch_attempts
    assert a["outcome"].tolist() == outcomes
    if len(outcomes) > 1:
        leftover = a["compute_id"].iloc[0]
        assert isinstance(leftover, str) and a["cleanup"].iloc[0] == "terminated"
    assert left_behind(clouds, keep=c.id) == set()
    c.terminate()


def test_a_name_given_by_the_caller_is_kept(clouds):
    c = atlas.launch("h100", providers=["vast"], image=IMAGE, name="my-h100", progress=False)
    assert c.name == "my-h100"
    atlas.untrack(c.id, terminate=True)


def test_the_world_agrees_with_a_refusal(clouds):
    vast_before = atlas.offers("h100", providers=["vast"])["offer_id"].tolist()
    lambda_before = atlas.offers("gh200", providers=["lambda"])["region"].tolist()
    clouds.fail_launches("vast", "offer_gone", count=1)
    clouds.fail_launches("lambda", "capacity", count=1)
    for gpu, provider in (("h100", "vast"), ("gh200", "lambda")):
        c = atlas.launch(gpu, providers=[provider], image=IMAGE, track=False, progress=False)
        c.terminate()
    # the Vast offer was rented by someone else; the Lambda region sold out of GH200s
    assert vast_before[0] not in atlas.offers("h100", providers=["vast"])["offer_id"].tolist()
    lambda_after = atlas.offers("gh200", providers=["lambda"])["region"].tolist()
    assert lambda_before[0] not in lambda_after and len(lambda_after) == len(lambda_before) - 1


def test_the_advice_names_clouds_without_a_key(clouds):
    atlas.configure(api_keys={"runpod": None, "lambda": None})
    with pytest.raises(atlas.CapacityError) as caught:
        atlas.launch("h100", image=IMAGE, max_price_per_hr=0.01, progress=False)
    assert "add a key for lambda, runpod (atlas.configure(api_keys=...))" in str(caught.value)


def test_pods_that_fail_while_booting_are_removed_and_the_image_is_blamed(clouds):
    # the sandbox's RunPod sends a pod whose image crashes to ERROR
    with pytest.raises(atlas.CapacityError) as caught:
        atlas.launch("rtx_4090", providers=["runpod"], image="acme/crashloop:1", progress=False)
    a = caught.value.attempts
    assert a["outcome"].tolist() == ["failed", "failed"]
    assert a["cleanup"].tolist() == ["terminated", "terminated"]
    assert "check the image and its command" in str(caught.value)
    assert left_behind(clouds) == set()
    eventually(lambda: atlas.tracked().empty)
