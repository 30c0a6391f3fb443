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


def test_init_and_upgrade_replace_the_key_file_atomically_and_privately(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text('reap_providers = "runpod"\n[api_keys]\nrunpod = "rpa_MINE"\n')
    path.chmod(0o644)
    before = path.stat().st_ino
    assert run_cli("upgrade", "--config", str(path)) == 0
    assert path.stat().st_ino != before  # a new file renamed over the old, not rewritten
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text())["api_keys"] == {"runpod": "rpa_MINE"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.toml"]  # no temp file left
    assert run_cli("init", "--config", str(path), "--storage-path", str(tmp_path / "d")) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text())["data_dir"] == str(tmp_path / "d")


def test_a_failed_config_write_keeps_the_old_file_and_says_so(tmp_path):
    from atlas_nb.cli import write_private
    from atlas_nb.errors import StorageError

    path = tmp_path / "c.toml"
    path.write_text("a = 1\n")
    with pytest.raises(StorageError, match="could not write .*left as it was"):
        write_private(path, "\ud800")  # cannot be encoded: fails mid-write
    assert path.read_text() == "a = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]
    with pytest.raises(StorageError, match="could not write"):
        write_private(tmp_path / "missing-dir" / "c.toml", "a = 1\n")


def test_the_config_lock_is_usable_in_a_forked_child():
    import threading

    from atlas_nb import config
    from tests.helpers.waiting import eventually

    held, release = threading.Event(), threading.Event()

    def hold():
        with config._config.lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    held.wait(10)
    pid = os.fork()
    if pid == 0:  # the child: the holder thread does not exist here
        try:
            config.settings()
            os._exit(0)
        except BaseException:
            os._exit(3)
    release.set()
    try:
        done = eventually(lambda: (r := os.waitpid(pid, os.WNOHANG))[0] and r, timeout=10)
        status = done[1]
    except AssertionError:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError("the forked child blocked on the config lock") from None
    finally:
        holder.join(5)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
