"""Widgets at the Python level: traits and the messages sent to the front end."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pandas as pd
import pytest

import atlas_nb as atlas
from atlas_nb.models import LogEntry
from atlas_nb.providers.mock import MockProvider
from atlas_nb.widgets.dashboard import ComputeDashboard, format_row
from atlas_nb.widgets.log_viewer import attach
from atlas_nb.widgets.stream_view import StreamView
from atlas_nb.widgets.tables import styled_html
from tests.helpers.waiting import eventually


class RecordingComm:
    """Stands in for the kernel comm: records every message a widget sends."""

    kernel = object()
    comm_id = "recording"

    def __init__(self):
        self.messages = []

    def send(self, data=None, buffers=None, **_kw):
        self.messages.append(data)

    def close(self, *a, **kw):
        pass

    def on_msg(self, *a, **kw):
        pass

    def custom(self):
        return [m["content"] for m in self.messages if m.get("method") == "custom"]


def recorded(widget):
    comm = RecordingComm()
    widget.comm = comm
    return comm


def test_import_does_not_load_ipywidgets():
    code = "import sys, atlas_nb; print('ipywidgets' in sys.modules, 'anywidget' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_rows_are_batched_and_only_deltas_are_sent():
    view = StreamView(mode="lines", title="t", max_lines=10_000, flush_interval=0.2)
    comm = recorded(view)
    started = time.monotonic()
    for i in range(20):
        view.push([f"line {i}-{j}" for j in range(50)])
        time.sleep(0.01)
    eventually(lambda: view.stats["rows_sent"] == 1000)
    elapsed = time.monotonic() - started
    rows_msgs = [m for m in comm.custom() if m["type"] == "rows"]
    # at most one flush per 0.2 s however slow the machine is (a load-proof bound, not a timing)
    assert 1 <= len(rows_msgs) <= 2 + elapsed / 0.2
    sent = [row[1] for m in rows_msgs for row in m["rows"]]
    assert sent == [f"line {i}-{j}" for i in range(20) for j in range(50)]  # each once, in order
    assert view.stats["messages"] == len(rows_msgs)


def test_hello_resets_a_new_view_with_bounded_history():
    view = StreamView(mode="lines", title="t", max_lines=5)
    comm = recorded(view)
    view.push([f"l{i}" for i in range(12)])
    view._from_front_end(view, {"type": "hello"}, [])
    reset = next(m for m in comm.custom() if m["type"] == "reset")
    assert [r[1] for r in reset["rows"]] == ["l7", "l8", "l9", "l10", "l11"]


def test_pause_holds_messages_and_resume_delivers():
    view = StreamView(mode="lines", title="t", max_lines=100, flush_interval=0.05)
    comm = recorded(view)
    view.paused = True
    view.push(["a", "b"])
    time.sleep(0.2)
    assert [m for m in comm.custom() if m["type"] == "rows"] == []
    view.paused = False
    eventually(lambda: any(m["type"] == "rows" for m in comm.custom()))
    rows = next(m for m in comm.custom() if m["type"] == "rows")["rows"]
    assert [r[1] for r in rows] == ["a", "b"]


def test_clear_and_cancel_from_the_front_end():
    cancelled = []
    view = StreamView(mode="lines", title="t", on_cancel=lambda: cancelled.append(True))
    comm = recorded(view)
    assert view.cancellable
    view.push(["x"])
    view._from_front_end(view, {"type": "clear"}, [])
    assert view.items == [] and {"type": "clear"} in comm.custom()
    view._from_front_end(view, {"type": "cancel"}, [])
    assert cancelled == [True]


def test_bytes_on_the_wire_stay_close_to_the_line_bytes():
    view = StreamView(mode="logs", title="t", max_lines=5000, flush_interval=0.05)
    recorded(view)
    from datetime import UTC, datetime

    entries = [
        LogEntry(
            timestamp=datetime.now(UTC),
            level="info",
            region="iad",
            instance="148ed123abc456",
            message=f"GET /api/items/{i} 200 {i % 97}ms",
        )
        for i in range(2000)
    ]
    view.push(entries)
    stats = eventually(lambda: (s := view.stats)["rows_sent"] == 2000 and s)  # one snapshot
    assert stats["bytes"] / stats["line_bytes"] <= 2.0


def test_stats_count_a_message_all_at_once_and_only_after_it_was_sent():
    view = StreamView(mode="lines", title="t", max_lines=10_000, flush_interval=0.01)
    seen_at_send = []

    class Watching(RecordingComm):
        def send(self, data=None, buffers=None, **kw):
            if data.get("content", {}).get("type") == "rows":
                seen_at_send.append(view.stats)  # what a reader sees while a message goes out
            super().send(data, buffers, **kw)

    comm = Watching()
    view.comm = comm
    for i in range(5):
        view.push([f"line {i}-{j}" for j in range(10)])
        eventually(lambda i=i: view.stats["rows_sent"] == 10 * (i + 1))
    rows_msgs = [m for m in comm.custom() if m["type"] == "rows"]
    assert len(seen_at_send) == len(rows_msgs) == view.stats["messages"]
    for n, stats in enumerate(seen_at_send):  # the n earlier messages, every field of them
        assert stats["messages"] == n
        assert stats["rows_sent"] == sum(len(m["rows"]) for m in rows_msgs[:n])
    snapshot = view.stats
    snapshot["rows_sent"] = -1
    assert view.stats["rows_sent"] == 50  # a copy, not the live counters


def test_log_viewer_streams_from_a_log_stream_and_closing_closes_it():
    MockProvider.timings["log_interval_s"] = 0.02
    try:
        pod = atlas.spawn(provider="mock", gpu="l4", image="x")
        stream = atlas.logs(pod.id, provider="mock")
        viewer = attach(stream)
        comm = recorded(viewer)
        eventually(lambda: len(viewer.items) >= 10)
        eventually(lambda: any(m["type"] == "rows" for m in comm.custom()))
        frame = viewer.to_frame()
        assert list(frame.columns)[:3] == ["timestamp", "level", "region"]
        assert viewer.status == "streaming"
        viewer.paused = True
        assert viewer.status == "paused"
        viewer.close()
        eventually(lambda: stream.closed and stream.status == "stopped")
        assert viewer.text_repr() == f"LogViewer('mock {pod.id}')"
    finally:
        MockProvider.timings["log_interval_s"] = 0.25


def test_job_view_shows_chunks_then_the_final_output():
    from atlas_nb.widgets.job_view import attach as attach_job

    job = atlas.run_job("echo", {"chunks": 3, "sleep_ms": 60}, provider="mock")
    view = attach_job(job.stream())
    eventually(lambda: view.final is not None)
    lines = [row[1] for row in view.encoded()]
    assert lines[:3] == [json.dumps({"i": i}) for i in range(3)]
    assert lines[-1].startswith("completed: ") and '"chunks": 3' in lines[-1]
    assert view.status == "completed"


@pytest.fixture
def quick():
    atlas.configure(heartbeat_s=0.1, reap_interval_s=3600)
    yield
    atlas.shutdown()


def test_dashboard_rows_touch_and_guarded_destruction(quick):
    pod = atlas.spawn(provider="mock", gpu="h100", image="x", idle_ttl="1h")
    dash = ComputeDashboard(refresh=60)
    assert [r["id"] for r in dash.rows_data] == [pod.id]
    row = dash._rows[pod.id]
    assert row.stop.disabled and row.terminate.disabled and not row.touch.disabled
    cells = [c.value for c in row.cells]
    assert cells[0] == "mock" and cells[2] == "h100" and "$2.49" in cells[5]
    text = dash.text_repr().splitlines()  # what a terminal shows
    assert text[0].endswith("rows=1)") and text[1].split()[:3] == ["provider", "name", "GPU"]
    assert text[2].startswith("mock") and pod.name in text[2] and "$2.49" in text[2]
    before = atlas.tracked().loc[0, "idle_s"]
    time.sleep(0.3)
    row.touch.click()
    eventually(lambda: atlas.tracked().loc[0, "idle_s"] < before + 0.25)
    # destructive actions are refused (and the refusal is shown) unless allowed
    from atlas_nb._runtime import get_runtime

    get_runtime().run(dash.aact("terminate", pod.id))
    assert "allow_destructive=True" in dash.last_error
    assert atlas.compute(pod.id, provider="mock").status.value != "terminated"
    dash.close()


def test_dashboard_terminate_asks_then_removes_the_row(quick):
    pod = atlas.spawn(provider="mock", gpu="l4", image="x", idle_ttl="1h")
    dash = ComputeDashboard(refresh=60, allow_destructive=True)
    row = dash._rows[pod.id]
    row.terminate.click()
    assert row.pending == "terminate" and row.confirm.layout.display == "inline-flex"
    row.confirm.click()
    eventually(lambda: pod.id not in dash._rows)
    assert atlas.compute(pod.id, provider="mock").status.value == "terminated"
    assert dash.last_error is None
    assert "rows=0" in dash.text_repr()
    dash.close()


def test_dashboard_shows_errors_instead_of_swallowing(quick):
    dash = ComputeDashboard(refresh=60, allow_destructive=True)
    from atlas_nb._runtime import get_runtime

    get_runtime().run(dash.aact("touch", "mock-unknown"))
    assert "no longer tracked" in dash.last_error and "⚠" in dash.error.value
    dash.close()


def test_format_row():
    row = {
        "provider": "runpod",
        "name": "atlas-x",
        "gpu": "h100",
        "status": "running",
        "uptime_s": 3725,
        "cost_per_hr": 2.49,
        "spend_usd": 2.57,
        "limit": "idle_timeout",
        "limit_in_s": 95,
        "terminating": None,
        "owner": "alice0001",
    }
    assert format_row(row) == [
        "runpod",
        "atlas-x",
        "h100",
        "running",
        "1h02m",
        "$2.49",
        "$2.5700",
        "1m35s (idle_timeout)",
        "client",
        "alice0001",
    ]


def test_styled_tables_stay_plain_dataframes():
    df = atlas.offers(providers=["mock"])
    assert type(df) is pd.DataFrame and df.attrs["atlas_kind"] == "offers"
    html = styled_html(df)
    assert "$0.39" in html and "#2e7d32" in html  # price formatted, availability coloured
    assert "<table" in html


def test_deploy_console_streams_lines_redraws_progress_and_cancels(sandbox, tmp_path):
    (tmp_path / "fly.toml").write_text('app = "atlas-demo-web"\n')
    sandbox.fly_cli(deploy="ok")
    from atlas_nb.widgets.deploy_console import attach as attach_console

    d = atlas.fly.deploy(tmp_path, wait=False)
    console = attach_console(d)
    comm = recorded(console)
    assert console.cancellable
    d.result(timeout=60)
    eventually(lambda: console.status.startswith("succeeded"))
    assert not console.cancellable
    shown = [row[1] for row in console.encoded()]
    assert shown == d.lines  # progress redraws collapsed exactly like the Deploy's own lines
    eventually(lambda: any(m["type"] == "rows" for m in comm.custom()))
    assert console.text_repr() == f"DeployConsole({d.app or d.path!r})"

    sandbox.fly_cli(deploy="hang")
    hanging = atlas.fly.deploy(tmp_path, wait=False)
    console = attach_console(hanging)
    console._from_front_end(console, {"type": "cancel"}, [])  # the Cancel button
    with pytest.raises(atlas.DeployError):
        hanging.result(timeout=30)
    eventually(lambda: console.status.startswith("cancelled"))
