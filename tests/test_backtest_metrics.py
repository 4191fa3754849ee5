"""Backtest metrics: hand-computed small cases, edge cases (no trades, no losers), and vectorbt's own
returns statistics on a real SPY backtest where the definitions match (total return, CAGR = vectorbt's
annualized return, Sharpe, Sortino, max drawdown, Calmar)."""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pandas as pd
import pytest

from ruleengine.backtest.metrics import (
    PERIODS_PER_YEAR,
    bar_returns,
    compute_metrics,
    drawdown_pct,
    periods_per_year,
)
from ruleengine.backtest.result import Metrics

IDX4 = pd.date_range("2021-01-04", periods=4, freq="B", tz="UTC")


@pytest.fixture(autouse=True)
def clean_env(provider_env_cleared):
    """Provider defaults from the environment (an FMP key, RULEENGINE_PROVIDER) must not change these runs."""


def _trades(rows: list[tuple[float, float, int, int, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["pnl", "pnl_pct", "entry_bar", "exit_bar", "entry_time", "exit_time"])


def test_equity_metrics_by_hand() -> None:
    equity = np.array([100.0, 110.0, 99.0, 108.9])
    m = compute_metrics(equity, None, init_cash=100.0, index=IDX4, frequency="1Day")
    r = [0.0, 0.1, -0.1, 0.1]  # bar returns, the first against the initial cash
    assert np.allclose(bar_returns(equity, 100.0), r, rtol=0, atol=1e-15)
    assert m.total_return_pct == pytest.approx(8.9, abs=1e-12)
    assert m.total_return_dollars == pytest.approx(8.9, abs=1e-12)
    assert m.final_equity == 108.9
    assert m.max_drawdown_pct == pytest.approx(10.0, abs=1e-12)  # 110 -> 99
    sharpe = statistics.mean(r) / statistics.stdev(r) * math.sqrt(252)
    assert m.sharpe_ratio == pytest.approx(sharpe, rel=1e-12)
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / 4) * math.sqrt(252)
    assert m.sortino_ratio == pytest.approx(statistics.mean(r) * 252 / downside, rel=1e-12)
    cagr = 1.089 ** (252 / 4) - 1
    assert m.cagr_pct == pytest.approx(cagr * 100, rel=1e-12)
    assert m.calmar_ratio == pytest.approx(cagr / 0.10, rel=1e-12)
    assert m.exposure_pct == 0.0 and m.periods_per_year == 252
    assert m.total_trades == 0 and m.win_rate is None and m.profit_factor is None


def test_trade_metrics_by_hand() -> None:
    trades = _trades([(100.0, 10.0, 0, 3, "2021-01-04", "2021-01-07"),
                      (-50.0, -5.0, 4, 6, "2021-01-08", "2021-01-12"),
                      (0.0, 0.0, 7, 8, "2021-01-13", "2021-01-14"),
                      (30.0, 3.0, 9, 14, "2021-01-15", "2021-01-22")])
    m = compute_metrics(np.full(15, 100.0), trades, init_cash=100.0, frequency="1Day",
                        benchmark_return_pct=12.5)
    assert (m.total_trades, m.winning_trades, m.losing_trades) == (4, 2, 1)  # pnl == 0 is neither
    assert m.win_rate == 50.0
    assert m.avg_win_pct == 6.5 and m.avg_loss_pct == -5.0
    assert m.profit_factor == pytest.approx(130.0 / 50.0, rel=1e-15)
    assert m.best_trade_pct == 10.0 and m.worst_trade_pct == -5.0
    assert m.avg_holding_bars == (3 + 2 + 1 + 5) / 4
    assert m.avg_holding_days == (3 + 4 + 1 + 7) / 4
    assert m.benchmark_return_pct == 12.5


def test_no_losing_trade_gives_json_safe_profit_factor() -> None:
    trades = _trades([(10.0, 1.0, 0, 1, "2021-01-04", "2021-01-05")])
    m = compute_metrics(np.array([100.0, 110.0]), trades, init_cash=100.0)
    assert m.profit_factor is None and m.avg_loss_pct is None and m.losing_trades == 0
    assert m.win_rate == 100.0
    data = json.loads(m.model_dump_json())  # strict JSON: no Infinity / NaN tokens
    assert data["profit_factor"] is None


def test_zero_trades_and_flat_equity() -> None:
    m = compute_metrics(np.full(10, 5_000.0), _trades([]), init_cash=5_000.0)
    assert m.total_trades == 0 and m.winning_trades == 0 and m.losing_trades == 0
    assert m.total_return_pct == 0.0 and m.max_drawdown_pct == 0.0 and m.exposure_pct == 0.0
    for name in ("win_rate", "avg_win_pct", "avg_loss_pct", "profit_factor", "sharpe_ratio", "sortino_ratio",
                 "calmar_ratio", "best_trade_pct", "worst_trade_pct", "avg_holding_bars", "avg_holding_days"):
        assert getattr(m, name) is None, name
    assert m.cagr_pct == 0.0
    assert "NaN" not in m.model_dump_json() and "Infinity" not in m.model_dump_json()


def test_drawdown_peak_starts_at_initial_cash() -> None:
    # The first bar already lost money (an entry with fees): the drawdown counts from the initial cash.
    dd = drawdown_pct(np.array([95.0, 97.0, 90.0]), 100.0)
    assert np.allclose(dd, [5.0, 3.0, 10.0], rtol=0, atol=1e-12)
    assert compute_metrics(np.array([95.0, 97.0, 90.0]), None, init_cash=100.0).max_drawdown_pct == \
        pytest.approx(10.0, abs=1e-12)


def test_exposure_and_sortino_without_downside() -> None:
    pos = np.array([0.0, 2.0, 2.0, 0.0, 1.0])
    m = compute_metrics(np.array([100.0, 100.0, 101.0, 102.0, 103.0]), None, init_cash=100.0, position=pos)
    assert m.exposure_pct == 60.0
    assert m.sortino_ratio is None  # no negative bar: downside deviation 0
    # a portfolio: in the market when any column holds units
    m2 = compute_metrics(np.full(4, 1.0), None, init_cash=1.0, position=np.array([[0, 0], [1, 0], [0, 0], [0, 3]]))
    assert m2.exposure_pct == 50.0


def test_annualisation_factors() -> None:
    assert periods_per_year("1Day") == 252 and periods_per_year("1Week") == 52 and periods_per_year("1Month") == 12
    assert periods_per_year("1Hour") == 252 * 7 and periods_per_year("1Min") == 252 * 390
    assert set(PERIODS_PER_YEAR) == {"1Min", "5Min", "15Min", "30Min", "1Hour", "1Day", "1Week", "1Month"}
    with pytest.raises(ValueError):
        periods_per_year("2Day")
    hourly = compute_metrics(np.array([100.0, 101.0, 100.5]), None, init_cash=100.0, frequency="1Hour")
    assert hourly.cagr_pct == pytest.approx((1.005 ** (1764 / 3) - 1) * 100, rel=1e-12)


def test_total_loss_and_index_length() -> None:
    m = compute_metrics(np.array([50.0, 0.0]), None, init_cash=100.0)
    assert m.total_return_pct == -100.0 and m.cagr_pct == -100.0 and m.max_drawdown_pct == 100.0
    with pytest.raises(ValueError):
        compute_metrics(np.array([1.0, 2.0]), None, init_cash=1.0, index=IDX4)
    assert isinstance(m, Metrics)


@pytest.mark.realdata
def test_matches_vectorbt_returns_statistics(shared_data) -> None:
    """On a real SPY backtest, our equity statistics equal vectorbt's (one year = 252 daily bars)."""
    import vectorbt  # noqa: F401  (registers the .vbt accessor; the oracle must be installed)

    from ruleengine.backtest.run import backtest

    res = backtest("rules/golden_cross.yaml", "SPY", "2008-01-01", "2017-12-29", data=str(shared_data),
                   params={"fast": 20, "slow": 100, "fees_pct": 0.1}, benchmark=None)
    run = res.results[0]
    assert run.metrics.total_trades >= 10
    equity = pd.Series(run.equity.value, index=pd.to_datetime(run.equity.time))
    assert equity.iloc[0] == 10_000.0  # no entry on the first bar: both drawdown conventions agree
    acc = equity.vbt.returns.from_value(equity, init_value=10_000.0, freq="1D", year_freq="252 days")
    m = run.metrics
    assert m.total_return_pct == pytest.approx(acc.total() * 100, rel=1e-9)
    assert m.cagr_pct == pytest.approx(acc.annualized() * 100, rel=1e-9)
    assert m.sharpe_ratio == pytest.approx(acc.sharpe_ratio(), rel=1e-9)
    assert m.sortino_ratio == pytest.approx(acc.sortino_ratio(), rel=1e-9)
    assert m.max_drawdown_pct == pytest.approx(-acc.max_drawdown() * 100, rel=1e-9)
    assert m.calmar_ratio == pytest.approx(acc.calmar_ratio(), rel=1e-9)
    # trade statistics against the trade list itself
    pnl = np.array([t.pnl for t in run.trades])
    assert m.profit_factor == pytest.approx(pnl[pnl > 0].sum() / -pnl[pnl < 0].sum(), rel=1e-12)
    assert m.win_rate == pytest.approx((pnl > 0).mean() * 100, rel=1e-12)
