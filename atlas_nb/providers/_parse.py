"""Reading provider bodies: a body that is not the shape atlas_nb expects (``null``, a list for
an object, an item without an id, a string for a number, HTML from a proxy) is a
``ProviderError`` naming the provider and the call, never a ``TypeError``/``KeyError``/
``AttributeError`` from deep inside a parser, and never a compute whose id reads ``'None'``.

Providers decorate their read calls with :func:`reads` and take ids with :func:`ident`:

    >>> ident({"id": 42}, provider="vast", what="an instance")
    '42'
    >>> ident({"id": None}, provider="runpod", what="a pod")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    atlas_nb.errors.ProviderError: [runpod] provider: RunPod answered a pod without an id ...
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar

from ..errors import AtlasError, ProviderError, ValidationError

P = ParamSpec("P")
T = TypeVar("T")

#: what a parser raises when a body has the wrong shape
SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError, ArithmeticError)

_LABELS = {"runpod": "RunPod", "lambda": "Lambda", "vast": "Vast", "fly": "Fly"}


def unreadable(provider: str, what: str, body: Any = None, why: str = "") -> ProviderError:
    """The error for a body atlas_nb cannot read (``why`` says what was wrong)."""
    label = _LABELS.get(provider, provider)
    return ProviderError(
        f"{label} answered {what} with a body atlas_nb cannot read" + (f" ({why})" if why else ""),
        provider=provider,
        raw=body,
        hint="Retry; if it persists, the provider's API may have changed or be degraded "
        "(check its status page).",
    )


def ident(data: Any, *, provider: str, what: str, key: str = "id") -> str:
    """``data[key]`` as a non-empty string id; ``ProviderError`` when missing or not an id."""
    value = data.get(key) if isinstance(data, Mapping) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    label = _LABELS.get(provider, provider)
    raise ProviderError(
        f"{label} answered {what} without an id ({key}={value!r:.40})",
        provider=provider,
        raw=data,
        hint="Retry; if it persists, the provider's API may have changed.",
    )


@contextlib.contextmanager
def reading(provider: str, what: str, body: Any = None, *, models: bool = True) -> Iterator[None]:
    """Inside: a parser failing on ``body`` becomes :func:`unreadable`. With ``models`` (for
    blocks that only turn a body into atlas_nb models) a ``ValidationError`` of a model is one
    too: there it means the provider's fields were bad, not the caller's input."""
    try:
        yield
    except ValidationError as exc:
        if not models or exc.status is not None:
            raise  # an argument check, or the provider's own answer (HTTP 400/422, GraphQL)
        raise unreadable(provider, what, body, exc.message or "") from exc
    except AtlasError:
        raise
    except SHAPE_ERRORS as exc:
        raise unreadable(provider, what, body, f"{type(exc).__name__}: {exc}"[:200]) from exc


Method = Callable[P, Coroutine[Any, Any, T]]


def reads(
    what: str, *, models: bool = False, provider: str | None = None
) -> Callable[[Method[P, T]], Method[P, T]]:
    """Decorate a provider's async read method with :func:`reading` (the provider is the
    method's ``self.name``, or ``provider`` for a module function). Keep ``models=False``
    when the method checks arguments."""

    def wrap(fn: Method[P, T]) -> Method[P, T]:
        @functools.wraps(fn)
        async def read(*args: P.args, **kwargs: P.kwargs) -> T:
            name = provider or (str(getattr(args[0], "name", "")) if args else "") or "provider"
            with reading(name, what, models=models):
                return await fn(*args, **kwargs)

        return read

    return wrap
