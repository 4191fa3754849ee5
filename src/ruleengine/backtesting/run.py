"""`backtest()`: strategy + symbols + range -> `BacktestResult` (stages 5-8 in one call; the CLI uses it too).

Steps: compile the strategy; split ``params`` into strategy parameters and risk overrides (`RISK_KEYS` and
``execution_price`` go to `resolve_risk`); `load_data`; check the prices (none missing everywhere, none <= 0);
`signals_arrays`; `simulate` (independent runs, one column per symbol x parameter set) or
`simulate_portfolio` (``portfolio=True``: shared cash per parameter set); the benchmark; metrics per run.

- **Runs**: one symbol or a ``{slot: symbol}`` mapping is one run; a universe gives one independent run per
  symbol. Symbols without data are skipped with the data layer's D116 warning (a single run raises instead);
  so are symbols whose prices are all missing or not positive (a single run raises D111 / D114).
- **Parameter grids**: list values of strategy parameters give one run per combination and symbol
  (risk overrides take one value).
- **Benchmark**: buy and hold of `benchmark` (SPY by default) bought at the close of the run's first bar
  without fees, fetched with the traded slot's provider over the same range; when it cannot be fetched (or
  ``benchmark=None``) each run's own traded symbol (a portfolio: its members, equally weighted), with a D121
  warning.
- **Warnings** are Diagnostic records: D116 (skipped symbols), D119 (a run made no trades: a valid result),
  D120 (synthetic data), D121 (benchmark replaced).

Example:
    >>> res = backtest("rules/golden_cross.yaml", "SPY", "2015-01-01", "2017-12-29")  # doctest: +SKIP
    >>> res.results[0].metrics.total_trades  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ..data.frames import INTRADAY
from ..errors import Diagnostic, RuleEngineError, did_you_mean
from ..schema.strategy import TradingStrategy
from .engine import ENGINES
from .metrics import compute_metrics
from .result import (
    BacktestResult,
    Benchmark,
    DataInfo,
    EquityCurve,
    Provenance,
    RunResult,
    Trade,
    package_versions,
    strategy_hash,
)
from .risk import FILL_CONTRACT, RISK_FIELDS, resolve_risk

#: run-time overrides that go to the risk layer, not to the signals (``execution_price`` goes to both)
RISK_KEYS: tuple[str, ...] = RISK_FIELDS
_INT_RISK = {"max_hold_days", "max_hold_bars"}

Progress = Callable[[int, int, str], None]


def backtest(strategy: Any, symbols: Any, start: Any = None, end: Any = None,
             params: Mapping[str, Any] | None = None, provider: str | None = None, data: str | None = None,
             init_cash: float = 10_000, portfolio: bool = False, benchmark: str | None = "SPY",
             engine: str = "numba", progress: Progress | None = None, no_cache: bool = False) -> BacktestResult:
    """Backtest a strategy on one symbol, a slot mapping, or a universe.

    Args:
        strategy: a path, YAML/JSON text, dict, `TradingStrategy` or `CompiledStrategy`.
        symbols: ``"SPY"``, ``"SPY,QQQ"``, a list, ``"asset_a=GLD,asset_b=SLV"``, a mapping or ``"@file"``.
        start, end: the requested range (inclusive dates; warm-up history is fetched before `start`).
        params: parameter values and risk overrides, e.g. ``{"fast": 20, "stop_loss_pct": 4,
            "execution_price": "open"}``.
        provider, data: ``--provider`` and ``--data`` of the data layer; `no_cache` bypasses its cache.
        init_cash: starting cash of each run (of the whole portfolio with ``portfolio=True``).
        portfolio: one portfolio with shared cash instead of independent runs per symbol.
        benchmark: symbol bought and held for comparison (None: each run's own symbol).
        engine: ``"numba"`` (our kernel) or ``"vectorbt"`` (the oracle, independent runs only).
        progress: called as ``progress(done, total, step)`` before each step and once at the end with
            ``done == total`` (total is 0 until the data are loaded); the CLI's progress bar.

    Raises:
        RuleEngineError: bad strategy, parameters, symbols, dates or data (structured diagnostics).
    """
    from ..compile.params import expand
    from ..data.market import load_market_data
    from .engine import simulate, simulate_portfolio

    compiled = _compile(strategy)
    strat = compiled.strategy
    _check_options(init_cash, engine, portfolio)
    strat_params, risk_over = split_params(strat, params)
    sets = expand(strat.params, strat_params or None)  # D103/D104 before any data is fetched
    risks = [resolve_risk(strat, {**risk_over, "execution_price": s["execution_price"]}) for s in sets]
    steps, total_steps = [0], [0]  # steps done; the total is unknown until the data say how many runs

    def tick(step: str) -> None:
        """Report the steps done so far and the one starting now."""
        if progress is not None:
            progress(steps[0], total_steps[0], step)
        steps[0] += 1

    tick("loading data")
    md = load_market_data(compiled, symbols, start, end, params=strat_params or None, provider=provider,
                          data=data, no_cache=no_cache)
    warnings: list[Diagnostic] = list(md.warnings)
    universe = len(md.runs) + len(md.skipped) > 1
    base = strat.price_slot() or next(s for s, _ in md.inputs)
    keep = _usable_columns(md, base, universe, warnings)
    k = len(keep)
    total_runs = len(sets) if portfolio else len(sets) * k
    total_steps[0] = 4 + total_runs
    tick("computing signals")
    entries, exits, plan = compiled.signals_arrays(md.inputs, md.n_rows, md.n_cols, strat_params or None)
    n_sets, n_sym = len(plan.param_sets), md.n_cols
    cols = [p * n_sym + s for p in range(n_sets) for s in keep]
    prices = {c: np.asfortranarray(np.tile(md.inputs[(base, c)][:, keep], (1, n_sets)))
              for c in ("open", "high", "low", "close")}
    entries, exits = np.asfortranarray(entries[:, cols]), np.asfortranarray(exits[:, cols])
    tick("simulating")
    if portfolio:
        sims = [simulate_portfolio({c: v[:, p * k:(p + 1) * k] for c, v in prices.items()},
                                   entries[:, p * k:(p + 1) * k], exits[:, p * k:(p + 1) * k], md.index,
                                   risks[p], init_cash=float(init_cash), start=md.start) for p in range(n_sets)]
    else:
        per_col = [risks[p] for p in range(n_sets) for _ in keep]
        sims = [simulate(prices, entries, exits, md.index, per_col, init_cash=float(init_cash), start=md.start,
                         engine=engine)]
    tick("benchmark")
    bench = _benchmark(benchmark, md, base, keep, data, no_cache, start, end, warnings, portfolio,
                       strat.data[base].frequency)
    ctx = _Context(md=md, base=base, keep=keep, init_cash=float(init_cash), sets=plan.param_sets,
                   risks=risks, bench=bench, strategy=strat)
    if not portfolio:
        ctx.split_trades(sims[0].trades)
    results: list[RunResult] = []
    for i in range(total_runs):
        results.append(ctx.portfolio_run(sims[i], i) if portfolio else ctx.run(sims[0], i))
        tick(f"results {i + 1}/{total_runs}")
    warnings += _summary_warnings(results, md, universe)
    tick("done")
    provenance = _provenance(strat, params, risk_over, symbols, md, init_cash, portfolio, engine,
                             bench.symbol)
    return BacktestResult(results=results, warnings=[w.to_dict() for w in warnings], provenance=provenance)


# ------------------------------------------------------------------------------------------ parameters


def split_params(strategy: TradingStrategy, params: Mapping[str, Any] | None) -> tuple[dict[str, Any],
                                                                                     dict[str, Any]]:
    """(strategy parameters, risk overrides). ``execution_price`` is both; unknown names raise D104."""
    strat_params: dict[str, Any] = {}
    risk: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    for name, value in dict(params or {}).items():
        known = False
        if name in strategy.params:
            strat_params[name] = value
            known = True
        if name in RISK_KEYS or name == "execution_price":
            known = True
            if isinstance(value, (list, tuple, range)) or getattr(value, "ndim", 0):
                problems.append(Diagnostic("D103", f"'{name}' takes one value in a backtest, got {value!r}",
                                           path=f"risk.{name}", hint="run one backtest per value"))
            else:
                risk[name] = value
        if not known:
            candidates = [*strategy.params, *RISK_KEYS]
            problems.append(Diagnostic("D104", f"unknown parameter '{name}'", path=f"params.{name}",
                                       hint=did_you_mean(name, candidates)
                                       or "parameters: " + ", ".join(candidates)))
    if isinstance(strat_params.get("execution_frequency"), (list, tuple, range)):
        problems.append(Diagnostic("D103", "execution_frequency takes one value in a backtest",
                                   path="params.execution_frequency"))
    if problems:
        raise RuleEngineError(problems)
    return strat_params, risk


def parse_param_args(strategy: TradingStrategy, args: Sequence[str]) -> dict[str, Any]:
    """``["fast=20", "stop_loss_pct=4", "execution_price=open"]`` -> typed values (by each declared type).

    Risk overrides are numbers (``max_hold_days``/``max_hold_bars`` whole numbers); ``none`` removes one.
    """
    out: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    for arg in args:
        name, eq, text = arg.partition("=")
        name, text = name.strip(), text.strip()
        if not eq or not name:
            problems.append(Diagnostic("D103", f"--param expects name=value, got '{arg}'", path="params",
                                       hint="e.g. --param fast=20 --param stop_loss_pct=4"))
            continue
        try:
            out[name] = _typed(strategy, name, text)
        except ValueError as exc:
            problems.append(Diagnostic("D103", str(exc), path=f"params.{name}"))
        except KeyError:
            candidates = [*strategy.params, *RISK_KEYS]
            problems.append(Diagnostic("D104", f"unknown parameter '{name}'", path=f"params.{name}",
                                       hint=did_you_mean(name, candidates)
                                       or "parameters: " + ", ".join(candidates)))
    if problems:
        raise RuleEngineError(problems)
    return out


def _typed(strategy: TradingStrategy, name: str, text: str) -> Any:
    p = strategy.params.get(name)
    kind = p.type if p is not None else ("int" if name in _INT_RISK else "float" if name in RISK_KEYS else None)
    if kind is None:
        raise KeyError(name)
    if p is None and text.lower() in ("none", "null", "off"):
        return None
    if kind == "enum":
        return text
    if kind == "bool":
        low = text.lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise ValueError(f"parameter '{name}' is true/false, got '{text}'")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"parameter '{name}' is a number, got '{text}'") from None
    if kind == "int":
        if not number.is_integer():
            raise ValueError(f"parameter '{name}' is a whole number, got '{text}'")
        return int(number)
    return number


# ------------------------------------------------------------------------------------------ checks


def _compile(strategy: Any) -> Any:
    from ..compile.compiled import CompiledStrategy, compile_strategy

    return strategy if isinstance(strategy, CompiledStrategy) else compile_strategy(strategy)


def _check_options(init_cash: Any, engine: str, portfolio: bool) -> None:
    problems = []
    if isinstance(init_cash, bool) or not isinstance(init_cash, (int, float)) or not math.isfinite(init_cash) \
            or init_cash <= 0:
        problems.append(Diagnostic("D103", f"init_cash must be a positive amount, got {init_cash!r}",
                                   path="init_cash", hint="e.g. --init-cash 10000"))
    if engine not in ENGINES:
        problems.append(Diagnostic("D103", f"unknown engine '{engine}'", path="engine",
                                   hint="one of: " + ", ".join(ENGINES)))
    elif engine != "numba" and portfolio:
        problems.append(Diagnostic("D103", "portfolio backtests run on the numba engine only", path="engine"))
    if problems:
        raise RuleEngineError(problems)


def _usable_columns(md: Any, base: str, universe: bool, warnings: list[Diagnostic]) -> list[int]:
    """Columns whose prices can be traded: not all missing in the range, none <= 0 (a single run raises)."""
    if md.start >= md.n_rows:
        raise RuleEngineError([Diagnostic("D111", "the requested range holds no bar", path="start",
                                          hint="choose a range with trading sessions")])
    keep: list[int] = []
    problems: list[Diagnostic] = []
    price_keys = [k for k in md.inputs if k[1] in ("open", "high", "low", "close")]
    for j, label in enumerate(md.labels):
        bad: Diagnostic | None = None
        close = md.inputs[(base, "close")][md.start:, j]
        if not np.isfinite(close).any():
            bad = Diagnostic("D111", f"{label}: every price in the requested range is missing (NaN)",
                             path="symbols", hint="check the dates and the data file")
        for slot, col in price_keys:
            if bad is not None:
                break
            x = md.inputs[(slot, col)][:, j]
            nonpos = np.flatnonzero(x <= 0)  # NaN compares False: missing bars are not flagged
            if len(nonpos):
                when = _time_text(md.index[nonpos[0]], md.frequency)
                bad = Diagnostic("D114", f"{label}: {slot}.{col} is {x[nonpos[0]]:g} on {when}; prices must "
                                 "be positive", path=f"data.{slot}",
                                 hint="fix the data (a bad print?) or choose another range")
        if bad is None:
            keep.append(j)
        elif universe:
            warnings.append(Diagnostic("D116", bad.message + "; skipped", severity="warning", path="symbols"))
        else:
            problems.append(bad)
    if problems:
        raise RuleEngineError(problems)
    if not keep:
        raise RuleEngineError([Diagnostic("D111", "no symbol has usable prices in the requested range",
                                          path="symbols", hint="check the symbols, the dates and the data")])
    return keep


# ------------------------------------------------------------------------------------------ benchmark


class _Bench:
    """Benchmark closes aligned to the run bars, or None to use each run's own symbol."""

    def __init__(self, symbol: str | None, close: np.ndarray | None, synthetic: bool) -> None:
        self.symbol, self.close, self.synthetic = symbol, close, synthetic


@lru_cache(maxsize=16)
def _bench_strategy(slot_frequency: str) -> Any:
    from ..compile.compiled import compile_strategy

    return compile_strategy({"name": "benchmark", "data": {"prices": {"kind": "ohlcv", "frequency": slot_frequency,
                                                                      "columns": ["close"]}},
                             "entry": ["close > 0"]})


def _benchmark(symbol: str | None, md: Any, base: str, keep: list[int], data: str | None, no_cache: bool,
               start: Any, end: Any, warnings: list[Diagnostic], portfolio: bool, slot_frequency: str) -> _Bench:
    """The benchmark's closes on the run bars, fetched like the traded slot (same provider and frequency)."""
    from ..data.market import load_market_data

    if not symbol:
        return _Bench(None, None, md.synthetic)
    traded = {md.runs[j][base] for j in keep}
    if traded == {symbol} and not portfolio:
        return _Bench(symbol, md.inputs[(base, "close")][md.start:, keep[0]], md.synthetic)
    index = md.index[md.start:]
    lo = start if start is not None else _time_text(index[0], "1Day")
    try:
        bm = load_market_data(_bench_strategy(slot_frequency), symbol, lo, end,
                              params={"execution_frequency": md.frequency}, provider=md.providers.get(base),
                              data=data, warmup_bars=0, no_cache=no_cache)
    except RuleEngineError as exc:
        warnings.append(Diagnostic("D121", f"benchmark {symbol} is not available ({exc.diagnostics[0].message});"
                                   " using each run's own symbol", severity="warning", path="benchmark"))
        return _Bench(None, None, md.synthetic)
    series = pd.Series(bm.inputs[("prices", "close")][:, 0], index=bm.index).dropna()
    close = series.reindex(index, method="ffill").to_numpy(dtype=np.float64)
    if not np.isfinite(close).any():
        warnings.append(Diagnostic("D121", f"benchmark {symbol} has no prices on the run's bars; using each "
                                   "run's own symbol", severity="warning", path="benchmark"))
        return _Bench(None, None, md.synthetic)
    return _Bench(symbol, close, bm.synthetic)


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


# ------------------------------------------------------------------------------------------ results


class _Context:
    """What every run of one backtest shares; builds the `RunResult`s."""

    def __init__(self, *, md: Any, base: str, keep: list[int], init_cash: float, sets: list[dict[str, Any]],
                 risks: list[Any], bench: _Bench, strategy: TradingStrategy) -> None:
        self.md, self.base, self.keep, self.init_cash = md, base, keep, init_cash
        self.sets, self.risks, self.bench, self.strategy = sets, risks, bench, strategy
        self.index = md.index[md.start:]
        self.times = _times_text(self.index, md.frequency)
        self.grid_keys = [k for k in sets[0] if len({repr(s[k]) for s in sets}) > 1]
        self.by_column: dict[int, np.ndarray] | None = None  # run column -> rows of `columns`
        self.columns: dict[str, np.ndarray] = {}

    def split_trades(self, trades: pd.DataFrame) -> None:
        """Index the trades by run column once, as plain arrays (filtering the table per run is quadratic)."""
        t = _with_text_times(trades, self.md.frequency)
        self.columns = {c: t[c].to_numpy() for c in t.columns}
        order = np.argsort(self.columns["column"], kind="stable")
        cols = self.columns["column"][order]
        starts = np.searchsorted(cols, np.arange(int(cols.max()) + 2 if len(cols) else 1))
        self.by_column = {c: order[starts[c]:starts[c + 1]] for c in range(len(starts) - 1)}

    def _grid_text(self, p: int) -> str:
        """`` [fast=10, slow=50]`` for a run of a parameter grid, else empty."""
        if not self.grid_keys:
            return ""
        return " [" + ", ".join(f"{k}={self.sets[p][k]}" for k in self.grid_keys) + "]"

    def run(self, sim: Any, col: int) -> RunResult:
        """Independent run `col` of the simulation (parameter set major, symbol minor)."""
        k = len(self.keep)
        p, j = divmod(col, k)
        sym_col = self.keep[j]
        close = self.md.inputs[(self.base, "close")][self.md.start:, sym_col]
        # A universe's bars are the union of its symbols' bars: a run covers its own symbol's bars only
        # (a later listing or an earlier end does not dilute CAGR, Sharpe or exposure).
        valid = np.flatnonzero(np.isfinite(close))
        lo, hi = int(valid[0]), int(valid[-1]) + 1
        trades: Any = (_Rows(self.columns, self.by_column.get(col, np.empty(0, dtype=np.int64)))
                       if self.by_column is not None else sim.trades[sim.trades["column"] == col])
        label = self.md.labels[sym_col] + self._grid_text(p)
        own = self.bench.close is None
        bench_close = close if own else self.bench.close
        bench_symbol = self.md.runs[sym_col][self.base] if own else self.bench.symbol
        s0 = self.md.start
        return self._result(label, dict(self.md.runs[sym_col]), p, (lo, hi), sim.equity[s0 + lo:s0 + hi, col],
                            sim.position[s0 + lo:s0 + hi, col], trades, {col: self.md.labels[sym_col]},
                            close[lo:hi], bench_close[lo:hi], bench_symbol, [self.md.runs[sym_col]])

    def portfolio_run(self, sim: Any, p: int) -> RunResult:
        """The portfolio of parameter set `p` (its simulation has one column per kept symbol)."""
        runs = [self.md.runs[j] for j in self.keep]
        symbols = {slot: [r[slot] for r in runs] for slot in runs[0]}
        closes = self.md.inputs[(self.base, "close")][self.md.start:, self.keep]
        if self.bench.close is not None:
            bench_close, bench_symbol = self.bench.close, self.bench.symbol
        else:  # equal weights of the members, each normalised to its first close
            first = np.array([c[np.isfinite(c)][0] for c in closes.T])
            bench_close = np.nanmean(pd.DataFrame(closes).ffill().to_numpy() / first, axis=1)
            bench_symbol = "equal-weight members"
        label = f"portfolio of {len(runs)}" + self._grid_text(p)
        names = {c: self.md.labels[j] for c, j in enumerate(self.keep)}
        return self._result(label, symbols, p, (0, len(self.times)), sim.equity[self.md.start:, 0],
                            sim.position[self.md.start:], sim.trades, names, None, bench_close, bench_symbol, runs)

    def _result(self, label: str, symbols: dict[str, Any], p: int, span: tuple[int, int], equity: np.ndarray,
                position: np.ndarray, trades: pd.DataFrame, names: dict[int, str], close: np.ndarray | None,
                bench_close: np.ndarray, bench_symbol: str | None, runs: list[dict[str, str]]) -> RunResult:
        md = self.md
        lo, hi = span
        times = self.times[lo:hi]
        bench_equity, bench_ret = buy_and_hold(bench_close, self.init_cash)
        metrics = compute_metrics(equity, trades, init_cash=self.init_cash, index=self.index[lo:hi],
                                  frequency=md.frequency, position=position, benchmark_return_pct=bench_ret)
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
        risk = self.risks[p].to_dict()
        run = RunResult(
            label=label, symbols=symbols, params=dict(self.sets[p]), metrics=metrics,
            benchmark=Benchmark(symbol=bench_symbol, total_return_pct=metrics.benchmark_return_pct,
                                synthetic=self.bench.synthetic),
            trades=self._trades(trades, names, md.start + lo),
            equity=EquityCurve.model_construct(time=times, value=np.asarray(equity, dtype=np.float64).tolist()),
            fill_contract=FILL_CONTRACT, risk=risk,
            data=DataInfo(providers=dict(md.providers), synthetic=bool(md.synthetic), frequency=md.frequency,
                          start=times[0] if times else None, end=times[-1] if times else None, bars=len(times)),
            warnings=[w.to_dict() for w in warnings])
        run._close = close
        run._benchmark_equity = bench_equity
        return run

    def _trades(self, trades: pd.DataFrame, names: dict[int, str], offset: int) -> list[Trade]:
        """The run's trades as models, built column-wise (values come from our engine: no re-validation)."""
        if len(trades) == 0:
            return []
        t = trades if isinstance(trades, _Rows) else _with_text_times(trades, self.md.frequency)
        cols = {c: np.asarray(t[c]).tolist() for c in ("column", "entry_price", "exit_price", "size", "pnl",
                                                       "pnl_pct", "exit_reason", "entry_bar", "exit_bar",
                                                       "_entry_text", "_exit_text")}
        fees = np.asarray(t["fees"]).tolist() if "fees" in t.columns else [0.0] * len(t)
        out = []
        for i in range(len(t)):
            c = int(cols["column"][i])
            out.append(Trade.model_construct(
                symbol=names.get(c, str(c)), entry_time=cols["_entry_text"][i], exit_time=cols["_exit_text"][i],
                entry_price=float(cols["entry_price"][i]), exit_price=float(cols["exit_price"][i]),
                size=float(cols["size"][i]), pnl=float(cols["pnl"][i]), pnl_pct=float(cols["pnl_pct"][i]),
                fees=float(fees[i]), exit_reason=str(cols["exit_reason"][i]),
                entry_bar=int(cols["entry_bar"][i]) - offset, exit_bar=int(cols["exit_bar"][i]) - offset))
        return out


class _Rows:
    """Some rows of a trade table held as column arrays: ``rows["pnl"]``, ``len(rows)``, ``rows.columns``."""

    def __init__(self, columns: dict[str, np.ndarray], rows: np.ndarray) -> None:
        self._columns, self._rows = columns, rows
        self.columns = list(columns)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name][self._rows]

    def __len__(self) -> int:
        return len(self._rows)


def _with_text_times(trades: pd.DataFrame, frequency: str) -> pd.DataFrame:
    """The trades with their entry/exit times as text (`_time_text`), computed for all rows at once."""
    if "_entry_text" in trades.columns:
        return trades
    out = trades.copy()
    for col, name in (("entry_time", "_entry_text"), ("exit_time", "_exit_text")):
        out[name] = _times_text(pd.DatetimeIndex(pd.to_datetime(out[col])), frequency)
    return out


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
    idle = [r.label for r in results if r.metrics.total_trades == 0]
    if idle and (universe or len(results) > 1):
        names = ", ".join(idle[:10]) + (f" (+{len(idle) - 10} more)" if len(idle) > 10 else "")
        out.append(Diagnostic("D119", f"{len(idle)} of {len(results)} runs made no trades: {names}",
                              severity="warning", path="entry"))
    elif idle:
        out += [Diagnostic(**{k: v for k, v in w.items() if k in ("code", "message", "path", "hint", "severity")})
                for w in results[0].warnings if w["code"] == "D119"]
    return out


def _provenance(strat: TradingStrategy, params: Mapping[str, Any] | None, risk_over: dict[str, Any],
                symbols: Any, md: Any, init_cash: float, portfolio: bool, engine: str,
                bench_symbol: str | None) -> Provenance:
    index = md.index[md.start:]
    given = dict(params or {})
    values = {**strat.default_params(), **{k: v for k, v in given.items() if k in strat.params}}
    return Provenance(
        strategy_name=strat.name, strategy_hash=strategy_hash(strat), params=_jsonable(values),
        risk_overrides=_jsonable(risk_over), symbols=_jsonable(symbols),
        start=_time_text(index[0], md.frequency) if len(index) else None,
        end=_time_text(index[-1], md.frequency) if len(index) else None, frequency=md.frequency,
        init_cash=float(init_cash), portfolio=portfolio, engine=engine, benchmark=bench_symbol,
        versions=package_versions(engine == "vectorbt"), created_at=pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


__all__ = ["ENGINES", "RISK_KEYS", "backtest", "buy_and_hold", "parse_param_args", "split_params",
           "strategy_hash"]
