"""Lambda account resources, SSH keys and file systems: their shapes and how a name or id
finds one (no I/O; :mod:`.aio` makes the calls).

    >>> choose_ssh_key([{"id": "k1", "name": "laptop"}], None)
    'laptop'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import SecretStr

from ...errors import NotFoundError, ValidationError
from ...models._base import Model
from .translate import PROVIDER

SSH_KEY_COLUMNS = {"id": "string", "name": "string", "public_key": "string"}
FILE_SYSTEM_COLUMNS = {
    "id": "string",
    "name": "string",
    "region": "string",
    "mount_point": "string",
    "is_in_use": "boolean",
    "bytes_used": "Int64",
    "created": "datetime64[ns, UTC]",
}


class SSHKey(Model):
    """A Lambda SSH key. ``private_key`` is set only when Lambda generated the pair (once)."""

    id: str
    name: str
    public_key: str
    private_key: SecretStr | None = None


def find(items: Sequence[Mapping[str, Any]], ref: str, what: str) -> dict[str, Any]:
    """The item whose id or name is ``ref`` (``what`` names the kind in the NotFoundError)."""
    for item in items:
        if ref in (item.get("id"), item.get("name")):
            return dict(item)
    names = [i.get("name") for i in items]
    raise NotFoundError(
        f"no Lambda {what} {ref!r}; yours: {', '.join(map(str, names)) or 'none'}",
        provider=PROVIDER,
    )


def choose_ssh_key(keys: Sequence[Mapping[str, Any]], wanted: Any) -> str:
    """The name of the key a launch installs: ``wanted`` (a name or id), else the only one."""
    names = [k["name"] for k in keys]
    how = (
        "List keys with atlas_nb.providers.lambda_cloud.ssh_keys(); add one with "
        "lambda_cloud.add_ssh_key('name', 'ssh-ed25519 AAAA...')."
    )
    if wanted:
        for k in keys:
            if wanted in (k["name"], k["id"]):
                return str(k["name"])
        raise ValidationError(
            f"Lambda has no SSH key {wanted!r}; your keys: {', '.join(names) or 'none'}",
            field="provider_opts",
            hint=how,
        )
    if len(names) == 1:
        return str(names[0])
    if not names:
        raise ValidationError(
            "your Lambda account has no SSH key, and Lambda needs one to launch",
            field="provider_opts",
            hint="Add one with atlas_nb.providers.lambda_cloud.add_ssh_key('name', "
            "'ssh-ed25519 AAAA...') (leave out the public key to have Lambda generate a "
            "pair), then spawn again.",
        )
    raise ValidationError(
        f"your Lambda account has {len(names)} SSH keys ({', '.join(names)}); "
        "say which one to install",
        field="provider_opts",
        hint="Pass provider_opts={'ssh_key': '<name>'} or atlas.configure("
        "lambda_ssh_key='<name>'). " + how,
    )
