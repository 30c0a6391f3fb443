"""The ASGI vocabulary every fake shares: the scope/receive/send types, the path below an app's
mount point, and a JSON answer.

    >>> relative_path({"path": "/vast/api/v0/bundles", "root_path": "/vast"})
    '/api/v0/bundles'
    >>> json_response({"ok": True}, 201).status_code
    201
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import JSONResponse, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def relative_path(scope: Scope) -> str:
    """The request's path below the app's mount point (``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def json_response(
    data: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    media_type: str = "application/json",
) -> Response:
    """A JSON answer."""
    return JSONResponse(data, status_code=status, headers=headers, media_type=media_type)
