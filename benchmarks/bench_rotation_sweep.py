#!/usr/bin/env python
"""Rotation sweep benchmark (issue 17, Speed): 1,000 rotation variants over 500 symbols x 2,520 bars.

    python benchmarks/bench_rotation_sweep.py [--quick] [--repeat N]

Workload: a momentum rotation (`hold: top(roc(close, lookback), n)`, equal weights, fees 0.1 %, orders at the
rebalance bar's close) swept over n = 1..10 x lookback = 21, 26, ..., 266 (50 values) x rebalance 1Week /
1Month (an enum parameter named by ``rotation.rebalance``) = 1,000 variants, 500 distinct selections. Prices:
the 500-column panel of `_data.build_universe` with 2,520-bar segments (real daily OHLC of ../shared/data,
each column one symbol's consecutive 2,520 bars; a business-day calendar as index), bound once outside the
timing as `MarketData` (the sweep's input when it is given ``market=``).

Timed (wall clock and the process's CPU time, which a loaded machine does not inflate):
`ruleengine.sweep(doc, market=md, grid=...)`, the whole call (grid, chunks, one compiler call per chunk
for its distinct selections, target weights per variant and rebalance period, the rebalance kernel per variant,
the metrics and the ranked table), warm (kernels compiled by a first, untimed, small sweep). Memory: the peak
RSS during the call (VmHWM reset before it). Check: three rows re-run one by one through `ruleengine.backtest`
give the same final equity (exactly).

Report: markdown on stdout and in benchmarks/results/rotation_sweep.md (+ .json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # see bench_signals.py
    os.environ.setdefault(_var, "1")

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

from _data import build_universe, load_daily
from _measure import environment, fmt_mb, hwm_mb, loadavg, median, reset_hwm

N_COLS, N_BARS = 500, 2520
TARGET_S = 30.0
DOC: dict[str, Any] = {
    "name": "Momentum rotation sweep",
    "data": {"prices": {"kind": "ohlcv", "frequency": "1Day", "columns": ["open", "close"]}},
    "params": {"lookback": {"type": "int", "min": 2, "max": 300, "default": 126},
               "n": {"type": "int", "min": 1, "max": 50, "default": 10},
               "every": {"type": "enum", "values": ["1Week", "1Month"], "default": "1Month"}},
    "rotation": {"rebalance": "every", "hold": "top(roc(close, lookback), n)", "weights": "equal"},
    "risk": {"fees_pct": 0.1},
}


def grid(quick: bool) -> dict[str, list[Any]]:
    if quick:
        return {"n": [5, 10], "lookback": [63, 126, 252], "every": ["1Week", "1Month"]}
    return {"n": list(range(1, 11)), "lookback": list(range(21, 267, 5)), "every": ["1Week", "1Month"]}


def market(n_cols: int, n_bars: int) -> Any:
    from ruleengine import compile_strategy
    from ruleengine.data.market import MarketData

    panel = build_universe(load_daily(), n_cols=n_cols, n_bars=n_bars, stride=126)
    compiled = compile_strategy(DOC)
    request = compiled.data_request().with_overrides(columns={"prices": {"open", "close"}})
    return MarketData.from_frames({"prices": panel.wide()}, request), panel.description


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="12 variants on 100 symbols x 1,260 bars")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs (default 2)")
    args = ap.parse_args()
    import ruleengine

    n_cols, n_bars = (100, 1260) if args.quick else (N_COLS, N_BARS)
    t0 = time.perf_counter()
    md, panel = market(n_cols, n_bars)
    load_s = time.perf_counter() - t0
    axes = grid(args.quick)
    t0 = time.perf_counter()
    ruleengine.sweep(DOC, market=md, grid={"n": [2, 3], "lookback": [20], "every": ["1Week", "1Month"]})
    warm_s = time.perf_counter() - t0
    times, cpus, peaks, res = [], [], [], None
    load0 = loadavg()
    for _ in range(max(1, args.repeat)):
        reset_hwm()
        t0, c0 = time.perf_counter(), time.process_time()
        res = ruleengine.sweep(DOC, market=md, grid=axes)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        peaks.append(hwm_mb())
    assert res is not None
    checks = []
    for rank in (1, len(res.table) // 2, len(res.table)):
        one = ruleengine.backtest(DOC, md, params=res.params_of(rank), benchmark=None)
        want = float(res.table.iloc[rank - 1]["final_equity"])
        checks.append({"rank": rank, "params": res.params_of(rank), "sweep": want,
                       "backtest": one.metrics.final_equity, "same": one.metrics.final_equity == want})
    best = median(times)
    out = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"), "environment": environment(HERE.parent),
        "loadavg_start": load0, "loadavg_end": loadavg(), "symbols": n_cols, "bars": n_bars,
        "variants": res.n_trials, "distinct_selections": len({(c["n"], c["lookback"]) for c in res.combinations}),
        "panel": panel, "data_bind_s": load_s, "first_small_sweep_s": warm_s, "sweep_s": times,
        "sweep_median_s": best, "sweep_cpu_s": cpus, "variants_per_s": res.n_trials / best, "peak_rss_mb": peaks,
        "target_s": TARGET_S, "met": best < TARGET_S, "checks": checks,
        "best": res.best,
    }
    lines = [
        f"# Rotation sweep ({out['date']} UTC, `bench_rotation_sweep.py`{' --quick' if args.quick else ''})", "",
        f"{res.n_trials:,} variants (n x lookback x rebalance; {out['distinct_selections']} distinct selections) "
        f"over {n_cols} symbols x {n_bars:,} bars; load average {load0} -> {out['loadavg_end']} on "
        f"{os.cpu_count()} CPUs.", "",
        "| step | value |", "|---|---|",
        f"| binding the panel as MarketData (not timed) | {load_s:.2f} s |",
        f"| first small sweep (kernel cache loads / compiles) | {warm_s:.2f} s |",
        f"| sweep, warm (runs: {', '.join(f'{t:.2f}' for t in times)} s) | **{best:.2f} s** median, "
        f"{res.n_trials / best:,.0f} variants/s |",
        f"| CPU time of the sweep (both threads; the wall time of one busy core) | "
        f"{', '.join(f'{c:.2f}' for c in cpus)} s |",
        f"| peak RSS during the sweep | {', '.join(fmt_mb(p) for p in peaks)} |",
        f"| target: under {TARGET_S:.0f} s | {'met' if out['met'] else 'NOT met'} |",
        f"| rows re-run by `backtest` (final equity exactly equal) | "
        f"{sum(c['same'] for c in checks)} of {len(checks)} |", "",
        f"Best: {res.best}", ""]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "rotation_sweep.md").write_text(text)
        (RESULTS / "rotation_sweep.json").write_text(json.dumps(out, indent=2, default=str))
    return 0 if all(c["same"] for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
