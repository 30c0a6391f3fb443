"""Tracked records in a real redis-server: the conformance suite, then what only Redis does."""

from __future__ import annotations

from pathlib import Path

import redis

from atlas_nb.orchestrator.redis_store import RedisTrackStore
from atlas_nb.testing import RecordStoreConformance


def namespace(path: Path) -> str:
    return f"test:{path}"


class TestRedisTrackStore(RecordStoreConformance):
    import pytest

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
