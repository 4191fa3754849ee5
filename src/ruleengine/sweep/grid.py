"""Sweep grids: axes from text or mappings, default grids from PARAM_SCHEMA bounds, constraints, sampling.

A grid maps each swept name to its list of values. Names are the strategy's parameters (PARAM_SCHEMA, incl.
``execution_price``) and the risk fields (``stop_loss_pct``, ``take_profit_pct``, ``trailing_stop_pct``,
``max_hold_days``, ``max_hold_bars``, ``position_size_pct``, ``fees_pct``, ``slippage_pct``; ``none``/``off``
switches an optional exit off). Text axes (``--grid``):

- ``fast=5:50:5``: start:stop:step; the stop is included when it falls on the step (5, 10, ..., 50);
  ``fast=5:50`` steps by 1 (int parameters only). Floats are rounded to 12 decimals (0.1:0.3:0.1 gives
  0.1, 0.2, 0.3).
- ``slow=20,50,100``: a list; ``rsi_max=70``: one value.

Every value is checked against the parameter's bounds (D103, with the bounds in the message) and type;
unknown names raise D104 with a suggestion.

Default grid (`default_grid`): every strategy parameter with both bounds, `points` values each (int:
evenly spaced whole numbers, duplicates dropped; float: evenly spaced, rounded to 10 decimals), bool:
false and true, enum: every value. ``execution_frequency`` and ``execution_price`` are not swept, nor
parameters without both bounds (they keep their default), nor risk fields (they have no schema bounds).
`points` defaults to 10 per numeric parameter, fewer when that would give more than 100,000 combinations
(floor(100000 ^ (1/k)) for k numeric parameters, at least 2).

Constraints (`combinations`) are scalar expressions of the project's expression language over the grid's
names (and the fixed values passed as `fixed`): ``fast < slow``, ``slow - fast >= 10``,
``take_profit_pct >= 2 * stop_loss_pct and fast < slow``. They are parsed, checked and evaluated by
`ruleengine.lang.constraints` (P1xx syntax errors with positions, C101 functions are not allowed, C102
unknown name, C108 not true/false, C109/C112 wrong operand types). A switched-off risk value (None) is a
missing value: every comparison with it is false, as in conditions.

Random search (`samples`): without replacement, from the combinations that satisfy the constraints (all
enumerated up to `ENUMERATE_LIMIT`; beyond it, random draws are deduplicated and filtered until enough are
found), in grid order, reproducible with `seed`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..backtest.params import check_whole
from ..errors import Diagnostic, RuleEngineError, did_you_mean
from ..schema.strategy import FLAG_RISK_FIELDS, INTEGER_RISK_FIELDS, RISK_FIELDS

#: risk fields a grid may sweep (their values go to the fill contract, not to the signals)
RISK_AXES: tuple[str, ...] = RISK_FIELDS
#: strategy parameters that the default grid leaves out
NOT_SWEPT_BY_DEFAULT = ("execution_frequency", "execution_price")
DEFAULT_POINTS = 10
DEFAULT_MAX_COMBINATIONS = 100_000
#: a full grid larger than this must be sampled (``samples``)
MAX_GRID = 5_000_000
#: grids up to this size are enumerated before sampling; larger ones are sampled by random draws
ENUMERATE_LIMIT = 5_000_000
#: values of one axis
MAX_AXIS = 1_000_000
_OFF = ("none", "off", "null")
_INT_RISK = INTEGER_RISK_FIELDS


def _strategy(strategy: Any) -> Any:
    """The `TradingStrategy` of a strategy, compiled strategy, path, text or dict."""
    strat = getattr(strategy, "strategy", strategy)
    if hasattr(strat, "params") and hasattr(strat, "data"):
        return strat
    from ..api import load_strategy

    return load_strategy(strategy)


def _fail(code: str, message: str, path: str, hint: str | None = None) -> RuleEngineError:
    return RuleEngineError([Diagnostic(code, message, path=path, hint=hint)])


# ---------------------------------------------------------------------------------------------- axes


def parse_grid(strategy: Any, specs: Sequence[str] | Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """The grid {name: values} from ``["fast=5:50:5", "slow=20,50,100"]`` or a mapping of values.

    Mapping values may be lists, tuples, ranges, 1-D arrays, one value, or text in the ``--grid`` form.

    Raises:
        RuleEngineError: D103 (malformed axis, non-numeric step, value outside the bounds), D104 (unknown
            name).
    """
    strat = _strategy(strategy)
    raw: list[tuple[str, Any]] = []
    if specs is None:
        return {}
    if isinstance(specs, Mapping):
        raw = [(str(k), v) for k, v in specs.items()]
    else:
        if isinstance(specs, str):
            specs = [specs]
        for spec in specs:
            name, eq, text = str(spec).partition("=")
            if not eq or not name.strip():
                raise _fail("D103", f"--grid expects name=values, got '{spec}'", "grid",
                            "e.g. --grid fast=5:50:5 --grid slow=20,50,100")
            raw.append((name.strip(), text.strip()))
    grid: dict[str, list[Any]] = {}
    problems: list[Diagnostic] = []
    for name, value in raw:
        try:
            if name in grid:
                raise _fail("D103", f"'{name}' is given twice in the grid", f"grid.{name}",
                            "give all its values in one axis, e.g. fast=5,10,20")
            grid[name] = _axis(strat, name, value)
        except RuleEngineError as exc:
            problems += exc.diagnostics
    if problems:
        raise RuleEngineError(problems)
    return grid


def _axis(strat: Any, name: str, value: Any) -> list[Any]:
    """The checked, deduplicated values of one axis."""
    kind = _kind(strat, name)
    if isinstance(value, str):
        values = _parse_text(name, kind, value)
    elif isinstance(value, (list, tuple, range)):
        values = list(value)
    elif getattr(value, "ndim", None) == 1 and hasattr(value, "tolist"):
        values = list(value.tolist())
    else:
        values = [value]
    if not values:
        raise _fail("D103", f"no values given for '{name}'", f"grid.{name}", "give at least one value")
    out: list[Any] = []
    for v in values:
        checked = _check(strat, name, kind, v)
        if not any(checked == o and type(checked) is type(o) for o in out):
            out.append(checked)
    return out


def _kind(strat: Any, name: str) -> str:
    """int / float / bool / enum for a parameter, risk-int / risk-float / risk-bool for a risk field; D104
    otherwise."""
    p = strat.params.get(name)
    if p is not None:
        return str(p.type)
    if name in RISK_AXES:
        return "risk-int" if name in _INT_RISK else "risk-bool" if name in FLAG_RISK_FIELDS else "risk-float"
    names = [*strat.params, *RISK_AXES]
    raise _fail("D104", f"unknown parameter '{name}' in the grid", f"grid.{name}",
                did_you_mean(name, names) or "parameters: " + ", ".join(names))


def _number(name: str, text: str, what: str = "value") -> float:
    try:
        x = float(text.strip().replace("_", ""))
    except ValueError:
        raise _fail("D103", f"the {what} of '{name}' must be a number, got '{text.strip()}'", f"grid.{name}",
                    "e.g. fast=5:50:5 (start:stop:step) or fast=5,10,20") from None
    if not math.isfinite(x):
        raise _fail("D103", f"the {what} of '{name}' must be finite, got '{text.strip()}'", f"grid.{name}")
    return x


def _parse_text(name: str, kind: str, text: str) -> list[Any]:
    """Values of ``a,b,c`` where each item is a value or a range ``start:stop[:step]`` (typed by `_check`)."""
    text = text.strip()
    if not text:
        raise _fail("D103", f"no values given for '{name}'", f"grid.{name}", "e.g. fast=5:50:5 or fast=5,10,20")
    out: list[Any] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise _fail("D103", f"empty value in '{name}={text}'", f"grid.{name}", "e.g. slow=20,50,100")
        out += _parse_range(name, kind, part) if ":" in part else [part]
    return out


def _parse_range(name: str, kind: str, text: str) -> list[Any]:
    """The values of ``start:stop[:step]``: the stop is included when it falls on the step."""
    if kind not in ("int", "float", "risk-int", "risk-float"):
        raise _fail("D103", f"'{name}' is a {kind} parameter: list its values instead of a range",
                    f"grid.{name}", f"e.g. {name}=a,b")
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise _fail("D103", f"a range is start:stop[:step], got '{text}'", f"grid.{name}", "e.g. fast=5:50:5")
    start, stop = _number(name, parts[0], "start"), _number(name, parts[1], "stop")
    integer = kind in ("int", "risk-int")
    if len(parts) == 3:
        step = _number(name, parts[2], "step")
    elif integer:
        step = 1.0
    else:
        raise _fail("D103", f"the range of '{name}' needs a step", f"grid.{name}", f"e.g. {name}={text}:0.5")
    if step <= 0:
        raise _fail("D103", f"the step of '{name}' must be positive, got {parts[2].strip()}", f"grid.{name}",
                    "write ranges from low to high with a positive step, e.g. 5:50:5")
    if stop < start:
        raise _fail("D103", f"the range of '{name}' ends before it starts ({text})", f"grid.{name}",
                    "write start:stop with start <= stop")
    if integer and not (start.is_integer() and stop.is_integer() and step.is_integer()):
        raise _fail("D103", f"'{name}' takes whole numbers: start, stop and step must be whole, got '{text}'",
                    f"grid.{name}", "e.g. 5:50:5")
    n = math.floor((stop - start) / step + 1e-9) + 1
    if n > MAX_AXIS:
        raise _fail("D122", f"the range of '{name}' has {n:,} values (limit {MAX_AXIS:,})", f"grid.{name}",
                    "use a larger step")
    if integer:
        return [int(start) + i * int(step) for i in range(n)]
    return [round(start + i * step, 12) for i in range(n)]


def _check(strat: Any, name: str, kind: str, value: Any) -> Any:
    """The value typed and checked against its bounds (D103 otherwise)."""
    if kind.startswith("risk"):
        from ..backtest.risk import risk_value

        if isinstance(value, str) and kind != "risk-bool":
            value = None if value.strip().lower() in _OFF else _number(name, value)
        if value is not None and not isinstance(value, bool) and hasattr(value, "item"):
            value = value.item()  # numpy scalars
        try:  # on its own: rules between fields are checked per combination (`resolve_risk`)
            value = risk_value(name, value)
        except RuleEngineError as exc:
            raise RuleEngineError([d.with_location(None, f"grid.{name}") for d in exc.diagnostics]) from None
        return None if value is None else (value if kind == "risk-bool" else
                                           int(value) if kind == "risk-int" else float(value))
    from ..schema.params import check_value

    p = strat.params[name]
    if isinstance(value, str) and kind in ("int", "float"):
        value = _number(name, value)
    elif isinstance(value, str) and kind == "bool":
        low = value.strip().lower()
        if low not in ("true", "false"):
            raise _fail("D103", f"'{name}' is true/false, got '{value}'", f"grid.{name}", f"e.g. {name}=true,false")
        value = low == "true"
    checked = check_value(name, p, value)
    if isinstance(checked, Diagnostic):
        hint = checked.hint
        if p.type in ("int", "float"):
            hint = f"'{name}' takes {p.type} values in [{p.min}, {p.max}] (PARAM_SCHEMA); keep the grid inside them"
        raise RuleEngineError([Diagnostic(checked.code, checked.message, path=f"grid.{name}", hint=hint)])
    return checked


def default_grid(strategy: Any, points: int | None = None) -> dict[str, list[Any]]:
    """A grid from PARAM_SCHEMA bounds (see the module docstring for the rules and the number of points)."""
    import numpy as np

    strat = _strategy(strategy)
    swept = {n: p for n, p in strat.params.items() if n not in NOT_SWEPT_BY_DEFAULT}
    numeric = [n for n, p in swept.items() if p.type in ("int", "float") and p.min is not None and p.max is not None]
    if points is None:
        points = DEFAULT_POINTS
        if numeric:
            points = max(2, min(points, math.floor(DEFAULT_MAX_COMBINATIONS ** (1.0 / len(numeric)) + 1e-9)))
    bad_points = check_whole("points", points, 1, "e.g. points=10")
    if bad_points is not None:
        raise RuleEngineError([bad_points])
    grid: dict[str, list[Any]] = {}
    for name, p in swept.items():
        if p.type == "bool":
            grid[name] = [False, True]
        elif p.type == "enum":
            grid[name] = list(p.values or [p.default])
        elif name in numeric:
            lin = np.linspace(float(p.min), float(p.max), points) if points > 1 else np.array([float(p.default)])
            if p.type == "int":
                grid[name] = list(dict.fromkeys(round(float(v)) for v in lin))
            else:
                grid[name] = list(dict.fromkeys(round(float(v), 10) for v in lin))
        else:
            grid[name] = [p.default]
    return grid


# ------------------------------------------------------------------------------------- combinations


def grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    """Combinations of the full grid (before constraints)."""
    return math.prod(len(v) for v in grid.values())


def combinations(grid: Mapping[str, Sequence[Any]], constraints: Sequence[str] = (), samples: int | None = None,
                 seed: int = 0, fixed: Mapping[str, Any] | None = None,
                 fits: Callable[[int], Any] | None = None) -> list[dict[str, Any]]:
    """The grid's combinations (the last axis varies fastest) that satisfy every constraint.

    Args:
        grid: name -> values (from `parse_grid` or `default_grid`); an empty grid is one empty combination.
        constraints: expressions that must all be true, e.g. ``"fast < slow"``.
        samples: draw this many combinations at random, without replacement (all of them when there are
            fewer); None = every combination.
        seed: the random generator's seed (`numpy.random.default_rng`).
        fixed: values of names that are not swept but may appear in constraints.
        fits: called with the number of combinations once it is known and before they are built (the
            sweep's memory check, `ruleengine.sweep.budget.check_fits`); it raises to refuse them.

    Raises:
        RuleEngineError: P1xx/C1xx for a bad constraint (with its position), D103 for an empty axis,
            D122 for an empty result, a bad `samples` or a full grid too large to enumerate.
    """
    import numpy as np

    names = list(grid)
    axes = [list(grid[n]) for n in names]
    for n, a in zip(names, axes, strict=True):
        if not a:
            raise _fail("D103", f"no values given for '{n}'", f"grid.{n}", "give at least one value")
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, (int, np.integer))
                                or samples < 1):
        raise _fail("D122", f"samples must be a whole number >= 1, got {samples!r}", "samples", "e.g. samples=1000")
    checks = compile_constraints(constraints, grid, dict(fixed or {}))
    total = grid_size(grid)
    shape = tuple(len(a) for a in axes)
    rng = np.random.default_rng(seed)
    if samples is None and total > MAX_GRID:
        raise _fail("D122", f"the grid has {total:,} combinations (limit {MAX_GRID:,} without sampling)", "grid",
                    "sample it (samples=N / --samples N), or use fewer values per axis")
    if total <= ENUMERATE_LIMIT:
        flat = np.arange(total, dtype=np.int64)
        idx = np.unravel_index(flat, shape) if names else ()
        keep = checks(idx)
        flat = flat[keep]
        if samples is not None and samples < len(flat):
            flat = np.sort(rng.choice(flat, size=int(samples), replace=False))
        chosen = [i[flat] for i in idx] if names else []
    else:
        chosen = _draw(shape, int(samples or 0), checks, rng)
        flat = chosen[0] if chosen else np.empty(0, dtype=np.int64)
    count = len(flat) if names else (1 if checks(()) else 0)
    if count == 0:
        raise _fail("D122", f"no combination of the grid ({total:,}) satisfies the constraints "
                    f"{' and '.join(constraints)}", "constraints",
                    "loosen the constraints or widen the grid's ranges")
    if fits is not None:
        fits(count)
    if not names:
        return [{}]
    columns = [[a[i] for i in ix.tolist()] for a, ix in zip(axes, chosen, strict=True)]
    return [dict(zip(names, vals, strict=True)) for vals in zip(*columns, strict=True)]


def _draw(shape: tuple[int, ...], samples: int, checks: Any, rng: Any) -> list[Any]:
    """`samples` distinct random index tuples of a grid too large to enumerate, filtered by `checks`."""
    import numpy as np

    found: dict[tuple[int, ...], None] = {}
    for _ in range(64):  # each round draws twice what is missing; a hard constraint may leave fewer
        want = samples - len(found)
        if want <= 0:
            break
        idx = tuple(rng.integers(0, n, size=2 * want, dtype=np.int64) for n in shape)
        keep = checks(idx)
        for row in zip(*(i[keep].tolist() for i in idx), strict=True):
            if row not in found:
                found[row] = None
                if len(found) == samples:
                    break
    rows = sorted(found)
    return [np.array([r[k] for r in rows], dtype=np.int64) for k in range(len(shape))]


def split_names(strategy: Any, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(signal parameters, fill-contract names) of any strategy input (`ruleengine.backtest.params`)."""
    from ..backtest.params import split_names as split

    return split(_strategy(strategy), names)


# ---------------------------------------------------------------------------------------- constraints


def compile_constraints(constraints: Sequence[str], grid: Mapping[str, Sequence[Any]],
                        fixed: Mapping[str, Any]) -> Any:
    """A function (per-axis index arrays) -> bool mask of the combinations satisfying every constraint.

    The constraints are parsed, checked and evaluated by `ruleengine.lang.constraints` (the expression
    language's parser and operator table); this maps grid positions to the values they name.

    Raises:
        RuleEngineError: the first faulty constraint's diagnostics, positioned in its text
            (path ``constraints[i]``).
    """
    from ..lang.constraints import column, value_kind, values_kind
    from ..lang.constraints import compile_constraints as compile_scalar

    if isinstance(constraints, str):
        constraints = [constraints]
    names = list(grid)
    values = {n: column(grid[n]) for n in names}
    kinds = {n: values_kind(grid[n]) for n in names}
    kinds.update({n: value_kind(v) for n, v in fixed.items() if n not in kinds})
    satisfied = compile_scalar(constraints, kinds)

    def check(idx: tuple[Any, ...]) -> Any:
        n = len(idx[0]) if idx else 1
        keep = satisfied({**fixed, **{name: values[name][ix] for name, ix in zip(names, idx, strict=True)}}, n)
        return keep if idx else bool(keep[0])

    return check


__all__ = ["DEFAULT_POINTS", "ENUMERATE_LIMIT", "MAX_GRID", "NOT_SWEPT_BY_DEFAULT", "RISK_AXES", "combinations",
           "compile_constraints", "default_grid", "grid_size", "parse_grid", "split_names"]
