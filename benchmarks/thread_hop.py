"""The floor under the sync facade: what one hop to a loop thread and back costs here.

Every blocking atlas_nb call runs its coroutine on atlas_nb's own loop thread (design.md) and
waits for it. This measures that hop alone, for coroutines that do no work and some pure-Python
work (``work_us``), three ways, alternating rounds:

* ``runtime``: atlas_nb's ``Runtime.run`` (a bare lock as the hand-off);
* ``stdlib``: ``asyncio.run_coroutine_threadsafe(...).result()`` on a plain loop thread;
* ``direct``: the same coroutines awaited on the loop itself (no hop), the baseline.

``<way>_overhead_us_<work>`` is the per-call time minus ``direct``'s. The hop grows with the
work: the longer the caller sleeps, the deeper its CPU idles and the dearer the wake-up. The
target: atlas_nb's hand-off costs no more than the standard library's.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

from atlas_nb._runtime import get_runtime

N = 1_500
ROUNDS = 9
#: loop iterations of pure Python per call: none, and about as much as a mock-provider call
WORK = {"0": 0, "30": 1_000}


def coroutine(iterations: int) -> Callable[[], Coroutine[Any, Any, int]]:
    async def work() -> int:
        total = 0
        for i in range(iterations):
            total += i
        return total

    return work


def main() -> None:
    runtime = get_runtime()
    plain = asyncio.new_event_loop()
    threading.Thread(target=plain.run_forever, name="plain-loop", daemon=True).start()

    figures: dict[str, float] = {}
    for label, iterations in WORK.items():
        work = coroutine(iterations)

        def through_runtime(n: int, work: Any = work) -> None:
            for _ in range(n):
                runtime.run(work())

        def through_stdlib(n: int, work: Any = work) -> None:
            for _ in range(n):
                asyncio.run_coroutine_threadsafe(work(), plain).result()

        def direct(n: int, work: Any = work) -> None:
            async def many() -> None:
                for _ in range(n):
                    await work()

            runtime.run(many())

        ways = {"runtime": through_runtime, "stdlib": through_stdlib, "direct": direct}
        for fn in ways.values():
            fn(200)  # warm up
        times: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(ROUNDS):
            for name, fn in ways.items():
                t0 = time.perf_counter()
                fn(N)
                times[name].append((time.perf_counter() - t0) / N * 1e6)
        base = times["direct"]
        figures[f"direct_us_per_call_{label}"] = round(statistics.median(base), 2)
        for name in ("runtime", "stdlib"):
            over = [t - b for t, b in zip(times[name], base, strict=True)]
            figures[f"{name}_overhead_us_{label}"] = round(statistics.median(over), 2)
        figures[f"runtime_vs_stdlib_{label}"] = round(
            figures[f"runtime_overhead_us_{label}"] / figures[f"stdlib_overhead_us_{label}"], 3
        )
    plain.call_soon_threadsafe(plain.stop)
    print(f"thread_hop: medians of {ROUNDS} alternating rounds of {N} calls; work in µs of Python")
    report(
        "thread_hop",
        figures,
        {"runtime_vs_stdlib_0": "<= 1.0", "runtime_vs_stdlib_30": "<= 1.0"},
    )


if __name__ == "__main__":
    main()
