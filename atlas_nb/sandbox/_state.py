"""Shared sandbox state: the simulated clock, the seeded RNG, the keys and the fault knobs."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any


class SimClock:
    """Simulated wall time: real elapsed time times ``speed``, plus manual ``advance()``.

    Lifecycles (a pod provisioning, logs growing) are written in simulated seconds, so tests
    run them fast with a high ``speed`` and notebooks at a believable pace.

        >>> clock = SimClock(speed=100.0, start=1_000.0)
        >>> clock.advance(60)
        >>> clock.now() >= 1_060.0
        True
        >>> clock.speed = 0  # frozen: only advance() moves it
        >>> frozen = clock.now(); clock.advance(5); clock.now() == frozen + 5
        True
    """

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._base_real = time.monotonic()
        self._base_sim = time.time() if start is None else float(start)

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        with self._lock:
            self._base_sim = self.now()
            self._base_real = time.monotonic()
            self._speed = float(value)

    def now(self) -> float:
        """Simulated unix time in seconds."""
        return self._base_sim + (time.monotonic() - self._base_real) * self._speed

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward."""
        with self._lock:
            self._base_sim += seconds

    def real_seconds(self, sim_seconds: float) -> float:
        """How long ``sim_seconds`` of simulated time takes in real time."""
        return sim_seconds / self._speed if self._speed > 0 else float("inf")


@dataclass
class FaultRule:
    """One fault knob set, for a provider and optionally a route.

    ``route`` is ``"METHOD /path/prefix"`` or ``"/path/prefix"`` (relative to the provider's
    base URL, e.g. ``"POST /v2/pods"``). ``count`` limits how many requests it affects.
    """

    provider: str
    route: str | None = None
    latency: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    error_rate: float = 0.0
    burst: int = 0
    drop: bool = False
    malformed: bool = False
    slow_stream: float | None = None
    hang: bool = False
    count: int | None = None
    refuse: str | None = None  # a create refused as the cloud does (see _offer_faults)
    stuck: bool = False  # a create succeeds but the pod never leaves provisioning
    #: apply ``status`` / ``hang`` after the fake API handled the request (it took effect)
    after: bool = False
    #: answer with this body instead of the real one (after the request took effect)
    body: str | None = None
    hits: int = 0
    bursting: bool = False  # a burst was set (so ``status`` only applies during it)

    def matches(self, provider: str, method: str, path: str) -> bool:
        if provider != self.provider:
            return False
        if not self.route:
            return True
        want_method, _, want_path = self.route.partition(" ")
        if not want_path:
            want_method, want_path = "", want_method
        if want_method and want_method.upper() != method.upper():
            return False
        return path.startswith(want_path)


FAULT_KNOBS = (
    "latency",
    "status",
    "retry_after",
    "error_rate",
    "burst",
    "drop",
    "malformed",
    "slow_stream",
    "hang",
    "count",
    "refuse",
    "stuck",
    "after",
    "body",
)


class FaultRegistry:
    """The fault knobs in force; decisions use the sandbox's seeded RNG (deterministic)."""

    def __init__(self, rng: random.Random) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self.rng = rng

    def add(self, provider: str, route: str | None = None, **knobs: Any) -> FaultRule:
        unknown = set(knobs) - set(FAULT_KNOBS)
        if unknown:
            raise ValueError(f"unknown fault knob(s) {sorted(unknown)}; known: {FAULT_KNOBS}")
        rule = FaultRule(provider=provider, route=route, **knobs)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self, provider: str | None = None) -> None:
        with self._lock:
            self._rules = [
                r for r in self._rules if provider is not None and r.provider != provider
            ]

    def take(self, provider: str, method: str, path: str) -> FaultRule | None:
        """The newest live rule matching this request (counting it as used), or None."""
        with self._lock:
            for rule in reversed(self._rules):
                if rule.matches(provider, method, path):
                    rule.hits += 1
                    if rule.count is not None and rule.hits >= rule.count:
                        self._rules.remove(rule)
                    return rule
        return None

    def peek(self, provider: str, method: str, path: str) -> FaultRule | None:
        """Like :meth:`take` without counting (for streams reading their knobs)."""
        with self._lock:
            for rule in reversed(self._rules):
                if rule.matches(provider, method, path):
                    return rule
        return None

    def roll(self, probability: float) -> bool:
        with self._lock:
            return self.rng.random() < probability


@dataclass
class SandboxState:
    """Everything the fake APIs share. One per sandbox."""

    seed: int = 0
    speed: float = 1.0
    clock: SimClock = field(init=False)
    rng: random.Random = field(init=False)
    faults: FaultRegistry = field(init=False)
    api_keys: dict[str, str] = field(init=False)
    secret: str = field(init=False)
    providers: dict[str, Any] = field(default_factory=dict)
    #: facts the fake APIs publish for the handle (runpod_endpoint_id, fly_apps, ...)
    info: dict[str, Any] = field(default_factory=dict)
    #: callbacks run when the sandbox stops (e.g. removing the fake fly's temp dir)
    on_stop: list[Any] = field(default_factory=list)
    public_base: str = "http://sandbox.local"

    def __post_init__(self) -> None:
        self.clock = SimClock(self.speed)
        self.rng = random.Random(self.seed)
        self.faults = FaultRegistry(random.Random(self.seed + 1))
        digest = hashlib.sha256(f"atlas-sandbox-{self.seed}".encode()).hexdigest()
        self.secret = digest
        self.api_keys = {
            "runpod": f"rpa_SANDBOX{digest[:32].upper()}",
            "lambda": f"secret_sandbox_{digest[32:48]}.{digest[48:64]}",
            "vast": digest[:64],
            "fly": f"FlyV1 fm2_sandbox{digest[:24]}",
        }

    def data_dir(self) -> str:
        """A private temp dir for atlas_nb's state while pointed at this sandbox (0700)."""
        if "data_dir" not in self.info:
            import shutil
            import tempfile

            path = tempfile.mkdtemp(prefix=f"atlas-sandbox-{self.seed}-")
            self.info["data_dir"] = path
            self.on_stop.append(lambda: shutil.rmtree(path, ignore_errors=True))
        return str(self.info["data_dir"])

    def id(
        self, prefix: str = "", n: int = 14, alphabet: str = "abcdefghijklmnopqrstuvwxyz0123456789"
    ) -> str:
        """A deterministic (seeded) random id."""
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(n))
