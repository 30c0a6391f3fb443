"""``/v2/templates``: pod and serverless templates, and how a pod or endpoint body uses one."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from .. import schema
from ..world import RunPodWorld, template_json
from .params import json_body
from .problems import Problem

#: the settings a template gives the pod or endpoint made from it (``env`` merges separately)
TEMPLATE_SETTINGS = ("image", "args", "disk", "ports", "registry")


def referenced_template(world: RunPodWorld, template_id: str) -> dict[str, Any]:
    """The template a body's ``templateId`` names (404 when there is none)."""
    tpl = world.templates.get(template_id)
    if tpl is None:
        raise Problem(404, f"template {template_id} not found")
    return tpl


def under_template(tpl: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """``body`` over the template's settings; the two ``env`` maps merge, the body's winning."""
    return {
        **{k: tpl[k] for k in TEMPLATE_SETTINGS},
        **body,
        "env": {**tpl["env"], **body.get("env", {})},
    }


def _template(world: RunPodWorld, request: Request) -> dict[str, Any]:
    tpl = world.templates.get(request.path_params["id"])
    if tpl is None:
        raise Problem(404, "template not found")
    return tpl


async def list_templates(request: Request, world: RunPodWorld) -> Any:
    return {"templates": list(world.templates.values())}


async def create_template(request: Request, world: RunPodWorld) -> Any:
    body = await json_body(request, schema.CREATE_TEMPLATE)
    if body.get("registry") and body["registry"] not in world.registries:
        raise Problem(404, f"registry {body['registry']} not found")
    tid = world.new_id(10)
    world.templates[tid] = template_json(tid, body)
    return 201, world.templates[tid]


async def get_template(request: Request, world: RunPodWorld) -> Any:
    return _template(world, request)


async def update_template(request: Request, world: RunPodWorld) -> Any:
    tpl = _template(world, request)
    body = await json_body(request, schema.UPDATE_TEMPLATE)
    tpl.update(body)
    return tpl


async def delete_template(request: Request, world: RunPodWorld) -> Any:
    tpl = _template(world, request)
    tid = tpl["id"]
    if any(ep.body.get("templateId") == tid for ep in world.endpoints.values()):
        raise Problem(400, "the template is used by a serverless endpoint")
    del world.templates[tid]
    return 204, None
