"""Exits that know the trade (issue 16 item 4): distance stops and targets, trailing activation, the take-profit
table and exit conditions on position variables.

Every bar table runs through the numba engine and the plain-Python reference (tests/support/sim_reference.py),
which must agree, and the expected trades are computed by hand in the comments. Entries are at bar 0's close
of 100 (100 units of the 10 000) unless a test says otherwise. Position-variable exits are compiled from a
document (its levels and program) and given to the reference as a plain-Python rule.
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.sim_reference import reference_portfolio, reference_simulate
from test_backtest_engine import assert_same_as_reference
from test_backtest_stops import BASE, CASH, FLAT, brief, sig, table
from test_sweep_engine import assert_same_metrics

import ruleengine
from ruleengine.backtest.risk import resolve_risk
from ruleengine.backtest.simulation import simulate, simulate_portfolio, unusable_distances
from ruleengine.compile.compiled import compile_rules
from ruleengine.compile.exit_program import split_exit
from ruleengine.errors import RuleEngineError
from ruleengine.kernels.exit_program import MAX_STACK, run_exit_program_nb
from ruleengine.lang.position import POSITION_VARIABLES
from ruleengine.sweep.run import sweep

NAN = math.nan
SHORT = replace(BASE, direction="short")
OPEN = replace(BASE, execution_price="open")
DOC = {"name": "t", "data": {"prices": {"kind": "ohlcv"}}, "entry": ["close > 0"]}
README = Path(__file__).resolve().parents[1] / "README.md"


def program_of(exit_conditions: list[str], prices: dict, index: pd.DatetimeIndex,
               logic: str = "any") -> tuple[object, dict]:
    """The exit program of a document with these exit conditions and its levels on the bar table."""
    compiled = compile_rules({**DOC, "exit": {"logic": logic, "conditions": exit_conditions}})
    frame = pd.DataFrame({k: v[:, 0] for k, v in prices.items()}, index=index)
    s = compiled.signals(frame)
    return s.exit_program, dict(s.levels)


def run(bars, entries, exits, risk=BASE, *, distances=None, program=None, rule=None, start=0):
    """Engine and reference on one bar table; they must agree. Returns (trades, simulation, reference counts)."""
    prices, idx = table(bars)
    n = len(idx)
    ent, ext = sig(n, *entries), sig(n, *exits)
    levels = {k: np.array(v, dtype=float).reshape(n, 1) for k, v in (distances or {}).items()}
    exit_program = None
    if program is not None:
        exit_program, program_levels = program_of(program, prices, idx)
        levels.update(program_levels)
    sim = simulate(prices, ent, ext, idx, risk, levels=levels, exit_program=exit_program, init_cash=CASH,
                   start=start)
    counts: dict[str, int] = {}
    ref_trades, ref_eq = reference_simulate(prices, ent, ext, idx, [risk], init_cash=CASH, start=start,
                                            distances=levels, exit_rule=rule, counts=counts)
    got = sim.trades.drop(columns=["entry_time", "exit_time"]).to_dict("records")
    assert [(g["entry_bar"], g["exit_bar"], g["exit_reason"]) for g in got] == \
        [(r["entry_bar"], r["exit_bar"], r["exit_reason"]) for r in ref_trades]
    for g, r in zip(got, ref_trades, strict=True):
        for k in ("entry_price", "exit_price", "size", "pnl", "fees"):
            assert g[k] == pytest.approx(r[k], rel=1e-12)
    np.testing.assert_allclose(sim.equity[:, 0], [row[0] for row in ref_eq], rtol=1e-12)
    return got, sim, counts


# ------------------------------------------------------------------------------------------- distance stops
def test_distance_stop_fills_at_entry_minus_the_distance():
    trades, _, _ = run([FLAT, (99, 100, 94, 96)], [0], [], distances={"stop_loss_distance": [5, 5]})
    assert brief(trades) == [(0, 1, "stop_loss", 95.0)]


def test_gap_through_the_distance_stop_fills_at_the_open():
    trades, _, _ = run([FLAT, (93, 94, 90, 92)], [0], [], distances={"stop_loss_distance": [5, 5]})
    assert brief(trades) == [(0, 1, "stop_loss", 93.0)]
    assert trades[0]["pnl"] == pytest.approx(100 * 93 - CASH)


def test_the_distance_of_the_signal_bar_is_fixed_for_the_trade():
    # distance 5 at the entry bar, 1 afterwards: the stop stays 95 (a moving distance would exit at 99 on bar 2)
    bars = [FLAT, (100, 101, 99.5, 100), (99, 100, 96, 97), (97, 98, 94.5, 95)]
    trades, _, _ = run(bars, [0], [], distances={"stop_loss_distance": [5, 1, 1, 1]})
    assert brief(trades) == [(0, 3, "stop_loss", 95.0)]


def test_open_fills_read_the_distance_of_the_bar_before_the_fill():
    # signal at bar 0 (distance 5), fill at bar 1's open of 100: stop 95, not 100 - 2 = 98 (bar 1's low is 96)
    bars = [FLAT, (100, 101, 96, 97), (96, 97, 94, 95)]
    trades, _, _ = run(bars, [0], [], OPEN, distances={"stop_loss_distance": [5, 2, 2]})
    assert brief(trades) == [(1, 2, "stop_loss", 95.0)]


def test_take_profit_distance_and_the_stop_wins_inside_one_bar():
    d = {"take_profit_distance": [8, 8]}
    assert brief(run([FLAT, (101, 109, 100, 107)], [0], [], distances=d)[0]) == [(0, 1, "take_profit", 108.0)]
    d = {"stop_loss_distance": [4, 4], "take_profit_distance": [8, 8]}  # 96 and 108 both inside bar 1
    assert brief(run([FLAT, (100, 109, 95, 100)], [0], [], distances=d)[0]) == [(0, 1, "stop_loss", 96.0)]


def test_a_short_mirrors_the_distances():
    d = {"stop_loss_distance": [5, 5], "take_profit_distance": [8, 8]}
    assert brief(run([FLAT, (101, 106, 100, 104)], [0], [], SHORT, distances=d)[0]) == [(0, 1, "stop_loss", 105.0)]
    assert brief(run([FLAT, (99, 100, 91, 93)], [0], [], SHORT, distances=d)[0]) == [(0, 1, "take_profit", 92.0)]
    assert brief(run([FLAT, (90, 91, 88, 89)], [0], [], SHORT, distances=d)[0]) == [(0, 1, "take_profit", 90.0)]


def test_distance_with_a_trailing_stop_the_higher_level_acts():
    # stop 100 - 3 = 97; trail 10 % of the peak: 108 after bar 1 -> 97.2 on bar 2, above 97: the trail acts
    bars = [FLAT, (101, 108, 100, 107), (100, 101, 96, 98)]
    trades, _, _ = run(bars, [0], [], replace(BASE, trailing_stop_pct=10), distances={"stop_loss_distance": [3] * 3})
    assert brief(trades) == [(0, 2, "trailing_stop", 97.2)]


@pytest.mark.parametrize("bad", [0.0, -2.0, NAN])
def test_a_distance_not_positive_at_the_signal_bar_gives_no_such_exit_and_is_counted(bad):
    bars = [FLAT, (99, 100, 80, 85), (85, 86, 84, 85)]
    trades, sim, counts = run(bars, [0], [], distances={"stop_loss_distance": [bad, 5, 5]})
    assert brief(trades) == [(0, 2, "end_of_data", 85.0)] and counts["bad_distances"] == 1
    levels = {"stop_loss_distance": np.array([[bad], [5.0], [5.0]])}
    assert unusable_distances(sim.trades, levels, table(bars)[0]["close"], False) == {"stop_loss_distance": [(0, 0)]}


def test_risk_based_sizing_sees_the_distance_stop():
    from ruleengine.backtest.simulation import risk_arrays
    from ruleengine.kernels.simulate import entry_stop_distance_nb, no_levels_nb

    rec = risk_arrays([BASE])[0]
    lv = (2.5, *no_levels_nb()[1:])  # stop_loss_distance 2.5, no other level
    assert entry_stop_distance_nb(rec, lv, 100.0) == 2.5
    assert math.isnan(entry_stop_distance_nb(rec, (-1.0, *no_levels_nb()[1:]), 100.0))
    assert math.isnan(entry_stop_distance_nb(rec, no_levels_nb(), 100.0))
    assert entry_stop_distance_nb(risk_arrays([replace(BASE, stop_loss_pct=4)])[0], lv, 100.0) == pytest.approx(4.0)


RISK_1 = replace(BASE, position_size_pct=None, risk_per_trade_pct=1)  # 1 % of the equity at risk per trade


def test_risk_per_trade_on_a_distance_stop_loses_exactly_r_at_the_stop():
    # 1 % of 10 000 = 100 at risk over a 4.0 distance (the signal bar's): 25 units; the stop at 96 loses 100
    trades, sim, _ = run([FLAT, (99, 99, 94, 96), FLAT], [0], [], RISK_1, distances={"stop_loss_distance": [4, 9, 9]})
    assert brief(trades) == [(0, 1, "stop_loss", 96.0)]
    assert trades[0]["size"] == pytest.approx(25.0) and trades[0]["pnl"] == pytest.approx(-100.0)
    assert sim.equity[-1, 0] == pytest.approx(CASH * 0.99)


def test_risk_per_trade_on_a_short_distance_stop_and_on_open_fills():
    short = replace(RISK_1, direction="short")  # stop 100 + 5 = 105: 20 units lose 100 there
    trades, _, _ = run([FLAT, (101, 106, 100, 104), FLAT], [0], [], short, distances={"stop_loss_distance": [5] * 3})
    assert brief(trades) == [(0, 1, "stop_loss", 105.0)] and trades[0]["pnl"] == pytest.approx(-100.0)
    # open fills: bar 0's distance (2.0) sizes the entry at bar 1's open (100): 50 units, stop 98 loses 100
    bars = [FLAT, (100, 101, 99.5, 100), (99, 99, 97, 98)]
    trades, _, _ = run(bars, [0], [], replace(RISK_1, execution_price="open"),
                       distances={"stop_loss_distance": [2, 8, 8]})
    assert brief(trades) == [(1, 2, "stop_loss", 98.0)] and trades[0]["size"] == pytest.approx(50.0)
    assert trades[0]["pnl"] == pytest.approx(-100.0)


def test_risk_per_trade_without_a_usable_distance_is_skipped_and_a_portfolio_sizes_on_its_equity():
    trades, sim, _ = run([FLAT, FLAT], [0], [], RISK_1, distances={"stop_loss_distance": [NAN, 4]})
    assert trades == [] and list(sim.skipped["reason"]) == ["no_stop"]
    prices, idx = table([FLAT, (99, 99, 94, 96), FLAT])
    two = {k: np.repeat(v, 2, axis=1) for k, v in prices.items()}
    ent = np.repeat(sig(3, 0), 2, axis=1)
    levels = {"stop_loss_distance": np.array([[4.0, 2.0]] * 3)}
    sim = simulate_portfolio(two, ent, np.zeros_like(ent), idx, RISK_1, levels=levels, init_cash=CASH)
    ref, _, _ = reference_portfolio(two, ent, np.zeros_like(ent), idx, [RISK_1] * 2, init_cash=CASH,
                                    distances=levels)
    # each loses 1 % of the equity before the step's entries (10 000) at its own stop: 96 and 98
    assert list(sim.trades["exit_price"]) == [96.0, 98.0] == [r["exit_price"] for r in ref]
    assert list(sim.trades["pnl"]) == pytest.approx([-100.0, -100.0])
    assert [r["pnl"] for r in ref] == pytest.approx([-100.0, -100.0])


# ------------------------------------------------------------------------------------------- trailing activation
TRAIL = replace(BASE, trailing_stop_pct=5, trailing_stop_activation_pct=10)
# bar 1 peaks at 108 (< 110: not active) and bar 2 falls to 101, under 108 x 0.95 = 102.6; bar 3 reaches 112
# (the activation is judged on the peak before a bar: not yet during bar 3); bar 4 falls below 110 again
ACTIVATION_BARS = [FLAT, (101, 108, 100, 107), (107, 107, 101, 102), (103, 112, 102, 111), (111, 111, 105, 106)]


def test_no_trail_before_the_activation():
    assert brief(run(ACTIVATION_BARS, [0], [], replace(TRAIL, trailing_stop_activation_pct=None))[0]) == \
        [(0, 2, "trailing_stop", 102.6)]
    trades, _, _ = run(ACTIVATION_BARS[:3], [0], [], TRAIL)
    assert brief(trades) == [(0, 2, "end_of_data", 102.0)]


def test_activation_reached_and_lost_the_trail_stays():
    # active from bar 4 on (peak 112 >= 110): level 112 x 0.95 = 106.4 inside bar 4, although the price is
    # back under the activation level: the trail follows the peak, which never falls
    trades, _, _ = run(ACTIVATION_BARS, [0], [], TRAIL)
    assert brief(trades) == [(0, 4, "trailing_stop", 106.4)]


def test_a_short_activation_is_on_the_trough():
    # short at 100, trail 5 % above the trough once the trough is 10 % below the entry (90)
    bars = [FLAT, (99, 100, 92, 93), (93, 97, 93, 96), (96, 96, 89, 90), (90, 94, 90, 93)]
    trades, _, _ = run(bars, [0], [], replace(TRAIL, direction="short"))
    assert brief(trades) == [(0, 4, "trailing_stop", 93.45)]  # 89 x 1.05; bar 2's 97 > 96.6 did not count


# ------------------------------------------------------------------------------------------- take-profit table
def test_roi_step_reached_fills_at_the_open_when_it_gaps():
    # {0: 10, 2: 3}: bar 1 targets 110 (high 105); bar 2 (held 2) targets 103 and opens at 104: filled at the open
    risk = replace(BASE, take_profit_by_bars=((0, 10.0), (2, 3.0)))
    bars = [FLAT, (101, 105, 100, 104), (104, 105, 103.5, 104), FLAT]
    assert brief(run(bars, [0], [], risk)[0]) == [(0, 2, "take_profit", 104.0)]


def test_roi_rows_apply_from_their_bar_and_none_before_the_first():
    risk = replace(BASE, take_profit_by_bars=((2, 3.0),))
    bars = [FLAT, (101, 109, 100, 104), (102, 104, 101, 102), FLAT]  # no target on bar 1; 103 inside bar 2
    assert brief(run(bars, [0], [], risk)[0]) == [(0, 2, "take_profit", 103.0)]
    # open fills: the entry bar holds 0 bars, so row 0 applies from it
    risk = replace(OPEN, take_profit_by_bars=((0, 5.0), (1, 1.0)))
    bars = [FLAT, (100, 106, 99, 101), (101, 101.5, 100, 100.5)]
    assert brief(run(bars, [0], [], risk)[0]) == [(1, 1, "take_profit", 105.0)]
    assert brief(run([FLAT, (100, 104, 99, 101), (101, 101.5, 100, 100.5)], [0], [], risk)[0]) == \
        [(1, 2, "take_profit", 101.0)]


def test_a_short_table_targets_below():
    risk = replace(SHORT, take_profit_by_bars=((0, 10.0), (1, 2.0)))
    assert brief(run([FLAT, (99, 100, 97, 98)], [0], [], risk)[0]) == [(0, 1, "take_profit", 98.0)]


# ------------------------------------------------------------------------------------------- position variables
HOLD_BARS = [FLAT, (100, 101, 99, 100), (100, 102, 99, 101), (101, 103, 100, 102), (102, 104, 101, 103), FLAT]


def test_bars_held_exits_at_the_close_with_close_fills():
    trades, _, _ = run(HOLD_BARS, [0], [], program=["bars_held >= 2"], rule=lambda t, j, s: s["bars_held"] >= 2)
    assert brief(trades) == [(0, 2, "signal", 101.0)]


def test_with_open_fills_the_exit_acts_at_the_next_open():
    # filled at bar 1's open (bars_held 0 at its close), 2 bars held at bar 3's close: out at bar 4's open
    trades, _, _ = run(HOLD_BARS, [0], [], OPEN, program=["bars_held >= 2"],
                       rule=lambda t, j, s: s["bars_held"] >= 2)
    assert brief(trades) == [(1, 4, "signal", 102.0)]


def test_unrealized_and_extremes_since_entry():
    bars = [FLAT, (101, 108, 100, 107), (106, 107, 102, 103), (103, 104, 95, 96), FLAT]
    trades, _, _ = run(bars, [0], [], program=["highest_since_entry - close >= 4"],
                       rule=lambda t, j, s: s["highest_since_entry"] - bars[t][3] >= 4)
    assert brief(trades) == [(0, 2, "signal", 103.0)]  # 108 - 103 = 5
    trades, _, _ = run(bars, [0], [], program=["unrealized_pct < -3"], rule=lambda t, j, s: s["unrealized_pct"] < -3)
    assert brief(trades) == [(0, 3, "signal", 96.0)]
    trades, _, _ = run(bars, [0], [], SHORT, program=["unrealized_pct < -3 or lowest_since_entry < 96"],
                       rule=lambda t, j, s: s["unrealized_pct"] < -3 or s["lowest_since_entry"] < 96)
    assert brief(trades) == [(0, 1, "signal", 107.0)]  # a short losing 7 %


def test_position_exit_mixed_with_series_and_parameters():
    cond = "close < entry_price - 2 * abs(close - open) or max(bars_held, 0) > 3"
    bars = [FLAT, (101, 102, 100, 101), (101, 102, 97.5, 98), FLAT, FLAT, FLAT, FLAT]
    trades, _, _ = run(bars, [0], [], program=[cond],
                       rule=lambda t, j, s: bars[t][3] < s["entry_price"] - 2 * abs(bars[t][3] - bars[t][0])
                       or s["bars_held"] > 3)
    assert brief(trades) == [(0, 4, "signal", 100.0)]  # bar 2: 98 < 100 - 6 is false


def test_an_entry_signal_on_the_bar_cancels_the_program_exit_and_a_stop_comes_first():
    trades, _, _ = run(HOLD_BARS, [0, 2], [], program=["bars_held >= 2"], rule=lambda t, j, s: s["bars_held"] >= 2)
    assert brief(trades) == [(0, 3, "signal", 102.0)]
    risk = replace(BASE, stop_loss_pct=1)  # 99, inside bar 1 before the close
    trades, _, _ = run(HOLD_BARS, [0], [], risk, program=["bars_held >= 1"], rule=lambda t, j, s: s["bars_held"] >= 1)
    assert brief(trades) == [(0, 1, "stop_loss", 99.0)]


def test_the_conditions_without_position_variables_stay_signals():
    compiled = compile_rules({**DOC, "exit": ["close < sma(close, 3)", "bars_held > 5"]})
    split = split_exit(compiled.analysis)
    assert [c.source.text for c in split.signal] == ["close < sma(close, 3)"]
    assert split.program is not None and split.program.text == "bars_held > 5"
    all_of = compile_rules({**DOC, "exit": {"logic": "all", "conditions": ["close < sma(close, 3)", "bars_held > 5"]}})
    split = split_exit(all_of.analysis)
    assert split.signal == [] and split.program.levels_text == ("prices.close < sma(prices.close, 3)",)
    assert compile_rules({**DOC, "exit": ["close < 3"]}).exit_program() is None


def test_the_program_is_inspectable_and_agrees_with_the_kernel():
    compiled = compile_rules({**DOC, "params": {"u": {"type": "float", "default": 2.0}},
                              "exit": ["unrealized_pct < -u and not (bars_held < 2) or close / entry_price >= 1.1"]})
    program = compiled.exit_program()
    assert program.variables == ("entry_price", "bars_held", "unrealized_pct")
    ops, args = program.arrays()
    rng = np.random.default_rng(5)
    stack = np.empty(MAX_STACK)
    for _ in range(300):
        lv = rng.choice([NAN, -3.0, 0.0, 1.0, 2.0, 95.0, 110.0], size=len(program.levels))
        state = dict(zip(POSITION_VARIABLES, rng.choice([NAN, 0.0, 1.0, 3.0, -4.0, 100.0], size=5), strict=True))
        e = program.evaluate(list(lv), state)
        levels = np.array(lv, dtype=float).reshape(-1, 1, 1)
        assert e.exit == run_exit_program_nb(ops, args, 0, len(ops), levels, 0, 0, 0, tuple(state.values()), stack)
        assert set(e.variables) == set(program.variables) and list(e.levels) == list(program.levels_text)


@pytest.mark.parametrize("condition", [
    "sqrt(abs(unrealized_pct)) > 1.5 or log(close / entry_price) < -0.02",
    "pow(unrealized_pct, 2) >= 9 and exp(unrealized_pct / 100) < 1.5",
    "where(bars_held > 2, unrealized_pct, 0) < clip(close - entry_price, -1, 1)",
    "pow(lowest_since_entry - close, 0.5) > 1 or clip(bars_held, 0, 5) == 5",
])
def test_bar_by_bar_math_on_position_variables_agrees_with_the_kernel(condition):
    """sqrt, exp, log, pow, clip and where take position variables (issue 17 item 5, L122 only for functions over
    bars): the kernel and the plain-Python program agree with each other and with numpy on every value, NaN,
    zero, negatives and infinities (outside a domain: numpy's NaN / inf / -inf)."""
    program = compile_rules({**DOC, "exit": [condition]}).exit_program()
    assert program is not None
    ops, args = program.arrays()
    rng = np.random.default_rng(17)
    stack = np.empty(MAX_STACK)
    values = [NAN, -math.inf, math.inf, -3.0, -0.5, 0.0, 0.5, 1.0, 2.0, 95.0, 110.0]
    for _ in range(400):
        lv = rng.choice(values, size=len(program.levels))
        state = dict(zip(POSITION_VARIABLES, rng.choice(values, size=5), strict=True))
        e = program.evaluate(list(lv), state)
        levels = np.array(lv, dtype=float).reshape(-1, 1, 1)
        with np.errstate(all="ignore"):
            got = run_exit_program_nb(ops, args, 0, len(ops), levels, 0, 0, 0, tuple(state.values()), stack)
            assert e.exit == got, (condition, lv, state)


def test_bar_by_bar_values_of_the_exit_program_are_numpy_s():
    """The plain-Python values the program uses (the registry's `scalar`) equal numpy's, the columns' kernels."""
    import itertools

    from ruleengine.lang.functions import FUNCTIONS

    values = [NAN, -math.inf, math.inf, -3.0, -0.5, 0.0, 0.5, 1.0, 2.0, 800.0]
    numpy_of = {"abs": np.abs, "sqrt": np.sqrt, "exp": np.exp, "log": np.log, "pow": np.power, "min": np.minimum,
                "max": np.maximum, "clip": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi)}
    for name, ref in numpy_of.items():
        scalar = FUNCTIONS[name].scalar
        assert scalar is not None
        for args in itertools.product(values, repeat=len(FUNCTIONS[name].args)):
            with np.errstate(all="ignore"):
                expected = float(ref(*map(np.float64, args)))
            got = scalar(*args)
            assert got == expected or (math.isnan(got) and math.isnan(expected)), (name, args, got, expected)


def test_math_on_a_position_variable_equals_the_same_exit_written_with_operators():
    """pow(u, 2) > 16 is |u| > 4, where(bars_held > 3, u, 0) < -1 is bars_held > 3 and u < -1: same trades."""
    kw = {"provider": "sample", "benchmark": None}
    pairs = [("pow(unrealized_pct, 2) > 16", "abs(unrealized_pct) > 4"),
             ("where(bars_held > 3, unrealized_pct, 0) < -1", "bars_held > 3 and unrealized_pct < -1"),
             ("sqrt(max(unrealized_pct, 0)) > 2 or log(close / entry_price) < -0.03",
              "unrealized_pct > 4 or close < entry_price * 0.9704455335485082")]
    entry = ["crosses_above(sma(close, 5), sma(close, 20))"]
    for math_form, operators in pairs:
        a = ruleengine.backtest({**DOC, "entry": entry, "exit": [math_form]}, "SPY", "2014-01-01", "2016-12-31",
                                **kw).results[0].trades
        b = ruleengine.backtest({**DOC, "entry": entry, "exit": [operators]}, "SPY", "2014-01-01", "2016-12-31",
                                **kw).results[0].trades
        assert len(a) > 5 and [(t.entry_time, t.exit_time, t.exit_reason) for t in a] == \
            [(t.entry_time, t.exit_time, t.exit_reason) for t in b], math_form


# ------------------------------------------------------------------------------------------- checks
def _codes(doc: dict) -> list[tuple[str, str | None]]:
    with pytest.raises(RuleEngineError) as exc:
        compile_rules(doc)
    return [(d.code, d.path) for d in exc.value.diagnostics]


def test_position_variables_are_refused_outside_exits_with_a_position():
    assert _codes({**DOC, "entry": ["close > entry_price"]}) == [("L120", "entry[0]")]
    assert _codes({**DOC, "exit": ["sma(unrealized_pct, 3) > 1"]}) == [("L122", "exit[0]")]
    assert _codes({**DOC, "exit": ["bars_held[1] > 1"]}) == [("L122", "exit[0]")]
    assert _codes({**DOC, "risk": {"stop_loss_distance": "bars_held * 2"}}) == [("L120", "risk.stop_loss_distance")]
    assert _codes({**DOC, "risk": {"take_profit_distance": "close > 2"}}) == [("L121", "risk.take_profit_distance")]
    # L120 names the place as the user wrote it (each of these used to say "in an entry condition")
    places = {"short_entry[0]": "in a short_entry condition", "entry_order.price": "in the entry order's price",
              "pair.hedge_ratio": "in the pair's hedge ratio"}
    docs = {"short_entry[0]": {**DOC, "direction": "long_short", "short_entry": ["bars_held > 3"]},
            "entry_order.price": {**DOC, "entry_order": {"type": "limit", "price": "entry_price * 0.99"}},
            "pair.hedge_ratio": {**PAIR_DOC, "pair": {"legs": ["a", "b"], "hedge_ratio": "entry_price / 10"}}}
    for path, doc in docs.items():
        with pytest.raises(RuleEngineError) as exc:
            compile_rules(doc)
        (d,) = exc.value.diagnostics
        assert (d.code, d.path) == ("L120", path) and places[path] in d.message, d.message
    # a long_short strategy's short_exit takes them (its shorts' exit program)
    compiled = compile_rules({**DOC, "direction": "long_short", "short_entry": ["close < 1"],
                              "short_exit": ["bars_held > 3"]})
    assert compiled.exit_program() is None and compiled.exit_program("short_exit").text == "bars_held > 3"
    with pytest.raises(RuleEngineError) as exc:
        compile_rules("name: t\ndata: {prices: {kind: ohlcv}}\nentry: ['close > 0']\nexit:\n  - close > entry_pric\n")
    d = exc.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.col, d.hint) == ("C102", 5, 13, "did you mean 'entry_price'?")


PAIR_DOC = {"name": "p", "data": {"a": {"kind": "ohlcv"}, "b": {"kind": "ohlcv"}}, "pair": {"legs": ["a", "b"]},
            "entry": ["a.close > b.close"]}


def test_a_pair_refuses_distances_only():
    """A distance is in one instrument's price units: a pair, whose stops act on both legs' value, refuses it
    (S140) rather than silently ignoring it; its activation, take-profit table and position variables are the
    pair's (tests/test_pairs.py)."""
    for risk in ({"stop_loss_distance": 2}, {"take_profit_distance": "atr(a.high, a.low, a.close, 14)"}):
        with pytest.raises(RuleEngineError) as exc:
            ruleengine.load_strategy({**PAIR_DOC, "risk": risk})
        assert [d.code for d in exc.value.diagnostics] == ["S140"]
        assert "stop_loss_pct" in exc.value.diagnostics[0].hint
        assert exc.value.diagnostics[0].path == "risk." + next(iter(risk))  # the field, not the document
    compile_rules({**PAIR_DOC, "exit": ["a.close < b.close", "bars_held >= 5"],
                   "risk": {"trailing_stop_pct": 5, "trailing_stop_activation_pct": 3, "take_profit_by_bars": {0: 3}}})
    resolve_risk(ruleengine.load_strategy({**PAIR_DOC, "risk": {"trailing_stop_pct": 5}}),
                 {"trailing_stop_activation_pct": 3})


def test_document_checks_of_the_new_risk_keys():
    def codes(risk: dict) -> list[tuple[str, str | None]]:
        with pytest.raises(RuleEngineError) as exc:
            ruleengine.load_strategy({**DOC, "risk": risk})
        return [(d.code, d.path) for d in exc.value.diagnostics]

    assert codes({"stop_loss_pct": 5, "stop_loss_distance": 2}) == [("S120", "risk.stop_loss_distance")]
    assert codes({"take_profit_pct": 5, "take_profit_distance": "atr(high, low, close, 14)"}) == \
        [("S120", "risk.take_profit_distance")]
    assert codes({"take_profit_pct": 5, "take_profit_by_bars": {0: 3}}) == [("S121", "risk.take_profit_by_bars")]
    assert codes({"take_profit_by_bars": {-1: 3}}) == [("S122", "risk.take_profit_by_bars")]
    assert codes({"take_profit_by_bars": {0: 0}}) == [("S122", "risk.take_profit_by_bars")]
    assert codes({"trailing_stop_activation_pct": 5}) == [("S123", "risk.trailing_stop_activation_pct")]
    assert codes({"stop_loss_distance": -2}) == [("S124", "risk.stop_loss_distance")]
    ok = ruleengine.load_strategy({**DOC, "risk": {"stop_loss_pct": "off", "stop_loss_distance": 2,
                                                   "take_profit_by_bars": [{"bars": 5, "take_profit_pct": 2},
                                                                           {"bars": 0, "take_profit_pct": 9}]}})
    assert ok.risk.take_profit_by_bars == {0: 9.0, 5: 2.0}
    assert ruleengine.load_strategy(ok.to_dict()) == ok


def test_the_timeframe_defaults_leave_an_exit_given_in_another_form_alone():
    s = ruleengine.load_strategy({**DOC, "timeframe": "short_term",
                                  "risk": {"stop_loss_distance": 2, "take_profit_by_bars": {0: 4}}})
    r = resolve_risk(s)
    assert (r.stop_loss_pct, r.take_profit_pct, r.max_hold_days) == (None, None, 30)
    with pytest.raises(RuleEngineError) as exc:
        resolve_risk(s, {"stop_loss_pct": 5})
    assert exc.value.diagnostics[0].code == "D103"


def test_documents_without_the_new_keys_hash_and_report_as_before():
    s = ruleengine.load_strategy({**DOC, "risk": {"stop_loss_pct": 5}})
    assert "trailing_stop_activation_pct" not in s.to_dict()["risk"]
    assert set(resolve_risk(s).to_dict()) >= {"stop_loss_pct", "max_hold_bars"}
    assert not {"trailing_stop_activation_pct", "stop_loss_distance"} & set(resolve_risk(s).to_dict())


# ------------------------------------------------------------------------------------------- random cases
EXIT_RULE = ["bars_held >= 7 or unrealized_pct < -2.5 or close < highest_since_entry * 0.96",
             "lowest_since_entry < entry_price * 0.95 and close > open"]


def _exit_rule(prices):
    c, o = prices["close"], prices["open"]
    return lambda t, j, s: (s["bars_held"] >= 7 or s["unrealized_pct"] < -2.5
                            or c[t][j] < s["highest_since_entry"] * 0.96
                            or (s["lowest_since_entry"] < s["entry_price"] * 0.95 and c[t][j] > o[t][j]))


def _random_market(seed: int, T: int = 260, N: int = 3):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, (T, N)), axis=0))
    opn = close * np.exp(rng.normal(0, 0.006, (T, N)))
    high = np.maximum(opn, close) * np.exp(np.abs(rng.normal(0, 0.006, (T, N))))
    low = np.minimum(opn, close) * np.exp(-np.abs(rng.normal(0, 0.006, (T, N))))
    for a in (opn, high, low, close):
        a[rng.random((T, N)) < 0.02] = NAN  # missing bars
    close[np.isnan(opn) & (rng.random((T, N)) < 0.5)] = NAN
    prices = {"open": opn, "high": high, "low": low, "close": close}
    entries, exits = rng.random((T, N)) < 0.08, rng.random((T, N)) < 0.04
    stop = rng.uniform(-0.5, 4.0, (T, N))
    stop[rng.random((T, N)) < 0.05] = NAN
    target = rng.uniform(0.5, 6.0, (T, N))
    return prices, entries, exits, pd.date_range("2020-01-01", periods=T, freq="D", tz="UTC"), stop, target


def _risks():
    table = ((0, 6.0), (5, 3.0), (12, 0.5))
    yield replace(BASE, fees_pct=0.1, slippage_pct=0.05), {"stop_loss_distance", "take_profit_distance"}
    yield replace(BASE, trailing_stop_pct=3, trailing_stop_activation_pct=2, take_profit_by_bars=table), set()
    yield replace(BASE, trailing_stop_pct=2.5, trailing_stop_activation_pct=1.5, direction="short",
                  max_hold_bars=9), {"stop_loss_distance"}
    yield replace(BASE, take_profit_by_bars=table, direction="short", fees_pct=0.2), {"stop_loss_distance"}


@pytest.mark.parametrize("execution_price", ["close", "open"])
@pytest.mark.parametrize("seed", [1, 2])
def test_random_cases_match_the_reference(seed, execution_price):
    prices, entries, exits, idx, stop, target = _random_market(seed)
    program, program_levels = _program_on(prices, idx)
    for base, kinds in _risks():
        risk = replace(base, execution_price=execution_price)
        levels = {**{k: v for k, v in (("stop_loss_distance", stop), ("take_profit_distance", target)) if k in kinds},
                  **program_levels}
        for prog, rule in ((None, None), (program, _exit_rule(prices))):
            lv = levels if prog is not None else {k: v for k, v in levels.items() if not k.startswith("exit_program")}
            what = f"{risk} program={prog is not None}"
            sim = simulate(prices, entries, exits, idx, risk, levels=lv, exit_program=prog, init_cash=CASH, start=5)
            ref = reference_simulate(prices, entries, exits, idx, [risk] * 3, init_cash=CASH, start=5, distances=lv,
                                     exit_rule=rule)
            assert_same_as_reference(sim, *ref, what)
            port = simulate_portfolio(prices, entries, exits, idx, replace(risk, position_size_pct=30), levels=lv,
                                      exit_program=prog, init_cash=CASH, start=5)
            trades, equity, _ = reference_portfolio(prices, entries, exits, idx,
                                                          [replace(risk, position_size_pct=30)] * 3, init_cash=CASH,
                                                          start=5, distances=lv, exit_rule=rule)
            got = port.trades.to_dict("records")
            assert [(t["column"], t["entry_bar"], t["exit_bar"], t["exit_reason"]) for t in got] == \
                [(t["column"], t["entry_bar"], t["exit_bar"], t["exit_reason"])
                 for t in sorted(trades, key=lambda t: (t["entry_bar"], t["column"]))], what
            np.testing.assert_allclose(port.equity[:, 0], equity, rtol=1e-9, err_msg=what)


def _program_on(prices, idx):
    compiled = compile_rules({**DOC, "exit": EXIT_RULE})
    frames = {"prices": pd.concat({str(j): pd.DataFrame({k: v[:, j] for k, v in prices.items()}, index=idx)
                                   for j in range(prices["close"].shape[1])}, axis=1)}
    s = compiled.signals(frames)
    return s.exit_program, dict(s.levels)


# ------------------------------------------------------------------------------------------- whole runs
ATR_EXITS = {"name": "atr exits", "data": {"prices": {"kind": "ohlcv"}},
             "params": {"k": {"type": "float", "min": 0.5, "max": 5, "default": 2.0},
                        "hold": {"type": "int", "min": 2, "max": 60, "default": 20}},
             "entry": ["crosses_above(sma(close, 10), sma(close, 30))"],
             "exit": ["crosses_below(sma(close, 10), sma(close, 30))",
                      "bars_held >= hold or close < highest_since_entry - k * atr(high, low, close, 14)"],
             "risk": {"stop_loss_distance": "k * atr(high, low, close, 14)", "take_profit_by_bars": {0: 15, 30: 4},
                      "trailing_stop_pct": 6, "trailing_stop_activation_pct": 3, "fees_pct": 0.1}}


@pytest.mark.parametrize("execution_price", ["close", "open"])
def test_sweep_equals_backtest(execution_price):
    res = sweep(ATR_EXITS, "AAPL", "2012-01-01", "2016-12-31", provider="sample",
                grid={"k": [1.0, 2.5], "hold": [5, 40], "trailing_stop_activation_pct": [None, 4.0]},
                params={"execution_price": execution_price})
    assert len(res.table) == 8
    reasons: set[str] = set()
    for rank in range(1, 9):
        run = res.detail(rank, benchmark=None).results[0]
        assert_same_metrics(res.table.iloc[rank - 1], run.metrics, f"rank {rank}")
        reasons |= set(run.exit_reasons())
    assert {"signal", "stop_loss", "take_profit", "trailing_stop"} <= reasons


@pytest.mark.parametrize("execution_price", ["close", "open"])
@pytest.mark.parametrize("feature", ["stop_loss_distance", "trailing_stop_activation_pct", "take_profit_by_bars",
                                     "position variables"])
def test_truncating_the_data_never_changes_earlier_trades(feature, execution_price):
    doc = {**ATR_EXITS, "exit": ATR_EXITS["exit"][:1], "risk": {"fees_pct": 0.1}}
    if feature == "position variables":
        doc["exit"] = ATR_EXITS["exit"]
    elif feature == "trailing_stop_activation_pct":
        doc["risk"] = {**doc["risk"], "trailing_stop_pct": 4, feature: 3}
    else:
        doc["risk"] = {**doc["risk"], feature: ATR_EXITS["risk"][feature]}
    kw = {"provider": "sample", "benchmark": None, "params": {"execution_price": execution_price}}
    full = ruleengine.backtest(doc, "SPY", "2012-01-01", "2016-12-31", **kw).results[0].trades
    assert len(full) > 10
    for end in ("2013-06-28", "2014-09-30", "2015-12-31"):
        part = ruleengine.backtest(doc, "SPY", "2012-01-01", end, **kw).results[0].trades
        closed = [t for t in part if t.exit_reason != "end_of_data"]
        assert closed == full[:len(closed)], (feature, end)
        assert len(part) == len(closed) + (part[-1].exit_reason == "end_of_data")


def test_backtest_warns_when_a_distance_was_unusable_at_an_entry():
    doc = {**ATR_EXITS, "exit": ATR_EXITS["exit"][:1],
           "risk": {"stop_loss_distance": "atr(high, low, close, 14) - 1.5 * stddev(close, 5)"}}
    res = ruleengine.backtest(doc, "SPY", "2012-01-01", "2016-12-31", provider="sample", benchmark=None)
    [w] = [w for w in res.warnings if w["code"] == "L123"]
    assert w["path"] == "risk.stop_loss_distance" and "had no stop loss" in w["message"]
    assert res.results[0].risk["stop_loss_distance"] == doc["risk"]["stop_loss_distance"]


def test_atr_stop_matches_backtesting_py():
    """backtesting.py's buy(sl=...) with the stop at the fill price minus 2 x ATR(14) of the signal bar."""
    bt = pytest.importorskip("backtesting")
    md = ruleengine.load_data(ruleengine.load_strategy(ATR_EXITS), "SPY", "2012-01-01", "2016-12-31",
                              provider="sample")
    frame = pd.DataFrame({k.capitalize(): md.inputs[("prices", k)][:, 0] for k in ("open", "high", "low", "close")},
                         index=md.index.tz_localize(None))
    doc = {**ATR_EXITS, "exit": ["crosses_below(sma(close, 10), sma(close, 30))"],
           "risk": {"stop_loss_distance": "2 * atr(high, low, close, 14)"}}
    sig = ruleengine.compile_strategy(doc).signals(md)
    entries, exits, dist = sig.entries[:, 0], sig.exits[:, 0], sig.levels["stop_loss_distance"][:, 0]
    start = md.start

    class AtrStop(bt.Strategy):  # type: ignore[misc,name-defined]
        def init(self) -> None:
            pass

        def next(self) -> None:
            t = len(self.data) - 1
            if t < start:
                return
            if self.position and exits[t] and not entries[t]:
                self.position.close()
            elif not self.position and entries[t] and not exits[t] and t + 1 < len(frame):
                # the order fills at the next open: its stop is that open minus the signal bar's distance
                self.buy(size=0.9999, sl=frame["Open"].iloc[t + 1] - dist[t])

    stats = bt.Backtest(frame, AtrStop, cash=CASH, commission=0.0, trade_on_close=False,
                        exclusive_orders=False).run()
    theirs = stats["_trades"]
    ours = ruleengine.backtest(doc, "SPY", "2012-01-01", "2016-12-31", provider="sample", benchmark=None,
                               params={"execution_price": "open"}).results[0].trades
    ours = [t for t in ours if t.exit_reason != "end_of_data"]
    assert len(ours) > 5
    theirs = theirs[theirs["ExitTime"] < frame.index[-1]]
    assert len(theirs) == len(ours)
    for t, (_, row) in zip(ours, theirs.iterrows(), strict=True):
        assert t.entry_price == pytest.approx(row["EntryPrice"], rel=1e-9)
        assert t.exit_price == pytest.approx(row["ExitPrice"], rel=1e-9)


def test_readme_and_contract_state_the_new_exits():
    from ruleengine.backtest.risk import EXITS_FILL_CONTRACT

    text = README.read_text()
    assert EXITS_FILL_CONTRACT in text
    for key in ("stop_loss_distance", "take_profit_by_bars", "trailing_stop_activation_pct", *POSITION_VARIABLES):
        assert key in text


def test_vectorbt_engine_refuses_what_it_cannot_express():
    for doc, path in ((ATR_EXITS, "exit"),
                      ({**ATR_EXITS, "exit": ATR_EXITS["exit"][:1], "risk": {"take_profit_by_bars": {0: 3}}},
                       "risk.take_profit_by_bars"),
                      ({**ATR_EXITS, "exit": ATR_EXITS["exit"][:1], "risk": {"stop_loss_distance": 3}},
                       "risk.stop_loss_distance")):
        with pytest.raises(RuleEngineError) as exc:
            ruleengine.backtest(doc, "SPY", "2015-01-01", "2015-12-31", provider="sample", engine="vectorbt",
                                benchmark=None)
        assert [(d.code, d.path) for d in exc.value.diagnostics] == [("D103", path)]


def test_a_model_can_write_every_new_key_under_the_strict_schema():
    jsonschema = pytest.importorskip("jsonschema")
    from ruleengine.llm.wire import wire_form
    from ruleengine.schema.jsonschema import strict_json_schema

    strategy = ruleengine.load_strategy(ATR_EXITS)
    wire = wire_form(strategy)
    assert wire["risk"]["take_profit_by_bars"] == [{"bars": 0, "take_profit_pct": 15.0},
                                                   {"bars": 30, "take_profit_pct": 4.0}]
    jsonschema.Draft202012Validator(strict_json_schema()).validate(wire)
    assert ruleengine.load_strategy(wire) == strategy


def test_a_code_strategy_cannot_give_a_distance_yet():
    doc = {"name": "c", "data": {"prices": {"kind": "ohlcv"}},
           "code": "def generate_signals(data, params):\n    return data['close'] > 0, data['close'] < 0\n",
           "risk": {"take_profit_distance": 2}}
    with pytest.raises(RuleEngineError) as exc:
        ruleengine.compile_strategy(doc)
    assert [(d.code, d.path) for d in exc.value.diagnostics] == [("L124", "risk.take_profit_distance")]
    from ruleengine.strategies import check_document

    assert [d.code for d in check_document(ruleengine.load_strategy(doc))] == ["L124"]
