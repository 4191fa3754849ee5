"""Quality checks of generic local data files: nothing in a user's file is coerced without a word.

Errors (nothing is guessed; the symbol's data is refused until the file is fixed):

* D150: a value of a vocabulary column that is not a number (``1,234.5``, ``$12``, ``abc``). Empty cells and
  pandas' usual missing markers (``NA``, ``null``, ``NaN``) are missing values, not errors.
* D151: two rows of one symbol at the same time with different values (which one is right cannot be known).
* D152: a column given twice (the same name, or names differing only in case).
* D153: ``inf`` / ``-inf`` in a vocabulary column (a number too large for float64 included).
* D155: times outside 1677-09-22 .. 2262-04-11 (a year 1500 or 9999 is a typo, and cannot be stored).

Warnings (the data is used; the warning says what was done):

* D151: a row repeated with identical values: one copy is kept.
* D154: a bar whose high is below its low: kept as stored (stops and targets test those values).
* D156: a row whose time cell is empty: left out.

Every message names the file, the symbol, the first rows (CSV: line numbers, header = line 1; Parquet: row
numbers from 1) with their times, and what was done. Files of the shared layout (``daily.parquet``, ...) are
checked when they are built (see their README) and are not checked again here.

Example:
    >>> raw = pd.Series(["1.5", "abc", None])
    >>> values = np.array([1.5, np.nan, np.nan])
    >>> not_numbers(raw, values).tolist()
    [False, True, False]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError

#: Times a nanosecond timestamp can hold (pandas' bounds, a day inside on each side).
EARLIEST, LATEST = pd.Timestamp("1677-09-22"), pd.Timestamp("2262-04-10")
#: Rows named in a message; the rest are counted.
SHOWN = 5


@dataclass(frozen=True)
class Note:
    """A finding about one symbol's rows of a file (`symbol` None: the whole file)."""

    symbol: str | None
    diagnostic: Diagnostic

    @property
    def is_error(self) -> bool:
        return self.diagnostic.severity == "error"


def not_numbers(raw: pd.Series, values: np.ndarray) -> np.ndarray:
    """Cells that held something (not empty, not a missing marker) but did not parse as a number."""
    textual = raw.dtype == object or pd.api.types.is_string_dtype(raw)
    text = raw.astype("string").str.strip() if textual else None
    present = raw.notna().to_numpy() if text is None else (text.notna() & (text != "")).to_numpy(dtype=bool)
    return present & np.isnan(values)


def rows_text(path: Path, positions: Sequence[int], times: pd.DatetimeIndex | None = None) -> str:
    """'lines 6 (2020-01-03), 18 (2020-01-27) and 4 more' (CSV) or 'rows ...' (Parquet), from 0-based rows."""
    csv = path.suffix.lower() == ".csv"
    shown = []
    for i, pos in enumerate(positions[:SHOWN]):
        number = int(pos) + (2 if csv else 1)
        when = f" ({_when(times[i])})" if times is not None and i < len(times) else ""
        shown.append(f"{number}{when}")
    more = f" and {len(positions) - SHOWN} more" if len(positions) > SHOWN else ""
    return f"{'line' if csv else 'row'}{'s' if len(positions) > 1 else ''} {', '.join(shown)}{more}"


def _when(t: pd.Timestamp) -> str:
    if pd.isna(t):
        return "no time"
    return str(t.date()) if t == t.normalize() else f"{t:%Y-%m-%d %H:%M}"


def duplicate_columns(path: Path, header: Sequence[str], used: Sequence[str]) -> None:
    """D152 when a column we read appears twice in the file's header (exactly or differing in case)."""
    seen: dict[str, list[str]] = {}
    for name in header:
        seen.setdefault(str(name).lower(), []).append(str(name))
    twice = [names for key, names in seen.items() if len(names) > 1 and key in {u.lower() for u in used}]
    if twice:
        listed = "; ".join(" and ".join(f"'{n}'" for n in names) for names in twice)
        raise RuleEngineError([Diagnostic(
            "D152", f"the file has a column more than once: {listed} ({path}); nothing was read",
            hint="keep one column per name (rename or drop the others)")])


def time_bounds(path: Path, local: pd.DatetimeIndex) -> None:
    """D155 when a time lies outside what a nanosecond timestamp holds."""
    bad = np.flatnonzero(~local.isna() & ((local < EARLIEST) | (local > LATEST)))
    if len(bad):
        raise RuleEngineError([Diagnostic(
            "D155", f"{len(bad)} time{'s' if len(bad) > 1 else ''} outside {EARLIEST.date()} .. "
                    f"{LATEST.date()} at {rows_text(path, bad.tolist(), local[bad])} ({path}); nothing was read",
            hint="correct the dates (a year such as 1500 or 9999 is usually a typo)")])


def missing_times(path: Path, has_time: np.ndarray, symbols: np.ndarray) -> list[Note]:
    """D156 warnings: rows whose time cell is empty are left out."""
    return [Note(sym, Diagnostic(
        "D156", f"{len(rows)} row{'s' if len(rows) > 1 else ''} without a time at {rows_text(path, rows)} in "
                f"{path} (symbol {sym}); left out", severity="warning", hint="fill the time of these rows"))
            for sym, rows in _by_symbol(np.flatnonzero(~has_time), symbols)]


def check_values(path: Path, frame: pd.DataFrame, raw: dict[str, pd.Series], local: pd.DatetimeIndex,
                 symbols: np.ndarray) -> list[Note]:
    """D150 / D153 per symbol for the parsed vocabulary columns of `frame` (raw text in `raw`)."""
    notes: list[Note] = []
    for col, text in raw.items():
        values = frame[col].to_numpy(dtype=np.float64, na_value=np.nan)
        for code, bad, what, hint in (
                ("D150", not_numbers(text, values), "not a number",
                 "write plain numbers (no thousands separators or currency signs); leave a missing value "
                 "empty"),
                ("D153", np.isinf(values), "infinite (inf, or too large for a float64)",
                 "write the real value; leave a missing value empty")):
            for sym, rows in _by_symbol(np.flatnonzero(bad), symbols):
                sample = ", ".join(repr(str(text.iloc[r])[:20]) for r in rows[:3])
                notes.append(Note(sym, Diagnostic(
                    code, f"column '{col}' is {what} at {rows_text(path, rows, local[rows])} ({sample}) in "
                          f"{path} (symbol {sym}); the symbol's data is refused",
                    hint=hint)))
    return notes


def check_bars(path: Path, frame: pd.DataFrame, local: pd.DatetimeIndex, symbols: np.ndarray) -> list[Note]:
    """D154 warnings: bars whose high is below their low (kept as stored)."""
    if "high" not in frame or "low" not in frame:
        return []
    high, low = frame["high"].to_numpy(dtype=np.float64), frame["low"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(high < low)
    return [Note(sym, Diagnostic(
        "D154", f"{len(rows)} bar{'s' if len(rows) > 1 else ''} with high below low at "
                f"{rows_text(path, rows, local[rows])} in {path} (symbol {sym}); kept as stored, so stops and "
                "targets are tested against these values", severity="warning",
        hint="correct the high and low of these bars"))
            for sym, rows in _by_symbol(bad, symbols)]


def check_duplicates(path: Path, frame: pd.DataFrame, times: np.ndarray, symbols: np.ndarray,
                     rows: np.ndarray, local: pd.DatetimeIndex) -> list[Note]:
    """D151 per symbol: repeated (symbol, time) rows; identical copies are a warning, differing ones an error.

    `times` are the rows' int64 index values, `rows` their positions in the file, `local` their local times;
    the caller keeps the last row of each (symbol, time)."""
    one = len(symbols) == 0 or (symbols == symbols[0]).all()  # a per-symbol file: no hashing needed
    codes = np.zeros(len(symbols), dtype=np.int64) if one else pd.factorize(symbols)[0]
    # a sorted pass finds whether any repeat exists (the common answer: no)
    order = np.argsort(times, kind="stable") if one else np.lexsort((times, codes))
    if not ((codes[order][1:] == codes[order][:-1]) & (times[order][1:] == times[order][:-1])).any():
        return []
    key = pd.DataFrame({"s": codes, "t": times})
    repeated = key.duplicated(keep=False).to_numpy()
    values = frame.drop(columns=["symbol"]).reset_index(drop=True)
    whole = pd.concat([key, values], axis=1)
    groups = key[repeated].assign(same=whole[repeated].duplicated(keep=False).to_numpy())
    conflict = groups.groupby(["s", "t"])["same"].transform("all").eq(False)
    in_conflict = np.zeros(len(key), dtype=bool)
    in_conflict[np.flatnonzero(repeated)[conflict.to_numpy()]] = True
    copies = repeated & ~in_conflict & key.duplicated(keep="first").to_numpy()

    def where(mask: np.ndarray) -> list[tuple[str, list[int], pd.DatetimeIndex]]:
        at = np.flatnonzero(mask)
        return [(sym, [int(rows[i]) for i in pos], local[pos]) for sym, pos in _by_symbol(at, symbols)]

    notes = [Note(sym, Diagnostic(
        "D151", f"rows at the same time with different values at {rows_text(path, found, when)} in {path} "
                f"(symbol {sym}); which one is right cannot be known, the symbol's data is refused",
        hint="keep one row per time")) for sym, found, when in where(in_conflict)]
    notes += [Note(sym, Diagnostic(
        "D151", f"{len(found)} repeated row{'s' if len(found) > 1 else ''} (identical values) at "
                f"{rows_text(path, found, when)} in {path} (symbol {sym}); one copy of each is kept",
        severity="warning", hint="remove the repeated rows")) for sym, found, when in where(copies)]
    return notes


def _by_symbol(positions: np.ndarray, symbols: np.ndarray) -> list[tuple[str, list[int]]]:
    """(symbol, its positions) in order of first appearance."""
    out: dict[str, list[int]] = {}
    for p in positions.tolist():
        out.setdefault(str(symbols[p]), []).append(p)
    return list(out.items())
