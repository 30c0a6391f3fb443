"""The sandbox starts its guard keeper as a script in isolated mode (``python -I``), so that it
starts in milliseconds rather than importing atlas_nb: it may import the standard library only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import atlas_nb.sandbox.guard_keeper as keeper

SCRIPT = Path(keeper.__file__)


def test_the_keeper_imports_the_standard_library_only():
    tree = ast.parse(SCRIPT.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import cannot work in a script"
            imported.add(str(node.module).split(".")[0])
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)


def test_the_keeper_runs_as_an_isolated_script_and_cleans_up(tmp_path):
    root = tmp_path / "guards"
    root.mkdir()
    guard = subprocess.Popen(["sleep", "60"], start_new_session=True)
    done = subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(root)],
        input=f"+{guard.pid}\n",
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert guard.wait(timeout=60) == -9 and not root.exists()
