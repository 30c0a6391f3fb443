"""A team on one Redis: 10 kernel processes x 50 tracked computes on the loopback sandbox.

Each kernel (its own process, tests/helpers/team_kernel.py) spawns 50 RunPod pods on the
sandbox, 5 of them with a short max_runtime. One kernel holds the enforcer lease; the others
observe and touch. Mid-run the enforcer is SIGKILLed. Figures:

- limits_enforced_once: due limits whose termination was claimed by exactly one kernel (of
  limits_due; limits_enforced_twice must be 0);
- failover_s: SIGKILL of the enforcer -> another kernel holds the lease (target <= lease TTL +
  one renewal/heartbeat);
- touch_to_enforcer_ms_p50: a touch in an observer -> the enforcer's in-memory record;
- redis_ops_per_heartbeat_per_compute: Redis commands per heartbeat interval, all kernels
  together, per tracked compute, in steady state (no record changing; target <= 1: O(1) per
  compute or better). A record write costs one re-read per other kernel on top;
- heartbeat_cpu_ms_median: CPU of one heartbeat round over the ~450 surviving computes in one
  process (as benchmarks/orchestrator.py measures it; the store is Redis here).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

import atlas_nb as atlas
from atlas_nb._runtime import get_runtime
from atlas_nb.orchestrator.api import _running
from tests.helpers.redis_server import RedisServer
from tests.helpers.team import Kernel

KERNELS, PER_KERNEL, DUE_PER_KERNEL = 10, 50, 5
LEASE_TTL_S, LEASE_RENEW_S, HEARTBEAT_S = 3.0, 0.5, 1.0
DUE_AFTER_S = 12.0  # max_runtime of the computes whose limit comes due mid-run


def commands_processed(raw) -> int:
    return int(raw.info("stats")["total_commands_processed"])


def main() -> None:
    import redis

    t_start = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="atlas-team-bench-"))
    server = RedisServer(tmp / "redis", appendonly=True).start()
    raw = redis.Redis.from_url(server.url)
    sb = atlas.sandbox.start(speed=100)
    kernels: list[Kernel] = []
    try:
        settings = {
            "store": server.url, "urls": sb.urls, "api_keys": sb.api_keys,
            "heartbeat_s": HEARTBEAT_S, "lease_ttl_s": LEASE_TTL_S,
            "lease_renew_s": LEASE_RENEW_S,
        }  # fmt: skip
        for i in range(KERNELS):
            owner = f"member{i:04d}"
            kernels.append(
                Kernel({**settings, "owner": owner, "data_dir": str(tmp / owner)},
                       fork=tmp / "fifo" / owner)
            )  # fmt: skip
        for k in kernels:
            k.wait_for("ready", timeout=120)
        _phase(t_start, "kernels ready")
        enforcer = next(
            k for k in _until(lambda: [k for k in kernels if _holds(k)] or None) if _holds(k)
        )

        # every kernel spawns its 50 (5 with a limit due mid-run)
        spawned: dict[Kernel, list[str]] = {}
        for k in kernels:
            k.send(op="spawn", n=PER_KERNEL - DUE_PER_KERNEL, idle_ttl=3600)
            k.send(op="spawn", n=DUE_PER_KERNEL, idle_ttl=3600, max_runtime=DUE_AFTER_S)
        for k in kernels:
            got = [ln["spawned"] for ln in _until(lambda k=k: _n_spawned(k, 2))]
            spawned[k] = [cid for batch in got for cid in batch]
        _phase(t_start, "spawned")
        due = {cid for k in kernels for cid in _due_ids(k)}
        total = sum(len(v) for v in spawned.values())
        # all in Redis (a due one may be gone already on a slow machine)
        _until(lambda: raw.scard("atlas_nb:ids") >= total - len(due) or None, timeout=60)

        _phase(t_start, "in Redis")
        # touches from observers reach the enforcer
        observers = [k for k in kernels if k is not enforcer]
        for k in observers:
            for cid in spawned[k][:5]:
                k.send(op="touch", id=cid)
        _until(lambda: len(_lines(enforcer, "touch_seen")) >= 5 * len(observers) or None, 30)
        latencies = [ln["latency_ms"] for ln in _lines(enforcer, "touch_seen")]

        _phase(t_start, "touches seen")

        # Redis commands in a quiet window (everyone heartbeating and following)
        # steady state: wait until no record changes for two heartbeats (every pod running)
        def quiet() -> bool:
            before = raw.get("atlas_nb:rev")
            time.sleep(2 * HEARTBEAT_S)
            return raw.get("atlas_nb:rev") == before

        _until(quiet, timeout=60)
        _phase(t_start, "quiet")
        s0 = raw.info("commandstats")
        c0, w0 = commands_processed(raw), time.monotonic()
        time.sleep(3.0)
        ops = commands_processed(raw) - c0
        s1 = raw.info("commandstats")
        busiest = sorted(
            ((k, v["calls"] - s0.get(k, {"calls": 0})["calls"]) for k, v in s1.items()),
            key=lambda kv: -kv[1],
        )[:5]
        print("redis commands in the window:", busiest)
        window = time.monotonic() - w0
        ops_per_heartbeat = ops / (window / HEARTBEAT_S)

        _phase(t_start, "window measured")
        # the enforcer dies before the due limits fire
        enforcer = next(k for k in kernels if _holds(k))  # the holder now
        observers = [k for k in kernels if k is not enforcer]
        enforcer.kill()
        killed = time.time()
        heir_line = _until(
            lambda: next(
                (
                    ln
                    for k in observers
                    for ln in _lines(k, "lease")
                    if ln["lease"] and ln["at"] >= killed
                ),
                None,
            ),
            timeout=30,
        )
        _phase(t_start, "failed over")
        failover_s = heir_line["at"] - killed
        # the lease changing hands before the kill (a stalled loop missed its renewals)
        handovers_before_kill = (
            sum(
                1 for k in kernels for ln in _lines(k, "lease") if ln["lease"] and ln["at"] < killed
            )
            - 1
        )

        # every due limit is enforced, by one kernel each
        def claims() -> dict[str, int]:
            counts = dict.fromkeys(due, 0)
            for k in kernels:
                for ln in _lines(k, "event"):
                    first = ln["event"] == "terminating" and ln["mine"] and not ln["resumed"]
                    if first and ln["id"] in counts:
                        counts[ln["id"]] += 1
            return counts

        def terminated() -> set[str]:
            return {
                ln["id"] for k in observers for ln in _lines(k, "event")
                if ln["event"] == "terminated" and ln["id"] in due
            }  # fmt: skip

        _until(lambda: terminated() >= due or None, timeout=60)
        _phase(t_start, "due limits enforced")
        counts = claims()
        once = sum(1 for n in counts.values() if n == 1)
        twice = sum(1 for n in counts.values() if n > 1)
        redis_claims = len(list(raw.scan_iter("atlas_nb:claim:*")))
        for k in kernels:
            k.close()
        kernels = []

        _phase(t_start, "kernels closed")
        # one process guards the survivors: CPU of a heartbeat round (as orchestrator.py)
        atlas.configure(store=server.url, owner="benchcpu1", heartbeat_s=3600,
                        reaper_enabled=False, data_dir=tmp / "cpu")  # fmt: skip
        rt = get_runtime()
        sup = rt.run(_running())
        cpu = []
        for _ in range(5):
            p0 = time.process_time()
            rt.run(sup.heartbeat())
            cpu.append(time.process_time() - p0)
        survivors = len(sup.records)
        atlas.shutdown()
    finally:
        for k in kernels:
            k.kill() if k.process.poll() is None else None
        sb.stop()
        raw.close()
        server.stop()
    figures = {
        "kernels": KERNELS,
        "tracked": total,
        "limits_due": len(due),
        "limits_enforced_once": once,
        "limits_enforced_twice": twice,
        "claims_in_redis": redis_claims,
        "failover_s": round(failover_s, 2),
        "lease_ttl_s": LEASE_TTL_S,
        "lease_handovers_before_kill": handovers_before_kill,
        "touch_to_enforcer_ms_p50": round(statistics.median(latencies), 1),
        "touch_to_enforcer_ms_max": round(max(latencies), 1),
        "redis_ops_per_heartbeat": round(ops_per_heartbeat, 1),
        "redis_ops_per_heartbeat_per_compute": round(ops_per_heartbeat / total, 3),
        "heartbeat_survivors": survivors,
        "heartbeat_cpu_ms_median": round(statistics.median(cpu) * 1000, 1),
        "heartbeat_cpu_us_per_compute": round(statistics.median(cpu) / max(1, survivors) * 1e6, 1),
        "wall_s": round(time.monotonic() - t_start, 1),
    }
    print(f"team store: {KERNELS} kernels x {PER_KERNEL} RunPod pods on one Redis, sandbox")
    report(
        "team_store",
        figures,
        {
            "limits_enforced_once": f">= {len(due)}",
            "limits_enforced_twice": "<= 0",
            "failover_s": f"<= {LEASE_TTL_S + LEASE_RENEW_S}",
            "redis_ops_per_heartbeat_per_compute": "<= 1",
        },
    )


def _phase(t_start: float, what: str) -> None:
    print(f"{time.monotonic() - t_start:6.1f} s  {what}", flush=True)


def _holds(k: Kernel) -> bool:
    leases = _lines(k, "lease")
    return bool(leases) and leases[-1]["lease"]


def _lines(k: Kernel, key: str) -> list[dict]:
    return [ln for ln in list(k.lines) if key in ln]


def _n_spawned(k: Kernel, n: int) -> list[dict] | None:
    got = _lines(k, "spawned")
    return got if len(got) >= n else None


def _due_ids(k: Kernel) -> list[str]:
    return _lines(k, "spawned")[1]["spawned"]


def _until(check, timeout: float = 60.0):
    import inspect

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            where = inspect.stack()[1].lineno
            raise SystemExit(f"team_store benchmark: the step at line {where} did not finish")
        time.sleep(0.02)


if __name__ == "__main__":
    main()
