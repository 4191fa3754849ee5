"""Reading local Parquet/CSV files into normalized long frames, and the per-symbol index used to slice them.

A *normalized long frame* has a ``symbol`` column, a tz-aware UTC index (00:00 UTC date labels for daily and
coarser bars, bar starts for intraday bars, ``available_at`` for published records) and the kind's vocabulary
columns as float64. `LongTable` sorts it once by (symbol, time) and slices a symbol's date range by binary
search, so a 500-symbol universe costs one file read and 500 slices.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from ..schema.kinds import KIND_COLUMNS
from .base import PRICE_KINDS
from .frames import INTRADAY, as_float
from .local_quality import (
    Note,
    check_bars,
    check_duplicates,
    check_values,
    duplicate_columns,
    missing_times,
    rows_text,
    time_bounds,
)
from .pit import lagged_available_at

SUFFIXES = (".parquet", ".pq", ".csv")
TIME_CANDIDATES = ("datetime", "date", "timestamp", "time", "available_at")
EVENT_TIME_CANDIDATES = ("available_at", "datetime", "date", "timestamp", "time")
SYMBOL_CANDIDATES = ("symbol", "ticker")
INTRADAY_ORDER = ("1Min", "5Min", "15Min", "30Min", "1Hour")
#: Raw columns an insider_trades file needs (aggregated per bar when bound).
INSIDER_COLUMNS = ("transaction_code", "shares", "price")


def malformed(path: Path | str, message: str, hint: str | None = None) -> RuleEngineError:
    """D114 naming the file."""
    return RuleEngineError([Diagnostic("D114", f"{message} ({path})", hint=hint)])


def read_any(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A Parquet or CSV file as a DataFrame (a datetime index written by pandas becomes a column).

    ``attrs["header"]`` holds a CSV file's column names as written (pandas renames a repeated ``close`` to
    ``close.1``; the quality checks need to see the repetition)."""
    if not path.is_file():
        raise malformed(path, "not a regular file", "give a Parquet or CSV file, or a folder of them")
    if path.suffix.lower() != ".csv":  # Parquet may hold a name twice; the reader's error would not say so
        names = file_columns(path)
        duplicate_columns(path, names, names)
    try:
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(path)
            header = list(pd.read_csv(path, nrows=1, header=None).iloc[0].astype(str))
        else:
            frame = pd.read_parquet(path, columns=columns)
            header = list(map(str, frame.columns))
    except Exception as exc:  # noqa: BLE001 - any parser failure is the file's problem, reported with its path
        raise malformed(path, f"cannot read data file: {type(exc).__name__}: {exc}",
                        "a Parquet or CSV file with a header row") from None
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index()
    frame.attrs["header"] = header
    return frame


def file_columns(path: Path) -> list[str]:
    """Column names without reading the data (Parquet schema or the CSV header)."""
    try:
        if path.suffix.lower() == ".csv":
            return list(pd.read_csv(path, nrows=0).columns)
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
        names = list(schema.names)
        meta = schema.pandas_metadata or {}
        return names + [c for c in meta.get("index_columns", []) if isinstance(c, str) and c not in names]
    except Exception as exc:  # noqa: BLE001
        raise malformed(path, f"cannot read data file: {type(exc).__name__}: {exc}",
                        "a Parquet or CSV file with a header row") from None


def find_column(columns: list[str], wanted: str, candidates: tuple[str, ...] = ()) -> str | None:
    """The file column for `wanted` (exact, then case-insensitive, then the candidates)."""
    lower = {c.lower(): c for c in map(str, columns)}
    for name in (wanted, *candidates):
        if name in columns:
            return name
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def _local_naive(values: pd.Series, tz: str) -> pd.DatetimeIndex:
    """Exchange-local naive times of a time column (tz-aware values converted, naive taken as local)."""
    try:
        idx = pd.DatetimeIndex(pd.to_datetime(values, utc=False, format="mixed"))
    except (ValueError, TypeError):
        idx = pd.DatetimeIndex(pd.to_datetime(values, utc=True)).tz_convert(tz)
    return idx.tz_convert(tz).tz_localize(None) if idx.tz is not None else idx


def infer_frequency(local: pd.DatetimeIndex, symbols: np.ndarray | None = None) -> str:
    """The bar frequency of local times: daily/weekly/monthly when all are midnight, else the bar spacing."""
    local = local.as_unit("ns")
    values = local.asi8
    if symbols is not None:
        codes = pd.factorize(symbols)[0]
        order = np.lexsort((values, codes))
        values, codes = values[order], codes[order]
        same = codes[1:] == codes[:-1]
    else:
        values = np.sort(values)
        same = np.ones(max(len(values) - 1, 0), dtype=bool)
    diffs = np.diff(values)[same]
    diffs = diffs[diffs > 0]
    if len(diffs) == 0:
        return "1Day"
    if (local.asi8 % 86_400_000_000_000 == 0).all():  # every time at midnight (cheaper than normalize())
        days = np.median(diffs) / 86_400e9
        return "1Day" if days < 5 else ("1Week" if days < 20 else "1Month")
    minutes = np.median(diffs[diffs < 86_400e9 / 2]) / 60e9 if (diffs < 86_400e9 / 2).any() else 1.0
    return min(zip((1, 5, 15, 30, 60), INTRADAY_ORDER, strict=True), key=lambda m: abs(m[0] - minutes))[1]


#: Rows read to infer the bar frequency of one file of a per-symbol folder (the median spacing of 50 bars is
#: the file's frequency; reading more would make a 500-file folder slow to open).
PEEK_ROWS = 50


def peek_frequency(path: Path, time_column: str | None, tz: str) -> str | None:
    """The bar frequency of a price file from its first rows (None when the file cannot say).

    A folder of per-symbol files may mix daily and hourly files: each file's frequency is its own. CSV files
    are peeked with the csv module (pandas costs ~5 ms a file, too much for a folder of 500)."""
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8", errors="replace") as fh:
                rows = list(itertools.islice(csv.reader(fh), PEEK_ROWS + 1))
            cols = rows[0] if rows else []
            tcol = _time_column(cols, time_column)
            if tcol is None:
                return None
            at = cols.index(tcol)
            times: list[Any] = [r[at] for r in rows[1:] if len(r) > at and r[at].strip()]
        else:
            import pyarrow.parquet as pq

            batch = next(pq.ParquetFile(path).iter_batches(batch_size=PEEK_ROWS), None)
            if batch is None:
                return None
            head = batch.to_pandas()
            if isinstance(head.index, pd.DatetimeIndex):
                head = head.reset_index()
            tcol = _time_column(list(map(str, head.columns)), time_column)
            if tcol is None:
                return None
            times = head[tcol].tolist()
        local = _plain_iso(times)
        if local is None:
            local = _local_naive(pd.Series(times), tz)
        local = local.dropna()
    except (ValueError, TypeError, OverflowError, OSError, ImportError, csv.Error):
        return None  # the full read reports the file's problem when its symbol is asked for
    return infer_frequency(local) if len(local) > 1 else None


def _plain_iso(times: list[Any]) -> pd.DatetimeIndex | None:
    """Naive ISO texts in one numpy call (None for anything else: offsets, other formats, non-text)."""
    if not all(isinstance(s, str) and "+" not in s and "Z" not in s and "-" not in s[10:] for s in times):
        return None
    try:
        return pd.DatetimeIndex(np.array(times, dtype="datetime64[ns]"))
    except (ValueError, TypeError):
        return None


def _time_column(columns: list[str], time_column: str | None) -> str | None:
    return (find_column(columns, time_column, ()) if time_column
            else find_column(columns, TIME_CANDIDATES[0], TIME_CANDIDATES))


def _bad_times(path: Path, values: pd.Series) -> str:
    """' at line 5 (...)': the first cells of a time column that do not parse on their own."""
    try:
        parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    except (ValueError, TypeError, OverflowError):
        return ""
    bad = np.flatnonzero(values.notna().to_numpy() & parsed.isna().to_numpy())
    if not len(bad):
        return ""
    sample = ", ".join(repr(str(values.iloc[i])[:30]) for i in bad[:3])
    return f" at {rows_text(path, bad.tolist())} ({sample})"


def normalize(raw: pd.DataFrame, path: Path, *, kind: str, frequency: str | None, long: bool,
              symbol: str | None = None, time_column: str | None = None,
              columns: Mapping[str, str] | None = None, tz: str) -> tuple[pd.DataFrame, str, list[Note]]:
    """A raw file frame -> (normalized long frame, native frequency, quality notes per symbol).

    File-wide problems (no time column, a repeated column, no rows, impossible dates) raise; problems of a
    symbol's rows are notes (`ruleengine.data.local_quality`): errors refuse that symbol only."""
    columns = dict(columns or {})
    cols = list(map(str, raw.columns))
    if raw.empty:
        header_only = " (only a header)" if cols and path.suffix.lower() == ".csv" else ""
        raise malformed(path, f"the file has no data rows{header_only}",
                        "give at least one row of data")
    candidates = TIME_CANDIDATES if kind in PRICE_KINDS else EVENT_TIME_CANDIDATES
    tcol = find_column(cols, time_column, ()) if time_column else find_column(cols, candidates[0], candidates)
    if tcol is None:
        looked = time_column or ", ".join(candidates)
        raise malformed(path, f"no time column (looked for {looked}); columns are {', '.join(cols)}",
                        f"rename the time column to one of {', '.join(candidates)}; in Python: "
                        "LocalProvider(path, time_column=...)")
    out = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    if long:
        scol = find_column(cols, columns.get("symbol", "symbol"), SYMBOL_CANDIDATES)
        if scol is None:
            raise malformed(path, "long-format file without a symbol column",
                            "add a 'symbol' column, or use one file per symbol named <SYMBOL>.parquet|csv")
        out["symbol"] = raw[scol].astype(str).to_numpy()
    else:
        out["symbol"] = symbol
    wanted = KIND_COLUMNS.get(kind, ())
    found = 0
    texts: dict[str, pd.Series] = {}  # vocabulary column -> the file's cells, for the quality checks
    for col in wanted:
        src = find_column(cols, columns.get(col, col))
        out[col] = as_float(raw[src]) if src is not None else np.nan
        if src is not None:
            texts[col] = raw[src]
        found += src is not None
    duplicate_columns(path, raw.attrs.get("header") or cols, [tcol, *(str(s.name) for s in texts.values())])
    if kind in PRICE_KINDS and find_column(cols, columns.get("close", "close")) is None:
        raise malformed(path, f"no close column; columns are {', '.join(cols)}",
                        "rename your close column to close; in Python: "
                        "LocalProvider(path, columns={'close': 'Adj Close'})")
    if kind == "insider_trades":
        for col in INSIDER_COLUMNS:
            src = find_column(cols, columns.get(col, col))
            if src is None:
                raise malformed(path, f"insider_trades file without a '{col}' column",
                                "insider trades need transaction_code (P/S/...), shares and price per row")
            out[col] = raw[src].to_numpy() if col == "transaction_code" else as_float(raw[src])
            if col != "transaction_code":
                texts[col] = raw[src]
    elif kind not in PRICE_KINDS and found == 0:
        raise malformed(path, f"none of the {kind} columns ({', '.join(wanted)}) found",
                        "map your columns with columns={'eps': 'EPS'}")
    # Keep informational columns of event files (period_end, announce_time, ...) as they are.
    if kind not in PRICE_KINDS:
        used = {tcol.lower(), "symbol", *(c.lower() for c in out.columns)}
        for c in cols:
            if c.lower() not in used and c not in out.columns:
                out[c] = raw[c].to_numpy()
    try:
        local = _local_naive(raw[tcol], tz)
    except (ValueError, TypeError, OverflowError) as exc:
        where = _bad_times(path, raw[tcol])
        raise malformed(path, f"time column '{tcol}' is not a date/time{where or f': {exc}'}",
                        "write times as ISO dates (2020-01-31 or 2020-01-31 09:30)") from None
    time_bounds(path, local)
    local = local.as_unit("ns")
    symbols = out["symbol"].to_numpy()
    notes = check_values(path, out, texts, local, symbols)
    if kind in PRICE_KINDS:
        notes += check_bars(path, out, local, symbols)
    keep = ~local.isna()
    notes += missing_times(path, keep, symbols)
    out, local = out[keep], local[keep]
    native = frequency or (infer_frequency(local, out["symbol"].to_numpy() if long else None)
                           if kind in PRICE_KINDS else "event")
    if kind in PRICE_KINDS and native not in INTRADAY:
        index = pd.DatetimeIndex(local.normalize()).tz_localize("UTC")
    elif kind in PRICE_KINDS:
        index = local.tz_localize(tz, nonexistent="shift_forward", ambiguous=False).tz_convert("UTC")
    elif (local == local.normalize()).all() and tcol.lower() != "available_at":
        # A date without a time: conservatively usable only after that day's close.
        index = lagged_available_at(local)
    else:
        index = local.tz_localize(tz, nonexistent="shift_forward", ambiguous=False).tz_convert("UTC")
    out.index = pd.DatetimeIndex(index).as_unit("ns")
    if kind in PRICE_KINDS:  # one bar per (symbol, time): repeated rows are reported, not picked silently
        notes += check_duplicates(path, out, out.index.asi8, out["symbol"].to_numpy(),
                                  np.flatnonzero(keep), local)
    return out, native, notes


class LongTable:
    """A normalized long frame sorted by (symbol, time), sliced per symbol by binary search."""

    def __init__(self, frame: pd.DataFrame, *, unique_time: bool = False,
                 meta_columns: tuple[str, ...] = (), notes: list[Note] | None = None) -> None:
        #: symbol -> errors that refuse its data / warnings that travel with it (see `local_quality`)
        self.problems: dict[str, list[Diagnostic]] = {}
        self.warnings: dict[str, list[Diagnostic]] = {}
        for note in notes or []:
            into = self.problems if note.is_error else self.warnings
            into.setdefault(str(note.symbol), []).append(note.diagnostic)
        codes, uniques = pd.factorize(frame["symbol"])
        times = pd.DatetimeIndex(frame.index).as_unit("ns").asi8  # slice() compares with Timestamp.value (ns)
        order = np.lexsort((times, codes))
        frame = frame.iloc[order]
        codes, times = codes[order], times[order]
        if unique_time:  # prices: one bar per (symbol, time); the last row of a duplicate wins
            last = np.ones(len(codes), dtype=bool)
            last[:-1] = (codes[1:] != codes[:-1]) | (times[1:] != times[:-1])
            frame, codes, times = frame[last], codes[last], times[last]
        valid = codes >= 0
        frame, codes, times = frame[valid], codes[valid], times[valid]
        bounds = np.searchsorted(codes, np.arange(len(uniques) + 1))
        self.symbols: list[str] = [str(s) for s in uniques]
        self._pos = {s: (int(bounds[i]), int(bounds[i + 1])) for i, s in enumerate(self.symbols)}
        self._upper = {s.upper(): s for s in self.symbols}
        self._times = times
        self.meta: dict[str, dict[str, Any]] = {}
        for col in meta_columns:
            first = frame[col].to_numpy()[bounds[:-1]] if len(frame) else []
            for s, v in zip(self.symbols, first, strict=False):  # no valid row: no metadata
                self.meta.setdefault(s, {})[col] = str(v)
        self._frame = frame.drop(columns=["symbol", *meta_columns])
        self._float: dict[str, np.ndarray] | None = None  # price columns as arrays, for matrix()

    def lookup(self, symbol: str) -> str | None:
        """The stored spelling of `symbol` (exact, else case-insensitive), or None."""
        return symbol if symbol in self._pos else self._upper.get(symbol.upper())

    def slice(self, symbol: str, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None,
              carry_in: bool = False) -> pd.DataFrame:
        """Rows of `symbol` with ``lo <= time < hi`` (a copy), plus the last earlier row with `carry_in`."""
        a, b = self._pos[symbol]
        t = self._times[a:b]
        i = a + (int(np.searchsorted(t, lo.value, side="left")) if lo is not None else 0)
        j = a + (int(np.searchsorted(t, hi.value, side="left")) if hi is not None else b - a)
        if carry_in and i > a:  # the value in force at `lo`, to be carried into the range
            i -= 1
        return self._frame.iloc[i:j].copy()

    def span(self, symbol: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last index value of `symbol` (None when it has no rows)."""
        a, b = self._pos[symbol]
        if b <= a:
            return None
        return pd.Timestamp(self._times[a], tz="UTC"), pd.Timestamp(self._times[b - 1], tz="UTC")

    def matrix(self, symbols: list[str], lo: pd.Timestamp, hi: pd.Timestamp,
               columns: list[str]) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray], np.ndarray]:
        """Many symbols' rows with ``lo <= time < hi`` put side by side without a frame per symbol.

        Returns the union of their times (UTC), column -> (T, S) float64 F-ordered arrays (NaN where a symbol
        has no row at a time) plus ``"_present"`` -> (T, S) bool (the symbol has a row there), and the number
        of rows each symbol had. `symbols` are stored spellings.
        """
        if self._float is None:
            self._float = {c: self._frame[c].to_numpy(dtype=np.float64, na_value=np.nan)
                           for c in self._frame.columns if c in KIND_COLUMNS["ohlcv"]}
        spans = []
        for s in symbols:
            a, b = self._pos[s]
            t = self._times[a:b]
            spans.append((a + int(np.searchsorted(t, lo.value)), a + int(np.searchsorted(t, hi.value))))
        counts = np.array([j - i for i, j in spans], dtype=np.int64)
        rows = np.concatenate([np.arange(i, j) for i, j in spans]) if len(spans) else np.empty(0, np.int64)
        sym = np.repeat(np.arange(len(symbols)), counts)
        times = self._times[rows]
        union = np.unique(times)
        pos = np.searchsorted(union, times)
        out = {}
        for c in columns:
            m = np.full((len(symbols), len(union)), np.nan).T
            m[pos, sym] = self._float[c][rows]
            out[c] = m
        present = np.zeros((len(symbols), len(union)), dtype=bool).T
        present[pos, sym] = True
        out["_present"] = present
        return pd.DatetimeIndex(union, tz="UTC").as_unit("ns"), out, counts
