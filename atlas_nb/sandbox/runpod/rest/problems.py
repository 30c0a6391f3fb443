"""RFC 9457 problem+json: the one error shape of the fake RunPod REST API.

>>> problem(404, "pod not found").body
b'{"title":"Not Found","status":404,"detail":"pod not found"}'
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

PROBLEM = "application/problem+json"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Problem(Exception):
    """Raised by handlers; rendered as an RFC 9457 problem+json response."""

    def __init__(self, status: int, detail: str, errors: list[str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, errors


def invalid(*errors: str) -> Problem:
    """The 422 a schema or parameter violation gets (``errors`` names each one)."""
    return Problem(422, "Request validation failed.", list(errors))


def problem(
    status: int, detail: str, errors: list[str] | None = None, headers: dict[str, str] | None = None
) -> Response:
    """A problem+json response (``title``, ``status``, ``detail``, optional ``errors``)."""
    body: dict[str, Any] = {
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def error_response(status: int, message: str) -> Response:
    """What FaultMiddleware sends for an injected error status."""
    return problem(status, message)
