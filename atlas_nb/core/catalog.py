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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._runtime import on_runtime

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
else:
    from .._lazy import pandas as pd

from ..errors import MissingCredentialsError, ValidationError
from ..frames import gpu_types_frame, offers_frame
from ..gpus import to_canonical
from ..models import GpuType
from ..providers.base import OfferQuery, Provider
from ..providers.registry import ProviderLike, get_provider


async def provider_gpu_types(prov: Provider, *, refresh: bool = False) -> list[GpuType]:
    """A provider's catalogue, cached for the ``catalog_ttl_s`` setting."""
    # cached on the instance itself: instances are per (class, key, settings), and an id()
    # could be reused by a new provider after a config change
    cached: tuple[float, list[GpuType]] | None = getattr(prov, "_gpu_types_cache", None)
    if cached and not refresh and time.monotonic() - cached[0] < prov.settings.catalog_ttl_s:
        return cached[1]
    types = await prov.gpu_types()
    prov._gpu_types_cache = (time.monotonic(), types)  # type: ignore[attr-defined]
    return types


def _targets(provider: ProviderLike | None, providers: Any, capability: str) -> list[Any]:
    from .compute import configured_providers

    if provider is not None:
        return [provider]
    if providers is not None:
        return [providers] if isinstance(providers, (str, type)) else list(providers)
    names = configured_providers()
    if names:
        return names
    from ..providers.registry import provider_names

    return [n for n in provider_names() if n != "mock"]  # all skipped: no credentials


async def _gather(
    targets: list[Any], capability: str, call: Any
) -> tuple[list[Any], dict[str, str], dict[str, str]]:
    """Ask every target concurrently: (results, {skipped provider: why}, {provider: error})."""
    results: list[Any] = []
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
        except Exception as exc:  # one provider failing must not lose the others
            errors[label] = str(exc)

    await asyncio.gather(*(one(t) for t in targets))
    return results, skipped, errors


def _annotate(
    df: pd.DataFrame, skipped: dict[str, str], errors: dict[str, str], explicit: Any
) -> pd.DataFrame:
    """Record skipped/failed providers in ``df.attrs``; warn when a provider you named was
    skipped (asking for it by name and getting nothing silently would be confusing)."""
    df.attrs.update(skipped=sorted(skipped), skipped_reasons=dict(skipped), errors=errors)
    if explicit is not None:
        for name, why in skipped.items():
            warnings.warn(f"provider {name} was skipped: {why}", UserWarning, stacklevel=4)
    return df


@on_runtime
async def gpu_types(
    provider: ProviderLike | None = None, *, providers: Any = None, refresh: bool = False
) -> pd.DataFrame:
    """GPU models and list prices (USD per GPU-hour) of one provider, or every configured one.

    Columns: ``frames.GPU_TYPE_COLUMNS``. Providers without credentials are listed in
    ``df.attrs["skipped"]``; failures in ``df.attrs["errors"]``.
    """
    if provider is not None:
        prov = get_provider(provider)
        df = gpu_types_frame(await provider_gpu_types(prov, refresh=refresh))
        return _annotate(df, {}, {}, None)
    rows, skipped, errors = await _gather(
        _targets(None, providers, "gpu_types"),
        "gpu_types",
        lambda p: provider_gpu_types(p, refresh=refresh),
    )
    return _annotate(gpu_types_frame(rows), skipped, errors, providers)


def _filter_offers(rows: list[dict[str, Any]], q: Mapping[str, Any]) -> list[dict[str, Any]]:
    gpu = q.get("gpu")
    want = to_canonical(gpu) if gpu else None
    count = q.get("count")
    cap = q.get("max_price_per_hr")
    regions = set(q.get("regions") or ())
    out = []
    for r in rows:
        if gpu and r.get("gpu") != want and r.get("native_id") != gpu:
            continue
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
    providers: Any = None,
    regions: list[str] | str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Rentable GPU offers across providers, cheapest first, in one DataFrame.

    Columns: ``frames.OFFER_COLUMNS``. ``spot=True`` prices and filters by the spot price.
    Providers without credentials are skipped and listed in ``df.attrs["skipped"]``; a
    provider that fails is listed in ``df.attrs["errors"]`` and the others still answer.
    ``atlas.spawn(df.iloc[0], image=...)`` launches exactly that offer.
    """
    if count < 1:
        raise ValidationError("count must be >= 1", field="count")
    if gpu is not None:
        from ..gpus import normalize_gpu

        gpu = normalize_gpu(gpu)
    query = OfferQuery(
        gpu=gpu,
        count=count,
        max_price_per_hr=max_price_per_hr,
        spot=spot,
        regions=[regions] if isinstance(regions, str) else list(regions or []),
        limit=limit,
    )
    targets = _targets(None, providers, "offers")
    rows, skipped, errors = await _gather(targets, "offers", lambda p: p.offers(query))
    df = offers_frame(_filter_offers(rows, query))
    if spot:
        df = df.sort_values("spot_price_per_hr", kind="stable").reset_index(drop=True)
    if limit is not None:
        df = df.head(limit).reset_index(drop=True)
    return _annotate(df, skipped, errors, providers)


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
