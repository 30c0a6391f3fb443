"""The Vast.ai provider (``https://console.vast.ai``): a GPU marketplace searched live.

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

Search with a Python filter builder (:func:`~atlas_nb.providers.vast.query.build_query`)::

    from atlas_nb.providers import vast
    df = vast.search_offers(gpu="rtx_4090", num_gpus=2, max_price_per_hr=1.0,
                            min_reliability=0.98, countries=["US", "CA"], limit=20)
    c = atlas.spawn(df.iloc[0], image="vllm/vllm-openai:latest", ports=["8000/http"])
    vast.label(c.id, "my-run")

:mod:`.aio` has the same functions, awaitable: ``await vast.aio.search_offers(gpu="h100")``.

One concept per module: ``query`` (the offer-search builder), ``translate`` (instance payloads,
status, env and ports), ``catalog`` (offers as rows and GPU types), ``rent`` (which offer a
request rents and the body that rents it), ``aio`` (the awaitable extras), ``provider``.
"""

from __future__ import annotations

from ..._deprecated import moved_to_aio
from ..._lazy import moved_names
from ..._runtime import syncify
from . import aio
from .provider import VastProvider
from .query import build_query

#: the helpers the single ``vast`` module had, importable here as before
__getattr__ = moved_names(
    __name__,
    {
        "catalog": ["gpu_types_from_offers", "offer_prices", "offer_row", "offer_rows"],
        "query": ["MB_PER_GB", "OfferType", "country"],
        "rent": ["DEFAULT_DISK_GB", "OPTS"],
        "translate": [
            "PORTS_ENV",
            "env_flags",
            "instance_fields",
            "instance_ports",
            "mb_to_gb",
            "refused",
            "vast_status",
        ],
    },
)

search_offers = syncify(aio.search_offers)
label = syncify(aio.label)

#: deprecated (removed in the next release): the awaitable twins are ``aio.<name>``
search_offers_async = moved_to_aio(aio, "search_offers")
label_async = moved_to_aio(aio, "label")

__all__ = [
    "VastProvider",
    "aio",
    "build_query",
    "label",
    "label_async",
    "search_offers",
    "search_offers_async",
]
