"""Orchestrator entry points used by the compute API (filled in by the orchestrator work)."""

from __future__ import annotations

from typing import Any

from ..errors import NotFoundError, UnsupportedError


async def spawn_tracked(provider: Any, request: Any) -> Any:
    raise UnsupportedError("tracking is not available yet", hint="Spawn without track=True.")


def forget(compute_id: str) -> None:
    """Stop tracking ``compute_id`` if it is tracked (no-op otherwise)."""


async def touch(compute_id: str) -> None:
    raise NotFoundError(f"compute {compute_id} is not tracked", hint="Track it with atlas.track().")
