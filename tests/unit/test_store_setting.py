"""The `store` setting: which store URLs are accepted, where they come from, always masked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import atlas_nb as atlas
from atlas_nb._redis import StoreURL, store_url
from atlas_nb.cli import main
from atlas_nb.errors import ValidationError

TEAM_KEY = "kZ3pZzl0ReO8qwrP6s1hKoVZ2Y4C6J2b6m0xVd3QW4s="  # a Fernet key (test only)


@pytest.mark.parametrize(
    ("url", "masked", "tls"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", False),
        ("redis://:hunter2@cache:6379/0", "redis://REDACTED@cache:6379/0", False),
        ("redis://team:hunter2@cache/3", "redis://REDACTED@cache/3", False),
        (
            "rediss://:hunter2@cache.example.com:6380",
            "rediss://REDACTED@cache.example.com:6380",
            True,
        ),
        (
            "rediss://cache.example.com:6380/0?ssl_ca_certs=/etc/ca.pem",
            "rediss://cache.example.com:6380/0?ssl_ca_certs=/etc/ca.pem",
            True,
        ),
        ("REDIS://cache", "redis://cache", False),
        ("unix:///run/redis/redis.sock?db=1", "unix:///run/redis/redis.sock?db=1", False),
        ("unix://:hunter2@/run/redis.sock", "unix://REDACTED@/run/redis.sock", False),
    ],
)
def test_accepted_urls_are_masked(url, masked, tls):
    parsed = store_url(url)
    assert isinstance(parsed, StoreURL)
    assert parsed.masked == masked == str(parsed)
    assert repr(parsed) == f"StoreURL({masked!r})"
    assert parsed.get_secret_value() == url
    assert parsed.tls is tls


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://:hunter2@cache:6379", "must be a redis://, rediss:// or unix:// URL"),
        ("cache:6379", "must be a redis://, rediss:// or unix:// URL"),
        ("redis://:hunter2@", "names no host"),
        ("redis://:hunter2@cache:notaport/0", "malformed"),
        ("redis://:hunter2@cache/zero", "must be a database number"),
        ("unix://:hunter2@", "names no socket path"),
    ],
)
def test_refused_urls_say_why_and_never_show_the_password(url, says):
    with pytest.raises(ValidationError) as err:
        store_url(url)
    assert says in str(err.value) and err.value.field == "store"
    assert "hunter2" not in str(err.value) and "hunter2" not in repr(err.value)


def test_configure_store_is_masked_in_settings_and_its_repr():
    atlas.configure(store="redis://:hunter2@cache:6379/0")
    s = atlas.settings()
    assert s.store.masked == "redis://REDACTED@cache:6379/0"
    assert s.store.get_secret_value() == "redis://:hunter2@cache:6379/0"
    assert "hunter2" not in repr(s) and "hunter2" not in str(s)
    atlas.configure(store=None)
    assert atlas.settings().store is None


def test_configure_refuses_a_bad_store_without_echoing_the_password():
    atlas.configure(store="redis://cache/0")
    with pytest.raises(ValidationError) as err:
        atlas.configure(store="https://:hunter2@cache")
    assert "hunter2" not in str(err.value) and "hunter2" not in repr(err.value.raw)
    assert atlas.settings().store.masked == "redis://cache/0"  # the old value is kept


@pytest.mark.parametrize("local", ["", "local", "  "])
def test_empty_or_local_means_the_local_files(local):
    atlas.configure(store=local)
    assert atlas.settings().store is None


def test_precedence_configure_over_file_over_environment(monkeypatch):
    monkeypatch.setenv("ATLAS_NB_STORE", "redis://:envpw@from-env/0")
    monkeypatch.setenv("ATLAS_NB_STORE_KEY", TEAM_KEY)
    assert atlas.settings().store.masked == "redis://REDACTED@from-env/0"
    assert atlas.settings().store_key.get_secret_value() == TEAM_KEY
    Path(os.environ["ATLAS_NB_CONFIG"]).write_text('store = "rediss://from-file:6380/1"\n')
    assert atlas.settings().store.masked == "rediss://from-file:6380/1"
    atlas.configure(store="redis://from-configure/2")
    assert atlas.settings().store.masked == "redis://from-configure/2"


def test_a_bad_store_in_the_config_file_names_the_setting():
    Path(os.environ["ATLAS_NB_CONFIG"]).write_text('store = "memcached://:pw@x"\n')
    with pytest.raises(ValidationError) as err:
        atlas.settings()
    assert "store" in str(err.value) and ":pw@" not in str(err.value)


def test_doctor_prints_the_store_masked(capsys):
    assert main(["doctor"]) in (0, 1)
    assert "store            local files" in capsys.readouterr().out
    atlas.configure(store="redis://:hunter2@cache:6379/0")
    assert main(["doctor"]) in (0, 1)
    out = capsys.readouterr().out
    assert "store            redis://REDACTED@cache:6379/0 (team key not set" in out
    assert "hunter2" not in out
    atlas.configure(store_key=TEAM_KEY)
    assert main(["doctor"]) in (0, 1)
    out = capsys.readouterr().out
    assert "(team key set)" in out and TEAM_KEY not in out


@pytest.mark.parametrize(
    "password", ["hunter2", "p%40ss%3Aw%2Ford", "ünï%20code", "x" * 200, "REDACTED", "@@"]
)
def test_no_password_survives_masking(password):
    url = store_url(f"redis://user:{password}@cache:6379/0")
    assert url.masked == "redis://REDACTED@cache:6379/0"
    assert url.get_secret_value() == f"redis://user:{password}@cache:6379/0"


def test_the_team_key_is_a_fernet_key_never_shown():
    from cryptography.fernet import Fernet

    key = Fernet.generate_key()
    atlas.configure(store_key=key)  # bytes, as generate_key() returns it
    assert atlas.settings().store_key.get_secret_value() == key.decode()
    assert key.decode() not in repr(atlas.settings())
    atlas.configure(store_key=key.decode())
    assert atlas.settings().store_key.get_secret_value() == key.decode()
    atlas.configure(store_key="")
    assert atlas.settings().store_key is None


@pytest.mark.parametrize("bad", ["team-password", "A" * 44, "é" * 43 + "="])
def test_a_team_key_that_is_not_a_fernet_key_is_refused_unshown(bad):
    with pytest.raises(ValidationError) as err:
        atlas.configure(store_key=bad)
    assert "store_key is not a Fernet key" in str(err.value)
    assert bad not in str(err.value) and bad not in repr(err.value.raw)


def test_a_bad_team_key_in_the_environment_is_refused(monkeypatch):
    monkeypatch.setenv("ATLAS_NB_STORE_KEY", "not-a-key")
    with pytest.raises(ValidationError, match="store_key is not a Fernet key"):
        atlas.settings()


def test_the_init_template_documents_the_store_and_its_line_works(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    config = Path(os.environ["ATLAS_NB_CONFIG"])
    text = config.read_text()
    assert "ATLAS_NB_STORE_KEY" in text
    config.write_text(text.replace('# store = "redis://', 'store = "redis://'))
    assert atlas.settings().store.masked == "redis://REDACTED@redis.internal:6379/0"
