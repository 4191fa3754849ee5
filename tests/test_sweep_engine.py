"""The sweep engine: fused-kernel metrics equal `ruleengine.backtest()`'s, chunking, ranking, errors."""
from __future__ import annotations

import json
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support.paths import rotation_rule

from ruleengine import compile_strategy, load_strategy
from ruleengine.backtest.metrics import compute_metrics
from ruleengine.backtest.risk import DISTANCE_OF, RiskSpec
from ruleengine.backtest.simulation import risk_arrays
from ruleengine.errors import RuleEngineError
from ruleengine.kernels import sweep_sim as K
from ruleengine.strategies import load_data
from ruleengine.sweep.grid import default_grid
from ruleengine.sweep.run import evaluate_chunk, run_rows, sweep
from ruleengine.sweep.stats import METRICS, SIDE_FIELDS, SIDE_METRICS, metrics_arrays

RULES = Path(__file__).resolve().parents[1] / "rules"
RANGE = ("2012-01-01", "2016-12-31")
#: risk settings checked on every rule: the document's risk; stops swept (each on and off); open fills with
#: fees, slippage, a bar limit, a swept day limit and swept position sizes
RISK_CASES = {
    "document": ({}, {}),
    "stops": ({"stop_loss_pct": [None, 3.0], "take_profit_pct": [None, 6.0], "trailing_stop_pct": [None, 4.0]},
              {"max_hold_days": None}),
    "open_fees_hold": ({"max_hold_days": [None, 10], "position_size_pct": [50.0, 100.0]},
                       {"execution_price": "open", "fees_pct": 0.2, "slippage_pct": 0.05, "max_hold_bars": 7}),
}


def _symbols(rule: Path) -> str:
    return "asset_a=GLD,asset_b=SLV" if "pairs" in rule.name else "AAPL"


def assert_same_metrics(row: pd.Series, metrics: object, where: str) -> None:
    """Every metric of a sweep table row equals the backtest's: 1e-9 relative (counts exactly)."""
    for name in METRICS:
        want, got = getattr(metrics, name), row[name]
        if want is None:
            assert isinstance(got, float) and math.isnan(got), (where, name, got)
        elif name in ("total_trades", "winning_trades", "losing_trades"):
            assert int(got) == want, (where, name, got, want)
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (where, name, got, want)


def assert_same_sides(row: pd.Series, run: Any, where: str) -> None:
    """The long/short columns of a sweep row equal the backtest's `sides`: counts exactly, the win rate to
    1e-9 relative, the pnl (a sum: summed in another order) to 1e-9 relative or a millionth of money."""
    sides = run.sides
    assert sides is not None, where
    for column, name in SIDE_FIELDS:
        want, got = getattr(sides[column.split("_")[0]], name), row[column]
        if want is None:
            assert isinstance(got, float) and math.isnan(got), (where, column, got)
        elif name == "total_trades":
            assert int(got) == want, (where, column, got, want)
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-6), (where, column, got, want)


# --------------------------------------------------------------------------------- parity with backtest()
@pytest.mark.parametrize("rule", sorted(p for p in RULES.glob("*.yaml") if not p.stem.startswith("code_")
                                         and not rotation_rule(p)),  # rotations: tests/test_rotation_sweep.py
                         ids=lambda p: p.stem)  # code strategies: tests/test_sandbox_run.py
def test_sweep_metrics_equal_backtest_on_every_rule(rule: Path) -> None:
    """Sampled combinations of each rule under three risk settings, re-run through ruleengine.backtest()."""
    traded = 0
    doc_risk = load_strategy(str(rule)).risk
    for case, (risk_axes, fixed) in RISK_CASES.items():
        # a percent exit the document gives as a distance is refused (D103; tested in test_exits.py)
        axes = {k: v for k, v in risk_axes.items() if getattr(doc_risk, DISTANCE_OF.get(k, ""), None) is None}
        grid = {**default_grid(str(rule), points=3), **axes}
        res = sweep(str(rule), _symbols(rule), *RANGE, provider="sample", grid=grid, params=fixed, samples=3,
                    seed=zlib.crc32(f"{rule.stem}/{case}".encode()))
        assert res.n_trials == 3 and len(res.table) == 3
        for rank in (1, 2, 3):
            run = res.detail(rank, benchmark=None).results[0]
            row = res.table.iloc[rank - 1]
            assert run.params == {**run.params, **{k: v for k, v in res.params_of(rank).items()
                                                   if k in run.params}}
            assert_same_metrics(row, run.metrics, f"{rule.stem}/{case}/rank {rank}")
            if run.sides is None:  # a long strategy: its table as before shorts existed
                assert not set(SIDE_METRICS) & set(res.table.columns)
            else:
                assert_same_sides(row, run, f"{rule.stem}/{case}/rank {rank}")
            traded += run.metrics.total_trades
    assert traded > 0, f"{rule.stem}: no sampled combination traded; the check would be vacuous"


@pytest.mark.realdata
def test_golden_cross_grid_equals_the_engine_on_every_combination(shared_data: Path) -> None:
    """The issue's workload: 1,590 (fast, slow) pairs on SPY x 2,520 bars, SL 5 %, TP 10 %, fees 0.1 %."""
    from ruleengine.backtest.simulation import simulate

    fixed = {"stop_loss_pct": 5, "take_profit_pct": 10, "max_hold_days": None, "fees_pct": 0.1}
    res = sweep(str(RULES / "golden_cross.yaml"), "SPY", "2007-12-27", "2017-12-29", data=str(shared_data),
                grid=["fast=5:50", "slow=20:200:5"], constraints=["fast < slow"], params=fixed)
    assert res.n_trials == 1590 and res.n_symbols == 1
    compiled = compile_strategy(str(RULES / "golden_cross.yaml"))
    md = load_data(compiled, "SPY", "2007-12-27", "2017-12-29", data=str(shared_data),
                          warmup_bars=res.context["history"])  # the sweep's history: identical signals
    sets = res.combinations
    sig = compiled.signals(md, sets)
    entries, exits = sig.entries, sig.exits
    prices = {c: np.asfortranarray(np.tile(md.inputs[("prices", c)], (1, len(sets))))
              for c in ("open", "high", "low", "close")}
    risk = RiskSpec(stop_loss_pct=5.0, take_profit_pct=10.0, position_size_pct=100.0, fees_pct=0.1,
                    slippage_pct=0.0, execution_price="close")
    sim = simulate(prices, entries, exits, md.index, risk, start=md.start)
    (lo,), (hi,) = run_rows(md.inputs[("prices", "close")], md.start, md.n_rows)
    assert hi - lo == 2520
    by_combo = res.table.set_index("combination")
    counts = sim.trades.groupby("column").size()
    for col in range(0, len(sets), 7):  # every 7th combination: ~230 full metric sets
        trades = sim.trades[sim.trades["column"] == col]
        m = compute_metrics(sim.equity[lo:hi, col], trades, init_cash=10_000.0, index=md.index[lo:hi],
                            position=sim.position[lo:hi, col])
        assert_same_metrics(by_combo.loc[col], m, f"combination {sets[col]}")
    assert (by_combo.sort_index()["total_trades"].to_numpy() == counts.reindex(range(len(sets)), fill_value=0)
            .to_numpy()).all()
    top = res.detail(1, benchmark=None).results[0]
    assert_same_metrics(res.table.iloc[0], top.metrics, "rank 1")


@pytest.mark.realdata
def test_universe_rows_use_each_symbols_own_bars(shared_data: Path) -> None:
    """SPY and AAPL (listed in the file from 2012-12-06): AAPL's run starts at its first bar, as backtest()."""
    res = sweep(str(RULES / "rsi_mean_reversion.yaml"), "SPY,AAPL", "2011-01-03", "2017-12-29",
                data=str(shared_data), grid={"rsi_window": [5, 14], "oversold": [25.0, 35.0]}, metric="total_return_pct")
    assert res.n_symbols == 2 and len(res.table) == 8
    assert set(res.table["symbol"]) == {"SPY", "AAPL"}
    for rank in range(1, 9):
        run = res.detail(rank, benchmark=None).results[0]
        assert run.label.startswith(res.table.iloc[rank - 1]["symbol"])
        assert_same_metrics(res.table.iloc[rank - 1], run.metrics, f"rank {rank}")
    avg = res.by_combination
    assert len(avg) == 4 and list(avg["rank"]) == [1, 2, 3, 4]
    mean0 = res.table[res.table["combination"] == avg["combination"].iloc[0]]["total_return_pct"].mean()
    assert avg["total_return_pct"].iloc[0] == pytest.approx(mean0, rel=1e-12)
    assert avg["total_return_pct"].is_monotonic_decreasing
    assert res.best == res.combinations[int(avg["combination"].iloc[0])]


# --------------------------------------------------------------------------------- the kernel by hand
def test_kernel_accumulators_by_hand() -> None:
    """Two columns of one symbol: no stop (two winning trades, the second open at the end) and a 5 % stop."""
    close = np.array([[10.0, 11.0, 12.0, 9.0, 10.0, 12.0]])
    low = close.copy()
    low[0, 1] = 9.4  # column 1's stop at 9.5 is inside bar 1
    entries = np.array([[True, False, False, True, False, False]])
    exits = np.array([[False, False, True, False, False, False]])
    times = (np.arange(6, dtype=np.int64) + 1) * 86_400_000_000_000
    base = {"position_size_pct": 100.0, "fees_pct": 0.0, "slippage_pct": 0.0, "execution_price": "close"}
    risk = risk_arrays([RiskSpec(**base), RiskSpec(stop_loss_pct=5.0, **base)])
    out = np.empty((2, K.N_STATS))
    no_short = np.zeros((0, 6), dtype=np.bool_)
    K.sweep_nb(close, close, low, close, entries, exits, no_short, no_short, np.zeros((0, 1, 6)),
               np.zeros(0, dtype=np.int64), np.zeros(0), times,
               np.array([0]), np.array([6]),
               np.array([0, 0]), np.array([0, 0]), risk, 1000.0, out, 0, 2)
    a, b = out
    # column 0: buy 100 @ 10, sell @ 12 (pnl 200, 20 %); buy 133.33 @ 9, marked at 12 (pnl 400, 33.3 %)
    assert a[K.FINAL] == pytest.approx(1600.0, rel=1e-15)
    assert (a[K.TRADES], a[K.WINS], a[K.LOSSES]) == (2, 2, 0)
    assert a[K.GROSS_PROFIT] == pytest.approx(600.0) and a[K.GROSS_LOSS] == 0
    assert a[K.BEST_PCT] == pytest.approx(100 / 3) and a[K.WORST_PCT] == pytest.approx(20.0)
    assert (a[K.HOLD_BARS], a[K.HOLD_DAYS], a[K.BARS], a[K.IN_MARKET], a[K.N_RET]) == (4, 4, 6, 5, 6)
    r = np.array([0.0, 0.1, 1200 / 1100 - 1, 0.0, 10 / 9 - 1, 0.2])  # equity 1000 1100 1200 1200 1333.3 1600
    assert a[K.RET_SUM] == pytest.approx(r.sum(), rel=1e-12) and a[K.RET_SQ] == pytest.approx((r ** 2).sum(), rel=1e-12)
    assert a[K.NEG_SQ] == 0 and a[K.MAX_DD] == 0
    # column 1: stopped out at 9.5 on bar 1 (pnl -50, -5 %); buy 105.56 @ 9 on bar 3, marked at 12
    assert b[K.FINAL] == pytest.approx(950 / 9 * 12, rel=1e-15)
    assert (b[K.TRADES], b[K.WINS], b[K.LOSSES]) == (2, 1, 1)
    assert b[K.GROSS_LOSS] == pytest.approx(-50.0) and b[K.LOSS_PCT] == pytest.approx(-5.0)
    assert b[K.MAX_DD] == pytest.approx(0.05) and b[K.NEG_SQ] == pytest.approx(0.05 ** 2)
    assert (b[K.HOLD_BARS], b[K.IN_MARKET]) == (1 + 2, 4)
    m = metrics_arrays(out, 1000.0, 252)
    assert m["total_return_pct"].tolist() == pytest.approx([60.0, (950 / 9 * 12 / 1000 - 1) * 100])
    assert m["win_rate"].tolist() == [100.0, 50.0]
    assert math.isnan(m["profit_factor"][0]) and m["profit_factor"][1] == pytest.approx((950 / 9 * 12 - 950) / 50)
    assert math.isnan(m["calmar_ratio"][0]) and m["max_drawdown_pct"][1] == pytest.approx(5.0)
    assert m["exposure_pct"].tolist() == pytest.approx([500 / 6, 400 / 6])
    assert m["sharpe_ratio"][0] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252), rel=1e-12)
    assert math.isnan(m["sortino_ratio"][0])  # no downside
    assert m["total_trades"].dtype == np.int64


# --------------------------------------------------------------------------------- chunks, data, sharing
@pytest.fixture(scope="module")
def donchian() -> tuple[object, object]:
    compiled = compile_strategy(str(RULES / "donchian_breakout.yaml"))
    md = load_data(compiled, "MSFT,XOM", *RANGE, provider="sample", warmup_bars=120)
    return compiled, md


def test_chunks_threads_and_market_give_the_same_table(donchian) -> None:
    compiled, md = donchian
    kwargs = {"grid": {"entry_window": [10, 20, 40], "exit_window": [5, 10], "stop_loss_pct": [None, 4.0]},
              "metric": "total_return_pct"}
    one = sweep(compiled, market=md, threads=1, **kwargs)
    many = sweep(compiled, market=md, threads=2, chunk_size=1, **kwargs)
    loaded = sweep(compiled, "MSFT,XOM", *RANGE, provider="sample", threads=2, chunk_size=2, **kwargs)
    assert len(one.table) == 24 and one.n_trials == 12
    pd.testing.assert_frame_equal(one.table, many.table)
    # loading picks its own warm-up history: windowed indicators give the same signals, hence the same rows
    pd.testing.assert_frame_equal(one.table, loaded.table)
    assert one.context["start"] == "2012-01-03" and one.context["end"] == "2016-12-30"


def test_risk_values_share_one_signal_column(donchian) -> None:
    compiled, md = donchian
    combos = [{"entry_window": w, "stop_loss_pct": s} for w in (10, 30) for s in (None, 2.0, 5.0)]
    stats = evaluate_chunk(compiled, md, combos)
    plan = list(compiled.__dict__["_plans"].values())[-1]
    assert len(plan.param_sets) == 2  # 6 combinations, 2 signal sets
    assert stats.shape == (12, K.N_STATS)
    alone = evaluate_chunk(compiled, md, [combos[4]], columns=[1])
    np.testing.assert_array_equal(alone[0], stats[4 * 2 + 1])  # combination-major, column-minor


def test_a_row_range_equals_a_backtest_of_those_dates(donchian) -> None:
    """evaluate_chunk on rows [r0, r1) (a walk-forward window) = backtest() from date r0 to date r1 - 1."""
    from ruleengine import backtest

    compiled, md = donchian
    r0, r1 = md.start + 250, md.start + 750
    combo = {"entry_window": 20, "exit_window": 10, "trailing_stop_pct": 6.0}
    stats = evaluate_chunk(compiled, md, [combo], start_row=r0, end_row=r1)
    m = metrics_arrays(stats, 10_000.0, 252)
    for j, symbol in enumerate(("MSFT", "XOM")):
        run = backtest(compiled, symbol, md.index[r0].strftime("%Y-%m-%d"), md.index[r1 - 1].strftime("%Y-%m-%d"),
                       params=combo, provider="sample", benchmark=None).results[0]
        assert run.data.bars == r1 - r0
        assert_same_metrics(pd.Series({k: v[j] for k, v in m.items()}), run.metrics, symbol)


# --------------------------------------------------------------------------------- result, ranking, output
def test_ranking_json_and_defaults() -> None:
    rule = str(RULES / "momentum_threshold.yaml")
    res = sweep(rule, "AAPL", *RANGE, provider="sample", metric="max_drawdown_pct", top=5,
                params={"threshold": 0.05})
    assert res.grid == {"lookback": default_grid(rule)["lookback"]}  # fixed values leave the default grid
    assert res.n_trials == 10 and res.best["threshold"] == 0.05
    dd = res.table["max_drawdown_pct"].to_numpy()
    assert (np.diff(dd) >= 0).all() and list(res.table["rank"]) == list(range(1, 11))  # lowest drawdown first
    doc = json.loads(res.to_json())
    assert doc["success"] and doc["order"] == "ascending" and len(doc["rows"]) == 5
    assert doc["best"] == res.params_of(1) and doc["n_trials"] == 10
    assert any(w["code"] == "D120" for w in doc["warnings"])  # synthetic data is said
    quiet = sweep(rule, "AAPL", *RANGE, provider="sample", grid={"threshold": [0.05, 0.99]}, metric="sharpe_ratio")
    assert quiet.table["total_trades"].tolist()[-1] == 0 and math.isnan(quiet.table["sharpe_ratio"].iloc[-1])
    assert json.loads(quiet.to_json())["rows"][-1]["sharpe_ratio"] is None  # undefined ranks last, null in JSON


@pytest.mark.parametrize(("kwargs", "code", "words"), [
    ({"metric": "sharpe"}, "D122", "unknown metric 'sharpe'"),
    ({"grid": ["fast=1:10"]}, "D103", "outside its bounds"),
    ({"grid": ["fast=5:10:abc"]}, "D103", "step of 'fast' must be a number"),
    ({"grid": ["fast=50:60", "slow=20:30"], "constraints": ["fast < slow"]}, "D122", "no combination"),
    ({"grid": ["fast=5,10"], "params": {"fast": 20}}, "D103", "both swept and fixed"),
    ({"grid": ["execution_frequency=1Day,1Week"]}, "D103", "one value in a sweep"),
    ({"params": {"slow": [50, 100]}}, "D103", "several values"),
    ({"params": {"sloww": 50}}, "D104", "unknown parameter 'sloww'"),
    ({"top": 0}, "D122", "top must be"),
    ({"chunk_size": -1}, "D122", "chunk_size"),
])
def test_bad_input_is_a_diagnostic_with_a_hint(kwargs, code, words) -> None:
    with pytest.raises(RuleEngineError) as info:
        sweep(str(RULES / "golden_cross.yaml"), "AAPL", *RANGE, provider="sample", **kwargs)
    d = info.value.diagnostics[0]
    assert d.code == code and words in d.message, (d.code, d.message)
    assert d.hint
    if kwargs.get("metric"):
        assert "sharpe_ratio" in d.hint


def test_rows_runner_and_progress(donchian) -> None:
    """A row range (a walk-forward window), a runner that splits the symbols, and the progress callback."""
    compiled, md = donchian
    grid = {"entry_window": [10, 20, 40], "exit_window": [5, 10]}
    r0, r1 = md.start + 100, md.start + 600
    calls: list[tuple[int, int, str]] = []
    full = sweep(compiled, market=md, grid=grid, rows=(r0, r1), threads=1, chunk_size=2,
                 progress=lambda *a: calls.append(a))
    assert calls[0] == (0, 0, "loading data") and calls[-1] == (3, 3, "done") and len(calls) == 6
    assert calls[1][2].startswith(f"6 combinations x {md.n_cols} runs: results ~0 MB (limit")  # the estimate, up front
    assert full.context["start"] == md.index[r0].strftime("%Y-%m-%d")
    assert full.context["end"] == md.index[r1 - 1].strftime("%Y-%m-%d")

    def by_symbol(job, chunks):  # what an executor splitting symbols and parameters does
        for chunk in chunks:
            parts = [job.run(chunk, columns=[c]) for c in job.columns]
            yield np.stack(parts, axis=1).reshape(len(chunk) * len(job.columns), -1)

    split = sweep(compiled, market=md, grid=grid, rows=(r0, r1), runner=by_symbol, chunk_size=4)
    pd.testing.assert_frame_equal(full.table, split.table)
    run = full.detail(1, benchmark=None).results[0]
    assert run.data.bars == r1 - r0
    assert_same_metrics(full.table.iloc[0], run.metrics, "rank 1 of the window")
    with pytest.raises(RuleEngineError) as info:
        sweep(compiled, market=md, grid=grid, rows=(r1, r0))
    assert info.value.diagnostics[0].code == "D122" and "rows must be" in info.value.diagnostics[0].message


def test_a_chunk_error_is_a_diagnostic_through_the_thread_pool() -> None:
    """Windows given by parameter expressions are checked when a chunk's plan is built (D103)."""
    doc = {"name": "gap window", "data": {"prices": {"kind": "ohlcv"}},
           "params": {"fast": {"type": "int", "min": 2, "max": 50, "default": 10},
                      "slow": {"type": "int", "min": 5, "max": 100, "default": 30}},
           "entry": ["close > sma(close, slow - fast)"], "exit": ["close < sma(close, fast)"]}
    with pytest.raises(RuleEngineError) as info:
        sweep(doc, "AAPL", *RANGE, provider="sample", grid={"fast": [2, 10, 20, 30], "slow": [20, 30, 40]},
              threads=2, chunk_size=1)
    d = info.value.diagnostics[0]
    assert d.code == "D103" and "window of sma" in d.message


@pytest.mark.realdata
def test_open_fills_with_stops_on_the_entry_bar_equal_backtest(shared_data: Path) -> None:
    """Time-ordered fills (issue 13 item 4) in the fused kernel: open fills with tight stops, where positions
    entered at an open are stopped on their own bar, give backtest()'s metrics on every combination."""
    doc = {"name": "sma cross", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
           "params": {"fast": {"type": "int", "min": 2, "max": 50, "default": 10},
                      "slow": {"type": "int", "min": 5, "max": 100, "default": 20}},
           "entry": ["crosses_above(sma(close, fast), sma(close, slow))"],
           "exit": ["crosses_below(sma(close, fast), sma(close, slow))"]}
    fixed = {"execution_price": "open", "max_hold_days": 36_500, "fees_pct": 0.1}
    res = sweep(doc, "GOOG", "2013-01-01", "2017-12-05", data=str(shared_data),
                grid={"fast": [5, 10], "slow": [20, 30], "stop_loss_pct": [1.0, 2.0], "take_profit_pct": [None, 3.0]},
                params=fixed)
    assert len(res.table) == 16
    same_bar_exits = 0
    for rank in range(1, 17):
        run = res.detail(rank, benchmark=None).results[0]
        assert_same_metrics(res.table.iloc[rank - 1], run.metrics, f"rank {rank}")
        same_bar_exits += sum(t.entry_bar == t.exit_bar and t.exit_reason in ("stop_loss", "take_profit")
                              for t in run.trades)
        assert "max_hold" not in run.exit_reasons()  # 100 years: never within the data
    assert same_bar_exits > 10  # the entry-bar check is exercised
