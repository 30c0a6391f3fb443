"""The sandbox's fake ``fly`` executable: installing it, configuring it, reading what it did.

``install`` writes the script (:mod:`atlas_nb.sandbox.fly.cli`) into a private temp dir as
``fly`` with a ``#!<this python>`` shebang, publishes its path as
``state.info["fly_executable"]`` and removes the directory when the sandbox stops.
``configure_cli`` (``sb.fly_cli(...)``) writes the knobs the script reads on every run:

=================  =====================================================================
``tokens``         ``"ok"`` (default), ``"fail"`` (exit 1), ``"hang"``, ``"garbage"``
                   (prints a non-token line), ``"empty"`` (prints nothing), ``"leak"``
                   (prints a token as JSON, then exits ``token_exit_code``)
``token_delay_s``  seconds ``fly tokens create`` waits before answering
``token_gate``     a path: ``fly tokens create`` waits until that file exists
``stderr_notice``  print an update notice on stderr (default True; real flyctl does)
``deploy``         ``"ok"`` (default), ``"fail"`` (exit ``exit_code``), ``"hang"`` (silent
                   forever, with a child process), ``"trickle"`` (a line every 50 ms forever)
``deploy_lines``   build steps in the log (default 12)
``deploy_delay_s`` seconds between deploy output lines (default 0.01)
``exit_code``      exit code of a failed deploy (default 1)
``org``            the org tokens are minted for (default ``"personal"``)
``version``        what ``fly version`` prints
=================  =====================================================================

    >>> from atlas_nb.sandbox._state import SandboxState
    >>> state = SandboxState()
    >>> path = install(state, "http://127.0.0.1:1/fly-api")
    >>> import subprocess
    >>> subprocess.run([path, "version"], capture_output=True, text=True).stdout.startswith("fly v")
    True
    >>> for hook in state.on_stop: hook()
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from .._state import SandboxState
from . import cli as _flyops_cli

KNOBS: dict[str, Any] = {
    "tokens": "ok",
    "token_delay_s": 0.0,
    "token_gate": None,
    "token_exit_code": 1,
    "stderr_notice": True,
    "deploy": "ok",
    "deploy_lines": 12,
    "deploy_delay_s": 0.01,
    "exit_code": 1,
    "org": "personal",
    "version": _flyops_cli.VERSION,
}
_CHOICES = {
    "tokens": ("ok", "fail", "hang", "garbage", "empty", "leak"),
    "deploy": ("ok", "fail", "hang", "trickle"),
}
_PRIVATE = ("secret", "api_url")


def _dir(state: SandboxState) -> Path:
    path = state.info.get("fly_cli_dir")
    if not path:
        raise RuntimeError("the fake fly CLI is not installed in this sandbox")
    return Path(path)


def _write_settings(directory: Path, data: dict[str, Any]) -> None:
    tmp = directory / (_flyops_cli.SETTINGS_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, directory / _flyops_cli.SETTINGS_FILE)


def install(state: SandboxState, api_url: str) -> str:
    """Install the fake CLI for ``state``; returns its path (also in ``state.info``)."""
    if state.info.get("fly_executable"):
        return str(state.info["fly_executable"])
    directory = Path(tempfile.mkdtemp(prefix="atlas-fake-fly-"))
    source = Path(_flyops_cli.__file__).read_text(encoding="utf-8")
    script = directory / "fly"
    script.write_text(f"#!{sys.executable}\n{source}", encoding="utf-8")
    script.chmod(stat.S_IRWXU)
    _write_settings(directory, {**KNOBS, "secret": state.secret, "api_url": api_url})
    state.info["fly_executable"] = str(script)
    state.info["fly_cli_dir"] = str(directory)

    def remove() -> None:
        shutil.rmtree(directory, ignore_errors=True)

    state.on_stop.append(remove)
    return str(script)


def configure_cli(state: SandboxState, *, reset: bool = False, **knobs: Any) -> dict[str, Any]:
    """Change the fake CLI's behaviour (see the module docstring); returns the knobs now set.

    Unknown knobs or values raise ``ValueError``; ``reset=True`` starts from the defaults.
    """
    unknown = set(knobs) - set(KNOBS)
    if unknown:
        raise ValueError(f"unknown fake fly knob(s) {sorted(unknown)}; known: {sorted(KNOBS)}")
    for name, allowed in _CHOICES.items():
        if name in knobs and knobs[name] not in allowed:
            raise ValueError(f"{name} must be one of {allowed} (got {knobs[name]!r})")
    directory = _dir(state)
    path = directory / _flyops_cli.SETTINGS_FILE
    current = json.loads(path.read_text(encoding="utf-8"))
    base = {**KNOBS, **{k: current[k] for k in _PRIVATE if k in current}} if reset else current
    merged = {**base, **knobs}
    _write_settings(directory, merged)
    return {k: v for k, v in merged.items() if k not in _PRIVATE}


def cli_calls(state: SandboxState) -> list[list[str]]:
    """The argv (without the program) of every run of the fake CLI so far, oldest first."""
    path = _dir(state) / _flyops_cli.CALLS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line)["argv"] for line in text.splitlines() if line.strip()]


def cli_env_names(state: SandboxState) -> list[list[str]]:
    """The environment variable names every run of the fake CLI saw, oldest run first."""
    path = _dir(state) / _flyops_cli.CALLS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line).get("env", []) for line in text.splitlines() if line.strip()]


def hung_pids(state: SandboxState) -> list[int]:
    """Pids of every process a ``hang`` run started (the CLI and its child)."""
    path = _dir(state) / _flyops_cli.PIDS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [int(p) for line in text.splitlines() for p in line.split()]
