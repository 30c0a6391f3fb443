"""``JobStream``: a serverless job's chunks, for ``for``, ``async for`` and the notebook.

Chunks are pumped on atlas_nb's loop as the provider produces them; every iterator gets each
chunk exactly once and in order, then the stream ends after the job's terminal status (a
failure raises ``JobFailedError`` at the end of iteration). In Jupyter it displays as a live
view of the chunks followed by the final output.

    >>> import atlas_nb as atlas
    >>> job = atlas.run_job("echo", {"chunks": 2, "sleep_ms": 40}, provider="mock")
    >>> stream = job.stream()
    >>> list(stream), list(stream)  # a second pass replays what was received
    ([{'i': 0}, {'i': 1}], [{'i': 0}, {'i': 1}])
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from ._runtime import DualIterator
from .broadcast import Broadcast

MAX_CHUNKS = 100_000


class JobStream(Broadcast[Any]):
    """Chunks of one job; iterate it, or display it in a notebook."""

    def __init__(
        self, chunks: Callable[[], AsyncIterator[Any]], *, job_id: str, endpoint: str, provider: Any
    ) -> None:
        self.job_id = job_id
        self.endpoint = endpoint
        self.provider = provider

        async def batches() -> AsyncIterator[list[Any]]:
            async for chunk in chunks():
                yield [chunk]

        super().__init__(batches, title=f"job {job_id}", maxlen=MAX_CHUNKS)

    def _ended_reason(self) -> str:
        return "job finished"

    @property
    def chunks(self) -> list[Any]:
        """Every chunk received so far."""
        return self.entries

    async def _chunks(self) -> AsyncIterator[Any]:
        async for batch in self._batches():  # raises the job's failure at the end
            for chunk in batch:
                yield chunk

    def __iter__(self) -> DualIterator[Any]:
        return DualIterator(self._chunks)

    def __aiter__(self) -> DualIterator[Any]:
        return DualIterator(self._chunks)

    def __repr__(self) -> str:
        return f"<JobStream {self.job_id}: {self.status_line}, {len(self)} chunks>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        from .widgets._env import in_notebook

        if in_notebook():
            from .widgets.job_view import attach

            if self._viewer is None:
                self._viewer = attach(self)
            return self._viewer._repr_mimebundle_(include=include, exclude=exclude)
        return {"text/plain": f"JobStream({self.job_id!r})"}
