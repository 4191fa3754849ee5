"""Canonical text of a checked expression: qualified columns, normalised spacing, minimal parentheses."""

from __future__ import annotations

from . import ast
from .operators import BINARY, UNARY

_ATOM = 9  # binds tighter than every operator


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
        return (str(v) if isinstance(v, int) else repr(float(v))), _ATOM
    if isinstance(node, ast.Bool):
        return ("true" if node.value else "false"), _ATOM
    if isinstance(node, ast.Name):
        if node.ref and node.ref[0] == "column":
            return f"{node.ref[1]}.{node.ref[2]}", _ATOM
        return node.text, _ATOM
    if isinstance(node, ast.Call):
        return f"{node.func}({', '.join(_fmt(a)[0] for a in node.args)})", _ATOM
    if isinstance(node, ast.Unary):
        assert node.operand is not None
        unary = UNARY[node.op]
        prec = unary.precedence
        inner, p = _fmt(node.operand)
        if p < prec:
            inner = f"({inner})"
        space = " " if unary.symbol.isalpha() else ""  # not x, -x
        return f"{unary.symbol}{space}{inner}", prec
    assert isinstance(node, ast.Binary) and node.left is not None and node.right is not None
    op = BINARY[node.op]
    prec = op.precedence
    left, lp = _fmt(node.left)
    right, rp = _fmt(node.right)
    if lp < prec or (lp == prec and not op.chains):
        left = f"({left})"
    if rp < prec or (rp == prec and not (op.associative and op.chains)):
        right = f"({right})"
    return f"{left} {node.op} {right}", prec
