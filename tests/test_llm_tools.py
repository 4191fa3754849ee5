"""Agent tools: every tool through `ruleengine.tools.call` (a real SQLite store in tmp_path, the sample data
provider, the chat-completions stand-in on 127.0.0.1 for the two tools that call a model), and the definitions
valid for OpenAI strict function calling.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support.openai_server import OpenAIServer, envelope
from test_llm_prompt import _strict_problems

import ruleengine
from ruleengine import tools
from ruleengine.lang.functions import FUNCTIONS
from ruleengine.llm.prompt import example_wire
from ruleengine.schema.kinds import KIND_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
SEED_TOOLS = ["create_trading_strategy", "backtest_strategy", "get_strategy_signals", "compare_strategies",
              "refine_strategy", "list_user_strategies"]
GOLDEN_CROSS = (ROOT / "rules" / "golden_cross.yaml").read_text(encoding="utf-8")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for var in ("OPENAI_API_KEY", "RULEENGINE_DATA", "FMP_API_KEY", "RULEENGINE_LLM_PRICES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RULEENGINE_PROVIDER", "sample")
    monkeypatch.setenv("RULEENGINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RULEENGINE_DB", str(tmp_path / "store.db"))
    monkeypatch.setenv("RULEENGINE_MODEL", "gpt-4o-mini")
    with OpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


def ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result.get("success") is True, json.dumps(result, indent=1)[:2000]
    json.dumps(result, allow_nan=False)  # JSON-clean: what an agent receives
    return result


def error(result: dict[str, Any], code: str, error_type: str = "validation_error") -> dict[str, Any]:
    assert result["success"] is False, result
    assert result["error"]["type"] == error_type and result["error"]["details"][0]["code"] == code, result
    return result["error"]


# ------------------------------------------------------------------------------------------- definitions
def test_definitions_are_valid_openai_strict_function_tools() -> None:
    defs = tools.definitions()
    names = [d["function"]["name"] for d in defs]
    assert names[:6] == SEED_TOOLS and names[6:] == ["validate_strategy", "explain_strategy", "sweep_parameters",
                                                     "list_capabilities"]
    for d in defs:
        fn = d["function"]
        assert d["type"] == "function" and fn["strict"] is True and fn["description"]
        params = fn["parameters"]
        jsonschema.Draft202012Validator.check_schema(params)
        assert params["type"] == "object" and _strict_problems(params) == [], fn["name"]
        assert "title" not in json.dumps(params)
    backtest = defs[1]["function"]["parameters"]
    assert backtest["properties"]["strategy_id"] == {
        "anyOf": [{"type": "integer"}, {"type": "null"}],
        "description": "ID of a stored strategy (from create_trading_strategy or list_user_strategies)"}


def test_strict_and_plain_schemas_accept_what_call_accepts() -> None:
    """A strict caller sends every key (nulls for defaults), an MCP caller only some; both validate."""
    strict = tools.input_schema("backtest_strategy")
    plain = tools.input_schema("backtest_strategy", strict=False)
    full = dict.fromkeys(strict["properties"]) | {"strategy": GOLDEN_CROSS, "symbols": "SPY",
                                                      "params": [{"name": "fast", "value": 20}]}
    jsonschema.validate(full, strict)
    jsonschema.validate({"strategy": GOLDEN_CROSS}, plain)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"strategy": GOLDEN_CROSS}, strict)
    assert plain.get("required") is None and tools.input_schema("validate_strategy", False)["required"] == ["strategy"]


# ------------------------------------------------------------------------------------------- errors
def test_unknown_tool_and_bad_arguments_are_error_objects(env: OpenAIServer) -> None:
    err = error(tools.call("backtest_strateg", {}), "L108")
    assert err["details"][0]["hint"] == "did you mean 'backtest_strategy'?"
    err = error(tools.call("backtest_strategy", {"strategy_id": "seven", "symbol": "SPY"}), "L109")
    assert {d["path"] for d in err["details"]} == {"strategy_id", "symbol"}
    assert next(d for d in err["details"] if d["path"] == "symbol")["hint"] == "did you mean 'symbols'?"
    error(tools.call("validate_strategy", "{not json"), "L109")
    error(tools.call("validate_strategy", "[1]"), "L109")
    error(tools.call("backtest_strategy", {"strategy": GOLDEN_CROSS}), "L109")  # no symbols anywhere
    error(tools.call("explain_strategy", {}), "L109")  # neither id nor document
    error(tools.call("backtest_strategy", {"strategy_id": 42, "symbols": "SPY"}), "T101")
    bad = GOLDEN_CROSS.replace("sma(close, fast)", "smaa(close, fast)", 1)
    err = error(tools.call("backtest_strategy", {"strategy": bad, "symbols": "SPY"}), "C101")
    assert err["details"][0]["hint"] == "did you mean 'sma'?"
    assert env.count() == 0


# ------------------------------------------------------------------------------------------- every tool
def test_every_tool_through_call(env: OpenAIServer) -> None:
    env.script(envelope(example_wire(), explanation="golden cross"))
    created = ok(tools.call("create_trading_strategy", {
        "strategy_description": "Buy QQQ when the 50-day SMA crosses above the 200-day and RSI(14) < 70",
        "strategy_name": "GC", "save": None}))
    sid = created["strategy_id"]
    assert (sid, created["version"], created["symbols"], created["attempts"]) == (1, 1, ["QQQ"], 1)
    assert created["strategy"]["name"] == "GC" and created["usage"]["cost_usd"] == pytest.approx(0.00036)
    assert env.count() == 1

    # backtests and sweeps never call the model: other symbols / parameter values are just arguments
    bt = ok(tools.call("backtest_strategy", {"strategy_id": sid, "start_date": "2015-01-01",
                                             "end_date": "2018-12-31"}))
    # synthetic data (issue 13): said so, and never stored next to real-data runs
    assert bt["runs"][0]["label"] == "QQQ" and bt["run_id"] is None and bt["synthetic"] is True
    assert "L117" in [w["code"] for w in bt["warnings"]]
    assert bt["period"] == {"start": "2015-01-02", "end": "2018-12-31", "frequency": "1Day"}
    assert [w["code"] for w in bt["warnings"]].count("L111") == 1  # written by gpt-4o-mini (cutoff 2023-10)
    assert bt["provenance"]["init_cash"] == 100_000
    bt2 = ok(tools.call("backtest_strategy", json.dumps({
        "strategy_id": sid, "symbols": "SPY,IWM", "start_date": "2015-01-01", "end_date": "2018-12-31",
        "initial_capital": 5000, "params": [{"name": "fast", "value": 20}, {"name": "stop_loss_pct", "value": 4}]})))
    assert [r["label"] for r in bt2["runs"]] in (["SPY", "IWM"], ["IWM", "SPY"]) and bt2["run_id"] is None
    assert bt2["runs"][0]["params"]["fast"] == 20 and bt2["risk"]["stop_loss_pct"] == 4
    inline = ok(tools.call("backtest_strategy", {"strategy": GOLDEN_CROSS, "symbols": "SPY",
                                                 "start_date": "2016-01-01", "end_date": "2016-12-31"}))
    assert inline["strategy_id"] is None and inline["run_id"] is None
    assert "L111" not in [w["code"] for w in inline["warnings"]]  # not written by a model we know
    assert env.count() == 1

    # live signals need real data: on the sample provider they are a clear error, and nothing is stored
    err = error(tools.call("get_strategy_signals", {"strategy_id": sid, "min_confidence": 0,
                                                    "asof": "2018-12-31"}), "L116", "data_fetch_error")
    assert "RULEENGINE_DATA" in err["details"][0]["hint"]
    from ruleengine.store import open_store

    assert open_store().list_signals(sid) == []

    board = ok(tools.call("compare_strategies", {"timeframe": None}))
    assert board["timeframe"] == "all"

    refined_doc = copy.deepcopy(example_wire())
    refined_doc["name"] = "GC"
    refined_doc["risk"]["stop_loss_pct"] = 5.0
    env.script(envelope(refined_doc))
    refined = ok(tools.call("refine_strategy", {"strategy_id": sid,
                                                "refinement_description": "tighten the stop to 5%"}))
    assert (refined["strategy_id"], refined["version"], refined["changed"]) == (sid, 2, True)
    assert "+  stop_loss_pct: 5.0" in refined["diff"] and env.count() == 2

    listed = ok(tools.call("list_user_strategies", {}))
    assert [(s["strategy_id"], s["name"], s["version"], s["author"]) for s in listed["strategies"]] == \
        [(sid, "GC", 2, "llm:gpt-4o-mini")]

    valid = ok(tools.call("validate_strategy", {"strategy": GOLDEN_CROSS}))
    assert valid == {"success": True, "valid": True, "diagnostics": []}
    invalid = ok(tools.call("validate_strategy", {"strategy": GOLDEN_CROSS.replace("sma(close, fast)",
                                                                                   "smaa(close, fast)", 1)}))
    assert invalid["valid"] is False and invalid["diagnostics"][0]["code"] == "C101"

    explained = ok(tools.call("explain_strategy", {"strategy_id": sid}))
    assert explained["name"] == "GC" and explained["warmup_bars"] == 200
    assert explained["conditions"][0]["text"] == "crosses_above(sma(prices.close, fast), sma(prices.close, slow))"

    swept = ok(tools.call("sweep_parameters", {"strategy": GOLDEN_CROSS, "symbols": "SPY",
                                               "grid": ["fast=10,20", "slow=50,100"], "constraints": ["fast < slow"],
                                               "start_date": "2014-01-01", "end_date": "2018-12-31", "top": 3}))
    assert swept["n_trials"] == 4 and len(swept["rows"]) == 3 and swept["metric"] == "sharpe_ratio"
    assert swept["synthetic"] is True

    caps = ok(tools.call("list_capabilities", None))
    assert [f["name"] for f in caps["functions"]] == list(FUNCTIONS)
    assert caps["data_kinds"] == {k: list(v) for k, v in KIND_COLUMNS.items()}
    assert "sample" in [p["name"] for p in caps["providers"]]
    assert [t["name"] for t in caps["tools"] if t["calls_model"]] == ["create_trading_strategy", "refine_strategy"]
    assert caps["llm"] == {"model": "gpt-4o-mini", "configured": True}
    assert env.count() == 2  # only create and refine reached the model


@pytest.mark.realdata
def test_real_data_runs_are_stored_and_signals_served(env: OpenAIServer, shared_data: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """With real data configured, backtests are stored, results say synthetic: false and signals are served."""
    monkeypatch.delenv("RULEENGINE_PROVIDER")
    monkeypatch.setenv("RULEENGINE_DATA", str(shared_data))
    from ruleengine.store import open_store

    sid = open_store().add_strategy(ruleengine.load_strategy(GOLDEN_CROSS), universe="SPY").id
    bt = ok(tools.call("backtest_strategy", {"strategy_id": sid, "start_date": "2016-01-01",
                                             "end_date": "2017-12-29"}))
    assert bt["synthetic"] is False and bt["run_id"] == 1 and "L117" not in [w["code"] for w in bt["warnings"]]
    swept = ok(tools.call("sweep_parameters", {"strategy_id": sid, "grid": ["fast=10,20"],
                                               "start_date": "2016-01-01", "end_date": "2017-12-29"}))
    assert swept["synthetic"] is False
    signals = ok(tools.call("get_strategy_signals", {"strategy_id": sid, "min_confidence": 0,
                                                     "asof": "2017-12-29"}))
    assert signals["synthetic"] is False and signals["symbols"] == "SPY"
    assert signals["bar_time"].startswith("2017-12-29")
    assert len(open_store().list_signals(sid)) == len(signals["signals"])
    # an explicit request for the sample provider is refused before any work
    error(tools.call("get_strategy_signals", {"strategy_id": sid, "provider": "sample"}), "L116", "data_fetch_error")


def test_create_failure_is_a_code_generation_error_object(env: OpenAIServer) -> None:
    bad = copy.deepcopy(example_wire())
    bad["entry"]["conditions"] = ["close > smaa(close, 5)"]
    env.script(envelope(bad), envelope(bad), envelope(bad))
    e = error(tools.call("create_trading_strategy", {"strategy_description": "buy when the average rises"}),
              "L104", "code_generation_error")
    assert e["details"][0]["message"].startswith("no valid strategy after 3 attempts")
    assert e["details"][1]["code"] == "C101" and len(e["attempts"]) == 3 and env.count() == 3
    from ruleengine.store import open_store

    assert open_store().list_strategies() == []  # nothing stored


def test_explain_and_validate_take_documents_inline(env: OpenAIServer) -> None:
    strategy = ruleengine.load_strategy(GOLDEN_CROSS)
    as_json = ruleengine.dump_strategy(strategy, "json")
    explained = ok(tools.call("explain_strategy", {"strategy": as_json}))
    assert explained["strategy_id"] is None and explained["kind"] == "rules"
    assert ok(tools.call("validate_strategy", {"strategy": as_json}))["valid"] is True


def test_importing_the_tools_stays_light() -> None:
    """`ruleengine.tools` (definitions, validation of arguments) loads neither numpy, pandas, openai nor mcp."""
    import subprocess
    import sys

    code = ("import sys, ruleengine.tools as t; t.definitions(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pandas', 'openai', 'mcp', 'numba'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_list_capabilities_says_how_positions_trade() -> None:
    """An agent learns from list_capabilities what a document may say about positions (issue 16): directions,
    order types, sizing methods, a pair's sizings and the position variables exit conditions read."""
    from ruleengine.lang.position import POSITION_VARIABLES

    caps = tools.call("list_capabilities", None)
    pos = caps["positions"]
    assert set(pos["directions"]) == {"long", "short", "long_short"}
    assert pos["entry_order_types"] == ["market", "limit", "stop"] == pos["exit_order_types"]
    assert "risk_per_trade_pct" in pos["sizing_methods"] and "dollar_neutral" in pos["pair_sizings"]
    assert pos["position_variables"] == POSITION_VARIABLES and "exit conditions" in pos["position_variables_where"]
