"""Token storage: the protocol, the default diskcache backend, an in-memory backend and a
team's Redis (tokens encrypted with the team key)."""

from .base import KINDS, Kind, TokenRecord, TokenStorage
from .diskcache_store import DiskcacheTokenStorage, JsonOnlyDisk
from .memory import MemoryTokenStorage
from .redis_store import RedisTokenStorage

__all__ = [
    "KINDS",
    "DiskcacheTokenStorage",
    "JsonOnlyDisk",
    "Kind",
    "MemoryTokenStorage",
    "RedisTokenStorage",
    "TokenRecord",
    "TokenStorage",
]
