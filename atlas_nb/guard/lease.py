"""The client side of the lease: renew a pod's idle lease, and where its lease endpoint is.

:func:`renew_lease` never raises into the caller's ``touch()`` path: it returns a
:class:`LeaseOutcome` the dashboard can show. A failed renewal is retried with backoff and never
ends a pod by itself (the pod only ends once its lease has run out plus the grace).

    >>> runpod_lease_url("abc123", 8642)
    'https://abc123-8642.proxy.runpod.net/lease'
    >>> vast_lease_url("203.0.113.7", {"8642/tcp": [{"HostIp": "0.0.0.0", "HostPort": "40123"}]})
    'http://203.0.113.7:40123/lease'
    >>> from atlas_nb.models import Compute
    >>> lease_url_for(Compute(id="my-app/e28", provider="fly"))
    ('https://my-app.fly.dev:8642/lease', {'fly-force-instance-id': 'e28'})
    >>> lease_url_for(Compute(id="p1", provider="runpod"), override="http://127.0.0.1:9/lease")
    ('http://127.0.0.1:9/lease/runpod/p1/lease', {})
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import ValidationError
from .injection import DEFAULT_PORT

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class LeaseOutcome:
    """What one renewal did. ``status``: ``renewed``, ``ending`` (the pod is already being ended;
    renewals cannot revive it), ``unauthorized`` (wrong token), ``rejected`` (bad request) or
    ``unreachable`` (every attempt failed on the network or a 5xx)."""

    status: str
    ok: bool
    lease_expires_in_s: float | None = None
    attempts: int = 1
    detail: str = ""
    #: the pod clock's seconds per wall second (1 on a real cloud; a sped-up sandbox's speed)
    time_scale: float = 1.0

    @property
    def wall_left_s(self) -> float | None:
        """Wall-clock seconds until the lease runs out (None when the pod did not say)."""
        if self.lease_expires_in_s is None:
            return None
        return self.lease_expires_in_s / self.time_scale


def runpod_lease_url(pod_id: str, port: int = DEFAULT_PORT) -> str:
    """The lease endpoint through RunPod's HTTP proxy (the port must be exposed as ``/http``)."""
    return f"https://{pod_id}-{port}.proxy.runpod.net/lease"


def vast_lease_url(public_ipaddr: str, ports: dict[str, Any], port: int = DEFAULT_PORT) -> str:
    """The lease endpoint on the host port Vast mapped ``port/tcp`` to, on ``public_ipaddr``."""
    mapped = (ports or {}).get(f"{port}/tcp") or []
    if not mapped or "HostPort" not in mapped[0]:
        raise ValidationError(
            f"port {port}/tcp is not mapped on this instance (mapped: {sorted(ports or {})}); "
            "spawn it with the guard port exposed",
            field="ports",
        )
    return f"http://{public_ipaddr}:{mapped[0]['HostPort']}/lease"


def fly_lease_url(app: str, port: int = DEFAULT_PORT) -> str:
    """The lease endpoint through the app's Fly service (``services`` maps ``port`` publicly)."""
    return f"https://{app}.fly.dev:{port}/lease"


def lease_url_for(
    compute: Any, port: int = DEFAULT_PORT, *, override: str = ""
) -> tuple[str | None, dict[str, str]]:
    """(lease URL, extra headers) for a compute, or (None, {}) while it has no route yet.

    ``override`` (the sandbox's ``guard_lease`` base URL) replaces every cloud's route with
    ``{override}/{provider}/{id}/lease``. Vast needs the running instance's port mapping; Fly
    pins the request to the machine with ``fly-force-instance-id`` (its proxy balances an
    app's machines otherwise).
    """
    provider, cid = str(compute.provider), str(compute.id)
    if override:
        return f"{override.rstrip('/')}/{provider}/{quote(cid, safe='')}/lease", {}
    if provider == "runpod":
        return runpod_lease_url(cid, port), {}
    if provider == "vast":
        mapped = [p for p in compute.ports if p.internal == port and p.external]
        if not mapped or not compute.public_ip:
            return None, {}
        return f"http://{compute.public_ip}:{mapped[0].external}/lease", {}
    if provider == "fly" and "/" in cid:
        app, machine = cid.split("/", 1)
        return fly_lease_url(app, port), {"fly-force-instance-id": machine}
    return None, {}


async def renew_lease(
    url: str,
    token: str,
    ttl_s: float,
    *,
    attempts: int = 3,
    backoff_s: float = 0.5,
    timeout_s: float = 10.0,
    client: httpx.AsyncClient | None = None,
    headers: dict[str, str] | None = None,
) -> LeaseOutcome:
    """Renew the lease at ``url`` for ``ttl_s`` seconds from the pod's own clock.

    The TTL is relative, so a client clock that is off changes nothing. Network errors and 5xx
    answers are retried ``attempts`` times with doubling backoff; 4xx answers are final.
    """
    import httpx  # deferred: ``import atlas_nb`` stays light

    own = client is None
    http = client or httpx.AsyncClient(timeout=timeout_s)
    detail = ""
    try:
        for attempt in range(1, attempts + 1):
            try:
                resp = await http.post(
                    url,
                    json={"ttl_s": ttl_s},
                    headers={**(headers or {}), "Authorization": f"Bearer {token}"},
                )
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                detail = f"{type(exc).__name__}: {exc}"
            else:
                outcome = _outcome(resp, attempt)
                if outcome is not None:
                    return outcome
                detail = f"HTTP {resp.status_code} {_error_text(resp)}".strip()
            if attempt < attempts:
                await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
        return LeaseOutcome("unreachable", False, attempts=attempts, detail=detail)
    finally:
        if own:
            await http.aclose()


def _error_text(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    return str(body.get("error") or "") if isinstance(body, dict) else ""


def _outcome(resp: httpx.Response, attempt: int) -> LeaseOutcome | None:
    """The outcome of one answer, or None when it is worth retrying (5xx)."""
    if resp.status_code >= 500:
        return None
    try:
        body = resp.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    expires = body.get("lease_expires_in_s")
    expires = float(expires) if isinstance(expires, (int, float)) else None
    text = str(body.get("error") or body.get("reason") or "")
    scale = body.get("time_scale")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
        scale = 1.0
    if resp.status_code == 200:
        return LeaseOutcome("renewed", True, expires, attempt, time_scale=float(scale))
    kinds = {401: "unauthorized", 403: "unauthorized", 409: "ending"}
    status = kinds.get(resp.status_code, "rejected")
    return LeaseOutcome(status, False, expires, attempt, text or f"HTTP {resp.status_code}")
