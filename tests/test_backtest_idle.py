"""A run without trades says why (issue 13, items 6 and 9), on real SPY/AAPL data: which entry condition never
held with how often each did (D119 message and details, counted against pandas/TA-Lib), and a warm-up longer
than the data (D172 with both numbers: an error when no run can have a signal, a warning per run otherwise)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ruleengine.backtest.run import backtest
from ruleengine.cli import app
from ruleengine.errors import RuleEngineError

pytestmark = pytest.mark.realdata
START, END = "2015-01-01", "2016-12-30"
ROOT = Path(__file__).resolve().parents[1]

NEVER = """name: never together
data: {prices: {kind: ohlcv}}
entry:
  logic: all
  conditions: ['rsi(close, 14) < 30', 'close > sma(close, 50) * 1.5']
exit: ['close < sma(close, 50)']
"""
APART = """name: apart
data: {prices: {kind: ohlcv}}
entry: ['close > shift(close, 1)', 'close < shift(close, 1)']
exit: ['close < sma(close, 50)']
"""


def _long(window: int) -> str:
    return f"""name: long window
data: {{prices: {{kind: ohlcv}}}}
entry: ['close > sma(close, {window})']
exit: ['close < sma(close, 50)']
"""


def _d119(result) -> dict:
    (w,) = [w for w in result.results[0].warnings if w["code"] == "D119"]
    return w


def test_the_entry_condition_that_never_held_is_named_with_counts(shared_data, ohlcv_of) -> None:
    import talib

    res = backtest(NEVER, "SPY", START, END, data=str(shared_data))
    assert res.results[0].metrics.total_trades == 0
    w = _d119(res)
    d = w["details"]
    spy = ohlcv_of("SPY")
    rsi = pd.Series(talib.RSI(spy["close"].to_numpy(), 14), index=spy.index)
    in_range = (spy.index >= START) & (spy.index <= END)
    assert d["bars"] == int(in_range.sum()) == 504
    expected_rsi = int((rsi[in_range] < 30).sum())
    assert expected_rsi > 0
    assert [c["held_bars"] for c in d["conditions"]] == [expected_rsi, 0]
    assert d["entry_logic"] == "all" and d["entry_signal_bars"] == 0
    assert w["message"].startswith("SPY: no trades: entry condition 2 never held")
    assert f"rsi(prices.close, 14) < 30 held on {expected_rsi}" in w["message"]
    assert "prices.close > sma(prices.close, 50) * 1.5 never held" in w["message"]
    assert [x for x in res.warnings if x["code"] == "D119"] == [w]  # the result's warning has the details too


def test_conditions_that_hold_but_never_together(shared_data) -> None:
    res = backtest(APART, "SPY", START, END, data=str(shared_data))
    w = _d119(res)
    held = [c["held_bars"] for c in w["details"]["conditions"]]
    assert all(h > 100 for h in held) and sum(held) <= 504
    assert "every entry condition held on some bars, but never all on the same bar" in w["message"]


def test_a_window_longer_than_the_data_is_d172_with_both_numbers(shared_data, ohlcv_of) -> None:
    spy = ohlcv_of("SPY")
    available = int((spy.index <= END).sum())
    with pytest.raises(RuleEngineError) as exc:
        backtest(_long(100_000), "SPY", START, END, data=str(shared_data))
    (d,) = exc.value.diagnostics
    assert d.code == "D172" and d.severity == "error"
    assert "99,999 bars" in d.message and f"{available:,} bars available" in d.message


def test_a_universe_warns_only_for_the_runs_the_warm_up_exceeds(shared_data, ohlcv_of) -> None:
    aapl = ohlcv_of("AAPL")
    have = int((aapl.index <= END).sum())
    assert have < 1999 < int((ohlcv_of("SPY").index <= END).sum())
    res = backtest(_long(2000), "SPY,AAPL", START, END, data=str(shared_data))
    by = {r.label: r for r in res.results}
    assert by["SPY"].metrics.total_trades > 0 and not by["SPY"].warnings
    codes = {w["code"]: w for w in by["AAPL"].warnings}
    assert set(codes) == {"D119", "D172"}
    assert f"1,999 bars exceeds the {have:,} bars available" in codes["D119"]["message"]
    assert codes["D119"]["details"]["warmup_bars"] == 1999 and codes["D119"]["details"]["available_bars"] == have


def test_cli_prints_the_reason_and_json_carries_it(shared_data, tmp_path) -> None:
    rule = tmp_path / "never.yaml"
    rule.write_text(NEVER, encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(app, ["backtest", str(rule), "--symbols", "SPY", "--data", str(shared_data), "--start",
                              START, "--end", END])
    assert out.exit_code == 0
    assert "entry condition 2 never held" in " ".join(out.stdout.split())
    js = runner.invoke(app, ["backtest", str(rule), "--symbols", "SPY", "--data", str(shared_data), "--start",
                             START, "--end", END, "--json"])
    data = json.loads(js.stdout)
    assert data["warnings"][0]["details"]["conditions"][1]["held_bars"] == 0
    long = tmp_path / "long.yaml"
    long.write_text(_long(100_000), encoding="utf-8")
    err = runner.invoke(app, ["backtest", str(long), "--symbols", "SPY", "--data", str(shared_data), "--json"])
    assert err.exit_code == 1 and json.loads(err.stdout)["error"]["details"][0]["code"] == "D172"
    universe = runner.invoke(app, ["backtest", str(long), "--symbols", "SPY,AAPL", "--data", str(shared_data),
                                   "--start", START, "--end", END])
    assert universe.exit_code == 1 and "error[D172]" in universe.stdout and "more runs" in universe.stdout
    long.write_text(_long(2000), encoding="utf-8")  # AAPL's history is too short, SPY's is not
    mixed = runner.invoke(app, ["backtest", str(long), "--symbols", "SPY,AAPL", "--data", str(shared_data),
                                "--start", START, "--end", END])
    assert mixed.exit_code == 0
    assert "  AAPL: no trades: the warm-up of 1,999 bars exceeds" in mixed.stdout



def test_a_code_strategy_without_trades_says_its_signal_never_held(shared_data) -> None:
    """Code strategies have no conditions to count: the reason is the combined entry signal's count."""
    res = backtest("rules/code_rsi_mean_reversion.yaml", "SPY", "2017-06-01", "2017-07-15", params={"oversold": 5},
                   data=str(shared_data))
    w = _d119(res)
    assert w["message"] == "SPY: no trades: the entry signal never held on the 31 tradable bars"
    assert w["details"]["conditions"] == [] and w["details"]["entry_signal_bars"] == 0


ORDERS = """name: unreachable breakout
data: {prices: {kind: ohlcv, columns: [high, low, close]}}
entry: ['close > 0']
entry_order: {type: stop, price: 'highest(high, 20) * 3', valid_bars: 2}
exit: ['close < 0']
risk: {stop_loss_pct: 5, risk_per_trade_pct: 1}
"""


def test_no_trades_from_orders_never_filled_or_entries_skipped_says_so(shared_data) -> None:
    """An entry signal that held but made no trade is not always a cancel: a stop order above every later price
    never fills, and a sizing that rounds to 0 whole units skips each entry. D119 names the cause that applies
    (it used to say 'each was cancelled (an exit signal on the same bar)' for both)."""
    unfilled = _d119(backtest(ORDERS, "SPY", START, END, data=str(shared_data)))
    assert "the stop orders the signals placed were not filled within 2 bar(s)" in unfilled["message"]
    assert (unfilled["details"]["entry_order"], unfilled["details"]["order_valid_bars"]) == ("stop", 2)
    skipped = _d119(backtest(ORDERS.replace("* 3", "* 0.5"), "SPY", START, END, data=str(shared_data),
                             params={"risk_per_trade_pct": 0.0001, "whole_units": True}))
    n = skipped["details"]["skipped_entries"]
    assert n > 400 and f"{n:,} entries were skipped by the sizing or a cap" in skipped["message"]


def test_a_long_short_run_without_trades_counts_both_sides(shared_data) -> None:
    """A long_short strategy enters on either side: D119 counts the short_entry conditions too (it named the
    long side's only, as if the short side did not exist)."""
    rule = str(ROOT / "rules" / "sma_long_short.yaml")
    d = _d119(backtest(rule, "SPY", START, END, data=str(shared_data), params={"fast": 30, "slow": 30}))
    assert [(c.get("group", "entry"), c["held_bars"]) for c in d["details"]["conditions"]] == \
        [("entry", 0), ("short_entry", 0)]
    assert "no trades: entry condition 1, short_entry condition 1 never held" in d["message"]
    assert "; short_entry [1] crosses_below(sma(prices.close, fast), sma(prices.close, slow)) never held" \
        in d["message"]
