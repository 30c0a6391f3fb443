"""One error type with a stable ``kind``, a subclass per kind, and the mapping from responses.

Every failure atlas_nb raises is an :class:`AtlasError`. Catch the subclass you care about, or
branch on ``err.kind``:

    >>> err = error_from_response("runpod", 404, {"title": "Not Found", "status": 404,
    ...                                          "detail": "pod not found"})
    >>> err.kind, type(err).__name__
    ('not_found', 'NotFoundError')
    >>> print(err)  # doctest: +ELLIPSIS
    [runpod] not found (HTTP 404): pod not found. Check the id; ...
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
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

_REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "fly-request-id",
    "x-runpod-request-id",
    "x-amzn-requestid",
    "cf-ray",
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

    def _default_hint(self) -> str:
        env = ENV_VARS.get(self.provider or "", ["the provider's API key variable"])
        return (
            "Check the API key: pass api_key=..., call atlas.configure(api_keys={...}), "
            f"or set {env[0]}."
        )


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

ENV_VARS: dict[str, list[str]] = {
    "runpod": ["RUNPOD_API_KEY"],
    "lambda": ["LAMBDA_API_KEY", "LAMBDA_LABS_API_KEY"],
    "vast": ["VAST_API_KEY"],
    "fly": ["FLY_API_TOKEN", "FLY_ACCESS_TOKEN"],
}


def error_class(kind: str) -> type[AtlasError]:
    """The exception class for a kind: ``error_class("not_found") is NotFoundError``."""
    return _BY_KIND[kind]


def kind_for_status(status: int) -> str:
    """Map an HTTP status to an error kind.

    >>> [kind_for_status(s) for s in (400, 401, 403, 404, 408, 409, 422, 429, 500)]
    ['validation', 'unauthorized', 'forbidden', 'not_found', 'timeout', 'conflict', \
'validation', 'rate_limited', 'provider']
    """
    return {
        400: "validation",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        408: "timeout",
        409: "conflict",
        410: "not_found",
        422: "validation",
        429: "rate_limited",
    }.get(status, "provider")


# Lambda and Vast send machine-readable codes; they decide the kind over the HTTP status.
_CODE_KINDS: dict[str, str] = {
    "global/invalid-api-key": "unauthorized",
    "global/account-inactive": "forbidden",
    "global/invalid-address": "forbidden",
    "global/invalid-parameters": "validation",
    "global/object-does-not-exist": "not_found",
    "global/quota-exceeded": "provider",
    "global/duplicate": "conflict",
    "instance-operations/launch/insufficient-capacity": "provider",
    "instance-operations/launch/file-system-in-wrong-region": "validation",
    "filesystems/filesystem-in-use": "conflict",
    "ssh-keys/key-in-use": "conflict",
    "auth_error": "unauthorized",
    "invalid_args": "validation",
    "invalid_price": "validation",
    "invalid_request": "validation",
    "no_ssh_key_for_vm": "validation",
    "no_such_ask": "not_found",
    "no_such_instance": "not_found",
    "not_found": "not_found",
    "rate_limit_exceeded": "rate_limited",
    "name_taken": "conflict",
    "insufficient_capacity": "provider",
}
_CAPACITY_CODES = {"instance-operations/launch/insufficient-capacity", "insufficient_capacity"}
_CODE_CLASSES: dict[str, type[AtlasError]] = {"global/quota-exceeded": QuotaExceededError}


def parse_error_body(body: Any) -> tuple[str | None, str | None, str | None]:
    """Pull ``(message, code, suggestion)`` out of any provider's error envelope.

    Handles RunPod v2 problem+json, Lambda ``{"error": {...}}``, Vast ``{"error", "msg"}``,
    Fly ``{"error", "status"}``, GraphQL ``{"errors": [...]}`` and plain text.

    >>> parse_error_body({"error": {"code": "global/invalid-api-key", "message": "Bad key",
    ...                             "suggestion": "Make a new one."}})
    ('Bad key', 'global/invalid-api-key', 'Make a new one.')
    >>> parse_error_body({"title": "Bad Request", "status": 400, "detail": "invalid body",
    ...                   "errors": ["$.name: required"]})
    ('invalid body: $.name: required', None, None)
    """
    if body is None or body == "":
        return None, None, None
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        text = body.strip()
        if text.startswith(("{", "[")):
            try:
                return parse_error_body(json.loads(text))
            except ValueError:
                pass
        return (text[:500] or None), None, None
    if isinstance(body, list):
        return (str(body[0])[:500] if body else None), None, None
    if not isinstance(body, Mapping):
        return str(body)[:500], None, None
    err = body.get("error")
    if isinstance(err, Mapping):
        msg = err.get("message") or err.get("msg")
        return _s(msg), _s(err.get("code")), _s(err.get("suggestion"))
    if "detail" in body and ("title" in body or "status" in body):
        detail = _s(body.get("detail")) or _s(body.get("title"))
        extra = body.get("errors")
        if isinstance(extra, list) and extra:
            detail = f"{detail}: {'; '.join(str(e) for e in extra[:5])}"
        return detail, None, None
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, Mapping):
            return _s(first.get("message")), _s((first.get("extensions") or {}).get("code")), None
        return str(first), None, None
    if isinstance(err, str):
        msg = body.get("msg") or body.get("message")
        status_code = body.get("status") if isinstance(body.get("status"), str) else None
        if msg:
            return _s(msg), err, None
        return err, status_code, None
    for key in ("message", "msg", "detail"):
        if isinstance(body.get(key), str):
            return body[key], None, None
    return None, None, None


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def error_from_response(
    provider: str | None,
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    *,
    retry_after_s: float | None = None,
) -> AtlasError:
    """Build the right :class:`AtlasError` subclass for a failed HTTP response."""
    message, code, suggestion = parse_error_body(body)
    kind = kind_for_status(status)
    if code and code in _CODE_KINDS:
        kind = _CODE_KINDS[code]
    request_id = None
    if headers:
        lowered = {k.lower(): v for k, v in headers.items()}
        request_id = next((lowered[h] for h in _REQUEST_ID_HEADERS if lowered.get(h)), None)
    cls = CapacityError if code in _CAPACITY_CODES else error_class(kind)
    cls = _CODE_CLASSES.get(code or "", cls)
    if status == 402:
        cls = InsufficientBalanceError
    if message is None:
        message = f"the provider answered HTTP {status} without an explanation"
    if suggestion and cls is UnauthorizedError:  # keep saying where the key comes from
        probe = UnauthorizedError(provider=provider)
        suggestion = f"{suggestion.rstrip('.')}. {probe._default_hint()}"
    if suggestion and cls is QuotaExceededError:  # a quota is per provider: say where else
        suggestion = f"{suggestion.rstrip('.')}, or try another provider (atlas.offers(...))."
    return cls(
        message,
        provider=provider,
        status=status,
        request_id=request_id,
        code=code,
        raw=body,
        hint=suggestion,
        retry_after_s=retry_after_s,
    )


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """A ``did you mean ...?`` suffix, or an empty string.

    >>> did_you_mean("h10", ["h100", "h200", "a100_80g"])
    " Did you mean 'h100'?"
    """
    matches = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""
