"""Sizing (issue 16, item 3): a fixed cash amount, risk per trade, a volatility target, whole units, the cash
cap, and the portfolio's caps on open positions and gross exposure.

Every bar table runs through the numba engine and the plain-Python reference (tests/support/sim_reference.py);
both must give exactly the trades computed by hand in the comments, and the same notes (entries skipped or cut
down to the cash). The cash is 10 000 and prices 100 unless a table says otherwise.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.sim_reference import reference_portfolio, reference_simulate
from test_backtest_engine import Run, assert_same_as_reference
from test_backtest_stops import BASE, CASH, FLAT, brief, sig, table
from test_sweep_engine import assert_same_metrics

import ruleengine
from ruleengine.api import validate
from ruleengine.backtest.risk import FILL_CONTRACT, SIZING_FILL_CONTRACT, fill_contract, resolve_risk
from ruleengine.backtest.simulation import simulate, simulate_portfolio
from ruleengine.errors import RuleEngineError
from ruleengine.sweep.run import sweep

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"
NO_SIZE = replace(BASE, position_size_pct=None)  # a base for the other sizing methods
KEYS = ("column", "entry_bar", "exit_bar", "exit_reason")
VALUES = ("entry_price", "exit_price", "size", "pnl", "pnl_pct", "fees")


def notes_of(sim) -> list[tuple[int, int, str]]:
    return [(int(b), int(c), str(r)) for b, c, r in sim.skipped[["bar", "column", "reason"]].itertuples(index=False)]


def sized(bars, entries, exits, risk, volatility=None):
    """Simulate one column with the engine and the reference; assert they agree (trades, equity, notes); return
    the engine's trades as dicts and the simulation. `volatility`: the levels row of that kind, one per bar."""
    prices, idx = table(bars)
    n = len(idx)
    ent, ext = sig(n, *entries), sig(n, *exits)
    vol = None if volatility is None else np.array(volatility, dtype=float)[:, None]
    sim = simulate(prices, ent, ext, idx, risk, init_cash=CASH, levels=None if vol is None else {"volatility": vol})
    ref_notes: list[tuple[int, int, str]] = []
    ref_trades, ref_eq = reference_simulate(prices, ent, ext, idx, [risk], init_cash=CASH, volatility=vol,
                                            notes=ref_notes)
    got = sim.trades.drop(columns=["entry_time", "exit_time"]).to_dict("records")
    assert [{k: g[k] for k in KEYS} for g in got] == [{k: r[k] for k in KEYS} for r in ref_trades]
    for g, r in zip(got, ref_trades, strict=True):
        for k in VALUES:
            assert g[k] == pytest.approx(r[k], rel=1e-12, abs=1e-9), k
    np.testing.assert_allclose(sim.equity[:, 0], [row[0] for row in ref_eq], rtol=1e-12)
    assert notes_of(sim) == ref_notes
    return got, sim


RISE = [FLAT, FLAT, (110, 111, 109, 110)]  # enter at 100 (bar 0's close), exit at 110 (bar 2's close)


# ------------------------------------------------------------------------------------------------ methods
def test_a_fixed_cash_amount_buys_that_much():
    trades, sim = sized(RISE, [0], [2], replace(NO_SIZE, position_size_cash=2_500))
    assert brief(trades) == [(0, 2, "signal", 110.0)]
    assert trades[0]["size"] == pytest.approx(25.0) and trades[0]["pnl"] == pytest.approx(250.0)
    assert sim.cash[0, 0] == pytest.approx(7_500.0) and sim.equity[-1, 0] == pytest.approx(10_250.0)


def test_more_than_the_cash_is_cut_to_the_cash_and_noted():
    trades, sim = sized(RISE, [0], [2], replace(NO_SIZE, position_size_cash=25_000))
    assert trades[0]["size"] == pytest.approx(100.0)  # never borrowing: all of the 10 000
    assert notes_of(sim) == [(0, 0, "capped_by_cash")]


def test_risk_per_trade_loses_r_of_the_equity_at_the_stop():
    # 1 % of 10 000 = 100 at risk; stop 5 % below 100 = 95: 100 / 5 = 20 units (2 000 of the 10 000)
    trades, sim = sized([FLAT, (99, 99, 94, 96), FLAT], [0], [],
                        replace(NO_SIZE, risk_per_trade_pct=1, stop_loss_pct=5))
    assert brief(trades) == [(0, 1, "stop_loss", 95.0)]
    assert trades[0]["size"] == pytest.approx(20.0) and trades[0]["pnl"] == pytest.approx(-100.0)
    assert sim.equity[-1, 0] == pytest.approx(9_900.0)


def test_risk_per_trade_a_gap_through_the_stop_loses_more():
    trades, _ = sized([FLAT, (90, 91, 88, 90)], [0], [], replace(NO_SIZE, risk_per_trade_pct=1, stop_loss_pct=5))
    assert brief(trades) == [(0, 1, "stop_loss", 90.0)] and trades[0]["pnl"] == pytest.approx(-200.0)


def test_risk_per_trade_measures_the_distance_from_the_fill_after_slippage_and_fees():
    # entry 100 x 1.01 = 101, stop 5 % below it: distance 5.05, 100 / 5.05 units, each costing 101 x 1.002
    risk = replace(NO_SIZE, risk_per_trade_pct=1, stop_loss_pct=5, slippage_pct=1, fees_pct=0.2)
    trades, sim = sized(RISE, [0], [2], risk)
    units = 100 / 5.05
    assert trades[0]["size"] == pytest.approx(units)
    assert sim.cash[0, 0] == pytest.approx(CASH - units * 101 * 1.002)


def test_risk_per_trade_with_a_tight_stop_is_cut_to_the_cash():
    # stop 0.5 %: 100 / 0.5 = 200 units would cost 20 000; the cash buys 100
    trades, sim = sized(RISE, [0], [2], replace(NO_SIZE, risk_per_trade_pct=1, stop_loss_pct=0.5))
    assert trades[0]["size"] == pytest.approx(100.0) and notes_of(sim) == [(0, 0, "capped_by_cash")]


def test_risk_per_trade_of_a_short_has_its_stop_above():
    short = replace(NO_SIZE, risk_per_trade_pct=1, stop_loss_pct=5, direction="short")
    trades, _ = sized([FLAT, (101, 106, 100, 104), FLAT], [0], [], short)
    assert brief(trades) == [(0, 1, "stop_loss", 105.0)]
    assert trades[0]["size"] == pytest.approx(20.0) and trades[0]["pnl"] == pytest.approx(-100.0)


def test_risk_per_trade_without_a_stop_at_the_fill_is_skipped_and_noted():
    # resolve_risk refuses this spec (D103); the kernel still never sizes on a missing stop
    trades, sim = sized(RISE, [0], [2], replace(NO_SIZE, risk_per_trade_pct=1))
    assert trades == [] and notes_of(sim) == [(0, 0, "no_stop")]


def test_volatility_target_sizes_the_position_on_the_signal_bar():
    # 10 % of 10 000 / 0.25 a year = a position worth 4 000: 40 units at 100
    trades, _ = sized(RISE, [0], [2], replace(NO_SIZE, volatility_target_pct=10), volatility=[0.25, 0.5, 0.5])
    assert trades[0]["size"] == pytest.approx(40.0) and trades[0]["pnl"] == pytest.approx(400.0)


def test_volatility_target_with_open_fills_reads_the_bar_that_gave_the_signal():
    # the signal of bar 0 fills at bar 1's open (100): sized on bar 0's 0.2 (5 000 / 100 = 50), not bar 1's
    risk = replace(NO_SIZE, volatility_target_pct=10, execution_price="open")
    trades, _ = sized([FLAT, FLAT, FLAT, (110, 111, 109, 110)], [0], [2], risk, volatility=[0.2, 0.8, 0.8, 0.8])
    assert brief(trades) == [(1, 3, "signal", 110.0)] and trades[0]["size"] == pytest.approx(50.0)


def test_volatility_unknown_at_the_signal_bar_skips_the_entry():
    trades, sim = sized(RISE, [0, 1], [2], replace(NO_SIZE, volatility_target_pct=10),
                        volatility=[math.nan, 0.25, 0.25])
    assert notes_of(sim) == [(0, 0, "no_volatility")]
    assert brief(trades) == [(1, 2, "signal", 110.0)] and trades[0]["size"] == pytest.approx(40.0)


# ------------------------------------------------------------------------------------------------ whole units
def test_whole_units_round_down_and_keep_the_rest_in_cash():
    bars = [(30, 30, 30, 30), (30, 30, 30, 30), (33, 33, 33, 33)]
    trades, sim = sized(bars, [0], [2], replace(BASE, whole_units=True))
    assert trades[0]["size"] == 333.0  # 10 000 / 30 = 333.3
    assert sim.cash[0, 0] == pytest.approx(10.0) and trades[0]["pnl"] == pytest.approx(333 * 3)


def test_whole_units_with_fees_on_both_sides():
    # 10 000 / (100 x 1.01) = 99.0: 99 units, 9 900 + 99 fee; out at 110: 10 890 - 108.9
    trades, sim = sized(RISE, [0], [2], replace(BASE, whole_units=True, fees_pct=1))
    assert trades[0]["size"] == 99.0 and trades[0]["fees"] == pytest.approx(99 + 108.9)
    assert sim.equity[-1, 0] == pytest.approx(CASH - 9_999 + 10_890 - 108.9)


def test_an_entry_of_zero_whole_units_is_skipped_and_noted():
    trades, sim = sized(RISE, [0], [2], replace(NO_SIZE, position_size_cash=50, whole_units=True))
    assert trades == [] and notes_of(sim) == [(0, 0, "zero_units")]
    assert sim.equity[-1, 0] == CASH


# ------------------------------------------------------------------------------------------------ portfolio
def portfolio_table(cols: int, bars: int = 4):
    prices, idx = table([FLAT] * bars)
    return {k: np.repeat(v, cols, axis=1) for k, v in prices.items()}, idx


def run_portfolio(prices, idx, ent, ext, risk, volatility=None):
    """The portfolio with the engine and the reference: same trades, equity and notes."""
    levels = None if volatility is None else {"volatility": volatility}
    sim = simulate_portfolio(prices, ent, ext, idx, risk, init_cash=CASH, levels=levels)
    ref_notes: list[tuple[int, int, str]] = []
    trades, equity, _ = reference_portfolio(prices, ent, ext, idx, [risk] * ent.shape[1], init_cash=CASH,
                                            volatility=volatility, notes=ref_notes)
    key = ("column", "entry_bar", "exit_bar", "exit_reason", "size", "pnl")
    got = sorted(tuple(t[k] for k in key) for t in sim.trades.to_dict("records"))
    want = sorted(tuple(t[k] for k in key) for t in trades)
    assert [g[:4] for g in got] == [w[:4] for w in want]
    np.testing.assert_allclose([g[4:] for g in got], [w[4:] for w in want], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(sim.equity[:, 0], equity, rtol=1e-9)
    assert sorted(notes_of(sim)) == sorted(ref_notes)
    return sim


def test_max_open_positions_skips_the_entries_beyond_it_until_one_closes():
    prices, idx = portfolio_table(3)
    ent = np.zeros((4, 3), bool)
    ext = np.zeros((4, 3), bool)
    ent[0, :] = True  # all three at bar 0: the third is one too many
    ext[1, 0] = True  # column 0 leaves at bar 1 ...
    ent[2, 2] = True  # ... so column 2 gets in at bar 2
    sim = run_portfolio(prices, idx, ent, ext, replace(BASE, position_size_pct=30, max_open_positions=2))
    assert notes_of(sim) == [(0, 2, "max_open_positions")]
    assert sorted(zip(sim.trades.column, sim.trades.entry_bar, strict=True)) == [(0, 0), (1, 0), (2, 2)]
    assert (np.count_nonzero(sim.position, axis=1) <= 2).all()


def test_max_gross_exposure_skips_an_entry_that_would_pass_it():
    prices, idx = portfolio_table(3)
    ent = np.zeros((4, 3), bool)
    ent[0, :] = True
    sim = run_portfolio(prices, idx, ent, np.zeros((4, 3), bool),
                        replace(BASE, position_size_pct=30, max_gross_exposure_pct=50))
    # 30 % is in; 30 % more would make 60 % > 50 %: both others skipped
    assert notes_of(sim) == [(0, 1, "max_gross_exposure"), (0, 2, "max_gross_exposure")]
    assert sim.trades.column.tolist() == [0]


def test_a_portfolio_never_cuts_an_entry_to_the_cash():
    prices, idx = portfolio_table(2)
    ent = np.zeros((4, 2), bool)
    ent[0, :] = True
    sim = run_portfolio(prices, idx, ent, np.zeros((4, 2), bool), replace(NO_SIZE, position_size_cash=6_000))
    assert notes_of(sim) == [(0, 1, "cash")] and sim.trades.column.tolist() == [0]


def test_portfolio_risk_per_trade_sizes_on_the_portfolio_equity():
    prices, idx = portfolio_table(2)
    ent = np.zeros((4, 2), bool)
    ent[0, :] = True
    sim = run_portfolio(prices, idx, ent, np.zeros((4, 2), bool),
                        replace(NO_SIZE, risk_per_trade_pct=1, stop_loss_pct=5, whole_units=True))
    assert sim.trades["size"].tolist() == [20.0, 20.0]  # 1 % of 10 000 / 5 each, the equity before the step


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), max_open=st.integers(1, 5), exposure=st.floats(20, 100),
       size=st.floats(5, 20), whole=st.booleans())
def test_portfolio_caps_are_never_exceeded(seed, max_open, exposure, size, whole):
    """Random walks and signals on 6 symbols: at every bar at most max_open positions are open, and after a bar
    with entries the open positions are worth at most max_gross_exposure_pct of the equity (close fills, no fees
    or slippage: entries at the close leave the equity as it was before them); the engine agrees with the
    reference throughout."""
    rng = np.random.default_rng(seed)
    T, N = 60, 6
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    prices = {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close}
    idx = pd.date_range("2024-01-01", periods=T, freq="D", tz="UTC")
    ent, ext = rng.random((T, N)) < 0.2, rng.random((T, N)) < 0.15
    risk = replace(BASE, position_size_pct=size, max_open_positions=max_open, max_gross_exposure_pct=exposure,
                   whole_units=whole, stop_loss_pct=3)
    sim = run_portfolio(prices, idx, ent, ext, risk)
    assert (np.count_nonzero(sim.position, axis=1) <= max_open).all()
    gross = (np.abs(sim.position) * close).sum(axis=1)
    entered = np.unique(sim.trades.entry_bar.to_numpy())
    assert (gross[entered] <= exposure / 100 * sim.equity[entered, 0] * (1 + 1e-12)).all()
    assert len(sim.trades) > 0


# ------------------------------------------------------------------------------------------------ documents
DOC = {"name": "sized", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
       "entry": ["crosses_above(sma(close, 10), sma(close, 30))"],
       "exit": ["crosses_below(sma(close, 10), sma(close, 30))"]}


def codes(doc: dict) -> list[str]:
    return [d.code for d in validate(doc)]


def test_one_sizing_method_per_document():
    (d,) = validate({**DOC, "risk": {"position_size_pct": 50, "position_size_cash": 1_000}})
    assert (d.code, d.path) == ("S130", "risk") and "position_size_cash" in d.hint


def test_risk_per_trade_needs_a_stop_loss():
    (d,) = validate({**DOC, "risk": {"risk_per_trade_pct": 1}})
    assert d.code == "S131" and "stop_loss_pct" in d.hint
    assert codes({**DOC, "risk": {"risk_per_trade_pct": 1, "stop_loss_pct": "off"}, "timeframe": "short_term"}) \
        == ["S131"]
    assert codes({**DOC, "risk": {"risk_per_trade_pct": 1}, "timeframe": "short_term"}) == []  # its 7 % stop
    assert codes({**DOC, "risk": {"risk_per_trade_pct": 1, "stop_loss_pct": 4}}) == []


def test_risk_per_trade_without_a_stop_points_at_its_line():
    """S131 is raised by a check of the whole document: it still names the field and its YAML position (not
    the file's first line), so that the user sees which line to change."""
    text = "name: x\ndata: {prices: {kind: ohlcv}}\nentry: [close > 1]\nrisk:\n  risk_per_trade_pct: 1\n"
    with pytest.raises(RuleEngineError) as err:
        ruleengine.load_strategy(text)
    (d,) = err.value.diagnostics
    assert (d.code, d.path, d.span.line, d.span.col) == ("S131", "risk.risk_per_trade_pct", 5, 23)


def test_run_overrides_keep_one_method_and_a_stop():
    strat = ruleengine.load_strategy({**DOC, "risk": {"position_size_pct": 50, "stop_loss_pct": 4}})
    r = resolve_risk(strat, {"risk_per_trade_pct": "1"})  # replaces the document's method
    assert (r.position_size_pct, r.risk_per_trade_pct) == (None, 1.0)
    for bad, path in (({"risk_per_trade_pct": 1, "position_size_cash": 10}, "risk.risk_per_trade_pct"),
                      ({"risk_per_trade_pct": 1, "stop_loss_pct": "off"}, "risk.risk_per_trade_pct"),
                      ({"whole_units": "maybe"}, "risk.whole_units"),
                      ({"max_open_positions": 2.5}, "risk.max_open_positions"),
                      ({"volatility_target_pct": 10}, "risk.volatility_target_pct")):
        with pytest.raises(RuleEngineError) as e:
            resolve_risk(strat, bad)
        assert (e.value.diagnostics[0].code, e.value.diagnostics[0].path) == ("D103", path), bad
    assert resolve_risk(strat, {"whole_units": "true", "max_open_positions": "3"}).whole_units is True


def test_a_document_without_the_new_keys_hashes_and_resolves_as_before():
    plain = ruleengine.load_strategy(DOC)
    assert ruleengine.load_strategy({**DOC, "risk": {"whole_units": False}}).strategy_hash() == plain.strategy_hash()
    d = resolve_risk(plain).to_dict()
    assert not {"position_size_cash", "risk_per_trade_pct", "whole_units", "max_open_positions"} & set(d)
    assert ruleengine.load_strategy({**DOC, "risk": {"whole_units": True}}).strategy_hash() != plain.strategy_hash()


# ------------------------------------------------------------------------------------------------ backtesting.py
#: backtesting.py's README quick-start (SmaCross 10/20 on its bundled GOOG, cash 10 000, commission .002) in our
#: terms. Its conventions, each a setting here: an order placed at a bar's close fills at the next open
#: (execution_price: open); commission on the value of each side (fees_pct: 0.2); whole units (whole_units:
#: true), all of the available cash (position_size_pct 100: its default size is 1 - 2^-52 of the available
#: margin, the same number of units unless cash / (price x 1.002) falls within 2^-52 of a whole number); a trade
#: still open at the end is left open (its Equity Final marks it at the last close without an exit commission:
#: our end_of_data trade). Its crossover(a, b) is a[-2] < b[-2] and a[-1] > b[-1]; our crosses_above takes
#: a[-2] <= b[-2]: the same on this data (no bar where the two averages are equal).
SMA_CROSS = {"name": "SmaCross", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
             "entry": ["crosses_above(sma(close, 10), sma(close, 20))"],
             "exit": ["crosses_below(sma(close, 10), sma(close, 20))"],
             "risk": {"fees_pct": 0.2, "whole_units": True}}
AS_BACKTESTING_PY = {"execution_price": "open"}


@pytest.fixture(scope="module")
def goog(tmp_path_factory):
    """backtesting.py's GOOG bars as a local data folder, and the data frame."""
    pytest.importorskip("backtesting")
    from backtesting.test import GOOG

    folder = tmp_path_factory.mktemp("goog")
    GOOG.rename_axis("Date").reset_index().to_csv(folder / "GOOG.csv", index=False)
    return folder, GOOG


def backtesting_py_trades(data, strategy_class):
    """backtesting.py's run of the quick-start's settings (its stats, with the trades in ``_trades``)."""
    from backtesting import Backtest

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some trades remain open": our end_of_data trade
        return Backtest(data, strategy_class, cash=10_000, commission=.002, exclusive_orders=True).run()


def sma_cross_class(side: str):
    """The quick-start's SmaCross ("both": as written), or one side of it: "long" buys on the cross up and
    closes on the cross down, "short" sells on the cross down and closes on the cross up."""
    from backtesting import Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class SmaCross(Strategy):
        n1, n2 = 10, 20

        def init(self):
            self.sma1 = self.I(SMA, self.data.Close, self.n1)
            self.sma2 = self.I(SMA, self.data.Close, self.n2)

        def next(self):
            if crossover(self.sma1, self.sma2):
                self.position.close() if side == "short" else self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close() if side == "long" else self.sell()

    return SmaCross


def assert_same_as_backtesting_py(result, stats) -> None:
    """Every closed trade (entry/exit date, price, size with its sign, P&L to the cent) and the final equity."""
    theirs = stats._trades
    ours = [t for t in result.results[0].trades if t.exit_reason != "end_of_data"]
    assert len(ours) == len(theirs) > 40
    for t, (_, b) in zip(ours, theirs.iterrows(), strict=True):
        sign = -1 if t.direction == "short" else 1
        assert (t.entry_time[:10], t.exit_time[:10]) == (str(b.EntryTime.date()), str(b.ExitTime.date()))
        assert (t.entry_price, t.exit_price, sign * t.size) == (b.EntryPrice, b.ExitPrice, b.Size)
        assert round(t.pnl, 2) == round(b.PnL, 2)
    assert round(result.results[0].metrics.final_equity, 2) == round(stats["Equity Final [$]"], 2)


def test_backtesting_py_quick_start_long_side_to_the_cent(goog):
    """The quick-start with its sell turned into a close (long only): 46 closed trades and one open at the end."""
    folder, data = goog
    ours = ruleengine.backtest(SMA_CROSS, "GOOG", data=str(folder), params=AS_BACKTESTING_PY, benchmark=None)
    assert_same_as_backtesting_py(ours, backtesting_py_trades(data, sma_cross_class("long")))
    assert ours.results[0].trades[-1].exit_reason == "end_of_data"


def test_backtesting_py_quick_start_short_side_to_the_cent(goog):
    """Its buy turned into a close: a short on each cross down, whole units of the cash (its margin)."""
    folder, data = goog
    doc = {**SMA_CROSS, "direction": "short", "entry": SMA_CROSS["exit"], "exit": SMA_CROSS["entry"]}
    ours = ruleengine.backtest(doc, "GOOG", data=str(folder), params=AS_BACKTESTING_PY, benchmark=None)
    assert_same_as_backtesting_py(ours, backtesting_py_trades(data, sma_cross_class("short")))


def test_backtesting_py_quick_start_to_the_cent(goog):
    """The README quick-start itself: exclusive_orders reverses at every cross (long/short)."""
    folder, data = goog
    doc = {**SMA_CROSS, "direction": "long_short", "short_entry": SMA_CROSS["exit"], "short_exit": SMA_CROSS["entry"]}
    ours = ruleengine.backtest(doc, "GOOG", data=str(folder), params=AS_BACKTESTING_PY, benchmark=None)
    assert_same_as_backtesting_py(ours, backtesting_py_trades(data, sma_cross_class("both")))


# ------------------------------------------------------------------------------------------------ real data
def yearly_volatility(close: np.ndarray) -> np.ndarray:
    """The 20-bar standard deviation of daily returns x sqrt(252), column by column (NaN in its warm-up): the
    levels row a strategy's ``volatility`` expression would hand the kernels."""
    returns = pd.DataFrame(close).pct_change(fill_method=None)
    return (returns.rolling(20).std() * math.sqrt(252)).to_numpy()


def method_risks() -> list:
    """Every sizing method, with and without whole units, both fill prices, fees and slippage, long and short."""
    out = []
    for i, sizing in enumerate(({"position_size_cash": 3_000}, {"position_size_cash": 40_000},
                                {"risk_per_trade_pct": 1, "stop_loss_pct": 4},
                                {"risk_per_trade_pct": 2, "stop_loss_pct": 1},
                                {"volatility_target_pct": 10}, {"position_size_pct": 70})):
        for whole in (False, True):
            out.append(replace(NO_SIZE, **sizing, whole_units=whole, fees_pct=0.1, slippage_pct=0.05,
                               execution_price="open" if (i + whole) % 2 else "close",
                               direction="short" if i == 3 and whole else "long", take_profit_pct=8))
    return out


@pytest.fixture(scope="module")
def real_run(real_daily):
    return Run(RULES_DIR / "stochastic_oversold.yaml", real_daily)


def test_every_method_matches_the_reference_on_real_data(real_run):
    run = real_run
    vol = yearly_volatility(run.prices["close"])
    noted = traded = 0
    for risk in method_risks():
        sim = simulate(*run.args(), risk, init_cash=CASH, start=run.md.start, levels={"volatility": vol})
        notes: list[tuple[int, int, str]] = []
        ref = reference_simulate(*run.args(), [risk] * run.md.n_cols, init_cash=CASH, start=run.md.start,
                                 volatility=vol, notes=notes)
        assert_same_as_reference(sim, *ref, str(risk))
        assert sorted(notes_of(sim)) == sorted(notes), risk
        traded += len(sim.trades)
        noted += len(notes)
    assert traded > 200 and noted > 20


def test_portfolio_every_method_and_cap_matches_the_reference_on_real_data(real_run):
    run = real_run
    vol = yearly_volatility(run.prices["close"])
    kinds: set[str] = set()
    for risk in method_risks():
        risk = replace(risk, direction="long", max_open_positions=1, max_gross_exposure_pct=60)
        if risk.position_size_cash == 40_000:
            risk = replace(risk, position_size_cash=4_000)
        sim = simulate_portfolio(*run.args(), risk, init_cash=CASH, start=run.md.start, levels={"volatility": vol})
        notes: list[tuple[int, int, str]] = []
        trades, equity, _ = reference_portfolio(*run.args(), [risk] * run.md.n_cols, init_cash=CASH,
                                                start=run.md.start, volatility=vol, notes=notes)
        key = ("column", "entry_bar", "exit_bar", "exit_reason", "size", "pnl")
        got = sorted(tuple(t[k] for k in key) for t in sim.trades.to_dict("records"))
        want = sorted(tuple(t[k] for k in key) for t in trades)
        assert [g[:4] for g in got] == [w[:4] for w in want], risk
        np.testing.assert_allclose([g[4:] for g in got], [w[4:] for w in want], rtol=1e-9)
        np.testing.assert_allclose(sim.equity[:, 0], equity, rtol=1e-9)
        assert sorted(notes_of(sim)) == sorted(notes), risk
        kinds |= {n[2] for n in notes}
    assert {"max_open_positions", "max_gross_exposure"} <= kinds


@pytest.mark.parametrize("risk", method_risks()[::2] + [method_risks()[9]], ids=str)
def test_truncating_the_data_never_changes_earlier_sized_trades(real_run, risk):
    run = real_run
    vol = yearly_volatility(run.prices["close"])
    full = simulate(*run.args(), risk, init_cash=CASH, start=run.md.start, levels={"volatility": vol})
    T = run.md.n_rows
    for cut in np.linspace(run.md.start + 50, T - 1, 5).astype(int):
        inputs = {k: np.asfortranarray(v[:cut]) for k, v in run.md.inputs.items()}
        entries, exits, _ = run.compiled.signals_arrays(inputs, cut, run.md.n_cols)
        prices = {k: v[:cut] for k, v in run.prices.items()}
        part = simulate(prices, entries, exits, run.md.index[:cut], risk, init_cash=CASH, start=run.md.start,
                        levels={"volatility": yearly_volatility(prices["close"])})
        np.testing.assert_array_equal(part.equity, full.equity[:cut])
        eod = "end_of_data"
        closed = [t for t in full.trades.to_dict("records") if t["exit_bar"] < cut and t["exit_reason"] != eod]
        assert [t for t in part.trades.to_dict("records") if t["exit_reason"] != eod] == closed
        assert notes_of(part) == [n for n in notes_of(full) if n[0] < cut]


def test_sweep_equals_backtest_over_sizing_values():
    doc = {**DOC, "risk": {"stop_loss_pct": 4, "take_profit_pct": 10}}
    res = sweep(doc, "AAPL", "2012-01-01", "2016-12-31", provider="sample",
                grid=["risk_per_trade_pct=0.5,1,3", "whole_units=true,false"], params={"fees_pct": 0.2})
    assert len(res.table) == 6
    sizes = set()
    for rank in range(1, 7):
        run = res.detail(rank, benchmark=None).results[0]
        assert_same_metrics(res.table.iloc[rank - 1], run.metrics, f"rank {rank}")
        sizes |= {t.size for t in run.trades}
        whole = bool(res.table.iloc[rank - 1]["whole_units"])
        assert all(float(t.size).is_integer() for t in run.trades) == whole
    assert len(sizes) > 10


def test_readme_states_the_sizing_contract_as_the_code_does():
    readme = (RULES_DIR.parent / "README.md").read_text(encoding="utf-8")
    assert SIZING_FILL_CONTRACT in readme
    assert fill_contract(["long"]) == FILL_CONTRACT and fill_contract(["long"], sized=True).endswith(
        SIZING_FILL_CONTRACT)


def test_a_sized_backtest_states_the_sizing_contract_and_warns(tmp_path):
    doc = {**DOC, "risk": {"position_size_cash": 50_000}}
    result = ruleengine.backtest(doc, "AAPL", "2012-01-01", "2016-12-31", provider="sample", benchmark=None)
    assert result.fill_contract.endswith(SIZING_FILL_CONTRACT)
    run = result.results[0]
    notes = run.skipped_entries
    assert notes is not None and notes.by_reason == {"capped_by_cash": run.metrics.total_trades} and notes.count
    assert [w["code"] for w in result.to_dict()["warnings"] if w["code"].startswith("D13")] == ["D136"]
    (d136,) = [w for w in result.to_dict()["warnings"] if w["code"] == "D136"]
    assert (d136["path"], d136["hint"]) == ("risk.position_size_cash", "a smaller position_size_cash")  # its method
    plain = ruleengine.backtest(DOC, "AAPL", "2012-01-01", "2016-12-31", provider="sample", benchmark=None)
    assert plain.fill_contract == FILL_CONTRACT and plain.results[0].skipped_entries is None


def test_a_capped_portfolio_reports_its_skips_by_reason():
    result = ruleengine.backtest(DOC, "SPY,QQQ,IWM", "2012-01-01", "2016-12-31", provider="sample", benchmark=None,
                                 portfolio=True, params={"position_size_pct": 30, "max_open_positions": 1})
    notes = result.results[0].skipped_entries
    assert notes is not None and set(notes.by_reason or {}) == {"max_open_positions"} and notes.count > 3
    assert {e.reason for e in notes.first} == {"max_open_positions"}
    (d135,) = [w for w in result.to_dict()["warnings"] if w["code"] == "D135"]
    assert "max_open_positions were open" in d135["message"] and "max_open_positions" in d135["hint"]
    assert result.fill_contract.endswith(SIZING_FILL_CONTRACT)


def test_a_portfolio_short_of_cash_names_the_sizing_it_used():
    """D130's hint names the sizing field that makes each entry smaller: risk_per_trade_pct for a risk-sized
    portfolio, not position_size_pct, which it does not use (it said 'a smaller position_size_pct')."""
    sized = {**DOC, "risk": {"stop_loss_pct": 2, "risk_per_trade_pct": 5}}  # each entry: 5 % / 2 % = all the equity
    result = ruleengine.backtest(sized, "SPY,QQQ,IWM", "2012-01-01", "2016-12-31", provider="sample",
                                 benchmark=None, portfolio=True)
    (d130,) = [w for w in result.to_dict()["warnings"] if w["code"] == "D130"]
    assert d130["path"] == "risk.risk_per_trade_pct" and "a smaller risk_per_trade_pct" in d130["hint"]
