"""Exit conditions that use position variables: per-bar series plus a small program run in the simulation.

A position variable (`ruleengine.lang.position`) has a value only inside the simulation, while a trade is
held, so an exit condition that uses one cannot be a precomputed signal. `split_exit` divides the exit block:

- conditions without position variables stay in the exit signal, as before (with ``logic: any``; with
  ``logic: all`` every condition goes into the program as soon as one uses a position variable);
- the others become one `ExitProgram` (one per exit group: ``exit``, and a long_short strategy's ``short_exit``,
  run for its shorts): their *maximal position-independent subexpressions* (``close``,
  ``2 * atr(high, low, close, 14)``, a parameter) are *levels*, computed per bar like any other series
  (shared with the rest of the plan through the IR, sweep-safe because every parameter-dependent part is a
  level), and what combines them with the position variables is a postfix program over {level, position
  variable, constant} with arithmetic, comparisons, and/or/not and the bar-by-bar functions (abs, min, max,
  sqrt, exp, log, pow, clip, where: `ruleengine.lang.position.ELEMENTWISE_FUNCTIONS`; `ExitOp` codes). One program
  serves every column of a run; the kernel evaluates it for a held position at each bar's close
  (`ruleengine.kernels.exit_program`), and a true result acts as the exit signal of that bar.

`ExitProgram.evaluate` is the same evaluation in plain Python for one bar, returning the values it used
(what live signals show as the reason of an exit).

Example:
    >>> from ruleengine.compile.compiled import compile_rules
    >>> c = compile_rules({"name": "x", "data": {"prices": {"kind": "ohlcv"}}, "entry": ["close > 1"],
    ...                    "exit": ["close < sma(close, 5)", "bars_held >= 10 or close < entry_price - 2"]})
    >>> split = split_exit(c.analysis)
    >>> [s.source.text for s in split.signal], split.program.levels_text
    (['close < sma(close, 5)'], ('prices.close',))
    >>> e = split.program.evaluate([95.0], {"entry_price": 100.0, "bars_held": 3})
    >>> e.exit, e.variables
    (True, {'entry_price': 100.0, 'bars_held': 3.0})
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..kernels.enums import EXIT_OPCODES, ExitOp
from ..lang import ast
from ..lang.check import static_value
from ..lang.functions import FUNCTIONS
from ..lang.operators import BINARY, UNARY
from ..lang.position import POSITION_INDEX, POSITION_VARIABLES, is_position_name, position_dependent
from ..lang.printer import to_text
from .frontend import Analysis, CheckedCondition

#: the stack the kernel gives a program (a condition nests far less; deeper programs are refused at compile)
MAX_STACK = 64


@dataclass(frozen=True)
class ExitProgram:
    """A postfix program over levels, position variables and constants (see the module docstring).

    `ops` are `ExitOp` codes; `args` their operands (the level's number for ``level``, the variable's index
    for ``var``, the value for ``const``, unused otherwise). `levels` are the typed trees of the level rows,
    in row order; `text` the canonical text of the whole condition.
    """

    ops: tuple[int, ...]
    args: tuple[float, ...]
    levels: tuple[ast.Node, ...]
    levels_text: tuple[str, ...]
    variables: tuple[str, ...]  # the position variables it reads, in `POSITION_VARIABLES` order
    text: str
    depth: int  # the deepest stack it needs

    def arrays(self) -> tuple[Any, Any]:
        """(ops int64, args float64) as the kernels take them."""
        import numpy as np

        return np.array(self.ops, dtype=np.int64), np.array(self.args, dtype=np.float64)

    def evaluate(self, levels: Sequence[float], position: Mapping[str, float]) -> ExitEvaluation:
        """The program on one bar: `levels` are the level rows' values at that bar, `position` the held
        trade's variables (a variable the program reads and `position` lacks is NaN). Same arithmetic as the
        kernel's `run_exit_program_nb`."""
        stack: list[float] = []
        for op, arg in zip(self.ops, self.args, strict=True):
            if op == ExitOp.level:
                stack.append(float(levels[int(arg)]))
            elif op == ExitOp.var:
                stack.append(float(position.get(_NAMES[int(arg)], math.nan)))
            elif op == ExitOp.const:
                stack.append(arg)
            else:
                n = 1 if op in _UNARY else 3 if op in _TERNARY else 2
                operands = stack[-n:]
                del stack[-n:]
                stack.append(_apply(op, operands))
        used = {name: float(position.get(name, math.nan)) for name in self.variables}
        return ExitEvaluation(_true(stack[-1]), used, dict(zip(self.levels_text, map(float, levels), strict=True)))


@dataclass(frozen=True)
class ExitEvaluation:
    """One bar's evaluation of an `ExitProgram`: whether it exits, and the values it read."""

    exit: bool
    variables: dict[str, float]  # position variable -> value
    levels: dict[str, float]  # canonical text of each level -> value


@dataclass(frozen=True)
class ExitSplit:
    """The exit block divided: conditions that stay signals (combined with `logic`), and the program."""

    signal: list[CheckedCondition]
    logic: str  # "all" | "any": how `signal` combines
    program: ExitProgram | None


#: the condition groups that may use position variables: the ``exit`` block (a long_short strategy's longs, any
#: position of a long or short one) and a long_short strategy's ``short_exit`` block (its shorts)
EXIT_GROUPS = ("exit", "short_exit")


def split_exit(analysis: Analysis, group: str = "exit") -> ExitSplit:
    """Divide the checked conditions of the exit group `group` (`EXIT_GROUPS`) of `analysis` (see the module
    docstring)."""
    assert group in EXIT_GROUPS, group
    block = getattr(analysis.strategy, group)
    logic = block.logic if block else "any"
    conds = getattr(analysis, group)
    dependent = [c for c in conds if position_dependent(c.tree)]
    if not dependent:
        return ExitSplit(list(conds), logic, None)
    in_program = dependent if logic == "any" else list(conds)
    signal = [c for c in conds if c not in in_program]
    return ExitSplit(signal, logic, _compile([c.tree for c in in_program], "or" if logic == "any" else "and"))


def _compile(trees: list[ast.Node], combine: str) -> ExitProgram:
    builder = _Builder()
    for i, tree in enumerate(trees):
        builder.emit(tree, position_dependent(tree))
        if i:
            builder.push(EXIT_OPCODES[combine])
    depth = builder.max_depth
    if depth > MAX_STACK:  # pragma: no cover - the parser's nesting limit keeps conditions far shallower
        raise ValueError(f"exit program needs a stack of {depth} (at most {MAX_STACK})")
    variables = tuple(n for n in POSITION_VARIABLES if n in builder.variables)
    text = f" {combine} ".join(f"({to_text(t)})" if len(trees) > 1 else to_text(t) for t in trees)
    return ExitProgram(tuple(builder.ops), tuple(builder.args), tuple(builder.levels),
                       tuple(builder.levels_text), variables, text, depth)


class _Builder:
    """Emits a tree in postfix; position-independent maximal subtrees become levels (one per distinct text)."""

    def __init__(self) -> None:
        self.ops: list[int] = []
        self.args: list[float] = []
        self.levels: list[ast.Node] = []
        self.levels_text: list[str] = []
        self.variables: set[str] = set()
        self.depth = 0
        self.max_depth = 0

    def push(self, op: int, arg: float = 0.0) -> None:
        self.ops.append(op)
        self.args.append(arg)
        pops = 0 if op in _PUSHES else 1 if op in _UNARY else 3 if op in _TERNARY else 2
        self.depth += 1 - pops
        self.max_depth = max(self.max_depth, self.depth)

    def emit(self, node: ast.Node, dependent: set[int]) -> None:
        if id(node) not in dependent:
            value = static_value(node, {})  # a literal (no parameter): a constant of the program
            if value is not None:
                self.push(ExitOp.const, float(value))
                return
            text = to_text(node)
            if text not in self.levels_text:
                self.levels.append(node)
                self.levels_text.append(text)
            self.push(ExitOp.level, float(self.levels_text.index(text)))
            return
        if is_position_name(node):
            assert isinstance(node, ast.Name) and node.ref is not None
            self.variables.add(node.ref[1])
            self.push(ExitOp.var, float(POSITION_INDEX[node.ref[1]]))
            return
        if isinstance(node, ast.Unary):
            assert node.operand is not None
            self.emit(node.operand, dependent)
            if UNARY[node.op].name != "pos":
                self.push(EXIT_OPCODES[UNARY[node.op].name])
            return
        if isinstance(node, ast.Binary):
            assert node.left is not None and node.right is not None
            self.emit(node.left, dependent)
            self.emit(node.right, dependent)
            self.push(EXIT_OPCODES[BINARY[node.op].name])
            return
        assert isinstance(node, ast.Call)  # an ELEMENTWISE_FUNCTIONS one: the checker refuses any other (L122)
        for arg in node.args:
            self.emit(arg, dependent)
        self.push(EXIT_OPCODES[node.func])


def node_values(tree: ast.Node, known: Callable[[ast.Node], Any], position: Mapping[str, float]) -> dict[int, float]:
    """The value (true/false as 1.0/0.0, missing as NaN) of every position-dependent node of a checked condition
    on one bar, by ``id(node)``, with the program's arithmetic: `known` gives a position-independent node's value
    on that bar (None when missing), `position` the held trade's variables. What explains an exit on a position
    variable live (`ruleengine.live.signals`) shows these values."""
    dependent = position_dependent(tree)
    out: dict[int, float] = {}

    def value(node: ast.Node) -> float:
        if id(node) not in dependent:
            literal = static_value(node, {})
            v = literal if literal is not None else known(node)
            return math.nan if v is None else float(v)
        if is_position_name(node):
            assert isinstance(node, ast.Name) and node.ref is not None
            v = float(position.get(node.ref[1], math.nan))
        elif isinstance(node, ast.Unary):
            assert node.operand is not None
            name = UNARY[node.op].name
            v = value(node.operand) if name == "pos" else _UNARY[EXIT_OPCODES[name]](value(node.operand))
        elif isinstance(node, ast.Binary):
            assert node.left is not None and node.right is not None
            v = _BINARY[EXIT_OPCODES[BINARY[node.op].name]](value(node.left), value(node.right))
        else:
            assert isinstance(node, ast.Call)  # an ELEMENTWISE_FUNCTIONS one (L122 refuses others)
            v = _apply(EXIT_OPCODES[node.func], [value(a) for a in node.args])
        out[id(node)] = v
        return v

    value(tree)
    return out


def _true(v: float) -> bool:
    return v != 0.0 and not math.isnan(v)


def _compare(test: Any) -> Any:
    return lambda a, b: 1.0 if not (math.isnan(a) or math.isnan(b)) and test(a, b) else 0.0


def _divide(a: float, b: float) -> float:
    if b != 0.0:
        return a / b
    return math.nan if a == 0.0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1.0, b)


def _scalar(name: str) -> Callable[..., float]:
    """The function's bar-by-bar value in plain Python (the registry's, numpy's values outside its domain)."""
    fn = FUNCTIONS[name].scalar
    assert fn is not None, name
    return fn


def _apply(op: int, operands: Sequence[float]) -> float:
    """One operation of a program on its operands (in push order)."""
    if op in _UNARY:
        return float(_UNARY[op](operands[0]))
    if op in _TERNARY:
        return float(_TERNARY[op](*operands))
    return float(_BINARY[op](operands[0], operands[1]))


_NAMES = tuple(POSITION_VARIABLES)
_PUSHES = (ExitOp.level, ExitOp.var, ExitOp.const)
_UNARY: dict[int, Callable[..., float]] = {
    ExitOp.neg: lambda a: -a, ExitOp.not_: lambda a: 0.0 if _true(a) else 1.0, ExitOp.abs: _scalar("abs"),
    ExitOp.sqrt: _scalar("sqrt"), ExitOp.exp: _scalar("exp"), ExitOp.log: _scalar("log")}
_TERNARY: dict[int, Callable[..., float]] = {
    ExitOp.clip: _scalar("clip"), ExitOp.where: lambda cond, a, b: a if _true(cond) else b}
_BINARY: dict[int, Callable[..., float]] = {
    ExitOp.add: lambda a, b: a + b, ExitOp.sub: lambda a, b: a - b, ExitOp.mul: lambda a, b: a * b,
    ExitOp.div: _divide,
    ExitOp.lt: _compare(lambda a, b: a < b), ExitOp.le: _compare(lambda a, b: a <= b),
    ExitOp.gt: _compare(lambda a, b: a > b), ExitOp.ge: _compare(lambda a, b: a >= b),
    ExitOp.eq: _compare(lambda a, b: a == b), ExitOp.ne: _compare(lambda a, b: a != b),
    ExitOp.and_: lambda a, b: 1.0 if _true(a) and _true(b) else 0.0,
    ExitOp.or_: lambda a, b: 1.0 if _true(a) or _true(b) else 0.0,
    ExitOp.min: _scalar("min"), ExitOp.max: _scalar("max"), ExitOp.pow: _scalar("pow"),
}


def level_trees(analysis: Analysis) -> tuple[ExitSplit, dict[str, ast.Node]]:
    """The exit block's split and every per-bar level the strategy hands the simulation, by kind
    (`ruleengine.kernels.enums.LEVEL_KINDS` names and ``exit_program:<k>``): its stop / take-profit distance
    expressions, a limit or stop entry order's price (``entry_order_price``; a long_short strategy's short side's
    ``short_entry_order_price``), a limit or stop exit order's price (``exit_order_price``,
    ``short_exit_order_price``), a rotation's selection and
    weight (`compile.rotation.HOLD` / ``WEIGHT``) and the levels of its exit programs (``short_exit_program:<k>``
    for a long_short strategy's ``short_exit`` block). The planners lower these
    trees beside the signals."""
    from ..kernels.enums import EXIT_PROGRAM_LEVEL, SHORT_EXIT_PROGRAM_LEVEL

    split = split_exit(analysis)
    short = split_exit(analysis, "short_exit")
    trees = {name: checked.tree for name, checked in analysis.risk.items()}
    if analysis.order_price is not None:
        trees["entry_order_price"] = analysis.order_price.tree
    if analysis.short_order_price is not None:
        trees["short_entry_order_price"] = analysis.short_order_price.tree
    if analysis.exit_order_price is not None:
        trees["exit_order_price"] = analysis.exit_order_price.tree
    if analysis.short_exit_order_price is not None:
        trees["short_exit_order_price"] = analysis.short_exit_order_price.tree
    trees.update({kind: checked.tree for kind, checked in analysis.rotation.items()})
    for prefix, program in ((EXIT_PROGRAM_LEVEL, split.program), (SHORT_EXIT_PROGRAM_LEVEL, short.program)):
        if program is not None:
            trees.update({f"{prefix}{k}": tree for k, tree in enumerate(program.levels)})
    return split, trees


def independent_parts(tree: ast.Node) -> list[ast.Node]:
    """The maximal subtrees of a checked condition without position variables (the whole tree when it has
    none): what can be computed per bar in advance, e.g. to explain or inspect an exit condition."""
    dependent = position_dependent(tree)
    out: list[ast.Node] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if id(node) not in dependent:
            out.append(node)
        else:
            stack.extend(reversed(node.children()))
    return out
