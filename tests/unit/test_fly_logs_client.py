"""The logs API client over httpx.MockTransport: query, escaping, 401 retry, errors (B-120..B-124)."""

import httpx
import pytest

from atlas_nb import telemetry
from atlas_nb._runtime import run_sync
from atlas_nb.errors import NotFoundError, ProviderError, UnauthorizedError
from atlas_nb.fly.logs.client import FlyLogsClient

PAGE = {
    "data": [
        {
            "id": "1",
            "attributes": {
                "timestamp": "2026-01-01T00:00:00.000000001Z",
                "message": "hello",
                "level": "info",
                "region": "iad",
                "instance": "m1",
            },
        },
    ],
    "meta": {"next_token": "1767225600000000001"},
}


class Tokens:
    def __init__(self, *tokens):
        self.tokens = list(tokens)
        self.invalidations = 0

    async def get(self):
        return self.tokens[0]

    async def invalidate(self):
        self.invalidations += 1
        if len(self.tokens) > 1:
            self.tokens.pop(0)


def client_for(handler, tokens, **kw):
    return FlyLogsClient(
        kw.pop("app", "web"),
        token=tokens.get,
        invalidate=tokens.invalidate,
        base_url="https://api.fly.invalid",
        transport=httpx.MockTransport(handler),
        **kw,
    )


def test_query_and_auth_header():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json=PAGE)

    tokens = Tokens("FlyV1 fm2_AAAA")
    client = client_for(handler, tokens, app="my-app", region="iad", instance="m1")
    page = run_sync(client.fetch(""))
    assert [p.entry.message for p in page.entries] == ["hello"]
    req = seen[0]
    assert req.url.raw_path == b"/api/v1/apps/my-app/logs?next_token=&region=iad&instance=m1"
    assert req.headers["authorization"] == "FlyV1 fm2_AAAA"
    run_sync(client_for(handler, Tokens("plainpersonaltoken123")).fetch("5"))
    assert seen[1].url.params["next_token"] == "5" and "region" not in seen[1].url.params
    assert seen[1].headers["authorization"] == "Bearer plainpersonaltoken123"


def test_401_invalidates_and_retries_once_with_a_new_token():
    def handler(request):
        ok = request.headers["authorization"] == "FlyV1 fm2_NEW"
        return (
            httpx.Response(200, json=PAGE)
            if ok
            else httpx.Response(401, json={"error": "Authenticate: token validation error"})
        )

    tokens = Tokens("FlyV1 fm2_OLD", "FlyV1 fm2_NEW")
    page = run_sync(client_for(handler, tokens).fetch(""))
    assert len(page.entries) == 1 and tokens.invalidations == 1


def test_a_second_401_is_raised_with_a_hint():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(401, json={"error": "Authenticate: token validation error"})

    tokens = Tokens("FlyV1 fm2_OLD")
    with pytest.raises(UnauthorizedError) as info:
        run_sync(client_for(handler, tokens).fetch(""))
    assert len(calls) == 2 and tokens.invalidations == 1
    assert "set_manual" in str(info.value) and "token validation error" in str(info.value)


def test_404_and_a_body_that_is_not_a_page():
    tokens = Tokens("FlyV1 fm2_AAAA")
    with pytest.raises(NotFoundError):
        run_sync(
            client_for(lambda r: httpx.Response(404, json={"error": "no app"}), tokens).fetch("")
        )
    with pytest.raises(ProviderError, match="not a logs page"):
        run_sync(client_for(lambda r: httpx.Response(200, text="<html>"), tokens).fetch(""))
    with pytest.raises(ProviderError, match="not a logs page"):
        run_sync(client_for(lambda r: httpx.Response(200, json=[1, 2]), tokens).fetch(""))


def test_5xx_is_retried_once_by_the_transport():
    answers = [httpx.Response(503), httpx.Response(200, json=PAGE)]
    page = run_sync(client_for(lambda r: answers.pop(0), Tokens("FlyV1 fm2_A")).fetch(""))
    assert len(page.entries) == 1


def test_fetch_span():
    events = []
    telemetry.attach("t-logs", ["atlas.fly.logs.fetch.*"], lambda e, m, md: events.append((e, md)))
    try:
        run_sync(
            client_for(lambda r: httpx.Response(200, json=PAGE), Tokens("FlyV1 fm2_A")).fetch("")
        )
        with pytest.raises(NotFoundError):
            run_sync(client_for(lambda r: httpx.Response(404), Tokens("FlyV1 fm2_A")).fetch(""))
    finally:
        telemetry.detach("t-logs")
    assert [(e, md.get("status"), md.get("count")) for e, md in events] == [
        ("atlas.fly.logs.fetch.start", None, None),
        ("atlas.fly.logs.fetch.stop", "ok", 1),
        ("atlas.fly.logs.fetch.start", None, None),
        ("atlas.fly.logs.fetch.exception", "not_found", 0),
    ]
    assert all(md["app"] == "web" for _, md in events)
