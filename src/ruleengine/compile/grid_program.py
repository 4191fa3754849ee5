"""The batched program of a `GridPlan`: one stacked step per block, decided with arrays.

The steps and recipes are those of `program.py` (and `program.run` / `program.outputs` execute them); only
the deciding differs: a block's argument is a column of node ids, and whether it is a view, a gather, one
shared value or a row of constants is read off that column with numpy instead of node by node.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .grid_plan import Block, GridPlan
from .ir import Node
from .program import BATCH_MAX_COLUMNS, BATCH_MAX_ELEMENTS, COLUMN_KERNELS, Program, Step, _buffers

Array = np.ndarray


def build_grid_program(plan: GridPlan, n_rows: int, n_cols: int) -> Program:
    """The steps of `plan` for data of n_rows bars x n_cols symbols."""
    n_nodes = plan.n_nodes
    n_leaves = len(plan.leaves)
    step_of = np.full(n_nodes, -1, dtype=np.int64)  # node -> the step (buffer) holding it (-1: a leaf)
    pos_of = np.zeros(n_nodes, dtype=np.int64)  # node -> its position (in nodes) in that buffer
    per_call = max(1, BATCH_MAX_ELEMENTS // max(1, n_rows * n_cols))
    if n_cols > BATCH_MAX_COLUMNS:
        per_call = 1
    dtypes = np.array([d == "bool" for d in plan.leaf_dtypes] + [b.dtype == "bool" for b in plan.blocks
                                                                 for _ in range(b.n)], dtype=bool)
    ctx = _Ctx(plan, n_cols, n_leaves, step_of, pos_of, dtypes)
    steps: list[Step] = []
    last_read: dict[int, int] = {}
    for block in plan.blocks:
        for lo in range(0, block.n, per_call):
            hi = min(block.n, lo + per_call)
            step = _step(block, lo, hi, ctx)
            for r in step.args:
                for b in _buffers(r):
                    last_read[b] = len(steps)
            ids = np.arange(block.first + lo, block.first + hi)
            step_of[ids] = len(steps)
            pos_of[ids] = np.arange(hi - lo)
            steps.append(step)
    outputs = tuple(ctx.recipe(ids, for_kernel=False) for ids in plan.outputs)
    level_outputs = {kind: ctx.recipe(ids, for_kernel=False) for kind, ids in plan.level_roots.items()}
    free_after: list[list[int]] = [[] for _ in steps]
    kept = {b for r in (*outputs, *level_outputs.values()) for b in _buffers(r)}
    for b, s in last_read.items():
        if b not in kept:
            free_after[s].append(b)
    warm = np.repeat(np.minimum(plan.warmups(), n_rows).astype(np.int64), n_cols)
    def root_locs() -> dict[int, Any]:
        return {r: ctx.loc(r) for r in np.unique(np.concatenate(plan.outputs)).tolist()}

    return Program(n_rows, n_cols, steps, free_after, outputs, warm, root_locs=root_locs,
                   level_outputs=level_outputs)


class _Ctx:
    def __init__(self, plan: GridPlan, n_cols: int, n_leaves: int, step_of: Array, pos_of: Array,
                 dtypes: Array) -> None:
        self.plan, self.n_cols, self.n_leaves = plan, n_cols, n_leaves
        self.step_of, self.pos_of, self.is_bool = step_of, pos_of, dtypes

    def loc(self, node: int) -> tuple[Any, ...]:
        if node < self.n_leaves:
            return self.plan.leaves[node]
        return ("buf", int(self.step_of[node]), int(self.pos_of[node]) * self.n_cols)

    def recipe(self, ids: Array, for_kernel: bool) -> tuple[Any, ...]:
        """How to build the values of `ids` side by side (see `program._recipe` for the recipe kinds)."""
        k, n_cols = ids.size, self.n_cols
        dtype = np.bool_ if self.is_bool[ids[0]] else np.float64
        if int(ids.max()) < self.n_leaves and all(self.plan.leaves[i][0] == "const" for i in np.unique(ids)):
            values = [self.plan.leaves[i][1] for i in ids.tolist()]
            if all(v == values[0] and type(v) is type(values[0]) for v in values):
                return ("scalar", values[0], None, dtype)
            return ("row", np.repeat(np.array(values, dtype=dtype), n_cols)[None, :], None, dtype)
        same = bool((ids == ids[0]).all())
        if same and (k == 1 or (n_cols == 1 and not for_kernel)):
            return ("same", self.loc(int(ids[0])), k, dtype)
        if int(ids.min()) >= self.n_leaves:
            steps = self.step_of[ids]
            if (steps == steps[0]).all():
                b = int(steps[0])
                pos = self.pos_of[ids]
                if (np.diff(pos) == 1).all():
                    start = int(pos[0]) * n_cols
                    return ("view", b, (start, start + k * n_cols), dtype)
                idx = (pos[:, None] * n_cols + np.arange(n_cols, dtype=np.int64)[None, :]).ravel()
                return ("gather", b, idx, dtype)
        return ("parts", [self.loc(i) for i in ids.tolist()], None, dtype)


def _step(block: Block, lo: int, hi: int, ctx: _Ctx) -> Step:
    node = Node(block.op, (), (), block.dtype)
    k = hi - lo
    for_kernel = block.op.startswith("fn:")
    args = [ctx.recipe(block.args[lo:hi, j], for_kernel) for j in range(block.args.shape[1])]
    indexed = COLUMN_KERNELS.get(block.op) if k > 1 else None
    if indexed is not None and not all(a[0] in ("view", "gather") and a[3] == np.float64 for a in args):
        indexed = None
    statics = [np.repeat(block.statics[lo:hi, j], ctx.n_cols) for j in range(block.statics.shape[1])]
    return Step(node, k, args, statics, indexed)
