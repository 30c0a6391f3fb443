"""Plumbing shared by the fake provider APIs: the handler wrapper, fault injection middleware
and JSON helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from ._asgi import ASGIApp as ASGIApp
from ._asgi import Message as Message
from ._asgi import Receive as Receive
from ._asgi import Scope as Scope
from ._asgi import Send as Send
from ._asgi import json_response as json_response
from ._asgi import relative_path as relative_path
from ._offer_faults import LaunchFaults, serve_launch_fault
from ._state import SandboxState

ErrorResponse = Callable[[int, str], Response]

STREAMING_TYPES = ("text/event-stream", "application/x-ndjson")

W = TypeVar("W")
R = TypeVar("R")
E = TypeVar("E", bound=Exception)
Handler = Callable[[Request, W], Awaitable[R]]
Endpoint = Callable[[Request], Awaitable[Response]]
Authorize = Callable[[Request], Response | None]


@dataclass(frozen=True)
class Api(Generic[W, R, E]):
    """Turns module-level handlers ``async def h(request, world) -> result`` into endpoints.

    Each request is checked by ``authorize`` (a response refuses it, ``None`` lets it in),
    then handled; a raised ``catches`` error is answered by ``render_error``, a result by
    ``render``. ``headers``, when given, makes headers for each response of the API (put
    first, as if the response had been built with them).

    >>> class Refused(Exception): ...
    >>> async def greet(request, world):
    ...     if "who" not in request.query_params:
    ...         raise Refused("say who")
    ...     return f"{world} {request.query_params['who']}"
    >>> api = Api("hello", authorize=lambda request: None, catches=Refused,
    ...           render_error=lambda exc: json_response({"error": str(exc)}, 400),
    ...           render=lambda text: json_response({"data": text}))
    >>> def call(query):
    ...     scope = {"type": "http", "method": "GET", "headers": [], "query_string": query}
    ...     response = asyncio.run(api(greet)(Request(scope)))
    ...     return response.status_code, response.body
    >>> call(b"who=you"), call(b"")
    ((200, b'{"data":"hello you"}'), (400, b'{"error":"say who"}'))
    """

    world: W
    authorize: Authorize
    catches: type[E] | tuple[type[E], ...]
    render_error: Callable[[E], Response]
    render: Callable[[R], Response]
    headers: Callable[[], dict[str, str]] | None = None

    def __call__(self, handler: Handler[W, R], authorize: Authorize | None = None) -> Endpoint:
        """The endpoint for ``handler``; ``authorize`` replaces the API's check for it."""
        check = authorize or self.authorize

        async def endpoint(request: Request) -> Response:
            extra = self.headers() if self.headers is not None else {}
            response = check(request)
            if response is None:
                try:
                    result = await handler(request, self.world)
                except self.catches as exc:
                    response = self.render_error(exc)
                else:
                    response = self.render(result)
            response.raw_headers[:0] = Headers(extra).raw
            return response

        return endpoint


class ConnectionDropped(Exception):
    """Raised to abort a response mid-body (the server then closes the connection)."""


async def json_body(request: Request) -> Any:
    """The parsed JSON body, or ``None`` when empty; invalid JSON raises ``ValueError``."""
    raw = await request.body()
    if not raw.strip():
        return None
    return json.loads(raw)


def bearer_token(request: Request) -> str | None:
    """The credential from ``Authorization: Bearer x``, ``FlyV1 x`` or a bare value."""
    header = request.headers.get("authorization", "")
    for prefix in ("Bearer ", "bearer ", "FlyV1 "):
        if header.startswith(prefix):
            return header if prefix == "FlyV1 " else header[len(prefix) :].strip()
    return header.strip() or None


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class FaultMiddleware:
    """Applies the sandbox's fault knobs for one provider before and around its app."""

    def __init__(
        self,
        app: ASGIApp,
        state: SandboxState,
        provider: str,
        error_response: ErrorResponse,
        launch_faults: LaunchFaults | None = None,
    ) -> None:
        self.app = app
        self.state = state
        self.provider = provider
        self.error_response = error_response
        #: how this cloud refuses a create, and where its world keeps new pods (launch faults)
        self.launch_faults = launch_faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self.state.faults.take(self.provider, scope["method"], relative_path(scope))
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.latency:
            await asyncio.sleep(rule.latency)
        if rule.after or rule.body is not None:
            await self._after(rule, scope, receive, send)
            return
        if rule.hang:
            await _wait_for_disconnect(receive)
            return
        if (rule.refuse or rule.stuck) and self.launch_faults is not None:
            # launch faults: an offer refused, a pod stuck booting
            await serve_launch_fault(
                rule, self.state, self.launch_faults, self.app, scope, receive, send
            )
            return
        status = None
        if rule.burst > 0:
            rule.burst -= 1
            rule.bursting = True
            status = rule.status or 503
        elif rule.bursting:
            pass  # the burst is over: requests go through again
        elif rule.error_rate:
            if self.state.faults.roll(rule.error_rate):
                status = rule.status or 503
        elif rule.status:
            status = rule.status
        if status is not None:
            response = self.error_response(status, _reason(status))
            if rule.retry_after is not None:
                response.headers["retry-after"] = f"{rule.retry_after:g}"
            await response(scope, receive, send)
            return
        if rule.drop or rule.malformed:
            await self._mangle(scope, receive, send, drop=rule.drop)
            return
        await self.app(scope, receive, send)

    async def _after(self, rule: Any, scope: Scope, receive: Receive, send: Send) -> None:
        """Let the request take effect, then hang, fail with ``status`` or answer ``body``."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        if rule.hang:
            await _wait_for_disconnect(receive)
            return
        status = rule.status
        if rule.error_rate and not self.state.faults.roll(rule.error_rate):
            status = None
        if status is not None:
            await self.error_response(status, _reason(status))(scope, receive, send)
            return
        body = rule.body.encode() if rule.body is not None else b"".join(chunks)
        assert start is not None
        headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _mangle(self, scope: Scope, receive: Receive, send: Send, *, drop: bool) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        streaming = False

        async def capture(message: Message) -> None:
            nonlocal start, streaming
            if message["type"] == "http.response.start":
                start = message
                ctype = dict(message.get("headers", [])).get(b"content-type", b"").decode()
                streaming = ctype.startswith(STREAMING_TYPES)
                if streaming:  # streams read malformed/slow knobs themselves
                    await send(message)
            elif streaming:
                await send(message)
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        if streaming or start is None:
            return
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
        if drop:
            body = body or b'{"partial": true, "padding": "' + b"x" * 64 + b'"}'
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
            )
            raise ConnectionDropped("sandbox fault: connection dropped mid-response")
        broken = body[: max(1, len(body) // 2)] if body else b'{"malformed": '
        headers.append((b"content-length", str(len(broken)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": broken})


def _reason(status: int) -> str:
    return {
        429: "Too many requests (sandbox fault)",
        500: "Internal server error (sandbox fault)",
        502: "Bad gateway (sandbox fault)",
        503: "Service unavailable (sandbox fault)",
        504: "Gateway timeout (sandbox fault)",
    }.get(status, f"HTTP {status} (sandbox fault)")
