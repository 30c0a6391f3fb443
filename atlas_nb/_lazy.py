"""Heavy third-party modules, imported on first attribute use (so ``import atlas_nb`` is quick).

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
