"""The lean transport against an asyncio server on 127.0.0.1 that answers with exact bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from atlas_nb.transport.wire import LeanTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], object]


class Server:
    """Counts connections; each connection runs ``handler(reader, writer, n)``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0

    async def __aenter__(self) -> str:
        async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(r, w, self.connections)  # type: ignore[misc]
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                w.close()

        self.server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


async def read_request(r: asyncio.StreamReader) -> bytes:
    head = await r.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await r.readexactly(int(line.split(b":")[1]))
        if line.lower() == b"transfer-encoding: chunked":
            while (await r.readline()) != b"0\r\n":
                pass
            await r.readline()
    return head


def run(coro):
    return asyncio.run(coro)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_keep_alive_reuses_one_connection():
    async def handler(r, w, n):
        while True:
            await read_request(r)
            w.write(OK)

    async def main():
        srv = Server(handler)
        async with srv as url, httpx.AsyncClient(transport=LeanTransport()) as c:
            for _ in range(3):
                assert (await c.post(url + "/x", content=b"abc")).text == "ok"
        return srv.connections

    assert run(main()) == 1


def test_requests_waiting_for_a_full_pool_reuse_connections_that_come_free():
    """More concurrent requests than connections: the waiters take the connections the first
    requests give back (before the fix they waited for a slot that idle connections kept, and
    failed with PoolTimeout)."""

    async def handler(r, w, n):
        while True:
            await read_request(r)
            await asyncio.sleep(0)
            w.write(OK)

    async def main():
        srv = Server(handler)
        pool = httpx.Timeout(5.0)
        transport = LeanTransport(max_connections=2)
        async with srv as url, httpx.AsyncClient(transport=transport, timeout=pool) as c:
            answers = await asyncio.gather(*(c.get(url + f"/{i}") for i in range(12)))
        return [a.text for a in answers], srv.connections

    texts, connections = run(main())
    assert texts == ["ok"] * 12
    assert connections == 2


def test_a_full_pool_closes_an_idle_connection_to_another_host_for_a_new_one():
    async def handler(r, w, n):
        while True:
            await read_request(r)
            w.write(OK)

    async def main():
        first, second = Server(handler), Server(handler)
        limits = httpx.Timeout(5.0)
        transport = LeanTransport(max_connections=1)
        async with first as a, second as b:
            async with httpx.AsyncClient(transport=transport, timeout=limits) as c:
                assert (await c.get(a + "/")).text == "ok"  # idle, holding the one slot
                assert (await c.get(b + "/")).text == "ok"
                assert (await c.get(a + "/")).text == "ok"
        return first.connections, second.connections

    assert run(main()) == (2, 1)


def test_idle_connection_closed_by_server_is_retried_once():
    async def handler(r, w, n):
        await read_request(r)
        w.write(OK)
        await w.drain()  # then close: the client's pooled connection is stale

    async def main():
        srv = Server(handler)
        async with srv as url, httpx.AsyncClient(transport=LeanTransport()) as c:
            assert (await c.get(url + "/1")).text == "ok"
            assert (await c.get(url + "/2")).text == "ok"
        return srv.connections

    assert run(main()) == 2


def closes_after_reading_the_second_request(requests: list[bytes]):
    """Answers the first request; reads the second on the same connection and closes without
    answering (it may have acted on it); answers on any later connection."""

    async def handler(r, w, n):
        requests.append(await read_request(r))
        w.write(OK)
        await w.drain()
        if n == 1:
            requests.append(await read_request(r))

    return handler


def test_a_safe_request_the_server_closed_on_is_sent_again_on_a_fresh_connection():
    seen: list[bytes] = []

    async def main():
        srv = Server(closes_after_reading_the_second_request(seen))
        async with srv as url, httpx.AsyncClient(transport=LeanTransport()) as c:
            assert (await c.get(url + "/1")).text == "ok"
            assert (await c.get(url + "/2")).text == "ok"
        return srv.connections

    assert run(main()) == 2
    assert [h.split(b" ")[1] for h in seen] == [b"/1", b"/2", b"/2"]


def test_a_create_the_server_may_have_acted_on_is_not_sent_twice():
    # a POST (a spawn, a job) that got no answer may have been done: only the one retry
    # policy (transport/retry.py) decides about it, and it never blindly retries a create
    seen: list[bytes] = []

    async def main():
        srv = Server(closes_after_reading_the_second_request(seen))
        async with srv as url, httpx.AsyncClient(transport=LeanTransport()) as c:
            assert (await c.post(url + "/1", content=b"a")).text == "ok"
            with pytest.raises(httpx.RemoteProtocolError, match="without a response"):
                await c.post(url + "/2", content=b"b")
        return srv.connections

    assert run(main()) == 1
    assert [h.split(b" ")[1] for h in seen] == [b"/1", b"/2"]


def test_chunked_with_trailers_and_header_order():
    async def handler(r, w, n):
        await read_request(r)
        w.write(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nTransfer-Encoding: chunked\r\n"
            b"Set-Cookie: b=2\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: 1\r\n\r\n"
        )
        await read_request(r)
        w.write(OK)

    async def main():
        srv = Server(handler)
        async with srv as url, httpx.AsyncClient(transport=LeanTransport()) as c:
            r1 = await c.get(url)
            r2 = await c.get(url)
        return r1, r2, srv.connections

    r1, r2, conns = run(main())
    assert r1.content == b"abcde" and r1.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert r2.text == "ok" and conns == 1


def test_close_delimited_body_and_head_request():
    async def handler(r, w, n):
        head = await read_request(r)
        if head.startswith(b"HEAD"):
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
            await read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\n\r\nuntil close")

    async def main():
        async with Server(handler) as url, httpx.AsyncClient(transport=LeanTransport()) as c:
            h = await c.head(url)
            body = await c.get(url)
        return h, body

    h, body = run(main())
    assert h.status_code == 200 and h.content == b""
    assert body.content == b"until close"


def test_204_and_100_continue_without_body():
    async def handler(r, w, n):
        await read_request(r)
        w.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
        await read_request(r)
        w.write(OK)

    async def main():
        srv = Server(handler)
        async with srv as url, httpx.AsyncClient(transport=LeanTransport()) as c:
            a = await c.delete(url)
            b = await c.get(url)
        return a, b, srv.connections

    a, b, conns = run(main())
    assert (a.status_code, a.content, b.text, conns) == (204, b"", "ok", 1)


def test_streamed_request_body_is_sent_chunked():
    got: list[bytes] = []

    async def handler(r, w, n):
        got.append(await r.readuntil(b"\r\n\r\n"))
        got.append(await r.readuntil(b"0\r\n\r\n"))
        w.write(OK)

    async def body():
        yield b"hello "
        yield b"world"

    async def main():
        async with Server(handler) as url, httpx.AsyncClient(transport=LeanTransport()) as c:
            return await c.post(url, content=body())

    assert run(main()).text == "ok"
    assert b"transfer-encoding: chunked" in got[0].lower()
    assert got[1] == b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"


def test_read_timeout_from_a_server_that_never_answers():
    never = asyncio.Event()

    async def handler(r, w, n):
        await read_request(r)
        await never.wait()

    async def main():
        async with Server(handler) as url, httpx.AsyncClient(transport=LeanTransport()) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.get(url, timeout=0.2)
            never.set()

    run(main())


def test_early_close_of_a_streamed_body_closes_the_connection():
    async def handler(r, w, n):
        await read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nline\r\n")
        await w.drain()
        await r.read()  # wait for the client to hang up
        # a second connection answers normally

    # the second request must use a fresh connection

    async def handler2(r, w, n):
        if n == 1:
            await handler(r, w, n)
            return
        await read_request(r)
        w.write(OK)

    async def main():
        srv = Server(handler2)
        async with srv as url, httpx.AsyncClient(transport=LeanTransport()) as c:
            async with c.stream("GET", url) as resp:
                async for piece in resp.aiter_raw():
                    assert piece == b"line"
                    break
            assert (await c.get(url)).text == "ok"
        return srv.connections

    assert run(main()) == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"SPDY 200\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"",
    ],
)
def test_misbehaving_server_raises_protocol_error(answer):
    async def handler(r, w, n):
        await read_request(r)
        w.write(answer)

    async def main():
        async with Server(handler) as url, httpx.AsyncClient(transport=LeanTransport()) as c:
            with pytest.raises(httpx.RemoteProtocolError):
                await c.get(url)

    run(main())


def test_connect_error():
    async def main():
        srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        srv.close()
        await srv.wait_closed()
        async with httpx.AsyncClient(transport=LeanTransport()) as c:
            with pytest.raises(httpx.ConnectError):
                await c.get(f"http://127.0.0.1:{port}/")

    run(main())


def test_proxy_env_goes_to_httpx(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    t = LeanTransport()
    assert not t._serves(httpx.Request("GET", "http://example.invalid/"))


def _self_signed(tmp_path):
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def _tls_server(cert_file, key_file):
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)

    async def on_conn(r, w):
        try:
            while True:
                await read_request(r)
                w.write(OK)
                await w.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0, ssl=ctx)
    return server, f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def test_https_verifies_the_server_with_ssl_cert_file(tmp_path, monkeypatch):
    cert_file, key_file = _self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))

    async def main():
        server, url = await _tls_server(cert_file, key_file)
        try:
            async with httpx.AsyncClient(transport=LeanTransport()) as c:
                return [(await c.get(url + "/x")).text for _ in range(2)]
        finally:
            server.close()

    assert run(main()) == ["ok", "ok"]


def test_https_refuses_a_server_it_cannot_verify(tmp_path, monkeypatch):
    cert_file, key_file = _self_signed(tmp_path)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    async def main():
        server, url = await _tls_server(cert_file, key_file)
        try:
            async with httpx.AsyncClient(transport=LeanTransport()) as c:
                await c.get(url + "/x")
        finally:
            server.close()

    with pytest.raises(httpx.ConnectError, match="(?i)certificate"):
        run(main())
