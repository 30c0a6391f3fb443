"""Fixtures for the integration tests that need a real ``redis-server`` (no mock Redis)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.redis_server import REDIS_PASSWORD, RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One password-protected server for the session; tests keep apart by key namespace."""
    with RedisServer(tmp_path_factory.mktemp("redis"), password=REDIS_PASSWORD) as server:
        yield server


@pytest.fixture
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A server of this test alone (AOF in its temp dir), free to stop and restart."""
    server = RedisServer(
        tmp_path_factory.mktemp("redis-own"), password=REDIS_PASSWORD, appendonly=True
    )
    with server:
        yield server
