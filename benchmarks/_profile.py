"""Where ruleengine's signal time goes: plan building, each plan node, signal finishing, concatenation.

`node_profile` times each step of the batched program (`ruleengine.compile.program.run`) by wrapping the
executor's own `apply` / column-indexed kernels, so the numbers are those of the real code path; what a
step spends building its arguments (gathers, copies) is in the nodes total, not in the per-op times.
Keep it in step with program.py if the executor changes.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections import defaultdict
from typing import Any


def _op_name(node: Any) -> str:
    return node.op.removeprefix("fn:")


def node_profile(compiled: Any, inputs: dict, n_rows: int, n_cols: int, params: Any = None,
                 reps: int = 5) -> dict[str, Any]:
    """Per-phase and per-op times; every figure is the minimum over `reps` runs (robust to other load).

    Phases: building the plan and its program (uncached), computing the nodes (`execute.compute`: the
    program's steps, like nodes stacked into one call), and writing the signals (the rest of
    `execute.execute_into`). Per-op times come from timing the executor's `apply` / column-indexed kernel
    calls (one stacked call covers many nodes).
    """
    from ruleengine.compile import execute as ex
    from ruleengine.compile.params import expand
    from ruleengine.compile.plan import build_plan

    runs: list[dict[str, Any]] = []
    real_apply, real_kernel = ex.apply, ex.kernel
    for _ in range(reps):
        sets = expand(compiled.strategy.params, params)
        t0 = time.perf_counter()
        plan = build_plan(compiled.analysis, sets)
        ex.program_for(plan, n_rows, n_cols)  # the batched program is part of planning
        t_plan = time.perf_counter() - t0
        per_op: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])  # nodes, total, calls

        def record(op: str, n: int, dt: float, _rec=per_op) -> None:
            rec = _rec[op]
            rec[0] += n
            rec[1] += dt
            rec[2] += 1

        def apply(node: Any, args: Any, statics: Any, shape: tuple[int, int]) -> Any:
            t = time.perf_counter()
            out = real_apply(node, args, statics, shape)
            record(_op_name(node), max(1, shape[1] // n_cols), time.perf_counter() - t)
            return out

        def kernel(ref: str) -> Any:
            fn = real_kernel(ref)
            if not ref.startswith("gather:") or "_cols_" not in ref:
                return fn

            def timed(*args: Any) -> Any:  # a column-indexed step (crosses over stacked averages)
                t = time.perf_counter()
                out = fn(*args)
                record(ref.split(":")[1].replace("_cols_nb", ""), out.shape[1] // n_cols, time.perf_counter() - t)
                return out
            return timed

        ex.apply, ex.kernel = apply, kernel
        try:
            a = time.perf_counter()
            ex.compute(plan, inputs, n_rows, n_cols)
            t_nodes = time.perf_counter() - a
        finally:
            ex.apply, ex.kernel = real_apply, real_kernel
        a = time.perf_counter()
        ex.execute_into(plan, inputs, n_rows, n_cols)
        t_total_exec = time.perf_counter() - a
        runs.append({"plan_build_s": t_plan, "nodes_s": t_nodes,
                     "as_signal_s": max(0.0, t_total_exec - t_nodes), "concat_s": 0.0,
                     "n_nodes": plan.n_nodes, "n_param_sets": len(plan.param_sets), "per_op": dict(per_op)})
    best: dict[str, Any] = {k: min(r[k] for r in runs) for k in ("plan_build_s", "nodes_s", "as_signal_s",
                                                                 "concat_s")}
    best["total_s"] = best["plan_build_s"] + best["nodes_s"] + best["as_signal_s"]
    best["n_nodes"] = runs[0]["n_nodes"]
    best["n_param_sets"] = runs[0]["n_param_sets"]
    ops = runs[0]["per_op"]
    per_op = {op: {"count": ops[op][0], "calls": ops[op][2], "total_s": min(r["per_op"][op][1] for r in runs),
                   "bare_kernel_s": 0.0} for op in ops}
    best["per_op"] = dict(sorted(per_op.items(), key=lambda kv: -kv[1]["total_s"]))
    return best


def cprofile_top(fn: Any, n: int = 12) -> list[dict[str, Any]]:
    """cProfile one call; the n functions with the most own time."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    st = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, name), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{_short(file)}:{line}({name})", "calls": nc, "tottime_s": tt, "cumtime_s": ct})
    rows.sort(key=lambda r: -r["tottime_s"])
    return rows[:n]


def _short(path: str) -> str:
    for marker in ("site-packages/", "src/", "lib/python"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path
