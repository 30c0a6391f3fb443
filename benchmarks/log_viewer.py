"""Log viewer throughput: 100 000 entries through a LogStream into the viewer.

Reports entries/s ingested by the viewer, front-end messages sent per second of streaming,
bytes sent on the wire divided by the bytes of the lines themselves, and peak memory growth.
Targets: >= 50 000 entries/s, <= 10 messages/s, bytes ratio <= 2.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import report

from atlas_nb.logstream import LogStream
from atlas_nb.models import LogEntry
from atlas_nb.widgets.log_viewer import attach

TOTAL = 100_000
BATCH = 500
LEVELS = ("info", "info", "debug", "warning", "error")


class CountingComm:
    """The kernel side of the widget's comm: counts messages and their JSON size."""

    kernel = object()
    comm_id = "bench"

    def __init__(self) -> None:
        self.messages = 0

    def send(self, data=None, buffers=None, **_kw):
        self.messages += 1

    def close(self, *a, **k):
        pass

    def on_msg(self, *a, **k):
        pass


def make_entries() -> list[LogEntry]:
    t0 = datetime(2026, 11, 26, tzinfo=UTC)
    return [
        LogEntry(
            timestamp=t0 + timedelta(microseconds=i),
            level=LEVELS[i % 5],
            region=("iad", "ams", "syd")[i % 3],
            instance=f"148ed123abc{i % 7:03d}",
            message=f"GET /api/v1/items/{i} 200 {i % 211}ms user={i % 1000}",
        )
        for i in range(TOTAL)
    ]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(entries: list[LogEntry], *, pace_s: float) -> dict[str, float]:
    """Stream ``entries`` (a batch every ``pace_s``; 0 = as fast as possible) into a viewer."""
    started = asyncio.Event()

    async def source():
        await started.wait()
        for i in range(0, len(entries), BATCH):
            yield entries[i : i + BATCH]
            await asyncio.sleep(pace_s)

    stream = LogStream(source, title="bench", maxlen=5_000)
    viewer = attach(stream)
    comm = CountingComm()
    viewer.comm = comm
    received = 0

    def count(kind, payload):
        nonlocal received
        if kind == "entries":
            received += len(payload)

    stream.add_listener(count)
    t0 = time.perf_counter()
    stream._task.get_loop().call_soon_threadsafe(started.set)
    while received < len(entries):
        time.sleep(0.001)
    ingest_s = time.perf_counter() - t0
    time.sleep(0.25)  # the last flush goes out
    total_s = time.perf_counter() - t0
    stats = dict(viewer.stats)
    viewer.close()
    return {
        "seconds": ingest_s,
        "total_seconds": total_s,
        "messages": comm.messages,
        **stats,
        "held": len(viewer.items),
    }


def main() -> None:
    entries = make_entries()
    base_rss = rss_mb()
    burst = run(entries, pace_s=0)  # capacity: as fast as the stream can deliver
    steady = run(entries, pace_s=BATCH / 50_000)  # 50 000 entries/s for two seconds
    figures = {
        "entries": TOTAL,
        "burst_ingest_seconds": round(burst["seconds"], 4),
        "entries_per_s": round(TOTAL / burst["seconds"]),
        "steady_stream_seconds": round(steady["seconds"], 2),
        "steady_frontend_messages": steady["messages"],
        "messages_per_s": round(steady["messages"] / steady["total_seconds"], 2),
        "steady_rows_sent": steady["rows_sent"],
        "bytes_ratio": round(steady["bytes"] / max(steady["line_bytes"], 1), 3),
        "viewer_rows_held": steady["held"],
        "peak_memory_growth_mb": round(rss_mb() - base_rss, 1),
    }
    print(
        f"log_viewer: {TOTAL:,} entries in batches of {BATCH} through a LogStream, "
        "once as fast as possible, once paced at 50 000 entries/s"
    )
    report(
        "log_viewer",
        figures,
        {"entries_per_s": ">= 50000", "messages_per_s": "<= 10", "bytes_ratio": "<= 2"},
    )


if __name__ == "__main__":
    main()
