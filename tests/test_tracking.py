"""Performance tracking on hand-built price paths: hypothetical trades (take profit, stop loss, still open,
pending), actual trades from act/close, the aggregates, and the leaderboard with timeframes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.prices import write_csvs

import ruleengine
from ruleengine.errors import RuleEngineError
from ruleengine.live import compare_strategies, live_scan, track
from ruleengine.store import Store, open_store

STRAT = """
name: dip buyer
timeframe: short_term
data: {prices: {kind: ohlcv}}
entry: ['close < 95']
exit: ['close > 120']
risk: {stop_loss_pct: 5, take_profit_pct: 10, max_hold_days: 365, fees_pct: 0}
"""
ENTRY_ROW, LAST_ROW = 40, 60
DAYS = pd.bdate_range("2021-01-04", periods=LAST_ROW + 1)


def _path(kind: str) -> pd.DataFrame:
    """100 flat, a dip to 94 on ENTRY_ROW, then: take profit (TTT), stop loss (UUU) or drift (VVV)."""
    close = np.full(len(DAYS), 100.0)
    close[ENTRY_ROW] = 94.0
    df = pd.DataFrame({"open": close, "high": close + 0.5, "low": close - 0.5, "close": close}, index=DAYS)
    if kind == "TTT":  # climbs; bar 45 opens 103 below the 103.4 target and trades through it
        for k, c in zip(range(41, 45), (96.0, 98.0, 100.0, 102.0), strict=True):
            df.iloc[k] = [c, c + 0.5, c - 0.5, c]
        df.iloc[45] = [103.0, 104.0, 102.5, 103.5]
    elif kind == "UUU":  # bar 42 opens 90 above the 89.3 stop and falls through it
        df.iloc[41] = [94.0, 94.5, 93.0, 93.5]
        df.iloc[42] = [90.0, 90.5, 88.0, 88.5]
        df.iloc[43:] = [[96.0, 96.5, 95.5, 96.0]] * (len(DAYS) - 43)
    else:  # VVV drifts up to 97 and never reaches an exit
        df.iloc[ENTRY_ROW + 1:] = [[97.0, 97.5, 96.5, 97.0]] * (len(DAYS) - ENTRY_ROW - 1)
    df["volume"] = 1000.0
    return df


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Store, Path, int]:
    d = write_csvs(tmp_path / "px", {sym: _path(sym) for sym in ("TTT", "UUU", "VVV")})
    store = open_store(str(tmp_path / "t.db"))
    rec = store.add_strategy(STRAT)
    scan = live_scan(store.get_strategy(rec.id), "TTT,UUU,VVV", asof=str(DAYS[ENTRY_ROW].date()), data=str(d))
    assert sorted((s.ticker, s.signal_type, s.price_at_signal) for s in scan.signals) == [
        ("TTT", "entry", 94.0), ("UUU", "entry", 94.0), ("VVV", "entry", 94.0)]
    store.save_signals(scan.signals)
    return store, d, rec.id


def _by_ticker(store: Store, sid: int) -> dict[str, object]:
    return {s.ticker: s for s in store.list_signals(sid)}


def test_hypothetical_trades_apply_stops_and_targets_to_later_data(setup) -> None:
    store, d, sid = setup
    [row] = track(store, sid, asof=str(DAYS[LAST_ROW].date()), data=str(d))
    sig = _by_ticker(store, sid)
    t, u, v = (sig[k].hypothetical for k in ("TTT", "UUU", "VVV"))  # type: ignore[attr-defined]
    assert (t["status"], t["exit_reason"], t["exit_price"], t["exit_time"]) == (
        "closed", "take_profit", pytest.approx(103.4), DAYS[45].isoformat())
    assert t["entry_price"] == 94.0 and t["return_pct"] == pytest.approx(10.0) and t["bars_held"] == 5
    assert (u["status"], u["exit_reason"], u["exit_price"]) == ("closed", "stop_loss", pytest.approx(89.3))
    assert u["return_pct"] == pytest.approx(-5.0) and u["exit_time"] == DAYS[42].isoformat()
    assert (v["status"], v["exit_reason"]) == ("open", None)
    assert v["return_pct"] == pytest.approx((97 / 94 - 1) * 100) and v["mark"]["price"] == 97.0
    assert v["data_until"] == DAYS[LAST_ROW].isoformat()
    assert (row["hypothetical_trades"], row["hypothetical_wins"], row["hypothetical_losses"],
            row["hypothetical_open"]) == (2, 1, 1, 1)
    assert row["hypothetical_return_pct"] == pytest.approx(10.0 - 5.0 + (97 / 94 - 1) * 100)
    perf = store.performance(sid)
    assert perf is not None and perf["signals_generated"] == 3 and perf["hypothetical_trades"] == 2
    # the same trades as a backtest of the strategy on the same data (same engine, same fill contract)
    res = ruleengine.backtest(STRAT, "TTT,UUU", str(DAYS[0].date()), str(DAYS[LAST_ROW].date()), data=str(d),
                              benchmark=None)
    got = {(r.label, tr.exit_reason, round(tr.exit_price, 9), round(tr.pnl_pct, 9)) for r in res.results
           for tr in r.trades}
    assert got == {("TTT", "take_profit", 103.4, 10.0), ("UUU", "stop_loss", 89.3, -5.0)}


def test_actual_trades_from_act_and_close_and_the_aggregates(setup) -> None:
    store, d, sid = setup
    sig = _by_ticker(store, sid)
    store.act(sig["TTT"].id, 94.5)  # type: ignore[attr-defined]
    store.close_signal(sig["TTT"].id, 103.0)  # type: ignore[attr-defined]
    store.act(sig["VVV"].id)  # type: ignore[attr-defined]  at the signal's price, still open
    [row] = track(store, sid, asof=str(DAYS[LAST_ROW].date()), data=str(d))
    won = (103.0 / 94.5 - 1) * 100
    marked = (97.0 / 94.0 - 1) * 100
    assert (row["signals_acted_on"], row["actual_trades"], row["actual_wins"], row["actual_losses"],
            row["actual_open"]) == (2, 1, 1, 0, 1)
    assert row["actual_return_pct"] == pytest.approx(won + marked)
    # acted twice -> clear error, and nothing changed
    with pytest.raises(RuleEngineError) as exc:
        store.act(sig["TTT"].id)  # type: ignore[attr-defined]
    assert exc.value.diagnostics[0].code == "T104"
    assert store.performance(sid)["actual_trades"] == 1  # type: ignore[index]


def test_pending_with_next_open_fills_and_old_versions_keep_their_rules(setup, tmp_path: Path) -> None:
    store, d, sid = setup
    # a new version with a wider target does not change how the v1 signals are tracked
    store.add_strategy(STRAT.replace("take_profit_pct: 10", "take_profit_pct: 20"), strategy_id=sid)
    track(store, sid, asof=str(DAYS[LAST_ROW].date()), data=str(d))
    assert _by_ticker(store, sid)["TTT"].hypothetical["exit_reason"] == "take_profit"  # type: ignore[attr-defined]
    # next-open fills: a signal on the newest bar has no fill yet
    opener = STRAT.replace("name: dip buyer", "name: opener") + \
        "params:\n  execution_price: {type: enum, values: [open, close], default: open}\n"
    rec = store.add_strategy(opener)
    scan = live_scan(rec, "TTT", asof=str(DAYS[ENTRY_ROW].date()), data=str(d))
    store.save_signals(scan.signals)
    [row] = track(store, rec.id, asof=str(DAYS[ENTRY_ROW].date()), data=str(d))
    [s] = store.list_signals(rec.id)
    assert s.hypothetical["status"] == "pending" and row["hypothetical_open"] == 0  # type: ignore[index]
    track(store, rec.id, asof=str(DAYS[LAST_ROW].date()), data=str(d))
    h = store.get_signal(s.id).hypothetical
    # filled at the next bar's open (96); the 105.6 target is never reached: open, marked at the last close
    assert (h["status"], h["entry_price"], h["entry_time"]) == ("open", 96.0, DAYS[ENTRY_ROW + 1].isoformat())  # type: ignore[index]
    assert h["return_pct"] == pytest.approx((100 / 96 - 1) * 100)  # type: ignore[index]


def test_leaderboard_ranks_and_timeframes(setup) -> None:
    store, d, sid = setup
    other = store.add_strategy(STRAT.replace("name: dip buyer", "name: idle"))
    store.act(_by_ticker(store, sid)["UUU"].id, 94.0)  # type: ignore[attr-defined]
    track(store, asof=str(DAYS[LAST_ROW].date()), data=str(d))
    now = str(DAYS[LAST_ROW].date())
    rows = compare_strategies(store, "all", now=now)
    assert [(r["rank"], r["strategy_id"]) for r in rows] == [(1, sid), (2, other.id)]
    top = rows[0]
    assert (top["signals"], top["acted"], top["status"], top["timeframe"]) == (3, 1, "active", "short_term")
    assert top["actual_open"] == 1 and top["win_rate"] is None  # acted, not closed
    assert top["hypothetical_win_rate"] == 50.0
    assert top["hypothetical_return_pct"] == pytest.approx(5.0 + (97 / 94 - 1) * 100)
    assert top["actual_return_pct"] == pytest.approx((96.0 / 94.0 - 1) * 100)  # UUU marked at its last close
    assert top["last_signal"] == DAYS[ENTRY_ROW].isoformat()
    assert rows[1]["signals"] == 0 and rows[1]["hypothetical_return_pct"] is None
    # the signals are 20 sessions old: in 30d, not in 7d
    assert compare_strategies(store, "30d", now=now)[0]["signals"] == 3
    assert [r["signals"] for r in compare_strategies(store, "7d", now=now)] == [0, 0]
    store.deactivate(other.id)
    assert [r["strategy_id"] for r in compare_strategies(store, "7d", now=now)] == [sid]  # inactive, no signals
    with pytest.raises(RuleEngineError) as exc:
        compare_strategies(store, "2w")
    assert exc.value.diagnostics[0].code == "T107" and "7d, 30d, 90d, 1y, all" in (exc.value.diagnostics[0].hint or "")


def test_track_unknown_strategy_and_strategy_without_signals(setup) -> None:
    store, d, _sid = setup
    with pytest.raises(RuleEngineError) as exc:
        track(store, 99, data=str(d))
    assert exc.value.diagnostics[0].code == "T101"
    rec = store.add_strategy(STRAT.replace("name: dip buyer", "name: quiet"))
    [row] = track(store, rec.id, data=str(d))
    assert (row["signals_generated"], row["hypothetical_trades"], row["last_signal_date"]) == (0, 0, None)


def test_the_users_own_fills_act_on_and_close_signals_and_name_the_position(setup, tmp_path: Path,
                                                                           monkeypatch) -> None:
    store, d, sid = setup
    day = [str(x.date()) for x in DAYS]
    fills = tmp_path / "fills.csv"
    fills.write_text("date,symbol,action,quantity,price\n"
                     f"{day[ENTRY_ROW - 5]},TTT,buy,7,100\n{day[ENTRY_ROW - 3]},TTT,sell,7,100\n"  # before: no signal
                     f"{day[ENTRY_ROW + 1]},TTT,buy,100,94.2\n{day[ENTRY_ROW + 3]},TTT,sell,40,99\n"  # still held
                     f"{day[ENTRY_ROW + 5]},TTT,sell,60,103.1\n"                                    # flat: closed
                     f"{day[ENTRY_ROW]},VVV,buy,10,94\n")
    monkeypatch.setenv("RULEENGINE_PORTFOLIO", str(fills))
    [row] = track(store, sid, asof=str(DAYS[LAST_ROW].date()), data=str(d))
    sig = _by_ticker(store, sid)
    t, u, v = (sig[k] for k in ("TTT", "UUU", "VVV"))
    assert (t.user_acted, t.acted_price, t.outcome["exit_price"]) == (True, 94.2, 103.1)  # type: ignore[attr-defined]
    assert (v.user_acted, v.acted_price, v.outcome) == (True, 94.0, None)  # type: ignore[attr-defined]
    assert u.user_acted is False  # type: ignore[attr-defined]  no fill: nothing recorded
    assert (row["signals_acted_on"], row["actual_trades"], row["actual_open"]) == (2, 1, 1)
    assert row["actual_return_pct"] == pytest.approx((103.1 / 94.2 - 1) * 100 + (97 / 94 - 1) * 100)
    # live signals say what the user holds at the signal's bar
    scan = live_scan(store.get_strategy(sid), "TTT,VVV", asof=str(DAYS[ENTRY_ROW].date()), data=str(d))
    text = {s.ticker: s.reasoning.text for s in scan.signals}
    assert "you hold 10 shares" in text["VVV"] and "you hold no shares" in text["TTT"]


LONG_SHORT = """
name: spike fader
direction: long_short
data: {prices: {kind: ohlcv}}
entry: ['close < 50']
exit: ['bars_held >= 1']
short_entry: ['close > 105']
short_exit: ['bars_held >= 3 or unrealized_pct > 8']
risk: {fees_pct: 0}
"""


def test_a_tracked_short_of_a_long_short_strategy_exits_on_short_exit_s_position_variables(tmp_path: Path) -> None:
    """A short entry at 106 (bar 40); short_exit's bars_held >= 3 covers it at bar 43's close (100), as a
    backtest does: the exit block's program (bars_held >= 1) is the long side's and does not act on it."""
    close = np.full(len(DAYS), 100.0)
    close[ENTRY_ROW] = 106.0
    df = pd.DataFrame({"open": close, "high": close + 0.5, "low": close - 0.5, "close": close, "volume": 1000.0},
                      index=DAYS)
    d = write_csvs(tmp_path / "px", {"SSS": df})
    store = open_store(str(tmp_path / "t.db"))
    rec = store.add_strategy(LONG_SHORT)
    scan = live_scan(store.get_strategy(rec.id), "SSS", asof=str(DAYS[ENTRY_ROW].date()), data=str(d))
    assert [(s.signal_type, s.direction) for s in scan.signals] == [("entry", "short")]
    store.save_signals(scan.signals)
    track(store, rec.id, asof=str(DAYS[LAST_ROW].date()), data=str(d))
    h = _by_ticker(store, rec.id)["SSS"].hypothetical  # type: ignore[attr-defined]
    assert (h["status"], h["exit_reason"], h["exit_time"], h["bars_held"]) == (
        "closed", "signal", DAYS[ENTRY_ROW + 3].isoformat(), 3)
    res = ruleengine.backtest(LONG_SHORT, "SSS", str(DAYS[0].date()), str(DAYS[LAST_ROW].date()), data=str(d),
                              benchmark=None)
    [t] = res.results[0].trades
    assert (t.direction, t.exit_reason, t.exit_time[:10]) == ("short", "signal", str(DAYS[ENTRY_ROW + 3].date()))
