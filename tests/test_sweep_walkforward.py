"""Walk-forward, hold-out and overfitting statistics of a sweep, checked against independent runs:
`ruleengine.backtest()` on each test window, `sweep()` on each training window loaded by dates, and the
overfitting formulas applied to the backtests' own equity curves."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ruleengine.backtest.run import backtest
from ruleengine.errors import RuleEngineError
from ruleengine.sweep.folds import walk_forward_folds
from ruleengine.sweep.overfit import deflated_sharpe_ratio_from_returns, pbo_cscv
from ruleengine.sweep.run import sweep
from ruleengine.sweep.stats import METRICS
from ruleengine.sweep.walkforward import walk_forward

GC = str(Path(__file__).resolve().parents[1] / "rules" / "golden_cross.yaml")
GRID = ["fast=5:30:5", "slow=20:100:20"]
FIXED = {"max_hold_days": None, "stop_loss_pct": 8.0}
RANGE = ("2012-01-01", "2016-12-30")


@pytest.fixture(autouse=True)
def clean_env(provider_env_cleared):
    """Provider defaults from the environment must not change these runs (conftest.provider_env_cleared)."""


@pytest.fixture(scope="module")
def rolling():
    return walk_forward(GC, "SPY", *RANGE, provider="sample", walk_forward="train=252,test=126", grid=GRID,
                        constraints=["fast < slow"], params=FIXED, pbo_top=6, pbo_splits=8)


def assert_metrics_equal(got: dict, metrics: object, where: str) -> None:
    for name in METRICS:
        want = getattr(metrics, name)
        if want is None:
            assert got[name] is None, (where, name, got[name])
        else:
            assert got[name] == pytest.approx(want, rel=1e-9, abs=1e-12), (where, name, got[name], want)


def test_rolling_folds_cover_the_range_in_order(rolling) -> None:
    r0, r1 = rolling.sweep.context["rows"]
    n = r1 - r0
    want = walk_forward_folds(n, 252, 126)
    assert [f.fold.as_tuple() for f in rolling.folds] == [tuple(x + r0 for x in w.as_tuple()) for w in want]
    assert len(rolling.folds) == (n - 252 + 125) // 126 and rolling.folds[0].train_dates[0] == "2012-01-03"
    assert rolling.folds[-1].test_dates[1] == "2016-12-30"  # the last, shorter window reaches the last bar
    # stitched rows are the test windows back to back: no gap, no repeat
    assert len(rolling.stitched) == n - 252 and rolling.stitched.index.is_unique
    assert rolling.stitched.index[0].strftime("%Y-%m-%d") == rolling.folds[0].test_dates[0]


def test_each_test_window_equals_a_backtest_of_the_chosen_parameters(rolling) -> None:
    """The chosen parameters' OOS metrics equal ruleengine.backtest() started on the window's first date,
    and the stitched equity chains exactly those runs."""
    growth = 1.0
    traded = 0
    for k, f in enumerate(rolling.folds):
        run = backtest(GC, "SPY", *f.test_dates, params={**FIXED, **f.params}, provider="sample",
                       benchmark=None).results[0]
        assert_metrics_equal(f.oos_metrics, run.metrics, f"fold {k + 1}")
        traded += run.metrics.total_trades
        growth *= run.metrics.final_equity / 10_000.0
        end = rolling.stitched.index.searchsorted(run.equity.time[-1], side="right") - 1
        assert rolling.stitched["SPY"].iloc[end] == pytest.approx(10_000.0 * growth, rel=1e-9)
        is_v, oos_v = f.is_metrics["sharpe_ratio"], f.oos_metrics["sharpe_ratio"]
        want = oos_v / is_v if is_v is not None and oos_v is not None and is_v > 0 else None
        assert f.decay == (pytest.approx(want) if want is not None else None)
    assert traded > 0
    decays = [f.decay for f in rolling.folds if f.decay is not None]
    assert rolling.mean_decay == pytest.approx(sum(decays) / len(decays))
    m = rolling.stitched_metrics["SPY"]
    assert m["total_return_pct"] == pytest.approx((growth - 1) * 100, rel=1e-9)
    assert m["bars"] == len(rolling.stitched)


def test_each_training_window_is_the_sweep_of_its_dates(rolling) -> None:
    """Re-optimising on a window equals a sweep loaded for that window's dates (history before it)."""
    for f in (rolling.folds[0], rolling.folds[-1]):
        alone = sweep(GC, "SPY", *f.train_dates, provider="sample", grid=GRID, constraints=["fast < slow"],
                      params=FIXED)
        assert {k: alone.best[k] for k in f.params} == f.params
        assert f.n_trials == alone.n_trials == 27
        best = alone.table.iloc[0]
        for name in ("sharpe_ratio", "total_return_pct", "total_trades", "max_drawdown_pct"):
            assert f.is_metrics[name] == pytest.approx(best[name], rel=1e-12)


def test_anchored_overlapping_folds() -> None:
    wf = walk_forward(GC, "SPY", *RANGE, provider="sample", walk_forward="train=504,test=200,step=150,anchored",
                      grid=["fast=10,20", "slow=50,100"], params=FIXED, pbo_top=4, pbo_splits=4)
    first = wf.folds[0].fold.train_start
    assert all(f.fold.train_start == first for f in wf.folds)
    assert [f.fold.train_len for f in wf.folds] == [504 + 150 * k for k in range(len(wf.folds))]
    # overlapping test windows are cut where the next one starts: each row once
    r1 = wf.sweep.context["rows"][1]
    assert len(wf.stitched) == r1 - (first + 504) and wf.stitched.index.is_unique


def test_holdout_is_unseen_and_reports_the_chosen_parameters() -> None:
    wf = walk_forward(GC, "SPY", *RANGE, provider="sample", walk_forward=None, holdout="25%", grid=GRID,
                      constraints=["fast < slow"], params=FIXED, pbo_top=4, pbo_splits=4)
    full = wf.sweep.context["history"]
    r0, r1 = wf.sweep.context["rows"]
    assert r0 == full and wf.folds == [] and wf.stitched is None
    h = wf.holdout
    total = r1 - r0 + h["bars"]
    assert h["bars"] == math.floor(0.25 * total + 0.5) and h["end"] == "2016-12-30"
    # the search saw only the bars before the hold-out: the same as a sweep ending the day before it
    alone = sweep(GC, "SPY", RANGE[0], wf.sweep.context["end"], provider="sample", grid=GRID,
                  constraints=["fast < slow"], params=FIXED)
    assert alone.best == wf.sweep.best and alone.table["sharpe_ratio"].tolist() == pytest.approx(
        wf.sweep.table["sharpe_ratio"].tolist(), rel=1e-12, nan_ok=True)
    run = backtest(GC, "SPY", h["start"], h["end"], params=wf.sweep.best, provider="sample",
                   benchmark=None).results[0]
    assert_metrics_equal(h["oos"], run.metrics, "hold-out")
    assert h["params"] == {k: wf.sweep.best[k] for k in ("fast", "slow")}


def test_overfitting_statistics_from_independent_backtests(rolling) -> None:
    """DSR and PBO recomputed from ruleengine.backtest() equity curves of the top configurations."""
    search, stats = rolling.sweep, rolling.overfit
    ranked = search.by_combination
    assert stats.n_trials == search.n_trials == 27 and stats.grid_size == 30 and stats.top_k == 6
    start, end = search.context["start"], search.context["end"]
    returns = []
    for rank in range(1, 7):
        run = backtest(GC, "SPY", start, end, params=search.params_of(rank), provider="sample",
                       benchmark=None).results[0]
        eq = np.array(run.equity.value)
        returns.append(eq / np.concatenate(([10_000.0], eq[:-1])) - 1.0)
    sharpes = ranked["sharpe_ratio"].to_numpy(dtype=float) / math.sqrt(252)
    want = deflated_sharpe_ratio_from_returns(returns[0], sharpes)
    assert stats.dsr.sr * math.sqrt(252) == pytest.approx(ranked["sharpe_ratio"].iloc[0], rel=1e-9)
    assert stats.dsr.dsr == pytest.approx(want.dsr, rel=1e-9) and stats.dsr.n_trials == 27
    assert stats.dsr.var_trials_sr == pytest.approx(np.nanvar(sharpes, ddof=1), rel=1e-12)
    pbo = pbo_cscv(np.column_stack(returns), n_splits=8)
    assert stats.pbo.pbo == pbo.pbo and stats.pbo.n_configs == 6 and stats.pbo.n_combinations == 70
    assert stats.pbo.lambdas.tolist() == pytest.approx(pbo.lambdas.tolist(), rel=1e-9)
    d = rolling.to_dict()
    assert d["overfitting"]["pbo"]["pbo"] == pbo.pbo and d["overfitting"]["dsr"]["n_trials"] == 27


def test_two_symbols_average_their_runs() -> None:
    wf = walk_forward(GC, "SPY,QQQ", *RANGE, provider="sample", walk_forward="train=504,test=252",
                      grid=["fast=10,20", "slow=50,100"], params=FIXED, pbo_top=4, pbo_splits=4)
    assert list(wf.stitched.columns) == ["SPY", "QQQ"] and len(wf.folds) == 3
    f = wf.folds[1]
    runs = backtest(GC, "SPY,QQQ", *f.test_dates, params={**FIXED, **f.params}, provider="sample",
                    benchmark=None).results
    assert f.oos_metrics["total_return_pct"] == pytest.approx(
        np.mean([r.metrics.total_return_pct for r in runs]), rel=1e-9)


@pytest.mark.parametrize(("options", "message"), [
    ({"walk_forward": "train=1300,test=200"}, "longer than the data: 1258 bars"),
    ({"walk_forward": "train=900,test=200", "holdout": "30%"}, "before the hold-out (377 of 1258 bars held out)"),
    ({"walk_forward": "train=100,test=50,anchored,rolling"}, "both anchored and rolling"),
    ({"walk_forward": {"train": 100}}, "needs train and test"),
    ({"walk_forward": None, "holdout": "0%"}, "between 0% and 100%"),
    ({"walk_forward": None, "pbo_top": 1}, "pbo_top must be"),
])
def test_bad_specifications_are_diagnostics(options, message) -> None:
    with pytest.raises(RuleEngineError) as info:
        walk_forward(GC, "SPY", *RANGE, provider="sample", grid=["fast=10,20", "slow=50"], **options)
    d = info.value.diagnostics[0]
    assert d.code == "D122" and message in d.message and d.hint


def test_grid_errors_come_before_any_data_is_fetched(tmp_path) -> None:
    """An empty grid after the constraint is reported without loading data (the folder does not exist)."""
    with pytest.raises(RuleEngineError) as info:
        walk_forward(GC, "SPY", data=str(tmp_path / "missing"), grid=["fast=50:60:5", "slow=20,30"],
                     constraints=["fast < slow"])
    assert info.value.diagnostics[0].code == "D122" and "satisfies" in info.value.diagnostics[0].message


@pytest.mark.realdata
def test_walk_forward_on_real_prices(shared_data) -> None:
    wf = walk_forward(GC, "SPY", "2010-01-01", "2017-12-29", data=str(shared_data),
                      walk_forward="train=504,test=252", holdout=252, grid=["fast=10:50:10", "slow=50:200:50"],
                      constraints=["fast < slow"], params=FIXED, pbo_top=20)
    assert not wf.synthetic and not any(w["code"] == "D120" for w in wf.sweep.warnings)
    assert wf.holdout["bars"] == 252 and wf.holdout["end"] == "2017-12-29"
    assert len(wf.folds) == 5 and wf.overfit.n_trials == 19 and wf.overfit.pbo.n_configs == 19
    f = wf.folds[2]
    run = backtest(GC, "SPY", *f.test_dates, params={**FIXED, **f.params}, data=str(shared_data),
                   benchmark=None).results[0]
    assert_metrics_equal(f.oos_metrics, run.metrics, "real fold 3")
