"""Stage 6: run a plan over raw arrays (axis 0 time, one column per symbol). No pandas here.

Every series value is a Fortran-ordered (T, S) array (float64, or bool for conditions), so each column is
contiguous for the numba kernels. Nodes run level by level (a node's inputs are on lower levels); when
the columns are few (a parameter grid on one symbol), the nodes of one level that apply the same operation
are stacked side by side and run as ONE kernel call with one window per column, so a grid of 1,000 sets
costs a handful of calls instead of thousands. Values are freed after the last level that reads them.

Semantics that differ from plain numpy are deliberate and documented in README: a comparison involving
NaN is false (also `!=`), and the bars of the warm-up are never true.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..lang.functions import FUNCTIONS
from .ir import Node
from .plan import Plan

Array = np.ndarray
_KERNELS: dict[str, Callable[..., Array]] = {}

#: stack nodes of one level only when each has at most this many columns (per-call overhead dominates)
BATCH_MAX_COLUMNS = 64
#: and keep each stacked call below this many elements (memory stays bounded on big grids)
BATCH_MAX_ELEMENTS = 1 << 24


def kernel(ref: str) -> Callable[..., Array]:
    """Import `module:function` from ruleengine.kernels on first use."""
    fn = _KERNELS.get(ref)
    if fn is None:
        module, name = ref.split(":")
        fn = getattr(importlib.import_module(f"ruleengine.kernels.{module}"), name)
        _KERNELS[ref] = fn
    return fn


def compute(plan: Plan, inputs: Mapping[tuple[str, str], Array], n_rows: int, n_cols: int,
            batch: bool = True) -> dict[int, Any]:
    """Evaluate the plan; returns the raw value (array or scalar) of every root node.

    `batch=False` runs node by node (the reference the batched path is tested against).
    """
    values: dict[int, Any] = {}
    shape = (n_rows, n_cols)
    nodes = plan.graph.nodes
    per_call = max(1, BATCH_MAX_ELEMENTS // max(1, n_rows * n_cols))
    stack = batch and n_cols <= BATCH_MAX_COLUMNS
    for level, groups in enumerate(plan.batches):
        for group in groups:
            if stack and len(group) > 1:
                for start in range(0, len(group), per_call):
                    chunk = group[start:start + per_call]
                    values.update(zip(chunk, _eval_many([nodes[i] for i in chunk], values, inputs, shape)))
            else:
                for i in group:
                    values[i] = _eval_many([nodes[i]], values, inputs, shape)[0]
        for i in plan.free_after.get(level, ()):
            values.pop(i, None)
    return values


def execute_into(plan: Plan, inputs: Mapping[tuple[str, str], Array], n_rows: int,
                 n_cols: int) -> tuple[Array, Array]:
    """Evaluate the plan into (T, P*S) bool entries and exits (parameter set major), warm-up masked."""
    values = compute(plan, inputs, n_rows, n_cols)
    width = n_cols * len(plan.roots)
    entries = np.zeros((width, n_rows), dtype=bool).T  # Fortran-ordered (T, P*S)
    exits = np.zeros((width, n_rows), dtype=bool).T
    for k, (e, x) in enumerate(plan.roots):
        cols = slice(k * n_cols, (k + 1) * n_cols)
        warm = min(plan.warmup(k), n_rows)
        entries[warm:, cols] = values[e] if not isinstance(values[e], np.ndarray) else values[e][warm:]
        exits[warm:, cols] = values[x] if not isinstance(values[x], np.ndarray) else values[x][warm:]
    return entries, exits


def _kind(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return "b" if v.dtype == np.bool_ else "f"
    return "B" if isinstance(v, bool) else "F"


def _eval_many(nodes: list[Node], values: dict[int, Any], inputs: Mapping[tuple[str, str], Array],
               shape: tuple[int, int]) -> list[Any]:
    """Evaluate nodes of one kind; several are stacked into one call and split again (column views)."""
    first = nodes[0]
    if first.op == "const":
        return [n.static[0] for n in nodes]
    if first.op == "col":
        return [inputs[(n.static[0], n.static[1])] for n in nodes]
    n_rows, n_cols = shape
    if len(nodes) == 1:
        args = [values[a] for a in first.args]
        statics = [np.full(n_cols, v) for v in first.static]
        return [_apply(first, args, statics, shape)]
    k = len(nodes)
    args = [_stack([values[n.args[j]] for n in nodes], shape) for j in range(len(first.args))]
    statics = [np.repeat(np.array([n.static[j] for n in nodes]), n_cols) for j in range(len(first.static))]
    out = _apply(first, args, statics, (n_rows, k * n_cols))
    return [out[:, i * n_cols:(i + 1) * n_cols] for i in range(k)]


def _stack(parts: list[Any], shape: tuple[int, int]) -> Array:
    n_rows, n_cols = shape
    dtype = np.bool_ if all(_kind(p) in ("b", "B") for p in parts) else np.float64
    if all(isinstance(p, np.ndarray) and p.dtype == dtype for p in parts):
        # each (T, S) F-ordered part transposed is a C-ordered (S, T) block: one C-level copy
        return np.vstack([p.T for p in parts]).T
    out = np.empty((len(parts) * n_cols, n_rows), dtype=dtype).T
    for i, p in enumerate(parts):
        out[:, i * n_cols:(i + 1) * n_cols] = p
    return out


def _full(value: Any, shape: tuple[int, int]) -> Array:
    return np.full(shape, value, dtype=np.float64, order="F")


def _apply(node: Node, args: list[Any], statics: list[Array], shape: tuple[int, int]) -> Any:
    """One operation on (possibly stacked) arrays; `statics` are per-column windows/numbers."""
    op = node.op
    if op.startswith("fn:"):
        return _call(op[3:], args, statics, shape)
    with np.errstate(all="ignore"):
        if op == "neg":
            return np.negative(args[0])
        if op == "not":
            return np.logical_not(args[0])
        a, b = args
        if op == "add":
            return np.add(a, b)
        if op == "sub":
            return np.subtract(a, b)
        if op == "mul":
            return np.multiply(a, b)
        if op == "div":
            return np.divide(a, b)
        if op == "and":
            return np.logical_and(a, b)
        if op == "or":
            return np.logical_or(a, b)
        if op in ("eq", "ne") and _kind(a) in ("b", "B") and _kind(b) in ("b", "B"):
            return np.equal(a, b) if op == "eq" else np.not_equal(a, b)
        result = _COMPARE[op](a, b)
        if op == "ne":  # NaN compares false under every operator, also !=
            result = np.logical_and(result, np.logical_and(~np.isnan(a), ~np.isnan(b)))
        return result


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "eq": np.equal, "ne": np.not_equal,
}


def _call(name: str, args: list[Any], statics: list[Array], shape: tuple[int, int]) -> Any:
    fn = FUNCTIONS[name]
    if not fn.kernel:
        with np.errstate(all="ignore"):
            if name == "abs":
                return np.abs(args[0])
            if name == "min":
                return np.minimum(args[0], args[1])
            if name == "max":
                return np.maximum(args[0], args[1])
        raise AssertionError(name)  # pragma: no cover
    series = [a if isinstance(a, np.ndarray) else _full(a, shape) for a in args]
    typed: list[Array] = []
    kinds = iter(statics)
    for spec in fn.args:
        if spec.kind in ("window", "lag"):
            typed.append(np.ascontiguousarray(next(kinds), dtype=np.int64))
        elif spec.kind == "number":
            typed.append(np.ascontiguousarray(next(kinds), dtype=np.float64))
    return kernel(fn.kernel)(*series, *typed)
