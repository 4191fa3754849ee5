"""The reply format the model must follow, the document's wire form, and parsing a reply into diagnostics.

The reply is one JSON object (OpenAI strict structured outputs: closed objects, every key required, no
``oneOf``), so "a strategy" and "cannot express it with rules, here is code" are one shape with a `kind`:

    {"kind": "rules" | "code",
     "strategy": <the strict strategy schema of ruleengine.strict_json_schema()>,
     "code_reason": null | "what the rules cannot say",
     "explanation": "what the strategy does and what was assumed"}

A ``code`` reply carries ``strategy.code`` (``generate_signals(data, params)``) and null entry/exit. The wire
form of a document is what that schema describes: `data` and `params` as lists of objects with a `name`, every
key present (null when not given).

Example:
    >>> s = envelope_schema()
    >>> s["required"], s["properties"]["kind"]["enum"]
    (['kind', 'strategy', 'code_reason', 'explanation'], ['rules', 'code'])
"""

from __future__ import annotations

import json
from typing import Any

from .. import Diagnostic, RuleEngineError, Span

KINDS = ("rules", "code")
MAX_REPLY_CHARS = 200_000  # a strategy document is a few KB; anything far larger is a runaway reply


def envelope_schema() -> dict[str, Any]:
    """The strict JSON Schema of a reply (the strategy schema nested, its ``$defs`` lifted to the top)."""
    from .. import strict_json_schema

    strategy = strict_json_schema()
    defs = strategy.pop("$defs", {})
    strategy.pop("title", None)
    return {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": list(KINDS),
                     "description": "rules (conditions; almost always) or code (only when rules cannot say it)"},
            "strategy": strategy,
            "code_reason": {"anyOf": [{"type": "string"}, {"type": "null"}],
                            "description": "for kind code: what the conditions cannot express; else null"},
            "explanation": {"type": "string",
                            "description": "one or two plain sentences: what the strategy does, assumptions made"},
        },
        "required": ["kind", "strategy", "code_reason", "explanation"],
        "additionalProperties": False,
        "$defs": defs,
    }


def wire_form(strategy: Any) -> dict[str, Any]:
    """A `TradingStrategy` as the strict schema describes it (lists with names, every key, nulls).

    The built-in parameters (execution_frequency, execution_price) are left out while they have their
    defaults: the loader adds them back; the default (market) entry order and exit order are null.
    """
    from .. import BUILTIN_PARAMS, Param

    doc = strategy.model_dump(mode="json")
    doc["data"] = [{"name": k, **v} for k, v in doc["data"].items()]
    builtin = {k: Param.model_validate(v).model_dump(mode="json") for k, v in BUILTIN_PARAMS.items()}
    doc["params"] = [{"name": k, **v} for k, v in doc["params"].items() if builtin.get(k) != v]
    for p in doc["params"]:  # int bounds as ints (the model copies what it sees)
        for b in ("min", "max"):
            if p["type"] == "int" and isinstance(p[b], float) and p[b].is_integer():
                p[b] = int(p[b])
    if strategy.entry_order.is_market():  # the default, written as null like every default
        doc["entry_order"] = None
    if strategy.exit_order.is_market():  # the default (no exit order), null too
        doc["exit_order"] = None
    for block in strategy.signal_groups():  # entry, exit (and short_entry, short_exit for long_short)
        group = doc.get(block)
        if group:
            group["conditions"] = [c if isinstance(c, str) else {"field": c["field"], "operator": c["operator"],
                                                                "value": c["value"]} for c in group["conditions"]]
    table = doc["risk"].get("take_profit_by_bars")
    if table is not None:  # a map in the document, a list of rows in the strict schema
        doc["risk"]["take_profit_by_bars"] = [{"bars": int(k), "take_profit_pct": v} for k, v in table.items()]
    return doc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_reply(content: str | None, *, refusal: str | None = None,
                finish_reason: str | None = None) -> dict[str, Any]:
    """The reply object, checked for JSON and the envelope's shape (the strategy itself is not validated here).

    Raises:
        RuleEngineError: L103 (refusal, cut off or empty), L101 (not JSON, duplicate keys, NaN),
            L102 (not the envelope: missing/unknown keys, wrong kind, strategy not an object).
    """
    if refusal:
        raise RuleEngineError([Diagnostic("L103", f"the model refused: {refusal[:500]}",
                                          hint="rephrase the idea as concrete trading rules")])
    if finish_reason == "length":
        raise RuleEngineError([Diagnostic("L103", "the reply was cut off (token limit)",
                                          hint="reply with a shorter document: fewer, simpler conditions")])
    if not content or not content.strip():
        raise RuleEngineError([Diagnostic("L103", "the reply was empty", hint="reply with the JSON object")])
    if len(content) > MAX_REPLY_CHARS:
        raise RuleEngineError([Diagnostic("L101", f"the reply is {len(content):,} characters long",
                                          hint="a strategy document is a few thousand characters")])
    try:
        value = json.loads(content, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        span = Span(exc.lineno, exc.colno, exc.lineno, exc.colno + 1, "<reply>")
        raise RuleEngineError([Diagnostic(
            "L101", f"not valid JSON: {exc.msg}", span=span,
            hint="reply with exactly one JSON object, no prose or code fences")]) from None
    except ValueError as exc:
        raise RuleEngineError([Diagnostic("L101", f"not valid JSON: {exc}",
                                          hint="each key once; numbers must be finite")]) from None
    return _check_envelope(value)


def _check_envelope(value: Any) -> dict[str, Any]:
    diags: list[Diagnostic] = []
    if not isinstance(value, dict):
        raise RuleEngineError([Diagnostic("L102", f"the reply is a JSON {type(value).__name__}, not an object",
                                          hint="reply with {kind, strategy, code_reason, explanation}")])
    expected = ("kind", "strategy", "code_reason", "explanation")
    for key in expected:
        if key not in value:
            diags.append(Diagnostic("L102", f"missing key '{key}'", path=key,
                                    hint="reply with {kind, strategy, code_reason, explanation}"))
    for key in value:
        if key not in expected:
            diags.append(Diagnostic("L102", f"unknown key '{key}'", path=key, hint="remove it"))
    if "kind" in value and value["kind"] not in KINDS:
        diags.append(Diagnostic("L102", f"kind must be 'rules' or 'code', not {value['kind']!r}", path="kind"))
    if "strategy" in value and not isinstance(value["strategy"], dict):
        diags.append(Diagnostic("L102", "strategy must be an object", path="strategy"))
    for key in ("code_reason", "explanation"):
        if value.get(key) is not None and not isinstance(value[key], str):
            diags.append(Diagnostic("L102", f"{key} must be a string or null", path=key))
    if not diags and isinstance(value["strategy"], dict):
        code = value["strategy"].get("code")
        if value["kind"] == "code" and not (isinstance(code, str) and code.strip()):
            diags.append(Diagnostic("L102", "kind is 'code' but strategy.code is empty", path="strategy.code",
                                    hint="write generate_signals(data, params) in strategy.code, or use kind "
                                         "'rules' with entry/exit conditions"))
        if value["kind"] == "rules" and code is not None:
            diags.append(Diagnostic("L102", "kind is 'rules' but strategy.code is set", path="strategy.code",
                                    hint="set strategy.code to null (or kind to 'code')"))
    if diags:
        raise RuleEngineError(diags)
    return value

