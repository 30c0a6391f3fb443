"""The ``Sandbox`` handle returned by :func:`start` and :func:`in_process`."""

from __future__ import annotations

import atexit
import contextlib
import importlib
from typing import Any

import httpx

from ._http import ConnectionDropped
from ._state import SandboxState
from .app import MOUNTS, build, url_suffixes
from .server import LoopbackServer

IN_PROCESS_ORIGIN = "http://sandbox.local"

#: friendly names accepted by :meth:`Sandbox.faults`
FAULT_PROVIDERS = {
    "runpod": "runpod",
    "runpod_rest": "runpod",
    "runpod_graphql": "runpod",
    "runpod_runtime": "runpod_runtime",
    "lambda": "lambda",
    "vast": "vast",
    "fly": "fly",
    "fly_machines": "fly",
    "fly_api": "fly_api",
    "fly_logs": "fly_api",
}


class _InProcessTransport(httpx.ASGITransport):
    """ASGITransport that turns a dropped connection into the httpx error a socket gives."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc


class Sandbox:
    """A running sandbox: its URLs, keys, fake ``fly`` CLI, fault knobs and ``stop()``.

    Attributes: ``urls`` (base_urls key -> URL), ``api_keys`` (provider -> accepted key),
    ``fly_executable``, ``runpod_endpoint_id``, ``fly_apps``, ``state`` and, in-process,
    ``transport``.
    """

    def __init__(
        self,
        state: SandboxState,
        origin: str,
        *,
        server: LoopbackServer | None,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self.state = state
        self.origin = origin
        self.server = server
        self.transport = transport
        self.urls: dict[str, str] = {k: origin + v for k, v in url_suffixes().items()}
        self.api_keys: dict[str, str] = dict(state.api_keys)
        self._override: contextlib.ExitStack | None = None
        self._stopped = False
        # temp dirs (fake fly CLI, private data dir) go away even if stop() is never called
        atexit.register(self.stop)

    # -- facts published by the fake APIs --------------------------------------------------
    @property
    def fly_executable(self) -> str | None:
        return self.state.info.get("fly_executable")

    @property
    def runpod_endpoint_id(self) -> str | None:
        return self.state.info.get("runpod_endpoint_id")

    @property
    def fly_apps(self) -> list[str]:
        return list(self.state.info.get("fly_apps", []))

    @property
    def speed(self) -> float:
        return self.state.clock.speed

    @speed.setter
    def speed(self, value: float) -> None:
        self.state.clock.speed = value

    # -- knobs ---------------------------------------------------------------------------------
    def faults(self, provider: str, route: str | None = None, **knobs: Any) -> None:
        """Inject faults: ``latency`` s, ``status`` (+``retry_after``), ``error_rate``,
        ``burst`` (next N requests fail), ``drop``, ``malformed``, ``slow_stream`` s, ``hang``,
        ``count`` (expire after N requests), ``refuse`` and ``stuck`` (launch faults: see
        :meth:`fail_launches`), ``after`` (``status``/``hang`` only once the request took
        effect: a create that succeeded but whose answer was lost) and ``body`` (the request
        takes effect, the answer is this text instead). ``route`` is ``"METHOD /path"``
        relative to the provider's base URL. Decisions are deterministic for a given seed.

            sb.faults("runpod", "GET /v2/pods", status=429, retry_after=1, count=1)
            sb.faults("vast", "PUT /api/v0/asks/", status=502, after=True, count=1)
        """
        name = FAULT_PROVIDERS.get(provider)
        if name is None:
            raise ValueError(f"unknown provider {provider!r}; use one of {sorted(FAULT_PROVIDERS)}")
        self.state.faults.add(name, route, **knobs)

    def fail_launches(
        self,
        provider: str,
        kind: str = "capacity",
        *,
        count: int | None = 1,
        error_rate: float = 0.0,
    ) -> None:
        """Make the next ``count`` creates on ``provider`` fail as that cloud fails them:
        ``kind`` is ``"capacity"`` (RunPod 400, Lambda insufficient-capacity, Vast 410),
        ``"offer_gone"`` (Vast 410: rented meanwhile), ``"quota"`` (Lambda) or ``"stuck"`` (the
        pod never leaves provisioning). ``count=None`` with ``error_rate=p``: each create fails
        with probability p (seeded). A fault knob like the others (``clear_faults`` ends it).

            sb.fail_launches("vast", "offer_gone", count=2)
        """
        from ._offer_faults import launch_knobs

        route, knobs = launch_knobs(FAULT_PROVIDERS.get(provider, provider), kind)
        self.faults(provider, route, count=count, error_rate=error_rate, **knobs)

    def fly_cli(self, *, reset: bool = False, **knobs: Any) -> dict[str, Any]:
        """Set how the fake ``fly`` CLI behaves (read on every run), e.g.
        ``sb.fly_cli(tokens="hang")`` or ``sb.fly_cli(deploy="fail", exit_code=2)``. Knobs:
        ``tokens``, ``token_delay_s``, ``deploy``, ``deploy_lines``, ``deploy_delay_s``,
        ``exit_code``... (see :mod:`atlas_nb.sandbox.fly.fake_fly`). Returns the knobs now set.
        """
        from .fly.fake_fly import configure_cli

        return configure_cli(self.state, reset=reset, **knobs)

    def clear_faults(self, provider: str | None = None) -> None:
        self.state.faults.clear(FAULT_PROVIDERS.get(provider, provider) if provider else None)

    # -- atlas_nb configuration ----------------------------------------------------------------
    def configure(self) -> None:
        """Point atlas_nb at this sandbox (keys, base URLs, fake fly, transport)."""
        from .. import config

        # the sandbox's tracked pods, owner tag and Fly tokens live in its own private dir,
        # never mixed with the real clouds' state
        settings: dict[str, Any] = {
            "http_transport": self.transport,
            "data_dir": self.state.data_dir(),
        }
        if self.fly_executable:
            settings["fly_executable"] = self.fly_executable
        if self._override is None:  # the first call saves what stop() restores
            self._override = contextlib.ExitStack()
            self._override.enter_context(
                config.override(api_keys=self.api_keys, base_urls=self.urls, **settings)
            )
        else:
            config.configure(api_keys=self.api_keys, base_urls=self.urls, **settings)

    def restore_config(self) -> None:
        if self._override is not None:
            self._override.close()
            self._override = None

    def stop(self) -> None:
        """Stop serving and restore atlas_nb's previous configuration."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        self.restore_config()
        for hook in self.state.on_stop:
            with contextlib.suppress(Exception):
                hook()
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        mode = "loopback" if self.server else "in-process"
        return f"<Sandbox {mode} {self.origin} speed={self.speed:g} seed={self.state.seed}>"


def _prepare(state: SandboxState, origin: str) -> None:
    state.public_base = origin
    for spec in MOUNTS:
        module = importlib.import_module(f"atlas_nb.sandbox.{spec.module}")
        prepare = getattr(module, "prepare", None)
        if prepare is not None:
            prepare(state, origin)


def start(*, port: int = 0, seed: int = 0, speed: float = 1.0, configure: bool = True) -> Sandbox:
    """Serve the sandbox on 127.0.0.1 (``port=0``: any free port) and return its handle.

    ``speed`` scales the simulated clock; ``configure=True`` points atlas_nb at it (undone by
    ``stop()``). Use it as a context manager to stop it automatically.
    """
    state = SandboxState(seed=seed, speed=speed)
    server = LoopbackServer(build(state), port=port).start()
    _prepare(state, server.origin)
    sb = Sandbox(state, server.origin, server=server, transport=None)
    if configure:
        sb.configure()
    return sb


def in_process(*, seed: int = 0, speed: float = 1.0, configure: bool = True) -> Sandbox:
    """The sandbox behind an httpx transport: no sockets (streams need :func:`start`)."""
    state = SandboxState(seed=seed, speed=speed)
    transport = _InProcessTransport(app=build(state))
    _prepare(state, IN_PROCESS_ORIGIN)
    sb = Sandbox(state, IN_PROCESS_ORIGIN, server=None, transport=transport)
    if configure:
        sb.configure()
    return sb
