"""100 RunPod job streams at once stay under RunPod's /stream rate limit (loopback sandbox).

RunPod allows 2000 ``/stream`` requests per 10 s per endpoint. 100 jobs each emit 30 chunks over
12 s of real time on the sandbox's echo worker, and 100 ``JobsApi.stream`` consumers follow
them concurrently. The sandbox counts the ``/stream`` requests per fixed 10 s window (and
answers 429 past 2000, as RunPod does). Figures: the busiest window, the 429s, the polls per
stream, and that every chunk arrived once and in order. A client that polled each stream
every 20 ms would send 100 x 50 = 5000 requests per second (50 000 per 10 s).
Targets: busiest window <= 2000, no 429s, every chunk delivered.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

import atlas_nb as atlas
from atlas_nb._runtime import get_runtime
from atlas_nb.providers.registry import get_provider
from atlas_nb.sandbox.runpod.runtime import RATE_LIMITS

STREAMS = 100
CHUNKS = 30
WORK_MS = 12_000


async def follow_all(endpoint: str) -> tuple[list[list[dict]], float]:
    prov = get_provider("runpod")
    inp = {"sleep_ms": WORK_MS, "chunks": CHUNKS}
    jobs = await asyncio.gather(*(prov.jobs.run(endpoint, {"input": inp}) for _ in range(STREAMS)))
    t0 = time.perf_counter()

    async def one(job_id: str) -> list[dict]:
        return [chunk async for chunk in prov.jobs.stream(endpoint, job_id)]

    got = await asyncio.gather(*(one(str(j["id"])) for j in jobs))
    return got, time.perf_counter() - t0


def main() -> None:
    with atlas.sandbox.start(speed=1.0) as sb:
        endpoint = sb.runpod_endpoint_id
        assert endpoint, "the sandbox has no echo endpoint"
        print(f"{STREAMS} concurrent job streams, {CHUNKS} chunks over {WORK_MS / 1000:g} s each")
        got, wall = get_runtime().run(follow_all(endpoint))
        counter = sb.state.providers["runpod_runtime_rates"]
        limit, seconds = RATE_LIMITS["stream"]
        total_polls = counter.total.get("stream", 0)
        complete = all(chunks == [{"i": i} for i in range(CHUNKS)] for chunks in got)
        figures = {
            "streams": STREAMS,
            "wall_s": wall,
            "stream_requests": total_polls,
            "busiest_window_requests": counter.peak.get("stream", 0),
            "window_limit": limit,
            "window_s": seconds,
            "refused_429": counter.refused.get("stream", 0),
            "polls_per_stream": total_polls / STREAMS,
            "requests_per_s": total_polls / wall,
            "all_chunks_delivered": int(complete),
        }
    ok = report(
        "runpod_streams",
        figures,
        {
            "busiest_window_requests": f"<= {limit}",
            "refused_429": "<= 0",
            "all_chunks_delivered": ">= 1",
        },
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
