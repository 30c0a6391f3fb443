"""``/v2/network-volumes``: network volumes (deleted ones are kept for billing)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from .. import schema
from ..catalog import DATA_CENTERS
from ..world import RunPodWorld
from .params import json_body
from .problems import Problem


def _public(vol: dict[str, Any]) -> dict[str, Any]:
    """The volume as the API shows it (``_``-prefixed keys are the sandbox's bookkeeping)."""
    return {k: v for k, v in vol.items() if not k.startswith("_")}


def _volume(world: RunPodWorld, request: Request) -> dict[str, Any]:
    vol = world.volumes.get(request.path_params["id"])
    if vol is None:
        raise Problem(404, "network volume not found")
    return vol


async def list_volumes(request: Request, world: RunPodWorld) -> Any:
    return {"networkVolumes": [_public(v) for v in world.volumes.values()]}


async def create_volume(request: Request, world: RunPodWorld) -> Any:
    body = await json_body(request, schema.CREATE_VOLUME)
    dc = DATA_CENTERS.get(body["dataCenter"])
    if dc is None:
        raise Problem(400, f"unknown data center {body['dataCenter']}")
    kind = body.get("type") or (dc.volume_types[0] if dc.volume_types else "STANDARD")
    if kind not in dc.volume_types:
        raise Problem(400, f"{dc.id} does not offer {kind} network volumes")
    vid = world.new_id(10)
    world.volumes[vid] = {
        "id": vid,
        "name": body["name"],
        "size": body["size"],
        "dataCenter": dc.id,
        "type": kind,
        "_created_at": world.now(),
    }
    return 201, _public(world.volumes[vid])


async def get_volume(request: Request, world: RunPodWorld) -> Any:
    return _public(_volume(world, request))


async def update_volume(request: Request, world: RunPodWorld) -> Any:
    vol = _volume(world, request)
    body = await json_body(request, schema.UPDATE_VOLUME)
    if "size" in body and body["size"] < vol["size"]:
        raise Problem(400, f"size can only grow (currently {vol['size']} GB)")
    vol.update(body)
    return _public(vol)


async def delete_volume(request: Request, world: RunPodWorld) -> Any:
    vol = _volume(world, request)
    in_use = [
        p.id
        for p in world.pods.values()
        if p.terminated_at is None
        and any(m["volumeId"] == vol["id"] for m in p.mounts.get("network") or [])
    ]
    if in_use:
        raise Problem(400, f"the volume is attached to pod(s) {', '.join(in_use)}")
    vol["_deleted_at"] = world.now()
    world.state.providers.setdefault("runpod_deleted_volumes", []).append(vol)
    del world.volumes[vol["id"]]
    return 204, None
