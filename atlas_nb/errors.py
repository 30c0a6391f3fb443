"""One error type with a stable ``kind`` and a subclass per kind.

Every failure atlas_nb raises is an :class:`AtlasError`. Catch the subclass you care about, or
branch on ``err.kind`` (failed HTTP responses are mapped to these in
:mod:`atlas_nb.transport.error_mapping`):

    >>> err = NotFoundError("pod not found", provider="runpod", status=404)
    >>> err.kind, isinstance(err, AtlasError)
    ('not_found', True)
    >>> print(err)  # doctest: +ELLIPSIS
    [runpod] not found (HTTP 404): pod not found. Check the id; ...
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, ClassVar

from ._redact import redact, redact_value

KINDS = (
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "rate_limited",
    "timeout",
    "unsupported",
    "validation",
    "provider",
    "transport",
)


class AtlasError(Exception):
    """Base of every atlas_nb error.

    Attributes: ``kind`` (one of :data:`KINDS`), ``provider``, ``status`` (HTTP status or None),
    ``request_id`` (the provider's, when it sent one), ``message`` (the provider's or ours),
    ``code`` (the provider's machine-readable error code, when any), ``raw`` (the body),
    ``hint`` (the next step) and ``retry_after_s``.
    """

    kind: ClassVar[str] = "provider"
    default_hint: ClassVar[str] = ""

    def __init__(
        self,
        message: str | None = None,
        *,
        provider: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
        raw: Any = None,
        hint: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.message = redact(message) if message else message
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.code = code
        self.raw = redact_value(raw)
        self.hint = redact(hint) if hint else hint
        self.retry_after_s = retry_after_s
        super().__init__(self._render())

    def amend(self, *, message: str | None = None, hint: str | None = None) -> AtlasError:
        """Replace the message and/or the hint (redacted, as in the constructor) and the text
        the error shows; returns the error, to ``raise`` it.

            >>> err = NotFoundError("no pod p1", provider="runpod", hint="Try again.")
            >>> str(err.amend(hint="Check the id (atlas.computes() lists them)."))
            '[runpod] not found: no pod p1. Check the id (atlas.computes() lists them).'
        """
        if message is not None:
            self.message = redact(message)
        if hint is not None:
            self.hint = redact(hint)
        self.args = (self._render(),)
        return self

    def _render(self) -> str:
        where = f"[{self.provider}] " if self.provider else ""
        bits = []
        if self.status is not None:
            bits.append(f"HTTP {self.status}")
        if self.request_id:
            bits.append(f"request {self.request_id}")
        detail = f" ({', '.join(bits)})" if bits else ""
        text = (self.message or "no message").rstrip()
        hint = self.hint if self.hint is not None else self._default_hint()
        if hint and not text.endswith((".", "!", "?")):
            text += "."
        return redact(
            f"{where}{self.kind.replace('_', ' ')}{detail}: {text}" + (f" {hint}" if hint else "")
        )

    def _default_hint(self) -> str:
        return self.default_hint

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (type(self), self.message, self.__dict__.copy()),
        )


def _rebuild(cls: type[AtlasError], message: str | None, state: dict[str, Any]) -> AtlasError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, message)
    return err


class UnauthorizedError(AtlasError):
    kind = "unauthorized"

    default_hint = "Check the provider's API key and where it is set (`atlas-nb doctor`)."


class MissingCredentialsError(UnauthorizedError):
    """No API key could be found for a provider (no HTTP call was made)."""


class ForbiddenError(AtlasError):
    kind = "forbidden"
    default_hint = "The key is valid but lacks permission for this; use a key with that scope."


class NotFoundError(AtlasError):
    kind = "not_found"
    default_hint = "Check the id; it may have been terminated or belong to another account."


class ConflictError(AtlasError):
    kind = "conflict"
    default_hint = "The resource is busy or in a state that does not allow this; retry later."


class RateLimitedError(AtlasError):
    kind = "rate_limited"

    def _default_hint(self) -> str:
        if self.retry_after_s is not None:
            return f"Slow down; the provider asks to retry after {self.retry_after_s:g} s."
        return "Slow down and retry in a few seconds."


class AtlasTimeoutError(AtlasError, TimeoutError):
    kind = "timeout"
    default_hint = "Retry, or pass a larger timeout=."


class UnsupportedError(AtlasError):
    kind = "unsupported"


class ValidationError(AtlasError, ValueError):
    """Bad input: names the field and what is allowed."""

    kind = "validation"

    def __init__(self, message: str | None = None, *, field: str | None = None, **kw: Any):
        self.field = field
        super().__init__(message, **kw)


class ProviderError(AtlasError):
    kind = "provider"
    default_hint = "The provider reported an error; retry later or check its status page."


class CapacityError(ProviderError):
    """The provider has no capacity for the request right now (a ``provider`` kind).

    From ``atlas.launch``, ``attempts`` is the DataFrame of the offers it tried (else None).
    """

    default_hint = (
        "Try another region, GPU type or provider (atlas.offers(...) shows what is free)."
    )

    def __init__(self, message: str | None = None, *, attempts: Any = None, **kw: Any) -> None:
        self.attempts = attempts
        super().__init__(message, **kw)


class QuotaExceededError(CapacityError):
    """The account's quota is used up (Lambda ``global/quota-exceeded``); never retried."""

    default_hint = (
        "Contact the provider's support to raise your quota, or try another provider "
        "(atlas.offers(...) compares them)."
    )


class InsufficientBalanceError(ProviderError):
    """The account's balance cannot pay for the request (RunPod HTTP 402); never retried."""

    default_hint = "Add credit to the account (or lower the request), then try again."


class TrackedStoreError(ValidationError):
    """The tracked-computes store (``<data_dir>/tracked``) cannot be used or holds a bad record."""


class ComputeMayExistError(ProviderError):
    """The provider accepted a create, but atlas_nb could not confirm the compute: it may exist
    and bill. ``compute_id`` is its id when the provider returned one, ``name`` its unique name."""

    def __init__(
        self,
        message: str | None = None,
        *,
        compute_id: str | None = None,
        name: str | None = None,
        auth: Any = None,
        **kw: Any,
    ) -> None:
        self.compute_id = compute_id
        self.name = name
        self.auth = auth  # the pod's AuthHandle (auth="bearer"/"signed_url"): its token
        super().__init__(message, **kw)

    def _default_hint(self) -> str:
        if self.compute_id:
            return (
                f"It may be running: check atlas.compute({self.compute_id!r}, "
                f"provider={self.provider!r}) and terminate it if you do not want it."
            )
        return (
            f"It may be running: look for it with atlas.computes(provider={self.provider!r}, "
            f"name={self.name!r}) and terminate it if you do not want it."
        )


class TransportError(AtlasError):
    kind = "transport"
    default_hint = "Check the network connection and the provider's base URL."


class StoreUnavailableError(TransportError):
    """The team store (Redis) cannot be reached or refused the request; the message names its
    URL with the password masked. Nothing falls back silently to the local files."""

    default_hint = (
        "Check that Redis runs and that the store URL (atlas-nb doctor) and its password are "
        "right, or configure(store=None) to use the local files."
    )


class JobFailedError(ProviderError):
    """A serverless job ended FAILED, CANCELLED or TIMED_OUT. ``job`` is the final Job."""

    default_hint = "Inspect job.error / job.raw; job.retry() re-runs FAILED and TIMED_OUT jobs."

    def __init__(self, message: str | None = None, *, job: Any = None, **kw: Any) -> None:
        self.job = job
        super().__init__(message, **kw)


class StorageError(AtlasError):
    """A local file or store atlas_nb keeps (the config file, token storage) could not be read
    or written. What was there before is left as it was."""

    kind = "provider"
    default_hint = "Check the disk (free space, permissions, I/O errors), then retry."


class TokenPersistError(ProviderError):
    """Saving a manual token failed; nothing was stored."""

    default_hint = "Check that the token storage directory is writable."


class ManualTokenStoreCorrupt(ProviderError):
    """The manual token store cannot be read. It is left untouched so nothing is lost."""

    default_hint = "Move the file aside (or repair it) and set the manual tokens again."


class SignatureError(ForbiddenError):
    """A signed URL failed verification."""


class SignatureExpired(SignatureError):
    default_hint = "Ask for a fresh link."


class SignatureTampered(SignatureError):
    default_hint = "The link was altered after signing; use the link exactly as issued."


class SignatureMalformed(SignatureError):
    default_hint = "The link lacks its exp/sig parameters or they are not well formed."


class DeployError(ProviderError):
    """A ``fly deploy`` did not succeed. ``reason`` is not_found, invalid_dir, timeout or exit."""

    kind = "provider"

    def __init__(
        self,
        message: str | None = None,
        *,
        reason: str = "exit",
        exit_code: int | None = None,
        output: str = "",
        **kw: Any,
    ) -> None:
        self.reason = reason
        self.exit_code = exit_code
        self.output = output
        super().__init__(message, **kw)


class DeployNotFoundError(DeployError):
    default_hint = "Install flyctl (https://fly.io/docs/flyctl/install/) or set fly_executable."


class DeployTimeoutError(DeployError, AtlasTimeoutError):
    kind = "timeout"
    default_hint = "The deploy process group was killed; raise timeout= if builds are slow."


class DeployExitError(DeployError):
    default_hint = "Read the deploy output above for the cause."


class DeployInvalidDirError(DeployError, ValidationError):
    """The deploy directory does not exist or is not a directory (nothing was started)."""

    kind = "validation"
    default_hint = "Pass path= the directory that holds the app's fly.toml."


_BY_KIND: dict[str, type[AtlasError]] = {
    "unauthorized": UnauthorizedError,
    "forbidden": ForbiddenError,
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "rate_limited": RateLimitedError,
    "timeout": AtlasTimeoutError,
    "unsupported": UnsupportedError,
    "validation": ValidationError,
    "provider": ProviderError,
    "transport": TransportError,
}


def error_class(kind: str) -> type[AtlasError]:
    """The exception class for a kind: ``error_class("not_found") is NotFoundError``."""
    return _BY_KIND[kind]


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """A ``did you mean ...?`` suffix, or an empty string.

    >>> did_you_mean("h10", ["h100", "h200", "a100_80g"])
    " Did you mean 'h100'?"
    """
    matches = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""
