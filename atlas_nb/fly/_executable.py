"""Where the ``fly`` CLI is: the ``fly_executable`` setting, else ``fly`` or ``flyctl`` on PATH."""

from __future__ import annotations

import os
import shutil

from ..config import settings


def find_fly() -> tuple[str | None, str]:
    """``(path, "")`` when found, else ``(None, reason)``.

    >>> import atlas_nb as atlas
    >>> atlas.configure(fly_executable="/nonexistent/fly")
    >>> find_fly()
    (None, 'fly_executable=/nonexistent/fly is not an executable file')
    >>> atlas.configure(reset=True)
    """
    configured = settings().fly_executable
    if configured:
        path = os.path.expanduser(configured)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path, ""
        found = shutil.which(configured)
        if found:
            return found, ""
        return None, f"fly_executable={configured} is not an executable file"
    for name in ("fly", "flyctl"):
        found = shutil.which(name)
        if found:
            return found, ""
    return None, "neither fly nor flyctl is on PATH"
