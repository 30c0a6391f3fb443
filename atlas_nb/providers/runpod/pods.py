"""RunPod pods over REST v2 (``/v2/pods``), with spot pods rented through GraphQL.

Creates are never retried blindly (``idempotent=False``): a 429 or 5xx on spawn raises with a
hint instead. With ``cloud="any"`` a create refused with 400 (no capacity on that cloud) is
tried once on the other cloud, which is safe because a 400 created nothing.

Whether a refused create means "no capacity" is decided from what is certain, never from the
wording of the answer (the v2 spec only promises "400 with a human-readable detail"): after a
400 for a GPU pod the catalogue is asked about that GPU, count, cloud and data centres; when
it shows no availability the error is a :class:`CapacityError` (anything else stays as
RunPod sent it). A 402 is :class:`~atlas_nb.errors.InsufficientBalanceError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ...auth import auth_material
from ...errors import (
    AtlasError,
    CapacityError,
    ComputeMayExistError,
    InsufficientBalanceError,
    ProviderError,
    ValidationError,
)
from ...models import AuthHandle, ComputeRequest
from ...transport.http import HttpApi
from ...transport.paths import segment
from ..created import created_id, read_back, submit_create
from . import graphql as gql
from .translate import (
    PROVIDER,
    clouds_for,
    create_pod_body,
    decode_offer_id,
    gpu_type_id,
    spot_pod_input,
)


def pod_path(pod_id: str, suffix: str = "") -> str:
    """``/v2/pods/{id}`` with the id checked and escaped (an id can never change the path)."""
    return f"/v2/pods/{segment(pod_id, 'runpod_pod')}{suffix}"


class PodsApi:
    """Pod calls on one REST client (and the GraphQL client for spot pods)."""

    def __init__(self, rest: HttpApi, graphql: gql.GraphQLClient) -> None:
        self.rest = rest
        self.graphql = graphql

    async def create(self, request: ComputeRequest) -> tuple[dict[str, Any], AuthHandle | None]:
        """Create a pod for ``request``; returns (v2 pod, auth handle or None)."""
        auth_env, handle = auth_material(request.auth)
        env = {**request.env, **auth_env}  # the injected secret wins over a user value
        spot = request.spot
        data_centers = None
        if request.offer_id:
            offer = decode_offer_id(request.offer_id)
            gpu_id: str | None = offer.gpu_id
            clouds: list[str | None] = [offer.cloud]
            spot = offer.spot
            request = request.model_copy(update={"gpu_count": offer.gpu_count})
            data_centers = [offer.data_center] if offer.data_center else None
        else:
            gpu_id = gpu_type_id(request.gpu) if request.gpu else None
            clouds = clouds_for(request.cloud)
            if gpu_id is None and "cpu" not in request.provider_opts:
                raise ValidationError(
                    "RunPod pods need gpu= (or a CPU pod: provider_opts={'cpu': {'id': "
                    "'cpu5c', 'vcpuCount': 4}})",
                    field="gpu",
                    provider=PROVIDER,
                )
        if spot:
            if gpu_id is None:
                raise ValidationError("spot pods need a GPU", field="spot", provider=PROVIDER)
            try:
                pod = await self._create_spot(request, env, gpu_id, clouds, data_centers)
            except ComputeMayExistError as exc:
                exc.auth = exc.auth or handle  # the token of a pod that may exist
                raise
            return pod, handle
        last: AtlasError | None = None
        for i, cloud in enumerate(clouds):
            body = create_pod_body(
                request, env=env, gpu_id=gpu_id, cloud=cloud, data_centers=data_centers
            )
            try:
                pod = await submit_create(
                    PROVIDER,
                    request.name,
                    self.rest.json("POST", "/v2/pods", json=body, idempotent=False, what="spawn"),
                    auth=handle,
                )
            except InsufficientBalanceError as exc:
                exc.hint = exc.hint or (
                    "Add funds at https://www.runpod.io/console/user/billing (nothing was "
                    "created), then spawn again."
                )
                raise
            except AtlasError as exc:
                if exc.status == 400 and i + 1 < len(clouds):
                    last = exc  # refused (nothing was created): try the next cloud
                    continue
                if exc.status == 400 and gpu_id is not None and not isinstance(exc, CapacityError):
                    wanted = data_centers if data_centers is not None else request.regions
                    sold_out = await self._sold_out(gpu_id, clouds, request.gpu_count, wanted)
                    if sold_out:
                        raise CapacityError(
                            f"{exc.message} (the catalogue shows no {request.gpu_count} x "
                            f"{gpu_id} available {sold_out})",
                            provider=PROVIDER,
                            status=exc.status,
                            request_id=exc.request_id,
                            raw=exc.raw,
                        ) from None
                raise
            created_id(pod, "id", provider=PROVIDER, name=request.name, auth=handle)
            return dict(pod), handle
        assert last is not None  # pragma: no cover - the loop returns or raises
        raise last  # pragma: no cover

    async def _sold_out(
        self, gpu_id: str, clouds: list[str | None], count: int, data_centers: list[str] | None
    ) -> str | None:
        """Where the catalogue shows ``count`` x ``gpu_id`` unavailable on every cloud tried
        (``"on SECURE cloud"``), or None when it shows some (or cannot be read)."""
        where = []
        for cloud in clouds:
            params = {"include": "AVAILABILITY", "product": "POD", "count": count}
            if cloud is not None:
                params["cloud"] = cloud
            try:
                row = await self.rest.json(
                    "GET", f"/v2/catalog/gpus/{quote(gpu_id, safe='')}", params=params
                )
            except AtlasError:
                return None  # not certain: keep RunPod's own answer
            if not isinstance(row, Mapping):
                return None
            most = (row.get("maxCount") or {}).get(str(cloud or "secure").lower())
            if isinstance(most, int) and 0 < most < count:
                return None  # too many GPUs for one pod: RunPod's own answer says so
            levels = [str(row.get("availability") or "").upper()]
            if data_centers:
                by_dc = {
                    dc.get("id"): str(dc.get("availability") or "").upper()
                    for dc in row.get("dataCenters") or []
                    if isinstance(dc, Mapping)
                }
                levels = [by_dc.get(dc, "NONE") for dc in data_centers]
            if any(level not in ("NONE", "") for level in levels) or levels == [""]:
                return None
            place = f" in {', '.join(data_centers)}" if data_centers else ""
            where.append(f"on {cloud or 'any'} cloud{place}")
        return "; ".join(where) or None

    async def _create_spot(
        self,
        request: ComputeRequest,
        env: Mapping[str, str],
        gpu_id: str,
        clouds: list[str | None],
        data_centers: list[str] | None,
    ) -> dict[str, Any]:
        cloud = clouds[0] if len(clouds) == 1 else None
        opts = request.provider_opts
        bid = opts.get("bid_price", opts.get("bidPerGpu"))
        if bid is None:
            bid = await self.minimum_bid(gpu_id, cloud, request.gpu_count)
        inp = spot_pod_input(
            request,
            env=env,
            gpu_id=gpu_id,
            cloud=cloud,
            bid_per_gpu=float(bid),
            data_center=data_centers[0] if data_centers else None,
        )
        data = await submit_create(
            PROVIDER, request.name, self._rent_spot(request, inp, gpu_id, clouds, data_centers)
        )
        if not isinstance(data, Mapping) or "podRentInterruptable" not in data:
            created_id(data, "podRentInterruptable", "id", provider=PROVIDER, name=request.name)
        rented = data.get("podRentInterruptable") or {}
        if not isinstance(rented, Mapping) or not rented.get("id"):
            raise CapacityError(
                f"RunPod rented no spot {gpu_id} (bid ${float(bid):.2f}/GPU/hr)",
                provider=PROVIDER,
                raw=data,
            )
        return await read_back(PROVIDER, str(rented["id"]), request.name, self._get_created)

    async def _rent_spot(
        self,
        request: ComputeRequest,
        inp: Mapping[str, Any],
        gpu_id: str,
        clouds: list[str | None],
        data_centers: list[str] | None,
    ) -> dict[str, Any]:
        """``podRentInterruptable``; a GraphQL refusal is capacity only if the catalogue says so."""
        try:
            return await self.graphql.execute(
                gql.RENT_SPOT, {"input": dict(inp)}, mutation=True, what="spawn"
            )
        except AtlasError as exc:
            if isinstance(exc, CapacityError) or exc.status != 200:
                raise
            wanted = data_centers if data_centers is not None else request.regions[:1]
            sold_out = await self._sold_out(gpu_id, clouds, request.gpu_count, wanted)
            if not sold_out:
                raise
            raise CapacityError(
                f"{exc.message} (the catalogue shows no {request.gpu_count} x {gpu_id} "
                f"available {sold_out})",
                provider=PROVIDER,
                status=exc.status,
                code=exc.code,
                raw=exc.raw,
            ) from None

    async def _get_created(self, pod_id: str) -> dict[str, Any]:
        pod = await self.get(pod_id)
        created_id(pod, "id", provider=PROVIDER, name=None)  # a pod, not some other answer
        return pod

    async def minimum_bid(self, gpu_id: str, cloud: str | None, count: int) -> float:
        """The current minimum spot bid per GPU-hour (``CapacityError`` when none)."""
        lowest: dict[str, Any] = {"gpuCount": count}
        if cloud is not None:
            lowest["secureCloud"] = cloud == "SECURE"
        data = await self.graphql.execute(gql.GPU_BID, {"filter": {"id": gpu_id}, "lowest": lowest})
        for row in data.get("gpuTypes") or []:
            if row.get("id") != gpu_id:
                continue
            bid = (row.get("lowestPrice") or {}).get("minimumBidPrice")
            if bid is None:
                bid = row.get("secureSpotPrice" if cloud == "SECURE" else "communitySpotPrice")
            if bid is not None:
                return float(bid)
        raise CapacityError(
            f"RunPod has no spot capacity for {count} x {gpu_id} right now",
            provider=PROVIDER,
        )

    async def get(self, pod_id: str) -> dict[str, Any]:
        return dict(await self.rest.json("GET", pod_path(pod_id)))

    async def list(self) -> list[dict[str, Any]]:
        body = await self.rest.json("GET", "/v2/pods")
        pods = body.get("pods") if isinstance(body, Mapping) else None
        if not isinstance(pods, list):
            raise ProviderError(
                "RunPod's pod list was not the expected {'pods': [...]} object",
                provider=PROVIDER,
                raw=body,
                hint="Retry; if it persists, RunPod's API may have changed.",
            )
        return [dict(p) for p in pods if isinstance(p, Mapping) and p.get("id")]

    async def action(self, pod_id: str, action: str) -> dict[str, Any] | None:
        """``POST /v2/pods/{id}/action``; the updated pod (None after terminate)."""
        body = await self.rest.json(
            "POST", pod_path(pod_id, "/action"), json={"action": action}, idempotent=True
        )
        return dict(body) if isinstance(body, Mapping) else None

    async def delete(self, pod_id: str) -> None:
        await self.rest.request("DELETE", pod_path(pod_id))

    async def update(self, pod_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(
            await self.rest.json("PATCH", pod_path(pod_id), json=dict(body), idempotent=True)
        )
