"""Types of expressions: a shape (series or scalar), a dtype (float, int, bool), and whether a series is
cross-sectional (its value on a bar depends on the other symbols of the universe on that bar: `rank(x)`,
`top(x, n)` and anything computed from them) or per-symbol (everything else)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Shape = Literal["series", "scalar"]
DType = Literal["float", "int", "bool", "error"]


@dataclass(frozen=True)
class Type:
    shape: Shape
    dtype: DType
    #: a series computed across the universe (needs several symbols; membership decides who takes part)
    cross: bool = False

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
            kind = "true/false series" if self.is_bool else "number series"
            return f"cross-sectional {kind}" if self.cross else kind
        return {"float": "number", "int": "whole number", "bool": "true/false value"}[self.dtype]


FLOAT_SERIES = Type("series", "float")
BOOL_SERIES = Type("series", "bool")
FLOAT = Type("scalar", "float")
INT = Type("scalar", "int")
BOOL = Type("scalar", "bool")
#: the type of a node that already produced an error (suppresses follow-on errors)
ERROR = Type("scalar", "error")
