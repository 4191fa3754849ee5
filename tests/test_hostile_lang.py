"""Hostile sweep constraints (issue 14): each ends in a structured error or the correct combinations, within
its limits. Constraints are parsed, checked and evaluated by `ruleengine.lang` (issue 15)."""
from __future__ import annotations

import pytest
from support.hostile import within

from ruleengine.errors import RuleEngineError
from ruleengine.sweep.grid import combinations

GRID = {"fast": [5, 10, 20, 50], "slow": [20, 50, 100]}
FAST_BELOW_SLOW = sum(1 for f in GRID["fast"] for s in GRID["slow"] if f < s)


@pytest.mark.parametrize(("text", "code"), [
    ("(" * 300 + "fast < slow" + ")" * 300, "P105"),  # nesting beyond the limit
    ("fast < slow and " * 600 + "fast < slow", "P105"),  # a flat chain whose tree is too deep
    ("fast < slow or " * 700 + "fast < slow", "P104"),  # longer than an expression may be
    ("fast < slow\x00", "P103"),
    ("fast < sl\u03bfw", "P103"),  # a Greek omicron in a name
    ("fast < slow; import os", "P103"),
    ("__import__('os') < 1", "P103"),
    ("fast.__class__ < slow", "C102"),
    ("max(fast, slow) > 10", "C101"),
])
def test_a_hostile_constraint_is_a_structured_error(text: str, code: str) -> None:
    with within(10, 128), pytest.raises(RuleEngineError) as info:
        combinations(GRID, [text])
    d = info.value.diagnostics[0]
    assert d.code == code and d.path == "constraints[0]", d
    assert info.value.render()  # renders without a traceback


@pytest.mark.parametrize(("text", "count"), [
    ("not " * 190 + "fast < slow", FAST_BELOW_SLOW),  # deep but within the limit: evaluated correctly
    ("-" * 150 + "fast < " + "-" * 150 + "slow", FAST_BELOW_SLOW),
    ("fast * 1e308 * 10 > slow", 12),  # overflow to inf, no warning
    ("fast / (slow - slow) > 0", 12),  # division by zero is inf
    ("1e999 > fast and fast < slow", FAST_BELOW_SLOW),  # a literal beyond float range is inf
    ("fast != fast + 0 * (1e999 - 1e999) or fast < slow", FAST_BELOW_SLOW),  # NaN compares false, also !=
])
def test_an_extreme_but_valid_constraint_gives_the_right_combinations(text: str, count: int) -> None:
    with within(10, 128):
        assert len(combinations(GRID, [text])) == count
