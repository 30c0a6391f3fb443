"""``/v2/serverless``: serverless endpoints (their jobs run in :mod:`..runtime`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from .. import schema
from ..catalog import GPUS
from ..world import FakeEndpoint, RunPodWorld, endpoint_json
from .params import json_body
from .problems import Problem, invalid
from .templates import referenced_template, under_template


def _endpoint(world: RunPodWorld, request: Request) -> FakeEndpoint:
    ep = world.endpoints.get(request.path_params["id"])
    if ep is None:
        raise Problem(404, "endpoint not found")
    return ep


def _check_scaling(scaling: dict[str, Any], kind: str | None) -> None:
    """The scaling rule carries its own setting, and a load balancer scales on requests."""
    if scaling:
        need = "queueDelay" if scaling["type"] == "QUEUE_DELAY" else "requestCount"
        if need not in scaling:
            raise invalid(f"$.scaling: missing property '{need}'")
    if kind == "LOAD_BALANCER" and scaling.get("type") == "QUEUE_DELAY":
        raise invalid("$.scaling.type: LOAD_BALANCER endpoints scale on REQUEST_COUNT")


def _check_hardware(body: dict[str, Any]) -> None:
    """GPU or CPU workers, one CUDA filter, and GPU pools the catalogue knows."""
    if body.get("gpu") and body.get("cpu"):
        raise Problem(400, "set gpu or cpu, not both")
    gpu = body.get("gpu") or {}
    if gpu.get("allowedCudaVersions") and gpu.get("minCudaVersion"):
        raise Problem(400, "gpu.allowedCudaVersions and gpu.minCudaVersion are mutually exclusive")
    pools = {g.pool for g in GPUS.values() if g.pool}
    bad = [p for p in gpu.get("pools", []) if p not in pools]
    if bad:
        raise Problem(400, f"unknown GPU pool(s): {', '.join(bad)}; see GET /v2/catalog/gpus")


def _check_references(world: RunPodWorld, body: dict[str, Any]) -> None:
    """The network volumes and the (serverless) template the body names exist."""
    for vol in body.get("networkVolumes", []):
        if vol not in world.volumes:
            raise Problem(404, f"network volume {vol} not found")
    if "templateId" in body:
        tpl = referenced_template(world, body["templateId"])
        if not tpl["serverless"]:
            raise Problem(422, "the template is not a serverless template")


def _check_endpoint_body(world: RunPodWorld, body: dict[str, Any], kind: str | None) -> None:
    """The rules of a create or update body beyond its schema (``kind``: the endpoint type)."""
    _check_scaling(body.get("scaling") or {}, kind)
    _check_hardware(body)
    _check_references(world, body)


async def list_endpoints(request: Request, world: RunPodWorld) -> Any:
    return {"endpoints": [ep.body for ep in world.endpoints.values()]}


async def create_endpoint(request: Request, world: RunPodWorld) -> Any:
    body = await json_body(request, schema.CREATE_ENDPOINT)
    if "templateId" not in body and "image" not in body:
        raise invalid("$: missing property 'image'")
    _check_endpoint_body(world, body, body["type"])
    if "templateId" in body:
        body = under_template(world.templates[body["templateId"]], body)
    eid = world.new_id(14)
    ep = FakeEndpoint(eid, endpoint_json(eid, body, world.now()), world.now())
    world.endpoints[eid] = ep
    return 201, ep.body


async def get_endpoint(request: Request, world: RunPodWorld) -> Any:
    return _endpoint(world, request).body


async def update_endpoint(request: Request, world: RunPodWorld) -> Any:
    ep = _endpoint(world, request)
    body = await json_body(request, schema.UPDATE_ENDPOINT)
    _check_endpoint_body(world, body, ep.body.get("type"))
    if body.get("gpu", {}).get("excludedTypes") and "pools" not in body["gpu"]:
        raise invalid("$.gpu: excludedTypes requires pools")
    for key, value in body.items():
        if key == "workers":
            ep.body["workers"] = {**ep.body["workers"], **value}
        elif key == "gpu":
            ep.body["gpu"] = {**(ep.body.get("gpu") or {}), **value}
        elif key != "templateId":
            ep.body[key] = value
    return ep.body


async def delete_endpoint(request: Request, world: RunPodWorld) -> Any:
    ep = _endpoint(world, request)
    world.deleted_endpoints[ep.id] = world.endpoints.pop(ep.id)
    return 204, None
