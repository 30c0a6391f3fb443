"""Orchestrator under chaos: 200 tracked computes on the loopback sandbox (RunPod), seeded faults.

Faults: 10 % of tracked-store writes fail (ENOSPC), 5 % of records are corrupted mid-run, the
provider answers 5 % of terminates with a transient 404 and 10 % of lists and terminates with
503, and a second process keeps grabbing the store's lock. 180 computes get a limit that falls
due during the run (max runtime or idle TTL, 1 s heartbeat); 20 get a 1 h limit and must
survive.

Figures: ``limits_due`` and ``limits_enforced`` (target: equal), ``wrong_terminations`` (a
compute terminated before its limit, or one never due; target 0), ``max_late_s`` (terminating
after the limit was due; target <= 2 heartbeats) and ``lost_pods`` (a sandbox pod that is
neither tracked, terminated nor reported; target 0).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

import atlas_nb as atlas
import atlas_nb.aio as aio
from atlas_nb._runtime import get_runtime
from atlas_nb.orchestrator.api import supervisor
from atlas_nb.orchestrator.limits import next_deadline
from atlas_nb.orchestrator.state import FileOps
from atlas_nb.orchestrator.supervisor import Supervisor

TRACKED = 200
SURVIVORS = 20
HEARTBEAT_S = 1.0
SEED = 12


class FlakyDisk(FileOps):
    """Real writes, except a seeded 10 % that fail as if the disk were full."""

    def __init__(self, rng: random.Random, rate: float) -> None:
        self.rng, self.rate, self.failures, self.writes = rng, rate, 0, 0

    def write_durably(self, path: Path, payload: bytes) -> None:
        self.writes += 1
        if self.rng.random() < self.rate:
            self.failures += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        super().write_durably(path, payload)


LOCK_HOG = textwrap.dedent("""
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
    while True:
        fcntl.flock(fd, fcntl.LOCK_EX)
        time.sleep(0.3)  # long enough that some writers give up (they wait 0.5 s at most)
        fcntl.flock(fd, fcntl.LOCK_UN)
        time.sleep(0.5)
""")


def main() -> None:
    logging.getLogger("atlas_nb").setLevel(logging.ERROR)  # the faults are reported as events
    rng = random.Random(SEED)
    Supervisor.terminate_backoff_s = (0.25, 1.0)
    Supervisor.store_backoff_s = (0.1, 0.5)
    with atlas.sandbox.start(speed=100, seed=SEED) as sb:
        # the sandbox keeps its tracked records in its own private data dir
        atlas.configure(owner="chaosme", heartbeat_s=HEARTBEAT_S, reaper_enabled=False)
        data = atlas.settings().data_dir
        rt = get_runtime()
        atlas.tracked()  # the supervisor runs
        sup = supervisor()
        disk = FlakyDisk(rng, 0.10)
        sup.store.ops = disk
        tracked_dir = data / "tracked"
        tracked_dir.mkdir(parents=True, exist_ok=True)
        hog = subprocess.Popen([sys.executable, "-c", LOCK_HOG, str(tracked_dir / ".lock")])

        # the provider misbehaves: newest rule first, so terminates match their own rule
        sb.faults("runpod", "GET /v2/pods", error_rate=0.10, status=503)
        sb.faults("runpod", "DELETE /v2/pods/", error_rate=0.05, status=404)
        sb.faults("runpod", "POST /v2/pods", error_rate=0.05, status=503)

        events: list = []
        fired_at: dict[str, float] = {}
        due_at: dict[str, float] = {}
        reported: set[str] = set()

        def on_event(event) -> None:
            events.append(event)
            if event.kind == "terminating" and event.compute_id not in fired_at:
                fired_at[event.compute_id] = event.at
                rec = sup.records.get(event.compute_id)
                if rec is not None:
                    d = next_deadline(rec, event.at)
                    if d is not None:
                        due_at.setdefault(event.compute_id, d.at)
            if event.kind == "store_error":
                reported.add(event.compute_id)

        sup.bus.subscribe(on_event)
        plans: dict[str, dict[str, float | str]] = {}

        async def spawn_all() -> list[atlas.Compute]:
            sem = asyncio.Semaphore(40)

            async def one(i: int) -> atlas.Compute:
                if i < SURVIVORS:
                    limit: dict[str, float | str] = {"idle_ttl": "1h"}
                elif i % 2:
                    limit = {"max_runtime": round(rng.uniform(4.0, 14.0), 2)}
                else:
                    limit = {"idle_ttl": round(rng.uniform(3.0, 10.0), 2)}
                async with sem:
                    for _ in range(5):  # a refused create (503) is simply retried here
                        try:
                            # the client's guard is what is under test (the pods' own
                            # guards: benchmarks/pod_guard.py); with guard="auto" each sandbox
                            # pod would run a guard process, 200 of them on this machine
                            pod = await aio.spawn(
                                provider="runpod",
                                gpu="rtx_4090",
                                image="x",
                                guard="client",
                                **limit,
                            )
                            break
                        except atlas.ComputeMayExistError as exc:
                            if exc.compute_id:
                                raise
                plans[pod.id] = limit
                return pod

            return await asyncio.gather(*(one(i) for i in range(TRACKED)))

        t0 = time.perf_counter()
        pods = rt.run(spawn_all())
        spawn_s = time.perf_counter() - t0

        # corrupt 5 % of the records mid-run
        corrupted = rng.sample([p.id for p in pods], k=TRACKED // 20)
        for cid in corrupted:
            path = sup.store.file_of(cid)
            if path.exists():
                path.write_text('{"id": "' + cid + '", "started_at": "last tuesday"')

        due_ids = {p.id for p in pods if "1h" not in str(plans[p.id].values())}
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            done = {cid for cid in due_ids if cid in fired_at}
            terminated = {e.compute_id for e in list(events) if e.kind == "terminated"}
            if done == due_ids and due_ids <= terminated:
                break
            time.sleep(0.2)
        hog.kill()
        hog.wait()
        sb.clear_faults()

        listed = atlas.computes(provider="runpod")
        alive = {
            row.id for row in listed.itertuples() if row.status not in ("terminated", "terminating")
        }
        terminated = {e.compute_id for e in events if e.kind == "terminated"}
        survivors = {p.id for p in pods} - due_ids
        tracked_now = set(atlas.tracked()["id"])
        enforced = {cid for cid in due_ids if cid in terminated and cid not in alive}
        wrong = {cid for cid in survivors if cid in terminated or cid not in alive}
        wrong |= {cid for cid in due_ids if cid in fired_at and fired_at[cid] < due_at[cid] - 0.05}
        late = [fired_at[c] - due_at[c] for c in due_ids if c in fired_at and c in due_at]
        lost = {cid for cid in alive if cid not in tracked_now and cid not in reported}
        for cid in survivors:  # clean up (a quarantined record is no longer tracked)
            if cid in tracked_now:
                rt.run(aio.untrack(cid, terminate=True))
            else:
                rt.run(aio.terminate(cid, provider="runpod"))

    figures = {
        "computes": TRACKED,
        "spawn_s": round(spawn_s, 3),
        "store_writes": disk.writes,
        "store_writes_failed": disk.failures,
        "records_corrupted": len(corrupted),
        "store_errors_reported": sum(1 for e in events if e.kind == "store_error"),
        "terminate_failed_events": sum(1 for e in events if e.kind == "terminate_failed"),
        "limits_due": len(due_ids),
        "limits_enforced": len(enforced),
        "limits_missing": len(due_ids) - len(enforced),
        "wrong_terminations": len(wrong),
        "max_late_s": round(max(late) if late else 0.0, 3),
        "lost_pods": len(lost),
    }
    targets = {
        "limits_enforced": f">= {len(due_ids)}",
        "limits_missing": "<= 0",
        "wrong_terminations": "<= 0",
        "max_late_s": f"<= {2 * HEARTBEAT_S:g}",
        "lost_pods": "<= 0",
    }
    report("orchestrator_chaos", figures, targets)


if __name__ == "__main__":
    main()
