#!/usr/bin/env python
"""Sweep benchmark: `ruleengine.sweep()` vs hand-written vectorbt broadcasting, side by side in one process.

    python benchmarks/bench_sweep.py [--quick]

Workload (issue 5): rules/golden_cross.yaml (SMA fast/slow cross, RSI(14) < 70 filter) over fast 5..50 x slow
20..200 step 5 with fast < slow (1,590 combinations) on SPY x 2,520 daily bars (2007-12-27 .. 2017-12-29, from
../shared/data/daily.parquet), stop loss 5 %, take profit 10 %, fees 0.1 %, no time stop, fills at the close.

- ruleengine: `sweep(compiled, market=md, grid=..., constraints=["fast < slow"], params=risk)`: grid parsing,
  combinations, signals (compiler), the fused kernel, the ranked table. The market data are loaded once
  outside the timing, as the vectorbt side gets its DataFrames ready-made.
- vectorbt: `vbt.MA.run` with one window per column for fast and slow, TA-Lib's RSI, `ma_crossed_above/below`
  and `real_below(70)` combined with `.vbt &`, then `Portfolio.from_signals(sl_stop=0.05, tp_stop=0.10,
  fees=0.001, engine="numba")` over all 1,590 columns, `total_return()` and `trades.count()`. It runs on the
  same rows as ruleengine (the 330 bars of history before the range included, signals cleared there), so
  RSI's recursion starts from the same point.
- Check: per combination the same trade count and total return (1e-9 relative) where both engines' signals
  agree; where they differ, every differing bar must be an exact SMA tie that `vbt.MA` (differences of
  cumulative sums) rounds the other way (see benchmarks/bench_signals.py). Exit status 1 otherwise.
- Bandwidth floor: a trivial numba kernel (`kernels.sweep_sim.stream_nb`) reading open/high/low/close of each
  combination's run once; kernel variants: one thread, two nogil thread blocks, `numba.prange`.
- Scale: 10,000 / 30,000 / 100,000 random combinations of fast, slow, stop_loss_pct and take_profit_pct
  (fast < slow), with the peak RSS of each call (VmHWM reset before it) to show memory stays flat.

Round-robin timing with a rotating order, ratios = medians of per-repetition ratios (as the other
benchmarks). Markdown report on stdout and in benchmarks/results/sweep.md (+ sweep.json).
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
PROJECT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

from _data import SHARED_DATA, require_daily
from _measure import environment, fmt_mb, fmt_time, hwm_mb, loadavg, measure, median, reset_hwm

GRID = ["fast=5:50", "slow=20:200:5"]
CONSTRAINTS = ["fast < slow"]
RISK = {"stop_loss_pct": 5, "take_profit_pct": 10, "fees_pct": 0.1, "max_hold_days": None}
RANGE = ("2007-12-27", "2017-12-29")
SCALE_GRID = ["fast=2:100", "slow=5:400", "stop_loss_pct=1:20:0.5", "take_profit_pct=2:40:0.5"]
TARGET_VBT, TARGET_FLOOR = 20.0, 10.0


def vectorbt_sweep(vbt: Any, vs: Any, ohlc: dict[str, Any], fasts: list[int], slows: list[int],
                   start: int) -> tuple[Any, Any, Any, Any]:
    """Hand-written vectorbt: signals for aligned (fast, slow) columns, from_signals over all of them."""
    entries, exits = vs.grid_signals(ohlc["close"], fasts, slows)
    entries.iloc[:start] = False  # rows before the range are history (as in ruleengine): never traded
    exits.iloc[:start] = False
    pf = vbt.Portfolio.from_signals(ohlc["close"], entries, exits, open=ohlc["open"], high=ohlc["high"],
                                    low=ohlc["low"], sl_stop=0.05, tp_stop=0.10, fees=0.001, init_cash=10_000.0,
                                    direction="longonly", engine="numba")
    return pf.total_return().to_numpy(), pf.trades.count().to_numpy(), entries, exits


def kernel_args(md: Any, entries: Any, exits: Any, n: int) -> tuple[Any, ...]:
    """Arguments of `sweep_nb` for n columns of one symbol with the benchmark's risk."""
    import numpy as np
    import pandas as pd

    from ruleengine.backtest.risk import RiskSpec
    from ruleengine.backtest.simulation import risk_arrays
    from ruleengine.sweep.run import run_rows

    prices = [np.ascontiguousarray(md.inputs[("prices", c)].T) for c in ("open", "high", "low", "close")]
    lo, hi = run_rows(md.inputs[("prices", "close")], md.start, md.n_rows)
    times = pd.DatetimeIndex(md.index).as_unit("ns").asi8
    risk = RiskSpec(stop_loss_pct=5.0, take_profit_pct=10.0, position_size_pct=100.0, fees_pct=0.1,
                    slippage_pct=0.0, execution_price="close")
    no_short = np.zeros((0, len(times)), dtype=np.bool_)
    return (*prices, np.ascontiguousarray(entries.T), np.ascontiguousarray(exits.T), no_short, no_short,
            np.zeros((0, n, len(times))), np.zeros(0, dtype=np.int64), np.zeros(0),  # no exit program
            times, lo, hi, np.zeros(n, dtype=np.int64), np.arange(n, dtype=np.int64),
            risk_arrays([risk] * n), 10_000.0)


def kernel_variants(args: tuple[Any, ...], n: int) -> dict[str, Any]:
    """The fused kernel alone on precomputed signals: 1 thread, 2 nogil thread blocks, numba.prange; floor."""
    from concurrent.futures import ThreadPoolExecutor

    import numba
    import numpy as np

    from ruleengine.kernels.modes import FillMode
    from ruleengine.kernels.sweep_sim import N_STATS, stream_nb, sweep_entry, sweep_nb

    # sweep_nb groups columns by fill mode in Python and calls each mode's compiled entry: numba.prange calls the
    # benchmark's mode (close fills, long only, market orders) directly
    mode_nb = sweep_entry(FillMode(exec_open=False, long_short=False, orders=False))

    @numba.njit(parallel=True)
    def sweep_prange(a: Any, out: Any, blocks: int) -> Any:  # numba.prange over column blocks
        for b in numba.prange(blocks):
            mode_nb(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13],
                    a[14], a[15], a[16], a[17], out, np.arange(b * n // blocks, (b + 1) * n // blocks))
        return out

    out = np.empty((n, N_STATS))
    pool = ThreadPoolExecutor(2)
    o, h, lo_, c = args[:4]
    sym, lo, hi = args[14], args[12], args[13]

    def two_threads() -> None:
        list(pool.map(lambda b: sweep_nb(*args, out, b * n // 2, (b + 1) * n // 2), range(2)))

    variants = {"kernel, 1 thread": lambda: sweep_nb(*args, out, 0, n),
                "kernel, 2 nogil thread blocks": two_threads,
                "kernel, numba.prange (2 threads)": lambda: sweep_prange(args, out, numba.get_num_threads()),
                "bandwidth floor (stream OHLC once per combination, 1 thread)": lambda: stream_nb(o, h, lo_, c, sym,
                                                                                                lo, hi, 0, n)}
    for fn in variants.values():
        fn()  # compile / warm
    ref = out.copy()
    res: dict[str, Any] = {"threading_layer": numba.threading_layer(), "numba_threads": numba.get_num_threads()}
    for name, fn in variants.items():
        ts = [measure(fn)[0] for _ in range(7)]
        res[name] = median(ts)
        if "floor" not in name:
            assert np.array_equal(out, ref), name  # every variant computes the same accumulators
    pool.shutdown()
    return res


def check(res: Any, compiled: Any, md: Any, vbt_out: tuple[Any, ...], vs: Any) -> dict[str, Any]:
    """Per combination: trades and total return equal where the signals agree; differing signals only at ties."""
    import numpy as np
    import talib

    ret, count, v_ent, v_ext = vbt_out
    sets = res.combinations
    entries, exits, _ = compiled.signals_arrays(md.inputs, md.n_rows, md.n_cols, sets)
    s0 = md.start
    same_sig = ((entries[s0:] == v_ent.to_numpy()[s0:]) & (exits[s0:] == v_ext.to_numpy()[s0:])).all(axis=0)
    table = res.table.sort_values("combination")
    re_ret = table["total_return_pct"].to_numpy() / 100.0
    re_cnt = table["total_trades"].to_numpy()
    match = (re_cnt == count) & np.isclose(1 + re_ret, 1 + ret, rtol=1e-9, atol=0)
    close = md.inputs[("prices", "close")][:, 0]
    sma = {w: talib.SMA(close, w) for w in {*[c["fast"] for c in sets], *[c["slow"] for c in sets]}}
    unexplained, explained = [], 0
    for j in np.flatnonzero(~same_sig):
        f, s = sets[j]["fast"], sets[j]["slow"]
        vf, vsl = (vs.ma_values(md.frame("prices", "close").iloc[:, 0], w)[:, 0] for w in (f, s))
        bars = np.flatnonzero((entries[:, j] != v_ent.to_numpy()[:, j]) | (exits[:, j] != v_ext.to_numpy()[:, j]))
        tie = all(any(k >= 0 and abs(sma[f][k] - sma[s][k]) <= 1e-9 * abs(sma[s][k])
                      and np.sign(sma[f][k] - sma[s][k]) != np.sign(vf[k] - vsl[k]) for k in (t, t - 1))
                  for t in bars if t >= s0)
        explained += tie
        if not tie:
            unexplained.append(sets[j])
    bad = [sets[j] for j in np.flatnonzero(same_sig & ~match)]
    delta = float(np.max(np.abs((1 + re_ret[same_sig]) / (1 + ret[same_sig]) - 1))) if same_sig.any() else 0.0
    return {"combinations": len(sets), "same_signals": int(same_sig.sum()),
            "same_signals_and_results": int((same_sig & match).sum()), "max_rel_diff_final_equity": delta,
            "trades_ruleengine": int(re_cnt.sum()), "trades_vectorbt": int(count.sum()),
            "signals_differ": int((~same_sig).sum()), "explained_by_sma_ties": explained,
            "unexplained_signals": unexplained[:10], "results_differ_with_same_signals": bad[:10],
            "ok": not unexplained and not bad}


def scale(compiled: Any, md: Any, sweep: Any, sizes: list[int]) -> list[dict[str, Any]]:
    """Random combinations of 4 axes: time, peak RSS delta and absolute peak per call."""
    rows = []
    for n in sizes:
        reset_hwm()
        t, delta, res = measure(lambda n=n: sweep(compiled, market=md, grid=SCALE_GRID, constraints=CONSTRAINTS,
                                                  params={"fees_pct": 0.1, "max_hold_days": None}, samples=n))
        rows.append({"combinations": res.n_trials, "seconds": t, "per_s": res.n_trials / t, "peak_delta_mb": delta,
                     "process_peak_mb": hwm_mb(),
                     "signal_sets": len({(c["fast"], c["slow"]) for c in res.combinations}),
                     "table_mb": res.table.memory_usage(deep=True).sum() / 2**20})
        del res
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, scale up to 30,000 combinations")
    args = ap.parse_args(argv)
    reps = 3 if args.quick else 7
    require_daily()
    t_run = time.perf_counter()
    started, load0 = dt.datetime.now().isoformat(timespec="seconds"), loadavg()

    import _vectorbt_signals as vs
    import vectorbt as vbt

    from ruleengine import compile_strategy, load_data
    from ruleengine.compile.execute import default_threads
    from ruleengine.sweep.run import sweep

    env = environment(PROJECT)
    env["ruleengine threads"] = default_threads()
    compiled = compile_strategy(str(PROJECT / "rules" / "golden_cross.yaml"))
    t_first, _, res = measure(lambda: sweep(compiled, "SPY", *RANGE, data=str(SHARED_DATA), grid=GRID,
                                            constraints=CONSTRAINTS, params=RISK))
    md = load_data(compiled, "SPY", *RANGE, data=str(SHARED_DATA), warmup_bars=res.context["history"])
    bars = md.n_rows - md.start
    fasts = [c["fast"] for c in res.combinations]
    slows = [c["slow"] for c in res.combinations]
    ohlc = {c: md.frame("prices", c).iloc[:, 0] for c in ("open", "high", "low", "close")}
    t_vbt_first, _, vbt_out = measure(lambda: vectorbt_sweep(vbt, vs, ohlc, fasts, slows, md.start))

    def re2() -> Any:
        return sweep(compiled, market=md, grid=GRID, constraints=CONSTRAINTS, params=RISK)

    def re1() -> Any:
        return sweep(compiled, market=md, grid=GRID, constraints=CONSTRAINTS, params=RISK, threads=1)

    def re_load() -> Any:
        return sweep(compiled, "SPY", *RANGE, data=str(SHARED_DATA), grid=GRID, constraints=CONSTRAINTS, params=RISK)

    engines = {"ruleengine sweep() (threads)": re2, "ruleengine sweep(), 1 thread": re1,
               "ruleengine sweep() incl. data loading": re_load,
               "ruleengine sweep(), same grid again (plans cached)": re2,
               "vectorbt hand-written": lambda: vectorbt_sweep(vbt, vs, ohlc, fasts, slows, md.start)}
    names = list(engines)
    times: dict[str, list[float]] = {n: [] for n in names}
    mems: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        for name in names[r % len(names):] + names[:r % len(names)]:
            if "cached" in name:  # the same sweep just ran: its plans are in the compiler's cache
                engines[name]()
            else:  # a new sweep builds its plans: drop the compiler's plan cache
                compiled._plans.clear()
            t, mem, _ = measure(engines[name])
            times[name].append(t)
            mems[name].append(mem or 0.0)
    ref = times["vectorbt hand-written"]
    rows = {n: {"median_s": median(ts), "min_s": min(ts), "per_s": len(fasts) / median(ts),
                "vs_vectorbt": median([a / b for a, b in zip(ref, ts, strict=True)]), "peak_delta_mb": max(mems[n])}
            for n, ts in times.items()}
    # components: a fresh plan (as every new chunk), signals on a cached plan, the kernel variants
    compiled._plans.clear()
    t_plan, _, (entries, exits, _plan) = measure(lambda: compiled.signals_arrays(md.inputs, md.n_rows, md.n_cols,
                                                                                  res.combinations))
    t_sig = median([measure(lambda: compiled.signals_arrays(md.inputs, md.n_rows, md.n_cols,
                                                            res.combinations))[0] for _ in range(5)])
    kern = kernel_variants(kernel_args(md, entries, exits, len(fasts)), len(fasts))
    floor = kern["bandwidth floor (stream OHLC once per combination, 1 thread)"]
    correctness = check(re2(), compiled, md, vbt_out, vs)
    scaling = scale(compiled, md, sweep, [10_000, 30_000] if args.quick else [10_000, 30_000, 100_000])
    report = {"started": started, "seconds": time.perf_counter() - t_run, "load": [load0, loadavg()],
              "environment": env, "bars": bars, "history_rows": md.start, "combinations": len(fasts),
              "first_call_s": {"ruleengine sweep() (fresh process, data included)": t_first,
                               "vectorbt hand-written": t_vbt_first},
              "rows": rows, "reps": reps, "plan_and_signals_s": t_plan, "signals_cached_plan_s": t_sig,
              "kernel": kern, "floor_s": floor, "correctness": correctness, "scale": scaling}
    text = render(report)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    stem = "sweep_quick" if args.quick else "sweep"
    (RESULTS / f"{stem}.md").write_text(text, encoding="utf-8")
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    return 0 if correctness["ok"] else 1


def render(r: dict[str, Any]) -> str:
    n = r["combinations"]
    rows = r["rows"]
    best = rows["ruleengine sweep() (threads)"]
    k = r["kernel"]
    floor = r["floor_s"]
    c = r["correctness"]
    env = r["environment"]
    lines = [f"## Sweep results (run of {r['started']}, `bench_sweep.py`, {r['seconds']:.0f} s)", "",
             (f"Load average {r['load'][0]} at the start and {r['load'][1]} at the end on {env.get('cpus')} CPUs. "
             f"Versions: Python {env.get('python')}, vectorbt {env.get('vectorbt')} (numba engine), numba "
             f"{env.get('numba')}, numpy {env.get('numpy')}, pandas {env.get('pandas')}; git {env.get('git')}, "
             f"source {env.get('src/ruleengine fingerprint')}."), "",
             (f"Workload: {n:,} combinations x {r['bars']:,} bars (SPY, {r['history_rows']} rows of history before "
             f"them), SL 5 %, TP 10 %, fees 0.1 %; {r['reps']} round-robin repetitions."), "",
             "| engine | warm median | combinations/s | vs vectorbt (median of per-rep ratios) | peak Δ MB (max) |",
             "|---|---|---|---|---|"]
    for name, row in rows.items():
        ratio = "1 (reference)" if name.startswith("vectorbt") else f"**{row['vs_vectorbt']:.1f}x**"
        lines.append(f"| {name} | {fmt_time(row['median_s'])} | {row['per_s']:,.0f} | {ratio} | "
                     f"{fmt_mb(row['peak_delta_mb'])} |")
    first_sweep = r['first_call_s']['ruleengine sweep() (fresh process, data included)']
    lines += ["", (f"First calls: ruleengine sweep() {fmt_time(first_sweep)} "
              f"(numba cache load + data), vectorbt {fmt_time(r['first_call_s']['vectorbt hand-written'])} (JIT)."), "",
              "| component (1,590 combinations) | time | x floor |", "|---|---|---|",
              (f"| compiler: fresh plan + signals (one chunk's work) | {fmt_time(r['plan_and_signals_s'])} | "
              f"{r['plan_and_signals_s'] / floor:.1f}x |"),
              (f"| compiler: signals on a cached plan | {fmt_time(r['signals_cached_plan_s'])} | "
              f"{r['signals_cached_plan_s'] / floor:.1f}x |")]
    for name in ("kernel, 1 thread", "kernel, 2 nogil thread blocks", "kernel, numba.prange (2 threads)",
                 "bandwidth floor (stream OHLC once per combination, 1 thread)"):
        lines.append(f"| {name} | {fmt_time(k[name])} | {k[name] / floor:.1f}x |")
    lines += [f"| **whole sweep() (threads)** | {fmt_time(best['median_s'])} | **{best['median_s'] / floor:.1f}x** |",
              "", (f"numba threading layer after the prange call: `{k['threading_layer']}` "
              f"({k['numba_threads']} threads)."), "",
              "### Targets", "",
              (f"- >= {TARGET_VBT:.0f}x hand-written vectorbt: **{best['vs_vectorbt']:.1f}x**: "
              f"**{'met' if best['vs_vectorbt'] >= TARGET_VBT else 'NOT met'}** "
              f"(1 thread: {rows['ruleengine sweep(), 1 thread']['vs_vectorbt']:.1f}x)"),
              (f"- within {TARGET_FLOOR:.0f}x of the bandwidth floor ({fmt_time(floor)}): whole sweep "
              f"{best['median_s'] / floor:.1f}x: "
              f"**{'met' if best['median_s'] / floor <= TARGET_FLOOR else 'NOT met'}**; "
              f"the fused kernel alone {k['kernel, 1 thread'] / floor:.1f}x (1 thread)"), "",
              "### Correctness (vs hand-written vectorbt, per combination)", "",
              (f"- {c['same_signals']:,} of {c['combinations']:,} combinations get identical signals from both; of "
              f"those, {c['same_signals_and_results']:,} have the same trade count and total return (final equity "
              f"within {c['max_rel_diff_final_equity']:.0e} relative). Trades: ruleengine {c['trades_ruleengine']:,}, "
              f"vectorbt {c['trades_vectorbt']:,}."),
              (f"- {c['signals_differ']} combinations get different signals; {c['explained_by_sma_ties']} of them "
              f"only at exact SMA ties that `vbt.MA` rounds the other way. Unexplained: "
              f"{c['unexplained_signals'] or 'none'}; same signals but different results: "
              f"{c['results_differ_with_same_signals'] or 'none'}. **{'PASS' if c['ok'] else 'FAIL'}**."), "",
              "### Scale: random combinations (fast, slow, stop_loss_pct, take_profit_pct; fast < slow)", "",
              "| combinations | distinct signal sets | time | combinations/s | peak Δ MB | process peak MB "
              "| table MB |",
              "|---|---|---|---|---|---|---|"]
    for s in r["scale"]:
        lines.append(f"| {s['combinations']:,} | {s['signal_sets']:,} | {fmt_time(s['seconds'])} | {s['per_s']:,.0f} | "
                     f"{fmt_mb(s['peak_delta_mb'])} | {fmt_mb(s['process_peak_mb'])} | {s['table_mb']:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
