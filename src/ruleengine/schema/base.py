"""The base of every document model: closed objects (an unknown key is reported), an explicit null = not given."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False, frozen=False)

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, value: Any) -> Any:
        """An explicit null means "not given" (the strict LLM schema sends every key).

        Only for known fields: an unknown key stays (even with a null value) so that it is reported.
        """
        if isinstance(value, dict) and any(v is None for v in value.values()):
            return {k: v for k, v in value.items() if v is not None or k not in cls.model_fields}
        return value


def one_of(value: str, choices: Sequence[str], code: str, what: str) -> str:
    """`value` when it is one of `choices`; else `code` ("unknown `what` 'value'") with a did-you-mean hint or
    the list of choices."""
    if value in choices:
        return value
    from ..errors import did_you_mean

    hint = did_you_mean(value, choices) or "one of: " + ", ".join(choices)
    raise PydanticCustomError(code, f"unknown {what} '{value}'", {"hint": hint})
