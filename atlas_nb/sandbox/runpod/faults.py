"""Let the fake RunPod handlers see the fault rule that applies to their request.

:class:`~atlas_nb.sandbox._http.FaultMiddleware` *takes* a rule (counting it, and dropping a
``count``-limited rule on its last use) before the handler runs, so a handler peeking afterwards
could miss it. :class:`PeekFaults` sits outside the middleware and records the rule first;
streaming handlers read it with :func:`fault_for`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from .._http import ASGIApp, Receive, Scope, Send, relative_path
from .._state import FaultRule, SandboxState

_KEY = "atlas.fault"


class PeekFaults:
    """ASGI wrapper: stores the matching fault rule (or None) in the request scope."""

    def __init__(self, app: ASGIApp, state: SandboxState, provider: str) -> None:
        self.app = app
        self.state = state
        self.provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[_KEY] = self.state.faults.peek(
                self.provider, scope["method"], relative_path(scope)
            )
        await self.app(scope, receive, send)


def fault_for(request: Request) -> FaultRule | None:
    """The fault rule that applied to this request when it arrived."""
    rule: Any = request.scope.get(_KEY)
    return rule if isinstance(rule, FaultRule) else None
