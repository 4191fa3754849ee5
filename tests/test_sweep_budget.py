"""Sweeps stay within a memory limit whatever the grid: the estimate is said up front, honest, and a sweep
that would not fit is refused before anything is built (issue 14, item 6)."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from support.hostile import within

from ruleengine import RuleEngineError, sweep
from ruleengine.sweep.budget import (
    BYTES_PER_COMBINATION,
    BYTES_PER_ROW,
    DEFAULT_MEMORY_MB,
    MEMORY_ENV,
    check_fits,
    estimate_bytes,
    memory_limit_bytes,
)
from ruleengine.sweep.run import BYTES_PER_VALUE

RULES = Path(__file__).resolve().parents[1] / "rules"
GOLDEN = str(RULES / "golden_cross.yaml")
RANGE = ("2015-01-02", "2019-12-31")
#: fast 2..100 x slow 5..400 x 100 stop levels: 3.92 million combinations on one symbol (5.25 GB before)
#: signal sets per chunk in the peak test: the chunk working set is bounded apart (engine.CHUNK_BUDGET_BYTES)
CHUNK = 16
HUGE = ["fast=2:100", "slow=5:400", "stop_loss_pct=0.1:10:0.1"]


def _codes(exc: pytest.ExceptionInfo[RuleEngineError]) -> list[str]:
    return [d.code for d in exc.value.diagnostics]


def test_estimate_and_limit_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    assert estimate_bytes(10, 3) == 10 * (BYTES_PER_COMBINATION + 3 * BYTES_PER_ROW)
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    assert memory_limit_bytes() == int(DEFAULT_MEMORY_MB * 2**20)
    assert memory_limit_bytes(100) == 100 * 2**20
    monkeypatch.setenv(MEMORY_ENV, "64")
    assert memory_limit_bytes() == 64 * 2**20
    monkeypatch.setenv(MEMORY_ENV, "lots")
    with pytest.raises(RuleEngineError) as exc:
        memory_limit_bytes()
    assert _codes(exc) == ["D122"] and MEMORY_ENV in exc.value.diagnostics[0].message
    for bad in (0, -5, float("nan"), float("inf"), True):
        with pytest.raises(RuleEngineError):
            memory_limit_bytes(bad)


def test_refusal_names_the_estimate_and_the_sample_that_fits() -> None:
    limit = 10 * 2**20
    assert check_fits(1000, 5, limit) == estimate_bytes(1000, 5)
    with pytest.raises(RuleEngineError) as exc:
        check_fits(100_000, 50, limit)
    d = exc.value.diagnostics[0]
    fits = limit // estimate_bytes(1, 50)
    assert d.code == "D122" and "100,000 combinations x 50 runs" in d.message and "10 MB" in d.message
    assert f"--samples {fits:,}" in d.hint and estimate_bytes(fits, 50) <= limit < estimate_bytes(fits + 1, 50)


def test_a_huge_grid_is_refused_before_it_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """3.92 million combinations: refused in seconds and a few hundred MB (it took 5.25 GB), before any data
    is read (the data path does not even exist). Counting them takes ~100 bytes per grid point (numpy index
    arrays of grids up to `grid.ENUMERATE_LIMIT`; larger grids must be sampled)."""
    monkeypatch.delenv(MEMORY_ENV, raising=False)
    with within(seconds=60, megabytes=640), pytest.raises(RuleEngineError) as exc:
        sweep(GOLDEN, "SPY", *RANGE, data="no-such-folder/prices", grid=HUGE)
    d = exc.value.diagnostics[0]
    assert d.code == "D122" and "3,920,400 combinations x at least one run" in d.message, d
    assert "--samples" in d.hint


def test_many_symbols_are_checked_once_the_runs_are_known() -> None:
    grid = ["fast=5:14", "slow=50:59"]  # 100 combinations
    limit_mb = estimate_bytes(100, 3) / 2**20 * 0.9  # fits one run, not three
    with pytest.raises(RuleEngineError) as exc:
        sweep(GOLDEN, "SPY,QQQ,IWM", *RANGE, provider="sample", grid=grid, memory_mb=limit_mb)
    d = exc.value.diagnostics[0]
    assert d.code == "D122" and "100 combinations x 3 runs" in d.message
    fits = int(d.hint.split("--samples ")[1].split(" ")[0].replace(",", ""))
    res = sweep(GOLDEN, "SPY,QQQ,IWM", *RANGE, provider="sample", grid=grid, memory_mb=limit_mb, samples=fits)
    assert res.n_trials == fits and res.n_symbols == 3
    assert res.memory_estimate_mb == pytest.approx(estimate_bytes(fits, 3) / 2**20)
    assert res.to_dict()["memory"]["limit_mb"] == pytest.approx(limit_mb, abs=0.1)


@pytest.mark.parametrize("grid, symbols", [
    (["fast=2:21", "slow=5:400:8", "stop_loss_pct=2:6:4"], "SPY"),  # many combinations (2,000), one run
    (["fast=2:21", "slow=30:129:4"], "SPY,QQQ,IWM,DIA"),  # fewer combinations (500), several runs
])
def test_the_estimate_is_not_below_the_traced_peak(grid: list[str], symbols: str) -> None:
    """What the sweep allocates beyond the data and one chunk's signals stays within the estimate."""
    import ruleengine
    from ruleengine import compile_strategy

    compiled = compile_strategy(GOLDEN)
    md = ruleengine.load_data(compiled, symbols, *RANGE, provider="sample", warmup_bars=400)
    sweep(compiled, market=md, grid=["fast=5", "slow=30"], threads=1)  # warm: numba, caches
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        res = sweep(compiled, market=md, grid=grid, threads=1, chunk_size=CHUNK)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    chunk = CHUNK * md.n_rows * md.n_cols * BYTES_PER_VALUE  # one chunk's working set (the chunk budget's part)
    assert res.n_trials * res.n_symbols >= 2_000
    assert peak <= res.memory_estimate_mb * 2**20 + chunk, (peak / 2**20, res.memory_estimate_mb)


def test_cli_refuses_with_a_structured_error_and_prints_the_estimate() -> None:
    from support.hostile import assert_structured, run_cli

    # the time limits bound a hang, not speed: on an empty numba cache (a fresh clone, CI) the second command
    # compiles the sweep kernel while the other worker compiles its own
    big = run_cli(["sweep", GOLDEN, "--symbols", "SPY", "--grid", "fast=2:100", "--grid", "slow=5:400",
                   "--grid", "stop_loss_pct=0.1:10:0.1", "--json"], seconds=600)
    assert_structured(big)
    assert big.returncode == 1 and '"success": false' in big.stdout and "3,920,400 combinations" in big.stdout
    ok = run_cli(["sweep", GOLDEN, "--symbols", "SPY", "--grid", "fast=5:10", "--grid", "slow=50",
                  "--max-memory", "64", "--start", RANGE[0], "--end", RANGE[1]], seconds=600)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "results memory ~0 MB (limit 64 MB)" in ok.stdout
