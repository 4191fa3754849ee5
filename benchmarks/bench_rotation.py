#!/usr/bin/env python
"""Rotation benchmark (issue 17, Speed): monthly top-10 momentum rotation over 500 symbols x 2,520 bars.

    python benchmarks/bench_rotation.py [--quick]

Workload: 500 columns x 2,520 daily bars of real prices (`_data.build_universe(n_cols=500, n_bars=2520,
stride=126)`: segments of ../shared/data/daily.parquet; no 500 symbols share 2,520 aligned sessions there), laid
on SPY's last 2,520 sessions (2007-12-27 .. 2017-12-29): a business-day calendar would hold holidays such as Good
Friday, which the exchange calendar ruleengine's month ends use knows are no sessions. Strategy:
rules/momentum_rotation.yaml (at the close of each month's last session hold the 10 names with the highest
126-bar rate of change, ties to the earlier name, equal weight, fills at that close, fees 0.1 %).

Timed in one process, the first call apart (cold: numba's cache loaded, or compiled on a new machine), then
warm repetitions round-robin with a rotating order (medians), each with its peak RSS delta (`_measure.measure`) and
this process's CPU time; and fresh processes (import, then compile + the first backtest, numba's cache on disk):

- ruleengine: ``ruleengine.backtest(compiled, market, benchmark=None)`` on the in-memory `MarketData` (signals,
  cross-section, target weights, the rebalancing kernel and the `RotationResult` with every order and holding;
  `compile_strategy` once, outside the timing), and its two parts: ``compiled.rotation_weights`` and
  `rebalance_weights` (the kernel) alone;
- hand-written pandas + vectorbt: the rate of change and the month ends in pandas, ``rank(axis=1,
  method="first")`` over name-sorted columns, equal weights, and ``vbt.Portfolio.from_orders(close, size=weights,
  size_type="targetpercent", cash_sharing=True, group_by=True, call_seq="auto", fees=0.001)`` with its order
  records and value (its numba kernel is compiled in the untimed first call).

Checks (exit status 1 when one fails): the same target weights (same holdings on every rebalance), the same
orders (column, bar, units to 1e-9) and equity to 1e-9; targets: warm < 0.5 s and >= 10x vectorbt. Writes
benchmarks/results/rotation.{md,json} (rotation_quick.* with --quick).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
RESULTS = HERE / "results"
RULE = PROJECT / "rules" / "momentum_rotation.yaml"
sys.path.insert(0, str(HERE))

import numpy as np
import pandas as pd
from _data import build_universe, load_daily, spy_close
from _measure import environment, fmt_mb, fmt_time, loadavg, measure, median

TARGET_S = 0.5  # warm, the whole backtest
TARGET_RATIO = 10.0  # vectorbt / ruleengine
INIT_CASH = 10_000.0
LOOKBACK, TOP_N, FEES = 126, 10, 0.001


def _market(panel: Any) -> Any:
    from ruleengine.data.market import MarketData
    from ruleengine.data.request import DataRequest
    from ruleengine.schema.strategy import DataSlot

    cols = pd.MultiIndex.from_product([panel.columns, ["open", "close"]])
    frame = pd.DataFrame(np.empty((len(panel.index), 2 * len(panel.columns))), index=panel.index, columns=cols)
    frame.iloc[:, 0::2] = panel.arrays["open"]
    frame.iloc[:, 1::2] = panel.arrays["close"]
    request = DataRequest({"prices": DataSlot()}, {"prices": frozenset({"open", "close"})}, price_slot="prices")
    return MarketData.from_frames(frame, request)


def _pandas_weights(close: pd.DataFrame) -> pd.DataFrame:
    """The hand-written selection: top 10 of the 126-bar rate of change (ties to the earlier name), equal
    weight, on each month's last session; NaN (no order) on the other bars."""
    roc = close / close.shift(LOOKBACK) - 1
    rank = roc[sorted(roc.columns)].rank(axis=1, ascending=False, method="first")[roc.columns]
    held = (rank <= TOP_N) & roc.notna()
    n = held.sum(axis=1)
    w = held.div(n.where(n > 0, 1), axis=0).astype(float)
    idx = close.index
    month = idx.to_period("M")
    month_end = pd.Series(idx, index=idx).groupby(month).transform("max").to_numpy() == idx.to_numpy()
    w[~month_end] = np.nan
    return w


def _cpu_time(fn: Any) -> float:
    """This process's CPU time spent in `fn()` alone (`measure`'s collection and memory reset left out)."""
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


def _panel_market() -> tuple[Any, Any]:
    """The benchmark's panel and its `MarketData` (the segments laid on SPY's last 2,520 sessions)."""
    px = load_daily()
    panel = build_universe(px, n_cols=500, n_bars=2520, stride=126)
    # the segments come from different dates: they are laid on SPY's last 2,520 sessions (real exchange sessions,
    # so that the month's last session is the same for the exchange calendar and for pandas)
    panel.index = pd.DatetimeIndex(spy_close(px, 2520).index, name="date")
    return panel, _market(panel)


def _child() -> None:
    """A fresh process: import, compile and the first backtest, timed apart (numba's cache on disk is warm)."""
    t0 = time.perf_counter()
    import ruleengine

    t1 = time.perf_counter()
    _panel, md = _panel_market()
    t2 = time.perf_counter()
    compiled = ruleengine.compile_strategy(str(RULE))
    ruleengine.backtest(compiled, md, benchmark=None)
    t3 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "data_s": t2 - t1, "first_backtest_s": t3 - t2}))


def _fresh(runs: int) -> list[dict[str, float]]:
    import subprocess

    out = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, __file__, "--child"], capture_output=True, text=True, check=True)
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="3 repetitions instead of 9, one fresh process")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child()
        return 0
    reps = 3 if args.quick else 9

    import vectorbt as vbt

    import ruleengine
    from ruleengine.backtest.rotation import rebalance_weights

    panel, md = _panel_market()
    T, S = panel.shape
    compiled = ruleengine.compile_strategy(str(RULE))
    close = panel.frame("close")
    close_np = md.inputs[("prices", "close")]

    def ours() -> Any:
        return ruleengine.backtest(compiled, md, benchmark=None)

    def ours_weights() -> Any:
        return compiled.rotation_weights(md)[0]

    weights0 = ours_weights()

    def ours_kernel() -> Any:
        return rebalance_weights(weights0, close_np, close_np, init_cash=INIT_CASH, fees_pct=FEES * 100,
                                 slippage_pct=0.0)

    def theirs() -> Any:
        w = _pandas_weights(close)
        pf = vbt.Portfolio.from_orders(close, size=w, size_type="targetpercent", cash_sharing=True, group_by=True,
                                       call_seq="auto", fees=FEES, init_cash=INIT_CASH, freq="1D")
        return w, pf.orders.records, pf.value()

    engines = {"ruleengine backtest": ours, "ruleengine target weights": ours_weights,
               "ruleengine rebalancing kernel": ours_kernel, "pandas + vectorbt from_orders": theirs}
    load_start = loadavg()
    first: dict[str, float] = {}
    outputs: dict[str, Any] = {}
    for name, fn in engines.items():
        t0 = time.perf_counter()
        outputs[name] = fn()
        first[name] = time.perf_counter() - t0
    times: dict[str, list[float]] = {k: [] for k in engines}
    cpu: dict[str, list[float]] = {k: [] for k in engines}  # this process's CPU time: less moved by other load
    peaks: dict[str, list[float]] = {k: [] for k in engines}
    names = list(engines)
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            dt, peak, spent = measure(lambda fn=engines[name]: _cpu_time(fn))  # type: ignore[misc]
            cpu[name].append(spent)
            times[name].append(dt)
            if peak is not None:
                peaks[name].append(peak)
    med = {k: median(v) for k, v in times.items()}
    med_cpu = {k: median(v) for k, v in cpu.items()}
    peak_mb = {k: (max(v) if v else None) for k, v in peaks.items()}
    ratio = median([b / a for a, b in zip(times["ruleengine backtest"], times["pandas + vectorbt from_orders"],
                                          strict=True)])
    cpu_ratio = median([b / a for a, b in zip(cpu["ruleengine backtest"], cpu["pandas + vectorbt from_orders"],
                                              strict=True)])

    # correctness (untimed outputs of the first calls)
    res = outputs["ruleengine backtest"]
    w_theirs, rec, value = outputs["pandas + vectorbt from_orders"]
    same_weights = bool(np.array_equal(np.isnan(weights0), np.isnan(w_theirs.to_numpy()))
                        and np.allclose(np.nan_to_num(weights0), np.nan_to_num(w_theirs.to_numpy()), rtol=0,
                                        atol=1e-15))
    ours_units = np.array([o.units for o in res.orders])
    theirs_units = np.where(rec["side"] == 0, rec["size"], -rec["size"])
    col = {s: j for j, s in enumerate(md.labels)}
    same_orders = (len(res.orders) == len(rec)
                   and [col[o.symbol] for o in res.orders] == rec["col"].tolist()
                   and bool(np.allclose(ours_units, theirs_units, rtol=1e-9, atol=0)))
    same_equity = bool(np.allclose(res.equity, value.to_numpy(), rtol=1e-9, atol=0))
    held_per_rebalance = [len(h.weights) for h in res.holdings]
    fresh = _fresh(1 if args.quick else 3)
    fresh_first = median([f["first_backtest_s"] for f in fresh])
    fresh_import = median([f["import_s"] for f in fresh])
    ok_time, ok_ratio = med["ruleengine backtest"] < TARGET_S, ratio >= TARGET_RATIO
    load_end = loadavg()

    lines = [f"## Rotation benchmark ({T:,} bars x {S} columns, monthly top {TOP_N} by {LOOKBACK}-bar rate of "
             f"change, {reps} repetitions, load {load_start} -> {load_end})", "",
             "| engine | first call (cold) | warm median | warm CPU time | peak RSS delta (MB) |",
             "|---|---|---|---|---|"]
    lines += [f"| {k} | {fmt_time(first[k])} | **{fmt_time(med[k])}** | {fmt_time(med_cpu[k])} | {fmt_mb(peak_mb[k])} |"
              for k in engines]
    lines += ["",
              f"- warm ruleengine backtest: **{fmt_time(med['ruleengine backtest'])}** (target < {TARGET_S} s: "
              f"{'met' if ok_time else 'NOT met'})",
              f"- pandas + vectorbt / ruleengine (median of per-repetition ratios): **{ratio:.1f}x** (target >= "
              f"{TARGET_RATIO:.0f}x: {'met' if ok_ratio else 'NOT met'}); of the CPU times (the machine's other load "
              f"left out): {cpu_ratio:.1f}x",
              f"- a fresh process (numba's cache on disk; median of {len(fresh)}): import {fmt_time(fresh_import)}, "
              f"compile + first backtest {fmt_time(fresh_first)} (loading the panel apart)",
              f"- the same portfolio: target weights {'identical' if same_weights else 'DIFFERENT'}; "
              f"{len(res.orders):,} orders {'identical' if same_orders else 'DIFFERENT'} (symbol, order, units to "
              f"1e-9); equity {'identical to 1e-9' if same_equity else 'DIFFERENT'}; {len(res.holdings)} rebalances "
              f"holding {min(held_per_rebalance, default=0)}..{max(held_per_rebalance, default=0)} names"]
    report = "\n".join(lines)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    stem = "rotation_quick" if args.quick else "rotation"
    (RESULTS / f"{stem}.md").write_text(report + "\n", encoding="utf-8")
    (RESULTS / f"{stem}.json").write_text(json.dumps(
        {"environment": environment(PROJECT), "shape": [T, S], "first_call_s": first, "times_s": times,
         "median_s": med, "fresh_process": fresh, "cpu_s": cpu, "median_cpu_s": med_cpu, "cpu_ratio": cpu_ratio,
         "peak_rss_delta_mb": peak_mb, "ratio": ratio, "orders": len(res.orders),
         "same_weights": same_weights, "same_orders": same_orders, "same_equity": same_equity,
         "load": [load_start, load_end]}, indent=1, default=str), encoding="utf-8")
    return 0 if ok_time and ok_ratio and same_weights and same_orders and same_equity else 1


if __name__ == "__main__":
    sys.exit(main())
