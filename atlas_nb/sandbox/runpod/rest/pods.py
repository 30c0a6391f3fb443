"""``/v2/pods``: create, read, update and delete pods, and their start/stop/restart actions.

Placement (capacity, balance, data centers) and the pod lifecycle live in the world
(:meth:`RunPodWorld.place_pod`, ``boot``, ``halt``); these handlers check bodies and map
:class:`PlacementError` to its problem.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from .. import schema
from ..world import FakePod, PlacementError, RunPodWorld
from .params import json_body
from .problems import Problem, invalid
from .templates import TEMPLATE_SETTINGS, referenced_template, under_template

#: body key -> FakePod attribute, for what PATCH may change
_UPDATABLE = (
    ("name", "name"),
    ("image", "image"),
    ("args", "args"),
    ("disk", "disk"),
    ("ports", "ports"),
    ("env", "env"),
    ("registry", "registry"),
    ("locked", "locked"),
    ("globalNetworking", "global_networking"),
)


def live_pod(world: RunPodWorld, request: Request) -> FakePod:
    """The pod the path's ``{id}`` names, unless it is gone (404)."""
    pod = world.pods.get(request.path_params["id"])
    if pod is None or pod.terminated_at is not None:
        raise Problem(404, "pod not found")
    return pod


def _pod_settings(world: RunPodWorld, body: dict[str, Any]) -> dict[str, Any]:
    """Image, args, disk, ports, registry, mounts and env: the template's, then the body's."""
    settings: dict[str, Any] = {}
    if "templateId" in body:
        tpl = referenced_template(world, body["templateId"])
        if tpl["serverless"]:
            raise Problem(422, "a serverless template cannot be used for a pod")
        settings = {k: tpl[k] for k in TEMPLATE_SETTINGS}
        settings["env"] = dict(tpl["env"])
        if tpl["mounts"].get("persistent") and "gpu" in body:
            settings["mounts"] = {"persistent": tpl["mounts"]["persistent"]}
    for key in (*TEMPLATE_SETTINGS, "mounts"):
        if key in body:
            settings[key] = body[key]
    settings["env"] = {**settings.get("env", {}), **body.get("env", {})}
    return settings


async def list_pods(request: Request, world: RunPodWorld) -> Any:
    pods = [p for p in world.pods.values() if p.terminated_at is None]
    pods.sort(key=lambda p: p.created_at)
    return {"pods": [world.pod_json(p) for p in pods]}


async def create_pod(request: Request, world: RunPodWorld) -> Any:
    body = await json_body(request, schema.CREATE_POD)
    if ("gpu" in body) == ("cpu" in body):
        raise Problem(400, "exactly one of gpu or cpu must be set")
    if "templateId" not in body and "image" not in body:
        raise invalid("$: missing property 'image'")
    settings = _pod_settings(world, body)
    gpu = body.get("gpu") or {}
    if gpu.get("allowedCudaVersions") and gpu.get("minCudaVersion"):
        raise Problem(400, "gpu.allowedCudaVersions and gpu.minCudaVersion are mutually exclusive")
    if body.get("startJupyter") and "JUPYTER_PASSWORD" not in settings["env"]:
        settings["env"]["JUPYTER_PASSWORD"] = world.new_id(16)
    try:
        pod = world.place_pod(
            name=body["name"],
            image=settings.get("image", ""),
            gpu_id=gpu.get("id"),
            gpu_count=int(gpu.get("count", 1)),
            cpu=body.get("cpu"),
            cloud=body.get("cloud", "SECURE"),
            data_centers=body.get("dataCenterIds"),
            mounts=settings.get("mounts"),
            global_networking=bool(body.get("globalNetworking", False)),
            args=settings.get("args", ""),
            disk=int(settings.get("disk", 50)),
            ports=list(settings.get("ports", [])),
            env=settings["env"],
            registry=settings.get("registry"),
        )
    except PlacementError as exc:
        raise Problem(exc.status, exc.detail) from None
    return 201, world.pod_json(pod)


async def get_pod(request: Request, world: RunPodWorld) -> Any:
    return world.pod_json(live_pod(world, request))


async def update_pod(request: Request, world: RunPodWorld) -> Any:
    pod = live_pod(world, request)
    body = await json_body(request, schema.UPDATE_POD)
    if "templateId" in body:
        tpl = referenced_template(world, body["templateId"])
        if tpl["serverless"]:
            raise Problem(422, "a serverless template cannot be applied to a pod")
        body = under_template(tpl, body)
    mounts = body.get("mounts") or {}
    if mounts:
        if set(mounts) - set(pod.mounts) or (
            mounts.get("network")
            and mounts["network"][0]["volumeId"] != pod.mounts["network"][0]["volumeId"]
        ):
            raise Problem(400, "the mount kind and network volume id are fixed at create")
        pod.mounts = {**pod.mounts, **mounts}
    restart = "image" in body and body["image"] != pod.image
    for key, attr in _UPDATABLE:
        if key in body:
            setattr(pod, attr, body[key])
    if restart and world.pod_status(pod) not in ("EXITED", "ERROR"):
        world.boot(pod, "restart")
    return world.pod_json(pod)


async def delete_pod(request: Request, world: RunPodWorld) -> Any:
    pod = live_pod(world, request)
    world.halt(pod, terminate=True)
    return 204, None


async def pod_action(request: Request, world: RunPodWorld) -> Any:
    pod = live_pod(world, request)
    body = await json_body(request, schema.POD_ACTION)
    action = body["action"]
    status = world.pod_status(pod)
    allowed = world.pod_json(pod)["actions"]
    if action not in allowed:
        raise Problem(409, f"cannot {action} a pod that is {status}; allowed: {', '.join(allowed)}")
    if pod.locked and action in ("stop", "restart"):
        raise Problem(409, "the pod is locked; unlock it (PATCH locked=false) first")
    if action == "terminate":
        world.halt(pod, terminate=True)
        return 204, None
    if action == "stop":
        world.halt(pod)
    elif action == "start":
        world.boot(pod, "start")
    else:
        world.boot(pod, "restart")
    return world.pod_json(pod)
