"""The compiler end to end: shared subexpressions, warm-up, signals equal to a pandas/TA-Lib reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.paths import rotation_rule
from support.reference import reference_signals

import ruleengine
from ruleengine.errors import RuleEngineError

RULES = sorted(p for p in (Path(__file__).resolve().parents[1] / "rules").glob("*.yaml")
               if not p.stem.startswith("code_")  # code strategies: tests/test_sandbox_run.py
               and not rotation_rule(p))  # one-symbol signals do not apply to a rotation: tests/test_rotation.py


def synthetic_ohlcv(n: int = 600, seed: int = 0, start: str = "2015-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    vol = rng.integers(1_000_000, 5_000_000, n).astype(float)
    idx = pd.bdate_range(start, periods=n)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": vol}, index=idx)


def frames_for(strategy: ruleengine.TradingStrategy, prices: pd.DataFrame, seed: int = 1) -> dict[str, pd.DataFrame]:
    """Data for every slot on the price index: real prices for ohlcv slots, deterministic others."""
    rng = np.random.default_rng(seed)
    out: dict[str, pd.DataFrame] = {}
    first_ohlcv = True
    for name, slot in strategy.data.items():
        if slot.kind == "ohlcv":
            out[name] = prices if first_ohlcv else prices * np.exp(
                np.cumsum(rng.normal(0, 0.01, len(prices))))[:, None]
            first_ohlcv = False
        else:
            cols = slot.available_columns()
            step = rng.normal(0, 1, (len(prices), len(cols))).cumsum(axis=0) / 10 + 2
            sparse = rng.uniform(0, 1, (len(prices), len(cols))) < 0.05
            values = np.where(sparse, np.abs(step) * 200_000, 0.0) if slot.kind == "insider_trades" else step
            out[name] = pd.DataFrame(values, index=prices.index, columns=cols)
    return out


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.stem)
def test_every_rule_loads_compiles_and_matches_reference(path: Path) -> None:
    compiled = ruleengine.compile_strategy(str(path))
    prices = synthetic_ohlcv(700)
    frames = frames_for(compiled.strategy, prices)
    sig = compiled.signals(frames).to_pandas()
    entries, exits = sig.entries, sig.exits
    ref_e, ref_x, unsure = reference_signals(compiled, frames, {})
    assert entries.index.equals(prices.index) and entries.dtype == bool
    sure = ~unsure
    pd.testing.assert_series_equal(entries[sure], ref_e[sure], check_names=False)
    pd.testing.assert_series_equal(exits[sure], ref_x[sure], check_names=False)


@pytest.mark.realdata
@pytest.mark.parametrize("symbol", ["SPY", "AAPL", "XOM"])
@pytest.mark.parametrize("path", RULES, ids=lambda p: p.stem)
def test_rules_on_real_data_match_reference(path: Path, symbol: str, ohlcv_of) -> None:
    compiled = ruleengine.compile_strategy(str(path))
    prices = ohlcv_of(symbol)
    frames = frames_for(compiled.strategy, prices)
    sig = compiled.signals(frames).to_pandas()
    entries, exits = sig.entries, sig.exits
    ref_e, ref_x, unsure = reference_signals(compiled, frames, {})
    sure = ~unsure
    assert (entries[sure] == ref_e[sure]).all()
    assert (exits[sure] == ref_x[sure]).all()


def test_grid_computes_each_distinct_window_once() -> None:
    compiled = ruleengine.compile_strategy(str(RULES[0].parent / "golden_cross.yaml"))
    fast = list(range(5, 55))
    slow = list(range(60, 260, 10))
    sets = [{"fast": f, "slow": s} for f in fast for s in slow][:1000]
    plan = compiled.plan(sets)
    assert len(plan.roots) == 1000
    distinct = {s["fast"] for s in sets} | {s["slow"] for s in sets}
    assert plan.count_calls("sma") == len(distinct)
    assert plan.count_calls("rsi") == 1  # shared by every parameter set


def test_entry_and_exit_share_subexpressions() -> None:
    compiled = ruleengine.compile_strategy(str(RULES[0].parent / "golden_cross.yaml"))
    plan = compiled.plan()
    assert plan.count_calls("sma") == 2  # sma(close, fast) and sma(close, slow) for entry AND exit


def test_structured_and_expression_forms_compile_to_the_same_plan() -> None:
    base = "name: t\ndata: {prices: {kind: ohlcv}}\nparams: {lo: {type: float, default: 30, min: 0, max: 100}}\n"
    a = ruleengine.compile_strategy(base + "entry:\n  - rsi(close, 14) < lo\n  - close >= 20 and close <= 80\n"
                                    "  - crosses_above(close, sma(close, 5))\n")
    b = ruleengine.compile_strategy(base + "entry:\n  - {field: 'rsi(close, 14)', operator: lt, value: lo}\n"
                                    "  - {field: close, operator: between, value: [20, 80]}\n"
                                    "  - {field: close, operator: crosses_above, value: 'sma(close, 5)'}\n")
    df = synthetic_ohlcv(300)
    ea = a.signals(df).to_pandas().entries
    eb = b.signals(df).to_pandas().entries
    pd.testing.assert_series_equal(ea, eb)
    assert [a.plan().graph.describe(r) for r in a.plan().roots[0]] == \
        [b.plan().graph.describe(r) for r in b.plan().roots[0]]


def test_in_and_neq_operators() -> None:
    s = "name: t\ndata: {prices: {}}\nentry:\n  - {field: 'count(close > open, 3)', operator: in, value: [0, 3]}\n" \
        "  - {field: 'rising(close, 2)', operator: neq, value: true}\n"
    df = synthetic_ohlcv(200)
    e = ruleengine.compile_strategy(s).signals(df).to_pandas().entries
    up = (df.close > df.open).astype(float).rolling(3).sum()
    rising = (df.close.diff() > 0).astype(float).rolling(2).sum() == 2
    expected = ((up == 0) | (up == 3)) & ~rising
    expected.iloc[:2] = False
    assert (e == expected).all()


def test_warmup_is_derived_from_the_longest_path() -> None:
    s = ruleengine.compile_strategy(
        "name: t\ndata: {prices: {}}\nentry:\n  - sma(rsi(close, 14), 5) > 50\n"
        "  - crosses_above(close, sma(close, 20))\n")
    assert s.warmup() == 19 + 1  # sma(close, 20) starts at bar 19; crosses also needs the bar before
    s2 = ruleengine.compile_strategy("name: t\ndata: {prices: {}}\nentry:\n  - sma(rsi(close, 14), 30) > 50\n")
    assert s2.warmup() == 14 + 29
    assert s2.converge_bars() > s2.warmup()  # Wilder's RSI needs more history to converge


def test_warmup_bars_are_never_true() -> None:
    s = ruleengine.compile_strategy("name: t\ndata: {prices: {}}\nentry:\n  - not (close > sma(close, 50))\n")
    e = s.signals(synthetic_ohlcv(200)).to_pandas().entries
    assert not e.iloc[:49].any() and e.iloc[49:].any()


def test_param_grid_columns_and_values() -> None:
    compiled = ruleengine.compile_strategy(str(RULES[0].parent / "golden_cross.yaml"))
    df = synthetic_ohlcv(500)
    e = compiled.signals(df, {"fast": [5, 10], "slow": [20, 30, 40]}).to_pandas().entries
    assert isinstance(e.columns, pd.MultiIndex) and list(e.columns.names) == ["fast", "slow"]
    assert e.shape == (500, 6)
    single = compiled.signals(df, {"fast": 10, "slow": 30}).to_pandas().entries
    pd.testing.assert_series_equal(e[(10, 30)], single, check_names=False)


def test_multi_symbol_columns() -> None:
    compiled = ruleengine.compile_strategy(str(RULES[0].parent / "rsi_mean_reversion.yaml"))
    a, b = synthetic_ohlcv(400, seed=1), synthetic_ohlcv(400, seed=2)
    wide = pd.concat({"AAA": a, "BBB": b}, axis=1)
    e = compiled.signals(wide).to_pandas().entries
    assert list(e.columns) == ["AAA", "BBB"]
    ea = compiled.signals(a).to_pandas().entries
    eb = compiled.signals(b).to_pandas().entries
    assert (e["AAA"] == ea).all() and (e["BBB"] == eb).all()


def test_slots_are_aligned_as_of_without_lookahead() -> None:
    s = ruleengine.compile_strategy(str(RULES[0].parent / "pe_ratio_earnings.yaml"))
    prices = synthetic_ohlcv(300)
    dates = prices.index[[10, 70, 130, 190, 250]] + pd.Timedelta(hours=12)  # announced after the close
    earnings = pd.DataFrame({"eps": [1.0, 1.2, -0.5, 1.5, 2.0], "estimated_eps": [0.9, 1.3, 0.1, 1.0, 1.0]},
                            index=dates)
    sig = s.signals({"prices": prices, "earnings": earnings}).to_pandas()
    e, x = sig.entries, sig.exits
    # visible only from the bar after each announcement: nothing can happen before bar 11
    assert not e.iloc[:11].any() and not x.iloc[:11].any()


def test_evaluate_matches_pandas() -> None:
    df = synthetic_ohlcv(100)
    got = ruleengine.evaluate("sma(close, 5) / close[1]", df)
    expected = df.close.rolling(5).mean() / df.close.shift(1)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)
    flag = ruleengine.evaluate("close > sma(close, n)", df, {"n": 10})
    assert flag.dtype == bool and (flag == (df.close > df.close.rolling(10).mean())).all()


@pytest.mark.parametrize("bad, code", [
    ({"prices": pd.DataFrame()}, "D106"),
    ({"pricez": None}, "D101"),
    ({"prices": pd.DataFrame({"close": [1.0, 2.0]})}, "D105"),
    ({"prices": pd.DataFrame({"open": [1.0]}, index=pd.to_datetime(["2020-01-01"]))}, "D102"),
    ("not data", "D101"),
])
def test_bad_data_gives_diagnostics(bad, code) -> None:
    s = ruleengine.compile_strategy("name: t\ndata: {prices: {}}\nentry:\n  - close > 1\n")
    with pytest.raises(RuleEngineError) as err:
        s.signals(bad)
    assert err.value.diagnostics[0].code == code


@pytest.mark.parametrize("params, code", [
    ({"fast": 1}, "D103"), ({"fast": 2.5}, "D103"), ({"fastt": 3}, "D104"), ({"fast": "x"}, "D103"),
    ({"execution_price": "mid"}, "D103"),
])
def test_bad_params_give_diagnostics(params, code) -> None:
    s = ruleengine.compile_strategy(str(RULES[0].parent / "golden_cross.yaml"))
    with pytest.raises(RuleEngineError) as err:
        s.signals(synthetic_ohlcv(50), params)
    assert err.value.diagnostics[0].code == code


def test_window_from_parameter_expression_checked_at_run_time() -> None:
    s = ruleengine.compile_strategy(
        "name: t\ndata: {prices: {}}\nparams: {n: {type: int, default: 5}}\nentry:\n  - close > sma(close, n - 5)\n")
    with pytest.raises(RuleEngineError) as err:
        s.signals(synthetic_ohlcv(50))
    assert err.value.diagnostics[0].code == "D103"
    e = s.signals(synthetic_ohlcv(50), {"n": 10}).to_pandas().entries
    assert e.dtype == bool


def test_code_strategy_is_not_rule_compiled() -> None:
    """A `code:` document compiles to the sandbox-backed strategy (no rule plan); a forbidden import is a
    static-check error with its line."""
    from ruleengine.sandbox.strategy import CodeStrategy

    compiled = ruleengine.compile_strategy(
        "name: t\ndata: {prices: {}}\ncode: 'def generate_signals(data, params): ...'\n")
    assert isinstance(compiled, CodeStrategy) and not compiled.runs_in_process
    with pytest.raises(RuleEngineError) as err:
        ruleengine.compile_strategy({"name": "t", "data": {"prices": {}},
                                     "code": "import os\ndef generate_signals(data, params):\n    return 1, 2\n"})
    assert err.value.diagnostics[0].code.startswith("X1")


@pytest.mark.parametrize("n_symbols", [1, 3])
def test_batched_execution_equals_node_by_node(n_symbols: int) -> None:
    """Stacking the nodes of a level into one kernel call changes nothing but the speed."""
    from ruleengine.compile.execute import compute

    compiled = ruleengine.compile_strategy(str(RULES[0].parent / "golden_cross.yaml"))
    sets = [{"fast": f, "slow": s, "rsi_max": r} for f in (5, 8, 13) for s in (20, 50, 90) for r in (60.0, 70.0)]
    plan = compiled.node_plan(sets)  # the set-by-set plan (a grid this size gets a template-built one)
    rng = np.random.default_rng(5)
    close = np.asfortranarray(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (400, n_symbols)), axis=0)))
    close[[3, 100, 101], 0] = np.nan
    inputs = {("prices", "close"): close}
    batched = compute(plan, inputs, 400, n_symbols, batch=True)
    single = compute(plan, inputs, 400, n_symbols, batch=False)
    for e, x in plan.roots:
        np.testing.assert_array_equal(batched[e], single[e])
        np.testing.assert_array_equal(batched[x], single[x])
    entries, _exits, _ = compiled.signals_arrays(inputs, 400, n_symbols, sets)
    assert entries.shape == (400, len(sets) * n_symbols) and entries.flags.f_contiguous
    for k, (e, _x) in enumerate(plan.roots):
        warm = plan.warmup(k)
        block = entries[:, k * n_symbols:(k + 1) * n_symbols]
        assert not block[:warm].any()
        np.testing.assert_array_equal(block[warm:], single[e][warm:])


def test_multi_symbol_binding_checks_every_symbol_and_accepts_capitalised_columns() -> None:
    compiled = ruleengine.compile_strategy(str(RULES[0].parent / "rsi_mean_reversion.yaml"))
    a, b = synthetic_ohlcv(300, seed=1), synthetic_ohlcv(300, seed=2)
    wide = pd.concat({"AAA": a.rename(columns=str.title), "BBB": b.rename(columns=str.title)}, axis=1)
    e = compiled.signals(wide).to_pandas().entries
    ea = compiled.signals(a).to_pandas().entries
    assert (e["AAA"] == ea).all()
    broken = pd.concat({"AAA": a, "BBB": b.drop(columns=["close"])}, axis=1)
    with pytest.raises(RuleEngineError) as err:
        compiled.signals(broken)
    d = err.value.diagnostics[0]
    assert d.code == "D102" and "BBB" in d.message
