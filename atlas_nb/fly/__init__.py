"""Operating Fly.io apps from a notebook: find apps, deploy them, tail their logs, manage tokens.

    >>> import atlas_nb as atlas, tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "fly.toml").write_text('app = "atlas-demo-web"\\nprimary_region = "iad"\\n')
    >>> atlas.fly.discover_apps(root)["app"].tolist()
    ['atlas-demo-web']

With the sandbox (or real credentials):

    with atlas.sandbox.start() as sb:
        with atlas.fly.logs("atlas-demo-web") as stream:   # a live log viewer in Jupyter
            first = next(iter(stream))
        d = atlas.fly.deploy(root)                          # blocks; raises DeployError on failure
        for line in atlas.fly.stream_deploy(root): print(line)

Every function has an async twin in ``atlas_nb.fly.aio``. This module is separate from the Fly
Machines compute provider (``provider="fly"``).
"""

from __future__ import annotations

import os
import sys

from .._runtime import syncify
from . import aio, tokens
from .deploy import Deploy
from .discovery import discover_apps, parse_app_name
from .dispatcher import Evicted
from .logs.streamer import LogBatch, LogsStopped, LogSubscription, SlowSubscriberError
from .storage import (
    DiskcacheTokenStorage,
    MemoryTokenStorage,
    RedisTokenStorage,
    TokenRecord,
    TokenStorage,
)

_deploy = syncify(aio.deploy)


def deploy(
    path: str | os.PathLike[str] = ".",
    *,
    app: str | None = None,
    wait: bool = True,
    timeout: float | None = 900,
    activity_timeout: float | None = None,
    echo: bool | None = None,
) -> Deploy:
    """Run ``fly deploy --remote-only`` in ``path``; see :func:`atlas_nb.fly.aio.deploy`.

    In a notebook the deploy console (live lines, elapsed time, outcome, Cancel) shows up as
    soon as the deploy starts, while the cell waits; in a terminal the lines are printed as
    they come (``echo``; default: when stdout is a terminal). Interrupting kills the deploy.
    """
    from ..widgets._env import in_notebook

    notebook = in_notebook()
    if echo is None:
        echo = not notebook and sys.stdout.isatty()
    if not wait or not (notebook or echo):
        return _deploy(path, app=app, wait=wait, timeout=timeout, activity_timeout=activity_timeout)
    running = _deploy(path, app=app, wait=False, timeout=timeout, activity_timeout=activity_timeout)
    if notebook:
        running.show()
    else:

        def print_line(kind: str, payload: str) -> None:
            if kind == "line":
                print(payload, flush=True)

        running.add_listener(print_line, replay=True)
    try:
        running.result()
    except KeyboardInterrupt:
        running.cancel()
        raise
    return running


stream_deploy = aio.stream_deploy
logs = syncify(aio.logs)
subscribe_logs = syncify(aio.subscribe_logs)

__all__ = [
    "Deploy",
    "DiskcacheTokenStorage",
    "Evicted",
    "LogBatch",
    "LogSubscription",
    "LogsStopped",
    "MemoryTokenStorage",
    "RedisTokenStorage",
    "SlowSubscriberError",
    "TokenRecord",
    "TokenStorage",
    "aio",
    "deploy",
    "discover_apps",
    "logs",
    "parse_app_name",
    "stream_deploy",
    "subscribe_logs",
    "tokens",
]
