"""Checks a code strategy is held to: the output contract (in the child) and the acceptance checks (engine).

**Output contract** (after freqtrade's ``assert_df``), checked in the child on what ``generate_signals``
returned for one run: a tuple ``(entries, exits)`` of two boolean Series (or one-column DataFrames) whose
index equals the data index, the same length, no missing values; a ``direction: long_short`` strategy
returns four, ``(entries, exits, short_entries, short_exits)`` (`SIGNAL_NAMES`). A strategy whose
``entry_order`` is a limit or a stop returns its order levels after them (`PRICE_NAMES`): ``entry_price``
(long_short: then ``short_entry_price``), a float Series of prices read at each entry signal's bar (NaN
elsewhere is fine): on every bar of its side's entry signal a finite price > 0, and never a price <= 0 or
infinite. Anything else is a `ContractError` whose message tells the LLM repair loop what to change.

**Acceptance** (engine side, before a code strategy's signals of a parameter set are used): the code must give
the same output twice (determinism) and must not look ahead: signals computed on the data truncated at several
dates must equal the prefix of the full run (after freqtrade's lookahead analysis). Every parameter set is
checked (code may look ahead for one value only), in one extra sandboxed run that reuses the full run's
signals: the checked runs once more at full length and once per cut.

Example:
    >>> import pandas as pd
    >>> idx = pd.date_range("2020-01-01", periods=3)
    >>> check_output((pd.Series([True, False, True], idx), pd.Series(False, idx)), idx)[0].tolist()
    [True, False, True]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: prefix cuts of the lookahead check, as fractions of the rows after the warm-up
LOOKAHEAD_CUTS = (0.55, 0.7, 0.85)
#: columns (runs) the acceptance checks look at; the rest run the same code on other symbols
ACCEPT_COLUMNS = 4


#: what generate_signals returns, in order: a long or short strategy the first two, a long_short one all four
SIGNAL_NAMES = ("entries", "exits", "short_entries", "short_exits")
#: the order levels a strategy with limit or stop entry orders returns after its signals, and the entry signal
#: each belongs to; `ruleengine.kernels.enums.LEVEL_KINDS` names them ``entry_order_price`` and
#: ``short_entry_order_price``
PRICE_NAMES = ("entry_price", "short_entry_price")
PRICE_OF = {"entry_price": "entries", "short_entry_price": "short_entries"}
#: the exit order levels a strategy with a limit or stop exit order returns last (`exit_order`: the level at each
#: close of the order resting during the next bar for a held position; long_short: then the shorts'); the level
#: kinds ``exit_order_price`` and ``short_exit_order_price``
EXIT_PRICE_NAMES = ("exit_price", "short_exit_price")


class ContractError(ValueError):
    """The output of ``generate_signals`` breaks the contract (the message says how)."""


def signal_names(direction: str, orders: bool = False, exit_orders: bool = False) -> tuple[str, ...]:
    """What generate_signals returns for a strategy of this direction: its signals, then (`orders`: limit or stop
    entry orders) its order levels, then (`exit_orders`: a limit or stop exit order) its exit order levels."""
    both = direction == "long_short"
    names: tuple[str, ...] = SIGNAL_NAMES if both else SIGNAL_NAMES[:2]
    names += (PRICE_NAMES if both else PRICE_NAMES[:1]) if orders else ()
    return names + ((EXIT_PRICE_NAMES if both else EXIT_PRICE_NAMES[:1]) if exit_orders else ())


def is_price(name: str) -> bool:
    """Whether a returned value is an order level (float) rather than a signal (bool)."""
    return name in PRICE_NAMES or name in EXIT_PRICE_NAMES


def check_output(result: Any, index: pd.Index, names: Sequence[str] = SIGNAL_NAMES[:2]) -> tuple[np.ndarray, ...]:
    """The signals `names` as bool arrays aligned with `index`, or `ContractError`."""
    import pandas as pd

    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = type(result).__name__ + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
        why = ""
        if len(names) == 2 and isinstance(result, (tuple, list)) and len(result) == 4:
            why = " (short_entries/short_exits are for a strategy with direction: long_short)"
        elif len(names) == 2 and isinstance(result, (tuple, list)) and len(result) == 3:
            why = " (entry_price is for a strategy whose entry_order is a limit or a stop)"
        elif "short_entries" in names:
            why = " (direction: long_short: the long side's entries and exits, then the short side's)"
        if any(n in PRICE_NAMES for n in names):
            why += " (entry_order limit or stop: the order levels after the signals, float Series of prices)"
        if any(n in EXIT_PRICE_NAMES for n in names):
            why += " (exit_order limit or stop: its levels last, float Series of prices, NaN for no order)"
        raise ContractError(f"generate_signals must return a tuple ({', '.join(names)}), got {got}{why}")
    out: list[np.ndarray] = []
    for name, value in zip(names, result, strict=True):
        if isinstance(value, pd.DataFrame):
            if value.shape[1] != 1:
                raise ContractError(f"{name} is a DataFrame with {value.shape[1]} columns; return one boolean "
                                    "Series per signal (the data hold one symbol per call)")
            value = value.iloc[:, 0]
        if not isinstance(value, pd.Series):
            raise ContractError(f"{name} is a {type(value).__name__}; return a boolean pandas Series aligned with "
                                "the data index")
        if len(value) != len(index):
            raise ContractError(f"{name} has {len(value)} rows, the data have {len(index)}; keep the data index "
                                "(no dropna, no resampling)")
        if not value.index.equals(index):
            raise ContractError(f"{name} is not aligned with the data index (same length, other labels); build it "
                                "from the data's columns or reindex it to data[...].index")
        if is_price(name):  # an exit order's level may be NaN on any bar (no order then)
            out.append(_price(name, value, out[names.index(PRICE_OF[name])] if name in PRICE_OF else None))
            continue
        if value.isna().any():
            raise ContractError(f"{name} holds {int(value.isna().sum())} missing values; use .fillna(False)")
        if value.dtype != bool:
            raise ContractError(f"{name} has dtype {value.dtype}; return booleans, e.g. (condition).astype(bool)")
        out.append(value.to_numpy(dtype=bool))
    return tuple(out)


#: a row of weights may sum to 1 within this (float sums of 1/n)
WEIGHT_SUM_TOLERANCE = 1e-9


def check_weights(result: Any, index: pd.Index, symbols: Sequence[str]) -> np.ndarray:
    """What ``generate_weights`` returned as (rows, symbols) float64 target weights, or `ContractError`: a
    DataFrame indexed like the data, one column per symbol of the universe (any order; missing or unknown
    symbols are refused), finite numbers >= 0 summing to at most 1 on every row (the rest stays cash)."""
    import numpy as np
    import pandas as pd

    if not isinstance(result, pd.DataFrame):
        raise ContractError(f"generate_weights must return a DataFrame of weights (bars x symbols), got "
                            f"{type(result).__name__}")
    if len(result) != len(index) or not result.index.equals(index):
        raise ContractError(f"the weights have {len(result)} rows, the data {len(index)}: keep the data index "
                            "(build them from data[slot][column], no dropna, no resampling)")
    names = [str(c) for c in result.columns]
    unknown = sorted(set(names) - set(symbols))
    missing = [s for s in symbols if s not in names]
    if unknown or missing or len(names) != len(set(names)):
        problems = [f"unknown: {', '.join(unknown[:5])}" if unknown else "",
                    f"missing: {', '.join(missing[:5])}" if missing else "",
                    "" if unknown or missing else "a symbol given twice"]
        raise ContractError(f"the weights need one column per symbol of the universe ({len(symbols)}); "
                            + "; ".join(p for p in problems if p))
    try:
        values = result.set_axis(names, axis=1)[list(symbols)].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ContractError(f"the weights are not numbers ({exc})") from None
    bad = ~np.isfinite(values)
    if bad.any():
        t, j = np.argwhere(bad)[0]
        raise ContractError(f"the weight of {symbols[j]} on {index[t]} is {values[t, j]}: every weight must be a "
                            "number (use .fillna(0.0): 0 holds nothing)")
    if (values < 0).any():
        t, j = np.argwhere(values < 0)[0]
        raise ContractError(f"the weight of {symbols[j]} on {index[t]} is {values[t, j]}: weights are >= 0 (a "
                            "rotation holds long positions only)")
    total = values.sum(axis=1)
    if (total > 1 + WEIGHT_SUM_TOLERANCE).any():
        t = int(np.argmax(total > 1 + WEIGHT_SUM_TOLERANCE))
        raise ContractError(f"the weights of {index[t]} sum to {total[t]:.6g}: at most 1 per bar (divide by the "
                            "row's sum, e.g. w.div(w.sum(axis=1).where(w.sum(axis=1) > 1, 1), axis=0))")
    return values


def _price(name: str, value: pd.Series, entries: np.ndarray | None) -> np.ndarray:
    """An order level series as float64, or `ContractError`: numbers (not true/false), finite and > 0 where
    given, and given (not NaN) on every bar of its side's entry signal (`entries`; None for an exit order's
    levels, NaN anywhere: no order that bar)."""
    import numpy as np
    import pandas as pd

    if value.dtype == bool or not pd.api.types.is_numeric_dtype(value.dtype):
        raise ContractError(f"{name} has dtype {value.dtype}; return the order's price level as a float Series "
                            "(e.g. data['prices']['close'] - 0.5 * atr), NaN where no order is placed")
    a = value.to_numpy(dtype=np.float64, na_value=np.nan)
    given = ~np.isnan(a)
    bad = given & ~(np.isfinite(a) & (a > 0))
    if bad.any():
        t = int(np.flatnonzero(bad)[0])
        raise ContractError(f"{name} is not a price on {int(bad.sum())} bars (first {value.index[t]}: {a[t]}); "
                            "a price is finite and > 0 (NaN where no order is placed)")
    if entries is None:  # an exit order's levels: NaN anywhere is no order that bar
        return a
    missing = entries & ~given
    if missing.any():
        t = int(np.flatnonzero(missing)[0])
        raise ContractError(f"{name} is missing (NaN) on {int(missing.sum())} bars of an entry signal (first "
                            f"{value.index[t]}); give the order's price on every bar where {PRICE_OF[name]} is "
                            "True, or no entry signal there")
    return a


# ----------------------------------------------------------------------------------------------- acceptance


def lookahead_cuts(n_rows: int, start: int = 0) -> list[int]:
    """Row counts of the prefixes the lookahead check runs (distinct, inside (start, n_rows))."""
    span = n_rows - start
    cuts = sorted({start + int(span * f) for f in LOOKAHEAD_CUTS})
    return [c for c in cuts if start < c < n_rows]


def first_difference(a: np.ndarray, b: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first element where two equally shaped arrays differ, or None."""
    import numpy as np

    diff = np.argwhere((a != b) & ~(_nan(a) & _nan(b)))  # NaN levels on the same bars are the same
    if diff.size == 0:
        return None
    return int(diff[0, 0]), int(diff[0, 1])


def accept(run: Any, n_rows: int, labels: Sequence[str], index: Any, param_sets: Sequence[Mapping[str, Any]],
           full: tuple[np.ndarray, ...], start: int = 0, columns: Sequence[int] | None = None,
           names: Sequence[str] = SIGNAL_NAMES[:2]) -> None:
    """Determinism and lookahead checks of every set in `param_sets`; raises `RuleEngineError` X128 / X129 naming
    the symbol, the parameter set and the date of the first difference.

    Args:
        run: ``run(param_sets, columns=..., cuts=...) -> signals`` through the sandbox (one array per name of
            `names`: entries, exits[, short entries, short exits]): the `columns`,
            then a copy of them per cut that sees only the first `cut` rows, per set (set-major).
        full: the full run of `param_sets` on every column, ``(rows, sets * len(labels))`` set-major (reused:
            not computed again).
        start: the first row the checks look at (rows before it are warm-up history).
        columns: the runs checked (default the first `ACCEPT_COLUMNS`).
    """
    from ..errors import Diagnostic, RuleEngineError
    from .child import short_params

    n_cols = len(labels)
    cols = list(columns) if columns is not None else list(range(min(n_cols, ACCEPT_COLUMNS)))
    cuts = lookahead_cuts(n_rows, start)
    w = len(cols)
    width = w * (1 + len(cuts))
    again = run(param_sets, columns=cols, cuts=cuts)
    for p, params in enumerate(param_sets):
        base = [a[:, [p * n_cols + j for j in cols]] for a in full]
        block = [a[:, p * width:(p + 1) * width] for a in again]
        with_params = f"with parameters {short_params(dict(params))}"
        for what, a, b in zip(names, base, block, strict=True):
            where = first_difference(a, b[:, :w])
            if where is not None:
                t, j = where
                raise RuleEngineError([Diagnostic(
                    "X128", f"the code is not deterministic: {what} of {labels[cols[j]]} {with_params} differ "
                    f"between two runs on {_when(index, t)}", path="code",
                    hint="remove randomness, time and anything that depends on the order of a set or dict")])
        for k, cut in enumerate(cuts):
            for what, a, b in zip(names, base, block, strict=True):
                part = b[:cut, w * (k + 1):w * (k + 2)]
                where = first_difference(a[:cut], part)
                if where is not None:
                    t, j = where
                    raise RuleEngineError([Diagnostic(
                        "X129", f"the code looks ahead {with_params}: {what} of {labels[cols[j]]} on "
                        f"{_when(index, t)} is {_shown(a[t, j])} with the full history but {_shown(part[t, j])} with "
                        f"the data cut after {_when(index, cut - 1)}", path="code",
                        hint="use only past and current bars: no shift(-k), no centred windows, no statistics over "
                        "the whole series (use rolling(...) or expanding())")])


def _shown(value: Any) -> Any:
    """A signal as True/False, a weight or an order level as a number."""
    import numpy as np

    return bool(value) if isinstance(value, (bool, np.bool_)) else float(value)


def _nan(a: np.ndarray) -> np.ndarray:
    """Where a returned array is NaN (an order level's bars without an order); nowhere for signals."""
    import numpy as np

    return np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, dtype=bool)



def _when(index: Any, row: int) -> str:
    try:
        t = index[row]
        return str(t.date()) if hasattr(t, "date") and t == t.normalize() else str(t)
    except (IndexError, AttributeError, TypeError, ValueError):
        return f"row {row}"


__all__ = [
    "ACCEPT_COLUMNS",
    "EXIT_PRICE_NAMES",
    "LOOKAHEAD_CUTS",
    "PRICE_NAMES",
    "SIGNAL_NAMES",
    "ContractError",
    "accept",
    "check_output",
    "check_weights",
    "first_difference",
    "is_price",
    "lookahead_cuts",
    "signal_names",
]
