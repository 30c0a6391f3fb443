"""What a Fly token looks like, and the ``Authorization`` header that carries it.

Fly tokens are macaroons (``fm1r_``/``fm1a_``/``fm2_`` + base64, several joined by commas,
usually written ``FlyV1 fm2_...``) or older personal/OAuth tokens (one opaque word). Anything
else — an update notice, an error message, an empty line — is not a token.

    >>> normalize_token("  FlyV1 fm2_AAAA,fm2_BBBB\\n")
    'FlyV1 fm2_AAAA,fm2_BBBB'
    >>> normalize_token("fm2_AAAA")
    'FlyV1 fm2_AAAA'
    >>> normalize_token("A new version of flyctl is available") is None
    True
    >>> authorization_header("FlyV1 fm2_AAAA"), authorization_header("abcdef0123456789abcd")
    ('FlyV1 fm2_AAAA', 'Bearer abcdef0123456789abcd')
"""

from __future__ import annotations

import re

_MACAROON = re.compile(r"^(?:fm1r|fm1a|fm2)_[A-Za-z0-9+/=_-]+$")
_OPAQUE = re.compile(r"^[A-Za-z0-9._~+/=-]{16,}$")


def normalize_token(text: str | None) -> str | None:
    """The token in canonical form (macaroons prefixed ``FlyV1 ``), or ``None`` if ``text``
    does not look like a Fly token."""
    if not text:
        return None
    t = text.strip()
    explicit = None
    for prefix in ("FlyV1 ", "Bearer "):
        if t.startswith(prefix):
            explicit, t = prefix.strip(), t[len(prefix) :].strip()
            break
    if not t or any(c.isspace() for c in t):
        return None
    parts = [p for p in t.split(",") if p]
    if parts and all(_MACAROON.match(p) for p in parts):
        return "FlyV1 " + ",".join(parts)
    if explicit == "FlyV1" or len(parts) != 1:
        return None
    return t if _OPAQUE.match(t) else None


def authorization_header(token: str) -> str:
    """``FlyV1 <macaroons>`` for macaroons, ``Bearer <token>`` otherwise (fly-go's rule)."""
    if token.startswith(("FlyV1 ", "Bearer ")):
        return token
    parts = token.split(",")
    if all(_MACAROON.match(p) for p in parts):
        return "FlyV1 " + token
    return "Bearer " + token
