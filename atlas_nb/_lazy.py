"""Heavy third-party modules, imported on first attribute use (so ``import atlas_nb`` is quick),
and :func:`moved_names`, for the names a package keeps importable after they moved into its
submodules.

A module uses one like the real thing; the import happens at the first ``pd.<name>``:

    if TYPE_CHECKING:
        import pandas as pd
    else:
        from atlas_nb._lazy import pandas as pd

    >>> import sys
    >>> from atlas_nb._lazy import LazyModule
    >>> fractions = LazyModule("fractions")
    >>> fractions.Fraction(1, 3) + fractions.Fraction(1, 6)
    Fraction(1, 2)
    >>> "fractions" in sys.modules
    True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class LazyModule:
    """Stands for a module until an attribute is read, then imports it and forwards to it."""

    def __init__(self, name: str) -> None:
        self._lazy_name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):  # copy/pickle/inspect probes
            raise AttributeError(attr)
        value = getattr(importlib.import_module(self._lazy_name), attr)
        self.__dict__[attr] = value  # later reads are plain attribute lookups
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self._lazy_name!r}>"


pandas: Any = LazyModule("pandas")
httpx: Any = LazyModule("httpx")


def moved_names(package: str, homes: Mapping[str, Iterable[str]]) -> Callable[[str], Any]:
    """A ``__getattr__`` (PEP 562) for ``package``: ``homes`` maps each submodule to the names
    it now holds, which still import from the package.

        >>> from atlas_nb.providers import base
        >>> getattr_ = moved_names("atlas_nb.providers", {"base": ["CAPABILITIES"]})
        >>> getattr_("CAPABILITIES") is base.CAPABILITIES
        True
    """
    home = {name: module for module, names in homes.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{home[name]}"), name)

    return __getattr__
