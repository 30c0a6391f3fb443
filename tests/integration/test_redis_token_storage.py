"""Fly tokens in a real redis-server: the conformance suite, encryption, TLS and faults."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet

import atlas_nb as atlas
from atlas_nb._redis import RedisConnection
from atlas_nb.errors import (
    ManualTokenStoreCorrupt,
    StoreUnavailableError,
    TokenPersistError,
    ValidationError,
)
from atlas_nb.fly.storage import DiskcacheTokenStorage, RedisTokenStorage, TokenRecord
from atlas_nb.testing import TokenStorageConformance
from tests.helpers.redis_server import REDIS_PASSWORD, RedisServer, free_port
from tests.helpers.waiting import eventually

TEAM_KEY = Fernet.generate_key()
FAST = (0.01, 0.02, 0.04)  # retry delays for tests that wait for the give-up


@pytest.fixture
def raw_client():
    """``raw_client(server)``: a plain redis-py client, to look at what the store wrote."""
    clients: list[redis.Redis] = []

    def make(server: RedisServer) -> redis.Redis:
        clients.append(redis.Redis.from_url(server.url))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def storage(server: RedisServer, namespace: str, **kw) -> RedisTokenStorage:
    return RedisTokenStorage(server.url, key=kw.pop("key", TEAM_KEY), namespace=namespace, **kw)


@pytest.fixture
def open_store(redis_server, tmp_path):
    """``open_store(key=...)``: a store on the session server in this test's namespace."""
    opened: list[RedisTokenStorage] = []

    def make(**kw) -> RedisTokenStorage:
        opened.append(storage(redis_server, str(tmp_path), **kw))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


class TestRedisTokenStorage(TokenStorageConformance):
    persistent = True

    @pytest.fixture(autouse=True)
    def _server(self, redis_server):
        self.server = redis_server

    def make_storage(self, path: Path) -> RedisTokenStorage:
        return storage(self.server, f"conformance:{path}")


def test_redis_sees_only_ciphertext_and_cached_tokens_expire_there(
    redis_server, tmp_path, raw_client
):
    store = storage(redis_server, str(tmp_path))
    expiry = 4_000_000_000.0
    store.put("web", "cached", TokenRecord("FlyV1 fm2_very_secret_cached", expiry))
    store.put("web", "manual", TokenRecord("FlyV1 fm2_very_secret_manual"))
    raw = raw_client(redis_server)
    keys = sorted(k.decode() for k in raw.keys(f"{tmp_path}:*"))
    assert keys == [f"{tmp_path}:fly_token:cached:web", f"{tmp_path}:fly_token:manual:web"]
    for key in keys:
        blob = raw.get(key)
        assert b"very_secret" not in blob and b"FlyV1" not in blob
        assert b"very_secret" in Fernet(TEAM_KEY).decrypt(blob)  # the team key opens it
    assert raw.pexpiretime(keys[0]) == int(expiry * 1000) + 1
    assert raw.ttl(keys[1]) == -1  # a manual token never expires
    store.close()


def test_a_teammate_with_the_key_reads_what_another_kernel_stored(open_store):
    mine, theirs = open_store(), open_store()
    mine.put("web", "manual", TokenRecord("FlyV1 fm2_shared"))
    assert theirs.get("web", "manual") == TokenRecord("FlyV1 fm2_shared")


def test_another_key_cannot_read_manual_tokens_and_leaves_them(open_store):
    open_store().put("web", "manual", TokenRecord("FlyV1 fm2_m"))
    stranger = open_store(key=Fernet.generate_key())
    with pytest.raises(ManualTokenStoreCorrupt) as err:
        stranger.get("web", "manual")
    assert "cannot be decrypted with the team key" in str(err.value)
    assert "ATLAS_NB_STORE_KEY" in str(err.value)
    assert open_store().get("web", "manual") == TokenRecord("FlyV1 fm2_m")


def test_an_unreadable_cached_token_is_ignored_with_a_warning_and_left(
    redis_server, tmp_path, open_store, raw_client, caplog
):
    raw = raw_client(redis_server)
    key = f"{tmp_path}:fly_token:cached:web"
    raw.set(key, b"not a fernet token")
    with caplog.at_level(logging.WARNING, "atlas_nb.fly.storage"):
        assert open_store().get("web", "cached") is None
    assert "cannot be decrypted" in caplog.text
    assert raw.get(key) == b"not a fernet token"  # a teammate's key may still open it
    # valid ciphertext of something that is not a record: also ignored, also said
    raw.set(key, Fernet(TEAM_KEY).encrypt(b'{"token": 5}'))
    assert open_store().get("web", "cached") is None
    assert "is not a token record" in caplog.text


@pytest.mark.parametrize("key", [None, "", b""])
def test_without_a_team_key_tokens_are_refused(redis_server, key):
    with pytest.raises(ValidationError) as err:
        RedisTokenStorage(redis_server.url, key=key)
    assert err.value.field == "store_key" and "ATLAS_NB_STORE_KEY" in str(err.value)
    assert REDIS_PASSWORD not in str(err.value)


def test_a_key_that_is_not_a_fernet_key_is_refused(redis_server):
    with pytest.raises(ValidationError, match="is not a Fernet key") as err:
        RedisTokenStorage(redis_server.url, key="team-password")
    assert REDIS_PASSWORD not in str(err.value) and "generate_key" in str(err.value)


def test_redis_down_at_start_names_the_masked_url():
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    with pytest.raises(StoreUnavailableError) as err:
        RedisTokenStorage(url, key=TEAM_KEY)
    text = str(err.value)
    assert "cannot connect to the Redis store redis://REDACTED@127.0.0.1:" in text
    assert REDIS_PASSWORD not in text and REDIS_PASSWORD not in repr(err.value)
    assert "atlas-nb doctor" in text  # the hint: what to check


def test_a_wrong_password_is_refused_without_echoing_it(redis_server):
    url = redis_server.url.replace(REDIS_PASSWORD, "wrong-pw-123")
    with pytest.raises(StoreUnavailableError) as err:
        RedisTokenStorage(url, key=TEAM_KEY)
    assert "wrong-pw-123" not in str(err.value) and "REDACTED" in str(err.value)


def test_redis_lost_mid_run_retries_then_raises_a_storage_error(own_redis, tmp_path, caplog):
    conn = RedisConnection(own_redis.url, delays=FAST)
    store = RedisTokenStorage(own_redis.url, key=TEAM_KEY, connection=conn)
    store.put("web", "cached", TokenRecord("FlyV1 fm2_before", 4e9))
    own_redis.stop()
    with caplog.at_level(logging.WARNING, "atlas_nb.store"):
        with pytest.raises(StoreUnavailableError) as err:
            store.get("web", "cached")
    assert "gave up after 4 attempts on the Redis store redis://REDACTED@" in str(err.value)
    assert caplog.text.count("retry") == 3 and REDIS_PASSWORD not in caplog.text
    # a manual token that cannot be saved reaches the caller as TokenPersistError
    with pytest.raises(TokenPersistError, match="could not save the manual token for web"):
        store.put("web", "manual", TokenRecord("FlyV1 fm2_lost"))
    # Redis back (same port, its AOF): the store reconnects; nothing stored before was lost
    own_redis.start()
    assert store.get("web", "cached") == TokenRecord("FlyV1 fm2_before", 4e9)
    store.close()


def test_an_operation_waits_out_a_redis_restart(own_redis, caplog):
    conn = RedisConnection(own_redis.url, delays=(0.05,) * 400)  # up to ~20 s
    store = RedisTokenStorage(own_redis.url, key=TEAM_KEY, connection=conn)
    store.put("web", "manual", TokenRecord("FlyV1 fm2_kept"))
    own_redis.stop()
    done: list[object] = []
    caplog.set_level(logging.WARNING, "atlas_nb.store")

    def write() -> None:
        try:
            store.put("worker", "manual", TokenRecord("FlyV1 fm2_during"))
            done.append("ok")
        except BaseException as exc:  # reported by the assertion below
            done.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    eventually(lambda: "saving the manual token of worker failed" in caplog.text)
    assert not done  # still retrying while Redis is down
    own_redis.start()
    writer.join(timeout=30)
    assert done == ["ok"]
    assert store.get("worker", "manual") == TokenRecord("FlyV1 fm2_during")
    assert store.get("web", "manual") == TokenRecord("FlyV1 fm2_kept")
    store.close()


def test_rediss_tls_round_trip(tmp_path):
    with RedisServer(tmp_path / "tls", password=REDIS_PASSWORD, tls=True) as server:
        assert server.url.startswith("rediss://")
        store = RedisTokenStorage(server.url, key=TEAM_KEY)
        assert store.location.startswith("rediss://REDACTED@127.0.0.1:")
        store.put("web", "manual", TokenRecord("FlyV1 fm2_over_tls"))
        assert store.get("web", "manual") == TokenRecord("FlyV1 fm2_over_tls")
        store.close()
        # plain redis:// to a TLS-only port does not get through
        plain = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{server.port}/0"
        with pytest.raises(StoreUnavailableError):
            RedisTokenStorage(plain, key=TEAM_KEY, connection=RedisConnection(plain, timeout_s=2))


def test_a_rediss_url_without_the_ca_is_refused_clearly(tmp_path):
    with RedisServer(tmp_path / "tls", password=REDIS_PASSWORD, tls=True) as server:
        untrusted = server.url.split("?", 1)[0]  # no ssl_ca_certs: the test CA is unknown
        with pytest.raises(StoreUnavailableError) as err:
            RedisTokenStorage(untrusted, key=TEAM_KEY)
        assert "rediss://REDACTED@127.0.0.1" in str(err.value)
        assert REDIS_PASSWORD not in str(err.value)


# -- the store setting selects where Fly tokens go ---------------------------------------------


@pytest.fixture
def fresh_tokens():
    atlas.fly.tokens.set_storage(None)  # the settings choose
    yield
    atlas.fly.tokens.set_storage(None)


def test_store_and_team_key_put_fly_tokens_in_redis(
    redis_server, fresh_tokens, tmp_path, raw_client
):
    atlas.configure(store=redis_server.url, store_key=TEAM_KEY.decode())
    atlas.fly.tokens.set_manual("team-web", "FlyV1 fm2_team_token")
    raw = raw_client(redis_server)
    blob = raw.get("atlas_nb:fly_token:manual:team-web")
    assert blob is not None and b"team_token" not in blob
    assert atlas.fly.tokens.get("team-web") == "FlyV1 fm2_team_token"
    atlas.fly.tokens.clear_manual("team-web")
    assert raw.exists("atlas_nb:fly_token:manual:team-web") == 0
    local = tmp_path / "data" / "fly_tokens"
    assert not (local / "manual").exists()  # nothing went to the local files


def test_without_the_team_key_fly_tokens_stay_local(
    redis_server, fresh_tokens, tmp_path, raw_client, caplog
):
    atlas.configure(store=redis_server.url)
    with caplog.at_level(logging.WARNING, "atlas_nb.fly.tokens"):
        atlas.fly.tokens.set_manual("solo-web", "FlyV1 fm2_solo_token")
    assert "needs a team key (ATLAS_NB_STORE_KEY)" in caplog.text
    assert REDIS_PASSWORD not in caplog.text
    assert raw_client(redis_server).keys("atlas_nb:fly_token:*solo-web") == []
    local = DiskcacheTokenStorage(tmp_path / "data" / "fly_tokens")
    assert local.get("solo-web", "manual") == TokenRecord("FlyV1 fm2_solo_token")
    local.close()
    atlas.fly.tokens.clear_manual("solo-web")


def test_store_down_means_an_error_not_a_silent_local_save(fresh_tokens, tmp_path):
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    atlas.configure(store=url, store_key=TEAM_KEY.decode())
    with pytest.raises(TokenPersistError) as err:
        atlas.fly.tokens.set_manual("team-web", "FlyV1 fm2_team_token")
    assert "redis://REDACTED@127.0.0.1" in str(err.value) and REDIS_PASSWORD not in str(err.value)
    assert not (tmp_path / "data" / "fly_tokens" / "manual").exists()


def test_shutdown_closes_the_connection_and_a_new_runtime_reconnects(redis_server, fresh_tokens):
    atlas.configure(store=redis_server.url, store_key=TEAM_KEY.decode())
    atlas.fly.tokens.set_manual("team-web", "FlyV1 fm2_across_runtimes")
    atlas.shutdown()  # the token store closes on the loop that is shutting down
    assert atlas.fly.tokens.get("team-web") == "FlyV1 fm2_across_runtimes"  # a new loop
    atlas.fly.tokens.clear_manual("team-web")


def test_one_store_used_after_the_runtime_restarted(redis_server, tmp_path):
    from atlas_nb._runtime import get_runtime

    store = storage(redis_server, str(tmp_path))
    store.put("web", "manual", TokenRecord("FlyV1 fm2_a"))
    get_runtime().shutdown()
    assert store.get("web", "manual") == TokenRecord("FlyV1 fm2_a")  # a client on the new loop
    store.close()


def test_a_kernel_in_another_process_shares_tokens_through_the_environment(redis_server, tmp_path):
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "ATLAS_NB_STORE": redis_server.url,
        "ATLAS_NB_STORE_KEY": TEAM_KEY.decode(),
        "ATLAS_NB_CONFIG": str(tmp_path / "other.toml"),
    }
    script = (
        "import atlas_nb as atlas\n"
        "print(atlas.settings().store)\n"
        "atlas.fly.tokens.set_manual('shared-web', 'FlyV1 fm2_from_the_other_kernel')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("redis://REDACTED@127.0.0.1:")
    assert REDIS_PASSWORD not in out.stdout + out.stderr
    here = RedisTokenStorage(redis_server.url, key=TEAM_KEY)
    try:
        assert here.get("shared-web", "manual") == TokenRecord("FlyV1 fm2_from_the_other_kernel")
        here.delete("shared-web", "manual")
    finally:
        here.close()
