"""Grid plans built from templates with numpy (compile/template.py, grid_plan.py, grid_program.py) give exactly
what the set-by-set plan (compile/plan.py) gives: signals, warm-up, convergence and sharing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ruleengine
from ruleengine.compile.compiled import GRID_MIN_SETS
from ruleengine.compile.execute import execute_into
from ruleengine.compile.grid_plan import GridPlan
from ruleengine.compile.plan import Plan
from ruleengine.errors import RuleEngineError
from ruleengine.lang.functions import FUNCTIONS

RULES = sorted(p for p in (Path(__file__).resolve().parents[1] / "rules").glob("*.yaml")
               if not p.stem.startswith("code_"))  # code strategies: tests/test_sandbox_run.py


def _inputs(compiled: Any, n_rows: int, n_cols: int, seed: int) -> dict[tuple[str, str], np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for slot, cols in compiled.required_columns().items():
        for c in sorted(cols):
            a = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_rows, n_cols)), axis=0))
            a[rng.random((n_rows, n_cols)) < 0.02] = np.nan  # gaps
            out[(slot, c)] = np.asfortranarray(a)
    return out


def _random_sets(compiled: Any, n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(n):
        s: dict[str, Any] = {}
        for name, p in compiled.strategy.params.items():
            if name.startswith("execution_"):
                continue
            if p.type == "int" and p.min is not None and p.max is not None:
                s[name] = int(rng.integers(int(p.min), min(int(p.max), int(p.min) + 40) + 1))
            elif p.type == "float" and p.min is not None and p.max is not None:
                s[name] = float(rng.choice(np.linspace(p.min, p.max, 7)))
            elif p.type == "bool":
                s[name] = bool(rng.integers(0, 2))
        sets.append(s)
    return sets + sets[:3]  # repeated sets share everything


def _assert_same(compiled: Any, sets: list[dict[str, Any]], n_rows: int, n_cols: int, seed: int) -> None:
    grid = compiled.plan(sets)
    ref = compiled.node_plan(sets)
    assert isinstance(grid, GridPlan) and isinstance(ref, Plan)
    np.testing.assert_array_equal(grid.warmups(), ref.warmups())
    np.testing.assert_array_equal(grid.converges(), ref.converges())
    for name in FUNCTIONS:
        assert grid.count_calls(name) == ref.count_calls(name), name
    assert grid.n_nodes == ref.n_nodes
    inputs = _inputs(compiled, n_rows, n_cols, seed)
    g1, l1 = execute_into(grid, inputs, n_rows, n_cols, threads=1)
    g2, l2 = execute_into(ref, inputs, n_rows, n_cols, threads=1)
    assert len(g1) == len(compiled.strategy.signal_groups())  # a long_short rule's short side too
    for a, b in zip(g1, g2, strict=True):  # entries, exits[, short entries, short exits]
        np.testing.assert_array_equal(a, b)
    assert l1.keys() == l2.keys()
    for kind in l1:  # stop distances and exit programs' levels
        np.testing.assert_array_equal(l1[kind], l2[kind])


@pytest.mark.parametrize("n_cols", [1, 3])
@pytest.mark.parametrize("path", RULES, ids=[p.stem for p in RULES])
def test_every_rule_gives_the_same_grid_signals(path: Path, n_cols: int) -> None:
    compiled = ruleengine.compile_strategy(str(path))
    if n_cols == 1 and compiled.cross_sectional():
        pytest.skip("a cross-sectional rule (a rotation's selection) needs a universe of several symbols (C117)")
    _assert_same(compiled, _random_sets(compiled, 24, seed=len(path.stem)), 300, n_cols, seed=n_cols)


def test_small_grids_keep_the_set_by_set_plan() -> None:
    compiled = ruleengine.compile_strategy(str(RULES[0].parent / "golden_cross.yaml"))
    assert isinstance(compiled.plan([{"fast": f} for f in range(5, 5 + GRID_MIN_SETS - 1)]), Plan)
    assert isinstance(compiled.plan([{"fast": f} for f in range(5, 5 + GRID_MIN_SETS)]), GridPlan)


def test_equal_computations_of_different_template_nodes_are_merged() -> None:
    compiled = ruleengine.compile_strategy(str(RULES[0].parent / "golden_cross.yaml"))
    sets = [{"fast": f, "slow": s} for f in (10, 20, 30) for s in (20, 30, 40, 50)]
    plan = compiled.plan(sets)
    assert isinstance(plan, GridPlan)
    # sma(close, fast) at 20/30 and sma(close, slow) at 20/30 are the same computation: 3 + 4 - 2 windows
    assert plan.count_calls("sma") == 5
    assert plan.count_calls("rsi") == 1
    assert plan.count_calls("crosses_above") == len(sets)


def test_a_window_below_its_minimum_is_a_clear_error_on_the_grid_path() -> None:
    compiled = ruleengine.compile_strategy({
        "name": "w", "data": {"prices": {"kind": "ohlcv"}},
        "params": {"n": {"type": "int", "min": 1, "max": 50, "default": 10}},
        "entry": ["close > sma(close, n - 4)"]})
    with pytest.raises(RuleEngineError) as err:
        compiled.plan([{"n": n} for n in range(4, 20)])
    d = err.value.diagnostics[0]
    assert d.code == "D103" and "window of sma is 0" in d.message


# ------------------------------------------------------------------ random expressions with parameters

WINDOWS = ["a", "b", "a + 1", "b * 2", "3", "max_w"]
NUMBERS = ["x", "x * 2", "0.5", "-x"]


@st.composite
def _series(draw, depth: int = 2) -> str:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["close", "high", "low", "open"]))
    kind = draw(st.sampled_from(["sma", "ema", "rsi", "shift", "arith", "min"]))
    inner = draw(_series(depth - 1))
    w = draw(st.sampled_from(WINDOWS[:-1]))
    if kind == "shift":
        return f"shift({inner}, {draw(st.sampled_from(['a - 2', '1', 'b - 2']))})"
    if kind == "arith":
        return f"({inner} {draw(st.sampled_from(['+', '*', '-']))} {draw(st.sampled_from([*NUMBERS, 'close']))})"
    if kind == "min":
        return f"min({inner}, {draw(_series(depth - 1))})"
    return f"{kind}({inner}, {w})"


@st.composite
def _condition(draw) -> str:
    kind = draw(st.sampled_from(["cmp", "cross", "logic", "flag"]))
    if kind == "cmp":
        right = draw(st.one_of(_series(1), st.sampled_from(["x * 100", "50", "x + 40"])))
        return f"{draw(_series())} {draw(st.sampled_from(['<', '>=', '==']))} {right}"
    if kind == "cross":
        return f"crosses_above({draw(_series())}, {draw(_series(1))})"
    if kind == "flag":
        return f"({draw(_series(1))} > close) == flag"
    return f"({draw(_condition())}) {draw(st.sampled_from(['and', 'or']))} not ({draw(_condition())})"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entry=_condition(), exit_=_condition(), seed=st.integers(0, 10_000), n_cols=st.sampled_from([1, 2]))
def test_random_conditions_over_random_grids(entry: str, exit_: str, seed: int, n_cols: int) -> None:
    compiled = ruleengine.compile_strategy({
        "name": "p", "data": {"prices": {"kind": "ohlcv"}},
        "params": {"a": {"type": "int", "min": 2, "max": 30, "default": 5},
                   "b": {"type": "int", "min": 2, "max": 30, "default": 9},
                   "x": {"type": "float", "min": 0, "max": 2, "default": 0.5},
                   "flag": {"type": "bool", "default": True},
                   "max_w": {"type": "int", "min": 2, "max": 9, "default": 4}},
        "entry": [entry], "exit": {"logic": "any", "conditions": [exit_]}})
    rng = np.random.default_rng(seed)
    sets = [{"a": int(rng.integers(2, 8)), "b": int(rng.integers(2, 6)), "x": float(rng.choice([0.25, 0.5, 1.0])),
             "flag": bool(rng.integers(0, 2))} for _ in range(int(rng.integers(GRID_MIN_SETS, 30)))]
    _assert_same(compiled, sets, 120, n_cols, seed)


@pytest.mark.parametrize("n_cols", [1, 3])
def test_distances_and_exit_programs_give_the_same_grid_levels(n_cols: int) -> None:
    compiled = ruleengine.compile_strategy({
        "name": "p", "data": {"prices": {"kind": "ohlcv"}},
        "params": {"a": {"type": "int", "min": 2, "max": 30, "default": 5},
                   "x": {"type": "float", "min": 0, "max": 2, "default": 0.5}},
        "entry": ["close > sma(close, a)"],
        "exit": ["close < sma(close, a)",
                 "bars_held > a or close < highest_since_entry - x * atr(high, low, close, a)"],
        "risk": {"stop_loss_distance": "x * stddev(close, a)", "take_profit_distance": 3}})
    rng = np.random.default_rng(n_cols)
    sets = [{"a": int(rng.integers(2, 8)), "x": float(rng.choice([0.25, 0.5, 1.0]))} for _ in range(12)]
    _assert_same(compiled, sets, 120, n_cols, n_cols)
    levels = execute_into(compiled.plan(sets), _inputs(compiled, 120, n_cols, 0), 120, n_cols, threads=1)[1]
    assert sorted(levels) == ["exit_program:0", "exit_program:1", "exit_program:2", "stop_loss_distance",
                              "take_profit_distance"]
