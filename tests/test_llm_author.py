"""The authoring loop, refinement and conversation reuse, against a real HTTP server on 127.0.0.1 that speaks
the chat completions API (tests/support/openai_server.py), driven by the real `openai` client through
OPENAI_BASE_URL.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
from support.openai_server import OpenAIServer, Reply, Stall, envelope
from typer.testing import CliRunner

import ruleengine
from ruleengine.cli import app
from ruleengine.llm.author import AuthoringError, author
from ruleengine.llm.client import ChatClient, LLMSettings
from ruleengine.llm.prompt import example_wire
from ruleengine.llm.refine import refine
from ruleengine.llm.session import Session

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Buy SPY when the 50-day average crosses above the 200-day one and RSI(14) is under 70; 10% stop"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A scripted chat-completions server; the environment points the engine at it (and at the sample data)."""
    for var in ("OPENAI_API_KEY", "RULEENGINE_LLM_PRICES", "RULEENGINE_LLM_TIMEOUT", "RULEENGINE_LLM_MAX_RETRIES",
                "RULEENGINE_LLM_DEADLINE", "RULEENGINE_DATA", "FMP_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    with OpenAIServer() as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("RULEENGINE_MODEL", "gpt-4.1-mini")
        monkeypatch.setenv("RULEENGINE_PROVIDER", "sample")
        monkeypatch.setenv("RULEENGINE_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("RULEENGINE_DB", str(tmp_path / "store.db"))
        yield srv


def good() -> dict[str, Any]:
    return example_wire()


def with_condition(cond: str) -> dict[str, Any]:
    doc = copy.deepcopy(example_wire())
    doc["entry"]["conditions"][0] = cond
    return doc


def feedback(server: OpenAIServer, request: int) -> list[dict[str, Any]]:
    """The problems (JSON) the loop sent back to the model in the given request."""
    text = server.requests[request].body["messages"][-1]["content"]
    return json.loads(text[text.index("["):text.rindex("]") + 1])


def test_valid_strategy_first_time(server: OpenAIServer) -> None:
    server.script(envelope(good(), explanation="50/200 golden cross with an RSI filter"))
    result = ruleengine.author(PROMPT)
    assert server.count() == 1
    assert result.strategy == ruleengine.load_strategy(good())
    assert result.kind == "rules" and result.explanation == "50/200 golden cross with an RSI filter"
    assert (result.symbols, result.symbols_spec) == (("SPY",), "SPY")
    assert len(result.attempts) == 1 and result.attempts[0].ok
    # usage and cost: 1200 + 300 tokens at gpt-4.1-mini's $0.40 / $1.60 per million
    assert result.usage.to_dict() == {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
                                      "calls": 1, "cost_usd": 0.00096}
    body = server.requests[0].body
    assert body["model"] == "gpt-4.1-mini" and body["temperature"] == 0
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["properties"]["strategy"]["properties"].keys() == \
        ruleengine.strict_json_schema()["properties"].keys()
    system, user = body["messages"]
    assert system["role"] == "system" and "`sma(x, n)`" in system["content"]
    assert user["content"].startswith("Trading idea: Buy <symbol 1> when the 50-day average")
    assert "SPY" not in json.dumps(body)  # the symbol never reached the model
    assert server.requests[0].authorization == "Bearer not-needed"  # a local server needs no key


def test_invalid_json_then_valid(server: OpenAIServer) -> None:
    server.script('Sure! Here is your strategy: {"kind": "rules"', envelope(good()))
    result = author(PROMPT)
    assert server.count() == 2 and [a.ok for a in result.attempts] == [False, True]
    assert result.attempts[0].problems[0]["code"] == "L101"
    messages = server.requests[1].body["messages"]
    assert messages[2] == {"role": "assistant", "content": 'Sure! Here is your strategy: {"kind": "rules"'}
    assert feedback(server, 1)[0]["code"] == "L101"
    assert result.usage.calls == 2 and result.usage.cost_usd == pytest.approx(2 * 0.00096)


def test_schema_violation_is_reported_with_its_path_then_fixed(server: OpenAIServer) -> None:
    bad = copy.deepcopy(good())
    bad["risk"]["stop_loss_pct"] = 150  # must be < 100
    bad["data"][0]["kind"] = "ohlc"
    server.script(json.dumps({"kind": "rules", "strategy": bad, "code_reason": None}), envelope(bad),
                  envelope(good()))
    result = author(PROMPT)
    assert server.count() == 3
    first, second = feedback(server, 1), feedback(server, 2)
    assert [(p["code"], p["path"]) for p in first] == [("L102", "explanation")]
    assert {(p["code"], p["path"]) for p in second} == {("S104", "strategy.risk.stop_loss_pct"),
                                                         ("S104", "strategy.data")}
    kind = next(p for p in second if p["path"] == "strategy.data")
    assert kind["hint"] == "did you mean 'ohlcv'?" and kind["span"]["line"] == 5
    assert result.strategy.data["prices"].kind == "ohlcv"


def test_unknown_function_is_fixed_after_the_diagnostic(server: OpenAIServer) -> None:
    server.script(envelope(with_condition("crosses_above(smaa(close, fast), sma(close, slow))")), envelope(good()))
    result = author(PROMPT)
    assert server.count() == 2
    sent = feedback(server, 1)
    assert sent == [{"code": "C101", "message": "unknown function 'smaa'", "path": "strategy.entry.conditions[0]",
                     "span": {"line": 50, "column": 22, "end_line": 50, "end_column": 26}, "source": "smaa",
                     "hint": "did you mean 'sma'?"}]
    previous = json.loads(server.requests[1].body["messages"][2]["content"])
    assert previous["strategy"]["entry"]["conditions"][0].startswith("crosses_above(smaa(")
    assert result.attempts[0].problems == sent and result.attempts[1].ok


def _three_bad() -> tuple[str, str, str]:
    return (envelope(with_condition("crosses_above(smaa(close, fast), sma(close, slow))")),
            envelope(with_condition("rsi(close) < 30")),
            envelope(with_condition("close > sma(close, -5)")))


def test_three_failures_in_a_row_give_a_clean_error_with_the_attempts(server: OpenAIServer) -> None:
    server.script(*_three_bad())
    with pytest.raises(AuthoringError) as info:
        author(PROMPT)
    exc = info.value
    assert server.count() == 3
    assert exc.error_type == "code_generation_error"
    assert exc.diagnostics[0].code == "L104" and "after 3 attempts" in exc.diagnostics[0].message
    assert exc.diagnostics[1].code == "C106"  # what was still wrong: the last attempt's diagnostics
    assert [[p["code"] for p in a.problems] for a in exc.attempts] == [["C101"], ["C103"], ["C106"]]
    schema = exc.to_error_schema()
    assert schema["success"] is False and schema["error"]["type"] == "code_generation_error"
    assert [a["attempt"] for a in schema["error"]["attempts"]] == [1, 2, 3]
    assert schema["error"]["usage"]["calls"] == 3


def test_cli_create_json_gives_the_error_schema_and_exit_code_1(server: OpenAIServer) -> None:
    server.script(*_three_bad())
    res = CliRunner().invoke(app, ["create", PROMPT, "--json"])
    assert res.exit_code == 1, res.output
    payload = json.loads(res.stdout)
    assert payload["success"] is False and payload["error"]["type"] == "code_generation_error"
    assert payload["error"]["details"][0]["code"] == "L104"
    assert len(payload["error"]["attempts"]) == 3 and server.count() == 3


def test_cli_create_writes_the_document_and_names_the_symbols(server: OpenAIServer, tmp_path: Path) -> None:
    server.script(envelope(good()))
    out = tmp_path / "rules" / "gc.yaml"
    out.parent.mkdir()  # --out's folder must exist (D170 otherwise: tests/test_hostile_cli.py)
    res = CliRunner().invoke(app, ["create", PROMPT, "--name", "GC filter", "--out", str(out), "--save"])
    assert res.exit_code == 0, res.output
    strategy = ruleengine.load_strategy(out)
    assert strategy.name == "GC filter" and "SPY" not in out.read_text()
    assert "--symbols SPY" in res.stderr and "stored as strategy 1 (version 1)" in res.stderr
    assert "gpt-4.1-mini: 1 attempt(s), 1,200 + 300 tokens, ~$0.0010" in res.stderr
    from ruleengine.store import open_store

    record = open_store().get_strategy(1)
    assert record.strategy == strategy and record.nl_input == PROMPT and record.author == "llm:gpt-4.1-mini"
    assert record.universe == "SPY"


def test_429_with_retry_after_is_retried_without_blocking(server: OpenAIServer) -> None:
    # The SDK alone would sleep the full 120 s; ours caps the wait (max_retry_wait) and succeeds on the retry.
    server.script(Reply(429, {"error": {"message": "Rate limit reached", "type": "requests"}},
                        {"Retry-After": "120"}), envelope(good()))
    settings = LLMSettings.from_env(max_retry_wait=0.2, timeout=5)
    t0 = time.monotonic()
    result = author(PROMPT, settings=settings)
    assert time.monotonic() - t0 < 5
    assert server.count() == 2 and len(result.attempts) == 1
    gap = server.requests[1].time - server.requests[0].time
    assert 0.2 <= gap < 2


def test_429_for_ever_ends_with_a_clear_error(server: OpenAIServer) -> None:
    server.script(*[Reply(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "0.05"})] * 3)
    with pytest.raises(RuleEngineErrorType) as info:
        author(PROMPT, settings=LLMSettings.from_env(max_retries=2))
    d = info.value.diagnostics[0]
    assert d.code == "L105" and "kept answering 429 rate limit (3 attempts" in d.message
    assert info.value.error_type == "code_generation_error" and server.count() == 3


def test_timeout_gives_a_clear_error(server: OpenAIServer) -> None:
    server.script(Stall(10), Stall(10))
    t0 = time.monotonic()
    with pytest.raises(RuleEngineErrorType) as info:
        author(PROMPT, settings=LLMSettings.from_env(timeout=0.5, max_retries=1, max_retry_wait=0.1))
    elapsed = time.monotonic() - t0
    d = info.value.diagnostics[0]
    assert d.code == "L105" and "did not answer within 0.5 s (2 attempts" in d.message
    assert d.hint == "raise RULEENGINE_LLM_TIMEOUT or check that the server is up"
    assert server.count() == 2 and elapsed < 4


def test_rejected_key_is_not_retried(server: OpenAIServer) -> None:
    server.script(Reply(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}))
    with pytest.raises(RuleEngineErrorType) as info:
        author(PROMPT)
    d = info.value.diagnostics[0]
    assert (d.code, d.hint) == ("L106", "check OPENAI_API_KEY") and "Incorrect API key provided" in d.message
    assert server.count() == 1


def test_refusal_and_truncation_are_repaired_like_other_problems(server: OpenAIServer) -> None:
    from support.openai_server import completion

    server.script(Reply(200, completion(None, refusal="I cannot help with trading")),
                  Reply(200, completion('{"kind": "ru', finish_reason="length")), envelope(good()))
    result = author(PROMPT)
    assert [p["code"] for a in result.attempts[:2] for p in a.problems] == ["L103", "L103"]
    assert server.count() == 3


def test_not_configured_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(RuleEngineErrorType) as info:
        author(PROMPT)
    assert info.value.diagnostics[0].code == "L107" and "OPENAI_API_KEY" in info.value.diagnostics[0].hint


def test_code_fallback_goes_through_the_sandbox(server: OpenAIServer) -> None:
    """A `code` reply must pass the static check and the acceptance run (determinism, lookahead) in the sandbox."""
    code = ("def generate_signals(data, params):\n"
            "    close = data['prices']['close']\n"
            "    fast = close.rolling(params['fast']).mean()\n"
            "    slow = close.rolling(params['slow']).mean()\n"
            "    return (fast > slow) & (fast.shift(1) <= slow.shift(1)), (fast < slow)\n")
    # passes the static check, but a rolling mean over the reversed series reads later bars
    peeks = ("def generate_signals(data, params):\n"
             "    close = data['prices']['close']\n"
             "    later = close.sort_index(ascending=False).rolling(5).mean().sort_index()\n"
             "    return close > later, close < later\n")
    doc = {**good(), "entry": None, "exit": None, "code": code}
    why = "needs pandas rolling windows"
    server.script(envelope({**doc, "code": "import os\n" + code}, "code", code_reason=why),
                  envelope({**doc, "code": peeks}, "code", code_reason=why),
                  envelope(doc, "code", code_reason=why))
    result = author(PROMPT)
    assert [[p["code"] for p in a.problems] for a in result.attempts] == [["X103"], ["X129"], []]
    assert feedback(server, 1)[0]["path"] == "strategy.code"
    assert "looks ahead" in feedback(server, 2)[0]["message"]
    assert result.kind == "code" and result.code_reason == why and result.strategy.code == code
    assert result.strategy.entry is None and server.count() == 3


# ------------------------------------------------------------------------------------------- refine
def test_refine_keeps_untouched_fields_and_shows_the_diff(server: OpenAIServer, tmp_path: Path) -> None:
    current = ruleengine.load_strategy(ROOT / "rules" / "golden_cross.yaml")
    from ruleengine.llm.wire import wire_form

    new = wire_form(current)
    new["risk"]["stop_loss_pct"] = 5.0
    server.script(envelope(new))
    result = refine(ROOT / "rules" / "golden_cross.yaml", "tighten the stop to 5%")
    user = server.requests[0].body["messages"][1]["content"]
    assert json.dumps(wire_form(current), ensure_ascii=False) in user  # the model got the current document
    assert "Change request: tighten the stop to 5%" in user
    before, after = current.to_dict(), result.strategy.to_dict()
    assert after.pop("risk") == {**before.pop("risk"), "stop_loss_pct": 5.0}
    assert after == before  # every untouched field is identical
    changed = [line for line in result.diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["-  stop_loss_pct: 10.0", "+  stop_loss_pct: 5.0"]
    assert result.changed and result.strategy_id is None


def test_refine_with_no_change_warns(server: OpenAIServer) -> None:
    from ruleengine.llm.wire import wire_form

    current = ruleengine.load_strategy(ROOT / "rules" / "golden_cross.yaml")
    server.script(envelope(wire_form(current)))
    result = refine(current, "make it better")
    assert not result.changed and result.warnings[0]["code"] == "L110"


def test_cli_refine_by_id_stores_a_new_version_and_prints_the_diff(server: OpenAIServer, tmp_path: Path) -> None:
    from ruleengine.llm.wire import wire_form
    from ruleengine.store import open_store

    store = open_store()
    rec = store.add_strategy(ROOT / "rules" / "golden_cross.yaml")
    new = wire_form(rec.strategy)
    new["risk"]["stop_loss_pct"] = 5.0
    server.script(envelope(new))
    out = tmp_path / "v2.yaml"
    res = CliRunner().invoke(app, ["refine", str(rec.id), "tighten the stop to 5%", "--save", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "-  stop_loss_pct: 10.0\n+  stop_loss_pct: 5.0\n" in res.stdout
    assert f"stored as strategy {rec.id} version 2" in res.stderr
    v2 = store.get_strategy(rec.id)
    assert v2.version == 2 and v2.strategy.risk.stop_loss_pct == 5.0 and v2.nl_input == "tighten the stop to 5%"
    assert store.get_strategy(rec.id, 1).strategy.risk.stop_loss_pct == 10.0  # nothing overwritten
    assert ruleengine.load_strategy(out) == v2.strategy


# ------------------------------------------------------------------------------------------- session
def test_symbol_and_parameter_changes_never_reach_the_model(server: OpenAIServer) -> None:
    server.script(envelope(good()), envelope(with_condition("crosses_above(ema(close, fast), ema(close, slow))")))
    session = Session()
    session.create("Create a MA crossover strategy with SPY")
    assert server.count() == 1 and session.symbols == "SPY"
    first = session.backtest("2015-01-01", "2016-12-31")
    assert first.results[0].label == "SPY"

    change = session.ask("Show me what this looks like with QQQ instead")
    assert change.kind == "symbols" and session.symbols == "QQQ"
    change = session.ask("Try with a 20-period fast MA instead")
    assert change.kind == "params" and session.params == {"fast": 20}
    session.use_symbols("QQQ,IWM")
    session.set_params({"stop_loss_pct": 4})
    second = session.backtest("2015-01-01", "2016-12-31")
    assert server.count() == 1 and session.model_calls == 1  # zero requests for symbols and parameters
    assert [r.label for r in second.results] == ["QQQ", "IWM"]
    assert second.results[0].params["fast"] == 20 and second.results[0].risk["stop_loss_pct"] == 4
    with pytest.raises(RuleEngineErrorType) as info:
        session.ask("use fast=1000")  # outside the parameter's bounds: an error, not a model call
    assert info.value.diagnostics[0].code == "D103" and server.count() == 1

    session.ask("Actually, let's use exponential averages instead")  # a logic change: one model call
    assert server.count() == 2 and session.model_calls == 2
    assert "ema(close, fast)" in str(session.strategy.entry.conditions[0]) and session.params == {}
    assert session.symbols == "QQQ,IWM"


def test_session_backtest_notes_the_knowledge_cutoff(server: OpenAIServer) -> None:
    server.script(envelope(good()))
    session = Session()
    session.create("golden cross on SPY")
    early = session.backtest("2018-01-02", "2019-12-31")
    notes = [w for w in early.warnings if w["code"] == "L111"]
    assert len(notes) == 1 and "lies before the knowledge cutoff of gpt-4.1-mini (2024-06-01)" in notes[0]["message"]


def test_client_settings_from_env_and_errors() -> None:
    s = LLMSettings.from_env({"OPENAI_API_KEY": "k", "RULEENGINE_MODEL": "o4-mini", "RULEENGINE_LLM_TIMEOUT": "7",
                              "RULEENGINE_LLM_MAX_RETRIES": "4", "RULEENGINE_LLM_PRICES": "o4-mini=1/2"})
    assert (s.api_key, s.model, s.timeout, s.max_retries, s.temperature) == ("k", "o4-mini", 7.0, 4, None)
    assert s.prices["o4-mini"] == (1.0, 2.0) and s.prices["gpt-4o"] == (2.5, 10.0)
    with pytest.raises(RuleEngineErrorType) as info:
        LLMSettings.from_env({"RULEENGINE_LLM_TIMEOUT": "soon"})
    assert info.value.diagnostics[0].code == "L107"
    assert ChatClient(s).model == "o4-mini"


RuleEngineErrorType = ruleengine.RuleEngineError


def test_readme_llm_example_runs(server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from ruleengine.llm.wire import wire_form

    refined = wire_form(ruleengine.load_strategy(ROOT / "rules" / "golden_cross.yaml"))
    refined["risk"]["stop_loss_pct"] = 5.0
    server.script(envelope(good()), envelope(refined))
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = text.split("## Writing strategies with an LLM", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    scope: dict[str, Any] = {}
    exec(code, scope)  # noqa: S102 - our own README
    assert scope["result"].strategy == ruleengine.load_strategy(good())
    assert "+  stop_loss_pct: 5.0" in scope["r"].diff and server.count() == 2


def test_a_symbol_placeholder_copied_into_the_document_is_sent_back(server: OpenAIServer) -> None:
    leaked = {**good(), "name": "Golden cross on <symbol 1>"}
    server.script(envelope(leaked), envelope(good()))
    result = author(PROMPT)
    assert feedback(server, 1) == [{
        "code": "L102", "message": "the document mentions a symbol (name contains '<symbol')",
        "path": "strategy.name", "span": None, "source": None,
        "hint": "symbols are given at run time: write the idea without them (e.g. 'the traded asset')"}]
    assert result.strategy.name == "Golden cross with RSI filter"
