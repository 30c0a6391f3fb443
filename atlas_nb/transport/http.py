"""HTTP for providers: one ``httpx.AsyncClient`` per base URL on the runtime loop, the retry
policy, error mapping and the ``atlas.http.request`` telemetry event.

    >>> import httpx
    >>> from atlas_nb._runtime import get_runtime
    >>> api = HttpApi(provider="demo", api="rest", base_url="https://demo.invalid",
    ...               transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"ok": 1})))
    >>> get_runtime().run(api.json("GET", "/ping"))
    {'ok': 1}
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json as _json
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import orjson

from .. import telemetry
from .._runtime import get_runtime
from ..errors import (
    AtlasError,
    AtlasTimeoutError,
    RateLimitedError,
    TransportError,
)
from .error_mapping import error_from_response
from .redact import redact_url
from .retry import (
    RetryPolicy,
    classify,
    is_idempotent,
    parse_retry_after,
    retry_delay,
    should_retry,
)

if TYPE_CHECKING:
    import httpx
else:
    from .._lazy import httpx

EVENT = "atlas.http.request"
USER_AGENT = "atlas_nb/0.1 (+https://github.com/atlas-nb/atlas_nb)"

Headers = Mapping[str, str]
ErrorMapper = Callable[["httpx.Response", Any], AtlasError]


class _ClientPool:
    """Clients keyed by (origin, transport); created and closed on the runtime loop."""

    def __init__(self) -> None:
        self.clients: dict[tuple[str, int], httpx.AsyncClient] = {}

    def get(self, base_url: str, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        key = (_origin(base_url), id(transport))
        client = self.clients.get(key)
        if client is None or client.is_closed:
            client = httpx.AsyncClient(
                transport=transport or _default_transport(),
                headers={"user-agent": USER_AGENT},
                # drop idle connections before servers do (uvicorn: 5 s), so a pooled
                # connection is never reused just as the server closes it
                limits=httpx.Limits(
                    max_connections=200, max_keepalive_connections=50, keepalive_expiry=4.0
                ),
                follow_redirects=False,
            )
            client._cookies = _cookie_jar_class()()  # httpx offers no public seam for this
            self.clients[key] = client
        return client

    async def aclose(self) -> None:
        clients, self.clients = list(self.clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):
                await client.aclose()


def _default_transport() -> httpx.AsyncBaseTransport | None:
    """The lean HTTP/1.1 transport (:mod:`.wire`), or httpx's own when ``ATLAS_NB_HTTP=httpx``."""
    if os.environ.get("ATLAS_NB_HTTP", "").strip().lower() == "httpx":
        return None
    from .wire import LeanTransport

    return LeanTransport(max_connections=200, keepalive_expiry=4.0)


@functools.cache
def _cookie_jar_class() -> type[httpx.Cookies]:
    """httpx's cookie jar, minus the work for answers that set no cookie (nearly all: the
    provider APIs authenticate with keys). httpx runs every answer through http.cookiejar,
    about a quarter of its own time per request; an answer with no ``Set-Cookie`` adds
    nothing, so skipping it changes nothing."""

    class SetCookieOnly(httpx.Cookies):
        def extract_cookies(self, response: httpx.Response) -> None:
            headers = response.headers
            if "set-cookie" in headers or "set-cookie2" in headers:
                super().extract_cookies(response)

    return SetCookieOnly


@functools.lru_cache(maxsize=256)
def _origin(base_url: str) -> str:
    """``https://host:port/`` of a base URL (parsed once per base URL, not per request)."""
    return str(httpx.URL(base_url).copy_with(path="/", query=None, fragment=None))


@functools.lru_cache(maxsize=1024)
def _request_url(url: str, params: tuple[tuple[str, str], ...] | None) -> httpx.URL:
    """The parsed URL of a request, query included: httpx parses a string URL several times
    per request (and again to merge ``params``); a parsed ``httpx.URL`` it takes as is."""
    parsed = httpx.URL(url)
    return parsed.copy_merge_params(list(params)) if params else parsed


def _pool() -> _ClientPool:
    rt = get_runtime()

    def make() -> _ClientPool:
        pool = _ClientPool()
        rt.on_shutdown(pool.aclose, last=True)
        return pool

    return rt.service("http-clients", make)


def decode_body(response: httpx.Response) -> Any:
    """JSON when the body parses as JSON, else text (``None`` when empty)."""
    if not response.content:
        return None
    try:
        return orjson.loads(response.content)  # several times faster than json on big pages
    except orjson.JSONDecodeError:
        return response.text


class HttpApi:
    """One provider API (base URL + auth) with retries, error mapping and telemetry.

    ``auth_headers`` is a mapping or a zero-argument callable returning one (so a rotating
    token can be looked up per request). ``error_mapper`` turns a failed response into an
    :class:`AtlasError` (default: :func:`error_from_response`).
    """

    def __init__(
        self,
        *,
        provider: str,
        api: str,
        base_url: str,
        auth_headers: Headers | Callable[[], Headers] | None = None,
        timeout: float = 30.0,
        policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Headers | None = None,
        error_mapper: ErrorMapper | None = None,
    ) -> None:
        self.provider = provider
        self.api = api
        self.base_url = base_url.rstrip("/")
        self._auth = auth_headers
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.transport = transport
        self.headers = dict(headers or {})
        self.error_mapper = error_mapper or self._default_error

    def _default_error(self, response: httpx.Response, body: Any) -> AtlasError:
        return error_from_response(
            self.provider,
            response.status_code,
            body,
            response.headers,
            retry_after_s=parse_retry_after(response.headers.get("retry-after")),
        )

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + ("" if path.startswith("/") or not path else "/") + path

    def _headers(self, extra: Headers | None) -> dict[str, str]:
        out = {"accept": "application/json", **self.headers}
        auth = self._auth() if callable(self._auth) else self._auth
        if auth:
            out.update(auth)
        if extra:
            out.update(extra)
        return out

    @property
    def client(self) -> httpx.AsyncClient:
        return _pool().get(self.base_url, self.transport)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        headers: Headers | None = None,
        idempotent: bool | None = None,
        timeout: float | None = None,
        ok_statuses: tuple[int, ...] = (),
        what: str | None = None,
    ) -> httpx.Response:
        """Send with retries; return a 2xx response (or one in ``ok_statuses``), else raise.

        ``idempotent`` defaults from the method. ``what`` names the operation in errors
        ("spawn", "launch") so a not-retried 429 says why.
        """
        method = method.upper()
        safe = is_idempotent(method) if idempotent is None else idempotent
        url = self.url(path)
        hdrs = self._headers(headers)
        if json is not None:
            hdrs.setdefault("content-type", "application/json")
        content = None if json is None else _json.dumps(json).encode()
        attempt = 0
        client = self.client
        while True:
            attempt += 1
            t0 = time.monotonic_ns()
            try:
                response = await client.request(
                    method,
                    _request_url(url, _clean_params(params)),
                    content=content,
                    headers=hdrs,
                    timeout=timeout or self.timeout,
                )
            except httpx.HTTPError as exc:
                err_class = classify(exc)
                self._emit(method, url, None, attempt, t0, error=err_class)
                if should_retry(self.policy, attempt=attempt, idempotent=safe, error=err_class):
                    await asyncio.sleep(retry_delay(self.policy, attempt=attempt))
                    continue
                raise self._transport_error(exc, err_class, url) from exc
            self._emit(method, str(response.request.url), response.status_code, attempt, t0)
            status = response.status_code
            if 200 <= status < 300 or status in ok_statuses:
                return response
            retry_after = response.headers.get("retry-after")
            if should_retry(self.policy, attempt=attempt, idempotent=safe, status=status):
                await response.aread()
                await asyncio.sleep(
                    retry_delay(self.policy, attempt=attempt, retry_after=retry_after)
                )
                continue
            body = decode_body(response)
            err = self.error_mapper(response, body)
            if isinstance(err, RateLimitedError) and not safe and err.hint is None:
                wait = f" after {err.retry_after_s:g} s" if err.retry_after_s is not None else ""
                err.amend(
                    hint=f"{what or method + ' ' + path} was not retried automatically because "
                    f"it could create or bill a second resource; check what exists, then "
                    f"retry{wait}."
                )
            raise err

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like :meth:`request` but returns the decoded body."""
        response = await self.request(method, path, **kwargs)
        return decode_body(response)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Headers | None = None,
        timeout: httpx.Timeout | float | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """A streaming response (SSE, NDJSON). Non-2xx raises the mapped error."""
        url = self.url(path)
        t0 = time.monotonic_ns()
        try:
            async with self.client.stream(
                method.upper(),
                url,
                params=cast(Any, _clean_params(params)),
                headers=self._headers(headers),
                timeout=timeout if timeout is not None else self.timeout,
            ) as response:
                self._emit(method.upper(), str(response.request.url), response.status_code, 1, t0)
                if not 200 <= response.status_code < 300:
                    await response.aread()
                    raise self.error_mapper(response, decode_body(response))
                yield response
        except httpx.HTTPError as exc:
            err_class = classify(exc)
            self._emit(method.upper(), url, None, 1, t0, error=err_class)
            raise self._transport_error(exc, err_class, url) from exc

    def _transport_error(self, exc: httpx.HTTPError, err_class: str, url: str) -> AtlasError:
        where = redact_url(url)
        if err_class in ("timeout",) or isinstance(exc, httpx.TimeoutException):
            return AtlasTimeoutError(
                f"{self.provider} did not answer in time ({type(exc).__name__} on {where})",
                provider=self.provider,
                raw=repr(exc),
            )
        return TransportError(
            f"could not reach {self.provider} ({type(exc).__name__} on {where}: {exc})",
            provider=self.provider,
            raw=repr(exc),
        )

    def _emit(
        self,
        method: str,
        url: str,
        status: int | None,
        attempt: int,
        t0: int,
        error: str | None = None,
    ) -> None:
        if not telemetry.enabled(EVENT):
            return
        meta: dict[str, Any] = {
            "provider": self.provider,
            "api": self.api,
            "method": method,
            "url": redact_url(url),
            "status": status,
            "attempt": attempt,
        }
        if error:
            meta["error_kind"] = error
        telemetry.emit(EVENT, {"duration_ns": time.monotonic_ns() - t0}, meta)


def _clean_params(
    params: Mapping[str, Any] | list[tuple[str, Any]] | None,
) -> tuple[tuple[str, str], ...] | None:
    """Drop None values; booleans as true/false; lists as repeated params."""
    if params is None:
        return None
    items = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, str]] = []
    for key, value in items:
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            out.append((key, "true" if v is True else "false" if v is False else str(v)))
    return tuple(out)
