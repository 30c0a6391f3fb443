"""``make demo``: the quickstart, end to end, printing real results.

Runs against the embedded default (the Mock provider) so it needs no account.
"""

from __future__ import annotations

import time

import pandas as pd

import atlas_nb as atlas


def main() -> None:
    pd.set_option("display.width", 120)
    pd.set_option("display.max_columns", 12)
    atlas.configure(default_provider="mock")
    print(f"atlas_nb {atlas.__version__} quickstart (provider: mock)\n")

    print("1. GPU prices, cheapest first")
    offers = atlas.offers(providers=["mock"], count=1)
    print(
        offers[["provider", "gpu", "gpu_count", "vram_gb", "price_per_hr", "region"]]
        .head(6)
        .to_string(index=False),
        "\n",
    )

    print("2. Spawn the cheapest L4 with a bearer token and wait for it")
    t0 = time.monotonic()
    pod = atlas.spawn(gpu="l4", image="python:3.11", ports=["8000/http"], auth="bearer")
    token_hash = pod.auth.hash if pod.auth and pod.auth.hash else "-"
    pod = pod.wait_until_running(timeout=30, progress=False)
    print(
        f"   {pod.id} is {pod.status.value} after {time.monotonic() - t0:.2f} s; "
        f"{pod.url(8000)}; ${pod.cost_per_hr:.2f}/hr; token hash {token_hash[:12]}...\n"
    )

    print("3. What is running")
    print(
        atlas.computes()[["id", "name", "status", "gpu", "cost_per_hr"]].to_string(index=False),
        "\n",
    )

    print("4. A serverless job, streamed")
    job = atlas.run_job("echo", {"prompt": "hello", "chunks": 3, "sleep_ms": 150})
    for chunk in job.stream():
        print(f"   chunk {chunk}")
    done = job.wait(timeout=10)
    print(f"   {done.id}: {done.status.value}, output {done.output}\n")

    print("5. Terminate")
    pod.terminate()
    print(f"   {pod.id} terminated; computes left: {len(atlas.computes())}")
    atlas.shutdown()


if __name__ == "__main__":
    main()
