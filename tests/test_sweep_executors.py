"""Sweep executors: worker processes and a Dask LocalCluster give tables identical (exact floats) to the
thread runner's, for signal strategies and rotation portfolios (one row of metrics per parameter set, the
universe's membership shipped with the market); task splitting and interleaving; `ruleengine sweep --executor
dask --scheduler`; Ctrl-C and the errors (unknown executor, unreachable scheduler, dask missing)."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

import distributed  # in the test extra: a missing package fails here, it is never skipped
import numpy as np
import pandas as pd
import pytest
import test_rotation_sweep as rotation_doc  # the rotation document, universe and range
from typer.testing import CliRunner

from ruleengine import compile_strategy
from ruleengine.cli import app
from ruleengine.errors import RuleEngineError
from ruleengine.kernels.sweep_sim import N_STATS
from ruleengine.strategies import load_data
from ruleengine.sweep.executors import (
    ProcessRunner,
    Shared,
    assemble,
    dask_runner,
    evaluate,
    make_runner,
    process_runner,
    shared_of,
    split_tasks,
)
from ruleengine.sweep.run import ChunkJob, sweep, thread_runner
from ruleengine.sweep.walkforward import walk_forward

ROOT = Path(__file__).resolve().parents[1]
GC = str(ROOT / "rules" / "golden_cross.yaml")
SYMBOLS = "SPY,QQQ,IWM"
RANGE = ("2012-01-01", "2016-12-30")
#: 34 (fast, slow) signal sets x 2 stop settings = 68 combinations on 3 symbols
GRID = ["fast=5:30:5", "slow=25:100:15", "stop_loss_pct=none,5"]
KW = {"provider": "sample", "grid": GRID, "constraints": ["fast < slow"], "params": {"max_hold_days": None}}
CHUNK = 4  # signal sets per chunk: 9 chunks
cli = CliRunner()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("RULEENGINE_PROVIDER", "RULEENGINE_DATA", "FMP_API_KEY", "FMP_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RULEENGINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def reference():
    """The sweep on the default thread runner: what every executor must reproduce bit for bit."""
    res = sweep(GC, SYMBOLS, *RANGE, chunk_size=CHUNK, runner=thread_runner(2), **KW)
    assert res.n_trials == 68 and len(res.table) == 68 * 3
    single = sweep(GC, SYMBOLS, *RANGE, runner=thread_runner(1), **KW)  # one chunk, one thread
    assert_same(single.table, res.table)
    return res


@pytest.fixture(scope="module")
def cluster():
    """One LocalCluster of 2 single-threaded worker processes for the module."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as lc, distributed.Client(lc, set_as_default=False) as client:
        yield lc, client


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same rows, order and values: floats bit-identical (NaN where NaN)."""
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for col in want.columns:
        a, b = got[col].to_numpy(), want[col].to_numpy()
        if a.dtype.kind == "f":
            assert np.array_equal(a, b, equal_nan=True), col
            assert np.array_equal(a.view(np.int64), b.view(np.int64)), col  # exact, signed zeros included
        else:
            assert a.tolist() == b.tolist(), col


def _job() -> tuple[ChunkJob, list[dict]]:
    compiled = compile_strategy(GC)
    md = load_data(compiled, SYMBOLS, *RANGE, provider="sample")
    job = ChunkJob(compiled, md, 10_000.0, md.start, md.n_rows, [0, 1, 2], compiled.strategy.price_slot())
    chunk = [{"fast": f, "slow": s, "stop_loss_pct": sl, "max_hold_days": None}
             for f in (5, 10, 20) for s in (40, 70) for sl in (None, 5.0)]
    return job, chunk


# --------------------------------------------------------------------------------- splitting


def test_split_tasks_by_symbols_then_parameter_rows() -> None:
    assert split_tasks(10, [0, 1, 2], want=4) == ([(0, 5), (5, 10)], [[0], [1], [2]])
    assert split_tasks(7, [4, 9], want=1) == ([(0, 7)], [[4, 9]])
    assert split_tasks(5, [0, 1, 2], want=2, symbol_chunk=2) == ([(0, 5)], [[0, 1], [2]])
    assert split_tasks(3, [7], want=8) == ([(0, 1), (1, 2), (2, 3)], [[7]])  # one row per task at most


def test_assembled_tasks_equal_the_whole_chunk() -> None:
    """Tasks by symbol part and parameter rows, interleaved back: job.run(chunk)'s block exactly."""
    job, chunk = _job()
    whole = job.run(chunk)
    assert whole.shape == (12 * 3, N_STATS)
    for want, symbol_chunk in ((4, None), (6, 2), (1, None)):
        ranges, parts = split_tasks(len(chunk), job.columns, want, symbol_chunk)
        results = [[job.run(chunk[a:b], columns=p) for p in parts] for a, b in ranges]
        got = assemble(results, ranges, parts, N_STATS)
        assert np.array_equal(got.view(np.int64), whole.view(np.int64)), (want, symbol_chunk)


def test_shared_data_survive_pickling_and_the_document_fallback() -> None:
    import pickle

    job, chunk = _job()
    shared = pickle.loads(pickle.dumps(shared_of(job)))
    assert shared.kind == "compiled" and shared.strategy._plans == {}  # no plan cache shipped
    spec = (job.init_cash, job.start_row, job.end_row, job.base)
    whole = job.run(chunk)
    assert np.array_equal(evaluate(shared, spec, chunk, [0, 1, 2]).view(np.int64), whole.view(np.int64))
    text = Shared("text", Path(GC).read_text(), job.market)  # rebuilt from the document on the worker
    assert np.array_equal(evaluate(text, spec, chunk, [0, 1, 2]).view(np.int64), whole.view(np.int64))
    bad = evaluate(shared, spec, [{"fast": -5, "slow": 50}], [0])
    with pytest.raises(RuleEngineError) as err:  # a worker's user error comes back as a RuleEngineError
        from ruleengine.sweep.executors import _unwrap

        _unwrap(bad)
    assert err.value.diagnostics[0].code == "D103" and "fast" in err.value.diagnostics[0].message


# --------------------------------------------------------------------------------- processes


def test_process_runner_equals_the_thread_runner(reference) -> None:
    with process_runner(workers=2, min_seconds=0) as runner:
        res = sweep(GC, SYMBOLS, *RANGE, chunk_size=CHUNK, runner=runner, **KW)
        assert (runner.in_process, runner.in_pool) == (2, 7)  # the first two here, then the pool
        assert_same(res.table, reference.table)
        assert res.best == reference.best
        # a user error raised in a worker process arrives as the RuleEngineError
        job, chunk = _job()
        with pytest.raises(RuleEngineError) as err:
            list(runner(job, [chunk, chunk, [{"fast": 5, "slow": 999}]]))
        assert err.value.diagnostics[0].code == "D103"


def test_process_runner_keeps_small_sweeps_in_process(reference) -> None:
    with process_runner(workers=2) as runner:  # 9 chunks of a fraction of a second: no pool
        res = sweep(GC, SYMBOLS, *RANGE, chunk_size=CHUNK, runner=runner, **KW)
        assert (runner.in_process, runner.in_pool) == (9, 0)
    assert_same(res.table, reference.table)


def test_walk_forward_reuses_the_pool_and_matches() -> None:
    args = (GC, SYMBOLS, *RANGE)
    wf_kw = {**KW, "walk_forward": "train=504,test=250", "chunk_size": CHUNK, "pbo_top": 20}
    want = walk_forward(*args, **wf_kw)
    with process_runner(workers=2, min_seconds=0) as runner:
        got = walk_forward(*args, runner=runner, **wf_kw)
        assert runner.in_process == 2 and runner.in_pool == 9 * (1 + len(want.folds)) - 2  # one pool for all
    assert len(want.folds) == 4
    assert_same(got.sweep.table, want.sweep.table)
    a, b = got.to_dict(), want.to_dict()
    for d in (a, b):
        d.pop("elapsed"), d.pop("sweep_elapsed")
    assert a == b


def test_interrupted_process_runner_stops_and_recovers(reference) -> None:
    def stop_at_third(done: int, total: int, step: str) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with process_runner(workers=2, min_seconds=0) as runner:
        with pytest.raises(KeyboardInterrupt):
            sweep(GC, SYMBOLS, *RANGE, chunk_size=CHUNK, runner=runner, progress=stop_at_third, **KW)
        res = sweep(GC, SYMBOLS, *RANGE, chunk_size=CHUNK, runner=runner, **KW)  # a new pool
    assert_same(res.table, reference.table)


# --------------------------------------------------------------------------------- dask


def test_dask_runner_equals_the_thread_runner(reference, cluster) -> None:
    _, client = cluster
    # symbol parts of 2 and 1 interleaved back; then one chunk split by symbols and parameter rows
    with dask_runner(client=client, symbol_chunk=2) as runner:
        assert_same(sweep(GC, SYMBOLS, *RANGE, chunk_size=CHUNK, runner=runner, **KW).table, reference.table)
        assert_same(sweep(GC, SYMBOLS, *RANGE, runner=runner, **KW).table, reference.table)
        job, _ = _job()  # a worker's user error arrives as the RuleEngineError
        with pytest.raises(RuleEngineError) as err:
            list(runner(job, [[{"fast": 5, "slow": 999}]]))
        assert err.value.diagnostics[0].code == "D103"
    assert client.status == "running"  # a client passed in is not closed by the runner


def test_dask_ctrl_c_cancels_the_futures(reference, cluster) -> None:
    _, client = cluster
    seen: list[int] = []

    def stop_at_second(done: int, total: int, step: str) -> None:
        seen.append(done)
        if done == 2:
            raise KeyboardInterrupt

    def n_tasks(dask_scheduler: Any) -> int:  # dask passes its scheduler by this argument's name
        return len(dask_scheduler.tasks)

    with dask_runner(client=client) as runner, pytest.raises(KeyboardInterrupt):
        sweep(GC, SYMBOLS, *RANGE, chunk_size=CHUNK, runner=runner, progress=stop_at_second, **KW)
    deadline = time.monotonic() + 10
    while client.run_on_scheduler(n_tasks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.run_on_scheduler(n_tasks) == 0 and seen[-1] == 2  # nothing left on the cluster


def test_cli_dask_scheduler_json_equals_threads(reference, cluster) -> None:
    lc, _ = cluster
    base = ["sweep", GC, "--symbols", SYMBOLS, "--provider", "sample", "--start", RANGE[0], "--end", RANGE[1],
            *[a for g in GRID for a in ("--grid", g)], "--constraint", "fast < slow", "--param",
            "max_hold_days=none", "--top", "204", "--json"]
    out = {}
    for ex in (["--executor", "dask", "--scheduler", lc.scheduler_address], ["--executor", "threads"]):
        res = cli.invoke(app, [*base, *ex])
        assert res.exit_code == 0, res.stdout
        out[ex[1]] = json.loads(res.stdout)
        out[ex[1]].pop("elapsed"), out[ex[1]].pop("sweep_elapsed")
    assert out["dask"] == out["threads"]
    rows = out["dask"]["rows"]
    assert len(rows) == 68 * 3 and rows[0]["sharpe_ratio"] == reference.table["sharpe_ratio"].iloc[0]


# --------------------------------------------------------------------------------- rotation portfolios

ROTATION = rotation_doc.DOC
#: 4 distinct selections (n, lookback) x 2 rebalance periods: chunk_size=1 gives 4 chunks of 2 variants
ROT_GRID = {"n": [1, 2], "lookback": [10, 20], "every": ["1Week", "1Month"]}


@pytest.fixture(scope="module")
def rotation_market(real_daily):
    """The rotation sweep's market, with a universe whose membership changes (XLE leaves for the second half,
    SPY joins after the first quarter): the members mask travels to the workers with the market."""
    from dataclasses import replace

    from ruleengine.data.market import load_market_data

    compiled = compile_strategy(ROTATION)
    md = load_market_data(compiled.data_request().with_overrides(warmup_bars=30), rotation_doc.SYMBOLS,
                          rotation_doc.START, rotation_doc.END, data=str(real_daily))
    members = np.ones((md.n_rows, md.n_cols), dtype=bool, order="F")
    labels = list(md.labels)
    members[md.n_rows // 2:, labels.index("XLE")] = False
    members[:md.start + (md.n_rows - md.start) // 4, labels.index("SPY")] = False
    return replace(md, members=members)


@pytest.fixture(scope="module")
def rotation_reference(rotation_market):
    """The rotation sweep on the thread runner: one row per parameter set, what the other executors reproduce."""
    res = sweep(ROTATION, market=rotation_market, grid=ROT_GRID, chunk_size=1, runner=thread_runner(2))
    assert res.rotation and res.n_trials == 8 and list(res.table["symbol"].unique()) == ["portfolio"]
    assert len(set(res.table["final_equity"])) == 8  # the membership and every parameter change the portfolio
    return res


def test_rotation_sweep_on_processes_equals_the_thread_runner(rotation_market, rotation_reference) -> None:
    source = compile_strategy(ROTATION)  # one source and one market: the sweep and the walk-forward share a pool
    wf_kw = {"market": rotation_market, "grid": {"n": [1, 2], "lookback": [10, 20]}, "chunk_size": 1,
             "walk_forward": "train=126,test=63", "holdout": 63, "pbo_splits": 4}
    want = walk_forward(source, runner=thread_runner(2), **wf_kw)
    with process_runner(workers=2, min_seconds=0) as runner:
        res = sweep(source, market=rotation_market, grid=ROT_GRID, chunk_size=1, runner=runner)
        assert (runner.in_process, runner.in_pool) == (2, 2)  # two chunks here, two in the workers
        assert_same(res.table, rotation_reference.table)
        pool = runner._pool
        # a walk-forward's searches (the in-sample windows, then the hold-out) on the same workers
        got = walk_forward(source, runner=runner, **wf_kw)
        assert runner._pool is pool and runner.in_pool == 2 + 4 * (1 + len(want.folds))
    assert want.folds and list(got.stitched.columns) == ["portfolio"]
    assert_same(got.sweep.table, want.sweep.table)
    a, b = got.to_dict(), want.to_dict()
    for d in (a, b):
        d.pop("elapsed"), d.pop("sweep_elapsed")
    assert a == b


def test_rotation_sweep_on_dask_equals_the_thread_runner(rotation_market, rotation_reference, cluster) -> None:
    _, client = cluster
    with dask_runner(client=client) as runner:
        # four chunks, then one chunk split into tasks by parameter rows (a rotation has one column: the portfolio)
        for chunk_size in (1, None):
            res = sweep(ROTATION, market=rotation_market, grid=ROT_GRID, chunk_size=chunk_size, runner=runner)
            assert_same(res.table, rotation_reference.table)
        assert split_tasks(8, [0], want=4)[0] == [(0, 2), (2, 4), (4, 6), (6, 8)]
        # a worker's error arrives as the RuleEngineError: open fills on a market without open prices
        from dataclasses import replace

        closes = replace(rotation_market, inputs={k: v for k, v in rotation_market.inputs.items() if k[1] != "open"})
        job = ChunkJob(compile_strategy(ROTATION), closes, 10_000.0, closes.start, closes.n_rows, [0], "prices")
        with pytest.raises(RuleEngineError) as err:
            list(runner(job, [[{"n": 1, "lookback": 10, "execution_price": "open"}]]))
        assert (err.value.diagnostics[0].code, err.value.diagnostics[0].path) == ("D102", "data.prices.open")


def test_a_code_rotation_runs_its_chunks_here_and_refuses_a_chosen_pool(rotation_market) -> None:
    """generate_weights runs in the sandbox's own processes: with the default runner (no --executor) the
    sweep's chunks stay in this process (the runner gets none) and give the rule rotation's rows (the same
    universe, without membership: the code does not see it); a pool the caller chose is D122, not a sweep
    that quietly runs elsewhere than asked."""
    from dataclasses import replace

    market = replace(rotation_market, members=None)
    kw = {"market": market, "grid": {"n": [1, 2]}, "params": {"lookback": 20}, "chunk_size": 1}
    code_rotation = str(ROOT / "rules" / "code_momentum_rotation.yaml")
    with make_runner(None) as runner:
        assert isinstance(runner, ProcessRunner) and not runner.chosen
        code = sweep(code_rotation, runner=runner, **kw)
        assert (runner.in_process, runner.in_pool) == (0, 0)
    rules = sweep(str(ROOT / "rules" / "momentum_rotation.yaml"), runner=thread_runner(1), **kw)
    assert_same(code.table, rules.table)
    for chosen in (process_runner(workers=2, min_seconds=0), make_runner("local")):
        with chosen as runner, pytest.raises(RuleEngineError) as err:
            sweep(code_rotation, runner=runner, **kw)
        d = err.value.diagnostics[0]
        assert (d.code, d.path) == ("D122", "executor") and "worker processes on this machine" in d.message
        assert "leave out --executor" in d.hint and runner.in_process == runner.in_pool == 0
    # threads stay in this process: the code's chunks run there, one after the other
    with make_runner("threads", workers=2) as runner:
        assert_same(sweep(code_rotation, runner=runner, **kw).table, rules.table)


def test_cli_sweep_of_a_code_strategy_on_a_chosen_executor_is_d122() -> None:
    """``ruleengine sweep CODE --executor local --json``: one JSON error (code, path, hint), no traceback."""
    res = cli.invoke(app, ["sweep", str(ROOT / "rules" / "code_momentum_rotation.yaml"), "--symbols", "SPY,QQQ",
                           "--provider", "sample", "--json", "--executor", "local"])
    assert res.exit_code == 1 and "Traceback" not in res.stdout, res.stdout
    d = json.loads(res.stdout)["error"]["details"][0]
    assert (d["code"], d["path"]) == ("D122", "executor") and "sandbox" in d["message"]


# --------------------------------------------------------------------------------- errors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _error(*args: str) -> dict:
    res = cli.invoke(app, ["sweep", GC, "--symbols", "SPY", "--provider", "sample", "--grid", "fast=5,10",
                           "--json", *args])
    assert res.exit_code == 1 and "Traceback" not in res.stdout, res.stdout
    err = json.loads(res.stdout)["error"]
    return err["details"][0]


def test_unknown_executor_and_stray_scheduler() -> None:
    d = _error("--executor", "dsk")
    assert (d["code"], d["path"]) == ("D122", "executor") and "did you mean 'dask'?" in d["hint"]
    d = _error("--executor", "gpu")
    assert "choose local" in d["hint"]
    d = _error("--executor", "threads", "--scheduler", "tcp://127.0.0.1:8786")
    assert (d["code"], d["path"], d["hint"]) == ("D122", "scheduler", "add --executor dask")


def test_unreachable_scheduler_names_the_address() -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    t0 = time.monotonic()
    d = _error("--scheduler", address)  # a scheduler alone means --executor dask
    assert time.monotonic() - t0 < 5
    assert (d["code"], d["path"]) == ("D122", "scheduler")
    assert d["message"].startswith(f"cannot reach the Dask scheduler at {address} (ConnectionRefusedError")
    assert "dask scheduler" in d["hint"] and "--executor local" in d["hint"]


def test_silent_port_times_out_with_the_address() -> None:
    with socket.socket() as srv:  # accepts connections, never speaks Dask's protocol
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        address = f"tcp://127.0.0.1:{srv.getsockname()[1]}"
        t0 = time.monotonic()
        with pytest.raises(RuleEngineError) as err:
            dask_runner(address, timeout=1)
        assert time.monotonic() - t0 < 5
    d = err.value.diagnostics[0]
    assert (d.code, d.message) == ("D122", f"cannot reach the Dask scheduler at {address} (no answer within 1 s)")


def test_dask_not_installed_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now raises ImportError
    with pytest.raises(RuleEngineError) as err:
        make_runner("dask")
    d = err.value.diagnostics[0]
    assert (d.code, d.path) == ("D122", "executor") and "pip install 'ruleengine[dask]'" in d.hint


def test_a_ctrl_c_while_a_worker_may_start_is_delivered_after_it_not_lost() -> None:
    """SIGINT during `_sigint_deferred` (around the pool's submits, which may start a worker process) waits until
    the block ends, then raises KeyboardInterrupt: never in the middle of a start, never dropped."""
    import os
    import signal as sig

    from ruleengine.sweep.executors import _sigint_deferred

    # Python's default handler, whatever the launcher set: a job started in the background by a shell without
    # job control inherits SIGINT ignored (then the block notes the signal and keeps ignoring it, checked last)
    launcher = sig.signal(sig.SIGINT, sig.default_int_handler)
    try:
        reached_end_of_block = False
        with pytest.raises(KeyboardInterrupt), _sigint_deferred():
            os.kill(os.getpid(), sig.SIGINT)
            time.sleep(0.05)  # a delivered signal would have raised by now
            reached_end_of_block = True
        assert reached_end_of_block
        sig.signal(sig.SIGINT, sig.SIG_IGN)
        with _sigint_deferred():
            os.kill(os.getpid(), sig.SIGINT)
            time.sleep(0.05)
        assert sig.getsignal(sig.SIGINT) == sig.SIG_IGN
    finally:
        sig.signal(sig.SIGINT, launcher)
    assert sig.getsignal(sig.SIGINT) is sig.default_int_handler  # the usual handler again
