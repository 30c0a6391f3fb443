"""Tracked records in a real redis-server: the conformance suite, then what only Redis does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas_nb._runtime import get_runtime
from atlas_nb.errors import StoreUnavailableError
from atlas_nb.fly.storage import DiskcacheTokenStorage, RedisTokenStorage, TokenRecord
from atlas_nb.orchestrator.redis_store import RedisTrackStore
from atlas_nb.orchestrator.state import TrackStore
from atlas_nb.testing import RecordStoreConformance
from atlas_nb.testing.record_conformance import record
from tests.helpers.redis_server import REDIS_PASSWORD, RedisServer, free_port


def namespace(path: Path) -> str:
    return f"test:{path}"


class TestRedisTrackStore(RecordStoreConformance):
    @pytest.fixture(autouse=True)
    def _server(self, redis_server):
        self.server = redis_server

    def make_store(self, path: Path) -> RedisTrackStore:
        return RedisTrackStore(
            self.server.url, holder=f"h{len(self._opened)}", namespace=namespace(path)
        )

    def corrupt(self, store, compute_id: str) -> None:
        with redis.Redis.from_url(self.server.url) as raw:
            raw.hset(
                f"{store.ns}:rec:{compute_id}",
                mapping={"id": '"bad"', "provider": '"mock"', "started_at": '"x"'},
            )
            raw.sadd(f"{store.ns}:ids", compute_id)


def test_records_over_tls(tmp_path):
    with RedisServer(tmp_path / "tls", password=REDIS_PASSWORD, tls=True) as server:
        assert server.url.startswith("rediss://")
        store = RedisTrackStore(server.url, holder="h", namespace="tls")
        rt = get_runtime()
        rt.run(store.connect())
        rt.run(_on_loop(lambda: store.put(record())))
        assert rt.run(store.flush())
        other = RedisTrackStore(server.url, holder="h2", namespace="tls")
        rt.run(other.connect())
        assert other.load() == {"pod1": record()}
        rt.run(store.aclose())
        rt.run(other.aclose())


async def _on_loop(fn):
    return fn()


def test_redis_down_at_connect_names_the_url_without_its_password():
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    store = RedisTrackStore(url, holder="h")
    with pytest.raises(StoreUnavailableError) as err:
        get_runtime().run(store.connect())
    assert "redis://REDACTED@127.0.0.1" in str(err.value) and REDIS_PASSWORD not in str(err.value)


def test_migrate_copies_local_records_and_tokens_with_the_team_key(redis_server, tmp_path):
    data = tmp_path / "data"
    local = TrackStore(data / "tracked")
    for cid in ("a", "b"):
        local.put(record(cid))
    (data / "tracked" / "bad.json").write_text("{oops")
    tokens = DiskcacheTokenStorage(data / "fly_tokens")
    tokens.put("web", "manual", TokenRecord("FlyV1 fm2_migrated"))
    tokens.close()
    key = Fernet.generate_key().decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_NB_")}
    config = tmp_path / "atlas_nb.toml"
    config.write_text(f'data_dir = "{data}"\n')
    env.update(ATLAS_NB_CONFIG=str(config), ATLAS_NB_STORE_KEY=key, HOME=str(tmp_path / "h"))
    exe = str(Path(sys.executable).parent / "atlas-nb")
    url = redis_server.url.replace("/0", "/3")
    done = subprocess.run([exe, "store", "migrate", "--to", url], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "copied 2 tracked record(s)" in done.stdout and "copied 1 Fly token" in done.stdout
    assert "bad" in done.stdout and REDIS_PASSWORD not in done.stdout + done.stderr
    store = RedisTrackStore(url, holder="check")
    get_runtime().run(store.connect())
    assert store.load() == {"a": record("a"), "b": record("b")}
    get_runtime().run(store.aclose())
    team = RedisTokenStorage(url, key=key)
    assert team.get("web", "manual") == TokenRecord("FlyV1 fm2_migrated")
    team.close()
    again = subprocess.run([exe, "store", "migrate", "--to", url], env=env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert "copied 0 tracked record(s)" in again.stdout and "left 2 alone" in again.stdout


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=st.dictionaries(
        st.sampled_from(["id", "provider", "started_at", "idle_ttl_s", "status", "extra", "x"]),
        st.one_of(st.text(max_size=8), st.binary(max_size=8)),
        max_size=6,
    )
)
def test_any_hash_in_redis_loads_as_a_record_or_is_set_aside(redis_server, fields):
    """Whatever a hash holds, loading never raises: a valid record, or quarantined."""
    ns = "fuzz"
    with redis.Redis.from_url(redis_server.url) as raw:
        raw.delete(f"{ns}:ids", f"{ns}:rec:p", f"{ns}:quarantine")
        if fields:
            raw.hset(f"{ns}:rec:p", mapping=fields)
        raw.sadd(f"{ns}:ids", "p")
    store = RedisTrackStore(redis_server.url, holder="fuzz", namespace=ns)
    rt = get_runtime()
    rt.run(store.connect())
    loaded = store.load()
    assert loaded == {} or set(loaded) == {"p"}
    assert bool(loaded) != bool(store.quarantined) or (not fields and not loaded)
    rt.run(store.aclose())
