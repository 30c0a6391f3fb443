"""The fake RunPod serverless runtime (``https://api.runpod.ai/v2/{endpoint_id}/...``).

Every endpoint of the simulated account runs the echo worker: it returns its input as output
after ``sleep_ms`` real milliseconds, emits ``chunks`` stream chunks ``{"i": n}`` spread over
that time, fails with ``fail`` (every attempt, or only the first ``fail_attempts``), and times
out when the work exceeds ``policy.executionTimeout`` (or the endpoint's ``timeout``). Jobs
queue when all ``workers.max`` workers are busy; the ready echo endpoint has 400.

Routes: ``POST /run``, ``POST /runsync?wait=<ms>``, ``GET /status/{id}``, ``GET
/stream/{id}`` (returns the chunks not yet delivered), ``POST /cancel/{id}``, ``POST
/retry/{id}``, ``POST /purge-queue``, ``GET /health``. Statuses: IN_QUEUE, IN_PROGRESS,
COMPLETED, FAILED, CANCELLED, TIMED_OUT. Webhooks are delivered (POST of the final job) to
loopback URLs only. ``/stream`` honours the ``slow_stream`` (seconds before answering, one
chunk per answer) and ``malformed``/``drop`` fault knobs without losing chunks.

Real-API quirks it reproduces: ``/status`` and ``/stream`` answer ``GET`` only (a ``POST``
gets 405, as RunPod's runtime does); each endpoint takes at most 2000 ``/status`` and 2000
``/stream`` requests per 10 s (``RATE_LIMITS``; past that, 429 with ``Retry-After``), so a
client polling too eagerly is refused as it would be in the cloud.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._http import Api, FaultMiddleware, bearer_token
from .._state import SandboxState
from .faults import PeekFaults, fault_for
from .world import FakeEndpoint, FakeJob, RunPodWorld, runpod_world

FAULT_PROVIDER = "runpod_runtime"
MAX_RUN_BYTES = 10 * 1024 * 1024
MAX_RUNSYNC_BYTES = 20 * 1024 * 1024
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: route -> (requests, seconds) allowed per endpoint (RunPod's documented serverless limits)
RATE_LIMITS = {"status": (2000, 10.0), "stream": (2000, 10.0)}


class WindowCounter:
    """Requests per (endpoint, route) in fixed windows of real time; the peak is kept."""

    def __init__(self) -> None:
        self.windows: dict[tuple[str, str], tuple[int, int]] = {}
        self.peak: dict[str, int] = {}
        self.total: dict[str, int] = {}
        self.refused: dict[str, int] = {}

    def hit(self, endpoint: str, route: str) -> float | None:
        """Count one request; seconds to wait when it is over the limit (else None)."""
        limit, seconds = RATE_LIMITS[route]
        now = time.monotonic()
        window = int(now // seconds)
        seen, count = self.windows.get((endpoint, route), (window, 0))
        count = count + 1 if seen == window else 1
        self.windows[(endpoint, route)] = (window, count)
        self.peak[route] = max(self.peak.get(route, 0), count)
        self.total[route] = self.total.get(route, 0) + 1
        if count > limit:
            self.refused[route] = self.refused.get(route, 0) + 1
            return (window + 1) * seconds - now
        return None


def error_response(status: int, message: str) -> Response:
    """The runtime's error shape: ``{"error": "<message>"}``."""
    return JSONResponse({"error": message}, status_code=status)


class RuntimeProblem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _endpoint(world: RunPodWorld, request: Request) -> FakeEndpoint:
    ep = world.endpoints.get(request.path_params["endpoint_id"])
    if ep is None:
        raise RuntimeProblem(404, "endpoint not found")
    if ep.body.get("type") == "LOAD_BALANCER":
        raise RuntimeProblem(400, "load-balancing endpoints take requests on their own URL")
    return ep


def _job(world: RunPodWorld, request: Request, ep: FakeEndpoint) -> FakeJob:
    job = world.jobs.get(request.path_params["job_id"])
    if job is None or job.endpoint_id != ep.id:
        raise RuntimeProblem(404, "request does not exist")
    return job


async def _payload(request: Request, limit: int) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > limit:
        raise RuntimeProblem(413, f"request body exceeds {limit // (1024 * 1024)} MB")
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise RuntimeProblem(400, "request body is not valid JSON") from None
    if not isinstance(body, dict) or "input" not in body:
        raise RuntimeProblem(400, "the request body needs an 'input' field")
    policy = body.get("policy") or {}
    if not isinstance(policy, dict):
        raise RuntimeProblem(400, "policy must be an object")
    timeout = policy.get("executionTimeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise RuntimeProblem(400, "policy.executionTimeout must be a positive number of ms")
    return body


def _schedule_webhook(world: RunPodWorld, job: FakeJob) -> None:
    url = job.webhook
    if not url or urlsplit(url).hostname not in _LOOPBACK:
        return

    async def deliver() -> None:
        while world.job_status(job) not in TERMINAL:
            await asyncio.sleep(max(0.005, min(job.end - time.monotonic(), 1.0)))
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient(timeout=5) as client:
                await client.post(url, json=world.job_json(job))

    task = asyncio.get_running_loop().create_task(deliver())
    world.state.providers.setdefault("runpod_webhook_tasks", set()).add(task)
    task.add_done_callback(world.state.providers["runpod_webhook_tasks"].discard)


def _problem(exc: RuntimeProblem) -> Response:
    return error_response(exc.status, exc.message)


def _render(result: Any) -> Response:
    return result if isinstance(result, Response) else JSONResponse(result)


# -- the handlers ------------------------------------------------------------------------------


async def run(request: Request, world: RunPodWorld) -> Any:
    ep = _endpoint(world, request)
    job = world.submit_job(ep, await _payload(request, MAX_RUN_BYTES))
    _schedule_webhook(world, job)
    return {"id": job.id, "status": world.job_status(job)}


async def runsync(request: Request, world: RunPodWorld) -> Any:
    ep = _endpoint(world, request)
    raw_wait = request.query_params.get("wait", "90000")
    try:
        wait_ms = int(raw_wait)
    except ValueError:
        raise RuntimeProblem(400, "wait must be an integer number of ms") from None
    if not 1000 <= wait_ms <= 300_000:
        raise RuntimeProblem(400, "wait must be between 1000 and 300000 ms")
    job = world.submit_job(ep, await _payload(request, MAX_RUNSYNC_BYTES))
    _schedule_webhook(world, job)
    deadline = time.monotonic() + wait_ms / 1000.0
    while world.job_status(job) not in TERMINAL:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        until_end = job.end - time.monotonic()
        await asyncio.sleep(max(0.001, min(left, until_end if until_end > 0 else 0.01)))
    return world.job_json(job)


def _rate_counter(state: SandboxState) -> WindowCounter:
    """The sandbox's count of /status and /stream requests (kept across app builds)."""
    counter: WindowCounter = state.providers.setdefault("runpod_runtime_rates", WindowCounter())
    return counter


def _limited(world: RunPodWorld, ep: FakeEndpoint, route: str) -> Response | None:
    wait = _rate_counter(world.state).hit(ep.id, route)
    if wait is None:
        return None
    limit, seconds = RATE_LIMITS[route]
    return JSONResponse(
        {"error": f"rate limit exceeded: at most {limit} /{route} requests per {seconds:g} s"},
        status_code=429,
        headers={"retry-after": str(max(1, round(wait)))},
    )


async def status(request: Request, world: RunPodWorld) -> Any:
    ep = _endpoint(world, request)
    refused = _limited(world, ep, "status")
    if refused is not None:
        return refused
    return world.job_json(_job(world, request, ep))


async def stream(request: Request, world: RunPodWorld) -> Any:
    ep = _endpoint(world, request)
    refused = _limited(world, ep, "stream")
    if refused is not None:
        return refused
    job = _job(world, request, ep)
    rule = fault_for(request)
    if rule is not None and rule.slow_stream:
        await asyncio.sleep(rule.slow_stream)
    now = time.monotonic()
    current = world.job_status(job, now)
    produced = world.job_chunks(job, now)
    pending = produced[job.stream_sent :]
    if rule is not None and rule.slow_stream:
        pending = pending[:1]
    if rule is not None and (rule.malformed or rule.drop):
        # this answer will not arrive intact: keep the chunks for the next poll
        return {"status": current, "stream": ["\x00malformed chunk"]}
    job.stream_sent += len(pending)
    return {"status": current, "stream": [{"output": chunk} for chunk in pending]}


async def cancel(request: Request, world: RunPodWorld) -> Any:
    ep = _endpoint(world, request)
    job = _job(world, request, ep)
    if world.job_status(job) not in TERMINAL:
        job.cancelled_at = time.monotonic()
    return {"id": job.id, "status": world.job_status(job)}


async def retry(request: Request, world: RunPodWorld) -> Any:
    ep = _endpoint(world, request)
    job = _job(world, request, ep)
    current = world.job_status(job)
    if current not in ("FAILED", "TIMED_OUT"):
        raise RuntimeProblem(400, f"only FAILED or TIMED_OUT jobs can be retried (is {current})")
    world.retry_job(job)
    _schedule_webhook(world, world.jobs[job.id])
    return {"id": job.id, "status": world.job_status(world.jobs[job.id])}


async def purge(request: Request, world: RunPodWorld) -> Any:
    ep = _endpoint(world, request)
    now = time.monotonic()
    queued = [
        j
        for j in world.jobs.values()
        if j.endpoint_id == ep.id and world.job_status(j, now) == "IN_QUEUE"
    ]
    for job in queued:
        del world.jobs[job.id]
    return {"removed": len(queued), "status": "completed"}


async def health(request: Request, world: RunPodWorld) -> Any:
    ep = _endpoint(world, request)
    now = time.monotonic()
    counts = {s: 0 for s in ("IN_QUEUE", "IN_PROGRESS", *TERMINAL)}
    retried = 0
    for job in world.jobs.values():
        if job.endpoint_id == ep.id:
            counts[world.job_status(job, now)] += 1
            retried += job.retried
    running = min(counts["IN_PROGRESS"], ep.max_workers)
    ready = ep.body["workers"].get("min", 0)
    return {
        "jobs": {
            "completed": counts["COMPLETED"],
            "failed": counts["FAILED"] + counts["TIMED_OUT"],
            "inProgress": counts["IN_PROGRESS"],
            "inQueue": counts["IN_QUEUE"],
            "retried": retried,
        },
        "workers": {
            "idle": max(0, ready - running),
            "initializing": 0,
            "ready": max(ready, running),
            "running": running,
            "throttled": 0,
            "unhealthy": 0,
        },
    }


def build_app(state: SandboxState) -> PeekFaults:
    """The runtime ASGI app, wrapped in the fault middleware (provider ``runpod_runtime``)."""
    world = runpod_world(state)
    _rate_counter(state)

    def authorize(request: Request) -> Response | None:
        if bearer_token(request) != state.api_keys["runpod"]:
            return error_response(401, "Unauthorized")
        return None

    api: Api[RunPodWorld, Any, RuntimeProblem] = Api(
        world, authorize, RuntimeProblem, _problem, _render
    )
    base = "/v2/{endpoint_id}"
    routes = [
        Route(base + "/run", api(run), methods=["POST"]),
        Route(base + "/runsync", api(runsync), methods=["POST"]),
        Route(base + "/status/{job_id}", api(status), methods=["GET"]),
        Route(base + "/stream/{job_id}", api(stream), methods=["GET"]),
        Route(base + "/cancel/{job_id}", api(cancel), methods=["POST"]),
        Route(base + "/retry/{job_id}", api(retry), methods=["POST"]),
        Route(base + "/purge-queue", api(purge), methods=["POST"]),
        Route(base + "/health", api(health), methods=["GET"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, str(exc.detail))

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return PeekFaults(
        FaultMiddleware(app, state, FAULT_PROVIDER, error_response), state, FAULT_PROVIDER
    )


__all__ = ["build_app", "error_response"]
