"""A rotation portfolio's outputs (issue 17): the index-like benchmark beside the equal-weight universe, the
store (``backtest --save``, ``runs list`` / ``runs show``), the HTML report (drawn in headless Chromium).

Real prices of the committed sample (QQQ, SPY, XLE, XLF, 2011-07 .. 2013-06) or ../shared/data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.browser import chromium, needs_chromium, report_status

from ruleengine import backtest, compile_strategy
from ruleengine.backtest.rotation import RotationResult
from ruleengine.data.market import load_market_data
from ruleengine.errors import RuleEngineError
from ruleengine.store import open_store
from ruleengine.store.store import store_backtest

ROTATION = {"name": "rotation", "data": {"prices": {"kind": "ohlcv", "columns": ["open", "close"]}},
            "params": {"lookback": {"type": "int", "default": 20}, "n": {"type": "int", "default": 2}},
            "rotation": {"rebalance": "1Month", "hold": "top(roc(close, lookback), n)"},
            "risk": {"fees_pct": 0.1}}
SYMBOLS = ["QQQ", "XLE", "XLF"]  # SPY stays out: the benchmark is fetched on its own, not taken from the universe
CLI = [sys.executable, "-m", "ruleengine.cli"]


@pytest.fixture(scope="module")
def result(real_daily: Path) -> RotationResult:
    res = backtest(ROTATION, SYMBOLS, "2012-01-03", "2013-06-27", data=str(real_daily))
    assert isinstance(res, RotationResult)
    return res


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": "src", "COLUMNS": "80"})


# ---------------------------------------------------------------------------------------------- benchmarks
def test_the_index_benchmark_is_spy_bought_and_held_over_the_same_bars(result: RotationResult, real_daily) -> None:
    spy = load_market_data(compile_strategy(ROTATION).data_request(), "SPY", "2012-01-03", "2013-06-27",
                           data=str(real_daily))
    close = spy.inputs[("prices", "close")][spy.start:, 0]
    assert result.times == [t.strftime("%Y-%m-%d %H:%M") for t in spy.index[spy.start:]]  # the same sessions
    assert result.benchmark.symbol == "SPY"
    np.testing.assert_allclose(result.benchmark_equity, 10_000.0 * close / close[0], rtol=1e-15)
    assert result.metrics.benchmark_return_pct == pytest.approx((close[-1] / close[0] - 1) * 100, rel=1e-12)
    # the universe's equal-weight buy and hold stays beside it, from the same cash
    assert result.universe_equity[0] == pytest.approx(10_000.0)
    assert result.metrics.universe_benchmark_return_pct == pytest.approx(
        (result.universe_equity[-1] / 10_000.0 - 1) * 100, rel=1e-12)
    assert len(result.equity) == len(result.times) == len(result.universe_equity) == len(result.benchmark_equity)


def test_without_the_benchmark_symbol_a_warning_says_so_and_the_universe_stays(real_daily) -> None:
    res = backtest(ROTATION, SYMBOLS, "2012-01-03", "2013-06-27", data=str(real_daily), benchmark="NOSUCH")
    assert res.benchmark.symbol is None and res.benchmark_equity is None
    assert res.metrics.benchmark_return_pct is None and res.universe_equity
    (d121,) = [w for w in res.warnings if w["code"] == "D121"]
    assert "no index-like benchmark" in d121["message"]


# ---------------------------------------------------------------------------------------------- the store
def test_save_stores_the_rotation_and_runs_show_prints_it(tmp_path: Path, real_daily) -> None:
    db = str(tmp_path / "runs.db")
    out = _cli("backtest", "rules/momentum_rotation.yaml", "--symbols", ",".join(SYMBOLS), "--data", str(real_daily),
               "--param", "lookback=20", "--param", "n=2", "--save", "--db", db, "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    printed = json.loads(out.stdout)
    assert printed["benchmark"]["symbol"] == "SPY" and printed["metrics"]["benchmark_return_pct"] is not None
    run_id = printed["saved"]["run_id"]
    rec = open_store(db).get_run(run_id)
    assert rec.kind == "rotation" and rec.runs == 1 and rec.total_trades == 0 and rec.win_rate is None
    assert rec.symbols == ",".join(SYMBOLS) and rec.synthetic is False and rec.data_providers == {"prices": "local"}
    assert rec.total_return_pct == pytest.approx(printed["metrics"]["total_return_pct"], rel=1e-12)
    stored = rec.backtest_result()
    assert isinstance(stored, RotationResult)
    # holdings, orders and turnover come back as they were computed
    assert stored.holdings == RotationResult.model_validate(printed).holdings
    assert [o.model_dump() for o in stored.orders] == printed["orders"]
    assert stored.turnover_pct_per_year == printed["turnover_pct_per_year"]
    shown = _cli("runs", "show", str(run_id), "--db", db)
    assert shown.returncode == 0, shown.stderr
    assert "rotation over 3 symbols" in shown.stdout and "turnover per year" in shown.stdout
    assert "latest holdings" in shown.stdout
    assert "benchmark SPY (buy & hold)" in shown.stdout and "universe, equal weight" in shown.stdout
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80
    listed = _cli("runs", "list", "--db", db, "--json")
    assert json.loads(listed.stdout)["runs"][0]["kind"] == "rotation"


def test_a_rotation_on_synthetic_data_is_not_stored(tmp_path: Path) -> None:
    res = backtest(ROTATION, "AAA,BBB,CCC", "2020-01-01", "2020-12-31", provider="sample")
    assert res.synthetic
    with pytest.raises(RuleEngineError) as exc:
        store_backtest(ROTATION, res, str(tmp_path / "s.db"))
    assert [d.code for d in exc.value.diagnostics] == ["T110"]
    assert not (tmp_path / "s.db").exists()


# ---------------------------------------------------------------------------------------------- the report
def test_report_holds_the_curves_holdings_turnover_and_contribution(result: RotationResult) -> None:
    from ruleengine.backtest.rotation_report import render_rotation_report

    page = render_rotation_report(result)
    assert page.count("plotly.js v") <= 1  # plotly.js inline once
    for text in ("Equity vs benchmarks", "benchmark SPY", "universe equal weight", "Holdings over time",
                 "Turnover per rebalance", "Contribution by symbol", "Latest holdings", "Fill contract",
                 "data-charts='4'"):
        assert text in page, text


@needs_chromium
def test_rotation_report_renders_in_headless_chromium(result: RotationResult, tmp_path: Path) -> None:
    path = Path(result.write_report(str(tmp_path / "rotation.html")))
    dump = chromium("--dump-dom", path.resolve().as_uri(), cwd=tmp_path)
    assert report_status(dump.stdout) == "ok 4", dump.stderr[-2000:]
