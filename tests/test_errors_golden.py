"""Golden files of rendered errors: each tests/golden/errors/<case>.yaml (or .json) holds one or a few
mistakes; <case>.txt is what `ruleengine.errors.render` prints for it.

Regenerate the .txt files with ``UPDATE_GOLDEN=1 pytest tests/test_errors_golden.py`` and review the diff by
eye: the caret must sit under the offending token and the hint must make sense. Without UPDATE_GOLDEN a
missing .txt is a failure, never a silent pass.

Besides the golden text, each case states its expected codes and (where there is one) the exact text the
caret underlines, so that regenerating the goldens cannot hide a regression in codes or positions.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ruleengine
from ruleengine.errors import CODES, Diagnostic, render
from ruleengine.source import SourceText

ROOT = Path(__file__).resolve().parents[1]
CASES_DIR = ROOT / "tests" / "golden" / "errors"

#: case -> the diagnostic codes `validate` returns, in order
EXPECTED_CODES: dict[str, list[str]] = {
    "and_on_number": ["C109"],
    "bare_column_non_price": ["C102"],
    "between_one_value": ["S112"],
    "chained_comparison": ["P101"],
    "deep_nesting": ["P105"],
    "default_out_of_bounds": ["S105"],
    "double_ampersand": ["P103"],
    "duplicate_key": ["R104"],
    "empty_condition_list": ["S107"],
    "empty_document": ["R103"],
    "enum_param_in_expression": ["C112"],
    "float_param_window": ["C105"],
    "flow_mapping_split": ["S101"],
    "folded_expression": ["C102"],
    "int_param_min_zero_window": ["C113"],
    "malformed_indentation": ["R102"],
    "malformed_json": ["R102"],
    "min_greater_than_max": ["S106"],
    "missing_required": ["S102"],
    "negative_lag": ["C107"],
    "non_boolean_condition": ["C108"],
    "quoted_expression": ["C102"],
    "several_errors": ["C101", "C110", "C103", "C107", "C108"],
    "single_equals": ["P103"],
    "structured_value_error": ["C102", "C102"],
    "symbols_in_data": ["S109"],
    "tab_indented": ["R102"],
    "unbalanced_paren": ["P102"],
    "unknown_column": ["C110"],
    "unknown_data_kind": ["S104"],
    "unknown_function": ["C101"],
    "unknown_risk_key": ["S101"],
    "unknown_top_level_key": ["S101"],
    "window_zero": ["C106"],
    "wrong_arity": ["C103"],
    "wrong_type": ["S103"],
}

#: case -> the source text under the caret of its first diagnostic (single-line spans only)
UNDERLINED: dict[str, str] = {
    "and_on_number": "volume",
    "bare_column_non_price": "eps",
    "chained_comparison": "<",
    "double_ampersand": "&",
    "duplicate_key": "fast",
    "enum_param_in_expression": "mode",
    "float_param_window": "window",
    "flow_mapping_split": "14)",
    "folded_expression": "slwo",
    "int_param_min_zero_window": "window",
    "negative_lag": "-1",
    "non_boolean_condition": "sma(close, 20)",
    "quoted_expression": "oversld",
    "several_errors": "smaa",
    "single_equals": "=",
    "structured_value_error": "rsi_maxx",
    "unknown_column": "earnings.epss",
    "unknown_data_kind": "earning",
    "unknown_function": "smaa",
    "unknown_risk_key": "stoploss",
    "unknown_top_level_key": "exitt",
    "window_zero": "0",
    "wrong_arity": "rsi(close)",
    "wrong_type": "five percent",
    "tab_indented": "\t",
    "malformed_indentation": "-",
}

#: case -> a fragment its first hint must contain
HINTS: dict[str, str] = {
    "unknown_function": "did you mean 'sma'?",
    "unknown_column": "did you mean 'eps'?",
    "unknown_top_level_key": "did you mean 'exit'?",
    "unknown_risk_key": "did you mean 'stop_loss_pct'?",
    "unknown_data_kind": "did you mean 'earnings'?",
    "bare_column_non_price": "earnings.eps",
    "folded_expression": "did you mean 'slow'?",
    "structured_value_error": "did you mean 'rsi_max'?",
    "double_ampersand": "'and'",
    "single_equals": "'=='",
    "chained_comparison": "do not chain",
    "tab_indented": "tabs",
    "flow_mapping_split": "quote the expression",
    "int_param_min_zero_window": "min to at least 1",
    "negative_lag": "n >= 0",
}


def _case_files() -> list[Path]:
    return sorted(p for p in CASES_DIR.iterdir() if p.suffix in (".yaml", ".json"))


CASES = [p.stem for p in _case_files()]


def _case_path(case: str) -> Path:
    (path,) = [p for p in _case_files() if p.stem == case]
    return path


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def check_golden(actual: str, golden: Path) -> None:
    """Compare with a golden file; UPDATE_GOLDEN=1 (re)writes it. A missing file fails."""
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8", newline="")
        return
    if not golden.exists():
        pytest.fail(f"golden file {golden} is missing; run with UPDATE_GOLDEN=1 to create it, then review it")
    expected = golden.read_text(encoding="utf-8")
    assert actual == expected, f"rendered output differs from {golden} (UPDATE_GOLDEN=1 regenerates)"


def _validate_case(case: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Diagnostic], str, str]:
    """Validate a case by its path relative to the repository (so spans name that path)."""
    monkeypatch.chdir(ROOT)
    rel = _rel(_case_path(case))
    diags = ruleengine.validate(rel)
    text = (ROOT / rel).read_text(encoding="utf-8")
    return diags, text, rel


def _underlined(text: str, d: Diagnostic) -> str:
    s = d.span
    assert s is not None and s.line == s.end_line
    return text.splitlines()[s.line - 1][s.col - 1 : s.end_col - 1]


# ------------------------------------------------------------------------------------------ golden
@pytest.mark.parametrize("case", CASES)
def test_rendered_error_matches_golden(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    diags, text, rel = _validate_case(case, monkeypatch)
    assert diags, f"{case} should not be valid"
    rendered = render(diags, SourceText(text, rel))
    check_golden(rendered, CASES_DIR / f"{case}.txt")


def test_every_case_has_expectations() -> None:
    assert sorted(CASES) == sorted(EXPECTED_CODES), "add new cases to EXPECTED_CODES (and drop stale ones)"
    assert set(UNDERLINED) <= set(CASES) and set(HINTS) <= set(CASES)


def test_no_stale_golden_text() -> None:
    stale = sorted(p.name for p in CASES_DIR.glob("*.txt") if p.stem not in CASES)
    assert not stale, f"golden .txt files without a case: {stale}"


def test_missing_golden_fails_without_update(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPDATE_GOLDEN", raising=False)
    with pytest.raises(pytest.fail.Exception, match="missing"):
        check_golden("anything\n", tmp_path / "nope.txt")
    assert not (tmp_path / "nope.txt").exists()


def test_update_golden_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPDATE_GOLDEN", "1")
    check_golden("new text\n", tmp_path / "g.txt")
    assert (tmp_path / "g.txt").read_text() == "new text\n"
    monkeypatch.delenv("UPDATE_GOLDEN")
    with pytest.raises(AssertionError):
        check_golden("other text\n", tmp_path / "g.txt")


# ------------------------------------------------------------------------------------------ structure
@pytest.mark.parametrize("case", CASES)
def test_codes(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    diags, _, _ = _validate_case(case, monkeypatch)
    assert [d.code for d in diags] == EXPECTED_CODES[case]
    assert all(d.code in CODES and d.severity == "error" for d in diags)


@pytest.mark.parametrize("case", CASES)
def test_spans_name_the_file_and_lie_inside_it(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    diags, text, rel = _validate_case(case, monkeypatch)
    n_lines = len(text.splitlines())
    for d in diags:
        assert d.span is not None, f"{d.code} has no position"
        assert d.span.file == rel
        assert 1 <= d.span.line <= n_lines
        assert d.span.col >= 1
        assert (d.span.end_line, d.span.end_col) > (d.span.line, d.span.col)


@pytest.mark.parametrize("case", sorted(UNDERLINED))
def test_caret_under_offending_token(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    diags, text, _ = _validate_case(case, monkeypatch)
    assert _underlined(text, diags[0]) == UNDERLINED[case]


@pytest.mark.parametrize("case", sorted(HINTS))
def test_hint(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    diags, _, _ = _validate_case(case, monkeypatch)
    assert diags[0].hint and HINTS[case] in diags[0].hint


def test_several_errors_all_reported_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    diags, text, _ = _validate_case("several_errors", monkeypatch)
    assert [(d.code, d.path) for d in diags] == [
        ("C101", "entry.conditions[0]"),
        ("C110", "entry.conditions[1]"),
        ("C103", "entry.conditions[2]"),
        ("C107", "exit.conditions[0]"),
        ("C108", "exit.conditions[1]"),
    ]
    assert [_underlined(text, d) for d in diags] == [
        "smaa",
        "earnings.epss",
        "rsi(close)",
        "-1",
        "sma(close, window)",
    ]


def test_structured_condition_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    diags, text, _ = _validate_case("structured_value_error", monkeypatch)
    assert [d.path for d in diags] == ["entry.conditions[0].value", "entry.conditions[1].field"]
    assert [_underlined(text, d) for d in diags] == ["rsi_maxx", "closes"]


def test_folded_scalar_position_is_on_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    diags, text, _ = _validate_case("folded_expression", monkeypatch)
    (d,) = diags
    assert d.span is not None and d.span.line == 11
    assert text.splitlines()[10].strip() == "sma(close, slwo))"


# ------------------------------------------------------------------------------------------ size limits
def test_very_long_expression(tmp_path: Path) -> None:
    expr = "close > " + " + ".join(["close"] * 14_000)  # ~112 KB
    text = (
        f"name: Very long expression\ndata:\n  prices: {{kind: ohlcv}}\nentry:\n  conditions:\n    - {expr}\n"
    )
    assert len(text) > 100_000
    path = tmp_path / "long.yaml"
    path.write_text(text, encoding="utf-8")
    diags = ruleengine.validate(str(path))
    assert [d.code for d in diags] == ["P104"]
    assert diags[0].span is not None and (diags[0].span.line, diags[0].span.col) == (6, 7)
    rendered = render(diags, SourceText(text, "long.yaml"))
    assert "error[P104]" in rendered and "long.yaml:6:7" in rendered
    assert len(rendered) < 2_000, f"rendered output is {len(rendered)} characters"
    assert all(len(line) < 300 for line in rendered.splitlines())


def test_long_line_keeps_caret_under_a_late_token() -> None:
    expr = "close > 1 and " * 30 + "clos > 1"
    text = f"name: x\ndata: {{prices: {{}}}}\nentry: [{expr}]\n"
    diags = ruleengine.validate(text)
    assert [d.code for d in diags] == ["C102"]
    rendered = render(diags, SourceText(text, "x.yaml"))
    lines = rendered.splitlines()
    (src_i,) = [i for i, line in enumerate(lines) if line.startswith("3 | ")]
    shown, caret = lines[src_i][4:], lines[src_i + 1][4:]
    start = caret.index("^")
    width = len(caret[start:].split(" ")[0])
    assert shown[start : start + width] == "clos"
    assert len(rendered) < 1_000


def test_deep_nesting_render_is_short(monkeypatch: pytest.MonkeyPatch) -> None:
    diags, text, rel = _validate_case("deep_nesting", monkeypatch)
    assert len(text) > 1_000
    assert len(render(diags, SourceText(text, rel))) < 1_000


def test_rule_engine_error_survives_pickling() -> None:
    """Worker processes send errors back pickled: the diagnostics arrive intact."""
    import pickle

    from ruleengine.errors import Diagnostic, RuleEngineError, Span

    err = RuleEngineError([Diagnostic("C101", "unknown function 'smaa'", Span(1, 2, 1, 6, "x.yaml"),
                                      "entry.conditions[0]", "did you mean 'sma'?"),
                           Diagnostic("D116", "NOPE skipped", severity="warning")])
    back = pickle.loads(pickle.dumps(err))
    assert back.diagnostics == err.diagnostics and str(back) == str(err)
    assert back.error_type == err.error_type
