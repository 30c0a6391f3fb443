"""The one place that keeps secrets out of what atlas_nb shows: logs, errors, telemetry, reprs.

:func:`redact` masks anything token-shaped in free text — Fly macaroons (``FlyV1 fm2_…``,
``fo1_…``), provider API keys (RunPod ``rpa_…``, Lambda ``secret_….…``, Vast's 64 hex digits),
``Bearer``/``Basic`` credentials, secret query parameters (``sig=``, ``api_key=``…) and
``KEY=value`` / ``"token": "value"`` pairs whose key looks secret — plus every secret atlas_nb
was told about with :func:`remember`. :func:`redact_url` does the same for one URL,
:func:`redact_env` for an environment mapping, :func:`redact_value` for nested data, and
:func:`mask` shortens one known secret for display (never more than 4 characters of it).

    >>> redact('fly said {"token": "FlyV1 fm2_abcDEF123+/="} and exited 1')
    'fly said {"token": "REDACTED"} and exited 1'
    >>> redact("bad key rpa_ABCDEF0123456789")
    'bad key REDACTED'
    >>> redact_url("https://api.runpod.io/graphql?api_key=rpa_secret&x=1")
    'https://api.runpod.io/graphql?api_key=REDACTED&x=1'
    >>> redact_env({"HF_TOKEN": "hf_abc", "PORT": "8000"})
    {'HF_TOKEN': '***', 'PORT': '8000'}
    >>> mask("rpa_ABCDEFGHIJ123"), mask("short")
    ('rpa_…', '…')
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"
MASKED = "***"
MIN_REMEMBERED = 8  # shorter values are too likely to occur by chance
MAX_REMEMBERED = 1024  # the oldest are forgotten first

SECRET_PARAMS = frozenset(
    {
        "api_key",
        "apikey",
        "key",
        "token",
        "access_token",
        "secret",
        "sig",
        "signature",
        "password",
        "auth",
        "authorization",
    }
)

_SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_NOT_SECRET_NAMES = frozenset({"pubkey", "keyboard", "monkey", "keys"})
# names about a secret rather than holding one: ssh_key_names, api_key_id, token_type...
_NOT_SECRET_SUFFIXES = ("_name", "_names", "_id", "_ids", "_type", "_kind", "_count", "_source")
_TOKEN_CHARS = r"[A-Za-z0-9+/=_.~-]"
_SHAPES = re.compile(
    "|".join(
        [
            rf"\bFlyV1\s+{_TOKEN_CHARS}+(?:,{_TOKEN_CHARS}+)*",  # Fly macaroon headers
            rf"\b(?:fm1r|fm1a|fm2|fo1)_{_TOKEN_CHARS}+",  # bare macaroons, OAuth tokens
            r"\brpa_[A-Za-z0-9]+",  # RunPod API keys
            r"\bsecret_[A-Za-z0-9_]+\.[A-Za-z0-9]+",  # Lambda API keys
            r"\b[0-9a-fA-F]{64,}\b",  # Vast API keys (and anything as long and hex)
            rf"(?i:\b(?:Bearer|Basic)\s+){_TOKEN_CHARS}{{8,}}",  # Authorization values
        ]
    )
)
# name=value, name: value, "name": "value" where the name looks secret
_PAIR = re.compile(
    r"""(?P<name>["']?\b[A-Za-z_][\w-]*["']?)(?P<sep>\s*[:=](?!//)\s*["']?)(?!\{?\.\.\.|\{?…)(?P<value>[^\s"',;&}\]]+)"""
)

_known: dict[str, None] = {}  # insertion-ordered
_known_lock = threading.Lock()
_known_pattern: re.Pattern[str] | None = None
#: redact() of short strings (statuses, ids, names repeat in every listing); a new dict
#: replaces it whenever a secret is remembered, so no answer outlives the pattern it used
_redacted: dict[str, str] = {}
_CACHED_LEN = 256
_CACHED_MAX = 8192


def is_secret_name(name: str) -> bool:
    """Whether an env var, field or parameter name looks like it holds a secret.

    >>> [is_secret_name(n) for n in ("HF_TOKEN", "db_password", "ssh_public_key", "PORT")]
    [True, True, False, False]
    """
    return _secret_name(name)


@functools.lru_cache(maxsize=4096)  # the same few names (raw fields, env vars) come back
def _secret_name(name: str) -> bool:
    lower = name.strip("\"'").lower()
    if lower in SECRET_PARAMS or ("private" in lower and _SECRET_NAME.search(lower)):
        return True
    if lower in _NOT_SECRET_NAMES or "public" in lower or lower.endswith(_NOT_SECRET_SUFFIXES):
        return False
    return bool(_SECRET_NAME.search(lower))


def remember(secret: str | None) -> None:
    """Mask this exact value wherever :func:`redact` sees it (a configured key, a token)."""
    global _known_pattern, _redacted
    if not isinstance(secret, str) or len(secret) < MIN_REMEMBERED:
        return
    with _known_lock:
        if secret in _known:
            return
        _known[secret] = None
        while len(_known) > MAX_REMEMBERED:
            del _known[next(iter(_known))]
        ordered = sorted(_known, key=len, reverse=True)
        _known_pattern = re.compile("|".join(re.escape(s) for s in ordered))
        _redacted = {}


def _mask_pair(match: re.Match[str]) -> str:
    if not is_secret_name(match.group("name")):
        return match.group(0)
    return match.group("name") + match.group("sep") + REDACTED


def redact(text: str) -> str:
    """``text`` with every secret-looking substring replaced by ``REDACTED``."""
    if not isinstance(text, str) or not text:
        return text
    cache, short = _redacted, len(text) <= _CACHED_LEN
    if short:
        hit = cache.get(text)
        if hit is not None:
            return hit
    known = _known_pattern
    out = known.sub(REDACTED, text) if known is not None else text
    out = _PAIR.sub(_mask_pair, _SHAPES.sub(REDACTED, out))
    if short:
        if len(cache) >= _CACHED_MAX:
            cache.clear()
        cache[text] = out
    return out


def redact_value(value: Any) -> Any:
    """Nested data (dicts, lists, tuples, strings) with secrets masked; values under a
    secret-looking key become ``***``. Other objects are returned as they are."""
    kind = type(value)
    if kind is str:
        return redact(value)
    if kind in _SCALARS:
        return value
    if kind is dict or (kind is not list and isinstance(value, Mapping)):
        return {
            k: (MASKED if isinstance(k, str) and _secret_name(k) and v else redact_value(v))
            for k, v in value.items()
        }
    if kind is list:
        return [redact_value(v) for v in value]
    if isinstance(value, str):  # a str subclass
        return redact(value)
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value


_SCALARS = frozenset({int, float, bool, type(None)})


def redact_url(url: str) -> str:
    """``url`` with credentials and secret query parameters replaced by ``REDACTED``."""
    parts = urlsplit(str(url))
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "REDACTED@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, REDACTED if k.lower() in SECRET_PARAMS else redact(v)) for k, v in pairs],
            safe="/:,",
        )
    return urlunsplit((parts.scheme, netloc, redact(parts.path), query, parts.fragment))


def redact_env(env: Mapping[str, Any] | None) -> dict[str, Any]:
    """Copy of an environment for display: values under secret-looking names become ``***``.

    The real values still go to the provider; only what is shown (``raw``, reprs, JSON
    dumps) is masked.
    """
    if not env:
        return {}
    return {k: (MASKED if is_secret_name(str(k)) else redact_value(v)) for k, v in env.items()}


def mask(secret: str) -> str:
    """A display form of one secret: its first 4 characters (12+ long), else nothing."""
    if not isinstance(secret, str) or len(secret) < 12:
        return "…"
    return secret[:4] + "…"


class _RedactingFactory:
    """A log record factory that redacts the message of every ``atlas_nb`` record."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.inner(*args, **kwargs)
        if record.name == "atlas_nb" or record.name.startswith("atlas_nb."):
            try:
                message = record.getMessage()
            except Exception:  # broad: a bad format string must not break logging
                return record
            record.msg, record.args = redact(message), None
        return record


def install_log_redaction() -> None:
    """Redact every log record atlas_nb creates (idempotent; other loggers untouched)."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(current))
