"""The reasoning tree of a live signal: every condition on the bar, its operands, result and margin.

Built from `ruleengine.compile.inspect.inspect_conditions` (the values the signal was computed from) for one
symbol column. Margins and their normalisation are defined in `ruleengine.live.confidence` and
`ruleengine.live.models.ConditionNode`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..lang import ast
from ..lang.operators import OPERATORS
from ..lang.printer import to_text
from ..sides import Side, action
from .confidence import FORMULA, SCALE_BARS, confidence, margin_score, strength
from .models import ConditionNode, NodeKind, Operand, Reasoning

if TYPE_CHECKING:
    from ..strategies import InspectedCondition

_COMPARE = frozenset(op.symbol for op in OPERATORS if op.family == "comparison")
_CROSS = {"crosses_above": ">", "crosses_below": "<"}


def fmt(v: Any) -> str:
    """Short readable number: 28.4, 1,234.57, 0.0123; true/false; 'n/a' for missing."""
    if v is None:
        return "n/a"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    x = float(v)
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if abs(x) >= 1000:
        return f"{x:,.2f}"
    if abs(x) >= 1 or x == 0:
        return f"{round(x, 2):g}"
    return f"{x:.3g}"


def _at(values: Any, col: int, row: int = -1) -> Any:
    """A node's value at `row` of column `col` (None when missing: warm-up, no data, no held position)."""
    if isinstance(values, np.ndarray):
        if -row > values.shape[0]:
            return None
        v = values[row, col]
        if values.dtype == np.bool_:
            return bool(v)
        return None if math.isnan(v) else float(v)
    return values


def condition_held(cond: InspectedCondition, col: int) -> bool:
    """Whether a condition held on the last inspected bar for column `col`."""
    v = cond.values_of(cond.tree)
    return bool(v[-1, col]) if isinstance(v, np.ndarray) else bool(v)


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, (bool, np.bool_)):
        return None
    x = float(v)
    return None if math.isnan(x) else x


def typical_move(left: Any, right: Any, col: int) -> float | None:
    """Mean absolute one-bar change of ``left - right`` over the last `SCALE_BARS` bars (None if unknown)."""
    a = left[:, col] if isinstance(left, np.ndarray) else np.asarray(left, dtype=np.float64)
    b = right[:, col] if isinstance(right, np.ndarray) else np.asarray(right, dtype=np.float64)
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if d.ndim == 0 or d.shape[0] < 2:
        return None
    moves = np.abs(np.diff(d[-(SCALE_BARS + 1):]))
    moves = moves[np.isfinite(moves)]
    if moves.size == 0:
        return None
    scale = float(moves.mean())
    return scale if scale > 0 else None


def _margin(op: str, left: float, right: float) -> float:
    if op in ("<", "<="):
        return right - left
    if op in (">", ">="):
        return left - right
    if op == "==":
        return -abs(left - right)
    return abs(left - right)


def _is_literal(node: ast.Node) -> bool:
    return isinstance(node, (ast.Num, ast.Bool)) or (isinstance(node, ast.Unary) and isinstance(node.operand, ast.Num))


def _why(node: ast.Node, cond: InspectedCondition, col: int) -> str:
    """`` (why it has no value)`` for a node that has a note on this column, else ``""``."""
    note = cond.notes.get((id(node), col))
    return f" ({note})" if note else ""


def build_node(node: ast.Node, cond: InspectedCondition, col: int) -> ConditionNode:
    """The tree of one (sub)condition for symbol column `col` on the last bar."""
    text = to_text(node)
    value = _at(cond.values.get(id(node)), col)
    result = None if value is None else bool(value)
    if isinstance(node, ast.Binary) and node.op in ("and", "or"):
        kids = [build_node(c, cond, col) for c in (node.left, node.right) if c is not None]
        norms = [k.norm_margin for k in kids]
        norm = None if any(n is None for n in norms) else (min if node.op == "and" else max)(norms)  # type: ignore[type-var]
        st = (min if node.op == "and" else max)(k.strength or 0.0 for k in kids) if norm is None else strength(norm)
        kind: NodeKind = "and" if node.op == "and" else "or"
        return ConditionNode(text=text, kind=kind, result=result, norm_margin=norm, strength=st, children=kids,
                             note=cond.notes.get((id(node), col)), line=f"{text}: {fmt(result)}{_why(node, cond, col)}")
    if isinstance(node, ast.Unary) and node.op == "not" and node.operand is not None:
        kid = build_node(node.operand, cond, col)
        norm = -kid.norm_margin if kid.norm_margin is not None else None
        return ConditionNode(text=text, kind="not", result=result, norm_margin=norm,
                             strength=strength(norm, bool(result)), children=[kid],
                             note=cond.notes.get((id(node), col)), line=f"{text}: {fmt(result)}{_why(node, cond, col)}")
    if isinstance(node, ast.Binary) and node.op in _COMPARE and node.left is not None and node.right is not None \
            and not (node.left.ty and node.left.ty.is_bool):
        return _compare(node, text, result, cond, col)
    if isinstance(node, ast.Call) and node.func in _CROSS:
        return _cross(node, text, result, cond, col)
    leaf: NodeKind = "const" if isinstance(node, ast.Bool) else "bool"
    note = None if result is not None else cond.notes.get((id(node), col), "no value on this bar")
    return ConditionNode(text=text, kind=leaf, result=result, strength=strength(None, bool(result)), note=note,
                         line=f"{text}: {fmt(result)}{_why(node, cond, col)}")


def _operand(node: ast.Node, cond: InspectedCondition, col: int, previous: bool = False) -> Operand:
    vals = cond.values.get(id(node))
    return Operand(text=to_text(node), value=_num(_at(vals, col)),
                   previous=_num(_at(vals, col, -2)) if previous else None)


def _compare(node: ast.Binary, text: str, result: bool | None, cond: InspectedCondition, col: int) -> ConditionNode:
    assert node.left is not None and node.right is not None
    left, right = _operand(node.left, cond, col), _operand(node.right, cond, col)
    margin = scale = norm = None
    note = None
    why_none = cond.notes.get((id(node), col))
    if left.value is None or right.value is None:
        note = why_none or "an operand has no value on this bar (warm-up or missing data)"
    else:
        margin = _margin(node.op, left.value, right.value)
        scale = typical_move(cond.values[id(node.left)], cond.values[id(node.right)], col)
        norm = margin / scale if scale else None
    right_text = right.text if _is_literal(node.right) else f"{right.text} = {fmt(right.value)}"
    line = f"{left.text} = {fmt(left.value)} {node.op} {right_text}"
    if margin is not None:
        line += f" (margin {fmt(margin)})" if result else f" (fails by {fmt(-margin) if margin <= 0 else fmt(margin)})"
    elif why_none:
        line += f" ({why_none})"
    return ConditionNode(text=text, kind="compare", result=result, op=node.op, left=left, right=right, margin=margin,
                         scale=scale, norm_margin=norm, strength=strength(norm, bool(result)) if margin is not None
                         else (1.0 if result else 0.0), note=note, line=line)


def _cross(node: ast.Call, text: str, result: bool | None, cond: InspectedCondition, col: int) -> ConditionNode:
    a_node, b_node = node.args
    a, b = _operand(a_node, cond, col, True), _operand(b_node, cond, col, True)
    sign = 1.0 if node.func == "crosses_above" else -1.0
    margin = scale = norm = None
    note = None
    if a.value is None or b.value is None:
        note = "an operand has no value on this bar (warm-up or missing data)"
    elif a.previous is not None and b.previous is not None and sign * (a.previous - b.previous) > 0:
        side = "above" if sign > 0 else "below"
        note = f"already {side} on the previous bar: no crossing can happen on this bar"
    else:
        margin = sign * (a.value - b.value)
        scale = typical_move(cond.values[id(a_node)], cond.values[id(b_node)], col)
        norm = margin / scale if scale else None
    line = (f"{text}: {a.text} = {fmt(a.value)} vs {b.text} = {fmt(b.value)}, previous bar {fmt(a.previous)} vs "
            f"{fmt(b.previous)}")
    if margin is not None:
        line += f" (margin {fmt(margin)})" if result else f" (fails by {fmt(abs(margin))})"
    elif note:
        line += f" ({note})"
    st = strength(norm, bool(result)) if margin is not None else (1.0 if result else 0.0)
    return ConditionNode(text=text, kind="cross", result=result, op=node.func, left=a, right=b, margin=margin,
                         scale=scale, norm_margin=norm, strength=st, note=note, line=line)


def reasoning(signal_type: str, logic: str, conds: list[InspectedCondition], col: int,
              hit: tuple[int, int] | None, direction: Side = "long", note: str = "") -> Reasoning:
    """The `Reasoning` of one symbol column: the condition trees, M, H and the confidence; `direction` is the
    side of the position the signal opens or closes, `note` what else it does (a long_short reversal)."""
    from .confidence import hit_rate

    wins, trades = hit or (0, 0)
    h = hit_rate(wins, trades)
    nodes = [build_node(c.tree, c, col) for c in conds]
    held = [bool(n.result) for n in nodes]
    m = margin_score([n.strength or 0.0 for n in nodes], logic if nodes else "code", held)
    conf = confidence(m, h)
    text = render(signal_type, logic, nodes, m, h, trades, conf, direction, note)
    return Reasoning(signal_type=signal_type, direction=direction, logic=logic if nodes else "code",
                     conditions=nodes, held=sum(held), total=len(nodes), margin_score=m, hit_rate=h,
                     backtest_trades=trades, backtest_wins=wins, confidence=conf, text=text)


def render(signal_type: str, logic: str, nodes: list[ConditionNode], m: float, h: float, trades: int,
           conf: float, direction: Side = "long", note: str = "") -> str:
    """The readable reasoning: one line per condition (parts of compound conditions indented). A short
    signal's first line names its side and order (``short entry, sell short``), and a `note` follows (a
    long_short entry's reversal); a long one's reads as before shorts existed."""
    lines: list[str] = []
    head = signal_type if direction == "long" else f"short {signal_type}, {action(signal_type, direction)}"
    head += f"; {note}" if note else ""
    if not nodes:
        lines.append(f"{head}: code strategy (no conditions to show); margin score M = {m:g} by convention")
    else:
        joiner = "all of" if logic == "all" else "any of"
        lines.append(f"{head} ({joiner}):")

        def walk(n: ConditionNode, depth: int) -> None:
            mark = "+" if n.result else "-"
            lines.append(f"{'  ' * depth}[{mark}] {n.line}")
            for k in n.children:
                walk(k, depth + 1)

        for n in nodes:
            walk(n, 1)
    basis = f"{trades} backtest trades" if trades else "no stored backtest"
    lines.append(f"confidence {conf:.0f}/100 = 100 x (0.6 x M {m:.2f} + 0.4 x H {h:.2f}) ({basis}; {FORMULA})")
    return "\n".join(lines)
