"""Live signals of a rotation portfolio (`ruleengine.rotation_plan`, ``ruleengine signals``) and the agent tools
on rotations (backtest_strategy, get_strategy_signals), on the real prices of the committed sample (QQQ, SPY,
XLE, XLF, 2011-07 .. 2013-06) or ../shared/data.

The oracle: the backtest's own target weights (`rotation_weights` over all the data) on the same bars, and a
hand-written pandas ranking of the rate of change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import ruleengine
from ruleengine import compile_strategy, rotation_plan, tools
from ruleengine.data.market import load_market_data
from ruleengine.errors import RuleEngineError

RULE = "rules/momentum_rotation.yaml"
SYMBOLS = ["QQQ", "SPY", "XLE", "XLF"]
PARAMS = {"lookback": 20, "n": 2}


@pytest.fixture(scope="module")
def full(real_daily: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The backtest's target weights and closes over the whole sample (the oracle of every cut)."""
    compiled = compile_strategy(RULE)
    md = load_market_data(compiled.data_request(PARAMS), SYMBOLS, "2012-01-03", "2013-06-27", data=str(real_daily))
    weights, _ = compiled.rotation_weights(md, PARAMS)
    days = md.index.tz_convert("UTC").tz_localize(None).normalize()
    return (pd.DataFrame(weights, index=days, columns=md.labels),
            pd.DataFrame(md.inputs[("prices", "close")], index=days, columns=md.labels))


def _plan(real_daily: Path, asof: str) -> ruleengine.RotationPlan:
    return rotation_plan(RULE, ",".join(SYMBOLS), asof=asof, data=str(real_daily), params=PARAMS)


def test_on_a_rebalance_bar_the_plan_is_the_backtests_orders(full, real_daily: Path) -> None:
    weights, _ = full
    ends = weights.dropna(how="all").index
    day, before = ends[-2], ends[-3]  # 2013-05-31, 2013-04-30: bars with data after them (a cut, not the end)
    plan = _plan(real_daily, str(day.date()))
    assert plan.rebalance_today and plan.last_rebalance == str(day.date())
    assert plan.next_rebalance == str(ends[-1].date())  # the next month's last session (2013-06-28)
    target = {t.symbol: t.weight for t in plan.targets if t.weight > 0}
    assert target == {s: w for s, w in weights.loc[day].items() if w > 0}
    # "now": the targets of the last rebalance at or before the bar, which is this one
    assert {t.symbol: t.held_weight for t in plan.targets if t.held_weight > 0} == target
    prev = _plan(real_daily, str((day - pd.Timedelta(days=1)).date()))  # the evening before: the old targets
    assert {t.symbol: t.held_weight for t in prev.targets if t.held_weight > 0} == \
        {s: w for s, w in weights.loc[before].items() if w > 0}
    assert not prev.rebalance_today and prev.next_rebalance == str(day.date())


def test_between_rebalances_the_plan_ranks_todays_data_with_reasons(full, real_daily: Path) -> None:
    weights, close = full
    day = pd.Timestamp("2013-06-12")
    plan = _plan(real_daily, str(day.date()))
    roc = (close / close.shift(20) - 1).loc[day] * 100  # the expression's values on the bar (roc is in %)
    order = roc.sort_values(ascending=False, kind="stable")
    assert plan.ranked_by == "roc(close, lookback)"
    chosen = set(order.index[:2])
    assert {t.symbol for t in plan.targets if t.weight > 0} == chosen
    held = {s for s, w in weights.loc["2013-05-31"].items() if w > 0}
    assert set(plan.buy) == chosen - held and set(plan.sell) == held - chosen and (plan.buy or plan.sell)
    for t in plan.targets:
        assert t.value == pytest.approx(roc[t.symbol], rel=1e-12)
        assert t.rank == list(order.index).index(t.symbol) + 1
        assert f"rank {t.rank}" in t.reason
    assert "next rebalance 2013-06-28" in plan.text and "buy" in plan.text


def test_cli_prints_the_plan_and_refuses_to_store_it(real_daily: Path, tmp_path: Path) -> None:
    base = [sys.executable, "-m", "ruleengine.cli", "signals", RULE, "--symbols", ",".join(SYMBOLS), "--data",
            str(real_daily), "--asof", "2013-06-12", "--param", "lookback=20", "--param", "n=2"]
    env = {**os.environ, "PYTHONPATH": "src", "COLUMNS": "80"}
    text = subprocess.run(base, capture_output=True, text=True, env=env, timeout=300).stdout
    assert "next rebalance 2013-06-28" in text and "comes in" in text and "goes out" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    saved = subprocess.run([*base, "--save", "--db", str(tmp_path / "s.db"), "--json"], capture_output=True,
                           text=True, env=env, timeout=300)
    assert saved.returncode == 1 and json.loads(saved.stdout)["success"] is False


def test_entry_exit_scans_refuse_a_rotation_and_a_plan_needs_one(real_daily: Path) -> None:
    with pytest.raises(RuleEngineError) as exc:
        ruleengine.live_scan(RULE, ",".join(SYMBOLS), data=str(real_daily), asof="2013-06-12")
    assert [(d.code, d.path) for d in exc.value.diagnostics] == [("S143", "rotation")]
    assert "rotation_plan" in (exc.value.diagnostics[0].hint or "")
    with pytest.raises(RuleEngineError) as exc:
        rotation_plan("rules/golden_cross.yaml", "SPY", data=str(real_daily), asof="2013-06-12")
    assert [d.code for d in exc.value.diagnostics] == ["S143"]


# ---------------------------------------------------------------------------------------------- agent tools
def test_agent_tools_backtest_a_rotation_and_answer_with_its_plan(real_daily: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RULEENGINE_PROVIDER", "FMP_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RULEENGINE_DATA", str(real_daily))
    monkeypatch.setenv("RULEENGINE_DB", str(tmp_path / "store.db"))
    monkeypatch.setenv("RULEENGINE_CACHE_DIR", str(tmp_path / "cache"))
    from ruleengine.store import open_store

    sid = open_store().add_strategy(RULE, universe=",".join(SYMBOLS)).id
    params = [{"name": "lookback", "value": 20}, {"name": "n", "value": 2}]
    bt = tools.call("backtest_strategy", {"strategy_id": sid, "start_date": "2012-01-03", "end_date": "2013-06-27",
                                          "params": params})
    assert bt["success"] is True and bt["kind"] == "rotation", bt
    json.dumps(bt, allow_nan=False)
    assert bt["benchmark"]["symbol"] == "SPY" and bt["metrics"]["universe_benchmark_return_pct"] is not None
    assert bt["turnover_pct_per_year"] > 0 and len(bt["latest_holdings"]["weights"]) == 2
    assert bt["run_id"] == 1 and open_store().get_run(1).kind == "rotation"
    signals = tools.call("get_strategy_signals", {"strategy_id": sid, "asof": "2013-06-12"})
    assert signals["success"] is True and signals["kind"] == "rotation", signals
    # the stored strategy's defaults (top 10 by the 126-bar rate of change): all four names, each with its rank
    assert signals["strategy_id"] == sid and sorted(t["rank"] for t in signals["targets"]) == [1, 2, 3, 4]
    assert open_store().list_signals(sid) == []  # a plan is not stored as signals
