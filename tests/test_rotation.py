"""Rotation portfolios (issue 17 item 2): the document block, target weights, the rebalancing kernel, results.

Oracles: vectorbt ``Portfolio.from_orders(size_type="targetpercent", cash_sharing=True, call_seq="auto")`` on
real prices with weights from a hand-written pandas ranking (same holdings, same orders, equity to 1e-9); a
hand-made bar table with exact numbers; truncation (earlier weights and equity never change when later bars are
removed); a membership property (no symbol held outside its membership).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_universe_membership import SYMS, T, _intervals  # membership intervals over T bars of SYMS

from ruleengine import backtest, compile_strategy, load_strategy
from ruleengine.backtest.rotation import rebalance_weights
from ruleengine.data.market import MarketData, load_market_data
from ruleengine.data.request import DataRequest
from ruleengine.errors import RuleEngineError
from ruleengine.schema.strategy import DataSlot

ROTATION = {"name": "rotation", "data": {"prices": {"kind": "ohlcv", "columns": ["open", "close"]}},
            "params": {"lookback": {"type": "int", "default": 20}, "n": {"type": "int", "default": 2}},
            "rotation": {"rebalance": "1Month", "hold": "top(roc(close, lookback), n)"},
            "risk": {"fees_pct": 0.1}}


def _codes(exc: pytest.ExceptionInfo[RuleEngineError]) -> list[tuple[str, str | None]]:
    return [(d.code, d.path) for d in exc.value.diagnostics]


# ---------------------------------------------------------------------------------------------- the kernel
def test_hand_made_bar_table_exact_numbers() -> None:
    """Two symbols, 1 % fees: the buy the cash cannot cover buys what it can (fee included); sells go first."""
    close = np.array([[10.0, 20.0], [12.0, 18.0], [12.0, 20.0]])
    weights = np.array([[0.5, 0.5], [np.nan, np.nan], [1.0, 0.0]])
    run = rebalance_weights(weights, close, close, init_cash=1000.0, fees_pct=1.0, slippage_pct=0.0)
    # bar 0: A first (equal order values keep column order): 50 units for 500 + 5 fee; B gets the 495 left
    b_units = 495 / 1.01 / 20
    assert run.units[0].tolist() == pytest.approx([50.0, b_units], rel=1e-15)
    assert run.cash[0] == 0.0
    assert run.equity[0] == pytest.approx(500 + 495 / 1.01, rel=1e-15)
    assert run.equity[1] == pytest.approx(50 * 12 + b_units * 18, rel=1e-15)  # no order on bar 1
    # bar 2: value 600 + B at 20; B is sold first (its order value is negative), then A buys with the cash
    value = 600 + b_units * 20
    cash = b_units * 20 * 0.99
    a_buy = value / 12 - 50  # the target; the cash covers less
    assert cash < a_buy * 12 * 1.01
    assert run.units[2].tolist() == pytest.approx([50 + cash / 1.01 / 12, 0.0], rel=1e-15)
    assert run.orders["column"].tolist() == [0, 1, 1, 0]
    assert run.orders["units"][2] == pytest.approx(-b_units, rel=1e-15)
    assert run.orders["fees"].tolist() == pytest.approx([5.0, 495 - 495 / 1.01, b_units * 20 * 0.01,
                                                          cash - cash / 1.01], rel=1e-12)


def test_open_fills_trade_the_next_bar_at_its_open_and_turnover_control_skips_small_moves() -> None:
    open_ = np.array([[10.0, 10.0], [11.0, 9.0], [10.0, 10.0], [10.0, 10.0]])
    close = np.array([[10.0, 10.0], [10.0, 10.0], [11.0, 9.0], [10.0, 10.0]])
    weights = np.array([[0.5, 0.5], [np.nan, np.nan], [0.5, 0.5], [np.nan, np.nan]])
    run = rebalance_weights(weights, open_, close, init_cash=100.0, fees_pct=0.0, slippage_pct=0.0,
                            execution_price="open")
    assert run.orders["bar"].tolist() == [1, 1, 3, 3]
    assert run.orders["price"][:2].tolist() == [11.0, 9.0]
    still = rebalance_weights(weights, open_, close, init_cash=100.0, fees_pct=0.0, slippage_pct=0.0,
                              execution_price="open", min_weight_change_pct=20.0)
    assert still.orders["bar"].tolist() == [1, 1]  # bar 3's drift (5 points) is inside the band


def test_min_weight_change_compares_the_drifted_weight_with_the_target_name_by_name() -> None:
    """A band of 2 points, no fees, fills at the close. A held name is traded (the whole way to its target) only
    when its drifted weight is 2 points or more from the target; a target of 0 sells whole and a name not held is
    bought, whatever the band."""
    close = np.array([[10.0, 10.0, 10.0],   # 0: buy 45 A, 45 B (100 cash left)
                      [10.4, 10.0, 10.0],   # 1: A at 46.0 %, B at 44.2 %: both within 2 points of 45 %
                      [11.0, 10.0, 10.0],   # 2: A at 47.4 % (2.4 points): sold back to 45 %; B at 43.1 %: kept
                      [11.0, 10.0, 10.0],   # 3: C (not held) bought to 1 %, though 1 point is inside the band
                      [11.0, 10.0, 10.0]])  # 4: B's target is 0: sold whole
    w = [0.45, 0.45, 0.0]
    weights = np.array([w, w, w, [0.45, 0.45, 0.01], [0.45, 0.0, 0.01]])
    run = rebalance_weights(weights, close, close, init_cash=1000.0, fees_pct=0.0, slippage_pct=0.0,
                            min_weight_change_pct=2.0)
    value2 = 45 * 11 + 45 * 10 + 100.0
    assert run.orders[["bar", "column"]].tolist() == [(0, 0), (0, 1), (2, 0), (3, 2), (4, 1)]
    assert run.orders["units"].tolist() == pytest.approx([45, 45, -(45 * 11 - 0.45 * value2) / 11,
                                                          0.01 * value2 / 10, -45], rel=1e-12)
    assert run.units[2, 0] * 11 / value2 == pytest.approx(0.45, rel=1e-12)  # to the target, not the band's edge
    every = rebalance_weights(weights, close, close, init_cash=1000.0, fees_pct=0.0, slippage_pct=0.0)
    assert sorted({int(b) for b in every.orders["bar"]}) == [0, 1, 2, 3, 4]  # band 0: every drift is traded


def test_a_delisted_name_ends_at_its_last_close_and_a_leaver_at_its_first_bar_outside() -> None:
    close = np.array([[10.0, 20.0, 5.0], [11.0, 22.0, 6.0], [12.0, np.nan, 7.0], [13.0, np.nan, 8.0]])
    weights = np.array([[1 / 3, 1 / 3, 1 / 3], [np.nan] * 3, [np.nan] * 3, [np.nan] * 3])
    members = np.ones((4, 3), dtype=bool)
    members[3, 2] = False  # C leaves the universe on bar 3
    run = rebalance_weights(weights, close, close, init_cash=300.0, fees_pct=0.0, slippage_pct=0.0, members=members)
    assert run.orders[["bar", "column"]].tolist() == [(0, 0), (0, 1), (0, 2), (2, 1), (3, 2)]
    assert run.orders["price"][3:].tolist() == [22.0, 8.0]  # B's last close; C's close of its first bar outside
    assert run.orders["reason"].tolist() == [0, 0, 0, 2, 1]  # rebalance x 3, delisted, left_universe
    assert run.units[3].tolist() == [10.0, 0.0, 0.0]
    assert run.cash[3] == 5 * 22.0 + 20 * 8.0
    assert run.equity[2] == 10 * 12 + 5 * 22.0 + 20 * 7.0


# ---------------------------------------------------------------------------------------------- the document
def test_example_rule_loads_with_its_rotation() -> None:
    s = load_strategy("rules/momentum_rotation.yaml")
    assert s.rotation is not None and s.rotation.rebalance == "1Month" and s.rotation.weights == "equal"
    assert s.risk.fees_pct == 0.1 and s.entry is None


@pytest.mark.parametrize(("change", "code"), [
    ({"rotation": {"rebalance": "1Monthly", "hold": "top(close, 2)"}}, "S142"),
    ({"rotation": {"rebalance": "1Month", "hold": "top(close, 2)", "weights": "inverse_volatility"}}, "S142"),
    ({"risk": {"stop_loss_pct": 5}}, "S143"),
    ({"direction": "short"}, "S143"),
    ({"timeframe": "short_term"}, "S143"),
])
def test_document_errors(change: dict, code: str) -> None:
    with pytest.raises(RuleEngineError) as exc:
        load_strategy({**ROTATION, **change})
    assert code in [c for c, _ in _codes(exc)]
    assert all(d.hint for d in exc.value.diagnostics)


def test_a_rotation_on_a_pair_or_code_is_refused() -> None:
    pair = {**ROTATION, "data": {"a": {"kind": "ohlcv"}, "b": {"kind": "ohlcv"}}, "pair": {"legs": ["a", "b"]}}
    code = {**ROTATION, "code": "def generate_signals(data, params):\n    return None\n"}
    for doc in (pair, code):
        with pytest.raises(RuleEngineError) as exc:
            load_strategy(doc)
        assert "S143" in [c for c, _ in _codes(exc)]


def test_expression_errors_point_at_the_rotation_field() -> None:
    with pytest.raises(RuleEngineError) as exc:
        compile_strategy({**ROTATION, "rotation": {"rebalance": "1Month", "hold": "roc(close, 5)"}})
    assert ("C108", "rotation.hold") in _codes(exc)
    with pytest.raises(RuleEngineError) as exc:
        compile_strategy({**ROTATION, "rotation": {"rebalance": "1Month", "hold": "top(close, 2)",
                                                   "weights": "smaa(close, 3)"}})
    assert [p for _, p in _codes(exc)] == ["rotation.weights"]


# ---------------------------------------------------------------------------------------------- real data
def _market(strategy: dict, symbols: list[str], data: str, start: str, end: str) -> MarketData:
    return load_market_data(compile_strategy(strategy).data_request(), symbols, start, end, data=data)


def _pandas_weights(close: pd.DataFrame, lookback: int, n: int, start: int, month_end: np.ndarray) -> pd.DataFrame:
    """The oracle's selection: top n of the rate of change by pandas, ties to the earlier name, equal weight."""
    roc = close / close.shift(lookback) - 1
    ordered = roc[sorted(roc.columns)]
    rank = ordered.rank(axis=1, ascending=False, method="first")[roc.columns]
    held = (rank <= n) & roc.notna()
    w = held.div(held.sum(axis=1).where(held.sum(axis=1) > 0, 1), axis=0).astype(float)
    w[~month_end] = np.nan
    w.iloc[:start] = np.nan
    return w


@pytest.mark.realdata
@pytest.mark.parametrize("execution_price", ["close", "open"])
def test_vectorbt_from_orders_is_the_oracle_on_real_prices(shared_data, execution_price: str) -> None:
    import vectorbt as vbt  # the oracle: in the test extra, never skipped
    symbols = ["AAPL", "MSFT", "XOM", "JNJ", "JPM", "WFC", "PG", "KO", "PFE", "INTC", "CSCO", "ORCL", "T", "VZ",
               "MRK", "CVX", "HD", "DIS", "MCD", "IBM"]
    doc = {**ROTATION, "params": {"lookback": {"type": "int", "default": 126}, "n": {"type": "int", "default": 5}},
           "risk": {"fees_pct": 0.1, "slippage_pct": 0.05}}
    md = _market(doc, symbols, str(shared_data), "2013-07-01", "2017-11-30")
    compiled = compile_strategy(doc)
    weights, _ = compiled.rotation_weights(md)
    close = md.frame("prices", "close")
    month_end = md.period_ends("1Month")
    expected = _pandas_weights(close, 126, 5, md.start, month_end)
    np.testing.assert_allclose(weights, expected.to_numpy(), rtol=0, atol=1e-15)  # same holdings (NaN alike)
    assert np.nansum(weights > 0) >= 5 * 50  # ~53 month ends held
    res = backtest(doc, md, benchmark=None, params={"execution_price": execution_price})
    size, price = expected, close
    if execution_price == "open":  # decided at the close, filled at the next bar's open
        size, price = expected.shift(1), md.frame("prices", "open")
    s0 = md.start
    pf = vbt.Portfolio.from_orders(close.iloc[s0:], size=size.iloc[s0:], price=price.iloc[s0:],
                                   size_type="targetpercent", cash_sharing=True, group_by=True, call_seq="auto",
                                   fees=0.001, slippage=0.0005, init_cash=10_000.0, freq="1D")
    np.testing.assert_allclose(res.equity, pf.value().to_numpy(), rtol=1e-9)
    rec = pf.orders.records
    ours = pd.DataFrame([o.model_dump() for o in res.orders])
    assert len(ours) == len(rec) > 200
    theirs_units = np.where(rec["side"] == 0, rec["size"], -rec["size"])
    assert ours.symbol.tolist() == [close.columns[c] for c in rec["col"]]
    np.testing.assert_allclose(ours.units, theirs_units, rtol=1e-9)
    np.testing.assert_allclose(ours.price, rec["price"], rtol=1e-12)
    np.testing.assert_allclose(ours.fees, rec["fees"], rtol=1e-9, atol=1e-12)
    assert ours.time.tolist() == close.index[s0 + rec["idx"]].strftime("%Y-%m-%d %H:%M").tolist()


def test_weights_and_equity_are_causal_under_truncation(real_daily) -> None:
    doc = ROTATION
    md = _market(doc, ["QQQ", "SPY", "XLE", "XLF"], str(real_daily), "2011-07-01", "2013-06-27")
    compiled = compile_strategy(doc)
    full_w, _ = compiled.rotation_weights(md)
    full = backtest(doc, md, benchmark=None)
    assert len(full.orders) > 20
    for rows in (md.n_rows - 1, md.n_rows - 17, md.n_rows // 2):
        cut = md.head(rows)
        w, _ = compiled.rotation_weights(cut)
        np.testing.assert_array_equal(w, full_w[:rows])
        part = backtest(doc, cut, benchmark=None)
        assert part.equity == full.equity[:rows - md.start]


def _synthetic(members: np.ndarray, seed: int) -> MarketData:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, size=(T, len(SYMS))), axis=0))
    idx = pd.bdate_range("2024-01-01", periods=T)
    cols = pd.MultiIndex.from_product([SYMS, ["open", "close"]])
    frame = pd.DataFrame(np.repeat(close, 2, axis=1), index=idx, columns=cols)
    request = DataRequest({"prices": DataSlot()}, {"prices": frozenset({"open", "close"})}, price_slot="prices")
    return replace(MarketData.from_frames(frame, request), members=np.asfortranarray(members))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members=_intervals(), seed=st.integers(0, 3), rebalance=st.sampled_from(["1Week", "1Month", "1Day"]))
def test_no_symbol_is_ever_held_outside_its_membership(members: np.ndarray, seed: int, rebalance: str) -> None:
    doc = {**ROTATION, "params": {"lookback": {"type": "int", "default": 5}, "n": {"type": "int", "default": 2}},
           "rotation": {**ROTATION["rotation"], "rebalance": rebalance}}
    md = _synthetic(members, seed)
    weights, _ = compile_strategy(doc).rotation_weights(md)
    close = md.inputs[("prices", "close")]
    run = rebalance_weights(weights, close, close, init_cash=1000.0, fees_pct=0.1, slippage_pct=0.0,
                            members=md.members)
    assert not (run.units[~members] > 0).any()  # held at a bar's close only while a member
    assert not (weights[~members] > 0).any()


def test_cli_shows_metrics_turnover_and_holdings(real_daily) -> None:
    import json
    import subprocess
    import sys

    base = [sys.executable, "-m", "ruleengine.cli", "backtest", "rules/momentum_rotation.yaml",
            "--symbols", "QQQ,SPY,XLE,XLF", "--data", str(real_daily), "--param", "lookback=20", "--param", "n=2"]
    out = subprocess.run([*base, "--json"], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "PYTHONPATH": "src"})
    res = json.loads(out.stdout)
    assert res["kind"] == "rotation" and res["metrics"]["final_equity"] > 0
    assert res["turnover_pct_per_year"] > 0 and res["holdings"] and res["contribution"]
    assert {o["reason"] for o in res["orders"]} <= {"rebalance", "left_universe", "delisted"}
    assert all(len(h["weights"]) <= 2 for h in res["holdings"])
    text = subprocess.run(base, capture_output=True, text=True, check=True,
                          env={**__import__("os").environ, "PYTHONPATH": "src", "COLUMNS": "80"}).stdout
    assert "holdings" in text and "turnover" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_vectorbt_engine_is_refused_with_a_code(real_daily) -> None:
    with pytest.raises(RuleEngineError) as exc:
        backtest(ROTATION, "QQQ,SPY", data=str(real_daily), engine="vectorbt")
    assert ("S143", "rotation") in _codes(exc)


def test_live_signals_refuse_a_rotation(real_daily) -> None:  # sweeps: tests/test_rotation_sweep.py
    import ruleengine

    calls = [lambda: ruleengine.live_scan(ROTATION, "QQQ,SPY", data=str(real_daily))]
    for call in calls:
        with pytest.raises(RuleEngineError) as exc:
            call()
        assert [c for c, _ in _codes(exc)] == ["S143"]


def test_explain_shows_the_rotation() -> None:
    import ruleengine

    d = ruleengine.explain("rules/momentum_rotation.yaml")
    assert d["rotation"]["hold"] == "top(roc(prices.close, lookback), n)" and d["rotation"]["rebalance"] == "1Month"
    assert "rotation: at the close of the last bar of each 1Month period" in ruleengine.explain_text(
        "rules/momentum_rotation.yaml")


def _everyone(seed: int = 0) -> MarketData:
    return _synthetic(np.ones((T, len(SYMS)), dtype=bool), seed)


def test_weight_schemes_and_entry_filters_against_pandas() -> None:
    md = _everyone(1)
    close = md.frame("prices", "close")
    rebalance = md.period_ends("1Week")
    base = {**ROTATION, "params": {}, "rotation": {"rebalance": "1Week", "hold": "top(roc(close, 3), 2)"}}
    roc = close / close.shift(3) - 1
    held = roc.rank(axis=1, ascending=False, method="first") <= 2

    def expect(raw: pd.DataFrame) -> np.ndarray:
        w = raw.where(held & (raw > 0), 0.0).fillna(0.0)
        w = w.div(w.sum(axis=1).where(w.sum(axis=1) > 0, 1), axis=0)
        w[~rebalance] = np.nan
        return w.to_numpy()

    vol = close.pct_change().rolling(5).std(ddof=0)
    cases = [({"weights": "equal"}, None, expect(pd.DataFrame(1.0, close.index, close.columns))),
             ({"weights": "inverse_volatility", "volatility": "stddev(pct_change(close, 1), 5)"}, None,
              expect(1 / vol)),
             ({"weights": "roc(close, 3)"}, None, expect(roc)),
             ({"weights": "equal"}, ["close > sma(close, 10)"], None)]
    for change, entry, expected in cases:
        doc = {**base, "rotation": {**base["rotation"], **change}, **({"entry": entry} if entry else {})}
        weights, _ = compile_strategy(doc).rotation_weights(md)
        if expected is None:  # the entry filter: held only where close > its 10-bar mean on the rebalance bar
            allowed = (close > close.rolling(10).mean()).to_numpy()
            rows = rebalance & ~np.isnan(weights).all(axis=1)
            assert not (weights[rows] > 0)[~allowed[rows]].any()
            assert (weights[rows] > 0).sum() < (held.to_numpy()[rows]).sum()
            continue
        np.testing.assert_allclose(weights, expected, rtol=1e-12, atol=1e-15, err_msg=str(change))


def test_each_parameter_set_is_normalised_on_its_own() -> None:
    md = _everyone(2)
    compiled = compile_strategy(ROTATION)
    grid, _ = compiled.rotation_weights(md, {"lookback": 5, "n": [1, 3]})
    for p, n in enumerate((1, 3)):
        one, _ = compiled.rotation_weights(md, {"lookback": 5, "n": n})
        np.testing.assert_array_equal(grid[:, p * len(SYMS):(p + 1) * len(SYMS)], one)


def test_a_calendar_period_on_intraday_bars_is_refused() -> None:
    idx = pd.date_range("2024-01-02 14:30", periods=30, freq="1h", tz="UTC")
    frame = pd.DataFrame({(s, c): np.linspace(10, 20, 30) + i for i, s in enumerate(SYMS) for c in ("open", "close")},
                         index=idx)
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    doc = {**ROTATION, "params": {"lookback": {"type": "int", "default": 2}, "n": {"type": "int", "default": 2}},
           "rotation": {**ROTATION["rotation"], "rebalance": "1Month"}}
    request = DataRequest({"prices": DataSlot()}, {"prices": frozenset({"open", "close"})}, price_slot="prices",
                          frequency="1Hour")
    md = MarketData.from_frames(frame, request)
    with pytest.raises(RuleEngineError) as exc:
        compile_strategy(doc).rotation_weights(md)
    assert _codes(exc) == [("S142", "rotation.rebalance")]


@pytest.mark.realdata
def test_sp500_rotation_holds_members_only_and_sells_names_that_left_or_delisted(shared_data) -> None:
    doc = load_strategy("rules/momentum_rotation.yaml")
    md = load_market_data(compile_strategy(doc).data_request(), "@sp500", "2007-01-01", "2012-09-01",
                          data=str(shared_data))
    res = backtest(doc, md, benchmark=None)
    assert {o.reason for o in res.orders} == {"rebalance", "left_universe", "delisted"}
    col = {s: j for j, s in enumerate(md.labels)}
    row = {t.strftime("%Y-%m-%d %H:%M"): i for i, t in enumerate(md.index)}
    assert md.members is not None
    for h in res.holdings:  # every name held after a bar's orders is a member on that bar
        assert all(md.members[row[h.time], col[s]] for s in h.weights), h
        assert len(h.weights) <= 10


def test_position_variables_have_no_place_in_a_rotation() -> None:
    with pytest.raises(RuleEngineError) as exc:
        compile_strategy({**ROTATION, "rotation": {"rebalance": "1Month", "hold": "top(close, 2) and bars_held < 5"}})
    assert _codes(exc) == [("L120", "rotation.hold")]
    assert "rotation" in exc.value.diagnostics[0].message
    with pytest.raises(RuleEngineError) as exc:
        compile_strategy({**ROTATION, "exit": ["bars_held > 5"]})
    assert [c for c, _ in _codes(exc)] == ["S143"]


def test_the_turnover_band_may_be_a_parameter() -> None:
    md = _everyone(3)
    doc = {**ROTATION, "params": {**ROTATION["params"], "band": {"type": "float", "min": 0, "max": 50, "default": 0}},
           "rotation": {**ROTATION["rotation"], "rebalance": "1Week", "min_weight_change_pct": "band"}}
    every = backtest(doc, md, benchmark=None)
    banded = backtest(doc, md, benchmark=None, params={"band": 40})
    assert len(banded.orders) < len(every.orders)
    fixed = backtest({**doc, "rotation": {**doc["rotation"], "min_weight_change_pct": 40}}, md, benchmark=None)
    assert banded.equity == fixed.equity
    with pytest.raises(RuleEngineError) as exc:  # a parameter that could leave [0, 100)
        load_strategy({**doc, "params": {**doc["params"], "band": {"type": "float", "default": 2}}})
    assert [c for c, _ in _codes(exc)] == ["S142"]
