"""The stdio transport of ``ruleengine mcp``: JSON-RPC lines in and out, with the protocol's error answers.

The `mcp` SDK's own stdio transport answers a line that is not JSON, or not a JSON-RPC message, with a log
notification ("Internal Server Error") and no response, reads lines of any length, and answers an unknown
method with -32602. This transport decides those cases itself and passes everything else to the SDK unchanged:

* a line longer than `max_message_bytes` (read in bounded chunks, never held whole): -32600, id null;
* not JSON: -32700 (parse error), id null;
* JSON but not a JSON-RPC 2.0 message: -32600 (invalid request), with the request's id when it has a usable one;
* a request for a method MCP does not define: -32601 (method not found).

A known method with bad parameters is the SDK's to answer (-32602, "Invalid request parameters").

Example:
    >>> classify('{"jsonrpc": "2.0", "id": 3, "method": "no/such"}')[1]["error"]["code"]
    -32601
"""

from __future__ import annotations

import json
import sys
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any, BinaryIO

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND = -32700, -32600, -32601
_CHUNK = 65_536


def _error(code: int, message: str, request_id: Any = None) -> dict[str, Any]:
    usable = request_id if isinstance(request_id, (str, int)) and not isinstance(request_id, bool) else None
    return {"jsonrpc": "2.0", "id": usable, "error": {"code": code, "message": message}}


@cache
def known_methods() -> frozenset[str]:
    """Every request method a client may send under MCP (from the SDK's ClientRequest union)."""
    from mcp import types

    out: set[str] = set()
    for request in typing.get_args(types.ClientRequest.model_fields["root"].annotation):
        out.update(typing.get_args(request.model_fields["method"].annotation))
    return frozenset(out)


def classify(line: str) -> tuple[Any, dict[str, Any] | None]:
    """(the SDK's message, None) for a line to pass on, or (None, the JSON-RPC error to answer)."""
    from mcp import types
    from pydantic import ValidationError

    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None, _error(PARSE_ERROR, "Parse error: the line is not JSON (or is nested too deeply)")
    request_id = value.get("id") if isinstance(value, dict) else None
    if not isinstance(value, dict) or value.get("jsonrpc") != "2.0":
        return None, _error(INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message object", request_id)
    method = value.get("method")
    if "id" in value and isinstance(method, str) and method not in known_methods():
        return None, _error(METHOD_NOT_FOUND, f"Method not found: {method[:100]}", request_id)
    try:
        return types.JSONRPCMessage.model_validate(value), None
    except (ValidationError, RecursionError):
        return None, _error(INVALID_REQUEST, "Invalid Request: not a valid JSON-RPC message", request_id)


def _read_line(stream: BinaryIO, limit: int) -> tuple[bytes | None, bool]:
    """(the next line without its newline, or None at the end; whether it was longer than `limit` bytes).

    A line over the limit is read to its end in chunks and dropped, so memory stays bounded."""
    line = stream.readline(limit + 1)
    if not line:
        return None, False
    if line.endswith(b"\n"):
        return line[:-1], False
    if len(line) <= limit:  # the last line, without a newline
        return line, False
    while True:
        rest = stream.readline(_CHUNK)
        if not rest or rest.endswith(b"\n"):
            return b"", True


@asynccontextmanager
async def stdio_transport(max_message_bytes: int, stdin: BinaryIO | None = None,
                          stdout: BinaryIO | None = None) -> AsyncIterator[tuple[Any, Any]]:
    """(read stream, write stream) for `Server.run`, over stdin/stdout (see the module doc)."""
    import anyio
    from mcp.shared.message import SessionMessage

    source = stdin or sys.stdin.buffer
    sink = stdout or sys.stdout.buffer
    read_writer, read_stream = anyio.create_memory_object_stream[Any](0)
    write_stream, write_reader = anyio.create_memory_object_stream[Any](0)
    answers_writer, answers_reader = anyio.create_memory_object_stream[Any](16)
    lock = anyio.Lock()

    async def emit(text: str) -> None:
        async with lock:
            await anyio.to_thread.run_sync(_write, sink, text)

    async def reader() -> None:
        async with read_writer, answers_writer:
            while True:
                raw, too_long = await anyio.to_thread.run_sync(_read_line, source, max_message_bytes)
                if raw is None:
                    return
                if too_long:
                    await answers_writer.send(_error(INVALID_REQUEST, "Invalid Request: the message is longer "
                                                     f"than {max_message_bytes:,} bytes"))
                    continue
                text = raw.decode("utf-8", "replace").strip()
                if not text:
                    continue
                message, error = classify(text)
                if error is not None:
                    await answers_writer.send(error)
                else:
                    await read_writer.send(SessionMessage(message))

    async def answers() -> None:
        async with answers_reader:
            async for error in answers_reader:
                await emit(json.dumps(error))

    async def writer() -> None:
        async with write_reader:
            async for session_message in write_reader:
                await emit(session_message.message.model_dump_json(by_alias=True, exclude_none=True))

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        tg.start_soon(answers)
        tg.start_soon(writer)
        yield read_stream, write_stream
        tg.cancel_scope.cancel()


def _write(sink: BinaryIO, text: str) -> None:
    sink.write(text.encode("utf-8") + b"\n")
    sink.flush()
