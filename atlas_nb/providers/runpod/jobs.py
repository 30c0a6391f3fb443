"""RunPod serverless jobs over the runtime API (``https://api.runpod.ai/v2/{endpoint}/...``).

Submitting (``/run``, ``/runsync``) is never retried blindly. :meth:`JobsApi.stream` polls
``/stream/{id}`` with backoff, yields every chunk once and in order, ends after a terminal
status, and raises ``JobFailedError`` when the job failed, was cancelled or timed out.

Polling stays under RunPod's limit of 2000 ``/stream`` requests per 10 s per endpoint however
many streams run: each stream polls every 20 ms while chunks flow and backs off to 1 s when
idle (halving its delay after a batch, never snapping back to 20 ms), all streams of one
endpoint share a :class:`PollPacer` of :data:`STREAM_POLLS_PER_S`, and a 429 waits for its
``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ..._runtime import get_runtime
from ...errors import (
    AtlasError,
    AtlasTimeoutError,
    JobFailedError,
    ProviderError,
    RateLimitedError,
    TransportError,
)
from ...models.job import FAILED_JOB_STATUSES, TERMINAL_JOB_STATUSES
from ...transport.http import HttpApi
from ...transport.paths import segment
from .._parse import reads
from .translate import PROVIDER, job_status

log = logging.getLogger("atlas_nb.runpod.jobs")

#: how long /runsync may hold the request (the API accepts 1 s - 300 s, default 90 s)
RUNSYNC_MIN_S = 1.0
RUNSYNC_MAX_S = 300.0
RUNSYNC_DEFAULT_S = 90.0
#: consecutive unreadable /stream answers tolerated before giving up
STREAM_MAX_BAD = 6
#: a stream's poll delay: fastest while chunks flow, slowest when idle
STREAM_MIN_DELAY_S = 0.02
STREAM_MAX_DELAY_S = 1.0
#: /stream polls per second shared by every stream of one endpoint (RunPod allows 200/s:
#: 2000 per 10 s; this leaves room for /status, /run and other clients of the same key)
STREAM_POLLS_PER_S = 150.0


class PollPacer:
    """Spaces calls at least ``1 / per_second`` apart, however many tasks share it.

    >>> import asyncio
    >>> pacer = PollPacer(per_second=1000.0)
    >>> async def three():
    ...     for _ in range(3):
    ...         await pacer.wait()
    >>> asyncio.run(three())
    >>> pacer.calls
    3
    """

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self.next_at = 0.0
        self.calls = 0

    async def wait(self) -> None:
        now = time.monotonic()
        at = max(now, self.next_at)
        self.next_at = at + self.interval
        self.calls += 1
        if at > now:
            await asyncio.sleep(at - now)


def next_delay(delay: float, got_chunks: bool) -> float:
    """A stream's next poll delay: halve it after chunks, grow it by half when idle.

    >>> round(next_delay(1.0, True), 3), round(next_delay(0.02, False), 3), next_delay(0.9, False)
    (0.5, 0.03, 1.0)
    """
    if got_chunks:
        return max(STREAM_MIN_DELAY_S, delay / 2)
    return min(delay * 1.5, STREAM_MAX_DELAY_S)


def endpoint_path(endpoint: str, *parts: str) -> str:
    """``/{endpoint}/{parts...}`` with every segment checked and escaped (the endpoint id and
    a job id can never change the path).

    >>> endpoint_path("vllm-a1b2c3", "status", "job-1")
    '/vllm-a1b2c3/status/job-1'
    """
    first = segment(endpoint, "runpod_endpoint", field="endpoint")
    return "/" + "/".join([first, *(segment(p, "runpod_job", field="job_id") for p in parts)])


def runsync_wait_s(timeout: float | None) -> float | None:
    """Seconds to ask ``/runsync`` to wait for, or None when ``/run`` + polling fits better.

    >>> runsync_wait_s(None), runsync_wait_s(30), runsync_wait_s(0.5), runsync_wait_s(900)
    (90.0, 30, None, 300.0)
    """
    if timeout is None:
        return RUNSYNC_DEFAULT_S
    if timeout < RUNSYNC_MIN_S:
        return None
    return min(timeout, RUNSYNC_MAX_S)


class JobsApi:
    """Job calls on one runtime client."""

    def __init__(self, runtime: HttpApi) -> None:
        self.runtime = runtime

    async def run(self, endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(
            await self.runtime.json(
                "POST",
                endpoint_path(endpoint, "run"),
                json=dict(body),
                idempotent=False,
                what="run job",
            )
        )

    async def runsync(
        self, endpoint: str, body: Mapping[str, Any], wait_s: float
    ) -> dict[str, Any]:
        """``/runsync?wait=<ms>``: the job, finished or not when the wait ran out."""
        return dict(
            await self.runtime.json(
                "POST",
                endpoint_path(endpoint, "runsync"),
                json=dict(body),
                params={"wait": int(wait_s * 1000)},
                idempotent=False,
                what="run job",
                timeout=wait_s + max(self.runtime.timeout, 10.0),
            )
        )

    @reads("a job status", provider=PROVIDER)
    async def status(self, endpoint: str, job_id: str) -> dict[str, Any]:
        return dict(await self.runtime.json("GET", endpoint_path(endpoint, "status", job_id)))

    async def cancel(self, endpoint: str, job_id: str) -> dict[str, Any]:
        return dict(
            await self.runtime.json(
                "POST", endpoint_path(endpoint, "cancel", job_id), idempotent=True
            )
        )

    async def retry(self, endpoint: str, job_id: str) -> dict[str, Any]:
        return dict(
            await self.runtime.json(
                "POST",
                endpoint_path(endpoint, "retry", job_id),
                idempotent=False,
                what="retry job",
            )
        )

    async def purge_queue(self, endpoint: str) -> dict[str, Any]:
        return dict(
            await self.runtime.json("POST", endpoint_path(endpoint, "purge-queue"), idempotent=True)
        )

    async def health(self, endpoint: str) -> dict[str, Any]:
        return dict(await self.runtime.json("GET", endpoint_path(endpoint, "health")))

    async def stream(
        self, endpoint: str, job_id: str, *, final_job: Any = None
    ) -> AsyncIterator[Any]:
        """Every chunk's ``output`` once, in order; ends after a terminal status.

        ``final_job(body)`` builds the Job given to ``JobFailedError``.
        """
        path = endpoint_path(endpoint, "stream", job_id)
        pacers: dict[tuple[str, str], PollPacer] = get_runtime().service(
            "runpod-stream-pacers", dict
        )
        pacer = pacers.setdefault((self.runtime.base_url, endpoint), PollPacer(STREAM_POLLS_PER_S))
        delay = STREAM_MIN_DELAY_S
        bad = 0
        while True:
            await pacer.wait()
            try:
                body = await self.runtime.json("GET", path)
            except RateLimitedError as exc:  # RunPod said slow down: wait as long as it asks
                delay = STREAM_MAX_DELAY_S
                await asyncio.sleep(max(exc.retry_after_s or 0.0, STREAM_MAX_DELAY_S))
                continue
            except (TransportError, AtlasTimeoutError) as exc:
                body, reason = None, str(exc)
            else:
                reason = "the answer was not a stream object"
            items = body.get("stream") if isinstance(body, Mapping) else None
            if not isinstance(body, Mapping) or not isinstance(items or [], list):
                bad += 1
                if bad >= STREAM_MAX_BAD:
                    raise ProviderError(
                        f"job {job_id}: {bad} unreadable /stream answers in a row ({reason})",
                        provider=PROVIDER,
                        raw=body,
                        hint="Retry job.stream() later, or wait for the job and read its output.",
                    )
                await asyncio.sleep(min(0.02 * 2**bad, 1.0))
                continue
            bad = 0
            chunks = items or []
            for item in chunks:
                if isinstance(item, Mapping) and "output" in item:
                    yield item["output"]
                else:
                    log.warning("job %s: skipped a malformed stream item", job_id)
            status = job_status(body.get("status"))
            if not chunks and status in TERMINAL_JOB_STATUSES:
                if status in FAILED_JOB_STATUSES:
                    final = await self.status(endpoint, job_id)
                    job = final_job(final) if final_job else final
                    error = final.get("error")
                    raise JobFailedError(
                        f"job {job_id} ended {status.value}" + (f": {error}" if error else ""),
                        provider=PROVIDER,
                        job=job,
                        raw=final,
                    )
                return
            delay = next_delay(delay, bool(chunks))
            await asyncio.sleep(delay)


__all__ = ["AtlasError", "JobsApi", "endpoint_path", "runsync_wait_s"]
