"""The Mock provider: everything in memory, with realistic timing and no network.

Computes move provisioning → starting → running on a clock (``MockProvider.timings``); jobs
follow the sandbox's echo worker (input keys ``sleep_ms``, ``chunks``, ``fail``); logs grow
over time. State is shared by every instance in the process; ``MockProvider.reset()`` clears it.

    >>> import atlas_nb as atlas
    >>> c = atlas.spawn(provider="mock", gpu="h100", image="python:3.11")
    >>> c.provider, c.status.value
    ('mock', 'provisioning')
    >>> atlas.terminate(c.id, provider="mock")
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from ..auth import auth_material
from ..errors import JobFailedError, NotFoundError, ValidationError
from ..gpus import model as gpu_model
from ..gpus import to_canonical
from ..models import (
    Compute,
    ComputeRequest,
    ComputeStatus,
    GpuType,
    Job,
    JobRequest,
    JobStatus,
    LogEntry,
    Port,
)
from ..models.job import FAILED_JOB_STATUSES, TERMINAL_JOB_STATUSES
from .base import OfferQuery, OfferRow, Provider, redact_env, select_computes

#: list prices (USD per GPU-hour) of the mock catalogue
MOCK_PRICES: dict[str, float] = {
    "h100": 2.49,
    "a100_80g": 1.39,
    "l40s": 0.86,
    "rtx_4090": 0.44,
    "l4": 0.39,
}
MOCK_REGIONS = ("mock-east-1", "mock-west-1")
_LOG_LINES = (
    ("info", "container started"),
    ("info", "listening on 0.0.0.0:8000"),
    ("debug", "health check ok"),
    ("info", "GET /healthz 200 1.2ms"),
    ("warning", "gpu memory at 81%"),
    ("info", "POST /v1/generate 200 412ms"),
    ("error", "worker 3 restarted after OOM"),
)


@dataclass
class _MockCompute:
    id: str
    request: ComputeRequest
    created_at: datetime
    phase: str = "boot"  # boot | stop | terminated
    phase_at: float = field(default_factory=time.monotonic)
    env: dict[str, str] = field(default_factory=dict)
    auth: Any = None


@dataclass
class _MockJob:
    id: str
    endpoint: str
    input: Any
    submitted: float
    execution_timeout_ms: int | None = None
    cancelled_at: float | None = None
    attempts: int = 1


class _Store:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.computes: dict[str, _MockCompute] = {}
        self.jobs: dict[str, _MockJob] = {}


class MockProvider(Provider):
    """In-memory provider for tests, demos and notebooks without an account."""

    name = "mock"
    display_name = "Mock"
    requires_api_key = False
    CAPABILITIES = frozenset(
        {
            "spot",
            "serverless",
            "network_volumes",
            "http_proxy",
            "raw_tcp",
            "webhooks",
            "stop_start",
            "restart",
            "logs",
            "gpu_types",
            "offers",
        }
    )

    #: seconds spent in each transitional status (tests may shrink them)
    timings: ClassVar[dict[str, float]] = {
        "provisioning_s": 0.2,
        "starting_s": 0.2,
        "stopping_s": 0.1,
        "queue_ms": 20.0,
        "log_interval_s": 0.25,
    }
    _store: ClassVar[_Store] = _Store()

    @classmethod
    def reset(cls) -> None:
        """Forget every compute and job."""
        with cls._store.lock:
            cls._store.computes.clear()
            cls._store.jobs.clear()

    # -- computes ----------------------------------------------------------------------------
    def _status(self, rec: _MockCompute) -> ComputeStatus:
        t = time.monotonic() - rec.phase_at
        tm = self.timings
        if rec.phase == "terminated":
            return ComputeStatus.TERMINATED
        if rec.phase == "stop":
            return ComputeStatus.STOPPING if t < tm["stopping_s"] else ComputeStatus.STOPPED
        if rec.phase == "start":
            return ComputeStatus.STARTING if t < tm["starting_s"] else ComputeStatus.RUNNING
        if t < tm["provisioning_s"]:
            return ComputeStatus.PROVISIONING
        if t < tm["provisioning_s"] + tm["starting_s"]:
            return ComputeStatus.STARTING
        return ComputeStatus.RUNNING

    def _to_compute(self, rec: _MockCompute) -> Compute:
        req = rec.request
        status = self._status(rec)
        ports = [
            Port(
                internal=p.port,
                external=p.port,
                protocol=p.protocol,
                url=f"https://{rec.id}-{p.port}.mock.local"
                if p.protocol == "http"
                else f"tcp://203.0.113.1:{p.port}",
            )
            for p in req.ports
        ]
        canonical = to_canonical(req.gpu) if req.gpu else None
        price = MOCK_PRICES.get(canonical or "", 1.0) * req.gpu_count if req.gpu else 0.05
        if req.spot:
            price = round(price * 0.5, 4)
        running = status in (
            ComputeStatus.RUNNING,
            ComputeStatus.STARTING,
            ComputeStatus.PROVISIONING,
        )
        return Compute(
            id=rec.id,
            provider=self.name,
            name=req.name,
            status=status,
            provider_status=status.value.upper(),
            gpu=canonical or req.gpu,
            gpu_count=req.gpu_count if req.gpu else 0,
            image=req.image,
            region=req.regions[0] if req.regions else MOCK_REGIONS[0],
            cost_per_hr=price if running else 0.0,
            ports=ports,
            public_ip="203.0.113.1",
            created_at=rec.created_at,
            auth=rec.auth,
            raw={"id": rec.id, "phase": rec.phase, "env": redact_env(rec.env)},
        ).bind(self)

    def _get(self, compute_id: str) -> _MockCompute:
        rec = self._store.computes.get(compute_id)
        if rec is None:
            raise NotFoundError(f"no compute {compute_id!r}", provider=self.name, status=404)
        return rec

    async def spawn(self, request: ComputeRequest) -> Compute:
        if request.gpu and to_canonical(request.gpu) is None:
            raise ValidationError(f"mock has no GPU {request.gpu!r}", field="gpu")
        env, handle = auth_material(request.auth)
        rec = _MockCompute(
            id="mock-" + secrets.token_urlsafe(8),
            request=request,
            created_at=datetime.now(UTC),
            env={**request.env, **env},
        )
        with self._store.lock:
            self._store.computes[rec.id] = rec
        if handle is not None:  # keep only the hash: the token is shown once
            rec.auth = handle.model_copy(update={"token": None, "header": None})
        return self._to_compute(rec).model_copy(update={"auth": handle})

    async def get(self, compute_id: str) -> Compute:
        return self._to_compute(self._get(compute_id))

    async def list_computes(
        self, *, status: ComputeStatus | None = None, name: str | None = None
    ) -> list[Compute]:
        with self._store.lock:
            recs = sorted(self._store.computes.values(), key=lambda r: r.created_at)
        out = [self._to_compute(r) for r in recs]
        return select_computes(out, status=status, name=name)

    async def start(self, compute_id: str) -> Compute:
        rec = self._get(compute_id)
        if self._status(rec) == ComputeStatus.TERMINATED:
            raise NotFoundError(f"compute {compute_id!r} was terminated", provider=self.name)
        if self._status(rec) in (ComputeStatus.STOPPED, ComputeStatus.STOPPING):
            rec.phase, rec.phase_at = "start", time.monotonic()
        return self._to_compute(rec)

    async def stop(self, compute_id: str) -> Compute:
        rec = self._get(compute_id)
        if self._status(rec) == ComputeStatus.TERMINATED:
            raise NotFoundError(f"compute {compute_id!r} was terminated", provider=self.name)
        if rec.phase != "stop":
            rec.phase, rec.phase_at = "stop", time.monotonic()
        return self._to_compute(rec)

    async def restart(self, compute_id: str) -> Compute:
        rec = self._get(compute_id)
        rec.phase, rec.phase_at = "start", time.monotonic()
        return self._to_compute(rec)

    async def terminate(self, compute_id: str) -> None:
        rec = self._get(compute_id)
        rec.phase, rec.phase_at = "terminated", time.monotonic()

    async def logs(self, compute_id: str) -> AsyncIterator[list[LogEntry]]:
        rec = self._get(compute_id)
        sent = 0
        while True:
            if rec.phase == "terminated":
                return
            elapsed = time.monotonic() - rec.phase_at
            due = int(elapsed / self.timings["log_interval_s"]) + 1
            if due > sent:
                batch = []
                for n in range(sent, due):
                    level, text = _LOG_LINES[n % len(_LOG_LINES)]
                    ts = rec.created_at + timedelta(seconds=n * self.timings["log_interval_s"])
                    batch.append(
                        LogEntry(
                            timestamp=ts,
                            message=f"{text} (#{n})",
                            level=level,
                            region=MOCK_REGIONS[0],
                            instance=rec.id,
                            id=f"{rec.id}-{n}",
                        )
                    )
                sent = due
                yield batch
            await asyncio.sleep(self.timings["log_interval_s"])

    # -- catalogue ---------------------------------------------------------------------------
    async def gpu_types(self) -> list[GpuType]:
        now = datetime.now(UTC)
        return [
            GpuType(
                provider=self.name,
                gpu=name,
                native_id=f"mock-{name}",
                display_name=f"Mock {gpu_model(name).display}",
                vram_gb=gpu_model(name).vram_gb,
                max_count=8,
                price_per_hr=price,
                spot_price_per_hr=round(price / 2, 4),
                secure_price_per_hr=price,
                community_price_per_hr=round(price * 0.8, 4),
                availability="high",
                regions=list(MOCK_REGIONS),
                fetched_at=now,
            )
            for name, price in MOCK_PRICES.items()
        ]

    async def offers(self, query: OfferQuery) -> list[OfferRow]:
        now = datetime.now(UTC)
        count = int(query.get("count") or 1)
        out = []
        for gt in await self.gpu_types():
            for region in MOCK_REGIONS:
                price = (gt.price_per_hr or 0) * count
                out.append(
                    {
                        "provider": self.name,
                        "gpu": gt.gpu,
                        "native_id": gt.native_id,
                        "gpu_count": count,
                        "vram_gb": gt.vram_gb,
                        "vcpus": 8.0 * count,
                        "ram_gb": 64.0 * count,
                        "price_per_hr": round(price, 4),
                        "spot_price_per_hr": round(price / 2, 4),
                        "region": region,
                        "availability": "high",
                        "offer_id": f"{gt.native_id}:{region}:{count}",
                        "fetched_at": now,
                    }
                )
        return out

    # -- serverless jobs -------------------------------------------------------------------
    def _job_state(self, rec: _MockJob) -> tuple[JobStatus, list[Any], Any, Any, int, int]:
        """(status, chunks so far, output, error, delay_ms, execution_ms) at this instant."""
        now = time.monotonic()
        inp = rec.input if isinstance(rec.input, dict) else {}
        queue_s = self.timings["queue_ms"] / 1000
        work_s = float(inp.get("sleep_ms", 0)) / 1000
        n_chunks = int(inp.get("chunks", 0) or 0)
        started = rec.submitted + queue_s
        limit = rec.cancelled_at if rec.cancelled_at is not None else now
        run_for = max(0.0, limit - started)
        chunks = [{"i": i} for i in range(n_chunks) if run_for >= work_s * (i + 1) / (n_chunks + 1)]
        delay = int(min(limit - rec.submitted, queue_s) * 1000)
        timeout_s = (rec.execution_timeout_ms or 0) / 1000
        if timeout_s and run_for > timeout_s and work_s > timeout_s:
            return (
                JobStatus.TIMED_OUT,
                chunks,
                None,
                "execution timeout exceeded",
                delay,
                int(timeout_s * 1000),
            )
        if rec.cancelled_at is not None and (run_for < work_s or rec.cancelled_at < started):
            return JobStatus.CANCELLED, chunks, None, None, delay, int(run_for * 1000)
        if limit < started:
            return JobStatus.QUEUED, [], None, None, delay, 0
        if run_for < work_s:
            return JobStatus.RUNNING, chunks, None, None, delay, int(run_for * 1000)
        if inp.get("fail"):
            return JobStatus.FAILED, chunks, None, str(inp["fail"]), delay, int(work_s * 1000)
        return JobStatus.COMPLETED, chunks, rec.input, None, delay, int(work_s * 1000)

    def _job(self, rec: _MockJob) -> Job:
        status, _chunks, output, error, delay, execution = self._job_state(rec)
        return Job(
            id=rec.id,
            endpoint=rec.endpoint,
            provider=self.name,
            status=status,
            output=output,
            error=error,
            delay_ms=delay,
            execution_ms=execution,
            raw={"id": rec.id, "status": status.value.upper()},
        ).bind(self)

    def _get_job(self, job_id: str, endpoint: str) -> _MockJob:
        rec = self._store.jobs.get(job_id)
        if rec is None or rec.endpoint != endpoint:
            raise NotFoundError(
                f"no job {job_id!r} on endpoint {endpoint!r}", provider=self.name, status=404
            )
        return rec

    async def run_job(
        self, request: JobRequest, *, wait: bool = False, timeout: float | None = None
    ) -> Job:
        rec = _MockJob(
            id="job-" + secrets.token_urlsafe(8),
            endpoint=request.endpoint,
            input=request.input,
            submitted=time.monotonic(),
            execution_timeout_ms=request.policy.get("executionTimeout"),
        )
        with self._store.lock:
            self._store.jobs[rec.id] = rec
        job = self._job(rec)
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not job.done and (deadline is None or time.monotonic() < deadline):
                await asyncio.sleep(0.01)
                job = self._job(rec)
        return job

    async def get_job(self, job_id: str, *, endpoint: str) -> Job:
        return self._job(self._get_job(job_id, endpoint))

    async def cancel_job(self, job_id: str, *, endpoint: str) -> Job:
        rec = self._get_job(job_id, endpoint)
        if self._job_state(rec)[0] not in TERMINAL_JOB_STATUSES:
            rec.cancelled_at = time.monotonic()
        return self._job(rec)

    async def retry_job(self, job_id: str, *, endpoint: str) -> Job:
        rec = self._get_job(job_id, endpoint)
        status = self._job_state(rec)[0]
        if status not in (JobStatus.FAILED, JobStatus.TIMED_OUT):
            raise ValidationError(
                f"job {job_id} is {status.value}; only failed or timed_out jobs can be retried",
                field="job_id",
                provider=self.name,
            )
        rec.submitted, rec.cancelled_at, rec.attempts = time.monotonic(), None, rec.attempts + 1
        if isinstance(rec.input, dict):
            rec.input = {k: v for k, v in rec.input.items() if k != "fail"}
        return self._job(rec)

    async def stream_job(self, job_id: str, *, endpoint: str) -> AsyncIterator[Any]:
        rec = self._get_job(job_id, endpoint)
        sent = 0
        while True:
            status, chunks, _out, error, *_ = self._job_state(rec)
            for chunk in chunks[sent:]:
                yield chunk
            sent = max(sent, len(chunks))
            if status in FAILED_JOB_STATUSES:
                raise JobFailedError(
                    f"job {job_id} ended {status.value}" + (f": {error}" if error else ""),
                    provider=self.name,
                    job=self._job(rec),
                )
            if status in TERMINAL_JOB_STATUSES:
                return
            await asyncio.sleep(0.01)
