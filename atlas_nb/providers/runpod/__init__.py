"""The RunPod provider: REST v2, the serverless runtime, and GraphQL where v2 has no equivalent.

One concept per module: ``translate`` (pure shapes and status maps), ``pods``, ``jobs``,
``catalog``, ``billing``, ``management``, ``graphql``, ``logs`` (SSE + resume), ``provider``.
"""

from .provider import RunPodProvider

__all__ = ["RunPodProvider"]
