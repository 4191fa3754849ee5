"""The base of every document model: closed objects (an unknown key is reported), an explicit null = not given."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


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
