"""Reusable pytest suites for third parties: provider conformance (and token storage)."""

from .provider_conformance import ProviderConformance
from .storage_conformance import TokenStorageConformance

__all__ = ["ProviderConformance", "TokenStorageConformance"]
