"""Reusable pytest suites for third parties: provider conformance (and token storage, and
the store of tracked records).

The suites are pytest classes and atlas_nb itself does not depend on pytest: install the
``testing`` extra, ``pip install 'atlas_nb[testing]'``. Without pytest, importing this package
raises an ``ImportError`` that names the extra.

>>> from atlas_nb.testing import ProviderConformance
>>> ProviderConformance.__name__
'ProviderConformance'
"""

try:
    import pytest  # noqa: F401  (the suites below are pytest classes)
except ImportError as exc:
    raise ImportError(
        f"atlas_nb.testing needs pytest ({exc}): install the `testing` extra, "
        "pip install 'atlas_nb[testing]'",
        name="pytest",
    ) from exc

from .provider_conformance import ProviderConformance
from .record_conformance import RecordStoreConformance
from .storage_conformance import TokenStorageConformance

__all__ = ["ProviderConformance", "RecordStoreConformance", "TokenStorageConformance"]
