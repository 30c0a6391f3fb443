"""Old names kept for one release: they work, and say (``DeprecationWarning``) what to use.

The rule for async twins: ``aio`` modules for namespaces (``atlas_nb.aio``,
``atlas_nb.runpod.aio``, ``atlas_nb.fly.aio``) and an ``a`` prefix for methods
(``await pod.aterminate()``), the habit of the standard library and httpx.

    >>> import warnings
    >>> class Pod:
    ...     async def aterminate(self): return "gone"
    ...     terminate_async = renamed_method("terminate_async", "aterminate")
    >>> with warnings.catch_warnings(record=True) as seen:
    ...     warnings.simplefilter("always")
    ...     coro = Pod().terminate_async()
    >>> import asyncio; asyncio.run(coro), str(seen[0].message).split(" (")[0]
    ('gone', 'Pod.terminate_async() is deprecated: use Pod.aterminate()')
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any


def message(old: str, new: str) -> str:
    return f"{old} is deprecated: use {new} (the old name goes in the next release)"


def renamed_method(old: str, new: str) -> Any:
    """A method named ``old`` that warns and calls the method ``new``."""

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        cls = type(self).__name__
        warnings.warn(message(f"{cls}.{old}()", f"{cls}.{new}()"), DeprecationWarning, stacklevel=2)
        return getattr(self, new)(*args, **kwargs)

    method.__name__ = method.__qualname__ = old
    method.__doc__ = f"Deprecated alias of :meth:`{new}`."
    return method


def renamed_function(old: str, new: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """A function named ``old`` that warns and calls ``fn`` (known as ``new``)."""

    @functools.wraps(fn)
    def function(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(message(f"{old}()", f"{new}()"), DeprecationWarning, stacklevel=2)
        return fn(*args, **kwargs)

    function.__name__ = old.rsplit(".", 1)[-1]
    function.__doc__ = f"Deprecated alias of :func:`{new}`."
    return function


def moved_to_aio(aio: ModuleType, name: str) -> Callable[..., Any]:
    """The old ``<package>.<name>_async`` of a coroutine now named ``<package>.aio.<name>``."""
    package = aio.__name__.rpartition(".")[0]
    return renamed_function(f"{package}.{name}_async", f"{aio.__name__}.{name}", getattr(aio, name))
