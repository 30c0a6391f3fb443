"""Reading a request like the v2 spec does: the JSON body against its schema, query parameters.

A body that is not JSON is a 400; a missing body, a schema violation or a bad query value is a
422 whose ``errors`` names the place (``$.gpu.count: ...``, ``query.tail: ...``).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from .. import schema
from .problems import Problem, invalid


async def json_body(request: Request, spec: schema.Schema) -> dict[str, Any]:
    """The request's JSON object, validated against ``spec``."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise Problem(400, "request body is not valid JSON") from None
    if data is None:
        raise invalid("$: a JSON object body is required")
    errors = schema.validate(data, spec)
    if errors:
        raise invalid(*errors)
    assert isinstance(data, dict)
    return data


def csv_param(request: Request, name: str) -> list[str]:
    """Every value of a repeatable, comma-separated query parameter."""
    values = request.query_params.getlist(name)
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


def enum_param(request: Request, name: str, allowed: tuple[str, ...] | list[str]) -> list[str]:
    """Like :func:`csv_param`, each value one of ``allowed``."""
    values = csv_param(request, name)
    bad = [v for v in values if v not in allowed]
    if bad:
        raise invalid(
            f"query.{name}: value {bad[0]!r} must be one of {', '.join(map(repr, allowed))}"
        )
    return values


def int_param(request: Request, name: str, minimum: int | None = None) -> int | None:
    """An integer query parameter (``None`` when absent), at least ``minimum``."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"query.{name}: expected integer")
    if minimum is not None and value < minimum:
        raise invalid(f"query.{name}: must be >= {minimum}")
    return value
