"""Names atlas_nb gives the computes it spawns.

Tracked (managed) computes are named ``<prefix><owner>-<random>``; untracked ones
``<prefix><random>``. The prefix (default ``atlas-``) and this installation's owner tag are the
reaper's safety switch: it only ever touches computes whose name carries both, so computes you
spawned without tracking are never reaped.

    >>> name = default_name(prefix="atlas-", owner="k3x9q2")
    >>> name.startswith("atlas-k3x9q2-"), len(name)
    (True, 19)
    >>> is_ours(name, prefix="atlas-", owner="k3x9q2"), is_ours("atlas-other1-abc123",
    ...                                                          prefix="atlas-", owner="k3x9q2")
    (True, False)
"""

from __future__ import annotations

import os
import re
import secrets
import string
from pathlib import Path

from .config import OWNER_PATTERN, settings

_ALPHABET = string.ascii_lowercase + string.digits
_OWNER = re.compile(OWNER_PATTERN)


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def owner_tag(data_dir: Path | None = None) -> str:
    """This installation's owner tag: the ``owner`` setting, else a random id kept on disk."""
    configured = settings().owner
    if configured:
        return configured
    path = (data_dir or settings().data_dir) / "owner"
    try:
        text = path.read_text().strip()
        if _OWNER.match(text):
            return text
    except OSError:
        pass
    tag = _random(10)  # 36**10 tags: two installations do not share one
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(tag + "\n")
    except FileExistsError:
        return path.read_text().strip()
    except OSError:
        pass
    return tag


def default_name(
    *, managed: bool = True, prefix: str | None = None, owner: str | None = None
) -> str:
    """A fresh compute name: with the owner tag when ``managed`` (tracked), without otherwise."""
    p = settings().name_prefix if prefix is None else prefix
    if not managed:
        return f"{p}{_random(8)}"
    return f"{p}{owner or owner_tag()}-{_random(6)}"


def is_ours(name: str | None, *, prefix: str | None = None, owner: str | None = None) -> bool:
    """True when ``name`` was made by :func:`default_name` on this installation."""
    if not name:
        return False
    p = settings().name_prefix if prefix is None else prefix
    if not p:
        return False
    return name.startswith(f"{p}{owner or owner_tag()}-")
