"""atlas_nb vs RunPod's own client (runpod-python), call for call, on the same loopback sandbox.

Three operations, each one request on both sides:

- run-and-wait of one serverless job: ``atlas.run_job(endpoint, input, wait=True)`` (``/runsync``)
  vs ``runpod.Endpoint(endpoint).run_sync(input)``;
- get pod: ``atlas.compute(id)`` (REST) vs ``runpod.get_pod(id)`` (GraphQL);
- list pods: ``atlas.computes()`` (a DataFrame) vs ``runpod.get_pods()`` (a list of dicts).

The sandbox serves from its own process (the server does not compete with the clients for the
GIL). Rounds alternate between the two clients; each round times ``CALLS[op]`` calls and the
figures are the medians of the rounds' per-call times (the machine is shared). runpod-python
turns on INFO logging for httpx when imported; that is set back to WARNING so neither side
pays for log lines. Targets: run-and-wait <= 0.95 x runpod-python, get pod <= 1.0 x.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

import atlas_nb as atlas

ROUNDS = 9
CALLS = {"run_wait": 40, "get_pod": 40, "list_pods": 20}
INPUT = {"sleep_ms": 0}


def serve(conn: mp.connection.Connection) -> None:
    """The sandbox in a child process: send its facts, serve until told to stop."""
    with atlas.sandbox.start(speed=1.0, configure=False) as sb:
        conn.send(
            {"urls": sb.urls, "key": sb.api_keys["runpod"], "endpoint": sb.runpod_endpoint_id}
        )
        conn.recv()


def per_call_ms(fn: Callable[[], object], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e3


def compare(name: str, ours: Callable[[], object], theirs: Callable[[], object]) -> dict:
    ours(), theirs()  # warm up: connections, imports, caches
    mine, peer = [], []
    for i in range(ROUNDS):  # alternate which side goes first, too
        pair = [(mine, ours), (peer, theirs)]
        for out, fn in pair if i % 2 == 0 else reversed(pair):
            out.append(per_call_ms(fn, CALLS[name]))
    a, b = statistics.median(mine), statistics.median(peer)
    print(f"  {name:<10} atlas_nb {a:7.3f} ms   runpod-python {b:7.3f} ms   ratio {a / b:.3f}")
    return {
        f"{name}_atlas_ms": round(a, 3),
        f"{name}_runpod_python_ms": round(b, 3),
        f"{name}_ratio": round(a / b, 3),
    }


def main() -> None:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=serve, args=(child,), daemon=True)
    server.start()
    try:
        facts = parent.recv()
        urls, key, endpoint = facts["urls"], facts["key"], facts["endpoint"]
        atlas.configure(api_keys={"runpod": key}, base_urls=urls)
        os.environ["RUNPOD_API_BASE_URL"] = urls["runpod_graphql"].removesuffix("/graphql")
        import runpod

        logging.getLogger("httpx").setLevel(logging.WARNING)
        runpod.api_key = key
        runpod.endpoint_url_base = urls["runpod_runtime"]
        peer_endpoint = runpod.Endpoint(endpoint)
        pod = atlas.spawn(provider="runpod", gpu="rtx_4090", image="python:3.11")

        def atlas_run_wait() -> None:
            job = atlas.run_job(endpoint, INPUT, provider="runpod", wait=True)
            assert job.output == INPUT, job

        def peer_run_wait() -> None:
            assert peer_endpoint.run_sync(INPUT, timeout=60) == INPUT

        def atlas_list() -> None:
            assert pod.id in set(atlas.computes(provider="runpod")["id"])

        def peer_list() -> None:
            assert pod.id in {p["id"] for p in runpod.get_pods()}

        print(
            f"peer_runpod: medians of {ROUNDS} alternating rounds, per call, "
            f"runpod-python {runpod.version.get_version()}"
        )
        figures = {
            **compare("run_wait", atlas_run_wait, peer_run_wait),
            **compare(
                "get_pod",
                lambda: atlas.compute(pod.id, provider="runpod"),
                lambda: runpod.get_pod(pod.id),
            ),
            **compare("list_pods", atlas_list, peer_list),
        }
        atlas.terminate(pod.id, provider="runpod")
        atlas.shutdown()
    finally:
        parent.send("stop")
        server.join(10)
    # the JSON line says whether the targets were met; the exit code stays 0 so `make bench`
    # runs the benchmarks after this one too
    report("peer_runpod", figures, {"run_wait_ratio": "<= 0.95", "get_pod_ratio": "<= 1.0"})


if __name__ == "__main__":
    main()
