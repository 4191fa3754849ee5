"""Turn the pandas data a user passes into aligned raw arrays for execution, with D1xx diagnostics.

`data` maps slot names to DataFrames indexed by time (a bare DataFrame for a single-slot strategy). Columns
are either flat (one symbol) or a two-level MultiIndex (symbol, column) for several symbols. Every slot is
aligned to the price slot's index; a slot with other timestamps contributes, on each bar, its last value
known at that time (an as-of join), so nothing from the future leaks in.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError, did_you_mean


@dataclass
class Bound:
    index: pd.DatetimeIndex
    symbols: list[Any] | None  # None: one unnamed symbol (flat columns)
    inputs: dict[tuple[str, str], np.ndarray]

    @property
    def n_rows(self) -> int:
        return len(self.index)

    @property
    def n_cols(self) -> int:
        return 1 if self.symbols is None else len(self.symbols)


def bind(data: Any, slots: list[str], required: Mapping[str, AbstractSet[str]], base_slot: str | None) -> Bound:
    """Validate and align; `required` maps slot -> columns the plan reads."""
    frames = _as_mapping(data, slots)
    problems: list[Diagnostic] = []
    prepared: dict[str, pd.DataFrame] = {}
    for slot in required:
        if slot not in frames:
            problems.append(Diagnostic("D101", f"no data for slot '{slot}'", path=f"data.{slot}",
                                       hint=did_you_mean(slot, frames) or
                                       f"pass a mapping with keys {sorted(required)}"))
            continue
        df = _prepare(slot, frames[slot], problems)
        if df is not None:
            prepared[slot] = df
    if problems:
        raise RuleEngineError(problems)
    base = base_slot if base_slot in prepared else next(iter(prepared))
    index = prepared[base].index
    symbols = _symbols(prepared[base])
    inputs: dict[tuple[str, str], np.ndarray] = {}
    for slot, cols in required.items():
        df = prepared[slot]
        if not df.index.equals(index):
            if df.index.max() < index.min() or df.index.min() > index.max():
                problems.append(Diagnostic("D107", f"slot '{slot}' covers {df.index.min().date()} .. "
                                           f"{df.index.max().date()}, outside the price data",
                                           path=f"data.{slot}", hint="pass data covering the same period"))
                continue
            df = df.reindex(index, method="ffill")
        slot_symbols = _symbols(df)
        if (slot_symbols is None) != (symbols is None) or \
                (symbols is not None and slot_symbols is not None and len(slot_symbols) != len(symbols)):
            problems.append(Diagnostic("D107", f"slot '{slot}' has other symbols than slot '{base}'",
                                       path=f"data.{slot}",
                                       hint="every slot needs the same number of symbol columns"))
            continue
        floats = _FloatValues(df)
        for col in sorted(cols):
            arr = _column(df, slot, col, problems, floats)
            if arr is not None:
                inputs[(slot, col)] = arr
    if problems:
        raise RuleEngineError(problems)
    return Bound(index, symbols, inputs)


def _as_mapping(data: Any, slots: list[str]) -> Mapping[str, Any]:
    if isinstance(data, pd.DataFrame):
        if len(slots) != 1:
            raise RuleEngineError([Diagnostic("D101", f"the strategy has {len(slots)} data slots "
                                              f"({', '.join(slots)}); a single DataFrame is not enough",
                                              hint="pass a dict: {slot name: DataFrame}")])
        return {slots[0]: data}
    if isinstance(data, Mapping):
        return data
    raise RuleEngineError([Diagnostic("D101", f"data must be a DataFrame or a mapping of slot -> DataFrame, "
                                      f"got {type(data).__name__}")])


def _prepare(slot: str, df: Any, problems: list[Diagnostic]) -> pd.DataFrame | None:
    path = f"data.{slot}"
    if not isinstance(df, pd.DataFrame):
        problems.append(Diagnostic("D101", f"data for slot '{slot}' is a {type(df).__name__}, not a DataFrame",
                                   path=path))
        return None
    if df.empty or len(df.index) == 0:
        problems.append(Diagnostic("D106", f"data for slot '{slot}' is empty", path=path,
                                   hint="check the symbol and the date range"))
        return None
    if not isinstance(df.index, pd.DatetimeIndex):
        for name in ("date", "datetime", "timestamp", "time"):
            if name in df.columns:
                df = df.set_index(pd.to_datetime(df[name])).drop(columns=[name])
                break
        else:
            problems.append(Diagnostic("D105", f"data for slot '{slot}' is not indexed by time "
                                       f"({type(df.index).__name__})", path=path,
                                       hint="use a DatetimeIndex, or a 'date' column"))
            return None
    if df.index.has_duplicates:
        dup = df.index[df.index.duplicated()][0]
        problems.append(Diagnostic("D105", f"data for slot '{slot}' has duplicate timestamps (e.g. {dup})",
                                   path=path, hint="drop duplicates before passing the data"))
        return None
    if not df.index.is_monotonic_increasing:
        df = df.sort_index()
    if df.columns.nlevels == 1:
        if any(not isinstance(c, str) or c != c.lower() for c in df.columns):
            df = df.rename(columns=lambda c: str(c).lower())
    elif df.columns.nlevels == 2:
        names = df.columns.get_level_values(1).unique()
        if any(not isinstance(c, str) or c != c.lower() for c in names):
            df = df.rename(columns=lambda c: str(c).lower(), level=1)
    else:
        problems.append(Diagnostic("D102", f"data for slot '{slot}' has {df.columns.nlevels} column levels",
                                   path=path, hint="use flat columns, or (symbol, column) pairs"))
        return None
    return df


def _symbols(df: pd.DataFrame) -> list[Any] | None:
    if df.columns.nlevels == 2:
        return list(df.columns.get_level_values(0).unique())
    return None


def _column(df: pd.DataFrame, slot: str, col: str, problems: list[Diagnostic],
            floats: _FloatValues) -> np.ndarray | None:
    if df.columns.nlevels == 1:
        if col not in df.columns:
            problems.append(Diagnostic("D102", f"data for slot '{slot}' has no column '{col}'",
                                       path=f"data.{slot}.{col}",
                                       hint=did_you_mean(col, [str(c) for c in df.columns]) or
                                       "columns: " + ", ".join(map(str, df.columns))))
            return None
        try:
            arr = df[col].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            problems.append(Diagnostic("D102", f"column '{col}' of slot '{slot}' is not numeric",
                                       path=f"data.{slot}.{col}"))
            return None
        return np.asfortranarray(arr.reshape(-1, 1))
    fields = df.columns.get_level_values(1)
    pos = np.flatnonzero(np.asarray(fields == col))
    symbols = _symbols(df) or []
    owners = pd.Index(df.columns.get_level_values(0)[pos])
    order = owners.get_indexer(symbols) if len(pos) else np.full(len(symbols), -1)
    if len(pos) == 0 or (order < 0).any():
        missing = [s for s, o in zip(symbols, order, strict=True) if o < 0][:3]
        problems.append(Diagnostic("D102", f"data for slot '{slot}' has no column '{col}'"
                                   + (f" for {', '.join(map(str, missing))}" if len(pos) else ""),
                                   path=f"data.{slot}.{col}"))
        return None
    try:
        values = floats.get()
    except (TypeError, ValueError):
        problems.append(Diagnostic("D102", f"column '{col}' of slot '{slot}' is not numeric",
                                   path=f"data.{slot}.{col}"))
        return None
    return np.asfortranarray(values[:, pos[order]])


class _FloatValues:
    """All values of a (symbol, column) frame as one float64 array, converted at most once."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.values: np.ndarray | None = None

    def get(self) -> np.ndarray:
        if self.values is None:
            self.values = self.df.to_numpy(dtype=np.float64, na_value=np.nan)
        return self.values
