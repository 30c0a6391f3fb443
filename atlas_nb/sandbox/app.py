"""The composed sandbox: every fake provider API mounted under its own path prefix.

Each entry of :data:`MOUNTS` names a module exposing ``build_app(state) -> ASGI app`` (already
wrapped in :class:`~atlas_nb.sandbox._http.FaultMiddleware`), the mount prefix, and the URL
keys it serves (the same keys as atlas_nb's ``base_urls`` setting) with their suffixes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from ._state import SandboxState


@dataclass(frozen=True)
class MountSpec:
    module: str
    prefix: str
    urls: dict[str, str]  # base_urls key -> suffix after the prefix


MOUNTS: tuple[MountSpec, ...] = (
    MountSpec("runpod.rest", "/runpod", {"runpod_rest": "", "runpod_graphql": "/graphql"}),
    MountSpec("runpod.runtime", "/runpod-runtime", {"runpod_runtime": "/v2"}),
    MountSpec("lambda_cloud.api", "/lambda", {"lambda": "/api/v1"}),
    MountSpec("vast.api", "/vast", {"vast": ""}),
    MountSpec("fly.machines", "/fly-machines", {"fly_machines": "/v1"}),
    MountSpec("fly.api", "/fly-api", {"fly_api": ""}),
    MountSpec("pod_guard", "/guard", {"oci_registry": "/registry", "guard_lease": "/lease"}),
)


def build(state: SandboxState) -> Starlette:
    """One ASGI app serving every fake API (used in-process and on loopback)."""

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "apis": sorted(url_suffixes())})

    routes: list[Route | Mount] = [Route("/_health", health)]
    for spec in MOUNTS:
        module = importlib.import_module(f"atlas_nb.sandbox.{spec.module}")
        routes.append(Mount(spec.prefix, app=module.build_app(state)))
    return Starlette(routes=routes)


def url_suffixes() -> dict[str, str]:
    """base_urls key -> path below the sandbox origin."""
    return {key: spec.prefix + suffix for spec in MOUNTS for key, suffix in spec.urls.items()}
