"""Hostile strategy documents (issue 14, item 3): each small or odd input ends in its diagnostic within a
bounded time and memory, never in a traceback, a hang or a MemoryError. `validate()` never raises for them
and `load_strategy()` raises `RuleEngineError`; the CLI reads only regular files."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from support.hostile import assert_structured, run_cli, within

from ruleengine.api import load_strategy, validate
from ruleengine.errors import RuleEngineError

HEAD = "name: x\ndata: {prices: {kind: ohlcv}}\nentry: ['close > 1']\n"


def _laughs() -> str:
    """The 342-byte 'billion laughs': nine levels of nine aliases, 10^9 strings once expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _many_conditions(n: int) -> str:
    return "name: x\ndata: {prices: {kind: ohlcv}}\nentry:\n" + "".join(f"  - close > {i}\n" for i in range(n))


# (case id, document text, expected code, seconds, megabytes)
TEXT_CASES: list[tuple[str, Callable[[], str], str, float, float]] = [
    ("billion_laughs", _laughs, "R109", 5, 64),
    ("many_aliases", lambda: HEAD + "base: &b 1\nlist: [" + ", ".join(["*b"] * 101) + "]\n", "R108", 5, 64),
    ("recursive_alias", lambda: "name: &n [x, *n]\n", "R110", 5, 64),
    ("recursive_mapping", lambda: HEAD + "exit: &e\n  conditions: [*e]\n", "R110", 5, 64),
    ("merge_key", lambda: "base: &s {kind: ohlcv}\nname: x\ndata:\n  prices:\n    <<: *s\nentry: ['close > 1']\n",
     "R111", 5, 64),
    ("custom_tag", lambda: "name: !foo x\ndata: {prices: {}}\nentry: ['close > 1']\n", "R112", 5, 64),
    ("python_tag", lambda: "name: !!python/object/apply:os.system [ls]\n", "R112", 5, 64),
    ("deep_list_1000", lambda: HEAD + "description: " + "[" * 1000 + "]" * 1000 + "\n", "R107", 5, 64),
    ("deep_list_100000", lambda: HEAD + "description: " + "[" * 100_000 + "]" * 100_000 + "\n", "R107", 5, 64),
    ("deep_mapping", lambda: HEAD + "description:\n" + "".join(" " * i + f"k{i}:\n" for i in range(60)) + " " * 60
     + "v\n", "R107", 5, 64),
    ("int_5000_digits", lambda: HEAD + "risk: {max_hold_days: " + "9" * 5000 + "}\n", "R113", 5, 64),
    ("oversized_11mb", lambda: _many_conditions(200) + "description: '" + "x" * 11_000_000 + "'\n", "R106", 10, 256),
    ("too_many_conditions", lambda: _many_conditions(1_001), "S113", 10, 128),
    ("many_values_under_the_size_limit", lambda: _many_conditions(55_000), "R109", 10, 128),
    ("json_deep", lambda: '{"name": "x", "d": ' + "[" * 100_000 + "]" * 100_000 + "}", "R107", 5, 64),
    ("json_oversized", lambda: '{"name": "' + "x" * 1_100_000 + '"}', "R106", 5, 64),
]


@pytest.mark.parametrize(("make", "code", "seconds", "megabytes"),
                         [pytest.param(*c[1:], id=c[0]) for c in TEXT_CASES])
def test_hostile_text_is_a_diagnostic(make: Callable[[], str], code: str, seconds: float, megabytes: float) -> None:
    text = make()
    with within(seconds, megabytes):
        diags = validate(text)
    assert code in [d.code for d in diags], diags
    with within(seconds, megabytes), pytest.raises(RuleEngineError) as exc:
        load_strategy(text)
    assert code in [d.code for d in exc.value.diagnostics]


JSON_FILE_CASES: list[tuple[str, str, str]] = [
    ("trailing_comma", '{"name": "x", "data": {"prices": {}}, "entry": ["close > 1"],}', "R102"),
    ("nan", '{"name": "x", "data": {"prices": {}}, "entry": ["close > 1"], "risk": {"stop_loss_pct": NaN}}', "R102"),
    ("duplicate_key", '{"name": "x", "name": "y", "data": {"prices": {}}, "entry": ["close > 1"]}', "R104"),
    ("int_5000_digits", '{"name": "x", "data": {"prices": {}}, "entry": ["close > 1"], "n": ' + "9" * 5000 + "}",
     "R113"),
    ("deep", '{"name": "x", "d": ' + "[" * 5000 + "]" * 5000 + "}", "R107"),
    ("not_an_object", "[1, 2]", "R103"),
]


@pytest.mark.parametrize(("text", "code"), [pytest.param(*c[1:], id=c[0]) for c in JSON_FILE_CASES])
def test_hostile_json_file_is_a_diagnostic(tmp_path: Path, text: str, code: str) -> None:
    f = tmp_path / "s.json"
    f.write_text(text, encoding="utf-8")
    with within(5, 64):
        diags = validate(str(f))
    assert [d.code for d in diags] == [code]


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    f = tmp_path / "big.yaml"
    with f.open("wb") as out:  # sparse: 2 GB on paper, nothing on disk
        out.truncate(2 * 1024**3)
    with within(5, 16):
        diags = validate(str(f))
    assert [d.code for d in diags] == ["R106"]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    p = tmp_path / "strategy.yaml"
    os.mkfifo(p)
    return p


@pytest.mark.parametrize("as_path", [True, False], ids=["Path", "str"])
def test_fifo_and_device_are_refused_in_process(fifo: Path, as_path: bool) -> None:
    for target in (fifo, Path("/dev/zero")):
        with within(5, 16):
            diags = validate(target if as_path else str(target))
        assert [d.code for d in diags] == ["R114"], diags


@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "/dev/null"])
def test_cli_validate_of_a_fifo_or_device_is_r114(fifo: Path, target: str) -> None:
    path = str(fifo) if target == "fifo" else target
    proc = run_cli(["validate", path], seconds=60, megabytes=2048)
    assert_structured(proc)
    assert proc.returncode == 1 and "error[R114]" in proc.stdout, proc.stdout + proc.stderr
    proc = run_cli(["validate", "--json", path], seconds=60, megabytes=2048)
    assert_structured(proc)
    assert "R114" in json.dumps(json.loads(proc.stdout))


def test_a_dict_with_200000_conditions_is_capped() -> None:
    """Python and agent callers pass dicts: the condition cap holds there too, before any expression is parsed."""
    doc = {"name": "x", "data": {"prices": {}}, "entry": {"conditions": ["close > 1"] * 200_000}}
    with within(10, 256):
        diags = validate(doc)
    assert [d.code for d in diags] == ["S113"] and "1,000" in diags[0].message
