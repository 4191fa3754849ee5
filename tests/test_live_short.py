"""Live signals, tracking and stored outcomes of a short strategy, on hand-built price paths (the mirror of
tests/test_tracking.py): a short entry says "sell short" and its exit "buy to cover", its hypothetical trade is
simulated as a short (target below the entry, stop above), and its returns gain when the price falls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.prices import write_csvs

import ruleengine
from ruleengine.live import live_scan, track
from ruleengine.store import Store, open_store

STRAT = """
name: pop seller
direction: short
data: {prices: {kind: ohlcv}}
entry: ['close > 105']
exit: ['close < 80']
risk: {stop_loss_pct: 5, take_profit_pct: 10, fees_pct: 0}
"""
LONG = STRAT.replace("direction: short\n", "")
ENTRY_ROW, LAST_ROW = 40, 60
DAYS = pd.bdate_range("2021-01-04", periods=LAST_ROW + 1)


def _path(kind: str) -> pd.DataFrame:
    """100 flat, a pop to 106 on ENTRY_ROW, then: falls to the target (DDD), rises through the stop (SSS),
    or drifts back to 103 (OOO)."""
    close = np.full(len(DAYS), 100.0)
    close[ENTRY_ROW] = 106.0
    df = pd.DataFrame({"open": close, "high": close + 0.5, "low": close - 0.5, "close": close}, index=DAYS)
    if kind == "DDD":  # falls; bar 45 opens 96 above the 95.4 target and trades through it
        for k, c in zip(range(41, 45), (104.0, 102.0, 100.0, 98.0), strict=True):
            df.iloc[k] = [c, c + 0.5, c - 0.5, c]
        df.iloc[45] = [96.0, 96.5, 95.0, 95.5]
        df.iloc[46:] = [[97.0, 97.5, 96.5, 97.0]] * (len(DAYS) - 46)
    elif kind == "SSS":  # bar 42 opens 110 below the 111.3 stop and rises through it
        df.iloc[41] = [106.0, 107.0, 105.5, 106.5]
        df.iloc[42] = [110.0, 112.0, 109.5, 111.5]
        df.iloc[43:] = [[104.0, 104.5, 103.5, 104.0]] * (len(DAYS) - 43)
    else:  # OOO drifts to 103 and never reaches an exit
        df.iloc[ENTRY_ROW + 1:] = [[103.0, 103.5, 102.5, 103.0]] * (len(DAYS) - ENTRY_ROW - 1)
    df["volume"] = 1000.0
    return df


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Store, Path, int]:
    d = write_csvs(tmp_path / "px", {sym: _path(sym) for sym in ("DDD", "SSS", "OOO")})
    store = open_store(str(tmp_path / "t.db"))
    rec = store.add_strategy(STRAT)
    scan = live_scan(store.get_strategy(rec.id), "DDD,SSS,OOO", asof=str(DAYS[ENTRY_ROW].date()), data=str(d))
    assert sorted((s.ticker, s.signal_type, s.direction, s.action, s.price_at_signal) for s in scan.signals) == [
        ("DDD", "entry", "short", "sell short", 106.0), ("OOO", "entry", "short", "sell short", 106.0),
        ("SSS", "entry", "short", "sell short", 106.0)]
    store.save_signals(scan.signals)
    return store, d, rec.id


def _by_ticker(store: Store, sid: int) -> dict[str, object]:
    return {s.ticker: s for s in store.list_signals(sid)}


def test_a_short_entry_fires_where_the_long_one_does_and_says_sell_short(setup) -> None:
    _store, d, _sid = setup
    day = str(DAYS[ENTRY_ROW].date())
    short = live_scan(STRAT, "DDD,SSS", asof=day, data=str(d))
    long = live_scan(LONG, "DDD,SSS", asof=day, data=str(d))
    # the same conditions on the same bar: the same signals and confidence, on the other side
    assert [(s.ticker, s.confidence_score) for s in short.signals] == [(s.ticker, s.confidence_score)
                                                                       for s in long.signals]
    assert {(s.direction, s.action) for s in long.signals} == {("long", "buy")}
    first = short.signals[0]
    assert first.reasoning.direction == "short"
    assert first.reasoning.text.splitlines()[0] == "short entry, sell short (all of):"
    assert long.signals[0].reasoning.text.splitlines()[0] == "entry (all of):"  # long text as before
    dumped = first.model_dump(mode="json")
    assert (dumped["direction"], dumped["action"]) == ("short", "sell short")


def test_a_short_exit_says_buy_to_cover(tmp_path: Path) -> None:
    df = _path("DDD")
    df.iloc[50, :4] = [79.0, 79.5, 78.5, 79.0]  # below 80: the exit condition holds
    write_csvs(tmp_path, {"DDD": df})
    [sig] = live_scan(STRAT, "DDD", asof=str(DAYS[50].date()), data=str(tmp_path)).signals
    assert (sig.signal_type, sig.direction, sig.action) == ("exit", "short", "buy to cover")
    assert sig.reasoning.text.startswith("short exit, buy to cover")


def test_hypothetical_short_trades_mirror_stops_and_targets(setup) -> None:
    store, d, sid = setup
    [row] = track(store, sid, asof=str(DAYS[LAST_ROW].date()), data=str(d))
    sig = _by_ticker(store, sid)
    t, u, v = (sig[k].hypothetical for k in ("DDD", "SSS", "OOO"))  # type: ignore[attr-defined]
    assert (t["status"], t["exit_reason"], t["exit_price"], t["exit_time"]) == (
        "closed", "take_profit", pytest.approx(95.4), DAYS[45].isoformat())
    assert t["return_pct"] == pytest.approx(10.0) and t["risk"]["direction"] == "short"
    assert (u["status"], u["exit_reason"], u["exit_price"]) == ("closed", "stop_loss", pytest.approx(111.3))
    assert u["return_pct"] == pytest.approx(-5.0)
    assert (v["status"], v["return_pct"]) == ("open", pytest.approx((106 - 103) / 106 * 100))
    assert (row["hypothetical_trades"], row["hypothetical_wins"], row["hypothetical_losses"],
            row["hypothetical_open"]) == (2, 1, 1, 1)
    # the same trades as a backtest of the short strategy on the same data
    res = ruleengine.backtest(STRAT, "DDD,SSS", str(DAYS[0].date()), str(DAYS[LAST_ROW].date()), data=str(d),
                              benchmark=None)
    got = {(r.label, tr.direction, tr.exit_reason, round(tr.exit_price, 9), round(tr.pnl_pct, 9))
           for r in res.results for tr in r.trades}
    assert got == {("DDD", "short", "take_profit", 95.4, 10.0), ("SSS", "short", "stop_loss", 111.3, -5.0)}


def test_actual_short_returns_gain_when_the_price_falls(setup) -> None:
    store, d, sid = setup
    sig = _by_ticker(store, sid)
    store.act(sig["DDD"].id, 106.5)  # type: ignore[attr-defined]
    closed = store.close_signal(sig["DDD"].id, 96.0)  # type: ignore[attr-defined]
    assert closed.outcome["return_pct"] == pytest.approx((106.5 - 96.0) / 106.5 * 100)
    store.act(sig["SSS"].id, 106.0)  # type: ignore[attr-defined]
    store.close_signal(sig["SSS"].id, 110.0)  # type: ignore[attr-defined]  bought back higher: a loss
    store.act(sig["OOO"].id)  # type: ignore[attr-defined]  at the signal's price, still open
    [row] = track(store, sid, asof=str(DAYS[LAST_ROW].date()), data=str(d))
    won, lost, marked = (106.5 - 96) / 106.5 * 100, (106 - 110) / 106 * 100, (106 - 103) / 106 * 100
    assert (row["actual_trades"], row["actual_wins"], row["actual_losses"], row["actual_open"]) == (2, 1, 1, 1)
    assert row["actual_return_pct"] == pytest.approx(won + lost + marked)


def test_a_short_backtests_trades_are_live_signals_on_their_bars(real_daily: Path) -> None:
    """Causality on real prices: with the data cut at each trade's bars, live signals say 'sell short' on the
    entry bar and 'buy to cover' on the signal exit's bar, at the backtest's prices."""
    cross = """
name: cross seller
direction: short
data: {prices: {kind: ohlcv}}
entry: ['crosses_below(sma(close, 10), sma(close, 30))']
exit: ['crosses_above(sma(close, 10), sma(close, 30))']
"""
    res = ruleengine.backtest(cross, "SPY", "2012-01-01", "2013-06-27", data=str(real_daily), benchmark=None)
    trades = [t for t in res.results[0].trades if t.exit_reason == "signal"][:3]
    assert trades and all(t.direction == "short" for t in trades)
    for t in trades:
        for day, kind, price, order in ((t.entry_time, "entry", t.entry_price, "sell short"),
                                        (t.exit_time, "exit", t.exit_price, "buy to cover")):
            sigs = live_scan(cross, "SPY", asof=day, data=str(real_daily), signal_types=(kind,)).signals
            assert [(s.bar_time.date().isoformat(), s.price_at_signal, s.action) for s in sigs] == \
                   [(day, price, order)]
