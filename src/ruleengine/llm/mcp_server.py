"""The agent tools over the Model Context Protocol (the `mcp` SDK, stdio transport): ``ruleengine mcp``.

Desktop assistants (and any MCP client) list the same tools as `ruleengine.tools.definitions()` and call them;
each call runs `ruleengine.tools.call` in a worker thread (backtests are CPU work) and answers with the result
as JSON text plus structured content. Error objects (ERROR_SCHEMA) come back with ``isError: true``, so the
client sees the structured diagnostics instead of a bare message.

Configuration is the environment of the server process: ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` /
``RULEENGINE_MODEL`` for the two tools that call a model, ``RULEENGINE_DB`` for the store,
``RULEENGINE_PROVIDER`` / ``RULEENGINE_DATA`` / ``FMP_API_KEY`` for data, ``RULEENGINE_TOOLS_UNIVERSES`` /
``RULEENGINE_TOOLS_STRATEGIES`` for the only folders callers may name files in (`ruleengine.llm.files`), and
``RULEENGINE_TOOLS_WORKERS`` / ``_QUEUE`` / ``_MAX_WAIT`` / ``_MAX_ARGUMENT_BYTES`` for the worker pool
(`ruleengine.llm.pool`). The transport (`ruleengine.llm.mcp_stdio`) bounds message size and answers malformed
JSON-RPC with the protocol's errors.

Example (a client configuration entry)::

    {"mcpServers": {"ruleengine": {"command": "ruleengine", "args": ["mcp"],
                                    "env": {"OPENAI_API_KEY": "...", "RULEENGINE_DATA": "/data"}}}}
"""

from __future__ import annotations

import json
from typing import Any

SERVER_NAME = "ruleengine"


def build_server() -> Any:
    """The low-level MCP `Server` with list_tools / call_tool handlers."""
    import anyio
    from mcp import types
    from mcp.server.lowlevel import Server

    from .. import __version__
    from .pool import ToolLimits
    from .tools import TOOLS, call, input_schema

    server: Any = Server(SERVER_NAME, version=__version__,
                         instructions="Trading strategies as checked documents: create (LLM), validate, explain, "
                                      "backtest, sweep, live signals. Only create_trading_strategy and "
                                      "refine_strategy call a language model.")

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return [types.Tool(name=t.name, description=t.description, inputSchema=input_schema(t.name, strict=False))
                for t in TOOLS.values()]

    # Threads for tool calls: the pool's workers and queue plus a few for light tools and busy answers, so
    # that excess calls get their L114 at once instead of waiting for a thread (anyio's default is 40).
    limits = ToolLimits.from_env()
    threads = anyio.CapacityLimiter(limits.workers + limits.queue + 4)

    @server.call_tool(validate_input=False)  # `call` validates and answers with structured L109 errors
    async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        result = await anyio.to_thread.run_sync(_safe_call, call, name, arguments, limiter=threads)
        text = json.dumps(result, indent=1, default=str)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                    structuredContent=result, isError=not result.get("success", False))

    return server


def _safe_call(call: Any, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """`call`, with a bug in a tool reported as an execution_error object instead of killing the session."""
    try:
        return dict(call(name, arguments))
    except Exception as exc:  # noqa: BLE001 - the MCP client must get an answer; user errors never get here
        return {"success": False, "error": {"type": "execution_error", "message": f"{type(exc).__name__}: {exc}",
                                            "details": []}}


#: the largest JSON-RPC line, as a multiple of the arguments limit (JSON escapes can grow text up to 6x)
MESSAGE_BYTES_PER_ARGUMENT_BYTE = 8


async def serve_stdio() -> None:
    """Serve the tools on stdin/stdout until the client closes the stream."""
    from .mcp_stdio import stdio_transport
    from .pool import ToolLimits

    server = build_server()
    limit = ToolLimits.from_env().max_argument_bytes * MESSAGE_BYTES_PER_ARGUMENT_BYTE
    async with stdio_transport(limit) as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def main() -> None:
    """Entry point of ``ruleengine mcp``; a bad limit setting stops it before it serves (L118, exit code 2)."""
    import sys

    import anyio

    from .. import RuleEngineError
    from .pool import ToolLimits

    try:
        ToolLimits.from_env()
    except RuleEngineError as exc:
        sys.stderr.write(exc.render() + "\n")
        raise SystemExit(2) from None
    anyio.run(serve_stdio)
