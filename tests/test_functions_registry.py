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
