"""Stage 6 for one data shape: the batched steps of a plan, decided once and replayed on every call.

Deciding how to run the like nodes of a level side by side (which inputs already sit next to each other in
one array, which need a gather, which are one shared value or a constant per node) is Python work per node.
A grid of 1,000 parameter sets has thousands of nodes but only a handful of steps, so `build_program` makes
those decisions once per plan and data shape (T, S), and `run` replays them: a few numpy or numba calls per
step, whatever the size of the grid.

Every step writes one *buffer*: a (T, k*S) array holding its k nodes side by side (k = 1 for a step that
runs one node). A node's value is then a location: an input array, a constant, or columns of a buffer.
Buffers are dropped after the last step that reads them. `execute.compute(batch=False)`, node by node, is
the reference this is tested against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .ir import COMMUTATIVE, Node
from .plan import Plan

Array = np.ndarray
Loc = tuple[Any, ...]  # ("in", key) | ("const", value) | ("buf", buffer, first column)

#: stack the nodes of one level only when each has at most this many columns (per-call overhead dominates)
BATCH_MAX_COLUMNS = 64
#: and keep each stacked call below this many elements (memory stays bounded on big grids)
BATCH_MAX_ELEMENTS = 1 << 24

#: kernels that read their inputs by column index (see ruleengine.kernels.gather)
COLUMN_KERNELS = {"fn:crosses_above": "gather:crosses_above_cols_nb",
                  "fn:crosses_below": "gather:crosses_below_cols_nb"}


@dataclass
class Step:
    """Run `node` (the first of `nodes`) once over its arguments stacked side by side; writes buffer `out`."""

    node: Node
    n_nodes: int
    args: list[tuple[Any, ...]]  # one recipe per argument (see `_recipe`)
    statics: list[Array]  # per-column windows / numbers
    indexed: str | None = None  # a COLUMN_KERNELS kernel reading buffers by column index


@dataclass
class Program:
    n_rows: int
    n_cols: int
    steps: list[Step]
    free_after: list[list[int]]  # step -> buffers no longer read after it
    outputs: tuple[tuple[Any, ...], ...]  # recipes of each signal group's roots (entries, exits, ...)
    warm: Array  # per output column: leading bars that are never true
    roots: dict[int, Loc] = field(default_factory=dict)
    #: level kind -> recipe of its values (float, one column per output column)
    level_outputs: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    #: grid programs find the roots' locations only when asked (thousands of roots, only tests ask)
    root_locs: Any = None


def build_program(plan: Plan, n_rows: int, n_cols: int) -> Program:
    """The steps of `plan` for data of n_rows bars x n_cols symbols."""
    nodes = plan.graph.nodes
    per_call = max(1, BATCH_MAX_ELEMENTS // max(1, n_rows * n_cols))
    stack = n_cols <= BATCH_MAX_COLUMNS
    loc: dict[int, Loc] = {}
    steps: list[Step] = []
    last_read: dict[int, int] = {}  # buffer -> last step reading it

    def read(recipe: tuple[Any, ...], step: int) -> None:
        for b in _buffers(recipe):
            last_read[b] = step

    for groups in plan.batches:
        for group in groups:
            chunks = ([group[s:s + per_call] for s in range(0, len(group), per_call)]
                      if stack and len(group) > 1 else [[i] for i in group])
            for chunk in chunks:
                first = nodes[chunk[0]]
                if first.op == "col":
                    loc[chunk[0]] = ("in", (first.static[0], first.static[1]))
                    continue
                if first.op == "const":
                    loc[chunk[0]] = ("const", first.static[0])
                    continue
                step = _step([nodes[i] for i in chunk], loc, nodes, n_cols)
                for r in step.args:
                    read(r, len(steps))
                for j, i in enumerate(chunk):
                    loc[i] = ("buf", len(steps), j * n_cols)
                steps.append(step)
    outputs = tuple(_recipe(list(ids), loc, nodes, n_cols, for_kernel=False)
                    for ids in zip(*plan.roots, strict=True))  # one recipe per signal group
    level_outputs = {kind: _recipe(ids, loc, nodes, n_cols, for_kernel=False) for kind, ids in plan.level_roots.items()}
    free_after: list[list[int]] = [[] for _ in steps]
    kept = {b for r in (*outputs, *level_outputs.values()) for b in _buffers(r)}
    for b, s in last_read.items():
        if b not in kept:
            free_after[s].append(b)
    warm = np.repeat(np.array([min(plan.warmup(k), n_rows) for k in range(len(plan.roots))], dtype=np.int64),
                     n_cols)
    roots = {r: loc[r] for ids in plan.roots for r in ids}
    return Program(n_rows, n_cols, steps, free_after, outputs, warm, roots, level_outputs=level_outputs)


def _step(group: list[Node], loc: dict[int, Loc], nodes: list[Node], n_cols: int) -> Step:
    if group[0].op in COMMUTATIVE and len(group) > 1:
        # interning sorted each node's inputs by id, which need not line up across the group: order them
        # by where their values live instead, so that e.g. and(cross_i, rsi_ok) stacks as (view, shared)
        group = [Node(n.op, tuple(sorted(n.args, key=lambda a: _place(loc[a]))), n.static, n.dtype, n.scalar)
                 for n in group]
    first = group[0]
    k = len(group)
    indexed = COLUMN_KERNELS.get(first.op) if k > 1 else None
    for_kernel = first.op.startswith("fn:")
    args = [_recipe([n.args[j] for n in group], loc, nodes, n_cols, for_kernel) for j in range(len(first.args))]
    if indexed is not None and not all(a[0] in ("view", "gather") and a[3] == np.float64 for a in args):
        indexed = None
    statics = [np.repeat(np.array([n.static[j] for n in group]), n_cols) for j in range(len(first.static))]
    return Step(first, k, args, statics, indexed)


def _place(lc: Loc) -> tuple[int, int, str]:
    if lc[0] == "buf":
        return 2, lc[1], ""
    return (0, 0, str(lc[1])) if lc[0] == "in" else (1, 0, "")


def _recipe(ids: list[int], loc: dict[int, Loc], nodes: list[Node], n_cols: int,
            for_kernel: bool) -> tuple[Any, ...]:
    """How to build the values of `ids` side by side as one (T, k*S) argument.

    ("scalar", v, -, dtype): one constant for all; ("row", row, -, dtype): a constant per node, as a
    (1, k*S) row; ("view", b, (start, stop), dtype): buffer columns already in place; ("gather", b, idx,
    dtype): buffer columns in another order; ("same", loc, k, dtype): one node's value (T, S) (for k > 1
    only when S = 1: numpy broadcasts it over the k columns);
    ("parts", locs, -, dtype): anything else, copied side by side.
    """
    k = len(ids)
    dtype = np.bool_ if nodes[ids[0]].dtype == "bool" else np.float64
    locs = [loc[i] for i in ids]
    if all(lc[0] == "const" for lc in locs):
        values = [lc[1] for lc in locs]
        if all(v == values[0] and type(v) is type(values[0]) for v in values):
            return ("scalar", values[0], None, dtype)
        return ("row", np.repeat(np.array(values, dtype=dtype), n_cols)[None, :], None, dtype)
    if all(i == ids[0] for i in ids) and (k == 1 or (n_cols == 1 and not for_kernel)):
        return ("same", locs[0], k, dtype)
    if all(lc[0] == "buf" for lc in locs) and len({lc[1] for lc in locs}) == 1:
        b = locs[0][1]
        starts = [lc[2] for lc in locs]
        if starts == list(range(starts[0], starts[0] + k * n_cols, n_cols)):
            return ("view", b, (starts[0], starts[0] + k * n_cols), dtype)
        idx = (np.array(starts, dtype=np.int64)[:, None] + np.arange(n_cols, dtype=np.int64)[None, :]).ravel()
        return ("gather", b, idx, dtype)
    return ("parts", locs, None, dtype)


def _buffers(recipe: tuple[Any, ...]) -> list[int]:
    kind = recipe[0]
    if kind in ("view", "gather"):
        return [recipe[1]]
    locs = [recipe[1]] if kind == "same" else recipe[1] if kind == "parts" else []
    return [lc[1] for lc in locs if lc[0] == "buf"]


# ----------------------------------------------------------------------------------------------- run


def run(program: Program, inputs: Mapping[tuple[str, str], Array], xs: Any = None) -> list[Array | None]:
    """Execute the steps; returns the buffers still alive (those the outputs read). `xs`: the `CrossSection`
    of a plan with cross-sectional functions (`execute.compute`)."""
    from .execute import apply, kernel

    n_rows, n_cols = program.n_rows, program.n_cols
    bufs: list[Array | None] = [None] * len(program.steps)
    for s, step in enumerate(program.steps):
        width = step.n_nodes * n_cols
        if step.indexed is not None:
            pairs = []
            for r in step.args:
                base = bufs[r[1]]
                pairs += [base, r[2] if r[0] == "gather" else np.arange(r[2][0], r[2][1], dtype=np.int64)]
            out = kernel(step.indexed)(*pairs)
        else:
            for_kernel = step.node.op.startswith("fn:")
            args = [_build(r, bufs, inputs, n_rows, n_cols, for_kernel) for r in step.args]
            out = apply(step.node, args, step.statics, (n_rows, width), xs)
        if not isinstance(out, np.ndarray) or out.shape != (n_rows, width):
            out = np.array(np.broadcast_to(out, (n_rows, width)), order="F")
        bufs[s] = out
        for b in program.free_after[s]:
            bufs[b] = None
    return bufs


def outputs(program: Program, inputs: Mapping[tuple[str, str], Array], xs: Any = None
            ) -> tuple[tuple[Array, ...], dict[str, Array]]:
    """(T, P*S) bool signals of each group (entries, exits[, short entries, short exits]), warm-up bars
    cleared, and (T, P*S) float64 levels by kind; fresh arrays the caller owns."""
    from .execute import kernel

    bufs = run(program, inputs, xs)
    levels = {}
    for kind, recipe in program.level_outputs.items():  # before the entries and exits may take over a buffer
        level = np.empty((program.warm.shape[0], program.n_rows), dtype=np.float64).T
        level[...] = _build(recipe, bufs, inputs, program.n_rows, program.n_cols, for_kernel=False)
        levels[kind] = level
    result = []
    owned: set[int] = set()
    for recipe in program.outputs:
        b = recipe[1] if recipe[0] == "view" else None
        src = bufs[b] if b is not None else None
        if (b is not None and src is not None and b not in owned and recipe[2] == (0, src.shape[1])
                and src.dtype == np.bool_ and src.flags.f_contiguous):
            owned.add(b)  # the step's own output: hand it over instead of copying
            out = src
        else:
            value = _build(recipe, bufs, inputs, program.n_rows, program.n_cols, for_kernel=False)
            out = np.empty((program.warm.shape[0], program.n_rows), dtype=np.bool_).T
            out[...] = value
        kernel("gather:clear_head_nb")(out, program.warm)
        result.append(out)
    return tuple(result), levels


def values(program: Program, inputs: Mapping[tuple[str, str], Array], xs: Any = None) -> dict[int, Any]:
    """The raw value of every root node (warm-up not cleared); for tests against node-by-node evaluation."""
    bufs = run(program, inputs, xs)
    roots = program.roots if program.root_locs is None else program.root_locs()
    return {r: _value(lc, bufs, inputs, program.n_cols) for r, lc in roots.items()}


def _value(lc: Loc, bufs: list[Array | None], inputs: Mapping[tuple[str, str], Array], n_cols: int) -> Any:
    if lc[0] == "in":
        return inputs[lc[1]]
    if lc[0] == "const":
        return lc[1]
    base = bufs[lc[1]]
    assert base is not None
    return base[:, lc[2]:lc[2] + n_cols]


def _build(recipe: tuple[Any, ...], bufs: list[Array | None], inputs: Mapping[tuple[str, str], Array],
           n_rows: int, n_cols: int, for_kernel: bool) -> Any:
    kind, what, extra, dtype = recipe
    if kind == "scalar":
        return what
    if kind == "row":
        return np.array(np.broadcast_to(what, (n_rows, what.shape[1])), order="F") if for_kernel else what
    if kind == "view":
        return bufs[what][:, extra[0]:extra[1]]
    if kind == "gather":
        return bufs[what].T[extra].T  # whole columns, result F-ordered
    if kind == "same":
        return _value(what, bufs, inputs, n_cols)  # (T, 1): numpy broadcasts it over the k columns
    parts = [_value(lc, bufs, inputs, n_cols) for lc in what]
    out = np.empty((len(parts) * n_cols, n_rows), dtype=dtype).T
    for i, p in enumerate(parts):
        out[:, i * n_cols:(i + 1) * n_cols] = p
    return out
