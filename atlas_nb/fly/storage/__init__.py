"""Token storage: the protocol, the default diskcache backend and an in-memory backend."""

from .base import KINDS, Kind, TokenRecord, TokenStorage
from .diskcache_store import DiskcacheTokenStorage, JsonOnlyDisk
from .memory import MemoryTokenStorage

__all__ = [
    "KINDS",
    "DiskcacheTokenStorage",
    "JsonOnlyDisk",
    "Kind",
    "MemoryTokenStorage",
    "TokenRecord",
    "TokenStorage",
]
