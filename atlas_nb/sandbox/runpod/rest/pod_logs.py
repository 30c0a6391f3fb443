"""``GET /v2/pods/{id}/logs``: a pod's log as Server-Sent Events.

Each event has an ``id:`` line (the line's timestamp) so a client resumes with
``Last-Event-ID``; ``since`` and ``tail`` pick the first line otherwise. The stream follows the
pod on the simulated clock until it is terminated, sends ``: keep-alive`` comments when idle,
and honours the ``malformed``, ``drop`` and ``slow_stream`` fault knobs. A request whose
``Accept`` excludes ``text/event-stream`` gets 406.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from ..._http import ConnectionDropped
from ..faults import fault_for
from ..world import LOG_INTERVAL_S, FakePod, RunPodWorld, parse_iso
from .params import enum_param, int_param
from .pods import live_pod
from .problems import Problem, invalid


def _resume_index(world: RunPodWorld, pod: FakePod, request: Request) -> int:
    """Index of the first log line to send (Last-Event-ID > since > tail)."""
    count = _log_count(world, pod)
    last = request.headers.get("last-event-id")
    since = request.query_params.get("since")
    if last or since:
        cursor = (last or since or "").partition("/")[0]
        try:
            when = parse_iso(cursor)
        except ValueError:
            where = "header.Last-Event-ID" if last else "query.since"
            raise invalid(f"{where}: expected date-time")
        steps = (when - pod.created_at) / LOG_INTERVAL_S
        if last:  # resume after the line with that timestamp
            return max(0, math.floor(steps + 1e-3) + 1)
        return max(0, math.ceil(steps - 1e-3))  # since: lines at or after that time
    tail = int_param(request, "tail", 0)
    tail = 100 if tail is None else min(tail, 5000)
    return max(0, count - tail)


def _log_count(world: RunPodWorld, pod: FakePod) -> int:
    """How many log lines the pod has written by now (one per ``LOG_INTERVAL_S``)."""
    now = world.now()
    end = now if pod.terminated_at is None else min(now, pod.terminated_at)
    return int(max(0.0, end - pod.created_at) // LOG_INTERVAL_S) + 1


async def pod_logs(request: Request, world: RunPodWorld) -> Any:
    accept = request.headers.get("accept", "*/*").lower()
    if not any(t in accept for t in ("text/event-stream", "*/*", "text/*")):
        raise Problem(
            406,
            f"this endpoint produces text/event-stream; the request accepts only {accept}",
        )
    pod = live_pod(world, request)
    source = enum_param(request, "source", ["container", "system"])
    index = _resume_index(world, pod, request)
    state = world.state
    rule = fault_for(request)

    async def events() -> AsyncIterator[bytes]:
        nonlocal index
        if rule is not None and rule.malformed:
            yield b'data: {"ts": "oops", "line": \n\n'
        sent = 0
        idle = time.monotonic()
        while True:
            count = _log_count(world, pod)
            while index < count:
                line = world.log_line(pod, index)
                index += 1
                if source and line["source"] not in source:
                    continue
                payload = json.dumps({k: line[k] for k in ("ts", "source", "line")})
                yield f"id: {line['id']}\ndata: {payload}\n\n".encode()
                sent += 1
                idle = time.monotonic()
                if rule is not None and rule.drop and sent >= 3:
                    raise ConnectionDropped("sandbox fault: log stream dropped")
                if rule is not None and rule.slow_stream:
                    await asyncio.sleep(rule.slow_stream)
            if pod.terminated_at is not None:
                return
            if time.monotonic() - idle > 10:
                idle = time.monotonic()
                yield b": keep-alive\n\n"
            due = pod.created_at + index * LOG_INTERVAL_S
            wait = state.clock.real_seconds(max(0.0, due - world.now()))
            await asyncio.sleep(min(max(wait, 0.005), 1.0))

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
