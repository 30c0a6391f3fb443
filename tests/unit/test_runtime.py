"""The runtime: one loop thread behind the sync facade, safe from any thread or loop."""

import asyncio
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import atlas_nb as atlas
import atlas_nb.aio as aio
from atlas_nb._runtime import DualIterator, LoopThreadError, get_runtime
from atlas_nb.transport import HttpApi
from tests.helpers.waiting import eventually


def test_sync_facade_inside_a_running_loop_like_jupyter():
    async def cell():
        # a blocking call from the thread that runs a loop (as in a notebook cell) ...
        c = atlas.spawn(provider="mock", gpu="l4", image="x")
        # ... and top-level await of the async twin, on the same loop
        again = await aio.compute(c.id, provider="mock")
        await aio.terminate(c.id, provider="mock")
        return c.id, again.id, threading.get_ident()

    cid, again, tid = asyncio.run(cell())
    assert cid == again
    assert tid != get_runtime()._thread.ident


def test_many_threads_at_once():
    def work(i):
        job = atlas.run_job(
            "echo", {"n": i, "sleep_ms": 20}, provider="mock", wait=True, timeout=10
        )
        return job.output["n"]

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(work, range(40))) == list(range(40))


def test_sync_call_on_loop_thread_is_refused():
    async def inside():
        return atlas.computes(provider="mock")

    with pytest.raises(LoopThreadError, match="atlas_nb.aio"):
        get_runtime().run(inside())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_child_after_fork_gets_a_fresh_runtime():
    parent_rt = get_runtime()
    atlas.computes(provider="mock")  # make sure the parent's loop thread is live
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            rt = get_runtime()
            c = atlas.spawn(provider="mock", gpu="l4", image="x")
            ok = rt is not parent_rt and rt.pid == os.getpid() and c.provider == "mock"
            os.write(write_fd, b"ok" if ok else b"bad")
        except BaseException as exc:  # report anything to the parent
            os.write(write_fd, repr(exc).encode()[:200])
        finally:
            os._exit(0)
    os.close(write_fd)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read_fd, 200)
    os.close(read_fd)
    assert answer == b"ok"
    assert get_runtime() is parent_rt


class _HangingServer:
    """Accepts one HTTP request, never answers, and records when the client hangs up."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.got_request = threading.Event()
        self.client_closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.sock.accept()
        conn.recv(65536)
        self.got_request.set()
        while conn.recv(65536):
            pass
        self.client_closed.set()
        conn.close()


def test_keyboard_interrupt_cancels_the_request_on_the_loop():
    server = _HangingServer()
    api = HttpApi(
        provider="slow", api="rest", base_url=f"http://127.0.0.1:{server.port}", timeout=60
    )
    main = threading.main_thread().ident

    def interrupt():
        server.got_request.wait(10)
        time.sleep(0.1)
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        get_runtime().run(api.json("GET", "/slow"))
    assert time.monotonic() - started < 10
    # the coroutine was cancelled on the loop, so httpx closed the connection
    assert server.client_closed.wait(5)


def test_dual_iterator_sync_and_async():
    async def numbers():
        for i in range(3):
            yield i

    assert list(DualIterator(numbers)) == [0, 1, 2]

    async def consume():
        return [i async for i in DualIterator(numbers)]

    assert asyncio.run(consume()) == [0, 1, 2]


def test_shutdown_then_use_again():
    atlas.computes(provider="mock")
    first = get_runtime()
    atlas.shutdown()
    assert first.closed
    assert not first._thread.is_alive()
    df = atlas.computes(provider="mock")
    assert get_runtime() is not first and len(df) == 0


def test_background_task_survives_while_caller_blocks():
    rt = get_runtime()
    ticks = []

    async def ticker():
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    task = rt.spawn(ticker())
    eventually(lambda: len(ticks) >= 5)  # the "cell" blocks (sleeping); the loop keeps running
    rt.loop.call_soon_threadsafe(task.cancel)
