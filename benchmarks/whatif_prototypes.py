#!/usr/bin/env python
"""Prototypes of the speed-ups suggested by the profile in bench_signals.py (NOT project code).

    python benchmarks/whatif_prototypes.py

Each prototype is checked to give bit-identical signals to ruleengine's current `signals_arrays`, then timed
round-robin against the current code and hand-written vectorbt on the same workloads A and B. The numbers
say how far each change would move the ratio to vectorbt; they are estimates for the project to decide on,
not a replacement for the executor. Prints Markdown; writes benchmarks/results/whatif.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numba
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _data import build_universe, load_daily, require_daily, spy_close
from _measure import fmt_time, loadavg, median

# ---------------------------------------------------------------------------------------- A prototypes


@numba.njit(cache=True)
def _sma_col(x, n, out, col):
    """TA-Lib SMA (same operation order as ruleengine's sma_1d_nb) straight into out[:, col]."""
    T = x.shape[0]
    for t in range(min(n - 1, T)):
        out[t, col] = np.nan
    if T < n:
        for t in range(T):
            out[t, col] = np.nan
        return
    total = 0.0
    for i in range(n - 1):
        total += x[i]
    trailing = 0
    for i in range(n - 1, T):
        total += x[i]
        tmp = total
        total -= x[trailing]
        trailing += 1  # noqa: SIM113 (TA-Lib order)
        out[i, col] = tmp / n


@numba.njit(cache=True)
def sma_fastpath(x, n):
    """2-D SMA; columns without NaN run in place on the contiguous column (no valid_rows/take/scatter)."""
    T, C = x.shape
    out = np.empty((C, T), dtype=np.float64).T
    for c in range(C):
        col = x[:, c]
        has_nan = False
        for t in range(T):
            if np.isnan(col[t]):
                has_nan = True
                break
        if has_nan:  # the current NaN-as-missing path would be used here; not needed for this data
            raise ValueError("prototype: NaN path not implemented")
        _sma_col(col, n[c], out, c)
    return out


@numba.njit(cache=True)
def _rsi_col(x, n, out, col):
    """TA-Lib RSI with branch-free gain/loss updates (same values: adding 0.0 changes nothing)."""
    T = x.shape[0]
    for t in range(min(n, T)):
        out[t, col] = np.nan
    if T <= n:
        for t in range(T):
            out[t, col] = np.nan
        return
    prev = x[0]
    gain = 0.0
    loss = 0.0
    for today in range(1, n + 1):
        v = x[today]
        d = v - prev
        prev = v
        loss -= min(d, 0.0)
        gain += max(d, 0.0)
    loss /= n
    gain /= n
    tot = gain + loss
    out[n, col] = 100.0 * (gain / tot) if tot > 0.0 else 0.0
    for today in range(n + 1, T):
        v = x[today]
        d = v - prev
        prev = v
        loss *= n - 1
        gain *= n - 1
        loss -= min(d, 0.0)
        gain += max(d, 0.0)
        loss /= n
        gain /= n
        tot = gain + loss
        out[today, col] = 100.0 * (gain / tot) if tot > 0.0 else 0.0


@numba.njit(cache=True)
def rsi_fastpath(x, n):
    T, C = x.shape
    out = np.empty((C, T), dtype=np.float64).T
    for c in range(C):
        _rsi_col(x[:, c], n[c], out, c)
    return out


@numba.njit(cache=True, parallel=True)
def sma_fastpath_par(x, n):
    """sma_fastpath with the columns spread over numba's threads (NaN-free input only)."""
    T, C = x.shape
    out = np.empty((C, T), dtype=np.float64).T
    for c in numba.prange(C):
        _sma_col(x[:, c], n[c], out, c)
    return out


@numba.njit(cache=True, parallel=True)
def rsi_fastpath_par(x, n):
    T, C = x.shape
    out = np.empty((C, T), dtype=np.float64).T
    for c in numba.prange(C):
        _rsi_col(x[:, c], n[c], out, c)
    return out


def a_prototype_par(close, volume, S, warm):
    from ruleengine.kernels.events import crosses_above_nb, crosses_below_nb

    f = sma_fastpath_par(close, np.full(S, 10, np.int64))
    s = sma_fastpath_par(close, np.full(S, 30, np.int64))
    r = rsi_fastpath_par(close, np.full(S, 14, np.int64))
    vm = sma_fastpath_par(volume, np.full(S, 20, np.int64))
    ent = crosses_above_nb(f, s)
    ent &= r < 70.0
    ent &= volume > vm
    ex = crosses_below_nb(f, s)
    ent[:warm] = False
    ex[:warm] = False
    return ent, ex


def a_prototype(close, volume, S, warm):
    """Same graph as the plan (shared SMA(close, 10/30)), fast-path kernels, numpy comparisons."""
    from ruleengine.kernels.events import crosses_above_nb, crosses_below_nb

    f = sma_fastpath(close, np.full(S, 10, np.int64))
    s = sma_fastpath(close, np.full(S, 30, np.int64))
    r = rsi_fastpath(close, np.full(S, 14, np.int64))
    vm = sma_fastpath(volume, np.full(S, 20, np.int64))
    ent = crosses_above_nb(f, s)
    ent &= r < 70.0
    ent &= volume > vm
    ex = crosses_below_nb(f, s)
    ent[:warm] = False
    ex[:warm] = False
    return ent, ex


# ---------------------------------------------------------------------------------------- B prototypes


@numba.njit(cache=True)
def cross_grid(m, fi, si, ok, warm):
    """Entries/exits for P (fast, slow) pairs from a (T, U) matrix of unique SMAs: pair p uses columns
    fi[p] and si[p]; entries also need ok[t] (RSI filter); bars t < warm[p] are False. F-ordered outputs."""
    T = m.shape[0]
    P = fi.shape[0]
    ent = np.zeros((P, T), dtype=np.bool_).T
    ex = np.zeros((P, T), dtype=np.bool_).T
    for p in range(P):
        a = m[:, fi[p]]
        b = m[:, si[p]]
        for t in range(max(1, warm[p]), T):
            ent[t, p] = (a[t] > b[t]) and (a[t - 1] <= b[t - 1]) and ok[t]
            ex[t, p] = (a[t] < b[t]) and (a[t - 1] >= b[t - 1])
    return ent, ex


def b_prototype(close_b, fasts, slows, warm, rsi_max=70.0):
    """Batched grid: every distinct window in ONE sma call (windows per column), RSI once, one fused
    crossing kernel for all pairs. Warm-ups come from the plan (not timed here: see plan caching)."""
    from ruleengine.kernels.rolling import sma_nb
    from ruleengine.kernels.smoothing import rsi_nb

    wins, inv = np.unique(np.concatenate([fasts, slows]), return_inverse=True)
    P = len(fasts)
    m = sma_nb(np.asfortranarray(np.broadcast_to(close_b, (close_b.shape[0], len(wins)))), wins.astype(np.int64))
    ok = rsi_nb(close_b, np.array([14], np.int64))[:, 0] < rsi_max
    return cross_grid(m, inv[:P].astype(np.int64), inv[P:].astype(np.int64), ok, warm)


# ---------------------------------------------------------------------------------------- harness


def bench(engines, reps):
    for _, fn in engines:  # warm-up / JIT
        fn()
    times = {n: [] for n, _ in engines}
    k = len(engines)
    for r in range(reps):
        for name, fn in engines[r % k:] + engines[:r % k]:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def table(times, ref):
    lines = ["| variant | median | min | vectorbt / variant (median per-rep ratio) |", "|---|---|---|---|"]
    for name, ts in times.items():
        ratio = median([a / b for a, b in zip(times[ref], ts, strict=True)])
        lines.append(f"| {name} | {fmt_time(median(ts))} | {fmt_time(min(ts))} | "
                     f"{'1 (reference)' if name == ref else f'{ratio:.2f}x'} |")
    return lines


def main() -> int:
    require_daily()
    load0 = loadavg()
    import _vectorbt_signals as vs

    from ruleengine.compile.compiled import compile_strategy

    px = load_daily()
    panel = build_universe(px)
    spy = spy_close(px)
    del px
    T, S = panel.shape
    close, volume = panel.arrays["close"], panel.arrays["volume"]
    ca = compile_strategy(str(HERE / "three_conditions.yaml"))
    inputs_a = {("prices", "close"): close, ("prices", "volume"): volume}
    e0, x0, plan_a = ca.signals_arrays(inputs_a, T, S)
    warm_a = plan_a.warmup(0)
    e1, x1 = a_prototype(close, volume, S, warm_a)
    e2, x2 = a_prototype_par(close, volume, S, warm_a)
    same_a = bool(np.array_equal(e0, e1) and np.array_equal(x0, x1)
                  and np.array_equal(e0, e2) and np.array_equal(x0, x2))
    w10 = np.full(S, 10, np.int64)
    w14 = np.full(S, 14, np.int64)
    from ruleengine.kernels.rolling import sma_nb
    from ruleengine.kernels.smoothing import rsi_nb
    same_k = bool(np.array_equal(sma_nb(close, w10), sma_fastpath(close, w10), equal_nan=True)
                  and np.array_equal(rsi_nb(close, w14), rsi_fastpath(close, w14), equal_nan=True))
    close_df, volume_df = panel.frame("close"), panel.frame("volume")
    times_a = bench([
        ("vectorbt hand-written", lambda: vs.universe_signals(close_df, volume_df)),
        ("ruleengine signals_arrays (current)", lambda: ca.signals_arrays(inputs_a, T, S)),
        ("prototype: fast-path SMA + branch-free RSI", lambda: a_prototype(close, volume, S, warm_a)),
        (f"prototype: same + prange over columns ({numba.config.NUMBA_NUM_THREADS} threads)",
         lambda: a_prototype_par(close, volume, S, warm_a)),
        ("  kernel: sma_nb (current), 1 call", lambda: sma_nb(close, w10)),
        ("  kernel: SMA fast path, 1 call", lambda: sma_fastpath(close, w10)),
        ("  kernel: rsi_nb (current)", lambda: rsi_nb(close, w14)),
        ("  kernel: RSI fast path, branch-free", lambda: rsi_fastpath(close, w14)),
    ], reps=15)

    cb = compile_strategy(str(HERE.parent / "rules" / "golden_cross.yaml"))
    from bench_signals import grid_pairs
    fasts, slows = grid_pairs()
    params = [{"fast": f, "slow": s} for f, s in zip(fasts, slows, strict=True)]
    TB = len(spy)
    close_b = np.asfortranarray(spy.to_numpy(dtype=np.float64).reshape(-1, 1))
    inputs_b = {("prices", "close"): close_b}
    e0, x0, plan_b = cb.signals_arrays(inputs_b, TB, 1, params=params)
    warm_b = np.array([plan_b.warmup(k) for k in range(len(params))], dtype=np.int64)
    fa, sa = np.array(fasts, np.int64), np.array(slows, np.int64)
    e1, x1 = b_prototype(close_b, fa, sa, warm_b)
    same_b = bool(np.array_equal(e0, e1) and np.array_equal(x0, x1))
    from ruleengine.compile.execute import execute
    times_b = bench([
        ("vectorbt hand-written", lambda: vs.grid_signals(spy, fasts, slows)),
        ("vectorbt hand-written, run_unique=True", lambda: vs.grid_signals(spy, fasts, slows, run_unique=True)),
        ("ruleengine signals_arrays (current)", lambda: cb.signals_arrays(inputs_b, TB, 1, params=params)),
        ("  of which: plan(params) (lowering 1,000 sets)", lambda: cb.plan(params)),
        ("  of which: execute(plan) (3,074 node calls + copies)", lambda: execute(plan_b, inputs_b, TB, 1)),
        ("prototype: batched grid (1 sma call, fused crossings), plan cached", lambda: b_prototype(
            close_b, fa, sa, warm_b)),
    ], reps=9)

    out = {"loadavg_start": load0, "loadavg_end": loadavg(), "A_identical": same_a, "A_kernels_identical": same_k,
           "B_identical": same_b, "A": times_a, "B": times_b}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "whatif.json").write_text(json.dumps(out, indent=2))
    L = ["# What-if prototypes (not project code)", "",
         f"Load average {load0} at the start, {out['loadavg_end']} at the end.", "",
         f"## A: 500 x 1,260 (prototype signals identical to ruleengine: {same_a}; kernels identical: {same_k})",
         ""]
    L += table(times_a, "vectorbt hand-written")
    L += ["", f"## B: 1,000 pairs x 2,520 (prototype signals identical to ruleengine: {same_b})", ""]
    L += table(times_b, "vectorbt hand-written")
    sys.stdout.write("\n".join(L) + "\n")
    return 0 if (same_a and same_k and same_b) else 1


if __name__ == "__main__":
    raise SystemExit(main())
