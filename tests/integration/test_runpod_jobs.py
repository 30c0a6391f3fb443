"""RunPod serverless jobs end to end against the loopback sandbox's runtime."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

import atlas_nb as atlas
from atlas_nb import telemetry
from atlas_nb.errors import AtlasTimeoutError, JobFailedError, ProviderError, ValidationError
from atlas_nb.models import JobStatus


@pytest.fixture
def ep(sandbox):
    return sandbox.runpod_endpoint_id


def run(ep, inp, **kw):
    return atlas.run_job(ep, inp, provider="runpod", **kw)


def test_run_and_wait_uses_runsync(ep, sandbox):
    urls: list[str] = []
    telemetry.attach("rp-jobs", ["atlas.http.request"], lambda e, m, meta: urls.append(meta["url"]))
    try:
        job = run(ep, {"sleep_ms": 30, "x": [1, 2]}, wait=True, timeout=10)
    finally:
        telemetry.detach("rp-jobs")
    assert job.status is JobStatus.COMPLETED and job.output == {"sleep_ms": 30, "x": [1, 2]}
    assert job.endpoint == ep and job.provider == "runpod" and job.execution_ms >= 29
    assert len(urls) == 1 and "/runsync?wait=10000" in urls[0]


def test_short_waits_poll_and_the_callers_timeout_wins(ep):
    job = run(ep, {"sleep_ms": 100}, wait=True, timeout=0.9)  # below runsync's 1 s: run + poll
    assert job.status is JobStatus.COMPLETED
    with pytest.raises(AtlasTimeoutError, match="still running"):
        run(ep, {"sleep_ms": 3000}, wait=True, timeout=0.3)
    with pytest.raises(AtlasTimeoutError, match="still running"):
        run(ep, {"sleep_ms": 3000}, wait=True, timeout=1.2)  # runsync for 1.2 s, then no time


def test_job_methods_carry_their_endpoint(ep):
    job = run(ep, {"sleep_ms": 5000})
    assert job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
    assert atlas.job(job.id, endpoint=ep, provider="runpod").id == job.id
    assert job.cancel().status is JobStatus.CANCELLED
    assert job.refresh().status is JobStatus.CANCELLED
    flaky = run(ep, {"sleep_ms": 10, "fail": "flaky", "fail_attempts": 1}).wait(timeout=5)
    assert flaky.status is JobStatus.FAILED and flaky.error == "flaky"
    assert flaky.retry().wait(timeout=5).status is JobStatus.COMPLETED
    with pytest.raises(ValidationError):
        job.retry()  # only failed / timed-out jobs


TERMINAL = [
    ({"sleep_ms": 90, "chunks": 3}, None, None),
    ({"sleep_ms": 90, "chunks": 3, "fail": "bad input"}, None, "ended failed: bad input"),
    ({"sleep_ms": 900, "chunks": 3}, {"executionTimeout": 60}, "ended timed_out"),
    ({"sleep_ms": 5000, "chunks": 50}, "cancel", "ended cancelled"),
]


@pytest.mark.parametrize(("inp", "policy", "failure"), TERMINAL)
def test_every_terminal_state_ends_a_sync_stream(ep, inp, policy, failure):
    job = run(ep, inp, policy=policy if isinstance(policy, dict) else None)
    chunks = []
    if policy == "cancel":
        stream = iter(job.stream())
        chunks.append(next(stream))  # the job is running and streaming
        job.cancel()
        with pytest.raises(JobFailedError, match=failure) as info:
            chunks.extend(stream)
        assert info.value.job.status is JobStatus.CANCELLED
    elif failure:
        with pytest.raises(JobFailedError, match=failure) as info:
            chunks.extend(job.stream())
        assert info.value.job.status.value in failure and info.value.job.endpoint == ep
    else:
        chunks.extend(job.stream())
    assert chunks == [{"i": i} for i in range(len(chunks))]  # in order, no duplicates
    if policy is None:
        assert len(chunks) == 3  # every chunk arrives before the terminal status
    assert job.refresh().done


@pytest.mark.parametrize(("inp", "policy", "failure"), TERMINAL[:3])
async def test_every_terminal_state_ends_an_async_stream(ep, inp, policy, failure):
    job = await atlas.aio.run_job(ep, inp, provider="runpod", policy=policy)
    chunks = []
    if failure:
        with pytest.raises(JobFailedError, match=failure):
            async for chunk in job.stream():
                chunks.append(chunk)
    else:
        async for chunk in atlas.aio.stream_job(job.id, endpoint=ep, provider="runpod"):
            chunks.append(chunk)
    assert chunks == [{"i": i} for i in range(len(chunks))]
    assert len(chunks) == (3 if policy is None else len(chunks))


@pytest.mark.parametrize(
    "knobs", [{"slow_stream": 0.02}, {"malformed": True, "count": 2}, {"drop": True, "count": 2}]
)
def test_stream_faults_lose_no_chunk(ep, sandbox, knobs):
    job = run(ep, {"sleep_ms": 120, "chunks": 4})
    sandbox.faults("runpod_runtime", f"GET /v2/{ep}/stream/{job.id}", **knobs)
    assert list(job.stream()) == [{"i": i} for i in range(4)]


def test_a_stream_that_stays_unreadable_fails_clearly(ep, sandbox):
    job = run(ep, {"sleep_ms": 50})
    sandbox.faults("runpod_runtime", f"GET /v2/{ep}/stream/{job.id}", malformed=True)
    with pytest.raises(ProviderError, match="unreadable /stream answers"):
        list(job.stream())


def test_submitting_is_never_retried(ep, sandbox):
    before = atlas.runpod.health(ep)["jobs"]
    sandbox.faults("runpod_runtime", f"POST /v2/{ep}/run", status=503, count=1)
    with pytest.raises(ProviderError) as info:
        run(ep, {"sleep_ms": 1})
    assert info.value.status == 503
    sandbox.faults("runpod_runtime", f"POST /v2/{ep}/runsync", status=429, retry_after=1, count=1)
    with pytest.raises(atlas.RateLimitedError, match="run job was not retried"):
        run(ep, {"sleep_ms": 1}, wait=True)
    after = atlas.runpod.health(ep)["jobs"]
    assert sum(after.values()) == sum(before.values())  # nothing was submitted


def test_health_and_purge_queue(sandbox):
    one = atlas.runpod.endpoints.create(name="one-worker", image="img", workers={"max": 1})
    # long jobs, so no amount of machine load lets the first finish during the test
    jobs = [run(one["id"], {"sleep_ms": 600_000}) for _ in range(3)]
    deadline = time.monotonic() + 30
    while jobs[0].refresh().status is not JobStatus.RUNNING:  # the one worker picks it up
        assert time.monotonic() < deadline, jobs[0]
        time.sleep(0.01)
    assert atlas.runpod.purge_queue(one["id"])["removed"] == 2
    health = atlas.runpod.health(one["id"])
    assert health["jobs"]["inQueue"] == 0 and set(health["workers"]) >= {"idle", "running"}
    assert jobs[0].refresh().status is JobStatus.RUNNING
    jobs[0].cancel()


def test_many_concurrent_jobs_run_in_parallel(ep):
    async def many():
        jobs = await asyncio.gather(
            *(
                atlas.aio.run_job(ep, {"sleep_ms": 50, "n": i}, provider="runpod", wait=True)
                for i in range(60)
            )
        )
        return jobs

    jobs = asyncio.run(many())
    assert [j.output["n"] for j in jobs] == list(range(60))
    assert {j.status for j in jobs} == {JobStatus.COMPLETED}
    assert max(j.delay_ms for j in jobs) < 1000  # nobody waited for a worker


def test_webhook_is_delivered_to_a_loopback_receiver(ep):
    received: list[dict] = []
    done = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.end_headers()
            done.set()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        job = run(ep, {"sleep_ms": 20}, webhook=url)
        assert done.wait(10)
    finally:
        server.shutdown()
    assert received[0]["id"] == job.id and received[0]["status"] == "COMPLETED"


def test_a_rate_limited_stream_waits_as_asked_and_loses_no_chunk(ep, sandbox, monkeypatch):
    from atlas_nb.providers.runpod import jobs

    monkeypatch.setattr(jobs, "STREAM_MAX_DELAY_S", 0.05)  # keep the test short
    atlas.configure(max_retries=0)  # the stream itself must handle the 429s
    job = run(ep, {"sleep_ms": 120, "chunks": 4})
    sandbox.faults(
        "runpod_runtime", f"GET /v2/{ep}/stream/{job.id}", status=429, retry_after=0.05, count=3
    )
    assert list(job.stream()) == [{"i": i} for i in range(4)]


@pytest.mark.parametrize(
    ("delay", "got_chunks", "expected"),
    [
        (0.02, True, 0.02),
        (1.0, True, 0.5),
        (0.5, True, 0.25),
        (0.02, False, 0.03),
        (0.9, False, 1.0),
    ],
)
def test_stream_poll_delay_backs_off_when_idle_and_eases_in_when_busy(delay, got_chunks, expected):
    from atlas_nb.providers.runpod.jobs import next_delay

    assert next_delay(delay, got_chunks) == pytest.approx(expected)


def test_a_pacer_spaces_every_caller_of_one_endpoint():
    from atlas_nb.providers.runpod.jobs import PollPacer

    pacer = PollPacer(per_second=1000.0)
    start = time.monotonic()

    async def callers():
        await asyncio.gather(*(pacer.wait() for _ in range(20)))

    asyncio.run(callers())
    assert pacer.calls == 20
    assert pacer.next_at >= start + 20 * pacer.interval  # 20 slots, one interval apart
