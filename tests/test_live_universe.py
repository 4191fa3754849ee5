"""Live signals over a point-in-time universe (issue 17 item 3) through the CLI, on the committed real-price sample
(tests/fixtures/daily_sample) with a small membership table: XLE leaves sp500 on 2012-03-14, SPY left on
2011-01-03, XLF joins on 2012-03-26.

A symbol that is not a member on the evaluated bar gets no entry and warning D158 says so; an exit on it carries
the backtest's exit reason (left_universe), and a position held in a symbol that left before the bars live
signals load is loaded to get that exit. A symbol that joins later is never named before it joins.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from support.paths import FIXTURES
from typer.testing import CliRunner

from ruleengine.cli import app

SAMPLE = str(FIXTURES / "daily_sample")
DOC = {"name": "above its 5-day average", "data": {"prices": {"kind": "ohlcv"}},
       "entry": ["close > sma(close, 5)"], "exit": ["close < sma(close, 5)"]}


def run(*args: str) -> dict[str, Any]:
    res = CliRunner().invoke(app, [*args, "--json"])
    assert "Traceback" not in res.output
    return json.loads(res.stdout)


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    table = tmp_path / "members.csv"
    pd.DataFrame({"symbol": ["XLE", "XLF", "SPY"], "start_date": ["2000-01-01", "2012-03-26", "2000-01-01"],
                  "end_date": ["2012-03-14", None, "2011-01-03"]}).to_csv(table, index=False)
    doc = tmp_path / "doc.yaml"
    doc.write_text(yaml.safe_dump(DOC), encoding="utf-8")
    return str(doc), f"@sp500:{table}"


def test_a_non_member_gets_no_entry_and_the_warning_says_why(files, provider_env_cleared):
    doc, universe = files
    out = run("signals", "run", doc, "--symbols", universe, "--data", SAMPLE, "--asof", "2012-03-19")
    assert out["success"] is True, out
    assert [s["signal_type"] for s in out["signals"] if s["ticker"] == "XLE"] == ["exit"]
    (w,) = [w for w in out["warnings"] if w["code"] == "D158"]
    assert "XLE: not a member of sp500 on 2012-03-19 (left it on 2012-03-14)" in w["message"]
    assert "their entry conditions held for: XLE" in w["message"]   # an entry the membership blocks
    assert "XLF" not in json.dumps(out["signals"]) + w["message"]   # it joins later: never named before
    (ex,) = out["signals"]
    assert ex["data_snapshot"]["exit_reason"] == "left_universe"
    assert "exit reason left_universe" in ex["reasoning"]["text"]


def test_a_held_position_that_left_gets_the_backtests_exit(files, provider_env_cleared):
    doc, universe = files
    # the backtest over the universe holds XLE from 2012-03-13 and exits it on its first bar outside (03-14)
    bt = run("backtest", doc, "--symbols", universe, "--data", SAMPLE, "--start", "2012-03-01", "--end",
             "2012-03-30")
    assert bt["success"] is True, bt
    (xle,) = [r for r in bt["results"] if r["label"] == "XLE"]
    last = xle["trades"][-1]
    assert (last["entry_time"][:10], last["exit_time"][:10], last["exit_reason"]) == \
        ("2012-03-13", "2012-03-14", "left_universe")
    # live on that bar, holding that position: the same exit, with the same reason
    out = run("signals", "run", doc, "--symbols", universe, "--data", SAMPLE, "--asof", "2012-03-14",
              "--position", f"XLE:long:{last['entry_price']}:2012-03-13")
    (ex,) = out["signals"]
    assert (ex["ticker"], ex["signal_type"], ex["data_snapshot"]["exit_reason"]) == ("XLE", "exit", "left_universe")
    assert ex["price_at_signal"] == pytest.approx(last["exit_price"])
    # live on 2012-03-22 with SPY held since 2010 (it left in 2011, long before the bars loaded): both exit
    out = run("signals", "run", doc, "--symbols", universe, "--data", SAMPLE, "--asof", "2012-03-22",
              "--position", "SPY:long:120:2010-06-01")
    assert out["success"] is True, out
    exits = {s["ticker"]: s for s in out["signals"]}
    assert set(exits) == {"XLE", "SPY"} and all(s["signal_type"] == "exit" for s in exits.values())
    spy = exits["SPY"]
    assert spy["data_snapshot"]["exit_reason"] == "left_universe"
    assert "not a member of sp500 on 2012-03-22 (left it on 2011-01-03)" in spy["reasoning"]["text"]
    # without that position SPY is not loaded (not a member in the bars loaded); the console says the rest too
    res = CliRunner().invoke(app, ["signals", "run", doc, "--symbols", universe, "--data", SAMPLE, "--asof",
                                   "2012-03-22"])
    assert res.exit_code == 0 and "warning[D158]" in res.output and "left it on 2012-03-14" in res.output
    assert "SPY" not in res.output


def test_the_scan_stores_the_left_universe_exit_of_an_acted_entry_and_names_the_non_members(
        files, tmp_path, provider_env_cleared):
    doc, universe = files
    db = str(tmp_path / "live.db")
    (entry,) = [s for s in run("signals", "run", doc, "--symbols", universe, "--data", SAMPLE, "--asof",
                               "2012-03-13", "--save", "--db", db)["signals"] if s["ticker"] == "XLE"]
    wrong = run("signals", "act", str(entry["id"]), "--price", "XLE=21", "--db", db)   # prices by leg: pairs only
    assert wrong["error"]["details"][0]["code"] == "T116" and "takes one price" in wrong["error"]["message"]
    assert run("signals", "act", str(entry["id"]), "--db", db)["success"] is True
    assert CliRunner().invoke(app, ["strategies", "universe", str(entry["strategy_id"]), universe, "--db",
                                    db]).exit_code == 0
    (row,) = run("scan", "--asof", "2012-03-14", "--data", SAMPLE, "--db", db)["strategies"]
    assert (row["status"], row["new"]) == ("ok", 1), row
    assert "XLE: not a member of sp500 on 2012-03-14 (left it on 2012-03-14)" in row["not_members"]
    (ex,) = [s for s in run("signals", "list", "--db", db)["signals"] if s["signal_type"] == "exit"]
    assert (ex["ticker"], ex["data_snapshot"]["exit_reason"]) == ("XLE", "left_universe")
    res = CliRunner().invoke(app, ["scan", "--asof", "2012-03-14", "--data", SAMPLE, "--db", db])
    assert res.exit_code == 0 and "warning[D158]: 1 symbol(s) not members of sp500 on 2012-03-14" in res.output


def test_tracking_applies_the_membership_the_signal_was_computed_over(files, tmp_path, provider_env_cleared):
    """The hypothetical trade of an entry from an @sp500 run ends where the backtest's does: left_universe."""
    doc, universe = files
    db = str(tmp_path / "live.db")
    (entry,) = [s for s in run("signals", "run", doc, "--symbols", universe, "--data", SAMPLE, "--asof",
                               "2012-03-13", "--save", "--db", db)["signals"] if s["ticker"] == "XLE"]
    assert entry["data_snapshot"]["universe"]["member"] is True
    assert run("track", "--asof", "2012-03-30", "--data", SAMPLE, "--db", db)["success"] is True
    hypo = run("signals", "show", str(entry["id"]), "--db", db)["signal"]["hypothetical"]
    assert (hypo["status"], hypo["exit_time"][:10], hypo["exit_reason"]) == ("closed", "2012-03-14", "left_universe")


def test_a_held_position_whose_prices_ended_gets_the_backtests_delisted_exit_in_words(tmp_path, provider_env_cleared):
    """HPCCP's prices end on 2012-09-12 (a member still): the backtest holds it from 2012-09-04 and closes it at
    that last close (exit reason delisted); live on a later bar, that held position gets warning D165 naming the
    last close and its date, beside D116's "no bar"."""
    table = tmp_path / "members.csv"
    pd.DataFrame({"symbol": ["XLE", "HPCCP"], "start_date": ["2000-01-01", "2000-01-01"],
                  "end_date": [None, None]}).to_csv(table, index=False)
    doc = tmp_path / "doc.yaml"
    doc.write_text(yaml.safe_dump(DOC), encoding="utf-8")
    universe = f"@sp500:{table}"
    bt = run("backtest", str(doc), "--symbols", universe, "--data", SAMPLE, "--start", "2012-08-01", "--end",
             "2012-09-28")
    (hp,) = [r for r in bt["results"] if r["label"] == "HPCCP"]
    last = hp["trades"][-1]
    assert (last["entry_time"][:10], last["exit_time"][:10], last["exit_reason"], last["exit_price"]) == \
        ("2012-09-04", "2012-09-12", "delisted", 28.4)
    held = ["--position", f"HPCCP:long:{last['entry_price']}:2012-09-04"]
    out = run("signals", "run", str(doc), "--symbols", universe, "--data", SAMPLE, "--asof", "2012-09-19", *held)
    assert out["success"] is True, out
    (w,) = [w for w in out["warnings"] if w["code"] == "D165"]
    assert "HPCCP: last close 28.4 on 2012-09-12, no bar since" in w["message"]
    assert "exit reason delisted" in w["message"] and w["severity"] == "warning" and w["hint"]
    assert "HPCCP" not in json.dumps(out["signals"])   # no bar: no signal, only the words
    res = CliRunner().invoke(app, ["signals", "run", str(doc), "--symbols", universe, "--data", SAMPLE, "--asof",
                                   "2012-09-19", *held])
    assert res.exit_code == 0 and "D165" in res.output and "last close 28.4 on 2012-09-12" in res.output
    # point in time: on its last bar it still has prices (no word), and a symbol not held gets none either
    on_last = run("signals", "run", str(doc), "--symbols", universe, "--data", SAMPLE, "--asof", "2012-09-12", *held)
    assert "D165" not in [w["code"] for w in on_last["warnings"]]
    not_held = run("signals", "run", str(doc), "--symbols", universe, "--data", SAMPLE, "--asof", "2012-09-19")
    assert "D165" not in [w["code"] for w in not_held["warnings"]]
