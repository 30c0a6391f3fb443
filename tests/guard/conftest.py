"""Fixtures: ``pod`` (a :class:`FakePod`) and ``rest`` (its fake provider API)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.guard.harness import FakePod, FakeREST


@pytest.fixture
def rest() -> Iterator[FakeREST]:
    fake = FakeREST()
    yield fake
    fake.close()


@pytest.fixture
def pod(tmp_path: Path, rest: FakeREST) -> Iterator[FakePod]:
    fake = FakePod(tmp_path, rest)
    yield fake
    fake.stop_all()
