"""Performance metrics of one run, from its equity curve, trades and positions (seed 003's set and more).

Definitions (percentages in percent; `n` = bars of the run, `r` = bar returns of the equity marked at each
close, the first one against the initial cash):

- total_return_pct = (final equity / initial cash - 1) x 100; total_return_dollars = final - initial.
- win/loss: a trade wins when pnl > 0 and loses when pnl < 0 (pnl == 0 is neither, as in seed 003). A position
  still open at the end counts as a trade (exit_reason end_of_data, marked at the last close).
  win_rate = winning / total x 100. avg_win_pct / avg_loss_pct = mean pnl_pct of winners / losers.
- profit_factor = gross profit / gross loss (sum of pnl of winners / |sum of pnl of losers|). Without a losing
  trade it is None: infinity has no JSON form, and None also says "undefined" for 0 trades.
- max_drawdown_pct = largest (peak - equity) / peak x 100, the running peak starting at the initial cash
  (seed 003; vectorbt starts the peak at the first bar's equity: both agree unless the first bar lost money).
- sharpe_ratio = mean(r) / std(r, ddof=1) x sqrt(P) and sortino_ratio = mean(r) x P / (sqrt(mean(min(r, 0)^2))
  x sqrt(P)), risk-free rate 0: vectorbt's `returns.sharpe_ratio` / `sortino_ratio` definitions. seed 003 used
  the population std (ddof=0); we follow vectorbt so that numbers can be checked against it.
- cagr_pct = ((final / initial) ^ (P / n) - 1) x 100 (vectorbt's annualized_return with one year = P bars);
  calmar_ratio = CAGR / max drawdown (both as fractions).
- exposure_pct = share of the run's bars that end with a position held, x 100.
- best/worst_trade_pct = max/min pnl_pct; avg_holding_bars = mean(exit_bar - entry_bar);
  avg_holding_days = mean calendar days from entry time to exit time.
- Undefined values (no trades, no variance, no drawdown) are None; 0 trades gives a valid result.

Checked against vectorbt's returns accessor on a real backtest (tests/test_backtest_metrics.py): total return,
CAGR (``annualized``), Sharpe, Sortino, max drawdown and Calmar, to 1e-9. Trade statistics are checked on
hand-computed cases instead: vectorbt's win rate leaves open trades out, ours counts the end_of_data trade.

Annualisation `P` (`PERIODS_PER_YEAR`) comes from the execution frequency: 252 sessions a year for daily bars,
52 weekly, 12 monthly; intraday 252 x bars per regular session (390 1Min, 78 5Min, 26 15Min, 13 30Min and 7
1Hour bars, the last one of the day 30 minutes long).

Example:
    >>> import numpy as np, pandas as pd
    >>> m = compute_metrics(np.array([100.0, 110.0, 99.0]), None, init_cash=100.0,
    ...                     index=pd.date_range("2020-01-01", periods=3), frequency="1Day")
    >>> round(m.total_return_pct, 6), round(m.max_drawdown_pct, 6)
    (-1.0, 10.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .result import Metrics

#: bars per year by execution frequency (regular sessions only)
PERIODS_PER_YEAR: dict[str, float] = {
    "1Min": 252 * 390, "5Min": 252 * 78, "15Min": 252 * 26, "30Min": 252 * 13, "1Hour": 252 * 7,
    "1Day": 252, "1Week": 52, "1Month": 12,
}


def periods_per_year(frequency: str) -> float:
    """Annualisation factor for bars of `frequency` (252 for ``1Day``)."""
    try:
        return PERIODS_PER_YEAR[frequency]
    except KeyError:
        raise ValueError(f"unknown execution frequency {frequency!r}") from None


def _finite(x: float | None) -> float | None:
    """None for NaN/inf: JSON has no such numbers and they mean 'undefined' here."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def bar_returns(equity: np.ndarray, init_cash: float) -> np.ndarray:
    """Simple returns of each bar's equity against the previous bar's (the first against the initial cash)."""
    eq = np.asarray(equity, dtype=np.float64)
    prev = np.concatenate(([init_cash], eq[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return eq / prev - 1.0


def drawdown_pct(equity: np.ndarray, init_cash: float) -> np.ndarray:
    """Drawdown at each bar in percent (>= 0) from the running peak, which starts at the initial cash."""
    eq = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(np.concatenate(([init_cash], eq)))[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, (peak - eq) / peak * 100.0, 0.0)


def sharpe_ratio(returns: np.ndarray, ppy: float) -> float | None:
    """vectorbt's definition: mean / std(ddof=1) x sqrt(ppy); None with < 2 bars or no variance."""
    r = returns[np.isfinite(returns)]
    if len(r) < 2:
        return None
    std = float(np.std(r, ddof=1))
    if std == 0.0:
        return None
    return _finite(float(np.mean(r)) / std * math.sqrt(ppy))


def sortino_ratio(returns: np.ndarray, ppy: float) -> float | None:
    """vectorbt's definition: mean x ppy / (sqrt(mean(min(r, 0)^2)) x sqrt(ppy)); None without downside."""
    r = returns[np.isfinite(returns)]
    if len(r) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) * math.sqrt(ppy)
    if downside == 0.0:
        return None
    return _finite(float(np.mean(r)) * ppy / downside)


def cagr(final: float, init_cash: float, n_bars: int, ppy: float) -> float | None:
    """Compound annual growth as a fraction over `n_bars` bars with `ppy` bars a year."""
    if n_bars <= 0 or init_cash <= 0:
        return None
    growth = final / init_cash
    if growth <= 0:
        return -1.0
    return _finite(growth ** (ppy / n_bars) - 1.0)


def compute_metrics(equity: np.ndarray, trades: pd.DataFrame | None, *, init_cash: float,
                    index: pd.DatetimeIndex | None = None, frequency: str = "1Day",
                    position: np.ndarray | None = None,
                    benchmark_return_pct: float | None = None) -> Metrics:
    """All metrics of one run (definitions in the module docstring).

    Args:
        equity: (n,) equity at each bar's close over the run (warm-up history excluded).
        trades: one row per trade with ``pnl``, ``pnl_pct`` (percent), ``entry_bar``, ``exit_bar`` and
            ``entry_time``, ``exit_time``; None or empty for no trades.
        init_cash: the starting cash.
        index: the run's bar labels (checked against the equity's length).
        frequency: the execution frequency (annualisation, see `PERIODS_PER_YEAR`).
        position: (n,) or (n, k) units held after each bar (exposure); None means never in the market.
        benchmark_return_pct: the benchmark's buy-and-hold return over the same bars, copied through.
    """
    eq = np.asarray(equity, dtype=np.float64).reshape(-1)
    if index is not None and len(index) != len(eq):
        raise ValueError(f"index has {len(index)} bars, equity {len(eq)}")
    ppy = periods_per_year(frequency)
    n = len(eq)
    final = float(eq[-1]) if n else float(init_cash)
    rets = bar_returns(eq, init_cash) if n else np.empty(0)
    dd = drawdown_pct(eq, init_cash) if n else np.zeros(1)
    max_dd = float(np.nanmax(dd)) if n else 0.0
    growth = cagr(final, init_cash, n, ppy)
    trade_stats = _trade_stats(trades)
    exposure = 0.0
    if position is not None and n:
        pos = np.asarray(position, dtype=np.float64).reshape(n, -1)
        exposure = float(np.mean(np.any(np.nan_to_num(pos) != 0.0, axis=1))) * 100.0
    return Metrics(
        **trade_stats,
        total_return_pct=(final / init_cash - 1.0) * 100.0,
        total_return_dollars=final - init_cash,
        final_equity=final,
        max_drawdown_pct=max_dd,
        sharpe_ratio=sharpe_ratio(rets, ppy),
        sortino_ratio=sortino_ratio(rets, ppy),
        cagr_pct=None if growth is None else growth * 100.0,
        calmar_ratio=_finite(growth / (max_dd / 100.0)) if growth is not None and max_dd > 0 else None,
        exposure_pct=exposure,
        benchmark_return_pct=_finite(benchmark_return_pct),
        periods_per_year=ppy,
    )


def _trade_stats(trades: pd.DataFrame | None) -> dict[str, Any]:
    if trades is None or len(trades) == 0:
        return {"total_trades": 0, "winning_trades": 0, "losing_trades": 0, "win_rate": None,
                "avg_win_pct": None, "avg_loss_pct": None, "profit_factor": None, "best_trade_pct": None,
                "worst_trade_pct": None, "avg_holding_bars": None, "avg_holding_days": None}
    # `trades` is a DataFrame or any mapping of column arrays (the backtest passes array views per run)
    pnl = np.asarray(trades["pnl"], dtype=np.float64)
    pct = np.asarray(trades["pnl_pct"], dtype=np.float64)
    wins, losses = pnl > 0, pnl < 0
    gross_loss = -float(pnl[losses].sum())
    held = (np.asarray(trades["exit_bar"]) - np.asarray(trades["entry_bar"])).astype(np.float64)
    exit_ns = pd.DatetimeIndex(np.asarray(trades["exit_time"])).as_unit("ns").asi8
    entry_ns = pd.DatetimeIndex(np.asarray(trades["entry_time"])).as_unit("ns").asi8
    days = (exit_ns - entry_ns) / 86_400e9
    return {
        "total_trades": len(pnl),
        "winning_trades": int(wins.sum()),
        "losing_trades": int(losses.sum()),
        "win_rate": float(wins.sum()) / len(pnl) * 100.0,
        "avg_win_pct": _finite(pct[wins].mean()) if wins.any() else None,
        "avg_loss_pct": _finite(pct[losses].mean()) if losses.any() else None,
        "profit_factor": _finite(float(pnl[wins].sum()) / gross_loss) if gross_loss > 0 else None,
        "best_trade_pct": _finite(pct.max()),
        "worst_trade_pct": _finite(pct.min()),
        "avg_holding_bars": float(held.mean()),
        "avg_holding_days": _finite(float(np.asarray(days, dtype=np.float64).mean())),
    }


__all__ = ["PERIODS_PER_YEAR", "bar_returns", "cagr", "compute_metrics", "drawdown_pct", "periods_per_year",
           "sharpe_ratio", "sortino_ratio"]
