"""Canonical text of a checked expression: qualified columns, normalised spacing, minimal parentheses."""

from __future__ import annotations

from . import ast

_PREC = {"or": 1, "and": 2, "not": 3, "<": 4, "<=": 4, ">": 4, ">=": 4, "==": 4, "!=": 4,
         "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7}


def to_text(node: ast.Node) -> str:
    """Canonical form; equal meaning gives equal text (used by explain and the golden tests).

    Example:
        >>> from ruleengine.lang.parse import parse
        >>> to_text(parse("close>sma( close,20 )and(x<1)"))
        'close > sma(close, 20) and x < 1'
    """
    return _fmt(node)[0]


def _fmt(node: ast.Node) -> tuple[str, int]:
    if isinstance(node, ast.Num):
        v = node.value
        return (str(v) if isinstance(v, int) else repr(float(v))), 9
    if isinstance(node, ast.Bool):
        return ("true" if node.value else "false"), 9
    if isinstance(node, ast.Name):
        if node.ref and node.ref[0] == "column":
            return f"{node.ref[1]}.{node.ref[2]}", 9
        return node.text, 9
    if isinstance(node, ast.Call):
        return f"{node.func}({', '.join(_fmt(a)[0] for a in node.args)})", 9
    if isinstance(node, ast.Unary):
        assert node.operand is not None
        prec = _PREC["not"] if node.op == "not" else _PREC["neg"]
        inner, p = _fmt(node.operand)
        if p < prec:
            inner = f"({inner})"
        return (f"not {inner}" if node.op == "not" else f"{node.op}{inner}"), prec
    assert isinstance(node, ast.Binary) and node.left is not None and node.right is not None
    prec = _PREC[node.op]
    left, lp = _fmt(node.left)
    right, rp = _fmt(node.right)
    if lp < prec or (lp == prec and prec == 4):
        left = f"({left})"
    if rp < prec or (rp == prec and (node.op in ("-", "/") or prec == 4)):
        right = f"({right})"
    return f"{left} {node.op} {right}", prec
