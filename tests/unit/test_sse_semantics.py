"""The SSE semantics the RunPod log follower relies on (and why httpx-sse was not adopted)."""

from __future__ import annotations

from atlas_nb.providers.runpod.logs import SSEParser

EVENT = (
    'id: 2026-06-01T12:00:00Z/000000000001\ndata: {"ts": "2026-06-01T12:00:00Z", "line": "a"}\n\n'
)


def test_keep_alives_after_an_event_with_an_id_dispatch_nothing():
    parser = SSEParser()
    assert len(parser.feed(EVENT)) == 1
    assert parser.feed(": keep-alive\n\n: keep-alive\r\n\r\n") == []
    assert parser.feed("id: 2026-06-01T12:00:01Z/000000000002\n\n") == []  # id, no data
    assert parser.last_event is not None and parser.last_event.data.endswith('"a"}')


def test_the_id_carries_over_to_events_without_one_and_a_nul_id_is_ignored():
    parser = SSEParser()
    parser.feed(EVENT)
    (second,) = parser.feed("data: x\n\n")
    assert second.id == "2026-06-01T12:00:00Z/000000000001"  # the last event id persists
    (third,) = parser.feed("id: bad\0id\ndata: y\n\n")
    assert third.id == second.id


def test_all_events_of_one_network_read_come_back_together():
    parser = SSEParser()
    events = parser.feed(EVENT + EVENT.replace("000000000001", "000000000002") + "data: partial")
    assert [e.id[-1] for e in events] == ["1", "2"]  # one batch per read; the tail waits
    assert [e.data for e in parser.feed("\n\n")] == ["partial"]
