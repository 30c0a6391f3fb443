"""RunPod account resources over REST v2: serverless endpoints, templates, network volumes and
container-registry credentials. Each is a :class:`Resource` with list / get / create / update /
delete; lists come back as DataFrames with a stable schema.

    >>> ENDPOINTS.row({"id": "e1", "name": "echo", "type": "QUEUE", "image": "img",
    ...                "workers": {"min": 0, "max": 3}, "gpu": {"pools": ["ADA_24"], "count": 1},
    ...                "timeout": 300000, "createdAt": "2026-01-01T00:00:00Z"})["gpu_pools"]
    'ADA_24'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...errors import UnsupportedError, ValidationError
from ...frames import UTC_TS, frame
from ...transport.http import HttpApi
from ...transport.paths import segment
from .translate import PROVIDER

if TYPE_CHECKING:
    import pandas as pd
else:
    from ..._lazy import pandas as pd


@dataclass(frozen=True)
class Resource:
    """One v2 resource collection (path, list wrapper key, frame schema)."""

    name: str
    path: str
    list_key: str
    schema: dict[str, str]
    row: Callable[[Mapping[str, Any]], dict[str, Any]]
    updatable: bool = True
    create_defaults: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def item(self, resource_id: str) -> str:
        return f"{self.path}/{segment(resource_id, 'runpod_resource', field='id')}"

    async def list(self, rest: HttpApi) -> pd.DataFrame:
        body = await rest.json("GET", self.path)
        items = body.get(self.list_key) if isinstance(body, Mapping) else None
        raw = [dict(i) for i in items or [] if isinstance(i, Mapping)]
        df = frame([self.row(i) for i in raw], self.schema)
        df.attrs["raw"] = raw
        return df

    async def get(self, rest: HttpApi, resource_id: str) -> dict[str, Any]:
        return dict(await rest.json("GET", self.item(resource_id)))

    async def create(self, rest: HttpApi, body: Mapping[str, Any]) -> dict[str, Any]:
        data = dict(body)
        if self.create_defaults is not None:
            data = self.create_defaults(data)
        return dict(
            await rest.json(
                "POST", self.path, json=data, idempotent=False, what=f"create {self.name}"
            )
        )

    async def update(
        self, rest: HttpApi, resource_id: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        if not self.updatable:
            raise UnsupportedError(
                f"RunPod cannot update a {self.name}",
                provider=PROVIDER,
                hint=f"Delete it and create a new {self.name} instead.",
            )
        if not body:
            raise ValidationError("nothing to update", field="fields", provider=PROVIDER)
        return dict(
            await rest.json("PATCH", self.item(resource_id), json=dict(body), idempotent=True)
        )

    async def delete(self, rest: HttpApi, resource_id: str) -> None:
        await rest.request("DELETE", self.item(resource_id))


def _endpoint_row(e: Mapping[str, Any]) -> dict[str, Any]:
    gpu = e.get("gpu") or {}
    workers = e.get("workers") or {}
    return {
        "id": e.get("id"),
        "name": e.get("name"),
        "type": e.get("type"),
        "image": e.get("image"),
        "gpu_pools": ",".join(gpu.get("pools") or []) or None,
        "gpu_count": gpu.get("count"),
        "cpu": ",".join(c.get("id", "") for c in e.get("cpu") or []) or None,
        "workers_min": workers.get("min"),
        "workers_max": workers.get("max"),
        "idle_timeout_s": workers.get("idleTimeout"),
        "timeout_ms": e.get("timeout"),
        "flashboot": e.get("flashboot"),
        "created_at": e.get("createdAt"),
    }


def _endpoint_defaults(body: dict[str, Any]) -> dict[str, Any]:
    """A queue endpoint scaling on queue delay unless told otherwise (both are required)."""
    body.setdefault("type", "QUEUE")
    if "scaling" not in body:
        body["scaling"] = (
            {"type": "REQUEST_COUNT", "requestCount": 4}
            if body["type"] == "LOAD_BALANCER"
            else {"type": "QUEUE_DELAY", "queueDelay": 4}
        )
    return body


ENDPOINTS = Resource(
    "serverless endpoint",
    "/v2/serverless",
    "endpoints",
    {
        "id": "string",
        "name": "string",
        "type": "string",
        "image": "string",
        "gpu_pools": "string",
        "gpu_count": "Int64",
        "cpu": "string",
        "workers_min": "Int64",
        "workers_max": "Int64",
        "idle_timeout_s": "Int64",
        "timeout_ms": "Int64",
        "flashboot": "string",
        "created_at": UTC_TS,
    },
    _endpoint_row,
    create_defaults=_endpoint_defaults,
)

TEMPLATES = Resource(
    "template",
    "/v2/templates",
    "templates",
    {
        "id": "string",
        "name": "string",
        "image": "string",
        "serverless": "boolean",
        "public": "boolean",
        "category": "string",
        "disk_gb": "Int64",
        "ports": "string",
    },
    lambda t: {
        "id": t.get("id"),
        "name": t.get("name"),
        "image": t.get("image"),
        "serverless": t.get("serverless"),
        "public": t.get("public"),
        "category": t.get("category"),
        "disk_gb": t.get("disk"),
        "ports": ",".join(t.get("ports") or []) or None,
    },
)

NETWORK_VOLUMES = Resource(
    "network volume",
    "/v2/network-volumes",
    "networkVolumes",
    {
        "id": "string",
        "name": "string",
        "size_gb": "Int64",
        "data_center": "string",
        "type": "string",
    },
    lambda v: {
        "id": v.get("id"),
        "name": v.get("name"),
        "size_gb": v.get("size"),
        "data_center": v.get("dataCenter"),
        "type": v.get("type"),
    },
)

REGISTRIES = Resource(
    "registry credential",
    "/v2/registries",
    "registries",
    {"id": "string", "name": "string"},
    lambda r: {"id": r.get("id"), "name": r.get("name")},
    updatable=False,
)

RESOURCES = {
    "endpoints": ENDPOINTS,
    "templates": TEMPLATES,
    "network_volumes": NETWORK_VOLUMES,
    "registries": REGISTRIES,
}
