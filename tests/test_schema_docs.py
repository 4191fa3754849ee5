"""The strict JSON Schema (golden file, strictness, LLM-style replies) and document round trips.

``UPDATE_GOLDEN=1 pytest tests/test_schema_docs.py`` rewrites tests/golden/strategy.schema.json; without it a
missing golden file fails.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # a test dependency (pyproject [test]): missing means a broken set-up, not a skip
import pytest
import yaml

import ruleengine
from ruleengine import dump_strategy, load_strategy, strict_json_schema
from ruleengine.errors import RuleEngineError
from ruleengine.schema.strategy import BUILTIN_PARAMS, TradingStrategy

ROOT = Path(__file__).resolve().parents[1]
RULES = sorted((ROOT / "rules").glob("*.yaml"))
GOLDEN_SCHEMA = ROOT / "tests" / "golden" / "strategy.schema.json"


def check_golden(actual: str, golden: Path) -> None:
    """Compare with a golden file; UPDATE_GOLDEN=1 (re)writes it. A missing file fails."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8", newline="")
        return
    if not golden.exists():
        pytest.fail(f"golden file {golden} is missing; run with UPDATE_GOLDEN=1 to create it, then review it")
    assert actual == golden.read_text(encoding="utf-8"), (
        f"differs from {golden} (UPDATE_GOLDEN=1 regenerates)"
    )


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return strict_json_schema()


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Any:
    cls = jsonschema.Draft202012Validator
    cls.check_schema(schema)
    return cls(schema)


# ------------------------------------------------------------------------------------------ golden
def test_schema_matches_golden(schema: dict[str, Any]) -> None:
    check_golden(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", GOLDEN_SCHEMA)


def test_schema_is_deterministic_and_fresh(schema: dict[str, Any]) -> None:
    again = strict_json_schema()
    assert again == schema
    again["properties"]["name"]["type"] = "integer"  # a copy: mutating it does not leak
    assert strict_json_schema()["properties"]["name"]["type"] == "string"


def test_missing_schema_golden_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPDATE_GOLDEN", raising=False)
    with pytest.raises(pytest.fail.Exception, match="missing"):
        check_golden("{}\n", tmp_path / "absent.schema.json")


# ------------------------------------------------------------------------------------------ strictness
def _schema_nodes(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema position with a readable location."""
    stack: list[tuple[str, Any]] = [("#", schema)]
    stack += [(f"#/$defs/{k}", v) for k, v in schema.get("$defs", {}).items()]
    while stack:
        where, node = stack.pop()
        assert isinstance(node, dict), f"{where} is not a schema object: {node!r}"
        yield where, node
        for k, v in node.get("properties", {}).items():
            stack.append((f"{where}/properties/{k}", v))
        if "items" in node:
            stack.append((f"{where}/items", node["items"]))
        for i, v in enumerate(node.get("anyOf", [])):
            stack.append((f"{where}/anyOf/{i}", v))


def _all_keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield k
            if k != "properties":  # property names are data, not keywords
                yield from _all_keys(v)
            else:
                for sub in v.values():
                    yield from _all_keys(sub)
    elif isinstance(node, list):
        for v in node:
            yield from _all_keys(v)


def test_every_object_is_closed_and_fully_required(schema: dict[str, Any]) -> None:
    objects = 0
    for where, node in _schema_nodes(schema):
        if node.get("type") == "object" or "properties" in node:
            objects += 1
            assert node.get("type") == "object", where
            assert node.get("additionalProperties") is False, where
            assert isinstance(node.get("properties"), dict) and node["properties"], (
                f"{where}: free-form object"
            )
            assert node.get("required") == list(node["properties"]), where
        if "additionalProperties" in node:
            assert node["additionalProperties"] is False, f"{where}: free-form map"
    assert objects >= 6  # strategy, data item, param item, condition group, structured condition, risk


def test_no_forbidden_keywords(schema: dict[str, Any]) -> None:
    keywords = set(_all_keys(schema))
    for bad in (
        "oneOf",
        "allOf",
        "default",
        "discriminator",
        "patternProperties",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "if",
        "not",
    ):
        assert bad not in keywords, bad


def test_every_subschema_is_typed(schema: dict[str, Any]) -> None:
    """No `{}` (anything goes): each position has a type, an enum/const, a $ref or an anyOf."""
    for where, node in _schema_nodes(schema):
        assert {"type", "enum", "const", "$ref", "anyOf"} & set(node), f"{where} accepts anything: {node}"


def test_refs_resolve(schema: dict[str, Any]) -> None:
    defs = schema["$defs"]
    for where, node in _schema_nodes(schema):
        if "$ref" in node:
            assert set(node) == {"$ref"}, f"{where}: $ref with siblings"
            assert node["$ref"].startswith("#/$defs/") and node["$ref"].split("/")[-1] in defs, where


def test_maps_are_arrays_of_named_objects(schema: dict[str, Any]) -> None:
    props = schema["properties"]
    data = props["data"]
    assert data["type"] == "array"
    assert data["items"]["properties"]["name"]["type"] == "string"
    params = next(b for b in props["params"]["anyOf"] if b.get("type") == "array")
    assert params["items"]["required"][0] == "name"
    assert {"type", "default", "min", "max", "values"} <= set(params["items"]["properties"])


def test_optional_fields_are_nullable_required_ones_not(schema: dict[str, Any]) -> None:
    def nullable(p: dict[str, Any]) -> bool:
        return p.get("type") == "null" or any(b.get("type") == "null" for b in p.get("anyOf", []))

    props = schema["properties"]
    assert not nullable(props["name"]) and not nullable(props["data"])
    for key in ("description", "timeframe", "params", "entry", "exit", "risk", "code"):
        assert nullable(props[key]), key
    cond = schema["$defs"]["StructuredCondition"]["properties"]
    assert not any(nullable(cond[k]) for k in ("field", "operator", "value"))


# ------------------------------------------------------------------------------------------ LLM replies
GOLDEN_CROSS_YAML = """\
name: Golden cross with RSI filter
description: Buy the fast/slow cross while RSI is not overbought; sell on the cross back.
timeframe: medium_term
data:
  prices: {kind: ohlcv, frequency: 1Day, columns: [close]}
params:
  fast: {type: int, min: 2, max: 100, default: 50, description: fast moving-average window}
  slow: {type: int, min: 5, max: 400, default: 200, description: slow moving-average window}
  rsi_max: {type: float, min: 50, max: 100, default: 70}
  execution_price: {type: enum, values: [open, close], default: open}
entry:
  logic: all
  conditions:
    - crosses_above(sma(close, fast), sma(close, slow))
    - {field: "rsi(close, 14)", operator: lt, value: rsi_max}
exit:
  logic: any
  conditions:
    - crosses_below(sma(close, fast), sma(close, slow))
    - {field: "rsi(close, 14)", operator: between, value: [80, 100]}
risk: {stop_loss_pct: 10, take_profit_pct: 25, max_hold_days: 250, position_size_pct: 100, fees_pct: 0.1}
"""

LLM_REPLY: dict[str, Any] = {
    "name": "Golden cross with RSI filter",
    "description": "Buy the fast/slow cross while RSI is not overbought; sell on the cross back.",
    "timeframe": "medium_term",
    "data": [
        {
            "name": "prices",
            "kind": "ohlcv",
            "frequency": "1Day",
            "columns": ["close"],
            "description": None,
            "provider": None,
            "symbol_from": None,
        }
    ],
    "params": [
        {
            "name": "fast",
            "type": "int",
            "default": 50,
            "min": 2,
            "max": 100,
            "values": None,
            "description": "fast moving-average window",
        },
        {
            "name": "slow",
            "type": "int",
            "default": 200,
            "min": 5,
            "max": 400,
            "values": None,
            "description": "slow moving-average window",
        },
        {
            "name": "rsi_max",
            "type": "float",
            "default": 70,
            "min": 50,
            "max": 100,
            "values": None,
            "description": None,
        },
        {
            "name": "execution_price",
            "type": "enum",
            "default": "open",
            "min": None,
            "max": None,
            "values": ["open", "close"],
            "description": None,
        },
    ],
    "entry": {
        "logic": "all",
        "conditions": [
            "crosses_above(sma(close, fast), sma(close, slow))",
            {"field": "rsi(close, 14)", "operator": "lt", "value": "rsi_max"},
        ],
    },
    "exit": {
        "logic": "any",
        "conditions": [
            "crosses_below(sma(close, fast), sma(close, slow))",
            {"field": "rsi(close, 14)", "operator": "between", "value": [80, 100]},
        ],
    },
    "risk": {
        "stop_loss_pct": 10,
        "take_profit_pct": 25,
        "trailing_stop_pct": None,
        "max_hold_days": 250,
        "max_hold_bars": None,
        "position_size_pct": 100,
        "fees_pct": 0.1,
        "slippage_pct": None,
        "borrow_cost_pct": None,
        "position_size_cash": None,
        "risk_per_trade_pct": None,
        "volatility_target_pct": None,
        "max_open_positions": None,
        "max_gross_exposure_pct": None,
        "whole_units": None,
        "trailing_stop_activation_pct": None,
        "stop_loss_distance": None,
        "take_profit_distance": None,
        "take_profit_by_bars": None,
        "volatility": None,
    },
    "direction": None,  # strict mode: every key is written, null for the default (long)
    "entry_order": None,  # null: the default market order
    "exit_order": None,  # null: no exit order
    "code": None,
    "short_entry": None,  # direction long_short only
    "short_exit": None,
    "pair": None,
    "rotation": None,
}


def test_llm_reply_is_valid_under_the_schema(validator: Any) -> None:
    errors = sorted(validator.iter_errors(LLM_REPLY), key=str)
    assert not errors, [e.message for e in errors]


def test_llm_reply_loads_equal_to_the_mapping_form() -> None:
    from_reply = load_strategy(copy.deepcopy(LLM_REPLY))
    from_yaml = load_strategy(GOLDEN_CROSS_YAML)
    assert from_reply == from_yaml
    assert from_reply.params["execution_price"].default == "open"
    assert from_reply.risk.trailing_stop_pct is None
    assert ruleengine.validate(copy.deepcopy(LLM_REPLY)) == []


def test_llm_reply_does_not_mutate_its_input() -> None:
    reply = copy.deepcopy(LLM_REPLY)
    load_strategy(reply)
    assert reply == LLM_REPLY


@pytest.mark.parametrize(
    "mutate, where",
    [
        pytest.param(lambda r: r.pop("code"), "missing top-level key", id="missing top-level key"),
        pytest.param(
            lambda r: r["data"][0].pop("provider"),
            "missing key in a data item",
            id="missing key in a data item",
        ),
        pytest.param(
            lambda r: r["data"][0].__setitem__("symbols", ["SPY"]),
            "extra key in a data item",
            id="extra key in a data item",
        ),
        pytest.param(
            lambda r: r["risk"].__setitem__("stoploss", 5), "extra key in risk", id="extra key in risk"
        ),
        pytest.param(
            lambda r: r.__setitem__("data", {"prices": {"kind": "ohlcv"}}),
            "a map instead of the array form",
            id="a map instead of the array form",
        ),
        pytest.param(
            lambda r: r["entry"]["conditions"].append({"field": "close", "operator": "lt"}),
            "incomplete condition",
            id="incomplete condition",
        ),
        pytest.param(
            lambda r: r["entry"].__setitem__("logic", "some"), "unknown enum value", id="unknown enum value"
        ),
        pytest.param(
            lambda r: r["data"][0].__setitem__("kind", "prices"), "unknown data kind", id="unknown data kind"
        ),
    ],
)
def test_schema_rejects_non_strict_replies(validator: Any, mutate: Any, where: str) -> None:
    reply = copy.deepcopy(LLM_REPLY)
    mutate(reply)
    assert list(validator.iter_errors(reply)), f"schema accepted: {where}"


def _fill(value: Any, node: dict[str, Any], defs: dict[str, Any]) -> Any:
    """Shape a plain document like a strict-schema reply: every property present, unset ones null."""
    if "$ref" in node:
        node = defs[node["$ref"].split("/")[-1]]
    if "anyOf" in node:
        want = "object" if isinstance(value, dict) else "array" if isinstance(value, list) else None
        for branch in node["anyOf"]:
            b = defs[branch["$ref"].split("/")[-1]] if "$ref" in branch else branch
            if want and b.get("type") == want:
                return _fill(value, b, defs)
        return value
    if isinstance(value, dict) and node.get("type") == "object":
        return {k: _fill(value[k], p, defs) if k in value else None for k, p in node["properties"].items()}
    if isinstance(value, list) and node.get("type") == "array":
        return [_fill(v, node["items"], defs) for v in value]
    return value


def _wire_form(s: TradingStrategy, schema: dict[str, Any]) -> dict[str, Any]:
    d = s.to_dict()
    d["data"] = [{"name": k, **v} for k, v in d["data"].items()]
    d["params"] = [{"name": k, **v} for k, v in d["params"].items()]
    return _fill(d, schema, schema["$defs"])


@pytest.mark.parametrize("rule", RULES, ids=[p.stem for p in RULES])
def test_every_rule_in_wire_form_is_schema_valid_and_loads_equal(
    rule: Path, schema: dict[str, Any], validator: Any
) -> None:
    s = load_strategy(rule)
    wire = _wire_form(s, schema)
    assert list(wire) == schema["required"] and (wire["code"] is None) == (s.code is None)
    assert isinstance(wire["data"], list) and all(
        list(d) == schema["properties"]["data"]["items"]["required"] for d in wire["data"]
    )
    errors = sorted(validator.iter_errors(wire), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert load_strategy(wire) == s


def test_wire_form_duplicate_name_is_s111() -> None:
    reply = copy.deepcopy(LLM_REPLY)
    reply["params"].append(dict(reply["params"][0]))
    with pytest.raises(RuleEngineError) as exc:
        load_strategy(reply)
    assert [d.code for d in exc.value.diagnostics] == ["S111"]


# ------------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("rule", RULES, ids=[p.stem for p in RULES])
def test_round_trip(rule: Path, fmt: str) -> None:
    s = load_strategy(rule)
    text = dump_strategy(s, fmt)  # type: ignore[arg-type]
    again = load_strategy(text)
    assert again == s
    assert dump_strategy(again, fmt) == text  # type: ignore[arg-type]
    assert ruleengine.validate(text) == []


@pytest.mark.parametrize("rule", RULES, ids=[p.stem for p in RULES])
def test_dump_to_path(rule: Path, tmp_path: Path) -> None:
    s = load_strategy(rule)
    for fmt, suffix in (("yaml", ".yaml"), ("json", ".json")):
        out = tmp_path / f"{rule.stem}{suffix}"
        text = dump_strategy(s, fmt, path=out)  # type: ignore[arg-type]
        assert out.read_text(encoding="utf-8") == text
        assert load_strategy(out) == s
        assert load_strategy(str(out)) == s


@pytest.mark.parametrize("rule", RULES, ids=[p.stem for p in RULES])
def test_all_input_forms_load_equal(rule: Path) -> None:
    text = rule.read_text(encoding="utf-8")
    from_path = load_strategy(rule)
    forms = {
        "str path": load_strategy(str(rule)),
        "yaml text": load_strategy(text),
        "json text": load_strategy(dump_strategy(from_path, "json")),
        "compact json text": load_strategy(json.dumps(from_path.to_dict())),
        "dict": load_strategy(yaml.safe_load(text)),
        "dumped dict": load_strategy(from_path.to_dict()),
        "model": load_strategy(from_path),
    }
    for name, s in forms.items():
        assert s == from_path, name


def test_dump_is_plain_data_without_nulls() -> None:
    s = load_strategy(GOLDEN_CROSS_YAML)
    d = json.loads(dump_strategy(s, "json"))
    assert "code" not in d and "trailing_stop_pct" not in d["risk"]
    assert list(d)[:4] == ["name", "description", "timeframe", "data"]
    assert yaml.safe_load(dump_strategy(s, "yaml")) == d


# ------------------------------------------------------------------------------------------ built-in params
MINIMAL = "name: x\ndata: {prices: {kind: ohlcv}}\nentry: [close > sma(close, 20)]\n"


def test_builtin_params_added_when_absent() -> None:
    s = load_strategy(MINIMAL)
    assert set(BUILTIN_PARAMS) <= set(s.params)
    freq, price = s.params["execution_frequency"], s.params["execution_price"]
    assert (freq.type, freq.default, freq.values) == (
        "enum",
        "1Day",
        BUILTIN_PARAMS["execution_frequency"]["values"],
    )
    assert (price.type, price.default, price.values) == ("enum", "close", ["open", "close"])
    assert s.default_params()["execution_price"] == "close"


def test_builtin_params_kept_when_given() -> None:
    text = MINIMAL + (
        "params:\n"
        "  execution_price: {type: enum, values: [open], default: open}\n"
        "  execution_frequency: {type: enum, values: [1Day, 1Week], default: 1Week,"
        " description: weekly}\n"
    )
    s = load_strategy(text)
    assert s.params["execution_price"].values == ["open"]
    assert s.params["execution_price"].default == "open"
    assert s.params["execution_frequency"].default == "1Week"
    assert s.params["execution_frequency"].description == "weekly"
    assert load_strategy(dump_strategy(s)) == s


def test_builtin_params_survive_round_trip_and_are_explicit_in_dumps() -> None:
    s = load_strategy(MINIMAL)
    d = s.to_dict()
    assert set(BUILTIN_PARAMS) <= set(d["params"])
    assert load_strategy(dump_strategy(s, "json")) == s


def test_builtin_param_with_foreign_values_is_rejected() -> None:
    bad = MINIMAL + "params:\n  execution_price: {type: enum, values: [open, vwap], default: open}\n"
    diags = ruleengine.validate(bad)
    assert [d.code for d in diags] == ["S104"]
    assert diags[0].path == "params"
