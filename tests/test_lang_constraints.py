"""Sweep constraints in the expression language (`ruleengine.lang.constraints`): parsed by the language's
parser, checked with positioned diagnostics, evaluated over numpy columns."""
from __future__ import annotations

import numpy as np
import pytest

from ruleengine.errors import RuleEngineError
from ruleengine.lang.constraints import column, compile_constraints, value_kind, values_kind

KINDS = {"fast": "num", "slow": "num", "stop": "num", "on": "bool", "mode": "text"}


def _values() -> dict[str, object]:
    return {"fast": np.array([5.0, 10.0, 50.0, 20.0]), "slow": np.array([20.0, 10.0, 20.0, 100.0]),
            "stop": np.array([np.nan, 2.0, 4.0, 8.0]), "on": np.array([True, False, True, False]),
            "mode": np.array(["a", "b", "a", "b"], dtype=object)}


@pytest.mark.parametrize(("text", "expected"), [
    ("fast < slow", [True, False, False, True]),
    ("slow - fast >= 10 and not on", [False, False, False, True]),
    ("stop != 4", [False, True, False, True]),  # a missing stop compares false, also !=
    ("stop * 2 > fast or fast == 20", [False, False, False, True]),
    ("mode == mode and on == true", [True, False, True, False]),
    ("-fast + +slow > 0", [True, False, False, True]),
    ("fast / 0 > 1", [True, True, True, True]),  # x / 0 is inf, as in conditions
])
def test_constraints_are_evaluated_over_columns(text, expected) -> None:
    keep = compile_constraints([text], KINDS)(_values(), 4)
    assert keep.dtype == np.bool_ and keep.tolist() == expected


def test_several_constraints_must_all_hold_and_scalars_broadcast() -> None:
    check = compile_constraints(["fast < slow", "on"], KINDS)
    assert check(_values(), 4).tolist() == [True, False, False, False]
    assert compile_constraints(["fast < 30"], KINDS)({"fast": 10}, 3).tolist() == [True, True, True]
    assert compile_constraints(["mode == mode"], KINDS)({"mode": "text"}, 1).tolist() == [True]


@pytest.mark.parametrize(("text", "code", "column_", "words"), [
    ("fast < slwo", "C102", 8, "unknown name 'slwo' in a constraint"),
    ("fast <", "P102", 7, "ends too early"),
    ("ema(fast, 2) < slow", "C101", 1, "functions are not allowed in constraints ('ema')"),
    ("fast + slow", "C108", 1, "the constraint 'fast + slow' is not true/false"),
    ("fast < slow or 3", "C109", 1, "'or' combines conditions (true/false)"),
    ("mode < 2", "C112", 1, "enum parameters can only be compared with == or != in constraints"),
    ("on < on", "C109", 1, "'<' cannot compare a bool with a bool"),
    ("not fast", "C109", 1, "'not' needs a condition"),
    ("-on", "C109", 1, "'-' needs a number"),
    ("on + 1 > 0", "C109", 1, "'+' needs numbers"),
])
def test_faulty_constraints_are_positioned_diagnostics(text, code, column_, words) -> None:
    with pytest.raises(RuleEngineError) as info:
        compile_constraints(["fast < slow", text], KINDS)
    d = info.value.diagnostics[0]
    assert (d.code, d.span.col, d.path) == (code, column_, "constraints[1]") and words in d.message, d
    assert text in info.value.render()  # the constraint's text is the source the renderer underlines


def test_unknown_names_suggest_the_known_ones() -> None:
    with pytest.raises(RuleEngineError) as info:
        compile_constraints(["fats < slow"], KINDS)
    assert "fast" in (info.value.diagnostics[0].hint or "")


def test_values_become_columns_by_kind() -> None:
    assert [value_kind(v) for v in (True, None, 3, 2.5, "open")] == ["bool", "num", "num", "num", "text"]
    assert values_kind([1, None]) == "num" and values_kind([1, "x"]) == "text"
    assert np.isnan(column([None, 2])[0]) and column([None, 2]).dtype == np.float64
    assert column([True, False]).dtype == np.bool_ and column(["a", 1]).dtype == object
