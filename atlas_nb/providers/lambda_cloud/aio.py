"""``atlas_nb.providers.lambda_cloud.aio``: Lambda SSH keys and file systems, awaitable.

The blocking twins, with the same names, are in :mod:`atlas_nb.providers.lambda_cloud`; the
old ``lambda_cloud.*_async`` names still work for one release and warn (DeprecationWarning).

    >>> sorted(__all__)[:3]
    ['add_ssh_key', 'create_file_system', 'delete_file_system']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..._runtime import on_runtime
from ...transport.paths import segment
from .._parse import ident, reading, reads
from ..registry import typed_provider
from .account import FILE_SYSTEM_COLUMNS, SSH_KEY_COLUMNS, SSHKey, find
from .provider import LambdaProvider
from .translate import PROVIDER

if TYPE_CHECKING:
    import pandas as pd
else:
    from ..._lazy import pandas as pd


async def _find(prov: LambdaProvider, path: str, ref: str, what: str) -> dict[str, Any]:
    return find(await prov.data("GET", path), ref, what)


@on_runtime
@reads("the SSH key list", provider=PROVIDER)
async def ssh_keys(*, api_key: str | None = None) -> pd.DataFrame:
    """Your Lambda SSH keys (columns ``id, name, public_key``)."""
    from ...frames import frame

    prov = typed_provider(LambdaProvider, api_key)
    return frame(await prov.data("GET", "/ssh-keys"), SSH_KEY_COLUMNS)


@on_runtime
async def add_ssh_key(
    name: str, public_key: str | None = None, *, api_key: str | None = None
) -> SSHKey:
    """Add an SSH key; without ``public_key`` Lambda generates a pair and returns its
    ``private_key`` once (``key.private_key.get_secret_value()``; save it, it cannot be
    fetched again)."""
    body: dict[str, Any] = {"name": name}
    if public_key is not None:
        body["public_key"] = public_key.strip()
    prov = typed_provider(LambdaProvider, api_key)
    data = await prov.data("POST", "/ssh-keys", json=body, what="add key")
    with reading(PROVIDER, "the new SSH key", data):
        return SSHKey(
            id=ident(data, provider=PROVIDER, what="the new SSH key"),
            name=str(data["name"]),
            public_key=str(data["public_key"]),
            private_key=data.get("private_key"),
        )


@on_runtime
@reads("the SSH key list", provider=PROVIDER)
async def delete_ssh_key(key: str, *, api_key: str | None = None) -> None:
    """Delete an SSH key by id or name."""
    prov = typed_provider(LambdaProvider, api_key)
    found = await _find(prov, "/ssh-keys", key, "SSH key")
    await prov.data("DELETE", f"/ssh-keys/{segment(found['id'], 'lambda', field='id')}")


@on_runtime
@reads("the file system list", provider=PROVIDER)
async def file_systems(*, api_key: str | None = None) -> pd.DataFrame:
    """Your Lambda file systems (columns ``id, name, region, mount_point, is_in_use, ...``)."""
    from ...frames import frame

    prov = typed_provider(LambdaProvider, api_key)
    rows = [
        {**fs, "region": (fs.get("region") or {}).get("name")}
        for fs in await prov.data("GET", "/file-systems")
    ]
    return frame(rows, FILE_SYSTEM_COLUMNS)


@on_runtime
@reads("the new file system", provider=PROVIDER)
async def create_file_system(
    name: str, region: str, *, api_key: str | None = None
) -> dict[str, Any]:
    """Create a persistent file system in a region (mount it with
    ``provider_opts={"file_systems": [name]}`` on instances in that region)."""
    body = {"name": name, "region": region}
    prov = typed_provider(LambdaProvider, api_key)
    return dict(await prov.data("POST", "/filesystems", json=body, what="create filesystem"))


@on_runtime
@reads("the file system list", provider=PROVIDER)
async def delete_file_system(fs: str, *, api_key: str | None = None) -> None:
    """Delete a file system by id or name (it must not be attached to an instance)."""
    prov = typed_provider(LambdaProvider, api_key)
    found = await _find(prov, "/file-systems", fs, "file system")
    await prov.data("DELETE", f"/filesystems/{segment(found['id'], 'lambda', field='id')}")


__all__ = [
    "add_ssh_key",
    "create_file_system",
    "delete_file_system",
    "delete_ssh_key",
    "file_systems",
    "ssh_keys",
]
