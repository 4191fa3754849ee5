"""Scalar conditions over named values: the sweep's constraints (``fast < slow``, ``slow - fast >= 10``).

The same parser and operator table as strategy conditions, restricted to scalars: names (each with a kind:
``num``, ``bool`` or ``text`` for enum values), numbers, true/false, arithmetic, comparisons, and/or/not.
Functions are refused. Evaluation is vectorised: a name's value may be a numpy column (one value per
combination), and a missing value (None, NaN) compares false under every operator, as in conditions.

Example:
    >>> import numpy as np
    >>> check = compile_constraints(["fast < slow"], {"fast": "num", "slow": "num"})
    >>> check({"fast": np.array([5.0, 50.0]), "slow": np.array([20.0, 20.0])}, 2).tolist()
    [True, False]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from ..errors import Diagnostic, RuleEngineError, Span, did_you_mean
from ..source import SourceText
from . import ast
from .operators import BINARY, UNARY, evaluate
from .parse import parse

Kind = Literal["num", "bool", "text", "error"]
#: (values of the names, number of combinations) -> bool mask: the combinations satisfying every constraint
Predicate = Callable[[Mapping[str, Any], int], Any]


def value_kind(value: Any) -> Kind:
    """num (numbers and None, a missing value), bool, or text (enum values)."""
    if isinstance(value, bool):
        return "bool"
    if value is None or isinstance(value, (int, float)):
        return "num"
    return "text"


def values_kind(values: Sequence[Any]) -> Kind:
    """The kind of a list of values; mixed kinds compare as text."""
    kinds = {value_kind(v) for v in values}
    return kinds.pop() if len(kinds) == 1 else "text"


def column(values: Sequence[Any]) -> Any:
    """Values as a numpy column: float64 (None -> NaN), bool, or object (enum text)."""
    import numpy as np

    kind = values_kind(values)
    if kind == "bool":
        return np.array(values, dtype=np.bool_)
    if kind == "num":
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return np.array(values, dtype=object)


def compile_constraints(texts: Sequence[str], kinds: Mapping[str, Kind]) -> Predicate:
    """Parse and check every constraint; returns the vectorised predicate over all of them.

    Raises:
        RuleEngineError: the first faulty constraint's diagnostics (P1xx syntax; C101 function, C102 unknown
            name, C108 not true/false, C109/C112 wrong operand types), with positions relative to its text,
            path ``constraints[i]``, and the text as source so that ``render()`` underlines the spot.
    """
    trees = []
    for i, text in enumerate(texts):
        where = f"constraints[{i}]"
        try:
            tree = parse(str(text))
        except RuleEngineError as exc:
            raise RuleEngineError([d.with_location(None, where) for d in exc.diagnostics],
                                  SourceText(str(text))) from None
        problems: list[Diagnostic] = []
        kind = check_constraint(tree, kinds, problems)
        if not problems and kind != "bool":
            problems.append(_at("C108", f"the constraint '{text}' is not true/false", tree,
                                "compare values, e.g. fast < slow"))
        if problems:
            raise RuleEngineError([d.with_location(None, where) for d in problems], SourceText(str(text)))
        trees.append(tree)

    def satisfied(values: Mapping[str, Any], n: int) -> Any:
        import numpy as np

        keep = np.ones(n, dtype=np.bool_)
        for tree in trees:
            keep &= np.broadcast_to(np.asarray(evaluate_constraint(tree, values), dtype=np.bool_), (n,))
        return keep

    return satisfied


def _at(code: str, message: str, node: ast.Node, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, Span(1, node.start + 1, 1, max(node.end, node.start + 1) + 1), hint=hint)


def check_constraint(node: ast.Node, kinds: Mapping[str, Kind], problems: list[Diagnostic]) -> Kind:
    """num / bool / text / error for a constraint node; problems collected with positions."""
    if isinstance(node, ast.Num):
        return "num"
    if isinstance(node, ast.Bool):
        return "bool"
    if isinstance(node, ast.Name):
        if node.text in kinds:
            return kinds[node.text]
        problems.append(_at("C102", f"unknown name '{node.text}' in a constraint", node,
                            did_you_mean(node.text, kinds) or "constraints use the swept parameters: "
                            + ", ".join(kinds)))
        return "error"
    if isinstance(node, ast.Call):
        problems.append(_at("C101", f"functions are not allowed in constraints ('{node.func}')", node,
                            "use parameters, numbers, + - * /, comparisons, and/or/not"))
        return "error"
    if isinstance(node, ast.Unary):
        assert node.operand is not None
        k = check_constraint(node.operand, kinds, problems)
        want = "bool" if UNARY[node.op].family == "logical" else "num"
        if k not in (want, "error"):
            problems.append(_at("C109", f"'{node.op}' needs a {'condition' if want == 'bool' else 'number'}",
                                node))
            return "error"
        return k
    assert isinstance(node, ast.Binary) and node.left is not None and node.right is not None
    a, b = check_constraint(node.left, kinds, problems), check_constraint(node.right, kinds, problems)
    if "error" in (a, b):
        return "error"
    op = BINARY[node.op]
    if "text" in (a, b) and not (a == b and op.equality):
        problems.append(_at("C112", "enum parameters can only be compared with == or != in constraints",
                            node))
        return "error"
    if op.family == "logical":
        if a != "bool" or b != "bool":
            problems.append(_at("C109", f"'{node.op}' combines conditions (true/false)", node,
                                "e.g. fast < slow and slow - fast >= 10"))
            return "error"
        return "bool"
    if op.family == "arithmetic":
        if a != "num" or b != "num":
            problems.append(_at("C109", f"'{node.op}' needs numbers", node))
            return "error"
        return "num"
    if a != b or (a == "bool" and not op.equality):
        problems.append(_at("C109", f"'{node.op}' cannot compare a {a} with a {b}", node))
        return "error"
    return "bool"


def evaluate_constraint(node: ast.Node, values: Mapping[str, Any]) -> Any:
    """Vectorised value of a checked constraint node (comparisons with a missing value are false)."""
    import numpy as np

    if isinstance(node, (ast.Num, ast.Bool)):
        return node.value
    if isinstance(node, ast.Name):
        v = values[node.text]
        return np.nan if v is None else v
    if isinstance(node, ast.Unary):
        assert node.operand is not None
        return evaluate(UNARY[node.op], evaluate_constraint(node.operand, values))
    assert isinstance(node, ast.Binary) and node.left is not None and node.right is not None
    return evaluate(BINARY[node.op], evaluate_constraint(node.left, values),
                    evaluate_constraint(node.right, values))
