"""Serve an ASGI app with uvicorn on loopback, in a daemon thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


class LoopbackServer:
    """``start()`` binds 127.0.0.1 (port 0 = any free port); ``stop()`` shuts it down."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self.config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
            ws="none",
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, name="atlas-nb-sandbox", daemon=True)
        self.port = 0

    def start(self, timeout: float = 15.0) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the sandbox server failed to start (is the port free?)")
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox server did not start in time")
            time.sleep(0.01)
        sock = self.server.servers[0].sockets[0]
        self.port = sock.getsockname()[1]
        return self

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout)
