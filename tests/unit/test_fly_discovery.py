"""App discovery: parsing fly.toml's app name and scanning a project (B-112, B-113)."""

import logging
import os

import pytest

import atlas_nb as atlas
from atlas_nb.errors import ValidationError
from atlas_nb.fly.discovery import scan


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('app = "my-app"', "my-app"),
        ("app = 'my-app'", "my-app"),
        ("app = my-app", "my-app"),
        ('app="tight"', "tight"),
        ('  app   =   "indented"', "indented"),
        ("app = bare # a comment", "bare"),
        ("app = bare#glued-comment", "bare"),
        ('app = "quoted" # comment', "quoted"),
        ('app = "has space"', None),
        ("app = 'has space'", None),
        ('app = ""', None),
        ("# app = 'commented'", None),
        ("app_name = 'other-key'", None),
        ("application = x", None),
        ("App = 'case'", None),
        ("", None),
        ('primary_region = "iad"\napp = "second-line"', "second-line"),
        # the double-quoted form wins over an earlier bare one (patterns are tried in order)
        ('app = bare\n[env]\napp = "quoted"', "quoted"),
        # single quotes win over bare, double over single
        ("app = bare\napp = 'single'", "single"),
        ("app = 'single'\napp = \"double\"", "double"),
        ('[build]\n  image = "x"\napp = "after-table"', "after-table"),
    ],
)
def test_parse_app_name(text, expected):
    assert atlas.fly.parse_app_name(text) == expected


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def project(tmp_path):
    write(tmp_path / "fly.toml", 'app = "root-app"')
    write(tmp_path / "web" / "fly.toml", "app = 'web'")
    write(tmp_path / "apps" / "api" / "fly.toml", 'app = "api"')
    write(tmp_path / "apps" / "broken" / "fly.toml", 'app = "has space"')
    write(tmp_path / ".hidden" / "fly.toml", "app = hidden")
    (tmp_path / "empty").mkdir()
    return tmp_path


def test_depth_zero_one_two(project):
    assert atlas.fly.discover_apps(project, max_depth=0)["app"].tolist() == ["root-app"]
    assert atlas.fly.discover_apps(project)["app"].tolist() == ["hidden", "root-app", "web"]
    two = atlas.fly.discover_apps(project, max_depth=2)
    assert two["app"].tolist() == ["api", "hidden", "root-app", "web"]
    assert two.columns.tolist() == ["app", "path"]
    assert str(two["app"].dtype) == "string" and str(two["path"].dtype) == "string"
    paths = dict(zip(two["app"], two["path"], strict=True))
    assert paths["api"] == os.path.join(str(project), "apps", "api")
    assert paths["root-app"] == str(project)


def test_malformed_files_are_skipped_with_a_reason(project, caplog):
    with caplog.at_level(logging.WARNING, logger="atlas_nb.fly.discovery"):
        df = atlas.fly.discover_apps(project, max_depth=2)
    assert "has space" not in df["app"].tolist()
    assert any("broken" in r.getMessage() and "no usable" in r.getMessage() for r in caplog.records)


def test_unreadable_file_is_skipped(tmp_path, caplog):
    (tmp_path / "fly.toml").write_bytes(b"\xff\xfe not utf-8 \xff")
    with caplog.at_level(logging.WARNING, logger="atlas_nb.fly.discovery"):
        assert atlas.fly.discover_apps(tmp_path).empty
    assert any("cannot read" in r.getMessage() for r in caplog.records)


def test_missing_dir_gives_an_empty_frame(tmp_path):
    df = atlas.fly.discover_apps(tmp_path / "nope")
    assert df.empty and df.columns.tolist() == ["app", "path"]


def test_symlink_loops_terminate(tmp_path):
    write(tmp_path / "a" / "fly.toml", "app = a")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    os.symlink(tmp_path / "a", tmp_path / "alias")
    rows = scan(tmp_path, max_depth=5)
    assert [name for name, _ in rows] == ["a"]


def test_duplicates_are_kept_and_sorted_stably(tmp_path):
    write(tmp_path / "x" / "fly.toml", "app = same")
    write(tmp_path / "y" / "fly.toml", "app = same")
    write(tmp_path / "z" / "fly.toml", "app = alpha")
    rows = scan(tmp_path)
    assert [n for n, _ in rows] == ["alpha", "same", "same"]
    assert [os.path.basename(p) for _, p in rows] == ["z", "x", "y"]


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True, None])
def test_max_depth_is_validated(tmp_path, bad):
    with pytest.raises(ValidationError, match="max_depth"):
        atlas.fly.discover_apps(tmp_path, max_depth=bad)


async def test_async_twin(project):
    df = await atlas.fly.aio.discover_apps(project, max_depth=2)
    assert df["app"].tolist() == ["api", "hidden", "root-app", "web"]
