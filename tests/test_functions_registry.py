"""Every registry function on real prices: its example runs, is causal (truncation), and its declared
convergence history makes a short run equal the full one.

The oracles (TA-Lib / pandas) of the kernels are in test_kernels_oracle.py (SPECS) and of whole expressions in
test_property.py (support/reference.py); this file holds the properties every function must have, looped
over the registry in one parametrized test each (small inputs: the committed sample's 500 bars of one symbol).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ruleengine
from ruleengine.lang.functions import FUNCTIONS

NAMES = sorted(FUNCTIONS)


@pytest.fixture(scope="module")
def spy(real_ohlcv_of) -> pd.DataFrame:
    return real_ohlcv_of("SPY").iloc[:500]


@pytest.mark.realdata
@pytest.mark.parametrize("name", NAMES)
def test_every_function_is_causal_on_real_prices(name: str, spy: pd.DataFrame) -> None:
    """The example's values on data[:cut] equal the first cut values on the full data (nothing looks ahead),
    at cuts inside and after the warm-up."""
    example = FUNCTIONS[name].example
    # an example naming another data slot (beta's benchmark) runs on the price columns instead
    expr = example if "." not in example.replace("0.", "") else _float_call(name)
    assert expr is not None
    full = ruleengine.evaluate(expr, spy).to_numpy()
    for cut in (1, 7, 61, 250, 499):
        part = ruleengine.evaluate(expr, spy.iloc[:cut]).to_numpy()
        np.testing.assert_array_equal(part, full[:cut], err_msg=f"{expr} cut {cut}")


def _float_call(name: str) -> str | None:
    """A number-valued call of `name` on price columns with small windows (None: not a number series)."""
    fn = FUNCTIONS[name]
    if fn.returns != "float":
        return None
    parts = []
    for i, a in enumerate(fn.args):
        if a.kind == "series":
            parts.append(a.name if a.name in ("open", "high", "low", "close", "volume") else "close")
        elif a.kind in ("window", "lag"):
            parts.append(str(max(a.minimum, 4 + 3 * i)))
        elif a.kind == "number":
            parts.append("2")
        else:
            return None
    return f"{name}({', '.join(parts)})"


def _converge(expr: str) -> tuple[int, int]:
    """(lookback, converge) bars of an expression over the price columns, as the planner derives them."""
    from ruleengine.compile.ir import Graph, lower
    from ruleengine.compile.plan import Plan, _schedule
    from ruleengine.lang.check import Env, check_expression
    from ruleengine.lang.parse import parse

    tree = parse(expr)
    _ty, diags = check_expression(tree, Env({"prices": ["open", "high", "low", "close", "volume"]}, "prices"))
    assert not diags, diags
    graph = Graph()
    root = lower(tree, {}, graph)
    plan = Plan(graph, [{}], [(root, root)])
    _schedule(plan)
    return plan.lookback[root], plan.converge[root]


RECURSIVE = [n for n in NAMES if _float_call(n) and not FUNCTIONS[n].path_dependent
             and _converge(_float_call(n) or "")[1] > _converge(_float_call(n) or "")[0]]


@pytest.mark.realdata
@pytest.mark.parametrize("name", RECURSIVE)
def test_declared_convergence_makes_a_late_start_equal_the_full_history(name: str, spy: pd.DataFrame) -> None:
    """Started `converge` bars before bar t (lookback plus the memory of recursive indicators), a function's
    value on t equals the full history's within 1e-9 relative: what the data layer fetches is enough (live
    equals backtest)."""
    expr = _float_call(name)
    assert expr is not None
    _lookback, converge = _converge(expr)
    full = ruleengine.evaluate(expr, spy).to_numpy()
    start = len(spy) - 40 - converge
    if start < 0:
        pytest.skip(f"{expr} needs {converge} bars of history to converge (more than the sample)")
    late = ruleengine.evaluate(expr, spy.iloc[start:]).to_numpy()
    np.testing.assert_allclose(late[converge:], full[start + converge:], rtol=1e-9, atol=1e-9, err_msg=expr)


MATH = {  # expression -> its numpy value on columns o(pen), h(igh), l(ow), c(lose), v(olume)
    "sqrt(close - open)": lambda o, h, lo, c, v: np.sqrt(c - o),
    "exp((close - open) / close)": lambda o, h, lo, c, v: np.exp((c - o) / c),
    "log(close - open)": lambda o, h, lo, c, v: np.log(c - o),
    "pow(close / open, 3)": lambda o, h, lo, c, v: np.power(c / o, 3.0),
    "pow(close - open, 0.5)": lambda o, h, lo, c, v: np.power(c - o, 0.5),
    "clip(close - open, -1, 1)": lambda o, h, lo, c, v: np.clip(c - o, -1.0, 1.0),
    "where(close > open, volume, -volume)": lambda o, h, lo, c, v: np.where(c > o, v, -v),
    "abs(open - close)": lambda o, h, lo, c, v: np.abs(o - c),
}


@pytest.mark.realdata
@pytest.mark.parametrize("expr", sorted(MATH))
def test_math_functions_equal_numpy_on_real_prices_with_gaps(expr: str, spy: pd.DataFrame) -> None:
    """Bar by bar, NaN where an input is missing or outside the domain (log and sqrt of negatives), -inf for
    log(0); `where` takes b where the condition is false, also where it is NaN (a comparison with NaN is false)."""
    df = spy.copy()
    df.iloc[[3, 50, 51, 200], [0]] = np.nan  # open missing on a few bars
    got = ruleengine.evaluate(expr, df).to_numpy()
    with np.errstate(all="ignore"):
        want = MATH[expr](*(df[k].to_numpy() for k in ("open", "high", "low", "close", "volume")))
    np.testing.assert_allclose(got, want, rtol=1e-15, err_msg=expr)
    assert FUNCTIONS[expr.split("(")[0]].lookback({}) == 0


@pytest.mark.parametrize("expr, value", [
    ("abs(-2)", 2.0), ("min(1, 2)", 1.0), ("max(1, 2)", 2.0), ("sqrt(16)", 4.0), ("sqrt(-1)", np.nan),
    ("exp(0)", 1.0), ("exp(1000)", np.inf), ("log(1)", 0.0), ("log(0)", -np.inf), ("log(-1)", np.nan),
    ("pow(2, 10)", 1024.0), ("pow(-8, 1 / 3)", np.nan), ("pow(0, -1)", np.inf), ("clip(5, 0, 2)", 2.0),
])
def test_math_of_constants_folds_to_numpys_value(expr: str, value: float) -> None:
    """A bar-by-bar function of constants (or parameters) is folded while lowering, to numpy's value (it
    used to stop the compiler with an assertion: `close > abs(-2)`)."""
    df = pd.DataFrame({"close": [1.0, 2.0]}, index=pd.date_range("2024-01-01", periods=2))
    got = ruleengine.evaluate(f"close * 0 + {expr}", df).to_numpy()
    with np.errstate(all="ignore"):
        want = float(ruleengine.evaluate(expr.replace("(", "(close * 0 + ", 1), df).iloc[0])
    np.testing.assert_array_equal(got, [value, value])
    np.testing.assert_array_equal(want, value)  # the same function on a series agrees
