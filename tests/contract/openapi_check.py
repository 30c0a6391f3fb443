"""Check recorded HTTP exchanges against the providers' official OpenAPI documents.

Contract tests record every request atlas_nb sends and every response the sandbox returns
(:class:`RecordingTransport`), then :func:`check_exchanges` validates both against the spec
that covers the URL. The specs folder comes from ``ATLAS_NB_SPECS_DIR``; without it the
contract tests skip cleanly.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

SPECS_ENV = "ATLAS_NB_SPECS_DIR"


@dataclass(frozen=True)
class SpecRoute:
    """Sandbox URL prefix -> (spec file, server URL, path prefix the spec's paths start with)."""

    sandbox_prefix: str
    spec_file: str
    server: str
    path_prefix: str = ""


#: sandbox path prefix (after the origin) -> the spec that covers it
SPEC_ROUTES: tuple[SpecRoute, ...] = (
    SpecRoute("/runpod/v2/", "runpod-rest-v2.openapi.json", "https://api.runpod.io", "/v2/"),
    SpecRoute(
        "/lambda/api/v1/", "lambda-cloud-1.8.3.openapi.json", "https://cloud.lambda.ai", "/api/v1/"
    ),
    SpecRoute("/vast/api/", "vast-ai.openapi.yaml", "https://console.vast.ai", "/api/"),
    SpecRoute("/fly-machines/v1/", "fly-machines.openapi.yaml", "https://api.machines.dev", "/v1/"),
)


def specs_dir() -> Path:
    value = os.environ.get(SPECS_ENV)
    if not value:
        pytest.skip(f"{SPECS_ENV} is not set; contract tests need the providers' OpenAPI specs")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"{SPECS_ENV}={value} is not a directory")
    return path


@functools.cache
def load_spec(name: str) -> Any:
    from openapi_core import Config, OpenAPI

    # RunPod v2 errors are application/problem+json
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_file_path(str(specs_dir() / name), config=config)


@dataclass
class Exchange:
    method: str
    url: httpx.URL
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes


@dataclass
class RecordingTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and keeps every exchange (for in-process sandbox runs)."""

    inner: httpx.AsyncBaseTransport
    exchanges: list[Exchange] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        self.exchanges.append(
            Exchange(
                request.method,
                request.url,
                dict(request.headers),
                body,
                response.status_code,
                dict(response.headers),
                content,
            )
        )
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )


def route_for(url: httpx.URL) -> tuple[SpecRoute, str] | None:
    for route in SPEC_ROUTES:
        if url.path.startswith(route.sandbox_prefix):
            rest = url.path[len(route.sandbox_prefix) :]
            return route, route.path_prefix + rest
    return None


def check_exchange(
    ex: Exchange, *, check_request: bool = True, check_response: bool = True
) -> list[str]:
    """Problems found (empty when the exchange fits the spec); raises if no spec covers it."""
    from openapi_core.testing import MockRequest, MockResponse

    found = route_for(ex.url)
    if found is None:
        raise LookupError(f"no spec covers {ex.method} {ex.url.path}")
    route, path = found
    spec = load_spec(route.spec_file)
    query = ex.url.query.decode()
    request = MockRequest(
        route.server,
        ex.method.lower(),
        path,
        args=dict(httpx.QueryParams(query).multi_items()) if query else None,
        headers=ex.request_headers,
        data=ex.request_body or None,
        content_type=ex.request_headers.get("content-type", "application/json").split(";")[0],
    )
    problems = []
    if check_request:
        try:
            spec.validate_request(request)
        except Exception as exc:  # openapi-core raises a family of errors
            problems.append(f"request {ex.method} {path}: {_describe(exc)}")
    if check_response:
        ctype = ex.response_headers.get("content-type", "application/json").split(";")[0]
        response = MockResponse(
            data=ex.response_body or b"",
            status_code=ex.status,
            content_type=ctype,
            headers=ex.response_headers,
        )
        try:
            spec.validate_response(request, response)
        except Exception as exc:
            problems.append(f"response {ex.status} to {ex.method} {path}: {_describe(exc)}")
    return problems


def _describe(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__
    while cause is not None:
        parts.append(f"{type(cause).__name__}: {cause}"[:600])
        cause = cause.__cause__
    return " <- ".join(parts)[:1500]


def check_exchanges(exchanges: list[Exchange], **kw: Any) -> list[str]:
    """Validate every exchange a spec covers; returns all problems."""
    problems: list[str] = []
    for ex in exchanges:
        if route_for(ex.url) is not None:
            problems.extend(check_exchange(ex, **kw))
    return problems
