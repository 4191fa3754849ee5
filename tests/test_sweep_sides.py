"""A sweep reports what a backtest reports for positions (issue 16): the long/short split of a strategy that
trades short (the sweep table's SIDE_METRICS equal `RunResult.sides` of the same combination's backtest) and
warning L123 (distances unusable at an entry: the fused kernel's counts equal the backtest's)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from test_exits import ATR_EXITS
from test_sweep_engine import assert_same_metrics, assert_same_sides

from ruleengine.errors import RuleEngineError
from ruleengine.sweep.run import sweep
from ruleengine.sweep.stats import SIDE_METRICS

RULES = Path(__file__).resolve().parents[1] / "rules"
RANGE = ("2012-01-01", "2016-12-31")
CROSS_DOWN = "crosses_below(sma(close, 10), sma(close, 30))"
#: ATR_EXITS (a stop 2 x ATR below the entry, fixed at the entry; exits on position variables) trading both ways
ATR_LONG_SHORT = {**ATR_EXITS, "direction": "long_short", "short_entry": [CROSS_DOWN]}


@pytest.mark.parametrize("strategy", [str(RULES / "sma_long_short.yaml"), ATR_LONG_SHORT],
                         ids=["sma_long_short", "atr_distance_long_short"])
def test_long_short_split_of_every_row_equals_the_backtest(strategy) -> None:
    grid = {"fast": [5, 10], "slow": [20, 40]} if isinstance(strategy, str) else {"k": [1.0, 2.5], "hold": [5, 40]}
    res = sweep(strategy, "AAPL", *RANGE, provider="sample", grid=grid, metric="short_pnl")
    assert res.sides and len(res.table) == 4
    assert list(res.table.columns[-len(SIDE_METRICS):]) == list(SIDE_METRICS)
    assert res.table["short_pnl"].is_monotonic_decreasing  # ranked by a side's metric
    for rank in range(1, 5):
        row = res.table.iloc[rank - 1]
        run = res.detail(rank, benchmark=None).results[0]
        assert_same_metrics(row, run.metrics, f"rank {rank}")
        assert_same_sides(row, run, f"rank {rank}")
        assert row["long_trades"] + row["short_trades"] == row["total_trades"]
        assert row["long_trades"] > 0 and row["short_trades"] > 0
    json_row = res.rows(1)[0]
    assert isinstance(json_row["long_trades"], int) and set(SIDE_METRICS) <= set(json_row)
    assert set(SIDE_METRICS) <= set(res.by_combination.columns)


def test_a_long_strategy_table_is_unchanged_and_has_no_side_metric() -> None:
    rule = str(RULES / "golden_cross.yaml")
    res = sweep(rule, "AAPL", *RANGE, provider="sample", grid={"fast": [5, 10], "slow": [30]})
    assert not res.sides and not set(SIDE_METRICS) & set(res.table.columns)
    with pytest.raises(RuleEngineError) as err:
        sweep(rule, "AAPL", *RANGE, provider="sample", grid={"fast": [5]}, metric="short_pnl")
    [d] = err.value.diagnostics
    assert d.code == "D122" and "short or long_short" in (d.hint or "")


#: a stop distance that falls to zero or below on calm bars (the larger m, the more often): L123 entries
UNUSABLE = {**ATR_EXITS, "params": {**ATR_EXITS["params"], "m": {"type": "float", "min": 0, "max": 5, "default": 1}},
            "exit": [CROSS_DOWN],
            "risk": {"stop_loss_distance": "atr(high, low, close, 14) - m * stddev(close, 5)",
                     "take_profit_distance": "4 * atr(high, low, close, 14) - 2 * m * stddev(close, 5)"}}


def _backtest_count(result: Any, kind: str) -> int:
    """Trades the backtest's L123 warning of `kind` counts (0 without the warning)."""
    found = [w for w in result.warnings if w["code"] == "L123" and w["path"] == f"risk.{kind}"]
    if not found:
        return 0
    count = re.match(r"(\d+) trade", found[0]["message"])
    assert count is not None, found[0]["message"]
    return int(count.group(1))


@pytest.mark.parametrize("execution_price", ["close", "open"])
def test_l123_counts_equal_the_backtest(execution_price) -> None:
    res = sweep(UNUSABLE, "SPY", *RANGE, provider="sample", grid={"m": [0.0, 1.5, 3.0]},
                params={"execution_price": execution_price})
    found = {w["path"]: w for w in res.warnings if w["code"] == "L123"}
    for kind in ("stop_loss_distance", "take_profit_distance"):
        counts = {}
        for rank in range(1, 4):
            run = res.detail(rank, benchmark=None)
            counts[int(res.table.iloc[rank - 1]["combination"])] = _backtest_count(run, kind)
        hit = sum(1 for n in counts.values() if n)
        assert hit >= 1 and counts[0] == 0, (kind, counts)  # m = 0: the ATR is always positive
        w = found[f"risk.{kind}"]
        worst = max(counts, key=lambda c: (counts[c], -c))
        assert w["severity"] == "warning" and w["stage"] == "sweep"
        assert w["message"].startswith(f"{hit} of 3 combinations had trades with no ")
        assert f"most: combination {worst} (m={res.combinations[worst]['m']}), {counts[worst]} trade" in w["message"]


def test_no_l123_when_every_distance_was_usable() -> None:
    res = sweep(UNUSABLE, "SPY", *RANGE, provider="sample", grid={"m": [0.0]})
    assert not [w for w in res.warnings if w["code"] == "L123"]


def test_cli_prints_the_split_and_l123_and_json_carries_them(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from ruleengine.cli import app

    runner = CliRunner()
    args = ["sweep", str(RULES / "sma_long_short.yaml"), "--symbols", "AAPL", "--provider", "sample", "--start",
            RANGE[0], "--end", RANGE[1], "--grid", "fast=5,10", "--grid", "slow=20,40", "--executor", "threads"]
    out = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.stdout
    assert "long / short of the top 4: trades, win rate, pnl" in out.stdout
    assert max(map(len, out.stdout.splitlines())) <= 80
    rows = json.loads(runner.invoke(app, [*args, "--json"]).stdout)["rows"]
    assert all(r["long_trades"] + r["short_trades"] == r["total_trades"] for r in rows)
    doc = tmp_path / "unusable.json"
    doc.write_text(json.dumps(UNUSABLE))
    args = ["sweep", str(doc), "--symbols", "SPY", "--provider", "sample", "--start", RANGE[0], "--end", RANGE[1],
            "--grid", "m=0,3", "--executor", "threads"]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.stdout
    assert "warning[L123]: 1 of 2 combinations had trades with no stop loss" in out.stdout
    assert "long / short" not in out.stdout  # a long strategy: no split
    warnings = json.loads(runner.invoke(app, [*args, "--json"]).stdout)["warnings"]
    assert {w["path"] for w in warnings if w["code"] == "L123"} == {"risk.stop_loss_distance",
                                                                   "risk.take_profit_distance"}


def test_walk_forward_ranks_and_reports_a_side_metric() -> None:
    from ruleengine.sweep.walkforward import walk_forward

    wf = walk_forward(str(RULES / "sma_long_short.yaml"), "AAPL", *RANGE, provider="sample",
                      grid={"fast": [5, 10], "slow": [20, 40]}, metric="long_pnl",
                      walk_forward="train=504,test=252", holdout="20%")
    assert wf.folds and all(set(SIDE_METRICS) <= set(f.oos_metrics) for f in wf.folds)
    assert wf.holdout is not None and wf.holdout["oos"]["long_trades"] >= 0


def test_walk_forward_says_which_fold_had_unusable_distances() -> None:
    """L123 per walk-forward fold and hold-out: each out-of-sample run's warning counts the trades the same
    combination's backtest over that window counts (the in-sample search's warning covers its rows only)."""
    import ruleengine
    from ruleengine.sweep.walkforward import walk_forward

    wf = walk_forward(UNUSABLE, "SPY", *RANGE, provider="sample", grid={"m": [3.0]},
                      walk_forward="train=504,test=126", holdout="20%")
    fold_warnings = [w for f in wf.folds for w in f.warnings]
    assert fold_warnings, "m = 3 makes the distances unusable on calm bars: some test window has such trades"
    assert wf.holdout is not None
    for k, fold in enumerate(wf.folds):
        run = ruleengine.backtest(UNUSABLE, "SPY", *fold.test_dates, provider="sample", benchmark=None,
                                  params={"m": 3.0})
        for kind in ("stop_loss_distance", "take_profit_distance"):
            found = [w for w in fold.warnings if w["path"] == f"walk_forward.folds[{k}].risk.{kind}"]
            expected = _backtest_count(run, kind)
            assert len(found) == (expected > 0), (k, kind)
            if found:
                message = found[0]["message"]
                assert message.startswith(f"walk-forward fold {k + 1} test {fold.test_dates[0]} .. "
                                          f"{fold.test_dates[1]}, the chosen combination: trades with no ")
                assert f"({expected} trade" in message, (message, expected)
                assert found[0]["code"] == "L123" and found[0]["severity"] == "warning"
    out = wf.to_dict()
    assert out["warnings"] == wf.warnings and [w for w in fold_warnings if w in out["warnings"]] == fold_warnings
    assert out["walk_forward"]["folds"][0]["warnings"] == wf.folds[0].warnings
    assert all(w["path"].startswith("holdout.") for w in wf.holdout["warnings"])


def test_sweep_report_shows_the_long_short_split_of_the_top_rows() -> None:
    from ruleengine.sweep.report import render_sweep_report

    res = sweep(str(RULES / "sma_long_short.yaml"), "AAPL", *RANGE, provider="sample",
                grid={"fast": [5, 10], "slow": [20, 40]})
    text = render_sweep_report(res)
    assert "<h3>Long / short of the top 4</h3>" in text
    for header in ("long trades", "long win rate", "long pnl $", "short trades", "short win rate", "short pnl $"):
        assert f">{header}<" in text, header
    first = res.table.iloc[0]
    assert f">{int(first['short_trades']):,}<" in text and f">{first['long_pnl']:,.2f}<" in text
    long_only = sweep(str(RULES / "golden_cross.yaml"), "AAPL", *RANGE, provider="sample",
                      grid={"fast": [5, 10], "slow": [30]})
    assert "Long / short" not in render_sweep_report(long_only)
