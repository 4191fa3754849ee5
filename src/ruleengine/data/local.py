"""The ``local`` provider: Parquet or CSV files on disk, for every kind.

Layouts (found without configuration when given a file or a folder):

* **the shared layout** (``../shared/data``): ``daily.parquet`` (ohlcv 1Day), ``intraday_1min.parquet``
  (ohlcv 1Min), ``earnings_quarterly.parquet``, ``sec_financials.parquet`` (income_statement,
  balance_sheet), ``fundamentals_annual.parquet`` and ``insider_trades.parquet``; see `local_shared` for the
  column mapping and the point-in-time rule of each.
* **long files** named after a kind (``ohlcv.parquet``, ``ohlcv_1Min.csv``, ``earnings.csv``) with a
  ``symbol`` column;
* **one file per symbol**: ``<folder>/<SYMBOL>.parquet|csv`` (ohlcv), or in a per-kind subfolder
  ``<folder>/<kind>[_<frequency>]/<SYMBOL>.parquet|csv``. A folder holding long files uses only those and
  its kind subfolders (other top-level files such as ``constituents.parquet`` are not symbols).
* a single file: long when it has a ``symbol`` column, else the data of the symbol its name spells.

Generic files need no configuration for OHLCV: time column ``datetime`` / ``date`` / ``timestamp`` / ``time``
(case-insensitive; naive times are exchange local time), columns ``open, high, low, close, volume``; the
frequency is inferred from the bar spacing, per file in a folder of per-symbol files (daily and hourly files
may be mixed). Nothing in a generic file is coerced without a word: `local_quality` lists the errors (refusing
a symbol's data) and warnings (`quality_warnings`, passed on with the result). Event files use
``available_at`` (an instant) or a date, which is taken as usable after that day's close (16:30 New York).
Event kinds return the records available in ``[start, end]`` plus, except the counted kinds (insider trades,
social-media mentions), the latest earlier one (the value in force at ``start``, as the fmp provider does); a
known symbol without insider trades or mentions in the range gives an empty frame. Long files are read once
per process and sliced per symbol, so a 500-symbol universe loads in well under a second once read. The
provider needs no on-disk cache: reading the files is the fast path.

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> pd.DataFrame({"Date": ["2020-01-02", "2020-01-03"], "Close": [1.0, 2.0]}).to_csv(
    ...     f"{folder}/SPY.csv", index=False)
    >>> frame = LocalProvider(folder).fetch(
    ...     FetchRequest("SPY", "ohlcv", pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-31")))
    >>> frame["close"].tolist(), frame.attrs["frequency"]
    ([1.0, 2.0], '1Day')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError, did_you_mean
from ..schema.kinds import COUNTED_KINDS, KIND_COLUMNS
from .base import PRICE_KINDS, FetchRequest, KindInfo, Provider
from .frames import (
    BAR_FREQUENCIES,
    EXCHANGE_TZ,
    deliverable_frequency,
    derivable_frequencies,
    describe_range,
    finish,
    request_bounds,
)
from .local_quality import Note
from .local_shared import DAILY_BASIS, SHARED_FILES, SharedFile
from .local_table import (
    SUFFIXES,
    LongTable,
    file_columns,
    find_column,
    malformed,
    normalize,
    peek_frequency,
    read_any,
)

#: Native frequency label of event kinds read from generic files.
_EVENT_FREQUENCY = {"earnings": "quarterly", "income_statement": "quarterly", "balance_sheet": "quarterly",
                    "key_metrics": "quarterly", "fundamentals": "annual", "insider_trades": "event",
                    "social_mentions": "event"}


@dataclass(frozen=True)
class _Source:
    """One place data of a kind comes from: a long file, or a set of per-symbol files."""

    kind: str
    path: Path
    layout: str                                   # "long" | "per_symbol"
    frequency: str | None = None                  # native; None = inferred from the data
    shared: SharedFile | None = None
    files: tuple[tuple[str, Path], ...] = ()      # per_symbol: (SYMBOL, file)


def _stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_mtime_ns, st.st_size


# One table per file and configuration for the whole process: a long file is read once.
_TABLES: dict[tuple[Any, ...], tuple[LongTable, str]] = {}


def _kind_name(stem: str) -> tuple[str, str | None] | None:
    """``ohlcv`` -> (ohlcv, None); ``ohlcv_1min`` -> (ohlcv, 1Min); anything else -> None."""
    low = stem.lower()
    if low in KIND_COLUMNS:
        return low, None
    head, _, tail = low.rpartition("_")
    freq = {f.lower(): f for f in BAR_FREQUENCIES}.get(tail)
    if head in KIND_COLUMNS and freq:
        return head, freq
    return None


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


def _where(src: _Source, symbol: str | None = None) -> str:
    """Where a source's data lie, for messages: 'daily.parquet', 'SPY.csv' or '12 files in prices/'."""
    if src.layout == "long":
        return src.path.name
    files = dict(src.files)
    if symbol is not None and (symbol in files or symbol.upper() in files):
        return files.get(symbol, files.get(symbol.upper(), src.path)).name
    if len(files) == 1:
        return next(iter(files.values())).name
    return f"{len(files)} files in {src.path.name}/"


def _per_symbol(kind: str, folder: Path, files: Iterable[Path], frequency: str | None) -> _Source | None:
    by_symbol: dict[str, Path] = {}
    for f in sorted(files, key=lambda p: p.suffix.lower() == ".csv"):  # Parquet wins over a CSV twin
        by_symbol.setdefault(f.stem.upper(), f)
    if not by_symbol:
        return None
    return _Source(kind, folder, "per_symbol", frequency, files=tuple(sorted(by_symbol.items())))


class LocalProvider(Provider):
    """Parquet or CSV files on disk (see the module docstring for the layouts).

    Args:
        path: a file or a folder.
        layout: ``"long"`` or ``"per_symbol"`` to override the detection for top-level files.
        time_column: the time column of generic files (default: datetime/date/timestamp/time).
        columns: vocabulary name -> file column (``{"close": "Adj Close"}``), or per kind
            (``{"earnings": {"eps": "EPS"}}``); ``"symbol"`` names the symbol column of long files.
        files: kind (or ``"kind:frequency"``) -> file or folder (relative to `path`), instead of detection.
        tz: time zone of naive intraday/event times in the files (default America/New_York).
        kind: the kind of top-level generic files (default ohlcv).
        frequency: the native bar frequency of generic price files (default: inferred).
    """

    name = "local"
    synthetic = False
    cacheable = False  # reading local files is the fast path; an on-disk copy would only add work
    # Registered only when a data path is given, so being registered is being configured; a path that cannot
    # serve a slot is an error naming what it holds, never a fall-back to synthetic data.
    default_rank = 10
    default_reason = "a data path is configured (--data / RULEENGINE_DATA)"
    blocks_synthetic = True

    def __init__(self, path: str | Path, *, layout: str | None = None, time_column: str | None = None,
                 columns: Mapping[str, Any] | None = None, files: Mapping[str, str | Path] | None = None,
                 tz: str = EXCHANGE_TZ, kind: str | None = None, frequency: str | None = None) -> None:
        self.path = Path(path).expanduser()
        if not self.path.exists():
            raise RuleEngineError([Diagnostic("R101", f"data path not found: {self.path}",
                                              hint="give a Parquet/CSV file or a folder (--data PATH)")])
        if not (self.path.is_file() or self.path.is_dir()):  # a device or FIFO would block or never end
            raise RuleEngineError([Diagnostic(
                "R101", f"data path is not a regular file or a folder: {self.path}",
                hint="give a Parquet/CSV file or a folder (--data PATH)")])
        if layout not in (None, "long", "per_symbol"):
            raise RuleEngineError([Diagnostic("S104", f"unknown layout '{layout}'",
                                              hint="'long' (one file, symbol column) or 'per_symbol'")])
        if kind is not None and kind not in KIND_COLUMNS:
            raise RuleEngineError([Diagnostic("S104", f"unknown data kind '{kind}'",
                                              hint=did_you_mean(kind, KIND_COLUMNS))])
        self.layout, self.time_column, self.tz = layout, time_column, tz
        self.default_kind, self.default_frequency = kind or "ohlcv", frequency
        self._columns = dict(columns or {})
        self.description = f"Parquet/CSV files in {self.path}"
        self._sources = self._discover(files)
        if not self._sources:
            raise malformed(self.path, "no data files (.parquet, .csv) found",
                            "one long file with a symbol column, or one <SYMBOL>.parquet|csv per symbol")
        self._kinds: dict[str, KindInfo] | None = None
        self._native: dict[_Source, str] = {}
        self._by_frequency: list[_Source] | None = None

    @property
    def sources(self) -> list[_Source]:
        """The discovered sources, per-symbol price folders split by each file's own frequency."""
        if self._by_frequency is None:
            self._by_frequency = [part for src in self._sources for part in self._split_by_frequency(src)]
        return self._by_frequency

    def _split_by_frequency(self, src: _Source) -> list[_Source]:
        """A per-symbol price folder whose files are at several frequencies -> one source per frequency."""
        if src.layout != "per_symbol" or src.frequency is not None or src.kind not in PRICE_KINDS \
                or len(src.files) < 2:
            return [src]
        groups: dict[str | None, list[tuple[str, Path]]] = {}
        for sym, f in src.files:
            groups.setdefault(peek_frequency(f, self.time_column, self.tz), []).append((sym, f))
        known = [g for g in groups if g is not None]
        if len(known) <= 1:
            return [src]
        # Files that could not be peeked go with the first group: reading them reports their problem.
        groups[known[0]] += groups.pop(None, [])
        return [replace(src, frequency=freq, files=tuple(items)) for freq, items in groups.items()]

    # ------------------------------------------------------------------ discovery
    def _discover(self, files: Mapping[str, str | Path] | None) -> list[_Source]:
        if files:
            return [s for key, rel in files.items() for s in self._explicit(key, rel)]
        if self.path.is_file():
            shared = SHARED_FILES.get(self.path.name)
            if shared:
                return [_Source(s.kind, self.path, "long", s.frequency, s) for s in shared]
            named = _kind_name(self.path.stem)
            return self._file_source(self.path, named[0] if named else self.default_kind,
                                     (named[1] if named else None) or self.default_frequency)
        sources: list[_Source] = []
        loose: list[Path] = []
        for f in _data_files(self.path):
            named = _kind_name(f.stem)
            if f.name in SHARED_FILES and self.layout != "per_symbol":
                sources += [_Source(s.kind, f, "long", s.frequency, s) for s in SHARED_FILES[f.name]]
            elif named and self.layout != "per_symbol":
                sources.append(_Source(named[0], f, "long", named[1]))
            else:
                loose.append(f)
        has_long = bool(sources)
        for sub in sorted(p for p in self.path.iterdir() if p.is_dir()):
            named = _kind_name(sub.name)
            if named:
                src = _per_symbol(named[0], sub, _data_files(sub), named[1])
                sources += [src] if src else []
        if loose and (self.layout is not None or not has_long):
            if self.layout == "long":
                sources += [_Source(self.default_kind, f, "long", self.default_frequency) for f in loose]
            else:
                src = _per_symbol(self.default_kind, self.path, loose, self.default_frequency)
                sources += [src] if src else []
        return sources

    def _explicit(self, key: str, rel: str | Path) -> list[_Source]:
        kind, _, freq = key.partition(":")
        if kind not in KIND_COLUMNS:
            raise RuleEngineError([Diagnostic("S104", f"unknown data kind '{kind}' in files",
                                              hint=did_you_mean(kind, KIND_COLUMNS) or
                                              "known kinds: " + ", ".join(KIND_COLUMNS))])
        p = Path(rel).expanduser()
        p = p if p.is_absolute() or not self.path.is_dir() else self.path / p
        if not p.exists():
            raise RuleEngineError([Diagnostic("R101", f"data file not found: {p}", path=f"files.{key}")])
        if p.is_dir():
            src = _per_symbol(kind, p, _data_files(p), freq or None)
            return [src] if src else []
        return self._file_source(p, kind, freq or None)

    def _file_source(self, f: Path, kind: str, frequency: str | None) -> list[_Source]:
        long = self.layout == "long" or (self.layout is None and find_column(
            file_columns(f), self._colmap(kind).get("symbol", "symbol"), ("symbol", "ticker")) is not None)
        if long:
            return [_Source(kind, f, "long", frequency)]
        return [_Source(kind, f.parent, "per_symbol", frequency, files=((f.stem.upper(), f),))]

    def _colmap(self, kind: str) -> dict[str, str]:
        nested = self._columns.get(kind)
        if isinstance(nested, Mapping):
            return dict(nested)
        return {k: v for k, v in self._columns.items() if isinstance(v, str)}

    # ------------------------------------------------------------------ loading
    def _load(self, src: _Source, file: Path | None = None, symbol: str | None = None) -> LongTable:
        """The table of a long source, or of one per-symbol file (cached for the process)."""
        target = file or src.path
        config = (src.kind, src.frequency, src.shared.loader.__name__ if src.shared else None, symbol,
                  self.time_column, tuple(sorted(self._colmap(src.kind).items())), self.tz)
        key = (*_stat_key(target), *config)
        hit = _TABLES.get(key)
        if hit is None:
            price = src.kind in PRICE_KINDS
            if src.shared is not None:
                frame, native = src.shared.loader(target), src.shared.frequency
                notes: list[Note] = []  # the shared files are checked when they are built (their README)
            else:
                frame, native, notes = normalize(read_any(target), target, kind=src.kind,
                                                 frequency=src.frequency, long=symbol is None, symbol=symbol,
                                                 time_column=self.time_column, columns=self._colmap(src.kind),
                                                 tz=self.tz)
                native = native if price else _EVENT_FREQUENCY.get(src.kind, "event")
            meta = ("source",) if "source" in frame.columns and price else ()
            hit = (LongTable(frame, unique_time=price, meta_columns=meta, notes=notes), native)
            if len(_TABLES) > 256:  # per-symbol files of big folders: keep memory bounded
                _TABLES.pop(next(iter(_TABLES)))
            _TABLES[key] = hit
        self._native.setdefault(src, hit[1])
        return hit[0]

    def _native_frequency(self, src: _Source) -> str:
        if src.shared is not None:
            return src.shared.frequency
        if src.frequency is not None:
            return src.frequency
        if src.kind not in PRICE_KINDS:
            return _EVENT_FREQUENCY.get(src.kind, "event")
        if src not in self._native:
            if src.layout == "long":
                self._load(src)
            else:
                self._load(src, src.files[0][1], src.files[0][0])
        return self._native[src]

    # ------------------------------------------------------------------ the provider contract
    @property
    def kinds(self) -> Mapping[str, KindInfo]:
        if self._kinds is None:
            natives: dict[str, list[str]] = {}
            docs: dict[str, list[str]] = {}
            for src in self.sources:
                natives.setdefault(src.kind, []).append(self._native_frequency(src))
                docs.setdefault(src.kind, []).append(src.shared.doc if src.shared else
                                                     f"{src.layout.replace('_', '-')} files in {src.path.name}")
            self._kinds = {}
            for kind, freqs in natives.items():
                native = sorted(set(freqs), key=lambda f: (f not in BAR_FREQUENCIES, BAR_FREQUENCIES.index(f)
                                                           if f in BAR_FREQUENCIES else 0))
                served = derivable_frequencies(native) if kind in PRICE_KINDS else tuple(native)
                note = f" Stored at {', '.join(native)}." if kind in PRICE_KINDS else ""
                self._kinds[kind] = KindInfo(KIND_COLUMNS[kind], served, "; ".join(dict.fromkeys(docs[kind]))
                                             + "." + note)
        return self._kinds

    def cache_key(self) -> str:
        return f"local:{self.path.resolve()}"

    def _candidates(self, kind: str, frequency: str) -> tuple[list[_Source], str]:
        """The sources able to serve `kind` at `frequency` (else D109 / D118), those at the native frequency
        delivered for it first, then finer ones (coarsest first): in a folder mixing daily and hourly files,
        a symbol stored hourly still serves daily bars. Also returns that preferred native frequency."""
        mine = [s for s in self.sources if s.kind == kind]
        if not mine:
            raise RuleEngineError([Diagnostic(
                "D109", f"local data in {self.path} has no '{kind}' data",
                hint="kinds available here: " + ", ".join(self.kinds) + f"; add a {kind} file or use "
                     "another provider (ruleengine providers)")])
        if kind not in PRICE_KINDS:
            return mine, self._native_frequency(mine[0])
        natives = [self._native_frequency(s) for s in mine]
        native = deliverable_frequency(natives, frequency)
        if native is None:
            stored = ", ".join(f"{n} ({_where(s)})" for s, n in zip(mine, natives, strict=True))
            raise RuleEngineError([Diagnostic(
                "D118", f"{self.path} holds {kind} at {stored}: {frequency} bars cannot be made from it",
                hint=f"bars are resampled from finer to coarser only: give {frequency} or finer data, or use "
                     f"execution_frequency {'/'.join(sorted(set(natives)))} or coarser")])
        rank = BAR_FREQUENCIES.index
        usable = [(s, n) for s, n in zip(mine, natives, strict=True)
                  if n in BAR_FREQUENCIES and rank(n) <= rank(native)]
        return [s for s, n in sorted(usable, key=lambda sn: -rank(sn[1]))], native

    def _table_for(self, sources: list[_Source], symbol: str) -> tuple[LongTable, str, _Source] | None:
        for src in sources:
            if src.layout == "long":
                table = self._load(src)
                found = table.lookup(symbol)
                if found is not None:
                    return table, found, src
                continue
            files = dict(src.files)
            key = symbol if symbol in files else symbol.upper()
            if key in files:
                table = self._load(src, files[key], key)
                if not table.symbols:
                    raise malformed(files[key], "no row of the file has a time", "fill the time column")
                return table, table.symbols[0], src
        return None

    def holdings(self) -> str:
        """What the path holds, for errors: 'earnings (eps, ...) at quarterly for 940 symbols'."""
        parts = []
        for kind, info in self.kinds.items():
            try:
                count = sum(len(self._load(s).symbols) if s.layout == "long" else len(s.files)
                            for s in self.sources if s.kind == kind)
            except RuleEngineError:
                count = 0
            cols = ", ".join(info.columns[:3]) + (", ..." if len(info.columns) > 3 else "")
            stored = sorted({self._native_frequency(s) for s in self.sources if s.kind == kind})
            plural = "s" if count != 1 else ""
            parts.append(f"{kind} ({cols}) at {'/'.join(stored)} for {count} symbol{plural}")
        return "; ".join(parts)

    def cannot_serve(self, kind: str, frequency: str, slot: str | None = None) -> Diagnostic:
        """Why this path cannot serve `kind` at `frequency`, naming what it holds (D109 / D118)."""
        where = f"data.{slot}" if slot else None
        if any(s.kind == kind for s in self.sources):
            try:
                self._candidates(kind, frequency)
            except RuleEngineError as exc:
                d = exc.diagnostics[0]
                return Diagnostic(d.code, d.message, path=where, hint=d.hint)
        needs = f"slot '{slot}' needs {kind}" if slot else f"{kind} is needed"
        return Diagnostic(
            "D109", f"the data path {self.path} holds {self.holdings() or 'nothing usable'}; {needs}",
            path=where, hint=f"give --data a file or folder holding {kind} (a folder serves every kind it "
                             "holds), or name another provider for the slot (provider: in the slot, or "
                             "--provider)")

    def quality_warnings(self, symbols: Iterable[str], kind: str = "ohlcv") -> list[Diagnostic]:
        """The data-quality warnings of these symbols' rows (`ruleengine.data.local_quality`), for the binder
        to pass on with the result."""
        mine = [s for s in self.sources if s.kind == kind]
        out: list[Diagnostic] = []
        for symbol in dict.fromkeys(symbols):
            try:
                hit = self._table_for(mine, symbol)
            except RuleEngineError:
                continue
            if hit is not None:
                out += hit[0].warnings.get(hit[1], [])
        return out

    def symbols(self, kind: str = "ohlcv", frequency: str = "1Day") -> list[str]:
        """Every symbol with `kind` data at the native frequency delivered for `frequency`."""
        sources, _ = self._candidates(kind, frequency)
        out: list[str] = []
        for src in sources:
            out += self._load(src).symbols if src.layout == "long" else [s for s, _ in src.files]
        return sorted(set(out))

    def available_range(self, symbol: str, kind: str = "ohlcv",
                        frequency: str = "1Day") -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last index value stored for `symbol` (D110 when unknown)."""
        sources, _ = self._candidates(kind, frequency)
        table, found, _src = self._lookup(sources, symbol, kind, frequency)
        span = table.span(found)
        if span is None:
            raise RuleEngineError([Diagnostic("D111", f"no {kind} data for {symbol} in {self.path}")])
        return span

    def _lookup(self, sources: list[_Source], symbol: str, kind: str, frequency: str,
                requested: str | None = None) -> tuple[LongTable, str, _Source]:
        """(table, stored spelling, source) of `symbol`; D110 unknown, D118 stored only at a coarser frequency
        than `requested`, or the errors the quality checks found in its rows."""
        hit = self._table_for(sources, symbol)
        if hit is not None and hit[0].problems.get(hit[1]):
            raise RuleEngineError(hit[0].problems[hit[1]])
        if hit is None and requested is not None:
            self._coarser_only(symbol, kind, requested, sources)
        if hit is None:
            known = self.symbols(kind, frequency)
            hint = did_you_mean(symbol.upper(), known, n=3)
            raise RuleEngineError([Diagnostic(
                "D110", f"symbol '{symbol}' not found in the local {kind} data ({self.path})",
                hint=hint or f"{len(known)} symbols available, e.g. {', '.join(known[:8])}")])
        return hit

    def _coarser_only(self, symbol: str, kind: str, requested: str, serving: list[_Source]) -> None:
        """D118 when `symbol` is stored, but only at a frequency too coarse for `requested`."""
        for src in (s for s in self.sources if s.kind == kind and s not in serving):
            try:
                found = self._table_for([src], symbol)
            except RuleEngineError:
                continue
            if found is not None:
                native = self._native_frequency(src)
                raise RuleEngineError([Diagnostic(
                    "D118", f"'{symbol}' is stored at {native} in {_where(src, symbol)} ({self.path}): {requested} "
                            "bars cannot be made from it",
                    hint=f"bars are resampled from finer to coarser only: use execution_frequency {native} "
                         f"or coarser, or give {requested} or finer data for {symbol}")])

    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        """One symbol's rows in ``[start, end]`` (see `ruleengine.data.base` for the frame conventions)."""
        sources, native = self._candidates(request.kind, request.frequency)
        return self._fetch_one(sources, native, request.symbol, request.kind, request.start, request.end,
                               request.frequency)

    def _fetch_one(self, sources: list[_Source], native: str, symbol: str, kind: str,
                   start: Any, end: Any, requested: str | None = None) -> pd.DataFrame:
        table, found, src = self._lookup(sources, symbol, kind, native, requested)
        native = self._native_frequency(src)  # this symbol's file may be finer than the preferred one
        lo, hi = request_bounds(kind, native, start, end, self.tz)
        frame = table.slice(found, lo, hi, carry_in=kind not in PRICE_KINDS and kind not in COUNTED_KINDS)
        if frame.empty and kind not in COUNTED_KINDS:  # a known symbol's quiet period is an answer
            span = table.span(found)
            has = describe_range(pd.DatetimeIndex(list(span)), kind, native, self.tz) if span else "no rows"
            raise RuleEngineError([Diagnostic(
                "D111", f"no {kind} data for {symbol} between {pd.Timestamp(start).date()} and "
                        f"{pd.Timestamp(end).date()} in {self.path}",
                hint=f"{symbol} has data for {has}")])
        extra: dict[str, Any] = {"symbol": found, "path": str(src.path)}
        source = table.meta.get(found, {}).get("source")
        if source is not None:
            extra["source"] = source
            extra["price_basis"] = DAILY_BASIS.get(source, "as stored")
        return finish(frame, kind=kind, frequency=native, provider=self.name, tz=self.tz, extra_attrs=extra)

    def fetch_matrix(self, symbols: list[str], start: Any, end: Any, frequency: str = "1Day",
                     columns: Iterable[str] = ("open", "high", "low", "close", "volume")
                     ) -> tuple[str, pd.DatetimeIndex, dict[str, np.ndarray], dict[str, RuleEngineError]] | None:
        """The binder's fast path for prices in one long file: (native frequency, union index, column ->
        (T, S) arrays in the order of `symbols` (plus ``_present``), symbol -> its D110/D111 error).

        None when the symbols live in several files (the binder then fetches frame by frame).
        """
        sources, native = self._candidates("ohlcv", frequency)
        problems: dict[str, RuleEngineError] = {}
        tables: dict[int, LongTable] = {}
        table_source: _Source | None = sources[0]
        stored: list[tuple[str, str]] = []
        single = self._load(sources[0]) if len(sources) == 1 and sources[0].layout == "long" else None
        for sym in symbols:
            found_here = single.lookup(sym) if single is not None else None
            if found_here is not None and single is not None and single.problems.get(found_here):
                problems[sym] = RuleEngineError(single.problems[found_here])
                continue
            if found_here is not None and single is not None:  # one long file: no per-symbol file checks
                tables[id(single)] = single
                stored.append((sym, found_here))
                continue
            try:
                table, found, table_source = self._lookup(sources, sym, "ohlcv", native, frequency)
            except RuleEngineError as exc:
                problems[sym] = exc
                continue
            tables[id(table)] = table
            stored.append((sym, found))
        if len(tables) > 1:
            return None
        if tables and table_source is not None:
            native = self._native_frequency(table_source)
        lo, hi = request_bounds("ohlcv", native, start, end, self.tz)
        cols = list(columns)
        if not tables:
            empty = {c: np.empty((0, 0)) for c in [*cols, "_present"]}
            return native, pd.DatetimeIndex([], tz="UTC"), {**empty, "_symbols": np.array([], dtype=object)}, problems
        table = next(iter(tables.values()))
        index, arrays, counts = table.matrix([f for _, f in stored], lo, hi, cols)
        for (sym, _), n in zip(stored, counts, strict=True):
            if n == 0:  # the per-symbol path words the error (with the range the symbol has)
                try:
                    self._fetch_one(sources, native, sym, "ohlcv", start, end, frequency)
                except RuleEngineError as exc:
                    problems[sym] = exc
        keep = [i for i, (sym, _) in enumerate(stored) if sym not in problems]
        if len(keep) < len(stored):
            arrays = {c: np.asfortranarray(v[:, keep]) for c, v in arrays.items()}
        order = [stored[i][0] for i in keep]
        arrays["_symbols"] = np.array(order, dtype=object)
        return native, index, arrays, problems

    def fetch_many(self, symbols: Iterable[str], kind: str, start: Any, end: Any, frequency: str = "1Day",
                   *, skip_missing: bool = False) -> dict[str, pd.DataFrame]:
        """Many symbols at once (the binder's fast path): symbol -> frame, in the order given.

        Unknown symbols and symbols without rows in the range raise one error listing all of them (D110 /
        D111), or are left out of the result with ``skip_missing=True``.
        """
        sources, native = self._candidates(kind, frequency)
        out: dict[str, pd.DataFrame] = {}
        problems: list[Diagnostic] = []
        for symbol in symbols:
            try:
                out[symbol] = self._fetch_one(sources, native, symbol, kind, start, end, frequency)
            except RuleEngineError as exc:
                problems += exc.diagnostics
        if problems and not skip_missing:
            raise RuleEngineError(problems)
        return out

