"""HttpApi against httpx.MockTransport: retries, Retry-After, errors, redaction, telemetry."""

import httpx
import pytest

from atlas_nb import telemetry
from atlas_nb._runtime import get_runtime
from atlas_nb.errors import (
    AtlasTimeoutError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    TransportError,
    UnauthorizedError,
)
from atlas_nb.transport import HttpApi, RetryPolicy
from atlas_nb.transport.redact import redact_url

FAST = RetryPolicy(base_delay_s=0.001, max_delay_s=0.002, retry_after_cap_s=0.05)


def api_with(handler, policy=FAST):
    return HttpApi(
        provider="demo",
        api="rest",
        base_url="https://demo.invalid/v2",
        auth_headers={"authorization": "Bearer k"},
        policy=policy,
        transport=httpx.MockTransport(handler),
    )


def run(coro):
    return get_runtime().run(coro)


def scripted(*responses):
    calls = []

    def handler(request):
        calls.append(request)
        item = responses[min(len(calls) - 1, len(responses) - 1)]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, calls


def test_get_retries_5xx_then_succeeds():
    handler, calls = scripted(
        httpx.Response(503), httpx.Response(502), httpx.Response(200, json={"pods": []})
    )
    assert run(api_with(handler).json("GET", "/pods")) == {"pods": []}
    assert len(calls) == 3
    assert calls[0].headers["authorization"] == "Bearer k"
    assert str(calls[0].url) == "https://demo.invalid/v2/pods"


def test_list_429_honours_retry_after():
    handler, calls = scripted(
        httpx.Response(429, headers={"retry-after": "0.01"}), httpx.Response(200, json=[1])
    )
    assert run(api_with(handler).json("GET", "/pods")) == [1]
    assert len(calls) == 2


def test_create_429_is_not_retried_and_says_why():
    handler, calls = scripted(
        httpx.Response(
            429,
            headers={"retry-after": "7"},
            json={"title": "Too Many Requests", "status": 429, "detail": "slow down"},
        )
    )
    with pytest.raises(RateLimitedError) as info:
        run(api_with(handler).json("POST", "/pods", json={"name": "x"}, what="spawn"))
    assert len(calls) == 1
    assert info.value.retry_after_s == 7
    assert "spawn was not retried automatically" in str(info.value)
    assert "after 7 s" in str(info.value)


def test_create_5xx_not_retried_but_connect_error_is():
    handler, calls = scripted(httpx.Response(503))
    with pytest.raises(ProviderError):
        run(api_with(handler).json("POST", "/pods", json={}))
    assert len(calls) == 1
    handler, calls = scripted(httpx.ConnectError("refused"), httpx.Response(201, json={"id": 1}))
    assert run(api_with(handler).json("POST", "/pods", json={})) == {"id": 1}
    assert len(calls) == 2


def test_read_timeout_on_create_is_not_retried():
    handler, calls = scripted(httpx.ReadTimeout("slow"), httpx.Response(201))
    with pytest.raises(AtlasTimeoutError):
        run(api_with(handler).json("POST", "/pods", json={}))
    assert len(calls) == 1


def test_transport_errors_exhaust_then_raise():
    handler, calls = scripted(httpx.ConnectError("refused"))
    with pytest.raises(TransportError, match="could not reach demo"):
        run(api_with(handler).json("GET", "/pods"))
    assert len(calls) == FAST.max_retries + 1


def test_errors_are_mapped_with_request_id():
    handler, _ = scripted(
        httpx.Response(
            404,
            headers={"x-request-id": "r1"},
            json={"title": "Not Found", "status": 404, "detail": "pod not found"},
        )
    )
    with pytest.raises(NotFoundError) as info:
        run(api_with(handler).json("GET", "/pods/x"))
    assert info.value.request_id == "r1" and info.value.message == "pod not found"
    handler, _ = scripted(httpx.Response(401, text="bad key"))
    with pytest.raises(UnauthorizedError):
        run(api_with(handler).json("GET", "/pods"))


def test_params_lists_bools_and_none():
    handler, calls = scripted(httpx.Response(200, json={}))
    run(
        api_with(handler).json(
            "GET", "/pods", params={"gpuTypeId": ["A", "B"], "x": None, "includeMachine": True}
        )
    )
    assert calls[0].url.query == b"gpuTypeId=A&gpuTypeId=B&includeMachine=true"


def test_telemetry_event_has_redacted_url_and_attempts():
    handler, _ = scripted(httpx.Response(500), httpx.Response(200, json={}))
    seen = []
    telemetry.attach("http", ["atlas.http.request"], lambda e, m, md: seen.append((m, md)))
    try:
        run(api_with(handler).json("GET", "https://demo.invalid/graphql?api_key=SECRET&q=1"))
    finally:
        telemetry.detach("http")
    assert [md["attempt"] for _, md in seen] == [1, 2]
    assert [md["status"] for _, md in seen] == [500, 200]
    assert all("SECRET" not in md["url"] for _, md in seen)
    assert seen[0][1]["provider"] == "demo" and seen[0][1]["method"] == "GET"
    assert seen[0][0]["duration_ns"] >= 0


def test_telemetry_on_transport_failure():
    handler, _ = scripted(httpx.ConnectError("refused"))
    seen = []
    telemetry.attach("http2", ["atlas.http.request"], lambda e, m, md: seen.append(md))
    try:
        with pytest.raises(TransportError):
            run(api_with(handler, policy=RetryPolicy(max_retries=0)).json("GET", "/x"))
    finally:
        telemetry.detach("http2")
    assert seen[0]["status"] is None and seen[0]["error_kind"] == "connect"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a/b?api_key=x", "https://a/b?api_key=REDACTED"),
        ("https://a/b?token=x&page=2", "https://a/b?token=REDACTED&page=2"),
        ("https://u:p@a/b", "https://REDACTED@a/b"),
        ("https://a/b?sig=abc&exp=1", "https://a/b?sig=REDACTED&exp=1"),
        ("https://a/b", "https://a/b"),
    ],
)
def test_redact(url, expected):
    assert redact_url(url) == expected


def test_a_cookie_an_api_sets_is_sent_back_and_none_is_sent_otherwise():
    # httpx's cookie jar is skipped for answers without Set-Cookie; one that sets it still counts
    seen = []

    def handler(request):
        seen.append(request.headers.get("cookie"))
        if len(seen) == 2:
            return httpx.Response(200, json={}, headers={"set-cookie": "session=abc; Path=/"})
        return httpx.Response(200, json={})

    api = api_with(handler)
    for _ in range(4):
        run(api.json("GET", "/thing"))
    assert seen == [None, None, "session=abc", "session=abc"]
