"""Long/short strategies (``direction: long_short``): both sides, reversal at the same fill, borrow cost.

Bar tables run through the numba engine and the plain-Python reference (tests/support/sim_reference.py); both
must give exactly the trades computed by hand in the comments. The whole 10 000 at 100 is 100 units. Then
random signals on real data against the reference (single runs and the portfolio), vectorbt's
``from_signals(direction="both")`` trade for trade, sweep == backtest, truncation (causality), the shipped
rules/sma_long_short.yaml and the document's diagnostics.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.sim_reference import reference_portfolio, reference_simulate
from test_backtest_engine import COMBOS, _key, _vbt_expressible, assert_same_as_reference, assert_same_trades, vbt_ready
from test_backtest_stops import BASE, CASH, FLAT, brief, sig, table
from test_short import assert_portfolio_as_reference
from test_sweep_engine import assert_same_metrics

import ruleengine
from ruleengine.backtest.risk import (
    FILL_CONTRACT,
    LONG_SHORT_FILL_CONTRACT,
    SHORT_FILL_CONTRACT,
    resolve_risk,
)
from ruleengine.backtest.simulation import simulate, simulate_portfolio
from ruleengine.errors import RuleEngineError
from ruleengine.sweep.run import sweep

LS = replace(BASE, direction="long_short")
ROOT = Path(__file__).resolve().parents[1]
RULE = ROOT / "rules" / "sma_long_short.yaml"
SYMBOLS = "SPY,QQQ,XLE,XLF"  # symbols that stay solvent both ways (a short never loses its collateral)
START, END = "2006-01-01", "2017-12-31"
__all__ = ["vbt_ready"]  # test_backtest_engine's fixture: vectorbt imported and compiled once


def run(bars, le, lx=(), se=(), sx=(), risk=LS, index=None):
    """Simulate four signal lists (bar numbers) with the engine and the reference; assert they agree;
    return the engine's trades as dicts and the simulation."""
    prices, idx = table(bars, index)
    n = len(idx)
    arrays = [sig(n, *rows) for rows in (le, lx, se, sx)]
    short = {"short_entries": arrays[2], "short_exits": arrays[3]}
    sim = simulate(prices, arrays[0], arrays[1], idx, risk, init_cash=CASH, **short)
    ref_trades, ref_eq = reference_simulate(prices, arrays[0], arrays[1], idx, [risk], init_cash=CASH, **short)
    got = sim.trades.drop(columns=["entry_time", "exit_time"]).to_dict("records")
    assert [_key(t) for t in got] == [_key(t) for t in ref_trades]
    for g, r in zip(got, ref_trades, strict=True):
        for k in ("entry_price", "exit_price", "size", "pnl", "pnl_pct", "fees"):
            assert g[k] == pytest.approx(r[k], rel=1e-12), k
        assert g["direction"] == r["direction"]
    np.testing.assert_allclose(sim.equity[:, 0], [row[0] for row in ref_eq], rtol=1e-12)
    return got, sim


def sides(trades):
    return [t["direction"] for t in trades]


# ------------------------------------------------------------------------------------------------ bar tables
def test_an_opposite_entry_reverses_at_the_same_close():
    # long 100 units at 100 (bar 0); the short entry at bar 1 sells them at 110 (+1 000) and shorts the
    # 11 000 at 110 (100 units); the short exit at bar 2 buys back at 99: +100 x 11 = +1 100
    trades, sim = run([FLAT, (105, 111, 104, 110), (105, 106, 98, 99)], [0], se=[1], sx=[2])
    assert brief(trades) == [(0, 1, "signal", 110.0), (1, 2, "signal", 99.0)]
    assert sides(trades) == [1, -1]
    assert [t["pnl"] for t in trades] == pytest.approx([1_000.0, 1_100.0])
    assert trades[1]["entry_price"] == trades[0]["exit_price"] == 110.0
    np.testing.assert_allclose(sim.equity[:, 0], [CASH, 11_000.0, 12_100.0])
    assert sim.position[:, 0].tolist() == [100.0, -100.0, 0.0]


def test_reversal_pays_both_fees_at_the_one_fill():
    # fees 1 %: the long (10 000 / 1.01 / 100 units) is sold at 110 less 1 %, the short takes all the cash
    # (collateral) at 110 with its own 1 % entry fee: one fill, two orders' fees
    risk = replace(LS, fees_pct=1.0)
    trades, _ = run([FLAT, (105, 111, 104, 110), FLAT], [0], se=[1], risk=risk)
    long_units = CASH / 1.01 / 100
    cash = long_units * 110 * 0.99
    assert trades[0]["fees"] == pytest.approx(CASH - CASH / 1.01 + long_units * 110 * 0.01)
    assert trades[1]["size"] == pytest.approx(cash / 1.01 / 110)
    assert trades[1]["entry_price"] == 110.0 and trades[1]["direction"] == -1


def test_an_opposite_entry_reverses_at_the_open():
    # open fills: long at bar 1's open (100); the short entry of bar 1 reverses at bar 2's open (110);
    # the short is marked out at the last close, 105: +100 x (110 - 105)
    bars = [FLAT, FLAT, (110, 111, 108, 109), (105, 106, 104, 105)]
    trades, _ = run(bars, [0], se=[1], risk=replace(LS, execution_price="open"))
    assert brief(trades) == [(1, 2, "signal", 110.0), (2, 3, "end_of_data", 105.0)]
    assert [t["pnl"] for t in trades] == pytest.approx([1_000.0, 500.0])


def test_a_position_reversed_at_the_open_is_stopped_on_the_same_bar():
    # open fills, stop loss 5 %: the short opened at bar 2's open (110) has its stop at 115.5, and bar 2
    # reaches 116: two exits on one bar, in time order (the reversal at the open, then the stop)
    risk = replace(LS, execution_price="open", stop_loss_pct=5)
    trades, sim = run([FLAT, FLAT, (110, 116, 108, 112), FLAT], [0], se=[1], risk=risk)
    assert brief(trades) == [(1, 2, "signal", 110.0), (2, 2, "stop_loss", 115.5)]
    assert sides(trades) == [1, -1]
    assert trades[1]["pnl"] == pytest.approx(100 * (110 - 115.5))
    assert sim.position[2, 0] == 0.0


def test_a_stop_on_the_bar_cancels_the_reversal():
    # close fills, stop loss 10 %: bar 2 falls to 85, the long is stopped at 90 before the close, so the
    # short entry of that close does not act (no entry on the bar of a stop exit); bar 3's does
    risk = replace(LS, stop_loss_pct=10)
    trades, _ = run([FLAT, FLAT, (95, 96, 85, 88), FLAT, FLAT], [0], se=[2, 3], risk=risk)
    assert brief(trades) == [(0, 2, "stop_loss", 90.0), (3, 4, "end_of_data", 100.0)]
    assert sides(trades) == [1, -1]


def test_both_entries_on_one_bar_cancel_flat_or_held():
    # bar 0: both entries, flat: nothing; bar 1: long; bar 2: both entries while long: neither acts (no
    # reversal); bar 3: the long exit
    trades, _ = run([FLAT, FLAT, (102, 103, 101, 102), (104, 105, 103, 104)], [0, 1, 2], lx=[3], se=[0, 2])
    assert brief(trades) == [(1, 3, "signal", 104.0)]
    assert sides(trades) == [1]


def test_an_entry_with_its_own_exit_cancels_then_the_other_side_acts():
    # short at bar 0; bar 1: long entry and long exit cancel, so no reversal; bar 2: the long exit and the
    # short entry while short: the short entry cancels with nothing (it is held), the long exit is no
    # signal for a short; bar 3: the short exit
    trades, _ = run([FLAT, FLAT, FLAT, (90, 91, 89, 90)], [1], lx=[1, 2], se=[0, 2], sx=[3])
    assert brief(trades) == [(0, 3, "signal", 90.0)]
    assert sides(trades) == [-1]
    # long held: its own exit with the short entry on one bar reverses (the opposite entry wins, as in
    # vectorbt: the long exit closes, the short entry opens)
    trades, _ = run([FLAT, FLAT, FLAT], [0], lx=[1], se=[1])
    assert brief(trades) == [(0, 1, "signal", 100.0), (1, 2, "end_of_data", 100.0)]
    assert sides(trades) == [1, -1]


def test_short_exit_while_long_and_long_exit_while_short_do_nothing():
    trades, _ = run([FLAT, FLAT, FLAT, FLAT], [0], sx=[1], se=[2], lx=[3])
    assert brief(trades) == [(0, 2, "signal", 100.0), (2, 3, "end_of_data", 100.0)]


# ------------------------------------------------------------------------------------------------ borrow cost
def test_borrow_cost_accrues_by_calendar_time():
    # 36.5 % a year on the short's entry value (100 units x 100): 10 a calendar day. Business days: the
    # short sold on Friday 2024-01-05 and bought back on Monday 2024-01-15 held 10 days: 100 of borrow
    days = pd.DatetimeIndex(pd.bdate_range("2024-01-05", periods=7), tz="UTC")
    risk = replace(LS, borrow_cost_pct=36.5)
    bars = [FLAT, FLAT, (95, 96, 94, 95), FLAT, FLAT, FLAT, (90, 91, 89, 90)]
    trades, sim = run(bars, [], se=[0], sx=[6], risk=risk, index=days)
    t = trades[0]
    assert brief(trades) == [(0, 6, "signal", 90.0)]
    assert t["fees"] == pytest.approx(100.0)
    assert t["pnl"] == pytest.approx(100 * (100 - 90) - 100.0)
    # equity deducts what has accrued at each bar: Monday (3 days) -30, Tuesday (4 days) 10 000 + 500 - 40
    elapsed = np.array([0, 3, 4, 5, 6, 7, 10])
    close = np.array([100, 100, 95, 100, 100, 100, 90])
    expected = CASH + 100 * (100 - close) - 10.0 * elapsed
    np.testing.assert_allclose(sim.equity[:-1, 0], expected[:-1])
    assert sim.equity[-1, 0] == pytest.approx(CASH + t["pnl"])


def test_borrow_cost_is_paid_at_the_end_and_never_by_a_long():
    days = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC")
    risk = replace(LS, borrow_cost_pct=36.5, execution_price="open")
    # the short opened at bar 1's open (after the signal of bar 0) is marked out at bar 3: 2 days, 20
    trades, _ = run([FLAT] * 4, [], se=[0], risk=risk, index=days)
    assert brief(trades) == [(1, 3, "end_of_data", 100.0)]
    assert trades[0]["fees"] == pytest.approx(20.0) and trades[0]["pnl"] == pytest.approx(-20.0)
    # a long pays no borrow cost
    trades, _ = run([FLAT] * 4, [0], lx=[3], risk=risk, index=days)
    assert trades[0]["fees"] == 0.0


def test_borrow_cost_of_a_short_strategy_and_a_warning_on_a_long_one():
    days = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    short = replace(BASE, direction="short", borrow_cost_pct=36.5)
    prices, idx = table([FLAT] * 3, days)
    sim = simulate(prices, sig(3, 0), sig(3, 2), idx, short, init_cash=CASH)
    assert sim.trades.fees.tolist() == pytest.approx([20.0])
    doc = {"name": "x", "data": {"prices": {"kind": "ohlcv"}}, "entry": ["close > 1"],
           "risk": {"borrow_cost_pct": 2}}
    warnings = ruleengine.backtest(doc, "AAPL", "2015-01-01", "2015-06-30", provider="sample",
                                   benchmark=None).warnings
    assert [(w["code"], w["path"]) for w in warnings if w["code"] == "D133"] == [("D133", "risk.borrow_cost_pct")]


# ------------------------------------------------------------------------------------------------ real data
def _random_signals(shape, seed):
    rng = np.random.default_rng(seed)
    return [rng.random(shape) < p for p in (0.04, 0.03, 0.04, 0.03)]


@pytest.fixture(scope="module")
def market(real_daily):
    strat = ruleengine.load_strategy(str(RULE))
    md = ruleengine.load_data(strat, SYMBOLS, START, END, data=str(real_daily))
    prices = {k: md.inputs[("prices", k)] for k in ("open", "high", "low", "close")}
    return strat, md, prices


LS_COMBOS = [replace(r, direction="long_short") for r in COMBOS]
RANDOM_ROWS = 1_000  # the random-signal comparisons run on the last 4 years: 24 risk combinations in plain Python


@pytest.fixture(scope="module")
def recent(market):
    """The last `RANDOM_ROWS` bars of `market` as (an object with ``index`` and ``start``, prices)."""
    _strat, md, prices = market

    class Window:
        index = md.index[-RANDOM_ROWS:]
        start = 0
        n_cols = md.n_cols

    return None, Window, {k: np.ascontiguousarray(v[-RANDOM_ROWS:]) for k, v in prices.items()}


def test_random_signals_match_the_reference_for_every_stop_combination(recent):
    _strat, md, prices = recent
    le, lx, se, sx = _random_signals(prices["close"].shape, 7)
    reversals = traded = 0
    for risk in [*LS_COMBOS, replace(LS, borrow_cost_pct=3.0, fees_pct=0.1, slippage_pct=0.05),
                 replace(LS, borrow_cost_pct=3.0, execution_price="open", stop_loss_pct=4)]:
        sim = simulate(prices, le, lx, md.index, risk, init_cash=CASH, start=md.start, short_entries=se,
                       short_exits=sx)
        ref = reference_simulate(prices, le, lx, md.index, [risk] * md.n_cols, init_cash=CASH, start=md.start,
                                 short_entries=se, short_exits=sx)
        assert_same_as_reference(sim, *ref, str(risk))
        np.testing.assert_allclose(sim.equity, np.array(ref[1]), rtol=1e-9, err_msg=str(risk))
        t = sim.trades
        traded += len(t)
        nxt = t.groupby("column").entry_bar.shift(-1)
        reversals += int(((nxt == t.exit_bar) & (t.exit_reason == "signal")).sum())
        assert set(t.direction) == {1, -1}
    assert traded > 500 and reversals > 100


def test_random_signals_portfolio_matches_the_reference(market):
    _strat, md, prices = market
    le, lx, se, sx = _random_signals(prices["close"].shape, 11)
    for risk in (replace(LS, position_size_pct=30, stop_loss_pct=5, borrow_cost_pct=2.0),
                 replace(LS, position_size_pct=40, take_profit_pct=6, fees_pct=0.1, execution_price="open")):
        sim = simulate_portfolio(prices, le, lx, md.index, risk, init_cash=CASH, start=md.start, short_entries=se,
                                 short_exits=sx)
        trades = assert_portfolio_as_reference(sim, *reference_portfolio(
            prices, le, lx, md.index, [risk] * md.n_cols, init_cash=CASH, start=md.start, short_entries=se,
            short_exits=sx))
        assert len(trades) > 50 and set(sim.trades.direction) == {1, -1}


def test_vectorbt_direction_both_gives_the_same_trades(recent, vbt_ready):
    """vectorbt's from_signals(short_entries, short_exits, upon_opposite_entry="reverse") is the oracle,
    compared in its order of a bar's events (fill_order="vectorbt"): same trades, same equity."""
    _strat, md, prices = recent
    le, lx, se, sx = _random_signals(prices["close"].shape, 3)
    combos = [r for r in LS_COMBOS if _vbt_expressible(r)]
    combos += [replace(r, fees_pct=0.1, slippage_pct=0.05) for r in combos[:4]]
    traded = 0
    for risk in combos:
        kw = {"init_cash": CASH, "start": md.start, "short_entries": se, "short_exits": sx}
        ours = simulate(prices, le, lx, md.index, risk, fill_order="vectorbt", **kw)
        theirs = simulate(prices, le, lx, md.index, risk, engine="vectorbt", **kw)
        assert_same_trades(ours, theirs, str(risk))
        np.testing.assert_array_equal(ours.trades.direction.to_numpy(), theirs.trades.direction.to_numpy())
        np.testing.assert_allclose(ours.equity, theirs.equity, rtol=1e-9)
        traded += len(ours.trades)
    assert traded > 1_000


def test_vectorbt_engine_refuses_what_it_cannot_express_for_long_short(market, vbt_ready):
    _strat, md, prices = market
    le, lx, se, sx = _random_signals(prices["close"].shape, 3)
    for bad, path in ((replace(LS, borrow_cost_pct=1.0), "risk.borrow_cost_pct"),
                      (replace(LS, position_size_pct=50), "risk.position_size_pct")):
        with pytest.raises(RuleEngineError) as e:
            simulate(prices, le, lx, md.index, bad, engine="vectorbt", short_entries=se, short_exits=sx)
        assert (e.value.diagnostics[0].code, e.value.diagnostics[0].path) == ("D103", path)


# ------------------------------------------------------------------------------------------------ the shipped rule
def test_sma_long_short_is_always_in_the_market_and_matches_vectorbt(market, vbt_ready):
    strat, md, prices = market
    compiled = ruleengine.compile_strategy(strat)
    sig = compiled.signals(md)
    risk = resolve_risk(strat)
    assert (risk.direction, risk.fees_pct, risk.position_size_pct, risk.execution_price) == \
        ("long_short", 0.1, 100.0, "close")
    assert all(getattr(risk, f) is None for f in ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct",
                                                  "max_hold_days", "max_hold_bars"))
    kw = {"init_cash": CASH, "start": md.start, "short_entries": sig.short_entries, "short_exits": sig.short_exits}
    ours = simulate(prices, sig.entries, sig.exits, md.index, risk, **kw)
    theirs = simulate(prices, sig.entries, sig.exits, md.index, risk, engine="vectorbt", **kw)
    assert_same_trades(ours, theirs, "sma_long_short")
    np.testing.assert_allclose(ours.equity, theirs.equity, rtol=1e-9)
    close = prices["close"]
    for j in range(md.n_cols):
        crosses = np.flatnonzero(sig.entries[md.start:, j] | sig.short_entries[md.start:, j]) + md.start
        bars = np.flatnonzero(~np.isnan(close[:, j]))
        after = bars[bars >= crosses[0]]
        assert (ours.position[after, j] != 0).all()  # in the market on every bar after the first cross
        mine = ours.trades[ours.trades.column == j]
        assert (mine.direction.to_numpy()[1:] != mine.direction.to_numpy()[:-1]).all()  # sides alternate
        assert (mine.entry_bar.to_numpy()[1:] == mine.exit_bar.to_numpy()[:-1]).all()  # each exit reverses
    assert len(ours.trades) > 40  # (the committed 500-bar sample where ../shared/data is absent: ~60)


def test_truncating_the_data_never_changes_earlier_trades(market):
    strat, md, prices = market
    compiled = ruleengine.compile_strategy(strat)
    for risk in (replace(resolve_risk(strat), borrow_cost_pct=2.0),
                 replace(resolve_risk(strat), execution_price="open", stop_loss_pct=6)):
        sig = compiled.signals(md)
        full = simulate(prices, sig.entries, sig.exits, md.index, risk, init_cash=CASH, start=md.start,
                        short_entries=sig.short_entries, short_exits=sig.short_exits)
        full_trades = full.trades.to_dict("records")
        T = md.n_rows
        for cut in np.linspace(md.start + 60, T - 1, 7).astype(int):
            inputs = {k: np.asfortranarray(v[:cut]) for k, v in md.inputs.items()}
            groups, _ = compiled.group_arrays(inputs, cut, md.n_cols)
            part = simulate({k: v[:cut] for k, v in prices.items()}, groups[0], groups[1], md.index[:cut], risk,
                            init_cash=CASH, start=md.start, short_entries=groups[2], short_exits=groups[3])
            np.testing.assert_array_equal(part.equity, full.equity[:cut])
            eod = "end_of_data"
            assert [_key(t) for t in part.trades.to_dict("records") if t["exit_reason"] != eod] == \
                [_key(t) for t in full_trades if t["exit_bar"] < cut and t["exit_reason"] != eod]


# ------------------------------------------------------------------------------------------------ the document
SMA_LS = {"name": "sma long short", "direction": "long_short",
          "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
          "params": {"fast": {"type": "int", "min": 2, "max": 50, "default": 10},
                     "slow": {"type": "int", "min": 5, "max": 100, "default": 30}},
          "entry": ["crosses_above(sma(close, fast), sma(close, slow))"],
          "exit": ["close < sma(close, slow) * 0.97"],
          "short_entry": ["crosses_below(sma(close, fast), sma(close, slow))"],
          "short_exit": ["close > sma(close, slow) * 1.03"],
          "risk": {"stop_loss_pct": 8, "fees_pct": 0.1}}


def test_sweep_equals_backtest_for_a_long_short_strategy():
    res = sweep(SMA_LS, "AAPL", "2012-01-01", "2016-12-31", provider="sample",
                grid={"fast": [5, 10], "slow": [20, 40], "borrow_cost_pct": [0.0, 8.0]},
                params={"slippage_pct": 0.05})
    assert len(res.table) == 8
    traded = 0
    for rank in range(1, 9):
        run_ = res.detail(rank, benchmark=None).results[0]
        assert_same_metrics(res.table.iloc[rank - 1], run_.metrics, f"rank {rank}")
        assert {t.direction for t in run_.trades} == {"long", "short"}
        traded += run_.metrics.total_trades
    assert traded > 40
    # the borrow cost is swept: the same signals, a lower return with it
    table = res.table.set_index(["fast", "slow", "borrow_cost_pct"]).total_return_pct
    assert all(table[(f, s, 8.0)] < table[(f, s, 0.0)] for f in (5, 10) for s in (20, 40))


def test_backtest_and_walk_forward_of_a_long_short_strategy(tmp_path):
    result = ruleengine.backtest(SMA_LS, "AAPL", "2012-01-01", "2016-12-31", provider="sample", benchmark=None)
    run_ = result.results[0]
    assert {t.direction for t in run_.trades} == {"long", "short"}
    assert result.fill_contract == FILL_CONTRACT + SHORT_FILL_CONTRACT + LONG_SHORT_FILL_CONTRACT
    out = json.loads(result.to_json())
    assert out["results"][0]["risk"]["direction"] == "long_short"
    # a trade's JSON leaves the default direction (long) out, as a long run's does
    assert {t.get("direction", "long") for t in out["results"][0]["trades"]} == {"long", "short"}
    wf = ruleengine.walk_forward(SMA_LS, "AAPL", "2010-01-01", "2017-12-31", provider="sample",
                                 walk_forward="train=252,test=126", grid={"fast": [5, 10], "slow": [20, 40]})
    assert wf.folds and wf.to_json()


def test_signal_set_carries_the_short_side():
    compiled = ruleengine.compile_strategy(SMA_LS)
    md = ruleengine.load_data(compiled, "AAPL", "2014-01-01", "2015-12-31", provider="sample")
    sig = compiled.signals(md)
    assert sig.long_short and sig.short_entries.shape == sig.entries.shape
    view = sig.to_pandas()
    assert view.short_entries.to_numpy().sum() == sig.short_entries[md.start:, 0].sum() > 0
    assert view.short_exits.shape == view.entries.shape and list(view.short_exits.columns) == ["AAPL"]
    # the grid plan (8+ sets) gives the same short signals as set-by-set plans
    grid = compiled.signals(md, {"fast": [3, 4, 5, 6, 7, 8, 9, 10]})
    one = compiled.signals(md, {"fast": 7})
    np.testing.assert_array_equal(grid.short_entries[:, 4], one.short_entries[:, 0])
    np.testing.assert_array_equal(grid.short_exits[:, 4], one.short_exits[:, 0])
    long_only = ruleengine.compile_strategy({k: v for k, v in SMA_LS.items()
                                             if k not in ("direction", "short_entry", "short_exit")})
    assert long_only.signals(md).short_entries is None and long_only.signals(md).to_pandas().short_entries is None


def test_short_conditions_on_a_long_or_short_strategy_are_errors_at_their_key():
    text = "\n".join(["name: x", "direction: short", "data: {prices: {kind: ohlcv}}", "entry: [close > 1]",
                      "short_entry: [close < 1]"])
    with pytest.raises(RuleEngineError) as err:
        ruleengine.load_strategy(text)
    d = err.value.diagnostics[0]
    assert (d.code, d.path, d.span.line) == ("S118", "short_entry", 5)
    assert "long_short" in d.hint
    with pytest.raises(RuleEngineError) as err:
        ruleengine.load_strategy({**SMA_LS, "direction": "long"})
    assert sorted((d.code, d.path) for d in err.value.diagnostics) == [("S118", "short_entry"),
                                                                       ("S118", "short_exit")]
    with pytest.raises(RuleEngineError) as err:
        ruleengine.load_strategy({k: v for k, v in SMA_LS.items() if k != "short_entry"})
    assert [(d.code, d.path) for d in err.value.diagnostics] == [("S119", "short_entry")]


def test_a_long_short_document_hashes_apart_and_reloads_equal():
    s = ruleengine.load_strategy(SMA_LS)
    again = ruleengine.load_strategy(s.to_dict())
    assert again == s and again.strategy_hash() == s.strategy_hash()
    assert s.short_entry.logic == "all" and s.short_exit.logic == "any"  # the shorthand forms
    plain = ruleengine.load_strategy({k: v for k, v in SMA_LS.items() if k not in ("direction", "short_entry",
                                                                                  "short_exit")})
    assert "short_entry" not in plain.to_dict() and plain.strategy_hash() != s.strategy_hash()


def test_condition_errors_in_the_short_side_point_into_it():
    with pytest.raises(RuleEngineError) as err:
        ruleengine.compile_strategy({**SMA_LS, "short_exit": ["close > smaa(close, 5)"]})
    d = err.value.diagnostics[0]
    assert (d.code, d.path) == ("C101", "short_exit[0]")  # the path as written (a plain list)


def test_readme_states_the_long_short_contract_as_the_code_does():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert LONG_SHORT_FILL_CONTRACT in readme and SHORT_FILL_CONTRACT in readme


# ------------------------------------------------------------------------------------------------ code strategies
CODE_LS = '''
def generate_signals(data, params):
    c = data["prices"]["close"]
    f, s = c.rolling(params["fast"]).mean(), c.rolling(params["slow"]).mean()
    up = (f > s) & (f.shift(1) <= s.shift(1))
    down = (f < s) & (f.shift(1) >= s.shift(1))
    return up, c < s * 0.97, down, c > s * 1.03
'''


def _code_doc(code: str, direction: str = "long_short") -> dict:
    return {"name": "code long short", "direction": direction, "data": {"prices": {"kind": "ohlcv"}},
            "params": SMA_LS["params"], "code": code, "risk": SMA_LS["risk"]}


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="the sandbox needs Linux")
def test_a_code_strategy_returns_the_short_side_and_trades_like_its_rule_twin():
    rules = ruleengine.backtest(SMA_LS, "AAPL", "2012-01-01", "2016-12-31", provider="sample", benchmark=None)
    code = ruleengine.backtest(_code_doc(CODE_LS), "AAPL", "2012-01-01", "2016-12-31", provider="sample",
                               benchmark=None)
    r, c = rules.results[0], code.results[0]
    assert [(t.entry_time, t.exit_time, t.direction) for t in c.trades] == \
        [(t.entry_time, t.exit_time, t.direction) for t in r.trades]
    assert {t.direction for t in c.trades} == {"long", "short"}
    assert c.metrics.total_return_pct == pytest.approx(r.metrics.total_return_pct, rel=1e-9)


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="the sandbox needs Linux")
def test_code_strategy_short_signals_are_checked_like_the_others():
    # two signals from a long_short strategy, four from a long one: X126 saying what to return
    two = CODE_LS.replace("return up, c < s * 0.97, down, c > s * 1.03", "return up, down")
    for doc, needle in ((_code_doc(two), "(entries, exits, short_entries, short_exits)"),
                        (_code_doc(CODE_LS, "long"), "direction: long_short")):
        with pytest.raises(RuleEngineError) as err:
            ruleengine.backtest(doc, "AAPL", "2014-01-01", "2015-12-31", provider="sample", benchmark=None)
        d = err.value.diagnostics[0]
        assert d.code == "X126" and needle in d.message, d.message
    # a short side that looks ahead (it knows the last close of whatever data it gets: the static check cannot
    # see it) is caught by the acceptance run like an entry that does
    ahead = CODE_LS.replace("return up, c < s * 0.97, down, c > s * 1.03",
                            "return up, c < s * 0.97, down, c > c.iat[len(c) - 1]")
    with pytest.raises(RuleEngineError) as err:
        ruleengine.backtest(_code_doc(ahead), "AAPL", "2014-01-01", "2015-12-31", provider="sample",
                            benchmark=None)
    d = err.value.diagnostics[0]
    assert d.code == "X129" and "short_exits of AAPL" in d.message, d.message


def test_explain_says_an_opposite_entry_closes_a_side_without_exits():
    """rules/sma_long_short.yaml has no exit conditions: its positions close on the other side's entry, which
    explain says (it said 'exits come from the risk rules only', and this example has no risk exits)."""
    text = ruleengine.compile_strategy(RULE).explain_text()
    assert "exit (sell): (none: exits come from the risk rules and from short_entry, which reverses the " \
           "position)" in text
    assert "short_exit (buy to cover): (none: exits come from the risk rules and from entry, which reverses " \
           "the position)" in text
