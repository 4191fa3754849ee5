"""Pair positions (the document's ``pair`` block): two legs opened and closed together as one position.

Bar tables run through the numba engine (`simulate_pairs`) and the plain-Python reference
(tests/support/sim_reference.py `reference_pairs`); both must give exactly the trades computed by hand in
the comments. Leg a starts at 100 and leg b at 50: going long the pair with 10 000 equal dollars buys 50 units
of a and sells 100 units of b short, so the pair's equity is 10 000 + 50 x (a - 100) + 100 x (50 - b).
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support.sim_reference import reference_pairs, reference_pairs_portfolio
from test_backtest_stops import BASE, CASH, sig, table

from ruleengine.backtest.pairs import simulate_pairs, simulate_pairs_portfolio

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"

A0 = (100.0, 101.0, 99.0, 100.0)
B0 = (50.0, 50.5, 49.5, 50.0)
LEG_KEYS = ("leg_a_pnl", "leg_b_pnl", "leg_b_entry_price", "leg_b_exit_price", "leg_b_size", "leg_b_fees")


def pair_run(bars_a, bars_b, entries, exits, risk=BASE, hedge=1.0, sizing="dollar_neutral", short_entries=None,
             short_exits=None, start=0, program=None, volatility=None):
    """Simulate with the engine and the reference; assert they agree (trades, equity and the sizing notes);
    return the engine's trades as dicts. `program`: exit conditions on the pair's position variables (the
    engine runs them compiled, the reference evaluates the same program in Python); `volatility`: the pair's
    volatility on every bar."""
    prices_a, idx = table(bars_a)
    prices_b, _ = table(bars_b, idx)
    n = len(idx)
    ent, ext = sig(n, *entries), sig(n, *exits)
    sides = {"short_entries": None if short_entries is None else sig(n, *short_entries),
             "short_exits": None if short_exits is None else sig(n, *short_exits)}
    hedge_arr = np.broadcast_to(np.asarray(hedge, dtype=float).reshape(-1, 1), (n, 1))
    vol = None if volatility is None else np.full((n, 1), volatility, dtype=float)
    if short_entries is not None:  # both sides: a long/short pair
        risk = replace(risk, direction="long_short")
    exit_program = None if program is None else position_program(program)
    sim = simulate_pairs(prices_a, prices_b, ent, ext, idx, risk, hedge_ratio=hedge_arr, sizing=sizing,
                         init_cash=CASH, start=start, levels=None if vol is None else {"volatility": vol},
                         exit_program=exit_program, **sides)
    notes: list = []
    rule = None if exit_program is None else (lambda t, j, state: exit_program.evaluate([], state).exit)
    ref_trades, ref_eq = reference_pairs(prices_a, prices_b, ent, ext, idx, [risk], hedge_arr, sizing, CASH, start,
                                         **sides, volatility=vol, exit_rule=rule, notes=notes)
    got = sim.trades.drop(columns=["entry_time", "exit_time"]).to_dict("records")
    assert_same_pair_trades(got, ref_trades)
    np.testing.assert_allclose(sim.equity[:, 0], [row[0] for row in ref_eq], rtol=1e-12)
    assert list(zip(sim.skipped.bar, sim.skipped.column, sim.skipped.reason, strict=True)) == notes
    return got, sim


def position_program(conditions):
    """The exit program of a pair document whose exit conditions use position variables and numbers only (no
    per-bar level: the bar tables have no document data)."""
    from ruleengine.compile.compiled import compile_rules
    from ruleengine.compile.exit_program import split_exit

    doc = {"name": "p", "data": {"asset_a": {"kind": "ohlcv"}, "asset_b": {"kind": "ohlcv"}},
           "entry": ["asset_a.close > 0"], "exit": conditions, "pair": {"legs": ["asset_a", "asset_b"]}}
    program = split_exit(compile_rules(doc).analysis).program
    assert program is not None and program.levels == ()
    return program


def assert_same_pair_trades(got, want, rel=1e-12):
    assert len(got) == len(want), (got, want)
    for g, r in zip(got, want, strict=True):
        assert {k: g[k] for k in ("column", "entry_bar", "exit_bar", "exit_reason", "direction")} == \
            {k: r[k] for k in ("column", "entry_bar", "exit_bar", "exit_reason", "direction")}
        for k in ("entry_price", "exit_price", "size", "pnl", "pnl_pct", "fees", *LEG_KEYS):
            assert g[k] == pytest.approx(r[k], rel=rel, abs=1e-9 * CASH), k


def brief(trades):
    return [(t["entry_bar"], t["exit_bar"], t["exit_reason"], round(t["exit_price"], 10),
             round(t["leg_b_exit_price"], 10)) for t in trades]


# ------------------------------------------------------------------------------------------------ bar tables
def test_long_the_pair_buys_the_first_leg_and_sells_the_second_with_equal_dollars():
    # a: 100 -> 104 -> 110, b: 50 -> 49 -> 45; exit signal at bar 2's close
    a = [A0, (101, 105, 100, 104), (104, 111, 103, 110)]
    b = [B0, (50, 50, 48, 49), (49, 49, 44, 45)]
    trades, sim = pair_run(a, b, [0], [2])
    assert brief(trades) == [(0, 2, "signal", 110.0, 45.0)]
    t = trades[0]
    assert (t["size"], t["leg_b_size"], t["direction"]) == (pytest.approx(50.0), pytest.approx(100.0), 1)
    assert (t["leg_a_pnl"], t["leg_b_pnl"]) == (pytest.approx(500.0), pytest.approx(500.0))
    assert t["pnl"] == pytest.approx(1_000.0) and t["pnl_pct"] == pytest.approx(10.0)
    np.testing.assert_allclose(sim.equity[:, 0], [CASH, CASH + 200 + 100, CASH + 1_000])
    assert sim.position[:, 0].tolist() == [50.0, 50.0, 0.0]
    assert sim.position_b[:, 0].tolist() == [-100.0, -100.0, 0.0]


def test_short_the_pair_sells_the_first_leg_and_buys_the_second():
    a = [A0, (101, 105, 100, 104), (104, 111, 103, 110)]
    b = [B0, (50, 50, 48, 49), (49, 49, 44, 45)]
    trades, sim = pair_run(a, b, [0], [2], replace(BASE, direction="short"))
    t = trades[0]
    assert t["direction"] == -1 and (t["leg_a_pnl"], t["leg_b_pnl"]) == (pytest.approx(-500.0), pytest.approx(-500.0))
    assert sim.position[0, 0] == -50.0 and sim.position_b[0, 0] == 100.0


def test_combined_stop_loss_at_the_close_not_inside_the_bar():
    # SL 5 % of the value at entry (10 000): 9 500. Bar 1: a's low of 80 would be far through a one-leg stop,
    # but the pair closes at 9 900 (a 99, b 50); bar 2 closes at 50 x 94 + 100 x (100 - 52) = 9 500: stopped at
    # the closes
    a = [A0, (100, 100, 80, 99), (98, 99, 93, 94), A0]
    b = [B0, (50, 51, 49, 50), (51, 53, 50, 52), B0]
    trades, _ = pair_run(a, b, [0], [], replace(BASE, stop_loss_pct=5))
    assert brief(trades) == [(0, 2, "stop_loss", 94.0, 52.0)]
    assert trades[0]["pnl"] == pytest.approx(-500.0)


def test_a_gap_through_the_combined_stop_fills_both_legs_at_their_opens():
    # bar 1 opens at a 90, b 55: 50 x 90 + 100 x 45 = 9 000 <= 9 500 -> both legs out at their opens
    a = [A0, (90, 92, 88, 91), A0]
    b = [B0, (55, 56, 54, 55), B0]
    trades, sim = pair_run(a, b, [0], [], replace(BASE, stop_loss_pct=5))
    assert brief(trades) == [(0, 1, "stop_loss", 90.0, 55.0)]
    assert sim.equity[-1, 0] == pytest.approx(9_000.0)


def test_combined_take_profit_and_trailing_stop():
    # TP 5 %: bar 1 closes at 50 x 103 + 100 x (100 - 48) = 10 350 >= 10 500? no; bar 2 at 50 x 106 + 100 x 53
    # = 10 600: take profit at the closes
    a = [A0, (101, 104, 100, 103), (103, 107, 102, 106)]
    b = [B0, (49, 50, 47, 48), (48, 48, 46, 47)]
    trades, _ = pair_run(a, b, [0], [], replace(BASE, take_profit_pct=5))
    assert brief(trades) == [(0, 2, "take_profit", 106.0, 47.0)]
    # trail 3 % of the highest value: bar 1 closes at 10 600 (peak); bar 2 at 50 x 104 + 100 x 49 = 10 100
    # <= 10 600 x 0.97 = 10 282: trailing stop at the closes
    a = [A0, (103, 107, 102, 106), (105, 106, 103, 104), A0]
    b = [B0, (48, 48, 46, 47), (48, 50, 47, 51), B0]
    trades, _ = pair_run(a, b, [0], [], replace(BASE, trailing_stop_pct=3))
    assert brief(trades) == [(0, 2, "trailing_stop", 104.0, 51.0)]


def test_a_bar_without_one_legs_price_opens_nothing_and_closes_nothing():
    # b has no bar 1: the entry signal of bar 1 is not acted on; bar 2 enters. b has no bar 3 either: the exit
    # signal of bar 3 waits for... nothing (signals of a skipped bar are dropped); bar 4's exit closes the pair,
    # and on bar 3 the pair is marked at b's last close (bar 2's)
    a = [A0, A0, A0, (101, 103, 100, 102), (102, 104, 101, 104)]
    b = [B0, None, B0, None, (49, 50, 48, 48)]
    trades, sim = pair_run(a, b, [1, 2], [3, 4])
    assert brief(trades) == [(2, 4, "signal", 104.0, 48.0)]
    assert trades[0]["pnl"] == pytest.approx(50 * 4 + 100 * 2)
    np.testing.assert_allclose(sim.equity[:, 0], [CASH, CASH, CASH, CASH + 50 * 2, CASH + 400])


def test_hedge_ratio_units_and_a_hedge_ratio_read_at_the_signal_bar():
    # units: units_b = 1 x units_a; budget_a / 10 000 = 100 / (100 + 50) -> 66.67 units of each
    a = [A0, (101, 105, 100, 104)]
    b = [B0, (50, 50, 48, 49)]
    trades, _ = pair_run(a, b, [0], [1], sizing="hedge_ratio_units")
    assert trades[0]["size"] == pytest.approx(CASH / 150) and trades[0]["leg_b_size"] == pytest.approx(CASH / 150)
    # dollar neutral with a hedge ratio series: NaN at bar 0 (no entry), 2 at bar 1: b's value = 2 x a's
    a = [A0, A0, (101, 105, 100, 104)]
    b = [B0, B0, (50, 50, 48, 49)]
    trades, _ = pair_run(a, b, [0, 1], [2], hedge=[math.nan, 2.0, 5.0])
    assert trades[0]["entry_bar"] == 1
    assert trades[0]["size"] * 100 == pytest.approx(CASH / 3) and trades[0]["leg_b_size"] * 50 == \
        pytest.approx(2 * CASH / 3)
    # a hedge ratio <= 0 opens nothing
    assert pair_run(a, b, [0, 1], [2], hedge=[-1.0, 0.0, 1.0])[0] == []


def test_fees_and_slippage_on_each_leg():
    # slippage 1 %: a bought at 101, b sold at 49.5; out: a sold at 110 x 0.99, b bought back at 45 x 1.01
    risk = replace(BASE, fees_pct=1.0, slippage_pct=1.0)
    a = [A0, (104, 111, 103, 110)]
    b = [B0, (49, 49, 44, 45)]
    trades, _ = pair_run(a, b, [0], [1], risk)
    t = trades[0]
    net = 5_000 / 1.01
    ua, ub = net / 101.0, net / 49.5
    assert (t["entry_price"], t["leg_b_entry_price"]) == (pytest.approx(101.0), pytest.approx(49.5))
    assert (t["exit_price"], t["leg_b_exit_price"]) == (pytest.approx(108.9), pytest.approx(45.45))
    fees_a = (5_000 - net) + ua * 108.9 * 0.01
    fees_b = (5_000 - net) + ub * 45.45 * 0.01
    assert t["fees"] == pytest.approx(fees_a + fees_b) and t["leg_b_fees"] == pytest.approx(fees_b)
    assert t["pnl"] == pytest.approx(ua * (108.9 - 101.0) + ub * (49.5 - 45.45) - fees_a - fees_b)


def test_open_fills_enter_and_leave_at_the_next_opens():
    risk = replace(BASE, execution_price="open")
    a = [A0, (102, 103, 101, 102), (103, 104, 102, 103), (106, 107, 105, 106)]
    b = [B0, (50, 51, 49, 50), (49, 50, 48, 49), (47, 48, 46, 47)]
    trades, _ = pair_run(a, b, [0], [2], risk)
    assert brief(trades) == [(1, 3, "signal", 106.0, 47.0)]
    assert trades[0]["entry_price"] == 102.0 and trades[0]["leg_b_entry_price"] == 50.0


def test_a_short_entry_reverses_the_pair_at_the_same_fill():
    # long the pair at bar 0, the short entry of bar 2 closes it and goes short the pair at bar 2's closes
    a = [A0, (101, 103, 100, 102), (102, 106, 101, 105), (104, 105, 100, 101)]
    b = [B0, (50, 51, 49, 50), (50, 50, 47, 48), (48, 51, 48, 50)]
    trades, _ = pair_run(a, b, [0], [], short_entries=[2], short_exits=[3])
    assert [(t["entry_bar"], t["exit_bar"], t["exit_reason"], t["direction"]) for t in trades] == \
        [(0, 2, "signal", 1), (2, 3, "signal", -1)]


def test_max_hold_and_end_of_data():
    a = [A0, A0, (100, 101, 99, 101), A0]
    b = [B0, B0, B0, B0]
    assert brief(pair_run(a, b, [0], [], replace(BASE, max_hold_bars=2))[0]) == [(0, 2, "max_hold", 101.0, 50.0)]
    trades, _ = pair_run(a, b, [1], [])
    assert brief(trades) == [(1, 3, "end_of_data", 100.0, 50.0)]
    assert trades[0]["fees"] == 0.0


# ---------------------------------------------------------------------------- exits that know the trade (pairs)
def test_trailing_activation_on_the_pairs_value_reached_and_lost():
    # trail 3 %: bar 1 closes at 10 350 (peak), bar 2 at 10 000 <= 10 350 x 0.97 = 10 039.5: trailed out at bar 2.
    # With activation 5 % the trail waits for a peak >= 10 500: bar 3 closes at 10 600, then bar 4 at
    # 50 x 104 + 100 x (100 - 49.5) = 10 250 <= 10 600 x 0.97 = 10 282: trailed out at bar 4's closes
    a = [A0, (100, 104, 99, 103), (103, 104, 99, 100), (100, 107, 99, 106), (106, 107, 103, 104)]
    b = [B0, (50, 50, 47, 48), (48, 50.5, 47, 50), (50, 50, 46, 47), (47, 50, 46, 49.5)]
    trail = replace(BASE, trailing_stop_pct=3)
    assert brief(pair_run(a, b, [0], [], trail)[0]) == [(0, 2, "trailing_stop", 100.0, 50.0)]
    trades, _ = pair_run(a, b, [0], [], replace(trail, trailing_stop_activation_pct=5))
    assert brief(trades) == [(0, 4, "trailing_stop", 104.0, 49.5)]
    assert trades[0]["pnl"] == pytest.approx(250.0)


def test_take_profit_by_bars_on_the_pairs_value_gaps_at_the_opens():
    # {0: 10, 2: 3}: bar 1 closes at 10 350 (held 1: 10 % needed); bar 2 opens at 10 350 with 2 bars held: the
    # 3 % row (10 300) is already passed at the open: both legs out at their opens
    a = [A0, (100, 104, 99, 103), (103, 104, 99, 100), A0]
    b = [B0, (50, 50, 47, 48), (48, 50.5, 47, 50), B0]
    risk = replace(BASE, take_profit_by_bars=((0, 10.0), (2, 3.0)))
    assert brief(pair_run(a, b, [0], [], risk)[0]) == [(0, 2, "take_profit", 103.0, 48.0)]


def test_position_variables_of_a_pair_are_its_value():
    # unrealized_pct of the pair's value: bar 1 closes at 50 x 99 + 100 x 49 = 9 850 (-1.5 %), bar 2 at
    # 50 x 98 + 100 x 48.5 = 9 750 (-2.5 %): the exit signal of bar 2's close
    a = [A0, (100, 100, 98, 99), (99, 99, 97, 98), A0, A0]
    b = [B0, (50, 51.5, 50, 51), (51, 52, 51, 51.5), B0, B0]
    assert brief(pair_run(a, b, [0], [], program=["unrealized_pct <= -2"])[0]) == [(0, 2, "signal", 98.0, 51.5)]
    # open fills: entered at bar 1's opens (100, 50); -2.5 % at bar 2's close exits at bar 3's opens
    trades, _ = pair_run(a, b, [0], [], replace(BASE, execution_price="open"), program=["unrealized_pct <= -2"])
    assert brief(trades) == [(1, 3, "signal", 100.0, 50.0)]
    assert brief(pair_run(a, b, [0], [], program=["bars_held >= 2"])[0]) == [(0, 2, "signal", 98.0, 51.5)]
    # entry_price is the value at entry (10 000); give back: 10 350 at bar 1, then 50 x 101 + 100 x 50.1 =
    # 10 060 at bar 2 (+0.6 %)
    a = [A0, (100, 104, 99, 103), (103, 104, 99, 101), A0]
    b = [B0, (50, 50, 47, 48), (48, 50.5, 47, 49.9), B0]
    giveback = ["highest_since_entry >= entry_price * 1.03 and unrealized_pct < 1"]
    assert brief(pair_run(a, b, [0], [], program=giveback)[0]) == [(0, 2, "signal", 101.0, 49.9)]
    # the extremes count the values at the opens: bar 1 opens at 50 x 98 + 100 x 49 = 9 800 < 9 900, and
    # closes back at 10 000: lowest_since_entry exits at its close
    a = [A0, (98, 101, 97, 100), A0]
    b = [B0, (51, 51, 49, 50), B0]
    assert brief(pair_run(a, b, [0], [], program=["lowest_since_entry < entry_price * 0.99"])[0]) == \
        [(0, 1, "signal", 100.0, 50.0)]
    # a long_short pair: the exit block's program closes long pairs only (short pairs run short_exit's: none here)
    a = [A0, A0, A0, A0, A0]
    b = [B0, B0, B0, B0, B0]
    trades, _ = pair_run(a, b, [0], [], short_entries=[2], short_exits=[], program=["bars_held >= 1"])
    assert [(t["entry_bar"], t["exit_bar"], t["exit_reason"], t["direction"]) for t in trades] == \
        [(0, 1, "signal", 1), (2, 4, "end_of_data", -1)]


def test_sizing_methods_on_a_pair():
    a = [A0, (100, 101, 99, 95), A0]
    b = [B0, (50, 53, 50, 52.5), B0]
    no_pct = replace(BASE, position_size_pct=None)
    # a fixed cash amount: 5 000 split in equal dollars (25 units of a, 50 of b)
    t = pair_run(a, b, [0], [2], replace(no_pct, position_size_cash=5_000.0))[0][0]
    assert (t["size"], t["leg_b_size"]) == (pytest.approx(25.0), pytest.approx(50.0))
    # risk 1 % with a 5 % stop on the pair's value: 10 000 x 1 % / 5 % = 2 000 (10 units of a, 20 of b); bar 1
    # closes at 10 x 95 + 20 x (100 - 52.5) = 1 900, the stop level: -100, 1 % of the equity
    trades, _ = pair_run(a, b, [0], [], replace(no_pct, risk_per_trade_pct=1.0, stop_loss_pct=5.0))
    assert brief(trades) == [(0, 1, "stop_loss", 95.0, 52.5)]
    assert (trades[0]["size"], trades[0]["pnl"]) == (pytest.approx(10.0), pytest.approx(-100.0))
    # a volatility target of 10 % on a pair whose volatility is 20 %: a position worth 5 000
    t = pair_run(a, b, [0], [2], replace(no_pct, volatility_target_pct=10.0), volatility=0.2)[0][0]
    assert (t["size"], t["leg_b_size"]) == (pytest.approx(25.0), pytest.approx(50.0))
    # NaN volatility: skipped and noted; 150 % of the cash: cut to the cash and noted
    _, sim = pair_run(a, b, [0], [2], replace(no_pct, volatility_target_pct=10.0), volatility=math.nan)
    assert sim.trades.empty and sim.skipped.reason.tolist() == ["no_volatility"]
    _, sim = pair_run(a, b, [0], [2], replace(BASE, position_size_pct=150.0))
    assert sim.skipped.reason.tolist() == ["capped_by_cash"] and sim.trades["size"][0] == pytest.approx(50.0)


def test_whole_units_round_each_leg_and_keep_the_hedge_ratio():
    b30 = [(30, 30, 30, 30)] * 3
    a = [A0, A0, A0]
    whole = replace(BASE, whole_units=True, fees_pct=0.1)
    # dollar neutral: leg a 5 000 / (100 x 1.001) -> 49 units; leg b from leg a's value: 49 x 100 / 30 -> 163
    t = pair_run(a, b30, [0], [2], whole)[0][0]
    assert (t["size"], t["leg_b_size"]) == (49.0, 163.0)
    assert t["fees"] == pytest.approx((49 * 100 + 163 * 30) * 0.001 * 2)
    # hedge_ratio_units 2: leg a 10 000 x 100 / 160 = 6 250 -> 62 units, leg b 2 x 62 = 124
    t = pair_run(a, b30, [0], [2], whole, hedge=2.0, sizing="hedge_ratio_units")[0][0]
    assert (t["size"], t["leg_b_size"]) == (62.0, 124.0)
    # 150 cash: 75 for leg a buys no whole unit: skipped, noted
    _, sim = pair_run(a, b30, [0], [2], replace(whole, position_size_pct=None, position_size_cash=150.0))
    assert sim.trades.empty and sim.skipped.reason.tolist() == ["zero_units"]


# ------------------------------------------------------------------------------------------------ portfolios
def portfolio_run(pairs, entries, risk, program=None):
    """Pairs (a list of (bars of leg a, bars of leg b)) sharing one account, each entered at the bars in
    `entries`: the engine and the reference must agree (trades, equity, notes). Returns (trades, simulation)."""
    tables = [(table(a)[0], table(b)[0]) for a, b in pairs]
    idx = table(pairs[0][0])[1]
    n, k = len(idx), len(pairs)
    prices_a = {c: np.hstack([ta[c] for ta, _ in tables]) for c in ("open", "high", "low", "close")}
    prices_b = {c: np.hstack([tb[c] for _, tb in tables]) for c in ("open", "high", "low", "close")}
    ent = np.hstack([sig(n, *e) for e in entries])
    ext = np.zeros((n, k), dtype=bool)
    hedge = np.ones((n, k))
    exit_program = None if program is None else position_program(program)
    sim = simulate_pairs_portfolio(prices_a, prices_b, ent, ext, idx, risk, hedge_ratio=hedge, init_cash=CASH,
                                   exit_program=exit_program)
    notes: list = []
    rule = None if exit_program is None else (lambda t, j, state: exit_program.evaluate([], state).exit)
    ref_trades, ref_eq = reference_pairs_portfolio(prices_a, prices_b, ent, ext, idx, [risk] * k, hedge,
                                                   init_cash=CASH, exit_rule=rule, notes=notes)
    got = sim.trades.drop(columns=["entry_time", "exit_time"]).to_dict("records")
    key = ("column", "entry_bar")
    assert_same_pair_trades(sorted(got, key=lambda t: tuple(t[c] for c in key)),
                            sorted(ref_trades, key=lambda t: tuple(t[c] for c in key)))
    np.testing.assert_allclose(sim.equity[:, 0], ref_eq, rtol=1e-12)
    assert sorted(zip(sim.skipped.bar, sim.skipped.column, sim.skipped.reason, strict=True)) == sorted(notes)
    return got, sim


UP = ([A0, (100, 104, 99, 103), (103, 104, 99, 106)], [B0, (50, 50, 47, 48), (48, 50.5, 47, 47)])


def test_a_portfolio_of_pairs_shares_its_cash():
    # 50 % each, both entered at bar 0's close on the equity before the step (10 000): 25 units of a, 50 of b
    # each; the equity is both pairs' value: 10 000 + 2 x (25 x (a - 100) + 50 x (50 - b))
    trades, sim = portfolio_run([UP, UP], [[0], [0]], replace(BASE, position_size_pct=50.0))
    assert [(t["column"], t["size"], t["leg_b_size"]) for t in trades] == [(0, 25.0, 50.0), (1, 25.0, 50.0)]
    np.testing.assert_allclose(sim.equity[:, 0], [CASH, CASH + 2 * (75 + 100), CASH + 2 * (150 + 150)])
    assert sim.cash[-1, 0] == pytest.approx(0.0)
    # 60 % each: the second pair's 6 000 is more than the 4 000 left: skipped, never cut
    trades, sim = portfolio_run([UP, UP], [[0], [0]], replace(BASE, position_size_pct=60.0))
    assert [t["column"] for t in trades] == [0] and sim.skipped.reason.tolist() == ["cash"]


def test_portfolio_caps_count_a_pair_as_one_position_and_both_legs_as_exposure():
    half = replace(BASE, position_size_pct=40.0)
    trades, sim = portfolio_run([UP, UP], [[0], [0]], replace(half, max_open_positions=1))
    assert [t["column"] for t in trades] == [0] and sim.skipped.reason.tolist() == ["max_open_positions"]
    assert len(portfolio_run([UP, UP], [[0], [0]], replace(half, max_open_positions=2))[0]) == 2
    # each pair is worth 4 000 at entry (2 000 per leg): 4 000 + 4 000 > 70 % of 10 000 (one leg each would be
    # 4 000 in all, under the cap)
    trades, sim = portfolio_run([UP, UP], [[0], [0]], replace(half, max_gross_exposure_pct=70.0))
    assert [t["column"] for t in trades] == [0] and sim.skipped.reason.tolist() == ["max_gross_exposure"]
    assert len(portfolio_run([UP, UP], [[0], [0]], replace(half, max_gross_exposure_pct=80.0))[0]) == 2


def test_a_portfolio_of_pairs_with_its_exit_program_and_open_fills():
    # 5 000 each; pair 1 falls to 25 x 99 + 50 x (100 - 51) = 4 925 at bar 1's close (-1.5 %): the program exits
    # it there (close fills) or at bar 2's opens (open fills: both entered at bar 1's opens of 100 / 50); the
    # 2 % trail (4 900) is not reached; pair 0 rises and is still open at the end
    down = ([A0, (100, 100, 98, 99), (99, 99, 97, 98)], [B0, (50, 51.5, 50, 51), (51, 52, 51, 51.5)])
    want = {"close": [(0, 0, 2, "end_of_data"), (1, 0, 1, "signal")],
            "open": [(0, 1, 2, "end_of_data"), (1, 1, 2, "signal")]}
    for ex in ("close", "open"):
        risk = replace(BASE, position_size_pct=50.0, trailing_stop_pct=2.0, execution_price=ex)
        trades, _ = portfolio_run([UP, down], [[0], [0]], risk, program=["unrealized_pct <= -1"])
        assert sorted((t["column"], t["entry_bar"], t["exit_bar"], t["exit_reason"]) for t in trades) == want[ex]


# ------------------------------------------------------------------------------------------------ real data
PAIR_DOC = {
    "name": "pair z-score", "data": {"asset_a": {"kind": "ohlcv"}, "asset_b": {"kind": "ohlcv"}},
    "params": {"n": {"type": "int", "min": 5, "max": 60, "default": 20}},
    "entry": ["zscore(asset_a.close / asset_b.close, n) < -1.5"],
    "exit": ["abs(zscore(asset_a.close / asset_b.close, n)) < 0.3"],
    "pair": {"legs": ["asset_a", "asset_b"], "hedge_ratio": "sma(asset_a.close, 30) / sma(asset_b.close, 30)"}}
#: the short side of the same spread (z above 1.5), as short_entries / short_exits
SHORT_SIDE = {**PAIR_DOC, "entry": ["zscore(asset_a.close / asset_b.close, n) > 1.5"]}
#: two ETFs of one market, and an ETF against a stock delisted in 2012 (the second leg then has no bars)
PAIRS = ("asset_a=XLE,asset_b=XLF", "asset_a=QQQ,asset_b=LEHMQ")
START, END = "2006-01-01", "2017-12-31"


#: exits that know the pair: a program on its position variables with a per-bar level (the z-score), and the
#: pair's volatility (half the log spread's: equal dollars) for a volatility target
KNOWING_DOC = {**PAIR_DOC, "exit": {"logic": "any", "conditions": [
    "abs(zscore(asset_a.close / asset_b.close, n)) < 0.3",
    "unrealized_pct < -4 or bars_held >= 25",
    "highest_since_entry > entry_price * 1.03 and unrealized_pct < 1 and zscore(asset_a.close / asset_b.close, n) > 0",
]}, "risk": {"volatility_target_pct": 10,
             "volatility": "stddev(log_return(asset_a.close / asset_b.close, 1), 20) * sqrt(252) / 2"}}


class PairRun:
    """A pair's market data, both sides' signals, the hedge ratio, the volatility and the exit program on the
    local files."""

    def __init__(self, symbols: str, folder, doc=PAIR_DOC) -> None:
        import ruleengine

        self.strategy = ruleengine.load_strategy(doc)
        self.md = ruleengine.load_data(self.strategy, symbols, START, END, data=str(folder))
        self.prices_a = {k: self.md.inputs[("asset_a", k)] for k in ("open", "high", "low", "close")}
        self.prices_b = {k: self.md.inputs[("asset_b", k)] for k in ("open", "high", "low", "close")}
        sig = ruleengine.compile_strategy(self.strategy).signals(self.md)
        short = ruleengine.compile_strategy({**doc, "entry": SHORT_SIDE["entry"]}).signals(self.md)
        self.entries, self.exits, self.hedge = sig.entries, sig.exits, sig.levels["hedge_ratio"]
        self.short_entries, self.short_exits = short.entries, short.exits
        self.program = sig.exit_program
        self.levels = {k: v for k, v in sig.levels.items() if k != "hedge_ratio"}

    def both(self, risk, sizing="dollar_neutral", two_sided=True, end=None):
        """(engine simulation, reference (trades, equity, notes)) of rows [0, end)."""
        cut = slice(0, end)
        pa = {k: v[cut] for k, v in self.prices_a.items()}
        pb = {k: v[cut] for k, v in self.prices_b.items()}
        sides = {"short_entries": self.short_entries[cut] if two_sided else None,
                 "short_exits": self.short_exits[cut] if two_sided else None}
        if two_sided:
            risk = replace(risk, direction="long_short")
        levels = {k: v[cut] for k, v in self.levels.items()}
        sim = simulate_pairs(pa, pb, self.entries[cut], self.exits[cut], self.md.index[cut], risk,
                             hedge_ratio=self.hedge[cut], sizing=sizing, init_cash=CASH, start=self.md.start,
                             levels=levels, exit_program=self.program, **sides)
        rule = None
        if self.program is not None:
            rows = [levels[f"exit_program:{k}"] for k in range(len(self.program.levels))]
            rule = lambda t, j, state: self.program.evaluate([r[t, j] for r in rows], state).exit  # noqa: E731
        notes: list = []
        ref = reference_pairs(pa, pb, self.entries[cut], self.exits[cut], self.md.index[cut], [risk],
                              self.hedge[cut], sizing, CASH, self.md.start, **sides,
                              volatility=levels.get("volatility"), exit_rule=rule, notes=notes)
        return sim, (*ref, notes)


@pytest.fixture(scope="module")
def pair_runs(real_daily):
    return {symbols: PairRun(symbols, real_daily) for symbols in PAIRS}


STOPS = [{}, {"stop_loss_pct": 3}, {"take_profit_pct": 4}, {"trailing_stop_pct": 3},
         {"stop_loss_pct": 4, "take_profit_pct": 5, "trailing_stop_pct": 2.5}, {"max_hold_days": 15},
         {"max_hold_bars": 6, "stop_loss_pct": 2, "fees_pct": 0.1, "slippage_pct": 0.05, "position_size_pct": 60},
         {"borrow_cost_pct": 25, "take_profit_pct": 3, "fees_pct": 0.1}]
COMBOS = [replace(BASE, execution_price=ex, **kw) for kw in STOPS for ex in ("close", "open")]


@pytest.mark.parametrize("symbols", PAIRS)
def test_every_stop_combination_matches_the_reference(pair_runs, symbols):
    run = pair_runs[symbols]
    reasons: set[str] = set()
    directions: set[int] = set()
    for risk in COMBOS:
        for sizing, two_sided in (("dollar_neutral", True), ("hedge_ratio_units", False)):
            sim, (ref_trades, ref_eq, _) = run.both(risk, sizing, two_sided)
            got = sim.trades.drop(columns=["entry_time", "exit_time"]).to_dict("records")
            assert_same_pair_trades(got, ref_trades, rel=1e-9)
            np.testing.assert_allclose(sim.equity[:, 0], [row[0] for row in ref_eq], rtol=1e-9)
            reasons |= set(sim.trades.exit_reason)
            directions |= set(sim.trades.direction)
    assert reasons >= {"signal", "stop_loss", "take_profit", "trailing_stop", "max_hold"}
    assert directions == {1, -1}


#: the exits that know the trade and the sizing methods on a pair
KNOWING = [{"trailing_stop_pct": 2, "trailing_stop_activation_pct": 3, "stop_loss_pct": 5},
           {"take_profit_by_bars": ((0, 6.0), (5, 3.0), (15, 1.0)), "fees_pct": 0.1},
           {"position_size_pct": None, "risk_per_trade_pct": 1.0, "stop_loss_pct": 3, "slippage_pct": 0.05},
           {"position_size_pct": None, "position_size_cash": 7_000.0, "whole_units": True, "fees_pct": 0.1},
           {"position_size_pct": None, "volatility_target_pct": 10.0, "borrow_cost_pct": 5},
           {"whole_units": True, "trailing_stop_pct": 3, "max_hold_bars": 8}]


@pytest.fixture(scope="module")
def knowing_run(real_daily):
    return PairRun(PAIRS[0], real_daily, KNOWING_DOC)


def test_exits_and_sizing_that_know_the_pair_match_the_reference(knowing_run):
    """Each combination of KNOWING, with close and open fills, both sizings, one side and both: the engine
    equals the reference trade for trade (the exit program read on the pair's position variables), and so do
    the sizing notes."""
    run = knowing_run
    assert run.program is not None and run.program.levels and "volatility" in run.levels
    reasons: set[str] = set()
    sizes = []
    for kw in KNOWING:
        for ex in ("close", "open"):
            risk = replace(BASE, execution_price=ex, **kw)
            for sizing, two_sided in (("dollar_neutral", True), ("hedge_ratio_units", False)):
                sim, (ref_trades, ref_eq, notes) = run.both(risk, sizing, two_sided)
                got = sim.trades.drop(columns=["entry_time", "exit_time"]).to_dict("records")
                assert_same_pair_trades(got, ref_trades, rel=1e-9)
                np.testing.assert_allclose(sim.equity[:, 0], [row[0] for row in ref_eq], rtol=1e-9)
                assert list(zip(sim.skipped.bar, sim.skipped.column, sim.skipped.reason, strict=True)) == notes
                reasons |= set(sim.trades.exit_reason)
                sizes.append(sim.trades["size"].to_numpy())
    assert reasons >= {"signal", "stop_loss", "take_profit", "trailing_stop", "max_hold"}
    assert any(len(s) and np.all(s == np.floor(s)) for s in sizes)  # whole units traded


@pytest.mark.parametrize("execution_price", ["close", "open"])
def test_truncating_never_changes_earlier_trades_of_a_pair_that_knows_the_trade(knowing_run, execution_price):
    run = knowing_run
    risk = replace(BASE, execution_price=execution_price, trailing_stop_pct=2, trailing_stop_activation_pct=2,
                   take_profit_by_bars=((0, 6.0), (10, 2.0)), position_size_pct=None, risk_per_trade_pct=2.0,
                   stop_loss_pct=4, whole_units=True)
    full, _ = run.both(risk)
    T = run.md.n_rows
    key = ("entry_bar", "exit_bar", "exit_reason", "direction", "size", "leg_b_size")
    full_trades = full.trades.to_dict("records")
    assert len(full_trades) > 10
    for cut in np.linspace(run.md.start + 50, T - 1, 5).astype(int):
        part, _ = run.both(risk, end=cut)
        np.testing.assert_array_equal(part.equity, full.equity[:cut])
        closed = [t for t in full_trades if t["exit_bar"] < cut and t["exit_reason"] != "end_of_data"]
        assert [tuple(t[k] for k in key) for t in part.trades.to_dict("records") if t["exit_reason"] != "end_of_data"] \
            == [tuple(t[k] for k in key) for t in closed]


@pytest.mark.parametrize("execution_price", ["close", "open"])
def test_truncating_the_data_never_changes_earlier_pair_trades(pair_runs, execution_price):
    run = pair_runs[PAIRS[0]]
    risk = replace(BASE, stop_loss_pct=4, trailing_stop_pct=3, execution_price=execution_price)
    full, _ = run.both(risk)
    T = run.md.n_rows
    key = ("entry_bar", "exit_bar", "exit_reason", "direction")
    full_trades = full.trades.to_dict("records")
    for cut in np.linspace(run.md.start + 50, T - 1, 7).astype(int):
        part, _ = run.both(risk, end=cut)  # the signals of the full run: causal by construction (tested elsewhere)
        np.testing.assert_array_equal(part.equity, full.equity[:cut])
        part_trades = part.trades.to_dict("records")
        assert [tuple(t[k] for k in key) for t in part_trades if t["exit_reason"] != "end_of_data"] == \
            [tuple(t[k] for k in key) for t in full_trades if t["exit_bar"] < cut and t["exit_reason"] != "end_of_data"]


@pytest.mark.parametrize("direction", ["long", "short"])
def test_two_vectorbt_columns_summed_are_the_pair(pair_runs, direction):
    """vectorbt's from_signals as the oracle: leg a and leg b as two columns (the long leg "longonly", the short
    leg "shortonly") entered and left on our trades' bars with our trades' units, at the closes, with the
    same fees and slippage, give each leg's trades, and their values summed (less the second column's cash)
    are the pair's equity."""
    import vectorbt as vbt  # the oracle is part of the test set-up: missing it is a broken set-up, not a skip

    run = pair_runs[PAIRS[0]]
    risk = replace(BASE, fees_pct=0.1, slippage_pct=0.05, direction=direction)
    sim, _ = run.both(risk, two_sided=False)
    trades = sim.trades
    assert len(trades) > 10 and set(trades.direction) == {1 if direction == "long" else -1}
    T = run.md.n_rows
    big = 1e9  # vectorbt caps a short by its cash: an account that never binds
    close = np.column_stack([run.prices_a["close"][:, 0], run.prices_b["close"][:, 0]])
    entries, exits, size = np.zeros((T, 2), bool), np.zeros((T, 2), bool), np.full((T, 2), np.nan)
    entries[trades.entry_bar, :] = True
    ended = trades.exit_reason != "end_of_data"  # a position open at the end stays open (vectorbt marks it too)
    exits[trades.exit_bar[ended], :] = True
    size[trades.entry_bar, 0] = trades["size"]
    size[trades.entry_bar, 1] = trades["leg_b_size"]
    long_first = direction == "long"
    pf = vbt.Portfolio.from_signals(
        close, entries, exits, size=size, size_type="amount", fees=0.001, slippage=0.0005, init_cash=big,
        direction=["longonly", "shortonly"] if long_first else ["shortonly", "longonly"], freq="1D")
    legs = pf.trades.records
    for col, prefix in ((0, ""), (1, "leg_b_")):
        theirs = legs[legs["col"] == col]
        assert len(theirs) == len(trades)
        np.testing.assert_array_equal(theirs["entry_idx"], trades.entry_bar)
        np.testing.assert_array_equal(theirs["exit_idx"], trades.exit_bar)
        for ours, field in ((prefix + "entry_price", "entry_price"), (prefix + "exit_price", "exit_price"),
                            (prefix + "size", "size")):
            np.testing.assert_allclose(trades[ours], theirs[field], rtol=1e-12, err_msg=ours)
        np.testing.assert_allclose(trades["leg_a_pnl" if col == 0 else "leg_b_pnl"], theirs["pnl"], rtol=1e-9,
                                   atol=1e-6)
    value = pf.value().to_numpy()
    np.testing.assert_allclose(sim.equity[:, 0], CASH + (value[:, 0] - big) + (value[:, 1] - big), rtol=1e-9)


# ------------------------------------------------------------------------------------------------ the document
def test_a_document_without_a_pair_hashes_as_before_and_a_pair_reloads_equal():
    import ruleengine

    one_leg = {k: v for k, v in PAIR_DOC.items() if k != "pair"}
    base = ruleengine.load_strategy(one_leg)
    assert "pair" not in base.to_dict() and base.pair is None
    pair = ruleengine.load_strategy(PAIR_DOC)
    assert pair.strategy_hash() != base.strategy_hash()
    assert ruleengine.load_strategy(pair.to_dict()) == pair
    assert pair.to_dict()["pair"] == {"legs": ["asset_a", "asset_b"], "sizing": "dollar_neutral",
                                      "hedge_ratio": PAIR_DOC["pair"]["hedge_ratio"]}
    assert ruleengine.load_strategy({**PAIR_DOC, "pair": {"legs": ["asset_a", "asset_b"]}}).pair.hedge_ratio == 1.0


@pytest.mark.parametrize(("pair", "data", "code", "where"), [
    ({"legs": ["asset_a"]}, None, "S135", "pair.legs"),
    ({"hedge_ratio": 1.5}, None, "S135", "pair"),  # no legs: what they are (was a bare S102 without a hint)
    ({"legs": ["asset_a", "asset_a"]}, None, "S135", "pair.legs"),
    ({"legs": ["asset_a", "asset_b"], "hedge_ratio": 0}, None, "S135", "pair.hedge_ratio"),
    ({"legs": ["asset_a", "asset_b"], "sizing": "equal"}, None, "S104", "pair.sizing"),
    ({"legs": ["asset_a", "asset_c"]}, None, "S136", "pair"),
    ({"legs": ["asset_a", "eps"]}, {"eps": {"kind": "earnings"}}, "S136", "pair"),
    ({"legs": ["asset_a", "weekly"]}, {"weekly": {"kind": "ohlcv", "frequency": "1Week", "symbol_from": "asset_a"}},
     "S137", "pair"),
    ({"legs": ["asset_a", "asset_b"]}, {"asset_b": {"kind": "earnings"}}, "S138", "pair"),
])
def test_bad_pairs_are_structured_errors_at_their_place(pair, data, code, where):
    import ruleengine
    from ruleengine.errors import RuleEngineError

    doc = {**PAIR_DOC, "pair": pair, "data": {**PAIR_DOC["data"], **(data or {})}}
    with pytest.raises(RuleEngineError) as err:
        ruleengine.load_strategy(doc)
    d = err.value.diagnostics[0]
    assert (d.code, d.path) == (code, where), d
    assert d.hint


def test_a_true_false_hedge_ratio_is_s139_at_its_place(tmp_path):
    import ruleengine
    from ruleengine.errors import RuleEngineError

    f = tmp_path / "pair.yaml"
    f.write_text("name: p\ndata:\n  asset_a: {kind: ohlcv}\n  asset_b: {kind: ohlcv}\n"
                 "entry: [\"asset_a.close > asset_b.close\"]\n"
                 "pair:\n  legs: [asset_a, asset_b]\n  hedge_ratio: \"asset_a.close > 1\"\n", encoding="utf-8")
    with pytest.raises(RuleEngineError) as err:
        ruleengine.compile_strategy(str(f))
    d = err.value.diagnostics[0]
    assert (d.code, d.path, d.span.line) == ("S139", "pair.hedge_ratio", 8)
    f.write_text(f.read_text().replace("asset_a.close > 1", "smaa(asset_a.close, 5)"), encoding="utf-8")
    with pytest.raises(RuleEngineError) as err:
        ruleengine.compile_strategy(str(f))
    d = err.value.diagnostics[0]
    assert (d.code, d.path, d.span.line) == ("C101", "pair.hedge_ratio", 8) and "sma" in d.hint


# ------------------------------------------------------------------------------------------------ backtests
def test_backtest_of_a_pair_document_holds_both_legs(real_daily, tmp_path):
    import json

    import ruleengine
    from ruleengine.backtest.risk import FILL_CONTRACT, PAIR_FILL_CONTRACT, SHORT_FILL_CONTRACT

    doc = {**PAIR_DOC, "risk": {"fees_pct": 0.1, "stop_loss_pct": 5}}
    result = ruleengine.backtest(doc, "asset_a=XLE,asset_b=XLF", START, END, data=str(real_daily), benchmark=None)
    run = result.results[0]
    assert run.label == "XLE/XLF" and run.metrics.total_trades == len(run.trades) > 5
    assert result.fill_contract == FILL_CONTRACT + SHORT_FILL_CONTRACT + PAIR_FILL_CONTRACT
    for t in run.trades:
        a, b = t.legs
        assert (a.symbol, a.side, b.symbol, b.side) == ("XLE", "long", "XLF", "short")
        assert (a.entry_price, a.exit_price, a.size) == (t.entry_price, t.exit_price, t.size)
        assert a.pnl + b.pnl == pytest.approx(t.pnl) and a.fees + b.fees == pytest.approx(t.fees)
    # the equity curve is the pair's: initial cash + the closed trades' P&L at the end when flat
    if run.trades[-1].exit_reason != "end_of_data":
        assert run.equity.value[-1] == pytest.approx(CASH + sum(t.pnl for t in run.trades))
    out = json.loads(result.to_json())["results"][0]
    assert [leg["symbol"] for leg in out["trades"][0]["legs"]] == ["XLE", "XLF"]
    # the run says how it traded the legs: the hedge ratio as written (an expression here) and the sizing
    assert out["pair"] == {"legs": ["asset_a", "asset_b"], "hedge_ratio": PAIR_DOC["pair"]["hedge_ratio"],
                           "sizing": "dollar_neutral"}
    html = tmp_path / "pair.html"
    result.write_report(str(html))
    page = html.read_text(encoding="utf-8")
    assert "<th>legs</th>" in page and "buy XLE (asset_a), sell short XLF (asset_b); hedge ratio sma(" in page
    # a one-leg trade has no legs key (results of one-instrument strategies read as before)
    one = ruleengine.backtest({k: v for k, v in doc.items() if k != "pair"}, "asset_a=XLE,asset_b=XLF", START, END,
                              data=str(real_daily), benchmark=None)
    assert '"legs"' not in one.to_json() and '"pair"' not in one.to_json() and one.fill_contract == FILL_CONTRACT


def test_runs_that_do_not_take_pairs_say_why(real_daily):
    import ruleengine
    from ruleengine.errors import RuleEngineError

    # the vectorbt engine is from_signals: per-column stops cannot act on a pair's value (a decision, not a gap)
    with pytest.raises(RuleEngineError) as err:
        ruleengine.backtest(PAIR_DOC, "asset_a=XLE,asset_b=XLF", START, END, data=str(real_daily), engine="vectorbt")
    d = err.value.diagnostics[0]
    assert (d.code, d.path) == ("D145", "pair") and "from_signals" in d.message and "combined value" in d.message
    assert 'engine="numba"' in d.hint and "from_orders" in d.hint
    # live signals take a pair's named legs (tests/test_live_pairs.py), not a universe of single symbols
    with pytest.raises(RuleEngineError) as err:
        ruleengine.live_signals(PAIR_DOC, "XLE,XLF", data=str(real_daily))
    assert (err.value.diagnostics[0].code, err.value.diagnostics[0].path) == ("D146", "symbols")


def test_live_signals_of_a_pairs_exit_on_position_variables_need_a_held_pair(real_daily):
    """Live, a pair's position variables are its combined value: without a held pair (given, stored or from the
    user's fills, tests/test_live_pair_positions.py) they have no value, and warning D147 says how to give one."""
    import ruleengine

    scan = ruleengine.live_scan(KNOWING_DOC, "asset_a=XLE,asset_b=XLF", data=str(real_daily), signal_types=("exit",))
    (d,) = [w for w in scan.warnings if w["code"] == "D147"]
    assert d["path"] == "exit" and "XLE/XLF" in d["message"] and "--position A/B:SIDE:A=PRICE,B=PRICE" in d["hint"]


def test_the_hedge_ratio_history_is_fetched_and_a_code_pair_takes_a_number(real_daily):
    import ruleengine
    from ruleengine.errors import RuleEngineError

    # the hedge ratio's 30-bar average needs more history than the 20-bar z-score: the data layer fetches it
    one_leg = ruleengine.compile_strategy({k: v for k, v in PAIR_DOC.items() if k != "pair"})
    assert ruleengine.compile_strategy(PAIR_DOC).converge_bars() > one_leg.converge_bars()
    code = (RULES_DIR / "code_pairs_zscore.yaml").read_text(encoding="utf-8")
    with pytest.raises(RuleEngineError) as err:
        ruleengine.load_strategy(code + "pair: {legs: [asset_a, asset_b], hedge_ratio: \"asset_a.close\"}\n")
    assert err.value.diagnostics[0].code == "S139"
    # with a number, the sandboxed strategy's signals trade both legs
    doc = code + "pair: {legs: [asset_a, asset_b], hedge_ratio: 1.5}\n"
    run = ruleengine.backtest(doc, "asset_a=XLE,asset_b=XLF", START, END, data=str(real_daily),
                              benchmark=None).results[0]
    assert run.trades and all(t.legs and t.legs[1].side == "short" for t in run.trades)
    t = run.trades[0]
    cash_a = t.legs[0].size * t.legs[0].entry_price
    assert t.legs[1].size * t.legs[1].entry_price == pytest.approx(1.5 * cash_a)


@pytest.mark.parametrize("symbols", ["asset_a=XLE,asset_b=XLF", "asset_a=LEHMQ,asset_b=QQQ"])
def test_sweep_of_a_pair_equals_its_backtests(real_daily, symbols):
    """The sweep kernel runs a pair through the same bar step: every ranked row's metrics equal the backtest's
    (the second case's first leg stops trading in 2012 while a pair may be open: marked at each leg's last
    close)."""
    from test_sweep_engine import assert_same_metrics

    import ruleengine

    grid = {"n": [10, 20], "stop_loss_pct": [None, 3.0], "take_profit_pct": [None, 4.0], "execution_price":
            ["close", "open"]}
    for doc in (PAIR_DOC, {**PAIR_DOC, "direction": "short", "pair": {**PAIR_DOC["pair"], "hedge_ratio": 1.2,
                                                                     "sizing": "hedge_ratio_units"}}):
        res = ruleengine.sweep(doc, symbols, START, END, data=str(real_daily), grid=grid,
                               params={"fees_pct": 0.1, "slippage_pct": 0.05})
        assert len(res.table) == 16
        traded = 0
        for rank in range(1, 17):
            run = res.detail(rank, benchmark=None).results[0]
            assert_same_metrics(res.table.iloc[rank - 1], run.metrics, f"{symbols} rank {rank}")
            traded += run.metrics.total_trades
        assert traded > 50


#: three pairs for a portfolio of pairs (one leg in two pairs: each pair its own position)
PORTFOLIO = [{"asset_a": "XLE", "asset_b": "XLF"}, {"asset_a": "QQQ", "asset_b": "SPY"},
             {"asset_a": "SPY", "asset_b": "XLE"}]
PORTFOLIO_RISKS = [
    {"position_size_pct": 40.0, "stop_loss_pct": 4, "max_open_positions": 2},
    {"position_size_pct": 30.0, "trailing_stop_pct": 2, "trailing_stop_activation_pct": 2,
     "max_gross_exposure_pct": 70.0, "fees_pct": 0.1, "slippage_pct": 0.05},
    {"position_size_pct": None, "risk_per_trade_pct": 2.0, "stop_loss_pct": 3, "whole_units": True,
     "take_profit_by_bars": ((0, 6.0), (10, 2.0)), "borrow_cost_pct": 3},
    {"position_size_pct": None, "volatility_target_pct": 15.0, "max_open_positions": 2},
]


@pytest.fixture(scope="module")
def portfolio_market(real_daily):
    import ruleengine

    strategy = ruleengine.load_strategy(KNOWING_DOC)
    md = ruleengine.load_data(strategy, PORTFOLIO, START, END, data=str(real_daily))
    sig = ruleengine.compile_strategy(strategy).signals(md)
    short = ruleengine.compile_strategy({**KNOWING_DOC, "entry": SHORT_SIDE["entry"]}).signals(md)
    return md, sig, short


def _portfolio_both(market, risk, two_sided, end=None):
    md, sig, short = market
    cut = slice(0, end)
    pa = {c: md.inputs[("asset_a", c)][cut] for c in ("open", "high", "low", "close")}
    pb = {c: md.inputs[("asset_b", c)][cut] for c in ("open", "high", "low", "close")}
    sides = {"short_entries": short.entries[cut] if two_sided else None,
             "short_exits": short.exits[cut] if two_sided else None}
    if two_sided:
        risk = replace(risk, direction="long_short")
    levels = {k: v[cut] for k, v in sig.levels.items() if k != "hedge_ratio"}
    hedge = sig.levels["hedge_ratio"][cut]
    sim = simulate_pairs_portfolio(pa, pb, sig.entries[cut], sig.exits[cut], md.index[cut], risk, hedge_ratio=hedge,
                                   init_cash=CASH, start=md.start, levels=levels, exit_program=sig.exit_program,
                                   **sides)
    rows = [levels[f"exit_program:{k}"] for k in range(len(sig.exit_program.levels))]
    notes: list = []
    ref = reference_pairs_portfolio(
        pa, pb, sig.entries[cut], sig.exits[cut], md.index[cut], [risk] * md.n_cols, hedge, init_cash=CASH,
        start=md.start, **sides, volatility=levels["volatility"], notes=notes,
        exit_rule=lambda t, j, state: sig.exit_program.evaluate([r[t, j] for r in rows], state).exit)
    return sim, ref, notes


def test_a_portfolio_of_pairs_matches_the_reference_on_real_data(portfolio_market):
    """Three pairs sharing one account, each risk of PORTFOLIO_RISKS with close and open fills, one side and
    both: the engine equals the reference trade for trade, equity and notes (caps and cash skips included)."""
    key = ("column", "entry_bar")
    noted: set[str] = set()
    for kw in PORTFOLIO_RISKS:
        for ex, two_sided in (("close", True), ("open", False)):
            sim, (ref_trades, ref_eq), notes = _portfolio_both(portfolio_market, replace(BASE, execution_price=ex,
                                                                                         **kw), two_sided)
            got = sim.trades.drop(columns=["entry_time", "exit_time"]).to_dict("records")
            assert len(got) > 10
            assert_same_pair_trades(sorted(got, key=lambda t: tuple(t[c] for c in key)),
                                    sorted(ref_trades, key=lambda t: tuple(t[c] for c in key)), rel=1e-9)
            np.testing.assert_allclose(sim.equity[:, 0], ref_eq, rtol=1e-9)
            assert sorted(zip(sim.skipped.bar, sim.skipped.column, sim.skipped.reason, strict=True)) == sorted(notes)
            noted |= set(sim.skipped.reason)
    assert noted >= {"max_open_positions", "max_gross_exposure"}


@pytest.mark.parametrize("risk", PORTFOLIO_RISKS[:2])
def test_vectorbt_from_orders_with_both_legs_in_one_cash_group_is_the_portfolio(portfolio_market, risk):
    """vectorbt as the oracle of a portfolio of pairs' accounting: every leg of every pair one column of one
    group with cash_sharing, from_orders placing our trades' units at their fill prices (before slippage,
    vectorbt adds the same slippage and fees): its value is our equity on every bar. (Close fills: from_orders
    places one order per column and bar, and with open fills a pair entered at an open can be stopped at
    that bar's close.)"""
    import vectorbt as vbt  # the oracle is part of the test set-up: missing it is a broken set-up, not a skip

    md = portfolio_market[0]
    r = replace(BASE, execution_price="close", **risk)
    sim, _, _ = _portfolio_both(portfolio_market, r, False)
    k, s0 = md.n_cols, md.start
    legs = [{c: md.inputs[(slot, c)] for c in ("open", "close")} for slot in ("asset_a", "asset_b")]
    close = np.hstack([leg["close"] for leg in legs])
    size = np.zeros_like(close)
    price = close.copy()
    slip = r.slippage_pct / 100
    for t in sim.trades.itertuples():
        for leg, units, exit_price in ((0, t.direction * t.size, t.exit_price),
                                       (1, -t.direction * t.leg_b_size, t.leg_b_exit_price)):
            col = leg * k + t.column
            size[t.entry_bar, col] += units
            price[t.entry_bar, col] = legs[leg]["close"][t.entry_bar, t.column]
            if t.exit_reason != "end_of_data":  # vectorbt marks an open position at the last close too
                size[t.exit_bar, col] -= units
                price[t.exit_bar, col] = exit_price / (1 - np.sign(units) * slip)  # before slippage
    pf = vbt.Portfolio.from_orders(close[s0:], size[s0:], price=price[s0:], size_type="amount",
                                   fees=r.fees_pct / 100, slippage=slip, init_cash=CASH,
                                   group_by=np.zeros(2 * k, dtype=int), cash_sharing=True, freq="1D")
    assert len(sim.trades) > 20 and pf.orders.count() >= 2 * len(sim.trades)
    np.testing.assert_allclose(pf.value().to_numpy(), sim.equity[s0:, 0], rtol=1e-12)


@pytest.mark.parametrize("execution_price", ["close", "open"])
def test_truncating_never_changes_earlier_trades_of_a_portfolio_of_pairs(portfolio_market, execution_price):
    risk = replace(BASE, execution_price=execution_price, **PORTFOLIO_RISKS[2])
    full, _, _ = _portfolio_both(portfolio_market, risk, True)
    md = portfolio_market[0]
    key = ("column", "entry_bar", "exit_bar", "exit_reason", "size", "leg_b_size")
    rows = full.trades.to_dict("records")
    for cut in np.linspace(md.start + 50, md.n_rows - 1, 4).astype(int):
        part, _, _ = _portfolio_both(portfolio_market, risk, True, end=cut)
        np.testing.assert_array_equal(part.equity, full.equity[:cut])
        closed = [t for t in rows if t["exit_bar"] < cut and t["exit_reason"] != "end_of_data"]
        assert sorted(tuple(t[k] for k in key) for t in part.trades.to_dict("records")
                      if t["exit_reason"] != "end_of_data") == sorted(tuple(t[k] for k in key) for t in closed)


def test_backtest_of_a_portfolio_of_pairs_names_each_pairs_legs(real_daily):
    import ruleengine

    result = ruleengine.backtest({**PAIR_DOC, "risk": {"position_size_pct": 30, "max_open_positions": 2}},
                                 PORTFOLIO, START, END, data=str(real_daily), portfolio=True, benchmark=None)
    (run,) = result.results
    assert run.label.startswith("portfolio of 3") and run.metrics.total_trades == len(run.trades) > 5
    legs = {(t.legs[0].symbol, t.legs[1].symbol) for t in run.trades}
    assert legs <= {("XLE", "XLF"), ("QQQ", "SPY"), ("SPY", "XLE")} and len(legs) > 1
    assert all(t.symbol == f"{t.legs[0].symbol}/{t.legs[1].symbol}" for t in run.trades)
    if run.trades[-1].exit_reason != "end_of_data" and all(t.exit_reason != "end_of_data" for t in run.trades):
        assert run.equity.value[-1] == pytest.approx(CASH + sum(t.pnl for t in run.trades))


def test_sweep_of_a_pair_that_knows_the_trade_equals_its_backtests(real_daily):
    """The sweep kernel runs the pair's exit program, activation, take-profit table and sizing like a backtest:
    every ranked row's metrics equal the backtest's; the backtest's result says the pair's contract and reports
    entries its sizing skipped."""
    from test_sweep_engine import assert_same_metrics

    import ruleengine

    doc = {**KNOWING_DOC, "risk": {"stop_loss_pct": 4, "risk_per_trade_pct": 1, "whole_units": True,
                                   "trailing_stop_pct": 2, "trailing_stop_activation_pct": 2,
                                   "take_profit_by_bars": {0: 8, 10: 3}, "fees_pct": 0.1}}
    grid = {"n": [10, 20], "risk_per_trade_pct": [1.0, 3.0], "execution_price": ["close", "open"]}
    res = ruleengine.sweep(doc, "asset_a=XLE,asset_b=XLF", START, END, data=str(real_daily), grid=grid)
    assert len(res.table) == 8
    reasons: set[str] = set()
    for rank in range(1, 9):
        result = res.detail(rank, benchmark=None)
        run = result.results[0]
        assert_same_metrics(res.table.iloc[rank - 1], run.metrics, f"rank {rank}")
        reasons |= {t.exit_reason for t in run.trades}
        assert all(t.legs[0].size == int(t.legs[0].size) and t.legs[1].size == int(t.legs[1].size)
                   for t in run.trades)
    assert reasons >= {"signal", "stop_loss", "take_profit", "trailing_stop"}
    assert "Position variables of a pair" in result.fill_contract


def test_walk_forward_of_a_pair_equals_backtests_of_its_test_windows(real_daily):
    """Each fold's out-of-sample metrics (the chosen parameters re-simulated as a pair) equal a backtest of
    the pair started on the window's first date, and the stitched equity chains those runs. (A fixed hedge
    ratio: a rolling one computed on a shorter history differs in its last bits, and so does the P&L, about
    1e-13, of a pair opened on a window's last bar, which then counts as a win or not.)"""
    from test_sweep_walkforward import assert_metrics_equal

    import ruleengine

    doc = {**PAIR_DOC, "pair": {"legs": ["asset_a", "asset_b"], "hedge_ratio": 1.5}}
    wf = ruleengine.walk_forward(doc, "asset_a=XLE,asset_b=XLF", START, END, data=str(real_daily),
                                 walk_forward="train=250,test=120", grid={"n": [10, 20], "stop_loss_pct": [None, 3.0]},
                                 pbo_top=4, pbo_splits=4)
    assert len(wf.folds) >= 2
    growth, traded = 1.0, 0
    for k, f in enumerate(wf.folds):
        run = ruleengine.backtest(doc, "asset_a=XLE,asset_b=XLF", *f.test_dates, params=f.params,
                                  data=str(real_daily), benchmark=None).results[0]
        assert_metrics_equal(f.oos_metrics, run.metrics, f"fold {k + 1}")
        traded += run.metrics.total_trades
        growth *= run.metrics.final_equity / CASH
        end = wf.stitched.index.searchsorted(run.equity.time[-1], side="right") - 1
        assert wf.stitched.iloc[end, 0] == pytest.approx(CASH * growth, rel=1e-9)
    assert traded > 0


def test_a_stored_pair_backtest_keeps_both_legs(real_daily, tmp_path):
    import ruleengine

    result = ruleengine.backtest(PAIR_DOC, "asset_a=XLE,asset_b=XLF", START, END, data=str(real_daily),
                                 benchmark=None)
    db = str(tmp_path / "runs.db")
    ids = ruleengine.store_backtest(ruleengine.load_strategy(PAIR_DOC), result, db)
    stored = ruleengine.open_store(db).get_run(ids["run_id"])
    trades = stored.result["results"][0]["trades"]
    assert len(trades) == len(result.results[0].trades) > 5
    assert [(leg["symbol"], leg["side"]) for leg in trades[0]["legs"]] == [("XLE", "long"), ("XLF", "short")]
    assert stored.strategy_id == ids["strategy_id"] and stored.total_trades == len(trades)


def test_readme_states_the_pair_contract_as_the_code_does():
    from ruleengine.backtest.risk import PAIR_FILL_CONTRACT

    readme = (RULES_DIR.parent / "README.md").read_text(encoding="utf-8")
    assert PAIR_FILL_CONTRACT in readme


def test_the_shipped_spread_strategy_runs_through_the_cli_on_real_data(real_daily, provider_env_cleared):
    """rules/pairs_long_short.yaml (seed 000's pairs idea as a spread): long XLE / short XLF below z -2, the
    opposite above 2, both legs closed inside |z| < 0.5; every trade holds both legs, of opposite sides."""
    import json

    from typer.testing import CliRunner

    from ruleengine.cli import app

    args = ["backtest", str(RULES_DIR / "pairs_long_short.yaml"), "--symbols", "asset_a=XLE,asset_b=XLF",
            "--data", str(real_daily), "--start", START, "--end", END]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stdout
    assert "XLE long" in result.stdout and "XLE short" in result.stdout
    assert "+ XLF short" in result.stdout and "+ XLF long" in result.stdout
    assert "pair: long the pair = buy XLE (asset_a), sell short XLF (asset_b); hedge ratio 1 (dollar_neutral" \
        in " ".join(result.stdout.split())
    out = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    trades = out["results"][0]["trades"]
    assert len(trades) > 10 and {t.get("direction", "long") for t in trades} == {"long", "short"}
    for t in trades:
        a, b = t["legs"]
        assert (a["symbol"], b["symbol"]) == ("XLE", "XLF") and a["side"] != b["side"]
        assert a["side"] == t.get("direction", "long")
        # equal dollars at the entry
        assert a["size"] * a["entry_price"] == pytest.approx(b["size"] * b["entry_price"], rel=1e-9)
    assert "Pairs (a pair block" in out["fill_contract"]


def test_explain_names_the_legs_and_a_one_instrument_explanation_is_unchanged():
    import ruleengine

    text = ruleengine.compile_strategy(str(RULES_DIR / "pairs_long_short.yaml")).explain_text()
    assert "pair: long asset_a and short asset_b as one position" in text and "dollar_neutral" in text
    assert "pair" not in ruleengine.compile_strategy(str(RULES_DIR / "pairs_zscore.yaml")).explain()
    text = ruleengine.compile_strategy(KNOWING_DOC).explain_text()
    assert "position variables entry_price, bars_held, unrealized_pct, highest_since_entry of the pair's combined " \
        "value (entry_price: its value at entry)" in text
