"""A blocking client over the configured transport (``settings().http_transport``, e.g. the
in-process sandbox) for code in a worker thread that talks to one URL without an
:class:`HttpApi`. (Async code needs no bridge: ``httpx.AsyncClient(transport=...)``.)

>>> import asyncio, threading
>>> loop = asyncio.new_event_loop()
>>> thread = threading.Thread(target=loop.run_forever, daemon=True)
>>> thread.start()
>>> echo = httpx.MockTransport(lambda request: httpx.Response(200, json={"path": request.url.path}))
>>> with blocking_client(echo, loop) as client:
...     client.get("http://sandbox.invalid/v2/pods").json()
{'path': '/v2/pods'}
>>> _ = loop.call_soon_threadsafe(loop.stop)
>>> thread.join(5)
>>> loop.close()
"""

from __future__ import annotations

import asyncio

import httpx


def blocking_client(
    transport: httpx.AsyncBaseTransport, loop: asyncio.AbstractEventLoop, *, timeout: float = 30.0
) -> httpx.Client:
    """A blocking client for a worker thread, whose requests run on ``loop`` through the async
    ``transport`` (the loop must keep running while the thread waits)."""
    return httpx.Client(transport=_SyncOverAsync(transport, loop), timeout=timeout)


class _SyncOverAsync(httpx.BaseTransport):
    """A blocking transport that hands each request to an async one on another thread's loop."""

    def __init__(self, transport: httpx.AsyncBaseTransport, loop: asyncio.AbstractEventLoop):
        self.transport, self.loop = transport, loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            resp = await self.transport.handle_async_request(request)
            body = b"".join([chunk async for chunk in resp.stream])  # type: ignore[union-attr]
            return httpx.Response(resp.status_code, headers=resp.headers, content=body)

        return asyncio.run_coroutine_threadsafe(send(), self.loop).result(60)
