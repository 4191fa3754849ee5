"""Natural language in, a validated strategy out: the model call and the repair loop.

Each attempt is parsed (JSON, the reply envelope), validated (load + type check, `ruleengine.validate`) and
compiled (`ruleengine.compile_strategy`); a ``code`` reply goes through the sandbox's static check and
acceptance run instead. When something is wrong, the previous reply and the diagnostics as JSON (code,
message, path, span, the source text under the span, hint) go back to the model, until the attempt budget is
spent; then `AuthoringError` (L104, ERROR_SCHEMA type code_generation_error) lists what was still wrong and
records every attempt. Symbols are taken out of the prompt first (`symbols.extract_symbols`) and returned
separately.

Example (needs a model; see tests/test_llm_author.py for a local stand-in server):
    >>> result = author("Buy SPY when RSI(14) is under 30 and price is above the 200-day average; 7% stop")
    ... # doctest: +SKIP
    >>> result.strategy.risk.stop_loss_pct, result.symbols  # doctest: +SKIP
    (7.0, ('SPY',))
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import Diagnostic, RuleEngineError
from .client import ChatClient, LLMSettings, Usage
from .symbols import Extraction, extract_symbols, symbols_for
from .wire import envelope_schema, parse_reply

MAX_ECHO = 20_000  # characters of a bad reply sent back to the model (a runaway reply is cut)


@dataclass
class Attempt:
    """One model call of the loop: what came back and what was wrong with it (empty `problems`: accepted)."""

    number: int
    problems: list[dict[str, Any]]
    usage: Usage
    elapsed: float
    finish_reason: str | None = None
    reply: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self, reply: bool = False) -> dict[str, Any]:
        out = {"attempt": self.number, "ok": self.ok, "problems": self.problems, "usage": self.usage.to_dict(),
               "elapsed": round(self.elapsed, 3), "finish_reason": self.finish_reason}
        if reply:
            out["reply"] = self.reply
        return out


@dataclass
class AuthorResult:
    """A validated strategy written by the model, with its symbols, attempts, usage and cost."""

    strategy: Any
    kind: str
    prompt: str
    explanation: str
    attempts: list[Attempt]
    model: str
    symbols: tuple[str, ...] = ()
    slots: dict[str, str] = field(default_factory=dict)
    code_reason: str | None = None
    messages: list[dict[str, str]] = field(default_factory=list)

    @property
    def usage(self) -> Usage:
        total = Usage()
        for a in self.attempts:
            total = total + a.usage
        return total

    @property
    def symbols_spec(self) -> Any:
        """The symbols as `ruleengine.backtest` takes them (None when the prompt named none)."""
        return symbols_for(self.strategy, self.symbols, self.slots)

    def document(self, fmt: str = "yaml") -> str:
        """The strategy as YAML or JSON text."""
        from .. import dump_strategy

        return dump_strategy(self.strategy, "json" if fmt == "json" else "yaml")

    def to_dict(self) -> dict[str, Any]:
        return {"success": True, "kind": self.kind, "strategy": self.strategy.to_dict(),
                "symbols": list(self.symbols), "slots": dict(self.slots), "symbols_spec": self.symbols_spec,
                "explanation": self.explanation, "code_reason": self.code_reason, "model": self.model,
                "usage": self.usage.to_dict(), "attempts": [a.to_dict() for a in self.attempts]}


class AuthoringError(RuleEngineError):
    """The attempt budget ran out (L104 first, then what was still wrong), or the model API failed."""

    def __init__(self, diagnostics: Sequence[Diagnostic], attempts: Sequence[Attempt] = (),
                 model: str | None = None, source: Any | None = None) -> None:
        super().__init__(diagnostics, source)
        self.attempts = list(attempts)
        self.model = model

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.diagnostics, self.attempts, self.model, self.source))

    def to_error_schema(self, error_type: str | None = None) -> dict[str, Any]:
        out = super().to_error_schema(error_type)
        total = Usage()
        for a in self.attempts:
            total = total + a.usage
        out["error"]["attempts"] = [a.to_dict() for a in self.attempts]
        out["error"]["model"] = self.model
        out["error"]["usage"] = total.to_dict()
        return out


def author(prompt: str, *, name: str | None = None, attempts: int = 3, client: ChatClient | None = None,
           settings: LLMSettings | None = None, registry: Any = None, system: str | None = None) -> AuthorResult:
    """Write a strategy from a natural-language idea, repairing it until it validates and compiles.

    Args:
        prompt: the idea, e.g. "Buy when RSI(14) is under 30 and price is above the 200-day average; 7% stop".
        name: the strategy's name (replaces whatever the model chose).
        attempts: model calls allowed (the first plus repairs), at least 1.
        client: a `ChatClient` (default: one from `settings` or the environment).
        settings: `LLMSettings` for the default client.
        registry: the provider registry described in the system prompt (default: `default_registry()`).
        system: the system prompt (default: `prompt.system_prompt(registry)`).

    Raises:
        AuthoringError: L104 after the budget (ERROR_SCHEMA type code_generation_error, attempts recorded).
        RuleEngineError: L105/L106/L107 when the model API cannot be used.
    """
    from .prompt import system_prompt

    if not prompt or not prompt.strip():
        raise RuleEngineError([Diagnostic("L109", "the strategy description is empty",
                                          hint="describe entry and exit rules, e.g. 'buy when RSI(14) < 30'")])
    extraction = extract_symbols(prompt)
    messages = [{"role": "system", "content": system or system_prompt(registry)},
                {"role": "user", "content": _request_text(extraction, name)}]
    return run_loop(client or ChatClient(settings), messages, prompt=prompt, extraction=extraction, name=name,
                    attempts=attempts)


def _request_text(extraction: Extraction, name: str | None) -> str:
    lines = [f"Trading idea: {extraction.text.strip()}"]
    if extraction.symbols:
        marks = ", ".join(f"<symbol {i}>" for i in range(1, len(extraction.symbols) + 1))
        lines.append(f"({len(extraction.symbols)} symbol(s) were taken out of the idea ({marks}); they are given "
                     "at run time and must not appear in the document.)")
    if extraction.slots:
        lines.append("Declare exactly these price slots: " + ", ".join(extraction.slots) + ".")
    if name:
        lines.append(f"Name the strategy {json.dumps(name)}.")
    return "\n".join(lines)


def run_loop(client: ChatClient, messages: list[dict[str, str]], *, prompt: str, extraction: Extraction,
             name: str | None, attempts: int, base: Any = None) -> AuthorResult:
    """The repair loop over a prepared conversation (`author` and `refine` build the first messages)."""
    if attempts < 1:
        raise RuleEngineError([Diagnostic("L109", f"attempts must be at least 1, got {attempts}")])
    schema = envelope_schema()
    record: list[Attempt] = []
    messages = list(messages)
    last: list[Diagnostic] = []
    last_source: Any = None  # the last rejected strategy as checked: the final error shows its lines
    for number in range(1, attempts + 1):
        try:
            reply = client.complete(messages, schema, "strategy_reply")
        except RuleEngineError as exc:  # API failure: no repair possible; keep what was spent so far
            raise AuthoringError(exc.diagnostics, record, client.model) from None
        try:
            envelope = parse_reply(reply.content, refusal=reply.refusal, finish_reason=reply.finish_reason)
            strategy, _ = check_envelope(envelope, name)
        except RuleEngineError as exc:
            last = [d for d in exc.diagnostics if d.severity == "error"] or exc.diagnostics
            source = last_source = getattr(exc, "source", None)
            problems = [problem_record(d, getattr(source, "text", None)) for d in last]
            record.append(Attempt(number, problems, reply.usage, reply.elapsed, reply.finish_reason,
                                  reply.content))
            messages += [{"role": "assistant", "content": (reply.content or reply.refusal or "")[:MAX_ECHO]},
                         {"role": "user", "content": feedback_text(problems)}]
            continue
        record.append(Attempt(number, [], reply.usage, reply.elapsed, reply.finish_reason, reply.content))
        messages.append({"role": "assistant", "content": reply.content or ""})
        return AuthorResult(strategy=strategy, kind=envelope["kind"], prompt=prompt,
                            explanation=envelope.get("explanation") or "", attempts=record, model=reply.model,
                            symbols=extraction.symbols, slots=dict(extraction.slots),
                            code_reason=envelope.get("code_reason"), messages=messages)
    head = Diagnostic("L104", f"no valid strategy after {attempts} attempt{'s' if attempts > 1 else ''}; "
                      f"still wrong: " + "; ".join(f"{d.code} {d.message}" for d in last[:5]),
                      hint="make the request more concrete (indicators, thresholds, exits), or raise --attempts")
    raise AuthoringError([head, *last], record, client.model, last_source)


def check_envelope(envelope: dict[str, Any], name: str | None) -> tuple[Any, str]:
    """The reply's strategy, validated and compiled (rules) or statically checked and accepted (code).

    Returns the strategy and the JSON text it was checked as (diagnostic spans point into that text).

    Raises:
        RuleEngineError: the diagnostics, with `source` set to that text.
    """
    from .. import SourceText, load_strategy, validate

    doc = dict(envelope["strategy"])
    if name:
        doc["name"] = name
    leaks = [Diagnostic("L102", f"the document mentions a symbol ({where} contains '<symbol')",
                        path=f"strategy.{where}", hint="symbols are given at run time: write the idea without them "
                                                       "(e.g. 'the traded asset')")
             for where in _placeholders(doc)]
    if leaks:
        raise RuleEngineError(leaks)
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    source = SourceText(text, None)
    errors = [d for d in validate(text) if d.severity == "error"]
    if errors:
        raise RuleEngineError(errors, source)
    strategy = load_strategy(text)
    try:
        if envelope["kind"] == "code":
            check_code(strategy)
        else:
            from .. import compile_strategy

            compile_strategy(strategy)
    except RuleEngineError as exc:
        raise RuleEngineError(exc.diagnostics, source) from None
    return strategy, text


def _placeholders(node: Any, path: str = "") -> list[str]:
    """Paths of strings that still carry a ``<symbol N>`` placeholder (the model copied it into the document)."""
    if isinstance(node, str):
        return [path] if "<symbol" in node else []
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _placeholders(v, f"{path}.{k}" if path else str(k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _placeholders(v, f"{path}[{i}]")]
    return []


def check_code(strategy: Any) -> None:
    """A code strategy must pass the sandbox's static check and acceptance run before it is accepted.

    The acceptance run (determinism and lookahead, in the sandbox) uses two years of the sample provider's
    synthetic data, so it needs neither symbols nor a network; a strategy whose data kinds the sample provider
    lacks is checked when it first runs instead (a `CodeStrategy` always verifies a market before using it).

    Raises:
        RuleEngineError: the sandbox's diagnostics (X1xx).
    """
    from .. import compile_strategy

    compiled = compile_strategy(strategy)  # a code strategy: X101-X112 of the static check, at their place
    market = _acceptance_market(compiled)
    if market is not None:
        compiled.accept(market)


ACCEPTANCE_RANGE = ("2015-01-01", "2016-12-30")


def _acceptance_market(compiled: Any) -> Any:
    from .. import load_data

    prices = [name for name, slot in compiled.strategy.data.items() if slot.kind == "ohlcv"]
    symbols: Any = {slot: f"ACCEPT{i + 1}" for i, slot in enumerate(prices)} if len(prices) > 1 else "ACCEPT"
    try:
        return load_data(compiled, symbols, *ACCEPTANCE_RANGE, provider="sample")
    except RuleEngineError:  # e.g. a kind the sample provider does not serve: verified at first use
        return None


def problem_record(d: Diagnostic, text: str | None = None) -> dict[str, Any]:
    """A diagnostic as the model receives it: code, message, path, span, the text under the span, hint.

    Paths are relative to the reply object (``strategy.entry.conditions[0]``); spans point into the strategy
    printed as JSON with 2-space indentation, and `source` is the text they cover.
    """
    span = None
    snippet = None
    if d.span is not None:
        span = {"line": d.span.line, "column": d.span.col, "end_line": d.span.end_line,
                "end_column": d.span.end_col}
        lines = text.splitlines() if text and d.span.file is None else []
        if d.span.line == d.span.end_line and 1 <= d.span.line <= len(lines):
            snippet = lines[d.span.line - 1][d.span.col - 1:d.span.end_col - 1] or None
    path = d.path
    if d.code[0] != "L" and path is not None:
        path = "strategy." + path
    elif d.code[0] != "L":
        path = "strategy"
    return {"code": d.code, "message": d.message, "path": path, "span": span, "source": snippet, "hint": d.hint}


def feedback_text(problems: list[dict[str, Any]]) -> str:
    """The repair message: the problems as JSON and what to send back."""
    listed = "[\n" + ",\n".join(json.dumps(p, ensure_ascii=False) for p in problems) + "\n]"
    return ("Your previous reply cannot be used yet. Problems (JSON; `path` is relative to your reply object, "
            "`span` points into `strategy` printed as JSON with 2-space indentation (for L101: into your "
            "reply), `source` is the text at the span):\n" + listed +
            "\nFix every problem and reply with the complete corrected JSON object (kind, strategy, "
            "code_reason, explanation). Keep everything that was not wrong as it was.")
