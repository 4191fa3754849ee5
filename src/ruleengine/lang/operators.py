"""The operators of the expression language, listed once.

The checker reads each operator's family (what its operands and result are), the printer its precedence
and grouping, the IR its name and whether it commutes, execution its numpy ufunc, and constant folding its
Python function. Sweep constraints use the same table.

Semantics that differ from plain numpy are deliberate (README): a comparison involving a missing value
(NaN) is false under every operator, also ``!=``.

Example:
    >>> BINARY["<="].name, BINARY["<="].family, BINARY["<="].precedence
    ('le', 'comparison', 4)
    >>> import numpy as np
    >>> evaluate(BINARY["!="], np.array([1.0, np.nan]), 2.0).tolist()
    [True, False]
"""

from __future__ import annotations

import operator as py
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

#: arithmetic: numbers -> number; comparison: numbers -> true/false; logical: true/false -> true/false
Family = Literal["arithmetic", "comparison", "logical"]


@dataclass(frozen=True)
class Operator:
    symbol: str  # as written in expressions ("-" is binary or unary by `arity`)
    name: str  # the IR operation ("sub", "neg", ...)
    arity: int
    family: Family
    precedence: int  # binding strength for the printer, loosest (or) first; mirrors grammar/expression.lark
    ufunc: str  # numpy ufunc that executes it on arrays
    scalar: Callable[..., Any]  # its value on Python constants (folding scalars while lowering)
    commutative: bool = False  # operands may be swapped (more sharing in the IR)
    associative: bool = False  # a op (b op c) == (a op b) op c, so the printer may drop those parentheses
    chains: bool = True  # the grammar allows a op b op c (comparisons do not chain)
    equality: bool = False  # == and !=: also compare two true/false values (or two enum values)
    keeps_int: bool = False  # whole number op whole number is a whole number


def _divide(a: Any, b: Any) -> Any:
    return a / b if b != 0 else float("nan")


def _comparison(symbol: str, name: str, ufunc: str, scalar: Callable[[Any, Any], Any],
                equality: bool = False) -> Operator:
    return Operator(symbol, name, 2, "comparison", 4, ufunc, scalar, commutative=equality, chains=False,
                    equality=equality)


OPERATORS: tuple[Operator, ...] = (
    Operator("or", "or", 2, "logical", 1, "logical_or", lambda a, b: bool(a) or bool(b), True, True),
    Operator("and", "and", 2, "logical", 2, "logical_and", lambda a, b: bool(a) and bool(b), True, True),
    Operator("not", "not", 1, "logical", 3, "logical_not", py.not_),
    _comparison("<", "lt", "less", py.lt),
    _comparison("<=", "le", "less_equal", py.le),
    _comparison(">", "gt", "greater", py.gt),
    _comparison(">=", "ge", "greater_equal", py.ge),
    _comparison("==", "eq", "equal", py.eq, equality=True),
    _comparison("!=", "ne", "not_equal", py.ne, equality=True),
    Operator("+", "add", 2, "arithmetic", 5, "add", py.add, True, True, keeps_int=True),
    Operator("-", "sub", 2, "arithmetic", 5, "subtract", py.sub, keeps_int=True),
    Operator("*", "mul", 2, "arithmetic", 6, "multiply", py.mul, True, True, keeps_int=True),
    Operator("/", "div", 2, "arithmetic", 6, "divide", _divide),
    Operator("-", "neg", 1, "arithmetic", 7, "negative", py.neg, keeps_int=True),
    Operator("+", "pos", 1, "arithmetic", 7, "positive", py.pos, keeps_int=True),
)

#: binary operators by symbol, unary ones by symbol, every operator by IR name
BINARY: dict[str, Operator] = {o.symbol: o for o in OPERATORS if o.arity == 2}
UNARY: dict[str, Operator] = {o.symbol: o for o in OPERATORS if o.arity == 1}
BY_NAME: dict[str, Operator] = {o.name: o for o in OPERATORS}


_UFUNCS: dict[str, Any] = {}  # ufunc name -> numpy ufunc, filled on first use (numpy is imported lazily)


def evaluate(op: Operator, *args: Any) -> Any:
    """`op` on numpy arrays or scalars (broadcasting), with the language's missing-value rule.

    Floating-point warnings are silenced: x / 0 is inf or NaN, as in pandas.
    """
    import numpy as np

    ufunc = _UFUNCS.get(op.ufunc)
    if ufunc is None:
        ufunc = _UFUNCS[op.ufunc] = getattr(np, op.ufunc)
    with np.errstate(all="ignore"):
        if op.arity == 1:
            return ufunc(args[0])
        a, b = args
        if op.family != "comparison":
            return ufunc(a, b)
        if op.equality and (_is_text(a) or _is_text(b)):  # enum values (sweep constraints)
            return ufunc(np.asarray(a, dtype=object), np.asarray(b, dtype=object)).astype(np.bool_)
        if op.equality and _is_bool(a) and _is_bool(b):
            return ufunc(a, b)
        result = ufunc(a, b)
        if op.name == "ne":  # NaN compares false under every operator, also !=
            result = np.logical_and(result, np.logical_and(~np.isnan(a), ~np.isnan(b)))
        return result


def _is_bool(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray) and value.dtype == np.bool_)


def _is_text(value: Any) -> bool:
    import numpy as np

    return isinstance(value, str) or (isinstance(value, np.ndarray) and value.dtype == object)
