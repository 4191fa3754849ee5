"""Values of every sub-expression of every condition on the last bars (what live signals explain).

`inspect_conditions` lowers each condition of a compiled strategy into one graph (shared subexpressions once,
as in the strategy's own plan), computes it over the same input arrays the signals use, and returns, for every
node of each condition's syntax tree, its values on the last `tail` rows: a (tail, S) array for a series, a
number or bool for a scalar (constants and parameter expressions). The kernels are the ones the signals run
on, so a comparison's operands here are exactly what decided the signal.

Example:
    >>> import numpy as np
    >>> from ruleengine.compile.compiled import compile_rules
    >>> c = compile_rules("name: x\\ndata: {prices: {kind: ohlcv}}\\nentry: ['close > sma(close, 2)']\\n")
    >>> close = np.asfortranarray([[1.0], [2.0], [4.0]])
    >>> [cond] = inspect_conditions(c, {("prices", "close"): close}, 3, 1, tail=1)
    >>> cond.values_of(cond.tree.right)[-1].tolist()
    [3.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..lang import ast
from ..lang.printer import to_text
from .compiled import CompiledStrategy
from .execute import compute
from .exit_program import independent_parts
from .ir import Graph, Memo, free_params, lower
from .plan import Plan, _schedule


@dataclass
class InspectedCondition:
    """One condition: its group (entry, exit, short_entry, short_exit), index, canonical text, typed tree and
    node values."""

    group: str
    index: int
    text: str
    tree: ast.Node
    lookback: int
    #: id(ast node) -> (tail, S) array (series) or a Python scalar (constants, parameter expressions); the nodes
    #: that use position variables have none (they exist only in the simulation, for a held trade)
    values: dict[int, Any] = field(default_factory=dict)
    #: the maximal subtrees without position variables (the whole tree for most conditions)
    parts: list[ast.Node] = field(default_factory=list)
    #: (id(ast node), column) -> why the node has no value there (live: a position variable without a position)
    notes: dict[tuple[int, int], str] = field(default_factory=dict)

    def values_of(self, node: ast.Node) -> Any:
        return self.values[id(node)]


def inspect_conditions(compiled: CompiledStrategy, inputs: Mapping[tuple[str, str], np.ndarray], n_rows: int,
                       n_cols: int, params: Mapping[str, Any] | None = None, tail: int = 21
                       ) -> list[InspectedCondition]:
    """Every condition's node values on the last `tail` rows of the inputs (one parameter set)."""
    values = compiled.strategy.default_params() | dict(params or {})
    graph = Graph()
    memo: Memo = {}
    found: list[tuple[InspectedCondition, dict[int, int]]] = []
    roots: list[int] = []
    for group in compiled.strategy.signal_groups():  # a long_short strategy's short side too
        for c in getattr(compiled.analysis, group):
            free = free_params(c.tree)
            parts = independent_parts(c.tree)  # position variables have values only inside the simulation
            for part in parts:
                lower(part, values, graph, memo, free)
            ids: dict[int, int] = {}
            for node in c.tree.walk():
                key = (id(node), tuple(values[p] for p in free[id(node)]))
                if key in memo:  # children of scalar expressions are folded, never lowered
                    ids[id(node)] = memo[key]
            found.append((InspectedCondition(group, int(c.source.index), to_text(c.tree), c.tree, 0, parts=parts), ids))
            roots += ids.values()
    unique = list(dict.fromkeys(roots))
    plan = Plan(graph, [values], [(i, i) for i in unique])
    _schedule(plan)
    raw = compute(plan, inputs, n_rows, n_cols, batch=False)
    k = max(1, min(tail, n_rows))
    out: list[InspectedCondition] = []
    for cond, ids in found:
        for node_id, graph_id in ids.items():
            v = raw[graph_id]
            cond.values[node_id] = np.array(v[n_rows - k:], copy=True) if isinstance(v, np.ndarray) else v
        cond.lookback = max((plan.lookback[ids[id(p)]] for p in cond.parts if id(p) in ids), default=0)
        out.append(cond)
    return out


__all__ = ["InspectedCondition", "inspect_conditions"]
