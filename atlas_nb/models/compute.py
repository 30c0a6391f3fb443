"""Compute requests (validated input) and computes (normalised output)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_serializer,
    field_validator,
)

from .._deprecated import renamed_method
from .._redact import redact_value
from .._runtime import run_sync
from ..errors import ValidationError
from ..gpus import family_members, normalize_gpu
from ._base import Model, ProviderBound

if TYPE_CHECKING:
    from ..providers.base import Provider


class ComputeStatus(StrEnum):
    """Normalised lifecycle status shared by every provider (the provider's own is kept too)."""

    PROVISIONING = "provisioning"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    TERMINATING = "terminating"
    TERMINATED = "terminated"
    FAILED = "failed"
    UNKNOWN = "unknown"


#: Statuses a compute never leaves by itself.
FINAL_COMPUTE_STATUSES = frozenset({ComputeStatus.TERMINATED, ComputeStatus.FAILED})

_PORT = re.compile(r"^\s*(\d{1,5})\s*(?:/\s*(http|tcp|udp))?\s*$", re.IGNORECASE)


class PortSpec(Model):
    """A port to expose: ``"8000/http"`` or ``"22/tcp"`` (a bare number means http)."""

    port: int = Field(ge=1, le=65535)
    protocol: Literal["http", "tcp"] = "http"

    def __str__(self) -> str:
        return f"{self.port}/{self.protocol}"


#: one port: ``8000`` (http), ``"8000/http"``, ``"22/tcp"``, ``(22, "tcp")`` or a PortSpec
PortLike = int | str | tuple[int, str] | PortSpec
#: ``ports=`` of a spawn: one port or several
Ports = PortLike | Iterable[PortLike]


def parse_port(value: Any) -> PortSpec:
    """``"8000/http"``, ``8000``, ``(22, "tcp")`` or a PortSpec → PortSpec."""
    if isinstance(value, PortSpec):
        return value
    if isinstance(value, bool):
        raise ValueError(f"port {value!r} is not a port")
    if isinstance(value, int):
        return PortSpec(port=value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return PortSpec(port=int(value[0]), protocol=str(value[1]).lower())
    if isinstance(value, str):
        m = _PORT.match(value)
        if m and (m.group(2) or "http").lower() in ("http", "tcp"):
            return PortSpec(port=int(m.group(1)), protocol=(m.group(2) or "http").lower())
    raise ValueError(
        f"port {value!r} is not valid; use '<port>/http' or '<port>/tcp' with port 1-65535"
    )


class ComputeRequest(Model):
    """What to spawn. Validated: bad input raises ``ValidationError`` naming the field.

    >>> ComputeRequest(gpu="H100", image="python:3.11", ports=["8000/http", 22]).ports
    [PortSpec(port=8000, protocol='http'), PortSpec(port=22, protocol='http')]
    """

    gpu: str | None = None
    gpu_count: int = Field(default=1, ge=1, le=16)
    image: str | None = None
    template: str | None = None
    name: str | None = Field(default=None, max_length=64)
    ports: list[PortSpec] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    spot: bool = False
    cloud: Literal["secure", "community", "any"] | None = None
    regions: list[str] = Field(default_factory=list)
    disk_gb: int | None = Field(default=None, ge=1, le=10_000)
    volume_gb: int | None = Field(default=None, ge=1, le=100_000)
    auth: Literal["none", "bearer", "signed_url"] = "none"
    idle_ttl: float | None = Field(default=None, gt=0)
    max_runtime: float | None = Field(default=None, gt=0)
    max_cost_usd: float | None = Field(default=None, gt=0)
    offer_id: str | None = None
    provider_opts: dict[str, Any] = Field(default_factory=dict)

    @field_validator("gpu", mode="before")
    @classmethod
    def _gpu(cls, v: Any) -> Any:
        members = family_members(v) if isinstance(v, str) else ()
        if members:
            raise ValidationError(
                f"gpu={v!r} is a family of GPUs ({', '.join(members)}); a spawn needs one",
                field="gpu",
                hint=f"Say which (gpu={members[0]!r}), or spawn a row of "
                f"atlas.offers(gpu={v!r}) to launch exactly that offer.",
            )
        return None if v is None else normalize_gpu(v)

    @field_validator("ports", mode="before")
    @classmethod
    def _ports(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, (str, int)):
            v = [v]
        if not isinstance(v, Iterable) or isinstance(v, (Mapping, bytes)):
            raise ValueError(f"must be a port or a list of ports, not {type(v).__name__}")
        return [parse_port(p) for p in v]

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, v: Any) -> Any:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise ValueError("env must be a dict of name -> value")
        out = {}
        for k, val in v.items():
            if not isinstance(k, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
                raise ValueError(f"env name {k!r} is not a valid variable name")
            out[k] = val if isinstance(val, str) else ("" if val is None else str(val))
        return out

    @field_serializer("env", "provider_opts", when_used="json")
    def _shown(self, value: dict[str, Any]) -> dict[str, Any]:
        """JSON dumps show secret-looking values as ``***`` (``.env`` keeps the real ones,
        which are what the provider gets)."""
        shown: dict[str, Any] = redact_value(value)
        return shown

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (redact_value(value) if name in ("env", "provider_opts") else value)

    @field_validator("regions", mode="before")
    @classmethod
    def _regions(cls, v: Any) -> Any:
        from .._args import names

        return names(v, "regions")

    @field_validator("idle_ttl", "max_runtime", mode="before")
    @classmethod
    def _duration(cls, v: Any, info: ValidationInfo) -> Any:
        from .._durations import optional_seconds

        return optional_seconds(v, field=info.field_name or "duration")

    def require_image(self, provider: str) -> None:
        """Refuse a request without a container image or template (most providers need one;
        Lambda launches a plain VM without).

        >>> ComputeRequest(gpu="h100").require_image("RunPod")
        Traceback (most recent call last):
        ...
        atlas_nb.errors.ValidationError: validation: RunPod needs a container image. Pass \
image= (a container image) or template= (a template id).
        """
        given = (
            self.image,
            self.template,
            self.provider_opts.get("image"),
            self.provider_opts.get("templateId"),
        )
        if all(v is None for v in given):
            raise ValidationError(
                f"{provider} needs a container image",
                field="image",
                hint="Pass image= (a container image) or template= (a template id).",
            )


class Port(Model):
    """An exposed port and how to reach it."""

    internal: int
    external: int | None = None
    protocol: Literal["http", "tcp"] = "http"
    url: str | None = None


class AuthHandle(Model):
    """How to authenticate to the pod. ``token`` is shown once; only its hash is kept."""

    scheme: Literal["bearer", "signed_url"]
    token: SecretStr | None = None
    hash: str | None = None
    header: SecretStr | None = None

    def signer(self) -> Any:
        """For ``signed_url``: a function ``sign(url, expires_in=3600) -> str``."""
        from ..auth import signer_for

        return signer_for(self)


class Compute(ProviderBound):
    """A compute (pod, instance, machine) as every provider reports it.

    Methods mirror the facade: ``refresh()``, ``wait_until_running()``, ``start()``, ``stop()``,
    ``terminate()``, ``logs()``, ``touch()``; each has an awaitable twin with an ``a`` prefix
    (``arefresh``, ``await_until_running``, ``astart``, ``astop``, ``aterminate``, ``atouch``).
    """

    id: str
    provider: str
    name: str | None = None
    status: ComputeStatus = ComputeStatus.UNKNOWN
    provider_status: str | None = None
    gpu: str | None = None
    gpu_count: int = 0
    image: str | None = None
    region: str | None = None
    cost_per_hr: float | None = None
    ports: list[Port] = Field(default_factory=list)
    public_ip: str | None = None
    #: the provider's private / internal address (Lambda VPC IP, Fly 6PN IPv6)
    private_ip: str | None = None
    #: the instance's host name (Lambda)
    hostname: str | None = None
    #: where to SSH in (Vast's ``ssh_host``/``ssh_port``; often a proxy, not the public IP)
    ssh_host: str | None = None
    ssh_port: int | None = None
    #: a notebook URL the provider serves for it (Lambda's Jupyter)
    jupyter_url: str | None = None
    #: the provider's own words on the state, e.g. why it failed (Vast ``status_msg``)
    status_message: str | None = None
    #: the health of the host it runs on (Fly ``host_status``: ok, unknown, unreachable)
    host_status: str | None = None
    #: health checks as the provider reports them (Fly: ``[{name, status, output, ...}]``)
    checks: list[dict[str, Any]] = Field(default_factory=list)
    created_at: datetime | None = None
    auth: AuthHandle | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    _launch_attempts: Any = PrivateAttr(default=None)

    @field_validator("raw", mode="after")
    @classmethod
    def _raw_redacted(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """``raw`` is for display and debugging: secrets in it (a user's ``HF_TOKEN`` in the
        pod env, a key echoed back) are masked on the way in."""
        shown: dict[str, Any] = redact_value(raw)
        return shown

    def bind(self, provider: Provider) -> Compute:
        """Attach the provider instance that made this (used by the methods); the id is
        remembered, so ``atlas.logs(compute.id)`` finds this provider again."""
        from ..providers.registry import remember

        remember(self.id, provider)
        return super().bind(provider)

    @property
    def launch_attempts(self) -> Any:
        """From ``atlas.launch``: the DataFrame of the offers tried to get this (else None)."""
        return self._launch_attempts

    @launch_attempts.setter
    def launch_attempts(self, attempts: Any) -> None:
        self._launch_attempts = attempts

    @property
    def is_running(self) -> bool:
        return self.status == ComputeStatus.RUNNING

    def url(self, port: int) -> str | None:
        """The URL of an exposed internal port, if the provider gave one."""
        return next((p.url for p in self.ports if p.internal == port), None)

    # -- methods (async first, sync twins generated) ------------------------------------------
    async def arefresh(self) -> Compute:
        from ..core import compute as api

        return await api.compute(self.id, provider=self._prov())

    async def await_until_running(
        self, timeout: float = 600.0, *, progress: bool | None = None
    ) -> Compute:
        from ..core import compute as api

        return await api.wait_until_running(self, timeout=timeout, progress=progress)

    async def astart(self) -> Compute:
        from ..core import compute as api

        return await api.start(self.id, provider=self._prov())

    async def astop(self, *, allow_destructive: bool = False) -> Compute:
        from ..core import compute as api

        return await api.stop(self.id, provider=self._prov(), allow_destructive=allow_destructive)

    async def aterminate(self, *, allow_destructive: bool = False) -> None:
        from ..core import compute as api

        await api.terminate(self.id, provider=self._prov(), allow_destructive=allow_destructive)

    async def atouch(self) -> None:
        from ..orchestrator import api as orch

        await orch.touch(self.id)

    # deprecated names (one release): the rule is an ``a`` prefix
    refresh_async: ClassVar[Any] = renamed_method("refresh_async", "arefresh")
    wait_until_running_async: ClassVar[Any] = renamed_method(
        "wait_until_running_async", "await_until_running"
    )
    start_async: ClassVar[Any] = renamed_method("start_async", "astart")
    stop_async: ClassVar[Any] = renamed_method("stop_async", "astop")
    terminate_async: ClassVar[Any] = renamed_method("terminate_async", "aterminate")
    touch_async: ClassVar[Any] = renamed_method("touch_async", "atouch")

    def refresh(self) -> Compute:
        """The compute's current state (a new object)."""
        return run_sync(self.arefresh())

    def wait_until_running(
        self, timeout: float = 600.0, *, progress: bool | None = None
    ) -> Compute:
        """Poll until running (a progress bar in notebooks and terminals); raise on failure or
        timeout."""
        return run_sync(self.await_until_running(timeout, progress=progress))

    def start(self) -> Compute:
        return run_sync(self.astart())

    def stop(self, *, allow_destructive: bool = False) -> Compute:
        """Stop it (another owner's tracked compute needs ``allow_destructive=True``)."""
        return run_sync(self.astop(allow_destructive=allow_destructive))

    def terminate(self, *, allow_destructive: bool = False) -> None:
        """Destroy it (another owner's tracked compute needs ``allow_destructive=True``)."""
        run_sync(self.aterminate(allow_destructive=allow_destructive))

    def touch(self) -> None:
        """Mark activity so the orchestrator's idle timer restarts."""
        run_sync(self.atouch())

    def logs(self, **kwargs: Any) -> Any:
        """The live log stream of this compute (where the provider has logs)."""
        from ..core import compute as api

        return api.logs(self.id, provider=self._prov(), **kwargs)

    # -- display --------------------------------------------------------------------------
    def _summary(self) -> list[tuple[str, str]]:
        from ..widgets.theme import money

        rows = [
            ("id", self.id),
            ("provider", self.provider),
            ("name", self.name or "-"),
            ("status", f"{self.status.value} ({self.provider_status or '-'})"),
            ("gpu", f"{self.gpu_count} x {self.gpu}" if self.gpu else "cpu"),
            ("image", self.image or "-"),
            ("region", self.region or "-"),
            ("cost", f"{money(self.cost_per_hr, 4)}/hr" if self.cost_per_hr is not None else "-"),
        ]
        for p in self.ports:
            rows.append((f"port {p.internal}/{p.protocol}", p.url or str(p.external or "-")))
        if self.auth:
            rows.append(("auth", f"{self.auth.scheme} (token hidden)"))
        return rows

    def _repr_html_(self) -> str:
        from ..widgets.theme import status_colour

        colour = status_colour(self.status, "#666")
        rows = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self._summary()
        )
        return (
            f"<div class='atlas-compute'><b>Compute</b> "
            f"<span style='color:{colour}'>&#9679; {self.status.value}</span>"
            f"<table>{rows}</table></div>"
        )
