"""Position variables in a long_short strategy's ``short_exit`` block (issue 16 item 4): its own exit program,
run for the strategy's shorts, beside the ``exit`` block's (run for its longs).

Bar tables run through the numba engine and the plain-Python reference (tests/support/sim_reference.py,
``short_exit_rule``), which must agree, with the trades computed by hand in the comments: the whole 10 000
at 100 is 100 units. Then random markets against the reference (single runs and the portfolio), a pair's short
side, sweep == backtest and truncation (causality) on real data.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from support.sim_reference import reference_pairs, reference_pairs_portfolio, reference_portfolio, reference_simulate
from test_backtest_engine import assert_same_as_reference
from test_backtest_stops import BASE, CASH, FLAT, brief, sig, table
from test_exits import _random_market as exits_market
from test_sweep_engine import assert_same_metrics

import ruleengine
from ruleengine.backtest.pairs import simulate_pairs, simulate_pairs_portfolio
from ruleengine.backtest.simulation import simulate, simulate_portfolio
from ruleengine.compile.compiled import compile_rules
from ruleengine.sweep.run import sweep

NAN = math.nan
LS = replace(BASE, direction="long_short")
LS_OPEN = replace(LS, execution_price="open")
DOC = {"name": "t", "direction": "long_short", "data": {"prices": {"kind": "ohlcv"}}, "entry": ["close > 0"],
       "short_entry": ["close < 0"]}


def programs_of(exit_: list[str] | None, short_exit: list[str], frame) -> tuple:
    """(exit program, short_exit program, their levels) of a long_short document with these exit blocks."""
    doc = {**DOC, "short_exit": short_exit, **({"exit": exit_} if exit_ else {})}
    s = compile_rules(doc).signals(frame)
    return s.exit_program, s.short_exit_program, dict(s.levels)


def run(bars, le=(), lx=(), se=(), sx=(), risk=LS, *, short_exit, short_rule, exit_=None, rule=None):
    """Engine and reference on one bar table with four signal lists and the programs; they must agree."""
    prices, idx = table(bars)
    n = len(idx)
    ent, ext, s_ent, s_ext = (sig(n, *rows) for rows in (le, lx, se, sx))
    frame = pd.DataFrame({k: v[:, 0] for k, v in prices.items()}, index=idx)
    program, short_program, levels = programs_of(exit_, short_exit, frame)
    assert short_program is not None and (program is None) == (exit_ is None)
    sim = simulate(prices, ent, ext, idx, risk, short_entries=s_ent, short_exits=s_ext, levels=levels,
                   exit_program=program, short_exit_program=short_program, init_cash=CASH)
    ref_trades, ref_eq = reference_simulate(prices, ent, ext, idx, [risk], init_cash=CASH, short_entries=s_ent,
                                            short_exits=s_ext, exit_rule=rule, short_exit_rule=short_rule)
    got = sim.trades.drop(columns=["entry_time", "exit_time"]).to_dict("records")
    assert [(g["entry_bar"], g["exit_bar"], g["exit_reason"], g["direction"]) for g in got] == \
        [(r["entry_bar"], r["exit_bar"], r["exit_reason"], r["direction"]) for r in ref_trades]
    for g, r in zip(got, ref_trades, strict=True):
        for k in ("entry_price", "exit_price", "size", "pnl", "fees"):
            assert g[k] == pytest.approx(r[k], rel=1e-12)
    np.testing.assert_allclose(sim.equity[:, 0], [row[0] for row in ref_eq], rtol=1e-12)
    return got


# ------------------------------------------------------------------------------------------------ bar tables
def test_a_short_exits_on_bars_held_at_the_close():
    # short 100 at bar 0's close; bars_held is 1 at bar 1's close, 2 at bar 2's: bought back at 100 there
    trades = run([FLAT] * 4, se=[0], short_exit=["bars_held >= 2"], short_rule=lambda t, j, s: s["bars_held"] >= 2)
    assert brief(trades) == [(0, 2, "signal", 100.0)] and trades[0]["direction"] == -1


def test_a_short_s_unrealized_pct_is_mirrored():
    # short at 100: a close of 98 is +2 %, 94 is +6 % (> 5): bought back at 94, +600
    bars = [FLAT, (99, 100, 97, 98), (96, 97, 93, 94), FLAT]
    trades = run(bars, se=[0], short_exit=["unrealized_pct > 5"], short_rule=lambda t, j, s: s["unrealized_pct"] > 5)
    assert brief(trades) == [(0, 2, "signal", 94.0)] and trades[0]["pnl"] == pytest.approx(600.0)


def test_a_short_exits_on_a_bounce_off_its_lowest_low():
    # lowest low since the short's entry: 95 (bar 1); bar 2 closes at 98.5 > 95 x 1.03 = 97.85: covered at 98.5
    bars = [FLAT, (98, 99, 95, 96), (97, 99, 96, 98.5), FLAT]
    trades = run(bars, se=[0], short_exit=["close > lowest_since_entry * 1.03"],
                 short_rule=lambda t, j, s: bars[t][3] > s["lowest_since_entry"] * 1.03)
    assert brief(trades) == [(0, 2, "signal", 98.5)]


def test_with_open_fills_a_short_s_program_exit_acts_at_the_next_open():
    # short at bar 1's open (100): bars_held is 0 at that bar's close, 2 at bar 3's (97): covered at bar 4's open
    bars = [FLAT, FLAT, FLAT, (97, 98, 96, 97), FLAT]
    trades = run(bars, se=[0], risk=LS_OPEN, short_exit=["bars_held >= 2"],
                 short_rule=lambda t, j, s: s["bars_held"] >= 2)
    assert brief(trades) == [(1, 4, "signal", 100.0)]


def test_each_side_s_program_acts_on_its_own_side_only():
    # exit: bars_held >= 1 closes the long at bar 1; short_exit: bars_held >= 3 the short entered at bar 2 at bar 5
    # (neither program closes the other side's position early)
    trades = run([FLAT] * 7, le=[0], se=[2], exit_=["bars_held >= 1"], rule=lambda t, j, s: s["bars_held"] >= 1,
                 short_exit=["bars_held >= 3"], short_rule=lambda t, j, s: s["bars_held"] >= 3)
    assert [(t["entry_bar"], t["exit_bar"], t["direction"]) for t in trades] == [(0, 1, 1), (2, 5, -1)]


@pytest.mark.parametrize("risk", [LS, LS_OPEN], ids=["close", "open"])
def test_a_reversal_while_the_short_s_program_is_pending(risk):
    # short from bar 0 (close) / bar 1 (open); the program says cover at bar 2's close and a long entry comes on
    # bar 2: the short is covered and the long entered at the same fill (bar 2's close / bar 3's open); the long
    # then runs under the exit block's program (bars_held >= 2)
    bars = [FLAT, FLAT, (101, 103, 100, 102), (103, 104, 102, 103), FLAT, FLAT, FLAT]
    trades = run(bars, le=[2], se=[0], risk=risk, exit_=["bars_held >= 2"], rule=lambda t, j, s: s["bars_held"] >= 2,
                 short_exit=["bars_held >= 2 or unrealized_pct < -1.5"],
                 short_rule=lambda t, j, s: s["bars_held"] >= 2 or s["unrealized_pct"] < -1.5)
    fill = 2 if risk is LS else 3
    assert (trades[0]["exit_bar"], trades[0]["direction"]) == (fill, -1)
    assert (trades[1]["entry_bar"], trades[1]["direction"]) == (fill, 1)
    assert trades[1]["exit_bar"] == fill + 2 + (risk is LS_OPEN)


# ------------------------------------------------------------------------------------------- random markets
SHORT_EXIT = ["bars_held >= 6 or unrealized_pct < -2 or close > lowest_since_entry * 1.04",
              "highest_since_entry > entry_price * 1.05 and close < open"]
EXIT = ["bars_held >= 9 or unrealized_pct > 3"]


def _rules(prices):
    c, o = prices["close"], prices["open"]
    short = lambda t, j, s: (s["bars_held"] >= 6 or s["unrealized_pct"] < -2  # noqa: E731
                             or c[t][j] > s["lowest_since_entry"] * 1.04
                             or (s["highest_since_entry"] > s["entry_price"] * 1.05 and c[t][j] < o[t][j]))
    return (lambda t, j, s: s["bars_held"] >= 9 or s["unrealized_pct"] > 3), short


def _random_market(seed: int):
    """test_exits' random market (missing bars included) with four random signal arrays."""
    prices, _, _, idx, _, _ = exits_market(seed, T=200)
    rng = np.random.default_rng(seed + 100)
    signals = [rng.random(prices["close"].shape) < p for p in (0.06, 0.03, 0.06, 0.03)]
    return prices, signals, idx


def _programs_on(prices, idx, with_exit: bool):
    frame = pd.concat({str(j): pd.DataFrame({k: v[:, j] for k, v in prices.items()}, index=idx)
                       for j in range(prices["close"].shape[1])}, axis=1)
    return programs_of(EXIT if with_exit else None, SHORT_EXIT, {"prices": frame})


@pytest.mark.parametrize("execution_price", ["close", "open"])
@pytest.mark.parametrize("with_exit", [True, False], ids=["both programs", "short_exit only"])
def test_random_cases_match_the_reference(execution_price, with_exit):
    prices, (le, lx, se, sx), idx = _random_market(7)
    program, short_program, levels = _programs_on(prices, idx, with_exit)
    rule, short_rule = _rules(prices)
    rule = rule if with_exit else None
    for base in (LS, replace(LS, fees_pct=0.1, stop_loss_pct=4, borrow_cost_pct=5.0)):
        risk = replace(base, execution_price=execution_price)
        kw = {"short_entries": se, "short_exits": sx, "init_cash": CASH, "start": 5}
        sim = simulate(prices, le, lx, idx, risk, levels=levels, exit_program=program,
                       short_exit_program=short_program, **kw)
        ref = reference_simulate(prices, le, lx, idx, [risk] * 3, exit_rule=rule, short_exit_rule=short_rule, **kw)
        assert_same_as_reference(sim, *ref, str(risk))
        assert (sim.trades.direction == -1).sum() > 10
        port_risk = replace(risk, position_size_pct=30)
        port = simulate_portfolio(prices, le, lx, idx, port_risk, levels=levels, exit_program=program,
                                  short_exit_program=short_program, **kw)
        trades, equity, _ = reference_portfolio(prices, le, lx, idx, [port_risk] * 3, exit_rule=rule,
                                                short_exit_rule=short_rule, **kw)
        got = port.trades.to_dict("records")
        assert [(t["column"], t["entry_bar"], t["exit_bar"], t["exit_reason"]) for t in got] == \
            [(t["column"], t["entry_bar"], t["exit_bar"], t["exit_reason"])
             for t in sorted(trades, key=lambda t: (t["entry_bar"], t["column"]))]
        np.testing.assert_allclose(port.equity[:, 0], equity, rtol=1e-9)


# ------------------------------------------------------------------------------------------- whole runs
LS_DOC = {"name": "ls exits", "direction": "long_short", "data": {"prices": {"kind": "ohlcv"}},
          "params": {"hold": {"type": "int", "min": 2, "max": 60, "default": 10},
                     "k": {"type": "float", "min": 0.5, "max": 5, "default": 2.0}},
          "entry": ["crosses_above(sma(close, 10), sma(close, 30))"],
          "exit": ["crosses_below(sma(close, 10), sma(close, 30))"],
          "short_entry": ["crosses_below(sma(close, 10), sma(close, 30))"],
          "short_exit": ["crosses_above(sma(close, 10), sma(close, 30))",
                         "bars_held >= hold or close > lowest_since_entry + k * atr(high, low, close, 14)"],
          "risk": {"fees_pct": 0.1}}


@pytest.mark.parametrize("execution_price", ["close", "open"])
def test_sweep_equals_backtest(execution_price):
    res = sweep(LS_DOC, "AAPL", "2012-01-01", "2016-12-31", provider="sample",
                grid={"hold": [5, 40], "k": [1.0, 3.0]}, params={"execution_price": execution_price})
    assert len(res.table) == 4
    flat = 0
    for rank in range(1, 5):
        run_ = res.detail(rank, benchmark=None).results[0]
        assert_same_metrics(res.table.iloc[rank - 1], run_.metrics, f"rank {rank}")
        # the program closes shorts between crosses: some shorts end without a long entry on their exit bar
        longs = {t.entry_time for t in run_.trades if t.direction == "long"}
        flat += sum(t.direction == "short" and t.exit_time not in longs for t in run_.trades)
    assert flat > 10


@pytest.mark.parametrize("execution_price", ["close", "open"])
def test_truncating_the_data_never_changes_earlier_trades(execution_price):
    kw = {"provider": "sample", "benchmark": None, "params": {"execution_price": execution_price}}
    full = ruleengine.backtest(LS_DOC, "SPY", "2012-01-01", "2016-12-31", **kw).results[0].trades
    assert len(full) > 10 and {t.direction for t in full} == {"long", "short"}
    for end in ("2013-06-28", "2015-12-31"):
        part = ruleengine.backtest(LS_DOC, "SPY", "2012-01-01", end, **kw).results[0].trades
        closed = [t for t in part if t.exit_reason != "end_of_data"]
        assert closed == full[:len(closed)], end
        assert len(part) == len(closed) + (part[-1].exit_reason == "end_of_data")


# ------------------------------------------------------------------------------------------------ pairs
A0 = (100.0, 101.0, 99.0, 100.0)
B0 = (50.0, 50.5, 49.5, 50.0)


def pair_programs(exit_: list[str] | None, short_exit: list[str]) -> tuple:
    """(exit program, short_exit program) of a long_short pair document whose exit blocks use position variables
    and numbers only (the bar tables have no document data)."""
    doc = {"name": "p", "direction": "long_short", "data": {"a": {"kind": "ohlcv"}, "b": {"kind": "ohlcv"}},
           "entry": ["a.close > 0"], "short_entry": ["a.close < 0"], "short_exit": short_exit,
           "pair": {"legs": ["a", "b"]}, **({"exit": exit_} if exit_ else {})}
    compiled = compile_rules(doc)
    return compiled.exit_program(), compiled.exit_program("short_exit")


def _rule(program):
    return None if program is None else (lambda t, j, state: program.evaluate([], state).exit)


@pytest.mark.parametrize("risk", [LS, LS_OPEN], ids=["close", "open"])
def test_a_short_pair_exits_on_short_exit_s_program_and_a_long_pair_on_exit_s(risk):
    # long pair at bar 0 (exit: bars_held >= 1); short pair at bar 3 (short_exit: bars_held >= 2 or a 1 % gain of
    # the pair's value); the engine and the reference agree, close and open fills
    bars_a = [A0, A0, A0, A0, (100, 101, 99, 99.5), (99, 99.5, 97, 97.5), A0, A0, A0]
    bars_b = [B0] * len(bars_a)
    prices_a, idx = table(bars_a)
    prices_b, _ = table(bars_b, idx)
    n = len(idx)
    program, short_program = pair_programs(["bars_held >= 1"], ["bars_held >= 2 or unrealized_pct > 1"])
    ent, ext, s_ent, s_ext = sig(n, 0), sig(n), sig(n, 3), sig(n)
    hedge = np.ones((n, 1))
    sim = simulate_pairs(prices_a, prices_b, ent, ext, idx, risk, hedge_ratio=hedge, init_cash=CASH,
                         short_entries=s_ent, short_exits=s_ext, exit_program=program,
                         short_exit_program=short_program)
    ref, ref_eq = reference_pairs(prices_a, prices_b, ent, ext, idx, [risk], hedge, "dollar_neutral", CASH, 0,
                                  s_ent, s_ext, exit_rule=_rule(program), short_exit_rule=_rule(short_program))
    got = sim.trades.to_dict("records")
    assert [(t["entry_bar"], t["exit_bar"], t["exit_reason"], t["direction"]) for t in got] == \
        [(t["entry_bar"], t["exit_bar"], t["exit_reason"], t["direction"]) for t in ref]
    for g, r in zip(got, ref, strict=True):
        assert g["pnl"] == pytest.approx(r["pnl"], rel=1e-12)
    np.testing.assert_allclose(sim.equity[:, 0], [row[0] for row in ref_eq], rtol=1e-12)
    shift = risk is LS_OPEN  # open fills: each fill a bar later
    assert (got[0]["entry_bar"], got[0]["exit_bar"], got[0]["direction"]) == (0 + shift, 1 + 2 * shift, 1)
    assert got[1]["direction"] == -1 and got[1]["exit_reason"] == "signal" and got[1]["exit_bar"] < n - 1
    port = simulate_pairs_portfolio(prices_a, prices_b, ent, ext, idx, risk, hedge_ratio=hedge, init_cash=CASH,
                                    short_entries=s_ent, short_exits=s_ext, exit_program=program,
                                    short_exit_program=short_program)
    pref, peq = reference_pairs_portfolio(prices_a, prices_b, ent, ext, idx, [risk], hedge, "dollar_neutral", CASH,
                                          0, s_ent, s_ext, exit_rule=_rule(program),
                                          short_exit_rule=_rule(short_program))[:2]
    assert [(t["entry_bar"], t["exit_bar"], t["direction"]) for t in port.trades.to_dict("records")] == \
        [(t["entry_bar"], t["exit_bar"], t["direction"]) for t in pref]
    np.testing.assert_allclose(port.equity[:, 0], peq, rtol=1e-12)


def test_explain_shows_each_side_s_program():
    from ruleengine.compile.explain import explain_dict, explain_text

    compiled = compile_rules({**DOC, "exit": ["bars_held >= 20"],
                              "short_exit": ["close > 1", "bars_held >= 10 or close > lowest_since_entry * 1.05"]})
    d = explain_dict(compiled)
    assert d["exit_program"]["condition"] == "bars_held >= 20"
    assert d["short_exit_program"]["position_variables"] == ["bars_held", "lowest_since_entry"]
    text = explain_text(compiled)
    assert "exit on a held long: bars_held >= 20" in text and "exit on a held short: bars_held >= 10 or" in text
    assert "short_exit_program" not in explain_dict(compile_rules({**DOC, "direction": "long", "exit": ["close < 1"],
                                                                   "short_entry": None}))
