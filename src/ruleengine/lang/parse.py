"""Parse expression text into an AST with spans; syntax errors become P1xx diagnostics.

The grammar is data (`grammar/expression.lark`, shipped inside the wheel as `ruleengine/grammar`); the
tree is transformed into our own AST after parsing so that positions survive.

Example:
    >>> parse("crosses_above(sma(close, fast), sma(close, slow))").func
    'crosses_above'
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any, cast

from ..errors import Diagnostic, RuleEngineError
from . import ast

MAX_LENGTH = 10_000  # characters in one expression
MAX_DEPTH = 200  # nesting of the syntax tree

GRAMMAR_FILE = "expression.lark"


def grammar_text() -> str:
    """The grammar, from the installed package, or from the source tree during development."""
    try:
        res = resources.files("ruleengine") / "grammar" / GRAMMAR_FILE
        if res.is_file():
            return res.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover
        pass
    dev = Path(__file__).resolve().parents[3] / "grammar" / GRAMMAR_FILE
    return dev.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _parser() -> Any:
    from lark import Lark

    # cache=True keeps the built LALR tables in the temp folder (keyed by the grammar), saving ~60 ms a start
    return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=False, cache=True)


_TOKEN_NAMES = {
    "COMP_OP": "a comparison (< <= > >= == !=)", "ADD_OP": "'+' or '-'", "MUL_OP": "'*' or '/'",
    "NAME": "a name", "NUMBER": "a number", "LPAR": "'('", "RPAR": "')'", "COMMA": "','",
    "LSQB": "'['", "RSQB": "']'", "DOT": "'.'", "AND": "'and'", "OR": "'or'", "NOT": "'not'",
    "$END": "the end",
}


def parse(text: str) -> ast.Node:
    """Parse one expression; raises `RuleEngineError` with offsets relative to `text`."""
    if not text.strip():
        raise RuleEngineError([_diag("P106", "the expression is empty", 0, max(1, len(text)),
                                     "write a condition such as close > sma(close, 50)")])
    if len(text) > MAX_LENGTH:
        raise RuleEngineError([_diag("P104", f"expression is {len(text):,} characters long (limit "
                                     f"{MAX_LENGTH:,})", 0, 1,
                                     "split it into several conditions, or use parameters")])
    depth = _paren_depth(text)
    if depth > MAX_DEPTH:
        raise RuleEngineError([_diag("P105", f"expression nests {depth} parentheses deep (limit {MAX_DEPTH})",
                                     0, 1, "simplify it or split it into several conditions")])
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

    try:
        tree = _parser().parse(text)
    except UnexpectedCharacters as exc:
        # lark declares pos_in_stream None on its base class; UnexpectedCharacters always sets the position
        pos = cast(int, exc.pos_in_stream)
        ch = text[pos] if pos < len(text) else ""
        hint = _char_hint(text, pos)
        raise RuleEngineError([_diag("P103", f"unexpected character {ch!r}", pos, pos + 1, hint)]) from None
    except UnexpectedEOF as exc:
        raise RuleEngineError([_diag("P102", "the expression ends too early", len(text), len(text) + 1,
                                     _expected(exc.expected))]) from None
    except UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            raise RuleEngineError([_diag("P102", "the expression ends too early", len(text),
                                         len(text) + 1, _expected(exc.expected))]) from None
        start = tok.start_pos if tok.start_pos is not None else 0
        hint = _token_hint(text, tok, exc.expected)
        raise RuleEngineError([_diag("P101", f"unexpected {tok.value!r}", start,
                                     start + max(1, len(str(tok.value))), hint)]) from None
    except UnexpectedInput as exc:  # pragma: no cover - other lark errors
        raise RuleEngineError([_diag("P101", f"syntax error: {exc}", 0, 1)]) from None
    if _tree_depth(tree) > MAX_DEPTH:
        raise RuleEngineError([_diag("P105", f"expression nests more than {MAX_DEPTH} levels deep", 0, 1,
                                     "simplify it or split it into several conditions")])
    return _to_ast(tree, text)


def _diag(code: str, message: str, start: int, end: int, hint: str | None = None) -> Diagnostic:
    from ..errors import Span

    # offsets are 0-based within the expression; the caller maps them to file positions
    return Diagnostic(code, message, Span(1, start + 1, 1, end + 1), None, hint)


def _expected(expected: Any) -> str:
    names = sorted({_TOKEN_NAMES.get(e, e.lower().strip("_")) for e in (expected or [])})
    return "expected " + ", ".join(names) if names else "the expression is incomplete"


def _char_hint(text: str, pos: int) -> str | None:
    rest = text[pos:]
    if rest.startswith(("&&", "&")):
        return "use 'and' to combine conditions"
    if rest.startswith(("||", "|")):
        return "use 'or' to combine conditions"
    if rest.startswith("!"):
        return "use 'not' to negate a condition, '!=' to compare"
    if rest.startswith("="):
        return "use '==' to compare"
    if rest.startswith(("'", '"')):
        return "strings are not values in expressions; parameters and columns are written without quotes"
    return None


def _token_hint(text: str, tok: Any, expected: Any) -> str:
    if tok.type == "COMP_OP" and "COMP_OP" not in (expected or ()):
        return "comparisons do not chain: write a < b and b < c"
    inside = _paren_depth_at(text, tok.start_pos or 0) > 0
    if tok.type in ("NAME", "NUMBER") and inside and "COMMA" in (expected or ()):
        return "missing ',' between arguments?"
    if tok.type in ("NAME", "NUMBER", "LPAR"):
        return "missing an operator (and, or, +, <, ...) before it?"
    return _expected(expected)


def _paren_depth_at(text: str, pos: int) -> int:
    return sum(1 for c in text[:pos] if c == "(") - sum(1 for c in text[:pos] if c == ")")


def _paren_depth(text: str) -> int:
    depth = best = 0
    for ch in text:
        if ch in "([":
            depth += 1
            best = max(best, depth)
        elif ch in ")]":
            depth -= 1
    return best


def _tree_depth(tree: Any) -> int:
    from lark import Tree

    best = 0
    stack = [(tree, 1)]
    while stack:
        node, d = stack.pop()
        best = max(best, d)
        if d > MAX_DEPTH:
            return d
        stack.extend((c, d + 1) for c in node.children if isinstance(c, Tree))
    return best


def _number(token: str) -> float | int:
    clean = token.replace("_", "")
    if all(c.isdigit() for c in clean):
        return int(clean)
    return float(clean)


def _to_ast(tree: Any, text: str) -> ast.Node:
    """Turn a lark tree into AST nodes (after parsing, so that every node keeps its span)."""
    from lark import Token

    if isinstance(tree, Token):  # a bare token at the top (not produced by this grammar)
        raise RuleEngineError([_diag("P101", "cannot parse expression", 0, 1)])
    node: ast.Node = _builder()().transform(tree)
    return node


@functools.lru_cache(maxsize=1)
def _builder() -> type:
    """The Transformer class: one method per alias of grammar/expression.lark, named after it.

    Built on first use so that importing this module does not import lark. It is lark's non-recursive
    Transformer (trees may be MAX_DEPTH deep); `v_args(meta=True, inline=True)` hands every method the
    node's span (`meta`) and its children.
    """
    from lark import Token
    from lark.visitors import Transformer_NonRecursive, v_args

    @v_args(meta=True, inline=True)
    class ToAst(Transformer_NonRecursive[Token, ast.Node]):
        def number(self, meta: Any, token: Token) -> ast.Node:
            return ast.Num(meta.start_pos, meta.end_pos, _number(str(token)))

        def name(self, meta: Any, *parts: Token) -> ast.Node:
            if len(parts) == 1 and parts[0].lower() in ("true", "false"):
                return ast.Bool(meta.start_pos, meta.end_pos, parts[0].lower() == "true")
            return ast.Name(meta.start_pos, meta.end_pos, tuple(str(p) for p in parts))

        def call(self, meta: Any, func: Token, args: list[ast.Node] | None = None) -> ast.Node:
            assert func.end_pos is not None  # the lexer sets every token's position
            return ast.Call(meta.start_pos, meta.end_pos, str(func), list(args or []), func.end_pos)

        def arguments(self, meta: Any, *args: ast.Node) -> list[ast.Node]:
            return list(args)

        def or_op(self, meta: Any, left: ast.Node, right: ast.Node) -> ast.Node:
            return ast.Binary(meta.start_pos, meta.end_pos, "or", left, right)

        def and_op(self, meta: Any, left: ast.Node, right: ast.Node) -> ast.Node:
            return ast.Binary(meta.start_pos, meta.end_pos, "and", left, right)

        def not_op(self, meta: Any, operand: ast.Node) -> ast.Node:
            return ast.Unary(meta.start_pos, meta.end_pos, "not", operand)

        def compare(self, meta: Any, left: ast.Node, op: Token, right: ast.Node) -> ast.Node:
            return ast.Binary(meta.start_pos, meta.end_pos, str(op), left, right)

        binop = compare  # + - * /: the operator is the middle token, as in comparisons

        def unary_op(self, meta: Any, op: Token, operand: ast.Node) -> ast.Node:
            return ast.Unary(meta.start_pos, meta.end_pos, str(op), operand)

        def lag(self, meta: Any, series: ast.Node, bars: ast.Node) -> ast.Node:
            # x[n] is sugar for shift(x, n)
            return ast.Call(meta.start_pos, meta.end_pos, "shift", [series, bars], series.end)

        def __default__(self, data: Any, children: Any, meta: Any) -> Any:
            # pragma: no cover - tests/test_lang_operators.py checks that every alias has its method
            raise AssertionError(f"unhandled grammar rule {data}")

    return ToAst
