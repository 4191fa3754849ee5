"""A live entry signal of a limit or stop strategy says the order to place (type, side, level, lifetime): the
level is the one the backtest's fill step works, so acting on it gives the backtest's entry."""

from __future__ import annotations

from pathlib import Path

import pytest

import ruleengine
from ruleengine.live import live_scan

pytestmark = pytest.mark.realdata
ROOT = Path(__file__).resolve().parents[1]
ATR = ROOT / "rules" / "atr_breakout.yaml"


def test_an_atr_breakout_entry_names_the_stop_order_the_backtest_fills(shared_data: Path) -> None:
    """rules/atr_breakout.yaml on SPY: the signal of 2017-09-08 places a buy stop at the 20-bar highest high,
    which the backtest fills on 2017-09-11 at that level (the open was below it). The signal used to read as a
    buy at the close (217.31), 1.5 below the order."""
    scan = live_scan(str(ATR), "SPY", asof="2017-09-08", data=str(shared_data))
    (sig,) = [s for s in scan.signals if s.signal_type == "entry"]
    order = sig.data_snapshot["order"]
    trades = ruleengine.backtest(str(ATR), "SPY", "2017-01-01", "2017-12-29", data=str(shared_data),
                                 benchmark=None).results[0].trades
    (filled,) = [t for t in trades if t.entry_time.startswith("2017-09-11")]
    assert (order["type"], order["side"], order["valid_bars"]) == ("stop", "long", 1)
    assert order["price"] == pytest.approx(filled.entry_price, abs=1e-9)
    assert sig.reasoning.text.startswith(f"entry; places a buy stop order at {order['price']:.6g} (fills when "
                                         "the price trades up through it")
    assert "worked for 1 bar from the next bar on" in sig.reasoning.text


def test_a_market_strategy_signal_carries_no_order(shared_data: Path) -> None:
    scan = live_scan(str(ROOT / "rules" / "sma_long_short.yaml"), "SPY", asof="2017-08-18", data=str(shared_data))
    (sig,) = scan.signals
    assert "order" not in sig.data_snapshot and "places" not in sig.reasoning.text


def test_tracking_an_order_that_did_not_fill_says_so(shared_data: Path, tmp_path: Path) -> None:
    """The 2017-09-07 signal places a buy stop at 218.842; 2017-09-08's high is 217.76: no fill. Tracking
    says the order was not filled (it said an exit on the signal's bar cancelled the entry), and while its bar
    is not in the data yet the order is pending."""
    from ruleengine.live import track
    from ruleengine.store import open_store

    store = open_store(str(tmp_path / "t.db"))
    rec = store.add_strategy(ATR.read_text(encoding="utf-8"))
    (sig,) = live_scan(store.get_strategy(rec.id), "SPY", asof="2017-09-07", data=str(shared_data)).signals
    (sid,) = store.save_signals([sig])
    track(store, rec.id, asof="2017-09-07", data=str(shared_data))
    h = store.get_signal(sid).hypothetical
    assert h["status"] == "pending" and h["note"].startswith("the stop order is worked for 1 bar")
    track(store, rec.id, asof="2017-09-29", data=str(shared_data))
    h = store.get_signal(sid).hypothetical
    assert h["status"] == "cancelled" and h["note"].startswith("the stop order was not filled within its 1 bar")


def test_a_long_short_short_entry_names_its_short_price_order(shared_data: Path) -> None:
    """The short side's order is at short_price (the 20-bar lowest low), a sell-short stop."""
    doc = {"name": "breakout both ways", "direction": "long_short",
           "data": {"prices": {"kind": "ohlcv", "columns": ["high", "low", "close"]}},
           "entry": ["close > sma(close, 50)"], "short_entry": ["close < sma(close, 50)"],
           "entry_order": {"type": "stop", "price": "highest(high, 20)", "short_price": "lowest(low, 20)",
                           "valid_bars": 2}}
    (sig,) = live_scan(doc, "SPY", asof="2015-08-24", data=str(shared_data)).signals
    md = ruleengine.load_data(doc, "SPY", "2015-07-01", "2015-08-24", data=str(shared_data))
    lowest = float(md.frame("prices", "low")["SPY"].iloc[-20:].min())
    assert sig.data_snapshot["order"] == {"type": "stop", "side": "short", "price": pytest.approx(lowest),
                                          "valid_bars": 2}
    assert f"places a sell-short stop order at {lowest:.6g} (fills when the price trades down through it" \
        in sig.reasoning.text
    assert "a long held is sold at the order's fill (reversal)" in sig.reasoning.text  # not at once
