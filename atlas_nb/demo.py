"""``make demo``: the quickstart, end to end, against the embedded sandbox, printing real results.

The sandbox is a local, faithful fake of RunPod, Lambda, Vast.ai and Fly.io served on
127.0.0.1, so this needs no account and no network; every call below is real HTTP.
"""

from __future__ import annotations

import time

import pandas as pd

import atlas_nb as atlas


def main() -> None:
    pd.set_option("display.width", 140)
    pd.set_option("display.max_columns", 12)
    with atlas.sandbox.start(speed=50) as sb:
        print(f"atlas_nb {atlas.__version__} quickstart against the sandbox at {sb.origin}\n")

        print("1. GPU prices across clouds (cheapest H100 / RTX 4090 offers)")
        offers = atlas.offers(providers=["runpod", "lambda", "vast"])
        for gpu in ("h100", "rtx_4090"):
            best = offers[offers["gpu"] == gpu].groupby("provider")["price_per_gpu_hr"].min()
            shown = ", ".join(f"{p} ${v:.2f}/GPU-hr" for p, v in best.sort_values().items())
            print(f"   {gpu:<9} {shown}")
        print(f"   {len(offers):,} offers from {offers['provider'].nunique()} providers\n")

        print("2. Spawn an RTX 4090 pod on RunPod, tracked (30 min idle TTL), with a bearer token")
        t0 = time.monotonic()
        pod = atlas.spawn(
            provider="runpod",
            gpu="rtx_4090",
            image="runpod/pytorch:2.4.0",
            ports=["8888/http", "22/tcp"],
            auth="bearer",
            track=True,
            idle_ttl="30m",
        )
        token_hash = pod.auth.hash if pod.auth and pod.auth.hash else "-"
        pod = pod.wait_until_running(timeout=60, progress=False)
        print(
            f"   {pod.id} {pod.status.value} after {time.monotonic() - t0:.1f} s, "
            f"${pod.cost_per_hr:.2f}/hr in {pod.region}"
        )
        print(f"   jupyter {pod.url(8888)}  ssh {pod.url(22)}")
        print(f"   token hash {token_hash[:16]}... (the token itself was shown once)\n")

        print("3. Tracked computes")
        tracked = atlas.tracked()[["name", "gpu", "status", "cost_per_hr", "idle_left_s"]]
        print(tracked.round({"idle_left_s": 0}).to_string(index=False), "\n")

        print("4. A serverless job on the echo endpoint, streamed")
        job = atlas.run_job(
            sb.runpod_endpoint_id,
            {"prompt": "hello", "chunks": 3, "sleep_ms": 300},
            provider="runpod",
        )
        for chunk in job.stream():
            print(f"   chunk {chunk}")
        done = job.wait(timeout=30)
        print(f"   {done.status.value} in {done.execution_ms} ms: {done.output}\n")

        print("5. Fly.io: live app logs")
        with atlas.fly.logs(sb.fly_apps[0]) as stream:
            batch = next(iter(stream))
        for entry in batch[:3]:
            print(f"   {entry.region} {entry.level:<5} {entry.message}")
        print()

        print("6. Terminate")
        pod.terminate()
        print(
            f"   {pod.id} terminated; tracked: {len(atlas.tracked())}, "
            f"running on RunPod: {len(atlas.computes(provider='runpod'))}"
        )
    atlas.shutdown()


if __name__ == "__main__":
    main()
