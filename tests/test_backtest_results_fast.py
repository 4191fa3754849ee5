"""The fast result building of `ruleengine.backtest`: byte-identical JSON, metrics equal to the per-run
reference bit for bit, and lazily built trades / equity curves that behave like plain fields.

Golden files: tests/golden/backtest/<case>.json hold ``BacktestResult.to_json()`` of small deterministic
backtests (the sample provider, or CSV files the test writes), with the creation time and the package versions
masked. They were written by the eager implementation this path replaced (git 843147c: every trade and equity
point a validated model, metrics run by run) and must not change: regenerate them with
``UPDATE_GOLDEN=1 pytest tests/test_backtest_results_fast.py`` only for an intended change of the output, and
review the diff. A missing golden file is a failure, never a silent pass.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support.prices import sine_prices

from ruleengine import compile_strategy
from ruleengine.backtest.metrics import compute_metrics, compute_metrics_batch, segment_sums
from ruleengine.backtest.result import BacktestResult, Deferred, Trade
from ruleengine.backtest.risk import resolve_risk
from ruleengine.backtest.run import backtest, buy_and_hold
from ruleengine.backtest.simulation import simulate
from ruleengine.strategies import load_data

GOLDEN = Path(__file__).resolve().parent / "golden" / "backtest"
GC = "rules/golden_cross.yaml"
FAST = {"fast": 10, "slow": 30}
NEVER = {"name": "never", "data": {"prices": {"kind": "ohlcv"}}, "entry": ["close < 0"], "exit": ["close > 0"]}


@pytest.fixture(autouse=True)
def clean_env(provider_env_cleared):
    """Provider defaults from the environment (an FMP key, RULEENGINE_PROVIDER) must not change these runs."""


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory) -> Path:
    """Local CSV files: GOOD (every bar), LATE (listed late, delisted early), NANS (no price), NEG (a close < 0)."""
    d = tmp_path_factory.mktemp("listings")
    df = sine_prices(300, 100, 10, 9.0)
    df.to_csv(d / "GOOD.csv", index=False)
    late = df.copy()
    late.loc[:80, ["open", "high", "low", "close"]] = np.nan
    late.loc[250:, ["open", "high", "low", "close"]] = np.nan
    late.to_csv(d / "LATE.csv", index=False)
    nans = df.copy()
    nans[["open", "high", "low", "close"]] = np.nan
    nans.to_csv(d / "NANS.csv", index=False)
    neg = df.copy()
    neg.loc[150, ["low", "close"]] = -1.0
    neg.to_csv(d / "NEG.csv", index=False)
    return d


#: golden case -> the backtest (given the CSV folder); every case but `never` makes trades
CASES: dict[str, Callable[[Path], BacktestResult]] = {
    "single": lambda d: backtest(GC, "SPY", "2015-06-01", "2016-12-30", params=FAST),
    "grid": lambda d: backtest(GC, "SPY,QQQ", "2016-01-01", "2016-12-30", params={"fast": [10, 20], "slow": 30}),
    "portfolio": lambda d: backtest(GC, "SPY,QQQ,IWM", "2016-01-01", "2016-12-30",
                                    params={**FAST, "position_size_pct": 30}, portfolio=True),
    "open_stops": lambda d: backtest(GC, "QQQ", "2015-01-01", "2016-12-30",
                                     params={**FAST, "stop_loss_pct": 4, "execution_price": "open",
                                             "max_hold_bars": 15, "trailing_stop_pct": 6}),
    "never": lambda d: backtest(NEVER, "SPY,QQQ", "2016-01-01", "2016-03-31"),
    "hourly": lambda d: backtest(GC, "SPY", "2024-01-02", "2024-01-19",
                                 params={**FAST, "execution_frequency": "1Hour"}),
    "listings": lambda d: backtest(GC, "GOOD,LATE,NANS,NEG", params=FAST, data=str(d), benchmark=None),
    "listings_bench": lambda d: backtest(GC, "GOOD,LATE", params=FAST, data=str(d), benchmark="GOOD"),
}


def _masked(res: BacktestResult) -> str:
    """``to_json()`` with the creation time and the package versions (which change by themselves) masked."""
    text = res.to_json()
    created = f'"created_at":"{res.provenance.created_at}"'
    versions = '"versions":' + json.dumps(res.provenance.versions, separators=(",", ":"))
    assert text.count(created) == 1 and text.count(versions) == 1
    return text.replace(created, '"created_at":"<created_at>"').replace(versions, '"versions":{}')


# ------------------------------------------------------------------------------------------ golden JSON


@pytest.mark.parametrize("case", sorted(CASES))
def test_json_is_byte_identical_to_the_eager_implementation(case: str, csv_dir: Path) -> None:
    res = CASES[case](csv_dir)
    lazy = _masked(res)
    path = GOLDEN / f"{case}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(lazy + "\n", encoding="utf-8")
    assert path.exists(), f"missing golden file {path} (UPDATE_GOLDEN=1 writes it)"
    assert lazy + "\n" == path.read_text(encoding="utf-8")
    assert (sum(r.metrics.total_trades for r in res.results) == 0) == (case == "never")
    # the same bytes once every pending field is built, and to_dict() is the same data
    assert sum(len(r.trades) + len(r.equity.value) for r in res.results) > 0
    assert _masked(res) == lazy
    assert res.to_dict() == json.loads(res.to_json())


def test_listing_gaps_are_each_runs_own_bars(csv_dir: Path) -> None:
    """The late-listed symbol's run covers its own 169 bars, its bars and times counted from its first one."""
    res = CASES["listings"](csv_dir)
    assert [r.label for r in res.results] == ["GOOD", "LATE"]
    assert [w["code"] for w in res.warnings].count("D116") == 2  # NANS and NEG skipped
    late = res.results[1]
    csv = pd.read_csv(csv_dir / "LATE.csv")
    assert late.data.bars == len(late.equity.time) == 250 - 81
    assert late.equity.time == csv["date"][81:250].tolist() and late.data.start == csv["date"][81]
    assert late.trades
    for t in late.trades:
        assert late.equity.time[t.entry_bar] == t.entry_time and late.equity.time[t.exit_bar] == t.exit_time
    close = csv["close"].to_numpy()[81:250]
    assert late.benchmark.total_return_pct == (close[-1] / close[0] - 1.0) * 100.0
    np.testing.assert_array_equal(late._chart.close, close)
    np.testing.assert_array_equal(late._chart.benchmark_equity, buy_and_hold(close, 10_000.0)[0])


# ------------------------------------------------------------------------------------------ batch metrics


def test_segment_sums_round_like_numpy_sum() -> None:
    rng = np.random.default_rng(7)
    counts = np.array([0, 1, 2, 7, 8, 9, 0, 127, 128, 129, 300, 1000, 2500, 0])
    values = rng.normal(size=counts.sum()) * 10.0 ** rng.uniform(-3, 6, size=counts.sum())
    sums = segment_sums(values, counts)
    starts = np.cumsum(counts) - counts
    expected = [float(np.sum(values[s:s + c])) for s, c in zip(starts, counts, strict=True)]
    assert sums.tolist() == expected  # exact, not approximate
    # np.add.reduceat alone starts from each segment's first value: a different rounding, hence the padding
    plain = np.add.reduceat(values, starts[counts > 0])
    assert plain.tolist() != [e for e, c in zip(expected, counts, strict=True) if c > 0]
    assert segment_sums(np.empty(0), np.array([0, 0])).tolist() == [0.0, 0.0]


def _reference(equity: np.ndarray, spans: np.ndarray, trades: dict[str, np.ndarray], bounds: np.ndarray,
               held: np.ndarray, init: float, frequency: str, bench: list[Any]) -> list[str]:
    """`compute_metrics` run by run (the slow reference), each result as the repr of its values."""
    out = []
    for r, (lo, hi) in enumerate(spans):
        rows = slice(bounds[r], bounds[r + 1])
        t = pd.DataFrame({"pnl": trades["pnl"][rows], "pnl_pct": trades["pnl_pct"][rows],
                          "entry_bar": trades["entry_bar"][rows], "exit_bar": trades["exit_bar"][rows],
                          "entry_time": pd.to_datetime(trades["entry_ns"][rows], utc=True),
                          "exit_time": pd.to_datetime(trades["exit_ns"][rows], utc=True)})
        m = compute_metrics(equity[lo:hi, r], t, init_cash=init, frequency=frequency,
                            position=held[lo:hi, r].astype(float), benchmark_return_pct=bench[r])
        out.append(repr(m.model_dump()))
    return out


def _batch(equity: np.ndarray, spans: np.ndarray, trades: dict[str, np.ndarray], bounds: np.ndarray,
           held: np.ndarray, init: float, frequency: str, bench: list[Any]) -> list[str]:
    ms = compute_metrics_batch(equity, spans, trades, bounds, init_cash=init, frequency=frequency, held=held,
                               benchmark_return_pct=bench)
    return [repr(m.model_dump()) for m in ms]


def test_batch_metrics_equal_the_per_run_reference_on_edge_cases() -> None:
    """Runs with their own ranges, NaN bars, flat equity, one bar, a loss on the first bar, no trades,
    zero-pnl trades and NaN trade returns: every value equal to `compute_metrics`, bit for bit."""
    rng = np.random.default_rng(3)
    T = 90
    spans = np.array([[0, 90], [10, 70], [5, 6], [0, 90], [30, 90], [0, 40], [2, 88], [0, 90]])
    R = len(spans)
    equity = np.full((T, R), np.nan)
    for r, (lo, hi) in enumerate(spans):
        equity[lo:hi, r] = 1000.0 * np.cumprod(1 + rng.normal(0.0005, 0.02, hi - lo))
    equity[:, 3] = 1000.0  # flat: no variance, no drawdown
    equity[20, 0] = np.nan  # a missing mark inside a run: returns around it are dropped, the peak turns NaN
    equity[30, 6] = np.inf
    equity[0, 7] = 900.0  # loses on its first bar: the peak starts at the initial cash
    held = rng.random((T, R)) > 0.4
    held[:, 3] = False
    counts = [6, 3, 0, 0, 1, 4, 9, 2]
    bounds = np.concatenate(([0], np.cumsum(counts)))
    n = bounds[-1]
    entry = np.concatenate([np.sort(rng.integers(lo, hi, c)) for (lo, hi), c in zip(spans, counts, strict=True)])
    exit_ = entry + rng.integers(0, 5, n)
    pnl = rng.normal(0, 50, n)
    pnl[[1, 7]] = 0.0
    pct = pnl / 10.0
    pct[12] = np.nan
    times = pd.date_range("2021-01-01", periods=T + 10, freq="D", tz="UTC").as_unit("ns").asi8
    trades = {"pnl": pnl, "pnl_pct": pct, "entry_bar": entry, "exit_bar": exit_,
              "entry_ns": times[entry], "exit_ns": times[exit_]}
    bench = [5.0, None, float("nan"), -3.25, 0.0, 12.5, None, 1.0]
    for init, freq in ((1000.0, "1Day"), (950.0, "1Hour")):
        args = (np.asfortranarray(equity), spans, trades, bounds, held, init, freq, bench)
        assert _batch(*args) == _reference(*args)
    no_trades = compute_metrics_batch(equity, spans, None, None, init_cash=1000.0)
    assert [m.total_trades for m in no_trades] == [0] * R and no_trades[0].exposure_pct == 0.0
    with pytest.raises(ValueError, match="span"):
        compute_metrics_batch(equity, np.array([[5, 5]] * R), None, None, init_cash=1000.0)


@pytest.mark.realdata
def test_batch_metrics_equal_the_per_run_reference_on_a_real_universe(shared_data: Path) -> None:
    """60 real symbols (some listed late or gone early) simulated with stops and fees: batch = reference."""
    syms = sorted(pd.read_parquet(shared_data / "daily.parquet", columns=["symbol"])["symbol"].unique())[::8][:60]
    compiled = compile_strategy(GC)
    md = load_data(compiled, syms, "2006-01-01", "2012-12-31", params=FAST, data=str(shared_data))
    close = md.inputs[("prices", "close")]
    ok = np.isfinite(close[md.start:]).any(axis=0)
    cols = np.flatnonzero(ok)
    assert len(cols) >= 40
    prices = {c: np.asfortranarray(md.inputs[("prices", c)][:, cols]) for c in ("open", "high", "low", "close")}
    sig = compiled.signals(md, FAST)
    entries, exits = sig.entries, sig.exits
    risk = resolve_risk(compiled.strategy, {"stop_loss_pct": 5, "take_profit_pct": 12, "fees_pct": 0.1,
                                            "execution_price": "close"})
    sim = simulate(prices, np.asfortranarray(entries[:, cols]), np.asfortranarray(exits[:, cols]), md.index, risk,
                   start=md.start)
    s0 = md.start
    finite = np.isfinite(prices["close"][s0:])
    spans = np.stack([finite.argmax(axis=0), len(finite) - finite[::-1].argmax(axis=0)], axis=1)
    assert (spans[:, 0] > 0).any() and (spans[:, 1] < len(finite)).any()  # listings and delistings inside
    t = sim.trades
    assert t["column"].is_monotonic_increasing and len(t) > 500
    bounds = np.searchsorted(t["column"].to_numpy(), np.arange(len(cols) + 1))
    ns = md.index.as_unit("ns").asi8
    trades = {"pnl": t["pnl"].to_numpy(), "pnl_pct": t["pnl_pct"].to_numpy(),
              "entry_bar": t["entry_bar"].to_numpy(), "exit_bar": t["exit_bar"].to_numpy(),
              "entry_ns": ns[t["entry_bar"].to_numpy()], "exit_ns": ns[t["exit_bar"].to_numpy()]}
    held = np.abs(sim.position[s0:]) > 0
    bench = [None] * len(cols)
    args = (sim.equity[s0:], spans, trades, bounds, held, 10_000.0, "1Day", bench)
    assert _batch(*args) == _reference(*args)


# ------------------------------------------------------------------------------------------ lazy fields


def _built(seq: object) -> bool:
    """Whether a `Deferred` sequence has made its list."""
    assert isinstance(seq, Deferred)
    return seq.built


def test_trades_and_equity_are_built_on_first_use_and_kept() -> None:
    res = backtest(GC, "SPY,QQQ", "2015-01-01", "2016-12-30", params=FAST)
    run = res.results[1]
    assert not _built(run.trades) and not _built(run.equity.time) and not _built(run.equity.value)
    trades = run.trades.items()
    assert trades and all(type(t) is Trade for t in trades) and run.trades.items() is trades
    assert _built(run.trades) and run.trades == trades and list(run.trades) == trades
    assert run.trades[1:3] == trades[1:3] and len(run.trades) == len(trades) and trades[0] in run.trades
    assert not _built(run.equity.value) and type(run.equity.value[0]) is float and _built(run.equity.value)
    # the models equal ones validated from their JSON form, field types included
    for t in trades[:5]:
        # every field is set but a pair trade's legs (None, left out of the JSON, for a one-instrument trade)
        assert Trade.model_validate(t.model_dump()) == t and t.model_fields_set == set(Trade.model_fields) - {"legs"}
        assert type(t.entry_bar) is int and type(t.pnl) is float and type(t.exit_reason) is str
    m = run.metrics
    assert type(m.periods_per_year) is float and type(m.total_trades) is int
    assert type(m).model_validate(m.model_dump()) == m
    assert run.exit_reasons() == {r: sum(t.exit_reason == r for t in trades) for r in {t.exit_reason for t in trades}}
    assert "trades=[Trade(symbol='QQQ'" in repr(run)


def test_lazy_results_copy_pickle_and_serialise_like_eager_ones() -> None:
    res = backtest(GC, "SPY,QQQ,IWM", "2015-01-01", "2016-12-30", params=FAST)
    clone = pickle.loads(pickle.dumps(res))
    assert not _built(clone.results[0].trades)
    text = res.to_json()
    assert clone.to_json() == text and res.model_copy(deep=True).to_json() == text
    assert res.results[2].model_copy().model_dump_json() == json.dumps(
        json.loads(text)["results"][2], separators=(",", ":"), ensure_ascii=False)
    assert res.results[0].model_dump() == res.to_dict()["results"][0]
    # a field set by hand replaces the pending value
    run = res.results[0]
    run.trades = []
    assert run.model_dump()["trades"] == [] and run.trades == []
    assert res.results[1].trades == clone.results[1].trades
    # read back from its JSON, a result holds plain lists, equal to the deferred ones
    back = BacktestResult.model_validate_json(text)
    assert type(back.results[1].trades) is list and back.results[1].trades == res.results[1].trades
    assert type(back.results[1].equity.value) is list and back.results[1].equity == res.results[1].equity
    assert back.to_json() == text


def test_benchmark_equity_for_the_report_is_built_on_first_use() -> None:
    res = backtest(GC, "QQQ", "2016-01-01", "2016-12-30", params=FAST)
    chart = res.results[0]._chart
    assert "benchmark_equity" not in vars(chart)  # a cached property not computed yet
    md = load_data(GC, "SPY", "2016-01-01", "2016-12-30", params=FAST)
    spy = md.inputs[("prices", "close")][md.start:, 0]
    np.testing.assert_array_equal(chart.benchmark_equity, buy_and_hold(spy, 10_000.0)[0])
    assert vars(chart)["benchmark_equity"] is chart.benchmark_equity


# ------------------------------------------------------------------------------------------ the call around it


def test_an_edited_strategy_file_is_compiled_again(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    text = Path(GC).read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    first = backtest(str(path), "SPY", "2015-01-01", "2016-12-30")
    again = backtest(str(path), "SPY", "2015-01-01", "2016-12-30")
    assert _masked(again) == _masked(first)
    path.write_text(text.replace("default: 50", "default: 20"), encoding="utf-8")
    edited = backtest(str(path), "SPY", "2015-01-01", "2016-12-30")
    assert (first.provenance.params["fast"], edited.provenance.params["fast"]) == (50, 20)
    assert edited.provenance.strategy_hash != first.provenance.strategy_hash
    assert edited.results[0].metrics != first.results[0].metrics


def test_garbage_collector_state_is_restored() -> None:
    assert gc.isenabled()
    backtest(GC, "SPY,QQQ", "2016-01-01", "2016-06-30", params=FAST)
    assert gc.isenabled()
    gc.disable()
    try:
        backtest(GC, "SPY,QQQ", "2016-01-01", "2016-06-30", params=FAST)
        assert not gc.isenabled()
    finally:
        gc.enable()
