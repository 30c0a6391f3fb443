"""The Binder environment builds on a clean machine and runs every tutorial without an error.

It does what repo2docker's Python buildpack does, on a fresh copy of the repository: a clean
virtual environment, ``pip install -r binder/requirements.txt``, then ``binder/postBuild`` as
written, with ``HOME`` in a temp dir (no user config, user site or kernels leak in). Then every
notebook runs in that environment with ``jupyter nbconvert --execute``: no cell may raise, no
traceback may reach stderr, and the outputs the tutorials check (``# NBVAL_CHECK_OUTPUT``)
must be the ones committed.

pip keeps the developer's own cache (``PIP_CACHE_DIR`` is resolved before ``HOME`` moves), so a
warm run downloads nothing the index lets pip cache. (repo2docker adds ``--no-cache-dir``, which
changes what is kept, not what is installed.)
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

pytestmark = [pytest.mark.binder, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300
# What a fresh Binder user does not have: the developer's venv, paths and atlas_nb settings.
DROPPED_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX")
DROPPED_ENV_PREFIXES = ("JUPYTER", "IPYTHON", "ATLAS_NB_")
ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def fresh_copy(dest: Path) -> Path:
    """What a fresh clone holds: the files git tracks plus new ones not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def binder_env(venv: Path, home: Path, pip_cache: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in DROPPED_ENV and not k.startswith(DROPPED_ENV_PREFIXES)
    }
    env.update(
        HOME=str(home),
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    if pip_cache:  # None: the developer's pip runs without a cache
        env["PIP_CACHE_DIR"] = pip_cache
    return env


def run(cmd: list[str], *, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        said = ANSI_COLOUR.sub("", done.stdout + done.stderr)  # nbconvert colours tracebacks
        tail = "\n".join(said.splitlines()[-40:])
        pytest.fail(f"`{' '.join(cmd)}` exited {done.returncode}:\n{tail}", pytrace=False)


class Binder(NamedTuple):
    repo: Path  # the fresh copy, where postBuild ran
    venv: Path  # the environment it built
    env: dict[str, str]  # os.environ with HOME in a temp dir and the venv first on PATH


@pytest.fixture(scope="module")
def binder(tmp_path_factory: pytest.TempPathFactory) -> Binder:
    """A fresh repository copy and the environment Binder would build from it."""
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    here = f"python-{sys.version_info.major}.{sys.version_info.minor}"
    if runtime != here:
        pytest.skip(f"binder/runtime.txt asks for {runtime}; this interpreter is {here}")
    # Resolved before HOME moves, so the developer's cache is reused.
    asked = subprocess.run(
        [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True
    )
    pip_cache = asked.stdout.strip() if asked.returncode == 0 else None
    base = tmp_path_factory.mktemp("binder")
    repo = fresh_copy(base / "repo")
    venv, home = base / "venv", base / "home"
    home.mkdir()
    env = binder_env(venv, home, pip_cache)
    run([sys.executable, "-m", "venv", str(venv)], cwd=repo, env=env)
    python = str(venv / "bin" / "python")
    # What repo2docker runs.
    run([python, "-m", "pip", "install", "-r", "binder/requirements.txt"], cwd=repo, env=env)
    postbuild = repo / "binder" / "postBuild"
    postbuild.chmod(0o755)  # repo2docker makes it executable, then runs it from the root
    run(["./binder/postBuild"], cwd=repo, env=env)
    return Binder(repo, venv, env)


def sanitizers() -> list[tuple[re.Pattern[str], str]]:
    """The regex/replace pairs of notebooks/sanitize.cfg (what nbval applies in `make test`)."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "notebooks" / "sanitize.cfg")
    return [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]


def checked_text(cell: dict, rules: list[tuple[re.Pattern[str], str]]) -> str:
    """A cell's stdout and plain-text results, joined and sanitized."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream" and out["name"] == "stdout":
            parts.append("".join(out["text"]))
        elif out["output_type"] == "execute_result":
            parts.append("".join(out["data"].get("text/plain", "")) + "\n")
    text = "".join(parts)
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def problems(executed: dict, committed: dict) -> list[str]:
    """Every error output, stderr traceback and changed checked output of an executed notebook."""
    rules = sanitizers()
    found = []
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    expected = [c for c in committed["cells"] if c["cell_type"] == "code"]
    for number, (cell, want) in enumerate(zip(code, expected, strict=True), start=1):
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                found.append(f"code cell {number}: {out['ename']}: {out['evalue']}")
            elif out["output_type"] == "stream" and "Traceback" in "".join(out["text"]):
                found.append(f"code cell {number}: a traceback on {out['name']}")
        if "NBVAL_CHECK_OUTPUT" in "".join(cell["source"]):
            got, wanted = checked_text(cell, rules), checked_text(want, rules)
            if got != wanted:
                found.append(f"code cell {number}: printed {got!r}, the tutorial shows {wanted!r}")
    return found


def test_the_kernel_is_the_binder_environments(binder):
    listed = subprocess.run(
        ["jupyter", "kernelspec", "list", "--json"],
        cwd=binder.repo,
        env=binder.env,
        capture_output=True,
        text=True,
        check=True,
    )
    python3 = json.loads(listed.stdout)["kernelspecs"]["python3"]
    assert Path(python3["resource_dir"]).is_relative_to(binder.venv), python3


def test_the_lab_renders_widgets_and_has_no_news_pop_up(binder):
    listed = subprocess.run(
        ["jupyter", "labextension", "list"],
        cwd=binder.repo,
        env=binder.env,
        capture_output=True,
        text=True,
    )
    said = ANSI_COLOUR.sub("", listed.stdout + listed.stderr)
    for extension in ("anywidget", "@jupyter-widgets/jupyterlab-manager"):
        assert re.search(rf"^\s*{re.escape(extension)} v\S+ enabled OK", said, re.M), said
    page_config = Path(binder.env["HOME"]) / ".jupyter" / "labconfig" / "page_config.json"
    disabled = json.loads(page_config.read_text())["disabledExtensions"]
    assert disabled == {"@jupyterlab/apputils-extension:announcements": True}


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs_in_the_binder_environment(binder, notebook, tmp_path):
    run(
        [
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            f"--ExecutePreprocessor.timeout={CELL_TIMEOUT_S}",
            "--output-dir",
            str(tmp_path),
            f"notebooks/{notebook}",
        ],
        cwd=binder.repo,
        env=binder.env,
    )
    executed = json.loads((tmp_path / notebook).read_text())
    committed = json.loads((binder.repo / "notebooks" / notebook).read_text())
    found = problems(executed, committed)
    assert not found, f"{notebook} in the Binder environment:\n" + "\n".join(found)
