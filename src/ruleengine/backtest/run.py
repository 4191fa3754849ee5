"""`backtest()`: strategy + symbols + range -> `BacktestResult` (stages 5-8 in one call; the CLI uses it too).

Steps: the strategy as a signal source (`ruleengine.strategies.signal_source`: rules or code); split
``params`` into strategy parameters and risk overrides (`RISK_KEYS` and ``execution_price`` go to
`resolve_risk`); `load_data`; check the prices (none missing everywhere, none <= 0); its ``signals``;
`simulate` (independent runs, one column per symbol x parameter set) or `simulate_portfolio`
(``portfolio=True``: shared cash per parameter set); the benchmark; metrics per run.

- **Runs**: one symbol or a ``{slot: symbol}`` mapping is one run; a universe gives one independent run per
  symbol. Symbols without data are skipped with the data layer's D116 warning (a single run raises instead);
  so are symbols whose prices are all missing or not positive (a single run raises D111 / D114).
- **Parameter grids**: list values of strategy parameters give one run per combination and symbol
  (risk overrides take one value).
- **Benchmark**: buy and hold of `benchmark` (SPY by default) bought at the close of the run's first bar
  without fees, fetched with the traded slot's provider over the same range; when it cannot be fetched (or
  ``benchmark=None``) each run's own traded symbol (a portfolio: its members, equally weighted), with a D121
  warning.
  A universe (several symbols, ``@sp500``) has a second benchmark beside it: the equal-weight buy and hold of
  the same point-in-time universe (`universe_benchmark`), from the same initial cash, without fees.
- **Warnings** are Diagnostic records: D116 (skipped symbols), D119 (a run made no trades: a valid result),
  D120 (synthetic data), D121 (benchmark replaced).

Example:
    >>> res = backtest("rules/golden_cross.yaml", "SPY", "2015-01-01", "2017-12-29")  # doctest: +SKIP
    >>> res.results[0].metrics.total_trades  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from ..schema.load import document_warnings
from .build import _Bench, _Context, _provenance, _summary_warnings, _time_text, buy_and_hold
from .idle import check_warmup, explain_idle
from .params import RISK_KEYS, RunRequest, check_init_cash, parse_param_args, split_params
from .result import BacktestResult, gc_paused
from .risk import fill_contract, resolve_risk, uses_sizing, uses_trade_exits
from .rotation import RotationResult
from .simulation import DISTANCE_KINDS, ENGINES, unusable_distances
from .universe_benchmark import equal_weight_universe

Progress = Callable[[int, int, str], None]


def backtest(strategy: Any, symbols: Any, start: Any = None, end: Any = None,
             params: Mapping[str, Any] | None = None, provider: str | None = None, data: str | None = None,
             init_cash: float = 10_000, portfolio: bool = False, benchmark: str | None = "SPY",
             engine: str = "numba", progress: Progress | None = None, no_cache: bool = False
             ) -> BacktestResult | RotationResult:
    """Backtest a strategy on one symbol, a slot mapping, or a universe.

    Args:
        strategy: a path, YAML/JSON text, dict, `TradingStrategy` or a `SignalSource` (``compile_strategy``).
        symbols: ``"SPY"``, ``"SPY,QQQ"``, a list, ``"asset_a=GLD,asset_b=SLV"``, a mapping or ``"@file"``;
            or a `MarketData` from `ruleengine.load_data` (data already in memory: it is used as it is, with
            its own range and warm-up history, and `start`, `end`, `provider`, `data` only serve the benchmark).
        start, end: the requested range (inclusive dates; warm-up history is fetched before `start`).
        params: parameter values and risk overrides, e.g. ``{"fast": 20, "stop_loss_pct": 4,
            "execution_price": "open"}``.
        provider, data: ``--provider`` and ``--data`` of the data layer; `no_cache` bypasses its cache.
        init_cash: starting cash of each run (of the whole portfolio with ``portfolio=True``).
        portfolio: one portfolio with shared cash instead of independent runs per symbol (a rotation strategy
            is always one portfolio: it returns a `RotationResult`); each entry takes
            position_size_pct of the equity, 5 % when neither the document nor `params` sets it, and the
            entries the cash left cannot cover are skipped and reported (``RunResult.skipped_entries``, D130).
        benchmark: symbol bought and held for comparison (None: each run's own symbol).
        engine: ``"numba"`` (our kernel) or ``"vectorbt"`` (the oracle, independent runs only).
        progress: called as ``progress(done, total, step)`` before each step and once at the end with
            ``done == total`` (total is 0 until the data are loaded); the CLI's progress bar.

    Raises:
        RuleEngineError: bad strategy, parameters, symbols, dates or data (structured diagnostics).
    """
    from ..data.market import MarketData, load_market_data
    from .simulation import portfolio_risk, simulate, simulate_portfolio

    compiled = _compile(strategy)
    strat = compiled.strategy
    _check_options(init_cash, engine, portfolio)
    if strat.rotation is not None and engine != "numba":
        raise RuleEngineError([Diagnostic("S143", f"a rotation portfolio runs on the numba engine, not {engine}",
                                          path="rotation", hint="leave out the engine (numba is the default)")])
    if engine != "numba":
        from .pairs import refuse_pairs

        refuse_pairs(strat, f"the {engine} engine", "that engine is vectorbt's from_signals, one instrument per "
                     "column with its own stops, while a pair's legs open and close together and its stops and "
                     "position variables act on the pair's combined value",
                     "run it on the default engine (engine=\"numba\"); tests/test_pairs.py checks that engine's "
                     "pairs against vectorbt's from_orders (every leg in one cash-sharing group)")
    req = RunRequest(symbols, start, end, provider, data, init_cash, dict(params or {}))
    strat_params, risk_over = split_params(strat, params)
    sets = compiled.param_sets(strat_params or None)  # D103/D104 before any data is fetched
    risks = [resolve_risk(strat, {**risk_over, "execution_price": s["execution_price"]}) for s in sets]
    if portfolio:
        risks = [portfolio_risk(r) for r in risks]
    steps, total_steps = [0], [0]  # steps done; the total is unknown until the data say how many runs

    def tick(step: str) -> None:
        """Report the steps done so far and the one starting now."""
        if progress is not None:
            progress(steps[0], total_steps[0], step)
        steps[0] += 1

    tick("loading data")
    if isinstance(symbols, MarketData):
        md = _given_market(symbols, compiled, strat_params)
    else:
        md = load_market_data(compiled.data_request(strat_params or None), symbols, start, end, provider=provider,
                              data=data, no_cache=no_cache)
    warnings: list[Diagnostic] = [*document_warnings(strat), *md.warnings]
    if strat.rotation is not None:  # one shared account rebalanced to target weights
        from .rotation import backtest_rotation

        base = strat.price_slot()
        bench = _benchmark(benchmark, md, base, list(range(md.n_cols)), req, no_cache, warnings, True,
                           strat.data[base].frequency, fallback="no index-like benchmark (the universe's "
                                                                "equal-weight buy and hold stays)")
        return backtest_rotation(compiled, md, strat_params, risk_over, float(init_cash), warnings, bench)
    universe = len(md.runs) + len(md.skipped) > 1
    base = strat.traded_slot() or next(s for s, _ in md.inputs)
    keep = usable_columns(md, base, warnings, universe=universe)
    k = len(keep)
    total_runs = len(sets) if portfolio else len(sets) * k
    total_steps[0] = 4 + total_runs
    tick("computing signals")
    sig = compiled.signals(md, strat_params or None)
    short = check_warmup(compiled, md, base, keep, sig.param_sets)  # D172: a window longer than the data
    n_sets, n_sym = sig.n_sets, md.n_cols
    cols = [p * n_sym + s for p in range(n_sets) for s in keep]
    prices = {c: _take_columns(md.inputs[(base, c)], keep * n_sets) for c in ("open", "high", "low", "close")}
    tick("simulating")
    pair = strat.pair
    prices_b = None if pair is None else \
        {c: _take_columns(md.inputs[(pair.legs[1], c)], keep * n_sets) for c in prices}  # both legs, one position
    if portfolio:  # one account per parameter set
        def part(arrays: dict[str, np.ndarray], p: int) -> dict[str, np.ndarray]:
            return {c: v[:, p * k:(p + 1) * k] for c, v in arrays.items()}

        if pair is not None and prices_b is not None:
            from .pairs import simulate_pair_run

            sims = [simulate_pair_run(pair, part(prices, p), part(prices_b, p), sig.columns(cols[p * k:(p + 1) * k]),
                                      portfolio=True, index=md.index, risk=risks[p], init_cash=float(init_cash),
                                      start=md.start) for p in range(n_sets)]
        else:
            sims = [simulate_portfolio(part(prices, p), index=md.index, risk=risks[p], init_cash=float(init_cash),
                                       start=md.start, **sig.columns(cols[p * k:(p + 1) * k])) for p in range(n_sets)]
        entries = _take_columns(sig.entries, cols)
        if sig.short_entries is not None:  # long_short: a short entry signal is an entry signal too (D119)
            entries = entries | _take_columns(sig.short_entries, cols)
    else:
        per_col = [risks[p] for p in range(n_sets) for _ in keep]
        signals = sig.columns(cols)
        if pair is not None and prices_b is not None:
            from .pairs import simulate_pair_run

            sims = [simulate_pair_run(pair, prices, prices_b, signals, index=md.index, risk=per_col,
                                      init_cash=float(init_cash), start=md.start)]
        else:
            sims = [simulate(prices, index=md.index, risk=per_col, init_cash=float(init_cash), start=md.start,
                             engine=engine, **signals)]
        entries = signals["entries"] if signals["short_entries"] is None else \
            signals["entries"] | signals["short_entries"]  # long_short: both sides' entry signals (D119)
    tick("benchmark")
    bench = _benchmark(benchmark, md, base, keep, req, no_cache, warnings, portfolio, strat.data[base].frequency)
    if universe:  # beside the index-like benchmark: the same universe, equal weight, point in time
        bench.universe = equal_weight_universe(md.inputs[(base, "close")][md.start:, keep],
                                               None if md.members is None else md.members[md.start:, keep],
                                               float(init_cash))
    ctx = _Context(md=md, base=base, keep=keep, init_cash=float(init_cash), sets=sig.param_sets,
                   risks=risks, bench=bench, strategy=strat)
    with gc_paused():  # thousands of small objects that all survive
        results = ([ctx.portfolio_run(sims[p], p) for p in range(n_sets)] if portfolio
                   else ctx.independent_runs(sims[0]))
    for i in range(total_runs):
        tick(f"results {i + 1}/{total_runs}")
    explain_idle(compiled, md, base, keep, sig.param_sets, results, entries, portfolio, short)
    warnings += _summary_warnings(results, md, universe)
    warnings += _distance_warnings(sig, cols, prices["close"], sims, portfolio, k, md.index,
                                   risks[0].execution_price == "open", not strat.entry_order.is_market())
    records = [w.to_dict() for w in warnings]
    if len(results) == 1 and not universe:  # one run: its own reason (with the details) is the result's
        records += [w for w in results[0].warnings if w["code"] in ("D119", "D172")]
    tick("done")
    provenance = _provenance(strat, req, risk_over, md, portfolio, engine, bench.symbol)
    return BacktestResult(results=results, warnings=records, provenance=provenance,
                          fill_contract=fill_contract([strat.direction], strat.pair is not None,
                                                      any(uses_sizing(r) for r in risks),
                                                      uses_trade_exits(risks,
                                                                       sig.exit_program or sig.short_exit_program),
                                                      [strat.entry_order.type], [strat.exit_order.type]))


def _distance_warnings(sig: Any, cols: list[int], close: np.ndarray, sims: list[Any], portfolio: bool, k: int,
                       index: Any, exec_open: bool, orders: bool = False) -> list[Diagnostic]:
    """L123: trades whose stop / take-profit distance was not positive (or missing) at the entry signal's bar
    (an order's: the bar that placed it), and which therefore had no such exit (one warning per kind, with the
    count and the first trades)."""
    kinds = [kind for kind in DISTANCE_KINDS if kind in sig.levels]
    if not kinds:
        return []
    found: dict[str, list[tuple[int, int]]] = {}
    for p, sim in enumerate(sims):
        part = slice(p * k, (p + 1) * k) if portfolio else slice(None)
        levels = {kind: _take_columns(sig.levels[kind], cols)[:, part] for kind in kinds}
        placed = _take_columns(sig.entries, cols)[:, part] if orders else None
        placed_short = (_take_columns(sig.short_entries, cols)[:, part]
                        if orders and sig.short_entries is not None else None)
        for kind, bad in unusable_distances(sim.trades, levels, close[:, part], exec_open, placed,
                                            placed_short).items():
            found.setdefault(kind, []).extend(bad)
    out = []
    for kind, bad in found.items():
        first = ", ".join(str(index[t].date()) for t, _ in sorted(bad)[:3])
        out.append(distance_warning(kind, f"{len(bad)} trade{'s' if len(bad) != 1 else ''} had",
                                    f"first entries: {first}", "backtest"))
    return out


def distance_warning(kind: str, who: str, detail: str, stage: str) -> Diagnostic:
    """Warning L123 for distance `kind` (`DISTANCE_KINDS`): "<who> no stop loss / take profit: ..." with
    `detail` in parentheses; the backtest's and the sweep's (`stage`) say it in the same words."""
    exit_name = "stop loss" if kind.startswith("stop") else "take profit"
    return Diagnostic("L123", f"{who} no {exit_name}: {kind} was not positive (or missing) at the entry signal's "
                      f"bar ({detail})", path=f"risk.{kind}", severity="warning", stage=stage,
                      hint=f"make {kind} positive wherever an entry can fire, e.g. max(..., 0.01) or an entry "
                      "condition that needs the indicator")


def _take_columns(x: np.ndarray, columns: list[int]) -> np.ndarray:
    """``x[:, columns]`` as a column-major array (what the engine reads) in one copy."""
    return x.T[columns].T


def _given_market(md: Any, compiled: Any, strat_params: Mapping[str, Any]) -> Any:
    """Already-loaded market data, checked to fit the strategy (D102 / D103 when it does not)."""
    strat = compiled.strategy
    problems: list[Diagnostic] = []
    base = strat.price_slot()
    needed = {(s, c) for s, cols in compiled.required_columns().items() for c in cols}
    bars = ("open", "close") if strat.rotation is not None else ("open", "high", "low", "close")  # a rotation
    needed |= {(base, c) for c in bars} if base else set()  # fills at a close or an open, stops read high/low
    for slot, col in sorted(needed - set(md.inputs)):
        problems.append(Diagnostic("D102", f"the market data has no column '{slot}.{col}'", path=f"data.{slot}",
                                   hint="load it with ruleengine.load_data(strategy, ...) for this strategy"))
    freq = strat_params.get("execution_frequency", strat.default_params().get("execution_frequency", "1Day"))
    if not isinstance(freq, list) and freq != md.frequency:
        problems.append(Diagnostic("D103", f"the market data has {md.frequency} bars, the run asks for {freq}",
                                   path="params.execution_frequency",
                                   hint="load the data with the same execution_frequency"))
    if problems:
        raise RuleEngineError(problems)
    return md


# ------------------------------------------------------------------------------------------ checks


_COMPILED: dict[tuple[str | None, str], Any] = {}  # (file, document text) -> CompiledStrategy, recent ones


def _compile(strategy: Any) -> Any:
    """The strategy as a signal source; a file or text compiled before (same path, same text) is reused.

    Parsing the conditions is most of a one-symbol backtest's fixed cost; the text is read on every call,
    so an edited file is compiled again."""
    from ..source import read_source
    from ..strategies import signal_source

    if not isinstance(strategy, (str, Path)):
        return signal_source(strategy)
    src = read_source(strategy)
    key = (src.origin, src.text)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = signal_source(strategy)
        if compiled.document is not None and compiled.document.source.text == src.text:  # unchanged meanwhile
            if len(_COMPILED) >= 16:
                _COMPILED.pop(next(iter(_COMPILED)))
            _COMPILED[key] = compiled
    return compiled


def _check_options(init_cash: Any, engine: str, portfolio: bool) -> None:
    problems = [d for d in (check_init_cash(init_cash),) if d is not None]
    if engine not in ENGINES:
        problems.append(Diagnostic("D103", f"unknown engine '{engine}'", path="engine",
                                   hint="one of: " + ", ".join(ENGINES)))
    elif engine != "numba" and portfolio:
        problems.append(Diagnostic("D103", "portfolio backtests run on the numba engine only", path="engine"))
    if problems:
        raise RuleEngineError(problems)


def usable_columns(md: Any, base: str, warnings: list[Diagnostic], start_row: int | None = None,
                   end_row: int | None = None, universe: bool | None = None) -> list[int]:
    """Market columns that can be traded in rows [start_row, end_row) (default: the requested range): a close
    there, and no price <= 0 up to end_row. In a universe the others are skipped with a D116 warning; a single
    run raises. Shared by `backtest` and `ruleengine.sweep`."""
    r0 = md.start if start_row is None else start_row
    r1 = md.n_rows if end_row is None else end_row
    if universe is None:
        universe = md.n_cols + len(getattr(md, "skipped", [])) > 1
    if r0 >= r1:
        raise RuleEngineError([Diagnostic("D111", "the requested range holds no bar", path="start",
                                          hint="choose a range with trading sessions")])
    keep: list[int] = []
    problems: list[Diagnostic] = []
    price_keys = [k for k in md.inputs if k[1] in ("open", "high", "low", "close")]
    # whole-matrix checks first (a universe has hundreds of columns); messages only for the flagged ones
    missing = ~np.isfinite(md.inputs[(base, "close")][r0:r1]).any(axis=0)
    with np.errstate(invalid="ignore"):
        nonpos = {k: md.inputs[k][:r1] <= 0 for k in price_keys}  # NaN compares False: gaps are not flagged
    flagged = {k: v.any(axis=0) for k, v in nonpos.items()}
    for j, label in enumerate(md.labels):
        bad: Diagnostic | None = None
        if missing[j]:
            bad = Diagnostic("D111", f"{label}: every price in the requested range is missing (NaN)",
                             path="symbols", hint="check the dates and the data file")
        for slot, col in price_keys:
            if bad is not None:
                break
            if flagged[(slot, col)][j]:
                t = int(nonpos[(slot, col)][:, j].argmax())
                when = _time_text(md.index[t], md.frequency)
                bad = Diagnostic("D114", f"{label}: {slot}.{col} is {md.inputs[(slot, col)][t, j]:g} on {when}; "
                                 "prices must be positive", path=f"data.{slot}",
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


def _bench_request(slot_frequency: str, execution: str) -> Any:
    """The benchmark's bars: one price slot at the traded slot's frequency, no history before the start."""
    from ..data.request import BAR_COLUMNS, DataRequest
    from ..schema.strategy import DataSlot

    return DataRequest({"prices": DataSlot(kind="ohlcv", frequency=slot_frequency, columns=["close"])},
                       {"prices": BAR_COLUMNS}, warmup_bars=0, frequency=execution, price_slot="prices")


def _benchmark(symbol: str | None, md: Any, base: str, keep: list[int], req: RunRequest, no_cache: bool,
               warnings: list[Diagnostic], portfolio: bool, slot_frequency: str,
               fallback: str = "using each run's own symbol") -> _Bench:
    """The benchmark's closes on the run bars, fetched like the traded slot (same provider and frequency);
    `fallback` says in the D121 warning what stands in when it cannot be had."""
    from ..data.market import load_market_data

    if not symbol:
        return _Bench(None, None, md.synthetic)
    traded = {md.runs[j][base] for j in keep}
    if traded == {symbol} and not portfolio:
        return _Bench(symbol, md.inputs[(base, "close")][md.start:, keep[0]], md.synthetic)
    index = md.index[md.start:]
    lo = req.start if req.start is not None else _time_text(index[0], "1Day")
    try:
        bm = load_market_data(_bench_request(slot_frequency, md.frequency), symbol, lo, req.end,
                              provider=md.providers.get(base), data=req.data, no_cache=no_cache)
    except RuleEngineError as exc:
        warnings.append(Diagnostic("D121", f"benchmark {symbol} is not available ({exc.diagnostics[0].message});"
                                   f" {fallback}", severity="warning", path="benchmark"))
        return _Bench(None, None, md.synthetic)
    series = pd.Series(bm.inputs[("prices", "close")][:, 0], index=bm.index).dropna()
    close = series.reindex(index, method="ffill").to_numpy(dtype=np.float64)
    if not np.isfinite(close).any():
        warnings.append(Diagnostic("D121", f"benchmark {symbol} has no prices on the run's bars; {fallback}",
                                   severity="warning", path="benchmark"))
        return _Bench(None, None, md.synthetic)
    return _Bench(symbol, close, bm.synthetic)


__all__ = ["ENGINES", "RISK_KEYS", "backtest", "buy_and_hold", "distance_warning", "parse_param_args",
           "split_params", "usable_columns"]
