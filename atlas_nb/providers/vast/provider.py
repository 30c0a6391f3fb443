"""``VastProvider``: Vast.ai marketplace instances (``https://console.vast.ai``), on-demand or
interruptible (bid), rented from offers searched live.

    >>> import atlas_nb as atlas
    >>> sorted(atlas.capabilities("vast"))
    ['gpu_types', 'offers', 'pod_guard', 'raw_tcp', 'spot', 'stop_start']
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from ...auth import auth_material
from ...errors import CapacityError, NotFoundError, ProviderError, ValidationError
from ...gpus import native_ids, to_canonical
from ...models import Compute, ComputeRequest, ComputeStatus, GpuType
from ...transport.http import HttpApi
from ...transport.paths import segment
from .._parse import reading, reads
from ..base import OfferQuery, OfferRow, Provider, select_computes
from ..created import created_id, read_back, submit_create
from .catalog import gpu_types_from_offers, offer_rows
from .query import build_query
from .rent import DEFAULT_DISK_GB, OPTS, cheapest_offer_query, offer_id_query, rent_body
from .translate import instance_fields, refused


class VastProvider(Provider):
    """Vast.ai marketplace instances: on-demand or interruptible (bid)."""

    name = "vast"
    display_name = "Vast.ai"
    CAPABILITIES = frozenset({"spot", "raw_tcp", "stop_start", "gpu_types", "offers", "pod_guard"})
    UNSUPPORTED_HINTS: ClassVar[Mapping[str, str]] = {
        "restart": "Stop and start it (atlas.stop / atlas.start).",
        "logs": "Vast has no streaming log API; read logs over SSH or in the Vast console.",
    }

    #: offers fetched when a search has no limit (the offers frame is built from these)
    max_offers: ClassVar[int] = 10_000

    @functools.cached_property
    def api(self) -> HttpApi:
        return self.http_api("rest", "vast", auth_headers=self.bearer_headers)

    # -- search --------------------------------------------------------------------------------
    @reads("the offer search")
    async def search(self, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Raw offers for a Vast query body (see :func:`build_query`)."""
        body = await self.api.json("POST", "/api/v0/bundles/", json=dict(query), idempotent=True)
        offers = body.get("offers") if isinstance(body, Mapping) else None
        if not isinstance(offers, list):
            raise ProviderError(
                "Vast answered the offer search without an 'offers' list",
                provider=self.name,
                raw=body,
            )
        return offers

    @reads("the offer search", models=True)
    async def gpu_types(self) -> list[GpuType]:
        offers = await self.search(build_query(order_by="price", limit=self.max_offers))
        return gpu_types_from_offers(offers, datetime.now(UTC))

    @reads("the offer search")
    async def offers(self, query: OfferQuery) -> list[OfferRow]:
        gpu = query.get("gpu")
        if gpu and (c := to_canonical(gpu)) and not native_ids(c, "vast"):
            return []  # Vast does not list this GPU
        regions = list(query.get("regions") or ())
        countries = [r for r in regions if len(r) == 2 and r.isalpha()]
        if regions and not countries:
            return []  # Vast places offers by country code; none was asked for
        spot = bool(query.get("spot"))
        q = build_query(
            gpu=gpu or None,
            min_gpus=int(query.get("count") or 1),
            max_price_per_hr=query.get("max_price_per_hr"),
            countries=countries or None,
            type="bid" if spot else "on-demand",
            order_by="price",
            limit=int(query.get("limit") or self.max_offers),
        )
        now = datetime.now(UTC)
        return offer_rows(await self.search(q), bid=spot, now=now)

    # -- computes ----------------------------------------------------------------------------
    def _compute(self, data: Mapping[str, Any]) -> Compute:
        with reading(self.name, "an instance", data):
            return Compute(provider=self.name, **instance_fields(data)).bind(self)

    def _iid(self, compute_id: str) -> str:
        return segment(compute_id, "vast")

    @reads("an instance")
    async def get(self, compute_id: str) -> Compute:
        iid = self._iid(compute_id)
        body = await self.api.json("GET", f"/api/v0/instances/{iid}/", params={"owner": "me"})
        if not isinstance(body, Mapping) or "instances" not in body:
            raise ProviderError(
                f"Vast answered GET instance {iid} with an unexpected body",
                provider=self.name,
                raw=body,
                hint="Retry; if it persists, check https://status.vast.ai.",
            )
        data = body["instances"]
        if not isinstance(data, Mapping):  # null: not (or no longer) yours
            raise NotFoundError(f"no Vast instance {iid}", provider=self.name, raw=body)
        return self._compute(data)

    @reads("the instance list")
    async def list_computes(
        self, *, status: ComputeStatus | None = None, name: str | None = None
    ) -> list[Compute]:
        filters = {"label": {"eq": name}} if name is not None else {}
        params: dict[str, Any] = {
            "limit": 25,
            "order_by": json.dumps([{"col": "id", "dir": "asc"}]),
            "select_filters": json.dumps(filters),
        }
        found: list[Compute] = []
        seen: set[str] = set()
        while True:
            body = await self.api.json("GET", "/api/v1/instances/", params=params)
            if not isinstance(body, Mapping):
                raise ProviderError(
                    "Vast answered the instance list with an unexpected body",
                    provider=self.name,
                    raw=body,
                )
            for data in body.get("instances") or []:
                c = self._compute(data)
                if c.id not in seen:
                    seen.add(c.id)
                    found.append(c)
            token = body.get("next_token")
            if not token or token == params.get("after_token"):
                break
            params["after_token"] = token
        return select_computes(found, status=status, name=name)

    @reads("an instance change")
    async def _manage(self, compute_id: str, body: dict[str, Any]) -> None:
        iid = self._iid(compute_id)
        answer = await self.api.json("PUT", f"/api/v0/instances/{iid}/", json=body)
        what = f"set the state of instance {iid} to {body['state']}" if "state" in body else ""
        self._raise_if_refused(answer, what or f"label instance {iid}")

    def _raise_if_refused(self, body: Any, what: str) -> None:
        reason = refused(body)
        if reason is not None:
            raise ProviderError(
                f"Vast refused to {what}: {reason}",
                provider=self.name,
                status=200,
                raw=body,
                hint="Nothing was changed. Check the instance with atlas.compute(id, "
                "provider='vast') (status_message says why), then retry.",
            )

    async def start(self, compute_id: str) -> Compute:
        await self._manage(compute_id, {"state": "running"})
        return await self.get(compute_id)

    async def stop(self, compute_id: str) -> Compute:
        await self._manage(compute_id, {"state": "stopped"})
        return await self.get(compute_id)

    async def set_label(self, compute_id: str, text: str) -> Compute:
        """Set the instance's label (shown as the compute's name)."""
        await self._manage(compute_id, {"label": text})
        return await self.get(compute_id)

    @reads("an instance delete")
    async def terminate(self, compute_id: str) -> None:
        iid = self._iid(compute_id)
        body = await self.api.json("DELETE", f"/api/v0/instances/{iid}/")
        self._raise_if_refused(body, f"destroy instance {iid}")

    async def spawn(self, request: ComputeRequest) -> Compute:
        opts = dict(request.provider_opts)
        self.check_opts(opts, OPTS)
        if opts.get("bid_price") is not None and not request.spot:
            raise ValidationError(
                "provider_opts bid_price only applies to interruptible instances",
                field="provider_opts",
                hint="Pass spot=True with it, or leave bid_price out.",
            )
        self.refuse_volume(
            request.volume_gb, "Vast instances keep their data on their disk: ask for disk_gb=."
        )
        if not request.image and not opts.get("template_hash_id"):
            raise ValidationError(
                "Vast needs a container image",
                field="image",
                hint="Pass image= (or provider_opts={'template_hash_id': ...}).",
            )
        disk = request.disk_gb or DEFAULT_DISK_GB
        offer = await self._pick_offer(request, opts, disk)
        env, handle = auth_material(request.auth)
        body = rent_body(request, opts, offer, disk, {**request.env, **env})
        try:
            ask = segment(offer["id"], "vast", field="offer_id")
            created = await submit_create(
                self.name,
                request.name,
                self.api.json(
                    "PUT", f"/api/v0/asks/{ask}/", json=body, idempotent=False, what="spawn"
                ),
                auth=handle,
            )
        except NotFoundError as exc:
            raise CapacityError(
                f"Vast offer {offer['id']} was taken before it could be rented",
                provider=self.name,
                status=exc.status,
                code=exc.code,
                raw=exc.raw,
                hint="Spawn again (atlas_nb picks the next cheapest), or take another row of "
                "atlas.offers(providers='vast').",
            ) from None
        iid = created.get("new_contract") if isinstance(created, Mapping) else None
        reason = refused(created)
        if reason is not None and iid is None:
            raise ProviderError(
                f"Vast refused to rent offer {offer['id']}: {reason}",
                provider=self.name,
                status=200,
                code="success_false",
                raw=created,
                hint="Spawn again, or take another row of atlas.offers(providers='vast').",
            )
        iid = created_id(
            created, "new_contract", provider=self.name, name=request.name, auth=handle
        )
        compute = await read_back(self.name, iid, request.name, self.get, auth=handle)
        return compute.model_copy(update={"auth": handle}) if handle else compute

    async def _pick_offer(
        self, request: ComputeRequest, opts: Mapping[str, Any], disk: int
    ) -> dict[str, Any]:
        if request.offer_id:
            offer_id, query = offer_id_query(request, disk)
            found = await self.search(query)
            if not found:
                raise CapacityError(
                    f"Vast offer {offer_id} is no longer available",
                    provider=self.name,
                    hint="Take a fresh row from atlas.offers(providers='vast').",
                )
            return found[0]
        query, countries = cheapest_offer_query(request, opts, disk)
        found = await self.search(query)
        if not found:
            where = f" in {', '.join(countries)}" if countries else ""
            raise CapacityError(
                f"no {'interruptible ' if request.spot else ''}Vast offer has "
                f"{request.gpu_count} x {request.gpu}{where} right now",
                provider=self.name,
                hint="Try another GPU count, country or provider "
                "(atlas.offers(gpu=...) shows what is free).",
            )
        return found[0]
