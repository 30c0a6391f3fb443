"""``/graphql``: the legacy GraphQL API over HTTP (the queries run in :mod:`..graphql`).

It keeps GraphQL's own conventions rather than problem+json: ``errors`` bodies, the key as a
Bearer token or an ``api_key`` query parameter, and client errors as HTTP 200 + ``errors``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..._http import bearer_token
from ..._state import SandboxState
from ..graphql import execute
from ..world import RunPodWorld


def _errors(message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    """A GraphQL error body with one message."""
    return JSONResponse({"errors": [{"message": message}]}, status_code=status, headers=headers)


def graphql_endpoint(world: RunPodWorld, state: SandboxState) -> Callable[[Request], Any]:
    """The Starlette endpoint answering GraphQL POSTs for ``world``."""

    async def endpoint(request: Request) -> Response:
        key = bearer_token(request) or request.query_params.get("api_key")
        if key != state.api_keys["runpod"]:
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": "Unauthorized: invalid or missing API key",
                            "extensions": {"code": "UNAUTHENTICATED"},
                        }
                    ]
                },
                status_code=401,
            )
        headers, retry_after = world.rate_limit(key)
        if retry_after is not None:
            return _errors(
                "rate limit exceeded",
                429,
                headers={**headers, "Retry-After": f"{retry_after:g}"},
            )
        if request.method != "POST":
            return _errors("use POST", 405)
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return _errors("POST body is not valid JSON", 400)
        return JSONResponse(execute(world, body), headers=headers)

    return endpoint
