"""Parameter values: defaults, overrides, grids (lists become combinations), validation against PARAM_SCHEMA."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import Diagnostic, RuleEngineError, did_you_mean
from ..schema.strategy import Param

ParamsInput = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


def expand(schema: Mapping[str, Param], params: ParamsInput) -> list[dict[str, Any]]:
    """Concrete parameter sets: defaults overridden by `params`.

    A mapping whose values are lists (tuples, ranges, 1-D numpy arrays) gives their cartesian product (in the order of the mapping); a list
    of mappings gives exactly those sets. Every value is checked against the schema.
    """
    if params is None:
        raw_sets: list[Mapping[str, Any]] = [{}]
    elif isinstance(params, Mapping):
        keys = list(params)
        axes = [_axis(v) for v in params.values()]
        for k, axis in zip(keys, axes):
            if len(axis) == 0:
                raise RuleEngineError([Diagnostic("D103", f"no values given for parameter '{k}'", path=k)])
        raw_sets = [dict(zip(keys, combo)) for combo in itertools.product(*axes)]
    else:
        raw_sets = list(params)
        if not raw_sets:
            raise RuleEngineError([Diagnostic("D103", "the list of parameter sets is empty")])
    defaults = {n: p.default for n, p in schema.items()}
    out: list[dict[str, Any]] = []
    problems: list[Diagnostic] = []
    seen: dict[tuple[str, type, Any], Any] = {}  # a grid repeats each value many times: check it once
    for raw in raw_sets:
        values = dict(defaults)
        for name, value in raw.items():
            if name not in schema:
                problems.append(Diagnostic("D104", f"unknown parameter '{name}'", path=f"params.{name}",
                                           hint=did_you_mean(name, schema) or
                                           "parameters: " + ", ".join(schema)))
                continue
            key = (name, type(value), value if isinstance(value, (int, float, str, bool)) else repr(value))
            checked = seen.get(key, seen)
            if checked is seen:
                checked = seen[key] = check_value(name, schema[name], value)
            if isinstance(checked, Diagnostic):
                problems.append(checked)
            else:
                values[name] = checked
        out.append(values)
    if problems:
        unique = list({(d.code, d.message): d for d in problems}.values())
        raise RuleEngineError(unique)
    return out


def _axis(value: Any) -> list[Any]:
    """The values of one grid axis: a list, tuple, range or 1-D numpy array; anything else is one value."""
    if isinstance(value, (list, tuple, range)):
        return list(value)
    if getattr(value, "ndim", None) == 1 and hasattr(value, "tolist"):
        return list(value.tolist())
    return [value]


def check_value(name: str, p: Param, value: Any) -> Any | Diagnostic:
    """The value converted to the parameter's type, or a D103 diagnostic."""
    path = f"params.{name}"
    if p.type == "bool":
        if not isinstance(value, bool):
            return Diagnostic("D103", f"parameter '{name}' is true/false, got {value!r}", path=path)
        return value
    if p.type == "enum":
        if value not in (p.values or []):
            return Diagnostic("D103", f"parameter '{name}' must be one of {p.values}, got {value!r}",
                              path=path, hint=did_you_mean(str(value), p.values or []))
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not _is_numpy_number(value):
        return Diagnostic("D103", f"parameter '{name}' is a number, got {value!r}", path=path)
    number = float(value)
    if p.type == "int":
        if not number.is_integer():
            return Diagnostic("D103", f"parameter '{name}' is a whole number, got {value!r}", path=path)
        number = int(number)
    if (p.min is not None and number < p.min) or (p.max is not None and number > p.max):
        return Diagnostic("D103", f"parameter '{name}' = {value!r} is outside its bounds [{p.min}, {p.max}]",
                          path=path, hint="choose a value inside the bounds or widen them in params")
    return number


def _is_numpy_number(value: Any) -> bool:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, (np.integer, np.floating))
