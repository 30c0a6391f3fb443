"""The fake Fly platform API (``https://api.fly.io``): the logs endpoint flyctl uses.

``GET /api/v1/apps/{app}/logs?next_token=<ns>[&region=][&instance=]`` answers the JSON:API
envelope of provider-apis.md §6b for the apps of the sandbox's Fly organisation
(:func:`~atlas_nb.sandbox.fly.world.fly_world`); lines grow over simulated time
(:mod:`atlas_nb.sandbox.fly.logbook`). Without ``next_token`` it returns the latest 100
lines; with one, up to 100 lines after it (``meta.next_token`` is the last line's nanosecond
timestamp, or ``""`` when there is nothing new).

Auth: ``Authorization: FlyV1 <token>`` or ``Bearer <token>`` with the sandbox's Fly key or a
token minted by the fake ``fly tokens create``; revoked tokens get 401. Fault knobs use the
provider name ``fly_api``; ``malformed`` injects malformed entries *inside* an otherwise valid
page instead of truncating the body.

``POST /graphql`` serves the IP-address slice of Fly's GraphQL API (list an app's IPs,
``allocateIpAddress``; see :mod:`.graphql`): the Machines API allocates no public
address, so ``<app>.fly.dev`` only answers once an app has them.

Sandbox-only control route: ``POST /_sandbox/tokens/revoke`` with ``{"token": "..."}``.
``prepare`` installs the fake ``fly`` CLI (:mod:`atlas_nb.sandbox.fly.fake_fly`).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._http import FaultMiddleware, Receive, Scope, Send, json_body, json_response, relative_path
from .._state import SandboxState
from . import fake_fly
from . import graphql as _fly_graphql
from .cli import verify
from .logbook import LogBook, to_json
from .world import fly_world

PROVIDER = "fly_api"
_MALFORMED_SCOPE_KEY = "atlas_sandbox.malformed"


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


class FlyApiFaults(FaultMiddleware):
    """FaultMiddleware, except that ``malformed`` is applied by the endpoint (bad entries in
    a valid page) rather than by truncating the response."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            rule = self.state.faults.peek(self.provider, scope["method"], relative_path(scope))
            only_malformed = (
                rule is not None
                and rule.malformed
                and not (rule.status or rule.burst or rule.error_rate or rule.hang or rule.drop)
            )
            if only_malformed:
                assert rule is not None
                self.state.faults.take(self.provider, scope["method"], relative_path(scope))
                scope[_MALFORMED_SCOPE_KEY] = True
                if rule.latency:
                    await asyncio.sleep(rule.latency)
                await self.app(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _revoked(state: SandboxState) -> set[str]:
    revoked = state.providers.get("fly_api_revoked")
    if revoked is None:
        revoked = state.providers["fly_api_revoked"] = set()
    return revoked  # type: ignore[no-any-return,unused-ignore]


def _parts(credential: str) -> list[str]:
    body = credential
    for prefix in ("FlyV1 ", "Bearer "):
        if body.startswith(prefix):
            body = body[len(prefix) :]
    return [p.strip() for p in body.split(",") if p.strip()]


def _identity(state: SandboxState, part: str) -> str | None:
    """A stable id for a token part the sandbox accepts (its nonce, or the key itself)."""
    claims = verify(state.secret, part)
    if claims is not None:
        return f"nonce:{claims['nonce']}"
    if part in _parts(state.api_keys["fly"]):
        return f"key:{part}"
    return None


def authorized(state: SandboxState, header: str) -> bool:
    """True when some part of the credential is accepted and none is revoked."""
    parts = _parts(header.strip())
    if not parts:
        return False
    ids = [_identity(state, p) for p in parts]
    good = [i for i in ids if i is not None]
    return bool(good) and not any(i in _revoked(state) for i in good)


def revoke_token(state: SandboxState, token: str) -> int:
    """Revoke every accepted part of ``token``; returns how many were revoked."""
    ids = [i for i in (_identity(state, p) for p in _parts(token)) if i is not None]
    _revoked(state).update(ids)
    return len(ids)


def _books(state: SandboxState) -> dict[str, LogBook]:
    books = state.providers.get("fly_api_books")
    if books is None:
        books = state.providers["fly_api_books"] = {}
    return books  # type: ignore[no-any-return,unused-ignore]


def _malformed_items(app: str, good: list[dict[str, Any]]) -> list[Any]:
    stamp = good[0]["attributes"]["timestamp"] if good else "2026-01-01T00:00:00Z"
    return [
        "this entry is a string",
        {"id": f"{app}-bad-1", "type": "logs", "attributes": "not an object"},
        {
            "id": f"{app}-bad-2",
            "type": "logs",
            "attributes": {"timestamp": "yesterday-ish", "message": "bad timestamp"},
        },
        {"id": f"{app}-bad-3", "type": "logs", "attributes": {"timestamp": stamp, "message": 42}},
        17,
    ]


def build_app(state: SandboxState) -> Any:
    world = fly_world(state)
    request_ids = itertools.count(1)

    async def logs(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        if not authorized(state, header):
            return error_response(401, "Authenticate: token validation error")
        name = request.path_params["app"]
        app = world.apps.get(name)
        if app is None:
            return error_response(404, f'Could not find App "{name}"')
        token = request.query_params.get("next_token", "").strip()
        after: int | None = None
        if token:
            if not token.isdigit():
                return error_response(400, "invalid next_token: expected a nanosecond timestamp")
            after = int(token)
        books = _books(state)
        book = books.get(name)
        if book is None:
            book = books[name] = LogBook(state, app)
        lines, next_token = book.page(
            after,
            region=request.query_params.get("region") or None,
            instance=request.query_params.get("instance") or None,
        )
        data: list[Any] = [to_json(name, line) for line in lines]
        if request.scope.get(_MALFORMED_SCOPE_KEY):
            bad = _malformed_items(name, data)
            for k, item in enumerate(bad):
                data.insert(min(len(data), k * (len(data) // len(bad) + 1)), item)
        return json_response(
            {"data": data, "meta": {"next_token": next_token}},
            headers={"fly-request-id": f"01JSANDBOX{next(request_ids):016d}"},
        )

    async def graphql(request: Request) -> Response:
        if not authorized(state, request.headers.get("authorization", "")):
            return json_response(
                {"errors": [{"message": "You must be authenticated to view this."}]}, 401
            )
        try:
            body = await json_body(request)
        except ValueError:
            return json_response({"errors": [{"message": "body must be JSON"}]}, 400)
        return json_response(_fly_graphql.execute(state, body))

    async def revoke(request: Request) -> Response:
        try:
            body = await json_body(request)
        except ValueError:
            return error_response(400, "body must be JSON")
        if not isinstance(body, dict) or not isinstance(body.get("token"), str):
            return error_response(400, 'body must be {"token": "..."}')
        return json_response({"revoked": revoke_token(state, body["token"])})

    app = Starlette(
        routes=[
            Route("/api/v1/apps/{app}/logs", logs, methods=["GET"]),
            Route("/graphql", graphql, methods=["POST"]),
            Route("/_sandbox/tokens/revoke", revoke, methods=["POST"]),
        ]
    )
    return FlyApiFaults(app, state, PROVIDER, error_response)


def prepare(state: SandboxState, origin: str) -> None:
    """Install the fake ``fly`` CLI once the sandbox's origin is known."""
    fake_fly.install(state, origin + "/fly-api")
