"""Reusable pytest suites for third parties: provider conformance (and token storage)."""

from .provider_conformance import ProviderConformance

__all__ = ["ProviderConformance"]
