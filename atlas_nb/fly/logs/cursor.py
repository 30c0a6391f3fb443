"""The position of a log poller: the ``next_token`` to send and a de-duplication window.

The cursor never moves backwards (an empty or older ``next_token`` keeps the current one) and
an entry is delivered at most once: entries already seen inside the window, or older than the
window behind the newest delivered entry, are dropped.

    >>> from atlas_nb.fly.logs.entries import parse_page
    >>> def page(token, *stamps):
    ...     data = [{"attributes": {"timestamp": f"2026-01-01T00:00:0{s}Z", "message": f"m{s}"}}
    ...             for s in stamps]
    ...     return parse_page({"data": data, "meta": {"next_token": token}})
    >>> c = LogCursor()
    >>> [e.message for e in c.accept(page("1767225602000000000", 1, 2))]
    ['m1', 'm2']
    >>> [e.message for e in c.accept(page("", 2, 3))]  # m2 again: dropped
    ['m3']
    >>> c.token  # no token from the server: continue after the newest entry
    '1767225603000000000'
    >>> _ = c.accept(page("5"))  # an older token never moves the cursor back
    >>> c.token
    '1767225603000000000'
"""

from __future__ import annotations

from ...models import LogEntry
from .entries import Page

DEFAULT_WINDOW_NS = 30 * 1_000_000_000


def _as_int(token: str | None) -> int | None:
    if token is None:
        return None
    try:
        return int(token)
    except ValueError:
        return None


class LogCursor:
    """Tracks ``token`` (what to send next; ``""`` at first) and what was already delivered."""

    def __init__(self, window_ns: int = DEFAULT_WINDOW_NS) -> None:
        self.window_ns = window_ns
        self.token: str = ""
        self.high_ns: int | None = None
        self._seen: dict[tuple[int, str, str], int] = {}
        self.duplicates = 0

    def advance(self, token: str | None) -> None:
        """Move to ``token`` unless it is empty or behind the current one."""
        if not token:
            return
        new, cur = _as_int(token), _as_int(self.token)
        if new is not None and cur is not None and new < cur:
            return
        self.token = token

    def accept(self, page: Page) -> list[LogEntry]:
        """The entries of ``page`` not delivered before (oldest first); advances the cursor."""
        fresh: list[LogEntry] = []
        floor = None if self.high_ns is None else self.high_ns - self.window_ns
        newest = self.high_ns
        for parsed in sorted(page.entries, key=lambda p: p.ts_ns):
            key = parsed.key
            if (floor is not None and parsed.ts_ns < floor) or key in self._seen:
                self.duplicates += 1
                continue
            self._seen[key] = parsed.ts_ns
            fresh.append(parsed.entry)
            if newest is None or parsed.ts_ns > newest:
                newest = parsed.ts_ns
        self.high_ns = newest
        if newest is not None and fresh:
            cutoff = newest - self.window_ns
            if len(self._seen) > 64:
                self._seen = {k: ts for k, ts in self._seen.items() if ts >= cutoff}
        if page.next_token:
            self.advance(page.next_token)
        elif newest is not None and fresh and _as_int(self.token or "0") is not None:
            # no cursor from the server: continue after what we have (ns timestamps, as Fly's)
            self.advance(str(newest))
        return fresh
