"""Ids and names that go into URL paths: checked against the provider's id shape, then
percent-encoded, so an id can never walk the path (``..``, ``/``) or reach another resource.

Every provider and the Fly logs client build their paths with :func:`segment`:

    >>> segment("148ed193b95e89", "fly_machine")
    '148ed193b95e89'
    >>> segment("web/../victim-app", "fly_app")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    atlas_nb.errors.ValidationError: [fly] validation: 'web/../victim-app' would change the URL ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from ..errors import NotFoundError, ValidationError


@dataclass(frozen=True)
class IdShape:
    """What one kind of id looks like at one provider."""

    provider: str
    what: str
    pattern: re.Pattern[str]
    rule: str
    example: str


def _shape(provider: str, what: str, pattern: str, rule: str, example: str) -> IdShape:
    return IdShape(provider, what, re.compile(pattern), rule, example)


#: characters that never change a URL path (RFC 3986 unreserved)
_HARMLESS = re.compile(r"[A-Za-z0-9._~-]+")
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"
_TOKEN_RULE = "made of letters, digits, '-' and '_'"

#: id kind -> its shape (the provider's documented or observed id alphabet)
SHAPES: dict[str, IdShape] = {
    "runpod_pod": _shape("runpod", "RunPod pod id", _TOKEN, _TOKEN_RULE, "xedezhzb9la3ye"),
    "runpod_endpoint": _shape(
        "runpod", "RunPod endpoint id", _TOKEN, _TOKEN_RULE, "vllm-a1b2c3d4e5"
    ),
    "runpod_job": _shape(
        "runpod", "RunPod job id", _TOKEN, _TOKEN_RULE, "c80ffee4-f315-4e25-a146-0f3d98f9f0b8-u1"
    ),
    "runpod_resource": _shape("runpod", "RunPod id", _TOKEN, _TOKEN_RULE, "30zmvf89kd"),
    "lambda": _shape(
        "lambda", "Lambda id", _TOKEN, _TOKEN_RULE, "0920582c7ff041399e34823a0be62549"
    ),
    "vast": _shape("vast", "Vast id", r"[0-9]{1,19}", "whole numbers", "13794342"),
    "fly_app": _shape(
        "fly",
        "Fly app name",
        r"[a-z0-9][a-z0-9-]{0,62}",
        "made of lowercase letters, digits and '-'",
        "my-app",
    ),
    "fly_machine": _shape(
        "fly",
        "Fly machine id",
        r"[A-Za-z0-9]{1,64}",
        "made of letters and digits",
        "148ed193b95e89",
    ),
}


def segment(value: object, kind: str, *, field: str = "compute_id") -> str:
    """``value`` as one URL path segment, if it has the shape of a ``kind`` id (see
    :data:`SHAPES`). Anything that could change the path (``/``, ``..``, spaces, ``?``, ``%``,
    not a string) raises ``ValidationError`` naming ``field``; a harmless id of the wrong
    shape raises ``NotFoundError`` (no such id can exist). Nothing is sent either way.

    >>> segment(13794342, "vast")
    '13794342'
    >>> segment("atlas-0000", "vast")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    atlas_nb.errors.NotFoundError: [vast] not found: no Vast id is 'atlas-0000' ...
    """
    shape = SHAPES[kind]
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str) and shape.pattern.fullmatch(text):
        return quote(text, safe="")
    hint = f"Pass the id exactly as atlas_nb returned it, e.g. {shape.example!r}."
    rule = f"{shape.what}s are {shape.rule}"
    if isinstance(text, str) and _HARMLESS.fullmatch(text) and text != "." and ".." not in text:
        raise NotFoundError(
            f"no {shape.what} is {text!r} ({rule})",
            provider=shape.provider,
            hint=hint,
        )
    if not isinstance(value, str):
        problem = f"{type(value).__name__} {value!r} is not a {shape.what} ({rule})"
    elif "/" in value or ".." in value:
        problem = f"{value!r} would change the URL path ('/' and '..' are refused)"
    elif not value.strip():
        problem = f"{value!r} is not a {shape.what}: it is empty"
    else:
        problem = f"{value!r} is not a {shape.what}: it holds characters no id has"
    raise ValidationError(problem, field=field, provider=shape.provider, hint=hint)
