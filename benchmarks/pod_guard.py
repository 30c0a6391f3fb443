"""Pod guards on the loopback sandbox (clock 10x): clients die at random, their pods end themselves.

N = 50 RunPod pods are spawned with ``track=True, guard="pod"``; the sandbox runs each one's
real guard process. Each pod has a client that renews its lease (``atlas_nb.guard.renew_lease``,
what ``touch()`` and the supervisor's heartbeats call) until it is killed at a random moment;
the benchmark's own supervisor never renews (its heartbeat is an hour away), so nothing but the
pod can end it. Five more pods keep a live client for the whole run.

Figures (durations in cloud seconds, the sandbox's clock): ``self_terminated`` (pods that ended
themselves; target N), ``late_s_p50`` / ``late_s_max`` (how long past its lease a pod ended:
the grace, the guard's one-second check and the kill itself; target <= 30 s) and
``false_kills`` (pods with a live client that ended; target 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

import atlas_nb as atlas
import atlas_nb.aio as aio
from atlas_nb.errors import NotFoundError
from atlas_nb.guard import renew_lease
from atlas_nb.orchestrator.api import supervisor

N = 50
LIVE = 5
SPEED = 10.0
IDLE_S = 60.0  # the lease, cloud seconds (6 s of wall time)
GRACE_S = 10.0
KILL_WITHIN_S = 5.0  # wall seconds: each client dies at a random moment in this window
BATCH = 5  # spawns in flight at once
RENEW_EVERY_S = 1.0  # wall seconds between a client's renewals
SEED = 13


async def client(sb: Any, pod_id: str, die_at: float | None, out: dict[str, Any]) -> None:
    """Renew ``pod_id``'s lease until ``die_at`` (monotonic; None: never); note the last lease."""
    rec = supervisor().records[pod_id]
    assert rec.lease_url and rec.lease_token
    while die_at is None or time.monotonic() < die_at:
        outcome = await renew_lease(rec.lease_url, rec.lease_token, IDLE_S)
        if outcome.ok and outcome.lease_expires_in_s is not None:
            out[pod_id] = sb.state.clock.now() + outcome.lease_expires_in_s  # cloud time
        else:
            out.setdefault("failed", []).append((pod_id, outcome.status, outcome.detail))
        await asyncio.sleep(RENEW_EVERY_S)


async def spawn_one() -> str:
    pod = await aio.spawn(
        provider="runpod",
        gpu="rtx_4090",
        image="python:3.11",
        track=True,
        guard="pod",
        idle_ttl=IDLE_S,
    )
    return pod.id


async def run(sb: Any, rng: random.Random) -> tuple[list[str], list[str], dict[str, Any], float]:
    """Spawn every pod and start its client at once (a lease is only seconds long here)."""
    leases: dict[str, Any] = {}
    doomed: list[str] = []
    live: list[str] = []
    tasks, keep = [], []
    t0 = time.perf_counter()

    def start_client(pod: str, i: int) -> None:
        if i < LIVE:  # spawned first, so their clients live through the whole run
            live.append(pod)
            keep.append(asyncio.create_task(client(sb, pod, None, leases)))
        else:
            die_at = time.monotonic() + rng.uniform(0.5, KILL_WITHIN_S)
            doomed.append(pod)
            tasks.append(asyncio.create_task(client(sb, pod, die_at, leases)))

    pods: list[str] = []
    while len(pods) < N + LIVE:  # a few spawns at a time, each client starting with its pod
        batch = await asyncio.gather(
            *(spawn_one() for _ in range(min(BATCH, N + LIVE - len(pods))))
        )
        for pod in batch:
            pods.append(pod)
            start_client(pod, len(pods) - 1)
    spawn_s = time.perf_counter() - t0
    world = sb.state.providers["runpod_world"]
    deadline = time.monotonic() + KILL_WITHIN_S + (IDLE_S + GRACE_S) / SPEED + 20.0
    while time.monotonic() < deadline:
        if all(world.pods[p].terminated_at is not None for p in doomed):
            break
        await asyncio.sleep(0.2)
    await asyncio.gather(*tasks)
    for t in keep:
        t.cancel()
    await asyncio.gather(*keep, return_exceptions=True)
    return doomed, live, leases, spawn_s


def main() -> bool:
    rng = random.Random(SEED)
    t0 = time.perf_counter()
    with atlas.sandbox.start(speed=SPEED, seed=SEED) as sb:
        atlas.configure(heartbeat_s=3600, reaper_enabled=False, pod_guard_grace_s=GRACE_S)
        doomed, live, leases, spawn_s = asyncio.run(run(sb, rng))
        world = sb.state.providers["runpod_world"]
        ended = [p for p in doomed if world.pods[p].terminated_at is not None]
        late = sorted(world.pods[p].terminated_at - leases[p] for p in ended if p in leases)
        false_kills = [p for p in live if world.pods[p].terminated_at is not None]
        for p in doomed + live:
            with contextlib.suppress(NotFoundError):
                atlas.untrack(p, terminate=True)
    failed = [f for f in leases.get("failed", []) if f[0] in live]
    print(f"pod_guard: {N} guarded pods whose clients die at random, {LIVE} with live clients")
    print(f"  sandbox clock {SPEED:g}x, lease {IDLE_S:g} s, grace {GRACE_S:g} s (cloud time)")
    print(f"  {N + LIVE} spawns in {spawn_s:.1f} s; live clients' failed renewals: {len(failed)}")
    figures = {
        "self_terminated": len(ended),
        "late_s_p50": round(statistics.median(late), 2) if late else float("inf"),
        "late_s_max": round(max(late), 2) if late else float("inf"),
        "false_kills": len(false_kills),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    targets = {
        "self_terminated": f">= {N}",
        "late_s_p50": "<= 30",
        "late_s_max": "<= 30",
        "false_kills": "<= 0",
    }
    return report("pod_guard", figures, targets)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
