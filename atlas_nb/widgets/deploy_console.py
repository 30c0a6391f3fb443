"""``DeployConsole``: a ``fly deploy`` streaming into the cell, with elapsed time, the outcome
(success, failure with exit code, timeout) and a Cancel button that kills the deploy."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from .._runtime import cancel_task, get_runtime
from .stream_view import StreamView


class DeployConsole(StreamView):
    def __init__(self, deploy: Any) -> None:
        super().__init__(
            mode="lines",
            title=f"fly deploy {deploy.app or deploy.path}",
            max_lines=5000,
            on_cancel=deploy.cancel,
        )
        self.deploy = deploy
        self._ticker: asyncio.Task[None] | None = None
        self._after_progress = False

    def _listener(self, kind: str, payload: Any) -> None:
        if kind in ("line", "progress"):
            if self._after_progress:
                self.replace_last(payload)
            else:
                self.push([payload])
            self._after_progress = kind == "progress"
        elif kind == "status":
            self._show_status()

    def _show_status(self) -> None:
        d = self.deploy
        elapsed = f"{d.duration_s:.1f}s"
        self.set_status(f"{d.status_line} in {elapsed}" if d.done else f"{d.status} {elapsed}")
        if d.done:
            self.cancellable = False

    async def _tick(self) -> None:
        while not self.deploy.done:
            self._show_status()
            await asyncio.sleep(1.0)
        self._show_status()

    def close(self) -> None:
        cancel_task(self._ticker)  # never starts a runtime (after shutdown, at exit)
        with contextlib.suppress(Exception):
            self.deploy.remove_listener(self._listener)
        super().close()

    def text_repr(self) -> str:
        return f"DeployConsole({self.deploy.app or self.deploy.path!r})"


def attach(deploy: Any) -> DeployConsole:
    console = DeployConsole(deploy)
    deploy.add_listener(console._listener, replay=True)

    async def start_ticker() -> None:
        console._ticker = asyncio.get_running_loop().create_task(console._tick())

    get_runtime().run(start_ticker())
    return console
