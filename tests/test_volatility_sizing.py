"""Volatility target sizing from the document (issue 16, item 3): ``risk.volatility`` (an expression of the rule
language, or a number > 0) with ``risk.volatility_target_pct``. The kernels' sizing on a ``volatility`` level is
tested in tests/test_sizing.py through the Python API; here the document gives the level: the compiler computes
the expression per bar, every kernel reads it as the ``volatility`` level, and an entry is worth
equity x pct/100 / volatility of its signal bar (the engine and the reference simulation agree with that by hand).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from support.sim_reference import reference_simulate
from test_backtest_stops import CASH, FLAT, table
from test_sweep_engine import assert_same_metrics

import ruleengine
from ruleengine.api import validate
from ruleengine.backtest.risk import resolve_risk
from ruleengine.backtest.simulation import simulate
from ruleengine.compile.compiled import compile_rules
from ruleengine.errors import RuleEngineError
from ruleengine.schema.strategy import VOLATILITY_EXAMPLE
from ruleengine.sweep.run import sweep

#: 20-bar volatility of daily log returns a year, 10 % of the equity's volatility per position
VOL_DOC = {"name": "vol target", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
           "entry": ["crosses_above(sma(close, 10), sma(close, 30))"],
           "exit": ["crosses_below(sma(close, 10), sma(close, 30))"],
           "risk": {"volatility_target_pct": 10, "volatility": VOLATILITY_EXAMPLE}}
#: a bar table's document: the bar's range as its volatility, easy to follow by hand
RANGE_DOC = {"name": "range vol", "data": {"prices": {"kind": "ohlcv"}},
             "entry": ["close > open"], "exit": ["close < open"],
             "risk": {"volatility_target_pct": 2, "volatility": "(high - low) / close"}}


def document_run(doc: dict, bars: list, **risk_params):
    """The document compiled on a bar table: engine and reference on its signals and volatility level (they must
    agree); returns the engine's trades as dicts and the volatility level (T,)."""
    prices, idx = table(bars)
    strategy = ruleengine.load_strategy(doc)
    sig = compile_rules(strategy).signals(pd.DataFrame({k: v[:, 0] for k, v in prices.items()}, index=idx))
    risk = resolve_risk(strategy, risk_params)
    vol = np.asarray(sig.levels["volatility"], dtype=float)
    sim = simulate(prices, sig.entries, sig.exits, idx, risk, init_cash=CASH, levels=dict(sig.levels))
    ref_trades, _ = reference_simulate(prices, sig.entries, sig.exits, idx, [risk], init_cash=CASH, volatility=vol)
    got = sim.trades.drop(columns=["entry_time", "exit_time"]).to_dict("records")
    assert [(g["entry_bar"], g["exit_bar"]) for g in got] == [(r["entry_bar"], r["exit_bar"]) for r in ref_trades]
    for g, r in zip(got, ref_trades, strict=True):
        for k in ("entry_price", "exit_price", "size", "pnl", "fees"):
            assert g[k] == pytest.approx(r[k], rel=1e-12), k
    return got, vol[:, 0]


UP, DOWN = (100.0, 105.0, 99.0, 104.0), (104.0, 104.0, 95.0, 96.0)


def test_the_document_sizes_each_entry_on_the_volatility_of_its_signal_bar():
    # bar 0: up, range 6 / close 104 -> vol 0.0577; size = 10 000 x 0.02 / vol / 104 = 33.33 units (200 / 6)
    # bar 2: exit; bar 3 up again with the equity after the first trade (range 5 / close 99)
    bars = [UP, UP, DOWN, (96.0, 100.0, 95.0, 99.0), DOWN]
    trades, vol = document_run(RANGE_DOC, bars)
    assert [(t["entry_bar"], t["exit_bar"]) for t in trades] == [(0, 2), (3, 4)]
    assert vol[0] == pytest.approx(6 / 104) and vol[3] == pytest.approx(5 / 99)
    assert trades[0]["size"] == pytest.approx(200 / 6, rel=1e-12)
    equity = CASH + trades[0]["pnl"]
    assert trades[1]["size"] == pytest.approx(equity * 0.02 / 5, rel=1e-12)


def test_a_constant_volatility_and_open_fills_read_the_signal_bar():
    # volatility 0.5, target 10 %: a position worth 20 % of the equity, filled at the next open (104)
    doc = {**RANGE_DOC, "risk": {"volatility_target_pct": 10, "volatility": 0.5}}
    trades, vol = document_run(doc, [UP, UP, DOWN, FLAT], execution_price="open")
    assert np.all(vol == 0.5)
    assert [(t["entry_bar"], t["exit_bar"]) for t in trades] == [(1, 3)]
    assert trades[0]["size"] * trades[0]["entry_price"] == pytest.approx(CASH * 0.2, rel=1e-12)


def test_a_position_above_the_cash_is_capped_by_it():
    # volatility 0.05 and target 10 %: twice the equity wanted, the cash buys it (single run: cut to the cash)
    doc = {**RANGE_DOC, "risk": {"volatility_target_pct": 10, "volatility": 0.05}}
    trades, _ = document_run(doc, [UP, UP, DOWN, FLAT])
    assert trades[0]["size"] * trades[0]["entry_price"] == pytest.approx(CASH, rel=1e-12)


# ------------------------------------------------------------------------------------------- real data
def pandas_volatility(close: pd.Series) -> pd.Series:
    """The example expression in pandas: population std (ddof 0) of 20 daily log returns x sqrt(252)."""
    returns = np.log(close / close.shift(1))
    return returns.rolling(20).std(ddof=0) * math.sqrt(252)


@pytest.fixture(scope="module")
def real_vol_run(shared_data):
    strategy = ruleengine.load_strategy(VOL_DOC)
    md = ruleengine.load_data(strategy, "SPY,XLF,XLK", "2010-01-01", "2012-12-31", data=str(shared_data))
    return strategy, md, compile_rules(strategy).signals(md)


@pytest.mark.realdata
def test_the_expression_equals_pandas_on_real_data(real_vol_run):
    _, md, sig = real_vol_run
    close = md.inputs[("prices", "close")]
    got = np.asarray(sig.levels["volatility"])
    assert got.shape == close.shape and close.shape[1] == 3
    for j in range(close.shape[1]):
        want = pandas_volatility(pd.Series(close[:, j])).to_numpy()
        np.testing.assert_allclose(got[:, j], want, rtol=1e-9, atol=1e-12, equal_nan=True)
        assert np.isfinite(got[md.start:, j]).mean() > 0.95  # the warm-up lies in the history


@pytest.mark.realdata
def test_every_trade_is_worth_the_target_over_its_signal_bars_volatility(real_vol_run):
    strategy, md, sig = real_vol_run
    prices = {k: md.inputs[("prices", k)] for k in ("open", "high", "low", "close")}
    sim = simulate(prices, sig.entries, sig.exits, md.index, resolve_risk(strategy), init_cash=CASH, start=md.start,
                   levels=dict(sig.levels))
    vol = np.asarray(sig.levels["volatility"])
    cash = dict.fromkeys(range(3), CASH)
    for t in sim.trades.sort_values(["column", "entry_bar"]).itertuples():
        value = t.size * t.entry_price  # close fills, no fees or slippage: the spend
        assert value == pytest.approx(min(cash[t.column] * 0.10 / vol[t.entry_bar, t.column], cash[t.column]),
                                      rel=1e-9)
        cash[t.column] += t.pnl
    assert len(sim.trades) > 10 and sim.trades["column"].nunique() == 3


def test_truncating_the_data_never_changes_earlier_trades():
    kw = {"provider": "sample", "benchmark": None}
    full = ruleengine.backtest(VOL_DOC, "SPY", "2012-01-01", "2016-12-31", **kw).results[0].trades
    assert len(full) > 10 and len({round(t.size * t.entry_price) for t in full}) > 5
    for end in ("2013-06-28", "2015-12-31"):
        part = ruleengine.backtest(VOL_DOC, "SPY", "2012-01-01", end, **kw).results[0].trades
        closed = [t for t in part if t.exit_reason != "end_of_data"]
        assert closed and closed == full[:len(closed)], end


def test_sweep_over_the_target_equals_backtest():
    res = sweep(VOL_DOC, "AAPL", "2012-01-01", "2016-12-31", provider="sample",
                grid={"volatility_target_pct": [5.0, 15.0, 40.0]}, params={"fees_pct": 0.1})
    assert len(res.table) == 3
    for rank in range(1, 4):
        run = res.detail(rank, benchmark=None).results[0]
        assert_same_metrics(res.table.iloc[rank - 1], run.metrics, f"rank {rank}")
    assert res.table["total_return_pct"].nunique() == 3


def test_portfolio_sizes_on_the_volatility_too():
    result = ruleengine.backtest(VOL_DOC, "SPY,AAPL", "2012-01-01", "2016-12-31", provider="sample", benchmark=None,
                                 portfolio=True)
    assert result.results[0].metrics.total_trades > 5


# ------------------------------------------------------------------------------------------- bad input
def diagnostics(risk: dict, **doc) -> list[tuple[str, str | None]]:
    return [(d.code, d.path) for d in validate({**VOL_DOC, "risk": risk, **doc})]


def test_bad_volatility_input_is_a_diagnostic():
    assert diagnostics({"volatility_target_pct": 10}) == [("S132", "risk")]
    assert diagnostics({"volatility": VOLATILITY_EXAMPLE}) == [("S132", "risk")]
    assert diagnostics({"volatility_target_pct": 10, "volatility": -0.2}) == [("S134", "risk.volatility")]
    assert diagnostics({"volatility_target_pct": 10, "volatility": True}) == [("S134", "risk.volatility")]
    assert diagnostics({"volatility_target_pct": 10, "volatility": "close > open"}) == [("L121", "risk.volatility")]
    assert diagnostics({"volatility_target_pct": 10, "volatility": "unrealized_pct / 100"}) == \
        [("L120", "risk.volatility")]
    assert diagnostics({"volatility_target_pct": 10, "volatility": "stdev(close, 20)"})[0] == \
        ("C101", "risk.volatility")
    assert diagnostics({"volatility_target_pct": 10, "volatility": 0.2, "position_size_pct": 50}) == \
        [("S130", "risk")]
    code_doc = {"name": "c", "data": VOL_DOC["data"], "code": "def signals(data, params):\n    return None\n",
                "risk": VOL_DOC["risk"]}
    (d,) = validate(code_doc)
    assert d.code == "S133" and "position_size_pct" in d.hint
    pair_doc = {"name": "p", "data": {"a": {"kind": "ohlcv"}, "b": {"kind": "ohlcv"}}, "pair": {"legs": ["a", "b"]},
                "entry": ["a.close > b.close"], "risk": VOL_DOC["risk"]}
    assert validate(pair_doc) == []  # a pair sizes by its volatility too (tests/test_pairs.py)


def test_a_run_target_needs_the_documents_volatility():
    plain = ruleengine.load_strategy({**VOL_DOC, "risk": {}})
    with pytest.raises(RuleEngineError) as e:
        resolve_risk(plain, {"volatility_target_pct": 10})
    assert (e.value.diagnostics[0].code, e.value.diagnostics[0].path) == ("D103", "risk.volatility_target_pct")
    sized = ruleengine.load_strategy(VOL_DOC)
    assert resolve_risk(sized, {"volatility_target_pct": "20"}).volatility == VOLATILITY_EXAMPLE
    other = resolve_risk(sized, {"position_size_pct": 50})  # another method replaces the target and its volatility
    assert (other.volatility_target_pct, other.volatility, other.position_size_pct) == (None, None, 50.0)


def test_documents_without_the_key_hash_and_resolve_as_before():
    plain = ruleengine.load_strategy({**VOL_DOC, "risk": {}})
    assert "volatility" not in resolve_risk(plain).to_dict()
    assert "volatility" not in plain.to_dict()["risk"]
    d = resolve_risk(ruleengine.load_strategy(VOL_DOC)).to_dict()
    assert (d["volatility"], d["volatility_target_pct"]) == (VOLATILITY_EXAMPLE, 10.0)
