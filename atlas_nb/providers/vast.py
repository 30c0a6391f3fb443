"""Vast.ai (``https://console.vast.ai``): a GPU marketplace searched live.

``atlas.spawn(provider="vast", gpu="rtx_4090", image=...)`` rents the cheapest matching offer
(``spot=True``: the cheapest interruptible one, bidding ``provider_opts["bid_price"]`` or the
offer's minimum bid); ``atlas.spawn(row, image=...)`` rents exactly the offer in an
offers-frame row. Sizes come back in GB (Vast sends MB), and Vast's ``actual_status``
(``null``, ``loading``, ``running``, ``exited``, ``unknown``, ``offline``) is normalised.

``env`` and ports travel in Vast's docker-flag form (``-e K=V -p 8000:8000``); atlas_nb also
sets ``ATLAS_PORTS`` (e.g. ``8000/http,22/tcp``) so a later ``get`` knows each port's protocol.
Containers run the image's own entrypoint (``runtype="args"``) unless
``provider_opts={"runtype": "ssh"}``.

``provider_opts`` keys: ``bid_price`` ($/h for the whole offer, spot only), ``runtype``,
``args``, ``onstart``, ``image_login``, ``template_hash_id``, ``min_reliability``,
``verified`` and ``countries`` (for picking the cheapest offer).

Search with a Python filter builder (:func:`~atlas_nb.providers.vast_query.build_query`)::

    from atlas_nb.providers import vast
    df = vast.search_offers(gpu="rtx_4090", num_gpus=2, max_price_per_hr=1.0,
                            min_reliability=0.98, countries=["US", "CA"], limit=20)
    c = atlas.spawn(df.iloc[0], image="vllm/vllm-openai:latest", ports=["8000/http"])
    vast.label(c.id, "my-run")
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from .._runtime import on_runtime, syncify
from ..auth import auth_material
from ..errors import (
    CapacityError,
    NotFoundError,
    ProviderError,
    ValidationError,
)
from ..gpus import canonical as canonical_gpu
from ..gpus import native_ids, to_canonical
from ..models import Compute, ComputeRequest, ComputeStatus, GpuType, Port
from ..transport.http import HttpApi
from ..transport.paths import segment
from ._parse import ident, reading, reads
from .base import OfferQuery, OfferRow, Provider, redact_env
from .created import created_id, read_back, submit_create
from .vast_query import MB_PER_GB, OfferType, build_query, country

OPTS = (
    "bid_price",
    "runtype",
    "args",
    "onstart",
    "image_login",
    "template_hash_id",
    "min_reliability",
    "verified",
    "countries",
)
PORTS_ENV = "ATLAS_PORTS"
DEFAULT_DISK_GB = 16


# -- pure helpers (table-tested) -------------------------------------------------------------


def vast_status(
    actual: str | None, intended: str | None = "running", cur_state: str | None = None
) -> ComputeStatus:
    """Normalise Vast's ``actual_status`` given the ``intended_status``/``cur_state``.

    >>> vast_status(None), vast_status("loading"), vast_status("running")
    (<ComputeStatus.PROVISIONING: 'provisioning'>, <ComputeStatus.STARTING: 'starting'>, \
<ComputeStatus.RUNNING: 'running'>)
    >>> vast_status("exited", "stopped"), vast_status("exited", "running")
    (<ComputeStatus.STOPPED: 'stopped'>, <ComputeStatus.FAILED: 'failed'>)
    >>> vast_status("scheduling", "running", "stopped")  # started; waiting for its GPUs
    <ComputeStatus.PROVISIONING: 'provisioning'>
    """
    waiting = actual == "scheduling" and intended == "running"
    wants_stop = "stopped" in (intended, cur_state) and not waiting
    if wants_stop:
        if actual in ("running", "loading", "stopping"):
            return ComputeStatus.STOPPING
        if actual == "unknown":
            return ComputeStatus.UNKNOWN
        return ComputeStatus.STOPPED
    return {
        None: ComputeStatus.PROVISIONING,
        "created": ComputeStatus.PROVISIONING,
        "scheduling": ComputeStatus.PROVISIONING,
        "loading": ComputeStatus.STARTING,
        "running": ComputeStatus.RUNNING,
        "stopping": ComputeStatus.STOPPING,
        "stopped": ComputeStatus.STARTING,  # intended running: on its way back up
        "exited": ComputeStatus.FAILED,
        "offline": ComputeStatus.FAILED,
        "unknown": ComputeStatus.UNKNOWN,
    }.get(actual, ComputeStatus.UNKNOWN)


def offer_prices(offer: Mapping[str, Any], *, bid: bool) -> tuple[float | None, float | None]:
    """(on-demand $/h, interruptible $/h) of an offer from a search of the given type.

    ``dph_total`` is the price of the searched type (on-demand or the minimum bid) including
    storage; the other type's price swaps the GPU part (``dph_base`` vs ``min_bid``).

    >>> offer_prices({"dph_total": 0.52, "dph_base": 0.5, "min_bid": 0.2}, bid=False)
    (0.52, 0.22)
    >>> offer_prices({"dph_total": 0.22, "dph_base": 0.5, "min_bid": 0.2}, bid=True)
    (0.52, 0.22)
    """
    total = offer.get("dph_total")
    base, min_bid = offer.get("dph_base"), offer.get("min_bid")
    if total is None:
        return None, None
    if bid:
        extra = total - min_bid if min_bid is not None else 0.0
        return (round(base + extra, 6) if base is not None else None), round(total, 6)
    extra = total - base if base is not None else 0.0
    return round(total, 6), (round(min_bid + extra, 6) if min_bid is not None else None)


@functools.lru_cache(maxsize=512)
def _canonical(name: str, vram_gb: float | None) -> str | None:
    return canonical_gpu(name, "vast", vram_gb=vram_gb)


def mb_to_gb(mb: Any) -> float | None:
    """Vast's MB → GB (one decimal). ``mb_to_gb(24564) == 24.0``."""
    return None if mb is None else round(float(mb) / MB_PER_GB, 1)


@functools.lru_cache(maxsize=1024)
def _country(geolocation: str | None) -> str | None:
    return country(geolocation)


def offer_row(offer: Mapping[str, Any], *, bid: bool, now: datetime) -> OfferRow:
    """A Vast offer as an offers-frame row (prices for the whole offer per hour)."""
    return offer_rows([offer], bid=bid, now=now)[0]


def offer_rows(offers: Iterable[Mapping[str, Any]], *, bid: bool, now: datetime) -> list[OfferRow]:
    """:func:`offer_row` for many offers (a tight loop: 10k offers are common)."""
    canonical, where, prices = _canonical, _country, offer_prices
    rows = []
    for o in offers:
        price, spot = prices(o, bid=bid)
        ram, cpu_ram, name = o.get("gpu_ram"), o.get("cpu_ram"), o.get("gpu_name") or ""
        vram = None if ram is None else round(ram / MB_PER_GB, 1)
        rows.append(
            {
                "provider": "vast",
                "gpu": canonical(name, vram),
                "native_id": name,
                "gpu_count": o.get("num_gpus"),
                "vram_gb": vram,
                "vcpus": o.get("cpu_cores_effective"),
                "ram_gb": None if cpu_ram is None else round(cpu_ram / MB_PER_GB, 1),
                "price_per_hr": price,
                "spot_price_per_hr": spot,
                "region": where(o.get("geolocation")),
                "availability": "high",
                "offer_id": str(o["id"]),
                "fetched_at": now,
            }
        )
    return rows


def env_flags(env: Mapping[str, str], ports: Iterable[tuple[int, str]]) -> str:
    """Env and ports in Vast's docker-flag form.

    >>> env_flags({"A": "1", "B": "two words"}, [(8000, "http")])
    '-e A=1 -e "B=two words" -e ATLAS_PORTS=8000/http -p 8000:8000'
    """
    ports = list(ports)
    items = dict(env)
    if ports:
        items[PORTS_ENV] = ",".join(f"{p}/{proto}" for p, proto in ports)
    parts = []
    for k, v in items.items():
        if any(c in v for c in '"\\\n\r'):
            raise ValidationError(
                f"env {k} holds a quote, backslash or line break, which Vast's docker-flag "
                "env cannot carry",
                field="env",
                hint="Encode the value (e.g. base64) and decode it in the container.",
            )
        needs_quotes = any(c.isspace() for c in v) or "'" in v or not v
        parts.append(f'-e "{k}={v}"' if needs_quotes else f"-e {k}={v}")
    parts += [f"-p {p}:{p}" for p, _ in ports]
    return " ".join(parts)


def _env_pairs(data: Mapping[str, Any]) -> dict[str, str]:
    env = data.get("extra_env") or []
    if isinstance(env, Mapping):
        return {str(k): str(v) for k, v in env.items()}
    out = {}
    for pair in env:
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            out[str(pair[0])] = str(pair[1])
    return out


def instance_ports(data: Mapping[str, Any]) -> list[Port]:
    """Requested ports (from ``ATLAS_PORTS``) with their public mapping once running."""
    wanted: dict[int, str] = {}
    for item in _env_pairs(data).get(PORTS_ENV, "").split(","):
        num, _, proto = item.partition("/")
        if num.isdigit():
            wanted[int(num)] = "tcp" if proto == "tcp" else "http"
    mapped = data.get("ports") or {}
    ip = data.get("public_ipaddr")
    out = []
    for port, proto in wanted.items():
        external = None
        for key in (f"{port}/tcp", f"{port}/udp", str(port)):
            bindings = mapped.get(key) if isinstance(mapped, Mapping) else None
            if bindings:
                with contextlib.suppress(TypeError, ValueError, KeyError, IndexError):
                    external = int(bindings[0]["HostPort"])
                break
        url = None
        if external is not None and ip:
            url = f"http://{ip}:{external}" if proto == "http" else f"tcp://{ip}:{external}"
        out.append(Port(internal=port, external=external, protocol=proto, url=url))
    return out


def instance_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`Compute` fields of a Vast instance payload (no I/O)."""
    status = vast_status(
        data.get("actual_status"), data.get("intended_status"), data.get("cur_state")
    )
    vram = mb_to_gb(data.get("gpu_ram"))
    name = data.get("gpu_name")
    total, base = data.get("dph_total"), data.get("dph_base")
    if status in (ComputeStatus.STOPPED, ComputeStatus.STOPPING) and total is not None:
        cost = round(max(0.0, total - (base or 0.0)), 6)  # storage keeps billing
    else:
        cost = total
    raw = dict(data)
    env = _env_pairs(data)
    if env:
        raw["extra_env"] = [[k, v] for k, v in redact_env(env).items()]
    created = data.get("start_date")
    return {
        "id": ident(data, provider="vast", what="an instance"),
        "name": data.get("label"),
        "status": status,
        "provider_status": data.get("actual_status"),
        "gpu": (_canonical(name, vram) or name) if name else None,
        "gpu_count": int(data.get("num_gpus") or 0),
        "image": data.get("image_uuid"),
        "region": country(data.get("geolocation")),
        "cost_per_hr": cost,
        "ports": instance_ports(data),
        "public_ip": data.get("public_ipaddr"),
        "ssh_host": data.get("ssh_host"),
        "ssh_port": _port_number(data.get("ssh_port")),
        "status_message": (str(data["status_msg"]).strip() or None)
        if data.get("status_msg")
        else None,
        "created_at": datetime.fromtimestamp(float(created), UTC) if created else None,
        "raw": raw,
    }


def _port_number(value: Any) -> int | None:
    with contextlib.suppress(TypeError, ValueError):
        port = int(value)
        return port if 0 < port < 65536 else None
    return None


def refused(body: Any) -> str | None:
    """Vast's reason when a 200 answer says ``"success": false`` (None when it succeeded).

    The vast CLI checks ``success`` after every 200: a refused start, stop, label or destroy
    comes back as ``{"success": false, "msg": "..."}`` with HTTP 200.

    >>> refused({"success": True}), refused({"success": False, "msg": "machine offline"})
    (None, 'machine offline')
    """
    if isinstance(body, Mapping) and body.get("success") is False:
        text = body.get("msg") or body.get("error") or "Vast did not say why"
        return str(text)
    return None


def gpu_types_from_offers(offers: Iterable[Mapping[str, Any]], now: datetime) -> list[GpuType]:
    """Offers → one GpuType per GPU (cheapest per-GPU prices; availability by offer count)."""
    groups: dict[tuple[str, str | None], list[Mapping[str, Any]]] = {}
    for o in offers:
        vram = mb_to_gb(o.get("gpu_ram"))
        name = o.get("gpu_name") or ""
        groups.setdefault((name, _canonical(name, vram)), []).append(o)
    out = []
    for (name, gpu), items in groups.items():
        per_gpu = []
        spot_per_gpu = []
        for o in items:
            price, spot = offer_prices(o, bid=False)
            n = o.get("num_gpus") or 1
            if price is not None:
                per_gpu.append(price / n)
            if spot is not None:
                spot_per_gpu.append(spot / n)
        n_offers = len(items)
        first = items[0]
        out.append(
            GpuType(
                provider="vast",
                gpu=gpu,
                native_id=name,
                display_name=name,
                vram_gb=mb_to_gb(first.get("gpu_ram")),
                max_count=max(int(o.get("num_gpus") or 1) for o in items),
                price_per_hr=round(min(per_gpu), 4) if per_gpu else None,
                spot_price_per_hr=round(min(spot_per_gpu), 4) if spot_per_gpu else None,
                community_price_per_hr=round(min(per_gpu), 4) if per_gpu else None,
                availability="high" if n_offers >= 20 else "medium" if n_offers >= 5 else "low",
                regions=sorted({c for o in items if (c := country(o.get("geolocation")))}),
                fetched_at=now,
                raw={"offers": n_offers},
            )
        )
    return out


# -- the provider ------------------------------------------------------------------------------


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
        if status is None:
            found = [c for c in found if c.status != ComputeStatus.TERMINATED]
        else:
            found = [c for c in found if c.status == status]
        if name is not None:
            found = [c for c in found if c.name == name]
        return found

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
        body: dict[str, Any] = {
            "image": request.image or "",
            "disk": float(disk),
            "runtype": opts.get("runtype", "args"),
            "target_state": "running",
        }
        if not request.image:
            body.pop("image")
        if request.name:
            body["label"] = request.name
        flags = env_flags({**request.env, **env}, [(p.port, p.protocol) for p in request.ports])
        if flags:
            body["env"] = flags
        for key in ("args", "onstart", "image_login", "template_hash_id"):
            if opts.get(key) is not None:
                body[key] = opts[key]
        if request.spot:
            bid = opts.get("bid_price")
            body["price"] = float(bid if bid is not None else offer.get("min_bid") or 0.0)
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
        kind: OfferType = "bid" if request.spot else "on-demand"
        if request.offer_id:
            try:
                offer_id = int(request.offer_id)
            except ValueError:
                raise ValidationError(
                    f"offer_id={request.offer_id!r} is not a Vast offer id (a number)",
                    field="offer_id",
                ) from None
            q = build_query(offer_ids=offer_id, verified=None, type=kind, disk_gb=disk)
            found = await self.search(q)
            if not found:
                raise CapacityError(
                    f"Vast offer {offer_id} is no longer available",
                    provider=self.name,
                    hint="Take a fresh row from atlas.offers(providers='vast').",
                )
            return found[0]
        if not request.gpu:
            raise ValidationError(
                "Vast rents GPU machines; give gpu= (or a row of atlas.offers())",
                field="gpu",
            )
        bad = [r for r in request.regions if not (len(r) == 2 and r.isalpha())]
        if bad:
            raise ValidationError(
                f"regions={request.regions!r}: Vast places offers by country",
                field="regions",
                hint="Use two-letter country codes such as ['US', 'CA'].",
            )
        countries = opts.get("countries") or request.regions or None
        q = build_query(
            gpu=request.gpu,
            num_gpus=request.gpu_count,
            countries=countries,
            min_reliability=opts.get("min_reliability"),
            verified=opts.get("verified", True),
            type=kind,
            order_by="price",
            limit=1,
            disk_gb=disk,
            extra={"datacenter": {"eq": True}} if request.cloud == "secure" else None,
        )
        found = await self.search(q)
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


# -- module functions ------------------------------------------------------------------------


def _provider(api_key: str | None) -> VastProvider:
    from .registry import get_provider

    prov = get_provider("vast", api_key=api_key)
    assert isinstance(prov, VastProvider)
    return prov


@on_runtime
async def search_offers_async(
    *,
    gpu: str | Iterable[str] | None = None,
    num_gpus: int | Iterable[int] | None = None,
    min_vram_gb: float | None = None,
    max_price_per_hr: float | None = None,
    min_reliability: float | None = None,
    countries: str | Iterable[str] | None = None,
    verified: bool | None = True,
    type: OfferType = "on-demand",
    order_by: str | Iterable[str] = "price",
    limit: int | None = 100,
    disk_gb: float | None = None,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    raw: bool = False,
    api_key: str | None = None,
) -> Any:
    """Search Vast offers with Python filters; an offers frame (``raw=True``: Vast's dicts).

    Rows keep Vast's order (``order_by``); ``atlas.spawn(df.iloc[i], image=...)`` rents one.
    """
    q = build_query(
        gpu=gpu,
        num_gpus=num_gpus,
        min_vram_gb=min_vram_gb,
        max_price_per_hr=max_price_per_hr,
        min_reliability=min_reliability,
        countries=countries,
        verified=verified,
        type=type,
        order_by=order_by,
        limit=limit,
        disk_gb=disk_gb,
        extra=extra,
    )
    offers = await _provider(api_key).search(q)
    if raw:
        return offers
    from ..frames import OFFER_COLUMNS, frame

    now = datetime.now(UTC)
    with reading("vast", "the offer search", offers):
        df = frame(offer_rows(offers, bid=type == "bid", now=now), OFFER_COLUMNS)
        df["price_per_gpu_hr"] = (df["price_per_hr"] / df["gpu_count"]).astype("Float64")
    return df


@on_runtime
async def label_async(compute_id: str, text: str, *, api_key: str | None = None) -> Compute:
    """Set a Vast instance's label."""
    return await _provider(api_key).set_label(compute_id, text)


search_offers = syncify(search_offers_async)
label = syncify(label_async)


__all__ = [
    "VastProvider",
    "build_query",
    "label",
    "label_async",
    "search_offers",
    "search_offers_async",
]
