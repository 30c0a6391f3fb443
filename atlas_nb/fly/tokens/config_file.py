"""flyctl's own config file: ``~/.fly/config.yml`` (``$FLY_CONFIG_DIR/config.yml``).

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> with open(os.path.join(d, "config.yml"), "w") as f:
...     _ = f.write("access_token: 'FlyV1 fm2_ZmFrZQ=='\\nsend_metrics: true\\n")
>>> read_access_token(config_path({"FLY_CONFIG_DIR": d}))
'FlyV1 fm2_ZmFrZQ=='
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import yaml

log = logging.getLogger("atlas_nb.fly.tokens")


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """Where flyctl keeps its config (``FLY_CONFIG_DIR`` overrides ``~/.fly``)."""
    env = os.environ if env is None else env
    directory = env.get("FLY_CONFIG_DIR") or os.path.join(os.path.expanduser("~"), ".fly")
    return Path(directory) / "config.yml"


def read_access_token(path: Path | None = None) -> str | None:
    """The ``access_token`` in flyctl's config, or ``None`` (missing file, bad YAML, no key)."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        log.info("cannot read %s: %s", path, exc)
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        log.warning("ignoring %s: it is not valid YAML (%s)", path, type(exc).__name__)
        return None
    if not isinstance(data, Mapping):
        return None
    token = data.get("access_token")
    if not isinstance(token, str) or not token.strip():
        return None
    return token.strip()
