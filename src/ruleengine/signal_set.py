"""`SignalSet`: what a strategy's ``signals(market, params)`` returns, rules and code alike (stage 6's output).

Arrays follow vectorbt's contract: axis 0 the market's bars (warm-up history included), one column per
parameter set x market column, parameter set major. Fields are named, never positional, so that short
entries / exits and order prices can join as optional fields without touching the callers that do not use
them. `SignalSet.to_pandas` is the view users read: Series for one symbol and one set, else DataFrames whose
columns are the varying parameters (and the symbol), over the requested range only.

Example:
    >>> import numpy as np, pandas as pd
    >>> idx = pd.date_range("2024-01-01", periods=3, tz="UTC")
    >>> s = SignalSet(np.array([[False], [True], [False]]), np.zeros((3, 1), bool), [{"n": 2}], idx, ["data"],
    ...               start=1, unnamed=True)
    >>> s.to_pandas().entries.tolist()
    [True, False]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SignalSet:
    """Bool signals of every parameter set on every market column, with where they came from."""

    entries: np.ndarray  # (T, P*S) bool: enter long at the bar's close
    exits: np.ndarray  # (T, P*S) bool: leave the long position
    param_sets: list[dict[str, Any]]  # the P full parameter sets, in column-block order
    index: pd.DatetimeIndex  # the T bar times of the market (history first)
    labels: Sequence[Any]  # the S market column labels (symbols, or ``GLD/SLV`` for a run of several)
    start: int = 0  # row of the first requested bar: rows before it are history, never traded
    unnamed: bool = False  # one column of flat DataFrames: no symbol names it (the pandas view is a Series)
    short_entries: np.ndarray | None = None  # (T, P*S) bool: enter short (a long/short strategy only)
    short_exits: np.ndarray | None = None  # (T, P*S) bool: leave the short position
    #: (T, P*S) float64 per-bar levels by kind (`ruleengine.kernels.enums.LEVEL_KINDS`), e.g. an order's price
    levels: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: the exit program on position variables (`ruleengine.compile.exit_program.ExitProgram`, one for every
    #: column; its levels are ``levels["exit_program:<k>"]``), None when the exits need no position
    exit_program: Any = None
    #: a long_short strategy's ``short_exit`` program, run for its shorts (levels ``short_exit_program:<k>``)
    short_exit_program: Any = None

    @property
    def n_sets(self) -> int:
        return len(self.param_sets)

    @property
    def n_cols(self) -> int:
        return len(self.labels)

    def columns(self, cols: Sequence[int], stop: int | None = None) -> dict[str, Any]:
        """The signal columns `cols` (rows before `stop`) as `ruleengine.backtest.simulation.simulate` takes
        them: ``entries``, ``exits``, ``short_entries``, ``short_exits``, ``levels`` (column-major copies,
        what the kernels read; None / empty where the strategy has none), ``exit_program`` and
        ``short_exit_program``."""
        def take(x: np.ndarray) -> np.ndarray:
            return x[:stop].T[list(cols)].T

        return {"entries": take(self.entries), "exits": take(self.exits),
                "short_entries": None if self.short_entries is None else take(self.short_entries),
                "short_exits": None if self.short_exits is None else take(self.short_exits),
                "levels": {kind: take(v) for kind, v in self.levels.items()}, "exit_program": self.exit_program,
                "short_exit_program": self.short_exit_program}

    def to_pandas(self) -> PandasSignals:
        """The requested range as pandas (see the module doc)."""
        index = self.index[self.start:]

        def view(arr: np.ndarray | None, name: str) -> Any:
            return None if arr is None else _frame(arr[self.start:], index, self, name)

        return PandasSignals(view(self.entries, "entries"), view(self.exits, "exits"),
                             view(self.short_entries, "short_entries"), view(self.short_exits, "short_exits"))

    @property
    def long_short(self) -> bool:
        """True when the set carries a short side beside the long one (a long_short strategy)."""
        return self.short_entries is not None


@dataclass(frozen=True)
class PandasSignals:
    """Entries and exits as a Series (one symbol, one parameter set) or DataFrames; a long_short strategy's
    short side as short_entries / short_exits (None otherwise)."""

    entries: Any
    exits: Any
    short_entries: Any = None
    short_exits: Any = None


def _frame(arr: np.ndarray, index: pd.DatetimeIndex, sig: SignalSet, name: str) -> Any:
    sets = sig.param_sets
    if len(sets) == 1 and sig.unnamed:
        return pd.Series(arr[:, 0], index=index, name=name)
    varying = [k for k in sets[0] if len({repr(s[k]) for s in sets}) > 1]
    symbols: list[Any] = [None] if sig.unnamed else list(sig.labels)
    tuples: list[tuple[Any, ...]] = []
    for s in sets:
        for sym in symbols:
            key = tuple(s[k] for k in varying)
            tuples.append(key + (() if sig.unnamed else (sym,)))
    names = varying + ([] if sig.unnamed else ["symbol"])
    if len(names) == 1:
        columns: pd.Index = pd.Index([t[0] for t in tuples], name=names[0])
    elif names:
        columns = pd.MultiIndex.from_tuples(tuples, names=names)
    else:  # several identical parameter sets
        columns = pd.RangeIndex(len(tuples), name="param_set")
    return pd.DataFrame(arr, index=index, columns=columns)


__all__ = ["PandasSignals", "SignalSet"]
