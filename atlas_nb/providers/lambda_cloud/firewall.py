"""Lambda's firewall rulesets: Lambda lets in only SSH by default, so a spawn that publishes
ports attaches a ruleset opening them (and SSH) to anyone, made once per region and port set
and reused (``atlas-nb us-east-1 ports 8000,9000``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ...errors import ConflictError

#: ``LambdaProvider.data``: (method, path, **request options) -> the answer's ``data``
DataCall = Callable[..., Awaitable[Any]]


def ports_ruleset(region: str, ports: Sequence[int]) -> dict[str, Any]:
    """The firewall ruleset that opens ``ports`` (and SSH, and ping) to anyone.

    >>> r = ports_ruleset("us-east-1", [8000])
    >>> r["name"], [rule.get("port_range") for rule in r["rules"]]
    ('atlas-nb us-east-1 ports 8000', [[22, 22], [8000, 8000], None])
    """
    wanted = sorted(set(ports))
    name = f"atlas-nb {region} ports " + ",".join(map(str, wanted))
    if len(name) > 64:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = f"atlas-nb {region} ports {wanted[0]}..{wanted[-1]} {digest}"
    anyone = "0.0.0.0/0"
    rules = [
        {
            "protocol": "tcp",
            "port_range": [22, 22],
            "source_network": anyone,
            "description": "SSH (atlas_nb)",
        },
    ]
    rules += [
        {
            "protocol": "tcp",
            "port_range": [p, p],
            "source_network": anyone,
            "description": f"port {p} published by atlas_nb",
        }
        for p in wanted
        if p != 22
    ]
    rules.append({"protocol": "icmp", "source_network": anyone, "description": "ping (atlas_nb)"})
    return {"name": name, "region": region, "rules": rules}


async def ensure_ports_ruleset(data: DataCall, region: str, ports: Sequence[int]) -> str:
    """The id of a ruleset in ``region`` opening ``ports`` (made on first use)."""
    wanted = ports_ruleset(region, ports)

    async def existing() -> str | None:
        for ruleset in await data("GET", "/firewall-rulesets"):
            same_region = (ruleset.get("region") or {}).get("name") == region
            if ruleset.get("name") == wanted["name"] and same_region:
                return str(ruleset["id"])
        return None

    found = await existing()
    if found:
        return found
    try:
        created = await data(
            "POST", "/firewall-rulesets", json=wanted, what="create firewall ruleset"
        )
    except ConflictError:  # another spawn made it meanwhile: use that one
        found = await existing()
        if found:
            return found
        raise
    return str(created["id"])
