"""Auth primitives for reaching pods directly: bearer tokens and signed URLs.

>>> import atlas_nb as atlas
>>> t = atlas.auth.mint_token()
>>> atlas.auth.verify_token(t.token, t.hash)
True
"""

from __future__ import annotations

from typing import Any

from .signed_url import make_signer, sign_url, verify_url
from .token import (
    PRESHARED_KEY_ENV,
    SIGNING_SECRET_ENV,
    MintedToken,
    hash_token,
    mint_token,
    random_secret,
    verify_token,
)


def signer_for(handle: Any) -> Any:
    """The signer of a compute's ``signed_url`` auth handle."""
    if handle is None or handle.scheme != "signed_url" or handle.token is None:
        from ..errors import ValidationError

        raise ValidationError("this compute was not spawned with auth='signed_url'", field="auth")
    return make_signer(handle.token.get_secret_value())


def auth_material(mode: str) -> tuple[dict[str, str], Any]:
    """Env to inject and the AuthHandle for an auth mode (``none``, ``bearer``, ``signed_url``)."""
    from .._redact import remember
    from ..models.compute import AuthHandle

    if mode == "bearer":
        minted = mint_token()
        remember(minted.token)
        return minted.env, AuthHandle(
            scheme="bearer", token=minted.token, hash=minted.hash, header=minted.header
        )
    if mode == "signed_url":
        secret = random_secret()
        remember(secret)
        return {SIGNING_SECRET_ENV: secret}, AuthHandle(scheme="signed_url", token=secret)
    return {}, None


__all__ = [
    "PRESHARED_KEY_ENV",
    "SIGNING_SECRET_ENV",
    "MintedToken",
    "auth_material",
    "hash_token",
    "make_signer",
    "mint_token",
    "random_secret",
    "sign_url",
    "signer_for",
    "verify_token",
    "verify_url",
]
