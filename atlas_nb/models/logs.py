"""Log entries, the same shape for Fly app logs and pod logs."""

from __future__ import annotations

from datetime import datetime

from ._base import Model


class LogEntry(Model):
    """One log line. ``timestamp`` is timezone-aware (UTC); ``level`` is lower-case or None."""

    timestamp: datetime | None = None
    message: str = ""
    level: str | None = None
    region: str | None = None
    instance: str | None = None
    app: str | None = None
    id: str | None = None
