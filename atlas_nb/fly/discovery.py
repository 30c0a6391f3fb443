"""Find Fly apps in a project: every ``fly.toml`` under a directory, and the app it names.

>>> parse_app_name('app = "atlas-demo-web"  # the web front\\nprimary_region = "iad"')
'atlas-demo-web'
>>> parse_app_name("app = 'has space'") is None
True
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd
else:
    from .._lazy import pandas as pd

log = logging.getLogger("atlas_nb.fly.discovery")

FLY_TOML = "fly.toml"

#: Tried in this order over the whole text; the first pattern matching anywhere wins.
_APP_PATTERNS = (
    re.compile(r'^\s*app\s*=\s*"([^"\s]+)"', re.MULTILINE),
    re.compile(r"^\s*app\s*=\s*'([^'\s]+)'", re.MULTILINE),
    re.compile(r"""^\s*app\s*=\s*([^"'\s#]+)""", re.MULTILINE),
)

APP_COLUMNS = {"app": "string", "path": "string"}


def parse_app_name(fly_toml_text: str) -> str | None:
    """The ``app`` named by a ``fly.toml``'s text, or ``None``.

    Double quotes, single quotes and bare values work; a trailing ``# comment`` is ignored;
    quoted values may not contain whitespace; ``# app = ...`` lines and other keys
    (``app_name``) do not count.

        >>> parse_app_name("app = web-1 # staging")
        'web-1'
        >>> parse_app_name("# app = 'old'\\napp_name = 'x'") is None
        True
    """
    for pattern in _APP_PATTERNS:
        m = pattern.search(fly_toml_text)
        if m:
            return m.group(1)
    return None


def _read_app(directory: str) -> str | None:
    path = os.path.join(directory, FLY_TOML)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("skipping %s: cannot read it (%s)", path, exc)
        return None
    name = parse_app_name(text)
    if name is None:
        log.warning('skipping %s: it has no usable `app = "<name>"` line', path)
    return name


def scan(path: str | os.PathLike[str], max_depth: int = 1) -> list[tuple[str, str]]:
    """``(app, directory)`` pairs sorted by app name (see :func:`discover_apps`)."""
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0:
        raise ValidationError(
            f"max_depth must be an integer >= 0 (got {max_depth!r})",
            field="max_depth",
            hint="0 scans only the directory itself, 1 also its sub-directories, and so on.",
        )
    root = os.fspath(path)
    found: list[tuple[str, str]] = []
    if not os.path.isdir(root):
        return found
    seen: set[str] = set()

    def visit(directory: str, depth: int) -> None:
        real = os.path.realpath(directory)
        if real in seen:  # a symlink loop or a second link to the same directory
            return
        seen.add(real)
        name = _read_app(directory)
        if name is not None:
            found.append((name, directory))
        if depth <= 0:
            return
        try:
            entries = sorted(os.listdir(directory))
        except OSError as exc:
            log.warning("skipping %s: cannot list it (%s)", directory, exc)
            return
        for entry in entries:
            child = os.path.join(directory, entry)
            if os.path.isdir(child):
                visit(child, depth - 1)

    visit(root, max_depth)
    found.sort(key=lambda pair: pair[0])
    return found


def discover_apps(path: str | os.PathLike[str] = ".", *, max_depth: int = 1) -> pd.DataFrame:
    """Fly apps under ``path``: a DataFrame with columns ``app`` and ``path``.

    ``max_depth=0`` reads only ``path/fly.toml``; the default 1 also reads
    ``path/<dir>/fly.toml`` (monorepos such as ``apps/<name>/fly.toml`` need 2). Files
    without a usable ``app`` line are skipped with a logged reason. Paths are joined onto
    ``path`` as given; rows are sorted by app name.

        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (root / "fly.toml").write_text('app = "web"')
        >>> (root / "worker").mkdir()
        >>> _ = (root / "worker" / "fly.toml").write_text("app = 'worker'")
        >>> discover_apps(root)["app"].tolist()
        ['web', 'worker']
    """
    rows = scan(path, max_depth)
    return pd.DataFrame(
        {
            "app": pd.Series([a for a, _ in rows], dtype="string"),
            "path": pd.Series([p for _, p in rows], dtype="string"),
        },
        columns=list(APP_COLUMNS),
    )


def app_from_dir(directory: str | os.PathLike[str]) -> str | None:
    """The app named by ``directory/fly.toml`` (``None`` when absent or unusable)."""
    return _read_app(os.fspath(Path(directory)))
