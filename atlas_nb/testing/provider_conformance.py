"""The provider conformance suite: prove any provider, built-in or yours, against the contract.

Subclass it in a test module, name the subclass ``Test...`` and say which provider::

    from atlas_nb.testing import ProviderConformance

    class TestMyCloud(ProviderConformance):
        provider = MyCloudProvider          # a name or a Provider subclass
        spawn_kwargs = {"gpu": "h100", "image": "test/image:latest", "ports": ["8000/http"]}

        def reset(self):                    # optional: put the backend in a known state
            MyCloudProvider.reset()

Every test runs through the public facade (``atlas_nb.spawn`` and friends), so it also proves
the provider's output fits the normalised models and frames. Whatever a test spawns it
terminates. Tests that need a capability the provider does not declare check that the call
raises ``UnsupportedError`` with a hint instead.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

import atlas_nb as atlas
from atlas_nb.errors import NotFoundError, UnsupportedError
from atlas_nb.frames import COMPUTE_COLUMNS, GPU_TYPE_COLUMNS
from atlas_nb.models import ComputeStatus
from atlas_nb.providers.base import CAPABILITIES
from atlas_nb.providers.registry import resolve_provider_class


class ProviderConformance:
    """Base class of the suite (not collected by itself: no ``Test`` prefix)."""

    #: the provider under test: a name or a Provider subclass
    provider: ClassVar[Any] = None
    #: API key to pass per call (None: use the configured one)
    api_key: ClassVar[str | None] = None
    #: what to spawn
    spawn_kwargs: ClassVar[dict[str, Any]] = {
        "gpu": "h100",
        "image": "test/image:latest",
        "ports": ["8000/http"],
    }
    #: seconds to wait for a spawned compute to run
    wait_timeout: ClassVar[float] = 30.0

    def reset(self) -> None:
        """Override to reset the backend before each test."""

    @pytest.fixture(autouse=True)
    def _conformance_lifecycle(self) -> Any:
        self.reset()
        self._spawned: list[str] = []
        yield
        for cid in self._spawned:
            try:
                atlas.terminate(cid, **self._call())
            except NotFoundError:
                pass

    # -- helpers ---------------------------------------------------------------------------
    def _call(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"provider": self.provider}
        if self.api_key is not None:
            kw["api_key"] = self.api_key
        return kw

    def _caps(self) -> frozenset[str]:
        return atlas.capabilities(self.provider)

    def spawn(self, **overrides: Any) -> atlas.Compute:
        compute = atlas.spawn(**self._call(), **{**self.spawn_kwargs, **overrides})
        self._spawned.append(compute.id)
        return compute

    # -- the contract -------------------------------------------------------------------
    def test_capabilities_are_a_known_frozenset(self) -> None:
        caps = self._caps()
        assert isinstance(caps, frozenset)
        assert caps <= CAPABILITIES, caps - CAPABILITIES
        assert resolve_provider_class(self.provider).capabilities() == caps

    def test_spawn_get_terminate_round_trip(self) -> None:
        name_before = atlas.computes(**self._call())
        compute = self.spawn()
        assert compute.id and isinstance(compute.id, str)
        assert compute.status in set(ComputeStatus)
        assert compute.status not in (ComputeStatus.TERMINATED, ComputeStatus.FAILED)
        assert compute.name and compute.name.startswith(atlas.settings().name_prefix)
        assert compute.provider == resolve_provider_class(self.provider).name
        got = atlas.compute(compute.id, **self._call())
        assert got.id == compute.id and got.name == compute.name
        atlas.terminate(compute.id, **self._call())
        after = atlas.computes(**self._call())
        assert compute.id not in set(after["id"])
        assert len(after) == len(name_before)

    def test_spawned_compute_is_listed_with_the_schema(self) -> None:
        compute = self.spawn()
        df = atlas.computes(**self._call())
        assert list(df.columns) == list(COMPUTE_COLUMNS)
        assert {str(t) for t in df.dtypes} <= set(COMPUTE_COLUMNS.values()) | {
            "string",
            "Int64",
            "Float64",
        }
        assert compute.id in set(df["id"])
        named = atlas.computes(**self._call(), name=compute.name)
        assert list(named["id"]) == [compute.id]

    def test_empty_list_keeps_the_schema(self) -> None:
        df = atlas.computes(**self._call(), name="atlas-no-such-name-0000")
        assert len(df) == 0 and list(df.columns) == list(COMPUTE_COLUMNS)

    def test_unknown_id_raises_not_found(self) -> None:
        with pytest.raises(NotFoundError):
            atlas.compute("atlas-does-not-exist-0000", **self._call())

    def test_wait_until_running_exposes_ports(self) -> None:
        compute = self.spawn().wait_until_running(timeout=self.wait_timeout, progress=False)
        assert compute.status == ComputeStatus.RUNNING
        wanted = {str(p).split("/")[0] for p in self.spawn_kwargs.get("ports", [])}
        exposed = {str(p.internal) for p in compute.ports}
        assert wanted <= exposed
        for port in compute.ports:
            assert port.url or port.external is not None

    def test_bearer_auth_returns_a_handle_once(self) -> None:
        compute = self.spawn(auth="bearer")
        assert compute.auth is not None and compute.auth.scheme == "bearer"
        token = compute.auth.token.get_secret_value() if compute.auth.token else ""
        assert len(token) >= 32
        assert compute.auth.hash and atlas.auth.verify_token(token, compute.auth.hash)
        assert token not in repr(compute)
        assert token not in repr(compute.raw)
        later = atlas.compute(compute.id, **self._call()).auth
        assert later is None or later.token is None  # the token is shown once, never stored

    def test_stop_and_start_or_unsupported(self) -> None:
        compute = self.spawn().wait_until_running(timeout=self.wait_timeout, progress=False)
        if "stop_start" not in self._caps():
            with pytest.raises(UnsupportedError) as info:
                atlas.stop(compute.id, **self._call())
            assert str(info.value).count(".") >= 1 and info.value.provider
            return
        stopped = atlas.stop(compute.id, **self._call())
        assert stopped.status in (ComputeStatus.STOPPING, ComputeStatus.STOPPED)
        started = atlas.start(compute.id, **self._call())
        assert started.status in (
            ComputeStatus.STARTING,
            ComputeStatus.RUNNING,
            ComputeStatus.PROVISIONING,
            ComputeStatus.STOPPED,
            ComputeStatus.STOPPING,
        )

    def test_gpu_catalogue_or_unsupported(self) -> None:
        if "gpu_types" not in self._caps():
            with pytest.raises(UnsupportedError):
                atlas.gpu_types(**{"provider": self.provider})
            return
        df = atlas.gpu_types(self.provider)
        assert list(df.columns) == list(GPU_TYPE_COLUMNS)
        assert len(df) > 0
        assert (df["price_per_hr"].dropna() >= 0).all()

    def test_serverless_or_unsupported(self) -> None:
        if "serverless" in self._caps():
            pytest.skip("serverless providers are exercised by their own job tests")
        with pytest.raises(UnsupportedError):
            atlas.run_job("endpoint", {"x": 1}, **self._call())
