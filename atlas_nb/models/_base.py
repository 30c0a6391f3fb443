"""Shared pydantic base: invalid input raises atlas_nb's ``ValidationError``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pydantic
from pydantic import BaseModel, ConfigDict, PrivateAttr

from ..errors import ValidationError

if TYPE_CHECKING:
    from typing import Self

    from ..providers.base import Provider


def validation_error(exc: pydantic.ValidationError, model: str) -> ValidationError:
    """Turn pydantic's error into one naming the field and what is allowed."""
    errors = exc.errors()
    if len(errors) == 1:  # our own validator's error already says what to do: pass it on
        original = errors[0].get("ctx", {}).get("error")
        if isinstance(original, ValidationError):
            where = [str(p) for p in errors[0]["loc"] if not isinstance(p, int)]
            if where:
                original.field = where[0]  # the caller's field name (e.g. "ports", not "port")
            return original
    problems = []
    first_field = None
    for err in errors:
        loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or model
        first_field = first_field or loc
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "is not a field of " + model
        elif err["type"] == "missing":
            msg = "is required"
        elif err.get("ctx", {}).get("expected"):
            msg = f"must be one of {err['ctx']['expected']}"
        bad = err.get("input")
        shown = "" if err["type"] == "missing" or isinstance(bad, dict) else f" (got {bad!r})"
        problems.append(f"{loc} {msg.removeprefix('Value error, ')}{shown}")
    return ValidationError(
        f"invalid {model}: " + "; ".join(problems),
        field=first_field,
        hint="Fix the field(s) named above.",
    )


class Model(BaseModel):
    """Base for atlas_nb's models: strict fields, our ValidationError on bad input."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False, populate_by_name=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise validation_error(exc, type(self).__name__) from None

    @classmethod
    def parse(cls, data: Any) -> Any:
        """Validate a mapping (``model_validate``) raising atlas_nb's ``ValidationError``."""
        try:
            return cls.model_validate(data)
        except pydantic.ValidationError as exc:
            raise validation_error(exc, cls.__name__) from None


class ProviderBound(Model):
    """A model a provider returned, which its handle methods (``pod.terminate()``,
    ``job.cancel()``) send back to the same provider instance (its key, its settings).

        >>> from atlas_nb.providers.mock import MockProvider
        >>> from atlas_nb.models import Job
        >>> job = Job(id="j1", endpoint="echo", provider="mock", status="queued")
        >>> job.bound_provider is None, job.bind(MockProvider()).bound_provider.name
        (True, 'mock')
    """

    _provider: Provider | None = PrivateAttr(default=None)

    def bind(self, provider: Provider) -> Self:
        """Attach the provider instance that made this (used by the methods)."""
        self._provider = provider
        return self

    @property
    def bound_provider(self) -> Provider | None:
        """The provider instance that made this, if it was bound (else None)."""
        return self._provider

    def _prov(self) -> Provider | str:
        """Where the methods send calls: the bound instance, else the provider's name."""
        provider: str = getattr(self, "provider")  # noqa: B009 (a field of every subclass)
        return self._provider if self._provider is not None else provider
