"""Hostile tool arguments (issue 14, items 1, 2, 7, 9): the agent tools never open a path a caller gave, never echo
a file's content, bound their work, and answer malformed input with structured errors.

Planted secrets: an environment variable and a 0600 file, each with a unique token, plus a strategy document
with its own token next to the store. Every argument that could be a path is tried with absolute, relative,
`..`, symlink, /proc/self/*, device and FIFO values, through `ruleengine.tools.call` (in process, each case
`within` its limits) and through a real MCP client session over stdio; no reply may contain a token.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from support.hostile import assert_structured, run_cli, within

import ruleengine
from ruleengine import tools
from ruleengine.llm.files import MAX_FILE_BYTES
from ruleengine.llm.pool import ToolLimits, WorkerPool, shared_pool

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_CROSS = (ROOT / "rules" / "golden_cross.yaml").read_text(encoding="utf-8")
ENV_SECRET = "envsecret-7f3a9c1e55d04b2e"
FILE_SECRET = "filesecret-2b8e6d4f90a17c3d"
DOC_SECRET = "docsecret-c41f0e9b7a2d5e86"
SECRETS = (ENV_SECRET, FILE_SECRET, DOC_SECRET)


def _plant(root: Path) -> dict[str, str]:
    """Secret files, a symlink and a FIFO under `root`; returns the path values a caller could send."""
    secret = root / "secret.env"
    secret.write_text(f"OPENAI_API_KEY={FILE_SECRET}\n{FILE_SECRET}\n", encoding="utf-8")
    secret.chmod(0o600)
    victim = root / "victim"
    victim.mkdir()
    (victim / "private_strategy.yaml").write_text(GOLDEN_CROSS.replace("Golden cross with RSI filter", DOC_SECRET),
                                                  encoding="utf-8")
    (root / "link.txt").symlink_to(secret)
    (root / "link.yaml").symlink_to(victim / "private_strategy.yaml")
    os.mkfifo(root / "fifo")
    work = root / "work"
    work.mkdir()
    return {"absolute": str(secret), "relative": "secret.env", "dotdot": f"../{root.name}/secret.env",
            "dotdot_doc": "../victim/private_strategy.yaml", "absolute_doc": str(victim / "private_strategy.yaml"),
            "symlink": str(root / "link.txt"), "symlink_doc": str(root / "link.yaml"),
            "proc_environ": "/proc/self/environ", "proc_cmdline": "/proc/self/cmdline", "device": "/dev/zero",
            "fifo": str(root / "fifo")}


PATH_KINDS = ["absolute", "relative", "dotdot", "dotdot_doc", "absolute_doc", "symlink", "symlink_doc",
              "proc_environ", "proc_cmdline", "device", "fifo"]
# (tool, argument, how the value is written into it); every tool argument that could name a file
PATH_ARGS = [("backtest_strategy", "symbols", "@{}"), ("sweep_parameters", "symbols", "@{}"),
             ("get_strategy_signals", "symbols", "@{}"), ("backtest_strategy", "strategy", "{}"),
             ("explain_strategy", "strategy", "{}"), ("validate_strategy", "strategy", "{}"),
             ("sweep_parameters", "strategy", "{}"), ("refine_strategy", "strategy", "{}"),
             ("backtest_strategy", "provider", "{}"), ("backtest_strategy", "symbols", "prices={}"),
             ("backtest_strategy", "strategy", "slot_provider:{}")]
EXPECTED = {"symbols": ("L112",), "provider": ("D108",), "strategy_id": ("L109",), "prices=": ("D117", "ok"),
            "slot_provider:": ("D108", "D109")}


def _expected(arg: str, form: str) -> tuple[str, ...]:
    """Codes a refused value may give: L112 (a file name refused unread), D117 (not a ticker), D108 (not a
    provider name), R103 (text that is a YAML scalar, not a document); "ok" where the value is a valid ticker
    (``prices=secret.env``: a symbol name, run on the sample provider, no file read)."""
    for prefix in ("prices=", "slot_provider:"):
        if form.startswith(prefix):
            return EXPECTED[prefix]
    return EXPECTED.get(arg, ("L112", "R103"))


def _arguments(tool: str, arg: str, value: str) -> dict[str, Any]:
    if value.startswith("slot_provider:"):  # a path as the provider of the document's own data slot
        doc = GOLDEN_CROSS.replace("columns: [close]}", f"columns: [close], provider: '{value[14:]}'}}")
        return {"strategy": doc, "symbols": "SPY"}
    base: dict[str, Any] = {
        "backtest_strategy": {"strategy": GOLDEN_CROSS, "symbols": "SPY"},
        "sweep_parameters": {"strategy": GOLDEN_CROSS, "symbols": "SPY", "grid": ["fast=10,20"]},
        "get_strategy_signals": {"strategy_id": 1},
        "explain_strategy": {}, "validate_strategy": {},
        "refine_strategy": {"refinement_description": "tighten the stop"},
    }[tool]
    return {**base, arg: value}


def _cases() -> list[Any]:
    return [pytest.param(tool, arg, form, kind, id=f"{tool}.{arg}.{form.split('{')[0] or 'value'}-{kind}")
            for tool, arg, form in PATH_ARGS for kind in PATH_KINDS]


def _code(reply: dict[str, Any]) -> str:
    """The first code of an error object, or of validate_strategy's diagnostics (a result, not an error);
    "ok" for another tool's result."""
    if reply["success"] and "valid" not in reply:
        return "ok"
    if reply["success"]:
        assert reply.get("valid") is False, reply
        return str(reply["diagnostics"][0]["code"])
    return str(reply["error"]["details"][0]["code"])


def _no_secret(reply: Any) -> str:
    text = json.dumps(reply, default=str)
    for token in SECRETS:
        assert token not in text, f"{token} leaked: {text[:3000]}"
    return text


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A caller's view: secrets planted, cwd next to them, a store with one strategy, no folders allowed."""
    for var in ("OPENAI_API_KEY", "RULEENGINE_DATA", "FMP_API_KEY", "RULEENGINE_TOOLS_UNIVERSES",
                "RULEENGINE_TOOLS_STRATEGIES", "RULEENGINE_TOOLS_WORKERS", "RULEENGINE_TOOLS_QUEUE",
                "RULEENGINE_TOOLS_MAX_ARGUMENT_BYTES", "RULEENGINE_TOOLS_MAX_WAIT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RULEENGINE_TEST_SECRET", ENV_SECRET)
    monkeypatch.setenv("RULEENGINE_PROVIDER", "sample")
    monkeypatch.setenv("RULEENGINE_DB", str(tmp_path / "store.db"))
    monkeypatch.setenv("RULEENGINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9")  # never reached: refine fails on its input
    paths = _plant(tmp_path)
    monkeypatch.chdir(tmp_path)
    from ruleengine.store import open_store

    open_store().add_strategy(ruleengine.load_strategy(GOLDEN_CROSS), universe="SPY")
    return paths


# ------------------------------------------------------------------------------ paths, through tools.call
@pytest.mark.parametrize(("tool", "arg", "form", "kind"), _cases())
def test_tool_arguments_never_open_a_callers_path(hostile: dict[str, str], tool: str, arg: str, form: str,
                                                  kind: str) -> None:
    with within(120, 256):  # the first backtest of a process compiles its kernels
        reply = tools.call(tool, _arguments(tool, arg, form.format(hostile[kind])))
    _no_secret(reply)
    assert _code(reply) in _expected(arg, form), reply


def test_a_stored_universe_file_is_not_read_by_the_tools(hostile: dict[str, str]) -> None:
    from ruleengine.store import open_store

    sid = open_store().add_strategy(ruleengine.load_strategy(GOLDEN_CROSS), universe="@" + hostile["absolute"]).id
    with within(20, 256):
        reply = tools.call("backtest_strategy", {"strategy_id": sid})
    _no_secret(reply)
    assert reply["error"]["details"][0]["code"] == "L112"


def test_the_library_switches_are_explicit(hostile: dict[str, str]) -> None:
    """The CLI keeps reading paths; with the switch off, the loader and the symbol parser touch no file."""
    from ruleengine.data.symbols import parse_symbols

    doc = hostile["absolute_doc"]
    assert ruleengine.load_strategy(doc).name == DOC_SECRET  # the default (CLI) reads the file
    with pytest.raises(ruleengine.RuleEngineError) as exc:
        ruleengine.load_strategy(doc, allow_paths=False)
    assert exc.value.diagnostics[0].code == "R103" and DOC_SECRET not in str(exc.value.diagnostics)
    assert [d.code for d in ruleengine.validate(doc, allow_paths=False)] == ["R103"]
    with pytest.raises(ruleengine.RuleEngineError) as exc:
        parse_symbols("@" + hostile["absolute"], ["prices"], read_file=None)
    assert exc.value.diagnostics[0].code == "D117" and FILE_SECRET not in str(exc.value.diagnostics)


# ------------------------------------------------------------------------------ the allowed folders
@pytest.fixture
def folders(hostile: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Universes and strategies folders with good files, links in and out, a FIFO, a bad and a big file."""
    uni = tmp_path / "universes"
    uni.mkdir()
    (uni / "etfs.txt").write_text("# two ETFs\nSPY\nQQQ\n", encoding="utf-8")
    (uni / "sub").mkdir()
    (uni / "sub" / "one.txt").write_text("IWM\n", encoding="utf-8")
    (uni / "alias.txt").symlink_to(uni / "etfs.txt")                  # a link inside: allowed
    (uni / "escape.txt").symlink_to(hostile["absolute"])               # a link out: refused
    (uni / "proc.txt").symlink_to("/proc/self/environ")
    (uni / "zero.txt").symlink_to("/dev/zero")
    os.mkfifo(uni / "pipe.txt")
    (uni / "bad.txt").write_text(f"SPY\n{FILE_SECRET} is not a ticker!\n", encoding="utf-8")
    (uni / "big.txt").write_text("SPY\n" * (MAX_FILE_BYTES // 4 + 1), encoding="utf-8")
    (uni / "folder.txt").mkdir()
    docs = tmp_path / "strategies"
    docs.mkdir()
    (docs / "gc.yaml").write_text(GOLDEN_CROSS, encoding="utf-8")
    (docs / "out.yaml").symlink_to(hostile["absolute_doc"])
    monkeypatch.setenv("RULEENGINE_TOOLS_UNIVERSES", str(uni))
    monkeypatch.setenv("RULEENGINE_TOOLS_STRATEGIES", str(docs))
    return tmp_path


def test_allowed_folders_serve_their_files(folders: Path) -> None:
    with within(120, 256):  # the first backtest of a process compiles its kernels (slow on a busy machine)
        bt = tools.call("backtest_strategy", {"strategy": "gc.yaml", "symbols": "@etfs.txt",
                                              "start_date": "2016-01-01", "end_date": "2016-12-31"})
    assert bt["success"] is True, bt
    assert sorted(r["label"] for r in bt["runs"]) == ["QQQ", "SPY"] and bt["strategy_name"] == \
        "Golden cross with RSI filter"
    for name, labels in (("alias.txt", ["QQQ", "SPY"]), ("sub/one.txt", ["IWM"]),
                         (str(folders / "universes" / "sub" / "one.txt"), ["IWM"])):  # absolute, inside
        out = tools.call("backtest_strategy", {"strategy": GOLDEN_CROSS, "symbols": "@" + name,
                                               "start_date": "2016-01-01", "end_date": "2016-12-31"})
        assert sorted(r["label"] for r in out["runs"]) == labels, out
    assert tools.call("explain_strategy", {"strategy": "gc.yaml"})["success"] is True
    assert tools.call("validate_strategy", {"strategy": "gc.yaml"})["valid"] is True


ESCAPES = [("symbols", "@escape.txt", "L112"), ("symbols", "@proc.txt", "L112"), ("symbols", "@zero.txt", "L112"),
           ("symbols", "@pipe.txt", "L113"), ("symbols", "@folder.txt", "L113"), ("symbols", "@bad.txt", "L113"),
           ("symbols", "@big.txt", "L113"), ("symbols", "@missing.txt", "L113"),
           ("symbols", "@../secret.env", "L112"), ("symbols", "@sub/../../secret.env", "L112"),
           ("symbols", "@{absolute}", "L112"), ("symbols", "@/proc/self/environ", "L112"),
           ("symbols", "@~/secret.env", "L112"),
           ("strategy", "out.yaml", "L112"), ("strategy", "../victim/private_strategy.yaml", "L112"),
           ("strategy", "{absolute_doc}", "L112"), ("strategy", "/proc/self/environ", "L112"),
           ("strategy", "missing.yaml", "L113")]


@pytest.mark.parametrize(("arg", "value", "code"), ESCAPES, ids=[f"{a}-{v}" for a, v, _ in ESCAPES])
def test_allowed_folders_refuse_escapes(folders: Path, hostile: dict[str, str], arg: str, value: str,
                                        code: str) -> None:
    args = {"strategy": GOLDEN_CROSS, "symbols": "SPY", arg: value.format(**hostile)}
    with within(20, 256):
        reply = tools.call("backtest_strategy", args)
    text = _no_secret(reply)
    assert reply["success"] is False and reply["error"]["details"][0]["code"] == code, reply
    assert "OPENAI_API_KEY" not in text


# ------------------------------------------------------------------------------ limits
def test_arguments_over_the_size_limit_are_refused(hostile: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    big = GOLDEN_CROSS + "#" * 300_000
    with within(10, 64):
        for args in ({"strategy": big}, json.dumps({"strategy": big})):
            reply = tools.call("validate_strategy", args)
            assert reply["error"]["details"][0]["code"] == "L115", reply
        deep: Any = "x"
        for _ in range(100_000):
            deep = [deep]
        reply = tools.call("validate_strategy", {"strategy": deep})
        assert reply["error"]["details"][0]["code"] == "L115", str(reply)[:500]
        reply = tools.call("validate_strategy", "[" * 100_000 + "]" * 100_000)
        assert reply["error"]["details"][0]["code"] in ("L109", "L115"), str(reply)[:500]
    monkeypatch.setenv("RULEENGINE_TOOLS_MAX_ARGUMENT_BYTES", "lots")
    assert tools.call("validate_strategy", {"strategy": GOLDEN_CROSS})["error"]["details"][0]["code"] == "L118"


def test_huge_ids_are_argument_errors(hostile: dict[str, str]) -> None:
    for tool in ("backtest_strategy", "get_strategy_signals", "explain_strategy", "sweep_parameters",
                 "refine_strategy"):
        args = {"strategy_id": 2**70, "refinement_description": "x"} if tool == "refine_strategy" else \
            {"strategy_id": 2**70}
        reply = tools.call(tool, args)
        assert reply["error"]["details"][0]["code"] == "L109" and reply["error"]["details"][0]["path"] == \
            "strategy_id", reply
    assert tools.call("sweep_parameters", {"strategy_id": 1, "top": 10**9})["error"]["details"][0]["code"] == "L109"


def test_worker_pool_runs_a_bounded_number_and_answers_busy() -> None:
    pool = WorkerPool(ToolLimits(workers=2, queue=1, max_wait=5))
    release = threading.Event()
    running = []
    lock = threading.Lock()
    peak = [0]

    def job() -> str:
        with lock:
            running.append(1)
            peak[0] = max(peak[0], len(running))
        release.wait(10)
        with lock:
            running.pop()
        return "ok"

    results: list[Any] = []

    def submit() -> None:
        try:
            results.append(pool.run(job))
        except ruleengine.RuleEngineError as exc:
            results.append(exc.diagnostics[0].code)

    threads = [threading.Thread(target=submit) for _ in range(3)]
    for t in threads:
        t.start()
    while pool.admitted < 3 or len(running) < 2:  # two running, one queued
        threading.Event().wait(0.01)
    submit()  # workers and queue are full: busy at once, without waiting
    assert results == ["L114"]
    release.set()
    for t in threads:
        t.join(10)
    assert sorted(results) == ["L114", "ok", "ok", "ok"] and peak[0] == 2 and pool.admitted == 0


def test_a_queued_call_gives_up_after_max_wait() -> None:
    pool = WorkerPool(ToolLimits(workers=1, queue=1, max_wait=0.2))
    release, taken = threading.Event(), threading.Event()
    holder = threading.Thread(target=pool.run, args=(lambda: (taken.set(), release.wait(10)),))
    holder.start()
    assert taken.wait(10)  # the only worker is busy
    with pytest.raises(ruleengine.RuleEngineError) as exc:
        pool.run(lambda: "never")
    assert exc.value.diagnostics[0].code == "L114" and "within 0.2 s" in exc.value.diagnostics[0].message
    release.set()
    holder.join(10)


def test_tools_call_uses_the_pool(hostile: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """With the only worker taken, a heavy tool is busy at once; a light tool still answers."""
    monkeypatch.setenv("RULEENGINE_TOOLS_WORKERS", "1")
    monkeypatch.setenv("RULEENGINE_TOOLS_QUEUE", "0")
    pool = shared_pool()
    release, taken = threading.Event(), threading.Event()
    holder = threading.Thread(target=pool.run, args=(lambda: (taken.set(), release.wait(20)),))
    holder.start()
    taken.wait(10)
    try:
        with within(5, 64):
            busy = tools.call("backtest_strategy", {"strategy": GOLDEN_CROSS, "symbols": "SPY"})
        assert busy["error"]["type"] == "execution_error" and busy["error"]["details"][0]["code"] == "L114"
        assert tools.call("list_capabilities", {})["success"] is True
    finally:
        release.set()
        holder.join(20)
    done = tools.call("backtest_strategy", {"strategy": GOLDEN_CROSS, "symbols": "SPY",
                                            "start_date": "2016-01-01", "end_date": "2016-12-31"})
    assert done["success"] is True, done


# ------------------------------------------------------------------------------ over MCP
def _server(tmp_path: Path, extra: dict[str, str]) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "RULEENGINE_DATA", "FMP_API_KEY")}
    env.update({"RULEENGINE_PROVIDER": "sample", "RULEENGINE_DB": str(tmp_path / "store.db"),
                "RULEENGINE_CACHE_DIR": str(tmp_path / "cache"), "RULEENGINE_TEST_SECRET": ENV_SECRET,
                "OPENAI_BASE_URL": "http://127.0.0.1:9", **extra})
    # the server runs in another folder: this checkout's code must come first on its path
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p)
    return StdioServerParameters(command=sys.executable, args=["-m", "ruleengine.cli", "mcp"], env=env,
                                 cwd=str(tmp_path))


def _reply(result: Any) -> dict[str, Any]:
    text = json.loads(result.content[0].text)
    assert result.isError is (not text["success"])
    return text


def test_mcp_session_never_reaches_a_callers_path(hostile: dict[str, str], tmp_path: Path) -> None:
    """Every path case of the in-process test, through a real MCP client session (one server)."""
    cases = [(tool, arg, form, form.format(hostile[kind])) for tool, arg, form in PATH_ARGS for kind in PATH_KINDS]
    cases.append(("backtest_strategy", "strategy_id", "{}", 2**70))

    async def run() -> list[dict[str, Any]]:
        with open(tmp_path / "server.stderr", "w") as errlog:
            async with stdio_client(_server(tmp_path, {}), errlog=errlog) as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                out = []
                for tool, arg, _, value in cases:
                    args = {"strategy_id": value} if arg == "strategy_id" else _arguments(tool, arg, value)
                    out.append(_reply(await session.call_tool(tool, args)))
                return out

    with within(240, 256):
        replies = anyio.run(run)
    for (tool, arg, form, value), reply in zip(cases, replies, strict=True):
        _no_secret(reply)
        assert _code(reply) in _expected(arg, form), (tool, arg, value, reply)
    assert "Traceback" not in (tmp_path / "server.stderr").read_text()


def test_mcp_concurrent_heavy_calls_get_busy_answers(hostile: dict[str, str], tmp_path: Path) -> None:
    """Six concurrent sweeps on one worker with one queue place: two are served, the others are told busy."""
    sweep = {"strategy": GOLDEN_CROSS, "symbols": "SPY,QQQ,IWM", "grid": ["fast=5:60:5", "slow=100:300:50"],
             "start_date": "2008-01-01", "end_date": "2017-12-31"}

    async def run() -> list[dict[str, Any]]:
        extra = {"RULEENGINE_TOOLS_WORKERS": "1", "RULEENGINE_TOOLS_QUEUE": "1"}
        with open(tmp_path / "server.stderr", "w") as errlog:
            async with stdio_client(_server(tmp_path, extra), errlog=errlog) as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                out: list[dict[str, Any]] = []

                async def one() -> None:
                    out.append(_reply(await session.call_tool("sweep_parameters", sweep)))

                async with anyio.create_task_group() as tg:
                    for _ in range(6):
                        tg.start_soon(one)
                out.append(_reply(await session.call_tool("list_capabilities", {})))
                return out

    with within(240, 256):
        replies = anyio.run(run)
    *sweeps, caps = replies
    codes = sorted("ok" if r["success"] else r["error"]["details"][0]["code"] for r in sweeps)
    assert codes.count("ok") >= 1 and codes.count("L114") >= 2 and set(codes) <= {"ok", "L114"}, codes
    assert caps["success"] is True


# ------------------------------------------------------------------------------ raw JSON-RPC lines
def _raw_session(tmp_path: Path, lines: list[str], extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Initialize, then write each line to the server's stdin; one JSON answer per line (read in order)."""
    import select
    import subprocess

    params = _server(tmp_path, extra or {})
    proc = subprocess.Popen([params.command, *params.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=params.env, cwd=params.cwd)
    assert proc.stdin is not None and proc.stdout is not None

    def send(line: str) -> None:
        proc.stdin.write(line.encode("utf-8") + b"\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

    def answer(timeout: float) -> dict[str, Any]:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        assert ready, "no answer"
        return json.loads(proc.stdout.readline())  # type: ignore[union-attr]

    try:
        send(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}))
        assert answer(60)["id"] == 0
        send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        out = []
        for line in lines:
            send(line)
            out.append(answer(30))
        return out
    finally:
        proc.kill()
        stderr = proc.communicate()[1].decode("utf-8", "replace")
        assert "Traceback" not in stderr, stderr[-3000:]


RAW = [  # (line, the error code; who decides)
    ("{not json", -32700), ("[]", -32600), ('"text"', -32600), ('{"foo": 1}', -32600),
    ('{"jsonrpc": "2.0", "id": 5}', -32600), ('{"jsonrpc": "1.0", "id": 6, "method": "tools/list"}', -32600),
    ('{"jsonrpc": "2.0", "id": 7, "method": "no/such"}', -32601),
    ('{"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": "x"}', -32600),
    ("[" * 100_000 + "]" * 100_000, -32700),
    ('{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {}}', -32602),  # the SDK: known method
]


def test_mcp_malformed_json_rpc_gets_protocol_errors(hostile: dict[str, str], tmp_path: Path) -> None:
    lines = [line for line, _ in RAW]
    too_long = json.dumps({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {
        "name": "validate_strategy", "arguments": {"strategy": "#" * 3_000_000}}})
    big_args = json.dumps({"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {
        "name": "validate_strategy", "arguments": {"strategy": "#" * 300_000}}})
    alive = json.dumps({"jsonrpc": "2.0", "id": 12, "method": "tools/call", "params": {
        "name": "backtest_strategy", "arguments": {"strategy_id": 2**70}}})
    with within(120, 64):
        answers = _raw_session(tmp_path, [*lines, too_long, big_args, alive])
    expected = [code for _, code in RAW]
    for line, want, got in zip(lines, expected, answers[:-3], strict=True):  # the last three: checked below
        assert got["jsonrpc"] == "2.0" and got["error"]["code"] == want, (line[:80], got)
        request_id = json.loads(line).get("id") if want != -32700 and line.startswith("{") else None
        assert got["id"] == request_id, (line[:80], got)
    assert answers[-3] == {"jsonrpc": "2.0", "id": None, "error": {
        "code": -32600, "message": "Invalid Request: the message is longer than 2,097,152 bytes"}}
    tool_error = json.loads(answers[-2]["result"]["content"][0]["text"])
    assert answers[-2]["result"]["isError"] is True and tool_error["error"]["details"][0]["code"] == "L115"
    huge_id = json.loads(answers[-1]["result"]["content"][0]["text"])
    assert huge_id["error"]["details"][0]["code"] == "L109"


@pytest.mark.parametrize("setting", ["RULEENGINE_TOOLS_WORKERS=x", "RULEENGINE_TOOLS_WORKERS=0",
                                     "RULEENGINE_TOOLS_QUEUE=-1", "RULEENGINE_TOOLS_MAX_WAIT=soon"])
def test_mcp_server_refuses_a_bad_limit_setting(setting: str) -> None:
    name, _, value = setting.partition("=")
    proc = run_cli(["mcp"], seconds=60, env={name: value})
    assert_structured(proc)
    assert proc.returncode == 2 and "L118" in proc.stderr and name in proc.stderr
