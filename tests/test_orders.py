"""Entry orders (``entry_order: {type: market | limit | stop, price, valid_bars}``): the document, its checks,
the fill rules on hand-written bar tables (kernel and reference simulation), causality, sweeps and the
backtesting.py oracle.
"""
from __future__ import annotations

import itertools
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support.sim_reference import reference_portfolio, reference_simulate
from test_backtest_engine import COMBOS, assert_same_as_reference
from test_backtest_stops import BASE, CASH, FLAT, brief, sig, table
from test_short import assert_portfolio_as_reference
from test_sweep_engine import assert_same_metrics

import ruleengine
from ruleengine.backtest.risk import resolve_risk
from ruleengine.backtest.simulation import simulate, simulate_portfolio
from ruleengine.errors import RuleEngineError
from ruleengine.sweep.run import sweep

#: code strategies run in the seccomp sandbox, which exists on Linux only (as tests/test_sandbox_attacks.py)
SANDBOX_PLATFORM = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

DOC = {"name": "pullback", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
       "params": {"k": {"type": "float", "min": 0.0, "max": 3.0, "default": 0.5}},
       "entry": ["close > sma(close, 20)"], "exit": ["close < sma(close, 20)"]}
LIMIT = {"type": "limit", "price": "close - k * atr(high, low, close, 14)", "valid_bars": 3}


# ------------------------------------------------------------------------------------------------ the document
def test_a_market_order_hashes_as_before_the_key_existed():
    base = ruleengine.load_strategy(DOC)
    for written in ({"type": "market"}, {}, None):
        doc = ruleengine.load_strategy({**DOC, "entry_order": written})
        assert doc.strategy_hash() == base.strategy_hash() and "entry_order" not in doc.to_dict()
    limit = ruleengine.load_strategy({**DOC, "entry_order": LIMIT})
    assert limit.strategy_hash() != base.strategy_hash()
    assert limit.to_dict()["entry_order"] == LIMIT
    assert ruleengine.load_strategy(limit.to_dict()) == limit


@pytest.mark.parametrize(("order", "code", "path", "hint"), [
    ({"type": "limit"}, "S125", "entry_order", "price:"),
    ({"type": "stop", "price": "  "}, "S125", "entry_order", "price:"),
    ({"type": "market", "price": "close"}, "S126", "entry_order", "type: limit"),
    ({"price": "close"}, "S126", "entry_order", "type: limit"),
    ({"type": "market", "valid_bars": 3}, "S126", "entry_order", "valid_bars"),
    ({"type": "limit", "price": "close", "valid_bars": 0}, "S104", "entry_order.valid_bars", None),
    ({"type": "limt", "price": "close"}, "S104", "entry_order.type", "did you mean 'limit'"),
])
def test_order_block_errors_name_the_field(order, code, path, hint):
    with pytest.raises(RuleEngineError) as err:
        ruleengine.load_strategy({**DOC, "entry_order": order})
    (d,) = err.value.diagnostics
    assert (d.code, d.path) == (code, path)
    assert hint is None or hint in (d.hint or "")


def test_a_code_strategys_order_takes_no_price_expression():
    doc = {"name": "c", "data": {"prices": {"kind": "ohlcv"}},
           "code": "def generate_signals(data, params):\n    return data.close > 0, data.close < 0\n"}
    ruleengine.load_strategy({**doc, "entry_order": {"type": "market"}})
    limit = ruleengine.load_strategy({**doc, "entry_order": {"type": "limit", "valid_bars": 3}})
    assert limit.entry_order.price is None and ruleengine.load_strategy(limit.to_dict()) == limit
    with pytest.raises(RuleEngineError) as err:
        ruleengine.load_strategy({**doc, "entry_order": LIMIT})
    (d,) = err.value.diagnostics
    assert (d.code, d.path) == ("S127", "entry_order") and "entry_price" in d.hint


@pytest.mark.parametrize(("doc", "code", "words"), [
    ({"direction": "long_short", "short_entry": ["close < 1"], "entry_order": LIMIT}, "S125", "short_price"),
    ({"entry_order": {**LIMIT, "short_price": "close"}}, "S128", "long_short"),
    ({"direction": "short", "entry_order": {**LIMIT, "short_price": "close"}}, "S128", "long_short"),
])
def test_short_price_belongs_to_long_short(doc, code, words):
    with pytest.raises(RuleEngineError) as err:
        ruleengine.load_strategy({**DOC, **doc})
    (d,) = err.value.diagnostics
    assert (d.code, d.path) == (code, "entry_order") and words in d.message + d.hint


def test_a_long_short_short_price_is_checked_where_it_stands():
    text = YAML.replace('price: "PRICE"', 'price: "close"\n  short_price: "volume"').replace(
        "entry:\n  - close > 1\n", "direction: long_short\nentry:\n  - close > 1\nshort_entry:\n  - close < 1\n")
    with pytest.raises(RuleEngineError) as err:
        ruleengine.compile_strategy(text)
    (d,) = err.value.diagnostics
    assert (d.code, d.path) == ("L126", "entry_order.short_price") and d.span is not None and d.span.line == 14


YAML = """name: t
data:
  prices: {kind: ohlcv}
  weekly: {kind: ohlcv, frequency: 1Week, symbol_from: prices}
  other: {kind: ohlcv}
entry:
  - close > 1
entry_order:
  type: limit
  price: "PRICE"
"""


@pytest.mark.parametrize(("price", "code", "col", "width", "words"), [
    ("close > open", "L125", 11, 12, "true/false"),
    ("atr(high, low, close, 14)", "L126", 11, 25, "distance"),
    ("close - rsi(close, 14)", "L126", 19, 14, "rsi"),
    ("volume", "L126", 11, 6, "'volume'"),
    ("other.close", "L126", 11, 11, "'other.close'"),
    ("close * close", "L126", 11, 13, "product"),
    ("close / sma(close, 5)", "L126", 11, 21, "ratio"),
    ("-close", "L126", 11, 6, "distance"),
    ("sma(clos, 5)", "C102", 15, 4, "clos"),
])
def test_a_price_that_is_not_a_price_is_refused_where_it_stands(price, code, col, width, words):
    with pytest.raises(RuleEngineError) as err:
        ruleengine.compile_strategy(YAML.replace("PRICE", price))
    (d,) = err.value.diagnostics
    assert (d.code, d.path) == (code, "entry_order.price")
    assert d.span is not None and (d.span.line, d.span.col, d.span.end_col - d.span.col) == (10, col, width)
    assert words in d.message and d.hint and d.stage == ("schema" if code.startswith("S") else "check")


@pytest.mark.parametrize("price", [
    "close", "highest(high, 20)[1]", "close - 2 * atr(high, low, close, 14)", "(high + low) / 2", "close * 0.98",
    "100", "min(low, sma(close, 10))", "weekly.low", "bb_lower(close, 20, 2)", "vwap(high, low, close, volume, 5)",
])
def test_prices_are_accepted(price):
    compiled = ruleengine.compile_strategy(YAML.replace("PRICE", price))
    assert compiled.analysis.order_price is not None


# ------------------------------------------------------------------------------------------------ bar tables
# Every table runs through the kernel and the plain-Python reference (tests/support/sim_reference.py); both must
# give exactly the trades computed by hand in the comments. `levels` is the order price computed at each close.


NAN = math.nan
LIMIT_RISK = replace(BASE, entry_order="limit", order_valid_bars=1)
STOP_RISK = replace(BASE, entry_order="stop", order_valid_bars=1)


def _level_column(n, levels):
    lv = np.full((n, 1), NAN)
    for t, v in levels.items():
        lv[t, 0] = v
    return lv


def run_orders(bars, entries, exits, levels, risk, short=None):
    """The kernel and the reference on one bar table; they must agree; returns (trades, equity). `short`: a
    long_short strategy's (short entries, short exits, short levels)."""
    prices, idx = table(bars)
    n = len(idx)
    ent, ext = sig(n, *entries), sig(n, *exits)
    lv = _level_column(n, levels)
    sides: dict = {}
    if short is not None:
        sides = {"short_entries": sig(n, *short[0]), "short_exits": sig(n, *short[1])}
        short_lv = _level_column(n, short[2])
    kw = {"short_entry_order_price": short_lv} if short is not None else {}
    sim = simulate(prices, ent, ext, idx, risk, levels={"entry_order_price": lv, **kw}, init_cash=CASH, **sides)
    ref_trades, ref_eq = reference_simulate(prices, ent, ext, idx, [risk], init_cash=CASH, order_levels=lv,
                                            short_order_levels=short_lv if short is not None else None, **sides)
    got = assert_table_as_reference(sim, ref_trades, ref_eq)
    return got, list(sim.equity[:, 0])


def assert_table_as_reference(sim, ref_trades, ref_eq) -> list:
    """A one-column bar table's simulation equals the reference's trades (exactly) and equity; returns its
    trades as dicts."""
    got = sim.trades.drop(columns=["entry_time", "exit_time"]).to_dict("records")
    assert len(got) == len(ref_trades)
    for g, r in zip(got, ref_trades, strict=True):
        assert {k: g[k] for k in ("entry_bar", "exit_bar", "exit_reason")} == \
            {k: r[k] for k in ("entry_bar", "exit_bar", "exit_reason")}
        for k in ("entry_price", "exit_price", "size", "pnl", "fees"):
            assert g[k] == pytest.approx(r[k], rel=1e-12)
    np.testing.assert_allclose(sim.equity[:, 0], [row[0] for row in ref_eq], rtol=1e-12)
    return got


def test_limit_never_touched_no_trade():
    # limit 95 placed at bar 0's close, worked on bar 1 only (valid_bars 1): its low 96 never reaches it
    trades, eq = run_orders([FLAT, (100, 102, 96, 101), (101, 102, 90, 95)], [0], [], {0: 95.0}, LIMIT_RISK)
    assert trades == [] and eq == [CASH] * 3


def test_limit_touched_inside_the_bar_fills_at_the_level():
    # limit 97 worked on bar 1 (100 .. 95): filled at 97, 10 000 / 97 units; marked at bar 2's close 99
    trades, eq = run_orders([FLAT, (100, 101, 95, 98), (98, 100, 97, 99)], [0], [], {0: 97.0}, LIMIT_RISK)
    assert brief(trades) == [(1, 2, "end_of_data", 99.0)]
    assert trades[0]["entry_price"] == 97.0 and trades[0]["size"] == pytest.approx(CASH / 97)
    assert eq[1] == pytest.approx(CASH / 97 * 98)


def test_limit_with_the_open_below_fills_at_the_open():
    # bar 1 opens at 94, already below the limit 97: filled at the open (better than the level)
    trades, _ = run_orders([FLAT, (94, 96, 93, 95)], [0], [], {0: 97.0}, LIMIT_RISK)
    assert trades[0]["entry_bar"] == 1 and trades[0]["entry_price"] == 94.0


def test_stop_gapping_over_the_level_fills_at_the_open():
    # a breakout stop at 103; bar 1 opens at 105, above it: bought at the open
    trades, _ = run_orders([FLAT, (105, 107, 104, 106)], [0], [], {0: 103.0}, STOP_RISK)
    assert trades[0]["entry_bar"] == 1 and trades[0]["entry_price"] == 105.0


def test_stop_inside_the_bar_fills_at_the_level():
    trades, _ = run_orders([FLAT, (100, 104, 99, 103)], [0], [], {0: 103.0}, STOP_RISK)
    assert trades[0]["entry_bar"] == 1 and trades[0]["entry_price"] == 103.0
    # never reached on its only bar: nothing
    assert run_orders([FLAT, (100, 102.9, 99, 102), (102, 110, 101, 109)], [0], [], {0: 103.0}, STOP_RISK)[0] == []


def test_order_expires_after_valid_bars():
    bars = [FLAT, (100, 101, 98, 99), (99, 100, 98, 99), (99, 100, 98, 99), (99, 100, 90, 92)]
    # limit 95, valid 3 bars: worked on bars 1-3 (lows 98), expired before bar 4 reaches 90
    assert run_orders(bars, [0], [], {0: 95.0}, replace(LIMIT_RISK, order_valid_bars=3))[0] == []
    # valid 4 bars: bar 4 fills it at 95
    trades, _ = run_orders(bars, [0], [], {0: 95.0}, replace(LIMIT_RISK, order_valid_bars=4))
    assert (trades[0]["entry_bar"], trades[0]["entry_price"]) == (4, 95.0)


def test_exit_signal_cancels_a_pending_order():
    bars = [FLAT, (100, 101, 98, 99), (99, 100, 98, 99), (99, 100, 90, 92)]
    risk = replace(LIMIT_RISK, order_valid_bars=5)
    assert brief(run_orders(bars, [0], [], {0: 95.0}, risk)[0]) == [(3, 3, "end_of_data", 92.0)]
    assert run_orders(bars, [0], [1], {0: 95.0}, risk)[0] == []  # cancelled at bar 1's close
    # an entry and an exit signal on one bar: the pending order is cancelled, none placed
    assert run_orders(bars, [0, 1], [1], {0: 95.0, 1: 95.0}, risk)[0] == []


def test_a_new_entry_signal_replaces_the_order_and_restarts_its_validity():
    bars = [FLAT, (100, 101, 98, 99), (99, 100, 98, 99), (99, 100, 96, 97), (97, 98, 95, 96)]
    # placed at bar 0 (95, valid 2: bars 1-2), replaced at bar 1 by 96.5 valid 2 (bars 2-3): bar 3 fills it
    trades, _ = run_orders(bars, [0, 1], [], {0: 95.0, 1: 96.5}, replace(LIMIT_RISK, order_valid_bars=2))
    assert (trades[0]["entry_bar"], trades[0]["entry_price"]) == (3, 96.5)
    # a NaN or infinite level places no order (and replaces the pending one by none)
    assert run_orders(bars, [0, 1], [], {0: 95.0, 1: NAN}, replace(LIMIT_RISK, order_valid_bars=2))[0] == []
    assert run_orders(bars, [0], [], {0: math.inf}, replace(LIMIT_RISK, order_valid_bars=2))[0] == []


def test_stops_after_a_limit_fill_see_only_what_followed_it():
    # limit 97 filled inside bar 1 (open 100, high 104, low 90, close 96): the price came down through 97
    # to the low, so the stop loss 5 % (92.15) was certainly reached after the fill: stopped at 92.15
    risk = replace(LIMIT_RISK, stop_loss_pct=5)
    trades, _ = run_orders([FLAT, (100, 104, 90, 96)], [0], [], {0: 97.0}, risk)
    assert brief(trades) == [(1, 1, "stop_loss", 92.15)]
    # the take profit 5 % (101.85) is below the bar's high 104, but that high may have come before the fill:
    # what followed the fill reached max(level, close) = 97 only: no target on the fill bar
    risk = replace(LIMIT_RISK, take_profit_pct=5)
    trades, _ = run_orders([FLAT, (100, 104, 95, 96), (96, 102, 95, 101)], [0], [], {0: 97.0}, risk)
    assert brief(trades) == [(1, 2, "take_profit", 101.85)]
    # a close above the target after the fill: certainly reached after it
    trades, _ = run_orders([FLAT, (100, 104, 95, 103)], [0], [], {0: 97.0}, risk)
    assert brief(trades) == [(1, 1, "take_profit", 101.85)]


def test_stops_after_a_stop_fill_see_only_what_followed_it():
    # breakout stop 103 filled inside bar 1 (open 100, high 110, low 96, close 104): the price rose through
    # 103 to the high, so the take profit 5 % (108.15) certainly followed; the low 96 may have come before
    risk = replace(STOP_RISK, take_profit_pct=5, stop_loss_pct=5)  # stop 97.85 is above the low 96
    trades, _ = run_orders([FLAT, (100, 110, 96, 104)], [0], [], {0: 103.0}, risk)
    assert brief(trades) == [(1, 1, "take_profit", 108.15)]
    # a close below the stop after the fill: certainly reached after it
    trades, _ = run_orders([FLAT, (100, 104, 90, 95)], [0], [], {0: 103.0}, replace(STOP_RISK, stop_loss_pct=5))
    assert brief(trades) == [(1, 1, "stop_loss", 97.85)]
    # the trailing peak after the fill bar is the fill's post-range high (110), not an earlier one
    trades, _ = run_orders([FLAT, (100, 110, 96, 104), (104, 105, 98, 100)], [0], [], {0: 103.0},
                           replace(STOP_RISK, trailing_stop_pct=10))
    assert brief(trades) == [(1, 2, "trailing_stop", 99.0)]


def test_short_orders_are_mirrored():
    short = replace(LIMIT_RISK, direction="short")
    # a short limit sells at or above 103: bar 1 reaches 104 -> sold at 103; bar 2 opens above 103 -> the open
    trades, _ = run_orders([FLAT, (100, 104, 99, 101)], [0], [], {0: 103.0}, short)
    assert (trades[0]["entry_price"], trades[0]["direction"]) == (103.0, -1)
    trades, _ = run_orders([FLAT, (105, 106, 104, 104)], [0], [], {0: 103.0}, short)
    assert trades[0]["entry_price"] == 105.0
    # a short stop sells when the price trades down through 97; a gap below fills at the open
    short_stop = replace(STOP_RISK, direction="short")
    assert run_orders([FLAT, (100, 101, 96, 98)], [0], [], {0: 97.0}, short_stop)[0][0]["entry_price"] == 97.0
    assert run_orders([FLAT, (95, 96, 94, 95)], [0], [], {0: 97.0}, short_stop)[0][0]["entry_price"] == 95.0


def test_an_exit_signal_on_the_fill_bar_closes_at_its_close():
    # close fills: filled at 97 inside bar 1, exit signal at bar 1's close -> out at 98 on the same bar
    trades, _ = run_orders([FLAT, (100, 101, 95, 98), FLAT], [0], [1], {0: 97.0}, LIMIT_RISK)
    assert brief(trades) == [(1, 1, "signal", 98.0)]
    # open fills: the exit waits for bar 2's open
    trades, _ = run_orders([FLAT, (100, 101, 95, 98), (99, 100, 98, 99)], [0], [1], {0: 97.0},
                           replace(LIMIT_RISK, execution_price="open"))
    assert brief(trades) == [(1, 2, "signal", 99.0)]


@pytest.mark.parametrize("execution_price, exit_bar, exit_price", [("close", 2, 96.0), ("open", 2, 96.5)])
def test_an_exit_on_position_variables_first_reads_the_bar_the_contract_names(execution_price, exit_bar,
                                                                              exit_price):
    """ORDER_FILL_CONTRACT: with open fills the condition is read at the fill bar's close (out at the next
    open); with close fills at the close of the bar after the fill bar (read on the position held when a bar
    opened). Limit 97 fills inside bar 1; every close after it (96) is -1.03 % under the entry."""
    from test_exits import program_of

    bars = [FLAT, (100, 101, 95, 96), (96.5, 97, 95, 96), (96, 97, 95, 96)]
    prices, idx = table(bars)
    program, levels = program_of(["unrealized_pct < -1"], prices, idx)
    lv = np.full((len(idx), 1), NAN)
    lv[0, 0] = 97.0
    risk = replace(LIMIT_RISK, execution_price=execution_price)
    sim = simulate(prices, sig(4, 0), sig(4), idx, risk, levels={"entry_order_price": lv, **levels},
                   exit_program=program, init_cash=CASH)
    trades = sim.trades.to_dict("records")
    assert brief(trades) == [(1, exit_bar, "signal", exit_price)]
    assert trades[0]["entry_price"] == 97.0


# ------------------------------------------------------------------------------------------------ long/short
# direction long_short: entry / exit place and cancel the long side's orders (at price), short_entry /
# short_exit the short side's (at short_price); an order of the side not held reverses the position at its fill.
LS_LIMIT = replace(LIMIT_RISK, direction="long_short")
LS_STOP = replace(STOP_RISK, direction="long_short")


def ls(bars, entries, exits, levels, risk, short_entries=(), short_exits=(), short_levels=None):
    return run_orders(bars, entries, exits, levels, risk, (short_entries, short_exits, short_levels or {}))


def test_long_short_short_limit_never_touched_and_touched():
    # a short limit sells at or above 105: bar 1's high 104 never reaches it; on bar 1' (high 106) it sells at 105
    assert ls([FLAT, (100, 104, 99, 101)], [], [], {}, LS_LIMIT, [0], [], {0: 105.0})[0] == []
    trades, _ = ls([FLAT, (100, 106, 99, 101)], [], [], {}, LS_LIMIT, [0], [], {0: 105.0})
    assert [(t["entry_bar"], t["entry_price"], t["direction"]) for t in trades] == [(1, 105.0, -1)]
    # an open above the limit sells at the open
    trades, _ = ls([FLAT, (107, 108, 99, 101)], [], [], {}, LS_LIMIT, [0], [], {0: 105.0})
    assert (trades[0]["entry_price"], trades[0]["direction"]) == (107.0, -1)


def test_long_short_short_stop_gapping_through_the_level_fills_at_the_open():
    # a short stop at 97 sells when the price trades down through it: bar 1 opens at 95, below it: the open
    trades, _ = ls([FLAT, (95, 96, 94, 95)], [], [], {}, LS_STOP, [0], [], {0: 97.0})
    assert (trades[0]["entry_bar"], trades[0]["entry_price"], trades[0]["direction"]) == (1, 95.0, -1)
    # inside the bar: at the level; the long side's stop (at price) is not touched by a short signal
    trades, _ = ls([FLAT, (100, 101, 96, 98)], [], [], {0: 150.0}, LS_STOP, [0], [], {0: 97.0})
    assert [(t["entry_price"], t["direction"]) for t in trades] == [(97.0, -1)]


def test_an_opposite_order_reverses_at_its_fill():
    # long stop 101 fills inside bar 1; the short entry at bar 1's close places a sell stop at 99, which bar 2
    # trades through: the long closes at 99 (signal) and the short opens at 99 on the same fill
    bars = [FLAT, (100, 102, 99.5, 101.5), (101, 101.5, 97, 98)]
    trades, eq = ls(bars, [0], [], {0: 101.0}, LS_STOP, [1], [], {1: 99.0})
    assert brief(trades) == [(1, 2, "signal", 99.0), (2, 2, "end_of_data", 98.0)]
    assert [t["direction"] for t in trades] == [1, -1] and trades[1]["entry_price"] == 99.0
    cash = CASH / 101 * 99  # the long's proceeds are the short's collateral
    assert eq[2] == pytest.approx(cash + cash / 99 * (99 - 98))
    # the opposite order never reached: the long stays, the order expires
    trades, _ = ls([FLAT, (100, 102, 99.5, 101.5), (101, 101.5, 99.5, 100)], [0], [], {0: 101.0}, LS_STOP,
                   [1], [], {1: 99.0})
    assert brief(trades) == [(1, 2, "end_of_data", 100.0)]


def test_a_reversal_at_the_open_comes_before_the_positions_stop():
    # held long from 101 (stop loss 3 %: 97.97); the sell stop 99 and the stop loss are both through at bar 2's
    # open 96: orders pending at the open come first: reversed at the open
    bars = [FLAT, (100, 102, 99.5, 101.5), (96, 97, 95, 96)]
    trades, _ = ls(bars, [0], [], {0: 101.0}, replace(LS_STOP, stop_loss_pct=3), [1], [], {1: 99.0})
    assert brief(trades) == [(1, 2, "signal", 96.0), (2, 2, "end_of_data", 96.0)]


#: a long entered at 101 on bar 1 by a stop order (bar 1 rises through it) or by a limit (bar 1 falls to it)
LONG_BY = {"stop": (LS_STOP, (100, 102, 99.5, 101.5)), "limit": (LS_LIMIT, (102, 102, 100.5, 101.5))}


@pytest.mark.parametrize(("order", "level", "expected"), [
    # a sell stop is one more loss-side level of the long: the higher one is reached first (a falling price)
    ("stop", 99.0, [(1, 2, "signal", 99.0), (2, 2, "end_of_data", 95.0)]),
    ("stop", 96.0, [(1, 2, "stop_loss", 97.97)]),  # the stop loss 97.97 first; no entry on the bar of its exit
    ("stop", 97.97, [(1, 2, "stop_loss", 97.97)]),  # a tie: the position's own exit
    # a sell limit is a profit-side level: the stop loss inside the same bar wins (conservative)
    ("limit", 103.0, [(1, 2, "stop_loss", 97.97)]),
])
def test_a_reversal_inside_the_bar_against_the_positions_stop(order, level, expected):
    # long from 101, stop loss 3 % (97.97); bar 2 opens at 101.2 and ranges 95 .. 103.5
    risk, bar1 = LONG_BY[order]
    trades, _ = ls([FLAT, bar1, (101.2, 103.5, 95, 95)], [0], [], {0: 101.0}, replace(risk, stop_loss_pct=3),
                   [1], [], {1: level})
    assert brief(trades) == expected


@pytest.mark.parametrize(("level", "expected"), [
    (103.0, [(1, 2, "signal", 103.0), (2, 2, "end_of_data", 102.0)]),  # under the target: reached first
    (106.0, [(1, 2, "signal", 106.0), (2, 2, "end_of_data", 102.0)]),
    (106.5, [(1, 2, "take_profit", 106.05)]),  # the target 106.05 first; no entry on its bar
])
def test_a_reversal_limit_against_the_positions_target(level, expected):
    # long from 101 (a limit), take profit 5 %: 106.05; bar 2 rises from 101.5 to 107
    risk, bar1 = LONG_BY["limit"]
    trades, _ = ls([FLAT, bar1, (101.5, 107, 101, 102)], [0], [], {0: 101.0}, replace(risk, take_profit_pct=5),
                   [1], [], {1: level})
    assert brief(trades) == expected


def test_the_opposite_signal_replaces_a_pending_order_and_both_entries_place_none():
    # a long limit at 95 (valid 3) pending; the short entry at bar 1 replaces it by a short limit at 104: bar 2
    # reaches 104 (sold) and never 95
    bars = [FLAT, (100, 101, 98, 99), (99, 105, 94, 100)]
    risk = replace(LS_LIMIT, order_valid_bars=3)
    trades, _ = ls(bars, [0], [], {0: 95.0}, risk, [1], [], {1: 104.0})
    assert [(t["entry_bar"], t["entry_price"], t["direction"]) for t in trades] == [(2, 104.0, -1)]
    # a long and a short entry on one bar place nothing new: the pending long limit stays and fills at 95
    trades, _ = ls(bars, [0, 1], [], {0: 95.0, 1: 96.0}, risk, [1], [], {1: 104.0})
    assert [(t["entry_bar"], t["entry_price"], t["direction"]) for t in trades] == [(2, 95.0, 1)]


def test_an_exit_signal_cancels_its_own_sides_order_only():
    bars = [FLAT, (100, 101, 98, 99), (99, 105, 94, 100)]
    risk = replace(LS_LIMIT, order_valid_bars=3)
    # a short exit cancels the pending short limit
    assert ls(bars, [], [], {}, risk, [0], [1], {0: 104.0})[0] == []
    # a long exit does not
    trades, _ = ls(bars, [], [1], {}, risk, [0], [], {0: 104.0})
    assert [(t["entry_bar"], t["entry_price"], t["direction"]) for t in trades] == [(2, 104.0, -1)]


def test_held_long_its_exit_at_the_open_then_the_short_order_on_that_bar():
    # open fills: long from the stop 101 on bar 1; at bar 1's close an exit signal (out at bar 2's open 100)
    # and a short entry (a sell stop at 99): bar 2 first closes the long at its open, then sells at 99
    bars = [FLAT, (100, 102, 99.5, 101.5), (100, 100.5, 97, 98)]
    risk = replace(LS_STOP, execution_price="open")
    trades, _ = ls(bars, [0], [1], {0: 101.0}, risk, [1], [], {1: 99.0})
    assert brief(trades) == [(1, 2, "signal", 100.0), (2, 2, "end_of_data", 98.0)]
    assert trades[1]["entry_price"] == 99.0 and trades[1]["direction"] == -1


def test_a_long_short_order_while_its_side_is_held_is_ignored():
    # held long (stop 101 on bar 1); a new long entry at bar 1 places no order (its side is held)
    bars = [FLAT, (100, 102, 99.5, 101.5), (101, 110, 100, 109)]
    trades, _ = ls(bars, [0, 1], [], {0: 101.0, 1: 105.0}, LS_STOP)
    assert brief(trades) == [(1, 2, "end_of_data", 109.0)]


# ------------------------------------------------------------------------------------------------ real data


#: a pullback bought on a limit below the close, and a breakout bought on a stop above the previous highs
PULLBACK = {"name": "pullback limit", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
            "params": {"k": {"type": "float", "min": 0.0, "max": 3.0, "default": 0.5}},
            "entry": ["close > sma(close, 50)", "rsi(close, 14) < 45"], "exit": ["rsi(close, 14) > 65"],
            "entry_order": {"type": "limit", "price": "close - k * atr(high, low, close, 14)", "valid_bars": 3}}
BREAKOUT = {"name": "breakout stop", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
            "params": {"n": {"type": "int", "min": 5, "max": 60, "default": 20}},
            "entry": ["close > sma(close, 50)"], "exit": ["close < lowest(low, 10)[1]"],
            "entry_order": {"type": "stop", "price": "highest(high, n)", "valid_bars": 2}}


class OrderRun:
    """A document's market data, signals and order levels on the local files."""

    def __init__(self, doc, folder, symbols="SPY,QQQ,AAPL,LEHMQ"):  # doc: a mapping or a path
        self.strategy = ruleengine.load_strategy(doc)
        self.md = ruleengine.load_data(self.strategy, symbols, "2006-01-01", "2017-12-31", data=str(folder))
        self.prices = {k: self.md.inputs[("prices", k)] for k in ("open", "high", "low", "close")}
        self.compiled = ruleengine.compile_strategy(self.strategy)
        sig = self.compiled.signals(self.md)
        self.entries, self.exits, self.level = sig.entries, sig.exits, sig.levels["entry_order_price"]
        self.levels = sig.levels  # every level kind (the order price, a stop distance, ...)
        self.kind = self.strategy.entry_order.type
        #: a long_short strategy's short side: its signals (keyword arguments of simulate and the references)
        #: and its order levels
        self.sides = ({"short_entries": sig.short_entries, "short_exits": sig.short_exits}
                      if sig.short_entries is not None else {})
        self.short_level = sig.levels.get("short_entry_order_price")

    def args(self):
        return self.prices, self.entries, self.exits, self.md.index

    def order_levels(self):
        """The order levels as simulate takes them."""
        out = {"entry_order_price": self.level}
        if self.short_level is not None:
            out["short_entry_order_price"] = self.short_level
        return out


@pytest.fixture(scope="module")
def order_runs(real_daily):
    return {"limit": OrderRun(PULLBACK, real_daily), "stop": OrderRun(BREAKOUT, real_daily)}


@pytest.mark.parametrize("kind", ["limit", "stop"])
@pytest.mark.parametrize("direction", ["long", "short"])
def test_kernel_matches_the_reference_on_real_data(order_runs, kind, direction):
    run = order_runs[kind]
    traded = 0
    for i, combo in enumerate(COMBOS):
        risk = replace(combo, entry_order=kind, order_valid_bars=1 + i % 4, direction=direction)
        sim = simulate(*run.args(), risk, levels={"entry_order_price": run.level}, init_cash=CASH,
                       start=run.md.start)
        ref = reference_simulate(*run.args(), [risk] * run.md.n_cols, init_cash=CASH, start=run.md.start,
                                 order_levels=run.level)
        assert_same_as_reference(sim, *ref, f"{kind} {risk}")
        traded += len(sim.trades)
    assert traded > 200


@pytest.mark.parametrize("kind", ["limit", "stop"])
def test_portfolio_matches_the_reference(order_runs, kind):
    run = order_runs[kind]
    skips = 0
    for risk in (replace(BASE, entry_order=kind, order_valid_bars=3, position_size_pct=60, stop_loss_pct=5),
                 replace(BASE, entry_order=kind, order_valid_bars=1, position_size_pct=30, trailing_stop_pct=6,
                         execution_price="open", fees_pct=0.1)):
        sim = simulate_portfolio(*run.args(), risk, levels={"entry_order_price": run.level}, init_cash=CASH,
                                 start=run.md.start)
        trades, equity, skipped = reference_portfolio(*run.args(), [risk] * run.md.n_cols, init_cash=CASH,
                                                      start=run.md.start, order_levels=run.level)
        assert_portfolio_as_reference(sim, trades, equity, skipped)
        assert len(trades) > 10
        skips += len(skipped)
    assert skips > 0  # two fills wanting more than the cash left: the later column is skipped


def test_orders_fill_at_levels_and_at_opens(order_runs):
    """Not vacuous: on real data both kinds fill at the level inside bars and at the open after gaps."""
    for kind, run in order_runs.items():
        risk = replace(BASE, entry_order=kind, order_valid_bars=3)
        sim = simulate(*run.args(), risk, levels={"entry_order_price": run.level}, start=run.md.start)
        t = sim.trades
        col, bar = t.column.to_numpy(), t.entry_bar.to_numpy()
        opens = run.prices["open"][bar, col]
        at_open = np.isclose(t.entry_price.to_numpy(), opens)
        assert at_open.sum() >= 3 and (~at_open).sum() >= 20, kind
        if kind == "limit":
            assert (t.entry_price.to_numpy() <= opens + 1e-9).all()
        else:
            assert (t.entry_price.to_numpy() >= opens - 1e-9).all()


@pytest.mark.parametrize("execution_price", ["close", "open"])
def test_truncating_the_data_never_changes_earlier_trades(order_runs, execution_price):
    for run in order_runs.values():
        risk = replace(BASE, entry_order=run.kind, order_valid_bars=3, stop_loss_pct=6, take_profit_pct=12,
                       execution_price=execution_price)
        full = simulate(*run.args(), risk, levels={"entry_order_price": run.level}, init_cash=CASH,
                        start=run.md.start)
        T = run.md.n_rows
        full_trades = full.trades.to_dict("records")
        for cut in np.linspace(run.md.start + 50, T - 1, 7).astype(int):
            inputs = {k: np.asfortranarray(v[:cut]) for k, v in run.md.inputs.items()}
            md = replace(run.md, inputs=inputs, index=run.md.index[:cut])
            sig = run.compiled.signals(md)  # signals and levels of the truncated data
            prices = {k: v[:cut] for k, v in run.prices.items()}
            part = simulate(prices, sig.entries, sig.exits, run.md.index[:cut], risk, levels=sig.levels,
                            init_cash=CASH, start=run.md.start)
            np.testing.assert_array_equal(part.equity, full.equity[:cut])
            eod = "end_of_data"
            keys = ("column", "entry_bar", "exit_bar", "exit_reason", "entry_price", "exit_price")
            assert [tuple(t[k] for k in keys) for t in part.trades.to_dict("records") if t["exit_reason"] != eod] == \
                [tuple(t[k] for k in keys) for t in full_trades if t["exit_bar"] < cut and t["exit_reason"] != eod]


#: long/short on orders: a breakout both ways (stop orders at the n-bar high and low, each side's own exit) and
#: a fade both ways (limits under and over the close, no exits: each fill of the other side reverses)
BREAKOUT_LS = {**BREAKOUT, "name": "breakout both ways", "direction": "long_short",
               "short_entry": ["close < sma(close, 50)"], "short_exit": ["close > highest(high, 10)[1]"],
               "entry_order": {**BREAKOUT["entry_order"], "short_price": "lowest(low, n)"}}
FADE_LS = {"name": "fade both ways", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
           "direction": "long_short", "entry": ["close < sma(close, 10)"], "short_entry": ["close > sma(close, 10)"],
           "entry_order": {"type": "limit", "price": "close - 0.3 * atr(high, low, close, 14)",
                           "short_price": "close + 0.3 * atr(high, low, close, 14)", "valid_bars": 2}}


@pytest.fixture(scope="module")
def long_short_runs(real_daily):
    return {"stop": OrderRun(BREAKOUT_LS, real_daily), "limit": OrderRun(FADE_LS, real_daily)}


def _reversals(trades) -> int:
    """Trades closed by the other side's order: a signal exit on the bar the next trade of the column opened."""
    t = trades.sort_values(["column", "entry_bar"]).to_dict("records")
    return sum(1 for a, b in itertools.pairwise(t) if a["column"] == b["column"] and a["exit_reason"] == "signal"
               and a["exit_bar"] == b["entry_bar"] and a["direction"] != b["direction"]
               and a["exit_price"] == b["entry_price"])


@pytest.mark.parametrize("kind", ["limit", "stop"])
def test_long_short_orders_kernel_matches_the_reference_on_real_data(long_short_runs, kind):
    run = long_short_runs[kind]
    reversals = 0
    for i, combo in enumerate(COMBOS):
        risk = replace(combo, entry_order=kind, order_valid_bars=1 + i % 3, direction="long_short")
        sim = simulate(*run.args(), risk, levels=run.order_levels(), init_cash=CASH, start=run.md.start,
                       **run.sides)
        ref = reference_simulate(*run.args(), [risk] * run.md.n_cols, init_cash=CASH, start=run.md.start,
                                 order_levels=run.level, short_order_levels=run.short_level, **run.sides)
        assert_same_as_reference(sim, *ref, f"{kind} {risk}")
        reversals += _reversals(sim.trades)
        assert set(sim.trades.direction) == {1, -1}
    assert reversals > 50


@pytest.mark.parametrize("kind", ["limit", "stop"])
def test_long_short_orders_portfolio_matches_the_reference(long_short_runs, kind):
    run = long_short_runs[kind]
    for risk in (replace(BASE, entry_order=kind, order_valid_bars=2, position_size_pct=40, stop_loss_pct=5,
                         direction="long_short"),
                 replace(BASE, entry_order=kind, order_valid_bars=1, position_size_pct=30, trailing_stop_pct=6,
                         execution_price="open", fees_pct=0.1, direction="long_short")):
        sim = simulate_portfolio(*run.args(), risk, levels=run.order_levels(), init_cash=CASH,
                                 start=run.md.start, **run.sides)
        trades, equity, skipped = reference_portfolio(*run.args(), [risk] * run.md.n_cols, init_cash=CASH,
                                                      start=run.md.start, order_levels=run.level,
                                                      short_order_levels=run.short_level, **run.sides)
        assert_portfolio_as_reference(sim, trades, equity, skipped)
        assert _reversals(sim.trades) > 5


@pytest.mark.parametrize("execution_price", ["close", "open"])
def test_long_short_orders_truncating_the_data_never_changes_earlier_trades(long_short_runs, execution_price):
    for run in long_short_runs.values():
        risk = replace(BASE, entry_order=run.kind, order_valid_bars=2, stop_loss_pct=6, take_profit_pct=12,
                       execution_price=execution_price, direction="long_short")
        full = simulate(*run.args(), risk, levels=run.order_levels(), init_cash=CASH, start=run.md.start,
                        **run.sides)
        full_trades = full.trades.to_dict("records")
        eod = "end_of_data"
        keys = ("column", "entry_bar", "exit_bar", "exit_reason", "entry_price", "exit_price", "direction")
        for cut in np.linspace(run.md.start + 50, run.md.n_rows - 1, 5).astype(int):
            inputs = {k: np.asfortranarray(v[:cut]) for k, v in run.md.inputs.items()}
            md = replace(run.md, inputs=inputs, index=run.md.index[:cut])
            sig = run.compiled.signals(md)  # signals and levels of the truncated data
            prices = {k: v[:cut] for k, v in run.prices.items()}
            part = simulate(prices, sig.entries, sig.exits, run.md.index[:cut], risk, levels=sig.levels,
                            init_cash=CASH, start=run.md.start, short_entries=sig.short_entries,
                            short_exits=sig.short_exits)
            np.testing.assert_array_equal(part.equity, full.equity[:cut])
            assert [tuple(t[k] for k in keys) for t in part.trades.to_dict("records") if t["exit_reason"] != eod] == \
                [tuple(t[k] for k in keys) for t in full_trades if t["exit_bar"] < cut and t["exit_reason"] != eod]


def test_long_short_sweep_equals_backtest():
    res = sweep(BREAKOUT_LS, "AAPL", "2010-01-01", "2016-12-31", provider="sample",
                grid={"n": [10, 20], "execution_price": ["close", "open"]}, params={"fees_pct": 0.1})
    assert len(res.table) == 4
    for rank in range(1, 5):
        run = res.detail(rank, benchmark=None).results[0]
        assert_same_metrics(res.table.iloc[rank - 1], run.metrics, f"rank {rank}")
        assert run.metrics.total_trades > 5


def test_long_short_orders_backtest_with_their_addendum_and_explain_both_prices(tmp_path):
    from ruleengine.backtest.risk import LONG_SHORT_ORDER_FILL_CONTRACT, ORDER_FILL_CONTRACT

    result = ruleengine.backtest(BREAKOUT_LS, "AAPL", "2012-01-01", "2016-12-31", provider="sample", benchmark=None)
    assert result.fill_contract.endswith(ORDER_FILL_CONTRACT + LONG_SHORT_ORDER_FILL_CONTRACT)
    assert {t.direction for t in result.results[0].trades} == {"long", "short"}
    assert result.results[0].risk["entry_order"] == "stop"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert LONG_SHORT_ORDER_FILL_CONTRACT in readme
    compiled = ruleengine.compile_strategy(BREAKOUT_LS)
    order = compiled.explain()["entry_order"]
    assert (order["price"], order["short_price"]) == ("highest(prices.high, n)", "lowest(prices.low, n)")
    assert "short side: stop at lowest(prices.low, n)" in compiled.explain_text()
    # the report and the console say how the run traded: both sides, stop orders worked for valid_bars bars
    html = tmp_path / "r.html"
    result.write_report(str(html))
    page = html.read_text(encoding="utf-8")
    for field, value in (("direction", "long_short"), ("entry_order", "stop"), ("order_valid_bars", "2")):
        assert f"<td>{field}</td><td>{value}</td>" in page.replace(" class='num'", "")
    import yaml
    from typer.testing import CliRunner

    from ruleengine.cli import app

    rule = tmp_path / "ls.yaml"
    rule.write_text(yaml.safe_dump(BREAKOUT_LS), encoding="utf-8")
    out = CliRunner(env={"COLUMNS": "400"}).invoke(app, ["backtest", str(rule), "--symbols", "AAPL", "--start",
                                                         "2012-01-01", "--end", "2016-12-31"])
    assert out.exit_code == 0 and "direction=long_short, entry_order=stop, order_valid_bars=" in out.stdout


def test_sweep_equals_backtest_with_a_swept_order_price():
    grid = {"k": [0.0, 0.5, 1.5], "stop_loss_pct": [None, 5.0]}
    res = sweep(PULLBACK, "AAPL", "2012-01-01", "2016-12-31", provider="sample", grid=grid,
                params={"fees_pct": 0.1})
    assert len(res.table) == 6
    traded = 0
    for rank in range(1, 7):
        run = res.detail(rank, benchmark=None).results[0]
        assert_same_metrics(res.table.iloc[rank - 1], run.metrics, f"rank {rank}")
        traded += run.metrics.total_trades
    assert traded > 20
    # the swept number moves the order's level: k = 0 buys at the close's level, deeper limits fill less often
    trades = {k: res.table[res.table.k == k].total_trades.max() for k in (0.0, 1.5)}
    assert trades[0.0] > trades[1.5]


def test_max_hold_counts_from_the_fill_bar():
    # filled inside bar 1: max hold 2 bars exits at the close of bar 3, 20 days at the first bar >= day 21
    bars = [FLAT, (100, 101, 95, 98), FLAT, (100, 101, 99, 100.5), FLAT]
    assert brief(run_orders(bars, [0], [], {0: 97.0}, replace(LIMIT_RISK, max_hold_bars=2))[0]) == \
        [(1, 3, "max_hold", 100.5)]
    assert brief(run_orders(bars, [0], [], {0: 97.0}, replace(LIMIT_RISK, max_hold_days=2))[0]) == \
        [(1, 3, "max_hold", 100.5)]


# ------------------------------------------------------------------------------------------------ backtesting.py
def _backtesting(run, j, step, cash):
    """backtesting.py 0.6 on column j of `run` alone (it needs a bar on every row), without commission, orders
    filled at the next open, ``step(strategy, i)`` its ``next()`` at bar i: the trades of its result, and
    whether each row is traded (after the warm-up)."""
    import pandas as pd
    from backtesting import Backtest, Strategy

    frame = pd.DataFrame({k.capitalize(): run.prices[k][:, j] for k in ("open", "high", "low", "close")},
                         index=run.md.index.tz_localize(None))

    class Oracle(Strategy):
        def init(self):
            pass

        def next(self):
            step(self, len(self.data) - 1)

    return Backtest(frame, Oracle, cash=cash, commission=0.0, trade_on_close=False, exclusive_orders=False,
                    finalize_trades=True).run()._trades


def _live(run):
    """The rows after the warm-up (signals before them are history, never traded)."""
    return np.arange(run.md.n_rows) >= run.md.start


def _backtesting_trades(run, j, kind, side, valid_bars, stop_loss):
    """backtesting.py 0.6 as the oracle: its ``buy``/``sell(limit=... | stop=...)`` orders at our levels, placed in
    ``next()`` at the signal bar's close (worked from the next bar, as ours), cancelled by an exit signal or after
    `valid_bars` bars, replaced by a new entry signal; an exit signal closes the position at the next open; a
    stop loss set on the trade after its fill bar (backtesting.py never acts on a contingent stop in the bar
    its parent order filled). Returns (entry bar, exit bar, entry price, exit price) per trade."""
    entries, exits = run.entries[:, j] & _live(run), run.exits[:, j] & _live(run)
    level = run.level[:, j]
    placed: dict[int, int] = {}  # id(order) -> bar placed

    def step(bt, i):
        for trade in bt.trades:
            if trade.sl is None and stop_loss:
                trade.sl = trade.entry_price * (1 - side * stop_loss / 100)
        for order in list(bt.orders):
            if not order.is_contingent and (exits[i] or i - placed[id(order)] >= valid_bars):
                order.cancel()
        if exits[i] and not entries[i] and bt.position:
            bt.position.close()
        elif entries[i] and not exits[i] and not bt.position and not np.isnan(level[i]):
            for order in list(bt.orders):
                if not order.is_contingent:
                    order.cancel()
            place = bt.buy if side > 0 else bt.sell
            order = place(size=0.5, **{kind: float(level[i])})
            placed[id(order)] = i

    t = _backtesting(run, j, step, 1e12)
    return list(zip(t.EntryBar.astype(int), t.ExitBar.astype(int), t.EntryPrice, t.ExitPrice, strict=True))


#: a dip bought on a limit under the close (frequent signals: many orders, many expire, many fill)
DIP = {"name": "dip limit", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
       "entry": ["close < sma(close, 10)"], "exit": ["close > sma(close, 10)"],
       "entry_order": {"type": "limit", "price": "close - 0.3 * atr(high, low, close, 14)", "valid_bars": 2}}
ORACLE_SYMBOLS = ("SPY", "QQQ", "GLD", "TLT")


@pytest.fixture(scope="module")
def oracle_runs(real_daily):
    """One symbol per run: a symbol alone has a bar on every row (backtesting.py needs one)."""
    return {kind: [OrderRun(doc, real_daily, symbol) for symbol in ORACLE_SYMBOLS]
            for kind, doc in (("limit", DIP), ("stop", BREAKOUT))}


@pytest.mark.parametrize("kind", ["limit", "stop"])
@pytest.mark.parametrize("direction", ["long", "short"])
def test_backtesting_py_gives_the_same_trades(oracle_runs, kind, direction):
    """Trade for trade against backtesting.py on real daily data: entry and exit bars and prices (it sizes in
    whole units, we do not: sizes and pnl are not compared), in its order of a bar's events
    (fill_order="backtesting": no stop on the bar an order filled), exits at the next open."""
    import warnings

    side = 1 if direction == "long" else -1
    compared = 0
    for run in oracle_runs[kind]:
        j = 0
        if np.isnan(run.prices["close"][run.md.start:, j]).any():
            continue  # backtesting.py needs a bar on every row (LEHMQ stops trading)
        for valid_bars, stop_loss in ((1, None), (3, 5.0)):
            risk = replace(BASE, entry_order=kind, order_valid_bars=valid_bars, execution_price="open",
                           direction=direction, stop_loss_pct=stop_loss)
            one = {k: v[:, j:j + 1] for k, v in run.prices.items()}
            ours = simulate(one, run.entries[:, j:j + 1], run.exits[:, j:j + 1], run.md.index, risk,
                            levels={"entry_order_price": run.level[:, j:j + 1]}, start=run.md.start,
                            fill_order="backtesting")
            # a trade still open at the end: we mark it at the last close, backtesting.py's finalize_trades
            # closes it at the last bar's open (it re-runs its broker on that bar)
            last_open = run.prices["open"][-1, j]
            mine = [(e, x, pe, last_open if reason == "end_of_data" else px) for e, x, pe, px, reason in
                    zip(*(ours.trades[k] for k in ("entry_bar", "exit_bar", "entry_price", "exit_price",
                                                    "exit_reason")), strict=True)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = _backtesting_trades(run, j, kind, side, valid_bars, stop_loss)
            assert [m[:2] for m in mine] == [t[:2] for t in theirs], (kind, direction, j, valid_bars)
            np.testing.assert_allclose([m[2:] for m in mine], [t[2:] for t in theirs], rtol=1e-12)
            compared += len(mine)
    assert compared > 200


def _backtesting_long_short_trades(run, j, valid_bars):
    """backtesting.py 0.6 as the oracle of long/short orders: each side's entry signal places its order
    (``buy`` / ``sell`` with ``limit=`` or ``stop=`` at that side's level) unless that side is held, replacing
    the pending one; each side's exit signal cancels that side's order and closes that side's position at the
    next open; an order of the side not held is sized to close the position and open the other side (its
    broker closes the opposite trade first, FIFO, then opens the rest): a stop-and-reverse order. Returns
    (entry bar, exit bar, entry price, exit price, direction) per trade."""
    live = _live(run)
    e, x = run.entries[:, j] & live, run.exits[:, j] & live
    se, sx = run.sides["short_entries"][:, j] & live, run.sides["short_exits"][:, j] & live
    level, short_level = run.level[:, j], run.short_level[:, j]
    kind = run.kind
    placed: dict[int, int] = {}  # id(order) -> bar placed

    def step(bt, i):
        pos = bt.position
        entry_orders = [o for o in bt.orders if o.parent_trade is None]  # not a position's close
        for order in entry_orders:
            if i - placed[id(order)] >= valid_bars or (x[i] and order.is_long) or (sx[i] and order.is_short):
                order.cancel()
        if (pos.is_long and x[i] and not e[i]) or (pos.is_short and sx[i] and not se[i]):
            pos.close()
        le, sen = e[i] and not x[i], se[i] and not sx[i]
        if le == sen:
            return
        side, lv = (1, level[i]) if le else (-1, short_level[i])
        if (side > 0 and pos.is_long) or (side < 0 and pos.is_short):
            return
        for order in [o for o in bt.orders if o.parent_trade is None]:
            order.cancel()
        if np.isfinite(lv):
            size = abs(pos.size) + 1000 if pos.size else 1000  # whole units: sizes are not compared
            order = (bt.buy if side > 0 else bt.sell)(size=size, **{kind: float(lv)})
            placed[id(order)] = i

    t = _backtesting(run, j, step, 1e15)
    return list(zip(t.EntryBar.astype(int), t.ExitBar.astype(int), t.EntryPrice, t.ExitPrice,
                    np.sign(t.Size).astype(int), strict=True))


@pytest.mark.parametrize("kind", ["limit", "stop"])
def test_backtesting_py_gives_the_same_long_short_trades(long_short_runs, kind):
    """Trade for trade against backtesting.py on real daily data: long/short orders, reversals at the order's
    fill, exits at the next open (execution_price open: backtesting.py fills a close() at the next open), each
    symbol alone (it needs a bar on every row); no stops (its stop-loss orders act before a reversal order on one
    bar whatever the prices; ours in time order: the bar tables above)."""
    import warnings

    run = long_short_runs[kind]
    compared = reversals = 0
    for j in range(run.md.n_cols):
        if np.isnan(run.prices["close"][run.md.start:, j]).any():
            continue
        for valid_bars in (1, 3):
            risk = replace(BASE, entry_order=kind, order_valid_bars=valid_bars, execution_price="open",
                           direction="long_short")
            one = {k: v[:, j:j + 1] for k, v in run.prices.items()}
            sides = {k: v[:, j:j + 1] for k, v in run.sides.items()}
            levels = {k: v[:, j:j + 1] for k, v in run.order_levels().items()}
            ours = simulate(one, run.entries[:, j:j + 1], run.exits[:, j:j + 1], run.md.index, risk, levels=levels,
                            start=run.md.start, fill_order="backtesting", **sides)
            last_open = run.prices["open"][-1, j]
            tr = ours.trades
            mine = [(e, x, pe, last_open if reason == "end_of_data" else px, d) for e, x, pe, px, reason, d in
                    zip(*(tr[k] for k in ("entry_bar", "exit_bar", "entry_price", "exit_price", "exit_reason",
                                          "direction")), strict=True)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = _backtesting_long_short_trades(run, j, valid_bars)
            assert [(m[0], m[1], m[4]) for m in mine] == [(t[0], t[1], t[4]) for t in theirs], (kind, j, valid_bars)
            np.testing.assert_allclose([m[2:4] for m in mine], [t[2:4] for t in theirs], rtol=1e-12)
            compared += len(mine)
            reversals += _reversals(tr)
    assert compared > 100 and reversals > 20


def test_backtesting_fill_order_leaves_the_fill_bar_to_the_next():
    # as test_stops_after_a_limit_fill_see_only_what_followed_it: the limit 97 fills inside bar 1 and the price
    # goes on down to 90, through the stop 92.15. backtesting.py's order cannot tell and waits: the stop acts
    # on bar 2 (its open 93 is above the level, its low 91 reaches it)
    prices, idx = table([FLAT, (100, 104, 90, 96), (93, 95, 91, 94)])
    lv = np.array([[97.0], [NAN], [NAN]])
    risk = replace(LIMIT_RISK, stop_loss_pct=5)
    time = simulate(prices, sig(3, 0), sig(3), idx, risk, levels={"entry_order_price": lv})
    later = simulate(prices, sig(3, 0), sig(3), idx, risk, levels={"entry_order_price": lv}, fill_order="backtesting")
    assert brief(time.trades.to_dict("records")) == [(1, 1, "stop_loss", 92.15)]
    assert brief(later.trades.to_dict("records")) == [(1, 2, "stop_loss", 92.15)]


# ------------------------------------------------------------------------------------------------ documented
def test_the_contract_says_so_in_results_and_readme():
    from pathlib import Path

    from ruleengine.backtest.risk import FILL_CONTRACT, ORDER_FILL_CONTRACT

    result = ruleengine.backtest(BREAKOUT, "AAPL", "2014-01-01", "2016-12-31", provider="sample", benchmark=None)
    assert result.fill_contract == FILL_CONTRACT + ORDER_FILL_CONTRACT
    assert result.results[0].trades  # the stop orders filled
    market = {k: v for k, v in BREAKOUT.items() if k != "entry_order"}
    assert ruleengine.backtest(market, "AAPL", "2014-01-01", "2016-12-31", provider="sample",
                               benchmark=None).fill_contract == FILL_CONTRACT
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert ORDER_FILL_CONTRACT in readme


def test_explain_names_the_order_and_counts_its_warm_up():
    compiled = ruleengine.compile_strategy({**BREAKOUT, "entry": ["close > open"], "params":
                                            {"n": {"type": "int", "min": 5, "max": 90, "default": 60}}})
    d = compiled.explain()
    assert d["entry_order"] == {"type": "stop", "price": "highest(prices.high, n)", "valid_bars": 2,
                                "lookback": 59, "converge": 59}
    assert d["warmup_bars"] == 59 == compiled.warmup()  # the price's window is longer than the conditions'
    assert "entry order: stop" in compiled.explain_text()
    assert "entry_order" not in ruleengine.compile_strategy(DOC).explain()


def test_an_llm_reply_with_an_entry_order_loads():
    import jsonschema

    from ruleengine import strict_json_schema
    from ruleengine.llm.wire import wire_form

    wire = wire_form(ruleengine.load_strategy(BREAKOUT))
    assert wire["entry_order"] == {"type": "stop", "price": "highest(high, n)", "short_price": None, "valid_bars": 2}
    jsonschema.Draft202012Validator(strict_json_schema()).validate(wire)
    reply = {**wire, "entry_order": {"type": "limit", "price": "close * 0.99", "short_price": None,
                                     "valid_bars": None}}
    jsonschema.Draft202012Validator(strict_json_schema()).validate(reply)
    assert ruleengine.load_strategy(reply).entry_order.valid_bars == 1
    # a long/short breakout both ways, and a code strategy's order (its levels come from the code)
    both = wire_form(ruleengine.load_strategy(BREAKOUT_LS))
    assert both["entry_order"]["short_price"] == "lowest(low, n)"
    jsonschema.Draft202012Validator(strict_json_schema()).validate(both)
    assert ruleengine.load_strategy(both) == ruleengine.load_strategy(BREAKOUT_LS)
    code = wire_form(ruleengine.load_strategy(_code_twin(TWIN, TWIN_CODE.replace("PRICE", "p['low']"))))
    assert code["entry_order"] == {"type": "limit", "price": None, "short_price": None, "valid_bars": 2}
    jsonschema.Draft202012Validator(strict_json_schema()).validate(code)
    assert ruleengine.load_strategy(code).entry_order.price is None


# ------------------------------------------------------------------------------------------------ the example
def test_atr_breakout_rule_buys_breakouts_on_stop_orders(real_daily):
    """rules/atr_breakout.yaml (issue 16's example): every fill is at the previous bar's 20-bar high or at an
    open above it; the stop is 2 x ATR(14) of the bar that placed the order below the entry, fixed for the
    trade; each entry risks 1 % of the equity on that stop; exits are the stop or the signal's close."""
    path = Path(__file__).resolve().parents[1] / "rules" / "atr_breakout.yaml"
    run = OrderRun(str(path), real_daily)
    risk = resolve_risk(run.strategy)
    assert (risk.entry_order, risk.order_valid_bars, risk.risk_per_trade_pct) == ("stop", 1, 1)
    sim = simulate(*run.args(), risk, levels=run.levels, start=run.md.start)
    distances = {"stop_loss_distance": run.levels["stop_loss_distance"]}
    ref = reference_simulate(*run.args(), [risk] * run.md.n_cols, start=run.md.start, order_levels=run.level,
                             distances=distances)
    assert_same_as_reference(sim, *ref, "atr_breakout")
    t = sim.trades
    col, bar = t.column.to_numpy(), t.entry_bar.to_numpy()
    high20 = run.level[bar - 1, col]  # the level placed at the previous close
    np.testing.assert_allclose(t.entry_price, np.maximum(run.prices["open"][bar, col], high20), rtol=1e-12)
    assert (run.prices["high"][bar, col] >= high20).all()
    assert len(t) > 50 and set(t.exit_reason) == {"signal", "stop_loss", "end_of_data"}
    closes = run.prices["close"][t.exit_bar.to_numpy(), col]
    signal = (t.exit_reason == "signal").to_numpy()
    np.testing.assert_allclose(t.exit_price[signal], closes[signal])
    d = run.levels["stop_loss_distance"][bar - 1, col]  # 2 x ATR(14) at the bar that placed the order
    stopped = (t.exit_reason == "stop_loss").to_numpy()
    lows = run.prices["low"][t.exit_bar.to_numpy(), col]
    # the bar's open, or on the fill bar the fill (what follows it: the fill bar's stop sees the rest of the bar)
    opens = np.where(t.exit_bar == t.entry_bar, t.entry_price, run.prices["open"][t.exit_bar.to_numpy(), col])
    np.testing.assert_allclose(t.exit_price[stopped], np.minimum(opens, t.entry_price - d)[stopped], rtol=1e-12)
    assert (lows[stopped] <= (t.entry_price - d)[stopped] + 1e-9).all()
    # the size risks 1 % of the equity (the cash of a flat column) on the distance: units x d = 1 % x equity
    equity_before = np.asarray(sim.equity)[bar - 1, col]
    np.testing.assert_allclose(t["size"].to_numpy() * d, 0.01 * equity_before, rtol=1e-9)


def _backtesting_atr_breakout_trades(run, j, risk_pct):
    """rules/atr_breakout.yaml in backtesting.py 0.6: at each close while flat with the entry signal, a ``buy``
    stop order at the level for one bar, of floor(equity x risk_pct / 100 / d) whole units, d the stop distance
    (2 x ATR(14)) of that bar; its trade's stop loss set at entry price - d after the fill bar; an exit signal
    closes at the next open. Returns (entry bar, exit bar, entry price, exit price, size, pnl) per trade."""
    e, x = run.entries[:, j] & _live(run), run.exits[:, j] & _live(run)
    level, d = run.level[:, j], run.levels["stop_loss_distance"][:, j]

    def step(bt, i):
        for trade in bt.trades:
            if trade.sl is None:  # the distance of the bar that placed its order (valid one bar: the one before)
                trade.sl = trade.entry_price - d[trade.entry_bar - 1]
        for order in list(bt.orders):
            if not order.is_contingent:
                order.cancel()  # valid for one bar
        if x[i] and not e[i] and bt.position:
            bt.position.close()
        elif e[i] and not x[i] and not bt.position and np.isfinite(level[i]) and d[i] > 0:
            units = int(bt.equity * risk_pct / 100 / d[i])
            if units > 0:
                bt.buy(size=units, stop=float(level[i]))

    t = _backtesting(run, j, step, 10_000)
    return list(zip(t.EntryBar.astype(int), t.ExitBar.astype(int), t.EntryPrice, t.ExitPrice, t.Size, t.PnL,
                    strict=True))


def test_atr_breakout_matches_backtesting_py(real_daily):
    """rules/atr_breakout.yaml trade for trade, sizes and P&L to the cent, against backtesting.py: with the
    documented settings execution_price open (backtesting.py closes at the next open), whole_units true (it buys
    whole units) and fill_order="backtesting" (no stop on the bar an order filled)."""
    import warnings

    path = Path(__file__).resolve().parents[1] / "rules" / "atr_breakout.yaml"
    run = OrderRun(str(path), real_daily, symbols="SPY,QQQ,GLD")
    risk = replace(resolve_risk(run.strategy), execution_price="open", whole_units=True)
    compared = stopped = 0
    for j in range(run.md.n_cols):
        if np.isnan(run.prices["close"][run.md.start:, j]).any():
            continue
        one = {k: v[:, j:j + 1] for k, v in run.prices.items()}
        levels = {k: v[:, j:j + 1] for k, v in run.levels.items()}
        ours = simulate(one, run.entries[:, j:j + 1], run.exits[:, j:j + 1], run.md.index, risk, levels=levels,
                        start=run.md.start, fill_order="backtesting")
        assert "capped_by_cash" not in set(ours.skipped.reason)  # backtesting.py cancels an order it cannot pay
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = _backtesting_atr_breakout_trades(run, j, risk.risk_per_trade_pct)
        tr = ours.trades
        closed = (tr.exit_reason != "end_of_data").to_numpy()
        assert list(zip(tr.entry_bar, tr.exit_bar, strict=True)) == [t[:2] for t in theirs]
        np.testing.assert_allclose(tr.entry_price, [t[2] for t in theirs], rtol=1e-12)
        np.testing.assert_array_equal(tr["size"], [t[4] for t in theirs])
        kept = [t for t, c in zip(theirs, closed, strict=True) if c]  # backtesting.py closes the last at an open
        np.testing.assert_allclose(tr.exit_price[closed], [t[3] for t in kept], rtol=1e-12)
        np.testing.assert_allclose(tr.pnl[closed], [t[5] for t in kept], atol=0.005)
        compared += len(tr)
        stopped += int((tr.exit_reason == "stop_loss").sum())
    assert compared > 40 and stopped > 10


def test_validity_counts_the_bars_the_symbol_has():
    # limit 95 valid 2 bars: bar 1 has no bar for this symbol (not worked, not counted), bars 2 and 3 are
    # worked; bar 3 reaches 94 -> filled at 95
    bars = [FLAT, None, (100, 101, 98, 99), (99, 100, 94, 96)]
    trades, _ = run_orders(bars, [0], [], {0: 95.0}, replace(LIMIT_RISK, order_valid_bars=2))
    assert (trades[0]["entry_bar"], trades[0]["entry_price"]) == (3, 95.0)


def test_a_portfolio_backtest_of_an_order_strategy():
    result = ruleengine.backtest(BREAKOUT, "AAPL,MSFT,JPM", "2014-01-01", "2016-12-31", provider="sample",
                                 benchmark=None, portfolio=True, params={"position_size_pct": 30})
    md = ruleengine.load_data(BREAKOUT, "AAPL,MSFT,JPM", "2014-01-01", "2016-12-31", provider="sample")
    opens = {sym: dict(zip(md.index.strftime("%Y-%m-%d"), md.inputs[("prices", "open")][:, j], strict=True))
             for j, sym in enumerate(md.labels)}
    trades = [(t.symbol, t) for r in result.results for t in r.trades]
    assert len(trades) > 10
    # a stop order buys at its level or at a higher open: never below the fill bar's open
    assert all(t.entry_price >= opens[sym][t.entry_time[:10]] - 1e-9 for sym, t in trades)
    assert any(t.entry_price > opens[sym][t.entry_time[:10]] + 1e-9 for sym, t in trades)
    assert result.results[0].risk["entry_order"] == "stop"


def test_atr_breakout_runs_through_the_cli():
    """The README's command: the example backtests on the default (sample) provider, with its stop losses and
    the contract's order and exits addenda in the JSON."""
    import json

    from typer.testing import CliRunner

    from ruleengine.cli import app

    rule = Path(__file__).resolve().parents[1] / "rules" / "atr_breakout.yaml"
    proc = CliRunner().invoke(app, ["backtest", str(rule), "--symbols", "AAPL", "--json"])
    assert proc.exit_code == 0, proc.output
    payload = json.loads(proc.output)
    result = payload["results"][0]
    assert result["risk"]["entry_order"] == "stop" and result["risk"]["risk_per_trade_pct"] == 1
    assert "Limit and stop entry orders" in payload["fill_contract"]
    assert "Exits that know the trade" in payload["fill_contract"]


# ------------------------------------------------------------------------------------------------ code strategies
#: a limit at the 5-bar low while the close is over its 20-bar average, as rules and as code (issue 16: code
#: strategies may return order prices too: ``entry_price`` after the signals)
TWIN = {"name": "limit twin", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
        "entry": ["close > sma(close, 20)"], "exit": ["close < sma(close, 20)"],
        "entry_order": {"type": "limit", "price": "lowest(low, 5)", "valid_bars": 2}}
TWIN_CODE = '''\
WARMUP_BARS = 60
def generate_signals(data, params):
    p = data['prices']
    c = p['close']
    s = c.rolling(20).mean()
    return c > s, c < s, PRICE
'''
TWIN_LS = {"name": "stop twin both ways", "data": TWIN["data"], "direction": "long_short",
           "entry": ["close > sma(close, 20)"], "short_entry": ["close < sma(close, 20)"],
           "entry_order": {"type": "stop", "price": "highest(high, 5)", "short_price": "lowest(low, 5)",
                           "valid_bars": 2}}
TWIN_LS_CODE = TWIN_CODE.replace("return c > s, c < s, PRICE", "never = c < 0\n    return c > s, never, c < s, never, "
                                  "p['high'].rolling(5).max(), p['low'].rolling(5).min()")


def _code_twin(doc, code):
    twin = {k: v for k, v in doc.items() if k not in ("entry", "exit", "short_entry", "short_exit")}
    return {**twin, "code": code, "entry_order": {"type": doc["entry_order"]["type"],
                                                 "valid_bars": doc["entry_order"]["valid_bars"]}}


@SANDBOX_PLATFORM
@pytest.mark.parametrize(("rules", "code"), [(TWIN, TWIN_CODE.replace("PRICE", "p['low'].rolling(5).min()")),
                                             (TWIN_LS, TWIN_LS_CODE)], ids=["limit", "long_short stop"])
def test_a_code_strategy_returns_order_prices_and_trades_like_its_rule_twin(rules, code):
    args = ("AAPL", "2012-01-01", "2016-12-31")
    r = ruleengine.backtest(rules, *args, provider="sample", benchmark=None).results[0]
    c = ruleengine.backtest(_code_twin(rules, code), *args, provider="sample", benchmark=None).results[0]
    assert len(r.trades) > 10
    assert [(t.entry_time, t.exit_time, t.direction, t.exit_reason) for t in c.trades] == \
        [(t.entry_time, t.exit_time, t.direction, t.exit_reason) for t in r.trades]
    np.testing.assert_allclose([t.entry_price for t in c.trades], [t.entry_price for t in r.trades], rtol=1e-12)
    assert c.metrics.total_return_pct == pytest.approx(r.metrics.total_return_pct, rel=1e-9)


@SANDBOX_PLATFORM
@pytest.mark.parametrize(("price", "code", "words"), [
    ("(c > s)", "X126", "entry_price has dtype bool"),  # true/false is not a price
    ("c.where(c < s)", "X126", "entry_price is missing (NaN) on"),  # NaN on the bars of an entry signal
    ("c - 1000.0", "X126", "entry_price is not a price"),  # a price <= 0
    ("c * float('inf')", "X126", "entry_price is not a price"),
    ("c * 0 + c.iat[len(c) - 1]", "X129", "entry_price of AAPL"),  # the last close of whatever data it gets
])
def test_code_order_prices_are_checked(price, code, words):
    doc = _code_twin(TWIN, TWIN_CODE.replace("PRICE", price))
    with pytest.raises(RuleEngineError) as err:
        ruleengine.backtest(doc, "AAPL", "2014-01-01", "2015-12-31", provider="sample", benchmark=None)
    d = err.value.diagnostics[0]
    assert d.code == code and words in d.message, d.message
    assert d.hint
