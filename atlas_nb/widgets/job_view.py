"""The job stream view: chunks as they arrive, then the final status and output."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from .._runtime import get_runtime
from .stream_view import StreamView

if TYPE_CHECKING:
    from ..jobstream import JobStream


def _line(chunk: Any) -> tuple[int, str]:
    return int(time.time() * 1000), json.dumps(chunk, default=str)


class JobView(StreamView):
    def __init__(self, stream: JobStream) -> None:
        super().__init__(mode="lines", title=stream.title, max_lines=5000)
        self.stream = stream
        self.final: Any = None

    def _listener(self, kind: str, payload: Any) -> None:
        if kind == "entries":
            self.push([_line(c) for c in payload])
        elif kind == "status" and payload.startswith("stopped"):
            get_runtime().spawn(self._show_final())
        else:
            self.set_status(payload)

    async def _show_final(self) -> None:
        from ..core.jobs import job as get_job

        stream = self.stream
        try:
            final = await get_job(stream.job_id, endpoint=stream.endpoint, provider=stream.provider)
        except Exception as exc:  # show it instead of swallowing it
            self.set_status(f"stopped: {exc}")
            return
        self.final = final
        text = json.dumps(final.output if final.error is None else final.error, default=str)
        self.push([(int(time.time() * 1000), f"{final.status.value}: {text}")])
        self.set_status(final.status.value)

    def text_repr(self) -> str:
        return f"JobView({self.stream.job_id!r})"


def attach(stream: JobStream) -> JobView:
    view = JobView(stream)

    async def subscribe() -> None:
        view.push([_line(c) for c in stream.chunks])
        stream.add_listener(view._listener)
        if stream.status == "stopped":
            await view._show_final()
        else:
            view.set_status(stream.status_line)

    rt = get_runtime()
    if rt.in_loop_thread:
        rt.spawn(subscribe())
    else:
        rt.run(subscribe())
    return view
