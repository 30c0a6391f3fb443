"""``/v2/registries``: container registry credentials (their secrets are never shown back)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from .. import schema
from ..world import RunPodWorld
from .params import json_body
from .problems import Problem


def _registry(world: RunPodWorld, request: Request) -> dict[str, Any]:
    reg = world.registries.get(request.path_params["id"])
    if reg is None:
        raise Problem(404, "registry not found")
    return reg


def _public(reg: dict[str, Any]) -> dict[str, Any]:
    return {"id": reg["id"], "name": reg["name"]}


async def list_registries(request: Request, world: RunPodWorld) -> Any:
    return {"registries": [_public(r) for r in world.registries.values()]}


async def create_registry(request: Request, world: RunPodWorld) -> Any:
    body = await json_body(request, schema.CREATE_REGISTRY)
    rid = world.new_id(10)
    world.registries[rid] = {"id": rid, **body}
    return 201, {"id": rid, "name": body["name"]}


async def get_registry(request: Request, world: RunPodWorld) -> Any:
    return _public(_registry(world, request))


async def delete_registry(request: Request, world: RunPodWorld) -> Any:
    reg = _registry(world, request)
    if any(t.get("registry") == reg["id"] for t in world.templates.values()):
        raise Problem(400, "the registry credential is used by a template")
    del world.registries[reg["id"]]
    return 204, None
