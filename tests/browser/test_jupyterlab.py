"""One real browser run: JupyterLab + Playwright + Debian's Chromium, headless, as root.

The notebook starts the sandbox, spawns a tracked pod, shows its live log viewer and the
compute dashboard. The test checks that log lines stream into the viewer, that the filter
box filters, that the dashboard lists the pod, and that Terminate (after confirming) removes it.
It waits on the kernel's idle state and on DOM conditions, never on fixed sleeps. A screenshot
is saved to ``test-artifacts/jupyterlab.png``.
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
ARTIFACTS = ROOT / "test-artifacts"
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
    "import atlas_nb as atlas\n"
    "atlas.configure(heartbeat_s=0.5, reap_interval_s=3600)\n"
    "from atlas_nb.providers.mock import MockProvider\n"
    "MockProvider.timings['log_interval_s'] = 0.05\n"
    "sb = atlas.sandbox.start(speed=50)",
    "pod = atlas.spawn(provider='mock', gpu='l4', image='python:3.11', idle_ttl='1h',\n"
    "                  name='atlas-browser-pod1')\n"
    "stream = atlas.logs(pod.id, provider='mock')\n"
    "stream",
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
    config = home / "config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
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


def test_viewer_streams_filters_and_dashboard_terminates(lab):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{lab}/lab/tree/widgets.ipynb")
            page.wait_for_function(KERNEL_IDLE, timeout=90_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

            rows = page.locator(".atlas-stream .atlas-row")
            expect(rows.nth(5)).to_be_visible(timeout=60_000)  # lines stream in
            first_count = rows.count()
            expect(rows.nth(first_count + 2)).to_be_attached(timeout=30_000)  # and keep coming
            expect(page.locator(".atlas-stream-status")).to_have_text("streaming")

            page.locator(".atlas-stream-filter").fill("health")
            page.wait_for_function(
                """() => { const rows = [...document.querySelectorAll('.atlas-stream .atlas-row')];
                           return rows.length > 0 &&
                                  rows.every(r => r.textContent.includes('health')); }""",
                timeout=20_000,
            )

            dashboard = page.locator(".atlas-dashboard")
            expect(dashboard).to_contain_text("atlas-browser-pod1", timeout=60_000)
            dashboard.locator(".atlas-action-terminate").first.click()
            confirm = dashboard.locator(".atlas-action-confirm").first
            expect(confirm).to_be_visible(timeout=10_000)
            confirm.click()
            expect(dashboard).not_to_contain_text("atlas-browser-pod1", timeout=30_000)
            expect(dashboard).to_contain_text("0 tracked", timeout=10_000)
        finally:
            page.screenshot(path=str(ARTIFACTS / "jupyterlab.png"), full_page=True)
            browser.close()
