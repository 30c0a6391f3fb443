"""Sync facade overhead: a blocking atlas_nb call vs awaiting the async core on the loop.

Measures ``atlas.compute(id, provider="mock")`` (the Mock provider, no network) and an
``HttpApi`` GET through ``httpx.MockTransport``, each called N times through the sync facade and
N times by awaiting the undecorated core coroutine directly on atlas_nb's loop. The overhead
is the difference per call: the median over alternating rounds (the issue's measure; the
machine is shared), and the best round. Targets: <= 50 µs (mock), <= 100 µs (HTTP), medians.
"""

from __future__ import annotations

import statistics
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


ROUNDS = 9


def per_call_us(pair, n: int, rounds: int = ROUNDS) -> dict[str, float]:
    """Per-call µs of (facade, direct) and of the overhead, measured alternately to share the
    machine's noise: medians over rounds, and the best round of each."""
    times: list[list[float]] = [[], []]
    for _ in range(rounds):
        for i, fn in enumerate(pair):
            t0 = time.perf_counter()
            fn(n)
            times[i].append((time.perf_counter() - t0) / n * 1e6)
    overheads = [f - d for f, d in zip(*times, strict=True)]
    return {
        "facade": statistics.median(times[0]),
        "direct": statistics.median(times[1]),
        "overhead": statistics.median(overheads),
        "overhead_best": min(times[0]) - min(times[1]),
    }


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
    mock = per_call_us((facade, direct), N)
    http = per_call_us((http_facade, http_direct), N)
    atlas.terminate(c.id, provider="mock")
    figures = {
        "mock_facade_us_per_call": round(mock["facade"], 2),
        "mock_direct_us_per_call": round(mock["direct"], 2),
        "facade_overhead_us": round(mock["overhead"], 2),
        "facade_overhead_us_best_round": round(mock["overhead_best"], 2),
        "facade_ratio": round(mock["facade"] / mock["direct"], 3),
        "http_facade_us_per_call": round(http["facade"], 2),
        "http_direct_us_per_call": round(http["direct"], 2),
        "http_facade_overhead_us": round(http["overhead"], 2),
        "http_facade_overhead_us_best_round": round(http["overhead_best"], 2),
        "http_facade_ratio": round(http["facade"] / http["direct"], 3),
    }
    print(f"facade_overhead: medians of {ROUNDS} alternating rounds of {N} calls")
    report(
        "facade_overhead",
        figures,
        {"facade_overhead_us": "<= 50", "http_facade_overhead_us": "<= 100"},
    )


if __name__ == "__main__":
    main()
