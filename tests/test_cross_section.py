"""Cross-sectional functions (issue 17 item 1): rank, percentile, cs_zscore, cs_mean, top, bottom.

Oracle: a hand-written pandas ranking (`DataFrame.rank(axis=1)` and row moments) on a small fixture with NaNs,
ties and a membership mask, and on real prices; truncation (a bar's value never changes when later bars are
removed); the sweep layout (each parameter set ranks its own block of symbols); C117 on one symbol.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ruleengine import compile_strategy
from ruleengine.compile.cross import CrossSection
from ruleengine.compile.execute import compute
from ruleengine.compile.ir import Graph, lower
from ruleengine.compile.plan import Plan, _schedule
from ruleengine.errors import RuleEngineError
from ruleengine.lang.check import Env, check_expression
from ruleengine.lang.parse import parse

LABELS = ["MSFT", "AAPL", "XOM", "BRK.B", "GE", "C"]  # not in name order: ties follow names, not columns


def _values(expr: str, close: np.ndarray, labels=LABELS, member=None, batch: bool = True) -> np.ndarray:
    """The value of `expr` over the (T, S) closes, through the planner and executor."""
    tree = parse(expr)
    _ty, diags = check_expression(tree, Env({"prices": ["close"]}, "prices"))
    assert not diags, diags
    graph = Graph()
    root = lower(tree, {}, graph)
    plan = Plan(graph, [{}], [(root, root)])
    _schedule(plan)
    t, s = close.shape
    xs = CrossSection.of(t, s, labels, member)
    return compute(plan, {("prices", "close"): np.asfortranarray(close)}, t, s, batch=batch, xs=xs)[root]


def _fixture(seed: int = 0, t: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, size=(t, len(LABELS))).astype(float)  # small integers: many ties
    x[rng.uniform(size=x.shape) < 0.15] = np.nan
    x[:3, 2] = np.nan  # a symbol still in its warm-up
    x[5] = np.nan  # a bar without any value
    x[6, 1:] = np.nan  # a bar with one value
    return x


def _oracle(name: str, df: pd.DataFrame, n: int = 2) -> pd.DataFrame:
    count = df.count(axis=1)
    if name == "rank":
        return df.rank(axis=1, ascending=False, method="average")
    if name == "percentile":
        pct = (df.rank(axis=1, method="average") - 1).div(count - 1, axis=0)
        return pct.where(count >= 2, np.nan)
    if name == "cs_mean":
        return df.notna().mul(1.0).where(df.notna()).mul(df.mean(axis=1), axis=0)
    if name == "cs_zscore":
        std = df.std(axis=1, ddof=0)
        z = df.sub(df.mean(axis=1), axis=0).div(std, axis=0)
        return z.where((count >= 2) & (std > 0), np.nan, axis=0)
    by_name = df[sorted(df.columns)]  # method="first" breaks ties by column order: here the name order
    ranks = by_name.rank(axis=1, ascending=(name == "bottom"), method="first")
    return (ranks <= n)[df.columns]


@pytest.mark.parametrize("name", ["rank", "percentile", "cs_mean", "cs_zscore", "top", "bottom"])
@pytest.mark.parametrize("batch", [True, False])
def test_matches_a_pandas_ranking_with_nans_ties_and_membership(name: str, batch: bool) -> None:
    x = _fixture()
    member = np.ones_like(x, dtype=bool)
    member[10:20, 0] = False  # MSFT leaves for a while
    member[:15, 4] = False  # GE joins late
    expr = f"{name}(close, 2)" if name in ("top", "bottom") else f"{name}(close)"
    got = _values(expr, x, member=member, batch=batch)
    df = pd.DataFrame(x, columns=LABELS).where(member)
    want = _oracle(name, df).to_numpy()
    if want.dtype == bool:
        assert got.dtype == bool and (got == want).all()
    else:
        np.testing.assert_allclose(got, want.astype(float), rtol=0, atol=1e-12, equal_nan=True)


def test_rank_one_is_the_largest_and_top_breaks_ties_by_name() -> None:
    x = np.array([[3.0, 5.0, 5.0, 1.0, 5.0, np.nan]])  # MSFT AAPL XOM BRK.B GE C
    assert _values("rank(close)", x).tolist() == [[4.0, 2.0, 2.0, 5.0, 2.0, pytest.approx(np.nan, nan_ok=True)]]
    # three tie at 5: AAPL < GE < XOM by name, so top 2 are AAPL and GE
    assert _values("top(close, 2)", x)[0].tolist() == [False, True, False, False, True, False]
    assert _values("bottom(close, 1)", x)[0].tolist() == [False, False, False, True, False, False]
    assert _values("top(close, 10)", x)[0].tolist() == [True, True, True, True, True, False]


@pytest.mark.parametrize("expr", ["rank(roc(close, 3))", "top(sma(close, 4), 2)", "cs_zscore(close)",
                                  "sma(rank(close), 3)"])
def test_a_bar_does_not_change_when_later_bars_are_removed(expr: str) -> None:
    x = 100 + np.cumsum(np.random.default_rng(3).normal(size=(60, len(LABELS))), axis=0)
    x[np.random.default_rng(4).uniform(size=x.shape) < 0.05] = np.nan
    full = _values(expr, x)
    for t in (10, 31, 59):
        head = _values(expr, x[:t])
        np.testing.assert_array_equal(head, full[:t])


def test_checker_marks_cross_sectional_series_and_nests_both_ways() -> None:
    env = Env({"prices": ["close"]}, "prices")
    for expr, cross in [("rank(close)", True), ("sma(rank(close), 5) < 3", True), ("rank(cs_zscore(close))", True),
                        ("sma(close, 5)", False), ("top(roc(close, 5), 3) and close > open", True)]:
        tree = parse(expr)
        ty, diags = check_expression(tree, Env({"prices": ["close", "open"]}, "prices"))
        assert not diags and ty.cross is cross, expr
    tree = parse("top(close, 0)")
    _ty, diags = check_expression(tree, env)
    assert [d.code for d in diags] == ["C106"]


ROTATE = {"name": "rank filter", "data": {"prices": {"kind": "ohlcv"}},
          "params": {"n": {"type": "int", "min": 1, "max": 5, "default": 2}},
          "entry": ["top(roc(close, 3), n)"], "exit": ["not top(roc(close, 3), n)"]}


def _frames(x: np.ndarray, labels=LABELS) -> pd.DataFrame:
    idx = pd.date_range("2024-01-01", periods=x.shape[0], freq="B")
    cols = pd.MultiIndex.from_product([labels, ["open", "high", "low", "close"]])
    data = np.repeat(x, 4, axis=1)
    return pd.DataFrame(data, index=idx, columns=cols)


@pytest.mark.parametrize("sets", [[1, 2, 3], list(range(1, 6)) * 2])  # the second builds a grid plan (>= 8)
def test_each_parameter_set_ranks_its_own_block_of_symbols(sets: list[int]) -> None:
    x = 100 + np.cumsum(np.random.default_rng(5).normal(size=(50, len(LABELS))), axis=0)
    compiled = compile_strategy(ROTATE)
    frames = _frames(x)
    many = compiled.signals(frames, [{"n": n} for n in sets])
    s = len(LABELS)
    for p, n in enumerate(sets):
        one = compiled.signals(frames, {"n": n})
        assert (many.entries[:, p * s:(p + 1) * s] == one.entries).all()
        assert (many.exits[:, p * s:(p + 1) * s] == one.exits).all()
        assert (one.entries[3:].sum(axis=1) == n).all()  # exactly n held candidates after the warm-up


def test_one_symbol_is_an_error_that_points_at_the_call() -> None:
    compiled = compile_strategy(ROTATE)
    with pytest.raises(RuleEngineError) as err:
        compiled.signals(_frames(np.arange(20.0)[:, None] + 1, ["SPY"]), {"n": 1})
    d = err.value.diagnostics[0]
    assert d.code == "C117" and d.path == "entry[0]" and "universe" in (d.hint or "")


def test_threads_never_split_a_cross_section() -> None:
    x = 100 + np.cumsum(np.random.default_rng(6).normal(size=(30, 130)), axis=0)
    compiled = compile_strategy(ROTATE)
    inputs = {("prices", c): np.asfortranarray(x) for c in ("open", "high", "low", "close")}
    one, *_ = compiled.group_arrays(inputs, 30, 130, {"n": 3}, threads=1)
    many, *_ = compiled.group_arrays(inputs, 30, 130, {"n": 3}, threads=2)
    assert (one[0] == many[0]).all() and (one[0][3:].sum(axis=1) == 3).all()


@pytest.mark.realdata
def test_real_prices_match_the_pandas_ranking(daily_prices) -> None:
    syms = ["AAPL", "MSFT", "XOM", "JNJ", "JPM", "PG", "GE", "KO", "PFE", "WMT", "INTC", "CSCO", "ORCL", "MRK",
            "CVX", "T", "VZ", "HD", "DIS", "MCD"]
    px = daily_prices[daily_prices.symbol.isin(syms)]
    wide = px.pivot(index="date", columns="symbol", values="close").iloc[-300:]
    assert wide.shape[1] >= 15
    labels = list(wide.columns)
    close = wide.to_numpy()
    roc = _values("roc(close, 20)", close, labels)
    df = pd.DataFrame(roc, columns=labels)
    for name in ("rank", "percentile", "cs_zscore", "top"):
        got = _values(f"{name}(roc(close, 20), 5)" if name == "top" else f"{name}(roc(close, 20))", close, labels)
        want = _oracle(name, df, 5).to_numpy()
        if name == "top":
            assert (got == want).all()
        else:
            np.testing.assert_allclose(got, want.astype(float), rtol=1e-12, atol=1e-12, equal_nan=True)
