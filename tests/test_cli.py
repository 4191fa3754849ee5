"""The `ruleengine` console script, run as a subprocess: exit codes, output formats, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
ERROR_CASES = sorted(
    p for p in (ROOT / "tests" / "golden" / "errors").iterdir() if p.suffix in (".yaml", ".json")
)
CLI = Path(sys.executable).parent / "ruleengine"

JSON_KEYS = {"code", "message", "line", "column", "path", "hint", "file", "severity", "stage"}


def run(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    assert CLI.exists(), f"console script not found at {CLI} (is the package installed in this venv?)"
    proc = subprocess.run(
        [str(CLI), *args], check=False, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return proc


def _rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


# ------------------------------------------------------------------------------------------ validate
def test_validate_rules_folder_exits_0() -> None:
    proc = run("validate", "rules/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for f in RULES.glob("*.yaml"):
        assert f"ok: rules/{f.name}" in proc.stdout


def test_validate_broken_file_exits_1_with_rendered_error() -> None:
    proc = run("validate", "tests/golden/errors/wrong_arity.yaml")
    assert proc.returncode == 1
    assert "error[C103]" in proc.stdout
    assert "tests/golden/errors/wrong_arity.yaml:6:7" in proc.stdout
    assert "^^^^^^^^^^" in proc.stdout


def test_validate_mixed_files_exits_1_and_reports_both() -> None:
    proc = run("validate", "rules/golden_cross.yaml", "tests/golden/errors/unknown_function.yaml")
    assert proc.returncode == 1
    assert "ok: rules/golden_cross.yaml" in proc.stdout
    assert "error[C101]" in proc.stdout


def test_validate_output_matches_library_render() -> None:
    """The CLI prints exactly what the golden file holds for the same relative path."""
    proc = run("validate", "tests/golden/errors/several_errors.yaml")
    golden = (ROOT / "tests" / "golden" / "errors" / "several_errors.txt").read_text(encoding="utf-8")
    assert proc.stdout == golden


def test_validate_json() -> None:
    proc = run("validate", "--json", "tests/golden/errors/several_errors.yaml")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert set(out) == {"success", "error"} and out["success"] is False  # the seeds' ERROR_SCHEMA
    assert out["error"]["type"] == "validation_error" and out["error"]["message"].startswith("C101")
    records = out["error"]["details"]
    assert isinstance(records, list) and len(records) == 5
    for r in records:
        assert JSON_KEYS <= set(r), set(r) ^ JSON_KEYS
        assert r["file"] == "tests/golden/errors/several_errors.yaml"
        assert isinstance(r["line"], int) and isinstance(r["column"], int)
        assert r["severity"] == "error"
    assert [r["code"] for r in records] == ["C101", "C110", "C103", "C107", "C108"]
    first = records[0]
    assert (first["line"], first["column"], first["path"]) == (9, 15, "entry.conditions[0]")
    assert first["hint"] == "did you mean 'sma'?"


def test_validate_json_of_valid_files_is_a_success_object() -> None:
    proc = run("validate", "--json", "rules/")
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert out == {"success": True, "files": sorted(f"rules/{p.name}" for p in RULES.glob("*.yaml")),
                   "diagnostics": []}


def test_validate_missing_file_is_r101() -> None:
    proc = run("validate", "no/such/strategy.yaml")
    assert proc.returncode == 1
    assert "error[R101]" in proc.stdout
    assert "no/such/strategy.yaml" in proc.stdout


def test_validate_missing_file_json() -> None:
    proc = run("validate", "--json", "no/such/strategy.yaml")
    assert proc.returncode == 1
    (record,) = json.loads(proc.stdout)["error"]["details"]
    assert record["code"] == "R101"
    assert record["file"] == "no/such/strategy.yaml"
    assert JSON_KEYS <= set(record)


def test_validate_undecodable_file_is_r101(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\ndata: {prices: {}}\nentry: [close > 1]\n")
    proc = run("validate", str(bad))
    assert proc.returncode == 1
    assert "error[R101]" in proc.stdout


# ------------------------------------------------------------------------------------------ explain
def test_explain_golden_cross() -> None:
    proc = run("explain", "rules/golden_cross.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "crosses_above(sma(prices.close, fast), sma(prices.close, slow))" in out
    assert "crosses_below(sma(prices.close, fast), sma(prices.close, slow))" in out
    assert "rsi(prices.close, 14) < rsi_max" in out
    assert "warm-up" in out
    assert "200 bars" in out  # slow = 200 by default: sma(close, 200) needs 199 bars, the cross one more


def test_explain_json() -> None:
    proc = run("explain", "--json", "rules/golden_cross.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    d = json.loads(proc.stdout)
    assert d["success"] is True and d["name"] == "Golden cross with RSI filter"
    assert d["warmup_bars"] == 200
    texts = [c["text"] for c in d["conditions"]]
    assert "crosses_above(sma(prices.close, fast), sma(prices.close, slow))" in texts
    assert set(d["params"]) >= {"fast", "slow", "rsi_max", "execution_frequency", "execution_price"}


def test_explain_broken_file_exits_1_with_diagnostic() -> None:
    proc = run("explain", "tests/golden/errors/unknown_function.yaml")
    assert proc.returncode == 1
    assert "error[C101]" in proc.stdout
    assert "unknown_function.yaml:6:15" in proc.stdout
    assert "did you mean 'sma'?" in proc.stdout


def test_explain_json_broken_file() -> None:
    proc = run("explain", "--json", "tests/golden/errors/unknown_function.yaml")
    assert proc.returncode == 1
    d = json.loads(proc.stdout)
    assert d["success"] is False
    assert [x["code"] for x in d["error"]["details"]] == ["C101"]


def test_explain_missing_file() -> None:
    proc = run("explain", "no/such/strategy.yaml")
    assert proc.returncode == 1
    assert "error[R101]" in proc.stdout


# ------------------------------------------------------------------------------------------ functions, schema
def test_functions_lists_every_function() -> None:
    from ruleengine.lang.functions import FUNCTIONS
    from ruleengine.lang.position import POSITION_VARIABLES

    proc = run("functions")
    assert proc.returncode == 0
    functions, variables = proc.stdout.split("\nposition variables (exit conditions only")
    listed = {line.split("(")[0] for line in functions.splitlines() if line and not line.startswith(" ")}
    assert listed == set(FUNCTIONS)
    for f in FUNCTIONS.values():
        assert f.signature in proc.stdout and f.example in proc.stdout
    # then the position variables exit conditions read, with what each is
    named = {line.split()[0]: line.split(None, 1)[1] for line in variables.splitlines()[1:] if line[:1].isalpha()}
    assert named == POSITION_VARIABLES


def test_functions_markdown() -> None:
    from ruleengine.lang.functions import FUNCTIONS

    proc = run("functions", "--markdown")
    assert proc.returncode == 0
    assert proc.stdout.startswith("| function |")
    for f in FUNCTIONS.values():
        assert f"`{f.signature}`" in proc.stdout


def test_schema_is_the_strict_schema() -> None:
    import ruleengine

    proc = run("schema")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == ruleengine.strict_json_schema()


def test_no_arguments_shows_help_without_traceback() -> None:
    proc = run()
    assert "validate" in proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------ never a traceback
@pytest.mark.parametrize("case", ERROR_CASES, ids=[p.stem for p in ERROR_CASES])
@pytest.mark.parametrize(
    "command", [("validate",), ("validate", "--json"), ("explain",), ("explain", "--json")], ids=" ".join
)
def test_bad_inputs_exit_1_in_process(
    case: Path, command: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every golden error case through the CLI entry point: exit 1 with a diagnostic, never an exception.

    (In-process for speed: an exception would propagate here instead of being printed as a traceback.)
    """
    from ruleengine.cli import main

    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as exc:
        main([*command, _rel(case)])
    assert exc.value.code == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    if "--json" in command:
        json.loads(out.out)
    else:
        assert "error[" in out.out


def test_bad_inputs_subprocess_validate_all_cases() -> None:
    proc = run("validate", *(_rel(p) for p in ERROR_CASES))  # `run` asserts there is no traceback
    assert proc.returncode == 1
    for p in ERROR_CASES:
        assert f"{_rel(p)}:" in proc.stdout, f"no positioned diagnostic for {p.name}"
    assert proc.stdout.count("error[") >= len(ERROR_CASES)


def test_bad_inputs_subprocess_validate_json_all_cases() -> None:
    proc = run("validate", "--json", *(_rel(p) for p in ERROR_CASES))
    assert proc.returncode == 1
    records = json.loads(proc.stdout)["error"]["details"]
    assert {r["file"] for r in records} == {_rel(p) for p in ERROR_CASES}
    assert all(JSON_KEYS <= set(r) for r in records)


@pytest.mark.parametrize(
    "case", ["unbalanced_paren", "malformed_indentation", "tab_indented", "deep_nesting"]
)
def test_bad_inputs_subprocess_explain(case: str) -> None:
    (path,) = [p for p in ERROR_CASES if p.stem == case]
    proc = run("explain", _rel(path))
    assert proc.returncode == 1
    assert "error[" in proc.stdout


def test_validate_on_a_folder_without_strategies_fails(tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "ruleengine"
    r = subprocess.run([str(exe), "validate", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1 and "error[R101]: no strategy files" in r.stdout
    r = subprocess.run([str(exe), "validate", "--json", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["details"][0]["code"] == "R101"


@pytest.mark.parametrize("args", [("validate", "rules/"), ("validate", "tests/golden/errors/several_errors.yaml"),
                                  ("explain", "rules/golden_cross.yaml"), ("providers",)],
                         ids=" ".join)
def test_every_json_output_is_one_envelope(args: tuple[str, ...]) -> None:
    """Every --json output is an object with "success": true and the result, or the ERROR_SCHEMA."""
    out = json.loads(run(*args, "--json").stdout)
    assert isinstance(out, dict) and isinstance(out["success"], bool)
    if not out["success"]:
        assert set(out) == {"success", "error"} and set(out["error"]) == {"type", "message", "details"}
