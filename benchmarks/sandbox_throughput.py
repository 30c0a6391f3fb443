"""Sandbox throughput: simple GETs per second served by the loopback sandbox.

A separate client process (so the client does not steal the server's event loop) sends
``GET /v2/pods/{id}`` (RunPod), ``GET /api/v1/instance-types`` (Lambda) and
``GET /v1/apps/{app}/machines`` (Fly Machines) with 16 concurrent connections for a few
seconds. Target: >= 500 requests/s on this 2-core machine, so the sandbox is never the
bottleneck of other benchmarks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

import atlas_nb as atlas

CLIENT = textwrap.dedent("""
    import asyncio, json, sys, time
    import httpx

    targets = json.loads(sys.argv[1])
    DURATION, CONCURRENCY = 3.0, 16

    async def main():
        out = {}
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as c:
            for name, (url, headers) in targets.items():
                for _ in range(20):  # warm up the connections
                    (await c.get(url, headers=headers)).raise_for_status()
                done = errors = 0
                stop = time.perf_counter() + DURATION

                async def worker():
                    nonlocal done, errors
                    while time.perf_counter() < stop:
                        r = await c.get(url, headers=headers)
                        done += 1
                        errors += r.status_code != 200

                t0 = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
                out[name] = {"rps": done / (time.perf_counter() - t0), "errors": errors}
        print(json.dumps(out))

    asyncio.run(main())
""")


def main() -> None:
    with atlas.sandbox.start(speed=100) as sb:
        pod = atlas.spawn(provider="runpod", gpu="rtx_4090", image="python:3.11")
        app = sb.fly_apps[0]
        bearer = {k: {"authorization": f"Bearer {v}"} for k, v in sb.api_keys.items()}
        fly = {"authorization": sb.api_keys["fly"]}
        targets = {
            "runpod_get_pod": (f"{sb.urls['runpod_rest']}/v2/pods/{pod.id}", bearer["runpod"]),
            "lambda_instance_types": (f"{sb.urls['lambda']}/instance-types", bearer["lambda"]),
            "fly_list_machines": (f"{sb.urls['fly_machines']}/apps/{app}/machines", fly),
        }
        out = subprocess.run(
            [sys.executable, "-c", CLIENT, json.dumps(targets)],
            capture_output=True,
            text=True,
            check=True,
        )
        results = json.loads(out.stdout)
        pod.terminate()
    figures: dict[str, float] = {}
    for name, r in results.items():
        figures[f"{name}_rps"] = round(r["rps"])
        figures[f"{name}_errors"] = r["errors"]
    figures["min_rps"] = min(figures[f"{n}_rps"] for n in results)
    print("sandbox_throughput: 3 s per route, 16 concurrent connections from a second process")
    report("sandbox_throughput", figures, {"min_rps": ">= 500"})


if __name__ == "__main__":
    main()
