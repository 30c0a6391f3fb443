"""Settings and API-key resolution.

Each value resolves, first match wins: the per-call argument > ``atlas_nb.configure(...)`` >
the config file (``atlas_nb.toml``; path from ``ATLAS_NB_CONFIG`` or the platformdirs user
config dir) > the environment (``RUNPOD_API_KEY``, ``LAMBDA_API_KEY`` or ``LAMBDA_LABS_API_KEY``,
``VAST_API_KEY``, ``FLY_API_TOKEN``; ``ATLAS_NB_STORE`` and ``ATLAS_NB_STORE_KEY`` for the shared
store and its team key) > the built-in default.

    >>> import atlas_nb as atlas
    >>> atlas.configure(default_provider="mock", catalog_ttl_s=60)
    >>> atlas.settings().default_provider
    'mock'
    >>> atlas.configure(reset=True)
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
import pydantic
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ._redact import remember
from ._redis import FERNET_KEY_HINT, StoreURL, is_fernet_key, store_url
from .errors import MissingCredentialsError, ValidationError, did_you_mean

APP_NAME = "atlas_nb"
CONFIG_ENV = "ATLAS_NB_CONFIG"
#: settings the environment can set (below the config file and configure())
#: where each provider's API key is read from the environment (first match wins)
ENV_VARS: dict[str, list[str]] = {
    "runpod": ["RUNPOD_API_KEY"],
    "lambda": ["LAMBDA_API_KEY", "LAMBDA_LABS_API_KEY"],
    "vast": ["VAST_API_KEY"],
    "fly": ["FLY_API_TOKEN", "FLY_ACCESS_TOKEN"],
}
SETTING_ENV_VARS = {"store": "ATLAS_NB_STORE", "store_key": "ATLAS_NB_STORE_KEY"}
#: the config file's format version (``atlas-nb upgrade`` migrates older files)
SCHEMA_VERSION = 1
#: The built-in providers and where their classes live (imported on first use)
BUILTIN_PROVIDERS: dict[str, str] = {
    "runpod": "atlas_nb.providers.runpod:RunPodProvider",
    "lambda": "atlas_nb.providers.lambda_cloud:LambdaProvider",
    "vast": "atlas_nb.providers.vast:VastProvider",
    "fly": "atlas_nb.providers.fly_machines:FlyMachinesProvider",
    "mock": "atlas_nb.providers.mock:MockProvider",
}
PROVIDER_NAMES = tuple(BUILTIN_PROVIDERS)
PROVIDER_ALIASES = {"lambda_labs": "lambda", "lambdalabs": "lambda", "fly_machines": "fly"}

#: The providers' real base URLs; ``base_urls`` overrides use the same keys.
DEFAULT_BASE_URLS: dict[str, str] = {
    "runpod_rest": "https://api.runpod.io",
    "runpod_runtime": "https://api.runpod.ai/v2",
    "runpod_graphql": "https://api.runpod.io/graphql",
    "lambda": "https://cloud.lambda.ai/api/v1",
    "vast": "https://console.vast.ai",
    "fly_machines": "https://api.machines.dev/v1",
    "fly_api": "https://api.fly.io",
    # pod guard (atlas_nb.guard): "" means the real thing (each image's own registry; each
    # cloud's own route to a pod's lease port); the sandbox serves both
    "oci_registry": "",
    "guard_lease": "",
}


OWNER_PATTERN = r"^[a-z0-9]{4,32}$"


class Settings(BaseModel):
    """The resolved settings. Secrets are ``SecretStr`` and masked in the repr."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    default_provider: str | None = None
    api_keys: dict[str, SecretStr] = Field(default_factory=dict)
    base_urls: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_BASE_URLS))
    config_file: Path | None = None

    # transport
    timeout_s: float = 30.0
    max_retries: int = 3
    retry_after_cap_s: float = 30.0
    http_transport: Any = Field(default=None, repr=False)

    # catalogue
    catalog_ttl_s: float = 300.0

    # storage
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)))

    # provider-specific defaults
    fly_app: str | None = None
    fly_org: str | None = None
    lambda_ssh_key: str | None = None

    # Fly platform ops
    fly_executable: str | None = None
    fly_poll_interval_s: float = 2.0
    fly_cli_timeout_s: float = 15.0
    fly_token_ttl_s: float = 86_400.0
    fly_soft_expiry_lead_s: float = 3_600.0
    fly_config_file_enabled: bool = True
    fly_token_storage_path: Path | None = None

    # orchestrator
    idle_ttl_s: float = 1_800.0
    heartbeat_s: float = 60.0
    reap_interval_s: float = 60.0
    #: providers the reaper lists (None: every provider with credentials)
    reap_providers: tuple[str, ...] | None = None
    #: run the reaper every reap_interval_s while the orchestrator guards computes
    reaper_enabled: bool = True
    name_prefix: str = "atlas-"
    reap_grace_s: float = 600.0
    #: how long past its lease a pod guard waits before ending its pod (renewal jitter)
    pod_guard_grace_s: float = 15.0
    #: this installation's owner tag (lowercase letters and digits, so no owner is another's
    #: prefix); None: a random one kept in data_dir
    owner: str | None = Field(default=None, pattern=OWNER_PATTERN)

    # shared store: None is the local files; "redis://..." a team's Redis (password masked)
    store: StoreURL | None = None
    #: the team key (Fernet) that encrypts Fly tokens in the shared store
    store_key: SecretStr | None = None

    # widgets
    log_buffer_lines: int = 5_000

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "http_transport":
                continue
            yield name, value

    @field_validator("store", mode="before")
    @classmethod
    def _check_store(cls, value: Any) -> StoreURL | None:
        if value is None or (isinstance(value, str) and value.strip() in ("", "local")):
            return None
        return store_url(value)

    @field_validator("store_key", mode="before")
    @classmethod
    def _check_store_key(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        if value is None or value == "":
            return None
        if not is_fernet_key(value):
            raise ValidationError(
                "store_key is not a Fernet key (32 url-safe base64-encoded bytes); the value "
                "is not shown",
                field="store_key",
                hint=FERNET_KEY_HINT,
            )
        return SecretStr(value)

    def api_key(self, provider: str) -> SecretStr | None:
        """The key configured for ``provider`` (without per-call arguments), or None."""
        key = self.api_keys.get(canonical_provider_name(provider))
        if key is not None:
            remember(key.get_secret_value())  # masked in every message, whatever its shape
        return key

    def base_url(self, key: str) -> str:
        return self.base_urls.get(key) or DEFAULT_BASE_URLS[key]


def _make_settings(**values: Any) -> Settings:
    """Build Settings, turning pydantic's error into atlas_nb's ValidationError."""
    from .models._base import validation_error

    try:
        return Settings(**values)
    except pydantic.ValidationError as exc:
        raise validation_error(exc, "Settings") from None


_FIELDS = set(Settings.model_fields) - {"api_keys", "base_urls", "config_file", "http_transport"}


def canonical_provider_name(name: str) -> str:
    """``"lambda_labs"`` → ``"lambda"``; other names unchanged."""
    return PROVIDER_ALIASES.get(name, name)


@dataclass
class _Layer:
    values: dict[str, Any]
    api_keys: dict[str, str]
    base_urls: dict[str, str]


class _Config:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.programmatic = _Layer({}, {}, {})
        self._file_cache: tuple[Path, int, _Layer] | None = None
        self._resolved: Settings | None = None
        self._resolved_stamp: Any = None

    def config_path(self) -> Path:
        return _config_path(
            os.environ.get(CONFIG_ENV), os.environ.get("HOME"), os.environ.get("XDG_CONFIG_HOME")
        )

    def file_layer(self) -> tuple[Path, _Layer | None]:
        path = self.config_path()
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return path, None
        cached = self._file_cache
        if cached and cached[0] == path and cached[1] == mtime:
            return path, cached[2]
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValidationError(
                f"cannot read the config file {path}: {exc}",
                field="config_file",
                hint="Fix the TOML syntax, or point ATLAS_NB_CONFIG at another file.",
            ) from None
        layer = _layer_from_mapping(data, source=str(path))
        self._file_cache = (path, mtime, layer)
        return path, layer

    def env_keys(self) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        for provider, names in ENV_VARS.items():
            for name in names:
                if os.environ.get(name):
                    found[provider] = (os.environ[name], name)
                    break
        return found

    def resolve(self) -> Settings:
        path, file_layer = self.file_layer()
        env = tuple(os.environ.get(name) for name in _ALL_ENV_NAMES)
        stamp = (id(self.programmatic), path, id(file_layer), env)
        resolved = self._resolved
        if resolved is not None and self._resolved_stamp == stamp:
            return resolved
        with self.lock:
            values: dict[str, Any] = {
                field: os.environ[name]
                for field, name in SETTING_ENV_VARS.items()
                if os.environ.get(name)
            }
            keys: dict[str, str] = {p: v for p, (v, _) in self.env_keys().items()}
            urls: dict[str, str] = dict(DEFAULT_BASE_URLS)
            for layer in (file_layer, self.programmatic):
                if layer is None:
                    continue
                values.update(layer.values)
                keys.update(layer.api_keys)
                urls.update(layer.base_urls)
            settings = _make_settings(
                **values,
                api_keys={k: SecretStr(v) for k, v in keys.items()},
                base_urls=urls,
                config_file=path if file_layer is not None else None,
            )
            self._resolved, self._resolved_stamp = settings, stamp
            return settings

    def key_sources(self) -> dict[str, str]:
        """Where each provider's key comes from (the winning layer)."""
        path, file_layer = self.file_layer()
        out = {p: f"environment variable {n}" for p, (_, n) in self.env_keys().items()}
        if file_layer:
            out.update({p: f"config file {path}" for p in file_layer.api_keys})
        out.update({p: "atlas_nb.configure()" for p in self.programmatic.api_keys})
        return out


_ALL_ENV_NAMES = tuple(n for names in ENV_VARS.values() for n in names) + tuple(
    SETTING_ENV_VARS.values()
)


@functools.lru_cache(maxsize=8)
def _config_path(explicit: str | None, home: str | None, xdg: str | None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "atlas_nb.toml"


def _layer_from_mapping(data: Mapping[str, Any], *, source: str) -> _Layer:
    values: dict[str, Any] = {}
    api_keys: dict[str, str] = {}
    base_urls: dict[str, str] = {}
    for key, value in data.items():
        if key == "schema_version":
            if not isinstance(value, int) or value > SCHEMA_VERSION:
                raise ValidationError(
                    f"{source} has schema_version {value!r}; this atlas_nb reads up to "
                    f"{SCHEMA_VERSION}",
                    field="schema_version",
                    hint="Upgrade atlas_nb, or fix schema_version.",
                )
            continue
        if key == "api_keys":
            api_keys.update(_check_keys(value, source))
        elif key == "base_urls":
            base_urls.update(_check_urls(value, source))
        elif key in _FIELDS:
            values[key] = value
        else:
            raise ValidationError(
                f"unknown setting {key!r} in {source}.{did_you_mean(key, _FIELDS)}",
                field=key,
                hint=f"Known settings: {', '.join(sorted(_FIELDS))}.",
            )
    return _Layer(values, api_keys, base_urls)


def _check_keys(value: Any, source: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"api_keys in {source} must be a table of provider = key", field="api_keys"
        )
    out = {}
    for provider, key in value.items():
        name = canonical_provider_name(str(provider))
        if name not in PROVIDER_NAMES and not str(provider).startswith("custom:"):
            raise ValidationError(
                f"api_keys has unknown provider {provider!r}.{did_you_mean(name, PROVIDER_NAMES)}",
                field="api_keys",
                hint=f"Known providers: {', '.join(PROVIDER_NAMES)}.",
            )
        secret = key.get_secret_value() if isinstance(key, SecretStr) else key
        if secret:
            out[name] = str(secret)
    return out


def _check_urls(value: Any, source: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"base_urls in {source} must be a table of name = url", field="base_urls"
        )
    out = {}
    for name, url in value.items():
        if name not in DEFAULT_BASE_URLS:
            raise ValidationError(
                f"base_urls has unknown key {name!r}.{did_you_mean(name, DEFAULT_BASE_URLS)}",
                field="base_urls",
                hint=f"Known keys: {', '.join(DEFAULT_BASE_URLS)}.",
            )
        out[name] = str(url).rstrip("/")
    return out


_config = _Config()


def _reset_lock_in_child() -> None:
    """A fork copies the lock as it was; if another thread held it, the child would block
    forever on its first settings() call. The child has only this thread: a new lock is safe."""
    _config.lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_in_child)
_UNSET = object()


def configure(
    *,
    default_provider: str | None = None,
    api_keys: Mapping[str, str | SecretStr | None] | None = None,
    base_urls: Mapping[str, str] | None = None,
    reset: bool = False,
    **settings: Any,
) -> None:
    """Set process-wide settings; they win over the config file and the environment.

    ``api_keys`` maps provider names to keys (a ``None`` value removes one), ``base_urls``
    maps the keys of :data:`DEFAULT_BASE_URLS` to URLs. ``reset=True`` clears everything set
    here first. Unknown setting names raise ``ValidationError`` with a suggestion.

        >>> configure(api_keys={"runpod": "rpa_example"}, timeout_s=10)
        >>> settings().timeout_s
        10.0
        >>> configure(reset=True)
    """
    source = "atlas_nb.configure()"
    raw: dict[str, Any] = dict(settings)
    transport = raw.pop("http_transport", _UNSET)
    if default_provider is not None:
        raw["default_provider"] = default_provider
    layer = _layer_from_mapping(raw, source=source)
    if transport is not _UNSET:  # an object, not a file setting: only configure() takes it
        layer.values["http_transport"] = transport
    new_keys = _check_keys({k: v for k, v in (api_keys or {}).items() if v is not None}, source)
    dropped = {canonical_provider_name(k) for k, v in (api_keys or {}).items() if v is None}
    new_urls = _check_urls(base_urls, source)
    with _config.lock:
        old = _Layer({}, {}, {}) if reset else _config.programmatic
        merged = _Layer(
            {**old.values, **layer.values},
            {k: v for k, v in {**old.api_keys, **new_keys}.items() if k not in dropped},
            {**old.base_urls, **new_urls},
        )
    # validate the merged values before committing them
    _make_settings(**merged.values)
    with _config.lock:
        _config.programmatic = merged
        _config._resolved = None


@contextlib.contextmanager
def override(**changes: Any) -> Iterator[Settings]:
    """Apply :func:`configure` ``changes`` for the ``with`` block, then restore the previous
    programmatic configuration (whatever configure() calls were made inside). Nestable; the
    swap is made under the config lock. Yields the settings in force.

        >>> configure(default_provider="mock")
        >>> with override(default_provider="runpod", timeout_s=7) as s:
        ...     with override(default_provider="vast"):
        ...         settings().default_provider
        ...     (s.default_provider, settings().default_provider, settings().timeout_s)
        'vast'
        ('runpod', 'runpod', 7.0)
        >>> settings().default_provider
        'mock'
        >>> configure(reset=True)
    """
    with _config.lock:
        saved = _config.programmatic
    configure(**changes)  # validated first: on error nothing changed
    try:
        yield settings()
    finally:
        with _config.lock:
            _config.programmatic = saved
            _config._resolved = None


def settings() -> Settings:
    """The resolved settings (secrets masked in the repr)."""
    return _config.resolve()


def key_hint(provider: str | None) -> str:
    """What to do about a rejected or missing key, naming the provider's variable.

    >>> key_hint("vast").endswith("or set VAST_API_KEY.")
    True
    """
    names = ENV_VARS.get(provider or "", ["the provider's API key variable"])
    return (
        "Check the API key. Pass api_key=..., call atlas.configure(api_keys={...}), "
        f"or set {names[0]}."
    )


def key_sources() -> dict[str, str]:
    """For each provider with a key: where the key was found (no secret values)."""
    return _config.key_sources()


def config_path() -> Path:
    """The config file atlas_nb reads (it may not exist)."""
    return _config.config_path()


def resolve_api_key(
    provider: str,
    api_key: str | SecretStr | None = None,
    *,
    required: bool = True,
    config: Settings | None = None,
) -> SecretStr | None:
    """The key to use for ``provider``: per-call > configure > config file > environment.

    A missing required key raises :class:`MissingCredentialsError` naming every place looked.
    """
    if api_key:
        return api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
    name = canonical_provider_name(provider)
    found = (config or settings()).api_key(name)
    if found is not None or not required:
        return found
    env = " or ".join(ENV_VARS.get(name, [])) or "(none for this provider)"
    raise MissingCredentialsError(
        f"no API key for {name}. Looked in: the api_key= argument; "
        f"atlas_nb.configure(api_keys={{{name!r}: ...}}); the config file {config_path()} "
        f"([api_keys] {name} = ...); and the environment variable {env}",
        provider=name,
        hint="Set one of them (`atlas-nb init` writes a commented config file).",
    )
