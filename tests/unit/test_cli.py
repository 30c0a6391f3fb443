"""The atlas-nb command line: init, upgrade, doctor, gpus/offers on the sandbox, reap."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import atlas_nb as atlas
from atlas_nb.cli import SCHEMA_VERSION, main, mask, migrate


def run_cli(*args):
    return main(list(args))


def test_init_writes_a_commented_private_config_and_storage(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    monkeypatch.chdir(repo)
    config = Path(os.environ["ATLAS_NB_CONFIG"])
    assert run_cli("init", "--storage-path", ".atlas_nb") == 0
    text = config.read_text()
    assert text.startswith("# atlas_nb configuration")
    data = tomllib.loads(text)
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["data_dir"] == str(repo / ".atlas_nb")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE((repo / ".atlas_nb").stat().st_mode) == 0o700
    assert (repo / ".gitignore").read_text().splitlines()[-1] == "/.atlas_nb/"
    # idempotent, and a key you set is never overwritten
    config.write_text(text.replace('# runpod = "rpa_..."', 'runpod = "rpa_MINE"'))
    assert run_cli("init", "--storage-path", ".elsewhere") == 0
    again = tomllib.loads(config.read_text())
    assert again["api_keys"]["runpod"] == "rpa_MINE"
    assert again["data_dir"] == str(repo / ".atlas_nb")
    assert (repo / ".gitignore").read_text().count("/.atlas_nb/") == 1


def test_init_outside_git_leaves_gitignore_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_cli("init") == 0
    assert "not inside a git repository" in capsys.readouterr().out
    assert not (tmp_path / ".gitignore").exists()


def test_upgrade_migrates_once(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text('# mine\nreap_providers = "runpod, vast"\n\n[api_keys]\nvast = "k"\n')
    assert migrate(path) == ["v0 -> v1: reap_providers as a list"]
    data = tomllib.loads(path.read_text())
    assert data["reap_providers"] == ["runpod", "vast"]
    assert data["schema_version"] == 1 and data["api_keys"] == {"vast": "k"}
    assert path.read_text().startswith("# mine")
    assert migrate(path) == []  # idempotent
    assert run_cli("upgrade", "--config", str(path)) == 0


def test_doctor_masks_secrets(monkeypatch, capsys):
    monkeypatch.setenv("RUNPOD_API_KEY", "rpa_SUPERSECRETVALUE123")
    code = run_cli("doctor")
    out = capsys.readouterr().out
    assert "SUPERSECRET" not in out
    assert "rpa_…" in out and "123" not in out and "environment variable RUNPOD_API_KEY" in out
    assert "fly executable" in out
    assert code in (0, 1)


@pytest.mark.parametrize(
    ("secret", "shown"),
    [("rpa_ABCDEFGHIJ123", "rpa_…"), ("FlyV1 fm2_abcdefgh", "FlyV…"), ("short", "…")],
)
def test_mask(secret, shown):
    assert mask(secret) == shown


def test_reap_dry_run_from_the_cli(capsys):
    atlas.configure(reap_grace_s=0)
    orphan = atlas.spawn(provider="mock", gpu="l4", image="x", name="atlas-testown-lost01")
    assert run_cli("reap", "--providers", "mock") == 0
    out = capsys.readouterr().out
    assert orphan.id in out and "would be terminated" in out


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "atlas-nb"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "doctor" in out.stdout


def test_init_then_everything_still_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_cli("init") == 0
    atlas.settings()  # the written file (schema_version, comments) loads
    assert run_cli("doctor") in (0, 1)
    assert "unknown setting" not in capsys.readouterr().err


def test_readme_config_example_loads():
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    Path(os.environ["ATLAS_NB_CONFIG"]).write_text(example)
    cfg = atlas.settings()
    assert cfg.default_provider == "runpod" and cfg.api_key("runpod") is not None


def test_future_schema_is_refused_clearly():
    Path(os.environ["ATLAS_NB_CONFIG"]).write_text("schema_version = 99\n")
    with pytest.raises(atlas.ValidationError, match="upgrade atlas_nb|Upgrade atlas_nb"):
        atlas.settings()
