"""Transport: httpx clients per base URL, the retry policy, redaction, telemetry.

The names load from their modules on first use, so importing one submodule (``redact`` from
the config layer) does not import the HTTP client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .http import HttpApi, decode_body
    from .redact import redact_url
    from .retry import RetryPolicy, parse_retry_after, retry_delay, should_retry

_HOMES = {
    "HttpApi": "http",
    "decode_body": "http",
    "redact_url": "redact",
    "RetryPolicy": "retry",
    "parse_retry_after": "retry",
    "retry_delay": "retry",
    "should_retry": "retry",
}
__all__ = [
    "HttpApi",
    "RetryPolicy",
    "decode_body",
    "parse_retry_after",
    "redact_url",
    "retry_delay",
    "should_retry",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
