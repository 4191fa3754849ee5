"""Template lowering: the conditions lowered once, with parameter-dependent statics left open.

`ir.lower` lowers a condition under one parameter set; a grid of 1,590 sets then costs 1,590 walks of every
tree in Python. A *template* is the same graph with each static argument (a window, a number, a scalar
operand) either a constant or the parameter expression that gives it. `grid_plan.build_grid_plan` turns the
template and a grid into instances with numpy, without a Python step per parameter set.

Example:
    >>> from ruleengine.compile.compiled import compile_rules
    >>> c = compile_rules({"name": "x", "data": {"prices": {"kind": "ohlcv"}},
    ...     "params": {"n": {"type": "int", "min": 2, "max": 50, "default": 10}},
    ...     "entry": ["close > sma(close, n)"]})
    >>> t = lower_templates(c.analysis)
    >>> [t.nodes[i].op for i in range(len(t.nodes))]
    ['col', 'fn:sma', 'gt', 'const']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..lang import ast
from ..lang.check import static_value
from ..lang.functions import BAR_SLOT, FUNCTIONS
from ..lang.operators import BINARY, UNARY
from ..lang.printer import to_text
from .exit_program import level_trees
from .frontend import Analysis
from .ir import COMMUTATIVE, DType, free_params
from .plan import condition_groups


@dataclass(frozen=True)
class Static:
    """One static argument: `value` when constant, else `expr` evaluated under each parameter set."""

    #: "window" | "lag" | "number" (a function's static argument), "column" ((slot, column) of an input),
    #: "scalar:bool" | "scalar:float" (the value of a scalar operand: a const node)
    kind: str
    value: Any = None
    expr: ast.Node | None = None
    free: tuple[str, ...] = ()
    text: str = ""

    def evaluate(self, params: dict[str, Any]) -> Any:
        v = self.value if self.expr is None else static_value(self.expr, params)
        assert v is not None, f"static without a value: {self.text}"
        if self.kind in ("window", "lag"):
            return int(v)
        if self.kind == "number":
            return float(v)
        if self.kind == "scalar:bool":
            return bool(v)
        if self.kind == "scalar:float":
            return float(v)
        return v

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, "p", self.text) if self.expr is not None else (self.kind, "c", type(self.value),
                                                                          self.value)


@dataclass(frozen=True)
class TNode:
    """A template node: `op` as in `ir.Node`; `args` are template ids; `free` the parameters it depends on."""

    op: str
    args: tuple[int, ...]
    statics: tuple[Static, ...]
    dtype: DType
    free: tuple[str, ...]
    depth: int


@dataclass
class Templates:
    nodes: list[TNode]
    roots: tuple[int, ...]  # template id of each signal group's combined condition (`plan.condition_groups`)
    levels: dict[str, int] = field(default_factory=dict)  # level kind -> template id (`exit_program.level_trees`)


def lower_templates(analysis: Analysis) -> Templates:
    """Lower every condition of every signal group and every level once into one interned template graph."""
    builder = _Builder()
    roots = []
    for conds, logic in condition_groups(analysis):
        if not conds:
            roots.append(builder.const(False, "bool"))
            continue
        ids = []
        for c in conds:
            free = free_params(c.tree)
            ids.append(builder.lower(c.tree, free))
        root = ids[0]
        for other in ids[1:]:
            root = builder.intern("and" if logic == "all" else "or", (root, other), (), "bool")
        roots.append(root)
    _split, level_roots = level_trees(analysis)
    levels = {kind: builder.lower(tree, free_params(tree)) for kind, tree in level_roots.items()}
    return Templates(builder.nodes, tuple(roots), levels)


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[TNode] = []
        self.index: dict[tuple[Any, ...], int] = {}

    def intern(self, op: str, args: tuple[int, ...], statics: tuple[Static, ...], dtype: DType) -> int:
        if op in COMMUTATIVE:
            args = tuple(sorted(args))
        key = (op, args, tuple(s.key for s in statics), dtype)
        found = self.index.get(key)
        if found is not None:
            return found
        free = sorted({p for a in args for p in self.nodes[a].free} | {p for s in statics for p in s.free})
        depth = 1 + max((self.nodes[a].depth for a in args), default=-1) if op not in ("col", "const") else 0
        self.nodes.append(TNode(op, args, statics, dtype, tuple(free), depth))
        self.index[key] = len(self.nodes) - 1
        return len(self.nodes) - 1

    def const(self, value: Any, dtype: DType) -> int:
        return self.intern("const", (), (Static("scalar:" + dtype, value),), dtype)

    def lower(self, node: ast.Node, free: dict[int, tuple[str, ...]]) -> int:
        ty = node.ty
        assert ty is not None, "lower_templates() needs a checked tree"
        dtype: DType = "bool" if ty.is_bool else "float"
        if not ty.is_series:
            names = free[id(node)]
            if not names:
                v = static_value(node, {})
                assert v is not None, f"scalar without a value: {node}"
                return self.const(bool(v) if ty.is_bool else float(v), dtype)
            return self.intern("const", (), (Static("scalar:" + dtype, None, node, names, to_text(node)),), dtype)
        if isinstance(node, ast.Name):
            assert node.ref is not None and node.ref[0] == "column"
            return self.intern("col", (), (Static("column", (node.ref[1], node.ref[2])),), "float")
        if isinstance(node, ast.Unary):
            assert node.operand is not None
            child = self.lower(node.operand, free)
            op = UNARY[node.op]
            if op.name == "pos":  # +x is x
                return child
            return self.intern(op.name, (child,), (), dtype)
        if isinstance(node, ast.Binary):
            assert node.left is not None and node.right is not None
            a, b = self.lower(node.left, free), self.lower(node.right, free)
            return self.intern(BINARY[node.op].name, (a, b), (), dtype)
        assert isinstance(node, ast.Call)
        fn = FUNCTIONS[node.func]
        if fn.bar_value:  # an input like a column, filled from the bar times (`ir.bar_inputs`)
            return self.intern("col", (), (Static("column", (BAR_SLOT, fn.name)),), dtype)
        series: list[int] = []
        statics: list[Static] = []
        for spec, arg in zip(fn.args, node.args, strict=True):  # arity checked (C103) before lowering
            if spec.kind in ("series", "value", "cond"):
                series.append(self.lower(arg, free))
                continue
            names = free[id(arg)]
            if names:
                statics.append(Static(spec.kind, None, arg, names, to_text(arg)))
            else:
                statics.append(Static(spec.kind, Static(spec.kind, static_value(arg, {})).evaluate({})))
        return self.intern("fn:" + fn.name, tuple(series), tuple(statics), dtype)
