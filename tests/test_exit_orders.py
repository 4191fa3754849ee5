"""Exit orders (``exit_order: {type: stop | limit, price, short_price}``): the document and its checks, the fill
rules on hand-written bar tables (kernel, portfolio and the plain-Python reference), the contract text, the
vectorbt refusal, and the compiled strategy end to end (sweep, causality, backtesting.py oracle).

Every bar table runs through the single-run kernel, the portfolio kernel and the reference simulation
(tests/support/sim_reference.py); all must give exactly the trades computed by hand in the comments. `levels`
maps a bar to the level the exit order's expression has at its close: the order resting during the next bar.
"""
from __future__ import annotations

import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support.sim_reference import reference_portfolio, reference_simulate
from test_backtest_engine import assert_same_as_reference
from test_backtest_stops import BASE, CASH, FLAT, brief, sig, table
from test_orders import _backtesting, _level_column, assert_table_as_reference
from test_short import assert_portfolio_as_reference

import ruleengine
from ruleengine.backtest.risk import EXIT_ORDER_FILL_CONTRACT, FILL_CONTRACT_PARTS, fill_contract
from ruleengine.backtest.simulation import simulate, simulate_portfolio
from ruleengine.errors import RuleEngineError

NAN = math.nan
STOP = replace(BASE, exit_order="stop")
LIMIT = replace(BASE, exit_order="limit")
CHANDELIER = "highest(high, 22) - 3 * atr(high, low, close, 22)"
DOC = {"name": "trend", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
       "params": {"mult": {"type": "float", "min": 1.0, "max": 5.0, "default": 3.0}},
       "entry": ["close > sma(close, 50)"], "exit": ["close < sma(close, 200)"]}


# ------------------------------------------------------------------------------------------------ the document
def test_a_market_exit_order_hashes_as_before_the_key_existed():
    base = ruleengine.load_strategy(DOC)
    for written in ({"type": "market"}, {}, None):
        doc = ruleengine.load_strategy({**DOC, "exit_order": written})
        assert doc.strategy_hash() == base.strategy_hash() and "exit_order" not in doc.to_dict()
    order = {"type": "stop", "price": CHANDELIER}
    stop = ruleengine.load_strategy({**DOC, "exit_order": order})
    assert stop.strategy_hash() != base.strategy_hash() and stop.to_dict()["exit_order"] == order
    assert ruleengine.load_strategy(stop.to_dict()) == stop


LS = {"direction": "long_short", "short_entry": ["close < sma(close, 50)"]}
PAIR = {"data": {"asset_a": {"kind": "ohlcv"}, "asset_b": {"kind": "ohlcv"}},
        "entry": ["asset_a.close > asset_b.close"], "exit": ["asset_a.close < asset_b.close"],
        "pair": {"legs": ["asset_a", "asset_b"]}}
CODE = {"data": {"prices": {"kind": "ohlcv"}}, "entry": None, "exit": None,
        "code": "def generate_signals(data, params):\n    return data.close > 0, data.close < 0\n"}


@pytest.mark.parametrize(("doc", "code", "words"), [
    ({"exit_order": {"type": "stop"}}, "S125", "price:"),
    ({"exit_order": {"type": "limit", "price": " "}}, "S125", "price:"),
    ({"exit_order": {"price": "close"}}, "S126", "type: stop"),
    ({"exit_order": {"type": "stop", "price": "close", "short_price": "close"}}, "S128", "long_short"),
    ({"direction": "short", "exit_order": {"type": "stop", "price": "close", "short_price": "close"}}, "S128",
     "long_short"),
    ({**LS, "exit_order": {"type": "stop", "price": CHANDELIER}}, "S125", "short_price"),
    ({**PAIR, "exit_order": {"type": "stop", "price": "asset_a.close"}}, "S128", "pair"),
    ({**CODE, "exit_order": {"type": "stop", "price": "close"}}, "S144", "exit_price"),
    ({"rotation": {"rebalance": "1Month", "hold": "top(roc(close, 20), 2)"}, "entry": None, "exit": None,
      "exit_order": {"type": "stop", "price": "close"}}, "S143", "exit order"),
])
def test_exit_order_errors_say_what_and_how(doc, code, words):
    with pytest.raises(RuleEngineError) as err:
        ruleengine.load_strategy({k: v for k, v in {**DOC, **doc}.items() if v is not None})
    (d,) = err.value.diagnostics
    assert d.code == code and words in d.message + (d.hint or "")


YAML = """name: t
data:
  prices: {kind: ohlcv}
  other: {kind: ohlcv}
entry:
  - close > 1
exit_order:
  type: stop
  price: "PRICE"
"""


@pytest.mark.parametrize(("price", "code", "col", "words"), [
    ("close > open", "L125", 11, "true/false"),
    ("atr(high, low, close, 14)", "L126", 11, "distance"),
    ("other.close", "L126", 11, "'other.close'"),
    ("entry_price * 0.9", "L120", 11, "exit order's price"),
    ("highest_since_entry - 3 * atr(high, low, close, 22)", "L120", 11, "exit order's price"),
])
def test_an_exit_order_price_that_is_not_a_price_is_refused_where_it_stands(price, code, col, words):
    with pytest.raises(RuleEngineError) as err:
        ruleengine.compile_strategy(YAML.replace("PRICE", price))
    (d,) = err.value.diagnostics
    assert (d.code, d.path) == (code, "exit_order.price") and words in d.message and d.hint
    assert d.span is not None and (d.span.line, d.span.col) == (9, col)


def test_a_chandelier_price_compiles_to_its_level():
    compiled = ruleengine.compile_strategy({**DOC, "exit_order": {"type": "stop", "price": CHANDELIER}})
    assert compiled.analysis.exit_order_price is not None


# ------------------------------------------------------------------------------------------------ bar tables
def run_exit(bars, entries, exits, levels, risk, short=None):
    """The kernel, the portfolio kernel and the reference on one bar table (one column, all the cash); they must
    agree; returns the trades. `short`: a long_short strategy's (short entries, short exits, short levels)."""
    prices, idx = table(bars)
    n = len(idx)
    ent, ext = sig(n, *entries), sig(n, *exits)
    lv = {"exit_order_price": _level_column(n, levels)}
    sides: dict = {}
    ref_levels: dict = {"exit_levels": lv["exit_order_price"]}
    if short is not None:
        sides = {"short_entries": sig(n, *short[0]), "short_exits": sig(n, *short[1])}
        lv["short_exit_order_price"] = ref_levels["short_exit_levels"] = _level_column(n, short[2])
    sim = simulate(prices, ent, ext, idx, risk, levels=lv, init_cash=CASH, **sides)
    ref_trades, ref_eq = reference_simulate(prices, ent, ext, idx, [risk], init_cash=CASH, **sides, **ref_levels)
    got = assert_table_as_reference(sim, ref_trades, ref_eq)
    port = simulate_portfolio(prices, ent, ext, idx, risk, levels=lv, init_cash=CASH, **sides)
    assert_portfolio_as_reference(port, *reference_portfolio(prices, ent, ext, idx, [risk], init_cash=CASH, **sides,
                                                             **ref_levels))
    return got


def test_a_stop_exit_order_inside_the_bar_fills_at_the_previous_closes_level():
    # entry at bar 0's close 100; bar 1 rests the level of bar 0 (95): its low 97 misses it; bar 2 rests bar 1's
    # level 96 and its low 95 reaches it: sold at 96
    trades = run_exit([FLAT, (100, 101, 97, 100), (99, 100, 95, 96)], [0], [], {0: 95.0, 1: 96.0, 2: 99.0}, STOP)
    assert brief(trades) == [(0, 2, "exit_order", 96.0)]


def test_a_gap_through_the_stop_fills_at_the_open():
    trades = run_exit([FLAT, (90, 92, 88, 91)], [0], [], {0: 95.0}, STOP)
    assert brief(trades) == [(0, 1, "exit_order", 90.0)]


def test_a_level_never_touched_places_orders_that_never_fill():
    trades = run_exit([FLAT, (100, 102, 96, 101), (101, 103, 97, 102)], [0], [], {0: 95.0, 1: 96.0}, STOP)
    assert brief(trades) == [(0, 2, "end_of_data", 102.0)]


def test_a_nan_level_places_no_order_for_that_bar():
    # bar 0's level is NaN: nothing rests during bar 1 (whose low 90 would reach any level above it); bar 1's
    # level 95 rests during bar 2, whose low 94 reaches it
    trades = run_exit([FLAT, (100, 101, 90, 100), (100, 101, 94, 100)], [0], [], {0: NAN, 1: 95.0}, STOP)
    assert brief(trades) == [(0, 2, "exit_order", 95.0)]


def test_no_exit_order_on_the_bar_the_position_opened():
    # open fills: the signal of bar 0 buys at bar 1's open 100; bar 0's level 99 is not an order for that bar
    # (the position did not exist at its open) although bar 1's low is 90; bar 1's level 95 rests during bar 2
    risk = replace(STOP, execution_price="open")
    trades = run_exit([FLAT, (100, 101, 90, 100), (100, 101, 94, 100)], [0], [], {0: 99.0, 1: 95.0}, risk)
    assert brief(trades) == [(1, 2, "exit_order", 95.0)]


@pytest.mark.parametrize(("level", "expected"), [
    (97.0, (0, 1, "exit_order", 97.0)),  # both on the loss side: the order's level is nearer the open
    (93.0, (0, 1, "stop_loss", 95.0)),  # the fixed stop is nearer the open
    (95.0, (0, 1, "stop_loss", 95.0)),  # a tie goes to the position's own stop
])
def test_a_stop_order_and_a_fixed_stop_loss_on_one_bar(level, expected):
    # stop loss 5 % of 100 = 95 and the exit order at `level`, both inside bar 1 (100 .. 90)
    trades = run_exit([FLAT, (100, 101, 90, 92)], [0], [], {0: level}, replace(STOP, stop_loss_pct=5))
    assert brief(trades) == [expected]


def test_an_exit_order_through_the_open_comes_first():
    # bar 1 opens at 94, below both the stop loss 95 and the order 96: the order resting at the open fills there
    trades = run_exit([FLAT, (94, 95, 90, 92)], [0], [], {0: 96.0}, replace(STOP, stop_loss_pct=5))
    assert brief(trades) == [(0, 1, "exit_order", 94.0)]


def test_a_limit_exit_order_sells_when_the_high_reaches_it():
    trades = run_exit([FLAT, (101, 106, 100, 104)], [0], [], {0: 105.0}, LIMIT)
    assert brief(trades) == [(0, 1, "exit_order", 105.0)]
    trades = run_exit([FLAT, (107, 108, 104, 105)], [0], [], {0: 105.0}, LIMIT)  # an open over it: the open
    assert brief(trades) == [(0, 1, "exit_order", 107.0)]


@pytest.mark.parametrize(("risk", "level", "expected"), [
    (replace(LIMIT, take_profit_pct=4), 105.0, (0, 1, "take_profit", 104.0)),  # the target is nearer the open
    (replace(LIMIT, take_profit_pct=4), 103.0, (0, 1, "exit_order", 103.0)),  # the limit is nearer
    (replace(LIMIT, stop_loss_pct=5), 105.0, (0, 1, "stop_loss", 95.0)),  # loss side before profit side
])
def test_a_limit_exit_order_against_the_positions_target_or_stop(risk, level, expected):
    trades = run_exit([FLAT, (100, 106, 90, 100)], [0], [], {0: level}, risk)
    assert brief(trades) == [expected]


def test_an_exit_signal_at_the_close_when_the_order_is_not_reached():
    trades = run_exit([FLAT, (100, 101, 97, 98)], [0], [1], {0: 95.0}, STOP)
    assert brief(trades) == [(0, 1, "signal", 98.0)]
    trades = run_exit([FLAT, (100, 101, 94, 98)], [0], [1], {0: 95.0}, STOP)  # reached first, inside the bar
    assert brief(trades) == [(0, 1, "exit_order", 95.0)]


@pytest.mark.parametrize(("kind", "bar", "level", "price"), [
    ("stop", (101, 106, 99, 104), 105.0, 105.0),  # a short's stop buys back when the high reaches it
    ("stop", (107, 108, 99, 104), 105.0, 107.0),  # an open over it: at the open
    ("limit", (99, 100, 94, 96), 95.0, 95.0),  # a short's limit buys back when the low reaches it
    ("limit", (93, 100, 92, 96), 95.0, 93.0),
])
def test_short_exit_orders_are_mirrored(kind, bar, level, price):
    risk = replace(BASE, exit_order=kind, direction="short")
    trades = run_exit([FLAT, bar], [0], [], {0: level}, risk)
    assert brief(trades) == [(0, 1, "exit_order", price)] and trades[0]["direction"] == -1


def test_long_short_shorts_read_short_price_and_longs_price():
    # a long from bar 0 (its level 95 never reached), reversed by the short entry of bar 1 at its close 100;
    # the short's level of bar 1 (105) rests during bar 2, whose high 106 reaches it: bought back at 105
    risk = replace(STOP, direction="long_short")
    bars = [FLAT, FLAT, (101, 106, 99, 104)]
    trades = run_exit(bars, [0], [], {0: 95.0, 1: 95.0, 2: 95.0}, risk, short=([1], [], {1: 105.0, 2: 105.0}))
    assert brief(trades) == [(0, 1, "signal", 100.0), (1, 2, "exit_order", 105.0)]


def test_slippage_and_fees_as_for_any_exit():
    risk = replace(STOP, fees_pct=0.1, slippage_pct=0.5)
    (trade,) = run_exit([FLAT, (100, 101, 94, 96)], [0], [], {0: 95.0}, risk)
    assert trade["exit_price"] == pytest.approx(95.0 * (1 - 0.005)) and trade["exit_reason"] == "exit_order"


# ------------------------------------------------------------------------------------------------ contract
def test_the_contract_part_is_printed_and_appended_when_used():
    assert EXIT_ORDER_FILL_CONTRACT in FILL_CONTRACT_PARTS
    assert EXIT_ORDER_FILL_CONTRACT in fill_contract(["long"], exit_orders=["stop"])
    assert EXIT_ORDER_FILL_CONTRACT not in fill_contract(["long"], exit_orders=["market"])


def test_the_vectorbt_engine_refuses_an_exit_order():
    prices, idx = table([FLAT, FLAT])
    with pytest.raises(RuleEngineError) as err:
        simulate(prices, sig(2, 0), sig(2), idx, STOP, engine="vectorbt")
    (d,) = err.value.diagnostics
    assert (d.code, d.path) == ("D103", "exit_order.type")


# ------------------------------------------------------------------------------------------------ real data
RULE = Path(__file__).resolve().parents[1] / "rules" / "chandelier_exit.yaml"
ORACLE_SYMBOLS = ("SPY", "QQQ", "GLD", "TLT")


class ExitRun:
    """rules/chandelier_exit.yaml (or a variant) on the local files: prices, signals, exit order levels."""

    def __init__(self, doc, folder, symbols):
        self.strategy = ruleengine.load_strategy(doc)
        self.md = ruleengine.load_data(self.strategy, symbols, "2006-01-01", "2017-12-31", data=str(folder))
        self.prices = {k: self.md.inputs[("prices", k)] for k in ("open", "high", "low", "close")}
        self.compiled = ruleengine.compile_strategy(self.strategy)
        sig = self.compiled.signals(self.md)
        self.entries, self.exits, self.levels = sig.entries, sig.exits, sig.levels
        self.sides = ({"short_entries": sig.short_entries, "short_exits": sig.short_exits}
                      if sig.short_entries is not None else {})

    def args(self):
        return self.prices, self.entries, self.exits, self.md.index


#: the chandelier both ways: long above the 50-day average, short below it, each side's chandelier stop
LS_DOC = {"name": "chandelier both ways", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
          "direction": "long_short", "entry": ["crosses_above(close, sma(close, 50))"],
          "short_entry": ["crosses_below(close, sma(close, 50))"],
          "exit_order": {"type": "stop", "price": CHANDELIER,
                         "short_price": "lowest(low, 22) + 3 * atr(high, low, close, 22)"}}


@pytest.fixture(scope="module")
def exit_runs(real_daily):
    return {"long": ExitRun(str(RULE), real_daily, "SPY,QQQ,AAPL,LEHMQ"),
            "long_short": ExitRun(LS_DOC, real_daily, "SPY,QQQ,AAPL,LEHMQ")}


def _reference_levels(run):
    return {"exit_levels": run.levels["exit_order_price"],
            "short_exit_levels": run.levels.get("short_exit_order_price")}


@pytest.mark.parametrize("name", ["long", "long_short"])
@pytest.mark.parametrize("kind", ["stop", "limit"])
def test_kernels_match_the_reference_on_real_data(exit_runs, name, kind):
    """Single runs and the portfolio against the reference, close and open fills, with and without fixed stops
    beside the exit order (a limit at the stop level: a profit-side order when above the price)."""
    run = exit_runs[name]
    base = resolve_risk_of(run, kind)
    reasons: set[str] = set()
    for extra in ({}, {"stop_loss_pct": 4, "take_profit_pct": 15}, {"trailing_stop_pct": 6}):
        for ex in ("close", "open"):
            risk = replace(base, execution_price=ex, **extra)
            sim = simulate(*run.args(), risk, levels=run.levels, init_cash=CASH, start=run.md.start, **run.sides)
            ref = reference_simulate(*run.args(), [risk] * run.md.n_cols, init_cash=CASH, start=run.md.start,
                                     **run.sides, **_reference_levels(run))
            assert_same_as_reference(sim, *ref, f"{name} {kind} {risk}")
            reasons |= set(sim.trades.exit_reason)
    assert "exit_order" in reasons
    port_risk = replace(base, position_size_pct=40, stop_loss_pct=6, execution_price="open")
    sim = simulate_portfolio(*run.args(), port_risk, levels=run.levels, init_cash=CASH, start=run.md.start,
                             **run.sides)
    assert_portfolio_as_reference(sim, *reference_portfolio(*run.args(), [port_risk] * run.md.n_cols,
                                                            init_cash=CASH, start=run.md.start, **run.sides,
                                                            **_reference_levels(run)))


def resolve_risk_of(run, kind):
    from ruleengine.backtest.risk import resolve_risk

    return replace(resolve_risk(run.strategy), exit_order=kind)


@pytest.mark.parametrize("execution_price", ["close", "open"])
def test_truncating_the_data_never_changes_earlier_trades(exit_runs, execution_price):
    run = exit_runs["long"]
    risk = replace(resolve_risk_of(run, "stop"), execution_price=execution_price)
    full = simulate(*run.args(), risk, levels=run.levels, init_cash=CASH, start=run.md.start)
    assert "exit_order" in set(full.trades.exit_reason)
    T = run.md.n_rows
    full_trades = full.trades.to_dict("records")
    keys = ("column", "entry_bar", "exit_bar", "exit_reason", "entry_price", "exit_price")
    for cut in np.linspace(run.md.start + 50, T - 1, 5).astype(int):
        md = replace(run.md, inputs={k: np.asfortranarray(v[:cut]) for k, v in run.md.inputs.items()},
                     index=run.md.index[:cut])
        sig = run.compiled.signals(md)  # signals and exit order levels of the truncated data
        part = simulate({k: v[:cut] for k, v in run.prices.items()}, sig.entries, sig.exits, run.md.index[:cut],
                        risk, levels=sig.levels, init_cash=CASH, start=run.md.start)
        np.testing.assert_array_equal(part.equity, full.equity[:cut])
        eod = "end_of_data"
        assert [tuple(t[k] for k in keys) for t in part.trades.to_dict("records") if t["exit_reason"] != eod] == \
            [tuple(t[k] for k in keys) for t in full_trades if t["exit_bar"] < cut and t["exit_reason"] != eod]


def _backtesting_exit_order_trades(run, j, kind):
    """backtesting.py 0.6 as the oracle of an exit order: market entries and exit signals filled at the next open
    (its ``buy()`` / ``position.close()`` in ``next()``), and at every ``next()`` the open trade's ``sl`` (a
    stop) or ``tp`` (a limit) set to the level of that bar (None when NaN), so that it rests during the next
    bar, as ``trade.sl = level`` in a trailing-stop strategy. Returns (entry bar, exit bar, entry price, exit
    price) per trade."""
    live = np.arange(run.md.n_rows) >= run.md.start
    entries, exits = run.entries[:, j] & live, run.exits[:, j] & live
    level = run.levels["exit_order_price"][:, j]

    def step(bt, i):
        at = None if np.isnan(level[i]) else float(level[i])
        for trade in bt.trades:
            setattr(trade, "sl" if kind == "stop" else "tp", at)
        if exits[i] and not entries[i] and bt.position:
            bt.position.close()  # queued before the exit order: the exit at the open comes first
        elif entries[i] and not exits[i] and not bt.position:
            bt.buy(size=0.5)

    t = _backtesting(run, j, step, 1e12)
    return list(zip(t.EntryBar.astype(int), t.ExitBar.astype(int), t.EntryPrice, t.ExitPrice, strict=True))


@pytest.mark.parametrize("kind", ["stop", "limit"])
def test_backtesting_py_gives_the_same_trades(real_daily, kind):
    """rules/chandelier_exit.yaml trade for trade against backtesting.py on real daily data (entry and exit bars,
    prices to the cent; it sizes in whole units, so sizes are not compared), execution_price open (backtesting.py
    fills at the next open); as a limit exit order too (its ``tp``)."""
    import warnings

    compared = exits = 0
    for symbol in ORACLE_SYMBOLS:
        run = ExitRun(str(RULE), real_daily, symbol)
        if np.isnan(run.prices["close"][run.md.start:, 0]).any():
            continue  # backtesting.py needs a bar on every row
        risk = replace(resolve_risk_of(run, kind), execution_price="open")
        ours = simulate(*run.args(), risk, levels=run.levels, start=run.md.start)
        last_open = run.prices["open"][-1, 0]  # backtesting.py closes a trade still open at the last open
        mine = [(e, x, pe, last_open if reason == "end_of_data" else px) for e, x, pe, px, reason in
                zip(*(ours.trades[k] for k in ("entry_bar", "exit_bar", "entry_price", "exit_price", "exit_reason")),
                    strict=True)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = _backtesting_exit_order_trades(run, 0, kind)
        assert [m[:2] for m in mine] == [t[:2] for t in theirs], (symbol, kind)
        np.testing.assert_allclose([m[2:] for m in mine], [t[2:] for t in theirs], rtol=1e-12)
        compared += len(mine)
        exits += int((ours.trades.exit_reason == "exit_order").sum())
    assert compared > 20 and exits > 10


def test_the_example_runs_with_its_addendum_and_explains_its_order():
    result = ruleengine.backtest(str(RULE), "AAPL", "2012-01-01", "2016-12-31", provider="sample", benchmark=None)
    assert result.fill_contract.endswith(EXIT_ORDER_FILL_CONTRACT)
    run = result.results[0]
    assert run.risk["exit_order"] == "stop" and "exit_order" in {t.exit_reason for t in run.trades}
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert EXIT_ORDER_FILL_CONTRACT in readme and "chandelier_exit.yaml" in readme
    compiled = ruleengine.compile_strategy(str(RULE))
    order = compiled.explain()["exit_order"]
    assert order["type"] == "stop" and order["lookback"] >= 22
    assert "exit order: stop" in compiled.explain_text()
    with pytest.raises(RuleEngineError) as err:
        ruleengine.backtest(str(RULE), "AAPL", "2012-01-01", "2016-12-31", provider="sample", benchmark=None,
                            engine="vectorbt")
    assert err.value.diagnostics[0].code == "D103"


def test_sweep_equals_backtest_with_a_swept_exit_order_price():
    from test_sweep_engine import assert_same_metrics

    from ruleengine.sweep.run import sweep

    grid = {"chandelier_multiple": [1.5, 3.0], "execution_price": ["close", "open"]}
    res = sweep(str(RULE), "AAPL", "2010-01-01", "2016-12-31", provider="sample", grid=grid)
    assert len(res.table) == 4
    for rank in range(1, 5):
        run = res.detail(rank, benchmark=None).results[0]
        assert_same_metrics(res.table.iloc[rank - 1], run.metrics, f"rank {rank}")
    # the swept number moves the level: a tighter chandelier stops out more often, so trades more
    trades = {m: res.table[res.table.chandelier_multiple == m].total_trades.max() for m in (1.5, 3.0)}
    assert trades[1.5] > trades[3.0]


# ------------------------------------------------------------------------------------------------ live signals
LIVE_DOC = """
name: chandelier live
data: {prices: {kind: ohlcv}}
entry:
  - close > sma(close, 10)
exit:
  - close < sma(close, 30)
exit_order:
  type: stop
  price: "highest(high, 22) - 3 * atr(high, low, close, 22)"
"""


def test_a_live_scan_says_the_exit_order_to_place_for_the_next_bar(tmp_path):
    """The level of the evaluated bar's close, the one a backtest rests during the next bar, per symbol (the held
    one named with its side) in warning D166, and in the data snapshot of the symbol's signals."""
    import pandas as pd
    from support.prices import write_csvs
    from test_live_positions import _walk

    from ruleengine.live import live_scan
    from ruleengine.live.positions import HeldPosition

    folder = write_csvs(tmp_path, {"AAA": _walk(120, 1), "BBB": _walk(120, 2)})
    asof = pd.read_csv(folder / "AAA.csv")["date"].tolist()[-1]
    held = HeldPosition("AAA", "long", 100.0, pd.Timestamp("2019-03-01"), "given")
    scan = live_scan(LIVE_DOC, "AAA,BBB", asof=asof, data=str(folder), positions=[held])
    (said,) = [w for w in scan.warnings if w["code"] == "D166"]
    compiled = ruleengine.compile_strategy(LIVE_DOC)
    md = ruleengine.load_data(compiled.strategy, "AAA,BBB", None, asof, data=str(folder))
    level = compiled.signals(md).levels["exit_order_price"][-1]
    assert f"AAA (held long): stop at {level[0]:g}" in said["message"]
    assert f"BBB: long {level[1]:g}" in said["message"] and "next bar" in said["hint"]
    for s in scan.signals:
        assert s.data_snapshot["exit_order"]["levels"]["long"] == pytest.approx(level[list(md.labels).index(s.ticker)])


def test_the_cli_backtest_names_the_exit_order_and_its_exits(provider_env_cleared):
    from typer.testing import CliRunner

    from ruleengine.cli import app

    out = CliRunner().invoke(app, ["backtest", str(RULE), "--symbols", "AAPL", "--provider", "sample", "--start",
                                   "2012-01-01", "--end", "2016-12-31"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "exit_order=stop" in text and "exit_order " in text.split("exits:")[1].split("\n")[0]


# ------------------------------------------------------------------------------------------------ code strategies
#: a trend entry with a Donchian trailing stop (a sell stop at the 10-bar low, moved every bar), as rules and as
#: code: the code returns the exit order's levels last (``exit_price``)
RULE_TWIN = {"name": "donchian stop twin", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
             "entry": ["close > sma(close, 50)"], "exit": ["close < sma(close, 200)"],
             "exit_order": {"type": "stop", "price": "lowest(low, 10)"}}
CODE_TWIN = """\
WARMUP_BARS = 300
def generate_signals(data, params):
    p = data['prices']
    c = p['close']
    return c > c.rolling(50).mean(), c < c.rolling(200).mean(), LEVEL
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")
def test_a_code_strategy_returns_exit_order_levels_and_trades_like_its_rule_twin():
    args = ("AAPL", "2012-01-01", "2016-12-31")
    code = {"name": "donchian stop code", "data": RULE_TWIN["data"], "exit_order": {"type": "stop"},
            "code": CODE_TWIN.replace("LEVEL", "p['low'].rolling(10).min()")}
    r = ruleengine.backtest(RULE_TWIN, *args, provider="sample", benchmark=None).results[0]
    c = ruleengine.backtest(code, *args, provider="sample", benchmark=None).results[0]
    assert len(r.trades) > 10 and "exit_order" in {t.exit_reason for t in r.trades}
    assert [(t.entry_time, t.exit_time, t.exit_reason) for t in c.trades] == \
        [(t.entry_time, t.exit_time, t.exit_reason) for t in r.trades]
    np.testing.assert_allclose([t.exit_price for t in c.trades], [t.exit_price for t in r.trades], rtol=1e-12)
    bad = {**code, "code": CODE_TWIN.replace("LEVEL", "c * 0 - 1.0")}
    with pytest.raises(RuleEngineError) as err:
        ruleengine.backtest(bad, *args, provider="sample", benchmark=None)
    assert err.value.diagnostics[0].code == "X126" and "exit_price is not a price" in err.value.diagnostics[0].message
