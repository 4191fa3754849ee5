"""Live exits of a pair on position variables: the pair the user holds (given, acted on in the store, or left
open by their own fills) and its variables on the evaluated bar, those of the pair's combined value as the fill
step defines them (PAIR_FILL_CONTRACT).

The contract is the plain-Python reference simulation (tests/support/sim_reference.py `reference_pairs`, equal
to the kernel in tests/test_pairs.py): on every bar of its trades, the live variables of the trade's entry (both
legs' fill prices and units) equal the variables the simulation read there; and a live scan with a backtest
trade's entry as the held pair fires the exit on the bar whose signal the backtest exited on, not before; with
close and next-open fills, long and short pairs, fees, slippage and a borrow cost. All on the committed
real-price sample (tests/fixtures/daily_sample: XLE and XLF)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from support.paths import FIXTURES
from support.sim_reference import reference_pairs
from typer.testing import CliRunner

import ruleengine
from ruleengine.backtest.risk import resolve_risk
from ruleengine.cli import app
from ruleengine.errors import RuleEngineError
from ruleengine.live import live_scan
from ruleengine.live.held_pairs import HeldPair, PairLeg, pair_values, parse_pair_position
from ruleengine.live.positions import parse_position

SAMPLE = str(FIXTURES / "daily_sample")
LEGS = "asset_a=XLE,asset_b=XLF"
#: a long pair on a low z-score of XLE / XLF at a rolling hedge ratio in value, closed by the z-score or by
#: exits that know the pair (its loss or time held; a give-back from its high), with fees, slippage and borrow
DOC: dict[str, Any] = {
    "name": "pair exits on position variables",
    "data": {"asset_a": {"kind": "ohlcv"}, "asset_b": {"kind": "ohlcv"}},
    "entry": ["zscore(asset_a.close / asset_b.close, 20) < -1.5"],
    "exit": {"logic": "any", "conditions": [
        "abs(zscore(asset_a.close / asset_b.close, 20)) < 0.3",
        "unrealized_pct < -2 or bars_held >= 8",
        "highest_since_entry > entry_price * 1.02 and lowest_since_entry < entry_price and unrealized_pct < 0.5"]},
    "pair": {"legs": ["asset_a", "asset_b"], "hedge_ratio": "sma(asset_a.close, 30) / sma(asset_b.close, 30)"},
    "risk": {"borrow_cost_pct": 5, "fees_pct": 0.1, "slippage_pct": 0.05}}
#: the short side: short the pair (sell XLE short, buy XLF) on a high z-score, the same exits mirrored
SHORT_DOC = {**DOC, "direction": "short", "entry": ["zscore(asset_a.close / asset_b.close, 20) > 1.5"]}
#: units in shares: the hedge ratio is leg b's units per unit of leg a
UNITS_DOC = {**DOC, "pair": {**DOC["pair"], "sizing": "hedge_ratio_units"}}


class Reference:
    """The sample's market data, the strategy's signals and the reference simulation of it, with the position
    variables its exit rule read on each bar."""

    def __init__(self, doc: dict[str, Any], price: str) -> None:
        self.strategy = ruleengine.load_strategy(doc)
        self.md = ruleengine.load_data(self.strategy, LEGS, data=SAMPLE)
        sig = ruleengine.compile_strategy(self.strategy).signals(self.md)
        self.hedge = sig.levels["hedge_ratio"]
        self.prices = {f"{col}_{leg}": self.md.inputs[(slot, col)][:, 0]
                       for leg, slot in (("a", "asset_a"), ("b", "asset_b")) for col in ("open", "close")}
        self.risk = resolve_risk(self.strategy, {"execution_price": price})
        program = sig.exit_program
        rows = [sig.levels[f"exit_program:{k}"] for k in range(len(program.levels))]
        self.read: dict[int, dict[str, float]] = {}  # bar -> the variables the exit rule read there

        def rule(t: int, j: int, state: dict[str, float]) -> bool:
            self.read[t] = dict(state)
            return bool(program.evaluate([r[t, j] for r in rows], state).exit)

        pa = {c: self.md.inputs[("asset_a", c)] for c in ("open", "high", "low", "close")}
        pb = {c: self.md.inputs[("asset_b", c)] for c in ("open", "high", "low", "close")}
        self.trades, _ = reference_pairs(pa, pb, sig.entries, sig.exits, self.md.index, [self.risk], self.hedge,
                                         self.strategy.pair.sizing, 10_000.0, self.md.start, exit_rule=rule)
        assert len(self.trades) >= 10

    def held(self, trade: dict[str, Any], units: bool = True) -> HeldPair:
        """The trade's entry as a given held pair: both legs' fill prices (and units), its entry bar."""
        side = "long" if trade["direction"] > 0 else "short"
        other = "short" if side == "long" else "long"
        legs = (PairLeg("XLE", side, trade["entry_price"], trade["size"] if units else None),
                PairLeg("XLF", other, trade["leg_b_entry_price"], trade["leg_b_size"] if units else None))
        return HeldPair("XLE/XLF", side, legs, self.md.index[trade["entry_bar"]], "given")  # type: ignore[arg-type]

    def values(self, held: HeldPair, t: int) -> Any:
        return pair_values(held, self.md.index, self.prices, self.hedge[:, 0], self.strategy.pair.sizing, t,
                           self.risk.execution_price == "open", self.risk.borrow_cost_pct)


@pytest.mark.parametrize("doc,price", [(DOC, "close"), (DOC, "open"), (SHORT_DOC, "close"), (UNITS_DOC, "open")])
def test_live_variables_equal_the_simulations_on_every_bar_of_its_trades(doc: dict[str, Any], price: str) -> None:
    ref = Reference(doc, price)
    compared = 0
    for trade in ref.trades[:8]:
        exact, per_unit = ref.held(trade), ref.held(trade, units=False)
        for t in range(trade["entry_bar"], trade["exit_bar"] + 1):
            if t not in ref.read:
                continue
            sim = ref.read[t]
            got, units = ref.values(exact, t)
            assert units == (trade["size"], trade["leg_b_size"])
            assert got == pytest.approx(sim, rel=1e-12), (trade["entry_bar"], t)
            # without the units: leg b per unit of leg a at the signal bar's hedge ratio, as the fill step splits
            scaled, (one, ratio) = ref.values(per_unit, t)
            assert (one, ratio) == (1.0, pytest.approx(trade["leg_b_size"] / trade["size"], rel=1e-12))
            assert (scaled["unrealized_pct"], scaled["bars_held"]) == \
                (pytest.approx(sim["unrealized_pct"], rel=1e-9, abs=1e-9), sim["bars_held"])
            for k in ("entry_price", "highest_since_entry", "lowest_since_entry"):
                assert scaled[k] * trade["size"] == pytest.approx(sim[k], rel=1e-9)
            compared += 1
    assert compared >= 30
    assert {"long" if t["direction"] > 0 else "short" for t in ref.trades} == \
        {"short" if doc.get("direction") == "short" else "long"}


def _signal_bar(md: Any, fill_time: str, price: str) -> str:
    """The bar whose signal a fill at `fill_time` acts on: that bar with close fills, the bar before with open."""
    days = [str(d.date()) for d in md.index]
    i = days.index(fill_time[:10])
    return days[i - 1] if price == "open" else days[i]


def _pair_spec(trade: Any, units: bool = True) -> str:
    """A backtest trade's entry as ``--position`` spells a pair: both legs' fill prices (and units)."""
    legs = ",".join(f"{x.symbol}={x.size!r}@{x.entry_price!r}" if units else f"{x.symbol}={x.entry_price!r}"
                    for x in trade.legs)
    return f"XLE/XLF:{trade.legs[0].side}:{legs}:{trade.entry_time[:10]}"


def _exit(doc: dict[str, Any], asof: str, price: str, **kw: Any) -> tuple[bool, list[Any]]:
    """Whether the fill step would act on the held pair's exit on bar `asof` (no entry of the same side on it:
    the two cancel), and the exit signals."""
    scan = live_scan(doc, LEGS, asof=asof, data=SAMPLE, params={"execution_price": price}, **kw)
    exits = [s for s in scan.signals if s.signal_type == "exit"]
    entries = [s for s in scan.signals if s.signal_type == "entry"]
    return bool(exits) and not entries, exits


@pytest.mark.parametrize("doc,price", [(DOC, "close"), (DOC, "open"), (SHORT_DOC, "open")])
def test_a_held_pair_exits_live_on_the_bar_the_backtest_exited_and_not_before(doc: dict[str, Any],
                                                                              price: str) -> None:
    res = ruleengine.backtest(doc, LEGS, data=SAMPLE, params={"execution_price": price}, benchmark=None)
    md = ruleengine.load_data(ruleengine.load_strategy(doc), LEGS, data=SAMPLE)
    knowing = 0
    for trade in [t for t in res.results[0].trades if t.exit_reason == "signal"][:6]:
        exit_bar = _signal_bar(md, trade.exit_time, price)
        fired, sigs = _exit(doc, exit_bar, price, positions=[_pair_spec(trade)])
        assert fired, (trade.entry_time, trade.exit_time)
        held = sigs[0].data_snapshot["position"]
        assert [leg["units"] for leg in held["legs"]] == [trade.legs[0].size, trade.legs[1].size]
        v = held["variables"]
        assert v["entry_price"] == pytest.approx(sum(x.size * x.entry_price for x in trade.legs), rel=1e-12)
        text = sigs[0].reasoning.text
        assert "pair held: " in text and f"bars_held {v['bars_held']:g}" in text
        knowing += v["bars_held"] >= 8 or v["unrealized_pct"] < -2
        days = [str(d.date()) for d in md.index]
        before = days[days.index(exit_bar) - 1]
        if before > trade.entry_time[:10]:
            assert not _exit(doc, before, price, positions=[_pair_spec(trade)])[0], (trade.entry_time, before)
        # given without units: valued per unit of the first leg, the same exit
        fired, sigs = _exit(doc, exit_bar, price, positions=[_pair_spec(trade, units=False)])
        assert fired and "valued per 1 XLE" in sigs[0].reasoning.text
        assert sigs[0].data_snapshot["position"]["variables"]["bars_held"] == v["bars_held"]
    assert knowing >= 2, "the fixture must give exits by the position variables"


@pytest.mark.parametrize("price", ["close", "open"])
def test_an_acted_pair_entry_in_the_store_is_the_held_pair_through_the_cli(tmp_path: Path, price: str,
                                                                        provider_env_cleared: Path) -> None:
    """Save the entry signal, act on it with both legs' fills (the backtest trade's), then the exit on the bar
    the backtest exited by its position variables comes from the store's held pair (its legs' fills, the
    signal's hedge ratio: the backtest's units). A pair acted on with one price before both legs were recorded
    (a row from before migration 0005) has no variables, and says why."""
    import sqlite3

    doc = tmp_path / "pair.yaml"
    doc.write_text(yaml.safe_dump(DOC))
    db = tmp_path / "live.db"
    res = ruleengine.backtest(DOC, LEGS, data=SAMPLE, params={"execution_price": price}, benchmark=None)
    md = ruleengine.load_data(ruleengine.load_strategy(DOC), LEGS, data=SAMPLE)
    days = [str(d.date()) for d in md.index]
    trade = next(t for t in res.results[0].trades if t.exit_reason == "signal"
                 and days.index(t.exit_time[:10]) - days.index(t.entry_time[:10]) >= 8 + (price == "open"))

    def run(*args: str) -> dict[str, Any]:
        out = CliRunner().invoke(app, [*args, "--json"])
        assert "Traceback" not in out.output
        return json.loads(out.stdout)

    def scan(asof: str, kind: str) -> dict[str, Any]:
        return run("signals", "run", str(doc), "--symbols", LEGS, "--data", SAMPLE, "--asof", asof, "--type", kind,
                   "--param", f"execution_price={price}", "--save", "--db", str(db))

    (entry,) = scan(_signal_bar(md, trade.entry_time, price), "entry")["signals"]
    a, b = trade.legs
    acted = run("signals", "act", str(entry["id"]), "--price", f"XLE={a.entry_price!r}", "--price",
                f"XLF={b.entry_price!r}", "--date", trade.entry_time[:10], "--db", str(db))
    assert acted["success"] is True, acted
    exit_bar = _signal_bar(md, trade.exit_time, price)
    out = scan(exit_bar, "exit")
    (sig,) = out["signals"]
    held = sig["data_snapshot"]["position"]
    assert held["source"] == f"store signal {entry['id']}" and held["variables"]["bars_held"] == 8.0
    assert [(x["symbol"], x["entry_price"]) for x in held["legs"]] == [("XLE", a.entry_price), ("XLF", b.entry_price)]
    assert held["legs"][1]["units"] == pytest.approx(b.size / a.size, rel=1e-12)  # the backtest's split
    assert held["variables"]["entry_price"] * a.size == pytest.approx(a.size * a.entry_price + b.size * b.entry_price)
    assert "[+] bars_held = 8 >= 8" in sig["reasoning"]["text"]
    assert not [w for w in out["warnings"] if w["code"] == "D147"]
    with sqlite3.connect(db) as con:
        con.execute("UPDATE strategy_signals SET acted_legs = NULL WHERE signal_id = ?", (entry["id"],))
    (warning,) = scan(exit_bar, "exit")["warnings"]
    assert warning["code"] == "D147" and f"XLE/XLF (store signal {entry['id']} was acted on with one price" \
        in warning["message"]


def test_the_users_fills_of_both_legs_are_the_held_pair(tmp_path: Path, provider_env_cleared: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """XLE bought and XLF sold short at a trade's entry: a long pair of the fills' units and prices, whose
    variables are the simulation's and whose exit fires on the trade's exit bar; one leg alone is no pair (D147
    says so, with the pair's spelling)."""
    ref = Reference(DOC, "close")
    trade = next(t for t in ref.trades if t["exit_reason"] == "signal" and ref.read.get(t["exit_bar"], {}).get(
        "bars_held", 0) >= 8)
    day = str(ref.md.index[trade["entry_bar"]].date())
    asof = str(ref.md.index[trade["exit_bar"]].date())
    fills = tmp_path / "fills.csv"
    fills.write_text("date,symbol,action,quantity,price\n"
                     f"{day},XLE,buy,{trade['size']!r},{trade['entry_price']!r}\n"
                     f"{day},XLF,sell,{trade['leg_b_size']!r},{trade['leg_b_entry_price']!r}\n")
    monkeypatch.setenv("RULEENGINE_PORTFOLIO", str(fills))
    scan = live_scan(DOC, LEGS, asof=asof, data=SAMPLE, signal_types=("exit",))
    (sig,) = scan.signals
    held = sig.data_snapshot["position"]
    assert held["source"] == "your fills" and held["variables"] == pytest.approx(ref.read[trade["exit_bar"]],
                                                                                   rel=1e-12)
    assert "XLE: you hold" in sig.reasoning.text and not [w for w in scan.warnings if w["code"] == "D147"]
    fills.write_text(f"date,symbol,action,quantity,price\n{day},XLE,buy,10,{trade['entry_price']!r}\n")
    alone = live_scan(DOC, LEGS, asof=asof, data=SAMPLE, signal_types=("exit",))
    [warning] = [w for w in alone.warnings if w["code"] == "D147"]
    assert "pair(s): XLE/XLF" in warning["message"] and "XLE/XLF:long:XLE=60.1" in warning["hint"]


@pytest.mark.parametrize("spec,why", [
    ("XLE/XLF:long:XLE=60.1:2017-06-01", "both legs"), ("XLE/XLF:long:XLE=60.1,SPY=3:2017-06-01", "does not name"),
    ("XLE/XLF:up:XLE=60.1,XLF=24.3:2017-06-01", "not long or short"),
    ("XLE/XLF:long:XLE=abc,XLF=24.3:2017-06-01", "not a number"),
    ("XLE/XLF:long:XLE=60.1,XLF=-2:2017-06-01", "not a positive number"),
    ("XLE/XLF:long:XLE=5@60.1,XLF=24.3:2017-06-01", "or of neither"),
    ("XLE/XLE:long:XLE=60.1,XLF=24.3:2017-06-01", "two different tickers"),
    ("XLE/XLF:long:XLE=60.1,XLE=61:2017-06-01", "given twice"),
    ("XLE/XLF:long:XLE=60.1,XLF=24.3:someday", "not a date"), ("XLE/XLF:long", "four parts")])
def test_a_bad_pair_position_is_a_structured_error(spec: str, why: str) -> None:
    with pytest.raises(RuleEngineError) as err:
        parse_position(spec)
    d = err.value.diagnostics[0]
    assert (d.code, d.path) == ("T107", "position") and why in d.message and "A/B:SIDE:A=PRICE,B=PRICE" in d.hint


def test_a_pair_position_is_parsed_with_or_without_units() -> None:
    p = parse_pair_position("xle/xlf:short:XLF=24.3,xle=60.1:2017-06-01")
    assert (p.ticker, p.side, p.entry_time) == ("XLE/XLF", "short", pd.Timestamp("2017-06-01"))
    assert [(x.symbol, x.side, x.entry_price, x.units) for x in p.legs] == \
        [("XLE", "short", 60.1, None), ("XLF", "long", 24.3, None)]
    q = parse_pair_position("XLE/XLF:long:XLE=100@60.1,XLF=250@24.3:2017-06-01")
    assert [x.units for x in q.legs] == [100.0, 250.0]


def test_positions_of_the_wrong_kind_or_without_values_say_why() -> None:
    """A pair's position for a one-symbol strategy (and the reverse) is T107; a held pair entered after the bar,
    or a short pair held while the exit closes long pairs, gives the condition a note and D147."""
    one = {**DOC, "data": {"prices": {"kind": "ohlcv"}}, "entry": ["close > sma(close, 10)"],
           "exit": ["bars_held >= 3"], "pair": None}
    with pytest.raises(RuleEngineError) as err:
        live_scan({k: v for k, v in one.items() if v is not None}, "XLE", data=SAMPLE, asof="2012-06-01",
                  positions=["XLE/XLF:long:XLE=60.1,XLF=24.3:2012-05-01"])
    assert err.value.diagnostics[0].code == "T107" and "without a pair block" in err.value.diagnostics[0].message
    with pytest.raises(RuleEngineError) as err:
        live_scan(DOC, LEGS, data=SAMPLE, asof="2012-06-01", positions=["XLE:long:60.1:2012-05-01"])
    assert err.value.diagnostics[0].code == "T107" and "XLE/XLF:long:XLE=60.1" in err.value.diagnostics[0].hint
    # on 2012-04-19 the z-score exit fires alone: the conditions on the pair's variables say why they have none
    for spec, note in (("XLE/XLF:long:XLE=60.1,XLF=24.3:2012-04-20", "is after the evaluated bar"),
                       ("XLE/XLF:short:XLE=60.1,XLF=24.3:2012-04-02", "no open long pair known in XLE/XLF")):
        scan = live_scan(DOC, LEGS, data=SAMPLE, asof="2012-04-19", positions=[spec], signal_types=("exit",))
        [warning] = [w for w in scan.warnings if w["code"] == "D147"]
        assert "pair(s): XLE/XLF" in warning["message"] and ("after the evaluated bar" in warning["message"]) == \
            ("after" in note)
        (sig,) = scan.signals
        assert "needs a held pair: " in sig.reasoning.text and note in sig.reasoning.text
        assert "position" not in sig.data_snapshot


#: both sides: a long_short pair whose short_exit reads the short pair's position variables
LONG_SHORT_DOC = {**DOC, "direction": "long_short", "short_entry": SHORT_DOC["entry"], "short_exit": DOC["exit"]}


def _short_exit(asof: str, price: str, position: str) -> tuple[bool, Any]:
    """Whether the fill step would act on the held short pair's exit on bar `asof` (a short exit without a short
    entry on the bar: the two cancel; the exit block's signals are the long side's), and the short exit signal."""
    scan = live_scan(LONG_SHORT_DOC, LEGS, asof=asof, data=SAMPLE, params={"execution_price": price},
                     positions=[position])
    short = {s.signal_type: s for s in scan.signals if s.direction == "short"}
    return "exit" in short and "entry" not in short, short.get("exit")


@pytest.mark.parametrize("price", ["close", "open"])
def test_a_held_short_pair_of_a_long_short_strategy_exits_live_on_short_exit(price: str) -> None:
    """Every short pair a long_short backtest closes by its short exit (not reversed by a long entry): a live scan
    with it held fires the short exit on the backtest's exit bar with the pair's variables, and not before."""
    res = ruleengine.backtest(LONG_SHORT_DOC, LEGS, data=SAMPLE, params={"execution_price": price}, benchmark=None)
    md = ruleengine.load_data(ruleengine.load_strategy(LONG_SHORT_DOC), LEGS, data=SAMPLE)
    trades = res.results[0].trades
    reversed_at = {t.entry_time for t in trades if t.direction == "long"}
    shorts = [t for t in trades if t.direction == "short" and t.exit_reason == "signal"
              and t.exit_time not in reversed_at]
    days = [str(d.date()) for d in md.index]
    knowing = 0
    for trade in shorts[:4]:
        exit_bar = _signal_bar(md, trade.exit_time, price)
        acts, sig = _short_exit(exit_bar, price, _pair_spec(trade))
        assert acts and sig is not None, (trade.entry_time, trade.exit_time)
        v = sig.data_snapshot["position"]["variables"]
        assert "pair held: short" in sig.reasoning.text
        knowing += v["bars_held"] >= 8 or v["unrealized_pct"] < -2
        before = days[days.index(exit_bar) - 1]
        if before > trade.entry_time[:10]:
            assert not _short_exit(before, price, _pair_spec(trade))[0], before
    assert len(shorts) >= 2 and knowing >= 1, "the fixture must give short exits by the position variables"


def test_a_tracked_short_pair_of_a_long_short_strategy_exits_as_the_backtest(tmp_path: Path) -> None:
    """A short pair entry saved and tracked: its hypothetical trade runs short_exit's program on the pair (as the
    one-side simulation of a short strategy) and closes on the bar the backtest closed it."""
    from ruleengine.live import track
    from ruleengine.store import open_store

    res = ruleengine.backtest(LONG_SHORT_DOC, LEGS, data=SAMPLE, benchmark=None)
    trades = res.results[0].trades
    reversed_at = {t.entry_time for t in trades if t.direction == "long"}
    trade = next(t for t in trades if t.direction == "short" and t.exit_reason == "signal"
                 and t.exit_time not in reversed_at)
    store = open_store(str(tmp_path / "t.db"))
    rec = store.add_strategy(yaml.safe_dump(LONG_SHORT_DOC))
    scan = live_scan(store.get_strategy(rec.id), LEGS, asof=trade.entry_time[:10], data=SAMPLE,
                     signal_types=("entry",))
    assert [(s.signal_type, s.direction) for s in scan.signals] == [("entry", "short")]
    store.save_signals(scan.signals)
    track(store, rec.id, asof=trade.exit_time[:10], data=SAMPLE)
    [saved] = store.list_signals(rec.id)
    h = saved.hypothetical
    assert (h["status"], h["exit_reason"], h["exit_time"][:10]) == ("closed", "signal", trade.exit_time[:10])
