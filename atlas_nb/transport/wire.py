"""A lean HTTP/1.1 transport for httpx: keep-alive connections over asyncio streams, without
httpcore, anyio and h11 (about a third of httpx's per-request cost on loopback).

``LeanTransport`` serves ``http`` and ``https`` (HTTP/1.1 only). Requests it does not serve go
to a lazily created ``httpx.AsyncHTTPTransport()``: when an HTTP(S)_PROXY / ALL_PROXY variable
is set, and for any other scheme. Responses carry the raw body; httpx decodes content-encoding.

Reuse rule: a request sent on a *reused* idle connection is sent again once, on a fresh
connection, when writing it failed (the server had closed the connection: it got no request),
or when it is a safe method (GET, PUT, DELETE...) and the server closed before any response
byte. A create (POST) that got no answer may have been done, so it is not sent again here: that
is the retry policy's call (:mod:`atlas_nb.transport.retry`), which never retries one blindly.

The response parser is pure and fed bytes in any split:

    >>> p = ResponseHead()
    >>> p.feed(b"HTTP/1.1 200 OK\\r\\nContent-Len") is None
    True
    >>> status, reason, headers = p.feed(b"gth: 2\\r\\nSet-Cookie: a\\r\\nSet-Cookie: b\\r\\n"
    ...                                  b"\\r\\nhi")
    >>> status, headers, p.rest
    (200, [(b'Content-Length', b'2'), (b'Set-Cookie', b'a'), (b'Set-Cookie', b'b')], b'hi')
    >>> d = ChunkedDecoder()
    >>> d.feed(b"2\\r\\nhi\\r\\n0\\r\\nX-T: 1\\r\\n\\r\\n"), d.done
    ([b'hi'], True)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

import httpx

from .retry import is_idempotent

MAX_HEAD = 64 * 1024
READ_SIZE = 64 * 1024
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _protocol_error(msg: str) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(msg)


class ResponseHead:
    """Accumulates bytes until a complete status line + headers; ``feed`` returns
    ``(status, reason, headers)`` then, with the bytes after the head in ``rest``."""

    def __init__(self) -> None:
        self.buf = b""
        self.rest = b""

    def feed(self, data: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                raise _protocol_error("response head too large")
            return None
        head, self.rest = self.buf[:end], self.buf[end + 4 :]
        lines = head.split(b"\r\n")
        return (*parse_status_line(lines[0]), parse_headers(lines[1:]))


def parse_status_line(line: bytes) -> tuple[int, bytes]:
    """``b"HTTP/1.1 404 Not Found"`` -> ``(404, b"Not Found")``."""
    parts = line.split(b" ", 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise _protocol_error(f"malformed status line {line[:80]!r}")
    code = parts[1]
    if len(code) != 3 or not code.isdigit():
        raise _protocol_error(f"malformed status code {code[:10]!r}")
    return int(code), parts[2] if len(parts) == 3 else b""


def parse_headers(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not name or not _TOKEN.issuperset(name):
            raise _protocol_error(f"malformed header line {line[:80]!r}")
        value = value.strip(b" \t")
        if b"\r" in value or b"\n" in value or b"\0" in value:
            raise _protocol_error(f"malformed header value {line[:80]!r}")
        out.append((name, value))
    return out


class ChunkedDecoder:
    """Decodes ``Transfer-Encoding: chunked`` fed in any byte split (trailers are dropped)."""

    def __init__(self) -> None:
        self.buf = b""
        self.left = -1  # bytes left in the current chunk (+2 for its CRLF); -1: expect a size
        self.trailers = False
        self.done = False

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        out: list[bytes] = []
        while not self.done:
            if self.trailers:
                if not self._trailer_line():
                    break
            elif self.left < 0:
                if not self._size_line():
                    break
            else:
                if not self._chunk_data(out):
                    break
        return out

    def _size_line(self) -> bool:
        end = self.buf.find(b"\r\n")
        if end < 0:
            if len(self.buf) > 1024:
                raise _protocol_error("chunk size line too long")
            return False
        size = self.buf[:end].split(b";", 1)[0].strip(b" \t")
        if not size or len(size) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in size):
            raise _protocol_error(f"malformed chunk size {size[:20]!r}")
        self.buf = self.buf[end + 2 :]
        n = int(size, 16)
        if n == 0:
            self.trailers = True
        else:
            self.left = n + 2
        return True

    def _chunk_data(self, out: list[bytes]) -> bool:
        if not self.buf:
            return False
        body = self.left - 2
        if body > 0:
            piece = self.buf[:body]
            out.append(piece)
            self.buf = self.buf[len(piece) :]
            self.left -= len(piece)
            return bool(self.buf)
        if len(self.buf) < self.left:  # the CRLF after the data, maybe split
            if self.buf != b"\r\n"[2 - self.left : 2 - self.left + len(self.buf)]:
                raise _protocol_error("chunk not followed by CRLF")
            self.left -= len(self.buf)
            self.buf = b""
            return False
        if self.buf[: self.left] != b"\r\n"[2 - self.left :]:
            raise _protocol_error("chunk not followed by CRLF")
        self.buf = self.buf[self.left :]
        self.left = -1
        return True

    def _trailer_line(self) -> bool:
        end = self.buf.find(b"\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                raise _protocol_error("trailers too large")
            return False
        line, self.buf = self.buf[:end], self.buf[end + 2 :]
        if not line:
            self.done = True
        else:
            parse_headers([line])
        return True


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()
        self.reused = False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    def is_usable(self, expiry: float) -> bool:
        return (
            time.monotonic() - self.idle_since < expiry
            and not self.reader.at_eof()
            and not self.writer.is_closing()
            and not self.reader._buffer  # type: ignore[attr-defined]  # unsolicited bytes
        )


def _timeout(request: httpx.Request, key: str) -> float | None:
    t = request.extensions.get("timeout") or {}
    return t.get(key) if isinstance(t, dict) else None


@contextlib.asynccontextmanager
async def _deadline(
    seconds: float | None, exc: type[httpx.TimeoutException], request: httpx.Request
) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as e:
        raise exc(f"{exc.__name__} after {seconds} s", request=request) from e


def _ssl_context() -> ssl.SSLContext:
    """Verify servers as httpx does: ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, else certifi's
    bundle (the system's when certifi is missing)."""
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile or None, capath=capath or None)
    try:
        import certifi
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class _Body(httpx.AsyncByteStream):
    """The response body; returns the connection to the pool once fully read (if reusable)."""

    def __init__(
        self,
        transport: LeanTransport,
        key: Any,
        conn: _Conn,
        mode: str,
        length: int,
        first: bytes,
        keep: bool,
        request: httpx.Request,
    ) -> None:
        self.t, self.key, self.conn, self.mode = transport, key, conn, mode
        self.length, self.first, self.keep, self.request = length, first, keep, request
        self.chunked = ChunkedDecoder() if mode == "chunked" else None
        self.finished = mode == "none"
        self.released = False
        if self.finished:
            self._release()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for piece in self._pieces():
                yield piece
        finally:
            if not self.finished:
                self._drop()

    async def _pieces(self) -> AsyncIterator[bytes]:
        data, self.first = self.first, b""
        timeout = _timeout(self.request, "read")
        while not self.finished:
            if not data:
                try:
                    async with _deadline(timeout, httpx.ReadTimeout, self.request):
                        data = await self.conn.reader.read(READ_SIZE)
                except OSError as e:
                    raise httpx.ReadError(str(e) or type(e).__name__, request=self.request) from e
                if not data:
                    if self.mode == "close":
                        self.finished = True
                        self._drop()
                        return
                    raise _protocol_error("server closed the connection before the body ended")
            for piece in self._take(data):
                if piece:
                    yield piece
            data = b""
        self._release()

    def _take(self, data: bytes) -> list[bytes]:
        if self.chunked is not None:
            out = self.chunked.feed(data)
            if self.chunked.done:
                if self.chunked.buf:
                    self.keep = False  # bytes after the body: the connection is out of step
                self.finished = True
            return out
        if self.mode == "length":
            if len(data) > self.length:
                data, self.keep = data[: self.length], False
            self.length -= len(data)
            self.finished = self.length == 0
        return [data]

    def _release(self) -> None:
        if self.released:
            return
        self.released = True
        if self.keep:
            self.t._put(self.key, self.conn)
        else:
            self.t._discard(self.conn)

    def _drop(self) -> None:
        self.keep = False
        self._release()

    async def aclose(self) -> None:
        if not self.finished:
            self._drop()


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive over asyncio streams; see the module docstring.

    ``max_connections`` bounds open connections: a request finding them all busy waits for
    one to come free (an idle one to another host is closed to make room), and fails with
    ``PoolTimeout`` past the pool timeout. Idle connections older than ``keepalive_expiry``
    seconds are dropped, not reused.
    """

    def __init__(
        self,
        *,
        max_connections: int = 200,
        keepalive_expiry: float = 4.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.keepalive_expiry = keepalive_expiry
        self._idle: dict[Any, list[_Conn]] = {}
        self._max = max_connections
        self._connecting = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._ssl = ssl_context
        self._fallback: httpx.AsyncHTTPTransport | None = None
        self._open: set[_Conn] = set()

    def _serves(self, request: httpx.Request) -> bool:
        if request.url.scheme not in ("http", "https"):
            return False
        return not any(os.environ.get(v) for v in _PROXY_VARS)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self._serves(request):
            if self._fallback is None:
                self._fallback = httpx.AsyncHTTPTransport()
            return await self._fallback.handle_async_request(request)
        url = request.url
        https = url.scheme == "https"
        key = (https, url.host, url.port or (443 if https else 80))
        head = _request_head(request)
        for attempt in (1, 2):
            conn = await self._get(key, request, fresh=attempt == 2)
            try:
                return await self._exchange(key, conn, request, head)
            except _Stale as e:
                self._discard(conn)
                if not isinstance(getattr(request.stream, "_stream", None), bytes):
                    raise httpx.RemoteProtocolError(  # a streamed body cannot be sent twice
                        "server closed a reused connection", request=request
                    ) from e
                continue
            except BaseException:
                self._discard(conn)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _get(self, key: Any, request: httpx.Request, *, fresh: bool) -> _Conn:
        try:
            async with asyncio.timeout(_timeout(request, "pool")):
                conn = await self._take_or_reserve(key, fresh=fresh)
        except TimeoutError as e:
            raise httpx.PoolTimeout("no connection free in the pool", request=request) from e
        return conn or await self._connect(key, request)

    async def _take_or_reserve(self, key: Any, *, fresh: bool) -> _Conn | None:
        """An idle connection to ``key``, or None once a slot for a new one is reserved."""
        while True:
            idle = self._idle.get(key)
            while idle and not fresh:
                conn = idle.pop()
                if conn.is_usable(self.keepalive_expiry):
                    conn.reused = True
                    return conn
                self._discard(conn)
            if self._has_room() or self._close_an_idle_connection():
                self._connecting += 1
                return None
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # we were handed a free connection: pass it on
                raise
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def _has_room(self) -> bool:
        return not self._max or len(self._open) + self._connecting < self._max

    def _close_an_idle_connection(self) -> bool:
        for idle in self._idle.values():
            if idle:
                self._discard(idle[0], wake=False)  # its slot is ours
                return True
        return False

    def _wake_one(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(self, key: Any, request: httpx.Request) -> _Conn:
        try:
            https, host, port = key
            ctx = (self._ssl or _ssl_context()) if https else None
            if https and self._ssl is None:
                self._ssl = ctx
            async with _deadline(_timeout(request, "connect"), httpx.ConnectTimeout, request):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    ssl=ctx,
                    limit=MAX_HEAD * 2,
                    server_hostname=host if https else None,
                )
        except BaseException as e:
            self._connecting -= 1
            self._wake_one()  # the reserved slot is free again
            if isinstance(e, OSError):
                raise httpx.ConnectError(str(e) or type(e).__name__, request=request) from e
            raise
        self._connecting -= 1
        conn = _Conn(reader, writer)
        self._open.add(conn)
        return conn

    def _put(self, key: Any, conn: _Conn) -> None:
        conn.idle_since = time.monotonic()
        self._idle.setdefault(key, []).append(conn)
        self._wake_one()

    def _discard(self, conn: _Conn, *, wake: bool = True) -> None:
        conn.close()
        if conn in self._open:
            self._open.discard(conn)
            if wake:
                self._wake_one()
        for idle in self._idle.values():
            if conn in idle:
                idle.remove(conn)

    async def _exchange(
        self, key: Any, conn: _Conn, request: httpx.Request, head: bytes
    ) -> httpx.Response:
        await self._send(conn, request, head)
        parser = ResponseHead()
        got_any = False
        timeout = _timeout(request, "read")
        resend = conn.reused and is_idempotent(request.method)
        while True:
            try:
                async with _deadline(timeout, httpx.ReadTimeout, request):
                    data = await conn.reader.read(READ_SIZE)
            except OSError as e:
                if resend and not got_any:
                    raise _Stale from e
                raise httpx.ReadError(str(e) or type(e).__name__, request=request) from e
            if not data:
                if resend and not got_any:
                    raise _Stale
                raise _protocol_error("server closed the connection without a response")
            got_any = True
            parsed = parser.feed(data)
            if parsed is None:
                continue
            status, reason, headers = parsed
            while 100 <= status < 200 and status != 101:  # interim answers: read the next head
                rest, parser = parser.rest, ResponseHead()
                parsed = parser.feed(rest)
                if parsed is None:
                    break
                status, reason, headers = parsed
            if parsed is None:
                continue
            return self._response(key, conn, request, status, reason, headers, parser.rest)

    async def _send(self, conn: _Conn, request: httpx.Request, head: bytes) -> None:
        stream = request.stream
        content = getattr(stream, "_stream", None)  # httpx's ByteStream holds bytes
        chunked = not isinstance(content, bytes) and "content-length" not in request.headers
        timeout = _timeout(request, "write")
        try:
            async with _deadline(timeout, httpx.WriteTimeout, request):
                if isinstance(content, bytes):
                    conn.writer.write(head + content)
                else:
                    conn.writer.write(head)
                    async for piece in _iterate(stream):
                        if piece:
                            conn.writer.write(
                                b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
                            )
                            await conn.writer.drain()
                    if chunked:
                        conn.writer.write(b"0\r\n\r\n")
                await conn.writer.drain()
        except OSError as e:
            if conn.reused:
                raise _Stale from e
            raise httpx.WriteError(str(e) or type(e).__name__, request=request) from e

    def _response(
        self,
        key: Any,
        conn: _Conn,
        request: httpx.Request,
        status: int,
        reason: bytes,
        headers: list[tuple[bytes, bytes]],
        rest: bytes,
    ) -> httpx.Response:
        te = cl = None
        conn_tokens: set[bytes] = set()
        for name, value in headers:
            low = name.lower()
            if low == b"transfer-encoding":
                te = value.lower()
            elif low == b"content-length":
                if cl is not None and cl != value:
                    raise _protocol_error("conflicting Content-Length headers")
                cl = value
            elif low == b"connection":
                conn_tokens.update(t.strip().lower() for t in value.split(b","))
        keep = b"close" not in conn_tokens and b"close" not in _tokens(
            request.headers.get("connection")
        )
        if request.method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            mode, length = "none", 0
        elif te is not None:
            if te.split(b",")[-1].strip() != b"chunked":
                mode, keep, length = "close", False, 0
            else:
                mode, length = "chunked", 0
        elif cl is not None:
            if not cl.isdigit():
                raise _protocol_error(f"malformed Content-Length {cl[:20]!r}")
            length = int(cl)
            mode = "length" if length else "none"
        else:
            mode, keep, length = "close", False, 0
        if mode == "none" and rest:
            keep = False
        body = _Body(self, key, conn, mode, length, rest, keep, request)
        return httpx.Response(
            status,
            headers=headers,
            stream=body,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    async def aclose(self) -> None:
        for conn in list(self._open):
            self._discard(conn)
        self._idle.clear()
        if self._fallback is not None:
            await self._fallback.aclose()


class _Stale(Exception):
    """The reused connection was closed by the server before it answered: send the request
    again once, on a fresh connection (only where the reuse rule allows it)."""


def _tokens(value: str | None) -> set[bytes]:
    return {t.strip().lower().encode() for t in value.split(",")} if value else set()


def _request_head(request: httpx.Request) -> bytes:
    url = request.url
    target = url.raw_path or b"/"
    lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode(), target)]
    has_host = has_len = False
    for name, value in request.headers.raw:
        low = name.lower()
        has_host = has_host or low == b"host"
        has_len = has_len or low in (b"content-length", b"transfer-encoding")
        lines.append(b"%s: %s\r\n" % (name, value))
    if not has_host:
        lines.insert(1, b"Host: %s\r\n" % url.netloc)
    content = getattr(request.stream, "_stream", None)
    if not has_len and not isinstance(content, bytes):
        lines.append(b"Transfer-Encoding: chunked\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


async def _iterate(stream: Any) -> AsyncIterator[bytes]:
    if isinstance(stream, AsyncIterable):
        async for piece in stream:
            yield piece
    elif isinstance(stream, Iterable):
        for piece in stream:
            yield piece
