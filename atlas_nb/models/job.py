"""Serverless job requests and jobs. A ``Job`` knows its endpoint and provider."""

from __future__ import annotations

import html
import json
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from pydantic import Field

from .._deprecated import renamed_method
from .._runtime import run_sync
from ._base import Model, ProviderBound

if TYPE_CHECKING:
    pass


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_JOB_STATUSES


#: The one definition of "this job is over" used by wait, stream and every provider.
TERMINAL_JOB_STATUSES = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.TIMED_OUT}
)
#: Terminal statuses that are failures (streams raise ``JobFailedError`` on these).
FAILED_JOB_STATUSES = TERMINAL_JOB_STATUSES - {JobStatus.COMPLETED}


#: a job's input: any JSON value the endpoint's handler accepts (RunPod sends it as ``input``)
JobInput: TypeAlias = Any


class JobRequest(Model):
    """A job to run on a serverless endpoint."""

    endpoint: str = Field(min_length=1)
    input: JobInput
    webhook: str | None = None
    policy: dict[str, Any] = Field(default_factory=dict)
    provider_opts: dict[str, Any] = Field(default_factory=dict)


class Job(ProviderBound):
    """A serverless job. ``refresh()``, ``wait()``, ``cancel()``, ``retry()`` and ``stream()``
    need nothing else: the job carries its endpoint and provider. Awaitable twins have an ``a``
    prefix: ``arefresh()``, ``await_()`` (``await`` is a keyword, hence PEP 8's trailing
    underscore), ``acancel()``, ``aretry()``.
    """

    id: str
    endpoint: str
    provider: str
    status: JobStatus = JobStatus.QUEUED
    output: Any = None
    error: Any = None
    delay_ms: int | None = None
    execution_ms: int | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES

    async def arefresh(self) -> Job:
        from ..core import jobs

        return await jobs.job(self.id, endpoint=self.endpoint, provider=self._prov())

    async def await_(self, timeout: float | None = None) -> Job:
        from ..core import jobs

        return await jobs.wait(self, timeout=timeout)

    async def acancel(self) -> Job:
        from ..core import jobs

        return await jobs.cancel_job(self.id, endpoint=self.endpoint, provider=self._prov())

    async def aretry(self) -> Job:
        from ..core import jobs

        return await jobs.retry_job(self.id, endpoint=self.endpoint, provider=self._prov())

    # deprecated names (one release): the rule is an ``a`` prefix
    refresh_async: ClassVar[Any] = renamed_method("refresh_async", "arefresh")
    wait_async: ClassVar[Any] = renamed_method("wait_async", "await_")
    cancel_async: ClassVar[Any] = renamed_method("cancel_async", "acancel")
    retry_async: ClassVar[Any] = renamed_method("retry_async", "aretry")

    def refresh(self) -> Job:
        """The job's current state (a new object)."""
        return run_sync(self.arefresh())

    def wait(self, timeout: float | None = None) -> Job:
        """Poll with backoff until the job is over; ``AtlasTimeoutError`` after ``timeout``."""
        return run_sync(self.await_(timeout))

    def cancel(self) -> Job:
        return run_sync(self.acancel())

    def retry(self) -> Job:
        """Re-run a failed or timed-out job."""
        return run_sync(self.aretry())

    def stream(self) -> Any:
        """The job's :class:`~atlas_nb.jobstream.JobStream`: chunks as they are produced, each
        exactly once; iterate it with ``for`` or ``async for``, or display it in a notebook."""
        from ..core import jobs

        return jobs.stream_job(self.id, endpoint=self.endpoint, provider=self._prov())

    def _repr_html_(self) -> str:
        out = json.dumps(self.output, default=str)
        if len(out) > 400:
            out = out[:400] + "…"
        rows = [
            ("id", self.id),
            ("endpoint", self.endpoint),
            ("provider", self.provider),
            ("status", self.status.value),
            ("delay", f"{self.delay_ms} ms" if self.delay_ms is not None else "-"),
            ("execution", f"{self.execution_ms} ms" if self.execution_ms is not None else "-"),
            ("output", out),
        ]
        if self.error:
            rows.append(("error", str(self.error)))
        body = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
            f"<td style='text-align:left'><code>{html.escape(v)}</code></td></tr>"
            for k, v in rows
        )
        return f"<div class='atlas-job'><b>Job</b><table>{body}</table></div>"
