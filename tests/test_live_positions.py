"""Live exits on position variables: the position the user holds (given or acted on in the store), its
variables on the evaluated bar as the fill step defines them, and the exit firing on the bar a backtest exits.

The agreement test is the contract: for every trade a backtest closes through an exit condition on position
variables, a live scan with that trade's entry as the held position fires the exit on the backtest's exit
signal bar and not on the bar before, with both fill rules (close and next open) and on the short side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.prices import write_csvs

import ruleengine
from ruleengine.errors import RuleEngineError
from ruleengine.live import live_scan
from ruleengine.live.positions import HeldPosition, parse_position, position_values

LONG = """
name: position exits
data: {prices: {kind: ohlcv}}
entry:
  - close > sma(close, 10)
exit:
  logic: any
  conditions:
    - close < sma(close, 30)
    - bars_held >= 12 or unrealized_pct > 6
    - close < highest_since_entry * 0.96
"""

SHORT = """
name: short position exits
direction: short
data: {prices: {kind: ohlcv}}
entry:
  - close < sma(close, 10)
exit:
  logic: any
  conditions:
    - bars_held >= 9 or unrealized_pct > 5
    - close > lowest_since_entry * 1.04
"""

LONG_SHORT = """
name: long short position exits
direction: long_short
data: {prices: {kind: ohlcv}}
entry:
  - crosses_above(close, sma(close, 40))
exit:
  - close < sma(close, 30)
short_entry:
  - crosses_below(close, sma(close, 40))
short_exit:
  logic: any
  conditions:
    - bars_held >= 9 or unrealized_pct > 5
    - close > lowest_since_entry * 1.04
"""


def _walk(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = close * np.exp(rng.normal(0, 0.006, n))
    spread = np.abs(rng.normal(0, 0.01, n)) * close
    idx = pd.bdate_range("2019-01-02", periods=n)
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) + spread,
                         "low": np.minimum(open_, close) - spread, "close": close, "volume": 1e6}, index=idx)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csvs(tmp_path_factory.mktemp("positions"), {"AAA": _walk(400, 1), "BBB": _walk(400, 2)})


def _program_exits(doc: str, folder: Path, price: str) -> list:
    """The backtest's trades closed by an exit signal (the exit block, position variables included)."""
    res = ruleengine.backtest(doc, "AAA,BBB", data=str(folder), params={"execution_price": price})
    trades = [t for r in res.results for t in r.trades if t.exit_reason == "signal"]
    assert len(trades) >= 6, "the fixture must give exits to compare"
    return trades


def _signal_bar(t_fill: str, folder: Path, symbol: str, price: str) -> str:
    """The bar whose signal a fill at `t_fill` acts on: that bar with close fills, the bar before with open."""
    dates = pd.read_csv(folder / f"{symbol}.csv")["date"].tolist()
    i = dates.index(t_fill[:10])
    return dates[i - 1] if price == "open" else dates[i]


def _exit_fired(doc: str, folder: Path, held: HeldPosition, asof: str, price: str) -> tuple[bool, list]:
    """Whether the fill step would act on an exit of `held` on bar `asof`: an exit signal without an entry
    signal of the same side (the two cancel, as the contract says), and the exit signals."""
    scan = live_scan(doc, held.ticker, asof=asof, data=str(folder), positions=[held], params={"execution_price": price})
    exits = [s for s in scan.signals if s.signal_type == "exit"]
    entries = [s for s in scan.signals if s.signal_type == "entry"]
    return bool(exits) and not entries, exits


@pytest.mark.parametrize("doc,price", [(LONG, "close"), (LONG, "open"), (SHORT, "close")])
def test_live_exit_fires_on_the_backtests_exit_bar_and_not_before(doc: str, price: str, folder: Path) -> None:
    for t in _program_exits(doc, folder, price)[:8]:
        side = "short" if "direction: short" in doc else "long"
        held = HeldPosition(t.symbol, side, float(t.entry_price), pd.Timestamp(t.entry_time[:10]), "given")
        exit_bar = _signal_bar(t.exit_time, folder, t.symbol, price)
        fired, sigs = _exit_fired(doc, folder, held, exit_bar, price)
        assert fired, (t.symbol, t.entry_time, t.exit_time)
        dates = pd.read_csv(folder / f"{t.symbol}.csv")["date"].tolist()
        before = dates[dates.index(exit_bar) - 1]
        if before > t.entry_time[:10]:
            assert not _exit_fired(doc, folder, held, before, price)[0], (t.symbol, before)
        snap = sigs[0].data_snapshot["position"]
        assert snap["entry_price"] == pytest.approx(float(t.entry_price))
        assert snap["variables"]["bars_held"] == float(dates.index(exit_bar) - dates.index(t.entry_time[:10]))


@pytest.mark.parametrize("price", ["close", "open"])
def test_a_held_short_of_a_long_short_strategy_exits_live_on_short_exit_s_position_variables(price: str,
                                                                                             folder: Path) -> None:
    """Every short a long_short backtest closes by its exit signal (short_exit's position variables, not a
    reversal by a long entry): a live scan with that short held fires the short exit on the backtest's exit bar,
    shows the variables, and not on the bar before."""
    res = ruleengine.backtest(LONG_SHORT, "AAA,BBB", data=str(folder), params={"execution_price": price})
    trades = [t for r in res.results for t in r.trades]
    reversed_at = {(t.symbol, t.entry_time) for t in trades if t.direction == "long"}
    shorts = [t for t in trades if t.exit_reason == "signal" and t.direction == "short"
              and (t.symbol, t.exit_time) not in reversed_at]
    checked = 0
    for t in shorts[:6]:
        held = HeldPosition(t.symbol, "short", float(t.entry_price), pd.Timestamp(t.entry_time[:10]), "given")
        exit_bar = _signal_bar(t.exit_time, folder, t.symbol, price)
        scan = live_scan(LONG_SHORT, t.symbol, asof=exit_bar, data=str(folder), positions=[held],
                         params={"execution_price": price})
        [sig] = [s for s in scan.signals if s.signal_type == "exit" and s.direction == "short"]
        dates = pd.read_csv(folder / f"{t.symbol}.csv")["date"].tolist()
        variables = sig.data_snapshot["position"]["variables"]
        assert variables["bars_held"] == float(dates.index(exit_bar) - dates.index(t.entry_time[:10]))
        assert "bars_held" in sig.reasoning.text and "position held: short from" in sig.reasoning.text
        before = dates[dates.index(exit_bar) - 1]
        if before > t.entry_time[:10]:
            scan = live_scan(LONG_SHORT, t.symbol, asof=before, data=str(folder), positions=[held],
                             params={"execution_price": price})
            assert not [s for s in scan.signals if s.signal_type == "exit" and s.direction == "short"], before
        checked += 1
    assert checked >= 3
    # without a held short: short_exit's D147 names the side; a held long is valued by the exit block, not listed
    scan = live_scan(LONG_SHORT, "AAA,BBB", asof="2020-03-02", data=str(folder), signal_types=("exit",),
                     positions=["AAA:long:90:2020-02-03"])
    [warning] = [w for w in scan.warnings if w["code"] == "D147"]
    assert warning["path"] == "short_exit" and "need a held short position" in warning["message"]
    assert "BBB" in warning["message"] and "AAA" not in warning["message"]


def test_variables_by_the_fill_steps_definitions() -> None:
    """A bar table: entry 100 on bar 1; highs and lows after it; the entry bar's range counts only for an open
    fill; bars without a price are not held bars."""
    idx = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=5))
    high = np.array([130.0, 120.0, 104.0, np.nan, 108.0])
    low = np.array([70.0, 80.0, 97.0, np.nan, 99.0])
    close = np.array([100.0, 100.0, 101.0, np.nan, 105.0])
    held = HeldPosition("X", "long", 100.0, idx[1], "given")
    at_close = position_values(held, idx, high, low, close, 4, exec_open=False)
    assert at_close == {"entry_price": 100.0, "bars_held": 2.0, "unrealized_pct": pytest.approx(5.0),
                        "highest_since_entry": 108.0, "lowest_since_entry": 97.0}
    at_open = position_values(held, idx, high, low, close, 4, exec_open=True)
    assert (at_open["highest_since_entry"], at_open["lowest_since_entry"]) == (120.0, 80.0)
    short = position_values(HeldPosition("X", "short", 100.0, idx[1], "given"), idx, high, low, close, 4, False)
    assert short["unrealized_pct"] == pytest.approx(-5.0) and short["highest_since_entry"] == 108.0
    assert "after the evaluated bar" in str(position_values(held, idx, high, low, close, 0, False))
    later = HeldPosition("X", "long", 100.0, idx[1], "store signal 3", after_bar=True)
    assert position_values(later, idx, high, low, close, 4, False)["bars_held"] == 1.0  # filled on bar 2


def test_without_a_position_the_condition_says_why_and_d147_lists_the_symbol(folder: Path) -> None:
    scan = live_scan(LONG, "AAA,BBB", asof="2020-03-02", data=str(folder), signal_types=("exit",))
    [warning] = [w for w in scan.warnings if w["code"] == "D147"]
    assert "AAA" in warning["message"] and "--position" in warning["hint"]
    for sig in scan.signals:  # fired by the first condition alone; the position ones have no value
        assert "needs a held position: no open long position known in" in sig.reasoning.text
        assert "position" not in sig.data_snapshot


def test_a_given_position_shows_its_variables_in_the_reasoning(folder: Path) -> None:
    daily = pd.read_csv(folder / "AAA.csv")
    scan = live_scan(LONG, "AAA", asof=daily["date"][60], data=str(folder), signal_types=("exit",),
                     positions=[f"AAA:long:{daily['close'][30] * 0.5}:{daily['date'][30]}"])
    [sig] = scan.signals  # half the price it is now: unrealized_pct > 6 holds
    assert "position held: long from" in sig.reasoning.text and "bars_held 30" in sig.reasoning.text
    assert "[+] bars_held = 30 >= 12" in sig.reasoning.text
    assert not [w for w in scan.warnings if w["code"] == "D147"]


def test_an_acted_entry_in_the_store_is_the_held_position(tmp_path: Path, folder: Path) -> None:
    from ruleengine.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'live.db'}")
    rec = store.add_strategy(ruleengine.load_strategy(LONG))
    target = ruleengine.live_target(rec)
    daily = pd.read_csv(folder / "AAA.csv")
    entry_day = next(d for d in daily["date"][40:] if live_scan(target, "AAA", asof=d, data=str(folder),
                                                                signal_types=("entry",)).signals)
    entry = live_scan(target, "AAA", asof=entry_day, data=str(folder), signal_types=("entry",))
    [sid] = store.save_signals(entry.signals)
    store.act(sid, price=entry.signals[0].price_at_signal)
    i = int(daily.index[daily["date"] == entry_day][0])
    later = live_scan(target, "AAA", asof=daily["date"][i + 12], data=str(folder), store=store,
                      signal_types=("exit",))
    [sig] = later.signals  # 12 bars held: the time exit fires whatever the prices did
    assert sig.data_snapshot["position"]["source"] == f"store signal {sid}"
    assert sig.data_snapshot["position"]["variables"]["bars_held"] == 12.0


@pytest.mark.parametrize("spec,why", [
    ("AAPL:long:140", "four parts"), ("AAPL:up:140:2017-06-01", "not long or short"),
    ("AAPL:long:abc:2017-06-01", "not a number"), ("AAPL:long:-3:2017-06-01", "not a positive number"),
    ("AAPL:long:140:someday", "not a date")])
def test_a_bad_position_is_a_structured_error(spec: str, why: str) -> None:
    with pytest.raises(RuleEngineError) as err:
        parse_position(spec)
    d = err.value.diagnostics[0]
    assert (d.code, d.path) == ("T107", "position") and why in d.message and "TICKER:SIDE:PRICE:DATE" in d.hint


def test_two_positions_in_one_ticker_are_refused(folder: Path) -> None:
    with pytest.raises(RuleEngineError) as err:
        live_scan(LONG, "AAA", data=str(folder), asof="2020-03-02",
                  positions=["AAA:long:90:2020-01-02", "AAA:long:95:2020-01-03"])
    assert err.value.diagnostics[0].code == "T107" and "two open positions in AAA" in err.value.diagnostics[0].message


def test_cli_takes_positions(folder: Path) -> None:
    from typer.testing import CliRunner

    from ruleengine.cli import app

    doc = folder.parent / "doc.yaml"
    doc.write_text(LONG)
    daily = pd.read_csv(folder / "AAA.csv")
    out = CliRunner().invoke(app, ["signals", str(doc), "--symbols", "AAA", "--data", str(folder), "--asof",
                                   daily["date"][60], "--type", "exit", "--position",
                                   f"AAA:long:{daily['close'][30] * 0.5}:{daily['date'][30]}"])
    assert out.exit_code == 0, out.output
    assert "bars_held = 30 >= 12" in out.output
    bad = CliRunner().invoke(app, ["signals", str(doc), "--symbols", "AAA", "--data", str(folder),
                                   "--position", "AAA:long"])
    assert bad.exit_code != 0 and "T107" in bad.output and "Traceback" not in bad.output


def test_the_users_fills_make_the_positions_they_leave_open() -> None:
    from ruleengine.live.positions import fill_positions

    at = pd.to_datetime(["2024-01-02 15:00", "2024-01-03 15:00", "2024-01-04 15:00", "2024-01-05 15:00",
                         "2024-01-08 15:00", "2024-01-02 15:00", "2024-01-03 15:00"]).tz_localize("UTC")
    fills = pd.DataFrame({"symbol": ["AAA", "AAA", "AAA", "AAA", "AAA", "BBB", "CCC"],
                          "quantity": [10.0, 10.0, -5.0, -15.0, 3.0, -10.0, 4.0],
                          "price": [100.0, 110.0, 120.0, 90.0, 95.0, 50.0, 20.0]}, index=at)
    held = {p.ticker: p for p in fill_positions(fills, "2024-01-04 23:00")}
    assert (held["AAA"].side, held["AAA"].entry_price, held["AAA"].entry_time) == \
        ("long", 105.0, pd.Timestamp("2024-01-02 10:00"))  # 10 @ 100 + 10 @ 110, a sale keeps the average
    assert "15 shares" in held["AAA"].source
    assert (held["BBB"].side, held["BBB"].entry_price) == ("short", 50.0)
    later = {p.ticker: p for p in fill_positions(fills, "2024-01-09")}
    assert (later["AAA"].entry_price, later["AAA"].entry_time.date()) == (95.0, pd.Timestamp("2024-01-08").date())
    assert fill_positions(fills, "2024-01-01") == [] and fill_positions(None, "2024-01-09") == []


def test_a_broker_export_is_the_held_position_of_live_exits(folder: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    daily = pd.read_csv(folder / "AAA.csv")
    export = tmp_path / "fills.csv"
    export.write_text(f"date,symbol,action,quantity,price\n{daily['date'][30]},AAA,buy,40,"
                      f"{daily['close'][30] * 0.5}\n")
    monkeypatch.setenv("RULEENGINE_PORTFOLIO", str(export))
    scan = live_scan(LONG, "AAA", asof=daily["date"][60], data=str(folder), signal_types=("exit",))
    [sig] = scan.signals
    assert sig.data_snapshot["position"]["source"] == "your fills: 40 shares"
    assert sig.data_snapshot["position"]["variables"]["bars_held"] == 30.0
    assert "you hold 40 shares" in sig.reasoning.text
