"""Orchestrator at scale: 500 computes tracked on the loopback sandbox (RunPod).

Reports the CPU time one heartbeat round takes (one list call per provider plus bookkeeping
for every tracked compute) and, at a 1 s heartbeat, how long after each idle TTL expires the
terminate call starts. Target: <= 1 s past the TTL.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

import atlas_nb as atlas
import atlas_nb.aio as aio
from atlas_nb._runtime import get_runtime
from atlas_nb.orchestrator.api import supervisor

TRACKED = 500
EXPIRING = 20


def main() -> None:
    data = tempfile.mkdtemp(prefix="atlas-bench-")
    atlas.configure(
        data_dir=data, owner="benchme", heartbeat_s=1.0, reap_interval_s=3600, reaper_enabled=False
    )
    with atlas.sandbox.start(speed=100) as sb:
        rt = get_runtime()

        async def spawn_all() -> list[atlas.Compute]:
            sem = asyncio.Semaphore(50)

            async def one(i: int) -> atlas.Compute:
                async with sem:
                    return await aio.spawn(
                        provider="runpod",
                        gpu="rtx_4090",
                        image="x",
                        idle_ttl="1h",
                        name=f"atlas-benchme-{i:06d}",
                        guard="client",  # this kernel's supervisor is what is measured
                    )

            return await asyncio.gather(*(one(i) for i in range(TRACKED)))

        t0 = time.perf_counter()
        pods = rt.run(spawn_all())
        spawn_s = time.perf_counter() - t0
        sup = supervisor()

        # CPU per heartbeat round (list + bookkeeping for 500 tracked computes)
        cpu, wall = [], []
        for _ in range(5):
            c0, w0 = time.process_time(), time.perf_counter()
            rt.run(sup.heartbeat())
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)

        # idle expiry -> terminate call, at a 1 s heartbeat
        deadlines: dict[str, float] = {}
        lateness: list[float] = []
        expiring = pods[:EXPIRING]
        with atlas.events() as events:
            now = time.time()
            for i, pod in enumerate(expiring):
                rec = sup.records[pod.id]
                rec.last_activity = now
                rec.idle_ttl_s = 1.0 + 0.15 * i  # staggered expiries over ~4 s
                deadlines[pod.id] = rec.last_activity + rec.idle_ttl_s
                sup.store.update(pod.id, idle_ttl_s=rec.idle_ttl_s, last_activity=now)
            rt.loop.call_soon_threadsafe(sup.wake)
            done = 0
            for event in events:
                if event.kind == "terminating" and event.compute_id in deadlines:
                    lateness.append(event.at - deadlines[event.compute_id])
                if event.kind == "terminated" and event.compute_id in deadlines:
                    done += 1
                    if done == EXPIRING:
                        break
        left = len(atlas.tracked())
        atlas.shutdown(terminate_tracked=True)
        del sb
    figures = {
        "tracked": TRACKED,
        "spawn_seconds": round(spawn_s, 2),
        "heartbeat_cpu_ms_median": round(statistics.median(cpu) * 1000, 1),
        "heartbeat_wall_ms_median": round(statistics.median(wall) * 1000, 1),
        "heartbeat_cpu_us_per_compute": round(statistics.median(cpu) / TRACKED * 1e6, 1),
        "idle_expiries_measured": len(lateness),
        "terminate_after_ttl_ms_median": round(statistics.median(lateness) * 1000, 1),
        "terminate_after_ttl_ms_max": round(max(lateness) * 1000, 1),
        "still_tracked_after": left,
    }
    print(f"orchestrator: {TRACKED} RunPod pods tracked on the loopback sandbox, heartbeat 1 s")
    report("orchestrator", figures, {"terminate_after_ttl_ms_max": "<= 1000"})


if __name__ == "__main__":
    main()
