"""Shared pydantic base: invalid input raises atlas_nb's ``ValidationError``."""

from __future__ import annotations

from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict

from ..errors import ValidationError


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
