"""The slice of Fly's GraphQL API (``https://api.fly.io/graphql``) that manages app IPs.

The Machines API allocates no public address: an app's ``<app>.fly.dev`` name resolves only
once the app has IPs, and those are allocated through GraphQL (``fly ips allocate-v4 --shared``
and ``fly ips allocate-v6`` run ``allocateIpAddress``). Served here:

* ``query { app(name: ...) { sharedIpAddress ipAddresses { nodes { id address type region
  createdAt } } } }``
* ``mutation { allocateIpAddress(input: {appId, type, region?}) { ipAddress { ... } app {
  sharedIpAddress } } }`` with ``type`` ``shared_v4`` (the app's shared Anycast IPv4, shown as
  ``sharedIpAddress``; ``ipAddress`` is null), ``v6`` (a dedicated Anycast IPv6) or ``v4``
  (dedicated IPv4: refused, it is billed and the sandbox's organisation has no quota).

Like Fly, client errors come back as HTTP 200 with an ``errors`` list.

    >>> from atlas_nb.sandbox._state import SandboxState
    >>> from atlas_nb.sandbox.fly.world import fly_world
    >>> state = SandboxState()
    >>> q = '{ app(name: "atlas-demo-web") { sharedIpAddress ipAddresses { nodes { type } } } }'
    >>> execute(state, {"query": q})
    {'data': {'app': {'sharedIpAddress': None, 'ipAddresses': {'nodes': []}}}}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .._state import SandboxState
from ..runpod.graphql import Field, GraphQLError, _resolve_literal, parse
from .world import FlyApp, fly_world

IP_TYPES = ("shared_v4", "v6", "v4", "private_v6")


def execute(state: SandboxState, body: Any) -> dict[str, Any]:
    """Run one GraphQL request body; ``{"data": ...}`` and/or ``{"errors": [...]}``."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return {"errors": [{"message": "a JSON body with a query string is required"}]}
    variables = body.get("variables") or {}
    try:
        op = parse(body["query"])
        data = {f.key: _root(state, op.kind, f, variables) for f in op.selections}
    except GraphQLError as exc:
        return {"errors": [{"message": str(exc), "extensions": {"code": "BAD_USER_INPUT"}}]}
    return {"data": data}


def _args(f: Field, variables: dict[str, Any]) -> dict[str, Any]:
    return {k: _resolve_literal(v, variables, set()) for k, v in f.args.items()}


def _app(state: SandboxState, name: Any) -> FlyApp:
    app = fly_world(state).apps.get(str(name))
    if app is None:
        raise GraphQLError(f"Could not find App {name!r}")
    return app


def _root(state: SandboxState, kind: str, f: Field, variables: dict[str, Any]) -> Any:
    args = _args(f, variables)
    if kind == "query" and f.name == "app":
        return _select(_app_json(_app(state, args.get("name"))), f.selections)
    if kind == "mutation" and f.name == "allocateIpAddress":
        inp = args.get("input") or {}
        app = _app(state, inp.get("appId"))
        ip = _allocate(state, app, inp.get("type"), inp.get("region"))
        payload = {"ipAddress": ip, "app": _app_json(app), "clientMutationId": None}
        return _select(payload, f.selections)
    raise GraphQLError(f"Field '{f.name}' doesn't exist on type '{kind.title()}'")


def _allocate(state: SandboxState, app: FlyApp, kind: Any, region: Any) -> dict[str, Any] | None:
    if kind not in IP_TYPES:
        raise GraphQLError(f"type must be one of {', '.join(IP_TYPES)}")
    ips: list[dict[str, Any]] = app.extra.setdefault("ips", [])
    if kind == "v4":
        raise GraphQLError("Dedicated IPv4 addresses are billed; your organisation has no quota")
    if kind == "shared_v4":
        app.extra.setdefault("shared_ip", f"66.241.{len(fly_world(state).apps)}.{len(ips) + 10}")
        return None
    n = state.rng.randint(1, 0xFFFF)
    ip = {
        "id": "ip_" + state.id("", 12),
        "address": f"2a09:8280:1::{n:x}:{len(ips) + 1:x}",
        "type": kind,
        "region": region or "global",
        "createdAt": datetime.fromtimestamp(state.clock.now(), UTC).isoformat(),
    }
    ips.append(ip)
    return ip


def _app_json(app: FlyApp) -> dict[str, Any]:
    return {
        "id": app.name,
        "name": app.name,
        "sharedIpAddress": app.extra.get("shared_ip"),
        "ipAddresses": {"nodes": list(app.extra.get("ips", []))},
    }


def _select(value: Any, selections: list[Field] | None) -> Any:
    if selections is None or value is None:
        return value
    if isinstance(value, list):
        return [_select(v, selections) for v in value]
    out = {}
    for f in selections:
        if f.name == "__typename":
            continue
        if f.name not in value:
            raise GraphQLError(f"Field '{f.name}' is not available in the atlas_nb sandbox")
        out[f.key] = _select(value[f.name], f.selections)
    return out
