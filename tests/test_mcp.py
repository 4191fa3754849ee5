"""The MCP server over stdio, driven by the `mcp` client SDK: `python -m ruleengine.cli mcp` in a subprocess,
its model pointed at the chat-completions stand-in on 127.0.0.1 through the environment.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from support.openai_server import OpenAIServer, envelope

from ruleengine.llm.prompt import example_wire
from ruleengine.llm.tools import TOOLS

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "RULEENGINE_DATA", "FMP_API_KEY", "RULEENGINE_LLM_PRICES")}
    env.update({"OPENAI_BASE_URL": base_url, "RULEENGINE_MODEL": "gpt-4.1-mini", "RULEENGINE_PROVIDER": "sample",
                "RULEENGINE_DB": str(tmp_path / "store.db"), "RULEENGINE_CACHE_DIR": str(tmp_path / "cache")})
    return env


def _payload(result: Any) -> dict[str, Any]:
    """The tool's JSON answer: structured content and the text content say the same."""
    text = json.loads(result.content[0].text)
    assert result.structuredContent == text
    assert result.isError is (not text["success"])
    return text


async def _session(params: StdioServerParameters, errlog: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        seen["server"] = init.serverInfo.name
        listed = await session.list_tools()
        seen["tools"] = {t.name: t for t in listed.tools}
        seen["create"] = _payload(await session.call_tool("create_trading_strategy", {
            "strategy_description": "Buy SPY on a golden cross with RSI under 70",
            "strategy_name": "GC over MCP"}))
        sid = seen["create"]["strategy_id"]
        seen["backtest"] = _payload(await session.call_tool("backtest_strategy", {
            "strategy_id": sid, "start_date": "2016-01-01", "end_date": "2017-12-29"}))
        seen["unknown"] = _payload(await session.call_tool("backtest_strategy", {"strategy_id": 99,
                                                                                "symbols": "SPY"}))
        seen["bad_args"] = _payload(await session.call_tool("backtest_strategy", {"strategy_id": "x"}))
        seen["bad_doc"] = _payload(await session.call_tool("validate_strategy", {"strategy": "name: x\n"}))
    return seen


def test_mcp_server_lists_tools_creates_backtests_and_returns_error_objects(tmp_path: Path) -> None:
    with OpenAIServer() as server:
        server.script(envelope(example_wire(), explanation="golden cross"))
        params = StdioServerParameters(command=sys.executable, args=["-m", "ruleengine.cli", "mcp"],
                                       env=_env(tmp_path, server.base_url), cwd=str(ROOT))
        with open(tmp_path / "server.stderr", "w") as errlog:  # the server's log, for a failing test
            seen = anyio.run(_session, params, errlog)
        requests = server.count()
    assert seen["server"] == "ruleengine"
    assert list(seen["tools"]) == list(TOOLS)
    create_schema = seen["tools"]["create_trading_strategy"].inputSchema
    assert create_schema["required"] == ["strategy_description"] and create_schema["additionalProperties"] is False

    created = seen["create"]
    assert created["success"] and created["strategy_id"] == 1 and created["strategy"]["name"] == "GC over MCP"
    assert created["symbols"] == ["SPY"] and requests == 1  # one model call; the backtest made none

    bt = seen["backtest"]
    assert bt["success"] and bt["runs"][0]["label"] == "SPY" and bt["run_id"] is None  # synthetic: not stored
    assert bt["period"]["start"] == "2016-01-04" and bt["synthetic"] is True
    assert isinstance(bt["runs"][0]["metrics"]["total_trades"], int)

    err = seen["unknown"]["error"]
    assert err["type"] == "validation_error" and err["details"][0]["code"] == "T101"
    assert seen["bad_args"]["error"]["details"][0]["code"] == "L109"
    assert seen["bad_doc"]["success"] is True and seen["bad_doc"]["valid"] is False  # a result, not an error
    assert seen["bad_doc"]["diagnostics"][0]["code"] == "S102"


def test_mcp_tool_bug_becomes_an_execution_error_object() -> None:
    from ruleengine.llm.mcp_server import _safe_call

    def broken(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        raise ZeroDivisionError("division by zero")

    out = _safe_call(broken, "backtest_strategy", {})
    assert out == {"success": False, "error": {"type": "execution_error",
                                               "message": "ZeroDivisionError: division by zero", "details": []}}


@pytest.mark.parametrize("name", list(TOOLS))
def test_mcp_input_schemas_are_plain_json_schemas(name: str) -> None:
    import jsonschema

    from ruleengine.llm.tools import input_schema

    schema = input_schema(name, strict=False)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and "title" not in json.dumps(schema)
