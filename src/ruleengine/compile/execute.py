"""Stage 6: run a plan over raw arrays (axis 0 time, one column per symbol). No pandas here.

Every series value is a Fortran-ordered (T, S) array (float64, or bool for conditions), so each column is
contiguous for the numba kernels. `execute_into` runs the plan's batched program (`program.py`: like
nodes of a level stacked side by side into one kernel call with one window per column, so a grid of 1,000
sets costs a handful of calls); `compute(batch=False)` evaluates node by node, level by level, and is the
reference the program is tested against.

Semantics that differ from plain numpy are deliberate and documented in README: a comparison involving
NaN is false (also `!=`), and the bars of the warm-up are never true.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..lang.functions import FUNCTIONS
from ..lang.operators import BY_NAME, evaluate
from .cross import CrossSection, needs_universe, uses_cross_section
from .ir import Node
from .plan import Plan

Array = np.ndarray
_KERNELS: dict[str, Callable[..., Array]] = {}

def kernel(ref: str) -> Callable[..., Array]:
    """Import `module:function` from ruleengine.kernels on first use."""
    fn = _KERNELS.get(ref)
    if fn is None:
        module, name = ref.split(":")
        fn = getattr(importlib.import_module(f"ruleengine.kernels.{module}"), name)
        _KERNELS[ref] = fn
    return fn


def compute(plan: Any, inputs: Mapping[tuple[str, str], Array], n_rows: int, n_cols: int,
            batch: bool = True, xs: CrossSection | None = None) -> dict[int, Any]:
    """Evaluate the plan; returns the raw value (array or scalar) of every root node.

    `batch=False` runs node by node: the reference the batched program (`program.py`) is tested against.
    `xs`: the universe's membership and name order for cross-sectional functions (default: every column a
    member on every bar, column order).
    """
    xs = _cross_section(plan, n_rows, n_cols, xs)
    if batch:
        from .program import values

        return values(program_for(plan, n_rows, n_cols), inputs, xs)
    assert isinstance(plan, Plan), "node-by-node evaluation needs the set-by-set plan (CompiledStrategy.node_plan)"
    values_: dict[int, Any] = {}
    shape = (n_rows, n_cols)
    nodes = plan.graph.nodes
    for level, ids in enumerate(plan.levels):
        for i in ids:
            values_[i] = _eval_one(nodes[i], values_, inputs, shape, xs)
        for i in plan.free_after.get(level, ()):
            values_.pop(i, None)
    return {r: values_[r] for ids in plan.roots for r in ids}


def program_for(plan: Any, n_rows: int, n_cols: int) -> Any:
    """The plan's batched program for this data shape, built on first use."""
    from .grid_plan import GridPlan
    from .grid_program import build_grid_program
    from .program import build_program

    prog = plan.programs.get((n_rows, n_cols))
    if prog is None:
        if len(plan.programs) >= 4:
            plan.programs.pop(next(iter(plan.programs)))
        build = build_grid_program if isinstance(plan, GridPlan) else build_program
        prog = plan.programs[(n_rows, n_cols)] = build(plan, n_rows, n_cols)
    return prog


#: split the symbols over threads only when each thread gets at least this many columns ...
THREAD_MIN_COLUMNS = 64
#: ... and the data have at least this many values (thread hand-off costs ~0.1 ms)
THREAD_MIN_VALUES = 1 << 17
_POOL: tuple[int, Any] | None = None  # (workers, ThreadPoolExecutor), created on first parallel call


def default_threads() -> int:
    """Threads for column-parallel execution: ``RULEENGINE_THREADS``, else the CPUs this process may use."""
    import os

    env = os.environ.get("RULEENGINE_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def execute_into(plan: Any, inputs: Mapping[tuple[str, str], Array], n_rows: int,
                 n_cols: int, threads: int | None = None, xs: CrossSection | None = None
                 ) -> tuple[tuple[Array, ...], dict[str, Array]]:
    """Evaluate the plan into (T, P*S) bool signals (parameter set major), warm-up cleared: entries and exits,
    then short entries and short exits for a long_short strategy (`TradingStrategy.signal_groups`); and the
    (T, P*S) float64 levels by kind (stop distances, an exit program's levels).

    With many symbols, the columns are split into contiguous blocks run in parallel threads: every kernel
    is compiled with ``nogil=True`` and numpy releases the GIL in its loops, so the blocks run on separate
    cores. Symbols never interact, so the result is identical to a single-threaded run (tested); a plan with a
    cross-sectional function (`xs`: see `compute`) reads all symbols of a bar at once and runs in one block.
    """
    from .program import outputs

    xs = _cross_section(plan, n_rows, n_cols, xs)
    k = min(threads if threads is not None else default_threads(), n_cols // THREAD_MIN_COLUMNS)
    if k <= 1 or n_rows * n_cols < THREAD_MIN_VALUES or xs is not None:
        return outputs(program_for(plan, n_rows, n_cols), inputs, xs)
    edges = [n_cols * i // k for i in range(k + 1)]
    blocks = [(a, b, program_for(plan, n_rows, b - a)) for a, b in itertools.pairwise(edges)]

    def run(block: tuple[int, int, Any]) -> tuple[tuple[Array, ...], dict[str, Array]]:
        a, b, prog = block
        return outputs(prog, {key: v[:, a:b] for key, v in inputs.items()})

    results = list(_pool(k).map(run, blocks))
    n_sets = len(plan.param_sets)

    def combine(parts: list[Array], dtype: Any) -> Array:
        out = np.empty((n_sets * n_cols, n_rows), dtype=dtype).T
        for (a, b, _), part in zip(blocks, parts, strict=True):
            w = b - a
            for p in range(n_sets):
                out[:, p * n_cols + a:p * n_cols + b] = part[:, p * w:(p + 1) * w]
        return out

    groups = tuple(combine([res[0][which] for res in results], np.bool_) for which in range(len(results[0][0])))
    levels = {kind: combine([res[1][kind] for res in results], np.float64) for kind in results[0][1]}
    return groups, levels


def _cross_section(plan: Any, n_rows: int, n_cols: int, xs: CrossSection | None) -> CrossSection | None:
    """The cross-section a plan's cross-sectional functions read (None when it has none); C117 on one symbol."""
    if not uses_cross_section(plan):
        return None
    needs_universe(n_cols)
    return xs if xs is not None else CrossSection.of(n_rows, n_cols)


def _pool(k: int) -> Any:
    """A thread pool of at least k workers, reused across calls (threads cost ~0.1 ms to start)."""
    global _POOL
    from concurrent.futures import ThreadPoolExecutor

    if _POOL is None or _POOL[0] < k:
        _POOL = (k, ThreadPoolExecutor(max_workers=k, thread_name_prefix="ruleengine"))
    return _POOL[1]


def _eval_one(node: Node, values: dict[int, Any], inputs: Mapping[tuple[str, str], Array],
              shape: tuple[int, int], xs: CrossSection | None) -> Any:
    if node.op == "const":
        return node.static[0]
    if node.op == "col":
        return inputs[(node.static[0], node.static[1])]
    args = [values[a] for a in node.args]
    return apply(node, args, [np.full(shape[1], v) for v in node.static], shape, xs)


#: the registry's functions without a kernel: numpy, bar by bar (NaN propagates; np.where keeps the chosen side)
BAR_BY_BAR: dict[str, Callable[..., Any]] = {
    "abs": np.abs, "min": np.minimum, "max": np.maximum, "sqrt": np.sqrt, "exp": np.exp, "log": np.log,
    "pow": np.power, "clip": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
    "where": lambda cond, a, b: np.asarray(np.where(cond, a, b), dtype=np.float64),
}


def _full(value: Any, shape: tuple[int, int]) -> Array:
    return np.full(shape, value, dtype=np.float64, order="F")


def apply(node: Node, args: list[Any], statics: list[Array], shape: tuple[int, int],
          xs: CrossSection | None = None) -> Any:
    """One operation on (possibly stacked) arrays; `statics` are per-column windows/numbers. A cross-sectional
    function reads `xs` and works on each block of S = xs.member.shape[1] columns (one node's symbols)."""
    op = node.op
    if op.startswith("fn:"):
        return _call(op[3:], args, statics, shape, xs)
    return evaluate(BY_NAME[op], *args)


def _call(name: str, args: list[Any], statics: list[Array], shape: tuple[int, int],
          xs: CrossSection | None = None) -> Any:
    fn = FUNCTIONS[name]
    if not fn.kernel:
        with np.errstate(all="ignore"):  # numpy's values outside a domain (NaN, inf) are the documented ones
            return BAR_BY_BAR[name](*args)
    series = [a if isinstance(a, np.ndarray) else _full(a, shape) for a in args]
    typed: list[Array] = []
    kinds = iter(statics)
    for spec in fn.args:
        if spec.kind in ("window", "lag"):
            typed.append(np.ascontiguousarray(next(kinds), dtype=np.int64))
        elif spec.kind == "number":
            typed.append(np.ascontiguousarray(next(kinds), dtype=np.float64))
    if fn.cross_sectional:
        assert xs is not None, "a cross-sectional function runs with a CrossSection"
        x = np.asarray(series[0], dtype=np.float64)
        extra = [xs.order] if typed else []  # the selections break ties by name
        return kernel(fn.kernel)(x, xs.member, *extra, *typed)
    return kernel(fn.kernel)(*series, *typed)
