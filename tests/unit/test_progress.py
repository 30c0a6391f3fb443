"""Progress bars on long waits (tqdm.auto): text on a terminal, a widget bar in notebooks."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import textwrap
import time

import pytest

from atlas_nb.widgets import progress
from atlas_nb.widgets.progress import progress_bar


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_with_the_status_and_a_full_bar_when_done():
    out = Tty()
    with progress_bar("waiting for pod-1", total=600, file=out) as bar:
        bar.update(12, "starting")
        assert "waiting for pod-1:" in out.getvalue()
        assert "12/600 s, starting" in out.getvalue()
    assert out.getvalue().rstrip().endswith("600/600 s, done")
    assert bar.text == "waiting for pod-1: done (600/600 s)"


def test_no_bar_when_output_is_not_a_terminal_unless_asked_for():
    quiet = io.StringIO()
    with progress_bar("waiting", total=10, file=quiet) as bar:
        bar.update(3, "starting")
    assert quiet.getvalue() == ""
    asked = io.StringIO()
    with progress_bar("waiting", total=10, file=asked, enabled=True) as bar:
        bar.update(3, "starting")
    assert "3/10 s, starting" in asked.getvalue()
    never = Tty()
    with progress_bar("waiting", total=10, file=never, enabled=False):
        pass
    assert never.getvalue() == ""


def test_a_failed_wait_says_failed_and_is_not_filled():
    out = Tty()
    with pytest.raises(RuntimeError), progress_bar("waiting", total=60, file=out) as bar:
        bar.update(7, "provisioning")
        raise RuntimeError("boom")
    assert out.getvalue().rstrip().endswith("7/60 s, failed")
    assert bar.value == 7


@pytest.fixture
def notebook_tqdm(monkeypatch):
    """tqdm.auto's notebook bar, as a kernel picks it (display() outside one just prints)."""
    import tqdm.auto
    from tqdm.notebook import tqdm as notebook

    monkeypatch.setattr(tqdm.auto, "tqdm", notebook)
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    return notebook


def _parts(bar):
    label, meter, right = bar._bar.container.children
    return label, meter, right


def test_in_a_notebook_the_label_is_whole_and_done_fills_the_bar_green(notebook_tqdm, capsys):
    name = "waiting for a-rather-long-pod-id-0123456789"
    with progress_bar(name, total=600) as bar:
        bar.update(20, "starting")
        label, meter, right = _parts(bar)
        assert label.value.replace("\u2007", " ") == f"{name}: "  # not cut to "waiting fo…"
        assert meter.value == 20 and "starting" in right.value
        assert bar._bar.container.layout.width is None  # ipywidgets' layout, not squashed
    assert meter.value == meter.max == 600
    assert meter.bar_style == "success" and "done" in right.value


def test_in_a_notebook_a_failure_turns_the_bar_red_even_at_the_deadline(notebook_tqdm, capsys):
    with pytest.raises(TimeoutError), progress_bar("waiting", total=30) as bar:
        bar.update(30, "provisioning")  # the whole timeout passed
        _label, meter, right = _parts(bar)
        raise TimeoutError
    assert meter.bar_style == "danger" and "failed" in right.value


def test_wait_until_running_draws_a_bar_on_a_real_terminal(tmp_path):
    script = textwrap.dedent(
        """
        import atlas_nb as atlas
        from atlas_nb.providers.mock import MockProvider
        MockProvider.timings.update(provisioning_s=1.0, starting_s=1.0)
        pod = atlas.spawn(provider="mock", gpu="l4", image="python:3.11")
        pod = pod.wait_until_running(timeout=120)
        print("STATUS", pod.status.value, flush=True)
        atlas.terminate(pod.id, provider="mock")
        """
    )
    master, slave = pty.openpty()
    env = {**os.environ, "ATLAS_NB_CONFIG": str(tmp_path / "a.toml"), "COLUMNS": "120"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=tmp_path,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    text = b"".join(chunks).decode(errors="replace")
    assert "STATUS running" in text
    assert "waiting for " in text and "/120 s, provisioning" in text
    assert "120/120 s, done" in text
