"""Property tests: random well-typed expressions against the pandas reference; causality of all signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.paths import rotation_rule
from support.reference import as_bool, evaluate_ref
from test_compile import frames_for, synthetic_ohlcv

import ruleengine
from ruleengine.lang.check import Env, check_expression
from ruleengine.lang.functions import FUNCTIONS
from ruleengine.lang.parse import parse

COLUMNS = ["open", "high", "low", "close", "volume"]
RULES = sorted(p for p in (Path(__file__).resolve().parents[1] / "rules").glob("*.yaml")
               if not p.stem.startswith("code_")  # code strategies: tests/test_sandbox_run.py
               and not rotation_rule(p))  # one-symbol signals do not apply to a rotation: tests/test_rotation.py
# one-symbol expressions: the cross-sectional functions need a universe (C117); tests/test_cross_section.py
SINGLE = [f for f in FUNCTIONS.values() if not f.cross_sectional
          and f.returns == "float" and [a.kind for a in f.args][:1] == ["series"]
          and all(a.kind in ("window", "lag", "number") for a in f.args[1:])]
OHLCV_FNS = [f for f in FUNCTIONS.values() if not f.cross_sectional and f.returns == "float" and len(f.args) > 1
             and [a.kind for a in f.args][:2] == ["series", "series"]
             and all(a.name in COLUMNS for a in f.args if a.kind == "series")]


def _in_order(f, values: list[str], specs) -> list[str]:
    """Windows that must be shorter than another (MACD's fast < slow, ULTOSC's short < medium < long; a
    reversed pair is a diagnostic, C115) made increasing in the declared order."""
    names = [a.name for a in specs]
    for _ in f.ordered:  # a chain of k pairs settles in k passes
        for short, long in f.ordered:
            i, j = names.index(short), names.index(long)
            lo, hi = sorted((int(values[i]), int(values[j])))
            values[i], values[j] = str(lo), str(hi + 1 if hi == lo else hi)
    return values


def _window(spec) -> st.SearchStrategy[str]:
    if spec.kind == "number":
        return st.sampled_from(["0.5", "1", "2", "2.5"])
    return st.integers(max(spec.minimum, 1 if spec.kind != "lag" else 0), 25).map(str)


@st.composite
def num_expr(draw, depth: int = 2) -> str:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["close", "high", "low", "open", "volume / 1000000"]))
    kind = draw(st.sampled_from(["single", "ohlcv", "arith", "minmax"]))
    if kind == "single":
        f = draw(st.sampled_from(SINGLE))
        rest = _in_order(f, [draw(_window(a)) for a in f.args[1:]], f.args[1:])
        return f"{f.name}({', '.join([draw(num_expr(depth - 1)), *rest])})"
    if kind == "ohlcv":
        f = draw(st.sampled_from(OHLCV_FNS))
        parts = _in_order(f, [a.name if a.kind == "series" else draw(_window(a)) for a in f.args], f.args)
        return f"{f.name}({', '.join(parts)})"
    if kind == "minmax":
        return f"{draw(st.sampled_from(['min', 'max']))}({draw(num_expr(depth - 1))}, {draw(num_expr(depth - 1))})"
    op = draw(st.sampled_from(["+", "-", "*", "/"]))
    right = draw(st.sampled_from(COLUMNS[:4])) if op == "/" else draw(num_expr(depth - 1))
    return f"({draw(num_expr(depth - 1))} {op} {right})"


@st.composite
def bool_expr(draw, depth: int = 2) -> str:
    kind = draw(st.sampled_from(["cmp", "cmp", "cross", "logic", "not", "event"] if depth else ["cmp", "cross"]))
    if kind == "cmp":
        right = draw(st.one_of(num_expr(1), st.floats(-50, 200).map(lambda v: f"{v:.3f}")))
        return f"{draw(num_expr())} {draw(st.sampled_from(['<', '<=', '>', '>=']))} {right}"
    if kind == "cross":
        return f"{draw(st.sampled_from(['crosses_above', 'crosses_below']))}({draw(num_expr())}, {draw(num_expr(1))})"
    if kind == "not":
        return f"not ({draw(bool_expr(depth - 1))})"
    if kind == "event":
        f = draw(st.sampled_from(["rising", "falling"]))
        return f"{f}({draw(num_expr(1))}, {draw(st.integers(1, 5))})"
    op = draw(st.sampled_from(["and", "or"]))
    return f"({draw(bool_expr(depth - 1))}) {op} ({draw(bool_expr(depth - 1))})"


def _data(gaps: bool) -> pd.DataFrame:
    df = synthetic_ohlcv(260, seed=7)
    if gaps:
        df.iloc[[40, 41, 90, 150], :] = np.nan
        df.iloc[:5, :] = np.nan
    return df


def _reference(text: str, df: pd.DataFrame):
    tree = parse(text)
    ty, diags = check_expression(tree, Env({"prices": COLUMNS}, "prices"))
    assert not diags, diags
    return evaluate_ref(tree, {"prices": df}, {}, df.index), ty


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(expr=num_expr(), gaps=st.booleans())
def test_number_expressions_match_reference(expr: str, gaps: bool) -> None:
    df = _data(gaps)
    got = ruleengine.evaluate(expr, df).to_numpy(dtype=float)
    ref, _ = _reference(expr, df)
    expected = np.asarray(ref.v if isinstance(ref.v, pd.Series) else np.full(len(df), ref.v), dtype=float)
    finite = np.isfinite(expected) & np.isfinite(got)
    assert np.array_equal(np.isnan(got), np.isnan(expected)), expr
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-7, atol=1e-9, err_msg=expr)


@SETTINGS
@given(expr=bool_expr(), gaps=st.booleans())
def test_conditions_match_reference(expr: str, gaps: bool) -> None:
    df = _data(gaps)
    got = ruleengine.evaluate(expr, df)
    ref, _ = _reference(expr, df)
    expected = as_bool(ref.v, df.index).fillna(False).astype(bool)
    sure = ~ref.unsure if ref.unsure is not None else pd.Series(True, index=df.index)
    assert (got[sure] == expected[sure]).all(), expr


@SETTINGS
@given(expr=st.one_of(num_expr(), bool_expr()), cut=st.integers(1, 259))
def test_expressions_are_causal(expr: str, cut: int) -> None:
    """Values on data[:n] equal the first n values on the full data: nothing looks ahead."""
    df = _data(True)
    full = ruleengine.evaluate(expr, df).to_numpy()
    part = ruleengine.evaluate(expr, df.iloc[:cut]).to_numpy()
    np.testing.assert_array_equal(part, full[:cut], err_msg=expr)


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.stem)
@pytest.mark.parametrize("cut", [1, 57, 250, 499])
def test_rule_signals_are_causal(path: Path, cut: int) -> None:
    compiled = ruleengine.compile_strategy(str(path))
    frames = frames_for(compiled.strategy, synthetic_ohlcv(500, seed=3))
    sig = compiled.signals(frames).to_pandas()
    entries, exits = sig.entries, sig.exits
    head = {k: v.iloc[:cut] for k, v in frames.items()}
    sig = compiled.signals(head).to_pandas()
    e2, x2 = sig.entries, sig.exits
    pd.testing.assert_series_equal(e2, entries.iloc[:cut])
    pd.testing.assert_series_equal(x2, exits.iloc[:cut])


@pytest.mark.realdata
@pytest.mark.parametrize("path", RULES, ids=lambda p: p.stem)
def test_rule_signals_are_causal_on_real_data(path: Path, ohlcv_of) -> None:
    compiled = ruleengine.compile_strategy(str(path))
    frames = frames_for(compiled.strategy, ohlcv_of("MSFT"))
    sig = compiled.signals(frames).to_pandas()
    entries, exits = sig.entries, sig.exits
    for cut in (300, 800, len(entries) - 1):
        sig = compiled.signals({k: v.iloc[:cut] for k, v in frames.items()}).to_pandas()
        e2, x2 = sig.entries, sig.exits
        assert (e2 == entries.iloc[:cut]).all() and (x2 == exits.iloc[:cut]).all()
