"""The wrapper every REST handler runs in: bearer auth, rate limits, problem rendering.

A handler takes the request and the world and returns a body (200), a ``(status, body)`` pair
(204 sends no body) or a ready :class:`Response`, or raises :class:`Problem`. The wrapper
answers 401 without the account's key (a pod-scoped key may only delete its own pod), 429 past
the rate limit, and puts the ``RateLimit`` headers on every answer after auth.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..._http import bearer_token
from ..._state import SandboxState
from ...pod_guard import scoped_pod
from ..world import RunPodWorld
from .pods import delete_pod
from .problems import Problem, problem

Handler = Callable[[Request, RunPodWorld], Awaitable[Any]]


def _auth_failure(
    state: SandboxState, request: Request, fn: Handler, token: str | None
) -> str | None:
    """Why the request may not call ``fn`` (``None`` when it may)."""
    if not request.headers.get("authorization"):
        return "missing bearer token"
    if token == state.api_keys["runpod"]:
        return None
    own = scoped_pod(state, "runpod", token or "")
    if own is None:
        return "invalid bearer token"
    if fn is not delete_pod or request.path_params.get("id") != own:
        # a pod-scoped key may remove its own pod, nothing else (RunPod: Unauthorized)
        return "this pod-scoped key may only remove its own pod"
    return None


def _render(result: Any, headers: dict[str, str]) -> Response:
    """A handler's result as the response, with ``headers`` added."""
    if isinstance(result, Response):
        result.headers.update(headers)
        return result
    status, body = result if isinstance(result, tuple) else (200, result)
    if status == 204:
        return Response(status_code=204, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def api_endpoint(world: RunPodWorld, state: SandboxState, fn: Handler) -> Callable[[Request], Any]:
    """The Starlette endpoint running ``fn`` behind auth, rate limits and problem rendering."""

    async def endpoint(request: Request) -> Response:
        token = bearer_token(request)
        refused = _auth_failure(state, request, fn, token)
        if refused is not None:
            return problem(401, refused)
        headers, retry_after = world.rate_limit(token or "")
        if retry_after is not None:
            return problem(
                429,
                "rate limit exceeded for the minute window",
                headers={**headers, "Retry-After": f"{retry_after:g}"},
            )
        try:
            result = await fn(request, world)
        except Problem as exc:
            return problem(exc.status, exc.detail, exc.errors, headers)
        return _render(result, headers)

    return endpoint
