"""The dispatcher: fan-out to callbacks and queues, eviction of slow subscribers (W-31)."""

import logging

import pytest

from atlas_nb.fly.dispatcher import Dispatcher, Evicted


async def test_fan_out_to_queues_and_callbacks():
    d = Dispatcher()
    seen = []
    q1 = d.subscribe("t")
    d.subscribe("t", callback=seen.append)
    other = d.subscribe("u")
    assert d.dispatch("t", "m1") == 2
    assert q1.queue.get_nowait() == "m1" and seen == ["m1"]
    assert other.queue.empty()
    assert d.dispatch("nobody", "x") == 0


async def test_subscribing_twice_means_two_subscriptions():
    d = Dispatcher()
    a, b = d.subscribe("t"), d.subscribe("t")
    d.dispatch("t", 1)
    assert a.queue.get_nowait() == 1 and b.queue.get_nowait() == 1
    a.close()
    a.close()  # idempotent
    d.dispatch("t", 2)
    assert a.queue.empty() and b.queue.get_nowait() == 2


async def test_slow_queue_is_evicted_with_a_notice(caplog):
    d = Dispatcher()
    slow = d.subscribe("logs:web", threshold=3)
    fast = d.subscribe("logs:web", threshold=3)
    with caplog.at_level(logging.WARNING, logger="atlas_nb.fly.dispatcher"):
        for n in range(5):
            d.dispatch("logs:web", n)
            fast.queue.get_nowait()
    got = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
    assert got == [0, 1, 2, Evicted("logs:web", 3, 3)]
    assert slow.evicted and slow.closed and not fast.closed
    assert d.subscribers("logs:web") == 1
    assert any("evicting slow subscriber" in r.getMessage() for r in caplog.records)


async def test_failing_callback_is_dropped_after_repeated_failures(caplog):
    d = Dispatcher()
    calls = []

    def broken(msg):
        calls.append(msg)
        raise RuntimeError("boom")

    sub = d.subscribe("t", callback=broken)
    with caplog.at_level(logging.WARNING, logger="atlas_nb.fly.dispatcher"):
        for n in range(5):
            d.dispatch("t", n)  # never raises
    assert calls == [0, 1, 2] and sub.closed


async def test_on_empty_fires_when_the_last_subscriber_leaves():
    d = Dispatcher()
    emptied = []
    d.on_empty["t"] = emptied.append
    a, b = d.subscribe("t"), d.subscribe("t", callback=lambda m: None)
    a.close()
    assert emptied == []
    b.close()
    assert emptied == ["t"]


def test_threshold_must_be_positive():
    with pytest.raises(ValueError):
        Dispatcher().subscribe("t", threshold=0)


async def test_drop_topic_unsubscribes_everyone_but_keeps_queued_messages():
    d = Dispatcher()
    emptied = []
    d.on_empty["t"] = emptied.append
    q = d.subscribe("t")
    d.subscribe("t", callback=lambda m: None)
    d.dispatch("t", "last words")
    d.drop_topic("t")
    assert d.subscribers("t") == 0 and q.closed and emptied == []
    assert q.queue.get_nowait() == "last words"
    assert d.dispatch("t", "nobody hears this") == 0
