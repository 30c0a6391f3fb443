"""The sandbox: a faithful local fake of every provider API and of the ``fly`` CLI.

``start()`` serves it on loopback and points atlas_nb at it, so tutorials, the demo and tests
run with no account and no network; ``in_process()`` serves it through an httpx transport
with no sockets at all (for unit tests; streaming endpoints need loopback).

    >>> import atlas_nb as atlas
    >>> with atlas.sandbox.start(speed=50) as sb:
    ...     sb.origin.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

from .handle import Sandbox, in_process, start

__all__ = ["Sandbox", "in_process", "start"]
