"""The expression language once: one operator table read by the grammar's parser, the checker, the printer,
the IR and the executor; the parser's Transformer has one method per grammar alias."""
from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from ruleengine.compile.evaluate import evaluate as evaluate_on_data
from ruleengine.compile.execute import apply
from ruleengine.compile.ir import COMMUTATIVE, Graph, Node, lower
from ruleengine.lang import ast
from ruleengine.lang.check import Env, ParamInfo, check_expression, static_value
from ruleengine.lang.operators import BINARY, BY_NAME, OPERATORS, UNARY, evaluate
from ruleengine.lang.parse import _builder, grammar_text, parse
from ruleengine.lang.printer import to_text

CHAINING = [o for o in BINARY.values() if o.chains]


def test_every_grammar_alias_has_a_transformer_method_named_after_it() -> None:
    grammar = grammar_text()
    aliases = set(re.findall(r"->\s*(\w+)", grammar)) | {"arguments"}  # arguments is a rule, not inlined
    methods = {name for name in vars(_builder()) if not name.startswith("_")}
    assert aliases == methods


def test_the_grammars_operator_tokens_are_the_tables_symbols() -> None:
    grammar = grammar_text()
    tokens = {t for line in re.findall(r"^(?:COMP_OP|ADD_OP|MUL_OP):(.*)$", grammar, re.MULTILINE)
              for t in re.findall(r'"([^"]+)"', line)}
    keywords = set(re.findall(r'"(and|or|not)"', grammar))
    assert tokens | keywords == {o.symbol for o in OPERATORS}
    assert set(re.findall(r"ADD_OP unary", grammar)) and set(UNARY) == {"not", "-", "+"}


@pytest.mark.parametrize(("first", "second"), list(itertools.product(CHAINING, CHAINING)),
                         ids=lambda o: o.name)
def test_precedence_in_the_table_is_the_grammars(first, second) -> None:
    """`a o1 b o2 c` groups as the table's precedence says, and the printer's text parses back to it."""
    tree = parse(f"a {first.symbol} b {second.symbol} c")
    assert isinstance(tree, ast.Binary)
    left_grouped = first.precedence >= second.precedence
    assert tree.op == (second.symbol if left_grouped else first.symbol)
    assert to_text(parse(to_text(tree))) == to_text(tree)
    assert to_text(tree) == f"a {first.symbol} b {second.symbol} c"


@pytest.mark.parametrize(("text", "canonical"), [
    ("a - (b - c)", "a - (b - c)"), ("a / (b * c)", "a / (b * c)"), ("a + (b + c)", "a + b + c"),
    ("(a < b) == (c < d)", "(a < b) == (c < d)"), ("-(a + b)", "-(a + b)"),
    ("not (a and b)", "not (a and b)"),
    ("not a < b", "not a < b"), ("(not a) and b", "not a and b"),
])
def test_the_printer_keeps_only_the_parentheses_the_table_requires(text, canonical) -> None:
    assert to_text(parse(text)) == canonical


ENV = Env({"prices": ["close", "open"]}, "prices",
          {"i": ParamInfo("i", "int"), "f": ParamInfo("f", "float"), "b": ParamInfo("b", "bool")})


@pytest.mark.parametrize("op", list(BINARY.values()), ids=lambda o: o.name)
def test_the_checker_types_every_operator_by_its_family(op) -> None:
    numbers = f"i {op.symbol} i"
    conditions = f"(close > 1) {op.symbol} (close < 2)"
    ty, numbers_problems = check_expression(parse(numbers), ENV)
    cty, condition_problems = check_expression(parse(conditions), ENV)
    if op.family == "logical":
        assert numbers_problems and not condition_problems and cty.is_bool
    elif op.family == "comparison":
        assert not numbers_problems and ty.is_bool
        assert bool(condition_problems) is not op.equality  # only == and != compare two conditions
    else:
        assert not numbers_problems and condition_problems
        assert ty.dtype == ("int" if op.keeps_int else "float")


@pytest.mark.parametrize("op", list(BINARY.values()), ids=lambda o: o.name)
def test_the_ir_node_of_an_operator_is_its_table_name(op) -> None:
    a, b = ("(close > open)", "(open > close[1])") if op.family == "logical" else ("close", "close[1]")
    tree = parse(f"{a} {op.symbol} {b}")
    check_expression(tree, ENV)
    graph = Graph()
    root = lower(tree, {}, graph)
    assert graph.nodes[root].op == op.name and (op.name in COMMUTATIVE) is op.commutative
    assert graph.describe(root).startswith("(") and f" {op.symbol} " in graph.describe(root)


VALUES = [-2.5, 0.0, 1.0, 3.0, np.nan]


@pytest.mark.parametrize("op", [o for o in OPERATORS if o.family != "logical"], ids=lambda o: o.name)
def test_folding_constants_and_executing_arrays_agree(op) -> None:
    """A scalar folded while lowering equals the same operation executed on arrays (NaN aside)."""
    pairs = [(a, b) for a in VALUES for b in VALUES] if op.arity == 2 else [(a,) for a in VALUES]
    for args in pairs:
        arrays = apply(Node(op.name), [np.array([x]) for x in args], [], (1, 1))
        if any(np.isnan(x) for x in args):
            if op.family == "comparison":
                assert not arrays[0], (op.symbol, args)  # a missing value compares false, also !=
            continue
        if op.name == "div" and args[1] == 0:
            continue  # folding gives NaN, arrays inf / NaN: neither is a window or a threshold
        assert arrays[0] == op.scalar(*args), (op.symbol, args)


def test_static_value_folds_through_the_table() -> None:
    tree = parse("-(i + 2) * 3 / 2 >= 1 or not b")
    check_expression(tree, ENV)
    assert static_value(tree, {"i": 1, "b": True}) is False
    assert static_value(parse("7 / 0"), {}) != static_value(parse("7 / 0"), {})  # NaN


def test_a_missing_value_compares_false_in_conditions_and_constraints_alike() -> None:
    """The executor and the sweep's constraints run the same `operators.evaluate`."""
    from ruleengine.lang.constraints import compile_constraints

    a = np.array([1.0, np.nan, 2.0, np.nan])
    b = np.array([1.0, 1.0, np.nan, np.nan])
    df = pd.DataFrame({"close": a, "open": b}, index=pd.date_range("2024-01-01", periods=4))
    for op in (o for o in BINARY.values() if o.family == "comparison"):
        in_conditions = evaluate_on_data(f"close {op.symbol} open", df).to_numpy()
        check = compile_constraints([f"x {op.symbol} y"], {"x": "num", "y": "num"})
        in_constraints = check({"x": a, "y": b}, 4)
        assert in_conditions.tolist() == in_constraints.tolist() == evaluate(op, a, b).tolist()
        assert not in_constraints[1:].any(), op.symbol


def test_every_operator_name_is_unique_and_known_to_the_executor() -> None:
    assert len(BY_NAME) == len(OPERATORS)
    assert all(callable(getattr(np, o.ufunc)) for o in OPERATORS)


@pytest.mark.parametrize("module", ["operators", "constraints", "parse", "printer"])
def test_module_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"ruleengine.lang.{module}"))
    assert result.failed == 0 and result.attempted > 0
