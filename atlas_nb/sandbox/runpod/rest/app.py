"""The route table of the fake RunPod REST v2 + GraphQL API, and :func:`build_app`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..._http import FaultMiddleware
from ..._state import SandboxState
from ..faults import PeekFaults
from ..world import runpod_world
from . import billing, catalog, network_volumes, pod_logs, pods, registries, serverless, templates
from .graphql_endpoint import graphql_endpoint
from .launch_faults import LAUNCH_FAULTS
from .problems import error_response, problem
from .wrapper import Handler, api_endpoint

FAULT_PROVIDER = "runpod"

#: path, method, handler: every REST v2 route
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("/v2/pods", "GET", pods.list_pods),
    ("/v2/pods", "POST", pods.create_pod),
    ("/v2/pods/{id}", "GET", pods.get_pod),
    ("/v2/pods/{id}", "PATCH", pods.update_pod),
    ("/v2/pods/{id}", "DELETE", pods.delete_pod),
    ("/v2/pods/{id}/action", "POST", pods.pod_action),
    ("/v2/pods/{id}/logs", "GET", pod_logs.pod_logs),
    ("/v2/serverless", "GET", serverless.list_endpoints),
    ("/v2/serverless", "POST", serverless.create_endpoint),
    ("/v2/serverless/{id}", "GET", serverless.get_endpoint),
    ("/v2/serverless/{id}", "PATCH", serverless.update_endpoint),
    ("/v2/serverless/{id}", "DELETE", serverless.delete_endpoint),
    ("/v2/templates", "GET", templates.list_templates),
    ("/v2/templates", "POST", templates.create_template),
    ("/v2/templates/{id}", "GET", templates.get_template),
    ("/v2/templates/{id}", "PATCH", templates.update_template),
    ("/v2/templates/{id}", "DELETE", templates.delete_template),
    ("/v2/network-volumes", "GET", network_volumes.list_volumes),
    ("/v2/network-volumes", "POST", network_volumes.create_volume),
    ("/v2/network-volumes/{id}", "GET", network_volumes.get_volume),
    ("/v2/network-volumes/{id}", "PATCH", network_volumes.update_volume),
    ("/v2/network-volumes/{id}", "DELETE", network_volumes.delete_volume),
    ("/v2/registries", "GET", registries.list_registries),
    ("/v2/registries", "POST", registries.create_registry),
    ("/v2/registries/{id}", "GET", registries.get_registry),
    ("/v2/registries/{id}", "DELETE", registries.delete_registry),
    ("/v2/catalog/gpus", "GET", catalog.list_gpus),
    ("/v2/catalog/gpus/{id:path}", "GET", catalog.get_gpu),
    ("/v2/catalog/cpus", "GET", catalog.list_cpus),
    ("/v2/catalog/datacenters", "GET", catalog.list_datacenters),
    ("/v2/billing/pods", "GET", billing.billing_pods),
    ("/v2/billing/serverless", "GET", billing.billing_serverless),
    ("/v2/billing/network-volumes", "GET", billing.billing_volumes),
)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 (no such path or method) as problem+json."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return problem(
            405,
            "The requested method is not allowed for this path.",
            headers={"Allow": (exc.headers or {}).get("Allow", "")},
        )
    return problem(
        exc.status_code, "resource not found" if exc.status_code == 404 else str(exc.detail)
    )


def build_app(state: SandboxState) -> PeekFaults:
    """The REST v2 + GraphQL ASGI app, wrapped in the fault middleware (provider ``runpod``)."""
    world = runpod_world(state)
    routes = [
        Route(path, api_endpoint(world, state, fn), methods=[method]) for path, method, fn in ROUTES
    ]
    routes.append(Route("/graphql", graphql_endpoint(world, state), methods=["GET", "POST"]))
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    return PeekFaults(
        FaultMiddleware(app, state, FAULT_PROVIDER, error_response, LAUNCH_FAULTS),
        state,
        FAULT_PROVIDER,
    )
