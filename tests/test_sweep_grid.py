"""Sweep grids: --grid axes, default grids from PARAM_SCHEMA, constraints, random search, errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ruleengine.errors import RuleEngineError
from ruleengine.sweep.grid import (
    ENUMERATE_LIMIT,
    combinations,
    default_grid,
    grid_size,
    parse_grid,
    split_names,
)

RULES = Path(__file__).resolve().parents[1] / "rules"
GOLDEN = str(RULES / "golden_cross.yaml")


def _err(fn, *args, **kwargs) -> RuleEngineError:
    with pytest.raises(RuleEngineError) as info:
        fn(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------------------------------- axes
def test_range_includes_the_stop_on_the_step_and_lists_keep_their_order() -> None:
    g = parse_grid(GOLDEN, ["fast=5:50:5", "slow=200,50,100", "rsi_max=70"])
    assert g == {"fast": [5, 10, 15, 20, 25, 30, 35, 40, 45, 50], "slow": [200, 50, 100], "rsi_max": [70.0]}
    assert parse_grid(GOLDEN, ["fast=5:12:5"])["fast"] == [5, 10]  # 12 is not on the step
    assert parse_grid(GOLDEN, ["fast=5:8"])["fast"] == [5, 6, 7, 8]  # int: step 1
    assert all(type(v) is int for v in parse_grid(GOLDEN, ["fast=5:50:5"])["fast"])


def test_float_ranges_are_rounded_and_values_typed() -> None:
    g = parse_grid(str(RULES / "bollinger_reversion.yaml"), ["k=0.5:1.1:0.1", "window=10,20"])
    assert g["k"] == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
    assert g["window"] == [10, 20]
    assert parse_grid(GOLDEN, ["rsi_max=60:70:2.5"])["rsi_max"] == [60.0, 62.5, 65.0, 67.5, 70.0]


def test_risk_axes_and_switching_an_exit_off() -> None:
    g = parse_grid(GOLDEN, ["stop_loss_pct=none,2:6:2", "max_hold_days=10,20", "execution_price=open,close"])
    assert g == {"stop_loss_pct": [None, 2.0, 4.0, 6.0], "max_hold_days": [10, 20],
                 "execution_price": ["open", "close"]}
    assert split_names(GOLDEN, ["fast", "stop_loss_pct", "execution_price", "slow"]) == (
        ["fast", "slow"], ["stop_loss_pct", "execution_price"])


def test_mapping_input_lists_ranges_arrays_text_and_duplicates() -> None:
    g = parse_grid(GOLDEN, {"fast": range(5, 8), "slow": np.array([50, 100, 50]), "rsi_max": 70,
                            "take_profit_pct": "5:10:5"})
    assert g == {"fast": [5, 6, 7], "slow": [50, 100], "rsi_max": [70.0], "take_profit_pct": [5.0, 10.0]}
    assert type(g["slow"][0]) is int


@pytest.mark.parametrize(("spec", "code", "words"), [
    (["fast=1:50:5"], "D103", "outside its bounds [2, 100]"),
    (["slow=500"], "D103", "outside its bounds [5, 400]"),
    (["fast=5:50:x"], "D103", "step of 'fast' must be a number"),
    (["fast=5:50:0"], "D103", "step of 'fast' must be positive"),
    (["fast=50:5:5"], "D103", "ends before it starts"),
    (["fast=5.5"], "D103", "whole number"),
    (["fast=5:10:2.5"], "D103", "whole numbers"),
    (["rsi_max=50:60"], "D103", "needs a step"),
    (["fastt=5"], "D104", "unknown parameter 'fastt'"),
    (["stop_loss_pct=150"], "D103", "stop_loss_pct must be > 0 and < 100"),
    (["position_size_pct=none"], "D103", "cannot be switched off"),
    (["execution_price=open:close"], "D103", "list its values"),
    (["fast"], "D103", "name=values"),
    (["fast=5", "fast=6"], "D103", "given twice"),
    (["fast="], "D103", "no values"),
    (["fast=1:2000000:1"], "D122", "2,000,000 values"),
])
def test_bad_axes_raise_with_a_hint(spec, code, words) -> None:
    exc = _err(parse_grid, GOLDEN, spec)
    d = exc.diagnostics[0]
    assert d.code == code and words in d.message, (d.code, d.message)
    assert d.hint and d.path.startswith("grid")


def test_unknown_name_suggests_the_closest() -> None:
    d = _err(parse_grid, GOLDEN, ["slwo=5"]).diagnostics[0]
    assert d.hint == "did you mean 'slow'?" and d.path == "grid.slwo"
    d = _err(parse_grid, GOLDEN, ["stop_los_pct=5"]).diagnostics[0]
    assert d.hint == "did you mean 'stop_loss_pct'?"


def test_every_bad_axis_is_reported_at_once() -> None:
    exc = _err(parse_grid, GOLDEN, ["fast=0", "slow=1", "rsi_max=x"])
    assert [d.path for d in exc.diagnostics] == ["grid.fast", "grid.slow", "grid.rsi_max"]


# ------------------------------------------------------------------------------------------- defaults
def test_default_grid_from_the_schema_bounds() -> None:
    g = default_grid(GOLDEN)  # 3 numeric parameters: 10 points each (10^3 <= 100,000)
    assert g["fast"] == [2, 13, 24, 35, 46, 56, 67, 78, 89, 100]  # round(linspace(2, 100, 10))
    assert g["slow"] == [5, 49, 93, 137, 181, 224, 268, 312, 356, 400]
    assert g["rsi_max"][:3] == [50.0, 55.5555555556, 61.1111111111] and g["rsi_max"][-1] == 100.0
    assert "execution_price" not in g and "execution_frequency" not in g
    assert default_grid(GOLDEN, points=3) == {"fast": [2, 51, 100], "slow": [5, 202, 400],
                                             "rsi_max": [50.0, 75.0, 100.0]}


def test_default_grid_kinds_and_the_points_rule() -> None:
    doc = {"name": "x", "data": {"prices": {"kind": "ohlcv"}}, "entry": ["close > sma(close, n)"],
           "params": {"n": {"type": "int", "min": 2, "max": 4, "default": 3},
                      "on": {"type": "bool", "default": True},
                      "mode": {"type": "enum", "values": ["a", "b", "c"], "default": "a"},
                      "free": {"type": "float", "default": 1.5},
                      **{f"p{i}": {"type": "float", "min": 0, "max": 1, "default": 0.5} for i in range(5)}}}
    g = default_grid(doc)
    assert g["n"] == [2, 3, 4]  # 6 numeric parameters: floor(100000^(1/6)) = 6 points; ints deduplicated
    assert len(g["p0"]) == 6 and g["p0"][0] == 0.0 and g["p0"][-1] == 1.0
    assert g["on"] == [False, True] and g["mode"] == ["a", "b", "c"] and g["free"] == [1.5]
    assert _err(default_grid, doc, points=0).diagnostics[0].code == "D122"


# ------------------------------------------------------------------------------------------- combinations
def test_golden_cross_grid_with_fast_below_slow_has_1590_combinations() -> None:
    g = parse_grid(GOLDEN, ["fast=5:50", "slow=20:200:5"])
    assert grid_size(g) == 46 * 37
    combos = combinations(g, ["fast < slow"])
    expected = [{"fast": f, "slow": s} for f in range(5, 51) for s in range(20, 201, 5) if f < s]
    assert len(combos) == 1590 and combos == expected  # grid order: the last axis varies fastest


def test_constraints_combine_arithmetic_logic_and_fixed_values() -> None:
    g = {"fast": [5, 10, 20], "slow": [10, 20, 30], "stop_loss_pct": [None, 2.0, 4.0]}
    combos = combinations(g, ["slow - fast >= 10 and not (fast == 5)", "take_profit_pct > 2 * stop_loss_pct"],
                          fixed={"take_profit_pct": 6.0})
    # None (exit off) is a missing value: every comparison with it is false
    assert combos == [{"fast": 10, "slow": 20, "stop_loss_pct": 2.0}, {"fast": 10, "slow": 30, "stop_loss_pct": 2.0},
                      {"fast": 20, "slow": 30, "stop_loss_pct": 2.0}]
    assert len(combinations(g, ["stop_loss_pct != 2"])) == 9  # != is false for None too
    assert combinations({"mode": ["a", "b"], "on": [True, False]}, ["on == true"]) == [
        {"mode": "a", "on": True}, {"mode": "b", "on": True}]
    assert combinations({"x": ["a", "b"], "y": ["a", "c"]}, ["x == y"]) == [{"x": "a", "y": "a"}]


def test_sampling_is_without_replacement_reproducible_and_in_grid_order() -> None:
    g = {"a": list(range(30)), "b": list(range(30))}
    s1 = combinations(g, ["a < b"], samples=50, seed=3)
    assert len(s1) == 50 and len({(c["a"], c["b"]) for c in s1}) == 50
    assert all(c["a"] < c["b"] for c in s1)
    assert s1 == combinations(g, ["a < b"], samples=50, seed=3)
    assert s1 != combinations(g, ["a < b"], samples=50, seed=4)
    keys = [(c["a"], c["b"]) for c in s1]
    assert keys == sorted(keys)
    assert len(combinations(g, ["a < b"], samples=10_000)) == 435  # fewer combinations than asked: all


def test_sampling_a_space_too_large_to_enumerate() -> None:
    g = {f"p{i}": list(range(100)) for i in range(4)}  # 1e8 combinations
    assert grid_size(g) > ENUMERATE_LIMIT
    combos = combinations(g, ["p0 < p1"], samples=200, seed=1)
    assert len(combos) == 200 and len({tuple(c.values()) for c in combos}) == 200
    assert all(c["p0"] < c["p1"] for c in combos)
    d = _err(combinations, g).diagnostics[0]
    assert d.code == "D122" and "100,000,000 combinations" in d.message and "sample" in d.hint


def test_empty_results_and_bad_samples() -> None:
    d = _err(combinations, {"fast": [50], "slow": [20]}, ["fast < slow"]).diagnostics[0]
    assert d.code == "D122" and "no combination" in d.message and d.hint
    assert _err(combinations, {"fast": []}).diagnostics[0].code == "D103"
    assert _err(combinations, {"fast": [1]}, samples=0).diagnostics[0].code == "D122"
    assert combinations({}) == [{}]


@pytest.mark.parametrize(("text", "code", "column", "words"), [
    ("fast < slwo", "C102", 8, "unknown name 'slwo'"),
    ("fast <", "P102", 7, "ends too early"),
    ("fast << slow", "P101", 7, "unexpected"),
    ("sma(fast, 2) < slow", "C101", 1, "functions are not allowed"),
    ("fast + slow", "C108", 1, "not true/false"),
    ("fast < slow and 3", "C109", 1, "'and' combines conditions"),
    ("mode < 2", "C112", 1, "enum parameters"),
])
def test_constraint_errors_carry_their_position(text, code, column, words) -> None:
    exc = _err(combinations, {"fast": [5], "slow": [10], "mode": ["a"]}, ["fast < slow", text])
    d = exc.diagnostics[0]
    assert d.code == code and words in d.message, (d.code, d.message)
    assert d.span.col == column and d.path == "constraints[1]"
    assert text in exc.render() and "^" in exc.render()
