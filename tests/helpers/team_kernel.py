"""One "kernel" of a team, as its own process: atlas_nb on a shared Redis store and a sandbox.

    python -m tests.helpers.team_kernel '<json settings>'

Settings: ``store`` (URL), ``urls``/``api_keys`` (the sandbox's), ``data_dir``, ``owner``,
``heartbeat_s``, ``lease_ttl_s``, ``lease_renew_s``. It prints one JSON line per thing that
happened (``{"lease": true}``, ``{"event": kind, "id": ..., "resumed": ...}``,
``{"touch_seen": id, "latency_ms": ...}``, answers to commands) and reads commands, one JSON
object a line, on stdin:

- ``{"op": "spawn", "n": 3, "max_runtime": 5, "idle_ttl": 3600}`` -> ``{"spawned": [ids]}``
  (``"guard"``: default ``"client"``, so the team's enforcer is what ends them)
- ``{"op": "touch", "id": ...}``  -> ``{"touched": id, "at": unix time}``
- ``{"op": "tracked"}`` -> ``{"tracked": [[id, owner], ...]}``
- ``{"op": "stats"}`` -> ``{"stats": {...}}`` (store ops, rounds, remote touches)
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from typing import Any

# imported here, not on the loop later (that would stall it, lease renewals too), and once
# for every kernel a forkserver forks (Kernel(..., fork=...))
import pandas  # noqa: F401
import redis.asyncio  # noqa: F401

import atlas_nb as atlas
import atlas_nb.aio as aio
import atlas_nb.orchestrator.redis_store
import atlas_nb.providers.runpod
from atlas_nb._runtime import get_runtime
from atlas_nb.orchestrator.api import _running
from atlas_nb.orchestrator.events import ComputeEvent
from atlas_nb.orchestrator.lease import LeaseLock

_out = threading.Lock()


def say(**data: Any) -> None:
    with _out:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()


async def serve(cfg: dict[str, Any]) -> None:
    sup = await _running()
    lease = sup.lease
    held = [False]

    def on_event(event: ComputeEvent) -> None:
        if event.kind in ("terminating", "terminated", "action"):
            say(event=event.kind, id=event.compute_id, resumed=bool(event.data.get("resumed")),
                by=event.data.get("by"), at=event.at, mine=event.data.get("by") is None)  # fmt: skip

    sup.bus.subscribe(on_event)
    original = sup.remote_touch

    def remote_touch(compute_id: str, at: float) -> None:
        original(compute_id, at)
        say(touch_seen=compute_id, latency_ms=(time.time() - at) * 1000, enforcing=sup.enforcing)

    sup.remote_touch = remote_touch  # type: ignore[method-assign]
    say(ready=True, holder=sup.holder)
    while True:
        if lease is not None and lease.held != held[0]:
            held[0] = lease.held
            say(lease=lease.held, at=time.time())
        await asyncio.sleep(0.02)


def commands(cfg: dict[str, Any]) -> None:
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            command(cmd)
        except Exception as exc:  # reported, the kernel keeps running
            say(error=f"{type(exc).__name__}: {exc}", op=cmd.get("op"))


def command(cmd: dict[str, Any]) -> None:
    rt = get_runtime()
    op = cmd["op"]
    if op == "spawn":

        async def spawn() -> list[str]:
            sem = asyncio.Semaphore(5)  # the loopback sandbox serves everyone: go easy

            async def one() -> str:
                async with sem:
                    pod = await aio.spawn(
                        provider="runpod", gpu="rtx_4090", image="x",
                        idle_ttl=cmd.get("idle_ttl", 3600), max_runtime=cmd.get("max_runtime"),
                        guard=cmd.get("guard", "client"),
                    )  # fmt: skip
                    return pod.id

            return list(await asyncio.gather(*(one() for _ in range(cmd.get("n", 1)))))

        say(spawned=rt.run(spawn()))
    elif op == "touch":
        at = time.time()
        atlas.touch(cmd["id"])
        say(touched=cmd["id"], at=at)
    elif op == "tracked":
        df = atlas.tracked()
        say(tracked=[[i, o] for i, o in zip(df["id"], df["owner"], strict=True)])
    elif op == "stats":

        async def stats() -> dict[str, Any]:
            sup = await _running()
            return {"ops": getattr(sup.store, "ops", 0), "rounds": sup.rounds,
                    "remote_touches": sup.remote_touches, "records": len(sup.records),
                    "enforcing": sup.enforcing}  # fmt: skip

        say(stats=rt.run(stats()))


def from_fifos(settings: str, fifo_in: str, fifo_out: str) -> None:
    """Run as a forked child (``Kernel(..., fork=True)``): stdin/stdout are two FIFOs."""
    sys.stdin = open(fifo_in)  # noqa: SIM115 (the process's stdin from now on)
    sys.stdout = open(fifo_out, "w")  # noqa: SIM115
    main(settings)


def main(settings: str | None = None) -> None:
    cfg = json.loads(settings or sys.argv[1])
    LeaseLock.ttl_s = cfg.get("lease_ttl_s", LeaseLock.ttl_s)
    LeaseLock.renew_s = cfg.get("lease_renew_s", LeaseLock.renew_s)
    atlas.configure(
        api_keys=cfg["api_keys"], base_urls=cfg["urls"], data_dir=cfg["data_dir"],
        owner=cfg["owner"], store=cfg["store"], heartbeat_s=cfg.get("heartbeat_s", 0.5),
        reaper_enabled=False,
    )  # fmt: skip
    rt = get_runtime()
    tasks: list[asyncio.Task[None]] = []

    async def launch() -> None:  # not rt.spawn(): its short wait fails on a loaded machine
        tasks.append(asyncio.get_running_loop().create_task(serve(cfg)))

    rt.run(launch())
    try:
        commands(cfg)
    finally:
        atlas.shutdown()


if __name__ == "__main__":
    main()
