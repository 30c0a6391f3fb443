"""The client of Fly's logs API: ``GET {fly_api}/api/v1/apps/{app}/logs?next_token=...``.

One call fetches one page after the cursor. A 401 invalidates the app's token (memory and
storage) and retries once with a freshly resolved one. Each call is wrapped in the telemetry
span ``atlas.fly.logs.fetch`` (app; stop adds ``status`` and ``count``).

    >>> import httpx
    >>> from atlas_nb._runtime import get_runtime
    >>> page = {"data": [{"id": "1", "attributes": {"timestamp": "2026-01-01T00:00:00.5Z",
    ...         "message": "listening on :8080", "level": "info", "region": "iad",
    ...         "instance": "148ed1"}}], "meta": {"next_token": "1767225600500000000"}}
    >>> client = FlyLogsClient("web", token=lambda: "FlyV1 fm2_ZXhhbXBsZQ==",
    ...     base_url="https://fly.invalid",
    ...     transport=httpx.MockTransport(lambda r: httpx.Response(200, json=page)))
    >>> got = get_runtime().run(client.fetch(""))
    >>> got.entries[0].entry.message, got.next_token
    ('listening on :8080', '1767225600500000000')
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ... import telemetry
from ...config import settings
from ...errors import AtlasError, NotFoundError, ProviderError, UnauthorizedError
from ...transport import HttpApi
from ...transport.paths import segment
from ...transport.retry import RetryPolicy
from ..tokens.shape import authorization_header
from .entries import Page, parse_page

EVENT = "atlas.fly.logs.fetch"
TIMEOUT_S = 10.0

TokenFn = Callable[[], Awaitable[str] | str]
InvalidateFn = Callable[[], Awaitable[None] | None]


async def _call(fn: Callable[[], Any]) -> Any:
    result = fn()
    if inspect.isawaitable(result):
        result = await result
    return result


def logs_path(app: str) -> str:
    """The path of an app's logs (the name is checked and escaped: it cannot change the path).

    >>> logs_path("my-app")
    '/api/v1/apps/my-app/logs'
    """
    return f"/api/v1/apps/{segment(app, 'fly_app', field='app')}/logs"


class FlyLogsClient:
    """Fetches pages of one app's logs (optionally one region / one instance)."""

    def __init__(
        self,
        app: str,
        *,
        token: TokenFn | None = None,
        invalidate: InvalidateFn | None = None,
        region: str | None = None,
        instance: str | None = None,
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.path = logs_path(app)  # a bad app name fails here, before a token is sought
        self.app = app
        self.region = region
        self.instance = instance
        if token is None or invalidate is None:
            from ..tokens import aio as tokens

            token = token or (lambda: tokens.get(app))
            invalidate = invalidate or (lambda: tokens.invalidate(app))
        self._token: TokenFn = token
        self._invalidate: InvalidateFn = invalidate
        s = settings()
        self.api = HttpApi(
            provider="fly",
            api="logs",
            base_url=base_url or s.base_url("fly_api"),
            timeout=TIMEOUT_S,
            policy=RetryPolicy(max_retries=1, retry_after_cap_s=s.retry_after_cap_s),
            transport=transport if transport is not None else s.http_transport,
        )

    def params(self, next_token: str) -> dict[str, str]:
        """The query: ``next_token`` always (empty at first), then the filters when set."""
        params = {"next_token": next_token}
        if self.region:
            params["region"] = self.region
        if self.instance:
            params["instance"] = self.instance
        return params

    async def _get(self, next_token: str) -> Any:
        token = await _call(self._token)
        return await self.api.json(
            "GET",
            self.path,
            params=self.params(next_token),
            headers={"authorization": authorization_header(token)},
        )

    async def fetch(self, next_token: str = "") -> Page:
        """One page after ``next_token``; raises :class:`~atlas_nb.errors.AtlasError`."""
        with telemetry.span(EVENT, {"app": self.app}) as meta:
            meta["count"] = 0
            try:
                try:
                    body = await self._get(next_token)
                except NotFoundError as exc:
                    exc.amend(
                        hint=f"Check the app name {self.app!r} (atlas.fly.discover_apps() lists "
                        "the apps of a project; `fly apps list` those of your organisation)."
                    )
                    raise
                except UnauthorizedError:
                    await _call(self._invalidate)
                    try:
                        body = await self._get(next_token)
                    except UnauthorizedError as exc:
                        exc.amend(
                            hint=f"Fly rejected the token for {self.app} twice. If you set it "
                            "with atlas.fly.tokens.set_manual, set a new one (or clear_manual); "
                            "otherwise run `fly auth login` or fix FLY_API_TOKEN."
                        )
                        raise
                try:
                    page = parse_page(body, self.app)
                except ValueError as exc:
                    raise ProviderError(
                        f"the logs API answered with something that is not a logs page ({exc})",
                        provider="fly",
                        raw=body if isinstance(body, (dict, list)) else str(body)[:200],
                    ) from None
            except AtlasError as exc:
                meta["status"] = exc.kind
                raise
            meta["status"] = "ok"
            meta["count"] = len(page.entries)
            return page
