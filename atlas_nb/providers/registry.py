"""Find providers by name or class, share one instance per key on the runtime, and remember
which provider each compute id was seen on (so an id alone finds its provider again).

>>> resolve_provider_class("mock").__name__
'MockProvider'
>>> resolve_provider_class("mokc")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
atlas_nb.errors.ValidationError: validation: unknown provider 'mokc'. Did you mean 'mock'? ...
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import SecretStr

from .._runtime import get_runtime
from ..config import BUILTIN_PROVIDERS, canonical_provider_name, resolve_api_key, settings
from ..errors import ValidationError, did_you_mean
from .base import Provider

#: Built-in providers, imported on first use (the table lives in config, which checks names)
BUILTIN = BUILTIN_PROVIDERS

ProviderLike = str | type[Provider] | Provider
#: ``providers=`` of the catalogue calls and launch: one provider or several
Providers = ProviderLike | Iterable[ProviderLike]


def provider_list(providers: Providers) -> list[ProviderLike]:
    """``providers=`` as a list: one provider (a name, a class or an instance) or several.

    >>> provider_list("vast"), provider_list(("vast", "lambda"))
    (['vast'], ['vast', 'lambda'])
    """
    if isinstance(providers, (str, type, Provider)):
        return [providers]
    if not isinstance(providers, (list, tuple, set, frozenset)):
        raise ValidationError(
            f"providers must be a provider or a list of them, not {providers!r}",
            field="providers",
            hint="Pass e.g. providers=['runpod', 'vast'].",
        )
    return list(providers)


def _hint() -> str:
    return f"Use one of: {', '.join(sorted(BUILTIN))}, or pass a Provider subclass."


_classes: dict[str, type[Provider]] = {}
#: custom providers by name: ``register_provider(cls)`` or the ``atlas_nb.providers`` entry points
_registered: dict[str, type[Provider]] = {}
ENTRY_POINT_GROUP = "atlas_nb.providers"


def register_provider(cls: type[Provider], *, name: str | None = None) -> None:
    """Register a custom Provider class under ``name`` (default ``cls.name``), so tracked
    records can name it and any process that registered it (or installs the entry point
    ``atlas_nb.providers``) keeps guarding its computes. Code is never imported from disk.

        >>> from atlas_nb.providers.mock import MockProvider
        >>> class Mine(MockProvider):
        ...     name = "mine"
        >>> register_provider(Mine)
        >>> registered_name(Mine)
        'mine'
    """
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise ValidationError(
            f"register_provider() needs a Provider subclass, not {cls!r}", field="provider"
        )
    key = (name or cls.name or "").strip().lower()
    if not key or key in BUILTIN:
        raise ValidationError(
            f"cannot register a provider as {key!r}",
            field="provider",
            hint=f"Give it a name= that is not empty nor one of {', '.join(sorted(BUILTIN))}.",
        )
    _registered[key] = cls


def _entry_point(name: str) -> type[Provider] | None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            loaded = ep.load()
            if isinstance(loaded, type) and issubclass(loaded, Provider):
                _registered[name] = loaded
                return loaded
    return None


def registered_name(provider: Provider | type[Provider]) -> str | None:
    """The name a provider class is registered (or built in) under, or None."""
    cls = provider if isinstance(provider, type) else type(provider)
    if cls.name in BUILTIN and BUILTIN[cls.name].split(":")[1] == cls.__name__:
        return cls.name
    for key, known in _registered.items():
        if known is cls:
            return key
    if cls.name and _entry_point(cls.name) is cls:
        return cls.name
    return None


def resolve_provider_class(provider: ProviderLike | None) -> type[Provider]:
    """The Provider class for a name, a class or an instance (``None`` → default_provider)."""
    if isinstance(provider, str) and provider in _classes:
        return _classes[provider]
    if provider is None:
        provider = settings().default_provider
        if provider is None:
            raise ValidationError(
                "no provider given and no default_provider configured",
                field="provider",
                hint="Pass provider='runpod' (or another), or call "
                "atlas.configure(default_provider='runpod').",
            )
    if isinstance(provider, Provider):
        return type(provider)
    if isinstance(provider, type) and issubclass(provider, Provider):
        return provider
    if isinstance(provider, str):
        name = canonical_provider_name(provider.strip().lower())
        target = BUILTIN.get(name)
        custom = None if target else (_registered.get(name) or _entry_point(name))
        if custom is not None:
            return custom
        if target is None:
            raise ValidationError(
                f"unknown provider {provider!r}.{did_you_mean(name, BUILTIN)}",
                field="provider",
                hint=_hint(),
            )
        module, _, attr = target.partition(":")
        try:
            cls: type[Provider] = getattr(importlib.import_module(module), attr)
        except ImportError as exc:  # pragma: no cover - a packaging problem
            raise ValidationError(
                f"provider {name!r} could not be loaded: {exc}", field="provider"
            ) from exc
        _classes[provider] = cls
        return cls
    raise ValidationError(
        f"provider={provider!r} is neither a provider name nor a Provider subclass",
        field="provider",
        hint=_hint(),
    )


P = TypeVar("P", bound=Provider)


def get_provider(
    provider: ProviderLike | None = None, *, api_key: str | SecretStr | None = None
) -> Provider:
    """The shared instance of a provider for the resolved API key and current settings."""
    if isinstance(provider, Provider):
        return provider
    cls = resolve_provider_class(provider)
    cfg = settings()
    key = resolve_api_key(cls.name, api_key, required=cls.requires_api_key, config=cfg)
    fingerprint = key_fingerprint(key.get_secret_value()) if key else ""
    cache: dict[Any, Provider] = get_runtime().service("providers", dict)
    cache_key = (cls, fingerprint, id(cfg))
    instance = cache.get(cache_key)
    if instance is None:
        stale = [k for k in cache if k[0] is cls and k[1] == fingerprint]
        for k in stale:
            cache.pop(k, None)
        instance = cls(api_key=key, config=cfg)
        cache[cache_key] = instance
    return instance


@functools.lru_cache(maxsize=64)
def key_fingerprint(secret: str) -> str:
    """SHA-256 of a key, hex (safe to store; identifies the key without revealing it)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def typed_provider(cls: type[P], api_key: str | None = None) -> P:
    """The shared instance of the provider named ``cls.name``, typed as ``cls`` (a provider's
    own extras use it: ``typed_provider(VastProvider, api_key).search(...)``).

        >>> from atlas_nb.providers.mock import MockProvider
        >>> type(typed_provider(MockProvider)).__name__
        'MockProvider'
    """
    prov = get_provider(cls.name, api_key=api_key)
    if not isinstance(prov, cls):
        raise ValidationError(
            f"provider {cls.name!r} is registered as {type(prov).__name__}, not {cls.__name__}",
            field="provider",
            hint=f"Its extras need {cls.__name__}; register your class under another name.",
        )
    return prov


def provider_names() -> list[str]:
    """Names of the built-in providers."""
    return sorted(BUILTIN)


#: compute id -> {provider class: the latest instance it was seen through}, newest ids last
_seen: OrderedDict[str, dict[type[Provider], Provider]] = OrderedDict()
_seen_lock = threading.Lock()
SEEN_MAX = 10_000


def remember(compute_id: str, provider: Provider) -> None:
    """Note that ``compute_id`` exists on ``provider`` (called for every compute a provider
    returns: spawned, fetched or listed). Keeps the newest :data:`SEEN_MAX` ids."""
    with _seen_lock:
        _seen.setdefault(compute_id, {})[type(provider)] = provider
        _seen.move_to_end(compute_id)
        while len(_seen) > SEEN_MAX:
            _seen.popitem(last=False)


def seen_with(compute_id: str) -> list[Provider]:
    """The providers ``compute_id`` was seen on in this process (usually one, or none)."""
    with _seen_lock:
        return list(_seen.get(compute_id, {}).values())


def configured_providers() -> list[str]:
    """Providers with credentials (plus the default provider), by name."""
    cfg = settings()
    names = [p for p in provider_names() if p != "mock" and cfg.api_key(p) is not None]
    if cfg.default_provider and cfg.default_provider not in names:
        names.insert(0, cfg.default_provider)
    return names
