"""The fill contract on small hand-written bar tables (freqtrade's test_backtest_detail.py style).

Every table runs through the numba engine and the plain-Python reference (tests/support/sim_reference.py);
both must produce exactly the expected trades, computed by hand in the comments.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from support.sim_reference import reference_portfolio, reference_simulate

from ruleengine.backtest.risk import FILL_CONTRACT, RiskSpec, resolve_risk
from ruleengine.backtest.simulation import EXIT_REASONS, simulate, simulate_portfolio
from ruleengine.errors import RuleEngineError
from ruleengine.schema.strategy import TradingStrategy

NAN = math.nan
BASE = RiskSpec(position_size_pct=100.0, fees_pct=0.0, slippage_pct=0.0, execution_price="close")
CASH = 10_000.0


def table(bars, index=None):
    """bars: rows of (open, high, low, close) or None (no bar) -> prices dict of (T, 1) arrays, index."""
    rows = [(NAN,) * 4 if b is None else b for b in bars]
    a = np.array(rows, dtype=float)
    prices = {k: a[:, i:i + 1].copy() for i, k in enumerate(("open", "high", "low", "close"))}
    if index is None:
        index = pd.date_range("2024-01-01", periods=len(rows), freq="D", tz="UTC")
    return prices, pd.DatetimeIndex(index)


def sig(n, *rows):
    out = np.zeros((n, 1), dtype=bool)
    out[list(rows), 0] = True
    return out


def run(bars, entries, exits, risk=BASE, index=None, start=0):
    """Simulate with the engine and the reference; assert they agree; return the engine's trades as dicts."""
    prices, idx = table(bars, index)
    n = len(idx)
    ent, ext = sig(n, *entries), sig(n, *exits)
    sim = simulate(prices, ent, ext, idx, risk, init_cash=CASH, start=start)
    ref_trades, ref_eq = reference_simulate(prices, ent, ext, idx, [risk], init_cash=CASH, start=start)
    got = sim.trades.drop(columns=["entry_time", "exit_time"]).to_dict("records")
    assert len(got) == len(ref_trades)
    for g, r in zip(got, ref_trades, strict=True):
        assert {k: g[k] for k in ("column", "entry_bar", "exit_bar", "exit_reason")} == \
            {k: r[k] for k in ("column", "entry_bar", "exit_bar", "exit_reason")}
        for k in ("entry_price", "exit_price", "size", "pnl", "pnl_pct", "fees"):
            assert g[k] == pytest.approx(r[k], rel=1e-12)
    np.testing.assert_allclose(sim.equity[:, 0], [row[0] for row in ref_eq], rtol=1e-12)
    return got, sim


def brief(trades):
    return [(t["entry_bar"], t["exit_bar"], t["exit_reason"], round(t["exit_price"], 10)) for t in trades]


FLAT = (100.0, 101.0, 99.0, 100.0)


# ------------------------------------------------------------------------------------------------ stops
def test_gap_through_the_stop_fills_at_the_open():
    # entry 100 at bar 0's close; SL 10 % -> 90; bar 1 opens at 85: gap, filled at 85, not 90
    trades, sim = run([FLAT, (85, 88, 80, 86), FLAT], [0], [], replace(BASE, stop_loss_pct=10))
    assert brief(trades) == [(0, 1, "stop_loss", 85.0)]
    assert trades[0]["pnl"] == pytest.approx(100 * 85 - CASH)  # 100 units
    assert sim.equity[-1, 0] == pytest.approx(8_500.0)


def test_stop_inside_the_bar_fills_at_the_level():
    trades, _ = run([FLAT, (95, 96, 88, 93)], [0], [], replace(BASE, stop_loss_pct=10))
    assert brief(trades) == [(0, 1, "stop_loss", 90.0)]


def test_take_profit_gap_and_level():
    risk = replace(BASE, take_profit_pct=10)
    assert brief(run([FLAT, (115, 120, 114, 118)], [0], [], risk)[0]) == [(0, 1, "take_profit", 115.0)]
    assert brief(run([FLAT, (105, 111, 104, 106)], [0], [], risk)[0]) == [(0, 1, "take_profit", 110.0)]


def test_stop_loss_wins_when_both_levels_are_inside_one_bar():
    # SL 95, TP 110, bar 1 spans 94..112: the conservative stop loss
    trades, _ = run([FLAT, (100, 112, 94, 105)], [0], [], replace(BASE, stop_loss_pct=5, take_profit_pct=10))
    assert brief(trades) == [(0, 1, "stop_loss", 95.0)]


def test_trailing_stop_after_a_new_high():
    # TSL 10 %: bar 1 makes a high of 120 and dips to 107: the level during bar 1 is still 100 x 0.9 = 90
    # (a bar's high raises the peak only after the bar was checked); bar 2: level 120 x 0.9 = 108, low 107
    bars = [FLAT, (110, 120, 107, 115), (112, 113, 107, 109), FLAT]
    trades, _ = run(bars, [0], [], replace(BASE, trailing_stop_pct=10))
    assert brief(trades) == [(0, 2, "trailing_stop", 108.0)]


def test_trailing_and_fixed_stop_the_higher_level_acts():
    # SL 5 % -> 95 fixed; TSL 10 % -> 90 until the peak passes 105.56; after a high of 120 the trail is 108
    risk = replace(BASE, stop_loss_pct=5, trailing_stop_pct=10)
    assert brief(run([FLAT, (96, 97, 94, 95)], [0], [], risk)[0]) == [(0, 1, "stop_loss", 95.0)]
    bars = [FLAT, (110, 120, 109, 115), (112, 113, 107, 109)]
    assert brief(run(bars, [0], [], risk)[0]) == [(0, 2, "trailing_stop", 108.0)]


def test_stops_are_not_checked_on_the_entry_bar():
    # entry at bar 1's close although bar 1's low (80) is below the SL level of its own close (90)
    trades, _ = run([FLAT, (100, 101, 80, 100), FLAT, (95, 96, 89, 92)], [1], [], replace(BASE, stop_loss_pct=10))
    assert brief(trades) == [(1, 3, "stop_loss", 90.0)]


def test_stop_exit_comes_before_the_signal_and_blocks_a_reentry_on_that_bar():
    # bar 1: stop at 90 and an exit signal; bar 1 also has an entry signal... ignored (one order per bar)
    bars = [FLAT, (95, 96, 85, 92), FLAT, FLAT]
    trades, _ = run(bars, [0, 2], [1], replace(BASE, stop_loss_pct=10))
    assert brief(trades) == [(0, 1, "stop_loss", 90.0), (2, 3, "end_of_data", 100.0)]
    trades, _ = run(bars, [0, 1], [], replace(BASE, stop_loss_pct=10))
    assert brief(trades) == [(0, 1, "stop_loss", 90.0)]


# ------------------------------------------------------------------------------------------------ signals
def test_entry_and_exit_on_the_same_bar_cancel():
    bars = [FLAT] * 5
    # flat: both at bar 0 -> no entry; entry alone at bar 1 -> in; both at bar 2 -> kept; exit alone at bar 3
    trades, _ = run(bars, [0, 1, 2], [0, 2, 3])
    assert brief(trades) == [(1, 3, "signal", 100.0)]


def test_ignored_signals_exit_while_flat_entry_while_in_position():
    trades, _ = run([FLAT] * 5, [1, 2], [0, 3])
    assert brief(trades) == [(1, 3, "signal", 100.0)]


def test_execution_price_close_vs_open():
    bars = [(10, 11, 9, 10), (12, 13, 11, 12), (14, 15, 13, 14), (16, 17, 15, 16)]
    close, _ = run(bars, [0], [2])
    assert brief(close) == [(0, 2, "signal", 14.0)]
    assert close[0]["entry_price"] == 10.0
    opened, _ = run(bars, [0], [2], replace(BASE, execution_price="open"))
    assert brief(opened) == [(1, 3, "signal", 16.0)]  # fills at the next bar's open
    assert opened[0]["entry_price"] == 12.0


def test_signal_on_the_last_bar_open_ignored_close_filled_and_marked():
    bars = [FLAT, FLAT, (100, 101, 99, 100)]
    opened, sim = run(bars, [2], [], replace(BASE, execution_price="open"))
    assert opened == [] and sim.equity[-1, 0] == CASH
    closed, _ = run(bars, [2], [])
    assert brief(closed) == [(2, 2, "end_of_data", 100.0)]


def test_open_fill_pending_exit_fills_at_the_open_before_a_stop_later_in_the_bar():
    # open fills: entry at bar 1's open (100); the exit signal of bar 1 is an order pending at bar 2's open
    # (97). Bar 2 later reaches the stop level (90), but the position was already closed at the open:
    # time order, never a fill at a price (90) the market printed after the order had filled
    bars = [FLAT, FLAT, (97, 98, 85, 88)]
    trades, _ = run(bars, [0], [1], replace(BASE, stop_loss_pct=10, execution_price="open"))
    assert brief(trades) == [(1, 2, "signal", 97.0)]
    # the open gaps through the stop (85 < 90): the pending order fills at that same open, as a signal
    gap = [FLAT, FLAT, (85, 86, 80, 82)]
    trades, _ = run(gap, [0], [1], replace(BASE, stop_loss_pct=10, execution_price="open"))
    assert brief(trades) == [(1, 2, "signal", 85.0)]
    # without a pending order the stop fills inside the bar
    trades, _ = run(bars, [0], [], replace(BASE, stop_loss_pct=10, execution_price="open"))
    assert brief(trades) == [(1, 2, "stop_loss", 90.0)]


def test_open_entry_is_checked_for_stops_on_its_own_bar():
    # signal at bar 0, fill at bar 1's open (100); later in bar 1 the low (85) passes the SL (90): stopped
    # on the entry bar, at the level
    bars = [FLAT, (100, 101, 85, 100), (95, 96, 89, 93)]
    trades, _ = run(bars, [0], [], replace(BASE, stop_loss_pct=10, execution_price="open"))
    assert brief(trades) == [(1, 1, "stop_loss", 90.0)]
    # a take profit reached on the entry bar fills there too
    trades, _ = run([FLAT, (100, 112, 99, 108), FLAT], [0], [], replace(BASE, take_profit_pct=10,
                                                                        execution_price="open"))
    assert brief(trades) == [(1, 1, "take_profit", 110.0)]


def test_open_entry_bar_with_both_stop_and_target_inside_the_stop_wins():
    # entry at bar 1's open (100): SL 95 and TP 110 both inside bar 1 (94..112): the conservative stop
    bars = [FLAT, (100, 112, 94, 105), FLAT]
    trades, _ = run(bars, [0], [], replace(BASE, stop_loss_pct=5, take_profit_pct=10, execution_price="open"))
    assert brief(trades) == [(1, 1, "stop_loss", 95.0)]


def test_open_entry_bar_high_raises_the_trailing_peak_after_its_check():
    # entry at bar 1's open (100), TSL 10 %: bar 1 (high 120, low 95) is checked against 90; its high then
    # raises the peak, so bar 2 is checked against 108
    bars = [FLAT, (100, 120, 95, 115), (112, 113, 107, 109), FLAT]
    trades, _ = run(bars, [0], [], replace(BASE, trailing_stop_pct=10, execution_price="open"))
    assert brief(trades) == [(1, 2, "trailing_stop", 108.0)]


def test_vectorbt_fill_order_reproduces_vectorbts_priorities():
    # fill_order="vectorbt" (used by the oracle tests): a stop later in the bar wins over the exit order
    # pending at the open, and a position entered at an open is not checked on that bar
    risk = replace(BASE, stop_loss_pct=10, execution_price="open")
    for bars, entries, exits, time_order, vbt_order in (
            ([FLAT, FLAT, (97, 98, 85, 88)], [0], [1], (1, 2, "signal", 97.0), (1, 2, "stop_loss", 90.0)),
            ([FLAT, (100, 101, 85, 100), (95, 96, 89, 93)], [0], [], (1, 1, "stop_loss", 90.0),
             (1, 2, "stop_loss", 90.0))):
        prices, idx = table(bars)
        ent, ext = sig(len(idx), *entries), sig(len(idx), *exits)
        got = {order: brief(simulate(prices, ent, ext, idx, risk, init_cash=CASH, fill_order=order)
                            .trades.to_dict("records")) for order in ("time", "vectorbt")}
        assert got == {"time": [time_order], "vectorbt": [vbt_order]}
    with pytest.raises(ValueError, match="fill_order"):
        simulate(prices, ent, ext, idx, risk, fill_order="backtrader")


# ------------------------------------------------------------------------------------------------ max hold
def test_max_hold_days_reached_on_a_weekend_exits_at_the_next_close():
    # Thu 2024-01-04 entry; 2 days -> Sat 2024-01-06: no bar; exit at Mon 2024-01-08's close
    idx = pd.DatetimeIndex(["2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09"], tz="UTC")
    bars = [FLAT, FLAT, FLAT, (100, 101, 99, 104), FLAT]
    trades, _ = run(bars, [1], [], replace(BASE, max_hold_days=2), index=idx)
    assert brief(trades) == [(1, 3, "max_hold", 104.0)]


def test_max_hold_days_reached_on_a_holiday():
    # Thu 2024-01-11 + 4 days = Mon 2024-01-15 (Martin Luther King Jr. Day, no session) -> Tue's close
    idx = pd.DatetimeIndex(["2024-01-11", "2024-01-12", "2024-01-16", "2024-01-17"], tz="UTC")
    trades, _ = run([FLAT, FLAT, (100, 101, 99, 103), FLAT], [0], [], replace(BASE, max_hold_days=4), index=idx)
    assert brief(trades) == [(0, 2, "max_hold", 103.0)]
    # reached exactly on a trading day: that day's close
    trades, _ = run([FLAT, (100, 101, 99, 102), FLAT, FLAT], [0], [], replace(BASE, max_hold_days=1), index=idx)
    assert brief(trades) == [(0, 1, "max_hold", 102.0)]


def test_max_hold_bars_counts_the_bars_that_exist():
    # entry bar 0; bars 1, 3 exist (bar 2 is missing for this symbol): the 2nd bar after the entry is bar 3
    trades, _ = run([FLAT, FLAT, None, (100, 101, 99, 105), FLAT], [0], [], replace(BASE, max_hold_bars=2))
    assert brief(trades) == [(0, 3, "max_hold", 105.0)]


@pytest.mark.parametrize("days", [90_000, 106_751, 10**12, 2**62])
def test_max_hold_days_beyond_the_int64_time_range_never_exits(days):
    # entry_time + days x 86,400e9 ns overflows int64 from about 106,752 days; it must mean "never", not
    # "already": the position is held to the end (the old kernel exited on the next bar for 90,000+)
    trades, _ = run([FLAT] * 6, [0], [], replace(BASE, max_hold_days=days))
    assert brief(trades) == [(0, 5, "end_of_data", 100.0)]
    prices, idx = table([FLAT] * 6)
    sweep_like = simulate_portfolio(prices, sig(6, 0), sig(6), idx, replace(BASE, max_hold_days=days))
    assert sweep_like.trades.exit_reason.tolist() == ["end_of_data"]


def test_max_hold_then_signal_priority_and_a_new_entry_next_bar():
    # bar 2: exit signal and max hold together -> reason signal; the entry signal of bar 3 enters again
    trades, _ = run([FLAT] * 5, [0, 3], [2], replace(BASE, max_hold_bars=2))
    assert brief(trades) == [(0, 2, "signal", 100.0), (3, 4, "end_of_data", 100.0)]
    # entry and exit signals on bar 2 cancel each other: the max hold still exits
    trades, _ = run([FLAT] * 5, [0, 2], [2], replace(BASE, max_hold_bars=2))
    assert brief(trades) == [(0, 2, "max_hold", 100.0)]


# ------------------------------------------------------------------------------------------------ money
def test_fees_and_slippage_arithmetic():
    risk = replace(BASE, fees_pct=1.0, slippage_pct=0.5)
    trades, sim = run([FLAT, FLAT, (110, 111, 109, 110)], [0], [2], risk)
    entry = 100 * 1.005
    units = CASH / 1.01 / entry
    exit_ = 110 * 0.995
    proceeds = units * exit_ * 0.99
    t = trades[0]
    assert t["entry_price"] == pytest.approx(entry, rel=1e-15)
    assert t["exit_price"] == pytest.approx(exit_, rel=1e-15)
    assert t["size"] == pytest.approx(units, rel=1e-15)
    assert t["fees"] == pytest.approx(CASH - CASH / 1.01 + units * exit_ * 0.01, rel=1e-12)
    assert t["pnl"] == pytest.approx(proceeds - CASH, rel=1e-12)
    assert t["pnl_pct"] == pytest.approx((proceeds / CASH - 1) * 100, rel=1e-12)
    assert sim.equity[-1, 0] == pytest.approx(proceeds, rel=1e-12)
    # while holding: equity = units x close (cash is 0 after an all-in entry)
    assert sim.cash[1, 0] == 0.0 and sim.equity[1, 0] == pytest.approx(units * 100, rel=1e-15)


def test_stop_exits_pay_slippage_too():
    trades, _ = run([FLAT, (95, 96, 80, 85)], [0], [], replace(BASE, stop_loss_pct=10, slippage_pct=1.0))
    assert trades[0]["entry_price"] == pytest.approx(101.0)
    assert trades[0]["exit_price"] == pytest.approx(101.0 * 0.9 * 0.99)  # level from the slipped entry


def test_position_size_pct():
    trades, sim = run([FLAT, FLAT, (120, 121, 119, 120), FLAT, (50, 51, 49, 50)], [0, 3], [2],
                      replace(BASE, position_size_pct=50))
    assert trades[0]["size"] == pytest.approx(50.0)  # 5,000 / 100
    assert sim.cash[0, 0] == pytest.approx(5_000.0)
    assert sim.equity[2, 0] == pytest.approx(5_000 + 50 * 120)
    # the second entry (bar 3, close 100) takes 50 % of the cash then (11,000): 5,500 / 100
    assert trades[1]["size"] == pytest.approx(55.0)
    assert sim.equity[-1, 0] == pytest.approx(5_500 + 55 * 50)


def test_end_of_data_is_marked_without_fees():
    trades, sim = run([FLAT, FLAT, (100, 101, 99, 110)], [0], [], replace(BASE, fees_pct=1.0))
    t = trades[0]
    assert (t["exit_reason"], t["exit_bar"], t["exit_price"]) == ("end_of_data", 2, 110.0)
    assert t["fees"] == pytest.approx(CASH - CASH / 1.01)
    assert sim.equity[-1, 0] == pytest.approx(t["size"] * 110)


# ------------------------------------------------------------------------------------------------ NaN, start
def test_a_missing_bar_is_neither_filled_nor_checked():
    # bar 2 is missing for the symbol: its entry signal is ignored; an open position is not stopped there
    # and is marked at the last close; the stop is checked again on bar 3
    bars = [FLAT, FLAT, None, (95, 96, 89, 90), FLAT]
    trades, sim = run(bars, [0, 2], [], replace(BASE, stop_loss_pct=10))
    assert brief(trades) == [(0, 3, "stop_loss", 90.0)]
    assert sim.equity[2, 0] == pytest.approx(CASH)  # marked at bar 1's close
    trades, _ = run([FLAT, FLAT, None, FLAT], [2], [])
    assert trades == []


def test_open_fill_waits_for_the_symbols_next_bar():
    bars = [FLAT, None, (105, 106, 104, 105), FLAT]
    trades, _ = run(bars, [0], [], replace(BASE, execution_price="open"))
    assert brief(trades) == [(2, 3, "end_of_data", 100.0)]
    assert trades[0]["entry_price"] == 105.0


def test_rows_before_start_are_history():
    trades, sim = run([FLAT, FLAT, FLAT, FLAT], [0, 2], [1, 3], start=2)
    assert brief(trades) == [(2, 3, "signal", 100.0)]
    assert sim.equity[:2, 0].tolist() == [CASH, CASH]


def test_non_positive_prices_are_a_structured_error():
    prices, idx = table([FLAT, (100, 101, 0.0, 100)])
    with pytest.raises(RuleEngineError) as e:
        simulate(prices, sig(2, 0), sig(2), idx, BASE)
    assert e.value.diagnostics[0].code == "D114" and e.value.diagnostics[0].path == "prices.low"


def test_risk_per_column_and_trades_table():
    prices, idx = table([FLAT, (95, 96, 85, 92), FLAT])
    both = {k: np.hstack([v, v]) for k, v in prices.items()}
    ent = np.array([[True, True], [False, False], [False, False]])
    sim = simulate(both, ent, np.zeros_like(ent), idx, [replace(BASE, stop_loss_pct=10), BASE])
    assert list(sim.trades.columns) == ["column", "entry_bar", "exit_bar", "entry_time", "exit_time", "entry_price",
                                        "exit_price", "size", "pnl", "pnl_pct", "exit_reason", "fees", "direction"]
    assert sim.trades[["column", "exit_bar", "exit_reason"]].values.tolist() == [[0, 1, "stop_loss"],
                                                                                [1, 2, "end_of_data"]]
    assert sim.trades.exit_time.iloc[0] == idx[1]
    assert sim.equity.shape == (3, 2) and sim.position[1].tolist() == [0.0, 100.0]
    assert set(sim.trades.exit_reason) <= set(EXIT_REASONS)


# ------------------------------------------------------------------------------------------------ portfolio
def test_portfolio_shares_cash_and_skips_when_short():
    # three symbols, 40 % of equity per entry: A and B enter on bar 0 (4,000 each), C's entry on bar 0 needs
    # 4,000 of the 2,000 left: skipped. Bar 1: A exits at 110 (+400): cash 6,400, equity 10,400;
    # C enters on bar 1 with 40 % x 10,400 = 4,160
    px = np.array([[100.0, 50.0, 20.0], [110.0, 50.0, 20.0], [110.0, 55.0, 22.0]])
    prices = {k: px.copy() for k in ("open", "high", "low", "close")}
    idx = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    ent = np.array([[True, True, True], [False, False, True], [False, False, False]])
    ext = np.array([[False, False, False], [True, False, False], [False, False, False]])
    risk = replace(BASE, position_size_pct=40)
    sim = simulate_portfolio(prices, ent, ext, idx, risk, init_cash=CASH)
    t = sim.trades
    assert t[["column", "entry_bar", "exit_bar", "exit_reason"]].values.tolist() == [
        [0, 0, 1, "signal"], [1, 0, 2, "end_of_data"], [2, 1, 2, "end_of_data"]]
    assert t["size"].tolist() == pytest.approx([40.0, 80.0, 4_160 / 20])
    assert sim.cash[:, 0].tolist() == pytest.approx([2_000.0, 2_240.0, 2_240.0])
    assert sim.equity[:, 0].tolist() == pytest.approx([10_000.0, 10_400.0, 2_240 + 80 * 55 + 208 * 22])
    assert sim.skipped_count == 1 and sim.skipped[["bar", "column"]].values.tolist() == [[0, 2]]
    ref_trades, ref_eq, ref_skipped = reference_portfolio(prices, ent, ext, idx, [risk] * 3, init_cash=CASH)
    assert ref_skipped == [(0, 2)]
    assert [(r["column"], r["entry_bar"], r["exit_bar"]) for r in ref_trades] == \
        sorted([(r[0], r[1], r[2]) for r in t[["column", "entry_bar", "exit_bar"]].values.tolist()])
    np.testing.assert_allclose(sim.equity[:, 0], ref_eq, rtol=1e-12)


# ------------------------------------------------------------------------------------------------ resolve_risk
def _strategy(timeframe="medium_term", risk=None, params=None):
    return TradingStrategy.model_validate({"name": "t", "timeframe": timeframe, "data": {"prices": {"kind": "ohlcv"}},
                                           "entry": ["close > 1"], "risk": risk or {}, "params": params or {}})


@pytest.mark.parametrize(("timeframe", "expected"), [("short_term", (7.0, 15.0, 30)),
                                                     ("medium_term", (10.0, 25.0, 90)),
                                                     ("long_term", (15.0, 50.0, 180))])
def test_timeframe_defaults(timeframe, expected):
    r = resolve_risk(_strategy(timeframe))
    assert (r.stop_loss_pct, r.take_profit_pct, r.max_hold_days) == expected
    assert r.defaults_used == ("stop_loss_pct", "take_profit_pct", "max_hold_days", "position_size_pct",
                               "fees_pct", "slippage_pct")
    assert (r.position_size_pct, r.fees_pct, r.slippage_pct, r.execution_price) == (100.0, 0.0, 0.0, "close")
    assert r.trailing_stop_pct is None and r.max_hold_bars is None


def test_document_values_overrides_and_neighbour_rules():
    s = _strategy("short_term", {"trailing_stop_pct": 8, "max_hold_bars": 10, "fees_pct": 0.1})
    r = resolve_risk(s)
    # a trailing stop replaces the default stop loss; max_hold_bars replaces the default max hold days
    assert (r.stop_loss_pct, r.trailing_stop_pct, r.max_hold_days, r.max_hold_bars) == (None, 8.0, None, 10)
    assert r.defaults_used == ("take_profit_pct", "position_size_pct", "slippage_pct")
    r = resolve_risk(s, {"stop_loss_pct": "4", "take_profit_pct": "off", "execution_price": "open",
                         "fast": 3})
    assert (r.stop_loss_pct, r.take_profit_pct, r.execution_price) == (4.0, None, "open")
    assert "take_profit_pct" not in r.defaults_used
    assert r.to_dict()["defaults_used"] == ["position_size_pct", "slippage_pct"]


@pytest.mark.parametrize(("params", "path"), [
    ({"stop_loss_pct": 0}, "risk.stop_loss_pct"), ({"stop_loss_pct": 100}, "risk.stop_loss_pct"),
    ({"take_profit_pct": "abc"}, "risk.take_profit_pct"), ({"max_hold_days": 2.5}, "risk.max_hold_days"),
    ({"max_hold_bars": 0}, "risk.max_hold_bars"), ({"position_size_pct": 150}, "risk.position_size_pct"),
    ({"position_size_pct": None}, "risk.position_size_pct"), ({"fees_pct": -1}, "risk.fees_pct"),
    ({"slippage_pct": True}, "risk.slippage_pct"), ({"execution_price": "vwap"}, "params.execution_price")])
def test_bad_risk_values_are_d103(params, path):
    with pytest.raises(RuleEngineError) as e:
        resolve_risk(_strategy(), params)
    d = e.value.diagnostics[0]
    assert (d.code, d.path) == ("D103", path) and d.hint


def test_fill_contract_text_names_the_rules():
    for phrase in ("close[t]", "next bar", "gap", "stop wins", "end_of_data", "max_hold_days", "Portfolio",
                   "in time order", "fills at the open", "also for a\n  position entered at that open",
                   "5 % when the", "vectorbt's from_signals"):
        assert phrase in FILL_CONTRACT
