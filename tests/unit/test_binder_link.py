"""tools/binder_link.py builds the Binder link from the clone's own remote; the README names none."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "binder_link.py"
_spec = importlib.util.spec_from_file_location("binder_link", SCRIPT)
assert _spec and _spec.loader
binder_link = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(binder_link)
OPENS = "?urlpath=lab/tree/notebooks/01_quickstart.ipynb"


@pytest.mark.parametrize(
    ("remote", "ref", "spec"),
    [
        ("https://github.com/you/atlas_nb", "HEAD", "gh/you/atlas_nb/HEAD"),
        ("https://github.com/you/atlas_nb.git", "HEAD", "gh/you/atlas_nb/HEAD"),
        ("https://github.com/you/atlas_nb/", "main", "gh/you/atlas_nb/main"),
        ("git@github.com:you/atlas_nb.git", "HEAD", "gh/you/atlas_nb/HEAD"),
        ("ssh://git@github.com:22/you/atlas_nb.git", "v1.0", "gh/you/atlas_nb/v1.0"),
        ("https://x-token:secret@github.com/you/atlas_nb.git", "HEAD", "gh/you/atlas_nb/HEAD"),
        ("git@GitHub.com:you/atlas_nb.git", "feature/x", "gh/you/atlas_nb/feature%2Fx"),
        ("https://gitlab.com/group/sub/atlas_nb.git", "HEAD", "gl/group%2Fsub%2Fatlas_nb/HEAD"),
        (
            "git@git.example.org:team/atlas_nb.git",
            "HEAD",
            "git/https%3A%2F%2Fgit.example.org%2Fteam%2Fatlas_nb/HEAD",
        ),
        (
            "https://bot:secret@git.example.org:8443/team/atlas_nb.git",
            "dev",
            "git/https%3A%2F%2Fgit.example.org%3A8443%2Fteam%2Fatlas_nb/dev",
        ),
    ],
)
def test_binder_url_from_a_remote(remote, ref, spec):
    url = binder_link.binder_url(remote, ref)
    assert url == f"https://mybinder.org/v2/{spec}{OPENS}"
    assert "secret" not in url


@pytest.mark.parametrize("remote", ["", "not a url", "/srv/git/atlas_nb", "https://github.com"])
def test_what_is_not_a_remote_says_what_to_give(remote):
    with pytest.raises(binder_link.NotARemoteError, match=r"give one like https://github.com/"):
        binder_link.binder_url(remote)


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_the_script_prints_the_link_and_badge_of_the_clones_origin(tmp_path):
    git("init", "-q", cwd=tmp_path)
    git("remote", "add", "origin", "git@github.com:a-fork/atlas_nb.git", cwd=tmp_path)
    done = run_script(cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    url = f"https://mybinder.org/v2/gh/a-fork/atlas_nb/HEAD{OPENS}"
    assert done.stdout.splitlines() == [
        url,
        f"[![Launch on Binder](https://mybinder.org/badge_logo.svg)]({url})",
    ]
    branch = run_script("--ref", "try-me", cwd=tmp_path)
    assert (
        branch.stdout.splitlines()[0] == f"https://mybinder.org/v2/gh/a-fork/atlas_nb/try-me{OPENS}"
    )


def test_the_script_without_an_origin_says_how_to_publish_or_pass_a_url(tmp_path):
    git("init", "-q", cwd=tmp_path)
    done = run_script(cwd=tmp_path)
    assert done.returncode == 2
    assert "no `origin` remote" in done.stderr and "binder_link.py <url>" in done.stderr
    given = run_script("https://github.com/me/atlas_nb", cwd=tmp_path)
    assert given.stdout.startswith(f"https://mybinder.org/v2/gh/me/atlas_nb/HEAD{OPENS}")


def test_the_readme_names_no_repository_and_shows_the_links_form():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"https://mybinder\.org/v2/\S+?(?=[`)\s])", readme)
    assert links, "the README should show the form of the Binder link"
    for link in links:
        assert link == binder_link.binder_url("https://github.com/<owner>/<repo>"), link
    assert "python tools/binder_link.py" in readme
