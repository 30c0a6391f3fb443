"""Token shape, the Authorization header, CLI output and flyctl's config.yml (W-14)."""

import pytest

from atlas_nb.fly.tokens.cli import parse_cli_output
from atlas_nb.fly.tokens.config_file import config_path, read_access_token
from atlas_nb.fly.tokens.shape import authorization_header, normalize_token

MAC = "fm2_lJPECAAAAAAAARSyxBA=="


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"FlyV1 {MAC}", f"FlyV1 {MAC}"),
        (MAC, f"FlyV1 {MAC}"),
        (f"  FlyV1 {MAC},fm1r_abc\n", f"FlyV1 {MAC},fm1r_abc"),
        ("fm1a_xyz", "FlyV1 fm1a_xyz"),
        ("Bearer abcdefghijklmnop1234", "abcdefghijklmnop1234"),
        ("abcdefghijklmnop1234", "abcdefghijklmnop1234"),
        ("FlyV1 not-a-macaroon-token-xx", None),
        ("short", None),
        ("A new version of flyctl is available", None),
        ("Error: not logged in", None),
        (f"{MAC} trailing words", None),
        ("", None),
        (None, None),
        ("FlyV1 ", None),
        ("a,b", None),
    ],
)
def test_normalize_token(text, expected):
    assert normalize_token(text) == expected


@pytest.mark.parametrize(
    ("token", "header"),
    [
        (f"FlyV1 {MAC}", f"FlyV1 {MAC}"),
        (MAC, f"FlyV1 {MAC}"),
        (f"{MAC},fm1r_x", f"FlyV1 {MAC},fm1r_x"),
        ("abcdefghijklmnop1234", "Bearer abcdefghijklmnop1234"),
        ("Bearer abc", "Bearer abc"),
    ],
)
def test_authorization_header(token, header):
    assert authorization_header(token) == header


@pytest.mark.parametrize(
    ("out", "token"),
    [
        (f'{{"token": "FlyV1 {MAC}"}}', f"FlyV1 {MAC}"),
        (f"FlyV1 {MAC}\n", f"FlyV1 {MAC}"),
        (f"Update available: v0.4\nFlyV1 {MAC}\n", f"FlyV1 {MAC}"),
        ('{"token": 5}', None),
        ("{not json", None),
        ("Your token is ready!", None),
        ("", None),
    ],
)
def test_parse_cli_output(out, token):
    assert parse_cli_output(out) == token


@pytest.mark.parametrize(
    ("yaml_text", "token"),
    [
        (f"access_token: FlyV1 {MAC}\nsend_metrics: true\n", f"FlyV1 {MAC}"),
        (f"access_token: 'FlyV1 {MAC}'\n", f"FlyV1 {MAC}"),  # quotes are YAML, not the token
        (f'access_token: "FlyV1 {MAC}"\n', f"FlyV1 {MAC}"),
        (f"last_login: 2026-01-01T00:00:00Z\naccess_token:   {MAC}  \n", MAC),
        ("access_token: ''\n", None),
        ("access_token:\n", None),
        ("send_metrics: true\n", None),
        ("access_token: [1, 2]\n", None),
        ("- a list\n", None),
        ("access_token: 'unterminated\n", None),
        ("", None),
    ],
)
def test_read_access_token(tmp_path, yaml_text, token):
    (tmp_path / "config.yml").write_text(yaml_text)
    assert read_access_token(config_path({"FLY_CONFIG_DIR": str(tmp_path)})) == token


def test_config_path_defaults_to_home(monkeypatch, tmp_path):
    monkeypatch.delenv("FLY_CONFIG_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path() == tmp_path / ".fly" / "config.yml"
    assert read_access_token() is None  # missing file: a miss
