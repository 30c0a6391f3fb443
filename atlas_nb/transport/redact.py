"""Secrets out of URLs: :func:`atlas_nb._redact.redact_url`, re-exported for the transport.

>>> redact_url("https://user:pw@example.com/a")
'https://REDACTED@example.com/a'
"""

from __future__ import annotations

from .._redact import SECRET_PARAMS, redact_url

__all__ = ["SECRET_PARAMS", "redact_url"]
