"""RunPod's legacy GraphQL API, used only where REST v2 has no equivalent: spot (bid) prices
and renting interruptible (spot) pods.

Values always travel as query variables, never formatted into the query text; the key goes
in the ``Authorization`` header, never in the URL. RunPod answers client errors with HTTP 200
and an ``errors`` list; :func:`graphql_error` maps those to atlas_nb's error kinds.

    >>> err = graphql_error([{"message": 'Cannot query field "x" on type "GpuType".'}])
    >>> err.kind, err.status
    ('validation', 200)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...config import key_hint
from ...errors import (
    AtlasError,
    CapacityError,
    ProviderError,
    UnauthorizedError,
    ValidationError,
)
from ...transport.http import HttpApi, decode_body

#: spot and on-demand floor prices for ``count`` GPUs, per GPU type
GPU_PRICES = """
query AtlasGpuPrices($lowest: GpuLowestPriceInput!) {
  gpuTypes {
    id
    secureSpotPrice
    communitySpotPrice
    lowestPrice(input: $lowest) { minimumBidPrice uninterruptablePrice stockStatus }
  }
}
"""

#: the minimum bid for one GPU type and cloud
GPU_BID = """
query AtlasGpuBid($filter: GpuTypeFilter, $lowest: GpuLowestPriceInput!) {
  gpuTypes(input: $filter) {
    id
    secureSpotPrice
    communitySpotPrice
    lowestPrice(input: $lowest) { minimumBidPrice }
  }
}
"""

#: rent an interruptible (spot) pod
RENT_SPOT = """
mutation AtlasRentSpot($input: PodRentInterruptableInput!) {
  podRentInterruptable(input: $input) { id desiredStatus costPerHr }
}
"""

_AUTH = re.compile(r"unauthori[sz]ed|api key|not logged in|authenticat", re.IGNORECASE)
_CAPACITY = re.compile(r"no longer any instances|no instances|capacity", re.IGNORECASE)
_INVALID = re.compile(
    r"cannot query field|unknown argument|variable \"|is not defined|argument \"|"
    r"syntax error|cannot represent|enum|is required|bid",
    re.IGNORECASE,
)


def graphql_error(errors: Any, *, status: int = 200, raw: Any = None) -> AtlasError:
    """The AtlasError for a GraphQL ``errors`` list (kind from code, then message)."""
    items = errors if isinstance(errors, list) else [errors]
    first = items[0] if items else {}
    message = str(first.get("message") if isinstance(first, Mapping) else first) or "unknown error"
    code = str(
        ((first.get("extensions") or {}) if isinstance(first, Mapping) else {}).get("code") or ""
    )
    kw: dict[str, Any] = {"provider": "runpod", "status": status, "raw": raw or errors}
    if code == "UNAUTHENTICATED" or _AUTH.search(message):
        return UnauthorizedError(message, code=code or None, hint=key_hint("runpod"), **kw)
    if _CAPACITY.search(message):
        return CapacityError(message, code=code or None, **kw)
    if code in ("GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT") or _INVALID.search(message):
        return ValidationError(message, field="graphql", code=code or None, **kw)
    return ProviderError(message, code=code or None, **kw)


class GraphQLClient:
    """POSTs ``{query, variables}`` through an :class:`HttpApi`; returns ``data``."""

    def __init__(self, api: HttpApi) -> None:
        self.api = api

    async def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        mutation: bool = False,
        what: str | None = None,
    ) -> dict[str, Any]:
        """Run one operation. Queries are retried like GETs; mutations never blindly."""
        response = await self.api.request(
            "POST",
            "",
            json={"query": query, "variables": dict(variables or {})},
            idempotent=not mutation,
            what=what,
        )
        body = decode_body(response)
        if not isinstance(body, Mapping):
            raise ProviderError(
                "RunPod GraphQL answered with something that is not JSON",
                provider="runpod",
                status=response.status_code,
                raw=body,
            )
        if body.get("errors"):
            raise graphql_error(body["errors"], status=response.status_code, raw=dict(body))
        data = body.get("data")
        if not isinstance(data, Mapping):
            raise ProviderError(
                "RunPod GraphQL answered without data or errors",
                provider="runpod",
                status=response.status_code,
                raw=dict(body),
            )
        return dict(data)
