"""``atlas-nb`` as scripts and new users meet it: the sandbox's config block works as pasted,
``gpus``/``offers``/``reap`` speak JSON and CSV, and an empty reap says why it is empty."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.helpers.waiting import eventually

EXE = str(Path(sys.executable).parent / "atlas-nb")


def cli_env(tmp_path: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_NB_")}
    env.update(
        ATLAS_NB_CONFIG=str(config),
        HOME=str(tmp_path / "home"),
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
    )
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def served_block(tmp_path):
    """Run `atlas-nb sandbox --port 0` and return what it printed before serving."""
    env = cli_env(tmp_path, tmp_path / "unused.toml")
    proc = subprocess.Popen(
        [EXE, "sandbox", "--port", "0", "--speed", "50"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        eventually(lambda: any(line.startswith("# serving") for line in lines), timeout=60)
        yield "".join(lines)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_sandbox_block_works_as_pasted_into_the_config_file(tmp_path, served_block):
    config = tmp_path / "atlas_nb.toml"
    config.write_text(served_block)  # everything it printed, comments included
    config.chmod(0o600)
    env = cli_env(tmp_path, config)
    doctor = run(env, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "unknown" not in doctor.stderr
    for provider in ("runpod", "lambda", "vast", "fly"):
        assert f"key {provider}" in doctor.stdout and "config file" in doctor.stdout
    assert "fly executable" in doctor.stdout and "not found" not in doctor.stdout
    # and the pasted block really points at the served sandbox: prices over loopback HTTP
    gpus = run(env, "gpus", "--json")
    assert gpus.returncode == 0, gpus.stderr
    providers = {row["provider"] for row in json.loads(gpus.stdout)}
    assert {"runpod", "lambda", "vast"} <= providers


def test_offers_as_json_and_csv_carry_every_column(tmp_path):
    env = cli_env(tmp_path, tmp_path / "none.toml")
    as_json = run(env, "offers", "--sandbox", "--gpu", "h100", "--limit", "5", "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert len(rows) == 5 and {r["gpu"] for r in rows} == {"h100"}
    assert {"provider", "price_per_hr", "offer_id", "vram_gb", "region"} <= set(rows[0])
    prices = [r["price_per_hr"] for r in rows]
    assert prices == sorted(prices)
    as_csv = run(env, "offers", "--sandbox", "--gpu", "h100", "--limit", "5", "--csv")
    assert as_csv.returncode == 0, as_csv.stderr
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["offer_id"] for r in table] == [r["offer_id"] for r in rows]


def test_gpus_json_keeps_stdout_parseable_and_reports_skips_on_stderr(tmp_path):
    env = cli_env(tmp_path, tmp_path / "none.toml")
    out = run(env, "gpus", "--sandbox", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)  # nothing else on stdout
    assert "skipped fly" in out.stderr


@pytest.mark.parametrize("fmt", ["--json", "--csv", None])
def test_reap_with_the_sandbox_and_no_orphans_says_so(tmp_path, fmt):
    env = cli_env(tmp_path, tmp_path / "none.toml")
    out = run(env, "reap", "--sandbox", *([fmt] if fmt else []))
    assert out.returncode == 0, out.stderr
    assert "configure a provider key" not in out.stdout + out.stderr
    if fmt == "--json":
        assert json.loads(out.stdout) == []
    elif fmt == "--csv":
        assert out.stdout.splitlines()[0].startswith("provider,id,name,status")
    else:
        assert "no orphans on fly, lambda, runpod, vast" in out.stdout


def test_reap_without_any_key_says_how_to_get_rows(tmp_path):
    out = run(cli_env(tmp_path, tmp_path / "none.toml"), "reap")
    assert out.returncode == 0, out.stderr
    assert "configure a provider key" in out.stdout


def test_offers_names_the_variants_of_a_family(tmp_path):
    env = cli_env(tmp_path, tmp_path / "none.toml")
    family = run(env, "offers", "--sandbox", "--gpu", "a100", "--limit", "400")
    assert family.returncode == 0, family.stderr
    assert "a100 is a family: a100_80g, a100_40g" in family.stdout
    assert " a100_80g " in family.stdout and " a100_40g " in family.stdout
    model = run(env, "offers", "--sandbox", "--gpu", "h100", "--limit", "1")
    assert "other variants of h100: h100_pcie, h100_nvl" in model.stdout
