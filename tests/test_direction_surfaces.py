"""Where a strategy's direction shows outside the simulation: the long/short split of the metrics (result
model, JSON, HTML report rendered in headless Chromium, console), explain, the agent tools' summaries. A long
strategy's outputs stay as they were (no ``sides`` key, no direction in trades or risk)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support.browser import chromium, needs_chromium, report_status
from typer.testing import CliRunner

import ruleengine
from ruleengine.backtest.metrics import side_metrics
from ruleengine.backtest.report import render_report, write_report
from ruleengine.cli import app
from ruleengine.llm.handlers import backtest_summary

SHORT = """
name: cross seller
direction: short
data: {prices: {kind: ohlcv}}
entry: ['crosses_below(sma(close, 10), sma(close, 30))']
exit: ['crosses_above(sma(close, 10), sma(close, 30))']
risk: {fees_pct: 0.1}
"""
LONG = SHORT.replace("direction: short\n", "")
TRADE_FIELDS = ("total_trades", "winning_trades", "losing_trades", "win_rate", "avg_win_pct", "avg_loss_pct",
                "profit_factor", "best_trade_pct", "worst_trade_pct", "avg_holding_bars", "avg_holding_days")


@pytest.fixture(scope="module")
def runs(real_daily: Path) -> dict[str, ruleengine.BacktestResult]:
    def bt(doc: str, **kw: object) -> ruleengine.BacktestResult:
        return ruleengine.backtest(doc, "SPY", "2013-01-01", "2014-11-28", data=str(real_daily), benchmark=None,
                                   **kw)
    return {"short": bt(SHORT), "long": bt(LONG), "portfolio": ruleengine.backtest(
        SHORT, "SPY,QQQ", "2013-01-01", "2014-11-28", data=str(real_daily), portfolio=True, benchmark=None)}


def test_side_metrics_by_hand() -> None:
    day = np.int64(86_400 * 10**9)
    trades = {"pnl": np.array([10.0, -5.0, 20.0, -2.0]), "pnl_pct": np.array([1.0, -0.5, 2.0, -0.2]),
              "entry_bar": np.array([0, 3, 6, 9]), "exit_bar": np.array([2, 4, 8, 12]),
              "entry_time": np.array([0, 3, 6, 9]) * day, "exit_time": np.array([2, 4, 8, 12]) * day}
    sides = side_metrics(trades, np.array([False, True, True, False]))
    long, short = sides["long"], sides["short"]
    assert (long.total_trades, long.winning_trades, long.losing_trades, long.win_rate) == (2, 1, 1, 50.0)
    assert (long.pnl, long.profit_factor, long.avg_holding_bars, long.avg_holding_days) == (8.0, 5.0, 2.5, 2.5)
    assert (short.pnl, short.profit_factor, short.best_trade_pct, short.worst_trade_pct) == (15.0, 4.0, 2.0, -0.5)
    empty = side_metrics(trades, np.zeros(4, bool))["short"]
    assert (empty.total_trades, empty.win_rate, empty.pnl, empty.profit_factor) == (0, None, 0.0, None)


def test_a_short_run_splits_its_trades_by_side_and_a_long_run_reads_as_before(runs) -> None:
    run = runs["short"].results[0]
    assert run.trades and all(t.direction == "short" for t in run.trades)
    short, long = run.sides["short"], run.sides["long"]
    m = run.metrics.model_dump()
    assert {k: getattr(short, k) for k in TRADE_FIELDS} == {k: m[k] for k in TRADE_FIELDS}
    assert short.pnl == pytest.approx(sum(t.pnl for t in run.trades))
    assert long.total_trades == 0 and long.pnl == 0.0
    out = json.loads(runs["short"].to_json())["results"][0]
    assert set(out["sides"]) == {"long", "short"} and out["risk"]["direction"] == "short"
    long_json = json.loads(runs["long"].to_json())["results"][0]
    assert "sides" not in long_json and "direction" not in long_json["risk"]
    assert all("direction" not in t for t in long_json["trades"])
    assert runs["long"].results[0].sides is None
    # a portfolio of short positions has the split too
    port = runs["portfolio"].results[0]
    assert port.sides["short"].total_trades == port.metrics.total_trades > 0


def test_the_report_marks_short_trades_and_shows_the_split(runs) -> None:
    text = render_report(runs["short"])
    assert "<h3>Long / short</h3>" in text and "<th>profit factor</th>" in text
    assert '"name":"short entry"' in text and "<th>direction</th>" in text
    assert "Short positions (direction: short" in text  # the contract's addendum
    plain = render_report(runs["long"])
    assert "Long / short" not in plain and '"name":"short entry"' not in plain and "<th>direction</th>" not in plain


@needs_chromium
def test_a_short_report_renders_in_headless_chromium(runs, tmp_path: Path) -> None:
    path = Path(write_report(runs["short"], tmp_path / "short.html"))
    dump = chromium("--dump-dom", path.resolve().as_uri(), cwd=tmp_path)
    assert dump.returncode == 0 and "Uncaught" not in dump.stderr, dump.stderr[-2000:]
    assert report_status(dump.stdout) == "ok 1"
    # equity, benchmark (its own symbol), drawdown, price, short entries, exits: all drawn
    assert dump.stdout.count('class="trace scatter') == 6
    assert ">short entry</text>" in dump.stdout  # in the legend


def test_the_console_shows_the_split_for_a_short_strategy(real_daily: Path, tmp_path: Path) -> None:
    doc = tmp_path / "short.yaml"
    doc.write_text(SHORT, encoding="utf-8")
    args = ["backtest", str(doc), "--symbols", "SPY", "--start", "2013-01-01", "--end", "2014-11-28", "--data",
            str(real_daily)]
    out = CliRunner().invoke(app, args).output
    assert "long / short" in out and "SPY short" in out
    doc.write_text(LONG, encoding="utf-8")
    assert "long / short" not in CliRunner().invoke(app, args).output


def test_explain_says_the_direction_and_what_each_group_does() -> None:
    text = ruleengine.explain_text(SHORT)
    assert "direction: short: the entry conditions sell short, the exit conditions buy to cover" in text
    assert "entry (sell short): all of (AND)" in text and "exit (buy to cover): any of (OR)" in text
    assert ruleengine.explain(SHORT)["direction"] == "short"
    long = ruleengine.explain_text(LONG)
    assert "direction: long: the entry conditions buy" in long and "entry: all of (AND)" in long


def test_the_agent_tools_summary_carries_the_direction_and_the_split(runs) -> None:
    short = backtest_summary(runs["short"])
    assert short["direction"] == "short" and set(short["runs"][0]["sides"]) == {"long", "short"}
    assert all(t["direction"] == "short" for t in short["runs"][0]["best_trades"])
    long = backtest_summary(runs["long"])
    assert long["direction"] == "long" and "sides" not in long["runs"][0]
