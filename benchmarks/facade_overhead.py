"""Sync facade overhead: a blocking atlas_nb call vs awaiting the async core on the loop.

Measures ``atlas.compute(id, provider="mock")`` (the Mock provider, no network) and an
``HttpApi`` GET through ``httpx.MockTransport``, each called N times through the sync facade and
N times by awaiting the undecorated core coroutine directly on atlas_nb's loop. The overhead
is the difference per call. Target: <= 100 µs added per call.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

import atlas_nb as atlas
from atlas_nb._runtime import get_runtime, syncify
from atlas_nb.core import compute as core
from atlas_nb.transport import HttpApi

N = 2_000


def per_call_us(pair, n: int, rounds: int = 7) -> tuple[float, float]:
    """Best per-call µs of (facade, direct), measured alternately to share the machine's noise."""
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for i, fn in enumerate(pair):
            t0 = time.perf_counter()
            fn(n)
            best[i] = min(best[i], time.perf_counter() - t0)
    return best[0] / n * 1e6, best[1] / n * 1e6


def main() -> None:
    rt = get_runtime()
    c = atlas.spawn(provider="mock", gpu="l4", image="python:3.11")
    raw_compute = core.compute.__wrapped__  # the async core without the runtime bridge

    def facade(n: int) -> None:
        for _ in range(n):
            atlas.compute(c.id, provider="mock")

    def direct(n: int) -> None:
        async def loop() -> None:
            for _ in range(n):
                await raw_compute(c.id, provider="mock")

        rt.run(loop())

    api = HttpApi(
        provider="bench",
        api="rest",
        base_url="https://bench.invalid",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"ok": 1})),
    )
    http_sync = syncify(api.json)

    def http_facade(n: int) -> None:
        for _ in range(n):
            http_sync("GET", "/ping")

    def http_direct(n: int) -> None:
        async def loop() -> None:
            for _ in range(n):
                await api.json("GET", "/ping")

        rt.run(loop())

    facade(200), direct(200), http_facade(200), http_direct(200)  # warm up
    mock_facade, mock_direct = per_call_us((facade, direct), N)
    t_http_facade, t_http_direct = per_call_us((http_facade, http_direct), N)
    atlas.terminate(c.id, provider="mock")
    figures = {
        "mock_facade_us_per_call": round(mock_facade, 2),
        "mock_direct_us_per_call": round(mock_direct, 2),
        "facade_overhead_us": round(mock_facade - mock_direct, 2),
        "facade_ratio": round(mock_facade / mock_direct, 3),
        "http_facade_us_per_call": round(t_http_facade, 2),
        "http_direct_us_per_call": round(t_http_direct, 2),
        "http_facade_overhead_us": round(t_http_facade - t_http_direct, 2),
        "http_facade_ratio": round(t_http_facade / t_http_direct, 3),
    }
    print(f"facade_overhead: best of 7 alternating rounds of {N} calls")
    report(
        "facade_overhead",
        figures,
        {"facade_overhead_us": "<= 100", "http_facade_overhead_us": "<= 100"},
    )


if __name__ == "__main__":
    main()
