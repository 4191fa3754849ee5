"""A long_short strategy outside the simulation: live signals of both sides (a reversal said as such, long and
short entries on one bar cancelled with D137), tracking (a position ends at the other side's entry), acting on a
reversal in the store, explain, and the LLM's strict schema and prompt."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from support.prices import sine_prices, write_csvs

import ruleengine
from ruleengine.backtest.report import render_report
from ruleengine.live import live_scan, track
from ruleengine.llm.prompt import system_prompt
from ruleengine.llm.wire import envelope_schema, wire_form
from ruleengine.store import open_store

LS = """
name: sma long short
direction: long_short
data: {prices: {kind: ohlcv}}
entry: ['crosses_above(sma(close, 5), sma(close, 15))']
short_entry: ['crosses_below(sma(close, 5), sma(close, 15))']
risk: {fees_pct: 0}
"""


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A sine wave: the 5-bar average crosses the 15-bar one up and down every few weeks."""
    df = sine_prices(200, 100, 10, 6.0)
    df = df.set_index(pd.to_datetime(df.pop("date")))
    close = df["close"]
    fast, slow = close.rolling(5).mean(), close.rolling(15).mean()
    above = fast > slow
    df["up"] = above & ~above.shift(1, fill_value=True) & slow.shift(1).notna()
    df["down"] = ~above & above.shift(1, fill_value=False) & slow.shift(1).notna()
    folder = write_csvs(tmp_path_factory.mktemp("ls"), {"SIN": df[["open", "high", "low", "close", "volume"]]})
    return folder, df


def _day(df: pd.DataFrame, column: str, k: int) -> pd.Timestamp:
    return df.index[np.flatnonzero(df[column].to_numpy())[k]]


def test_both_sides_signal_and_an_entry_says_it_reverses(market) -> None:
    folder, df = market
    [down] = live_scan(LS, "SIN", asof=str(_day(df, "down", 2).date()), data=str(folder)).signals
    assert (down.signal_type, down.direction, down.action) == ("entry", "short", "sell short")
    assert down.reasoning.text.splitlines()[0] == \
        "short entry, sell short; a long held is sold first (reversal) (all of):"
    assert down.reasoning.conditions[0].text.startswith("crosses_below(")
    [up] = live_scan(LS, "SIN", asof=str(_day(df, "up", 2).date()), data=str(folder)).signals
    assert (up.signal_type, up.direction, up.action) == ("entry", "long", "buy")
    assert up.reasoning.text.startswith("entry; a short held is bought back first (reversal) (all of):")


def test_a_long_and_a_short_entry_on_one_bar_cancel_with_d137(market) -> None:
    folder, df = market
    both = LS.replace("short_entry: ['crosses_below(sma(close, 5), sma(close, 15))']",
                      "short_entry: ['crosses_above(sma(close, 5), sma(close, 15))']")
    scan = live_scan(both, "SIN", asof=str(_day(df, "up", 2).date()), data=str(folder))
    assert scan.signals == []
    [warning] = [w for w in scan.warnings if w["code"] == "D137"]
    assert "SIN" in warning["message"] and warning["severity"] == "warning"


def test_tracking_ends_a_short_at_the_next_long_entry_and_acting_reverses(market, tmp_path: Path) -> None:
    folder, df = market
    store = open_store(str(tmp_path / "t.db"))
    rec = store.add_strategy(LS)
    short_day = _day(df, "down", 2)
    long_day = df.index[(df.index > short_day) & df["up"].to_numpy()][0]  # the next cross up
    [short] = live_scan(store.get_strategy(rec.id), "SIN", asof=str(short_day.date()), data=str(folder)).signals
    [long] = live_scan(store.get_strategy(rec.id), "SIN", asof=str(long_day.date()), data=str(folder)).signals
    short_id, long_id = store.save_signals([short, long])
    track(store, rec.id, asof=str(df.index[-1].date()), data=str(folder))
    h = store.get_signal(short_id).hypothetical
    entry, exit_ = df.close[short_day], df.close[long_day]
    # the short ends where the long entry reverses it, at that close; a fall is a gain
    assert (h["status"], h["exit_reason"], h["exit_time"]) == ("closed", "signal", long_day.isoformat())
    assert h["return_pct"] == pytest.approx((entry - exit_) / entry * 100)
    assert store.get_signal(long_id).hypothetical["status"] in ("open", "closed")
    # the user sells short, then buys: the long entry closes the short (the reversal), at its price
    store.act(short_id, 100.0)
    store.act(long_id, 95.0)
    out = store.get_signal(short_id).outcome
    assert out["return_pct"] == pytest.approx(5.0) and out["closed_by"] == f"entry signal {long_id} (reversal)"
    assert store.get_signal(long_id).outcome is None  # the long is open


def test_explain_lists_both_sides() -> None:
    text = ruleengine.explain_text(LS)
    assert "direction: long_short: entry/exit buy and sell the long side" in text
    assert "entry (buy): all of (AND)" in text and "short_entry (sell short): all of (AND)" in text
    assert "crosses_below(sma(prices.close, 5), sma(prices.close, 15))" in text
    assert "short_exit (buy to cover): (none" in text
    d = ruleengine.explain(LS)
    assert d["direction"] == "long_short" and {c["group"] for c in d["conditions"]} == {"entry", "short_entry"}


def test_the_strict_schema_takes_a_long_short_document_and_the_prompt_says_when() -> None:
    strategy = ruleengine.load_strategy(LS)
    wire = wire_form(strategy)
    assert wire["direction"] == "long_short" and wire["short_exit"] is None
    reply = {"kind": "rules", "strategy": wire, "code_reason": None, "explanation": "both sides"}
    jsonschema.validate(reply, envelope_schema())  # what a model may send under strict structured outputs
    assert ruleengine.load_strategy(json.dumps(wire)) == strategy  # and it loads back as the same document
    bad = {**reply, "strategy": {**wire, "direction": "both"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, envelope_schema())
    prompt = system_prompt()
    assert "Use long_short when the idea trades both ways" in prompt and "`short_entry` / `short_exit`" in prompt


def test_a_long_short_backtest_splits_by_side_and_its_entries_are_live_signals(real_daily: Path) -> None:
    """rules/sma_long_short.yaml on real prices: the long/short split adds up to the run's trades, the report
    marks both kinds of entry, and every trade's entry (reversals included) is a live signal of its side on
    its bar with the data cut there."""
    rule = "rules/sma_long_short.yaml"
    res = ruleengine.backtest(rule, "SPY", "2012-01-01", "2013-06-27", data=str(real_daily), benchmark=None)
    run = res.results[0]
    sides = run.sides
    assert {t.direction for t in run.trades} == {"long", "short"}
    for side in ("long", "short"):
        mine = [t for t in run.trades if t.direction == side]
        assert sides[side].total_trades == len(mine) and sides[side].pnl == pytest.approx(sum(t.pnl for t in mine))
        assert sides[side].winning_trades == sum(t.pnl > 0 for t in mine)
    assert sides["long"].total_trades + sides["short"].total_trades == run.metrics.total_trades
    html = render_report(res)
    assert '"name":"entry"' in html and '"name":"short entry"' in html and "<h3>Long / short</h3>" in html
    for t in run.trades[:4]:
        sigs = live_scan(rule, "SPY", asof=t.entry_time, data=str(real_daily), signal_types=("entry",)).signals
        assert [(s.direction, s.price_at_signal) for s in sigs] == [(t.direction, t.entry_price)]
