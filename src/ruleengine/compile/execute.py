"""Stage 6: run a plan over raw arrays (axis 0 time, one column per symbol). No pandas here.

Every series value is a Fortran-ordered (T, S) array (float64, or bool for conditions), so each column is
contiguous for the numba kernels. Values are freed after their last use. Semantics that differ from plain
numpy are deliberate and documented in README: a comparison involving NaN is false (also `!=`), and the
bars of the warm-up are never true.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

import numpy as np

from ..lang.functions import FUNCTIONS
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


def compute(plan: Plan, inputs: Mapping[tuple[str, str], Array], n_rows: int, n_cols: int) -> dict[int, Any]:
    """Evaluate the plan; returns the raw value (array or scalar) of every root node."""
    values: dict[int, Any] = {}
    graph = plan.graph
    shape = (n_rows, n_cols)
    for pos, i in enumerate(plan.order):
        node = graph.nodes[i]
        values[i] = _eval(node, values, inputs, shape)
        for a in set(node.args):
            if plan.last_use.get(a) == pos:
                del values[a]
    return values


def execute(plan: Plan, inputs: Mapping[tuple[str, str], Array], n_rows: int, n_cols: int,
            mask_warmup: bool = True) -> list[tuple[Array, Array]]:
    """Evaluate the plan; returns (entries, exits) bool (T, S) arrays per parameter set."""
    values = compute(plan, inputs, n_rows, n_cols)
    shape = (n_rows, n_cols)
    out: list[tuple[Array, Array]] = []
    for k, (e, x) in enumerate(plan.roots):
        warm = plan.warmup(k) if mask_warmup else 0
        out.append((_as_signal(values[e], shape, warm), _as_signal(values[x], shape, warm)))
    return out


def _as_signal(value: Any, shape: tuple[int, int], warmup: int) -> Array:
    if isinstance(value, np.ndarray):
        arr = np.array(value, dtype=bool, order="F", copy=True)
    else:
        arr = np.full(shape, bool(value), dtype=bool, order="F")
    if warmup:
        arr[:warmup] = False
    return arr


def full(value: Any, shape: tuple[int, int]) -> Array:
    return np.full(shape, value, dtype=np.float64, order="F")


def _series(value: Any, shape: tuple[int, int]) -> Array:
    return value if isinstance(value, np.ndarray) else full(value, shape)


def _eval(node: Node, values: dict[int, Any], inputs: Mapping[tuple[str, str], Array],
          shape: tuple[int, int]) -> Any:
    op = node.op
    if op == "const":
        return node.static[0]
    if op == "col":
        return inputs[(node.static[0], node.static[1])]
    args = [values[a] for a in node.args]
    if op.startswith("fn:"):
        return _call(op[3:], node, args, shape)
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
        if node.dtype == "bool" and op in ("eq", "ne") and _is_bool(a) and _is_bool(b):
            return np.equal(a, b) if op == "eq" else np.not_equal(a, b)
        result = _COMPARE[op](a, b)
        if op == "ne":  # NaN compares false under every operator, also !=
            result = np.logical_and(result, np.logical_and(~np.isnan(a), ~np.isnan(b)))
        return result


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool) or (isinstance(v, np.ndarray) and v.dtype == np.bool_)


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "eq": np.equal, "ne": np.not_equal,
}


def _call(name: str, node: Node, args: list[Any], shape: tuple[int, int]) -> Any:
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
    n_cols = shape[1]
    series = [_series(a, shape) for a in args]
    static: list[Array] = []
    statics = iter(node.static)
    for spec in fn.args:
        if spec.kind in ("window", "lag"):
            static.append(np.full(n_cols, next(statics), dtype=np.int64))
        elif spec.kind == "number":
            static.append(np.full(n_cols, next(statics), dtype=np.float64))
    return kernel(fn.kernel)(*series, *static)
