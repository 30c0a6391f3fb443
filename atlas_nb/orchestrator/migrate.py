"""``atlas-nb store migrate --to redis://...``: copy this installation's local state to Redis.

Tracked records are copied (a record Redis already holds is left as it is: a teammate's
kernel may be guarding it); Fly tokens too when a team key is given, encrypted with it.
Nothing local is deleted, so ``configure(store=None)`` still finds everything.

    >>> import asyncio, tempfile, pathlib
    >>> try:
    ...     asyncio.run(migrate(pathlib.Path(tempfile.mkdtemp()), "http://x"))
    ... except Exception as err:
    ...     print(type(err).__name__)
    ValidationError
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from .._redis import store_url


@dataclass
class Migrated:
    """What was copied: record ids, those Redis had already, token (kind, app) pairs."""

    records: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    tokens: list[tuple[str, str]] = field(default_factory=list)
    tokens_skipped: str | None = None  # why tokens were not copied
    quarantined: list[str] = field(default_factory=list)


async def migrate(
    data_dir: Path,
    url: str | SecretStr,
    *,
    key: SecretStr | None = None,
    token_path: Path | None = None,
    namespace: str = "atlas_nb",
) -> Migrated:
    """Copy the records under ``data_dir/tracked`` (and, with ``key``, the Fly tokens under
    ``token_path``, default ``data_dir/fly_tokens``) into the Redis store at ``url``."""
    import asyncio

    from .redis_store import RedisTrackStore
    from .state import TrackStore

    target = store_url(url)
    local = TrackStore(data_dir / "tracked")
    local.check()
    records = local.load()
    out = Migrated(quarantined=[f"{where}: {why}" for where, why in local.quarantined])
    remote = RedisTrackStore(target, holder=f"migrate:{os.getpid()}", namespace=namespace)
    await remote.connect()
    try:
        for cid, rec in records.items():
            if remote.get(cid) is not None:
                out.already.append(cid)
                continue
            remote.put(rec)
            out.records.append(cid)
        if not await remote.flush(timeout=30.0):
            raise RuntimeError("Redis did not take the records in 30 s; run the migration again")
    finally:
        await remote.aclose()
    tokens = token_path or (data_dir / "fly_tokens")
    if key is None:
        out.tokens_skipped = "no team key (ATLAS_NB_STORE_KEY): Fly tokens stay local"
    elif not tokens.exists():
        out.tokens_skipped = f"no local Fly token store at {tokens}"
    else:
        out.tokens = await asyncio.to_thread(_copy_tokens, tokens, target, key)
    return out


def _copy_tokens(path: Path, url: SecretStr, key: SecretStr) -> list[tuple[str, str]]:
    from ..fly.storage import KINDS, DiskcacheTokenStorage, RedisTokenStorage

    src, dst = DiskcacheTokenStorage(path), RedisTokenStorage(url, key=key)
    copied: list[tuple[str, str]] = []
    try:
        for kind in KINDS:
            for app in src.apps(kind):
                rec = src.get(app, kind)
                if rec is not None:
                    dst.put(app, kind, rec)
                    copied.append((kind, app))
    finally:
        src.close()
        dst.close()
    return copied
