"""Types of expressions: a shape (series or scalar) and a dtype (float, int, bool)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Shape = Literal["series", "scalar"]
DType = Literal["float", "int", "bool", "error"]


@dataclass(frozen=True)
class Type:
    shape: Shape
    dtype: DType

    @property
    def is_bool(self) -> bool:
        return self.dtype == "bool"

    @property
    def is_numeric(self) -> bool:
        return self.dtype in ("float", "int")

    @property
    def is_error(self) -> bool:
        return self.dtype == "error"

    @property
    def is_series(self) -> bool:
        return self.shape == "series"

    def __str__(self) -> str:
        if self.is_error:
            return "value with an error"
        if self.shape == "series":
            return "true/false series" if self.is_bool else "number series"
        return {"float": "number", "int": "whole number", "bool": "true/false value"}[self.dtype]


FLOAT_SERIES = Type("series", "float")
BOOL_SERIES = Type("series", "bool")
FLOAT = Type("scalar", "float")
INT = Type("scalar", "int")
BOOL = Type("scalar", "bool")
#: the type of a node that already produced an error (suppresses follow-on errors)
ERROR = Type("scalar", "error")
