"""A create the provider accepted, whose answer or read-back then failed: no pod is ever lost.

Over real HTTP against the loopback sandbox. Whatever breaks after the create took effect
(read-back null / malformed / 5xx / timeout, a create answered with 5xx or garbage), the caller
gets either the compute or a ``ComputeMayExistError`` carrying its id or its unique name, and
every compute the sandbox holds is one of those.
"""

from __future__ import annotations

from typing import Any

import pytest

import atlas_nb as atlas
from atlas_nb import errors
from atlas_nb.errors import ComputeMayExistError
from atlas_nb.naming import default_name
from atlas_nb.providers.created import outcome_unknown

FLY_APP = "atlas-demo-worker"

SPAWN: dict[str, dict[str, Any]] = {
    "vast": {"gpu": "h100", "image": "x"},
    "runpod": {"gpu": "l4", "image": "x"},
    "runpod-spot": {"gpu": "l4", "image": "x", "spot": True, "provider_opts": {"bid_price": 0.5}},
    "lambda": {"gpu": "a10", "image": "x"},
    "fly": {"image": "nginx:1.27", "provider_opts": {"app": FLY_APP}},
}
CREATE = {
    "vast": ("vast", "PUT /api/v0/asks/"),
    "runpod": ("runpod", "POST /v2/pods"),
    "runpod-spot": ("runpod", "POST /graphql"),
    "lambda": ("lambda", "POST /api/v1/instance-operations/launch"),
    "fly": ("fly", f"POST /v1/apps/{FLY_APP}/machines"),
}
READ_BACK = {
    "vast": ("vast", "GET /api/v0/instances/"),
    "runpod-spot": ("runpod", "GET /v2/pods/"),
    "lambda": ("lambda", "GET /api/v1/instances/"),
}


@pytest.fixture(autouse=True)
def sb(sandbox):
    atlas.configure(timeout_s=2.0)  # a hung create gives up quickly
    return sandbox


def provider_of(case: str) -> str:
    return case.split("-")[0]


def spawn(case: str, **kw: Any) -> atlas.Compute:
    return atlas.spawn(provider=provider_of(case), **{**SPAWN[case], **kw})


def live(case: str) -> dict[str, str | None]:
    df = atlas.computes(provider=provider_of(case))
    df = df[~df["status"].isin(["terminated", "terminating"])]
    return dict(zip(df["id"], df["name"], strict=True))


def assert_nothing_lost(case, name, compute=None, error=None):
    """Every live compute is the one returned, or the one the error names."""
    pods = live(case)
    assert len(pods) == 1, pods  # the create took effect exactly once
    ((pod_id, pod_name),) = pods.items()
    assert pod_name == name
    if compute is not None:
        assert compute.id == pod_id
    else:
        assert error.name == name and error.compute_id in (None, pod_id)
        assert "may" in str(error)


ANSWERS = {
    "null": "null",
    "{}": "{}",
    "html": "<html><body>502 Bad Gateway</body></html>",
}


@pytest.mark.parametrize("answer", list(ANSWERS), ids=list(ANSWERS))
@pytest.mark.parametrize("case", list(CREATE))
def test_a_create_answered_with_garbage_is_found_by_its_name(sb, case, answer):
    sb.faults(*CREATE[case], body=ANSWERS[answer], count=1)
    name = default_name()
    compute = spawn(case, name=name)
    assert_nothing_lost(case, name, compute=compute)


@pytest.mark.parametrize("case", list(CREATE))
def test_a_truncated_create_answer_is_found_by_its_name(sb, case):
    sb.faults(*CREATE[case], malformed=True, count=1)
    name = default_name()
    assert_nothing_lost(case, name, compute=spawn(case, name=name))


@pytest.mark.parametrize("case", list(CREATE))
@pytest.mark.parametrize("fault", [{"status": 502}, {"hang": True}], ids=["5xx", "timeout"])
def test_a_create_that_took_effect_but_failed_is_reconciled(sb, case, fault):
    sb.faults(*CREATE[case], after=True, count=1, **fault)
    name = default_name()
    assert_nothing_lost(case, name, compute=spawn(case, name=name))


@pytest.mark.parametrize("case", list(CREATE))
def test_a_refused_create_says_it_may_exist_with_the_name(sb, case):
    sb.faults(*CREATE[case], status=503, count=1)  # refused before taking effect
    name = default_name()
    with pytest.raises(ComputeMayExistError) as info:
        spawn(case, name=name)
    assert info.value.name == name and info.value.compute_id is None
    assert "no compute named" in str(info.value) and name in str(info.value)
    assert live(case) == {}


@pytest.mark.parametrize("case", list(READ_BACK))
@pytest.mark.parametrize(
    "fault",
    [{"body": '{"instances": null}'}, {"status": 500}, {"malformed": True}],
    ids=["null", "5xx", "malformed"],
)
def test_a_failed_read_back_carries_the_id(sb, case, fault):
    sb.faults(*READ_BACK[case], count=100, **fault)
    name = default_name()
    with pytest.raises(ComputeMayExistError) as info:
        spawn(case, name=name)
    sb.clear_faults()
    assert info.value.compute_id is not None
    assert_nothing_lost(case, name, error=info.value)
    assert info.value.compute_id in str(info.value)


@pytest.mark.parametrize("case", list(READ_BACK))
def test_a_tracked_spawn_whose_read_back_failed_is_tracked_and_enforced(sb, case):
    sb.faults(*READ_BACK[case], status=404, count=100)  # not visible yet (5xx: see above)
    with pytest.raises(ComputeMayExistError, match="it is tracked") as info:
        spawn(case, max_runtime=0.5)
    sb.clear_faults()
    pod_id = info.value.compute_id
    assert pod_id in set(atlas.tracked()["id"])  # the supervisor and the reaper see it

    def gone() -> bool:
        return pod_id not in live(case) and pod_id not in set(atlas.tracked()["id"])

    from tests.helpers.waiting import eventually

    eventually(gone, timeout=30)


def test_a_list_that_fails_too_leaves_a_may_exist_error_with_the_name(sb):
    sb.faults("runpod", "POST /v2/pods", body="{}", count=1)
    sb.faults("runpod", "GET /v2/pods", status=500, count=5)
    name = default_name()
    with pytest.raises(ComputeMayExistError) as info:
        atlas.spawn(provider="runpod", gpu="l4", image="x", name=name)
    sb.clear_faults()
    assert info.value.name == name
    assert_nothing_lost("runpod", name, error=info.value)


@pytest.mark.parametrize("fails", [False, True], ids=["slow read-back", "failing read-back"])
@pytest.mark.parametrize("case", list(READ_BACK))
def test_ctrl_c_during_the_read_back_of_a_tracked_spawn_terminates_the_pod(sb, case, fails):
    import os
    import signal
    import threading

    from tests.helpers.waiting import eventually

    knobs: dict[str, Any] = {"status": 500, "count": 100} if fails else {"count": 1}
    sb.faults(*READ_BACK[case], latency=1.0, **knobs)
    name = default_name()
    created = threading.Event()

    def interrupt_once_created() -> None:
        eventually(lambda: name in live(case).values(), timeout=20)
        created.set()
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the read-back is under way

    thread = threading.Thread(target=interrupt_once_created, daemon=True)
    thread.start()
    with pytest.raises(KeyboardInterrupt):
        spawn(case, name=name, idle_ttl="1h")
    thread.join()
    assert created.is_set()
    sb.clear_faults()
    eventually(lambda: live(case) == {} and atlas.tracked().empty, timeout=30)


@pytest.mark.parametrize("case", list(READ_BACK))
def test_a_tracked_spawn_is_on_disk_before_its_read_back(sb, case):
    import json
    import threading

    from tests.helpers.waiting import eventually

    sb.faults(*READ_BACK[case], latency=1.5, count=1)
    tracked = atlas.settings().data_dir / "tracked"
    result: list[atlas.Compute] = []
    name = default_name()
    thread = threading.Thread(
        target=lambda: result.append(spawn(case, name=name, idle_ttl="1h")), daemon=True
    )
    thread.start()

    def recorded() -> list[dict]:
        files = tracked.glob("*.json") if tracked.is_dir() else []
        return [json.loads(f.read_text()) for f in files]

    early = eventually(recorded, timeout=20)
    assert not result  # the read-back is still under way
    thread.join(30)
    assert [r["id"] for r in early] == [result[0].id]
    assert set(atlas.tracked()["id"]) == {result[0].id}
    atlas.untrack(result[0].id, terminate=True)


@pytest.mark.parametrize(
    ("error", "unknown"),
    [
        (errors.AtlasTimeoutError("no answer"), True),
        (errors.TransportError("connection dropped"), True),
        (errors.ProviderError("bad gateway", status=502), True),
        (errors.ProviderError("not JSON", status=200), True),
        (errors.ProviderError("no data envelope"), True),
        (errors.ProviderError("refused", status=200, code="invalid_args"), False),
        (errors.CapacityError("sold out", status=500), False),
        (errors.RateLimitedError("slow down", status=429), False),
        (errors.ValidationError("bad gpu", status=400), False),
        (errors.NotFoundError("no such offer", status=404), False),
        (ValueError("not an AtlasError"), False),
    ],
    ids=repr,
)
def test_which_create_failures_may_have_created_something(error, unknown):
    assert outcome_unknown(error) is unknown


@pytest.mark.parametrize("case", list(CREATE))
def test_a_reconciled_bearer_pod_still_comes_with_its_token(sb, case):
    sb.faults(*CREATE[case], after=True, status=502, count=1)
    name = default_name()
    compute = spawn(case, name=name, auth="bearer")
    assert_nothing_lost(case, name, compute=compute)
    token = compute.auth.token.get_secret_value()
    assert atlas.auth.verify_token(token, compute.auth.hash)
