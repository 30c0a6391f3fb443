"""The redis-server harness itself: a private port and dir, restart in place, clean stop."""

from __future__ import annotations

import os

import pytest

from tests.helpers.redis_server import REDIS_PASSWORD, RedisServer, _ping


def test_start_stop_restart_on_the_same_port(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything written to the cwd would show here
    server = RedisServer(tmp_path / "redis", password=REDIS_PASSWORD)
    assert not server.running and not _ping(server.port, REDIS_PASSWORD)
    server.start()
    port = server.port
    assert server.running and _ping(port, REDIS_PASSWORD)
    assert not _ping(port, "wrong-password")
    server.restart()
    assert server.port == port and _ping(port, REDIS_PASSWORD)
    server.stop()
    assert not server.running and not _ping(port, REDIS_PASSWORD)
    assert sorted(os.listdir(tmp_path)) == ["redis"]  # nothing outside its dir
    assert sorted(os.listdir(tmp_path / "redis")) == ["redis.log"]  # --save '': no dump


@pytest.mark.parametrize(("appendonly", "kept"), [(False, None), (True, b"v")])
def test_data_survives_a_restart_only_with_the_aof(tmp_path, appendonly, kept):
    import redis

    with RedisServer(tmp_path, appendonly=appendonly) as server:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        server.restart()
        assert client.get("k") == kept
        client.close()
    if appendonly:
        assert (tmp_path / "appendonlydir").is_dir()


def test_a_server_that_cannot_start_says_why(tmp_path):
    with RedisServer(tmp_path / "first") as first:
        clash = RedisServer(tmp_path / "second", port=first.port)
        with pytest.raises(RuntimeError, match="redis-server exited"):
            clash.start()
