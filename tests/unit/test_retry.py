from datetime import UTC, datetime

import httpx
import pytest

from atlas_nb.transport.retry import (
    RetryPolicy,
    classify,
    parse_retry_after,
    retry_delay,
    should_retry,
)

P = RetryPolicy(max_retries=3)


@pytest.mark.parametrize(
    ("attempt", "idempotent", "status", "error", "expected"),
    [
        (1, True, 500, None, True),
        (1, True, 502, None, True),
        (1, True, 503, None, True),
        (1, True, 504, None, True),
        (1, True, 408, None, True),
        (1, True, 429, None, True),
        (1, True, 400, None, False),
        (1, True, 401, None, False),
        (1, True, 404, None, False),
        (1, True, 409, None, False),
        (3, True, 503, None, True),
        (4, True, 503, None, False),  # retries exhausted
        # creates and billing calls: never on a response ...
        (1, False, 503, None, False),
        (1, False, 429, None, False),
        (1, False, 408, None, False),
        # ... nor when the request may have been sent
        (1, False, None, "read", False),
        (1, False, None, "timeout", False),
        (1, False, None, "protocol", False),
        # but yes when the connection never opened
        (1, False, None, "connect", True),
        (1, True, None, "read", True),
        (1, True, None, "timeout", True),
        (1, True, None, "other", False),
        (4, True, None, "connect", False),
    ],
)
def test_should_retry(attempt, idempotent, status, error, expected):
    assert (
        should_retry(P, attempt=attempt, idempotent=idempotent, status=status, error=error)
        is expected
    )


NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("Thu, 26 Nov 2026 12:00:10 GMT", 10.0),
        ("Thu, 26 Nov 2026 11:59:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_parse_retry_after(header, expected):
    assert parse_retry_after(header, NOW) == expected


@pytest.mark.parametrize(
    ("attempt", "retry_after", "rand", "expected"),
    [
        (1, None, 1.0, 0.5),
        (1, None, 0.0, 0.25),  # jitter: half to full
        (2, None, 1.0, 1.0),
        (3, None, 1.0, 2.0),
        (10, None, 1.0, 8.0),  # capped
        (1, "12", 0.3, 12.0),  # Retry-After honoured exactly
        (1, "3600", 0.3, 30.0),  # ... up to the cap
    ],
)
def test_retry_delay(attempt, retry_after, rand, expected):
    got = retry_delay(P, attempt=attempt, retry_after=retry_after, rand=lambda: rand, now=NOW)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (httpx.ConnectError("refused"), "connect"),
        (httpx.ConnectTimeout("slow"), "connect"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ReadError("reset"), "read"),
        (httpx.RemoteProtocolError("bad"), "protocol"),
        (httpx.UnsupportedProtocol("x"), "other"),
    ],
)
def test_classify(exc, cls):
    assert classify(exc) == cls
