"""Several runs of a multi-slot strategy spelled on the command line (``--symbols "a=X,b=Y;a=Z,b=W"``): a
portfolio of two pairs through the CLI is the Python API's (a list of {slot: symbol} mappings), so are the
independent runs, live signals evaluate every pair, and a malformed spelling is D117 at its character.

Data: the committed real-price sample (tests/fixtures/daily_sample: XLE, XLF, QQQ, SPY 2011-07 .. 2013-06)."""
from __future__ import annotations

import json
from typing import Any

import pytest
from support.paths import FIXTURES, RULES
from typer.testing import CliRunner

import ruleengine
from ruleengine.cli import app

SAMPLE = str(FIXTURES / "daily_sample")
PAIR = str(RULES / "pairs_long_short.yaml")
TWO = "asset_a=XLE,asset_b=XLF; asset_a=QQQ,asset_b=SPY"
RUNS = [{"asset_a": "XLE", "asset_b": "XLF"}, {"asset_a": "QQQ", "asset_b": "SPY"}]
RANGE = ("2012-01-03", "2013-06-28")


def run(*args: str) -> tuple[int, dict[str, Any]]:
    res = CliRunner().invoke(app, [*args, "--json"])
    assert "Traceback" not in res.output
    return res.exit_code, json.loads(res.stdout)


def _same_but_the_spelling(out: dict[str, Any]) -> dict[str, Any]:
    """The result without the symbols spec as given (the text on the command line, the list in Python) and the
    time it was made (the two runs may straddle a second)."""
    return {**out, "provenance": {k: v for k, v in out["provenance"].items() if k not in ("symbols", "created_at")}}


@pytest.mark.parametrize("portfolio", [True, False])
def test_two_pairs_on_the_command_line_are_the_python_apis_runs(provider_env_cleared, portfolio):
    flag = ["--portfolio"] if portfolio else []
    code, out = run("backtest", PAIR, "--symbols", TWO, "--data", SAMPLE, "--start", RANGE[0], "--end", RANGE[1],
                    *flag)
    assert code == 0 and out["success"] is True, out
    api = json.loads(ruleengine.backtest(PAIR, RUNS, *RANGE, data=SAMPLE, portfolio=portfolio).to_json())
    assert _same_but_the_spelling(out) == _same_but_the_spelling(api)
    assert out["provenance"]["symbols"] == TWO
    labels = [r["label"] for r in out["results"]]
    if portfolio:
        (res,) = out["results"]
        assert labels[0].startswith("portfolio of 2")
        assert {t["symbol"] for t in res["trades"]} == {"XLE/XLF", "QQQ/SPY"}  # both pairs trade in one account
    else:
        assert labels == ["XLE/XLF", "QQQ/SPY"]


def test_live_signals_evaluate_every_pair_of_the_spelling(provider_env_cleared):
    code, out = run("signals", "run", PAIR, "--symbols", TWO, "--data", SAMPLE, "--asof", "2013-03-04")
    assert code == 0, out
    assert out["evaluated"] == 2
    one = run("signals", "run", PAIR, "--symbols", "asset_a=XLE,asset_b=XLF", "--data", SAMPLE,
              "--asof", "2013-03-04")[1]
    xle = [s for s in out["signals"] if s["ticker"] == "XLE/XLF"]
    assert [s["signal_type"] for s in xle] == [s["signal_type"] for s in one["signals"]] == ["entry"]


@pytest.mark.parametrize(("spec", "column", "words"), [
    ("asset_a=XLE,asset_b=XLF;;asset_a=QQQ,asset_b=SPY", 25, "empty run"),
    ("asset_a=XLE,asset_b=XLF;asset_a=QQQ,SPY", 37, "bare symbol"),
    ("asset_a=XLE,asset_b=XLF;asset_a=QQQ,asset_a=SPY", 37, "given twice"),
    ("asset_a=XLE,asset_b=XLF;asset_a=QQQ,asset_b=", 37, "lacks a symbol"),
])
def test_a_malformed_spelling_is_d117_at_its_character(provider_env_cleared, spec, column, words):
    for command in (["backtest", PAIR], ["signals", "run", PAIR]):
        code, out = run(*command, "--symbols", spec, "--data", SAMPLE)
        assert code == 1 and out["success"] is False
        (err,) = out["error"]["details"]
        assert (err["code"], err["line"], err["column"]) == ("D117", 1, column), err
        assert words in err["message"] and f"character {column}" in err["message"] and "run 2" in err["message"]
        assert ";" in err["hint"]
