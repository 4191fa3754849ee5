"""Metrics of many sweep columns at once, from the fused kernel's accumulators (numpy only, vectorised).

`ruleengine.kernels.sweep_sim` leaves, per (combination x symbol) column, the sums listed there (final
equity, trade counts and sums, the running maximum drawdown, the sums of bar returns, their squares and
their squared negative parts, bars and bars in the market). `metrics_arrays` turns them into the metrics of
`ruleengine.backtest.metrics`, with the same definitions (README, "Metrics"):

- total_return_pct = (final / init_cash - 1) x 100; total_return_dollars = final - init_cash.
- win_rate = wins / trades x 100; avg_win_pct / avg_loss_pct = mean pnl % of winners / losers;
  profit_factor = gross profit / gross loss (undefined without a losing trade); best/worst_trade_pct;
  avg_holding_bars / avg_holding_days = mean bars / calendar days held.
- max_drawdown_pct = the kernel's largest (peak - equity) / peak, x 100 (peak starting at the initial cash).
- sharpe_ratio = mean(r) / std(r, ddof=1) x sqrt(P), with mean = S1 / n and
  var = (S2 - S1^2 / n) / (n - 1) (S1, S2 = sum of r and r^2 over the n finite bar returns);
  sortino_ratio = mean(r) x P / (sqrt(N2 / n) x sqrt(P)) with N2 = sum of min(r, 0)^2.
- cagr_pct = ((final / init_cash) ^ (P / bars) - 1) x 100 (-100 when the equity is gone);
  calmar_ratio = CAGR / max drawdown (fractions); exposure_pct = bars in the market / bars x 100.
- Undefined values (no trades, < 2 returns, no variance, no drawdown, no downside) are NaN here and None in
  the JSON, exactly where `compute_metrics` gives None.
- A strategy that trades short (direction short or long_short) also gets `SIDE_METRICS`, the long/short split
  of `ruleengine.backtest.metrics.side_metrics`: <side>_trades, <side>_win_rate (winners / trades x 100, NaN
  without trades) and <side>_pnl (the side's summed trade pnl in money).

The sums are accumulated in bar order while numpy's mean/std sum pairwise, so ratios agree with
`compute_metrics` to about 1e-12 relative (the tests require 1e-9), counts and equities exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels import sweep_sim as k

#: the metric columns of a sweep table, in order (the `ruleengine.backtest.result.Metrics` fields less
#: the benchmark and the annualisation factor)
METRICS: tuple[str, ...] = (
    "total_return_pct", "total_return_dollars", "final_equity", "total_trades", "winning_trades",
    "losing_trades", "win_rate", "avg_win_pct", "avg_loss_pct", "profit_factor", "max_drawdown_pct",
    "sharpe_ratio", "sortino_ratio", "cagr_pct", "calmar_ratio", "exposure_pct", "best_trade_pct",
    "worst_trade_pct", "avg_holding_bars", "avg_holding_days",
)
#: the metrics of trades, which a rotation portfolio does not have (it has orders to target weights)
TRADE_METRICS: frozenset[str] = frozenset({
    "total_trades", "winning_trades", "losing_trades", "win_rate", "avg_win_pct", "avg_loss_pct", "profit_factor",
    "best_trade_pct", "worst_trade_pct", "avg_holding_bars", "avg_holding_days"})
#: the metric columns of a rotation sweep: the equity's metrics, then the turnover (`RotationResult`'s)
ROTATION_METRICS: tuple[str, ...] = (*(m for m in METRICS if m not in TRADE_METRICS), "turnover_pct_per_year")
#: the long/short split of a strategy that trades short: (column, `SideMetrics` field) per side
SIDE_FIELDS: tuple[tuple[str, str], ...] = tuple(
    (f"{side}_{name}", field) for side in ("long", "short")
    for name, field in (("trades", "total_trades"), ("win_rate", "win_rate"), ("pnl", "pnl")))
SIDE_METRICS: tuple[str, ...] = tuple(column for column, _ in SIDE_FIELDS)
#: how the split is shown per side (the CLI's and the HTML report's tables): (name, label, unit of
#: `ruleengine.format_metric`)
SIDE_COLUMNS: tuple[tuple[str, str, str], ...] = (("trades", "trades", "n"), ("win_rate", "win rate", "%"),
                                                  ("pnl", "pnl $", "$"))
#: metrics where a lower value ranks first (every other metric ranks the highest value first)
LOWER_IS_BETTER: frozenset[str] = frozenset({"max_drawdown_pct"})
#: integer-valued metrics (kept as int64 columns)
COUNTS: frozenset[str] = frozenset({"total_trades", "winning_trades", "losing_trades", "long_trades",
                                    "short_trades"})


def trades_short(strategy: Any) -> bool:
    """The `TradingStrategy` trades short (direction short or long_short): its sweep table has the long/short
    split, as its backtest has `RunResult.sides`."""
    return bool(strategy.direction != "long")


def metric_names(sides: bool, rotation: bool = False) -> tuple[str, ...]:
    """The metric columns of a sweep table: `METRICS`, then `SIDE_METRICS` for a strategy that trades short
    (`sides`); a long strategy's table is as it was before shorts existed; a rotation's: `ROTATION_METRICS`."""
    if rotation:
        return ROTATION_METRICS
    return METRICS + SIDE_METRICS if sides else METRICS


def _ratio(num: np.ndarray, den: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """num / den where `ok`, else NaN; non-finite results are NaN (None in JSON), as `_finite` does."""
    out = np.full(num.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        np.divide(num, den, out=out, where=ok)
    out[~np.isfinite(out)] = np.nan
    return out


def metrics_arrays(stats: np.ndarray, init_cash: float, periods_per_year: float,
                   sides: bool = False) -> dict[str, np.ndarray]:
    """Metric name -> (C,) array (float64 with NaN for undefined; int64 for the counts), in `metric_names`
    order.

    Args:
        stats: (C, N_STATS) accumulators from `ruleengine.kernels.sweep_sim.sweep_nb`.
        init_cash: the starting cash of every column.
        periods_per_year: bars per year (`ruleengine.backtest.metrics.periods_per_year`).
        sides: add the long/short split (`SIDE_METRICS`; a strategy that trades short).
    """
    s = np.asarray(stats, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != k.N_STATS:
        raise ValueError(f"stats must be (C, {k.N_STATS}), got {s.shape}")
    ppy = float(periods_per_year)
    final, trades, wins, losses = s[:, k.FINAL], s[:, k.TRADES], s[:, k.WINS], s[:, k.LOSSES]
    bars, n = s[:, k.BARS], s[:, k.N_RET]
    has_trades = trades > 0
    out: dict[str, np.ndarray] = {
        "total_return_pct": (final / init_cash - 1.0) * 100.0,
        "total_return_dollars": final - init_cash,
        "final_equity": final.copy(),
        "total_trades": trades.astype(np.int64),
        "winning_trades": wins.astype(np.int64),
        "losing_trades": losses.astype(np.int64),
        "win_rate": _ratio(wins, trades, has_trades) * 100.0,
        "avg_win_pct": _ratio(s[:, k.WIN_PCT], wins, wins > 0),
        "avg_loss_pct": _ratio(s[:, k.LOSS_PCT], losses, losses > 0),
        "profit_factor": _ratio(s[:, k.GROSS_PROFIT], -s[:, k.GROSS_LOSS], -s[:, k.GROSS_LOSS] > 0),
        "best_trade_pct": np.where(has_trades, s[:, k.BEST_PCT], np.nan),
        "worst_trade_pct": np.where(has_trades, s[:, k.WORST_PCT], np.nan),
        "avg_holding_bars": _ratio(s[:, k.HOLD_BARS], trades, has_trades),
        "avg_holding_days": _ratio(s[:, k.HOLD_DAYS], trades, has_trades),
        "exposure_pct": np.where(bars > 0, _ratio(s[:, k.IN_MARKET], bars, bars > 0) * 100.0, 0.0),
    }
    max_dd = s[:, k.MAX_DD] * 100.0
    out["max_drawdown_pct"] = max_dd
    # Sharpe / Sortino (vectorbt's definitions, risk-free rate 0)
    two = n >= 2
    mean = _ratio(s[:, k.RET_SUM], n, two)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(two, (s[:, k.RET_SQ] - s[:, k.RET_SUM] * mean) / np.maximum(n - 1.0, 1.0), np.nan)
    std = np.sqrt(np.maximum(var, 0.0))
    out["sharpe_ratio"] = _ratio(mean, std, two & (std > 0)) * np.sqrt(ppy)
    downside = np.sqrt(_ratio(s[:, k.NEG_SQ], n, two)) * np.sqrt(ppy)
    out["sortino_ratio"] = _ratio(mean * ppy, downside, two & (downside > 0))
    # CAGR and Calmar
    growth = final / init_cash
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cagr = np.where(growth > 0, np.power(np.where(growth > 0, growth, 1.0), ppy / np.maximum(bars, 1.0)) - 1.0,
                        -1.0)
    cagr = np.where((bars > 0) & np.isfinite(cagr), cagr, np.nan)
    out["cagr_pct"] = cagr * 100.0
    out["calmar_ratio"] = _ratio(cagr, max_dd / 100.0, np.isfinite(cagr) & (max_dd > 0))
    for side, at in (("long", k.LONG_TRADES), ("short", k.SHORT_TRADES)):
        n_side = s[:, at]
        out[f"{side}_trades"] = n_side.astype(np.int64)
        out[f"{side}_win_rate"] = _ratio(s[:, at + k.SIDE_WINS], n_side, n_side > 0) * 100.0
        out[f"{side}_pnl"] = s[:, at + k.SIDE_PNL].copy()
    return {name: out[name] for name in metric_names(sides)}


def check_metric(metric: str, sides: bool = False, rotation: bool = False) -> str:
    """`metric` when it names a sweep metric (`metric_names`: a side's only for a strategy that trades short,
    `sides`; no trade metric for a `rotation`); else RuleEngineError D122 with a hint."""
    from ..errors import Diagnostic, RuleEngineError, did_you_mean

    names = metric_names(sides, rotation)
    if metric not in names:
        hint = did_you_mean(str(metric), names) or "one of: " + ", ".join(names)
        if rotation and metric in TRADE_METRICS:
            hint = "a rotation portfolio has orders, not trades; rank by one of: " + ", ".join(names)
        if metric in SIDE_METRICS:
            hint = "the long/short split exists for strategies whose direction is short or long_short; " + hint
        raise RuleEngineError([Diagnostic("D122", f"unknown metric '{metric}'", path="metric", hint=hint)])
    return metric


def rank_order(values: np.ndarray, metric: str) -> np.ndarray:
    """Row order best first: highest value first (lowest for `LOWER_IS_BETTER`), undefined (NaN) last,
    ties in their original order."""
    v = np.asarray(values, dtype=np.float64)
    key = v if metric in LOWER_IS_BETTER else -v
    key = np.where(np.isnan(key), np.inf, key)
    nan_last = np.isnan(v)
    return np.lexsort((np.arange(len(v)), key, nan_last))


__all__ = ["COUNTS", "LOWER_IS_BETTER", "METRICS", "ROTATION_METRICS", "SIDE_COLUMNS", "SIDE_FIELDS", "SIDE_METRICS",
           "TRADE_METRICS", "check_metric", "metric_names", "metrics_arrays", "rank_order", "trades_short"]
