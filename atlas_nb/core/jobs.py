"""Serverless jobs: run, look up, wait, cancel, retry and stream.

>>> import atlas_nb as atlas
>>> job = atlas.run_job("echo", {"prompt": "hi", "chunks": 2, "sleep_ms": 50},
...                     provider="mock")
>>> [chunk for chunk in job.stream()]
[{'i': 0}, {'i': 1}]
>>> job.wait().status.value
'completed'
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .._runtime import on_runtime
from ..errors import AtlasTimeoutError
from ..jobstream import JobStream
from ..models import Job, JobRequest
from ..models.job import TERMINAL_JOB_STATUSES, JobInput
from ..providers.registry import ProviderLike, get_provider


@on_runtime
async def run_job(
    endpoint: str,
    input: JobInput,
    *,
    provider: ProviderLike | None = None,
    api_key: str | None = None,
    wait: bool = False,
    timeout: float | None = None,
    webhook: str | None = None,
    policy: Mapping[str, Any] | None = None,
    provider_opts: Mapping[str, Any] | None = None,
) -> Job:
    """Submit a job. ``wait=True`` waits for a terminal status (up to ``timeout`` seconds).

    A job is never submitted twice by a retry: a failed submit raises, so you decide.
    """
    req = JobRequest(
        endpoint=endpoint,
        input=input,
        webhook=webhook,
        policy=dict(policy or {}),
        provider_opts=dict(provider_opts or {}),
    )
    prov = get_provider(provider, api_key=api_key)
    started = time.monotonic()
    job = await prov.run_job(req, wait=wait, timeout=timeout)
    if wait and not job.done:
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        waited = 0.0 if timeout is None or left is None else timeout - left
        job = await wait_for(job, timeout=left, waited_before=waited)
    return job


@on_runtime
async def job(
    job_id: str,
    *,
    endpoint: str,
    provider: ProviderLike | None = None,
    api_key: str | None = None,
) -> Job:
    """A job's current state."""
    return await get_provider(provider, api_key=api_key).get_job(job_id, endpoint=endpoint)


@on_runtime
async def cancel_job(
    job_id: str,
    *,
    endpoint: str,
    provider: ProviderLike | None = None,
    api_key: str | None = None,
) -> Job:
    """Cancel a queued or running job."""
    return await get_provider(provider, api_key=api_key).cancel_job(job_id, endpoint=endpoint)


@on_runtime
async def retry_job(
    job_id: str,
    *,
    endpoint: str,
    provider: ProviderLike | None = None,
    api_key: str | None = None,
) -> Job:
    """Re-run a failed or timed-out job (same id)."""
    return await get_provider(provider, api_key=api_key).retry_job(job_id, endpoint=endpoint)


@on_runtime
async def wait_for(job: Job, *, timeout: float | None = None, waited_before: float = 0.0) -> Job:
    """Poll with backoff until ``job`` reaches a terminal status or ``timeout`` passes.

    ``waited_before`` (seconds already spent, e.g. in runsync) only makes the message exact.
    """
    prov = job.bound_provider or get_provider(job.provider)
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.05
    current = job
    while current.status not in TERMINAL_JOB_STATUSES:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise AtlasTimeoutError(
                f"job {job.id} is still {current.status.value} after "
                f"{(timeout or 0) + waited_before:g} s",
                provider=job.provider,
                hint="It keeps running: call job.wait() again, or job.cancel().",
            )
        await asyncio.sleep(delay if left is None else min(delay, left))
        delay = min(delay * 1.5, 2.0)
        current = await prov.get_job(job.id, endpoint=job.endpoint)
    return current


#: ``Job.wait`` calls this name
wait = wait_for


def stream_job(
    job_id: str,
    *,
    endpoint: str,
    provider: ProviderLike | None = None,
    api_key: str | None = None,
) -> JobStream:
    """Every chunk a job produces, exactly once and in order; ends after a terminal status.

    Raises ``JobFailedError`` when the job ends failed, cancelled or timed out. Works with
    ``for`` and ``async for``; in a notebook it displays the chunks live.
    """
    prov = get_provider(provider, api_key=api_key)

    def source() -> AsyncIterator[Any]:
        return prov.stream_job(job_id, endpoint=endpoint)

    return JobStream(source, job_id=job_id, endpoint=endpoint, provider=prov)
