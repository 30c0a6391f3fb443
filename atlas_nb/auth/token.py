"""Bearer tokens for talking to pods directly.

A token is 32 random bytes, URL-safe base64 without padding (43 characters). Only its SHA-256
hash is kept; verification compares hashes in constant time.

    >>> minted = mint_token()
    >>> len(minted.token), len(minted.hash)
    (43, 64)
    >>> verify_token(minted.token, minted.hash), verify_token("guess", minted.hash)
    (True, False)
    >>> verify_token("\\ud800", minted.hash)
    False
    >>> sorted(minted.env)
    ['ATLAS_PRESHARED_KEY']
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

PRESHARED_KEY_ENV = "ATLAS_PRESHARED_KEY"
SIGNING_SECRET_ENV = "ATLAS_SIGNING_SECRET"


def random_secret(nbytes: int = 32) -> str:
    """``nbytes`` random bytes as URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    """SHA-256 of the token, lower-case hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def verify_token(candidate: str, token_hash: str) -> bool:
    """True when ``candidate`` hashes to ``token_hash`` (constant-time comparison)."""
    if not isinstance(candidate, str) or not isinstance(token_hash, str):
        return False
    try:
        expected = token_hash.encode("ascii")
        return hmac.compare_digest(hash_token(candidate).encode(), expected)
    except UnicodeEncodeError:  # lone surrogates or a non-hex hash: it cannot be the token
        return False


@dataclass(frozen=True)
class MintedToken:
    """A fresh token: give ``env`` to the pod, send ``header`` with requests, keep ``hash``."""

    token: str = field(repr=False)
    hash: str
    header: str = field(repr=False)
    env: dict[str, str] = field(repr=False)


def mint_token() -> MintedToken:
    """A new bearer token with its hash, ``Authorization`` header and pod env."""
    token = random_secret()
    return MintedToken(
        token=token,
        hash=hash_token(token),
        header=f"Authorization: Bearer {token}",
        env={PRESHARED_KEY_ENV: token},
    )
