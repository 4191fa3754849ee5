"""Stage 4 for a grid: the template's instances for many parameter sets, found with numpy.

`plan.build_plan` lowers every parameter set in Python (tens of microseconds per set); for a sweep that is
most of the time. Here the conditions are lowered once (`template.lower_templates`) and each template node
gets its instances at once: a node depends on a few parameters (`sma(close, fast)` on `fast` only), so its
instances are the distinct values of those parameters over the grid (`np.unique`), in first-seen order.
Equal computations of different template nodes (`sma(close, fast)` at fast = 20 and `sma(close, slow)` at
slow = 20) are merged by a second `np.unique` over (inputs, statics) rows of the nodes of one operation.

The result is a flat graph whose nodes come in *blocks*: contiguous id ranges of one operation over inputs
of the same kinds, which `grid_program` runs as one stacked call each. `tests/test_grid_plan.py` checks that
it gives exactly the signals, warm-up and sharing of `build_plan`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import Diagnostic, RuleEngineError
from ..lang.functions import FUNCTIONS, ORDER_HINT
from .ir import COMMUTATIVE, DType
from .template import Templates, TNode

Array = np.ndarray
#: a sort key that puts scalar (constant) arguments of commutative operations first, then by node id
_SERIES_RANK = 1 << 40


@dataclass
class Block:
    """Nodes ``first .. first + n - 1``: one operation over arguments of the same kinds."""

    op: str
    dtype: DType
    first: int
    args: Array  # (n, arity) int64 node ids
    statics: Array  # (n, n_statics) float64 windows / numbers
    depth: int

    @property
    def n(self) -> int:
        return int(self.args.shape[0])


@dataclass
class GridPlan:
    """The plan of a grid of parameter sets (same role as `plan.Plan`, built with arrays)."""

    param_sets: list[dict[str, Any]]
    leaves: list[tuple[str, Any]]  # node ids 0 .. L-1: ("in", (slot, column)) | ("const", value)
    leaf_dtypes: list[DType]
    blocks: list[Block]
    outputs: list[Array]  # per signal group (entry, exit[, short_entry, short_exit]), per set: its node id
    lookback: Array  # per node
    converge: Array
    programs: dict[tuple[int, int], Any] = field(default_factory=dict)
    level_roots: dict[str, Array] = field(default_factory=dict)  # level kind -> per parameter set, its node id

    @property
    def roots(self) -> list[tuple[int, ...]]:
        return list(zip(*(ids.tolist() for ids in self.outputs), strict=True))

    @property
    def n_nodes(self) -> int:
        return len(self.leaves) + sum(b.n for b in self.blocks)

    def warmups(self) -> Array:
        """Per parameter set: bars never traded (the longest lookback of its signal groups and levels)."""
        out: Array = np.max([self.lookback[ids] for ids in self.set_roots()], axis=0)
        return out

    def converges(self) -> Array:
        out: Array = np.max([self.converge[ids] for ids in self.set_roots()], axis=0)
        return out

    def set_roots(self) -> list[Array]:
        """Per parameter set, the node ids it hands on: each signal group's, each level's."""
        return [*self.outputs, *self.level_roots.values()]

    def warmup(self, i: int = 0) -> int:
        return int(self.warmups()[i])

    def converge_bars(self, i: int = 0) -> int:
        return int(self.converges()[i])

    def count_calls(self, name: str) -> int:
        """How many distinct `name(...)` computations the plan makes (used to prove sharing)."""
        return sum(b.n for b in self.blocks if b.op == "fn:" + name)


class _Instances:
    """Per tuple of parameter names: each set's instance number and each instance's first set."""

    def __init__(self, param_sets: list[dict[str, Any]]) -> None:
        self.sets = param_sets
        self.codes: dict[str, tuple[Array, int]] = {}
        self.cache: dict[tuple[str, ...], tuple[Array, Array]] = {}

    def code(self, name: str) -> tuple[Array, int]:
        hit = self.codes.get(name)
        if hit is None:
            values = [s[name] for s in self.sets]
            try:
                _, inv = np.unique(np.asarray(values), return_inverse=True)
            except TypeError:  # values numpy cannot order (mixed types): code them by their text
                _, inv = np.unique(np.asarray([repr(v) for v in values]), return_inverse=True)
            inv = inv.reshape(-1).astype(np.int64)
            hit = self.codes[name] = (inv, int(inv.max()) + 1)
        return hit

    def of(self, names: tuple[str, ...]) -> tuple[Array, Array]:
        """(inverse: set -> instance, first: instance -> its first set), instances in first-seen order."""
        hit = self.cache.get(names)
        if hit is not None:
            return hit
        n_sets = len(self.sets)
        if not names:
            hit = (np.zeros(n_sets, dtype=np.int64), np.zeros(1, dtype=np.int64))
        else:
            key = np.zeros(n_sets, dtype=np.int64)
            radix = 1
            for name in names:
                inv, card = self.code(name)
                if radix * card >= 1 << 62:  # pragma: no cover - astronomically many distinct values
                    raise OverflowError("too many distinct parameter combinations")
                key += inv * radix
                radix *= card
            hit = _first_seen(key)
        self.cache[names] = hit
        return hit


def _first_seen(key: Array) -> tuple[Array, Array]:
    """np.unique of `key` (1-D, or rows of a 2-D array) renumbered in order of first appearance."""
    if key.ndim == 1:
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    else:
        _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inv].astype(np.int64), first[order].astype(np.int64)


def build_grid_plan(templates: Templates, param_sets: list[dict[str, Any]]) -> GridPlan:
    """Instances of every template node over `param_sets`, merged and grouped into blocks."""
    nodes = templates.nodes
    inst = _Instances(param_sets)
    gids: dict[int, Array] = {}  # template id -> node id of each of its instances
    leaves: list[tuple[str, Any]] = []
    leaf_dtypes: list[DType] = []
    leaf_index: dict[tuple[Any, ...], int] = {}
    by_depth: dict[int, list[int]] = {}
    for t, node in enumerate(nodes):
        by_depth.setdefault(node.depth, []).append(t)
    for t in by_depth.get(0, []):
        node = nodes[t]
        if node.op not in ("col", "const"):
            continue
        inv, first = inst.of(node.free)
        out = np.empty(first.size, dtype=np.int64)
        for k, s in enumerate(first.tolist()):
            value = node.statics[0].evaluate(param_sets[s])
            key = ("in", value) if node.op == "col" else ("const", node.dtype, type(value), value)
            g = leaf_index.get(key)
            if g is None:
                g = leaf_index[key] = len(leaves)
                leaves.append(("in", value) if node.op == "col" else ("const", value))
                leaf_dtypes.append(node.dtype)
            out[k] = g
        gids[t] = out
    next_id = len(leaves)
    blocks: list[Block] = []
    series_kind = np.zeros(next_id, dtype=bool)
    series_kind[[i for i, lf in enumerate(leaves) if lf[0] == "in"]] = True
    for depth in sorted(by_depth):
        pending: dict[tuple[Any, ...], list[tuple[int, Array, Array]]] = {}
        for t in by_depth[depth]:
            node = nodes[t]
            if node.op in ("col", "const"):
                continue
            inv, first = inst.of(node.free)
            args = np.empty((first.size, len(node.args)), dtype=np.int64)
            for j, a in enumerate(node.args):
                a_inv, _ = inst.of(nodes[a].free)
                args[:, j] = gids[a][a_inv[first]]
            if node.op in COMMUTATIVE and args.shape[1] == 2:
                rank = args + np.where(series_kind[args], _SERIES_RANK, 0)
                swap = rank[:, 0] > rank[:, 1]
                args[swap] = args[swap][:, ::-1]
            statics = _statics(node, first, inst, param_sets)
            kinds = tuple(_kind(nodes[a]) for a in node.args)
            if node.op in COMMUTATIVE and len(kinds) == 2:
                kinds = tuple(sorted(kinds, key=lambda k: k.islower()))
            pending.setdefault((node.op, node.dtype, kinds, statics.shape[1]), []).append((t, args, statics))
        for (op, dtype, _kinds, _n), members in pending.items():
            rows = np.concatenate([np.concatenate([a.astype(np.float64), s], axis=1) for _, a, s in members])
            inv, first = _first_seen(rows) if rows.shape[0] > 1 else (np.zeros(1, np.int64), np.zeros(1, np.int64))
            all_args = np.concatenate([a for _, a, _ in members])[first]
            all_statics = np.concatenate([s for _, _, s in members])[first]
            start = 0
            for t, member_args, _ in members:
                gids[t] = next_id + inv[start:start + member_args.shape[0]]
                start += member_args.shape[0]
            blocks.append(Block(op, dtype, next_id, all_args, all_statics, depth))
            next_id += first.size
            series_kind = np.concatenate([series_kind, np.ones(first.size, dtype=bool)])
    lookback, converge = _warmups(blocks, next_id)
    _check_windows(blocks)
    outputs = [gids[root][inst.of(nodes[root].free)[0]] for root in templates.roots]
    level_roots = {kind: gids[t][inst.of(nodes[t].free)[0]] for kind, t in templates.levels.items()}
    return GridPlan(param_sets, leaves, leaf_dtypes, blocks, outputs, lookback, converge, level_roots=level_roots)


def _kind(node: TNode) -> str:
    """b/f: a bool/float series; B/F: a bool/float scalar (constants)."""
    k = "b" if node.dtype == "bool" else "f"
    return k.upper() if node.op == "const" else k


def _statics(node: TNode, first: Array, inst: _Instances, param_sets: list[dict[str, Any]]) -> Array:
    out = np.empty((first.size, len(node.statics)), dtype=np.float64)
    for j, st in enumerate(node.statics):
        if st.expr is None:
            out[:, j] = st.evaluate({})
            continue
        s_inv, s_first = inst.of(st.free)
        values = np.array([st.evaluate(param_sets[s]) for s in s_first.tolist()], dtype=np.float64)
        out[:, j] = values[s_inv[first]]
    return out


def _warmups(blocks: list[Block], n_nodes: int) -> tuple[Array, Array]:
    lookback = np.zeros(n_nodes, dtype=np.int64)
    converge = np.zeros(n_nodes, dtype=np.int64)
    for b in blocks:
        lb = lookback[b.args].max(axis=1) if b.args.shape[1] else np.zeros(b.n, dtype=np.int64)
        cv = converge[b.args].max(axis=1) if b.args.shape[1] else np.zeros(b.n, dtype=np.int64)
        if b.op.startswith("fn:"):
            fn = FUNCTIONS[b.op[3:]]
            names = [spec.name for spec in fn.args if spec.kind in ("window", "lag", "number")]
            if b.statics.shape[1]:
                uniq, inv = np.unique(b.statics, axis=0, return_inverse=True)
                inv = inv.reshape(-1)
            else:
                uniq, inv = np.zeros((1, 0)), np.zeros(b.n, dtype=np.int64)
            own = np.empty(uniq.shape[0], dtype=np.int64)
            mem = np.empty(uniq.shape[0], dtype=np.int64)
            for k, row in enumerate(uniq.tolist()):
                static = dict(zip(names, row, strict=True))
                own[k] = fn.lookback(static)
                mem[k] = fn.memory(static)
            lb = lb + own[inv]
            cv = cv + own[inv] + mem[inv]
        lookback[b.first:b.first + b.n] = lb
        converge[b.first:b.first + b.n] = cv
    return lookback, converge


def _check_windows(blocks: list[Block]) -> None:
    """Windows given by parameter expressions are only known now: check them against their minimum."""
    problems: dict[str, Diagnostic] = {}
    for b in blocks:
        if not b.op.startswith("fn:"):
            continue
        fn = FUNCTIONS[b.op[3:]]
        j = 0
        for spec in fn.args:
            if spec.kind not in ("window", "lag", "number"):
                continue
            if spec.kind in ("window", "lag"):
                low = b.statics[:, j] < spec.minimum
                if low.any():
                    v = int(b.statics[low, j].min())
                    msg = (f"the {'lag' if spec.kind == 'lag' else 'window'} of {fn.name} is {v} "
                           f"with these parameter values (minimum {spec.minimum})")
                    problems[msg] = Diagnostic("D103", msg, hint="choose parameter values that keep windows "
                                                                 "at or above the minimum")
            j += 1
        if fn.ordered and b.statics.shape[1]:
            names = [spec.name for spec in fn.args if spec.kind in ("window", "lag", "number")]
            for row in np.unique(b.statics, axis=0).tolist():
                for message in fn.order_problems(dict(zip(names, row, strict=True))):
                    msg = message + " with these parameter values"
                    problems.setdefault(msg, Diagnostic("D103", msg, hint=ORDER_HINT))
                if len(problems) >= 5:  # a whole grid of such sets: a few examples say it
                    break
    if problems:
        raise RuleEngineError(list(problems.values()))
