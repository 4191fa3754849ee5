"""Stage 5: a `DataRequest` + the symbols of a run -> aligned, point-in-time arrays (`MarketData`).

For every run (one ``{slot: symbol}`` mapping, see `ruleengine.data.symbols`) each slot is fetched from its
provider (`ProviderRegistry.resolve`), prices are resampled to the request's execution frequency (completed
bars only), and published records (earnings, statements, insider trades, social-media mentions) are aligned
onto those bars from their availability instant (`ruleengine.data.align`). The result has one row per bar of
the union of the runs' bars (a symbol without a bar on a date holds NaN there: a missing observation for every
function) and one column per run, which is exactly what a strategy's ``signals(market, params)`` executes on.

History before ``start``: the request's ``warmup_bars`` (for rules, the compiler's convergence history: the
first requested bar already has converged values) are fetched before the start date; ``MarketData.start``
is the row of the first requested bar. The data layer never sees the strategy: `ruleengine.load_data`
(`ruleengine.strategies`) asks the strategy for its request and calls `load_market_data`.

In a universe, a symbol whose prices cannot be fetched (unknown, no data in the range) is skipped with a
D116 warning in ``MarketData.warnings``; a single run raises instead. A records slot with nothing
published holds NaN (with a warning), since "no earnings known yet" is an answer, not a failure.

Example:
    >>> from ruleengine.schema.strategy import DataSlot
    >>> req = DataRequest({"prices": DataSlot()}, {"prices": frozenset({"open", "high", "low", "close"})},
    ...                   warmup_bars=30, price_slot="prices")
    >>> md = load_market_data(req, "SPY", "2020-01-01", "2020-06-30")  # doctest: +SKIP
    >>> md.inputs[("prices", "close")].shape  # doctest: +SKIP
    (155, 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from ..schema.kinds import KIND_COLUMNS
from ..schema.strategy import DataSlot
from .align import aggregate_fills, aggregate_insider, aggregate_mentions, align_to_bars
from .base import PRICE_KINDS, Provider
from .calendar import add_business_days, bar_close_times, period_bounds_ns
from .frames import BAR_FREQUENCIES, INTRADAY, to_timestamp
from .registry import ProviderRegistry, default_registry
from .request import DataRequest
from .resample import resample_matrix, resample_ohlcv
from .symbols import Run, slot_runs

#: calendar days of records fetched before the first bar, so the latest earlier value carries into the range
RECORDS_LOOKBACK_DAYS = 400
#: default range when no start is given: this many calendar days before the end (daily and coarser) ...
DEFAULT_DAYS = 10 * 365
#: ... or sessions (intraday)
DEFAULT_INTRADAY_SESSIONS = 20
_MINUTES = {"1Min": 1, "5Min": 5, "15Min": 15, "30Min": 30, "1Hour": 60}


@dataclass
class MarketData:
    """Aligned arrays for one request: axis 0 the bars (warm-up history first), one column per run."""

    index: pd.DatetimeIndex  # bar labels, UTC (daily: session date at 00:00 UTC; weekly / monthly: the date of
    # the last session, at whose close the bar completes; intraday: bar start)
    frequency: str  # the execution frequency
    runs: list[Run]  # column j reads runs[j] = {slot: symbol}
    inputs: dict[tuple[str, str], np.ndarray]  # (slot, column) -> (T, S) float64, F-ordered
    start: int  # row of the first requested bar; rows before it are warm-up history, never traded
    providers: dict[str, str]  # slot -> provider name
    synthetic: bool = False  # True when any slot came from the synthetic sample provider
    #: price slot -> its adjustment basis (raw, split-adjusted, total-return) where the provider states one
    price_basis: dict[str, str] = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # runs left out (no data), by label
    unnamed: bool = False  # one column from flat DataFrames: no symbol names it (`from_frames`)
    #: (T, S) bool of a point-in-time universe (``@sp500``): run j's symbol is a member on bar t; None: every
    #: symbol is a member on every bar. Cross-sectional functions see members only; entries need membership
    #: and a held position exits on the first bar after it (`compile.cross.restrict_to_members`)
    members: np.ndarray | None = None

    @classmethod
    def from_frames(cls, frames: Any, request: DataRequest) -> MarketData:
        """User DataFrames as market data (no history: ``start`` 0), validated and aligned with D1xx diagnostics.

        `frames` maps slot names to DataFrames indexed by time (a bare DataFrame for a single-slot request),
        flat columns for one symbol or (symbol, column) columns for several (`ruleengine.data.frames_bind`).
        """
        from .frames_bind import bind

        bound = bind(frames, list(request.slots), request.columns, request.price_slot)
        symbols = bound.symbols if bound.symbols is not None else ["data"]
        runs = [dict.fromkeys(request.slots, sym) for sym in symbols]
        return cls(index=bound.index, frequency=request.frequency, runs=runs, inputs=bound.inputs, start=0,
                   providers={}, unnamed=bound.symbols is None)

    def head(self, rows: int) -> MarketData:
        """The first `rows` bars (what a live signal on an earlier bar sees); ``start`` is kept."""
        if rows >= self.n_rows:
            return self
        return replace(self, index=self.index[:rows],
                       inputs={k: np.asfortranarray(v[:rows]) for k, v in self.inputs.items()},
                       members=None if self.members is None else np.asfortranarray(self.members[:rows]))

    @cached_property
    def labels(self) -> list[str]:
        """A column label per run: the symbol, or ``GLD/SLV`` for a run of several symbols (computed once)."""
        return [_label(r) for r in self.runs]

    @cached_property
    def first_sessions(self) -> pd.DatetimeIndex:
        """Each bar's first session (a weekly / monthly bar is labelled by its last: the session at whose close
        it completes); the labels themselves for daily and intraday bars. A fill at a bar's open is dated here."""
        if self.frequency in INTRADAY or self.frequency == "1Day":
            return self.index
        return _first_sessions(self.index, self.frequency)

    @property
    def n_rows(self) -> int:
        return len(self.index)

    @property
    def n_cols(self) -> int:
        return len(self.runs)

    def bar_values(self, names: Any) -> dict[str, np.ndarray]:
        """Calendar values of the bars (`ruleengine.data.bar_values`) by name, each as a read-only (T, S) view
        of one value per bar (every symbol shares the bars)."""
        from .bar_values import bar_values

        shape = (self.n_rows, self.n_cols)
        return {k: np.broadcast_to(v[:, None], shape) for k, v in bar_values(self.index, self.frequency, names).items()}

    def period_ends(self, period: str) -> np.ndarray | None:
        """(T,) bool: the bars holding the last session of their `period` (`ruleengine.data.bar_values.period_ends`;
        None where the bars cannot say it)."""
        from .bar_values import period_ends

        return period_ends(self.index, self.frequency, period)

    def frame(self, slot: str, column: str) -> pd.DataFrame:
        """One (slot, column) as a DataFrame: bars x run labels (requested range and warm-up)."""
        return pd.DataFrame(self.inputs[(slot, column)], index=self.index, columns=self.labels)


def _label(run: Run) -> str:
    symbols = list(dict.fromkeys(run.values()))
    return symbols[0] if len(symbols) == 1 else "/".join(symbols)


def load_market_data(request: DataRequest, symbols: Any, start: Any = None, end: Any = None, *,
                     registry: ProviderRegistry | None = None, provider: str | None = None,
                     data: str | None = None, no_cache: bool = False, also: Sequence[str] = ()) -> MarketData:
    """Fetch, resample and align every slot `request` names, for the runs `symbols` asks for (see
    `_load_market_data`); a point-in-time universe (``@sp500``, `ruleengine.data.universe`) runs every symbol
    that was a member in the range, and those of `also` that were members at some time (live signals: a held
    position in a symbol that left before the range), and sets `MarketData.members`."""
    from .universe import load_membership, universe_name

    named = universe_name(symbols)
    if named is None:
        return _load_market_data(request, symbols, start, end, registry=registry, provider=provider, data=data,
                                 no_cache=no_cache)
    membership = load_membership(named[0], named[1], data)
    lo = pd.Timestamp(start) if start is not None else None
    hi = pd.Timestamp(end) if end is not None else None
    ever = sorted(set(membership.symbols(lo, hi)) | {x for x in also if x in membership.spells})
    if not ever:
        raise RuleEngineError([Diagnostic("D111", f"no symbol was a member of @{named[0]} in the requested range",
                                          path="symbols", hint="check the dates")])
    md = _load_market_data(request, ever, start, end, registry=registry, provider=provider, data=data,
                           no_cache=no_cache)
    base = request.bars_slot()
    assert base is not None  # _load_market_data refused a request without one
    return replace(md, members=membership.mask(md.index, [r[base] for r in md.runs]))


def _load_market_data(request: DataRequest, symbols: Any, start: Any = None, end: Any = None, *,
                      registry: ProviderRegistry | None = None, provider: str | None = None,
                      data: str | None = None, no_cache: bool = False) -> MarketData:
    """Fetch, resample and align every slot `request` names, for the runs `symbols` asks for.

    Args:
        request: slots, columns, history and execution frequency (`DataRequest`; a strategy gives its own
            with ``data_request(params)``, and `ruleengine.load_data` takes the strategy instead).
        symbols: ``"SPY"``, ``"SPY,QQQ"``, ``["SPY", "QQQ"]``, ``"asset_a=GLD,asset_b=SLV"``, a mapping, or
            ``"@universe.txt"`` (see `ruleengine.data.symbols`).
        start, end: the requested range (dates, exchange time; inclusive). Default: the last 10 years (20
            sessions for intraday execution) up to today, or up to the end of a local file's data.
        registry: providers (default `default_registry(data)`); `provider` is ``--provider``.
        no_cache: bypass the on-disk cache of remote providers.
    """
    slots = request.slots
    needed = {s: set(c) for s, c in request.columns.items()}
    warm = request.warmup_bars
    freq = request.frequency
    reg = registry or default_registry(data, no_cache=no_cache)
    kinds = {name: slot.kind for name, slot in slots.items()}
    runs = slot_runs(symbols, slots)
    providers = {name: reg.resolve(slot.provider, slot.kind, fetch_frequency(slot.kind, slot.frequency, freq),
                                   provider, slot=name)
                 for name, slot in slots.items() if name in needed}
    base = request.bars_slot()
    if base is None:
        raise RuleEngineError([Diagnostic("D101", "the strategy reads no price slot: nothing defines its bars",
                                          path="data", hint="add an ohlcv slot")])
    if any(kinds[s] == "portfolio" for s in needed):
        needed[base].add("close")  # a position's open gain is priced at the bars' close
    lo, hi = _range(start, end, freq, providers[base], [r[base] for r in runs])
    fetch_lo = _history_start(lo, warm, freq)
    warnings: list[Diagnostic] = list(request.warnings)
    universe = len(runs) > 1
    # Slots coarser than the execution bars are built at their own frequency and joined like records.
    coarse = request.coarser_slots()
    on_bars = {s: c for s, c in needed.items() if s not in coarse}
    fast = _fast_prices(slots, on_bars, kinds, providers, runs, base, fetch_lo, hi, freq, universe, warnings)
    if fast is not None:
        index, inputs, kept, skipped = fast
        return _finish_records(request, needed, kinds, providers, kept, skipped, index, freq, fetch_lo, hi, lo,
                               inputs, warnings)
    prices: dict[str, dict[str, pd.DataFrame]] = {}
    for slot in [s for s in on_bars if kinds[s] in PRICE_KINDS]:
        wanted = list(dict.fromkeys(r[slot] for r in runs))
        got = _fetch(providers[slot], wanted, "ohlcv", fetch_lo, hi,
                     fetch_frequency("ohlcv", slots[slot].frequency, freq), universe, warnings, slot)
        prices[slot] = {sym: _to_execution(df, freq) for sym, df in got.items()}
    kept = [r for r in runs if all(r[s] in prices[s] and not prices[s][r[s]].empty for s in prices)]
    skipped = [_label(r) for r in runs if r not in kept]
    for r in runs:
        if r not in kept and universe and not any(r[s] not in prices[s] for s in prices):
            warnings.append(Diagnostic("D116", f"{_label(r)}: no completed {freq} bars in the range, skipped",
                                       severity="warning", path="symbols"))
    if not kept:
        raise RuleEngineError([Diagnostic("D111", "no symbol has price data in the requested range",
                                          path="symbols", hint="check the symbols, the dates and the provider")]
                              + warnings)
    index = _union_index([prices[base][r[base]] for r in kept])
    index = index[index <= _last_label(hi, freq)]
    inputs = {}  # (slot, column) -> (T, S), typed by the fast path's result above
    positions: dict[Any, Any] = {}
    for slot, cols in on_bars.items():
        if kinds[slot] in PRICE_KINDS:
            frames = [prices[slot][r[slot]] for r in kept]
            for col in sorted(cols):
                inputs[(slot, col)] = _matrix(frames, col, index, positions)
    return _finish_records(request, needed, kinds, providers, kept, skipped, index, freq, fetch_lo, hi, lo,
                           inputs, warnings)


def _finish_records(request: DataRequest, needed: dict[str, set[str]], kinds: dict[str, str],
                    providers: dict[str, Provider], kept: list[Run], skipped: list[str], index: pd.DatetimeIndex,
                    freq: str, fetch_lo: pd.Timestamp, hi: pd.Timestamp, lo: pd.Timestamp,
                    inputs: dict[tuple[str, str], np.ndarray], warnings: list[Diagnostic]) -> MarketData:
    """Align the records slots (earnings, statements, insider trades) and the slots coarser than the bars
    onto the bars; build the result."""
    slots = request.slots
    coarse = request.coarser_slots()
    joined = coarse or any(kinds[s] not in PRICE_KINDS for s in needed)
    closes = bar_close_times(index, freq) if joined else None
    universe = len(kept) > 1
    for slot in coarse:
        wanted = list(dict.fromkeys(r[slot] for r in kept))
        slot_freq = slots[slot].frequency
        # two periods more: the first bar of the history already sees a completed period
        slot_lo = _history_start(fetch_lo, 2, slot_freq)
        got = _fetch(providers[slot], wanted, "ohlcv", slot_lo, hi, fetch_frequency("ohlcv", slot_freq, freq),
                     universe, warnings, slot, missing_ok=True)
        aligned = {sym: completed_bars_on(df, slot_freq, index, freq, closes) for sym, df in got.items()}
        for col in sorted(needed[slot]):
            inputs[(slot, col)] = _records_matrix([aligned.get(r[slot]) for r in kept], col, len(index))
        _warn_never_completed(slot, slot_freq, aligned, index, lo, freq, warnings)
    for slot, cols in needed.items():
        kind = kinds[slot]
        if kind in PRICE_KINDS:
            continue
        wanted = list(dict.fromkeys(r[slot] for r in kept))
        # Mentions are counted per bar from the first bar of history on: earlier posts would all land on it
        # (a spike that never happened), and a listing that cannot reach the range is the provider's error to
        # raise (fatal: a slot the strategy reads is never left empty without a word).
        # A position is the sum of every fill before it: its provider returns them all, whatever the start.
        mentions = kind == "social_mentions"
        rec_lo = fetch_lo if mentions else fetch_lo - pd.Timedelta(days=RECORDS_LOOKBACK_DAYS)
        own = mentions or kind == "portfolio"
        got = _fetch(providers[slot], wanted, kind, rec_lo, hi, slots[slot].frequency, not own, warnings,
                     slot, missing_ok=True)
        if kind == "portfolio":  # a position is priced at its run's close: one frame per run, not per symbol
            base = request.bars_slot() or ""
            frames = [aggregate_fills(got.get(r[slot]), index, freq, inputs[(base, "close")][:, j], bar_closes=closes)
                      for j, r in enumerate(kept)]
            for col in sorted(cols):
                inputs[(slot, col)] = _records_matrix(frames, col, len(index))
            continue
        aligned = {sym: _align(kind, df, index, freq, closes) for sym, df in got.items()}
        for col in sorted(cols):
            inputs[(slot, col)] = _records_matrix([aligned.get(r[slot]) for r in kept], col, len(index))
    for slot in needed:  # what the provider found wrong in the files it read, with the result
        for w in providers[slot].quality_warnings([r[slot] for r in kept], kinds[slot]):
            if w not in warnings:
                warnings.append(w)
    # A weekly / monthly bar is labelled by its last session: it is in the range when its first one is.
    opened = index if freq in INTRADAY or freq == "1Day" else _first_sessions(index, freq)
    start_row = int(opened.searchsorted(_first_label(lo, freq)))
    return MarketData(index=index, frequency=freq, runs=kept, inputs=inputs, start=start_row,
                      providers={s: p.name for s, p in providers.items()},
                      synthetic=any(p.synthetic for p in providers.values()),
                      price_basis={s: str(p.price_basis) for s, p in providers.items()
                                   if p.price_basis and kinds[s] in PRICE_KINDS},
                      warnings=warnings, skipped=skipped)


# ----------------------------------------------------------------------------------------- multi-timeframe


def completed_bars_on(df: pd.DataFrame, frequency: str, index: pd.DatetimeIndex, execution: str,
                      closes: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """Bars of `frequency` built from `df` (resampled when finer), joined onto the execution bars `index`
    like published records: a bar is visible from its close on (`bar_close_times`), so an execution bar
    shows the last *completed* bar, never the forming one. A week completes at the close of its last
    session: Friday's daily bar sees its own week, Monday to Thursday see the week before.

    Example:
        >>> days = pd.DatetimeIndex(pd.bdate_range("2019-12-02", "2019-12-13"), tz="UTC")
        >>> df = pd.DataFrame({c: range(10) for c in ("open", "high", "low", "close", "volume")}, index=days,
        ...                   dtype="float64")
        >>> df.attrs["frequency"] = "1Day"
        >>> completed_bars_on(df, "1Week", days, "1Day")["close"].tolist()
        [nan, nan, nan, nan, 4.0, 4.0, 4.0, 4.0, 4.0, 9.0]
    """
    bars = resample_ohlcv(df, frequency, from_frequency=df.attrs.get("frequency")) if not df.empty else df
    published = bars.set_axis(bar_close_times(bars.index, frequency), axis=0).rename_axis("available_at")
    cols = [c for c in bars.columns if c in KIND_COLUMNS["ohlcv"]]
    return align_to_bars(published, index, execution, columns=cols, skipna=False, bar_closes=closes)


def _warn_never_completed(slot: str, frequency: str, aligned: Mapping[str, pd.DataFrame], index: pd.DatetimeIndex,
                          lo: pd.Timestamp, freq: str, warnings: list[Diagnostic]) -> None:
    """D143 for a symbol whose coarser slot completes no bar by the end of the range: it holds NaN throughout
    (e.g. a 1Month slot on two weeks of minute data), so every condition reading it is false."""
    if not len(index) or index[-1] < _first_label(lo, freq):
        return
    for sym, frame in aligned.items():
        if frame.empty or frame.iloc[-1].isna().all():
            warnings.append(Diagnostic(
                "D143", f"{sym}: slot '{slot}' has no completed {frequency} bar by the end of the range; it "
                "holds no values (NaN), so conditions reading it never hold", severity="warning",
                path=f"data.{slot}", hint=f"use a longer range or a data source with history before it, or a "
                f"finer 'frequency' for '{slot}'"))


def _first_sessions(index: pd.DatetimeIndex, freq: str) -> pd.DatetimeIndex:
    """The first session of each weekly / monthly bar, as a 00:00 UTC label like the bars' own."""
    days = index.tz_localize(None) if index.tz is not None else index
    return pd.DatetimeIndex(period_bounds_ns(days.as_unit("ns").asi8, freq)["first"], tz="UTC",
                            name=index.name).as_unit("ns")


# ----------------------------------------------------------------------------------------------- fast path


def _fast_prices(models: Mapping[str, DataSlot], needed: dict[str, set[str]], kinds: dict[str, str],
                 providers: dict[str, Provider], runs: list[Run], base: str, fetch_lo: pd.Timestamp,
                 hi: pd.Timestamp, freq: str, universe: bool, warnings: list[Diagnostic]
                 ) -> tuple[pd.DatetimeIndex, dict[tuple[str, str], np.ndarray], list[Run], list[str]] | None:
    """Every price slot straight from a provider's `fetch_matrix` (one long local file: no frame per
    symbol). None when a provider has none or its bars need resampling: the frame-by-frame path runs."""
    slots = [s for s in needed if kinds[s] in PRICE_KINDS]
    got: dict[str, tuple[pd.DatetimeIndex, dict[str, np.ndarray], dict[str, int]]] = {}
    failed: dict[str, RuleEngineError] = {}
    for slot in slots:
        wanted = list(dict.fromkeys(r[slot] for r in runs))
        res = providers[slot].fetch_matrix(wanted, fetch_lo, hi,
                                           fetch_frequency("ohlcv", models[slot].frequency, freq),
                           sorted(needed[slot]))
        if res is None:
            return None
        native, index, arrays, problems = res
        failed.update(problems)
        if native != freq:
            if native != "1Day" or freq not in ("1Week", "1Month"):
                return None
            symbols = arrays.pop("_symbols")  # weekly / monthly from daily arrays: numpy, no frame per symbol
            index, arrays = resample_matrix(index, arrays, freq)
            for sym in symbols[~arrays["_present"].any(axis=0)]:
                failed[sym] = RuleEngineError([Diagnostic("D111", f"{sym}: no completed {freq} bars in the range",
                                                          path="symbols")])
            arrays["_symbols"] = symbols
        got[slot] = (index, arrays, {sym: j for j, sym in enumerate(arrays.pop("_symbols")) if sym not in failed})
    if failed and not universe:
        raise RuleEngineError([d for exc in failed.values() for d in exc.diagnostics])
    for sym, exc in failed.items():
        warnings.append(Diagnostic("D116", f"{sym}: {exc.diagnostics[0].message}; skipped", severity="warning",
                                   path="symbols"))
    kept = [r for r in runs if all(r[s] in got[s][2] for s in slots)]
    skipped = [_label(r) for r in runs if r not in kept]
    if not kept:
        raise RuleEngineError([Diagnostic("D111", "no symbol has price data in the requested range",
                                          path="symbols", hint="check the symbols, the dates and the provider")]
                              + warnings)
    b_index, b_arrays, b_cols = got[base]
    present = b_arrays["_present"][:, [b_cols[r[base]] for r in kept]]
    index = b_index[present.any(axis=1) & (b_index <= _last_label(hi, freq))].rename("time")
    inputs: dict[tuple[str, str], np.ndarray] = {}
    for slot in slots:
        s_index, arrays, cols = got[slot]
        pick = [cols[r[slot]] for r in kept]
        rows = s_index.get_indexer(index)
        ok = rows >= 0
        for col in sorted(needed[slot]):
            values = arrays[col]
            if ok.all():
                inputs[(slot, col)] = np.asfortranarray(values[np.ix_(rows, pick)])
            else:
                m = np.full((len(pick), len(index)), np.nan).T
                m[ok] = values[np.ix_(rows[ok], pick)]
                inputs[(slot, col)] = m
    return index, inputs, kept, skipped


# ----------------------------------------------------------------------------------------------- planning


def fetch_frequency(kind: str, slot_frequency: str, execution: str) -> str:
    """Prices are fetched at the slot's frequency, or finer when the execution frequency is finer."""
    if kind not in PRICE_KINDS:
        return slot_frequency
    rank = BAR_FREQUENCIES.index
    if slot_frequency in BAR_FREQUENCIES and rank(slot_frequency) <= rank(execution):
        return slot_frequency
    return execution


def _range(start: Any, end: Any, freq: str, provider: Provider,
           symbols: list[str]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The requested range; without an end, the latest date any of `symbols` has (not the first one's: the
    default range must not depend on their order), else today."""
    hi = to_timestamp(end, "end date") if end is not None else None
    if hi is None:
        hi = pd.Timestamp.now(tz="America/New_York").tz_localize(None).normalize()
        last = _available_end(provider, symbols, freq, hi)
        if last is not None and last < hi:
            hi = last
    if hi.tz is not None:
        hi = hi.tz_convert("America/New_York").tz_localize(None)
    if start is not None:
        lo = to_timestamp(start, "start date")
        if lo.tz is not None:
            lo = lo.tz_convert("America/New_York").tz_localize(None)
    elif freq in INTRADAY:
        lo = add_business_days([hi.normalize()], -DEFAULT_INTRADAY_SESSIONS)[0]
    else:
        lo = hi.normalize() - pd.Timedelta(days=DEFAULT_DAYS)
    if lo > hi:
        raise RuleEngineError([Diagnostic("D111", f"start {lo.date()} is after end {hi.date()}",
                                          path="start", hint="swap the dates")])
    return lo, hi


def _available_end(provider: Provider, symbols: list[str], freq: str, today: pd.Timestamp) -> pd.Timestamp | None:
    """The latest last bar's date among `symbols` (unknown ones ignored), or None.

    Asking stops at the first symbol whose last bar is on or after the session before `today`: a provider that
    serves up to the present (yahoo, alpaca: one request per symbol) is asked once, not once per symbol of a
    universe; a later bar can only be today's, still forming. Files ending in the past are all read."""
    from .calendar import add_business_days

    recent = add_business_days([today], -1)[0]
    ends = []
    for symbol in dict.fromkeys(symbols):
        try:
            span = provider.available_range(symbol, "ohlcv", freq)
        except RuleEngineError:
            continue
        if span is not None:  # None: the provider cannot say
            last = pd.Timestamp(span[1])
            ends.append((last.tz_convert("America/New_York").tz_localize(None) if freq in INTRADAY
                         else last.tz_localize(None)).normalize())
            if ends[-1] >= recent:
                break
    return max(ends) if ends else None


def _history_start(lo: pd.Timestamp, bars: int, freq: str) -> pd.Timestamp:
    """A date far enough before `lo` to hold `bars` bars of history (a few spare for holidays)."""
    if bars <= 0:
        return lo
    if freq in INTRADAY:
        sessions = -(-bars * _MINUTES[freq] // 390) + 2
    elif freq == "1Day":
        sessions = bars + 5
    else:
        days = bars * (7 if freq == "1Week" else 31) + 31
        return lo.normalize() - pd.Timedelta(days=days)
    return add_business_days([lo.normalize()], -sessions)[0]


def _first_label(lo: pd.Timestamp, freq: str) -> pd.Timestamp:
    if freq in INTRADAY:
        return lo.tz_localize("America/New_York").tz_convert("UTC")
    return lo.normalize().tz_localize("UTC")


def _last_label(hi: pd.Timestamp, freq: str) -> pd.Timestamp:
    if freq in INTRADAY:
        end = hi + pd.Timedelta(days=1) if hi == hi.normalize() else hi
        return end.tz_localize("America/New_York").tz_convert("UTC")
    return hi.normalize().tz_localize("UTC")


# ----------------------------------------------------------------------------------------------- fetching


def _fetch(provider: Provider, symbols: list[str], kind: str, lo: pd.Timestamp, hi: pd.Timestamp,
           frequency: str, tolerant: bool, warnings: list[Diagnostic], slot: str,
           missing_ok: bool = False) -> dict[str, pd.DataFrame]:
    """symbol -> frame; failures raise (one run) or become warnings (universe / records slots)."""
    if not tolerant:
        return provider.fetch_many(symbols, kind, lo, hi, frequency)
    got = provider.fetch_many(symbols, kind, lo, hi, frequency, skip_missing=True)
    for sym in symbols:
        if sym in got:
            continue
        reason = "no data"
        try:  # one more call for the failing symbol only, to say why
            provider.fetch_many([sym], kind, lo, hi, frequency)
        except RuleEngineError as exc:
            d = exc.diagnostics[0]
            reason = d.message
            if exc.error_type == "data_fetch_error" and d.code != "D111" and not missing_ok:
                raise
        if missing_ok:
            warnings.append(Diagnostic("D116", f"{sym}: {reason}; slot '{slot}' holds no values for it",
                                       severity="warning", path=f"data.{slot}"))
        else:
            warnings.append(Diagnostic("D116", f"{sym}: {reason}; skipped", severity="warning",
                                       path="symbols"))
    return got


def _to_execution(df: pd.DataFrame, freq: str) -> pd.DataFrame:
    delivered = df.attrs.get("frequency", freq)
    if delivered == freq or df.empty:
        return df
    return resample_ohlcv(df, freq, from_frequency=delivered)


def _union_index(frames: list[pd.DataFrame]) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(frames[0].index)
    for f in frames[1:]:
        if not idx.equals(f.index):
            idx = idx.union(pd.DatetimeIndex(f.index))
    return idx


def _matrix(frames: list[pd.DataFrame], col: str, index: pd.DatetimeIndex,
            positions: dict[Any, Any]) -> np.ndarray:
    """(T, S) F-ordered values of `col`; `positions` caches each frame's rows in `index` across columns."""
    out = np.full((len(frames), len(index)), np.nan).T
    for j, f in enumerate(frames):
        if col not in f.columns:
            raise RuleEngineError([Diagnostic("D102", f"price data has no column '{col}'",
                                              hint="columns: " + ", ".join(map(str, f.columns)))])
        values = _column_values(f, col, positions)
        key = id(f)
        if key not in positions:
            same = len(f.index) == len(index) and f.index.equals(index)
            positions[key] = None if same else index.get_indexer(f.index)
        pos = positions[key]
        if pos is None:
            out[:, j] = values
            continue
        ok = pos >= 0
        out[pos[ok], j] = values[ok]
    return out


def _column_values(f: pd.DataFrame, col: str, cache: dict[Any, Any]) -> np.ndarray:
    """float64 values of one column. The frame is converted once for all its columns: pandas deep-copies a
    frame's ``attrs`` into every Series taken from it, which costs more than the values themselves."""
    key = ("values", id(f))
    if key not in cache:
        try:
            cache[key] = f.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):  # a non-numeric extra column: take the asked ones one by one
            cache[key] = None
    whole = cache[key]
    if whole is None:
        return f[col].to_numpy(dtype=np.float64, na_value=np.nan)
    return whole[:, f.columns.get_loc(col)]


def _align(kind: str, records: pd.DataFrame, index: pd.DatetimeIndex, freq: str,
           closes: pd.DatetimeIndex) -> pd.DataFrame:
    if kind == "insider_trades":
        return aggregate_insider(records, index, freq, bar_closes=closes)
    if kind == "social_mentions":
        return aggregate_mentions(records, index, freq, bar_closes=closes)
    cols = [c for c in KIND_COLUMNS.get(kind, ()) if c in records.columns]
    return align_to_bars(records, index, freq, columns=cols, bar_closes=closes)


def _records_matrix(aligned: list[pd.DataFrame | None], col: str, n_rows: int) -> np.ndarray:
    out = np.full((len(aligned), n_rows), np.nan).T
    for j, a in enumerate(aligned):
        if a is not None and col in a.columns:
            out[:, j] = a[col].to_numpy(dtype=np.float64, na_value=np.nan)
        elif a is None and col in KIND_COLUMNS["insider_trades"]:
            out[:, j] = 0.0  # no insider trades known: zero per bar, like bars without trades
    return out
