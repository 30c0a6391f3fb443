"""Checks for the facade's loosely typed arguments: each returns the value in its usual form
or raises ``ValidationError`` naming the argument (never a ``TypeError`` from deep inside).

    >>> names("us-east-1", "regions"), names(None, "regions"), whole(3, "limit")
    (['us-east-1'], [], 3)
    >>> names(5, "regions")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    atlas_nb.errors.ValidationError: validation: regions must be a name or a list of names, ...
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ValidationError

_EXAMPLES = {"regions": "['us-east-1']", "providers": "['runpod', 'vast']"}


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def names(value: Any, field: str) -> list[str]:
    """A name or an iterable of names as a list (None → [])."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, (Mapping, bytes)):
        items = list(value)
        if all(isinstance(v, str) for v in items):
            return items
        bad = next(v for v in items if not isinstance(v, str))
        problem = f"holds {_shown(bad)}"
    else:
        problem = f"not {_shown(value)}"
    raise ValidationError(
        f"{field} must be a name or a list of names, {problem}",
        field=field,
        hint=f"Pass e.g. {field}={_EXAMPLES.get(field, '[...]')}.",
    )


def whole(value: Any, field: str, *, minimum: int = 1) -> int | None:
    """An optional whole number ``>= minimum`` (None passes through)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    raise ValidationError(
        f"{field} must be a whole number >= {minimum}, not {_shown(value)}",
        field=field,
        hint=f"Pass e.g. {field}={max(minimum, 1)}.",
    )


def number(value: Any, field: str) -> float | None:
    """An optional non-negative number (None passes through)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    raise ValidationError(
        f"{field} must be a number >= 0, not {_shown(value)}",
        field=field,
        hint=f"Pass e.g. {field}=2.5.",
    )


def mapping(value: Any, field: str) -> dict[str, Any] | None:
    """An optional mapping as a dict (None and empty → None)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value) or None
    raise ValidationError(
        f"{field} must be a dict, not {_shown(value)}",
        field=field,
        hint=f"Pass e.g. {field}={{'key': 'value'}}.",
    )
