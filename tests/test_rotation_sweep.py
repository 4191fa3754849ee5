"""Sweeps and walk-forward of rotation portfolios (issue 17 item 6): `ruleengine.sweep.rotation`.

Oracle: every row of a rotation sweep is the backtest of that parameter set (the same equity, so the same metrics
bit for bit); the rebalance period and the turnover band sweep as enum / number parameters; a walk-forward's
out-of-sample window is the same portfolio traded from the window's first bar.
"""

from __future__ import annotations

import numpy as np
import pytest

import ruleengine
from ruleengine import backtest, compile_strategy
from ruleengine.errors import RuleEngineError

SYMBOLS = "QQQ,SPY,XLE,XLF"  # in the committed sample and the full data, 2011-07 .. 2013-06
START, END = "2011-07-01", "2013-06-27"
DOC = {"name": "rotation sweep", "data": {"prices": {"kind": "ohlcv", "columns": ["open", "close"]}},
       "params": {"lookback": {"type": "int", "min": 2, "max": 100, "default": 20},
                  "n": {"type": "int", "min": 1, "max": 3, "default": 2},
                  "every": {"type": "enum", "values": ["1Week", "1Month"], "default": "1Month"},
                  "band": {"type": "float", "min": 0, "max": 10, "default": 0}},
       "rotation": {"rebalance": "every", "hold": "top(roc(close, lookback), n)", "min_weight_change_pct": "band"},
       "risk": {"fees_pct": 0.1}}
GRID = {"n": [1, 2], "lookback": [10, 20], "every": ["1Week", "1Month"], "band": [0, 5],
        "execution_price": ["close", "open"], "fees_pct": [0.1, 0.5]}


def _codes(exc: pytest.ExceptionInfo[RuleEngineError]) -> list[tuple[str, str | None]]:
    return [(d.code, d.path) for d in exc.value.diagnostics]


def test_each_row_is_the_backtest_of_its_parameters(real_daily) -> None:
    res = ruleengine.sweep(DOC, SYMBOLS, START, END, data=str(real_daily), grid=GRID)
    assert res.rotation and res.n_trials == 64 and list(res.table["symbol"].unique()) == ["portfolio"]
    assert "total_trades" not in res.table and "turnover_pct_per_year" in res.table
    # the selections are shared: 4 distinct (n, lookback) sets for 64 combinations
    for rank in (1, 2, 17, 40, 64):
        params = res.params_of(rank)
        one = backtest(DOC, SYMBOLS, START, END, data=str(real_daily), params=params, benchmark=None)
        row = res.table.iloc[rank - 1]
        for name in res.metric_columns:
            got = getattr(one.metrics, name, None) if name != "turnover_pct_per_year" else one.turnover_pct_per_year
            assert (np.isnan(row[name]) and got is None) or row[name] == got, (params, name, row[name], got)
    detail = res.detail(1, benchmark=None)  # re-runs the portfolio over the same universe
    assert detail.kind == "rotation" and detail.metrics.final_equity == res.table.iloc[0]["final_equity"]


def test_the_json_and_the_ranking_say_it_is_a_portfolio(real_daily) -> None:
    res = ruleengine.sweep(DOC, SYMBOLS, START, END, data=str(real_daily), grid={"n": [1, 2]},
                           metric="turnover_pct_per_year")
    d = res.to_dict()
    assert d["kind"] == "rotation" and d["n_symbols"] == 1 and d["rows"][0]["symbol"] == "portfolio"
    assert d["rows"][0]["turnover_pct_per_year"] >= d["rows"][1]["turnover_pct_per_year"]


def test_walk_forward_chooses_in_sample_and_runs_the_choice_out_of_sample(real_daily) -> None:
    wf = ruleengine.walk_forward(DOC, SYMBOLS, START, END, data=str(real_daily),
                                 grid={"n": [1, 2], "lookback": [10, 20]}, walk_forward="train=126,test=63",
                                 holdout=63, pbo_splits=4)
    assert wf.folds and wf.overfit.pbo is not None and wf.overfit.dsr is not None
    assert list(wf.stitched.columns) == ["portfolio"]
    md = wf.sweep.context  # the hold-out: the in-sample best, traded from the hold-out's first bar
    assert wf.holdout is not None and wf.holdout["bars"] == 63 and md["runs"] == {"portfolio": SYMBOLS}
    fold = wf.folds[0]
    chosen = wf.sweep.combinations  # every fold's choice is a combination of the grid
    assert fold.params in [{k: c[k] for k in ("n", "lookback")} for c in chosen]
    assert fold.oos_metrics["final_equity"] > 0 and "turnover_pct_per_year" in fold.oos_metrics


def test_a_window_is_the_portfolio_traded_from_its_first_bar(real_daily) -> None:
    """The out-of-sample run of a window [r0, r1): flat with the initial cash at r0, the data up to r1."""
    from ruleengine.data.market import load_market_data
    from ruleengine.sweep.rotation import rotation_equity

    compiled = compile_strategy(DOC)
    md = load_market_data(compiled.data_request().with_overrides(warmup_bars=30), SYMBOLS, START, END,
                          data=str(real_daily))
    r0, r1 = md.start + 100, md.start + 200
    params = {"n": 1, "lookback": 10, "every": "1Week"}
    equity, _, _ = rotation_equity(compiled, md, [params], r0, r1, 10_000.0)
    from dataclasses import replace

    # the same run as a backtest of the market whose requested range is the window
    window = replace(md.head(r1), start=r0)
    one = backtest(DOC, window, params=params, benchmark=None)
    np.testing.assert_array_equal(equity[:, 0], one.equity)


def test_risk_fields_a_rotation_does_not_have_are_refused(real_daily) -> None:
    with pytest.raises(RuleEngineError) as exc:
        ruleengine.sweep(DOC, SYMBOLS, START, END, data=str(real_daily), grid={"stop_loss_pct": [5, 10]})
    assert _codes(exc) == [("S143", "grid.stop_loss_pct")]
    with pytest.raises(RuleEngineError) as exc:
        ruleengine.sweep(DOC, SYMBOLS, START, END, data=str(real_daily), grid={"n": [1, 2]}, metric="win_rate")
    assert _codes(exc) == [("D122", "metric")] and "orders, not trades" in (exc.value.diagnostics[0].hint or "")


def test_rebalance_names_an_enum_parameter_of_periods() -> None:
    bad = {**DOC, "params": {**DOC["params"], "every": {"type": "enum", "values": ["1Week", "2Week"],
                                                        "default": "1Week"}}}
    for doc in (bad, {**DOC, "rotation": {**DOC["rotation"], "rebalance": "evry"}}):
        with pytest.raises(RuleEngineError) as exc:
            compile_strategy(doc)
        assert [c for c, _ in _codes(exc)] == ["S142"]
    with pytest.raises(RuleEngineError) as exc:
        compile_strategy({**DOC, "rotation": {**DOC["rotation"], "rebalance": "evry"}})
    assert "every" in (exc.value.diagnostics[0].hint or "")


# ------------------------------------------------------------------------------ code: generate_weights
WEIGHTS_CODE = '''
import pandas as pd

WARMUP_BARS = 40


def generate_weights(data, params):
    close = data["prices"]["close"]
    roc = close / close.shift(params["lookback"]) - 1
    held = roc.rank(axis=1, ascending=False, method="first") <= params["n"]
    count = held.sum(axis=1)
    return held.astype(float).div(count.where(count > 0, 1), axis=0)
'''
RULES = {**DOC, "params": {k: v for k, v in DOC["params"].items() if k in ("lookback", "n")},
         "rotation": {"rebalance": "1Month", "hold": "top(roc(close, lookback), n)"}}
CODED = {**RULES, "rotation": {"rebalance": "1Month"}, "code": WEIGHTS_CODE}


def _code(body: str) -> dict:
    return {**CODED, "code": WEIGHTS_CODE.replace("    return held.astype(float).div(count.where(count > 0, 1), "
                                                  "axis=0)\n", body)}


def test_generate_weights_equals_the_rule_rotation_and_sweeps(real_daily) -> None:
    rules = backtest(RULES, SYMBOLS, START, END, data=str(real_daily), benchmark=None)
    code = backtest(CODED, SYMBOLS, START, END, data=str(real_daily), benchmark=None)
    assert code.kind == "rotation" and len(code.orders) > 20
    assert code.equity == rules.equity and code.orders == rules.orders
    res = ruleengine.sweep(CODED, SYMBOLS, START, END, data=str(real_daily), grid={"n": [1, 2]})
    one = backtest(CODED, SYMBOLS, START, END, data=str(real_daily), params=res.params_of(2), benchmark=None)
    assert res.table.iloc[1]["final_equity"] == one.metrics.final_equity


def test_the_shipped_code_rotation_is_the_rule_rotation(real_daily) -> None:
    """rules/code_momentum_rotation.yaml (generate_weights) trades rules/momentum_rotation.yaml's orders exactly."""
    kw = {"data": str(real_daily), "params": {"n": 2, "lookback": 20}, "benchmark": None}
    rules = backtest("rules/momentum_rotation.yaml", SYMBOLS, START, END, **kw)
    code = backtest("rules/code_momentum_rotation.yaml", SYMBOLS, START, END, **kw)
    assert code.kind == "rotation" and len(code.orders) > 20
    assert code.equity == rules.equity and code.orders == rules.orders


@pytest.mark.parametrize(("body", "words"), [
    ("    return held.astype(float).div(count, axis=0)\n", "must be a number"),  # 0 / 0 before the lookback
    ("    return -held.astype(float)\n", ">= 0"),
    ("    return held.astype(float)\n", "sum to"),
    ("    return held.astype(float).iloc[:, 1:]\n", "missing"),
    ("    return held.astype(float).iloc[5:]\n", "keep the data index"),
    ("    return count\n", "must return a DataFrame"),
], ids=["nan", "negative", "above-1", "symbol-missing", "rows", "series"])
def test_bad_weights_are_refused_with_a_contract_error(real_daily, body: str, words: str) -> None:
    with pytest.raises(RuleEngineError) as exc:
        backtest(_code(body), SYMBOLS, START, END, data=str(real_daily), benchmark=None)
    d = exc.value.diagnostics[0]
    assert d.code == "X126" and words in d.message, d.message


def test_weights_that_look_ahead_are_refused(real_daily) -> None:
    """The truncation check of signals applies to weights: the last bar's prices must not pick a holding."""
    ahead = _code("    last = close.loc[close.index[len(close) - 1]]\n"  # the last bar's prices, seen from every bar
                  "    held = (close / last).rank(axis=1, ascending=False, method='first') <= 1\n"
                  "    return held.astype(float)\n")
    with pytest.raises(RuleEngineError) as exc:
        backtest(ahead, SYMBOLS, START, END, data=str(real_daily), benchmark=None)
    assert [d.code for d in exc.value.diagnostics] == ["X129"]
    assert "weights of" in exc.value.diagnostics[0].message


def test_code_rotations_define_generate_weights_and_no_rule_selection() -> None:
    with pytest.raises(RuleEngineError) as exc:  # the static check: the function a rotation's code defines
        compile_strategy({**CODED, "code": "def generate_signals(data, params):\n    return 1, 2\n"})
    assert [d.code for d in exc.value.diagnostics] == ["X102"]
    assert "generate_weights" in exc.value.diagnostics[0].message
    with pytest.raises(RuleEngineError) as exc:
        compile_strategy({**CODED, "rotation": {"rebalance": "1Month", "hold": "top(close, 1)"}})
    assert [c for c, _ in _codes(exc)] == ["S143"]
    with pytest.raises(RuleEngineError) as exc:
        compile_strategy({**RULES, "rotation": {"rebalance": "1Month"}})  # rules without a selection
    assert [c for c, _ in _codes(exc)] == ["S142"]
    assert "generate_weights runs in the sandbox" in ruleengine.explain_text(CODED)
    assert ruleengine.explain(CODED)["rotation"]["weights"] == "generate_weights"
