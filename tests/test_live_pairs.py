"""Live signals, scans and tracking of a pair strategy (rules/pairs_long_short.yaml) through the CLI, on the
committed real-price sample (tests/fixtures/daily_sample: XLE and XLF).

On that data the 20-bar z-score of XLE / XLF is below -2 on 2013-03-04 (long the pair: buy XLE, sell XLF
short), above 2 on 2013-01-29 (short the pair) and back inside 0.5 on 2013-03-22 (close both legs). The live
signal on a bar is the backtest's trade on that bar, and the tracked hypothetical trade is the backtest's trade.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from support.paths import FIXTURES, RULES
from typer.testing import CliRunner

from ruleengine.cli import app

SAMPLE = str(FIXTURES / "daily_sample")
PAIR = str(RULES / "pairs_long_short.yaml")
LEGS = "asset_a=XLE,asset_b=XLF"


def run(*args: str) -> dict[str, Any]:
    res = CliRunner().invoke(app, [*args, "--json"])
    assert "Traceback" not in res.output
    return json.loads(res.stdout)


def signals(asof: str, doc: str = PAIR, symbols: str = LEGS, *extra: str) -> dict[str, Any]:
    return run("signals", "run", doc, "--symbols", symbols, "--data", SAMPLE, "--asof", asof, *extra)


@pytest.fixture(scope="module")
def backtest() -> dict[str, Any]:
    out = run("backtest", PAIR, "--symbols", LEGS, "--data", SAMPLE, "--start", "2012-11-01", "--end", "2013-06-28")
    assert out["success"] is True, out
    return out


def test_a_long_pair_entry_names_both_legs_the_hedge_ratio_and_the_z_score(backtest, provider_env_cleared,
                                                                           tmp_path, monkeypatch):
    fills = tmp_path / "fills.csv"
    fills.write_text("date,symbol,action,quantity,price\n2013-02-01,XLE,buy,40,24.0\n")
    monkeypatch.setenv("RULEENGINE_PORTFOLIO", str(fills))   # the user's own position, named per leg
    out = signals("2013-03-04")
    (sig,) = out["signals"]
    assert (sig["ticker"], sig["signal_type"], sig["direction"], sig["bar_time"]) == \
        ("XLE/XLF", "entry", "long", "2013-03-04T00:00:00")
    pair = sig["data_snapshot"]["pair"]
    (a, b) = pair["legs"]
    assert (a["symbol"], a["side"], a["action"], b["symbol"], b["side"], b["action"]) == \
        ("XLE", "long", "buy", "XLF", "short", "sell short")
    assert (pair["hedge_ratio"], pair["sizing"]) == (1.0, "dollar_neutral")
    assert pair["units_b_per_unit_a"] == pytest.approx(a["close"] / b["close"])   # equal dollars
    text = sig["reasoning"]["text"]
    assert "buy XLE (asset_a)" in text and "sell short XLF (asset_b)" in text and "hedge ratio 1" in text
    assert "XLE: you hold 40 shares; XLF: you hold no shares" in text
    assert "a short pair held is closed first, both legs (reversal)" in text
    (cond,) = sig["reasoning"]["conditions"]
    assert cond["result"] is True and cond["left"]["value"] < -2   # the z-score, with its value
    # the backtest opens the same pair on that bar, at the same closes
    trade = next(t for t in backtest["results"][0]["trades"] if t["entry_time"][:10] == "2013-03-04")
    legs = trade["legs"]
    assert [(x["symbol"], x["side"]) for x in legs] == [("XLE", "long"), ("XLF", "short")]
    assert (legs[0]["entry_price"], legs[1]["entry_price"]) == pytest.approx((a["close"], b["close"]))


def test_the_console_shows_both_legs(provider_env_cleared):
    res = CliRunner().invoke(app, ["signals", "run", PAIR, "--symbols", LEGS, "--data", SAMPLE, "--asof",
                                   "2013-03-04"])
    assert res.exit_code == 0, res.output
    assert "ENTRY XLE/XLF at 24.12 / 12.03" in res.output
    assert "entry; pair: buy XLE (asset_a) at 24.119 and sell short XLF (asset_b) at 12.0333; hedge ratio 1" \
        in res.output


def test_a_short_pair_entry_and_the_exit_of_an_open_pair(provider_env_cleared):
    (short,) = signals("2013-01-29")["signals"]
    assert (short["signal_type"], short["direction"], short["action"]) == ("entry", "short", "sell short")
    a, b = short["data_snapshot"]["pair"]["legs"]
    assert (a["symbol"], a["action"], b["symbol"], b["action"]) == ("XLE", "sell short", "XLF", "buy")
    out = signals("2013-03-22", PAIR, LEGS, "--type", "exit")
    exits = {s["direction"]: s for s in out["signals"]}
    assert set(exits) == {"long", "short"} and all(s["ticker"] == "XLE/XLF" for s in exits.values())
    assert "close both legs: sell XLE (asset_a)" in exits["long"]["reasoning"]["text"]
    assert [x["action"] for x in exits["long"]["data_snapshot"]["pair"]["legs"]] == ["sell", "buy to cover"]
    assert [x["action"] for x in exits["short"]["data_snapshot"]["pair"]["legs"]] == ["buy to cover", "sell"]


def test_an_entry_whose_hedge_ratio_opens_no_pair_is_no_signal(tmp_path, provider_env_cleared):
    doc = tmp_path / "pair.yaml"
    text = (RULES / "pairs_long_short.yaml").read_text(encoding="utf-8")
    doc.write_text(text.replace("hedge_ratio: 1,", "hedge_ratio: \"asset_b.close - 1000\","), encoding="utf-8")
    out = signals("2013-03-04", str(doc))
    assert out["success"] is True and out["signals"] == []
    (w,) = [w for w in out["warnings"] if w["code"] == "D148"]
    assert "XLE/XLF" in w["message"] and w["path"] == "pair.hedge_ratio"


def test_single_symbols_for_a_pair_are_d146_and_say_why(tmp_path, provider_env_cleared):
    universe = tmp_path / "universe.txt"
    universe.write_text("XLE\nXLF\n")
    for spec in ("XLE,XLF", f"@{universe}"):
        out = signals("2013-03-04", PAIR, spec)
        assert out["success"] is False and out["error"]["type"] == "validation_error"
        (d,) = out["error"]["details"]
        assert d["code"] == "D146" and "which is which" in d["message"]
        assert "--symbols asset_a=TICKER,asset_b=TICKER" in d["hint"]


def test_save_track_and_scan_a_pair_with_both_legs(backtest, tmp_path, provider_env_cleared):
    db = str(tmp_path / "live.db")
    saved = signals("2013-03-04", PAIR, LEGS, "--save", "--db", db)
    (sig,) = saved["signals"]
    track = run("track", "--asof", "2013-06-28", "--data", SAMPLE, "--db", db)
    assert track["success"] is True, track
    (perf,) = track["performance"]
    assert perf["hypothetical_trades"] == 1
    shown = run("signals", "show", str(sig["id"]), "--db", db)["signal"]
    hypo = shown["hypothetical"]
    trade = next(t for t in backtest["results"][0]["trades"] if t["entry_time"][:10] == "2013-03-04")
    assert (hypo["status"], hypo["exit_time"][:10], hypo["exit_reason"]) == \
        ("closed", trade["exit_time"][:10], trade["exit_reason"])
    assert hypo["return_pct"] == pytest.approx(trade["pnl_pct"])   # both legs' P&L, as the backtest's
    a, b = hypo["legs"]
    assert [(x["symbol"], x["side"]) for x in (a, b)] == [("XLE", "long"), ("XLF", "short")]
    assert (b["entry_price"], b["exit_price"]) == pytest.approx(
        (trade["legs"][1]["entry_price"], trade["legs"][1]["exit_price"]))
    # acted on without prices: each leg at its close on the signal's bar (the snapshot's)
    acted = run("signals", "act", str(sig["id"]), "--db", db)["signal"]
    assert {k: v["price"] for k, v in acted["acted_legs"].items()} == \
        {"XLE": a["entry_price"], "XLF": b["entry_price"]}
    # closed by hand at both legs' exit fills: the backtest's trade, both legs, the same return
    closed = run("signals", "close", str(sig["id"]), "--price", f"xle={trade['legs'][0]['exit_price']!r}",
                 "--price", f"XLF={trade['legs'][1]['exit_price']!r}", "--date", trade["exit_time"][:10],
                 "--db", db)["signal"]["outcome"]
    assert closed["return_pct"] == pytest.approx(trade["pnl_pct"], rel=1e-9, abs=1e-12)
    assert closed["legs"]["XLF"]["exit_price"] == trade["legs"][1]["exit_price"]
    perf = run("track", "--asof", "2013-06-28", "--data", SAMPLE, "--db", db)["performance"][0]
    assert (perf["signals_acted_on"], perf["actual_trades"], perf["hypothetical_trades"]) == (1, 1, 1)
    assert perf["actual_return_pct"] == pytest.approx(trade["pnl_pct"], rel=1e-9, abs=1e-12)
    listed = CliRunner().invoke(app, ["signals", "list", "--db", db])
    assert listed.exit_code == 0 and "XLE/XLF" in listed.output
    assert f"{trade['pnl_pct']:+.2f} %" in listed.output and "XLE 24.119 / XLF 12.0333" in listed.output
    # the scan of the stored strategy over its legs stores the same entry (already stored: not new)
    assert CliRunner().invoke(app, ["strategies", "universe", str(shown["strategy_id"]), LEGS, "--db",
                                    db]).exit_code == 0
    scan = run("scan", "--asof", "2013-03-04", "--data", SAMPLE, "--db", db)
    (row,) = scan["strategies"]
    assert (row["status"], row["signals"], row["new"]) == ("ok", 1, 0)
    # on 2013-03-22 both sides' exits fire: the scan stores the exit of the pair held (long), not the short's
    (row,) = run("scan", "--asof", "2013-03-22", "--data", SAMPLE, "--db", db)["strategies"]
    assert (row["status"], row["signals"], row["new"]) == ("ok", 1, 1)
    (exit_,) = [s for s in run("signals", "list", "--db", db)["signals"] if s["signal_type"] == "exit"]
    assert (exit_["ticker"], exit_["direction"]) == ("XLE/XLF", "long")
    assert [x["action"] for x in exit_["data_snapshot"]["pair"]["legs"]] == ["sell", "buy to cover"]
    # a universe of single symbols does not say which is which leg: that strategy's row is D146
    CliRunner().invoke(app, ["strategies", "universe", str(shown["strategy_id"]), "XLE,XLF", "--db", db])
    (row,) = run("scan", "--asof", "2013-03-04", "--data", SAMPLE, "--db", db)["strategies"]
    assert row["status"] == "error" and [d["code"] for d in row["details"]] == ["D146"]


def test_an_expression_hedge_ratio_is_its_value_on_the_signal_bar(provider_env_cleared):
    """A rolling hedge ratio in units (sma(a) / sma(b) over 30 bars): the signal reads it on its bar, from the
    history the live data load fetches for it, as pandas computes it on the whole file."""
    import pandas as pd

    import ruleengine

    doc = {"name": "pair units", "data": {"asset_a": {"kind": "ohlcv"}, "asset_b": {"kind": "ohlcv"}},
           "entry": ["zscore(asset_a.close / asset_b.close, 20) < -1.5"],
           "exit": ["abs(zscore(asset_a.close / asset_b.close, 20)) < 0.3"],
           "pair": {"legs": ["asset_a", "asset_b"], "sizing": "hedge_ratio_units",
                    "hedge_ratio": "sma(asset_a.close, 30) / sma(asset_b.close, 30)"}}
    (sig,) = ruleengine.live_signals(doc, LEGS, asof="2013-03-04", data=SAMPLE)
    table = pd.read_parquet(FIXTURES / "daily_sample" / "daily.parquet")
    close = {s: table[table.symbol == s].set_index(pd.to_datetime(table[table.symbol == s]["date"]))["close"]
             for s in ("XLE", "XLF")}
    want = (close["XLE"].rolling(30).mean() / close["XLF"].rolling(30).mean()).loc["2013-03-04"]
    pair = sig.data_snapshot["pair"]
    assert pair["hedge_ratio"] == pytest.approx(want, rel=1e-12) and pair["units_b_per_unit_a"] == pair["hedge_ratio"]
    assert f"{want:.6g} units of XLF per unit of XLE" in sig.reasoning.text


def test_acting_on_a_pair_takes_each_legs_price_and_refuses_a_missing_or_unknown_leg(tmp_path, provider_env_cleared):
    db = str(tmp_path / "live.db")
    (sig,) = signals("2013-03-04", PAIR, LEGS, "--save", "--db", db)["signals"]
    sid = str(sig["id"])
    for prices, says in ((["25"], "give each leg's fill price, not one price"),
                         (["XLE=25"], "no price for XLF"),
                         (["XLE=25", "SPY=3"], "no leg SPY; no price for XLF")):
        out = run("signals", "act", sid, *[x for p in prices for x in ("--price", p)], "--db", db)
        assert out["success"] is False and out["error"]["type"] == "validation_error", out
        (d,) = out["error"]["details"]
        assert d["code"] == "T116" and ("legs XLE and XLF" in d["message"] or "(XLE and XLF)" in d["message"])
        assert says in d["message"] and d["hint"] == f"ruleengine signals act {sid} --price XLE=P --price XLF=P"
    res = CliRunner().invoke(app, ["signals", "act", sid, "--price", "XLE=24.5", "--price", "XLF=12", "--date",
                                   "2013-03-05", "--db", db])
    assert res.exit_code == 0 and "acted: signal 1 entry XLE/XLF at XLE 24.5 / XLF 12" in res.output
    # an open acted pair is marked on both legs: its return is the pair kernel's on the user's fills
    import ruleengine
    from ruleengine.backtest.pairs import pair_fills_return
    from ruleengine.backtest.risk import resolve_risk

    run("track", "--asof", "2013-03-08", "--data", SAMPLE, "--db", db)
    shown = run("signals", "show", sid, "--db", db)["signal"]
    mark = shown["hypothetical"]["mark"]
    want = pair_fills_return(sig["data_snapshot"]["pair"], "long", (24.5, 12.0), (mark["price"], mark["price_b"]),
                             ("2013-03-05", mark["time"]), resolve_risk(ruleengine.load_strategy(PAIR)))
    assert mark["acted_return_pct"] == pytest.approx(want["return_pct"], rel=1e-12)
    (perf,) = run("track", "--asof", "2013-03-08", "--data", SAMPLE, "--db", db)["performance"]
    assert (perf["actual_open"], perf["actual_return_pct"]) == (1, pytest.approx(want["return_pct"], rel=1e-12))
    out = run("signals", "close", sid, "--price", "30", "--db", db)
    assert out["error"]["details"][0]["code"] == "T116"


def test_the_brokers_fills_act_on_and_close_a_pair_leg_by_leg(tmp_path, provider_env_cleared, monkeypatch):
    """The user's export: XLE bought and XLF sold short after the long pair's signal, each leg closed on its own
    day; tracking acts on the pair when both legs filled and closes it when both are flat, counting both legs."""
    import ruleengine
    from ruleengine.backtest.pairs import pair_fills_return
    from ruleengine.backtest.risk import resolve_risk

    db = str(tmp_path / "live.db")
    (sig,) = signals("2013-03-04", PAIR, LEGS, "--save", "--db", db)["signals"]
    fills = tmp_path / "fills.csv"
    fills.write_text("date,symbol,action,quantity,price\n2013-03-04,XLE,buy,100,24.10\n"
                     "2013-03-05,XLF,sell,200,12.05\n2013-03-22,XLE,sell,100,24.80\n2013-03-25,XLF,buy,200,12.30\n")
    monkeypatch.setenv("RULEENGINE_PORTFOLIO", str(fills))
    (perf,) = run("track", "--asof", "2013-06-28", "--data", SAMPLE, "--db", db)["performance"]
    shown = run("signals", "show", str(sig["id"]), "--db", db)["signal"]
    assert {k: v["price"] for k, v in shown["acted_legs"].items()} == {"XLE": 24.10, "XLF": 12.05}
    assert shown["acted_at"][:10] == "2013-03-05"   # the pair is held once both legs are
    out = shown["outcome"]
    assert {k: v["exit_price"] for k, v in out["legs"].items()} == {"XLE": 24.80, "XLF": 12.30}
    assert out["closed_at"][:10] == "2013-03-25"
    want = pair_fills_return(sig["data_snapshot"]["pair"], "long", (24.10, 12.05), (24.80, 12.30),
                             (shown["acted_at"], out["closed_at"]), resolve_risk(ruleengine.load_strategy(PAIR)))
    assert out["return_pct"] == pytest.approx(want["return_pct"], rel=1e-12)
    assert (perf["actual_trades"], perf["actual_return_pct"]) == (1, pytest.approx(want["return_pct"], rel=1e-12))


def test_acting_on_a_pair_exit_closes_the_acted_pair_on_both_legs(tmp_path, provider_env_cleared):
    import ruleengine
    from ruleengine.backtest.pairs import pair_fills_return
    from ruleengine.backtest.risk import resolve_risk

    db = str(tmp_path / "live.db")
    (entry,) = signals("2013-03-04", PAIR, LEGS, "--save", "--db", db)["signals"]
    run("signals", "act", str(entry["id"]), "--date", "2013-03-04", "--db", db)
    exits = signals("2013-03-22", PAIR, LEGS, "--type", "exit", "--save", "--db", db)["signals"]
    (long_exit,) = [s for s in exits if s["direction"] == "long"]
    out = run("signals", "act", str(long_exit["id"]), "--price", "XLE=25.5", "--price", "XLF=12.5", "--date",
              "2013-03-22", "--db", db)
    assert out["success"] is True, out
    closed = run("signals", "show", str(entry["id"]), "--db", db)["signal"]["outcome"]
    assert closed["closed_by"] == f"exit signal {long_exit['id']}"
    a, b = entry["data_snapshot"]["pair"]["legs"]
    want = pair_fills_return(entry["data_snapshot"]["pair"], "long", (a["close"], b["close"]), (25.5, 12.5),
                             ("2013-03-04", "2013-03-22"), resolve_risk(ruleengine.load_strategy(PAIR)))
    assert closed["return_pct"] == pytest.approx(want["return_pct"], rel=1e-12)
    assert {k: v["exit_price"] for k, v in closed["legs"].items()} == {"XLE": 25.5, "XLF": 12.5}
