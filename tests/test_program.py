"""The batched program (compile/program.py): few steps for big grids, same values as node by node."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ruleengine
from ruleengine.compile.execute import compute, program_for

RULES = Path(__file__).resolve().parents[1] / "rules"


def _close(n_rows: int, n_cols: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.asfortranarray(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (n_rows, n_cols)), axis=0)))


def _grid() -> list[dict[str, int]]:
    return [{"fast": f, "slow": s} for s in range(30, 200, 10) for f in range(5, 25)]


@pytest.mark.parametrize("planner", ["node_plan", "plan"])  # set by set, and from templates (grid_plan)
def test_a_grid_runs_in_a_handful_of_steps_whatever_its_size(planner: str) -> None:
    compiled = ruleengine.compile_strategy(str(RULES / "golden_cross.yaml"))
    sets = _grid()
    prog = program_for(getattr(compiled, planner)(sets), 300, 1)
    # sma (one stacked call for every window), rsi, rsi < rsi_max, crosses above/below, and: 6 steps
    assert len(prog.steps) == 6
    by_op = {s.node.op: s for s in prog.steps}
    assert by_op["fn:sma"].n_nodes == len({p["fast"] for p in sets} | {p["slow"] for p in sets})
    assert by_op["fn:crosses_above"].indexed is not None  # reads the sma buffer by column index
    # and(cross_i, rsi_ok): interning ordered the inputs by id; the program lines them up again
    kinds = [r[0] for r in by_op["and"].args]
    assert kinds == ["view", "same"]


@pytest.mark.parametrize("n_cols", [1, 4])
def test_program_equals_node_by_node_with_per_set_constants(n_cols: int) -> None:
    compiled = ruleengine.compile_strategy(str(RULES / "golden_cross.yaml"))
    sets = [{"fast": f, "slow": s, "rsi_max": r} for f in (5, 9) for s in (30, 60) for r in (55.0, 70.0, 90.0)]
    plan = compiled.node_plan(sets)  # signals_arrays below runs the template-built grid plan
    close = _close(250, n_cols)
    close[[0, 7, 8, 120], 0] = np.nan
    inputs = {("prices", "close"): close}
    batched = compute(plan, inputs, 250, n_cols, batch=True)
    single = compute(plan, inputs, 250, n_cols, batch=False)
    assert batched.keys() == single.keys()
    for node, value in single.items():
        np.testing.assert_array_equal(np.broadcast_to(batched[node], np.shape(value)), value)
    entries, exits, _ = compiled.signals_arrays(inputs, 250, n_cols, sets)
    for k, (e, x) in enumerate(plan.roots):
        warm = plan.warmup(k)
        block = slice(k * n_cols, (k + 1) * n_cols)
        assert not entries[:warm, block].any() and not exits[:warm, block].any()
        np.testing.assert_array_equal(entries[warm:, block], single[e][warm:])
        np.testing.assert_array_equal(exits[warm:, block], single[x][warm:])


def test_outputs_are_fresh_arrays_each_call() -> None:
    compiled = ruleengine.compile_strategy(str(RULES / "golden_cross.yaml"))
    inputs = {("prices", "close"): _close(300, 2)}
    e1, x1, _ = compiled.signals_arrays(inputs, 300, 2, _grid()[:5])
    keep = e1.copy()
    e1[:] = True  # the caller owns its arrays: scribbling on them changes nothing later
    e2, x2, _ = compiled.signals_arrays(inputs, 300, 2, _grid()[:5])
    assert e2 is not e1 and not np.shares_memory(e2, e1)
    np.testing.assert_array_equal(e2, keep)
    np.testing.assert_array_equal(x2, x1)


def test_same_parameters_reuse_the_plan_but_numpy_values_are_never_keyed_by_their_text() -> None:
    compiled = ruleengine.compile_strategy(str(RULES / "golden_cross.yaml"))
    sets = _grid()
    assert compiled.plan(sets) is compiled.plan(list(sets))  # equal input, no second expansion
    # numpy arrays print abbreviated ("[5 6 ... 44]"): two different arrays with equal text must not share
    a = np.arange(1100) % 40 + 5
    b = a.copy()
    b[500] = 7 if a[500] != 7 else 8
    assert repr(a) == repr(b)
    pa = compiled.plan({"fast": a, "slow": 100})
    pb = compiled.plan({"fast": b, "slow": 100})
    assert pa is not pb
    assert pa.param_sets[500]["fast"] == a[500] and pb.param_sets[500]["fast"] == b[500]


@pytest.mark.parametrize("threads", [2, 3])
def test_column_parallel_execution_equals_one_thread(threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Symbols split over threads (nogil kernels) give exactly the single-threaded signals, grids included."""
    from ruleengine.compile import execute

    monkeypatch.setattr(execute, "THREAD_MIN_COLUMNS", 4)
    monkeypatch.setattr(execute, "THREAD_MIN_VALUES", 1)
    compiled = ruleengine.compile_strategy(str(RULES / "golden_cross.yaml"))
    close = _close(260, 13, seed=11)
    close[:40, 5] = np.nan  # a late listing
    close[100, 7] = np.nan  # a gap
    inputs = {("prices", "close"): close}
    sets = [{"fast": f, "slow": s} for f in (5, 8) for s in (20, 40)]
    one_e, one_x, _ = compiled.signals_arrays(inputs, 260, 13, sets, threads=1)
    par_e, par_x, _ = compiled.signals_arrays(inputs, 260, 13, sets, threads=threads)
    assert par_e.flags.f_contiguous and par_e.shape == (260, 4 * 13)
    np.testing.assert_array_equal(par_e, one_e)
    np.testing.assert_array_equal(par_x, one_x)
    assert one_e.any() and one_x.any()


def test_default_threads_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from ruleengine.compile.execute import default_threads

    monkeypatch.setenv("RULEENGINE_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("RULEENGINE_THREADS", "")
    assert default_threads() >= 1


def test_column_parallel_execution_gives_the_same_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop distance and an exit program's levels, split over threads, equal the single-threaded ones."""
    from ruleengine.compile import execute

    monkeypatch.setattr(execute, "THREAD_MIN_COLUMNS", 4)
    monkeypatch.setattr(execute, "THREAD_MIN_VALUES", 1)
    compiled = ruleengine.compile_strategy({
        "name": "p", "data": {"prices": {"kind": "ohlcv", "columns": ["close"]}},
        "params": {"n": {"type": "int", "min": 2, "max": 30, "default": 5}},
        "entry": ["close > sma(close, n)"], "exit": ["close < entry_price - stddev(close, n)"],
        "risk": {"stop_loss_distance": "2 * stddev(close, n)"}})
    inputs = {("prices", "close"): _close(120, 13, seed=3)}
    sets = [{"n": n} for n in (3, 7)]
    one = compiled.execute_arrays(inputs, 120, 13, sets, 1)[1]
    par = compiled.execute_arrays(inputs, 120, 13, sets, 3)[1]
    assert sorted(one) == ["exit_program:0", "exit_program:1", "stop_loss_distance"]
    for kind in one:
        np.testing.assert_array_equal(par[kind], one[kind])
