"""The client side of the lease: retries, outcomes, never an exception into touch()."""

from __future__ import annotations

import json

import httpx
import pytest

from atlas_nb.errors import ValidationError
from atlas_nb.guard import (
    GuardSpec,
    fly_lease_url,
    renew_lease,
    runpod_lease_url,
    vast_lease_url,
)
from tests.guard.harness import TOKEN, FakePod

URL = "http://pod.test/lease"


def scripted(*answers):
    """A MockTransport answering each request with the next item (a response or an exception)."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), seen


async def test_a_renewal_sends_the_token_and_a_relative_ttl():
    client, seen = scripted(httpx.Response(200, json={"lease_expires_in_s": 299.5}))
    outcome = await renew_lease(URL, "tok", 300, client=client)
    assert outcome.ok and outcome.status == "renewed" and outcome.lease_expires_in_s == 299.5
    assert seen[0].headers["Authorization"] == "Bearer tok"
    assert json.loads(seen[0].content) == {"ttl_s": 300}


async def test_5xx_and_network_errors_are_retried_with_backoff():
    client, seen = scripted(
        httpx.Response(503),
        httpx.ConnectError("refused"),
        httpx.Response(200, json={"lease_expires_in_s": 60}),
    )
    outcome = await renew_lease(URL, "tok", 60, attempts=3, backoff_s=0.001, client=client)
    assert outcome.status == "renewed" and outcome.attempts == 3 and len(seen) == 3


async def test_unreachable_after_every_attempt_is_an_outcome_not_an_exception():
    client, seen = scripted(httpx.ConnectError("no route to host"))
    outcome = await renew_lease(URL, "tok", 60, attempts=4, backoff_s=0.001, client=client)
    assert (outcome.status, outcome.ok, outcome.attempts, len(seen)) == ("unreachable", False, 4, 4)
    assert "no route to host" in outcome.detail


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": "missing or wrong bearer token"}, "unauthorized"),
        (409, {"state": "ending", "reason": "idle"}, "ending"),
        (400, {"error": "ttl_s must be a number"}, "rejected"),
        (404, None, "rejected"),
    ],
)
async def test_4xx_answers_are_final(status, body, expected):
    response = httpx.Response(status, json=body) if body else httpx.Response(status, text="nope")
    client, seen = scripted(response)
    outcome = await renew_lease(URL, "tok", 60, attempts=3, backoff_s=0.001, client=client)
    assert (outcome.status, outcome.ok, len(seen)) == (expected, False, 1)
    assert outcome.detail


async def test_a_200_without_json_still_counts_as_renewed():
    client, _ = scripted(httpx.Response(200, text="ok"))
    outcome = await renew_lease(URL, "tok", 60, client=client)
    assert outcome.status == "renewed" and outcome.lease_expires_in_s is None


async def test_against_the_real_guard_the_client_clock_does_not_matter(pod: FakePod):
    pod.fake_runpodctl()
    pod.pid1 = {"RUNPOD_POD_ID": "pod-1"}
    pod.start("runpod", GuardSpec(idle_ttl_s=60, token=TOKEN))
    pod.wait_port()
    outcome = await renew_lease(pod.lease_url(), TOKEN, 600)
    # expiry is reported relative to the pod's own clock: 600 s from now, whatever our clock says
    assert outcome.status == "renewed" and 590 < (outcome.lease_expires_in_s or 0) <= 600


def test_lease_urls_per_provider():
    assert runpod_lease_url("p1", 8642) == "https://p1-8642.proxy.runpod.net/lease"
    ports = {"8642/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41000"}]}
    assert vast_lease_url("198.51.100.2", ports) == "http://198.51.100.2:41000/lease"
    assert fly_lease_url("my-app") == "https://my-app.fly.dev:8642/lease"
    with pytest.raises(ValidationError) as err:
        vast_lease_url("198.51.100.2", {"22/tcp": [{"HostPort": "40000"}]})
    assert "8642/tcp is not mapped" in str(err.value)


@pytest.mark.parametrize("url", ["not a url", "http://[::1/lease", "ftp://pod.test/lease"])
async def test_a_bad_url_is_an_outcome_too(url):
    outcome = await renew_lease(url, "tok", 60, attempts=2, backoff_s=0.001)
    assert outcome.status == "unreachable" and not outcome.ok and outcome.detail
