"""``LambdaProvider``: Lambda Cloud GPU instances over ``https://cloud.lambda.ai/api/v1``.

Lambda cannot stop or start an instance, only terminate it; every answer comes in a
``{"data": ...}`` envelope.

    >>> import atlas_nb as atlas
    >>> sorted(atlas.capabilities("lambda"))
    ['gpu_types', 'offers', 'raw_tcp', 'restart', 'symmetric_ports']
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from ...auth import auth_material
from ...errors import (
    CapacityError,
    ProviderError,
    QuotaExceededError,
    UnsupportedError,
    ValidationError,
)
from ...gpus import to_canonical
from ...models import Compute, ComputeRequest, ComputeStatus, GpuType
from ...transport.http import HttpApi
from ...transport.paths import segment
from .._parse import reading, reads
from ..base import OfferQuery, OfferRow, Provider, select_computes
from ..created import created_id, read_back, submit_create
from .account import choose_ssh_key
from .catalog import (
    capacity_message,
    choose_instance,
    gpu_types_from_catalogue,
    offer_rows,
    regions_with_capacity,
)
from .firewall import ensure_ports_ruleset
from .launch import OPTS, launch_body
from .pacing import paced_launch
from .translate import instance_fields


class LambdaProvider(Provider):
    """Lambda Cloud GPU instances (terminate only: Lambda has no stop/start)."""

    name = "lambda"
    display_name = "Lambda"
    CAPABILITIES = frozenset({"raw_tcp", "symmetric_ports", "restart", "gpu_types", "offers"})
    UNSUPPORTED_HINTS: ClassVar[Mapping[str, str]] = {
        "stop": "Lambda can only terminate instances (it has no stop/start). Terminate it and "
        "spawn again later; keep data on a Lambda file system "
        "(provider_opts={'file_systems': ['name']}).",
        "start": "Lambda can only terminate instances (it has no stop/start); spawn a new one.",
        "logs": "Lambda has no log API; read logs over SSH on the instance.",
    }

    #: seconds between two launches (Lambda allows one per 12 s); tests and the sandbox shrink it
    launch_interval_s: ClassVar[float] = 12.0
    #: how often a launch answered with HTTP 429 is tried again
    launch_retries: ClassVar[int] = 3

    @functools.cached_property
    def api(self) -> HttpApi:
        return self.http_api("rest", "lambda", auth_headers=self.bearer_headers)

    async def data(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request to Lambda's API; the ``data`` of its answer (Lambda wraps every answer
        in ``{"data": ...}``)."""
        body = await self.api.json(method, path, **kwargs)
        if not isinstance(body, Mapping) or "data" not in body:
            raise ProviderError(
                f"Lambda answered {method} {path} without a 'data' envelope",
                provider=self.name,
                raw=body,
            )
        return body["data"]

    # -- catalogue ---------------------------------------------------------------------------
    @reads("the instance-type catalogue")
    async def instance_types(self) -> dict[str, Any]:
        """The raw ``GET /instance-types`` data (type name → type and regions with capacity)."""
        data = await self.data("GET", "/instance-types")
        return dict(data)

    @reads("the instance-type catalogue", models=True)
    async def gpu_types(self) -> list[GpuType]:
        return gpu_types_from_catalogue(await self.instance_types(), datetime.now(UTC))

    @reads("the instance-type catalogue")
    async def offers(self, query: OfferQuery) -> list[OfferRow]:
        if query.get("spot"):
            return []  # Lambda has no spot instances
        rows = offer_rows(await self.instance_types(), datetime.now(UTC))
        gpu = query.get("gpu")
        if gpu:
            want = to_canonical(gpu)
            rows = [r for r in rows if r["gpu"] == want or r["native_id"] == gpu]
        regions = set(query.get("regions") or ())
        if regions:
            rows = [r for r in rows if r["region"] in regions]
        return rows

    # -- computes ----------------------------------------------------------------------------
    def _compute(self, data: Mapping[str, Any]) -> Compute:
        with reading(self.name, "an instance", data):
            return Compute(provider=self.name, **instance_fields(data)).bind(self)

    @reads("an instance")
    async def get(self, compute_id: str) -> Compute:
        return self._compute(await self.data("GET", f"/instances/{segment(compute_id, 'lambda')}"))

    @reads("the instance list")
    async def list_computes(
        self, *, status: ComputeStatus | None = None, name: str | None = None
    ) -> list[Compute]:
        items = [self._compute(d) for d in await self.data("GET", "/instances")]
        gone = (ComputeStatus.TERMINATING, ComputeStatus.TERMINATED)
        return select_computes(items, status=status, name=name, hidden=gone)

    @reads("an instance restart")
    async def restart(self, compute_id: str) -> Compute:
        data = await self.data(
            "POST",
            "/instance-operations/restart",
            json={"instance_ids": [segment(compute_id, "lambda")]},
            idempotent=True,
        )
        return self._compute(data["restarted_instances"][0])

    @reads("an instance terminate")
    async def terminate(self, compute_id: str) -> None:
        await self.data(
            "POST",
            "/instance-operations/terminate",
            json={"instance_ids": [segment(compute_id, "lambda")]},
            idempotent=True,
        )

    async def spawn(self, request: ComputeRequest) -> Compute:
        opts = dict(request.provider_opts)
        self.check_opts(opts, OPTS)
        if request.template:
            raise ValidationError(
                "Lambda has no templates",
                field="template",
                hint="Pass image= (a container run on boot), or nothing for the plain VM "
                "(provider_opts={'image': {'family': ...}} picks the VM image).",
            )
        self._refuse_what_lambda_lacks(request)
        catalogue = await self.instance_types()
        type_name, region = self._choose(request, opts, catalogue)
        key_name = await self._ssh_key_name(opts.get("ssh_key"))
        env, handle = auth_material(request.auth)
        body = launch_body(request, opts, type_name, region, key_name, {**request.env, **env})
        if request.ports and "firewall_rulesets" not in body:
            ruleset = await ensure_ports_ruleset(self.data, region, [p.port for p in request.ports])
            body["firewall_rulesets"] = [{"id": ruleset}]
        try:
            data = await submit_create(self.name, request.name, self._launch(body), auth=handle)
        except QuotaExceededError:
            raise
        except CapacityError as exc:
            regions = regions_with_capacity(await self.instance_types(), type_name)
            raise CapacityError(
                capacity_message(type_name, [region], regions),
                provider=self.name,
                status=exc.status,
                code=exc.code,
                raw=exc.raw,
            ) from None
        iid = created_id(
            data, "instance_ids", 0, provider=self.name, name=request.name, auth=handle
        )
        compute = await read_back(self.name, iid, request.name, self.get, auth=handle)
        return compute.model_copy(update={"auth": handle}) if handle else compute

    def _refuse_what_lambda_lacks(self, request: ComputeRequest) -> None:
        """Inputs Lambda cannot honour are refused (never silently dropped)."""
        if request.spot:
            raise UnsupportedError(
                "Lambda has no spot (interruptible) instances",
                provider=self.name,
                hint="Drop spot=True, or use provider='vast' or 'runpod' for spot GPUs.",
            )
        self.refuse_volume(
            request.volume_gb,
            "Keep data on a Lambda file system: create one with "
            "atlas_nb.providers.lambda_cloud.create_file_system(name, region) and pass "
            "provider_opts={'file_systems': [name]}.",
        )
        if request.disk_gb:
            raise ValidationError(
                "Lambda instance types come with fixed local storage",
                field="disk_gb",
                hint="Drop disk_gb; atlas.gpu_types(provider='lambda') shows each type's storage "
                "(or use a file system for more).",
            )
        if request.cloud == "community":
            raise ValidationError(
                "Lambda runs its own data centres only (no community cloud)",
                field="cloud",
                hint="Drop cloud=, or use provider='vast' or 'runpod' for community GPUs.",
            )

    def _choose(
        self, request: ComputeRequest, opts: Mapping[str, Any], catalogue: Mapping[str, Any]
    ) -> tuple[str, str]:
        """(instance type, region) for a request: the offer, or the cheapest with capacity."""
        return choose_instance(request, opts, catalogue)

    async def _ssh_key_name(self, wanted: Any) -> str:
        keys = await self.data("GET", "/ssh-keys")
        return choose_ssh_key(keys, wanted or self.settings.lambda_ssh_key)

    async def _launch(self, body: dict[str, Any]) -> Any:
        """POST the launch, paced to one per ``launch_interval_s``; a 429 waits and retries."""
        key = (self.api.base_url, hashlib.sha256(self.secret().encode()).hexdigest())
        return await paced_launch(
            key,
            lambda: self.data("POST", "/instance-operations/launch", json=body, what="launch"),
            interval_s=self.launch_interval_s,
            retries=self.launch_retries,
        )
