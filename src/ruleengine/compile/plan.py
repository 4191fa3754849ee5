"""Stage 4: lower the checked conditions of one or more parameter sets into one graph and plan it.

The plan lists the nodes to compute in dependency order, when each value can be freed, and the derived
warm-up: `lookback` (bars before every input of a condition has a value; these bars are never traded) and
`converge` (lookback plus the history recursive indicators need to equal their full-history values within
1e-10; the data layer fetches this much before the start date when it can).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic, RuleEngineError
from ..lang.functions import FUNCTIONS, ORDER_HINT
from ..schema.strategy import SIGNAL_GROUPS
from .exit_program import EXIT_GROUPS, level_trees, split_exit
from .frontend import Analysis
from .ir import Graph, Memo, Node, free_params, lower


@dataclass
class Plan:
    graph: Graph
    param_sets: list[dict[str, Any]]
    #: per parameter set, the node id of each signal group (`TradingStrategy.signal_groups`: entry, exit, and
    #: short_entry, short_exit for long_short)
    roots: list[tuple[int, ...]]
    #: level kind (`exit_program.level_trees`) -> its node id per parameter set (float series or constants)
    level_roots: dict[str, list[int]] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    levels: list[list[int]] = field(default_factory=list)  # node ids by depth; inputs on lower levels
    #: per level, groups of like nodes (same operation, same argument kinds) that may run stacked
    batches: list[list[list[int]]] = field(default_factory=list)
    lookback: dict[int, int] = field(default_factory=dict)
    converge: dict[int, int] = field(default_factory=dict)
    free_after: dict[int, list[int]] = field(default_factory=dict)  # level -> values no longer needed
    programs: dict[tuple[int, int], Any] = field(default_factory=dict)  # (T, S) -> batched program

    def set_roots(self, i: int) -> list[int]:
        """Every node parameter set i hands on: its entry, its exit and its levels."""
        return [*self.roots[i], *(ids[i] for ids in self.level_roots.values())]

    def warmup(self, i: int = 0) -> int:
        """Bars never traded for parameter set i (the longest lookback of its signal groups and levels: a stop
        distance or an exit program's series has a value from then on)."""
        return max(self.lookback[r] for r in self.set_roots(i))

    def converge_bars(self, i: int = 0) -> int:
        return max(self.converge[r] for r in self.set_roots(i))

    def warmups(self) -> Any:
        """Per parameter set, `warmup(i)` (an int64 array, as `GridPlan.warmups`)."""
        import numpy as np

        return np.array([self.warmup(i) for i in range(len(self.roots))], dtype=np.int64)

    def converges(self) -> Any:
        import numpy as np

        return np.array([self.converge_bars(i) for i in range(len(self.roots))], dtype=np.int64)

    @property
    def n_nodes(self) -> int:
        return len(self.order)

    def count_calls(self, name: str) -> int:
        """How many distinct `name(...)` computations the plan makes (used to prove sharing)."""
        return sum(1 for i in self.order if self.graph.nodes[i].op == "fn:" + name)


def _combine(graph: Graph, ids: list[int], logic: str) -> int:
    op = "and" if logic == "all" else "or"
    root = ids[0]
    for other in ids[1:]:
        root = graph.intern(Node(op, (root, other), (), "bool"))
    return root


def condition_groups(analysis: Analysis) -> list[tuple[list[Any], str]]:
    """(checked conditions, logic) of each signal group the strategy produces, in `signal_groups` order; a
    group without conditions (no exit block) is never true."""
    strategy = analysis.strategy
    out = []
    for group in strategy.signal_groups():
        if group in EXIT_GROUPS:  # the exit signals hold the conditions without position variables
            split = split_exit(analysis, group)
            out.append((split.signal, split.logic))
            continue
        block = getattr(strategy, group)
        out.append((getattr(analysis, group), block.logic if block is not None else SIGNAL_GROUPS[group]))
    return out


def build_plan(analysis: Analysis, param_sets: list[dict[str, Any]]) -> Plan:
    """Lower every parameter set into one shared graph and plan its execution."""
    graph = Graph()
    groups = condition_groups(analysis)
    _split, level_roots = level_trees(analysis)
    frees = {id(c.tree): free_params(c.tree) for conds, _ in groups for c in conds}
    frees.update({id(tree): free_params(tree) for tree in level_roots.values()})
    memo: Memo = {}
    roots: list[tuple[int, ...]] = []
    by_kind: dict[str, list[int]] = {kind: [] for kind in level_roots}
    for params in param_sets:
        ids_of_set = []
        for conds, logic in groups:
            if not conds:
                ids_of_set.append(graph.const(False))
                continue
            ids = [lower(c.tree, params, graph, memo, frees[id(c.tree)]) for c in conds]
            ids_of_set.append(_combine(graph, ids, logic))
        roots.append(tuple(ids_of_set))
        for kind, tree in level_roots.items():
            by_kind[kind].append(lower(tree, params, graph, memo, frees[id(tree)]))
    plan = Plan(graph, param_sets, roots, by_kind)
    _check_windows(plan)
    _schedule(plan)
    return plan


def _check_windows(plan: Plan) -> None:
    """Windows given by parameter expressions are only known now: check them against their minimum."""
    problems: list[Diagnostic] = []
    for node in plan.graph.nodes:
        if not node.op.startswith("fn:"):
            continue
        fn = FUNCTIONS[node.op[3:]]
        statics = iter(node.static)
        for spec in fn.args:
            if spec.kind in ("window", "lag"):
                v = next(statics)
                if v < spec.minimum:
                    problems.append(Diagnostic(
                        "D103", f"the {'lag' if spec.kind == 'lag' else 'window'} of {fn.name} is {v} "
                        f"with these parameter values (minimum {spec.minimum})",
                        hint="choose parameter values that keep windows at or above the minimum"))
            elif spec.kind == "number":
                next(statics)
        for message in fn.order_problems(_static_dict(fn, node)):
            problems.append(Diagnostic("D103", message + " with these parameter values", hint=ORDER_HINT))
    if problems:
        raise RuleEngineError(problems)


def _schedule(plan: Plan) -> None:
    graph = plan.graph
    needed: set[int] = set()
    stack = stack_roots(plan)
    while stack:
        i = stack.pop()
        if i in needed:
            continue
        needed.add(i)
        stack.extend(graph.nodes[i].args)
    plan.order = sorted(needed)  # interning gives inputs smaller ids: ascending order is topological
    depth: dict[int, int] = {}
    last_level: dict[int, int] = {}
    for i in plan.order:
        node = graph.nodes[i]
        depth[i] = 1 + max((depth[a] for a in node.args), default=-1)
        lb = max((plan.lookback[a] for a in node.args), default=0)
        cv = max((plan.converge[a] for a in node.args), default=0)
        if node.op.startswith("fn:"):
            fn = FUNCTIONS[node.op[3:]]
            static = _static_dict(fn, node)
            own = fn.lookback(static)
            lb += own
            cv += own + fn.memory(static)
        plan.lookback[i] = lb
        plan.converge[i] = cv
        for a in node.args:
            last_level[a] = max(last_level.get(a, 0), depth[i])
    plan.levels = [[] for _ in range(1 + max(depth.values(), default=0))]
    for i in plan.order:
        plan.levels[depth[i]].append(i)
    plan.batches = [_group(graph, ids) for ids in plan.levels]
    roots = set(stack_roots(plan))
    for i, level in last_level.items():
        if i not in roots:  # roots live to the end
            plan.free_after.setdefault(level, []).append(i)


def stack_roots(plan: Plan) -> list[int]:
    """Every node handed on by some parameter set (entries, exits, levels)."""
    return [r for i in range(len(plan.roots)) for r in plan.set_roots(i)]


def _kind(node: Node) -> str:
    """b/f: a bool/float array; B/F: a bool/float scalar (constants)."""
    k = "b" if node.dtype == "bool" else "f"
    return k.upper() if node.op == "const" else k


def _group(graph: Graph, ids: list[int]) -> list[list[int]]:
    groups: dict[tuple[object, ...], list[int]] = {}
    for i in ids:
        node = graph.nodes[i]
        if node.op in ("col", "const"):
            key: tuple[object, ...] = (i,)  # inputs and constants are never stacked
        else:
            key = (node.op, tuple(_kind(graph.nodes[a]) for a in node.args))
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _static_dict(fn: Any, node: Node) -> dict[str, float]:
    out: dict[str, float] = {}
    statics = iter(node.static)
    for spec in fn.args:
        if spec.kind in ("window", "lag", "number"):
            out[spec.name] = next(statics)
    return out
