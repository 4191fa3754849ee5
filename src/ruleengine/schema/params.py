"""Parameter values: defaults, overrides, grids (lists become combinations), validation against PARAM_SCHEMA."""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from ..errors import Diagnostic, RuleEngineError, did_you_mean
from .strategy import Param

ParamsInput = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


def expand(schema: Mapping[str, Param], params: ParamsInput) -> list[dict[str, Any]]:
    """Concrete parameter sets: defaults overridden by `params`.

    A mapping whose values are lists (tuples, ranges, 1-D numpy arrays) gives their cartesian product (in the
    order of the mapping); a list of mappings gives exactly those sets. Every value is checked against the
    schema.
    """
    if params is None:
        raw_sets: list[Mapping[str, Any]] = [{}]
    elif isinstance(params, Mapping):
        keys = list(params)
        axes = [_axis(v) for v in params.values()]
        for k, axis in zip(keys, axes, strict=True):
            if len(axis) == 0:
                raise RuleEngineError([Diagnostic("D103", f"no values given for parameter '{k}'", path=k)])
        raw_sets = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes)]
    else:
        raw_sets = list(params)
        if not raw_sets:
            raise RuleEngineError([Diagnostic("D103", "the list of parameter sets is empty")])
    defaults = {n: p.default for n, p in schema.items()}
    problems: list[Diagnostic] = []
    converted: dict[str, dict[tuple[type, Any], Any]] = {}  # name -> values that check_value changed
    for name in dict.fromkeys(itertools.chain.from_iterable(raw_sets)):  # C-speed: grids have many sets
        if name not in schema:
            problems.append(Diagnostic("D104", f"unknown parameter '{name}'", path=f"params.{name}",
                                       hint=did_you_mean(name, schema) or "parameters: " + ", ".join(schema)))
            continue
        values = [r[name] for r in raw_sets if name in r]
        try:
            # a grid repeats each value many times: check each distinct (type, value) once
            distinct = dict.fromkeys(zip(map(type, values), values, strict=True))
        except TypeError:  # a list, dict or array where one value belongs
            bad = next(v for v in values if not isinstance(v, Hashable))
            problems.append(Diagnostic("D103", f"parameter '{name}' takes one value, got {bad!r}",
                                       path=f"params.{name}", hint="give a grid as a mapping of lists"))
            continue
        for t, v in distinct:
            checked = check_value(name, schema[name], v)
            if isinstance(checked, Diagnostic):
                problems.append(checked)
            elif type(checked) is not t or checked != v:
                converted.setdefault(name, {})[(t, v)] = checked
    if problems:
        unique = list({(d.code, d.message): d for d in problems}.values())
        raise RuleEngineError(unique)
    out = [{**defaults, **raw} for raw in raw_sets]
    for name, mapping in converted.items():
        for full, raw in zip(out, raw_sets, strict=True):
            if name in raw:
                v = raw[name]
                full[name] = mapping.get((type(v), v), v)
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
    if isinstance(value, bool) or (not isinstance(value, (int, float)) and not _is_numpy_number(value)):
        return Diagnostic("D103", f"parameter '{name}' is a number, got {value!r}", path=path)
    number = float(value)
    if not math.isfinite(number):  # NaN compares false everywhere: the strategy would silently never trade
        return Diagnostic("D103", f"parameter '{name}' must be a finite number, got {value!r}", path=path)
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
