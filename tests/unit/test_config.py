import pytest

import atlas_nb as atlas
from atlas_nb.config import resolve_api_key
from atlas_nb.errors import MissingCredentialsError, ValidationError


def write_config(text):
    import os
    from pathlib import Path

    Path(os.environ["ATLAS_NB_CONFIG"]).write_text(text)


def test_resolution_order(monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "from-env")
    assert resolve_api_key("runpod").get_secret_value() == "from-env"
    write_config('[api_keys]\nrunpod = "from-file"\n')
    assert resolve_api_key("runpod").get_secret_value() == "from-file"
    atlas.configure(api_keys={"runpod": "from-configure"})
    assert resolve_api_key("runpod").get_secret_value() == "from-configure"
    assert resolve_api_key("runpod", "per-call").get_secret_value() == "per-call"
    assert atlas.config.key_sources()["runpod"] == "atlas_nb.configure()"


def test_lambda_accepts_both_env_names(monkeypatch):
    monkeypatch.setenv("LAMBDA_LABS_API_KEY", "old-name")
    assert resolve_api_key("lambda").get_secret_value() == "old-name"
    monkeypatch.setenv("LAMBDA_API_KEY", "new-name")
    assert resolve_api_key("lambda_labs").get_secret_value() == "new-name"


def test_missing_key_names_every_place():
    with pytest.raises(MissingCredentialsError) as info:
        resolve_api_key("vast")
    text = str(info.value)
    for place in ("api_key=", "configure(api_keys", "atlas_nb.toml", "VAST_API_KEY"):
        assert place in text
    assert info.value.kind == "unauthorized"


def test_secrets_are_masked_in_settings_repr():
    atlas.configure(api_keys={"runpod": "rpa_TOPSECRET"})
    assert "TOPSECRET" not in repr(atlas.settings())
    assert "TOPSECRET" not in str(atlas.settings())


def test_base_url_overrides_and_validation():
    atlas.configure(base_urls={"runpod_rest": "http://127.0.0.1:9/rp/"})
    assert atlas.settings().base_url("runpod_rest") == "http://127.0.0.1:9/rp"
    assert atlas.settings().base_url("lambda") == "https://cloud.lambda.ai/api/v1"
    with pytest.raises(ValidationError, match="did you mean 'runpod_rest'|Did you mean"):
        atlas.configure(base_urls={"runpod_rst": "http://x"})


def test_unknown_setting_suggests():
    with pytest.raises(ValidationError, match="Did you mean 'timeout_s'"):
        atlas.configure(timout_s=3)


def test_config_file_settings_and_errors():
    write_config('default_provider = "mock"\ncatalog_ttl_s = 12\n')
    assert atlas.settings().default_provider == "mock"
    assert atlas.settings().catalog_ttl_s == 12
    write_config("this is = not [toml\n")
    with pytest.raises(ValidationError, match="cannot read the config file"):
        atlas.settings()


def test_configure_none_removes_key():
    atlas.configure(api_keys={"vast": "k"})
    assert atlas.settings().api_key("vast") is not None
    atlas.configure(api_keys={"vast": None})
    assert atlas.settings().api_key("vast") is None


def test_bad_value_rejected_and_previous_kept():
    atlas.configure(timeout_s=5)
    with pytest.raises(ValidationError):
        atlas.configure(timeout_s="soon")
    assert atlas.settings().timeout_s == 5


def test_override_restores_what_was_configured_even_after_an_error_inside():
    from atlas_nb import config

    config.configure(default_provider="mock")
    with pytest.raises(RuntimeError), config.override(default_provider="runpod"):
        config.configure(timeout_s=3)  # made inside: undone too
        raise RuntimeError("boom")
    assert config.settings().default_provider == "mock"
    assert config.settings().timeout_s != 3
    with pytest.raises(ValidationError), config.override(no_such_setting=1):
        pass
    assert config.settings().default_provider == "mock"
    config.configure(reset=True)
