"""Pure parts of the guard: what each provider gets injected, and the agent's small parsers."""

from __future__ import annotations

import base64
import random
import shlex
import subprocess
import zlib

import pytest

from atlas_nb.auth import hash_token
from atlas_nb.errors import UnsupportedError, ValidationError
from atlas_nb.guard import (
    GuardSpec,
    fly_injection,
    guard_env,
    pod_guard_supported,
    require_pod_guard,
    runpod_injection,
    vast_injection,
    vast_onstart,
)
from atlas_nb.guard.agent import lease_ttl, read_environ
from atlas_nb.guard.injection import VAST_ONSTART_MAX, agent_source

SPEC = GuardSpec(idle_ttl_s=900, deadline_s=3600, cap_usd=5, price_hr=2.5, token="secret-token")


@pytest.mark.parametrize(
    ("provider", "supported"),
    [("runpod", True), ("vast", True), ("fly", True), ("lambda", False), ("mock", False)],
)
def test_which_providers_can_pod_guard(provider, supported):
    assert pod_guard_supported(provider) is supported


def test_lambda_pod_guard_says_why_and_what_to_do():
    with pytest.raises(UnsupportedError) as err:
        require_pod_guard("lambda")
    text = str(err.value)
    assert "no credential" in text and "guard='client'" in text and "runpod, vast, fly" in text
    with pytest.raises(UnsupportedError):
        guard_env("lambda", SPEC)


def test_env_carries_the_token_hash_never_the_token_and_the_program():
    env = guard_env("runpod", SPEC)
    assert env["ATLAS_GUARD_TOKEN_SHA256"] == hash_token("secret-token")
    assert "secret-token" not in repr(env)
    assert zlib.decompress(base64.b64decode(env["ATLAS_GUARD_AGENT"])).decode() == agent_source()
    assert (env["ATLAS_GUARD_IDLE_TTL_S"], env["ATLAS_GUARD_DEADLINE_S"]) == ("900", "3600")
    assert (env["ATLAS_GUARD_CAP_USD"], env["ATLAS_GUARD_PRICE_HR"]) == ("5", "2.5")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (GuardSpec(idle_ttl_s=-1), "guard"),
        (GuardSpec(idle_ttl_s=60, deadline_s=-5), "guard"),
        (GuardSpec(idle_ttl_s=60, cap_usd=3), "price_hr"),
    ],
)
def test_bad_limits_are_refused(spec, field):
    with pytest.raises(ValidationError) as err:
        guard_env("vast", spec)
    assert err.value.field == field


@pytest.mark.parametrize(
    "command", [["python", "train.py"], ["python", "-c", "print('a b; c')"], ["/start.sh"]]
)
def test_runpod_args_wrap_the_command_and_keep_it_intact(command):
    argv = shlex.split(runpod_injection(SPEC, command)["args"])
    assert argv[:2] == ["sh", "-c"] and argv[3] == "atlas-guard" and argv[4:] == command


@pytest.mark.parametrize("inject", [runpod_injection, fly_injection])
def test_no_command_is_refused_until_the_image_cmd_can_be_resolved(inject):
    with pytest.raises(ValidationError) as err:
        inject(SPEC, None)
    assert err.value.field == "command" and "guard='client'" in str(err.value)


def test_fly_runs_the_guard_as_the_main_process_that_stops_the_machine():
    inj = fly_injection(SPEC, ["python", "serve.py"])
    entrypoint = inj["init"]["entrypoint"]
    assert entrypoint[:2] == ["sh", "-c"] and entrypoint[3] == "atlas-guard"
    assert inj["init"]["cmd"] == ["python", "serve.py"]  # the user's command stays the CMD
    assert inj["restart"] == {"policy": "no"} and inj["auto_destroy"] is True
    assert inj["services"][0]["internal_port"] == SPEC.port


def test_vast_onstart_fits_and_starts_the_guard_in_the_background():
    inj = vast_injection(SPEC)
    assert len(inj["onstart"]) <= VAST_ONSTART_MAX
    assert " sh -c " in inj["onstart"] and inj["onstart"].rstrip().endswith("&")


def test_a_long_onstart_is_gzipped_and_still_runs(tmp_path):
    out = tmp_path / "out"
    script = f"# {'x' * 6000}\necho ran > {out}\n"
    packed = vast_onstart(script)
    assert len(packed) <= VAST_ONSTART_MAX < len(script)
    subprocess.run(["sh", "-c", packed], check=True, timeout=30)
    assert out.read_text() == "ran\n"


def test_an_onstart_that_cannot_fit_even_packed_is_refused():
    noise = base64.b64encode(random.Random(0).randbytes(6000)).decode()  # incompressible
    with pytest.raises(ValidationError):
        vast_onstart("echo " + noise)


@pytest.mark.parametrize(
    ("body", "default", "expected"),
    [
        ({"ttl_s": 60}, 900.0, 60.0),
        ({"ttl_s": 0.5}, 900.0, 0.5),
        ({}, 900.0, 900.0),
        ({"ttl_s": 0}, 900.0, None),
        ({"ttl_s": -1}, 900.0, None),
        ({"ttl_s": True}, 900.0, None),
        ({"ttl_s": "60"}, 900.0, None),
        ({"ttl_s": 1e12}, 900.0, None),
        ([60], 900.0, None),
        (None, 900.0, None),
        ({}, 0.0, None),  # no idle TTL configured and none asked for
    ],
)
def test_lease_ttl_table(body, default, expected):
    assert lease_ttl(body, default) == expected


def test_read_environ_parses_nul_separated_pairs(tmp_path):
    path = tmp_path / "environ"
    path.write_bytes(b"A=1\0B=x=y\0junk\0C=\0")
    assert read_environ(str(path)) == {"A": "1", "B": "x=y", "C": ""}
    assert read_environ(str(tmp_path / "missing")) == {}


def test_each_injection_exposes_the_lease_port():
    assert runpod_injection(SPEC, ["x"])["ports"] == ["8642/http"]
    assert vast_injection(GuardSpec(idle_ttl_s=60, port=9000))["ports"] == ["9000/tcp"]
