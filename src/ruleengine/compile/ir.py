"""The IR: an interned graph where equal subexpressions are one node.

Interning is an explicit function (`Graph.intern`), keyed by the operation, the ids of its inputs and its
static arguments (windows, constants). Lowering the conditions of many parameter sets into one graph
therefore computes `sma(close, 20)` once however many sets (and conditions, entry or exit) use it.
Scalars never appear as nodes except as constants: parameter expressions are evaluated while lowering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..lang import ast
from ..lang.check import static_value
from ..lang.functions import BAR_SLOT, FUNCTIONS
from ..lang.operators import BINARY, BY_NAME, OPERATORS, UNARY

DType = Literal["float", "bool"]

#: operations whose inputs may be reordered without changing the result (more sharing)
COMMUTATIVE = frozenset(o.name for o in OPERATORS if o.commutative)


@dataclass(frozen=True)
class Node:
    """One operation. `op` is 'col', 'const', an operator's name (`lang.operators`), or 'fn:<name>'."""

    op: str
    args: tuple[int, ...] = ()
    static: tuple[Any, ...] = ()
    dtype: DType = "float"
    scalar: bool = False

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.op, self.args, self.static)


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    _index: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def intern(self, node: Node) -> int:
        """Return the id of an equal node, adding it if new. Inputs always have smaller ids."""
        if node.op in COMMUTATIVE:
            node = Node(node.op, tuple(sorted(node.args)), node.static, node.dtype, node.scalar)
        found = self._index.get(node.key)
        if found is not None:
            return found
        self.nodes.append(node)
        self._index[node.key] = len(self.nodes) - 1
        return len(self.nodes) - 1

    def const(self, value: float | bool) -> int:
        dtype: DType = "bool" if isinstance(value, bool) else "float"
        # the dtype is part of the key: True and 1.0 are equal (and hash alike) but are different constants
        return self.intern(Node("const", (), (value if dtype == "bool" else float(value), dtype), dtype, True))

    def describe(self, i: int) -> str:
        """Canonical text of node i (used by explain and tests)."""
        n = self.nodes[i]
        if n.op == "col":
            return f"{n.static[1]}()" if n.static[0] == BAR_SLOT else f"{n.static[0]}.{n.static[1]}"
        if n.op == "const":
            v = n.static[0]
            return ("true" if v else "false") if isinstance(v, bool) else f"{v:g}"
        op = BY_NAME.get(n.op)
        if op is not None and op.arity == 1:
            return f"{op.symbol}{' ' if op.symbol.isalpha() else ''}({self.describe(n.args[0])})"
        if op is not None:
            a, b = (self.describe(x) for x in n.args)
            return f"({a} {op.symbol} {b})"
        name = n.op[3:]
        fn = FUNCTIONS[name]
        parts: list[str] = []
        series = iter(n.args)
        statics = iter(n.static)
        for spec in fn.args:
            if spec.kind in ("series", "value", "cond"):
                parts.append(self.describe(next(series)))
            else:
                v = next(statics)
                parts.append(f"{v:g}" if isinstance(v, float) else str(v))
        return f"{name}({', '.join(parts)})"


def free_params(tree: ast.Node) -> dict[int, tuple[str, ...]]:
    """For every node (by id), the parameters its value depends on (sorted names)."""
    out: dict[int, tuple[str, ...]] = {}
    for node in reversed(list(tree.walk())):  # children first
        names: set[str] = set()
        if isinstance(node, ast.Name) and node.ref and node.ref[0] == "param":
            names.add(node.ref[1])
        for child in node.children():
            names.update(out[id(child)])
        out[id(node)] = tuple(sorted(names))
    return out


Memo = dict[tuple[int, tuple[Any, ...]], int]


def lower(tree: ast.Node, params: dict[str, Any], graph: Graph, memo: Memo | None = None,
          free: dict[int, tuple[str, ...]] | None = None) -> int:
    """Lower a checked AST under concrete parameter values into `graph`; returns the root id.

    With `memo` and `free` shared across calls (one tree, many parameter sets), a subtree is lowered once
    per distinct value of the parameters it uses: a grid of 1,000 (fast, slow) pairs lowers
    `sma(close, fast)` once per distinct `fast`.
    """
    free = free if free is not None else free_params(tree)
    memo = memo if memo is not None else {}
    return _lower_rec(tree, params, graph, memo, free)


def _lower_rec(node: ast.Node, params: dict[str, Any], graph: Graph, memo: Memo,
               free: dict[int, tuple[str, ...]]) -> int:
    key = (id(node), tuple(params[p] for p in free[id(node)]))
    hit = memo.get(key)
    if hit is not None:
        return hit
    ty = node.ty
    assert ty is not None, "lower() needs a checked tree"
    if ty.is_series:  # scalars are folded by _lower_one without looking at lowered children
        kids = {id(c): _lower_rec(c, params, graph, memo, free) for c in node.children()}
    else:
        kids = {}
    out = _lower_one(node, params, graph, kids)
    memo[key] = out
    return out


def _lower_one(node: ast.Node, params: dict[str, Any], graph: Graph, memo: dict[int, int]) -> int:
    ty = node.ty
    assert ty is not None, "lower() needs a checked tree"
    if not ty.is_series:
        value = static_value(node, params)
        assert value is not None, f"scalar without a value: {node}"
        return graph.const(bool(value) if ty.is_bool else float(value))
    dtype: DType = "bool" if ty.is_bool else "float"
    if isinstance(node, ast.Name):
        assert node.ref is not None and node.ref[0] == "column"
        return graph.intern(Node("col", (), (node.ref[1], node.ref[2]), "float"))
    if isinstance(node, ast.Unary):
        child = memo[id(node.operand)]
        op = UNARY[node.op]
        if op.name == "pos":  # +x is x
            return child
        return graph.intern(Node(op.name, (child,), (), dtype))
    if isinstance(node, ast.Binary):
        a, b = memo[id(node.left)], memo[id(node.right)]
        return graph.intern(Node(BINARY[node.op].name, (a, b), (), dtype))
    assert isinstance(node, ast.Call)
    fn = FUNCTIONS[node.func]
    if fn.bar_value:  # an input like a column, filled from the bar times (`bar_inputs`)
        return graph.intern(Node("col", (), (BAR_SLOT, fn.name), dtype))
    series: list[int] = []
    static: list[Any] = []
    for spec, arg in zip(fn.args, node.args, strict=True):  # arity checked (C103) before lowering
        if spec.kind in ("series", "value", "cond"):
            series.append(memo[id(arg)])
        else:
            v = static_value(arg, params)
            assert v is not None
            static.append(int(v) if spec.kind in ("window", "lag") else float(v))
    return graph.intern(Node("fn:" + fn.name, tuple(series), tuple(static), dtype))
