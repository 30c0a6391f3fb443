"""Signed URLs: HMAC-SHA256 over the path, the canonicalised query and an expiry.

The signature covers the path and every query parameter (sorted, form-encoded) plus ``exp``;
it does not depend on the HTTP method. Verification distinguishes expired, tampered and
malformed links and compares in constant time.

    >>> url = sign_url("https://pod.example/v1/run?b=2&a=1", secret="s3cret", now=1000)
    >>> url  # doctest: +ELLIPSIS
    'https://pod.example/v1/run?a=1&b=2&exp=4600&sig=...'
    >>> verify_url(url, secret="s3cret", now=2000)
    >>> verify_url(url.replace("a=1", "a=2"), secret="s3cret", now=2000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    atlas_nb.errors.SignatureTampered: forbidden: the signature does not match the URL. ...
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import SignatureExpired, SignatureMalformed, SignatureTampered, ValidationError

MAX_EXPIRES_IN = 7 * 24 * 3600
_INT = re.compile(r"^[+-]?\d+$")


def _canonical(path: str, params: dict[str, str]) -> str:
    return (path or "/") + "?" + urlencode(sorted(params.items()))


def _signature(secret: str, canonical: str) -> str:
    digest = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_url(url: str, *, secret: str, expires_in: int = 3600, now: int | None = None) -> str:
    """Return ``url`` with ``exp`` and ``sig`` query parameters added (query re-canonicalised).

    ``expires_in`` is seconds (1 s to 7 days).
    """
    if not secret:
        raise ValidationError("secret must be a non-empty string", field="secret")
    if not 0 < expires_in <= MAX_EXPIRES_IN:
        raise ValidationError(
            f"expires_in={expires_in} is out of range",
            field="expires_in",
            hint=f"Use 1..{MAX_EXPIRES_IN} seconds (7 days).",
        )
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    params.pop("sig", None)
    params["exp"] = str(int(now if now is not None else time.time()) + int(expires_in))
    params["sig"] = _signature(secret, _canonical(parts.path, {**params}))
    signed = sorted((k, v) for k, v in params.items() if k != "sig")
    query = urlencode([*signed, ("sig", params["sig"])])
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, parts.fragment))


def verify_url(url: str, *, secret: str, now: int | None = None) -> None:
    """Raise a ``SignatureError`` subclass unless ``url`` carries a valid, unexpired signature.

    Accepts a full URL or ``/path?query``. A link is expired once ``now >= exp``.
    """
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if not parts.path and not parts.netloc and not params:
        raise SignatureMalformed("the URL is empty")
    exp = params.pop("exp", "")
    sig = params.pop("sig", "")
    if not exp or not _INT.match(exp):
        raise SignatureMalformed("the URL has no valid exp parameter")
    if not sig:
        raise SignatureMalformed("the URL has no sig parameter")
    expected = _signature(secret, _canonical(parts.path, {**params, "exp": exp}))
    valid = hmac.compare_digest(expected.encode(), sig.encode())
    if not valid:
        raise SignatureTampered("the signature does not match the URL")
    if int(now if now is not None else time.time()) >= int(exp):
        raise SignatureExpired(f"the link expired at {int(exp)} (unix time)")


def make_signer(secret: str) -> Callable[..., str]:
    """A function ``sign(url, expires_in=3600) -> str`` bound to ``secret``."""

    def sign(url: str, expires_in: int = 3600) -> str:
        return sign_url(url, secret=secret, expires_in=expires_in)

    return sign
