"""Stage 7, the last step of `backtest()`: the simulation's arrays -> `RunResult` models, warnings, provenance.

Kept apart from the orchestration in `run.py`: everything here turns arrays that already exist into the
result model, for all runs at once where it can (`metrics.compute_metrics_batch`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ..data.frames import INTRADAY
from ..errors import Diagnostic
from ..kernels.enums import PAIR_TRADE_COLUMNS
from ..schema.strategy import SIZING_METHODS, TradingStrategy
from .metrics import compute_metrics_batch, side_metrics
from .params import RunRequest
from .result import (
    SKIPPED_SHOWN,
    Benchmark,
    DataInfo,
    Deferred,
    Metrics,
    PairInfo,
    Provenance,
    RunResult,
    SideMetrics,
    SkippedEntries,
    SkippedEntry,
    Trade,
    TradeTable,
    equity_curve,
    package_versions,
)
from .universe_benchmark import equal_weight_universe

Progress = Callable[[int, int, str], None]


class _Bench:
    """Benchmark closes aligned to the run bars, or None to use each run's own symbol; and for a universe the
    equity of its equal-weight buy and hold on the same bars (`universe_benchmark`), else None."""

    def __init__(self, symbol: str | None, close: np.ndarray | None, synthetic: bool) -> None:
        self.symbol, self.close, self.synthetic = symbol, close, synthetic
        self.universe: np.ndarray | None = None


def buy_and_hold(close: np.ndarray, init_cash: float) -> tuple[np.ndarray, float | None]:
    """Equity of buying at the first valid close (no fees) and its total return in percent."""
    close = np.asarray(close, dtype=np.float64)
    valid = np.flatnonzero(np.isfinite(close))
    if not len(valid):
        return np.full(len(close), np.nan), None
    filled = pd.Series(close).ffill().to_numpy()
    equity = init_cash * filled / close[valid[0]]
    equity[: valid[0]] = init_cash
    return equity, (close[valid[-1]] / close[valid[0]] - 1.0) * 100.0


@dataclass(frozen=True, eq=False)
class ChartSeries:
    """What a run's HTML report draws besides its equity: the traded close (None for a portfolio) and the
    benchmark's buy and hold, made from its closes on first use (most results are never drawn)."""

    close: np.ndarray | None
    benchmark_close: np.ndarray
    init_cash: float
    #: the universe benchmark's equity on the run's bars (`universe_benchmark`), None outside a universe
    universe: np.ndarray | None = None

    @cached_property
    def benchmark_equity(self) -> np.ndarray:
        return buy_and_hold(self.benchmark_close, self.init_cash)[0]

    @cached_property
    def universe_equity(self) -> np.ndarray | None:
        """The universe benchmark from the initial cash at the run's first bar (a run of a symbol listed later
        starts later; its return is measured over the same bars)."""
        if self.universe is None or not len(self.universe):
            return self.universe
        return self.init_cash * self.universe / self.universe[0]


# ------------------------------------------------------------------------------------------ results


class _Context:
    """What every run of one backtest shares; builds the `RunResult`s of a simulation in one pass.

    Metrics come from one vectorised pass over all runs (`compute_metrics_batch`); each run's trades,
    equity curve are `Deferred` and the benchmark equity a `ChartSeries` property, made on first use (a
    universe has thousands of trades).
    """

    def __init__(self, *, md: Any, base: str, keep: list[int], init_cash: float, sets: list[dict[str, Any]],
                 risks: list[Any], bench: _Bench, strategy: TradingStrategy) -> None:
        self.md, self.base, self.keep, self.init_cash = md, base, keep, init_cash
        self.sets, self.risks, self.bench, self.strategy = sets, risks, bench, strategy
        self.times = _times_text(md.index[md.start:], md.frequency)
        # Weekly / monthly bars are labelled by their last session (their close); a fill at a bar's open is
        # dated at its first session, so that no trade shows a date before the price it used.
        coarse = md.frequency in ("1Week", "1Month")
        self.open_times = _times_text(md.first_sessions[md.start:], md.frequency) if coarse else None
        self.at_open = np.array([r.execution_price == "open" for r in risks])
        self.grid_keys = [k for k in sets[0] if len({repr(s[k]) for s in sets}) > 1]
        self.risk_dicts = [r.to_dict() for r in risks]
        self.close = md.inputs[(base, "close")]
        # `` [fast=10, slow=50]`` for the runs of a parameter grid, else empty
        self.grid_text = ["" if not self.grid_keys else
                          " [" + ", ".join(f"{k}={s[k]}" for k in self.grid_keys) + "]" for s in sets]

    def independent_runs(self, sim: Any) -> list[RunResult]:
        """One run per simulation column (parameter set major, symbol minor)."""
        md, s0, k = self.md, self.md.start, len(self.keep)
        n_runs = len(self.sets) * k
        sym = [self.keep[i % k] for i in range(n_runs)]  # the data column of each run
        # A universe's bars are the union of its symbols' bars: a run covers its own symbol's bars only
        # (a later listing or an earlier end does not dilute CAGR, Sharpe or exposure).
        ok = np.isfinite(self.close[s0:])[:, self.keep]
        lo = np.tile(ok.argmax(axis=0), len(self.sets))
        hi = np.tile(len(ok) - ok[::-1].argmax(axis=0), len(self.sets))
        if self.bench.close is None:  # its own symbol: bought at the run's first close, held to its last
            bench_ret: list[Any] = ((self.close[s0 + hi - 1, sym] / self.close[s0 + lo, sym] - 1.0) * 100.0).tolist()
        else:
            bench_ret = _bench_returns(self.bench.close, lo, hi)
        uni = self.bench.universe
        uni_ret = None if uni is None else _bench_returns(uni, lo, hi)
        table, bounds, trades = self._trade_table(sim.trades, n_runs, [md.labels[j] for j in sym], by_column=True,
                                                  sets=np.arange(n_runs) // k)
        metrics = compute_metrics_batch(sim.equity[s0:], np.stack([lo, hi], axis=1), trades, bounds,
                                        init_cash=self.init_cash, frequency=md.frequency,
                                        held=_held(sim.position[s0:]), benchmark_return_pct=bench_ret,
                                        universe_benchmark_return_pct=uni_ret)
        out = []
        for i, (j, a, b) in enumerate(zip(sym, lo.tolist(), hi.tolist(), strict=True)):
            p = i // k
            close = self.close[s0:, j]
            bench_close = close if self.bench.close is None else self.bench.close
            bench_symbol = md.runs[j][self.base] if self.bench.close is None else self.bench.symbol
            noted = sim.skipped is not None and bool((sim.skipped["column"] == i).any())  # else null, as before
            out.append(self._result(
                md.labels[j] + self.grid_text[p], dict(md.runs[j]), p, (a, b), sim.equity[s0:, i],
                metrics[i], Deferred(table.models, int(bounds[i]), int(bounds[i + 1]), s0 + a), close[a:b],
                bench_close[a:b], bench_symbol, [md.runs[j]], self._skipped(sim, i) if noted else None,
                sides=self._sides(p, trades, bounds, i), universe=None if uni is None else uni[a:b]))
        return out

    def _sides(self, p: int, trades: dict[str, np.ndarray], bounds: np.ndarray, run: int) -> \
            dict[str, SideMetrics] | None:
        """The long/short split of run `run`'s trades; None for a long strategy (its result reads as before)."""
        if self.risks[p].direction == "long":
            return None
        lo, hi = int(bounds[run]), int(bounds[run + 1])
        return side_metrics({k: v[lo:hi] for k, v in trades.items()}, trades["short"][lo:hi])

    def portfolio_run(self, sim: Any, p: int) -> RunResult:
        """The portfolio of parameter set `p` (its simulation has one column per kept symbol)."""
        md, s0 = self.md, self.md.start
        runs = [md.runs[j] for j in self.keep]
        symbols = {slot: [r[slot] for r in runs] for slot in runs[0]}
        uni = self.bench.universe
        if self.bench.close is not None:
            bench_close, bench_symbol = self.bench.close, self.bench.symbol
        else:  # the members' equal weight (the universe benchmark's; a portfolio of one symbol has none)
            bench_close = uni if uni is not None else equal_weight_universe(self.close[s0:, self.keep], None,
                                                                            self.init_cash)
            bench_symbol = "equal-weight members"
        n = len(self.times)
        span = (np.array([0]), np.array([n]))
        table, bounds, trades = self._trade_table(sim.trades, 1, [md.labels[j] for j in self.keep], by_column=False,
                                                  sets=np.array([p]))
        metrics = compute_metrics_batch(sim.equity[s0:, :1], np.array([[0, n]]), trades, bounds,
                                        init_cash=self.init_cash, frequency=md.frequency,
                                        held=np.any(_held(sim.position[s0:]), axis=1, keepdims=True),
                                        benchmark_return_pct=_bench_returns(bench_close, *span),
                                        universe_benchmark_return_pct=None if uni is None else
                                        _bench_returns(uni, *span))[0]
        return self._result(f"portfolio of {len(runs)}" + self.grid_text[p], symbols, p, (0, n),
                            sim.equity[s0:, 0], metrics, Deferred(table.models, 0, int(bounds[1]), s0), None,
                            bench_close, bench_symbol, runs, self._skipped(sim), self._sides(p, trades, bounds, 0),
                            universe=uni)

    def _skipped(self, sim: Any, column: int | None = None) -> SkippedEntries:
        """The skipped (or cut down) entries of a portfolio, or of simulation column `column` of independent
        runs: the count, the first `SKIPPED_SHOWN` (time, symbol, reason) and the count per reason."""
        notes = sim.skipped if column is None else sim.skipped[sim.skipped["column"] == column]
        count = int(sim.skipped_count) if column is None else len(notes)
        first = notes.iloc[:SKIPPED_SHOWN]
        reasons = notes["reason"].value_counts()
        k = len(self.keep)
        return SkippedEntries(count=count, by_reason=None if set(reasons.index) <= {"cash"} else
                              {str(r): int(n) for r, n in reasons.items()}, first=[
            SkippedEntry(time=self.times[bar - self.md.start], symbol=self.md.labels[self.keep[col % k]],
                         reason=reason)
            for bar, col, reason in zip(first["bar"].tolist(), first["column"].tolist(), first["reason"].tolist(),
                                        strict=True)])

    def _trade_table(self, trades: pd.DataFrame, n_runs: int, names: list[str], by_column: bool,
                     sets: np.ndarray) -> tuple[TradeTable, np.ndarray, dict[str, np.ndarray]]:
        """The simulation's trades as arrays grouped by run, the run bounds, and the metrics' columns.

        `by_column`: run i is simulation column i (else all trades belong to one run, in table order).
        `sets`: the parameter set of each run (its execution price says which fills are at an open)."""
        cols = {c: trades[c].to_numpy() for c in ("column", "entry_bar", "exit_bar", "entry_price", "exit_price",
                                                  "size", "pnl", "pnl_pct", "exit_reason", "direction")}
        cols["fees"] = trades["fees"].to_numpy() if "fees" in trades.columns else np.zeros(len(trades))
        pair = self.strategy.pair
        leg_symbols = None
        if pair is not None:  # a pair run: each leg's P&L and the second leg's fills, and the legs' symbols
            cols.update({c: trades[c].to_numpy() for c in PAIR_TRADE_COLUMNS})
            runs = [self.md.runs[self.keep[i % len(self.keep)]]  # each simulation column's (a portfolio: k)
                    for i in range(n_runs if by_column else len(self.keep))]
            leg_symbols = [(r[pair.legs[0]], r[pair.legs[1]]) for r in runs]
        if by_column:  # stable: each run's trades stay in entry order
            order = np.argsort(cols["column"], kind="stable")
            cols = {c: v[order] for c, v in cols.items()}
            bounds = np.searchsorted(cols["column"], np.arange(n_runs + 1))
        else:
            bounds = np.array([0, len(trades)])
        if self.open_times is not None:  # fills at the open: signal entries and exits with open fills
            at_open = self.at_open[sets[cols["column"]] if by_column else np.full(len(trades), sets[0], int)]
            cols["entry_at_open"] = at_open
            cols["exit_at_open"] = at_open & (cols["exit_reason"] == "signal")
        if self.md.members is not None:  # a point-in-time universe names why its positions ended
            cols["exit_reason"] = universe_exit_reasons(cols, self.md.members, [self.keep[int(c) % len(self.keep)]
                                                                                for c in cols["column"]])
        if len(trades) and cols["entry_bar"].min() < self.md.start:
            raise ValueError("a trade starts before the requested range")
        ns = self.md.index.as_unit("ns").asi8
        metric_cols = {"pnl": cols["pnl"], "pnl_pct": cols["pnl_pct"], "entry_bar": cols["entry_bar"],
                       "exit_bar": cols["exit_bar"], "entry_ns": ns[cols["entry_bar"]],
                       "exit_ns": ns[cols["exit_bar"]], "short": cols["direction"] < 0}
        metric_cols["entry_time"], metric_cols["exit_time"] = metric_cols["entry_ns"], metric_cols["exit_ns"]
        return TradeTable(cols, self.times, self.md.start, names, self.open_times, leg_symbols), bounds, metric_cols

    def _result(self, label: str, symbols: dict[str, Any], p: int, span: tuple[int, int], equity: np.ndarray,
                metrics: Metrics, trades: Deferred[Trade], close: np.ndarray | None, bench_close: np.ndarray,
                bench_symbol: str | None, runs: list[dict[str, str]],
                skipped: SkippedEntries | None = None, sides: dict[str, SideMetrics] | None = None,
                universe: np.ndarray | None = None) -> RunResult:
        """One `RunResult` (its trades and equity curve `Deferred`)."""
        md = self.md
        lo, hi = span
        warnings: list[Diagnostic] = []
        if metrics.total_trades == 0:
            warnings.append(Diagnostic("D119", f"{label}: no trades: the entry conditions never held on a "
                                       "tradable bar of the range", severity="warning", path="entry",
                                       hint="check the parameters, the range (warm-up bars never trade) and "
                                            "the data"))
        if md.synthetic:
            tickers = sorted({s for r in runs for s in r.values()})
            warnings.append(Diagnostic("D120", "SYNTHETIC data: not " + ", ".join(f"{t}'s" for t in tickers)
                                       + " real prices", severity="warning", path="data",
                                       hint="use --data PATH or a market-data provider for real prices"))
        if self.risks[p].direction == "short" and len(equity) and float(np.nanmin(equity)) <= 0.0:
            warnings.append(Diagnostic("D131", f"{label}: a short lost more than its collateral: the equity "
                                       f"reached {float(np.nanmin(equity)):,.2f}; there is no margin call, so the "
                                       "run went on with the account owing", severity="warning", path="risk",
                                       hint="set a stop_loss_pct, or a smaller position_size_pct, on a short "
                                            "strategy"))
        risk = dict(self.risk_dicts[p])
        risk["defaults_used"] = list(risk["defaults_used"])
        bench = Benchmark(symbol=bench_symbol, total_return_pct=metrics.benchmark_return_pct,
                          synthetic=bool(self.bench.synthetic))
        data = DataInfo(providers=md.providers, synthetic=bool(md.synthetic), price_basis=md.price_basis,
                        frequency=md.frequency,
                        start=self.times[lo], end=self.times[hi - 1], bars=hi - lo)
        run = RunResult(label=label, symbols=symbols, params=self.sets[p], metrics=metrics, benchmark=bench,
                        trades=trades, equity=equity_curve(self.times, lo, hi, equity[lo:hi]), risk=risk, data=data,
                        warnings=[w.to_dict() for w in warnings], skipped_entries=skipped, sides=sides,
                        pair=self._pair())
        run._chart = ChartSeries(close, bench_close, self.init_cash, universe)
        return run


    def _pair(self) -> PairInfo | None:
        """The run's `PairInfo` (None without a pair block)."""
        pair = getattr(self.strategy, "pair", None)
        if pair is None:
            return None
        ratio = pair.hedge_ratio if isinstance(pair.hedge_ratio, str) else float(pair.hedge_ratio)
        return PairInfo(legs=list(pair.legs), hedge_ratio=ratio, sizing=pair.sizing)


def _held(position: np.ndarray) -> np.ndarray:
    """True where a position is held (NaN is not; `compute_metrics` counts ``nan_to_num(position) != 0``)."""
    return (position > 0) | (position < 0)


def _bench_returns(close: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[float | None]:
    """`buy_and_hold`'s return of ``close[lo:hi]`` for many ranges: first to last valid close inside each."""
    ok = np.isfinite(close)
    rows = np.arange(len(close))
    first = np.minimum.accumulate(np.where(ok, rows, len(close))[::-1])[::-1][lo]  # first valid at or after lo
    last = np.maximum.accumulate(np.where(ok, rows, -1))[hi - 1]  # last valid at or before hi - 1
    with np.errstate(invalid="ignore", divide="ignore"):  # ranges without a valid close give None below
        ret = (close[last] / close[first % len(close)] - 1.0) * 100.0
    return [r if f < h else None for r, f, h in zip(ret.tolist(), first.tolist(), hi.tolist(), strict=True)]


def _times_text(ts: pd.DatetimeIndex, frequency: str) -> list[str]:
    """`_time_text` of many bar labels at once."""
    if len(ts) == 0:
        return []
    # numpy's C formatter: pandas' strftime formats element by element in Python
    if frequency not in INTRADAY:
        days = (ts.tz_localize(None) if ts.tz is not None else ts).values.astype("datetime64[D]")
        return np.datetime_as_string(days).tolist()
    utc = (ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")).tz_localize(None)
    return [x + "Z" for x in np.datetime_as_string(utc.values.astype("datetime64[s]")).tolist()]


def _time_text(t: Any, frequency: str) -> str:
    """A bar label as text: the date for daily and coarser bars, ISO UTC time for intraday bars."""
    ts = pd.Timestamp(t)
    if frequency not in INTRADAY:
        return ts.strftime("%Y-%m-%d")
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary_warnings(results: list[RunResult], md: Any, universe: bool) -> list[Diagnostic]:
    """One warning per kind over all runs (a universe of 500 does not print 500 lines)."""
    out: list[Diagnostic] = []
    if md.synthetic:
        tickers = sorted({s for r in md.runs for s in r.values()})
        shown = ", ".join(f"{t}'s" for t in tickers[:10]) + (f" (+{len(tickers) - 10} more)" if len(tickers) > 10
                                                            else "")
        out.append(Diagnostic("D120", f"SYNTHETIC data: not {shown} real prices "
                              f"(provider {', '.join(sorted(set(md.providers.values())))})", severity="warning",
                              path="data", hint="use --data PATH or a market-data provider for real prices"))
    for r in results:
        if r.skipped_entries is not None and r.skipped_entries.count:
            out.extend(_skipped_warnings(r.label, r.skipped_entries, r.risk))
    idle = [r.label for r in results if r.metrics.total_trades == 0]
    if idle and (universe or len(results) > 1):
        names = ", ".join(idle[:10]) + (f" (+{len(idle) - 10} more)" if len(idle) > 10 else "")
        out.append(Diagnostic("D119", f"{len(idle)} of {len(results)} runs made no trades: {names}",
                              severity="warning", path="entry",
                              hint="why, run by run: the lines below it, or each run's warnings in --json"))
    # a single run's D119 (with its reason and details) is taken from the run by `backtest`
    return out


#: why an entry was skipped or cut down, as a warning says it, and the hint that helps
_NOTE_TEXT = {
    "max_open_positions": ("max_open_positions were open", "a larger max_open_positions"),
    "max_gross_exposure": ("the open positions' value would have passed max_gross_exposure_pct of the equity",
                           "a larger max_gross_exposure_pct or a smaller size"),
    "zero_units": ("the size rounded down to 0 whole units", "a larger size, or whole_units: false"),
    "no_stop": ("risk_per_trade_pct had no stop distance at the fill", "a stop loss known at entry"),
    "no_volatility": ("volatility was not a number > 0 at the signal bar (warm-up?)",
                      "a volatility expression defined on every tradable bar"),
}


def _skipped_warnings(label: str, skipped: SkippedEntries, risk: dict[str, Any]) -> list[Diagnostic]:
    """D130 (a portfolio's cash left was short), D135 (skipped by a cap or a sizing rule), D136 (made smaller:
    cut down to the cash): how many, the first few, per kind of note."""
    counts = skipped.by_reason or {"cash": skipped.count}
    out = []
    # the sizing method the run used: the hints name the field that makes each entry smaller
    method = next((m for m in SIZING_METHODS if risk.get(m) is not None), "position_size_pct")
    if counts.get("cash"):
        size = risk.get("position_size_pct")
        what = f"position_size_pct={size} of the equity" if size is not None else "the entry's size"
        n, first = _entries(skipped, {"cash"}, counts)
        out.append(Diagnostic("D130", f"{label}: {n} skipped: the cash left did not cover {what} ({first})",
                              severity="warning", path=f"risk.{method}",
                              hint=f"a smaller {method} (--param {method}=...) leaves cash for more positions"))
    others = [r for r in _NOTE_TEXT if counts.get(r)]
    if others:
        n, first = _entries(skipped, set(others), counts)
        why = "; ".join(f"{counts[r]} because {_NOTE_TEXT[r][0]}" for r in others)
        out.append(Diagnostic("D135", f"{label}: {n} skipped: {why} ({first})", severity="warning", path="risk",
                              hint="; ".join(_NOTE_TEXT[r][1] for r in others)))
    if counts.get("capped_by_cash"):
        n, first = _entries(skipped, {"capped_by_cash"}, counts)
        out.append(Diagnostic("D136", f"{label}: {n} smaller than the sizing asked: they took all the cash, "
                              f"never borrowing ({first})", severity="warning", path=f"risk.{method}",
                              hint=f"a smaller {method}" + (", or a wider stop" if method == "risk_per_trade_pct"
                                                            else "")))
    return out


def _entries(skipped: SkippedEntries, reasons: set[str], counts: dict[str, int]) -> tuple[str, str]:
    """('3 entries', 'first: 2016-01-04 SPY, ...'): how many entries have one of `reasons`, and the first."""
    n = sum(counts.get(r, 0) for r in reasons)
    shown = ", ".join(f"{e.time} {e.symbol}" for e in [e for e in skipped.first if e.reason in reasons][:5])
    more = f", ... ({n - 5} more)" if n > 5 else ""
    return f"{n} {'entry' if n == 1 else 'entries'}", f"first: {shown}{more}"


def _provenance(strat: TradingStrategy, req: RunRequest, risk_over: dict[str, Any], md: Any, portfolio: bool,
                engine: str, bench_symbol: str | None) -> Provenance:
    index = md.index[md.start:]
    given = dict(req.params)
    values = {**strat.default_params(), **{k: v for k, v in given.items() if k in strat.params}}
    return Provenance(
        strategy_name=strat.name, strategy_hash=strat.strategy_hash(), params=_jsonable(values),
        risk_overrides=_jsonable(risk_over), symbols=_jsonable(req.symbols),
        start=_time_text(index[0], md.frequency) if len(index) else None,
        end=_time_text(index[-1], md.frequency) if len(index) else None, frequency=md.frequency,
        init_cash=float(req.init_cash), portfolio=portfolio, engine=engine, benchmark=bench_symbol,
        versions=package_versions(engine == "vectorbt"),
        created_at=pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def universe_exit_reasons(cols: dict[str, np.ndarray], members: np.ndarray, symbol_cols: list[int]) -> np.ndarray:
    """Exit reasons of trades in a point-in-time universe (`MarketData.members`, (T, S)).

    ``delisted``: the position was still open when the symbol's prices ended before the run did (it is closed
    at its last close, as end_of_data is); ``left_universe``: the exit signal came on a bar where the symbol
    was no longer a member (`compile.cross.restrict_to_members` puts one there). Other reasons are kept."""
    reasons = np.asarray(cols["exit_reason"]).astype(object)
    last_row = members.shape[0] - 1
    at_open = cols.get("exit_at_open")
    for i, (reason, bar) in enumerate(zip(reasons, cols["exit_bar"], strict=True)):
        if reason == "end_of_data" and int(bar) < last_row:
            reasons[i] = "delisted"
        elif reason == "signal":
            signal_bar = int(bar) - (1 if at_open is not None and at_open[i] else 0)
            if not members[signal_bar, symbol_cols[i]]:
                reasons[i] = "left_universe"
    return reasons
