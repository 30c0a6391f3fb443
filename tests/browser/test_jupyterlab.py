"""Real browser runs: JupyterLab + Playwright + Debian's Chromium, headless, as root.

1. A notebook with every widget kind: a wait's progress bar, a live log viewer, a job stream, a
   ``fly deploy`` console and the compute dashboard. The test checks what each shows (the bar's
   whole label and its filled, green end; log lines streaming and the filter filtering; the
   job's chunks and final status; the deploy's lines and outcome; the dashboard listing the pod
   and Terminate removing it).
2. Every tutorial as saved (tools/build_notebooks.py), opened in the browser: styled tables keep
   text left-aligned and times to the second; 01's pivot keeps its GPU index labels and its
   rounding.

It waits on the kernel's idle state and on DOM conditions, never on fixed sleeps. One screenshot
per notebook goes to ``$ATLAS_NB_TEST_ARTIFACTS`` (default: a fresh temporary directory); the
directory is printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROME_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

CELLS = [
    "import pathlib, tempfile\n"
    "import atlas_nb as atlas\n"
    "atlas.configure(heartbeat_s=0.5, reap_interval_s=3600)\n"
    "from atlas_nb.providers.mock import MockProvider\n"
    "MockProvider.timings.update(log_interval_s=0.05, provisioning_s=1.5, starting_s=1.0)\n"
    "sb = atlas.sandbox.start(speed=50)",
    # a wait's progress bar (tqdm.auto's notebook bar)
    "waited = atlas.spawn(provider='mock', gpu='l4', image='python:3.11',\n"
    "                     name='atlas-browser-waited-for-a-while')\n"
    "waited = waited.wait_until_running(timeout=120)\n"
    "waited.terminate()",
    "pod = atlas.spawn(provider='mock', gpu='l4', image='python:3.11', idle_ttl='1h',\n"
    "                  name='atlas-browser-pod1')\n"
    "stream = atlas.logs(pod.id, provider='mock')\n"
    "stream",
    "job = atlas.run_job('echo', {'chunks': 6, 'sleep_ms': 150}, provider='mock')\njob.stream()",
    "app_dir = pathlib.Path(tempfile.mkdtemp(prefix='browser-app-'))\n"
    "(app_dir / 'fly.toml').write_text('app = \"atlas-browser-web\"\\n')\n"
    "sb.fly_cli(deploy='ok')\n"
    "deploy = atlas.fly.deploy(app_dir, wait=False)\n"
    "deploy",
    "dash = atlas.dashboard(refresh='1s', allow_destructive=True)\ndash",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `apt-get install chromium` (make test does)")
    home = tmp_path_factory.mktemp("lab")
    root = home / "root"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root / "widgets.ipynb")
    (root / "tutorials").mkdir()
    for tutorial in sorted(NOTEBOOKS.glob("[0-9]*.ipynb")):
        shutil.copy(tutorial, root / "tutorials" / tutorial.name)
    config = home / "config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    # render every cell (JupyterLab 4 renders only the cells in view by default)
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "ATLAS_NB_CONFIG": str(home / "a.toml"),
        "XDG_DATA_HOME": str(home / "xdg"),
    }
    log = open(home / "lab.log", "w")  # noqa: SIM115 - kept open for the server's lifetime
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--allow-root",
            "--ServerApp.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/api/status", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.flush()
            pytest.fail("JupyterLab did not start:\n" + (home / "lab.log").read_text()[-3000:])
        time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


KERNEL_IDLE = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell && app.shell.currentWidget;
  const s = w && w.sessionContext && w.sessionContext.session;
  return !!(s && s.kernel && s.kernel.status === 'idle');
}"""


def _browser(p):
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)


def stream_view(page, title: str):
    """The StreamView (log viewer, job stream, deploy console) whose title starts so."""
    return page.locator(".atlas-stream").filter(
        has=page.locator(".atlas-stream-title", has_text=title)
    )


@pytest.mark.timeout(300)
def test_every_widget_kind_in_a_real_browser(lab, artifacts):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        try:
            page.goto(f"{lab}/lab/tree/widgets.ipynb")
            page.wait_for_function(KERNEL_IDLE, timeout=90_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

            # the wait's progress bar: the whole label, then filled and green when done
            bar = page.locator(".jupyter-widgets.widget-hbox").filter(has_text="waiting for")
            expect(bar.first).to_be_visible(timeout=60_000)
            expect(bar.first.locator(".progress-bar-success")).to_be_attached(timeout=60_000)
            label = bar.first.locator(".widget-html-content").first.inner_text()
            assert label.replace("\u2007", " ").startswith("waiting for "), label
            assert "…" not in label and "..." not in label
            assert "done" in bar.first.inner_text()
            width = bar.first.locator(".progress-bar").evaluate(
                "el => el.getBoundingClientRect().width / el.parentElement.getBoundingClientRect().width"
            )
            assert width > 0.99  # filled at done
            box = bar.first.bounding_box()
            assert box is not None and box["height"] < 60, box  # one row, not squashed

            logs = stream_view(page, "mock ")
            rows = logs.locator(".atlas-row")
            expect(rows.nth(5)).to_be_visible(timeout=60_000)  # lines stream in
            first_count = rows.count()
            expect(rows.nth(first_count + 2)).to_be_attached(timeout=30_000)  # and keep coming
            expect(logs.locator(".atlas-stream-status")).to_have_text("streaming")
            logs.locator(".atlas-stream-filter").fill("health")
            page.wait_for_function(
                """() => { const view = [...document.querySelectorAll('.atlas-stream')].find(
                             v => v.querySelector('.atlas-stream-title').textContent
                                   .startsWith('mock '));
                           const rows = [...view.querySelectorAll('.atlas-row')];
                           return rows.length > 0 &&
                                  rows.every(r => r.textContent.includes('health')); }""",
                timeout=20_000,
            )
            align = logs.locator(".atlas-msg").first.evaluate(
                "el => getComputedStyle(el.parentElement.parentElement).textAlign"
            )
            assert align in ("left", "start"), align

            job = stream_view(page, "job ")
            expect(job.locator(".atlas-stream-status")).to_contain_text("completed", timeout=60_000)
            chunks = job.locator(".atlas-row").filter(has_text='{"i": ')
            expect(chunks).to_have_count(6, timeout=30_000)  # every chunk, once
            expect(job.locator(".atlas-row").last).to_contain_text("completed")

            console = stream_view(page, "fly deploy atlas-browser-web")
            expect(console.locator(".atlas-row").nth(3)).to_be_attached(timeout=60_000)
            expect(console.locator(".atlas-stream-status")).to_contain_text(
                "succeeded", timeout=60_000
            )
            expect(console.locator(".atlas-stream-cancel")).to_be_disabled()

            dashboard = page.locator(".atlas-dashboard")
            expect(dashboard).to_contain_text("atlas-browser-pod1", timeout=60_000)
            dashboard.locator(".atlas-action-terminate").first.click()
            confirm = dashboard.locator(".atlas-action-confirm").first
            expect(confirm).to_be_visible(timeout=10_000)
            confirm.click()
            expect(dashboard).not_to_contain_text("atlas-browser-pod1", timeout=30_000)
            expect(dashboard).to_contain_text("0 tracked", timeout=10_000)
        finally:
            page.screenshot(path=str(artifacts / "widgets.png"), full_page=True)
            browser.close()


#: every styled table's text cells (not money, numbers or dashes) and its time cells
STYLED_TABLES = """() => {
  const out = {text: 0, misaligned: [], times: [], sixDecimals: []};
  for (const table of document.querySelectorAll('.jp-OutputArea-output table')) {
    const styled = table.classList.contains('atlas-table');
    for (const td of table.querySelectorAll('td')) {
      const text = td.textContent.trim();
      if (/\\d\\.\\d{6}/.test(text)) out.sixDecimals.push(text);
      if (!styled) continue;
      if (/\\+00:00|\\d:\\d\\d\\.\\d+/.test(text)) out.times.push(text);
      if (text === '' || text === '-' || /^[-$\\d.,\\s]+(GB|s)?$/.test(text)) continue;
      if (/^\\d{4}-\\d\\d-\\d\\d /.test(text)) continue;
      out.text += 1;
      const align = getComputedStyle(td).textAlign;
      if (align !== 'left' && align !== 'start') out.misaligned.push(text + ' (' + align + ')');
    }
  }
  return out;
}"""

RENDERED = """(expected) => {
  const app = window.jupyterapp;
  const w = app && app.shell && app.shell.currentWidget;
  const nb = w && w.content;
  if (!(nb && nb.widgets && nb.widgets.length === expected.cells)) return false;
  const cells = w.node.querySelectorAll('.jp-Cell');
  const withOutput = [...cells].filter(
    c => c.querySelector('.jp-OutputArea-output') !== null).length;
  return cells.length === expected.cells && withOutput >= expected.outputs;
}"""


@pytest.mark.timeout(600)
def test_tutorials_render_tables_as_intended(lab, artifacts):
    from playwright.sync_api import sync_playwright

    tutorials = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
    assert len(tutorials) >= 7
    seen = {}
    with sync_playwright() as p:
        browser = _browser(p)
        try:
            for tutorial in tutorials:
                page = browser.new_page(viewport={"width": 1400, "height": 5000})
                try:
                    page.goto(f"{lab}/lab/tree/tutorials/{tutorial.name}")
                    saved = nbformat.read(tutorial, as_version=4)
                    expected = {
                        "cells": len(saved.cells),
                        "outputs": sum(1 for c in saved.cells if c.get("outputs")),
                    }
                    page.wait_for_function(RENDERED, arg=expected, timeout=90_000)
                    page.wait_for_function(KERNEL_IDLE, timeout=90_000)
                    seen[tutorial.stem] = page.evaluate(STYLED_TABLES)
                    if tutorial.stem.startswith("01"):
                        headings = page.locator(
                            ".jp-OutputArea-output table tbody th"
                        ).all_inner_texts()
                        seen["01_headings"] = headings
                finally:
                    page.screenshot(path=str(artifacts / f"{tutorial.stem}.png"), full_page=True)
                    page.close()
        finally:
            browser.close()
    for name, found in seen.items():
        if name.endswith("_headings"):
            continue
        assert not found["misaligned"], (name, found["misaligned"][:5])
        assert not found["times"], (name, found["times"][:5])
        assert not found["sixDecimals"], (name, found["sixDecimals"][:5])
    assert sum(found["text"] for n, found in seen.items() if not n.endswith("_headings")) >= 10
    assert {"h100", "l4", "rtx_4090"} <= set(seen["01_headings"])  # the pivot's GPU labels
