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
- benchmark_return_pct and universe_benchmark_return_pct are computed by the backtest over the run's bars
  (buy and hold of the benchmark; for a universe, `ruleengine.backtest.universe_benchmark`) and copied through.
- Undefined values (no trades, no variance, no drawdown) are None; 0 trades gives a valid result.

Checked against vectorbt's returns accessor on a real backtest (tests/test_backtest_metrics.py): total return,
CAGR (``annualized``), Sharpe, Sortino, max drawdown and Calmar, to 1e-9. Trade statistics are checked on
hand-computed cases instead: vectorbt's win rate leaves open trades out, ours counts the end_of_data trade.

`compute_metrics_batch` computes the metrics of many runs at once (the backtest's path: one vectorised pass
over the (T, R) equity matrix and the trades grouped by run) and gives the same numbers as `compute_metrics`
bit for bit: every mean is a segment sum rounded like ``np.sum`` of that run's own values (see
`segment_sums`), every other step the same element-wise operation.

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
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .result import Metrics, SideMetrics

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
                    benchmark_return_pct: float | None = None,
                    universe_benchmark_return_pct: float | None = None) -> Metrics:
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
        universe_benchmark_return_pct: the universe benchmark's return over the same bars (a run of a
            universe, `ruleengine.backtest.universe_benchmark`), copied through; None outside a universe.
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
        universe_benchmark_return_pct=_finite(universe_benchmark_return_pct),
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


def side_metrics(trades: Mapping[str, Any], short: np.ndarray) -> dict[str, SideMetrics]:
    """The long/short split of one run's trade statistics (`_trade_stats` of each side's trades).

    Args:
        trades: the run's trade columns ``pnl``, ``pnl_pct``, ``entry_bar``, ``exit_bar``, ``entry_time``,
            ``exit_time`` (times as datetimes or int64 nanoseconds).
        short: a bool per trade, True for a short one.
    """
    out: dict[str, SideMetrics] = {}
    for side, mask in (("long", ~short), ("short", short)):
        cols = {k: np.asarray(trades[k])[mask] for k in ("pnl", "pnl_pct", "entry_bar", "exit_bar", "entry_time",
                                                          "exit_time")}
        stats = _trade_stats(cols if mask.any() else None)
        out[side] = SideMetrics(**stats, pnl=float(cols["pnl"].sum()))
    return out


# ------------------------------------------------------------------------------------------ many runs at once


def segment_sums(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Sums of consecutive segments of `values` (lengths `counts`), each rounded exactly like ``np.sum``.

    ``np.sum`` adds a segment pairwise starting from 0, ``np.add.reduceat`` starting from the segment's
    first value (a different rounding); a 0 put before every segment makes them the same, and an empty
    segment sums to 0.
    """
    return _Segments(np.asarray(counts, dtype=np.int64)).sums(values)


class _Segments:
    """`segment_sums` for several arrays of the same segments, through one padded buffer."""

    def __init__(self, counts: np.ndarray) -> None:
        self.index = np.cumsum(counts) - counts + np.arange(len(counts))  # each segment's 0 in the buffer
        self.buf = np.zeros(int(counts.sum()) + len(counts))
        self.data = np.ones(len(self.buf), dtype=bool)
        self.data[self.index] = False

    def sums(self, values: np.ndarray) -> np.ndarray:
        if not len(self.index):
            return np.zeros(0)
        self.buf[self.data] = values
        return np.add.reduceat(self.buf, self.index)


def compute_metrics_batch(equity: np.ndarray, spans: np.ndarray, trades: Mapping[str, np.ndarray] | None,
                          bounds: np.ndarray | None, *, init_cash: float, frequency: str = "1Day",
                          held: np.ndarray | None = None,
                          benchmark_return_pct: Sequence[float | None] | None = None,
                          universe_benchmark_return_pct: Sequence[float | None] | None = None) -> list[Metrics]:
    """`compute_metrics` of R runs at once, with the same results bit for bit.

    Args:
        equity: (T, R) equity at each bar's close, one column per run (a column-major array is fastest).
        spans: (R, 2) the rows ``[lo, hi)`` of each run's own bars (``lo < hi``); rows outside are ignored.
        trades: column arrays of every run's trades, grouped by run in run order: ``pnl``, ``pnl_pct``,
            ``entry_bar``, ``exit_bar``, and ``entry_ns``, ``exit_ns`` (bar times as int64 nanoseconds);
            None for no trades.
        bounds: (R + 1,) run r's trades are rows ``bounds[r]:bounds[r + 1]`` (None with no trades).
        init_cash: the starting cash of every run.
        frequency: the execution frequency (annualisation).
        held: (T, R) True where the run holds a position at the bar's close (exposure); None: never.
        benchmark_return_pct: one value (or None) per run, copied through.
        universe_benchmark_return_pct: one value (or None) per run, copied through (None: none for any run).
    """
    eq = np.asarray(equity, dtype=np.float64)
    T, R = eq.shape
    ppy = periods_per_year(frequency)
    span = np.asarray(spans, dtype=np.int64).reshape(R, 2)
    lo, hi = span[:, 0], span[:, 1]
    n = hi - lo
    if R and (lo.min() < 0 or hi.max() > T or n.min() < 1):
        raise ValueError("every span must be a non-empty [lo, hi) inside the equity's rows")
    # Large temporaries are few and reused: fresh multi-megabyte arrays cost page faults on every call.
    by_run = eq.T  # (R, T): each run's bars contiguous for column-major equity
    cols = np.arange(T)
    inside = (cols >= lo[:, None]) & (cols < hi[:, None])
    flat = by_run[inside]  # every run's own bars, run after run
    starts = np.cumsum(n) - n
    rets = np.empty_like(flat)  # `bar_returns` of each run: the first bar against the initial cash
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(flat[1:], flat[:-1], out=rets[1:])
        rets[starts] = flat[starts] / init_cash
        rets -= 1.0
    finite = np.isfinite(rets)
    if finite.all():
        count, r = n, rets
    else:
        count, r = np.add.reduceat(finite.astype(np.int64), starts), rets[finite]
    seg = _Segments(count)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = seg.sums(r) / count
        work = np.repeat(mean, count)  # np.std: the squared deviations from the mean, summed
        np.subtract(r, work, out=work)
        np.multiply(work, work, out=work)
        std = np.sqrt(seg.sums(work) / (count - 1))
        np.minimum(r, 0.0, out=work)  # sortino: the downside, squared
        np.multiply(work, work, out=work)
        downside = np.sqrt(seg.sums(work) / count)
        # the running peak starts at the initial cash (bars before a run's first one count as init_cash)
        peak = np.where(cols < lo[:, None], init_cash, by_run)
        np.maximum.accumulate(peak, axis=1, out=peak)
        np.maximum(peak, init_cash, out=peak)
        dd = np.subtract(peak, by_run)  # `drawdown_pct`: (peak - equity) / peak x 100, 0 where peak > 0 fails
        dd /= peak
        dd *= 100.0
    if init_cash <= 0 or np.isnan(peak).any():
        dd[~(peak > 0)] = 0.0
    np.copyto(dd, np.nan, where=~inside)
    max_dd = np.fmax.reduce(dd, axis=1)  # NaN-ignoring max over each run's bars, like np.nanmax
    exposure = np.zeros(R) if held is None else \
        (np.asarray(held, dtype=bool).T & inside).sum(axis=1) / n * 100.0
    stats = _trade_stats_batch(trades, bounds, R)
    bench = [None] * R if benchmark_return_pct is None else list(benchmark_return_pct)
    uni = [None] * R if universe_benchmark_return_pct is None else list(universe_benchmark_return_pct)
    final = by_run[np.arange(R), hi - 1].tolist()
    sqrt_ppy = math.sqrt(ppy)
    out = []
    for i, (f, k, m, s, d, dd_i, x) in enumerate(zip(final, count.tolist(), mean.tolist(), std.tolist(),
                                                     downside.tolist(), max_dd.tolist(), exposure.tolist(),
                                                     strict=True)):
        growth = cagr(f, init_cash, int(n[i]), ppy)
        sortino = None
        if k >= 2 and d * sqrt_ppy != 0.0:
            sortino = _finite(m * ppy / (d * sqrt_ppy))
        st = stats[i]
        out.append(Metrics.model_validate({
            "total_trades": st["total_trades"], "winning_trades": st["winning_trades"],
            "losing_trades": st["losing_trades"], "win_rate": st["win_rate"],
            "total_return_pct": (f / init_cash - 1.0) * 100.0, "total_return_dollars": f - init_cash,
            "final_equity": f, "avg_win_pct": st["avg_win_pct"], "avg_loss_pct": st["avg_loss_pct"],
            "profit_factor": st["profit_factor"], "max_drawdown_pct": dd_i,
            "sharpe_ratio": _finite(m / s * sqrt_ppy) if k >= 2 and s != 0.0 else None,
            "sortino_ratio": sortino, "cagr_pct": None if growth is None else growth * 100.0,
            "calmar_ratio": _finite(growth / (dd_i / 100.0)) if growth is not None and dd_i > 0 else None,
            "exposure_pct": x, "best_trade_pct": st["best_trade_pct"], "worst_trade_pct": st["worst_trade_pct"],
            "avg_holding_bars": st["avg_holding_bars"], "avg_holding_days": st["avg_holding_days"],
            "benchmark_return_pct": _finite(bench[i]), "universe_benchmark_return_pct": _finite(uni[i]),
            "periods_per_year": float(ppy)}))
    return out


def _trade_stats_batch(trades: Mapping[str, np.ndarray] | None, bounds: np.ndarray | None,
                       runs: int) -> list[dict[str, Any]]:
    """`_trade_stats` of every run from trade columns grouped by run."""
    if trades is None or bounds is None or len(trades["pnl"]) == 0:
        return [_trade_stats(None) for _ in range(runs)]
    b = np.asarray(bounds, dtype=np.int64)
    total = np.diff(b)
    pnl = np.asarray(trades["pnl"], dtype=np.float64)
    pct = np.asarray(trades["pnl_pct"], dtype=np.float64)
    wins, losses = pnl > 0, pnl < 0

    def per_run(mask: np.ndarray) -> np.ndarray:
        c = np.concatenate(([0], np.cumsum(mask)))
        return c[b[1:]] - c[b[:-1]]

    n_win, n_loss = per_run(wins), per_run(losses)
    win_pct, win_pnl = segment_sums(pct[wins], n_win), segment_sums(pnl[wins], n_win)
    loss_pct, loss_pnl = segment_sums(pct[losses], n_loss), segment_sums(pnl[losses], n_loss)
    held = (np.asarray(trades["exit_bar"]) - np.asarray(trades["entry_bar"])).astype(np.float64)
    days = (np.asarray(trades["exit_ns"], dtype=np.int64) - np.asarray(trades["entry_ns"], dtype=np.int64)) \
        / 86_400e9
    held_sum, days_sum = segment_sums(held, total), segment_sums(days, total)
    some = total > 0
    best, worst = np.full(runs, np.nan), np.full(runs, np.nan)
    if some.any():
        best[some] = np.maximum.reduceat(pct, b[:-1][some])
        worst[some] = np.minimum.reduceat(pct, b[:-1][some])
    out = []
    # every column has one entry per run (segment sums over `total`, best/worst sized `runs`)
    for t, w, lo_, wp, wl, lp, ll, bt, wt, hs, ds in zip(
            total.tolist(), n_win.tolist(), n_loss.tolist(), win_pct.tolist(), win_pnl.tolist(),
            loss_pct.tolist(), loss_pnl.tolist(), best.tolist(), worst.tolist(), held_sum.tolist(),
            days_sum.tolist(), strict=True):
        if t == 0:
            out.append(_trade_stats(None))
            continue
        gross_loss = -ll
        out.append({
            "total_trades": t, "winning_trades": w, "losing_trades": lo_, "win_rate": float(w) / t * 100.0,
            "avg_win_pct": _finite(wp / w) if w else None, "avg_loss_pct": _finite(lp / lo_) if lo_ else None,
            "profit_factor": _finite(wl / gross_loss) if gross_loss > 0 else None,
            "best_trade_pct": _finite(bt), "worst_trade_pct": _finite(wt),
            "avg_holding_bars": hs / t, "avg_holding_days": _finite(ds / t)})
    return out


__all__ = ["PERIODS_PER_YEAR", "bar_returns", "cagr", "compute_metrics", "compute_metrics_batch", "drawdown_pct",
           "periods_per_year", "segment_sums", "sharpe_ratio", "side_metrics", "sortino_ratio"]
