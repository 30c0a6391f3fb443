"""The mapping from a failed HTTP response to the right :class:`~atlas_nb.errors.AtlasError`.

Every provider's error envelope is read (:func:`parse_error_body`); the kind comes from the
provider's machine-readable code when it sends one, else from the HTTP status:

    >>> err = error_from_response("runpod", 404, {"title": "Not Found", "status": 404,
    ...                                          "detail": "pod not found"})
    >>> err.kind, type(err).__name__
    ('not_found', 'NotFoundError')
    >>> print(error_from_response("vast", 401, {"error": "auth_error", "msg": "bad key"}))
    ... # doctest: +ELLIPSIS
    [vast] unauthorized (HTTP 401): bad key. Check the API key. Pass api_key=..., call ...
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..config import key_hint
from ..errors import (
    AtlasError,
    CapacityError,
    InsufficientBalanceError,
    QuotaExceededError,
    UnauthorizedError,
    error_class,
)

_REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "fly-request-id",
    "x-runpod-request-id",
    "x-amzn-requestid",
    "cf-ray",
)


def kind_for_status(status: int) -> str:
    """Map an HTTP status to an error kind.

    >>> [kind_for_status(s) for s in (400, 401, 403, 404, 408, 409, 422, 429, 500)]
    ['validation', 'unauthorized', 'forbidden', 'not_found', 'timeout', 'conflict', \
'validation', 'rate_limited', 'provider']
    """
    return {
        400: "validation",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        408: "timeout",
        409: "conflict",
        410: "not_found",
        422: "validation",
        429: "rate_limited",
    }.get(status, "provider")


# Lambda and Vast send machine-readable codes; they decide the kind over the HTTP status.
_CODE_KINDS: dict[str, str] = {
    "global/invalid-api-key": "unauthorized",
    "global/account-inactive": "forbidden",
    "global/invalid-address": "forbidden",
    "global/invalid-parameters": "validation",
    "global/object-does-not-exist": "not_found",
    "global/quota-exceeded": "provider",
    "global/duplicate": "conflict",
    "instance-operations/launch/insufficient-capacity": "provider",
    "instance-operations/launch/file-system-in-wrong-region": "validation",
    "filesystems/filesystem-in-use": "conflict",
    "ssh-keys/key-in-use": "conflict",
    "auth_error": "unauthorized",
    "invalid_args": "validation",
    "invalid_price": "validation",
    "invalid_request": "validation",
    "no_ssh_key_for_vm": "validation",
    "no_such_ask": "not_found",
    "no_such_instance": "not_found",
    "not_found": "not_found",
    "rate_limit_exceeded": "rate_limited",
    "name_taken": "conflict",
    "insufficient_capacity": "provider",
}
_CAPACITY_CODES = {"instance-operations/launch/insufficient-capacity", "insufficient_capacity"}
_CODE_CLASSES: dict[str, type[AtlasError]] = {"global/quota-exceeded": QuotaExceededError}


def parse_error_body(body: Any) -> tuple[str | None, str | None, str | None]:
    """Pull ``(message, code, suggestion)`` out of any provider's error envelope.

    Handles RunPod v2 problem+json, Lambda ``{"error": {...}}``, Vast ``{"error", "msg"}``,
    Fly ``{"error", "status"}``, GraphQL ``{"errors": [...]}`` and plain text.

    >>> parse_error_body({"error": {"code": "global/invalid-api-key", "message": "Bad key",
    ...                             "suggestion": "Make a new one."}})
    ('Bad key', 'global/invalid-api-key', 'Make a new one.')
    >>> parse_error_body({"title": "Bad Request", "status": 400, "detail": "invalid body",
    ...                   "errors": ["$.name: required"]})
    ('invalid body: $.name: required', None, None)
    """
    if body is None or body == "":
        return None, None, None
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        return _parse_text(body)
    if isinstance(body, list):
        return (str(body[0])[:500] if body else None), None, None
    if not isinstance(body, Mapping):
        return str(body)[:500], None, None
    return _parse_envelope(body)


Parts = tuple[str | None, str | None, str | None]


def _parse_text(body: str) -> Parts:
    text = body.strip()
    if text.startswith(("{", "[")):
        try:
            return parse_error_body(json.loads(text))
        except ValueError:
            pass
    return (text[:500] or None), None, None


def _parse_envelope(body: Mapping[str, Any]) -> Parts:
    err = body.get("error")
    if isinstance(err, Mapping):  # Lambda
        msg = err.get("message") or err.get("msg")
        return _s(msg), _s(err.get("code")), _s(err.get("suggestion"))
    if "detail" in body and ("title" in body or "status" in body):  # problem+json
        detail = _s(body.get("detail")) or _s(body.get("title"))
        extra = body.get("errors")
        if isinstance(extra, list) and extra:
            detail = f"{detail}: {'; '.join(str(e) for e in extra[:5])}"
        return detail, None, None
    errors = body.get("errors")
    if isinstance(errors, list) and errors:  # GraphQL
        first = errors[0]
        if isinstance(first, Mapping):
            return _s(first.get("message")), _s((first.get("extensions") or {}).get("code")), None
        return str(first), None, None
    if isinstance(err, str):  # Vast, Fly
        msg = body.get("msg") or body.get("message")
        status_code = body.get("status") if isinstance(body.get("status"), str) else None
        if msg:
            return _s(msg), err, None
        return err, status_code, None
    for key in ("message", "msg", "detail"):
        if isinstance(body.get(key), str):
            return body[key], None, None
    return None, None, None


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def error_from_response(
    provider: str | None,
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    *,
    retry_after_s: float | None = None,
) -> AtlasError:
    """Build the right :class:`AtlasError` subclass for a failed HTTP response."""
    message, code, suggestion = parse_error_body(body)
    kind = kind_for_status(status)
    if code and code in _CODE_KINDS:
        kind = _CODE_KINDS[code]
    request_id = None
    if headers:
        lowered = {k.lower(): v for k, v in headers.items()}
        request_id = next((lowered[h] for h in _REQUEST_ID_HEADERS if lowered.get(h)), None)
    cls = CapacityError if code in _CAPACITY_CODES else error_class(kind)
    cls = _CODE_CLASSES.get(code or "", cls)
    if status == 402:
        cls = InsufficientBalanceError
    if message is None:
        message = f"the provider answered HTTP {status} without an explanation"
    if cls is UnauthorizedError:  # keep saying where the key comes from
        hint = key_hint(provider)
        suggestion = f"{suggestion.rstrip('.')}. {hint}" if suggestion else hint
    if suggestion and cls is QuotaExceededError:  # a quota is per provider: say where else
        suggestion = f"{suggestion.rstrip('.')}, or try another provider (atlas.offers(...))."
    return cls(
        message,
        provider=provider,
        status=status,
        request_id=request_id,
        code=code,
        raw=body,
        hint=suggestion,
        retry_after_s=retry_after_s,
    )
