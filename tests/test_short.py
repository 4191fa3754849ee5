"""Short positions (``direction: short``): the fill contract mirrored, on hand-written bar tables.

Every table runs through the numba engine and the plain-Python reference (tests/support/sim_reference.py,
through `run` of test_backtest_stops); both must produce exactly the expected trades, computed by hand in the
comments. A short of the whole 10 000 at 100 holds 100 units; its equity is cash + collateral +
(entry - price) x units, so 10 000 + 100 x (100 - close) while it is open.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.sim_reference import reference_portfolio, reference_simulate
from test_backtest_engine import COMBOS, Run, _vbt_expressible, assert_same_as_reference, assert_same_trades, vbt_ready
from test_backtest_stops import BASE, CASH, FLAT, brief, run, sig, table
from test_sweep_engine import assert_same_metrics

import ruleengine
from ruleengine.backtest.risk import FILL_CONTRACT, SHORT_FILL_CONTRACT
from ruleengine.backtest.simulation import simulate, simulate_portfolio
from ruleengine.errors import RuleEngineError
from ruleengine.sweep.run import sweep

SHORT = replace(BASE, direction="short")
RULES_DIR = Path(__file__).resolve().parents[1] / "rules"
__all__ = ["vbt_ready"]  # test_backtest_engine's fixture: vectorbt imported and compiled once


def test_signal_round_trip_gains_when_the_price_falls():
    trades, sim = run([FLAT, (98, 99, 94, 95), (95, 96, 89, 90)], [0], [2], SHORT)
    assert brief(trades) == [(0, 2, "signal", 90.0)]
    assert trades[0]["direction"] == -1 and trades[0]["size"] == pytest.approx(100.0)
    assert trades[0]["pnl"] == pytest.approx(100 * (100 - 90))
    # open short marked at each close: 10 000 + 100 x (100 - close); flat after the exit
    np.testing.assert_allclose(sim.equity[:, 0], [CASH, CASH + 500, CASH + 1000])
    assert sim.position[:, 0].tolist() == [-100.0, -100.0, 0.0]


def test_stop_loss_above_the_entry_fills_at_the_level():
    # SL 10 % -> 110; bar 1 spans 104..112
    trades, sim = run([FLAT, (105, 112, 104, 108)], [0], [], replace(SHORT, stop_loss_pct=10))
    assert brief(trades) == [(0, 1, "stop_loss", 110.0)]
    assert trades[0]["pnl"] == pytest.approx(-1_000.0)
    assert sim.equity[-1, 0] == pytest.approx(9_000.0)


def test_gap_through_the_stop_fills_at_the_open():
    trades, _ = run([FLAT, (115, 118, 113, 116)], [0], [], replace(SHORT, stop_loss_pct=10))
    assert brief(trades) == [(0, 1, "stop_loss", 115.0)]
    assert trades[0]["pnl"] == pytest.approx(-1_500.0)


def test_take_profit_below_the_entry_level_and_gap():
    risk = replace(SHORT, take_profit_pct=10)  # 90
    assert brief(run([FLAT, (95, 96, 89, 92)], [0], [], risk)[0]) == [(0, 1, "take_profit", 90.0)]
    trades, _ = run([FLAT, (85, 88, 84, 86)], [0], [], risk)
    assert brief(trades) == [(0, 1, "take_profit", 85.0)]
    assert trades[0]["pnl"] == pytest.approx(1_500.0)


def test_stop_loss_wins_when_both_levels_are_inside_one_bar():
    # SL 105, TP 90, bar 1 spans 88..106: the conservative stop loss
    risk = replace(SHORT, stop_loss_pct=5, take_profit_pct=10)
    assert brief(run([FLAT, (100, 106, 88, 95)], [0], [], risk)[0]) == [(0, 1, "stop_loss", 105.0)]


def test_trailing_stop_from_the_lowest_low_since_entry():
    # TSL 10 %: during bar 1 the level is 100 x 1.1 = 110 (its low of 80 counts after the check);
    # bar 2: 80 x 1.1 = 88, inside 84..89
    bars = [FLAT, (90, 93, 80, 85), (85, 89, 84, 88), FLAT]
    trades, _ = run(bars, [0], [], replace(SHORT, trailing_stop_pct=10))
    assert brief(trades) == [(0, 2, "trailing_stop", 88.0)]
    assert trades[0]["pnl"] == pytest.approx(1_200.0)
    # a new high never moves a short's trail: 100 x 1.1 = 110 stays the level
    bars = [FLAT, (104, 109, 101, 108), (108, 111, 107, 109)]
    assert brief(run(bars, [0], [], replace(SHORT, trailing_stop_pct=10))[0]) == [(0, 2, "trailing_stop", 110.0)]


def test_trailing_and_fixed_stop_the_lower_level_acts():
    # SL 5 % -> 105 fixed; the trail 10 % above the low: 110 at first, 88 after a low of 80
    risk = replace(SHORT, stop_loss_pct=5, trailing_stop_pct=10)
    assert brief(run([FLAT, (104, 106, 103, 105)], [0], [], risk)[0]) == [(0, 1, "stop_loss", 105.0)]
    assert brief(run([FLAT, (90, 93, 80, 85), (85, 89, 84, 88)], [0], [], risk)[0]) == \
        [(0, 2, "trailing_stop", 88.0)]


def test_open_fills_entry_at_the_next_open_and_stops_on_its_own_bar():
    risk = replace(SHORT, execution_price="open", stop_loss_pct=10)
    # signal at bar 0, sold short at bar 1's open (100); bar 1 reaches 111: SL 110 on the entry bar
    trades, _ = run([FLAT, (100, 111, 99, 105), FLAT], [0], [], risk)
    assert brief(trades) == [(1, 1, "stop_loss", 110.0)]
    # exit signal at bar 2 -> bought back at bar 3's open (92)
    bars = [FLAT, (100, 101, 96, 97), (97, 98, 94, 95), (92, 93, 91, 92)]
    trades, _ = run(bars, [0], [2], replace(SHORT, execution_price="open"))
    assert brief(trades) == [(1, 3, "signal", 92.0)]
    assert trades[0]["pnl"] == pytest.approx(800.0)


def test_max_hold_bars_buys_back_at_the_close():
    trades, _ = run([FLAT, FLAT, (100, 101, 95, 97), FLAT], [0], [], replace(SHORT, max_hold_bars=2))
    assert brief(trades) == [(0, 2, "max_hold", 97.0)]


def test_fees_and_slippage_on_both_sides():
    # slippage 1 %: sold at 100 x 0.99 = 99, bought back at 90 x 1.01 = 90.9; fees 1 % of each side's value
    risk = replace(SHORT, fees_pct=1.0, slippage_pct=1.0)
    trades, sim = run([FLAT, FLAT, (91, 92, 89, 90)], [0], [2], risk)
    units = CASH / 1.01 / 99.0
    entry_fee = CASH - CASH / 1.01
    exit_fee = units * 90.9 * 0.01
    t = trades[0]
    assert (t["entry_price"], t["exit_price"]) == (pytest.approx(99.0), pytest.approx(90.9))
    assert t["size"] == pytest.approx(units)
    assert t["fees"] == pytest.approx(entry_fee + exit_fee)
    assert t["pnl"] == pytest.approx(units * (99.0 - 90.9) - entry_fee - exit_fee)
    assert sim.equity[-1, 0] == pytest.approx(CASH + t["pnl"])


def test_a_loss_beyond_the_collateral_takes_the_equity_below_zero():
    # no stop: the price goes to 250; equity = 10 000 + 100 x (100 - 250) = -5 000, and the buy-back leaves
    # the account owing 5 000 (negative cash); no new entry while cash <= 0 (the run says so: D131)
    bars = [FLAT, (150, 210, 150, 200), (240, 255, 240, 250), FLAT, FLAT]
    trades, sim = run(bars, [0, 3], [2], SHORT)
    assert brief(trades) == [(0, 2, "signal", 250.0)]
    np.testing.assert_allclose(sim.equity[:, 0], [CASH, 0.0, -5_000.0, -5_000.0, -5_000.0])
    assert sim.cash[-1, 0] == pytest.approx(-5_000.0)


def test_long_and_short_columns_side_by_side_and_the_portfolio():
    prices, idx = table([FLAT, (98, 99, 94, 95), (95, 96, 89, 90)])
    both = {k: np.hstack([v, v]) for k, v in prices.items()}
    ent, ext = np.hstack([sig(3, 0)] * 2), np.hstack([sig(3, 2)] * 2)
    sim = simulate(both, ent, ext, idx, [BASE, SHORT])
    assert sim.trades[["column", "direction"]].values.tolist() == [[0, 1], [1, -1]]
    assert sim.trades.pnl.tolist() == pytest.approx([-1_000.0, 1_000.0])
    # one account, half in each: the two sides cancel
    half = [replace(BASE, position_size_pct=50), replace(SHORT, position_size_pct=50)]
    port = simulate_portfolio(both, ent, ext, idx, half)
    np.testing.assert_allclose(port.equity[:, 0], [CASH, CASH, CASH])


# ------------------------------------------------------------------------------------------------ real data
SHORT_COMBOS = [replace(r, direction="short") for r in COMBOS]


@pytest.fixture(scope="module")
def short_runs(real_daily):
    names = ("bollinger_reversion", "stochastic_oversold")
    return {name: Run(RULES_DIR / f"{name}.yaml", real_daily) for name in names}


@pytest.mark.parametrize("rule", ["bollinger_reversion", "stochastic_oversold"])
def test_every_stop_combination_matches_the_reference(short_runs, rule):
    run = short_runs[rule]
    traded = 0
    for risk in SHORT_COMBOS:
        sim = simulate(*run.args(), risk, init_cash=CASH, start=run.md.start)
        ref = reference_simulate(*run.args(), [risk] * run.md.n_cols, init_cash=CASH, start=run.md.start)
        assert_same_as_reference(sim, *ref, f"{rule} {risk}")
        assert (sim.trades.direction == -1).all()
        traded += len(sim.trades)
    assert traded > 100


def test_portfolio_matches_the_reference(short_runs):
    run = short_runs["stochastic_oversold"]
    for risk in (replace(SHORT, position_size_pct=30, stop_loss_pct=5, fees_pct=0.1),
                 replace(SHORT, position_size_pct=30, trailing_stop_pct=6, execution_price="open")):
        sim = simulate_portfolio(*run.args(), risk, init_cash=CASH, start=run.md.start)
        trades = assert_portfolio_as_reference(sim, *reference_portfolio(
            *run.args(), [risk] * run.md.n_cols, init_cash=CASH, start=run.md.start))
        assert len(trades) > 5


def assert_portfolio_as_reference(sim, trades, equity, skipped) -> list:
    """A portfolio simulation equals the reference's (trades, equity, skipped); returns the trades. One account:
    its trades are in time order, the reference's too but in another tie order."""
    key = ("column", "entry_bar", "exit_bar", "exit_reason", "entry_price", "exit_price", "size", "pnl")
    got = sorted(tuple(t[k] for k in key) for t in sim.trades.to_dict("records"))
    want = sorted(tuple(t[k] for k in key) for t in trades)
    assert [g[:4] for g in got] == [w[:4] for w in want]
    np.testing.assert_allclose([g[4:] for g in got], [w[4:] for w in want], rtol=1e-9)
    np.testing.assert_allclose(sim.equity[:, 0], equity, rtol=1e-9)
    assert sim.skipped[["bar", "column"]].values.tolist() == [list(x) for x in skipped]
    return trades


@pytest.mark.parametrize("rule", ["bollinger_reversion", "stochastic_oversold"])
def test_vectorbt_shortonly_gives_the_same_trades(short_runs, vbt_ready, rule):
    """vectorbt's from_signals(direction="shortonly", sl_stop, tp_stop, sl_trail) is the oracle, compared in
    its order of a bar's events (fill_order="vectorbt"): same trades, same equity curve."""
    run = short_runs[rule]
    combos = [r for r in SHORT_COMBOS if _vbt_expressible(r)]
    assert len(combos) >= 12
    traded = 0
    for risk in combos:
        ours = simulate(*run.args(), risk, init_cash=CASH, start=run.md.start, fill_order="vectorbt")
        theirs = simulate(*run.args(), risk, init_cash=CASH, start=run.md.start, engine="vectorbt")
        assert_same_trades(ours, theirs, f"{rule} {risk}")
        np.testing.assert_allclose(ours.equity, theirs.equity, rtol=1e-9)
        np.testing.assert_array_equal(ours.trades.direction.to_numpy(), theirs.trades.direction.to_numpy())
        traded += len(ours.trades)
    assert traded > 100


def test_vectorbt_long_and_short_columns_in_one_call(short_runs, vbt_ready):
    run = short_runs["stochastic_oversold"]
    n = run.md.n_cols
    risks = [replace(BASE if j % 2 else SHORT, stop_loss_pct=5, take_profit_pct=8) for j in range(n)]
    ours = simulate(*run.args(), risks, init_cash=CASH, start=run.md.start, fill_order="vectorbt")
    theirs = simulate(*run.args(), risks, init_cash=CASH, start=run.md.start, engine="vectorbt")
    assert_same_trades(ours, theirs, "mixed directions")
    assert set(theirs.trades.direction) == {1, -1}


# ------------------------------------------------------------------------------------------------ the document
SMA_SHORT = {"name": "sma cross short", "direction": "short",
             "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
             "params": {"fast": {"type": "int", "min": 2, "max": 50, "default": 10},
                        "slow": {"type": "int", "min": 5, "max": 100, "default": 20}},
             "entry": ["crosses_below(sma(close, fast), sma(close, slow))"],
             "exit": ["crosses_above(sma(close, fast), sma(close, slow))"],
             "risk": {"stop_loss_pct": 4, "take_profit_pct": 6}}


def test_sweep_equals_backtest_for_a_short_strategy():
    res = sweep(SMA_SHORT, "AAPL", "2012-01-01", "2016-12-31", provider="sample",
                grid={"fast": [5, 10], "slow": [20, 40], "trailing_stop_pct": [None, 5.0]},
                params={"fees_pct": 0.1, "slippage_pct": 0.05})
    assert len(res.table) == 8
    traded = 0
    for rank in range(1, 9):
        run = res.detail(rank, benchmark=None).results[0]
        assert_same_metrics(res.table.iloc[rank - 1], run.metrics, f"rank {rank}")
        assert {t.direction for t in run.trades} == {"short"}
        traded += run.metrics.total_trades
    assert traded > 20


def test_backtest_marks_short_trades_and_states_the_short_contract(tmp_path):
    result = ruleengine.backtest(SMA_SHORT, "AAPL", "2012-01-01", "2016-12-31", provider="sample", benchmark=None)
    run = result.results[0]
    assert run.trades and all(t.direction == "short" for t in run.trades)
    assert result.fill_contract == FILL_CONTRACT + SHORT_FILL_CONTRACT
    out = json.loads(result.to_json())
    assert out["results"][0]["trades"][0]["direction"] == "short"
    assert out["results"][0]["risk"]["direction"] == "short"
    # the same document long: no direction anywhere (long results read as before the field existed)
    long_doc = {**SMA_SHORT, "direction": "long"}
    text = ruleengine.backtest(long_doc, "AAPL", "2012-01-01", "2016-12-31", provider="sample",
                               benchmark=None).to_json()
    assert '"direction"' not in text and json.loads(text)["fill_contract"] == FILL_CONTRACT
    # the HTML report's trades table gains a direction column for a short run only
    html = (tmp_path / "short.html")
    result.write_report(str(html))
    assert "<th>direction</th>" in html.read_text(encoding="utf-8") and "<td>short</td>" in html.read_text("utf-8")


def test_a_short_wiped_out_carries_warning_d131(tmp_path):
    days = pd.bdate_range("2020-01-01", periods=60)
    close = np.r_[np.full(20, 100.0), np.linspace(100.0, 260.0, 40)]
    pd.DataFrame({"symbol": "UP", "date": days.date, "open": close, "high": close * 1.01,
                  "low": close * 0.99, "close": close, "volume": 1_000, "adj_close": close,
                  "source": "test"}).to_parquet(tmp_path / "daily.parquet")
    doc = {"name": "short forever", "direction": "short", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
           "entry": ["close > 0"], "exit": ["close < 0"], "risk": {"position_size_pct": 100}}
    result = ruleengine.backtest(doc, "UP", "2020-01-01", "2020-12-31", data=str(tmp_path), benchmark=None)
    run = result.results[0]
    assert min(run.equity.value) < 0
    assert [w["code"] for w in run.warnings] == ["D131"]
    # with a stop loss the short is closed long before: no warning
    stopped = ruleengine.backtest({**doc, "risk": {"position_size_pct": 100, "stop_loss_pct": 10}}, "UP",
                                  "2020-01-01", "2020-12-31", data=str(tmp_path), benchmark=None).results[0]
    assert stopped.warnings == [] and stopped.trades[0].exit_reason == "stop_loss"


def test_a_wrong_direction_is_a_structured_error_with_a_did_you_mean():
    with pytest.raises(RuleEngineError) as err:
        ruleengine.load_strategy({**SMA_SHORT, "direction": "shrot"})
    d = err.value.diagnostics[0]
    assert d.path == "direction" and "short" in (d.hint or "") + d.message


def test_readme_states_the_short_contract_as_the_code_does():
    readme = (RULES_DIR.parent / "README.md").read_text(encoding="utf-8")
    assert SHORT_FILL_CONTRACT in readme and FILL_CONTRACT in readme


def test_a_long_document_hashes_as_before_the_key_existed():
    unset = {k: v for k, v in SMA_SHORT.items() if k != "direction"}
    base = ruleengine.load_strategy(unset)
    assert ruleengine.load_strategy({**unset, "direction": "long"}).strategy_hash() == base.strategy_hash()
    assert "direction" not in base.to_dict()
    short = ruleengine.load_strategy(SMA_SHORT)
    assert short.strategy_hash() != base.strategy_hash() and short.to_dict()["direction"] == "short"
    assert ruleengine.load_strategy(short.to_dict()) == short  # reloads equal


def test_cli_marks_short_trades(tmp_path, provider_env_cleared):
    from typer.testing import CliRunner

    from ruleengine.cli import app

    doc = tmp_path / "short.yaml"
    doc.write_text(json.dumps(SMA_SHORT), encoding="utf-8")  # JSON is YAML
    result = CliRunner().invoke(app, ["backtest", str(doc), "--symbols", "AAPL", "--provider", "sample",
                                      "--start", "2012-01-01", "--end", "2016-12-31"])
    assert result.exit_code == 0, result.stdout
    assert "AAPL short" in result.stdout
