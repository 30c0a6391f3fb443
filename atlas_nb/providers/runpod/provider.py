"""``RunPodProvider``: pods, serverless jobs, catalogue, offers, billing and pod logs on RunPod.

Speaks REST v2 (``https://api.runpod.io/v2/...``), the serverless runtime
(``https://api.runpod.ai/v2/{endpoint}``) and, only where v2 has no equivalent (spot prices,
renting spot pods), the legacy GraphQL API. The API key travels in the ``Authorization``
header on all three; never in a URL.

    >>> import atlas_nb as atlas
    >>> sorted(atlas.capabilities("runpod"))[:4]
    ['global_networking', 'gpu_types', 'http_proxy', 'logs']
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ...errors import AtlasError, NotFoundError
from ...models import Compute, ComputeRequest, ComputeStatus, GpuType, Job, JobRequest, LogEntry
from ...transport.http import HttpApi
from .._parse import reading, reads
from ..base import OfferQuery, OfferRow, Provider
from ..created import read_back
from . import billing as billing_mod
from . import catalog, logs
from .graphql import GraphQLClient
from .jobs import JobsApi, runsync_wait_s
from .management import RESOURCES
from .pods import PodsApi
from .translate import (
    PROVIDER,
    compute_fields,
    job_fields,
    run_body,
    status_filter,
    update_pod_body,
)

if TYPE_CHECKING:
    import pandas as pd
else:
    from ..._lazy import pandas as pd

RUNTIME_TIMEOUT_S = 120.0


class RunPodProvider(Provider):
    """RunPod (REST v2 + serverless runtime + GraphQL where v2 has no equivalent)."""

    name = "runpod"
    display_name = "RunPod"
    CAPABILITIES = frozenset(
        {
            "spot",
            "serverless",
            "network_volumes",
            "http_proxy",
            "raw_tcp",
            "webhooks",
            "global_networking",
            "stop_start",
            "restart",
            "logs",
            "gpu_types",
            "offers",
            "pod_guard",
        }
    )

    # -- clients (built on first use, so a missing key fails only when needed) ----------------
    @functools.cached_property
    def rest(self) -> HttpApi:
        # capacity is told from the catalogue after a 400, never from its wording (see .pods)
        return self.http_api("rest", "runpod_rest", auth_headers=self.bearer_headers)

    @functools.cached_property
    def runtime(self) -> HttpApi:
        timeout = max(self.settings.timeout_s, RUNTIME_TIMEOUT_S)
        return self.http_api(
            "runtime", "runpod_runtime", auth_headers=self.bearer_headers, timeout=timeout
        )

    @functools.cached_property
    def graphql(self) -> GraphQLClient:
        return GraphQLClient(
            self.http_api("graphql", "runpod_graphql", auth_headers=self.bearer_headers)
        )

    @functools.cached_property
    def pods(self) -> PodsApi:
        return PodsApi(self.rest, self.graphql)

    @functools.cached_property
    def jobs(self) -> JobsApi:
        return JobsApi(self.runtime)

    def _compute(self, pod: Mapping[str, Any], auth: Any = None) -> Compute:
        with reading(self.name, "a pod", pod):
            return Compute(**compute_fields(pod), auth=auth).bind(self)

    def _job(self, body: Mapping[str, Any], endpoint: str) -> Job:
        with reading(self.name, "a job", body):
            return Job(**job_fields(body, endpoint)).bind(self)

    # -- pods --------------------------------------------------------------------------------
    async def spawn(self, request: ComputeRequest) -> Compute:
        """Create a pod (``request.offer_id`` launches exactly that offer)."""
        request.require_image("RunPod")
        pod, handle = await self.pods.create(request)
        try:
            return self._compute(pod, handle)
        except (AtlasError, ValueError, KeyError, TypeError):  # accepted, but not readable
            compute = await read_back(PROVIDER, str(pod["id"]), request.name, self.get, auth=handle)
            return compute.model_copy(update={"auth": handle}) if handle else compute

    @reads("a pod")
    async def get(self, compute_id: str) -> Compute:
        return self._compute(await self.pods.get(compute_id))

    @reads("the pod list")
    async def list_computes(
        self,
        *,
        status: ComputeStatus | None = None,
        name: str | None = None,
        gpu: str | None = None,
        region: str | None = None,
        image: str | None = None,
    ) -> list[Compute]:
        """Pods, filtered here (the v2 list has no filters): status, name, gpu, region, image."""
        out = [self._compute(p) for p in await self.pods.list()]
        if status is not None:
            wanted = status_filter(status)
            out = [c for c in out if (c.provider_status or "") in wanted or c.status == status]
        if name is not None:
            out = [c for c in out if c.name == name]
        if gpu is not None:
            from .translate import canonical_gpu, gpu_type_id

            want = canonical_gpu(gpu_type_id(gpu))
            out = [c for c in out if c.gpu == want]
        if region is not None:
            out = [c for c in out if c.region == region]
        if image is not None:
            out = [c for c in out if c.image == image]
        return out

    async def start(self, compute_id: str) -> Compute:
        return self._compute(await self._action(compute_id, "start"))

    async def stop(self, compute_id: str) -> Compute:
        return self._compute(await self._action(compute_id, "stop"))

    async def restart(self, compute_id: str) -> Compute:
        return self._compute(await self._action(compute_id, "restart"))

    @reads("a pod action")
    async def _action(self, compute_id: str, action: str) -> dict[str, Any]:
        pod = await self.pods.action(compute_id, action)
        return pod if pod is not None else await self.pods.get(compute_id)

    @reads("a pod delete")
    async def terminate(self, compute_id: str) -> None:
        await self.pods.delete(compute_id)

    @reads("a pod update")
    async def update(self, compute_id: str, **fields: Any) -> Compute:
        """Change a pod (name, image, env, ports, disk_gb, locked, ...; PATCH semantics)."""
        return self._compute(await self.pods.update(compute_id, update_pod_body(fields)))

    def logs(self, compute_id: str) -> AsyncIterator[list[LogEntry]]:
        """Follow the pod's log stream (resumes after drops, ends when the pod is gone)."""

        async def gone() -> bool:
            try:
                pod = await self.get(compute_id)  # a bad body is a ProviderError here too
            except NotFoundError:
                return True
            return pod.provider_status == "TERMINATED"

        return logs.follow(self.rest, compute_id, is_gone=gone)

    # -- catalogue ---------------------------------------------------------------------------
    @reads("the GPU catalogue", models=True)
    async def gpu_types(self) -> list[GpuType]:
        return await catalog.gpu_types(self.rest, self.graphql, datetime.now(UTC))

    @reads("the GPU catalogue")
    async def offers(self, query: OfferQuery) -> list[OfferRow]:
        return await catalog.offers(self.rest, self.graphql, query, datetime.now(UTC))

    # -- serverless jobs -------------------------------------------------------------------
    @reads("a job submit")
    async def run_job(
        self, request: JobRequest, *, wait: bool = False, timeout: float | None = None
    ) -> Job:
        """``/run`` (async), or with ``wait`` ``/runsync?wait=`` (the caller polls the rest)."""
        body = run_body(
            request.input,
            webhook=request.webhook,
            policy=request.policy,
            opts=request.provider_opts,
        )
        wait_s = runsync_wait_s(timeout) if wait else None
        if wait_s is None:
            result = await self.jobs.run(request.endpoint, body)
        else:
            result = await self.jobs.runsync(request.endpoint, body, wait_s)
        return self._job(result, request.endpoint)

    @reads("a job status")
    async def get_job(self, job_id: str, *, endpoint: str) -> Job:
        return self._job(await self.jobs.status(endpoint, job_id), endpoint)

    @reads("a job cancel")
    async def cancel_job(self, job_id: str, *, endpoint: str) -> Job:
        await self.jobs.cancel(endpoint, job_id)
        return await self.get_job(job_id, endpoint=endpoint)

    @reads("a job retry")
    async def retry_job(self, job_id: str, *, endpoint: str) -> Job:
        await self.jobs.retry(endpoint, job_id)
        return await self.get_job(job_id, endpoint=endpoint)

    def stream_job(self, job_id: str, *, endpoint: str) -> AsyncIterator[Any]:
        return self.jobs.stream(endpoint, job_id, final_job=lambda b: self._job(b, endpoint))

    @reads("a queue purge")
    async def purge_queue(self, endpoint: str) -> dict[str, Any]:
        """Remove the endpoint's queued jobs; ``{"removed": n, "status": ...}``."""
        return await self.jobs.purge_queue(endpoint)

    @reads("an endpoint health check")
    async def health(self, endpoint: str) -> dict[str, Any]:
        """Job and worker counts of an endpoint."""
        return await self.jobs.health(endpoint)

    # -- account resources and billing -------------------------------------------------------
    @reads("a resource list")
    async def resource_list(self, kind: str) -> pd.DataFrame:
        return await RESOURCES[kind].list(self.rest)

    @reads("a resource")
    async def resource_get(self, kind: str, resource_id: str) -> dict[str, Any]:
        return await RESOURCES[kind].get(self.rest, resource_id)

    @reads("a resource create")
    async def resource_create(self, kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await RESOURCES[kind].create(self.rest, body)

    @reads("a resource update")
    async def resource_update(
        self, kind: str, resource_id: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        return await RESOURCES[kind].update(self.rest, resource_id, body)

    @reads("a resource delete")
    async def resource_delete(self, kind: str, resource_id: str) -> None:
        await RESOURCES[kind].delete(self.rest, resource_id)

    @reads("a billing report")
    async def billing(self, kind: str, **query: Any) -> pd.DataFrame:
        """Billing of ``pods``, ``serverless`` or ``network_volumes`` as a DataFrame."""
        return await billing_mod.fetch(self.rest, kind, **query)
