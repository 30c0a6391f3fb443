"""The sandbox plumbing: clock, fault middleware, loopback server, handle and config."""

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

import atlas_nb as atlas
from atlas_nb.sandbox._http import FaultMiddleware
from atlas_nb.sandbox._state import SandboxState, SimClock
from atlas_nb.sandbox.handle import _InProcessTransport
from atlas_nb.sandbox.server import LoopbackServer


def test_clock_speed_and_advance():
    import time

    real0 = time.monotonic()
    clock = SimClock(speed=1000.0, start=0.0)
    clock.advance(10)
    t = clock.now()
    # bounded by the real time that passed, not by a guess of how fast this machine is
    assert 10 <= t <= 10 + (time.monotonic() - real0) * 1000
    real1 = time.monotonic()
    clock.speed = 1.0
    t1 = clock.now()
    assert t <= t1 <= t + (time.monotonic() - real0) * 1000
    assert t1 <= clock.now() <= t1 + (time.monotonic() - real1) + 1e-6
    assert clock.real_seconds(50) == 50.0
    clock.speed = 0.0
    frozen = clock.now()
    assert clock.now() == frozen and clock.real_seconds(1) == float("inf")


def make_app(state):
    async def ping(request):
        return JSONResponse({"pong": True, "padding": "x" * 50})

    inner = Starlette(routes=[Route("/v1/ping", ping), Route("/v1/other", ping)])
    return FaultMiddleware(
        inner, state, "demo", lambda status, msg: JSONResponse({"error": msg}, status_code=status)
    )


async def fetch(state, path="/v1/ping", method="GET"):
    transport = _InProcessTransport(app=make_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path)


def run(coro):
    return asyncio.run(coro)


def test_status_with_retry_after_and_count():
    state = SandboxState(seed=1)
    state.faults.add("demo", "GET /v1/ping", status=429, retry_after=2, count=1)
    first = run(fetch(state))
    assert first.status_code == 429 and first.headers["retry-after"] == "2"
    assert run(fetch(state)).status_code == 200  # the rule expired


def test_route_matching():
    state = SandboxState()
    state.faults.add("demo", "POST /v1/ping", status=500)
    assert run(fetch(state)).status_code == 200
    assert run(fetch(state, method="POST")).status_code in (500, 405)
    state.faults.add("demo", "/v1/other", status=503)
    assert run(fetch(state, "/v1/other")).status_code == 503
    state.faults.add("elsewhere", None, status=503)
    assert run(fetch(state)).status_code == 200


def test_burst_then_healthy():
    state = SandboxState()
    state.faults.add("demo", None, burst=2)
    codes = [run(fetch(state)).status_code for _ in range(4)]
    assert codes == [503, 503, 200, 200]


def test_error_rate_is_deterministic_per_seed():
    def pattern(seed):
        state = SandboxState(seed=seed)
        state.faults.add("demo", None, error_rate=0.5)
        return [run(fetch(state)).status_code for _ in range(12)]

    assert pattern(7) == pattern(7)
    assert 200 in pattern(7) and 503 in pattern(7)


def test_malformed_and_dropped():
    state = SandboxState()
    state.faults.add("demo", None, malformed=True, count=1)
    response = run(fetch(state))
    with pytest.raises(ValueError):
        response.json()
    state.faults.add("demo", None, drop=True, count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        run(fetch(state))


def test_latency():
    import time

    state = SandboxState()
    state.faults.add("demo", None, latency=0.2, count=1)
    t0 = time.monotonic()
    assert run(fetch(state)).status_code == 200
    assert time.monotonic() - t0 >= 0.2


def test_unknown_knob_refused():
    with pytest.raises(ValueError, match="unknown fault knob"):
        SandboxState().faults.add("demo", None, explode=True)


def test_loopback_hang_and_drop_over_real_sockets():
    state = SandboxState()
    server = LoopbackServer(make_app(state)).start()
    try:
        with httpx.Client(base_url=server.origin) as client:
            assert client.get("/v1/ping").json()["pong"] is True
            state.faults.add("demo", None, hang=True, count=1)
            with pytest.raises(httpx.ReadTimeout):
                client.get("/v1/ping", timeout=0.3)
            state.faults.add("demo", None, drop=True, count=1)
            with pytest.raises(httpx.RemoteProtocolError):
                client.get("/v1/ping")
            assert client.get("/v1/ping").status_code == 200
    finally:
        server.stop()


def test_start_configures_and_stop_restores():
    atlas.configure(timeout_s=7)
    with atlas.sandbox.start(speed=100) as sb:
        assert sb.origin.startswith("http://127.0.0.1:")
        assert httpx.get(sb.origin + "/_health").json()["ok"] is True
        assert atlas.settings().api_key("runpod").get_secret_value() == sb.api_keys["runpod"]
        assert atlas.settings().timeout_s == 7
        with pytest.raises(ValueError, match="unknown provider"):
            sb.faults("nowhere", status=500)
    assert atlas.settings().api_key("runpod") is None
    assert atlas.settings().timeout_s == 7


def test_keys_are_deterministic_per_seed():
    assert SandboxState(seed=3).api_keys == SandboxState(seed=3).api_keys
    assert SandboxState(seed=3).api_keys != SandboxState(seed=4).api_keys


def test_a_burst_with_a_status_ends():
    state = SandboxState()
    state.faults.add("demo", None, burst=2, status=502)
    assert [run(fetch(state)).status_code for _ in range(4)] == [502, 502, 200, 200]
