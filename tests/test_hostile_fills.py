"""Hostile inputs to the simulation (issue 14): each ends in a correct result or a structured error in time.

Risk values at the edges of what the kernels can represent (max hold beyond the int64 time range, tiny or
full portfolio sizes) and degenerate price columns.
"""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from support.hostile import assert_structured, run_cli, within

from ruleengine.backtest.risk import RiskSpec
from ruleengine.backtest.simulation import simulate, simulate_portfolio

BASE = RiskSpec(position_size_pct=100.0, fees_pct=0.0, slippage_pct=0.0, execution_price="close")
FLAT = (100.0, 101.0, 99.0, 100.0)


def _table(rows: list[tuple[float, float, float, float]], n_cols: int = 1):
    a = np.array(rows, dtype=float)
    prices = {k: np.repeat(a[:, i:i + 1], n_cols, axis=1) for i, k in enumerate(("open", "high", "low", "close"))}
    return prices, pd.date_range("2024-01-01", periods=len(rows), freq="D", tz="UTC")


@pytest.fixture(autouse=True, scope="module")
def kernels_loaded():
    """Load (or compile) the numba kernels once, outside the per-case time limits."""
    prices, idx = _table([FLAT] * 3)
    ent = np.array([[True], [False], [False]])
    for execution_price in ("close", "open"):
        risk = replace(BASE, execution_price=execution_price)
        simulate(prices, ent, ~ent, idx, risk)
        simulate_portfolio(prices, ent, ~ent, idx, risk)


@pytest.mark.parametrize("risk", [
    replace(BASE, max_hold_days=2**80), replace(BASE, max_hold_bars=2**70),
    replace(BASE, max_hold_days=106_752, execution_price="open"), replace(BASE, max_hold_days=2**63 - 1),
], ids=["days_2e80", "bars_2e70", "days_int64_edge_open", "days_int64_max"])
def test_max_hold_beyond_int64_is_never(risk):
    prices, idx = _table([FLAT] * 8)
    ent = np.zeros((8, 1), bool)
    ent[0] = True
    with within(10, 64):
        sim = simulate(prices, ent, np.zeros_like(ent), idx, risk)
        port = simulate_portfolio(prices, ent, np.zeros_like(ent), idx, risk)
    assert sim.trades.exit_reason.tolist() == ["end_of_data"] == port.trades.exit_reason.tolist()


@pytest.mark.parametrize("size", [1e-9, 100.0], ids=["tiny", "all_in"])
def test_portfolio_sizes_at_the_edges(size):
    prices, idx = _table([FLAT] * 6, n_cols=50)
    ent = np.zeros((6, 50), bool)
    ent[0] = True
    with within(10, 64):
        sim = simulate_portfolio(prices, ent, np.zeros_like(ent), idx, replace(BASE, position_size_pct=size))
    taken = 50 if size < 1 else 1
    assert len(sim.trades) == taken and sim.skipped_count == 50 - taken
    assert np.isfinite(sim.equity).all()


def test_portfolio_column_without_any_bar():
    prices, idx = _table([FLAT] * 5, n_cols=2)
    for k in prices:
        prices[k][:, 1] = np.nan
    ent = np.ones((5, 2), bool)
    with within(10, 64):
        sim = simulate_portfolio(prices, ent, np.zeros_like(ent), idx, replace(BASE, position_size_pct=10))
    assert sim.trades.column.tolist() == [0] and sim.skipped_count == 0


@pytest.mark.realdata
@pytest.mark.parametrize("days", ["36500", "100000"])
def test_cli_max_hold_days_of_a_lifetime(shared_data, days):
    # up to the schema's bound (100 years): a valid run whose time stop never acts; beyond it, D103
    proc = run_cli(["backtest", "rules/golden_cross.yaml", "--symbols", "SPY", "--start", "2010-01-01",
                    "--end", "2016-12-30", "--data", str(shared_data), "--param", f"max_hold_days={days}",
                    "--param", "execution_price=open", "--json"], seconds=120, megabytes=4096)
    # (4 GB of address space: under run_cli's default 2 GB this CLI run with --data spins in the kernel for
    # minutes before any of our code runs)
    assert_structured(proc)
    out = json.loads(proc.stdout)
    if days == "36500":
        assert proc.returncode == 0, proc.stdout[-2000:]
        trades = out["results"][0]["trades"]
        assert trades and not [t for t in trades if t["exit_reason"] == "max_hold"]
    else:
        assert proc.returncode != 0 and out["success"] is False
        assert "D103" in json.dumps(out) and "max_hold_days" in json.dumps(out)
