"""Keep secrets out of URLs before they reach logs, reprs or telemetry.

>>> redact_url("https://api.runpod.io/graphql?api_key=rpa_secret&x=1")
'https://api.runpod.io/graphql?api_key=REDACTED&x=1'
>>> redact_url("https://user:pw@example.com/a")
'https://REDACTED@example.com/a'
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


def redact_url(url: str) -> str:
    parts = urlsplit(str(url))
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "REDACTED@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "REDACTED" if k.lower() in SECRET_PARAMS else v) for k, v in pairs], safe="/:,"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
