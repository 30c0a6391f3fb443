"""The provider misbehaving under the supervisor: transient 404s, terminates that fail, Ctrl-C
during a tracked spawn, limits that could never fire, and owners that could collide."""

from __future__ import annotations

import os
import signal
import threading
from typing import ClassVar

import pytest

import atlas_nb as atlas
from atlas_nb.errors import NotFoundError, TransportError, ValidationError
from atlas_nb.naming import default_name
from atlas_nb.orchestrator.reaper import decide
from atlas_nb.providers.mock import MockProvider
from tests.helpers.waiting import eventually


def phase(compute_id: str) -> str:
    return MockProvider._store.computes[compute_id].phase


def events_until(sub, compute_id, kind):
    seen = []
    for event in sub:
        if event.compute_id == compute_id:
            seen.append(event)
            if event.kind == kind:
                return seen
    raise AssertionError("the subscription ended")


class BlinkingProvider(MockProvider):
    """Lists nothing and answers 404 once per compute (a read replica lagging), then is fine."""

    name = "blinking"
    misses: ClassVar[set[str]] = set()

    async def list_computes(self, *, status=None, name=None):
        out = await super().list_computes(status=status, name=name)
        return [c for c in out if c.id not in BlinkingProvider.misses]

    async def get(self, compute_id):
        if compute_id in BlinkingProvider.misses:
            BlinkingProvider.misses.discard(compute_id)
            raise NotFoundError(f"no compute {compute_id}", provider=self.name)
        return await super().get(compute_id)


def test_one_transient_404_in_a_heartbeat_is_not_death():
    pod = atlas.spawn(provider=BlinkingProvider, gpu="l4", image="x", idle_ttl="1h")
    with atlas.events(pod.id) as sub:
        BlinkingProvider.misses.add(pod.id)
        seen = []
        for event in sub:
            seen.append(event)
            if event.kind == "heartbeat" and event.data["ok"] and len(seen) > 2:
                break
    assert any(not e.data.get("ok", True) and "confirming" in e.data["error"] for e in seen)
    assert not any(e.kind == "terminated" for e in seen)
    assert pod.id in set(atlas.tracked()["id"])  # still guarded
    atlas.untrack(pod.id, terminate=True)


def test_a_compute_missing_twice_is_forgotten():
    pod = atlas.spawn(provider="mock", gpu="l4", image="x", idle_ttl="1h")
    with atlas.events(pod.id) as sub:
        MockProvider._store.computes.pop(pod.id)  # gone for good, outside atlas_nb
        seen = events_until(sub, pod.id, "terminated")
    misses = [e for e in seen if e.kind == "heartbeat" and not e.data["ok"]]
    assert len(misses) == 1 and seen[-1].data["reason"] == "gone"


class StubbornProvider(MockProvider):
    """Terminate fails three times (a 5xx, a timeout...), then works."""

    name = "stubborn"
    failures: ClassVar[int] = 3

    async def terminate(self, compute_id):
        if StubbornProvider.failures > 0:
            StubbornProvider.failures -= 1
            raise TransportError("connection reset", provider=self.name)
        await super().terminate(compute_id)


def test_a_terminate_that_fails_three_times_then_succeeds():
    StubbornProvider.failures = 3
    with atlas.events() as sub:
        pod = atlas.spawn(provider=StubbornProvider, gpu="l4", image="x", max_runtime=0.3)
        seen = events_until(sub, pod.id, "terminated")
    kinds = [e.kind for e in seen]
    assert kinds.count("terminate_failed") == 3 and kinds.count("terminating") == 1
    delays = [e.data["retry_in_s"] for e in seen if e.kind == "terminate_failed"]
    assert delays == sorted(delays) and delays[0] > 0  # backoff
    assert phase(pod.id) == "terminated"


class LyingProvider(MockProvider):
    """Terminate answers 404 the first time although the compute is still there."""

    name = "lying"
    lies: ClassVar[int] = 1

    async def terminate(self, compute_id):
        if LyingProvider.lies > 0:
            LyingProvider.lies -= 1
            raise NotFoundError("no such compute", provider=self.name)
        await super().terminate(compute_id)


def test_a_404_on_terminate_is_confirmed_by_a_list():
    LyingProvider.lies = 1
    with atlas.events() as sub:
        pod = atlas.spawn(provider=LyingProvider, gpu="l4", image="x", max_runtime=0.3)
        seen = events_until(sub, pod.id, "terminated")
    assert [e.kind for e in seen].count("terminate_failed") == 1
    assert phase(pod.id) == "terminated"  # really terminated, not just forgotten


class SlowCreateProvider(MockProvider):
    """The create takes a while (the provider is slow to answer)."""

    name = "slowcreate"
    started = threading.Event()
    release = threading.Event()

    async def spawn(self, request):
        import asyncio

        SlowCreateProvider.started.set()
        while not SlowCreateProvider.release.is_set():
            await asyncio.sleep(0.01)
        return await super().spawn(request)


def interrupt_when(event: threading.Event) -> threading.Thread:
    def fire() -> None:
        event.wait(10)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C (the notebook's stop button)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_before_the_create_answers_terminates_what_it_made():
    SlowCreateProvider.started.clear()
    SlowCreateProvider.release.clear()
    thread = interrupt_when(SlowCreateProvider.started)
    name = default_name()
    with pytest.raises(KeyboardInterrupt):
        atlas.spawn(provider=SlowCreateProvider, gpu="l4", image="x", name=name, idle_ttl="1h")
    thread.join()
    SlowCreateProvider.release.set()  # the provider answers after all: the pod exists

    def terminated() -> bool:
        pods = [c for c in MockProvider._store.computes.values() if c.request.name == name]
        return len(pods) == 1 and pods[0].phase == "terminated"

    eventually(terminated)
    eventually(lambda: atlas.tracked().empty)


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"idle_ttl": float("inf")}, "idle_ttl"),
        ({"idle_ttl": None, "max_runtime": float("nan")}, "max_runtime"),
        ({"idle_ttl": None, "max_cost_usd": float("inf")}, "max_cost_usd"),
        ({"idle_ttl": None, "max_cost_usd": -1.0}, "max_cost_usd"),
        ({"idle_ttl": "1h", "provision_timeout": 0}, "provision_timeout"),
    ],
)
def test_limits_that_could_never_fire_are_refused(limits, field):
    pod = atlas.spawn(provider="mock", gpu="l4", image="x")
    with pytest.raises(ValidationError) as info:
        atlas.track(pod, **limits)
    assert info.value.field == field
    assert atlas.tracked().empty


def test_a_spawn_with_an_infinite_limit_creates_nothing():
    before = len(MockProvider._store.computes)
    with pytest.raises(ValidationError):
        atlas.spawn(provider="mock", gpu="l4", image="x", max_cost_usd=float("inf"))
    assert len(MockProvider._store.computes) == before


class UnpricedProvider(MockProvider):
    """Computes come back without a $/hr."""

    name = "unpriced"

    def _to_compute(self, rec):
        return super()._to_compute(rec).model_copy(update={"cost_per_hr": None})


def test_a_cost_cap_without_a_rate_uses_the_catalogue_price():
    pod = atlas.spawn(provider=UnpricedProvider, gpu="l4", image="x", max_cost_usd=5.0)
    assert pod.cost_per_hr is None
    row = atlas.tracked().set_index("id").loc[pod.id]
    catalogue = atlas.gpu_types(provider="mock").set_index("gpu").loc["l4", "price_per_hr"]
    assert row["cost_per_hr"] == pytest.approx(catalogue) and row["limit"] in (
        "max_cost",
        "provision_timeout",
    )
    atlas.untrack(pod.id, terminate=True)


def test_a_cost_cap_that_cannot_be_priced_is_refused_and_the_pod_undone():
    with pytest.raises(ValidationError, match="max_cost_usd cannot be enforced") as info:
        atlas.spawn(provider=UnpricedProvider, image="x", max_cost_usd=5.0)  # a CPU compute
    assert info.value.field == "max_cost_usd"
    assert all(c.phase == "terminated" for c in MockProvider._store.computes.values())


@pytest.mark.parametrize("owner", ["Me1234", "me-12", "ab", "me_123", "me 123", "x" * 40])
def test_an_owner_that_is_not_lowercase_letters_and_digits_is_refused(owner):
    with pytest.raises(ValidationError):
        atlas.configure(owner=owner)
    with pytest.raises(ValidationError, match="owner tag"):
        decide(
            name="atlas-me-12-abc",
            compute_id="p",
            age_s=900,
            tracked=set(),
            prefix="atlas-",
            owner=owner,
            grace_s=0,
            status="running",
        )


def test_one_installation_never_reaps_anothers_pods():
    for mine, theirs in [("me12", "me123"), ("me123", "me12"), ("abcd", "abcde1")]:
        name = default_name(prefix="atlas-", owner=theirs)
        action, _ = decide(
            name=name,
            compute_id="p",
            age_s=900,
            tracked=set(),
            prefix="atlas-",
            owner=mine,
            grace_s=0,
            status="running",
        )
        assert action == "keep"


class UnpricedStubbornProvider(UnpricedProvider):
    """Unpriced, and its terminate fails at first."""

    name = "unpricedstubborn"
    failures: ClassVar[int] = 1

    async def terminate(self, compute_id):
        if UnpricedStubbornProvider.failures > 0:
            UnpricedStubbornProvider.failures -= 1
            raise TransportError("connection reset", provider=self.name)
        await super().terminate(compute_id)


def test_a_refused_spawn_whose_undo_fails_is_terminated_by_the_supervisor():
    UnpricedStubbornProvider.failures = 2
    with pytest.raises(ValidationError, match="max_cost_usd cannot be enforced"):
        atlas.spawn(provider=UnpricedStubbornProvider, image="x", max_cost_usd=5.0)
    (pod,) = MockProvider._store.computes.values()
    eventually(lambda: pod.phase == "terminated")
    eventually(lambda: atlas.tracked().empty)
