"""Sweeps and walk-forward of rotation portfolios: many parameter sets, one rebalanced account each.

A rotation strategy (`ruleengine.schema.rotation`) is one portfolio over the universe, so a sweep's row is a
parameter set (one "run", labelled `PORTFOLIO`), not a (set x symbol) column. Its parameters split in two:

- *selection* parameters: those of the ``hold`` / weight expressions and the entry/exit filters (the lookback
  of ``roc(close, lookback)``, the ``n`` of ``top(..., n)``, weighting parameters). They change the compiled
  levels: a chunk's distinct selections are computed in ONE compiler call, so per-symbol series of the same
  lookback are computed once and shared by every ``n`` (the planner interns them);
- *rebalancing* values: the rebalance period (``rotation.rebalance`` naming an enum parameter), the turnover
  band (``min_weight_change_pct`` naming a number parameter), ``execution_price``, ``fees_pct`` and
  ``slippage_pct``. Variants that differ only in these share the levels; each runs the rebalance kernel
  (`ruleengine.kernels.rotation.rebalance_nb`, through `ruleengine.backtest.rotation.rebalance_weights`).

Each variant's equity is what ``ruleengine backtest`` computes for that parameter set (the same target weights,
the same kernel, the same arguments), and its metrics come from `compute_metrics_batch`, bit for bit the
backtest's `compute_metrics`. A window [r0, r1) (walk-forward) trades from r0, flat with the initial cash,
on the data up to r1 (a symbol whose prices end before r1 is delisted there, as at the end of the data).

Example:
    >>> res = sweep("rules/momentum_rotation.yaml", "@sp500", "2008-01-01", "2017-12-29",
    ...             data="../shared/data", grid=["n=5:20:5", "lookback=63,126,252"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import Diagnostic, RuleEngineError

#: the label of a rotation sweep's one run per parameter set (the portfolio over the universe)
PORTFOLIO = "portfolio"
#: the risk fields a rotation reads (the others are per-trade exits and sizing it does not have: S143)
ROTATION_RISK = ("fees_pct", "slippage_pct")


def is_rotation(strategy: Any) -> bool:
    """True for a rotation strategy (a `TradingStrategy`, or anything with ``.strategy``)."""
    strat = getattr(strategy, "strategy", strategy)
    return getattr(strat, "rotation", None) is not None


def rebalancing_names(strategy: Any) -> list[str]:
    """The parameters that change how a rotation rebalances, not what it selects: ``execution_price`` and the
    parameters ``rotation.rebalance`` and ``rotation.min_weight_change_pct`` name."""
    rot = strategy.rotation
    named = [rot.rebalance, rot.min_weight_change_pct]
    return ["execution_price", *[n for n in named if isinstance(n, str) and n in strategy.params]]


def selection_names(strategy: Any) -> list[str]:
    """The parameters of a rotation's levels (selection, weights, filters): every other parameter."""
    skip = {*rebalancing_names(strategy), "execution_frequency"}
    return [p for p in strategy.params if p not in skip]


def check_rotation_names(strategy: Any, names: Sequence[str]) -> None:
    """S143 for swept or fixed risk fields a rotation does not have (stops, targets, sizing)."""
    from ..backtest.params import FILL_NAMES

    bad = [n for n in names if n in FILL_NAMES and n != "execution_price" and n not in ROTATION_RISK]
    if bad:
        raise RuleEngineError([Diagnostic(
            "S143", f"a rotation portfolio has no '{n}': it is sized by its weights and has no per-trade exits",
            path=f"grid.{n}", hint="sweep its parameters, fees_pct or slippage_pct") for n in bad])


def rotation_equity(compiled: Any, market: Any, combos: Sequence[Mapping[str, Any]], r0: int, r1: int,
                    init_cash: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equity and held flags of rows [r0, r1) per combination (two (r1 - r0, len(combos)) arrays) and each
    combination's turnover in % a year (NaN where undefined, as `RotationResult.turnover_pct_per_year`).

    `combos` are full parameter dicts (absent parameters take their defaults, absent fees and slippage the
    document's). The distinct selections are computed in one compiler call; every combination then gets its
    own target weights (its rebalance period) and its own run of the rebalance kernel.
    """
    from ..backtest.metrics import periods_per_year
    from ..backtest.rotation import leave_codes, rebalance_weights, turnover_pct_per_year

    strat = compiled.strategy
    rot = strat.rotation
    defaults = strat.default_params()
    level_names = selection_names(strat)
    keys = [tuple(combo.get(p, defaults.get(p)) for p in level_names) for combo in combos]
    distinct = list(dict.fromkeys(keys))
    which = {k: i for i, k in enumerate(distinct)}
    sig = compiled.rotation_levels(market, [dict(zip(level_names, k, strict=True)) for k in distinct] or None)
    base = strat.price_slot()
    close = np.ascontiguousarray(market.inputs[(base, "close")][:r1])  # bar-major, as the kernel reads it
    open_ = market.inputs.get((base, "open"))
    if open_ is None and any(str({**defaults, **c}["execution_price"]) == "open" for c in combos):
        raise RuleEngineError([Diagnostic("D102", f"the market data has no column '{base}.open'",
                                          path=f"data.{base}.open", hint="load it for execution_price open")])
    open_ = close if open_ is None else np.ascontiguousarray(open_[:r1])  # close fills never read it
    leave = leave_codes(close, None if market.members is None else market.members[:r1])
    periods: dict[str, np.ndarray | None] = {}
    known: dict[str, np.ndarray] = {}  # last known open / close: computed once, read by every variant
    n = len(combos)
    equity = np.empty((r1 - r0, n), order="F")
    held = np.empty((r1 - r0, n), dtype=bool, order="F")
    turnover = np.full(n, np.nan)
    ppy = periods_per_year(market.frequency)
    # one weights array, NaN outside the rebalance rows, which each variant writes and clears (no (T, S) array
    # per variant)
    buffer = np.full((market.n_rows, market.n_cols), np.nan)
    for i, combo in enumerate(combos):
        full = {**defaults, **combo}
        u = which[keys[i]]
        period = rot.rebalance_period(full)
        if period not in periods:
            periods[period] = market.period_ends(period)
        weights = compiled.rotation_targets(market, sig, u, period, periods[period], out=buffer)[:r1]
        run = rebalance_weights(
            weights, open_, close, init_cash=init_cash,
            fees_pct=float(combo.get("fees_pct", strat.risk.fees_pct) or 0.0),
            slippage_pct=float(combo.get("slippage_pct", strat.risk.slippage_pct) or 0.0),
            execution_price=str(full["execution_price"]), min_weight_change_pct=rot.weight_band(full), start=r0,
            leave=leave, last_known=known, keep_units=False)
        buffer[periods[period]] = np.nan  # (every row it wrote is a rebalance row)
        equity[:, i] = run.equity[r0:r1]
        held[:, i] = run.n_held[r0:r1] > 0
        t = turnover_pct_per_year(run.orders, equity[:, i], ppy)
        turnover[i] = np.nan if t is None else t
    return equity, held, turnover


def evaluate_rotation_chunk(compiled: Any, market: Any, combos: Sequence[Mapping[str, Any]], *,
                            init_cash: float, start_row: int, end_row: int) -> np.ndarray:
    """(len(combos), len(ROTATION_METRICS)) metric values (NaN where undefined) of each combination's portfolio
    over rows [start_row, end_row): a sweep chunk of a rotation (`ruleengine.sweep.run.evaluate_chunk`)."""
    from ..backtest.metrics import compute_metrics_batch
    from .stats import ROTATION_METRICS

    out = np.full((len(combos), len(ROTATION_METRICS)), np.nan)
    if not len(combos):
        return out
    equity, held, turnover = rotation_equity(compiled, market, combos, start_row, end_row, init_cash)
    spans = np.tile([0, end_row - start_row], (len(combos), 1))
    for i, m in enumerate(compute_metrics_batch(equity, spans, None, None, init_cash=init_cash,
                                                frequency=market.frequency, held=held)):
        values = {**m.model_dump(), "turnover_pct_per_year": turnover[i]}
        out[i] = [np.nan if values[name] is None else float(values[name]) for name in ROTATION_METRICS]
    return out


def rotation_metrics(values: np.ndarray) -> dict[str, np.ndarray]:
    """Metric name -> (C,) column of `evaluate_rotation_chunk` rows, in `ROTATION_METRICS` order."""
    from .stats import ROTATION_METRICS

    return {name: values[:, j].copy() for j, name in enumerate(ROTATION_METRICS)}


__all__ = ["PORTFOLIO", "ROTATION_RISK", "check_rotation_names", "evaluate_rotation_chunk", "is_rotation",
           "rebalancing_names", "rotation_equity", "rotation_metrics", "selection_names"]
