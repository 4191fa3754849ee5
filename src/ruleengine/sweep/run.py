"""`sweep()`: evaluate a parameter grid (strategy parameters and risk fields) and rank the combinations.

How a sweep runs:

1. The grid (`ruleengine.sweep.grid`: ``--grid`` axes or PARAM_SCHEMA defaults) and the constraints give the
   combinations; random search samples them. Each combination splits into *signal* parameters (the
   strategy's) and *fill* values (risk fields and ``execution_price``): combinations that differ only in
   fill values share one signal column.
2. The data are loaded once (or given as ``market``, e.g. a walk-forward slice), with the history the most
   demanding combination needs (the largest convergence warm-up among the combinations holding an extreme
   value of a signal parameter; the windows are monotone in their parameters).
3. The distinct signal sets are cut into chunks (`chunk_sets`: by a memory budget for the signals, and
   small enough to keep every thread busy). For each chunk, `evaluate_chunk` makes ONE compiler call
   (the source's `signals`: for rules, indicators shared by the chunk's sets are computed once) and runs
   every (combination x symbol) column through the fused kernel `ruleengine.kernels.sweep_sim.sweep_nb`,
   which applies the fill contract and accumulates the metrics without storing trades or equity.
   Only the metrics table is kept: memory does not grow with the number of combinations beyond it.
4. Chunks run through a `Runner` (default `thread_runner`: a pool of ``RULEENGINE_THREADS`` or the usable
   CPUs, at most two chunks per thread in flight; an executor such as Dask passes its own, see `ChunkJob`).
   The kernel releases the GIL, so one thread's kernel runs while another builds its chunk's plan; compiler
   calls are serialised by a lock (the compiled strategy's plan cache is not thread-safe).
   Why nogil threads and not ``numba.prange``: prange needs a thread-safe threading layer for concurrent
   calls from several Python threads (``workqueue`` is not; here numba picks ``omp``), nogil threads need
   none and also overlap the kernels with the compiler's Python work. Measured (benchmarks/README.md,
   "Sweep"): the kernel alone runs in about the same time with prange or two nogil blocks; a fresh sweep is
   dominated by the compiler's plan building (Python, ~50 us per signal set, holding the GIL), so a second
   thread gains little on one machine: processes (the local/Dask executors) are what scale it.
5. `ruleengine.sweep.stats` turns the accumulators into the metrics of `ruleengine.backtest.metrics`
   (same definitions), and `SweepResult` ranks them; `SweepResult.detail` re-runs a row through
   `ruleengine.backtest()`.

Example:
    >>> res = sweep("rules/golden_cross.yaml", "SPY", "2008-01-01", "2017-12-29", data="../shared/data",
    ...             grid=["fast=5:50", "slow=20:200:5", "stop_loss_pct=5"], constraints=["fast < slow"])
    ... # doctest: +SKIP
    >>> res.table.head(), res.best  # doctest: +SKIP
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from ..backtest.params import FILL_NAMES, RunRequest, check_init_cash, check_whole, fill_values, fixed_params
from ..errors import Diagnostic, RuleEngineError
from .budget import check_fits, format_mb, memory_limit_bytes
from .chunks import PreparedChunk, PreparedChunks, plan_chunks
from .grid import RISK_AXES, combinations, default_grid, parse_grid
from .result import SweepResult, build_table
from .rotation import (
    PORTFOLIO,
    check_rotation_names,
    evaluate_rotation_chunk,
    is_rotation,
    rebalancing_names,
    rotation_metrics,
    selection_names,
)
from .stats import check_metric, metrics_arrays, trades_short

Progress = Callable[[int, int, str], None]

#: memory budget for one chunk's signals and the compiler's intermediate values
CHUNK_BUDGET_BYTES = 256 << 20
#: bytes per bar x symbol x signal set assumed for that budget (entries + exits, and float intermediates)
BYTES_PER_VALUE = 32
#: chunk size bounds (signal sets): per-call overhead below; above, memory (the byte budget usually binds
#: first). Grid plans cost ~2 us per set whatever the chunk size (compile/grid_plan.py), so one chunk may be
#: large: fewer chunks, less per-chunk overhead.
MIN_CHUNK, MAX_CHUNK = 64, 4096
_SIGNALS_LOCK = threading.Lock()
_ABSENT = object()  # a name missing from a combination (None is a value: a risk field turned off)


def sweep(strategy: Any, symbols: Any = None, start: Any = None, end: Any = None, *,
          grid: Sequence[str] | Mapping[str, Any] | None = None, constraints: Sequence[str] = (),
          metric: str = "sharpe_ratio", top: int = 20, samples: int | None = None, seed: int = 0,
          params: Mapping[str, Any] | None = None, provider: str | None = None, data: str | None = None,
          init_cash: float = 10_000.0, chunk_size: int | None = None, market: Any = None,
          rows: tuple[int, int] | None = None, progress: Progress | None = None, threads: int | None = None,
          runner: Runner | None = None, memory_mb: float | None = None) -> SweepResult:
    """Evaluate every combination of a grid on the symbols and rank them by `metric`.

    Args:
        strategy: a path, YAML/JSON text, dict, `TradingStrategy` or a `SignalSource`.
        symbols, start, end, provider, data: as for `ruleengine.backtest` (`symbols` is ignored when `market`
            is given; `provider` and `data` are still what `SweepResult.detail` re-runs with).
        grid: ``["fast=5:50:5", "stop_loss_pct=2:10:2"]`` or a mapping of values; None = `default_grid`.
        constraints: expressions every combination must satisfy, e.g. ``["fast < slow"]``.
        metric: the ranking metric (`ruleengine.sweep.stats.METRICS`).
        top: rows shown by `SweepResult.to_json` / `top_backtests`.
        samples, seed: random search: evaluate `samples` combinations drawn without replacement.
        params: fixed values of parameters and risk fields that are not swept.
        init_cash: starting cash of every run.
        chunk_size: signal sets per chunk (default `chunk_sets`).
        market: an already loaded `MarketData` (walk-forward, executors); its requested range is run, or
            `rows`.
        rows: (first, end) rows of the market to trade, e.g. a walk-forward training window (default: the
            requested range, ``market.start`` to the last row).
        progress: called as ``progress(done, total, step)`` (chunks), the CLI's progress bar.
        threads: worker threads of the default runner (``RULEENGINE_THREADS`` or the usable CPUs).
        runner: how chunks are executed (`Runner`; default `thread_runner`): the Dask executor's hook.
        memory_mb: the limit of the sweep's grid-dependent memory (combinations and the results table;
            `ruleengine.sweep.budget`); default ``RULEENGINE_SWEEP_MEMORY_MB`` or 2,048 MB. A sweep that
            would exceed it is refused before it runs (D122, with the largest sample that fits).

    Raises:
        RuleEngineError: bad grid, constraint, metric or parameters; a sweep over the memory limit (D122);
            data errors as in `backtest`.
    """
    from ..backtest.metrics import periods_per_year
    from ..backtest.result import gc_paused

    t0 = time.perf_counter()
    # thousands of small dicts (combinations, parameter sets) survive the call: no cycle scans meanwhile
    with gc_paused():
        compiled = _compile(strategy)
        if not compiled.runs_in_process:
            from .executors import refuse_elsewhere

            refuse_elsewhere(runner)  # before any data is loaded
        strat = compiled.strategy
        rotation = is_rotation(strat)
        sides = trades_short(strat)
        check_metric(metric, sides, rotation)
        _check_options(top, init_cash, chunk_size)
        fixed = fixed_params(strat, params)
        axes = parse_grid(strat, grid) if grid is not None else {
            k: v for k, v in default_grid(strat).items() if k not in fixed}
        if rotation:
            check_rotation_names(strat, [*axes, *fixed])
        both = sorted(set(axes) & set(fixed))
        if both:
            raise RuleEngineError([Diagnostic("D103", f"'{n}' is both swept and fixed", path=f"params.{n}",
                                              hint="remove it from params or from the grid") for n in both])
        freq_axis = axes.get("execution_frequency")
        if freq_axis is not None:
            if len(freq_axis) > 1:
                raise RuleEngineError([Diagnostic("D103", "execution_frequency takes one value in a sweep",
                                                  path="grid.execution_frequency",
                                                  hint="run one sweep per bar frequency")])
            fixed["execution_frequency"] = axes.pop("execution_frequency")[0]
        limit = memory_limit_bytes(memory_mb)
        # the combinations are counted before they are built: a grid that cannot fit even on one run stops here
        combos = combinations(axes, constraints, samples, seed, fixed=_constraint_values(strat, fixed),
                              fits=lambda n: check_fits(n, 1, limit, runs_known=False))
        _tick(progress, 0, 0, "loading data")
        req = RunRequest(symbols, start, end, provider, data, init_cash, dict(params or {}))
        md = market if market is not None else _load(compiled, req, combos, fixed)
        r0, r1 = _rows(md, rows)
        warnings: list[Diagnostic] = list(getattr(md, "warnings", []))
        base = strat.traded_slot() or next(s for s, _ in md.inputs)
        from ..backtest.run import usable_columns

        # a rotation's run is its portfolio over the whole universe: one row per combination
        keep = [0] if rotation else usable_columns(md, base, warnings, r0, r1)
        estimate = check_fits(len(combos), len(keep), limit)
        _tick(progress, 0, 0, f"{len(combos):,} combinations x {len(keep):,} runs: results ~{format_mb(estimate)} "
                              f"(limit {format_mb(limit)})")
        job = ChunkJob(compiled, md, float(init_cash), r0, r1, keep, base)
        signal_names, fill_names = _split_names(strat, rotation)
        cplan = plan_chunks(strat, combos, list(axes), fixed, signal_names, fill_names,
                            lambda n: chunk_size or chunk_sets(md.n_rows, md.n_cols, n, threads))
        order = cplan.order
        if not compiled.runs_in_process:
            # e.g. a code strategy: its signals come from the sandbox's own processes (it does not travel to
            # worker processes; refused above when the caller chose them); chunks run here, one after the
            # other, through the generic signals + fused-kernel path of evaluate_chunk
            runner = thread_runner(1)
        stats = _execute(job, PreparedChunks(cplan), order, len(combos), runner or thread_runner(threads), progress)
        if rotation:
            metrics, labels = rotation_metrics(stats), [PORTFOLIO]
        else:
            metrics = metrics_arrays(stats, float(init_cash), periods_per_year(md.frequency), sides)
            labels = [md.labels[j] for j in keep]
            warnings += distance_warnings(stats, combos, labels)
        table = build_table(combos, list(axes), labels, metrics, metric)
        context = _context(compiled, md, keep, base, req, market is not None or rows is not None, r0, r1)
        result = SweepResult(
            table=table, metric=metric, best={}, n_trials=len(combos), n_symbols=len(keep), elapsed=0.0,
            warnings=[w.to_dict() for w in _summary(warnings, md)], grid=axes, constraints=list(constraints),
            combinations=combos, fixed=fixed, top=int(top), frequency=md.frequency, init_cash=float(init_cash),
            context=context, memory_estimate_mb=estimate / 2**20, memory_limit_mb=limit / 2**20,
            risk=_base_risk(strat, fixed), synthetic=bool(getattr(md, "synthetic", False)),
            price_basis=dict(getattr(md, "price_basis", {})), sides=sides, rotation=rotation)
        first = result.by_combination if len(keep) > 1 else table
        result.best = {**fixed, **combos[int(first["combination"].iloc[0])]}
        result.elapsed = time.perf_counter() - t0
        _tick(progress, len(order), len(order), "done")
        return result


# ----------------------------------------------------------------------------------------- execution


@dataclass
class ChunkJob:
    """What every chunk of one sweep shares; ``job.run(combos)`` is `evaluate_chunk` on it.

    A `Runner` receives the job and the chunks (sequences of full parameter dicts: `sweep` gives
    `chunks.PreparedChunk` objects, whose distinct sets are already known) and returns each chunk's
    accumulators in chunk order: ``(len(chunk) x len(job.columns), N_STATS)``, combination-major. A runner
    that also splits the symbols calls ``job.run(chunk, columns=part)`` per part of ``job.columns`` and
    interleaves the parts back (rows are combination-major, column-minor).
    """

    compiled: Any
    market: Any
    init_cash: float
    start_row: int
    end_row: int
    columns: list[int]
    base: str

    @property
    def width(self) -> int:
        """Values per result row: the fused kernel's accumulators, or a rotation's metrics (`sweep.rotation`)."""
        from ..kernels.sweep_sim import N_STATS
        from .stats import ROTATION_METRICS

        return len(ROTATION_METRICS) if is_rotation(self.compiled) else N_STATS

    def run(self, combos: Sequence[Mapping[str, Any]], columns: Sequence[int] | None = None) -> np.ndarray:
        return evaluate_chunk(self.compiled, self.market, combos, init_cash=self.init_cash,
                              start_row=self.start_row, end_row=self.end_row,
                              columns=self.columns if columns is None else columns, base=self.base)


Runner = Callable[[ChunkJob, Sequence[Sequence[dict[str, Any]]]], Iterable[np.ndarray]]


def thread_runner(threads: int | None = None) -> Runner:
    """The default runner: chunks on a pool of `threads` threads (the kernel releases the GIL, so one
    chunk's kernel runs while another chunk's plan is built); one thread runs them in turn. Stopping the
    iteration early (an error, Ctrl-C) cancels the chunks not started yet."""
    from concurrent.futures import ThreadPoolExecutor

    from ..compile.execute import default_threads

    def run(job: ChunkJob, chunks: Sequence[Sequence[dict[str, Any]]]) -> Iterator[np.ndarray]:
        workers = min(threads or default_threads(), len(chunks))
        if workers <= 1:
            for chunk in chunks:
                yield job.run(chunk)
            return
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ruleengine-sweep")
        ahead = 2 * workers  # chunks in flight at most: memory stays bounded whatever the grid size
        try:
            futures = {i: pool.submit(job.run, chunks[i]) for i in range(min(ahead, len(chunks)))}
            for i in range(len(chunks)):
                result = futures.pop(i).result()
                if i + ahead < len(chunks):
                    futures[i + ahead] = pool.submit(job.run, chunks[i + ahead])
                yield result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    return run


def _execute(job: ChunkJob, chunks: Sequence[Sequence[dict[str, Any]]], order: list[np.ndarray], n: int,
             runner: Runner, progress: Progress | None) -> np.ndarray:
    """Run the chunks and scatter their rows into one (n x columns, N_STATS) array in combination order."""
    k = len(job.columns)
    stats = np.empty((n * k, job.width), dtype=np.float64)
    results = iter(runner(job, chunks))
    try:
        for i, rows in enumerate(order):
            _tick(progress, i, len(order), f"chunk {i + 1}/{len(order)}")
            part = next(results)
            stats[(rows[:, None] * k + np.arange(k)[None, :]).ravel()] = part
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    return stats


# ----------------------------------------------------------------------------------------- the unit of work


def evaluate_chunk(compiled: Any, market: Any, combos: Sequence[Mapping[str, Any]], *,
                   init_cash: float = 10_000.0, start_row: int | None = None, end_row: int | None = None,
                   columns: Sequence[int] | None = None, base: str | None = None) -> np.ndarray:
    """Fill-contract accumulators of every (combination x column) of `market`: the unit an executor ships.

    A pure function of its inputs: one compiler call for the distinct signal sets of `combos`, then the
    fused kernel over every column, single-threaded (callers parallelise over chunks).

    Args:
        compiled: the `SignalSource` (``compile_strategy``).
        market: a `MarketData` (`ruleengine.data.market`).
        combos: a `chunks.PreparedChunk`, or full parameter dicts (strategy parameters and risk fields;
            absent strategy parameters take their defaults, absent risk fields the document's risk and the
            timeframe defaults).
        init_cash: starting cash of every column.
        start_row, end_row: the rows [start_row, end_row) of `market` to trade (default: its requested
            range, ``market.start`` to the end); each column runs from its first to its last bar in them.
        columns: the market columns (runs) to evaluate (default all).
        base: the price slot traded (default the strategy's price slot).

    Returns:
        (len(combos) x len(columns), N_STATS) float64, rows combination-major, column-minor; turn them into
        metrics with `ruleengine.sweep.stats.metrics_arrays`. A rotation strategy has one run per combination
        (its portfolio over every column: `columns` is ``[0]``) and gives its metric values instead
        (`ruleengine.sweep.rotation.evaluate_rotation_chunk`).
    """
    import pandas as pd

    from ..backtest.pairs import hedge_levels
    from ..backtest.simulation import exit_program_arrays, level_array, risk_arrays, side_signals
    from ..kernels.sweep_sim import N_STATS, sweep_nb, sweep_pairs_nb

    strat = compiled.strategy
    if is_rotation(strat):
        return evaluate_rotation_chunk(compiled, market, list(combos), init_cash=float(init_cash),
                                       start_row=market.start if start_row is None else int(start_row),
                                       end_row=market.n_rows if end_row is None else int(end_row))
    base = base or strat.traded_slot() or next(s for s, _ in market.inputs)
    cols = np.arange(market.n_cols, dtype=np.int64) if columns is None else np.asarray(columns, dtype=np.int64)
    r0 = market.start if start_row is None else int(start_row)
    r1 = market.n_rows if end_row is None else int(end_row)
    n, k = len(combos), len(cols)
    out = np.empty((n * k, N_STATS), dtype=np.float64)
    if n == 0 or k == 0:
        return out
    if isinstance(combos, PreparedChunk):  # sweep(): distinct sets and risk specs found for the whole grid
        sig_sets, risks, u, r = combos.sig_sets, combos.risks, combos.u, combos.r
    else:
        sig_sets, risks, u, r = _dedupe(strat, combos)
    with _SIGNALS_LOCK:  # the compiled strategy's plan cache is not thread-safe
        sig = compiled.signals(market, sig_sets)
    prices = [np.ascontiguousarray(market.inputs[(base, c)].T) for c in ("open", "high", "low", "close")]
    lo, hi = run_rows(market.inputs[(base, "close")], r0, r1)
    times = np.ascontiguousarray(pd.DatetimeIndex(market.index).as_unit("ns").asi8, dtype=np.int64)
    rk = np.repeat(r, k)
    fill = risk_arrays(risks)
    sym = np.tile(cols, n)
    signal_cols = np.repeat(u, k) * market.n_cols + sym
    shape = sig.entries.shape
    pair = strat.pair
    given = dict(sig.levels)
    if pair is not None:
        given["hedge_ratio"] = hedge_levels(pair, given, shape)
    # before fill[rk]: writes the level rows into every record
    levels = level_array(given, shape, fill, sig.exit_program, sig.short_exit_program)
    sides = (np.ascontiguousarray(sig.entries.T), np.ascontiguousarray(sig.exits.T),
             side_signals(sig.short_entries, shape, "short_entries"),
             side_signals(sig.short_exits, shape, "short_exits"), levels)
    rest = (times, lo, hi, sym, signal_cols, fill[rk])
    program = exit_program_arrays(sig.exit_program, sig.short_exit_program)
    if pair is None:
        sweep_nb(*prices, *sides, *program, *rest, float(init_cash), out, 0, n * k)
    else:  # both legs as one position: the second leg's bars beside the first's
        legs_b = [np.ascontiguousarray(market.inputs[(pair.legs[1], c)].T) for c in ("open", "high", "low", "close")]
        sweep_pairs_nb(*prices, *legs_b, *sides, *program, *rest, pair.sizing == "hedge_ratio_units", r1,
                       float(init_cash), out, 0, n * k)
    return out


def _dedupe(strat: Any, combos: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[Any],
                                                                     np.ndarray, np.ndarray]:
    """Distinct signal sets and risk specs of full parameter dicts, and which each combination uses."""
    from ..backtest.risk import resolve_risk

    signal_names = [p for p in strat.params if p != "execution_price"]
    sig_index: dict[tuple[Any, ...], int] = {}
    risk_index: dict[tuple[Any, ...], int] = {}
    sig_sets: list[dict[str, Any]] = []
    risks: list[Any] = []
    u = np.empty(len(combos), dtype=np.int64)
    r = np.empty(len(combos), dtype=np.int64)
    for i, combo in enumerate(combos):
        skey = tuple(map(combo.get, signal_names, repeat(_ABSENT)))
        j = sig_index.get(skey)
        if j is None:
            j = sig_index[skey] = len(sig_sets)
            sig_sets.append({p: v for p, v in zip(signal_names, skey, strict=True) if v is not _ABSENT})
        u[i] = j
        rkey = tuple(map(combo.get, FILL_NAMES, repeat(_ABSENT)))  # None is a value here (a stop turned off)
        j = risk_index.get(rkey)
        if j is None:
            j = risk_index[rkey] = len(risks)
            risks.append(resolve_risk(strat, {p: v for p, v in zip(FILL_NAMES, rkey, strict=True) if v is not _ABSENT}))
        r[i] = j
    return sig_sets, risks, u, r


def run_rows(close: np.ndarray, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the rows [lo, hi) from its first to its last close in rows [r0, r1) (lo = hi: none).

    These are the bars `ruleengine.backtest` computes a run's metrics on (a universe's union of bars is cut
    to each symbol's own).
    """
    valid = np.isfinite(np.asarray(close)[r0:r1])
    has = valid.any(axis=0)
    first = np.argmax(valid, axis=0)
    last = valid.shape[0] - 1 - np.argmax(valid[::-1], axis=0)
    lo = np.where(has, r0 + first, r0).astype(np.int64)
    hi = np.where(has, r0 + last + 1, r0).astype(np.int64)
    return lo, hi


# ----------------------------------------------------------------------------------------- planning


def chunk_sets(n_rows: int, n_cols: int, n_sets: int, threads: int | None = None) -> int:
    """Signal sets per chunk: within `CHUNK_BUDGET_BYTES`, and at least one chunk per thread when the grid
    is large enough. (Two per thread overlapped one chunk's plan building with another's kernel while plans
    were built set by set; grid plans cost ~2-3 ms a chunk, so fewer chunks are faster.)"""
    from ..compile.execute import default_threads

    budget = max(1, CHUNK_BUDGET_BYTES // max(1, BYTES_PER_VALUE * n_rows * n_cols))
    workers = threads or default_threads()
    spread = math.ceil(n_sets / workers) if workers > 1 else n_sets
    return int(max(1, min(budget, MAX_CHUNK, max(MIN_CHUNK, spread))))


def _tick(progress: Progress | None, done: int, total: int, step: str) -> None:
    if progress is not None:
        progress(done, total, step)


# ----------------------------------------------------------------------------------------- inputs


def _compile(strategy: Any) -> Any:
    from ..strategies import signal_source

    return signal_source(strategy)


def _split_names(strat: Any, rotation: bool) -> tuple[list[str], list[str]]:
    """The parameters that change the signals (one compiler call per distinct set of them) and the values that
    only change the fills; a rotation's rebalance period and turnover band are of the second kind."""
    if not rotation:
        return [n for n in strat.params if n != "execution_price"], list(FILL_NAMES)
    rebalancing = rebalancing_names(strat)
    return selection_names(strat), [*FILL_NAMES, *[n for n in rebalancing if n not in FILL_NAMES]]


def _check_options(top: Any, init_cash: Any, chunk_size: Any) -> None:
    checks = [check_whole("top", top, 1, "e.g. top=20"), check_init_cash(init_cash),
              None if chunk_size is None else check_whole("chunk_size", chunk_size, 1,
                                                           "signal parameter sets per chunk, e.g. 512")]
    problems = [d for d in checks if d is not None]
    if problems:
        raise RuleEngineError(problems)


def _base_risk(strat: Any, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """The risk every combination starts from: the document's, the fixed overrides, the timeframe's defaults."""
    from ..backtest.risk import resolve_risk

    return resolve_risk(strat, fill_values(fixed)).to_dict()


def _constraint_values(strat: Any, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """Values constraints may read besides the swept names: defaults, the resolved risk, fixed values."""
    risk = _base_risk(strat, fixed)
    return {**strat.default_params(), **{k: risk[k] for k in RISK_AXES if k in risk}, **fixed}


def _load(compiled: Any, req: RunRequest, combos: list[dict[str, Any]], fixed: Mapping[str, Any]) -> Any:
    """The market data with the history the most demanding combination needs."""
    from ..data.market import load_market_data

    strat = compiled.strategy
    scalars = {k: v for k, v in fixed.items() if k in strat.params}
    request = compiled.data_request(scalars).with_overrides(warmup_bars=_history(compiled, combos, scalars))
    return load_market_data(request, req.symbols, req.start, req.end, provider=req.provider, data=req.data)


def _history(compiled: Any, combos: list[dict[str, Any]], fixed: Mapping[str, Any]) -> int:
    """Convergence warm-up of the combinations holding the lowest or highest value of a signal parameter."""
    strat = compiled.strategy
    names = [p for p in strat.params if p != "execution_price" and any(p in c for c in combos[:1])]
    picks = {0}
    for p in names:
        values = [c[p] for c in combos]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            picks.add(int(np.argmax(values)))
            picks.add(int(np.argmin(values)))
    sets = [{**{k: v for k, v in fixed.items() if k != "execution_price"},
             **{p: combos[i][p] for p in names}} for i in sorted(picks)]
    return int(compiled.converge_bars(sets))


def _rows(md: Any, rows: tuple[int, int] | None) -> tuple[int, int]:
    """The traded rows [r0, r1) of the market: `rows`, or its requested range."""
    if rows is None:
        return int(md.start), int(md.n_rows)
    try:
        r0, r1 = (int(x) for x in rows)
    except (TypeError, ValueError):
        r0, r1 = -1, -1
    if not 0 <= r0 < r1 <= md.n_rows:
        raise RuleEngineError([Diagnostic("D122", f"rows must be (first, end) with 0 <= first < end <= "
                                          f"{md.n_rows}, got {rows!r}", path="rows",
                                          hint=f"the market data have {md.n_rows} rows")])
    return r0, r1


def distance_warnings(stats: np.ndarray, combos: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> \
        list[Diagnostic]:
    """L123 of a sweep, one warning per distance kind that was unusable at some entry (the kernel's NO_STOP /
    NO_TARGET counts, rows combination-major over `labels`): how many combinations had such trades, and the
    combination with the most (summed over its symbols; its symbol with the most when there are several)."""
    from ..backtest.run import distance_warning
    from ..backtest.simulation import DISTANCE_KINDS
    from ..kernels.sweep_sim import NO_STOP, NO_TARGET

    n, k = len(combos), len(labels)
    out = []
    for kind, at in zip(DISTANCE_KINDS, (NO_STOP, NO_TARGET), strict=True):
        counts = stats[:, at].reshape(n, k)
        per_combination = counts.sum(axis=1)
        hit = int((per_combination > 0).sum())
        if not hit:
            continue
        worst = int(np.argmax(per_combination))
        params = ", ".join(f"{name}={'off' if v is None else v}" for name, v in combos[worst].items())
        where = f", {int(counts[worst].max())} on {labels[int(np.argmax(counts[worst]))]}" if k > 1 else ""
        trades = f"{int(per_combination[worst])} trade{'s' if per_combination[worst] != 1 else ''}{where}"
        if n == 1:  # one combination (a walk-forward test window, a hold-out): no "1 of 1", no "most"
            out.append(distance_warning(kind, "trades with", trades, "sweep"))
            continue
        out.append(distance_warning(
            kind, f"{hit} of {n} combinations had trades with",
            f"most: combination {worst} ({params or 'the only one'}), {trades}", "sweep"))
    return out


def _summary(warnings: list[Diagnostic], md: Any) -> list[Diagnostic]:
    out = list(warnings)
    if getattr(md, "synthetic", False):
        tickers = sorted({s for r in md.runs for s in r.values()})
        shown = ", ".join(f"{t}'s" for t in tickers[:10]) + (f" (+{len(tickers) - 10} more)"
                                                            if len(tickers) > 10 else "")
        out.append(Diagnostic("D120", f"SYNTHETIC data: not {shown} real prices", severity="warning",
                              path="data", hint="use --data PATH or a market-data provider for real prices"))
    return out


def _context(compiled: Any, md: Any, keep: list[int], base: str, req: RunRequest, given: bool, r0: int,
             r1: int) -> dict[str, Any]:
    """What `SweepResult.detail` needs to re-run a row through `ruleengine.backtest`."""
    start, end = req.start, req.end
    if given:  # a MarketData passed in (or a row range): the traded rows as dates (UTC times intraday)
        from ..data.frames import INTRADAY

        fmt = "%Y-%m-%dT%H:%M:%SZ" if md.frequency in INTRADAY else "%Y-%m-%d"
        start, end = md.index[r0].strftime(fmt), md.index[r1 - 1].strftime(fmt)
    runs: dict[str, Any] = {md.labels[j]: dict(md.runs[j]) for j in keep}
    if is_rotation(compiled):  # the portfolio re-runs over the universe it was given (membership included)
        runs = {PORTFOLIO: req.symbols if req.symbols is not None else list(md.labels)}
    return {"strategy": compiled, "runs": runs, "universe": [md.labels[j] for j in range(md.n_cols)] if
            is_rotation(compiled) else list(runs), "start": start,
            "end": end, "provider": req.provider, "data": req.data, "base": base, "history": int(md.start),
            "rows": (r0, r1)}


__all__ = ["CHUNK_BUDGET_BYTES", "ChunkJob", "Runner", "chunk_sets", "distance_warnings", "evaluate_chunk", "run_rows",
           "sweep", "thread_runner"]
