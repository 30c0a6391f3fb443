"""200 RunPod serverless jobs at once: atlas_nb's facade vs raw httpx, on the loopback sandbox.

Each job runs the sandbox's echo worker for 50 ms of real time (input ``{"sleep_ms": 50}``).
The facade side awaits ``atlas_nb.aio.run_job(..., wait=True)`` 200 times concurrently (runsync,
validation, models, telemetry, error mapping); the raw side POSTs the same 200 ``/runsync``
requests with one ``httpx.AsyncClient`` in one asyncio program. Each round is a cold program
on both sides: the raw side opens a new client, the facade side starts from a fresh runtime
and connection pool (``atlas_nb.shutdown()`` first; the facade pays its start-up in the
timing). The sandbox serves from its own process, so the server does not compete with the
client for the GIL. Rounds alternate and the best of each is kept (the machine is shared).
Target: facade wall time <= 1.3 x raw.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

import atlas_nb as atlas

JOBS = 200
ROUNDS = 7
INPUT = {"sleep_ms": 50}


async def facade_round(endpoint: str, *, cold: bool = True) -> float:
    if cold:
        atlas.shutdown()  # a new program: fresh runtime thread and connection pool
    t0 = time.perf_counter()
    jobs = await asyncio.gather(
        *(atlas.aio.run_job(endpoint, INPUT, provider="runpod", wait=True) for _ in range(JOBS))
    )
    wall = time.perf_counter() - t0
    assert all(j.status.value == "completed" for j in jobs), "a facade job did not complete"
    return wall


async def raw_round(url: str, headers: dict[str, str]) -> float:
    t0 = time.perf_counter()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=120) as client:
        responses = await asyncio.gather(
            *(client.post(url, params={"wait": 90000}, json={"input": INPUT}) for _ in range(JOBS))
        )
    wall = time.perf_counter() - t0
    assert all(r.json()["status"] == "COMPLETED" for r in responses), "a raw job did not complete"
    return wall


def serve(conn: mp.connection.Connection) -> None:
    """The sandbox in a child process: send its facts, serve until told to stop."""
    with atlas.sandbox.start(speed=1.0, configure=False) as sb:
        conn.send(
            {"urls": sb.urls, "key": sb.api_keys["runpod"], "endpoint": sb.runpod_endpoint_id}
        )
        conn.recv()


async def main_async(facts: dict) -> dict[str, float]:
    endpoint = facts["endpoint"]
    url = f"{facts['urls']['runpod_runtime']}/{endpoint}/runsync"
    headers = {"authorization": f"Bearer {facts['key']}"}
    facade, raw = [], []
    await raw_round(url, headers)  # warm up both paths (imports, the server's caches)
    await facade_round(endpoint)
    for _ in range(ROUNDS):
        facade.append(await facade_round(endpoint))
        raw.append(await raw_round(url, headers))
    return {
        "jobs": JOBS,
        "worker_ms": INPUT["sleep_ms"],
        "facade_wall_s_best": min(facade),
        "facade_wall_s_median": statistics.median(facade),
        "raw_httpx_wall_s_best": min(raw),
        "raw_httpx_wall_s_median": statistics.median(raw),
        "facade_over_raw_ratio": min(facade) / min(raw),
    }


def main() -> None:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve, args=(child,), daemon=True)
    server.start()
    try:
        facts = parent.recv()
        atlas.configure(api_keys={"runpod": facts["key"]}, base_urls=facts["urls"])
        print(f"{JOBS} concurrent RunPod jobs of {INPUT['sleep_ms']} ms on the loopback sandbox")
        figures = asyncio.run(main_async(facts))
    finally:
        parent.send("stop")
        server.join(10)
    ok = report("runpod_jobs", figures, {"facade_over_raw_ratio": "<= 1.3"})
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
