"""The hand-over: a sync call runs its task's first step itself while the loop thread is idle."""

import asyncio
import signal
import threading

import pytest

import atlas_nb as atlas
from atlas_nb._runtime import LoopThreadError, get_runtime
from tests.helpers.waiting import eventually


@pytest.fixture
def wakes(monkeypatch):
    """How many times this test's threads woke the loop thread (call_soon_threadsafe);
    other threads (servers left by earlier tests) are not counted."""
    rt = get_runtime()
    count = [0]
    real = rt.loop.call_soon_threadsafe
    mine = {threading.get_ident()}
    wakes_of = mine.add  # a test registers the other threads it starts

    def counting(*args, **kwargs):
        if threading.get_ident() in mine:
            count[0] += 1
        return real(*args, **kwargs)

    count.append(wakes_of)  # type: ignore[arg-type]

    monkeypatch.setattr(rt.loop, "call_soon_threadsafe", counting)
    return count


def test_a_call_that_does_not_wait_runs_here_as_a_loop_task(wakes):
    rt = get_runtime()

    async def where():
        task = asyncio.current_task()
        return threading.get_ident(), asyncio.get_running_loop(), task is not None

    def ran_here():  # the loop thread may be busy with other tests' leftovers: then it hops
        before = wakes[0]
        got = rt.run(where())
        # other threads (earlier tests' servers) may schedule work meanwhile, which wakes the
        # loop thread: retry until a quiet moment; a hand-over that always woke it never gets one
        woke = wakes[0] - before
        return got[0] == threading.get_ident() and woke == 0 and got

    got = eventually(ran_here)
    assert got == (threading.get_ident(), rt.loop, True)


def test_work_that_waits_is_driven_here_until_done():
    rt = get_runtime()

    async def two_steps():
        first = threading.get_ident()
        await asyncio.sleep(0.001)
        return first, threading.get_ident(), asyncio.get_running_loop()

    me = threading.get_ident()
    assert eventually(lambda: (got := rt.run(two_steps()))[0] == me and got) == (me, me, rt.loop)


def test_with_a_timeout_work_that_waits_carries_on_in_the_loop_thread():
    rt = get_runtime()

    async def two_steps():
        first = threading.get_ident()
        await asyncio.sleep(0.001)
        return first, threading.get_ident()

    me = threading.get_ident()
    first, after = eventually(lambda: (got := rt.run(two_steps(), timeout=15))[0] == me and got)
    assert after == rt._thread.ident


def test_ctrl_c_while_driving_cancels_this_call_only():
    rt = get_runtime()
    ticks: list[int] = []

    async def ticker():
        while True:
            ticks.append(threading.get_ident())
            await asyncio.sleep(0.005)

    background = rt.spawn(ticker())
    cancelled = threading.Event()

    async def waits_long():
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    me = threading.get_ident()

    def interrupt():  # once the caller has run the ticker itself, it is driving the loop
        eventually(lambda: me in ticks)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        rt.run(waits_long())
    assert cancelled.wait(15)
    assert not background.done()  # the ticker was not hit by the Ctrl-C
    seen = len(ticks)
    eventually(lambda: len(ticks) > seen + 3)  # and keeps ticking on the loop thread
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    rt.loop.call_soon_threadsafe(background.cancel)


def test_a_timer_set_in_the_first_step_fires():
    # the loop thread was asleep with no timer: it must be woken to notice the new one
    rt = get_runtime()
    fired = threading.Event()

    async def set_timer():
        asyncio.get_running_loop().call_later(0.01, fired.set)

    rt.run(set_timer())
    assert fired.wait(15)


def test_a_task_spawned_in_the_first_step_runs():
    rt = get_runtime()
    ran = threading.Event()

    async def background():
        ran.set()

    async def spawn_it():
        rt.spawn(background())

    rt.run(spawn_it())
    assert ran.wait(15)


def test_a_sync_call_inside_the_first_step_is_refused():
    async def inside():
        return atlas.computes(provider="mock")

    with pytest.raises(LoopThreadError):
        get_runtime().run(inside())


def test_an_interrupt_during_the_first_step_leaves_the_loop_usable():
    rt = get_runtime()

    async def interrupted():
        raise KeyboardInterrupt  # as if Ctrl-C landed while this thread ran the step

    with pytest.raises(KeyboardInterrupt):
        rt.run(interrupted())

    async def waits():
        await asyncio.sleep(0.001)
        return "ok"

    assert rt.run(waits(), timeout=15) == "ok"  # the loop thread got its lock back


def test_a_busy_loop_thread_means_the_usual_hop(wakes):
    rt = get_runtime()
    busy, release = threading.Event(), threading.Event()

    def block():  # runs on the loop thread and keeps it out of select
        busy.set()
        release.wait(15)

    rt.loop.call_soon_threadsafe(block)
    assert busy.wait(15)
    before = wakes[0]
    result: list[int] = []

    async def where():
        return threading.get_ident()

    def call():
        wakes[1](threading.get_ident())
        result.append(rt.run(where(), timeout=15))

    caller = threading.Thread(target=call)
    caller.start()
    eventually(lambda: wakes[0] > before)  # it was handed to the loop thread instead
    release.set()
    caller.join(15)
    assert result == [rt._thread.ident]


def test_debug_mode_uses_the_hop():
    rt = get_runtime()
    rt.loop.set_debug(True)
    try:

        async def where():
            return threading.get_ident()

        assert rt.run(where()) == rt._thread.ident
    finally:
        rt.loop.set_debug(False)
