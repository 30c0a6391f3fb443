"""The simulated Fly.io organisation shared by the fake Machines API and the fake logs API.

>>> from atlas_nb.sandbox._state import SandboxState
>>> world = fly_world(SandboxState())
>>> sorted(world.apps)
['atlas-demo-web', 'atlas-demo-worker']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._state import SandboxState

DEFAULT_ORG = "personal"
DEFAULT_APPS = ("atlas-demo-web", "atlas-demo-worker")
REGIONS = ("iad", "ord", "ams", "fra", "syd")


@dataclass
class FlyApp:
    name: str
    id: str
    org: str = DEFAULT_ORG
    status: str = "deployed"
    created_at: float = 0.0
    #: machine id -> the Machines API's record (owned by the fake Machines API)
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: free-form per-app state other fakes keep (e.g. the logs API's cursor data)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FlyWorld:
    org: str = DEFAULT_ORG
    apps: dict[str, FlyApp] = field(default_factory=dict)

    def add_app(self, state: SandboxState, name: str, org: str | None = None) -> FlyApp:
        app = FlyApp(
            name=name, id=state.id("", 12), org=org or self.org, created_at=state.clock.now()
        )
        self.apps[name] = app
        state.info["fly_apps"] = sorted(self.apps)
        return app


def fly_world(state: SandboxState) -> FlyWorld:
    """The sandbox's Fly organisation, created on first use with the default apps."""
    world = state.providers.get("fly_world")
    if world is None:
        world = FlyWorld()
        state.providers["fly_world"] = world
        for name in DEFAULT_APPS:
            world.add_app(state, name)
    return world  # type: ignore[no-any-return,unused-ignore]
