"""Transport: httpx clients per base URL, the retry policy, redaction, telemetry."""

from .http import HttpApi, decode_body
from .redact import redact_url
from .retry import RetryPolicy, parse_retry_after, retry_delay, should_retry

__all__ = [
    "HttpApi",
    "RetryPolicy",
    "decode_body",
    "parse_retry_after",
    "redact_url",
    "retry_delay",
    "should_retry",
]
