"""The simulated RunPod account shared by the fake REST v2 API, GraphQL and serverless runtime.

Pods live on the sandbox's simulated clock (``state.clock``): PROVISIONING for
:data:`PROVISION_S` simulated seconds, STARTING for :data:`START_S`, then RUNNING (an image
whose name contains ``crashloop`` goes to ERROR instead). Costs accrue while a pod is up and
show in billing. Serverless jobs run in real time (``sleep_ms`` is real milliseconds) on
the endpoint's workers.

    >>> from atlas_nb.sandbox._state import SandboxState
    >>> world = runpod_world(SandboxState(speed=1000.0))
    >>> world.echo_endpoint_id in world.endpoints
    True
"""

from __future__ import annotations

import heapq
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .._state import SandboxState
from ..pod_guard import start_guard, stop_guard
from .catalog import (
    CPUS,
    DATA_CENTERS,
    DISK_PRICE_GB_MONTH,
    GPUS,
    HOURS_PER_MONTH,
    VOLUME_PRICE_GB_MONTH,
)

PROVISION_S = 3.0
START_S = 4.0
LOG_INTERVAL_S = 2.0
ECHO_WORKERS = 400
DISPATCH_S = 0.002  # real seconds from submit to a free worker picking the job up

_LOG_LINES = (
    ("system", "pulling image {image}"),
    ("system", "image pulled, creating container"),
    ("system", "container started"),
    ("container", "INFO  starting server on 0.0.0.0:8888"),
    ("container", "INFO  GET /healthz 200 0.9ms"),
    ("container", "DEBUG gpu 0 utilisation 37%"),
    ("container", "WARNING gpu memory at 81%"),
    ("container", "INFO  POST /generate 200 412ms"),
    ("container", "ERROR worker 2 restarted after OOM"),
)


def iso(ts: float) -> str:
    """Simulated epoch seconds → RFC 3339 UTC (``2026-06-01T12:00:00Z``)."""
    dt = datetime.fromtimestamp(ts, UTC)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    """RFC 3339 → epoch seconds (raises ValueError)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class PlacementError(Exception):
    """A create the scheduler refuses: ``status`` and the problem's ``detail``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class FakePod:
    id: str
    name: str
    image: str
    created_at: float
    cloud: str = "SECURE"
    gpu_id: str | None = None
    gpu_count: int = 0
    cpu: dict[str, Any] | None = None
    args: str = ""
    disk: int = 50
    ports: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    registry: str | None = None
    mounts: dict[str, Any] = field(default_factory=dict)
    data_center: str = "US-TX-3"
    locked: bool = False
    global_networking: bool = False
    spot: bool = False
    rate: float = 0.0  # USD per hour while up
    boot_at: float = 0.0
    boot_kind: str = "create"  # create | start | restart
    stopped_at: float | None = None
    terminated_at: float | None = None
    started_at: float | None = None
    machine_ip: str = "203.0.113.10"
    public_ports: dict[int, int] = field(default_factory=dict)
    #: [start, end-or-None] simulated seconds while billed
    up: list[list[float | None]] = field(default_factory=list)


@dataclass
class FakeJob:
    id: str
    endpoint_id: str
    input: Any
    submitted: float  # real monotonic seconds
    sim_submitted: float
    start: float
    end: float
    work_s: float
    timeout_s: float
    fail: str | None
    chunks: int
    attempts: int = 1
    cancelled_at: float | None = None
    stream_sent: int = 0
    webhook: str | None = None
    retried: bool = False


@dataclass
class FakeEndpoint:
    id: str
    body: dict[str, Any]
    created_at: float
    workers_free: list[float] = field(default_factory=list)  # heap of real free-at times
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def max_workers(self) -> int:
        return max(1, int(self.body.get("workers", {}).get("max", 3) or 1))

    @property
    def timeout_s(self) -> float:
        return float(self.body.get("timeout", 300_000)) / 1000.0

    def rate_per_s(self) -> float:
        """Serverless USD per second per worker."""
        gpu = self.body.get("gpu") or {}
        pools = gpu.get("pools") or []
        prices = [
            g.price["serverless"]
            for g in GPUS.values()
            if g.pool in pools and "serverless" in g.price
        ]
        per_gpu_hr = min(prices) if prices else 0.4
        return per_gpu_hr * int(gpu.get("count", 1) or 1) / 3600.0


@dataclass
class RateWindow:
    name: str
    quota: int
    seconds: int


RATE_WINDOWS = (
    RateWindow("minute", 3000, 60),
    RateWindow("hour", 60_000, 3600),
    RateWindow("day", 600_000, 86400),
)


#: the ways RunPod has said "no capacity" in a 400 (the v2 spec promises only "a
#: human-readable detail"); the sandbox cycles through them so no client can rely on one
CAPACITY_WORDINGS = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again.",
    "This machine does not have the resources to deploy your pod.",
    "Could not find any pods with required specifications.",
    "No GPU found matching the requested criteria in the selected data center(s).",
)


@dataclass
class RunPodWorld:
    state: SandboxState
    pods: dict[str, FakePod] = field(default_factory=dict)
    endpoints: dict[str, FakeEndpoint] = field(default_factory=dict)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    registries: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    deleted_endpoints: dict[str, FakeEndpoint] = field(default_factory=dict)
    echo_endpoint_id: str = ""
    #: the account's credit in $ (None: unlimited); a pod costing more than it per hour is
    #: refused with 402, as RunPod refuses creates the balance cannot cover
    balance: float | None = None
    #: how many creates were refused for capacity (picks the next of CAPACITY_WORDINGS)
    capacity_refusals: int = 0
    #: (GPU type id, cloud) sold out in this world (a launch fault says so; the catalogue agrees)
    sold_out: set[tuple[str, str]] = field(default_factory=set)
    _rate: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- ids and time -----------------------------------------------------------------------
    def stock(self, gpu: Any, cloud: str) -> str:
        """The stock level of ``gpu`` on ``cloud`` (SECURE/COMMUNITY) in this world."""
        return "NONE" if (gpu.id, cloud) in self.sold_out else str(gpu.stock[cloud])

    def now(self) -> float:
        return self.state.clock.now()

    def new_id(self, n: int = 14) -> str:
        with self.lock:
            return self.state.id("", n)

    # -- rate limits -----------------------------------------------------------------------
    def rate_limit(self, key: str) -> tuple[dict[str, str], float | None]:
        """Count one request; returns (RateLimit headers, retry-after seconds if exceeded)."""
        now = time.time()
        parts, policy, exceeded = [], [], None
        with self.lock:
            for w in RATE_WINDOWS:
                window = int(now // w.seconds)
                seen_window, count = self._rate.get((key, w.name), (window, 0))
                if seen_window != window:
                    count = 0
                count += 1
                self._rate[(key, w.name)] = (window, count)
                reset = int(w.seconds - (now % w.seconds)) + 1
                remaining = max(0, w.quota - count)
                if count > w.quota and exceeded is None:
                    exceeded = float(reset)
                parts.append(f'"{w.name}";r={remaining};t={reset}')
                policy.append(f'"{w.name}";q={w.quota};w={w.seconds}')
        return {"RateLimit": ", ".join(parts), "RateLimit-Policy": ", ".join(policy)}, exceeded

    # -- pods ------------------------------------------------------------------------------
    def place_pod(
        self,
        *,
        name: str,
        image: str,
        gpu_id: str | None = None,
        gpu_count: int = 1,
        cpu: dict[str, Any] | None = None,
        cloud: str = "SECURE",
        data_centers: list[str] | None = None,
        spot_bid: float | None = None,
        mounts: dict[str, Any] | None = None,
        global_networking: bool = False,
        **container: Any,
    ) -> FakePod:
        """Create a pod, or raise :class:`PlacementError` like the real scheduler would."""
        mounts = dict(mounts or {})
        wanted = self._wanted_data_centers(list(data_centers or []), mounts)
        if cpu is not None:
            dcs, rate, cpu = _place_cpu(cpu, mounts, wanted)
        else:
            dcs, rate = self._place_gpu(gpu_id, gpu_count, cloud, wanted, spot_bid)
        if self.balance is not None and rate > self.balance:
            raise PlacementError(
                402,
                f"Insufficient balance: this pod costs ${rate:.2f}/hr and your balance is "
                f"${self.balance:.2f}",
            )
        if global_networking:
            if cpu is not None or (gpu_id or "").startswith("AMD"):
                raise PlacementError(400, "global networking requires an NVIDIA GPU")
            dcs = [dc for dc in dcs if DATA_CENTERS[dc].global_network]
            if not dcs:
                raise PlacementError(
                    400, "global networking needs a data center with globalNetwork=true"
                )
        pod = FakePod(
            id=self.new_id(14),
            name=name,
            image=image,
            created_at=round(self.now(), 3),
            cloud=cloud,
            gpu_id=None if cpu is not None else gpu_id,
            gpu_count=0 if cpu is not None else gpu_count,
            cpu=cpu,
            mounts=mounts,
            data_center=dcs[0],
            global_networking=global_networking,
            spot=spot_bid is not None,
            rate=rate,
            machine_ip=f"203.0.113.{10 + len(self.pods) % 200}",
            **container,
        )
        self.boot(pod, "create")
        self.pods[pod.id] = pod
        return pod

    def _wanted_data_centers(self, wanted: list[str], mounts: dict[str, Any]) -> list[str]:
        """The data centers asked for, narrowed to the network volume's (``[]``: any)."""
        unknown = [dc for dc in wanted if dc not in DATA_CENTERS]
        if unknown:
            raise PlacementError(400, f"unknown data center(s): {', '.join(unknown)}")
        if mounts.get("persistent") and mounts.get("network"):
            raise PlacementError(400, "mounts.persistent and mounts.network are mutually exclusive")
        for mount in mounts.get("network") or []:
            vol = self.volumes.get(mount["volumeId"])
            if vol is None:
                raise PlacementError(404, f"network volume {mount['volumeId']} not found")
            wanted = [vol["dataCenter"]] if not wanted or vol["dataCenter"] in wanted else []
            if not wanted:
                raise PlacementError(400, "the network volume is in another data center")
        return wanted

    def _place_gpu(
        self,
        gpu_id: str | None,
        gpu_count: int,
        cloud: str,
        wanted: list[str],
        spot_bid: float | None,
    ) -> tuple[list[str], float]:
        """(data centers with stock, USD per hour) for a GPU pod, or why it cannot be placed."""
        gpu = GPUS.get(str(gpu_id))
        if gpu is None:
            raise PlacementError(
                400, f"gpu.id {gpu_id!r} is not a GPU type; see GET /v2/catalog/gpus"
            )
        tier = cloud.lower()
        if gpu.max_count[tier] == 0:
            raise PlacementError(400, f"{gpu.id} is not offered on {cloud} cloud")
        if gpu_count > gpu.max_count[tier]:
            raise PlacementError(
                400, f"{gpu.id} allows at most {gpu.max_count[tier]} GPUs per pod on {cloud}"
            )
        dcs = [dc for dc in (wanted or gpu.data_centers) if dc in gpu.data_centers]
        if self.stock(gpu, cloud) == "NONE" or not dcs:
            wording = CAPACITY_WORDINGS[self.capacity_refusals % len(CAPACITY_WORDINGS)]
            self.capacity_refusals += 1
            raise PlacementError(400, wording)
        if spot_bid is None:
            return dcs, gpu.price[tier] * gpu_count
        if spot_bid < gpu.spot[tier]:
            raise PlacementError(
                400,
                f"Your bid of ${spot_bid:.2f}/GPU/hr is below the minimum bid "
                f"(${gpu.spot[tier]:.2f}).",
            )
        return dcs, spot_bid * gpu_count

    def pod_status(self, pod: FakePod, now: float | None = None) -> str:
        now = self.now() if now is None else now
        if pod.terminated_at is not None:
            return "TERMINATED"
        if pod.stopped_at is not None:
            return "EXITED"
        t = now - pod.boot_at
        first = PROVISION_S if pod.boot_kind == "create" else 0.0
        if t < first:
            return "PROVISIONING"
        if t < first + START_S:
            return "STARTING"
        return "ERROR" if "crashloop" in pod.image else "RUNNING"

    def ready_at(self, pod: FakePod) -> float:
        first = PROVISION_S if pod.boot_kind == "create" else 0.0
        return pod.boot_at + first + START_S

    def boot(self, pod: FakePod, kind: str) -> None:
        now = self.now()
        pod.boot_at, pod.boot_kind, pod.stopped_at = now, kind, None
        if not pod.up or pod.up[-1][1] is not None:
            pod.up.append([now, None])
        if kind == "restart":
            stop_guard(self.state, "runpod", pod.id)
        start_guard(self.state, "runpod", pod.id, pod.env, args=pod.args, image=pod.image)

    def halt(self, pod: FakePod, *, terminate: bool = False) -> None:
        now = self.now()
        if pod.up and pod.up[-1][1] is None:
            end = now
            if "crashloop" in pod.image:
                end = min(now, self.ready_at(pod))
            pod.up[-1][1] = end
        if terminate:
            pod.terminated_at = now
        else:
            pod.stopped_at = now
        stop_guard(self.state, "runpod", pod.id)

    def pod_json(self, pod: FakePod) -> dict[str, Any]:
        now = self.now()
        status = self.pod_status(pod, now)
        running = status == "RUNNING"
        actions = {
            "RUNNING": ["stop", "restart", "terminate"],
            "EXITED": ["start", "terminate"],
            "ERROR": ["start", "terminate"],
            "PROVISIONING": ["stop", "terminate"],
            "STARTING": ["stop", "terminate"],
            "TERMINATED": [],
        }[status]
        runtime = None
        direct = None
        if running:
            tcp = []
            for spec in pod.ports:
                port, _, proto = spec.partition("/")
                if proto == "tcp" and port.isdigit():
                    public = pod.public_ports.setdefault(int(port), 10000 + len(pod.public_ports))
                    tcp.append(
                        {
                            "private": int(port),
                            "public": public,
                            "type": "tcp",
                            "ip": pod.machine_ip,
                        }
                    )
                    if port == "22":
                        direct = {
                            "host": pod.machine_ip,
                            "port": public,
                            "username": "root",
                            "command": f"ssh root@{pod.machine_ip} -p {public}",
                        }
            runtime = {
                "uptime": int(max(0.0, now - self.ready_at(pod))),
                "gpus": [{"util": 0, "memoryUtil": 0} for _ in range(pod.gpu_count)],
                "cpu": {"util": 3},
                "memory": {"util": 12},
                "ports": tcp,
            }
        user = f"{pod.id}-{zlib.crc32(pod.id.encode()):08x}"
        started = pod.started_at if pod.started_at is not None else None
        if running and pod.started_at is None:
            pod.started_at = started = self.ready_at(pod)
        out: dict[str, Any] = {
            "id": pod.id,
            "name": pod.name,
            "image": pod.image,
            "args": pod.args,
            "disk": pod.disk,
            "ports": list(pod.ports),
            "env": dict(pod.env),
            "registry": pod.registry,
            "status": status,
            "actions": actions,
            "mounts": pod.mounts,
            "cloud": pod.cloud,
            "dataCenterId": pod.data_center,
            "cudaVersion": None if pod.cpu else "12.8",
            "ssh": {
                "proxy": {
                    "host": "ssh.runpod.io",
                    "port": 22,
                    "username": user,
                    "command": f"ssh {user}@ssh.runpod.io",
                },
                "direct": direct,
            },
            "template": None,
            "cost": round(pod.rate, 4)
            if status in ("PROVISIONING", "STARTING", "RUNNING")
            else 0.0,
            "locked": pod.locked,
            "globalNetworking": {"enabled": pod.global_networking},
            "runtime": runtime,
            "createdAt": iso(pod.created_at),
            "startedAt": iso(started) if started is not None else None,
        }
        if pod.global_networking:
            out["globalNetworking"].update(
                ip=f"10.65.{len(pod.id)}.{sum(map(ord, pod.id)) % 250}",
                internalDns=f"{pod.id}.runpod.internal",
            )
        if pod.cpu is not None:
            out["cpu"] = dict(pod.cpu)
        else:
            out["gpu"] = {"id": pod.gpu_id, "count": pod.gpu_count}
        return out

    def pod_logs(self, pod: FakePod, now: float | None = None) -> list[dict[str, Any]]:
        """Every log line the pod has produced by ``now`` (simulated), oldest first."""
        now = self.now() if now is None else now
        end = now if pod.terminated_at is None else min(now, pod.terminated_at)
        count = int(max(0.0, end - pod.created_at) // LOG_INTERVAL_S) + 1
        return [self.log_line(pod, n) for n in range(count)]

    def log_line(self, pod: FakePod, n: int) -> dict[str, Any]:
        source, text = _LOG_LINES[n] if n < 3 else _LOG_LINES[3 + (n - 3) % (len(_LOG_LINES) - 3)]
        ts = iso(pod.created_at + n * LOG_INTERVAL_S)
        return {
            "id": ts,  # the spec: event ids are the event timestamps
            "ts": ts,
            "source": source,
            "line": text.format(image=pod.image) + (f" (#{n})" if n >= 3 else ""),
        }

    # -- serverless jobs -------------------------------------------------------------------
    def submit_job(
        self, endpoint: FakeEndpoint, payload: dict[str, Any], job_id: str | None = None
    ) -> FakeJob:
        inp = payload.get("input")
        opts = inp if isinstance(inp, dict) else {}
        work_s = max(0.0, float(opts.get("sleep_ms", 0) or 0)) / 1000.0
        policy = payload.get("policy") or {}
        timeout_s = float(policy.get("executionTimeout") or endpoint.timeout_s * 1000) / 1000.0
        now = time.monotonic()
        with endpoint.lock:
            heap = endpoint.workers_free
            while len(heap) < endpoint.max_workers:
                heapq.heappush(heap, 0.0)
            free_at = heapq.heappop(heap)
            start = max(now + DISPATCH_S, free_at)
            end = start + min(work_s, timeout_s)
            heapq.heappush(heap, end)
        fail = opts.get("fail")
        job = FakeJob(
            id=job_id or f"{self.new_id(8)}-{self.new_id(4)}-{self.new_id(4)}-u1",
            endpoint_id=endpoint.id,
            input=inp,
            submitted=now,
            sim_submitted=self.now(),
            start=start,
            end=end,
            work_s=work_s,
            timeout_s=timeout_s,
            fail=None if fail in (None, False, "") else str(fail),
            chunks=max(0, int(opts.get("chunks", 0) or 0)),
            webhook=payload.get("webhook"),
        )
        self.jobs[job.id] = job
        return job

    def job_status(self, job: FakeJob, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        cancelled = job.cancelled_at
        if cancelled is not None and cancelled < job.end and now >= cancelled:
            return "CANCELLED"
        if now < job.start:
            return "IN_QUEUE"
        if now < job.end:
            return "IN_PROGRESS"
        if job.work_s > job.timeout_s:
            return "TIMED_OUT"
        fail_attempts = (
            (job.input or {}).get("fail_attempts") if isinstance(job.input, dict) else None
        )
        if job.fail and (fail_attempts is None or job.attempts <= int(fail_attempts)):
            return "FAILED"
        return "COMPLETED"

    def job_chunks(self, job: FakeJob, now: float | None = None) -> list[dict[str, Any]]:
        now = time.monotonic() if now is None else now
        limit = now if job.cancelled_at is None else min(now, job.cancelled_at)
        out = []
        for i in range(job.chunks):
            at = job.start + job.work_s * (i + 1) / (job.chunks + 1)
            if at <= limit and at <= job.end:
                out.append({"i": i})
        return out

    def job_json(self, job: FakeJob, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        status = self.job_status(job, now)
        started = min(now, job.start)
        delay_ms = int(max(0.0, started - job.submitted) * 1000)
        until = now if job.cancelled_at is None else min(now, job.cancelled_at)
        execution_ms = int(max(0.0, min(until, job.end) - job.start) * 1000)
        out: dict[str, Any] = {"id": job.id, "status": status, "delayTime": delay_ms}
        if status != "IN_QUEUE":
            out["executionTime"] = execution_ms
            out["workerId"] = f"w{zlib.crc32(job.id.encode()) % 10**6:06d}"
        if status == "COMPLETED":
            out["output"] = job.input
        elif status == "FAILED":
            out["error"] = job.fail
        elif status == "TIMED_OUT":
            out["error"] = f"job exceeded its execution timeout of {int(job.timeout_s * 1000)} ms"
        return out

    def retry_job(self, job: FakeJob) -> None:
        endpoint = self.endpoints[job.endpoint_id]
        again = self.submit_job(
            endpoint,
            {
                "input": job.input,
                "webhook": job.webhook,
                "policy": {"executionTimeout": job.timeout_s * 1000},
            },
            job.id,
        )
        again.attempts = job.attempts + 1
        again.retried = True

    # -- billing -----------------------------------------------------------------------------
    def pod_costs(self, pod: FakePod, now: float) -> list[tuple[float, float, float, str]]:
        """(start, end, USD per hour, component) intervals of what the pod cost."""
        out = []
        component = "cpu" if pod.cpu is not None else "gpu"
        for start, end in pod.up:
            assert start is not None
            stop = now if end is None else end
            if "crashloop" in pod.image and end is None:
                stop = min(now, self.ready_at(pod))
            if stop > start:
                out.append((start, stop, pod.rate, component))
        disk_end = now if pod.terminated_at is None else pod.terminated_at
        persistent = int((pod.mounts.get("persistent") or {}).get("size", 0))
        gb = pod.disk + persistent
        out.append((pod.created_at, disk_end, gb * DISK_PRICE_GB_MONTH / HOURS_PER_MONTH, "disk"))
        return out

    def volume_costs(
        self, vol: dict[str, Any], now: float
    ) -> list[tuple[float, float, float, str]]:
        end = vol.get("_deleted_at") or now
        kind = vol.get("type", "STANDARD")
        rate = vol["size"] * VOLUME_PRICE_GB_MONTH[kind] / HOURS_PER_MONTH
        component = "standard" if kind == "STANDARD" else "highPerformance"
        return [(vol["_created_at"], end, rate, component)]

    def job_costs(self, now_real: float) -> dict[str, list[tuple[float, float]]]:
        """endpoint id -> [(simulated time the job ended, USD)] for finished jobs."""
        out: dict[str, list[tuple[float, float]]] = {}
        speed = self.state.clock.speed
        for job in list(self.jobs.values()):
            status = self.job_status(job, now_real)
            if status in ("IN_QUEUE", "IN_PROGRESS"):
                continue
            ep = self.endpoints.get(job.endpoint_id) or self.deleted_endpoints.get(job.endpoint_id)
            if ep is None:
                continue
            stop = job.end if job.cancelled_at is None else min(job.end, job.cancelled_at)
            seconds = max(0.0, stop - job.start)
            when = job.sim_submitted + (stop - job.submitted) * speed
            out.setdefault(ep.id, []).append((when, seconds * ep.rate_per_s()))
        return out


def _place_cpu(
    cpu: dict[str, Any], mounts: dict[str, Any], wanted: list[str]
) -> tuple[list[str], float, dict[str, Any]]:
    """(data centers, USD per hour, the pod's ``cpu``) for a CPU pod, or why it cannot be placed."""
    if cpu["id"] not in CPUS:
        raise PlacementError(400, f"cpu.id {cpu['id']!r} is not a CPU flavor")
    _n, _g, lo, hi, ram, per_vcpu, _s = CPUS[cpu["id"]]
    vcpus = int(cpu["vcpuCount"])
    if vcpus & (vcpus - 1) or not lo <= vcpus <= hi:
        raise PlacementError(400, f"cpu.vcpuCount must be a power of two between {lo} and {hi}")
    if mounts.get("persistent"):
        raise PlacementError(400, "mounts.persistent is not allowed on CPU pods")
    dcs = wanted or ["US-TX-3"]
    return dcs, per_vcpu * vcpus, {"id": cpu["id"], "vcpuCount": vcpus, "memory": int(vcpus * ram)}


def runpod_world(state: SandboxState) -> RunPodWorld:
    """The sandbox's RunPod account, created on first use with the echo endpoint."""
    world = state.providers.get("runpod_world")
    if world is None:
        world = RunPodWorld(state=state)
        state.providers["runpod_world"] = world
        _seed(world)
    return world  # type: ignore[no-any-return,unused-ignore]


def _seed(world: RunPodWorld) -> None:
    now = world.now()
    template_id = world.new_id(10)
    world.templates[template_id] = template_json(
        template_id,
        {
            "name": "atlas-echo-worker",
            "image": "atlas/echo-worker:1.0",
            "serverless": True,
            "startSsh": False,
            "startJupyter": False,
        },
    )
    endpoint_id = world.new_id(14)
    body = endpoint_json(
        endpoint_id,
        {
            "name": "atlas-echo",
            "type": "QUEUE",
            "templateId": template_id,
            "image": "atlas/echo-worker:1.0",
            "gpu": {"pools": ["ADA_24"], "count": 1},
            "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
            "workers": {"min": 0, "max": ECHO_WORKERS, "idleTimeout": 5},
        },
        now,
    )
    world.endpoints[endpoint_id] = FakeEndpoint(endpoint_id, body, now)
    world.echo_endpoint_id = endpoint_id
    world.state.info["runpod_endpoint_id"] = endpoint_id


def template_json(tid: str, body: dict[str, Any]) -> dict[str, Any]:
    """A Template resource from a create body (defaults as the spec says)."""
    return {
        "id": tid,
        "name": body["name"],
        "image": body.get("image", ""),
        "args": body.get("args", ""),
        "disk": body.get("disk", 50),
        "mounts": body.get("mounts", {}),
        "ports": body.get("ports", []),
        "env": body.get("env", {}),
        "registry": body.get("registry"),
        "serverless": body.get("serverless", False),
        "public": body.get("public", False),
        "category": body.get("category", "NVIDIA"),
        "startSsh": body.get("startSsh", True),
        "startJupyter": body.get("startJupyter", True),
        "allowedCudaVersions": body.get("allowedCudaVersions", []),
    }


def endpoint_json(eid: str, body: dict[str, Any], created: float) -> dict[str, Any]:
    """An Endpoint resource from a create body (defaults as the spec says)."""
    base = "https://api.runpod.ai/v2/" + eid
    workers = {"min": 0, "max": 3, "idleTimeout": 10, **(body.get("workers") or {})}
    out: dict[str, Any] = {
        "id": eid,
        "name": body["name"],
        "type": body.get("type", "QUEUE"),
        "image": body.get("image", ""),
        "args": body.get("args", ""),
        "disk": body.get("disk", 20),
        "ports": body.get("ports", []),
        "env": body.get("env", {}),
        "registry": body.get("registry"),
        "workers": workers,
        "scaling": body.get("scaling", {"type": "QUEUE_DELAY", "queueDelay": 4}),
        "dataCenterIds": body.get("dataCenterIds", []),
        "networkVolumes": body.get("networkVolumes", []),
        "timeout": body.get("timeout", 300_000),
        "flashboot": body.get("flashboot", "OFF"),
        "createdAt": iso(created),
    }
    if out["type"] == "QUEUE":
        out["requestUrls"] = {
            "run": base + "/run",
            "runSync": base + "/runsync",
            "status": base + "/status",
            "stream": base + "/stream",
            "cancel": base + "/cancel",
            "retry": base + "/retry",
            "purgeQueue": base + "/purge-queue",
            "health": base + "/health",
        }
    else:
        out["requestUrls"] = {
            "base": f"https://{eid}.api.runpod.ai",
            "health": f"https://{eid}.api.runpod.ai/ping",
        }
    if body.get("cpu"):
        out["cpu"] = [{**c, "memory": c["vcpuCount"] * 2} for c in body["cpu"]]
    else:
        gpu = body.get("gpu") or {"pools": ["ADA_24"]}
        out["gpu"] = {
            "pools": gpu.get("pools", ["ADA_24"]),
            "count": gpu.get("count", 1),
            "allowedCudaVersions": gpu.get("allowedCudaVersions", []),
            "minCudaVersion": gpu.get("minCudaVersion"),
        }
        if gpu.get("excludedTypes"):
            out["gpu"]["excludedTypes"] = gpu["excludedTypes"]
    return out


# -- billing buckets ---------------------------------------------------------------------------

BUCKETS = ("hour", "day", "week", "month", "year")


def bucket_floor(ts: float, size: str) -> datetime:
    dt = datetime.fromtimestamp(ts, UTC)
    if size == "hour":
        return dt.replace(minute=0, second=0, microsecond=0)
    day = dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if size == "day":
        return day
    if size == "week":
        return day - timedelta(days=day.weekday())
    if size == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def bucket_next(dt: datetime, size: str) -> datetime:
    if size == "hour":
        return dt + timedelta(hours=1)
    if size == "day":
        return dt + timedelta(days=1)
    if size == "week":
        return dt + timedelta(days=7)
    if size == "month":
        return dt.replace(year=dt.year + dt.month // 12, month=dt.month % 12 + 1)
    return dt.replace(year=dt.year + 1)


def buckets(start: float, end: float, size: str) -> list[tuple[float, float]]:
    """Bucket boundaries covering [start, end) (start snapped down, end snapped up)."""
    out = []
    cur = bucket_floor(start, size)
    while cur.timestamp() < end:
        nxt = bucket_next(cur, size)
        out.append((cur.timestamp(), nxt.timestamp()))
        cur = nxt
    return out


def spread(
    intervals: list[tuple[float, float, float, str]], edges: list[tuple[float, float]]
) -> list[dict[str, float]]:
    """USD per component in each bucket (hourly ``rate`` over each interval's overlap)."""
    out: list[dict[str, float]] = []
    for lo, hi in edges:
        amounts: dict[str, float] = {}
        for start, end, rate, component in intervals:
            overlap = min(end, hi) - max(start, lo)
            if overlap > 0:
                amounts[component] = amounts.get(component, 0.0) + rate * overlap / 3600.0
        out.append(amounts)
    return out
