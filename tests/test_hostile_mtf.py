"""Hostile inputs for multi-timeframe slots (issue 14): each ends in a structured error or a correct result
within its limits."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.hostile import assert_structured, run_cli, within

import ruleengine
from ruleengine.errors import RuleEngineError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _doc(slots: dict[str, Any], entry: str = "close > 0", execution: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": "hostile mtf", "data": slots, "entry": [entry], "exit": ["close < 0"]}
    if execution:
        doc["params"] = {"execution_frequency": {"type": "enum", "values": [execution], "default": execution}}
    return doc


CHAIN = {"prices": {}, **{f"v{i}": {"frequency": "1Week", "symbol_from": "prices" if i == 0 else f"v{i - 1}"}
                          for i in range(60)}}


@pytest.mark.parametrize("slots,code", [
    ({"prices": {}, "weekly": {"frequency": "1Week", "symbol_from": "nowhere"}}, "D140"),
    ({"prices": {}, "weekly": {"frequency": "1Week", "symbol_from": ""}}, "D140"),
    ({"prices": {}, "weekly": {"frequency": "1Week", "symbol_from": 12}}, "S103"),
    ({"prices": {}, "weekly": {"frequency": "1Week", "symbol_from": ["prices"]}}, "S103"),
    ({"prices": {"symbol_from": "weekly"}, "weekly": {"frequency": "1Week", "symbol_from": "prices"}}, "D141"),
    ({"a": {"symbol_from": "a"}}, "D141"),
    ({**{f"s{i}": {"symbol_from": f"s{(i + 1) % 300}"} for i in range(300)}}, "D141"),
], ids=["unknown", "empty", "number", "list", "two-cycle", "self", "long-cycle"])
def test_bad_symbol_from_is_a_diagnostic(slots: dict[str, Any], code: str) -> None:
    with within(10, 64), pytest.raises(RuleEngineError) as err:
        ruleengine.load_strategy(_doc(slots))
    assert err.value.diagnostics[0].code == code


def test_a_long_symbol_from_chain_binds_one_symbol() -> None:
    from ruleengine.data.symbols import slot_runs

    with within(10, 64):
        runs = slot_runs("SPY", ruleengine.load_strategy(_doc(CHAIN)).data)
    assert set(runs[0].values()) == {"SPY"} and len(runs[0]) == 61


@pytest.mark.realdata
@pytest.mark.parametrize("symbols,code", [
    ("prices=SPY,weekly=QQQ", "D142"),
    ({"prices": "SPY", "weekly": "QQQ"}, "D142"),
    ("weekly=SPY", "D142"),
    ([{"prices": "SPY", "weekly": "SPY"}, {"prices": "QQQ", "weekly": "SPY"}], "D142"),
])
def test_a_symbol_for_a_symbol_from_slot_is_d142(symbols: Any, code: str) -> None:
    doc = _doc({"prices": {}, "weekly": {"frequency": "1Week", "symbol_from": "prices"}}, "close > weekly.close")
    with within(30, 256), pytest.raises(RuleEngineError) as err:
        ruleengine.load_data(doc, symbols, "2010-01-01", "2010-03-31", data=str(SHARED))
    assert err.value.diagnostics[0].code == code


@pytest.mark.realdata
def test_a_coarser_slot_that_never_completes_warns_d143() -> None:
    doc = _doc({"prices": {"frequency": "1Min"}, "monthly": {"frequency": "1Month", "symbol_from": "prices"}},
               "close > monthly.close", execution="1Hour")
    with within(60, 512):
        md = ruleengine.load_data(doc, "QQQ", "2019-12-17", "2019-12-24", data=str(SHARED))
    assert [w.code for w in md.warnings] == ["D143"]
    assert md.frame("monthly", "close").isna().all().all()


@pytest.mark.realdata
@pytest.mark.parametrize("args", [
    ["--symbols", "prices=SPY,weekly=QQQ"],
    ["--symbols", "SPY", "--param", "execution_frequency=1Month"],  # a weekly slot finer than monthly bars
], ids=["symbol-for-view", "weekly-slot-on-monthly-bars"])
def test_cli_multi_timeframe_cases_end_structured(tmp_path: Path, args: list[str]) -> None:
    doc = tmp_path / "mtf.yaml"
    doc.write_text("name: mtf\ndata:\n  prices: {kind: ohlcv}\n"
                   "  weekly: {kind: ohlcv, frequency: 1Week, symbol_from: prices}\n"
                   "entry: ['close > weekly.close']\nexit: ['close < weekly.close']\n")
    proc = run_cli(["backtest", str(doc), "--data", str(SHARED), "--start", "2010-01-01", "--end", "2011-12-31",
                    *args], seconds=120, megabytes=4096)  # a full backtest under 2 GB of address space hangs
    # in thread start-up on this machine (any strategy, also rules/golden_cross.yaml), not in this case
    assert_structured(proc)
