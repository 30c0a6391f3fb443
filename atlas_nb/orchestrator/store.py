"""The store of tracked records and orchestrator events: one interface, two implementations.

:class:`~atlas_nb.orchestrator.state.TrackStore` (the default) keeps one JSON file per compute
under ``<data_dir>/tracked``; events stay in the process that raised them.
:class:`~atlas_nb.orchestrator.redis_store.RedisTrackStore` (``configure(store="redis://...")``)
keeps them in a team's Redis, so every kernel on every machine sees the same records and
events, and one supervisor at a time enforces their limits (:mod:`.lease`).

The record methods are synchronous (the supervisor calls them on the runtime loop): the Redis
store answers from its in-memory view and writes behind, retrying while Redis is away.
What needs the server is async: :meth:`RecordStore.connect`, :meth:`RecordStore.refresh` and
:meth:`RecordStore.claim_termination` (the one place where two processes could race).

    >>> import tempfile, pathlib
    >>> from atlas_nb.orchestrator.state import TrackStore
    >>> isinstance(TrackStore(pathlib.Path(tempfile.mkdtemp())), RecordStore)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .events import ComputeEvent
    from .lease import LeaseLock
    from .state import TrackedRecord

#: what :meth:`RecordStore.claim_termination` found
ClaimOutcome = Literal["claimed", "resumed", "touched", "released", "gone"]


@dataclass(frozen=True)
class Claim:
    """The answer to a terminate claim.

    ``claimed``: this process is the one that enforces the limit (exactly once per record);
    ``resumed``: a claim exists already (an earlier enforcer died mid-way): finish it;
    ``touched``: activity newer than the caller knew (``last_activity``): not due any more;
    ``released`` / ``gone``: untracked meanwhile, nothing to do.
    """

    outcome: ClaimOutcome
    last_activity: float | None = None
    by: str | None = None


@dataclass
class Listener:
    """What a shared store tells its supervisor about other processes' writes."""

    #: a record was added, changed or removed elsewhere (its id)
    changed: Callable[[str], None]
    #: a compute was touched elsewhere: (id, unix time of the touch)
    touched: Callable[[str, float], None]
    #: an event published by another process
    event: Callable[[ComputeEvent], None]
    #: the store could not be reached (an error text) or is back (None)
    health: Callable[[str | None], None]


@runtime_checkable
class RecordStore(Protocol):
    """What a tracked-record store implements (see the module docstring)."""

    #: where the records live, for messages (a path, or the Redis URL with its password masked)
    location: str
    #: whether processes on other machines share it (then one supervisor enforces, by lease)
    shared: bool
    #: ``(where, reason)`` of corrupt records set aside since it was last emptied
    quarantined: list[tuple[Any, str]]

    def file_of(self, compute_id: str) -> Path | str:
        """Where one record lives (what ``quarantined`` names)."""
        ...

    def check(self) -> None: ...

    def ensure(self) -> None: ...

    def load(self) -> dict[str, TrackedRecord]: ...

    def get(self, compute_id: str) -> TrackedRecord | None: ...

    def put(self, record: TrackedRecord) -> None: ...

    def update(self, compute_id: str, **changes: Any) -> TrackedRecord | None: ...

    def merge_activity(self, compute_id: str, last_activity: float) -> None: ...

    def remove(self, compute_id: str) -> bool: ...

    async def connect(self) -> None:
        """Be ready (``StoreUnavailableError`` naming the store when it cannot be reached)."""
        ...

    async def refresh(self) -> None:
        """Bring the in-memory view up to date with the server (no-op for files)."""
        ...

    async def claim_termination(
        self, compute_id: str, reason: str, *, by: str, last_activity: float | None
    ) -> Claim:
        """Atomically mark a record terminating, once for all processes (see :class:`Claim`)."""
        ...

    def record_event(self, event: ComputeEvent) -> None:
        """Share an event with the other processes (no-op for files)."""
        ...

    def start(self, listener: Listener) -> None:
        """Start following other processes' writes (on the loop; no-op for files)."""
        ...

    def lease(self, holder: str, on_change: Callable[[], None]) -> LeaseLock | None:
        """The lock that elects the one enforcer (None: every process enforces)."""
        ...

    async def aclose(self) -> None: ...
