"""Every registry function on real prices: its example runs, is causal (truncation), and its declared
convergence history makes a short run equal the full one.

The oracles (TA-Lib / pandas) of the kernels are in test_kernels_oracle.py (SPECS) and of whole expressions in
test_property.py (support/reference.py); this file holds the properties every function must have, looped
over the registry in one parametrized test each (small inputs: the committed sample's 500 bars of one symbol).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import ruleengine
from ruleengine.lang.functions import FUNCTIONS

# per-symbol functions; the cross-sectional ones (a universe, C117 in one run) are tested in test_cross_section.py
NAMES = sorted(n for n, f in FUNCTIONS.items() if not f.cross_sectional)


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
    expr = _float_call(name) if re.search(r"[A-Za-z_]\w*\.[A-Za-z_]", example) else example
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


# ------------------------------------------------------------------------------------------- calendar values
@pytest.mark.realdata
def test_calendar_values_of_daily_bars_equal_pandas_and_the_next_session(spy: pd.DataFrame) -> None:
    """dayofweek / day / month are pandas' of the session date; month_end / quarter_end are true exactly where
    the next session (SPY trades every one) falls in another month / quarter (the last bar, whose next
    session the data do not show yet, is answered by the exchange calendar); hour / minute are NaN."""
    got = {name: ruleengine.evaluate(f"{name}()", spy).to_numpy() for name in
           ("dayofweek", "day", "month", "hour", "minute", "month_end", "quarter_end")}
    dates = spy.index
    np.testing.assert_array_equal(got["dayofweek"], dates.day_of_week)
    np.testing.assert_array_equal(got["day"], dates.day)
    np.testing.assert_array_equal(got["month"], dates.month)
    assert np.isnan(got["hour"]).all() and np.isnan(got["minute"]).all()
    following = dates[1:]
    month_end = dates.month[:-1] != following.month
    quarter_end = dates.quarter[:-1] != following.quarter
    np.testing.assert_array_equal(got["month_end"][:-1], month_end)
    np.testing.assert_array_equal(got["quarter_end"][:-1], quarter_end)
    assert got["month_end"].sum() >= 20 and got["quarter_end"].sum() >= 6  # 500 sessions: about two years


def test_calendar_values_of_intraday_and_weekly_bars() -> None:
    """Intraday bars are read in exchange time (their labels are UTC starts); a weekly bar holds a month end
    when its week contains the month's last session, even if the week ends in the next month."""
    from ruleengine.data.bar_values import bar_values

    starts = pd.DatetimeIndex(["2024-03-28 13:30", "2024-03-28 19:59", "2024-04-01 13:30", "2024-07-01 19:00"],
                              tz="UTC")  # 9:30 and 15:59 New York on the last session of March (29th: Good Friday)
    v = bar_values(starts, "1Min", ["hour", "minute", "day", "month_end", "quarter_end"])
    local = starts.tz_convert("America/New_York")
    np.testing.assert_array_equal(v["hour"], local.hour)
    np.testing.assert_array_equal(v["minute"], local.minute)
    np.testing.assert_array_equal(v["day"], [28, 28, 1, 1])
    np.testing.assert_array_equal(v["month_end"], [True, True, False, False])
    np.testing.assert_array_equal(v["quarter_end"], [True, True, False, False])
    weeks = pd.DatetimeIndex(["2024-01-26", "2024-02-02", "2024-02-09", "2024-03-28", "2024-04-05"], tz="UTC")
    np.testing.assert_array_equal(bar_values(weeks, "1Week", ["month_end"])["month_end"],
                                  [False, True, False, True, False])


def test_a_strategy_on_calendar_values_trades_at_month_ends(real_ohlcv_of) -> None:
    """Calendar values lower to inputs like columns: the set-by-set and the grid plan give the same signals,
    and `explain` prints them as written."""
    doc = {"name": "month end", "data": {"prices": {"kind": "ohlcv"}},
           "params": {"n": {"type": "int", "min": 2, "max": 10, "default": 3}},
           "entry": {"conditions": ["month_end()", "dayofweek() >= 0", "sma(close, n) > 0"]},
           "exit": {"conditions": ["day() >= 10 and day() < n + 10"]}}
    compiled = ruleengine.compile_strategy(doc)
    prices = real_ohlcv_of("SPY").iloc[:300]
    one = compiled.signals(prices).to_pandas()
    month_end = ruleengine.evaluate("month_end()", prices)
    pd.testing.assert_series_equal(one.entries, (month_end & (np.arange(300) >= 2)).rename(one.entries.name),
                                   check_names=False)
    grid = compiled.signals(prices, {"n": [3, 5]}).to_pandas()
    pd.testing.assert_series_equal(grid.entries[3], one.entries, check_names=False)
    assert "month_end()" in compiled.explain_text()


@pytest.mark.parametrize("expr, code", [
    ("ultosc(high, low, close, 28, 14, 7) > 50", "C115"),  # windows in the wrong order, as MACD's
    ("ppo(close, 26, 12) > 0", "C115"),
    ("kama(close, 1) > 0", "C106"),  # TA-Lib's KAMA needs 2 bars
    ("corr(close, volume, 1) > 0", "C106"),
    ("where(close, 1, 2) > 0", "C104"),  # the condition must be true/false
    ("month_end(close)", "C103"),  # calendar values take no arguments
    ("sar(high, low, close, 0.2) > 0", "C104"),  # acceleration is a number, not a series
])
def test_new_functions_refuse_bad_arguments_with_existing_codes(expr: str, code: str) -> None:
    from ruleengine.errors import RuleEngineError

    df = pd.DataFrame({c: [1.0, 2.0] for c in ("open", "high", "low", "close", "volume")},
                      index=pd.date_range("2024-01-01", periods=2))
    with pytest.raises(RuleEngineError) as exc:
        ruleengine.evaluate(expr, df)
    assert {d.code for d in exc.value.diagnostics} == {code}, expr  # ultosc: one C115 per pair out of order
    assert exc.value.diagnostics[0].span is not None  # placed in the expression


def test_bar_by_bar_math_takes_a_position_variable_and_a_window_does_not() -> None:
    from ruleengine.errors import RuleEngineError
    from ruleengine.lang.position import ELEMENTWISE_FUNCTIONS

    doc = {"name": "x", "data": {"prices": {"kind": "ohlcv"}}, "entry": ["close > open"],
           "exit": ["pow(unrealized_pct, 2) > 4 or where(bars_held > 3, sqrt(abs(unrealized_pct)), 0) > 1"]}
    program = ruleengine.compile_strategy(doc).exit_program()
    assert program is not None and program.variables == ("bars_held", "unrealized_pct")
    # every function that has a bar-by-bar value (a scalar) is elementwise, so an exit program can run it
    assert {f.name for f in FUNCTIONS.values() if f.scalar is not None} | {"where"} == set(ELEMENTWISE_FUNCTIONS)
    with pytest.raises(RuleEngineError) as exc:
        ruleengine.compile_strategy({**doc, "exit": ["ts_rank(unrealized_pct, 5) > 0.5"]})
    [d] = exc.value.diagnostics
    assert d.code == "L122" and "looks at past bars" in d.message and "sqrt" in (d.hint or "")


def test_hour_on_daily_bars_is_a_warning_of_the_data_request() -> None:
    doc = {"name": "x", "data": {"prices": {"kind": "ohlcv"}}, "entry": ["hour() >= 15"], "exit": ["minute() == 0"]}
    compiled = ruleengine.compile_strategy(doc)
    daily = compiled.data_request()
    assert [(d.code, d.severity) for d in daily.warnings] == [("L119", "warning"), ("L119", "warning")]
    assert not compiled.data_request({"execution_frequency": "5Min"}).warnings


def test_sar_takes_talibs_defaults_when_they_are_left_out(spy: pd.DataFrame) -> None:
    """Trailing arguments with a default (sar's acceleration 0.02 and maximum 0.2, TA-Lib's) are written in by
    the checker: the same node as the spelled-out call; fewer than the required arguments stay C103."""
    from ruleengine.errors import RuleEngineError

    full = ruleengine.evaluate("sar(high, low, 0.02, 0.2)", spy)
    pd.testing.assert_series_equal(ruleengine.evaluate("sar(high, low)", spy), full, check_names=False)
    pd.testing.assert_series_equal(ruleengine.evaluate("sar(high, low, 0.02)", spy), full, check_names=False)
    with pytest.raises(RuleEngineError) as exc:
        ruleengine.evaluate("sar(high)", spy)
    assert [d.code for d in exc.value.diagnostics] == ["C103"]


@pytest.mark.realdata
def test_month_end_is_known_on_the_last_bar_of_the_data(spy: pd.DataFrame) -> None:
    """The exchange calendar says which session ends a month before the next one exists: cut the data right
    after each month's last session and month_end() is already true on the last bar."""
    full = ruleengine.evaluate("month_end()", spy.iloc[:130]).to_numpy()
    ends = np.flatnonzero(full)
    assert len(ends) >= 5
    for i in ends:
        assert bool(ruleengine.evaluate("month_end()", spy.iloc[:i + 1]).iloc[-1]), spy.index[i]
