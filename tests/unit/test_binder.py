"""binder/ pins every runtime dependency atlas_nb declares, and installs the package."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_binder_pins_every_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            assert "==" in line, f"binder requirement not pinned: {line}"
            pins[_name(line)] = line
    missing = {_name(d) for d in project["dependencies"]} - set(pins)
    assert not missing, f"binder/requirements.txt lacks {sorted(missing)}"
    assert "jupyterlab" in pins


def test_binder_installs_the_package_and_opens_the_quickstart():
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps" in post
    readme = (ROOT / "README.md").read_text()
    assert "urlpath=lab/tree/notebooks/01_quickstart.ipynb" in readme
    assert (ROOT / "notebooks" / "01_quickstart.ipynb").exists()
