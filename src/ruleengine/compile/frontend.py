"""Stages 2-3 for a whole strategy: parse and check every condition, mapping diagnostics to the document.

Both condition forms go through one path: a structured condition ``{field, operator, value}`` is spelled
as expression text (``(field) < (value)``) whose pieces remember where they came from, then parsed and
checked like any other expression. Each piece is first parsed on its own (`pieces`): ``value: "1) or
(close > 0"`` is not an expression, so it is reported where it stands and never spliced into
``(close) > (1) or (close > 0)``. A piece that parses alone is one parenthesised atom of the spelled text
(the language has no comments or strings that could reach past the parentheses), so the spelled text's
tree is the tree made of the pieces' trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic, RuleEngineError, Span
from ..lang import ast
from ..lang.check import Env, check_expression
from ..lang.parse import parse
from ..schema.strategy import (
    OPERATOR_SYMBOLS,
    SIGNAL_GROUPS,
    VOLATILITY_EXAMPLE,
    StructuredCondition,
    TradingStrategy,
)
from ..source import Loaded, PathKey, fmt_path


@dataclass
class Fragment:
    """Characters [start, end) of the spelled text come from `path` (at `offset` inside that string)."""

    start: int
    end: int
    path: PathKey
    offset: int = 0
    is_text: bool = True  # False: a number or bool value, mapped to its node as a whole


@dataclass
class ConditionSource:
    """One condition spelled as expression text, with the map back to the document (a risk expression has
    group "risk" and its field name as `index`)."""

    group: str  # entry | exit | short_entry | short_exit | risk | rotation
    index: int | str
    text: str
    fragments: list[Fragment]
    original: Any

    @property
    def path(self) -> PathKey:
        if self.group in ("risk", "rotation"):
            return (self.group, self.index)
        return (self.group, "conditions", self.index)


@dataclass
class CheckedCondition:
    source: ConditionSource
    tree: ast.Node


@dataclass
class Analysis:
    """Every condition parsed and typed, plus the diagnostics of the whole strategy."""

    strategy: TradingStrategy
    env: Env
    entry: list[CheckedCondition] = field(default_factory=list)
    exit: list[CheckedCondition] = field(default_factory=list)
    short_entry: list[CheckedCondition] = field(default_factory=list)  # direction long_short only
    short_exit: list[CheckedCondition] = field(default_factory=list)
    #: the price of a limit or stop entry order (None: a market order); a long_short strategy's short side's
    order_price: CheckedCondition | None = None
    short_order_price: CheckedCondition | None = None
    #: the price of a limit or stop exit order (None: none); a long_short strategy's short positions'
    exit_order_price: CheckedCondition | None = None
    short_exit_order_price: CheckedCondition | None = None
    #: risk field -> its checked expression (`RISK_EXPRESSIONS` the document sets)
    risk: dict[str, CheckedCondition] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: a pair's hedge ratio expression (None: a fixed number, or no pair)
    hedge_ratio: CheckedCondition | None = None
    #: a rotation's selection and weight expressions by level kind (`compile.rotation`; empty: no rotation)
    rotation: dict[str, CheckedCondition] = field(default_factory=dict)


#: risk fields that are expressions of the language, evaluated per bar (a number is a constant expression)
RISK_EXPRESSIONS = ("stop_loss_distance", "take_profit_distance", "volatility")
#: what a risk expression is and an example of it, for its type error (L121); the distances' otherwise
_RISK_EXPRESSION_WHAT = {"volatility": ("a volatility (a fraction of price a year)", VOLATILITY_EXAMPLE)}


def spell(group: str, index: int, cond: str | StructuredCondition) -> ConditionSource:
    """Spell a condition as expression text with fragments pointing back into the document."""
    base: PathKey = (group, "conditions", index)
    if isinstance(cond, str):
        return ConditionSource(group, index, cond, [Fragment(0, len(cond), base)], cond)
    parts: list[str] = []
    frags: list[Fragment] = []
    pos = 0

    def put(text: str, path: PathKey | None = None, is_text: bool = True) -> None:
        nonlocal pos
        if path is not None:
            frags.append(Fragment(pos, pos + len(text), path, 0, is_text))
        parts.append(text)
        pos += len(text)

    def operand(value: Any, path: PathKey) -> None:
        put("(")
        if isinstance(value, bool):
            put("true" if value else "false", path, False)
        elif isinstance(value, (int, float)):
            put(repr(value), path, False)
        else:
            put(str(value), path)
        put(")")

    f_path, v_path = (*base, "field"), (*base, "value")
    op, value = cond.operator, cond.value
    if op in OPERATOR_SYMBOLS:
        operand(cond.field, f_path)
        put(f" {OPERATOR_SYMBOLS[op]} ")
        operand(value, v_path)
    elif op in ("crosses_above", "crosses_below"):
        put(f"{op}(")
        operand(cond.field, f_path)
        put(", ")
        operand(value, v_path)
        put(")")
    elif op == "between":
        operand(cond.field, f_path)
        put(" >= ")
        operand(value[0], (*v_path, 0))
        put(" and ")
        operand(cond.field, f_path)
        put(" <= ")
        operand(value[1], (*v_path, 1))
    else:  # in
        for i, v in enumerate(value):
            if i:
                put(" or ")
            operand(cond.field, f_path)
            put(" == ")
            operand(v, (*v_path, i))
    return ConditionSource(group, index, "".join(parts), frags, cond)


def pieces(group: str, index: int, cond: StructuredCondition) -> list[ConditionSource]:
    """The expression strings of a structured condition (its field and its text values), each on its own."""
    base: PathKey = (group, "conditions", index)
    out = [ConditionSource(group, index, cond.field, [Fragment(0, len(cond.field), (*base, "field"))], cond)]
    values = cond.value if isinstance(cond.value, list) else [cond.value]
    for i, v in enumerate(values):
        if isinstance(v, str):
            path: PathKey = (*base, "value", i) if isinstance(cond.value, list) else (*base, "value")
            out.append(ConditionSource(group, index, v, [Fragment(0, len(v), path)], cond))
    return out


def _parse_alone(cond: str | StructuredCondition, group: str, index: int) -> list[tuple[Diagnostic, ConditionSource]]:
    """Parse errors of each piece of a structured condition, parsed on its own ([] for expression strings)."""
    if isinstance(cond, str):
        return []
    out: list[tuple[Diagnostic, ConditionSource]] = []
    for piece in pieces(group, index, cond):
        try:
            parse(piece.text)
        except RuleEngineError as exc:
            out += [(_split_hint(d, piece.text), piece) for d in exc.diagnostics]
    return out


def locate(diag: Diagnostic, source: ConditionSource, doc: Loaded | None) -> Diagnostic:
    """Map a diagnostic with expression offsets to the document (file span and field path)."""
    assert diag.span is not None
    start, end = diag.span.col - 1, diag.span.end_col - 1
    frag = next((f for f in source.fragments if f.start <= start < max(f.end, f.start + 1)), None)
    if frag is None:  # the spelled operator of a structured condition, or past the end
        frag = next((f for f in source.fragments if start >= f.end), None) if start >= len(source.text) \
            else None
    path = frag.path if frag else source.path
    span: Span | None = None
    if doc is not None:
        path = _doc_path(doc, path)
        if frag is not None and frag.is_text:
            a = frag.offset + max(0, start - frag.start)
            b = frag.offset + max(a + 1, min(end, frag.end) - frag.start)
            span = doc.span_in_scalar(path, a, b)
        else:
            span = doc.span_of(path)
    return Diagnostic(diag.code, diag.message, span, fmt_path(path), diag.hint, diag.severity, diag.stage)


def _split_hint(d: Diagnostic, text: str) -> Diagnostic:
    """Unbalanced parentheses usually mean YAML split a flow list or mapping at a comma."""
    if d.code in ("P101", "P102") and text.count("(") != text.count(")"):
        hint = ("unbalanced parentheses; if this condition sits inside [...] or {...} in YAML, YAML split "
                "it at a comma: quote the expression")
        return Diagnostic(d.code, d.message, d.span, d.path, hint, d.severity, d.stage)
    return d


def _doc_path(doc: Loaded, path: PathKey) -> PathKey:
    """The path in the document as written: `entry: [...]` and `entry: "..."` are shorthand forms."""
    group = doc.value.get(path[0]) if isinstance(doc.value, dict) else None
    if isinstance(group, list):
        return (path[0], *path[2:])
    if isinstance(group, str):
        return (path[0], *path[3:])
    return path


def analyze(strategy: TradingStrategy, doc: Loaded | None = None) -> Analysis:
    """Parse and check all conditions; collect every diagnostic (never raises for user errors)."""
    env = Env.from_strategy(strategy)
    out = Analysis(strategy, env)
    seen: set[tuple[str, str | None, int | None, int | None]] = set()
    for group in SIGNAL_GROUPS:
        block = getattr(strategy, group)
        if block is None:
            continue
        for i, cond in enumerate(block.conditions):
            src = spell(group, i, cond)
            diags: list[Diagnostic] = []
            tree: ast.Node | None = None
            alone = _parse_alone(cond, group, i)
            if alone:
                for d, piece in alone:
                    _add(out, seen, locate(d, piece, doc))
                continue
            try:
                tree = parse(src.text)
            except RuleEngineError as exc:
                diags = [_split_hint(d, src.text) for d in exc.diagnostics]
            if tree is not None:
                ty, diags = check_expression(tree, env, "exit" if group in ("exit", "short_exit") else
                                              "short_entry" if group == "short_entry" else "entry")
                if not diags and not ty.is_bool:
                    diags = [Diagnostic("C108", f"this {group} condition is a {ty}, not true/false",
                                        Span(1, 1, 1, len(src.text) + 1), None,
                                        "compare it, e.g. " + src.text.strip() + " > 0")]
            for d in sorted(diags, key=lambda d: (d.span.col if d.span else 0)):
                _add(out, seen, locate(d, src, doc))
            if tree is not None and not any(d.severity == "error" for d in diags):
                getattr(out, group).append(CheckedCondition(src, tree))
    for name in RISK_EXPRESSIONS:
        _analyze_risk(out, name, getattr(strategy.risk, name), doc, seen)
    from .hedge import check_hedge_ratio  # it builds on this module's pieces
    from .order_price import check_order_price

    out.order_price, diags = check_order_price(strategy, env, doc)
    for d in diags:
        _add(out, seen, d)
    out.short_order_price, diags = check_order_price(strategy, env, doc, "short_price")
    for d in diags:
        _add(out, seen, d)
    out.exit_order_price, diags = check_order_price(strategy, env, doc, "price", "exit_order")
    for d in diags:
        _add(out, seen, d)
    out.short_exit_order_price, diags = check_order_price(strategy, env, doc, "short_price", "exit_order")
    for d in diags:
        _add(out, seen, d)
    out.hedge_ratio, diags = check_hedge_ratio(strategy, env, doc)
    for d in diags:
        _add(out, seen, d)
    from .rotation import check_rotation

    out.rotation, diags = check_rotation(strategy, env, doc, out.exit)
    for d in diags:
        _add(out, seen, d)
    return out


def _analyze_risk(out: Analysis, name: str, value: float | str | None, doc: Loaded | None,
                  seen: set[tuple[str, str | None, int | None, int | None]]) -> None:
    """Parse and check a risk expression (a number reads as a constant one): a number or number series,
    without position variables (it is evaluated at the entry signal's bar, before the trade exists: L120)."""
    if value is None:
        return
    text = value if isinstance(value, str) else repr(value)
    src = ConditionSource("risk", name, text, [Fragment(0, len(text), ("risk", name), 0, isinstance(value, str))],
                          value)
    try:
        tree = parse(text)
    except RuleEngineError as exc:
        for d in exc.diagnostics:
            _add(out, seen, locate(d, src, doc))
        return
    ty, diags = check_expression(tree, out.env, "risk")
    if not diags and not ty.is_numeric:
        what, example = _RISK_EXPRESSION_WHAT.get(name, ("a distance in price units", "2 * atr(high, low, close, 14)"))
        diags = [Diagnostic("L121", f"{name} is a {ty}, not {what}", Span(1, 1, 1, len(text) + 1), None,
                            f"give a number or a number expression, e.g. {example}", stage="check")]
    for d in diags:
        _add(out, seen, locate(d, src, doc))
    if not any(d.severity == "error" for d in diags):
        out.risk[name] = CheckedCondition(src, tree)


def _add(out: Analysis, seen: set[tuple[str, str | None, int | None, int | None]], located: Diagnostic) -> None:
    key = (located.code, located.path, located.span.line if located.span else None,
           located.span.col if located.span else None)
    if key not in seen:
        seen.add(key)
        out.diagnostics.append(located)
