"""The generated system prompt (golden), the reply schema, symbol extraction, the change classifier and the
price / knowledge-cutoff tables.

Regenerate the golden prompt with ``UPDATE_GOLDEN=1 pytest tests/test_llm_prompt.py`` and review the diff: every
change to what the model is told goes through review.
"""

from __future__ import annotations

import doctest
import importlib
import json
import os
from pathlib import Path

import jsonschema
import pytest

import ruleengine
from ruleengine.backtest.risk import TIMEFRAME_DEFAULTS
from ruleengine.data.registry import ProviderRegistry
from ruleengine.data.sample import SampleProvider
from ruleengine.lang.functions import FUNCTIONS
from ruleengine.llm import models
from ruleengine.llm.prompt import EXAMPLE, example_wire, system_prompt
from ruleengine.llm.session import classify
from ruleengine.llm.symbols import extract_symbols, symbols_for
from ruleengine.llm.wire import envelope_schema, parse_reply, wire_form
from ruleengine.schema.kinds import KIND_COLUMNS

GOLDEN = Path(__file__).resolve().parent / "golden" / "llm_system_prompt.md"
ROOT = Path(__file__).resolve().parents[1]


def _pinned_prompt() -> str:
    """The prompt with only the sample provider described (the environment must not change the golden)."""
    registry = ProviderRegistry(env={})
    registry.register(SampleProvider())
    return system_prompt(registry)


def test_system_prompt_matches_the_reviewed_golden_file() -> None:
    actual = _pinned_prompt()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(actual, encoding="utf-8", newline="")
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing; run with UPDATE_GOLDEN=1 to create it, then review it")
    assert actual == GOLDEN.read_text(encoding="utf-8"), f"prompt differs from {GOLDEN} (UPDATE_GOLDEN=1 regenerates)"


def test_prompt_is_generated_from_the_registry_kinds_risk_table_and_providers() -> None:
    text = _pinned_prompt()
    for f in FUNCTIONS.values():  # every function with its signature and example
        assert f"`{f.signature}`" in text and f"`{f.example}`" in text, f.name
    for kind, cols in KIND_COLUMNS.items():
        assert f"- `{kind}`: {', '.join(cols)}" in text
    for tf, (sl, tp, days) in TIMEFRAME_DEFAULTS.items():
        assert f"- {tf}: stop_loss_pct {sl:g}, take_profit_pct {tp:g}, max_hold_days {days}" in text
    assert "### sample (SYNTHETIC data, not real prices)" in text
    assert "# Code is the last resort" in text and "generate_signals(data, params)" in text
    assert "rsi(close, 14) < 30`, not \"oversold\"" in text  # seed 003: measurable conditions
    # the default prompt describes the configured registry: a different provider set changes the text
    assert system_prompt(providers_text="## Data providers\n\nnone\n") != text


def test_prompt_example_is_a_valid_compiling_document_in_wire_form() -> None:
    wire = example_wire()
    assert [p["name"] for p in wire["params"]] == ["fast", "slow", "rsi_max"]  # built-ins left out
    strategy = ruleengine.load_strategy(wire)
    assert strategy == ruleengine.load_strategy(EXAMPLE)
    ruleengine.compile_strategy(strategy)
    jsonschema.validate({"kind": "rules", "strategy": wire, "code_reason": None, "explanation": "x"},
                        envelope_schema())


def _strict_problems(node: object, path: str = "$") -> list[str]:
    """OpenAI strict structured outputs: closed objects, all properties required, no oneOf/allOf/default."""
    out: list[str] = []
    if isinstance(node, dict):
        for bad in ("oneOf", "allOf", "default", "not", "if", "patternProperties"):
            if bad in node:
                out.append(f"{path}: {bad}")
        if node.get("type") == "object" or "properties" in node:
            if node.get("additionalProperties") is not False:
                out.append(f"{path}: additionalProperties")
            if sorted(node.get("required", [])) != sorted(node.get("properties", {})):
                out.append(f"{path}: required != properties")
        for k, v in node.items():
            if k in ("properties", "$defs"):  # maps of names to schemas: a property may be called "default"
                for name, sub in v.items():
                    out += _strict_problems(sub, f"{path}.{k}.{name}")
            else:
                out += _strict_problems(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _strict_problems(v, f"{path}[{i}]")
    return out


def test_reply_schema_is_strict_and_nests_the_strategy_schema() -> None:
    schema = envelope_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert _strict_problems(schema) == []
    assert schema["type"] == "object" and "anyOf" not in schema  # the root of a strict schema is an object
    strategy = ruleengine.strict_json_schema()
    assert schema["$defs"] == strategy["$defs"]
    assert schema["properties"]["strategy"]["properties"] == strategy["properties"]
    # a code reply is the same shape: strategy.code set, entry/exit null
    code = {**example_wire(), "entry": None, "exit": None, "code": "def generate_signals(data, params): ..."}
    jsonschema.validate({"kind": "code", "strategy": code, "code_reason": "needs a Kalman filter",
                         "explanation": "x"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"kind": "maybe", "strategy": code, "code_reason": None, "explanation": "x"}, schema)


def test_wire_form_round_trips_every_bundled_rule() -> None:
    for path in sorted((ROOT / "rules").glob("*.yaml")):
        strategy = ruleengine.load_strategy(path)
        wire = wire_form(strategy)
        assert ruleengine.load_strategy(wire) == strategy, path.name
        jsonschema.validate({"kind": "rules", "strategy": wire, "code_reason": None, "explanation": ""},
                            envelope_schema())


@pytest.mark.parametrize(("content", "code", "path"), [
    ("{not json", "L101", None),
    ('{"kind": "rules", "kind": "code"}', "L101", None),           # duplicate key
    ('{"kind": NaN}', "L101", None),                                # not JSON
    ("[1, 2]", "L102", None),
    ('{"kind": "rules", "strategy": {}, "code_reason": null}', "L102", "explanation"),
    ('{"kind": "rules", "strategy": {}, "code_reason": null, "explanation": "", "x": 1}', "L102", "x"),
    ('{"kind": "other", "strategy": {}, "code_reason": null, "explanation": ""}', "L102", "kind"),
    ('{"kind": "code", "strategy": {"code": null}, "code_reason": null, "explanation": ""}', "L102", "strategy.code"),
    ('{"kind": "rules", "strategy": {"code": "x"}, "code_reason": null, "explanation": ""}', "L102", "strategy.code"),
    ("", "L103", None),
])
def test_parse_reply_names_what_is_wrong(content: str, code: str, path: str | None) -> None:
    with pytest.raises(ruleengine.RuleEngineError) as info:
        parse_reply(content)
    d = info.value.diagnostics[0]
    assert (d.code, d.path) == (code, path)
    assert info.value.error_type == "code_generation_error"


def test_parse_reply_reports_refusal_truncation_and_json_position() -> None:
    with pytest.raises(ruleengine.RuleEngineError) as info:
        parse_reply(None, refusal="I can't help with that")
    assert info.value.diagnostics[0].code == "L103" and "refused" in info.value.diagnostics[0].message
    with pytest.raises(ruleengine.RuleEngineError) as info:
        parse_reply('{"kind": "rules"', finish_reason="length")
    assert "cut off" in info.value.diagnostics[0].message
    with pytest.raises(ruleengine.RuleEngineError) as info:
        parse_reply('{\n  "kind": "rules",\n  oops\n}')
    span = info.value.diagnostics[0].span
    assert (span.line, span.col) == (3, 3)


@pytest.mark.parametrize(("prompt", "symbols", "text"), [
    ("Buy SPY when RSI(14) < 30", ("SPY",), "Buy <symbol 1> when RSI(14) < 30"),
    ("MA crossover with SPY and QQQ, then SPY again", ("SPY", "QQQ"),
     "MA crossover with <symbol 1> and <symbol 2>, then <symbol 1> again"),
    ("Buy $aapl when EPS beats the estimate", ("AAPL",), "Buy <symbol 1> when EPS beats the estimate"),
    ("pairs: asset_a=GLD asset_b=SLV z-score of the ratio", ("GLD", "SLV"),
     "pairs: asset_a asset_b z-score of the ratio"),
    ("Long-only ETF idea with MACD and ATR on BRK.B", ("BRK.B",), "Long-only ETF idea with MACD and ATR on <symbol 1>"),
    ("Buy when insiders buy and RSI is oversold. I want a 7% stop", (), None),
    ("Buy when close > sma(close, 200) and ADX > 25", (), None),
])
def test_symbols_are_taken_out_of_the_prompt(prompt: str, symbols: tuple[str, ...], text: str | None) -> None:
    e = extract_symbols(prompt)
    assert e.symbols == symbols
    assert e.text == (prompt if text is None else text)


def test_symbols_map_to_slots_for_pairs_and_to_a_universe_otherwise() -> None:
    pair = ruleengine.load_strategy(ROOT / "rules" / "pairs_zscore.yaml")
    single = ruleengine.load_strategy(ROOT / "rules" / "golden_cross.yaml")
    assert symbols_for(pair, ["GLD", "SLV"]) == {"asset_a": "GLD", "asset_b": "SLV"}
    assert symbols_for(single, ["SPY", "QQQ"]) == "SPY,QQQ"
    assert symbols_for(single, []) is None
    assert symbols_for(pair, ["X"], {"asset_b": "SLV"}) == {"asset_b": "SLV"}


@pytest.mark.parametrize(("text", "kind", "params", "symbols"), [
    ("Show me what this looks like with QQQ instead", "symbols", {}, ("QQQ",)),
    ("Try QQQ and IWM", "symbols", {}, ("QQQ", "IWM")),
    ("Try with a 20-period fast MA instead", "params", {"fast": 20}, ()),
    ("set slow to 150 and rsi_max=65", "params", {"slow": 150, "rsi_max": 65.0}, ()),
    ("run it on QQQ with fast=30", "both", {"fast": 30}, ("QQQ",)),
    ("stop_loss_pct=4", "params", {"stop_loss_pct": 4.0}, ()),
    ("Add a stop-loss", "logic", {}, ()),
    ("Actually, let's use RSI instead of MA crossover", "logic", {}, ()),
    ("also require volume above its 20-day average", "logic", {}, ()),
    ("use fast=1000", "params", {"fast": 1000}, ()),  # outside its bounds: Session.set_params says D103
    ("tighten the stop to 5%", "logic", {}, ()),
])
def test_classify_reuses_the_strategy_for_symbols_and_parameter_values(text: str, kind: str, params: dict,
                                                                        symbols: tuple[str, ...]) -> None:
    change = classify(text, ruleengine.load_strategy(ROOT / "rules" / "golden_cross.yaml"))
    assert (change.kind, change.params, change.symbols) == (kind, params, symbols)


def test_prices_and_knowledge_cutoffs() -> None:
    assert models.estimate_cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert models.estimate_cost("gpt-4.1-mini-2025-04-14", 2000, 1000) == pytest.approx((2000 * 0.4 + 1000 * 1.6) / 1e6)
    assert models.estimate_cost("gpt-4.1-mini", 10, 10, {"gpt-4.1": (1.0, 1.0)}) == pytest.approx(20 / 1e6)
    assert models.estimate_cost("local-llama", 10, 10) is None
    assert models.price_table(env={"RULEENGINE_LLM_PRICES": "local-llama=1/2"})["local-llama"] == (1.0, 2.0)
    with pytest.raises(ValueError):
        models.parse_prices("local-llama=1")
    assert models.knowledge_cutoff("gpt-4.1-nano") == "2024-06-01"
    assert models.knowledge_cutoff("gpt-4.10") is None  # prefix only at a '-' boundary
    note = models.knowledge_cutoff_note("gpt-4o", "2020-01-01", "2021-12-31")
    assert note is not None and "lies before the knowledge cutoff of gpt-4o (2023-10-01)" in note
    assert "starts before" in models.knowledge_cutoff_note("gpt-4o", "2023-01-01", "2024-06-30")
    assert models.knowledge_cutoff_note("gpt-4o", "2023-10-01", "2024-06-30") is None
    assert "unknown" in models.knowledge_cutoff_note("local-llama", "2020-01-01", None)
    assert models.knowledge_cutoff_note(None, "2020-01-01") is None


@pytest.mark.parametrize("module", ["models", "client", "symbols", "wire", "prompt", "session", "tools"])
def test_module_examples_run(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # examples read rules/*.yaml
    mod = importlib.import_module(f"ruleengine.llm.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_strategy_schema_keys_are_what_the_prompt_lists() -> None:
    """The document section names every top-level and risk key of the schema (a new field must be explained)."""
    text = _pinned_prompt()
    schema = ruleengine.strict_json_schema()
    for key in schema["properties"]:
        assert f"`{key}`" in text, key
    for key in schema["$defs"]["RiskParameters"]["properties"]:
        assert key in text, key
    assert json.loads(json.dumps(example_wire()))  # JSON-clean
