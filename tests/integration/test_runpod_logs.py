"""Pod logs: the v2 SSE stream over loopback, resumed with Last-Event-ID after drops."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

import atlas_nb as atlas
from atlas_nb import telemetry
from atlas_nb.providers.registry import get_provider


@pytest.fixture
def log_requests():
    seen: list[dict] = []

    def record(_event, _measurements, meta):
        if meta["url"].split("?")[0].endswith("/logs"):
            seen.append(meta)

    telemetry.attach("rp-logs", ["atlas.http.request"], record)
    yield seen
    telemetry.detach("rp-logs")


def collect(pod_id: str, n: int) -> list:
    """The first ``n`` log entries from the provider's own generator."""

    async def take():
        out = []
        gen = get_provider("runpod").logs(pod_id)
        try:
            async for batch in gen:
                out.extend(batch)
                if len(out) >= n:
                    return out
        finally:
            await gen.aclose()
        return out

    return atlas._runtime.get_runtime().run(take())


def assert_contiguous(entries):
    """2 simulated seconds apart, strictly increasing: no duplicate and no gap."""
    stamps = [e.timestamp for e in entries]
    assert all(b - a == timedelta(seconds=2) for a, b in itertools.pairwise(stamps)), stamps


def test_atlas_logs_returns_the_shared_log_stream(sandbox):
    c = atlas.spawn(provider="runpod", gpu="l4", image="me/app:1")
    with atlas.logs(c.id, provider="runpod") as stream:
        assert isinstance(stream, atlas.LogStream)
        entries = []
        for batch in stream:
            entries.extend(batch)
            if len(entries) >= 10:
                break
    assert entries[0].message == "pulling image me/app:1" and entries[0].instance == c.id
    assert {"info", "debug", "warning", "error"} >= {e.level for e in entries if e.level}
    assert any(e.level == "info" for e in entries)
    assert_contiguous(entries)
    assert len(stream.to_frame()) >= 10


def test_dropped_connections_resume_without_duplicates_or_gaps(sandbox, log_requests):
    c = atlas.spawn(provider="runpod", gpu="l4", image="img")
    sandbox.faults("runpod", f"GET /v2/pods/{c.id}/logs", drop=True)  # drops after 3 events
    entries = collect(c.id, 20)
    assert_contiguous(entries)
    resumed = [m for m in log_requests if m["status"] == 200]
    assert len(resumed) >= 5  # it really reconnected, each time from Last-Event-ID


def test_malformed_lines_are_skipped_and_slow_streams_still_deliver(sandbox):
    c = atlas.spawn(provider="runpod", gpu="l4", image="img")
    sandbox.faults("runpod", f"GET /v2/pods/{c.id}/logs", malformed=True, slow_stream=0.005)
    entries = collect(c.id, 12)
    assert_contiguous(entries)
    assert entries[0].message.startswith("pulling image")


def test_resume_needs_no_backfill_after_a_drop_late_in_a_long_log(sandbox, log_requests):
    c = atlas.spawn(provider="runpod", gpu="l4", image="img")
    sandbox.state.clock.advance(600)  # 300 lines already written; tail shows the last 100
    sandbox.faults("runpod", f"GET /v2/pods/{c.id}/logs", drop=True, count=3)
    entries = collect(c.id, 120)
    assert_contiguous(entries)
    first = int(entries[0].message.rsplit("#", 1)[1].rstrip(")"))
    assert 200 <= first < 230  # started at the last 100 lines (the clock keeps running)


def test_the_stream_ends_when_the_pod_is_terminated(sandbox):
    c = atlas.spawn(provider="runpod", gpu="l4", image="img")
    stream = atlas.logs(c.id, provider="runpod")
    next(iter(stream))
    atlas.terminate(c.id, provider="runpod")
    total = sum(len(batch) for batch in stream)  # iteration ends by itself
    assert total >= 1 and stream.status == "stopped"
    stream.close()
