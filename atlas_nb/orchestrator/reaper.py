"""The reaper: terminate orphans this installation made and lost track of — never anything else.

A compute is reaped only when **all** hold: its name carries the prefix (default ``atlas-``)
**and** this installation's owner tag (``atlas-<owner>-...``, the names tracked spawns get), it
is not tracked, it is older than the grace period, and it is not already gone. The prefix and
owner are the safety switch; an empty prefix is refused.

    >>> decide(name="atlas-me1234-abc123", compute_id="p1", age_s=900, tracked=set(),
    ...        prefix="atlas-", owner="me1234", grace_s=600, status="running")
    ('terminate', 'untracked orphan older than the grace period')
    >>> decide(name="atlas-me1234-abc123", compute_id="p1", age_s=900, tracked={"p1"},
    ...        prefix="atlas-", owner="me1234", grace_s=600, status="running")
    ('keep', 'tracked')
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from .. import telemetry
from ..config import OWNER_PATTERN
from ..errors import MissingCredentialsError, NotFoundError, ValidationError
from ..models import Compute
from ..providers.base import Provider

if TYPE_CHECKING:
    import pandas as pd
else:
    from .._lazy import pandas as pd

log = logging.getLogger("atlas_nb.reaper")

REAP_COLUMNS: dict[str, str] = {
    "provider": "string",
    "id": "string",
    "name": "string",
    "status": "string",
    "age_s": "Float64",
    "action": "string",
    "reason": "string",
    "result": "string",
}


def decide(
    *,
    name: str | None,
    compute_id: str,
    age_s: float | None,
    tracked: set[str],
    prefix: str,
    owner: str,
    grace_s: float,
    status: str,
    released: frozenset[str] | set[str] = frozenset(),
) -> tuple[str, str]:
    """``("terminate" | "keep", reason)`` for one compute (pure; the safety rules)."""
    if not prefix:
        raise ValidationError(
            "the reaper needs a non-empty name prefix",
            field="name_prefix",
            hint="Set name_prefix (default 'atlas-'); an empty prefix would reap everything.",
        )
    if not re.fullmatch(OWNER_PATTERN, owner or ""):
        raise ValidationError(
            f"the reaper's owner tag {owner!r} is not lowercase letters and digits (4-32)",
            field="owner",
            hint="Fix atlas.configure(owner=...); another installation's pods must never match.",
        )
    if status in ("terminated", "terminating"):
        return "keep", "already terminated"
    if compute_id in tracked:
        return "keep", "tracked"
    if compute_id in released:
        return "keep", "untracked with untrack(): kept running on purpose"
    if not name or not name.startswith(prefix):
        return "keep", f"name lacks the prefix {prefix!r}"
    if not name.startswith(f"{prefix}{owner}-"):
        return "keep", "owned by another installation (or spawned untracked)"
    if age_s is None:
        return "keep", "age unknown"
    if age_s < grace_s:
        return "keep", f"younger than the grace period ({grace_s:g} s)"
    return "terminate", "untracked orphan older than the grace period"


def _age(compute: Compute, now: float) -> float | None:
    if compute.created_at is None:
        return None
    return max(0.0, now - compute.created_at.timestamp())


async def reap_providers(
    providers: list[Provider],
    *,
    tracked: set[str],
    prefix: str,
    owner: str,
    grace_s: float,
    dry_run: bool,
    released: set[str] | None = None,
) -> pd.DataFrame:
    """Examine every compute of ``providers``; terminate orphans unless ``dry_run``."""
    from ..frames import frame

    now = time.time()
    rows: list[dict[str, Any]] = []
    errors: dict[str, str] = {}

    async def one(prov: Provider) -> None:
        try:
            computes = await prov.list_computes()
        except MissingCredentialsError:
            return
        except Exception as exc:  # a provider failing must not stop the reaper
            errors[prov.name] = str(exc)
            log.warning("reaper could not list %s: %s", prov.name, exc)
            return
        for c in computes:
            age = _age(c, now)
            action, reason = decide(
                name=c.name,
                compute_id=c.id,
                age_s=age,
                tracked=tracked,
                prefix=prefix,
                owner=owner,
                grace_s=grace_s,
                status=c.status.value,
                released=released or set(),
            )
            result = ""
            if action == "terminate" and not dry_run:
                try:
                    await prov.terminate(c.id)
                    result = "terminated"
                    telemetry.emit(
                        "atlas.reaper.reap",
                        {},
                        {"provider": prov.name, "compute_id": c.id, "reason": reason},
                    )
                except NotFoundError:
                    result = "already gone"
                except Exception as exc:
                    result = f"failed: {exc}"
                    log.warning("reaper could not terminate %s: %s", c.id, exc)
            rows.append(
                {
                    "provider": prov.name,
                    "id": c.id,
                    "name": c.name,
                    "status": c.status.value,
                    "age_s": age,
                    "action": action,
                    "reason": reason,
                    "result": result or ("dry run" if dry_run else ""),
                }
            )

    await asyncio.gather(*(one(p) for p in providers))
    df = frame(rows, REAP_COLUMNS)
    df = df.sort_values(
        ["action", "provider", "id"], ascending=[False, True, True], kind="stable"
    ).reset_index(drop=True)
    df.attrs["errors"] = errors
    df.attrs["dry_run"] = dry_run
    return df
