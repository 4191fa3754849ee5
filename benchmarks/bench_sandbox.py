#!/usr/bin/env python
"""Sandbox benchmark: what running generated code in the hardened sandbox costs, with a warm zygote pool.

    python benchmarks/bench_sandbox.py [--reps 7]

Workload: seed 000's moving-average cross as generated code (``generate_signals`` with pandas rolling means),
run through `ruleengine.sandbox.runner.run_job` (fork of a warm zygote, full lockdown: no_new_privs, netns,
rlimits, Landlock, nobody, seccomp; job in a sealed memfd; bits back through a pipe) on

- 1 symbol x 2,520 daily bars (SPY from ../shared/data, or a random walk when the data are absent),
- 500 symbols x 2,520 bars x 5 columns (random walks: 50 MB of float64, as in the security notes).

Reported: the median wall time of a warm call, the one-off encoding of the job into the memfd (part of the
call), the same code run in-process (the floor: no sandbox), the zygote start-up (one-off per worker), and a
`CodeStrategy.signals` call including its acceptance checks (determinism + lookahead, first use of a
market) and without them (later calls). Targets (issue 8): one symbol well under 100 ms; 500 symbols about
1 s plus encoding. Writes benchmarks/results/sandbox.json and sandbox.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

from _measure import environment, fmt_time, loadavg, median

CODE = '''
def generate_signals(data, params):
    c = data["prices"]["close"]
    fast, slow = c.rolling(params["fast"]).mean(), c.rolling(params["slow"]).mean()
    entries = (fast > slow) & (fast.shift(1) <= slow.shift(1))
    exits = (fast < slow) & (fast.shift(1) >= slow.shift(1))
    return entries, exits
'''
COLS = ["open", "high", "low", "close", "volume"]
PARAMS = {"fast": 10, "slow": 50}
N_BARS = 2520


def random_walks(n_cols: int, n_bars: int = N_BARS, seed: int = 3) -> tuple[pd.DatetimeIndex, dict]:
    idx = pd.date_range("2008-01-02", periods=n_bars, freq="B", tz="UTC")
    close = 100 * np.exp(np.random.default_rng(seed).normal(0, 0.01, (n_bars, n_cols)).cumsum(axis=0))
    return idx, {("prices", c): np.asfortranarray(close * (1 + 0.001 * k)) for k, c in enumerate(COLS)}


def spy(n_bars: int = N_BARS) -> tuple[pd.DatetimeIndex, dict, str]:
    """SPY's last `n_bars` daily bars from ../shared/data (a random walk when absent)."""
    path = HERE.parent.parent / "shared" / "data" / "daily.parquet"
    if not path.exists():
        idx, inputs = random_walks(1, n_bars)
        return idx, inputs, "random walk (no ../shared/data)"
    df = pd.read_parquet(path, filters=[("symbol", "==", "SPY")]).sort_values("date").tail(n_bars)
    idx = pd.DatetimeIndex(pd.to_datetime(df["date"])).tz_localize("UTC")
    inputs = {("prices", c): np.asfortranarray(df[c].to_numpy(np.float64)[:, None]) for c in COLS}
    return idx, inputs, f"SPY {idx[0].date()} .. {idx[-1].date()}"


def in_process(idx: pd.DatetimeIndex, inputs: dict, n_cols: int) -> float:
    """The same code without any sandbox: one call per symbol on a fresh frame (what the child does)."""
    ns: dict = {}
    exec(CODE, ns)  # noqa: S102 - the benchmark's own code
    t0 = time.perf_counter()
    for j in range(n_cols):
        frame = pd.DataFrame({c: inputs[("prices", c)][:, j] for c in COLS}, index=idx)
        ns["generate_signals"]({"prices": frame}, PARAMS)
    return time.perf_counter() - t0


def workload(name: str, idx: pd.DatetimeIndex, inputs: dict, reps: int, pool) -> dict:
    from ruleengine.sandbox.protocol import encode_job, job_from_inputs
    from ruleengine.sandbox.runner import run_job

    n_cols = inputs[("prices", "close")].shape[1]
    job = job_from_inputs(CODE, inputs, idx, [f"S{j}" for j in range(n_cols)], {"prices": COLS}, ["prices"],
                          [PARAMS])
    encode = []
    for _ in range(reps):
        t0 = time.perf_counter()
        os.close(encode_job(job))
        encode.append(time.perf_counter() - t0)
    run_job(job, pool=pool)  # first call after start-up (page cache, lazy paths): not counted
    calls = []
    for _ in range(reps):
        t0 = time.perf_counter()
        entries, exits = run_job(job, pool=pool)
        calls.append(time.perf_counter() - t0)
    ref = median([in_process(idx, inputs, n_cols) for _ in range(3)])
    return {"workload": name, "symbols": n_cols, "bars": len(idx),
            "input_mb": round(n_cols * len(idx) * 5 * 8 / 1e6, 1),
            "warm_call_s": median(calls), "min_call_s": min(calls), "encode_s": median(encode),
            "in_process_s": ref, "overhead_s": median(calls) - ref, "entries": int(entries.sum()),
            "exits": int(exits.sum())}


def code_strategy(idx: pd.DatetimeIndex, inputs: dict, reps: int) -> dict:
    """`CodeStrategy.signals` on one symbol: first use of a market (with acceptance) and later calls."""
    import ruleengine
    from ruleengine.data.market import MarketData
    from ruleengine.sandbox.pool import get_pool

    get_pool().warm("base", 1)  # the process-wide pool CodeStrategy uses: start-up is not part of a call
    s = ruleengine.compile_strategy({"name": "sma", "data": {"prices": {"kind": "ohlcv"}},
                                     "params": {"fast": {"type": "int", "default": 10, "min": 2, "max": 100},
                                                "slow": {"type": "int", "default": 50, "min": 5, "max": 400}},
                                     "code": CODE})
    md = MarketData(index=idx, frequency="1Day", runs=[{"prices": "SPY"}], inputs=inputs, start=100, providers={})
    t0 = time.perf_counter()
    s.signals(md)
    first = time.perf_counter() - t0
    s.verify = False
    later = []
    for _ in range(reps):
        t0 = time.perf_counter()
        s.signals(md)
        later.append(time.perf_counter() - t0)
    return {"with_acceptance_s": first, "without_acceptance_s": median(later)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    from ruleengine.sandbox.pool import Pool, Zygote
    from ruleengine.sandbox.runner import features

    f = features()
    if not f.usable:
        print("the sandbox cannot run here: " + "; ".join(f.problems))
        return 1
    starts = {}
    for flavour in ("base", "vectorbt"):
        t0 = time.perf_counter()
        z = Zygote(flavour)
        starts[flavour] = time.perf_counter() - t0
        z.close()
    pool = Pool(size=1)
    pool.warm("base", 1)
    idx1, in1, what = spy()
    rows = [workload(f"1 symbol ({what})", idx1, in1, args.reps, pool)]
    idx5, in5 = random_walks(500)
    rows.append(workload("500 symbols (random walks)", idx5, in5, args.reps, pool))
    pool.close()
    cs = code_strategy(idx1, in1, args.reps)
    env = environment(HERE.parent)
    out = {"date": dt.datetime.now().isoformat(timespec="seconds"), "environment": env, "loadavg": loadavg(),
           "landlock_abi": f.landlock_abi, "root": f.root, "zygote_start_s": starts, "workloads": rows,
           "code_strategy_1_symbol": cs}
    lines = [f"# Sandbox benchmark ({out['date']}, load {out['loadavg']})", "",
             "| workload | warm call (median) | min | of which encoding | same code in-process | sandbox overhead |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['workload']}, {r['bars']} bars, {r['input_mb']} MB | **{fmt_time(r['warm_call_s'])}** | "
                     f"{fmt_time(r['min_call_s'])} | {fmt_time(r['encode_s'])} | {fmt_time(r['in_process_s'])} | "
                     f"{fmt_time(r['overhead_s'])} |")
    lines += ["", (f"Zygote start (one-off per worker): base {fmt_time(starts['base'])}, "
                   f"vectorbt {fmt_time(starts['vectorbt'])}."),
              (f"CodeStrategy, 1 symbol: first use of a market with the acceptance checks "
               f"{fmt_time(cs['with_acceptance_s'])}, later calls {fmt_time(cs['without_acceptance_s'])}."), ""]
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sandbox.json").write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")
    (RESULTS / "sandbox.md").write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
