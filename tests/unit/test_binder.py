"""binder/requirements.txt pins everything Binder needs, at the versions the dev venv tests.

The slow proof (build the environment, run every notebook) is tests/binder; these catch a
missing or drifted pin in a second.
"""

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Build-time only: the dev venv builds atlas_nb in an isolated env, so it has no say on these.
BUILD_REQUIREMENTS = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]


def pins() -> dict[str, str]:
    """``{canonical name: pinned version}`` of binder/requirements.txt (each line must pin)."""
    found = {}
    for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)", line)
            assert match, f"binder requirement not pinned to one version: {line!r}"
            found[canonicalize_name(match[1])] = match[2]
    return found


def required() -> list[Requirement]:
    """What the Binder environment needs: build backend, runtime deps, the `testing` extra."""
    project = PYPROJECT["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["testing"]
    return BUILD_REQUIREMENTS + [Requirement(r) for r in declared]


@pytest.mark.parametrize("requirement", required(), ids=str)
def test_binder_pins_what_pyproject_asks_for(requirement):
    pinned = pins().get(canonicalize_name(requirement.name))
    assert pinned, f"binder/requirements.txt does not pin {requirement.name}"
    assert requirement.specifier.contains(pinned, prereleases=True), (
        f"binder pins {requirement.name}=={pinned}, pyproject.toml asks for {requirement}"
    )


def test_binder_pins_the_lab_its_kernel_and_numpy():
    # numpy: pandas and matplotlib ask for a range; the pin keeps their array library the tested one
    assert {"jupyterlab", "ipykernel", "numpy"} <= set(pins())


def test_binder_pins_are_the_versions_make_test_installs():
    build = {canonicalize_name(r.name) for r in BUILD_REQUIREMENTS}
    drifted = {}
    for name, pinned in pins().items():
        if name in build:
            continue
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            drifted[name] = f"binder {pinned}, dev venv {installed}"
    assert not drifted, (
        f"binder/requirements.txt and the dev venv disagree: {drifted}; "
        "change the pin, then `make .venv/.installed-stamp` installs it in the dev venv"
    )


def test_postbuild_installs_the_package_without_fetching_build_tools():
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps --no-build-isolation ." in post
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_runtime_is_a_python_pyproject_accepts():
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert match, runtime
    requires = PYPROJECT["project"]["requires-python"]
    assert Requirement(f"python{requires}").specifier.contains(f"{match[1]}.0"), requires
