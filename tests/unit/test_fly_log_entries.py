"""Parsing logs pages tolerantly, nanosecond timestamps, and the de-duplicating cursor (W-10)."""

import logging
from datetime import UTC, datetime

import pytest

from atlas_nb.fly.logs.cursor import LogCursor
from atlas_nb.fly.logs.entries import parse_entry, parse_page, parse_timestamp_ns

BASE = 1704067200  # 2024-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2024-01-01T00:00:02Z", (BASE + 2) * 10**9),
        ("2024-01-01T00:00:00.123456789Z", BASE * 10**9 + 123456789),
        ("2024-01-01T00:00:00.1Z", BASE * 10**9 + 100000000),
        ("2024-01-01T00:00:00.123456Z", BASE * 10**9 + 123456000),
        ("2024-01-01T00:00:00.1234567891234Z", BASE * 10**9 + 123456789),  # extra digits cut
        ("2024-01-01T02:00:00+02:00", BASE * 10**9),
        ("2023-12-31T19:00:00-05:00", BASE * 10**9),
        ("2024-01-01T00:00:00+0000", BASE * 10**9),
        ("2024-01-01 00:00:00z", BASE * 10**9),
        ("2024-01-01T00:00:00", BASE * 10**9),  # no offset: UTC
        ("2024-01-01T00:00:00,5Z", BASE * 10**9 + 500000000),
        (str(BASE * 10**9 + 7), BASE * 10**9 + 7),
        (BASE * 10**9 + 7, BASE * 10**9 + 7),
        ("2024-13-01T00:00:00Z", None),
        ("2024-02-30T00:00:00Z", None),
        ("2024-01-01T25:00:00Z", None),
        ("2024-01-01T00:00:00+25:00", None),
        ("yesterday", None),
        ("", None),
        (None, None),
        (True, None),
        (-5, None),
        (1.5, None),
        ({"t": 1}, None),
    ],
)
def test_parse_timestamp_ns(text, ns):
    assert parse_timestamp_ns(text) == ns


def item(ts="2024-01-01T00:00:00.000000001Z", message="hello", **attrs):
    return {"id": "x", "attributes": {"timestamp": ts, "message": message, **attrs}}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("a string", "not an object"),
        (17, "not an object"),
        (None, "not an object"),
        ({"attributes": "nope"}, "no attributes"),
        (item(ts="not a time"), "unparseable timestamp"),
        (item(ts=None), "unparseable timestamp"),
        (item(message=42), "not text"),
        (item(message={"a": 1}), "not text"),
    ],
)
def test_bad_entries_give_a_reason(raw, reason):
    out = parse_entry(raw, "web")
    assert isinstance(out, str) and reason in out


def test_good_entry_fields():
    parsed = parse_entry(
        item(level="WARN", region="iad", instance="m1", message="line\n"), app="web"
    )
    assert not isinstance(parsed, str)
    e = parsed.entry
    assert (e.message, e.level, e.region, e.instance, e.app, e.id) == (
        "line",
        "warn",
        "iad",
        "m1",
        "web",
        "x",
    )
    assert e.timestamp == datetime(2024, 1, 1, tzinfo=UTC)
    assert parsed.ts_ns == BASE * 10**9 + 1


def test_region_and_instance_from_meta_and_flat_entries():
    meta = parse_entry(
        {
            "attributes": {
                "timestamp": "2024-01-01T00:00:00Z",
                "message": "m",
                "meta": {"region": "ams", "instance": "i9"},
            }
        }
    )
    flat = parse_entry({"timestamp": "2024-01-01T00:00:00Z", "message": "m", "region": "syd"})
    assert not isinstance(meta, str) and not isinstance(flat, str)
    assert (meta.entry.region, meta.entry.instance) == ("ams", "i9")
    assert flat.entry.region == "syd"


def test_page_skips_malformed_entries_and_logs_once(caplog):
    body = {
        "data": [item(message="a"), "junk", item(ts="bad"), item(message="b"), {"attributes": 3}],
        "meta": {"next_token": "123"},
    }
    with caplog.at_level(logging.WARNING, logger="atlas_nb.fly.logs"):
        page = parse_page(body, "web")
    assert [p.entry.message for p in page.entries] == ["a", "b"]
    assert page.skipped == 3 and page.next_token == "123"
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 1


@pytest.mark.parametrize("body", [None, "text", ["list"], {"data": "nope"}, 5])
def test_a_body_that_is_not_a_logs_document_raises(body):
    with pytest.raises(ValueError):
        parse_page(body)


@pytest.mark.parametrize(
    ("meta", "token"),
    [
        ({"next_token": ""}, None),
        ({}, None),
        (None, None),
        ({"next_token": 42}, "42"),
        ({"next_token": True}, None),
        ({"next_token": " 9 "}, "9"),
    ],
)
def test_next_token_forms(meta, token):
    assert parse_page({"data": [], "meta": meta}).next_token == token


def page(token, *entries):
    data = [item(ts=ts, message=msg) for ts, msg in entries]
    return parse_page({"data": data, "meta": {"next_token": token}})


def ts(seconds, ns=0):
    return f"2024-01-01T00:00:{seconds:02d}.{ns:09d}Z"


def test_cursor_dedupes_across_polls_and_keeps_same_microsecond_entries():
    c = LogCursor()
    first = c.accept(page("100", (ts(1, 5), "a"), (ts(1, 250), "b")))  # same microsecond
    assert [e.message for e in first] == ["a", "b"]
    again = c.accept(page("200", (ts(1, 250), "b"), (ts(2), "c")))
    assert [e.message for e in again] == ["c"] and c.duplicates == 1


def test_cursor_never_moves_backwards():
    c = LogCursor()
    c.accept(page("500", (ts(1), "a")))
    c.accept(page("", (ts(2), "b")))  # no server token: continue after the newest entry
    assert c.token == str((BASE + 2) * 10**9)
    c.accept(page("7"))
    assert c.token == str((BASE + 2) * 10**9)
    c.advance("not-a-number")  # opaque tokens are taken as given
    assert c.token == "not-a-number"


def test_cursor_drops_replays_older_than_the_window():
    c = LogCursor(window_ns=5 * 10**9)
    c.accept(page("1", (ts(30), "new")))
    old = c.accept(page("2", (ts(10), "ancient"), (ts(28), "recent-but-unseen")))
    assert [e.message for e in old] == ["recent-but-unseen"]


def test_cursor_orders_a_page_by_time():
    c = LogCursor()
    got = c.accept(page("1", (ts(3), "c"), (ts(1), "a"), (ts(2), "b")))
    assert [e.message for e in got] == ["a", "b", "c"]


def test_cursor_memory_is_bounded_by_the_window():
    c = LogCursor(window_ns=10**9)
    for s in range(0, 50):
        c.accept(page(str(s), *[(ts(s, k), f"{s}-{k}") for k in range(5)]))
    assert len(c._seen) <= 64 + 10
