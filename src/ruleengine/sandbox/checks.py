"""Checks a code strategy is held to: the output contract (in the child) and the acceptance checks (engine).

**Output contract** (after freqtrade's ``assert_df``), checked in the child on what ``generate_signals``
returned for one run: a tuple ``(entries, exits)`` of two boolean Series (or one-column DataFrames) whose
index equals the data index, the same length, no missing values. Anything else is a `ContractError` whose
message tells the LLM repair loop what to change.

**Acceptance** (engine side, before a code strategy's signals are used): the code must give the same output
twice (determinism) and must not look ahead: signals computed on the data truncated at several dates must
equal the prefix of the full run (after freqtrade's lookahead analysis). Both run through the sandbox.

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


class ContractError(ValueError):
    """The output of ``generate_signals`` breaks the contract (the message says how)."""


def check_output(result: Any, index: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """(entries, exits) as bool arrays aligned with `index`, or `ContractError`."""
    import pandas as pd

    if not isinstance(result, (tuple, list)) or len(result) != 2:
        got = type(result).__name__ + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
        raise ContractError(f"generate_signals must return a tuple (entries, exits), got {got}")
    out = []
    for name, value in zip(("entries", "exits"), result):
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
        if value.isna().any():
            raise ContractError(f"{name} holds {int(value.isna().sum())} missing values; use .fillna(False)")
        if value.dtype != bool:
            raise ContractError(f"{name} has dtype {value.dtype}; return booleans, e.g. (condition).astype(bool)")
        out.append(value.to_numpy(dtype=bool))
    return out[0], out[1]


# ----------------------------------------------------------------------------------------------- acceptance


def lookahead_cuts(n_rows: int, start: int = 0) -> list[int]:
    """Row counts of the prefixes the lookahead check runs (distinct, inside (start, n_rows))."""
    span = n_rows - start
    cuts = sorted({start + int(span * f) for f in LOOKAHEAD_CUTS})
    return [c for c in cuts if start < c < n_rows]


def first_difference(a: np.ndarray, b: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first element where two equally shaped arrays differ, or None."""
    import numpy as np

    diff = np.argwhere(a != b)
    if diff.size == 0:
        return None
    return int(diff[0, 0]), int(diff[0, 1])


def accept(run: Any, inputs: Mapping[tuple[str, str], np.ndarray], n_rows: int, labels: Sequence[str],
           index: Any, param_sets: Sequence[Mapping[str, Any]], full: tuple[np.ndarray, np.ndarray] | None = None,
           start: int = 0, columns: Sequence[int] | None = None) -> None:
    """Determinism and lookahead checks; raises `RuleEngineError` X128 / X129 when one fails.

    Args:
        run: ``run(param_sets, columns=..., rows=...) -> (entries, exits)`` through the sandbox.
        full: the full run already computed for `param_sets` on every column (else it is run here).
        start: the first row the checks look at (rows before it are warm-up history).
        columns: the runs checked (default the first `ACCEPT_COLUMNS`).
    """
    from ..errors import Diagnostic, RuleEngineError

    n_cols = len(labels)
    cols = list(columns) if columns is not None else list(range(min(n_cols, ACCEPT_COLUMNS)))
    sets = [dict(param_sets[0])]  # the first parameter set: the code path is the same for the others
    width = len(cols)
    if full is None:
        full = run(sets, columns=cols, rows=None)
        base_e, base_x = full
    else:
        pick = cols  # the first set's block of the full run
        base_e, base_x = full[0][:, pick], full[1][:, pick]
    again_e, again_x = run(sets, columns=cols, rows=None)
    for what, a, b in (("entries", base_e[:, :width], again_e), ("exits", base_x[:, :width], again_x)):
        where = first_difference(a, b)
        if where is not None:
            t, j = where
            raise RuleEngineError([Diagnostic(
                "X128", f"the code is not deterministic: {what} of {labels[cols[j]]} differ between two runs on "
                f"{_when(index, t)}", path="code",
                hint="remove randomness, time and anything that depends on the order of a set or dict")])
    for cut in lookahead_cuts(n_rows, start):
        part_e, part_x = run(sets, columns=cols, rows=cut)
        for what, a, b in (("entries", base_e[:cut, :width], part_e), ("exits", base_x[:cut, :width], part_x)):
            where = first_difference(a, b)
            if where is not None:
                t, j = where
                raise RuleEngineError([Diagnostic(
                    "X129", f"the code looks ahead: {what} of {labels[cols[j]]} on {_when(index, t)} is "
                    f"{bool(a[t, j])} with the full history but {bool(b[t, j])} with the data cut after "
                    f"{_when(index, cut - 1)}", path="code",
                    hint="use only past and current bars: no shift(-k), no centred windows, no statistics over the "
                    "whole series (use rolling(...) or expanding())")])


def _when(index: Any, row: int) -> str:
    try:
        t = index[row]
        return str(t.date()) if hasattr(t, "date") and t == t.normalize() else str(t)
    except (IndexError, AttributeError, TypeError, ValueError):
        return f"row {row}"


__all__ = [
    "ACCEPT_COLUMNS",
    "LOOKAHEAD_CUTS",
    "ContractError",
    "accept",
    "check_output",
    "first_difference",
    "lookahead_cuts",
]
