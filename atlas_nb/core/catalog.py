"""GPU prices: each provider's catalogue (``gpu_types``) and live offers across clouds.

>>> import atlas_nb as atlas
>>> df = atlas.gpu_types(provider="mock")
>>> df[["gpu", "price_per_hr"]].head(2).to_dict("records")
[{'gpu': 'l4', 'price_per_hr': 0.39}, {'gpu': 'rtx_4090', 'price_per_hr': 0.44}]
"""

from __future__ import annotations

import asyncio
import time
import warnings
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._args import names, number, whole
from .._runtime import on_runtime

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
else:
    from .._lazy import pandas as pd

from ..errors import MissingCredentialsError, ValidationError
from ..frames import gpu_types_frame, offers_frame
from ..gpus import (
    GPU_PROVIDERS,
    family_members,
    native_ids,
    normalize_gpu,
    to_canonical,
    variants,
)
from ..models import GpuType
from ..providers.base import OfferQuery, Provider
from ..providers.registry import ProviderLike, Providers, get_provider, provider_list

#: each provider instance's catalogue and when it was read
_GPU_TYPES: weakref.WeakKeyDictionary[Provider, tuple[float, list[GpuType]]] = (
    weakref.WeakKeyDictionary()
)


async def provider_gpu_types(prov: Provider, *, refresh: bool = False) -> list[GpuType]:
    """A provider's catalogue, cached for the ``catalog_ttl_s`` setting."""
    # keyed by the instance (instances are per class, key and settings), weakly: a provider
    # dropped after a config change takes its entry with it, and a new one never inherits it
    cached = _GPU_TYPES.get(prov)
    if cached and not refresh and time.monotonic() - cached[0] < prov.settings.catalog_ttl_s:
        return cached[1]
    types = await prov.gpu_types()
    _GPU_TYPES[prov] = (time.monotonic(), types)
    return types


def _either(provider: Providers | None, providers: Providers | None) -> Providers | None:
    """``provider=`` and ``providers=`` mean the same on both catalogue calls (one name, a
    class or a list); giving both is refused.

    >>> _either("vast", None), _either(None, ["vast", "lambda"]), _either(None, None)
    ('vast', ['vast', 'lambda'], None)
    """
    if provider is not None and providers is not None:
        raise ValidationError(
            f"both provider={provider!r} and providers={providers!r} were given",
            field="providers",
            hint="Pass one of them: providers='vast' or providers=['vast', 'lambda'].",
        )
    return providers if provider is None else provider


def _targets(
    provider: ProviderLike | None, providers: Providers | None, capability: str
) -> list[Any]:
    from .compute import configured_providers

    if provider is not None:
        return [provider]
    if providers is not None:
        return provider_list(providers)
    names = configured_providers()
    if names:
        return names
    from ..providers.registry import provider_names

    return [n for n in provider_names() if n != "mock"]  # all skipped: no credentials


async def _gather(
    targets: list[Any], capability: str, call: Any
) -> tuple[list[Any], dict[str, str], dict[str, str], list[str]]:
    """Ask every target concurrently: (results, {skipped provider: why}, {provider: error},
    providers that answered)."""
    results: list[Any] = []
    answered: list[str] = []
    skipped: dict[str, str] = {}
    errors: dict[str, str] = {}

    async def one(target: Any) -> None:
        label = target if isinstance(target, str) else getattr(target, "name", str(target))
        try:
            prov = get_provider(target)
        except MissingCredentialsError:
            skipped[label] = "no credentials"
            return
        if capability not in prov.capabilities():
            skipped[label] = f"{prov.label()} has no {capability.replace('_', ' ')}"
            return
        try:
            results.extend(await call(prov))
            answered.append(label)
        except Exception as exc:  # one provider failing must not lose the others
            errors[label] = str(exc)

    await asyncio.gather(*(one(t) for t in targets))
    return results, skipped, errors, sorted(answered)


def _annotate(
    df: pd.DataFrame,
    skipped: dict[str, str],
    errors: dict[str, str],
    explicit: Any,
    examined: list[str],
) -> pd.DataFrame:
    """Record which providers answered (``examined``), were skipped or failed in
    ``df.attrs``; warn when a provider you named was skipped (asking for it by name and getting
    nothing silently would be confusing)."""
    df.attrs.update(
        examined=examined, skipped=sorted(skipped), skipped_reasons=dict(skipped), errors=errors
    )
    if explicit is not None:
        for name, why in skipped.items():
            warnings.warn(f"provider {name} was skipped: {why}", UserWarning, stacklevel=4)
    return df


@on_runtime
async def gpu_types(
    provider: ProviderLike | None = None,
    *,
    providers: Providers | None = None,
    refresh: bool = False,
) -> pd.DataFrame:
    """GPU models and list prices (USD per GPU-hour) of one provider, or every configured one.

    Columns: ``frames.GPU_TYPE_COLUMNS``. ``provider=`` and ``providers=`` are the same
    argument (a name, a class or a list). Providers without credentials are listed in
    ``df.attrs["skipped"]``; failures in ``df.attrs["errors"]``.
    """
    asked = _either(provider, providers)
    if isinstance(asked, (str, type, Provider)):  # one provider: its errors are yours
        prov = get_provider(asked)
        df = gpu_types_frame(await provider_gpu_types(prov, refresh=refresh))
        return _annotate(df, {}, {}, None, [prov.name])
    rows, skipped, errors, examined = await _gather(
        _targets(None, asked, "gpu_types"),
        "gpu_types",
        lambda p: provider_gpu_types(p, refresh=refresh),
    )
    return _annotate(gpu_types_frame(rows), skipped, errors, asked, examined)


def _filter_offers(
    rows: list[dict[str, Any]], q: Mapping[str, Any], family: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    gpu = q.get("gpu")
    want = set(family) if family else {to_canonical(gpu) if gpu else None}
    count = q.get("count")
    cap = q.get("max_price_per_hr")
    regions = set(q.get("regions") or ())
    out = []
    seen: set[tuple[Any, Any]] = set()
    for r in rows:
        if gpu and r.get("gpu") not in want and r.get("native_id") != gpu:
            continue
        key = (r.get("provider"), r.get("offer_id"))
        if family and r.get("offer_id") is not None:
            if key in seen:  # one offer found through two variants' queries
                continue
            seen.add(key)
        if count and (r.get("gpu_count") or 1) < count:
            continue
        price = r.get("spot_price_per_hr") if q.get("spot") else r.get("price_per_hr")
        if q.get("spot") and price is None:
            continue
        if cap is not None and (price is None or price > cap):
            continue
        if regions and r.get("region") not in regions:
            continue
        out.append(r)
    return out


@on_runtime
async def offers(
    gpu: str | None = None,
    *,
    count: int = 1,
    max_price_per_hr: float | None = None,
    spot: bool = False,
    providers: Providers | None = None,
    regions: list[str] | str | None = None,
    limit: int | None = None,
    provider: Providers | None = None,
) -> pd.DataFrame:
    """Rentable GPU offers across providers, cheapest first, in one DataFrame.

    Columns: ``frames.OFFER_COLUMNS``. ``spot=True`` prices and filters by the spot price.
    ``providers=`` (a name, a class or a list) may also be spelled ``provider=``.
    Providers without credentials are skipped and listed in ``df.attrs["skipped"]``; a
    provider that fails is listed in ``df.attrs["errors"]`` and the others still answer.
    ``atlas.spawn(df.iloc[0], image=...)`` launches exactly that offer.
    """
    providers = _either(provider, providers)
    count = whole(count, "count") or 1
    max_price_per_hr = number(max_price_per_hr, "max_price_per_hr")
    limit = whole(limit, "limit", minimum=0)
    if gpu is not None:
        gpu = normalize_gpu(gpu)
    family = family_members(gpu) if gpu else ()
    query = OfferQuery(
        gpu=gpu,
        count=count,
        max_price_per_hr=max_price_per_hr,
        spot=spot,
        regions=names(regions, "regions"),
        limit=limit,
    )
    targets = _targets(None, providers, "offers")
    rows, skipped, errors, examined = await _gather(
        targets, "offers", lambda p: _family_offers(p, query, family)
    )
    df = offers_frame(_filter_offers(rows, query, family))
    if spot:
        df = df.sort_values("spot_price_per_hr", kind="stable").reset_index(drop=True)
    if limit is not None:
        df = df.head(limit).reset_index(drop=True)
    df = _annotate(df, skipped, errors, providers, examined)
    if gpu and to_canonical(gpu):
        df.attrs["variants"] = list(family or variants(to_canonical(gpu) or gpu))
    return df


async def _family_offers(prov: Provider, query: OfferQuery, family: tuple[str, ...]) -> list[Any]:
    """A provider's offers for one GPU, or for every variant of a family (asked concurrently,
    so each provider's own GPU filter still applies)."""
    if not family:
        return await prov.offers(query)
    if prov.name in GPU_PROVIDERS:  # ask only for the variants this cloud sells
        family = tuple(g for g in family if native_ids(g, prov.name))
    parts = await asyncio.gather(*(prov.offers(OfferQuery(query, gpu=g)) for g in family))
    return [row for part in parts for row in part]


def plot_offers(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Horizontal bars of the cheapest price per GPU-hour of each GPU, one bar per provider,
    cheapest GPU at the top (GPU names as people write them: "H100 SXM", "RTX 4090")."""
    import matplotlib.pyplot as plt

    from ..gpus import model

    if df.empty:
        raise ValidationError("the offers frame is empty; nothing to plot", field="df")

    def label(name: str) -> str:
        try:
            return model(name).display
        except ValidationError:
            return name  # a provider's own name for a GPU atlas_nb does not catalogue

    per_gpu = df.assign(
        price_per_gpu_hr=(df["price_per_hr"] / df["gpu_count"]).astype(float),
        gpu=df["gpu"].fillna(df.get("native_id", "?")).astype(str).map(label),
    )
    table = per_gpu.pivot_table(
        index="gpu", columns="provider", values="price_per_gpu_hr", aggfunc="min"
    )
    table = table.loc[table.min(axis=1).sort_values(ascending=False).index]
    own_figure = ax is None
    if ax is None:
        rows = len(table) * (0.12 + 0.12 * len(table.columns))
        _fig, ax = plt.subplots(figsize=(8.0, max(3.0, 1.2 + rows)))
    table.plot.barh(ax=ax, width=0.8)
    ax.set_xlabel("USD per GPU-hour (cheapest offer)")
    ax.set_ylabel("")
    ax.set_title("GPU prices across clouds")
    ax.legend(title="provider", loc="upper right")  # the cheap GPUs at the top are short
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    figure = ax.get_figure()
    if own_figure and figure is not None and hasattr(figure, "tight_layout"):
        figure.tight_layout()
    return ax
