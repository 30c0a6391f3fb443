"""Signed URLs: HMAC-SHA256 over the host, the path, the canonicalised query and an expiry.

The signature covers the host (``host[:port]``, lower-cased; opt out with ``bind_host=False``
on both sides), the path and every query parameter (sorted, form-encoded) plus ``exp``; it does
not depend on the HTTP method or the scheme. Verification distinguishes expired, tampered and
malformed links (a repeated parameter, bytes that are not UTF-8, no ``exp``) and compares in
constant time. Empty or missing secrets are refused in both directions.

    >>> url = sign_url("https://pod.example/v1/run?b=2&a=1", secret="s3cret", now=1000)
    >>> url  # doctest: +ELLIPSIS
    'https://pod.example/v1/run?a=1&b=2&exp=4600&sig=...'
    >>> verify_url(url, secret="s3cret", now=2000)
    >>> verify_url(url.replace("a=1", "a=2"), secret="s3cret", now=2000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    atlas_nb.errors.SignatureTampered: forbidden: the signature does not match the URL. ...
    >>> verify_url("/v1/run?" + url.split("?")[1], secret="s3cret", host="pod.example", now=2000)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import SignatureExpired, SignatureMalformed, SignatureTampered, ValidationError

MAX_EXPIRES_IN = 7 * 24 * 3600
_INT = re.compile(r"[+-]?[0-9]+")


def _check_secret(secret: Any) -> bytes:
    if not isinstance(secret, str) or not secret:
        raise ValidationError(
            f"secret must be a non-empty string (got {type(secret).__name__})",
            field="secret",
            hint="Pass the signing secret of the compute (compute.auth.token).",
        )
    try:
        return secret.encode()
    except UnicodeEncodeError:
        msg = "secret is not valid text (it has lone surrogates)"
        raise ValidationError(msg, field="secret") from None


def _params(query: str) -> dict[str, str] | str:
    """The query as a dict, or why it cannot be one (bad UTF-8, a repeated parameter)."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        return "the query is not valid UTF-8"
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            return f"the query repeats the parameter {key!r}"
        params[key] = value
    return params


def _host(parts: SplitResult) -> str:
    return parts.netloc.rsplit("@", 1)[-1].lower()


def _canonical(host: str | None, path: str, params: dict[str, str]) -> bytes:
    text = (path or "/") + "?" + urlencode(sorted(params.items()))
    if host is not None:
        text = "//" + host.lower() + text
    return text.encode()  # callers checked the text encodes


def _signature(secret: bytes, canonical: bytes) -> str:
    digest = hmac.new(secret, canonical, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _check_expires_in(expires_in: Any) -> float:
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        raise ValidationError(
            f"expires_in must be a number of seconds (got {type(expires_in).__name__})",
            field="expires_in",
            hint=f"Use 1..{MAX_EXPIRES_IN} seconds (7 days), e.g. expires_in=3600.",
        )
    if not 0 < expires_in <= MAX_EXPIRES_IN:
        raise ValidationError(
            f"expires_in={expires_in} is out of range",
            field="expires_in",
            hint=f"Use 1..{MAX_EXPIRES_IN} seconds (7 days).",
        )
    return float(expires_in)


def sign_url(
    url: str,
    *,
    secret: str,
    expires_in: float = 3600,
    now: float | None = None,
    bind_host: bool = True,
) -> str:
    """Return ``url`` with ``exp`` and ``sig`` query parameters added (query re-canonicalised).

    ``expires_in`` is seconds (up to 7 days; a fraction is rounded up to the next whole
    second of ``exp``, so a link is never born expired). The host is signed unless
    ``bind_host=False`` (then the link works on any host; verify it with ``bind_host=False``
    too). A URL that repeats a query parameter or is not valid text is refused.

        >>> sign_url("https://pod.example/a", secret="k", expires_in=0.5, now=10)[:33]
        'https://pod.example/a?exp=11&sig='
    """
    key = _check_secret(secret)
    seconds = _check_expires_in(expires_in)
    if not isinstance(url, str) or not _encodable(url):
        raise ValidationError("url must be text (a str without lone surrogates)", field="url")
    parts = urlsplit(url)
    params = _params(parts.query)
    if isinstance(params, str):
        raise ValidationError(f"cannot sign {url!r}: {params}", field="url")
    if bind_host and not parts.netloc:
        raise ValidationError(
            f"cannot sign {url!r}: it has no host",
            field="url",
            hint="Sign the full URL (https://host/path), or pass bind_host=False.",
        )
    params.pop("sig", None)
    start = now if now is not None else time.time()
    params["exp"] = str(math.ceil(start + seconds))
    host = _host(parts) if bind_host else None
    sig = _signature(key, _canonical(host, parts.path, params))
    query = urlencode([*sorted(params.items()), ("sig", sig)])
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, parts.fragment))


def verify_url(
    url: str,
    *,
    secret: str,
    now: float | None = None,
    host: str | None = None,
    bind_host: bool = True,
) -> None:
    """Raise a ``SignatureError`` subclass unless ``url`` carries a valid, unexpired signature.

    Accepts a full URL, or ``/path?query`` with ``host=`` (the request's ``Host`` header; it
    overrides the URL's host). ``bind_host=False`` verifies links signed with
    ``bind_host=False``. A link is expired once ``now >= exp``. An empty or missing
    ``secret`` is a ``ValidationError`` (such a link could be forged by anyone).
    """
    key = _check_secret(secret)
    if not isinstance(url, str) or not url:
        raise SignatureMalformed("the URL is empty")
    if not _encodable(url):
        raise SignatureMalformed("the URL is not valid text")
    parts = urlsplit(url)
    params = _params(parts.query)
    if isinstance(params, str):
        raise SignatureMalformed(params)
    signed_host = None
    if bind_host:
        signed_host = host if host is not None else _host(parts)
        if not signed_host:
            raise SignatureMalformed(
                "the URL has no host",
                hint="Pass host= (the request's Host header), or bind_host=False for links "
                "signed without their host.",
            )
        if not _encodable(signed_host):
            raise SignatureMalformed("the host is not valid text")
    exp = params.pop("exp", "")
    sig = params.pop("sig", "")
    if not _INT.fullmatch(exp):
        raise SignatureMalformed("the URL has no valid exp parameter")
    if not sig:
        raise SignatureMalformed("the URL has no sig parameter")
    expected = _signature(key, _canonical(signed_host, parts.path, {**params, "exp": exp}))
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        raise SignatureTampered("the signature does not match the URL")
    if (now if now is not None else time.time()) >= int(exp):
        raise SignatureExpired(f"the link expired at {int(exp)} (unix time)")


def make_signer(secret: str, *, bind_host: bool = True) -> Callable[..., str]:
    """A function ``sign(url, expires_in=3600) -> str`` bound to ``secret``."""
    _check_secret(secret)

    def sign(url: str, expires_in: float = 3600) -> str:
        return sign_url(url, secret=secret, expires_in=expires_in, bind_host=bind_host)

    return sign
