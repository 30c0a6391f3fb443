"""Tracked records and orchestrator events in a team's Redis (``configure(store="redis://...")``).

Layout under the namespace ``ns`` (default ``atlas_nb``):

- ``ns:ids`` (set) the tracked ids; ``ns:rec:<id>`` (hash) one record, each field JSON-encoded,
  so two processes changing different fields never overwrite each other;
- ``ns:rev`` (counter) bumped by every record write (its ``_rec`` event carries it), so a
  heartbeat re-reads everything only when something changed it did not hear about;
- ``ns:events`` (stream, capped) what happened, for every kernel: record writes (``_rec``),
  touches (``touch``) and the orchestrator events (not ``heartbeat``: too chatty);
- ``ns:lease`` the enforcer's lease (:mod:`.lease`); ``ns:claim:<id>`` a terminate claim;
- ``ns:quarantine`` (hash) records that could not be read, with the reason.

The record methods answer from the in-memory view and queue their writes; one task sends them
in pipelined batches and, while Redis is away, keeps them and retries with backoff (nothing is
dropped; the supervisor keeps guarding from memory). A second task follows ``ns:events`` with
a blocking ``XREAD`` and keeps the view current; after an outage it re-reads everything.
Redis unreachable when first used: :class:`~atlas_nb.errors.StoreUnavailableError` naming the
URL with its password masked (nothing falls back to the local files).

    >>> store = RedisTrackStore("redis://:pw@cache.internal:6379/0", holder="me:1")
    >>> store.location, store.shared
    ('redis://REDACTED@cache.internal:6379/0', True)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from .._redis import RedisConnection
from ..errors import TrackedStoreError
from .events import ComputeEvent
from .lease import LeaseLock
from .state import TrackedRecord
from .store import Claim, Listener

log = logging.getLogger("atlas_nb.store")

#: events kept in the stream (older ones are trimmed)
STREAM_MAXLEN = 10_000
#: kinds that stay in the process that raised them
LOCAL_KINDS = frozenset({"heartbeat"})
#: how long a terminate claim is remembered (the record is usually gone much sooner)
CLAIM_TTL_MS = 7 * 24 * 3600 * 1000
_BATCH = 500

# KEYS: rec, ids, rev, events  ARGV: id, by, maxlen, then field/value pairs
_PUT = """
local old = redis.call('HGET', KEYS[1], 'last_activity')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
local new = redis.call('HGET', KEYS[1], 'last_activity')
if old and (not new or tonumber(old) > tonumber(new)) then
  redis.call('HSET', KEYS[1], 'last_activity', old)
end
redis.call('SADD', KEYS[2], ARGV[1])
local rev = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'kind', '_rec', 'id', ARGV[1],
           'by', ARGV[2], 'rev', rev)
return 1
"""
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
local rev = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'kind', '_rec', 'id', ARGV[1],
           'by', ARGV[2], 'rev', rev)
return 1
"""
# ARGV: id, by, maxlen, at
_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = tonumber(redis.call('HGET', KEYS[1], 'last_activity') or '0') or 0
if tonumber(ARGV[4]) <= cur then return 0 end
redis.call('HSET', KEYS[1], 'last_activity', ARGV[4])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'kind', 'touch', 'id', ARGV[1],
           'by', ARGV[2], 'at', ARGV[4])
return 1
"""
_REMOVE = """
local found = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
local rev = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'kind', '_rec', 'id', ARGV[1],
           'by', ARGV[2], 'rev', rev)
return found
"""
# KEYS: rec, claim, rev, events  ARGV: id, by, maxlen, reason (JSON), known activity or '', ttl
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
if redis.call('HGET', KEYS[1], 'released') == 'true' then return {'released'} end
if ARGV[5] ~= '' then
  local la = redis.call('HGET', KEYS[1], 'last_activity')
  if la and tonumber(la) and tonumber(la) > tonumber(ARGV[5]) then return {'touched', la} end
end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[6]) then
  redis.call('HSET', KEYS[1], 'terminating', ARGV[4])
  local rev = redis.call('INCR', KEYS[3])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'kind', '_rec', 'id', ARGV[1],
             'by', ARGV[2], 'rev', rev)
  return {'claimed'}
end
return {'resumed', redis.call('GET', KEYS[2])}
"""


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _encode(data: dict[str, Any]) -> list[str]:
    pairs: list[str] = []
    for key, value in data.items():
        pairs += [key, json.dumps(value, separators=(",", ":"))]
    return pairs


class RedisTrackStore:
    """A :class:`~atlas_nb.orchestrator.store.RecordStore` in Redis (see the module docstring).

    ``holder`` identifies this process in the stream, the lease and the claims.
    """

    shared = True

    def __init__(
        self,
        url: str | SecretStr,
        *,
        holder: str,
        namespace: str = "atlas_nb",
        connection: RedisConnection | None = None,
    ) -> None:
        self.conn = connection or RedisConnection(url)
        self.location = self.conn.url.masked
        self.holder = holder
        self.ns = namespace
        self.quarantined: list[tuple[Any, str]] = []
        self._records: dict[str, dict[str, Any]] = {}
        self._pending: list[tuple[str, str, Any]] = []  # (op, id, payload), in order
        self._loop: asyncio.AbstractEventLoop | None = None
        self._kick: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: Listener | None = None
        self._stream_id = "0-0"
        self._rev_seen: int | None = None
        self._rev_followed = 0  # the newest revision the event stream announced
        self._broken: str | None = None
        #: commands sent, by kind (for benchmarks: ops per heartbeat)
        self.ops = 0

    def __repr__(self) -> str:
        return f"<RedisTrackStore {self.location} namespace={self.ns!r}>"

    # -- keys ------------------------------------------------------------------------------
    def _k(self, *parts: str) -> str:
        return ":".join((self.ns, *parts))

    def file_of(self, compute_id: str) -> str:
        return compute_id

    # -- connecting and reading ------------------------------------------------------------
    def check(self) -> None:
        return None

    def ensure(self) -> None:
        return None

    async def connect(self) -> None:
        """PING, then read every record (``StoreUnavailableError`` naming the URL)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        await self.conn.connect()
        last = await self.conn.call(
            "reading the event stream", lambda r: r.xrevrange(self._k("events"), count=1)
        )
        self._stream_id = _text(last[0][0]) if last else "0-0"
        await self._pull_all()
        self._loop, self._kick = loop, asyncio.Event()
        self._tasks = [
            loop.create_task(self._flush_loop(), name="atlas-store flush"),
        ]

    async def _pull_all(self) -> None:
        """Replace the view with what Redis holds (our unsent writes are kept on top)."""

        async def read(r: Any) -> tuple[Any, list[Any]]:
            rev, ids = await r.get(self._k("rev")), await r.smembers(self._k("ids"))
            pipe = r.pipeline(transaction=False)
            names = sorted(_text(i) for i in ids)
            for cid in names:
                pipe.hgetall(self._k("rec", cid))
            return rev, list(zip(names, await pipe.execute(), strict=True))

        rev, rows = await self.conn.call("reading the tracked records", read)
        self.ops += 2 + len(rows)
        pending = {cid for _, cid, _ in self._pending}
        fresh: dict[str, dict[str, Any]] = {}
        for cid, raw in rows:
            if cid in pending:
                if cid in self._records:
                    fresh[cid] = self._records[cid]
                continue
            if raw:
                decoded = self._decode(cid, raw)
                if decoded is not None:
                    fresh[cid] = decoded
        for cid in pending:
            if cid in self._records and cid not in fresh:
                fresh[cid] = self._records[cid]
        self._records = fresh
        self._rev_seen = int(rev or 0)

    async def _pull_some(self, ids: list[str]) -> None:
        """Re-read these records (one pipelined round trip)."""

        async def read(r: Any) -> list[Any]:
            pipe = r.pipeline(transaction=False)
            for cid in ids:
                pipe.hgetall(self._k("rec", cid))
            return list(await pipe.execute())

        rows = await self.conn.call("reading tracked records", read)
        self.ops += len(ids)
        pending = {cid for _, cid, _ in self._pending}
        for compute_id, raw in zip(ids, rows, strict=True):
            if compute_id in pending:
                continue  # our own write is on its way: it wins
            if not raw:
                self._records.pop(compute_id, None)
                continue
            decoded = self._decode(compute_id, raw)
            if decoded is not None:
                self._records[compute_id] = decoded

    def _decode(self, compute_id: str, raw: dict[Any, Any]) -> dict[str, Any] | None:
        data: dict[str, Any] = {}
        try:
            for key, value in raw.items():
                data[_text(key)] = json.loads(value)
        except ValueError as exc:
            self._set_aside(compute_id, raw, f"a field is not JSON ({exc})")
            return None
        return data

    def _set_aside(self, compute_id: str, raw: dict[Any, Any], reason: str) -> None:
        """Move a record that cannot be read to ``ns:quarantine`` (with the reason)."""
        self._records.pop(compute_id, None)
        fields = {_text(k): _text(v) for k, v in raw.items()}
        self._queue("quarantine", compute_id, {"fields": fields, "reason": reason})
        self.quarantined.append((compute_id, reason))

    async def refresh(self) -> None:
        """Re-read everything when the revision moved past what was last read (cheap else)."""
        if self._loop is None:
            return
        try:
            rev = await self.conn.call("reading the revision", lambda r: r.get(self._k("rev")))
            self.ops += 1
            # only what the stream did not tell (it was trimmed, or we were away)
            if int(rev or 0) > max(self._rev_seen or 0, self._rev_followed):
                await self._pull_all()
        except Exception as exc:  # the view in memory keeps being guarded
            self._health(str(exc))

    def load(self) -> dict[str, TrackedRecord]:
        out = {}
        for cid in sorted(self._records):
            rec = self._record(cid)
            if rec is not None:
                out[cid] = rec
        return out

    def _record(self, compute_id: str) -> TrackedRecord | None:
        data = self._records.get(compute_id)
        if data is None:
            return None
        try:
            return TrackedRecord.from_dict(data)
        except TrackedStoreError as exc:
            self._set_aside(
                compute_id, {k: json.dumps(v) for k, v in data.items()}, exc.message or str(exc)
            )
            return None

    def get(self, compute_id: str) -> TrackedRecord | None:
        return self._record(compute_id)

    # -- writing (queued, sent by the flush task) ------------------------------------------
    def _queue(self, op: str, compute_id: str, payload: Any) -> None:
        self._pending.append((op, compute_id, payload))
        if self._kick is not None and self._loop is not None:
            if self._loop.is_closed():
                return
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is self._loop:
                self._kick.set()
            else:
                self._loop.call_soon_threadsafe(self._kick.set)

    def put(self, record: TrackedRecord) -> None:
        old = self._records.get(record.id)
        if old is not None and isinstance(old.get("last_activity"), (int, float)):
            record.last_activity = max(record.last_activity, float(old["last_activity"]))
        data = record.to_dict()
        self._records[record.id] = data
        self._queue("put", record.id, data)

    def update(self, compute_id: str, **changes: Any) -> TrackedRecord | None:
        data = self._records.get(compute_id)
        if data is None:
            return None
        data.update(changes)
        self._queue("update", compute_id, dict(changes))
        return self._record(compute_id)

    def merge_activity(self, compute_id: str, last_activity: float) -> None:
        data = self._records.get(compute_id)
        if data is None:
            return
        if last_activity > float(data.get("last_activity") or 0.0):
            data["last_activity"] = last_activity
            self._queue("touch", compute_id, last_activity)

    def remove(self, compute_id: str) -> bool:
        found = self._records.pop(compute_id, None) is not None
        self._queue("remove", compute_id, None)
        return found

    def record_event(self, event: ComputeEvent) -> None:
        if event.kind in LOCAL_KINDS or event.kind.startswith("_"):
            return
        self._queue("event", event.compute_id, event)

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued write reached Redis (False if it did not within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline:
            if self._kick is not None:
                self._kick.set()
            await asyncio.sleep(0.01)
        return not self._pending

    def _add(self, pipe: Any, op: str, cid: str, payload: Any) -> None:
        rec, ids, rev, events = (self._k("rec", cid), self._k("ids"), self._k("rev"),
                                 self._k("events"))  # fmt: skip
        head = (cid, self.holder, STREAM_MAXLEN)
        if op == "put":
            pipe.eval(_PUT, 4, rec, ids, rev, events, *head, *_encode(payload))
        elif op == "update":
            pipe.eval(_UPDATE, 4, rec, ids, rev, events, *head, *_encode(payload))
        elif op == "touch":
            pipe.eval(_TOUCH, 4, rec, ids, rev, events, *head, repr(float(payload)))
        elif op == "remove":
            pipe.eval(_REMOVE, 4, rec, ids, rev, events, *head)
        elif op == "quarantine":
            pipe.hset(self._k("quarantine"), cid, json.dumps({**payload, "at": time.time()}))
            pipe.delete(rec)
            pipe.srem(ids, cid)
        elif op == "event":
            event: ComputeEvent = payload
            pipe.xadd(
                events,
                {
                    "kind": event.kind,
                    "id": cid,
                    "by": self.holder,
                    "at": repr(event.at),
                    "data": json.dumps(event.data, default=str),
                },
                maxlen=STREAM_MAXLEN,
                approximate=True,
            )

    async def _flush_loop(self) -> None:
        assert self._kick is not None
        delay = 0.05
        while True:
            await self._kick.wait()
            self._kick.clear()
            while self._pending:
                batch = self._pending[:_BATCH]

                async def send(r: Any, batch: list[tuple[str, str, Any]] = batch) -> Any:
                    pipe = r.pipeline(transaction=False)
                    for op, cid, payload in batch:
                        self._add(pipe, op, cid, payload)
                    return await pipe.execute()

                try:
                    await self.conn.call("saving tracked records", send)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # kept, retried: nothing is dropped
                    self._health(str(exc))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                self.ops += len(batch)
                del self._pending[: len(batch)]
                delay = 0.05
                self._health(None)

    def _health(self, error: str | None) -> None:
        if error == self._broken:
            return
        back = error is None and self._broken is not None
        self._broken = error
        if error is not None:
            log.warning("Redis store %s: %s", self.location, error)
        if self._listener is not None:
            self._listener.health(error)
        if back and self._loop is not None:  # re-sync what happened meanwhile
            self._loop.create_task(self._resync(), name="atlas-store resync")

    async def _resync(self) -> None:
        with contextlib.suppress(Exception):
            await self._pull_all()
            if self._listener is not None:
                for cid in list(self._records):
                    self._listener.changed(cid)
                self._listener.changed("")

    # -- claims, following, the lease ------------------------------------------------------
    async def claim_termination(
        self, compute_id: str, reason: str, *, by: str, last_activity: float | None
    ) -> Claim:
        """One Lua script: at most one claim per record, ever (``StoreUnavailableError`` if
        Redis cannot be reached: the caller retries, the limit is not dropped)."""
        await self.flush(timeout=5.0)  # our own writes (a put, a touch) first
        keys = (self._k("rec", compute_id), self._k("claim", compute_id), self._k("rev"),
                self._k("events"))  # fmt: skip
        known = "" if last_activity is None else repr(float(last_activity))
        args = (compute_id, by, STREAM_MAXLEN, json.dumps(reason), known, CLAIM_TTL_MS)
        answer = await self.conn.call(
            f"claiming the termination of {compute_id}", lambda r: r.eval(_CLAIM, 4, *keys, *args)
        )
        self.ops += 1
        outcome = _text(answer[0])
        extra = _text(answer[1]) if len(answer) > 1 and answer[1] is not None else None
        data = self._records.get(compute_id)
        if outcome == "touched":
            stamp = float(extra or 0.0)
            if data is not None:
                data["last_activity"] = max(float(data.get("last_activity") or 0.0), stamp)
            return Claim("touched", last_activity=stamp)
        if outcome in ("claimed", "resumed") and data is not None:
            data["terminating"] = reason
        if outcome == "gone":
            self._records.pop(compute_id, None)
        return Claim(outcome, by=by if outcome == "claimed" else extra)  # type: ignore[arg-type]

    def start(self, listener: Listener) -> None:
        """Follow the event stream (on the loop; after :meth:`connect`)."""
        self._listener = listener
        if self._loop is None or any(t.get_name() == "atlas-store follow" for t in self._tasks):
            return
        self._tasks.append(self._loop.create_task(self._follow(), name="atlas-store follow"))

    async def _follow(self) -> None:
        delay = 0.1
        while True:
            try:
                answer = await self.conn.call(
                    "following the event stream",
                    lambda r: r.xread({self._k("events"): self._stream_id}, count=1000, block=1000),
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._health(str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            self.ops += 1
            if self._broken is not None and not self._pending:
                self._health(None)
            changed: dict[str, None] = {}  # record writes of this batch: re-read together
            for _stream, entries in answer or ():
                for entry_id, fields in entries:
                    self._stream_id = _text(entry_id)
                    self._apply({_text(k): _text(v) for k, v in fields.items()}, changed)
            if changed:
                try:
                    await self._pull_some(list(changed))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # everything is re-read once Redis is back
                    self._health(str(exc))
                    continue
                if self._listener is not None:
                    for cid in changed:
                        self._listener.changed(cid)

    def _apply(self, fields: dict[str, str], changed: dict[str, None]) -> None:
        if fields.get("rev", "").isdigit():  # every record write up to it was heard of
            self._rev_followed = max(self._rev_followed, int(fields["rev"]))
        if fields.get("by") == self.holder or self._listener is None:
            return
        kind, cid = fields.get("kind", ""), fields.get("id", "")
        try:
            if kind == "_rec":
                changed[cid] = None
            elif kind == "touch":
                at = float(fields.get("at") or 0.0)
                data = self._records.get(cid)
                if data is not None and at > float(data.get("last_activity") or 0.0):
                    data["last_activity"] = at
                self._listener.touched(cid, at)
            else:
                data = json.loads(fields.get("data") or "{}")
                if not isinstance(data, dict):
                    data = {}
                data.setdefault("by", fields.get("by"))
                event = ComputeEvent(cid, kind, data, at=float(fields.get("at") or time.time()))
                self._listener.event(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one bad entry must not stop following
            log.warning("Redis store %s: skipped the event %s: %s", self.location, fields, exc)

    def lease(self, holder: str, on_change: Callable[[], None]) -> LeaseLock:
        return LeaseLock(self.conn, self._k("lease"), holder, on_change)

    async def aclose(self) -> None:
        """Send what is queued (briefly), stop following and close the connection."""
        if self._loop is asyncio.get_running_loop() and self._pending:
            await self.flush(timeout=2.0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []
        self._loop = self._kick = None
        with contextlib.suppress(Exception):
            await self.conn.aclose()
