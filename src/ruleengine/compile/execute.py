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
    return _compute(plan, inputs, n_rows, n_cols, batch)[0]


def _compute(plan: Plan, inputs: Mapping[tuple[str, str], Array], n_rows: int, n_cols: int,
             batch: bool) -> tuple[dict[int, Any], dict[int, tuple[Array, int]]]:
    values: dict[int, Any] = {}
    origin: dict[int, tuple[Array, int]] = {}  # node -> (stacked array it is a column slice of, first column)
    shape = (n_rows, n_cols)
    nodes = plan.graph.nodes
    per_call = max(1, BATCH_MAX_ELEMENTS // max(1, n_rows * n_cols))
    stack = batch and n_cols <= BATCH_MAX_COLUMNS
    for level, groups in enumerate(plan.batches):
        for group in groups:
            if stack and len(group) > 1:
                for start in range(0, len(group), per_call):
                    chunk = group[start:start + per_call]
                    results, base = _eval_stacked([nodes[i] for i in chunk], values, origin, inputs, shape)
                    for j, (i, r) in enumerate(zip(chunk, results)):
                        values[i] = r
                        origin[i] = (base, j * n_cols)
            else:
                for i in group:
                    values[i] = _eval_one(nodes[i], values, inputs, shape)
        for i in plan.free_after.get(level, ()):
            values.pop(i, None)
            origin.pop(i, None)
    return values, origin


def execute_into(plan: Plan, inputs: Mapping[tuple[str, str], Array], n_rows: int,
                 n_cols: int) -> tuple[Array, Array]:
    """Evaluate the plan into (T, P*S) bool entries and exits (parameter set major), warm-up masked."""
    values, origin = _compute(plan, inputs, n_rows, n_cols, True)
    warm = np.repeat(np.array([min(plan.warmup(k), n_rows) for k in range(len(plan.roots))]), n_cols)
    before_warmup = np.arange(n_rows)[:, None] < warm[None, :]
    out = []
    for which in (0, 1):
        ids = [pair[which] for pair in plan.roots]
        parts = [values[i] for i in ids]
        if len(parts) == 1 and isinstance(parts[0], np.ndarray):
            signal = parts[0]
        else:
            signal = _stack(parts, ids, origin, (n_rows, n_cols), for_kernel=False)
        signal = np.array(signal, dtype=bool, order="F")  # a fresh array the caller owns
        signal[before_warmup] = False
        out.append(signal)
    return out[0], out[1]


def _kind(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return "b" if v.dtype == np.bool_ else "f"
    return "B" if isinstance(v, bool) else "F"


def _eval_one(node: Node, values: dict[int, Any], inputs: Mapping[tuple[str, str], Array],
              shape: tuple[int, int]) -> Any:
    if node.op == "const":
        return node.static[0]
    if node.op == "col":
        return inputs[(node.static[0], node.static[1])]
    args = [values[a] for a in node.args]
    return _apply(node, args, [np.full(shape[1], v) for v in node.static], shape)


#: kernels that read their inputs by column index (see ruleengine.kernels.gather)
_COLUMN_KERNELS = {"fn:crosses_above": "gather:crosses_above_cols_nb",
                   "fn:crosses_below": "gather:crosses_below_cols_nb"}


def _eval_stacked(nodes: list[Node], values: dict[int, Any], origin: dict[int, tuple[Array, int]],
                  inputs: Mapping[tuple[str, str], Array], shape: tuple[int, int]) -> tuple[list[Any], Array]:
    """Run like nodes as one call on their inputs side by side; returns column views of one output."""
    first = nodes[0]
    n_rows, n_cols = shape
    k = len(nodes)
    indexed = _COLUMN_KERNELS.get(first.op)
    if indexed is not None:
        sources = [_columns_of([n.args[j] for n in nodes], origin, n_cols) for j in range(len(first.args))]
        if all(src is not None for src in sources):
            out = kernel(indexed)(*(x for src in sources for x in src))  # type: ignore[union-attr]
            return [out[:, i * n_cols:(i + 1) * n_cols] for i in range(k)], out
    for_kernel = first.op.startswith("fn:")
    args = [_stack([values[n.args[j]] for n in nodes], [n.args[j] for n in nodes], origin, shape, for_kernel)
            for j in range(len(first.args))]
    statics = [np.repeat(np.array([n.static[j] for n in nodes]), n_cols) for j in range(len(first.static))]
    out = _apply(first, args, statics, (n_rows, k * n_cols))
    return [out[:, i * n_cols:(i + 1) * n_cols] for i in range(k)], out


def _columns_of(ids: list[int], origin: dict[int, tuple[Array, int]],
                n_cols: int) -> tuple[Array, Array] | None:
    """(base, column indices) when every value is a float column slice of one stacked array."""
    found = [origin.get(i) for i in ids]
    if any(f is None for f in found):
        return None
    base = found[0][0]  # type: ignore[index]
    if base.dtype != np.float64 or any(f[0] is not base for f in found):  # type: ignore[index]
        return None
    starts = np.array([f[1] for f in found], dtype=np.int64)  # type: ignore[index]
    idx = (starts[:, None] + np.arange(n_cols, dtype=np.int64)[None, :]).ravel()
    return base, idx


def _stack(parts: list[Any], ids: list[int], origin: dict[int, tuple[Array, int]], shape: tuple[int, int],
           for_kernel: bool) -> Array:
    """The parts side by side as one (T, k*S) array, copying only when it must."""
    n_rows, n_cols = shape
    k = len(parts)
    dtype = np.bool_ if all(_kind(p) in ("b", "B") for p in parts) else np.float64
    arrays = all(isinstance(p, np.ndarray) and p.dtype == dtype for p in parts)
    if arrays:
        found = [origin.get(i) for i in ids]
        if all(f is not None for f in found):
            base = found[0][0]  # type: ignore[index]
            if all(f[0] is base for f in found) and base.dtype == dtype:  # type: ignore[index]
                start = found[0][1]  # type: ignore[index]
                if all(f[1] == start + j * n_cols for j, f in enumerate(found)):  # type: ignore[index]
                    return base[:, start:start + k * n_cols]  # already side by side: a view
                idx = (np.array([f[1] for f in found])[:, None] + np.arange(n_cols)[None, :]).ravel()  # type: ignore[index]
                return base.T[idx].T  # one gather of whole columns
        if not for_kernel and n_cols == 1 and all(p is parts[0] for p in parts):
            return np.broadcast_to(parts[0], (n_rows, k))  # one value shared by every set: no copy
        # each (T, S) F-ordered part transposed is a C-ordered (S, T) block: one C-level copy
        return np.vstack([p.T for p in parts]).T
    out = np.empty((k * n_cols, n_rows), dtype=dtype).T
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
