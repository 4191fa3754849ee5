"""`ruleengine validate` starts fast: no numpy, pandas or numba on the validation path.

Each check runs in a fresh interpreter so that modules imported by other tests do not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "ruleengine"
HEAVY = ("numpy", "pandas", "numba", "llvmlite", "scipy", "pyarrow")
RULE = "rules/golden_cross.yaml"

_REPORT_HEAVY = f"""
import json, sys
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))
"""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _heavy_modules(code: str) -> list[str]:
    proc = _python(code + _REPORT_HEAVY)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_does_not_load_numeric_stack() -> None:
    assert _heavy_modules("import ruleengine") == []


def test_validate_file_does_not_load_numeric_stack() -> None:
    code = f"import ruleengine\nassert ruleengine.validate({RULE!r}) == []\n"
    assert _heavy_modules(code) == []


def test_validate_every_rule_and_a_broken_one_does_not_load_numeric_stack() -> None:
    code = (
        "import glob, ruleengine\n"
        "for f in sorted(glob.glob('rules/*.yaml')):\n"
        "    assert ruleengine.validate(f) == [], f\n"
        "assert ruleengine.validate('tests/golden/errors/several_errors.yaml')\n"
        "ruleengine.load_strategy('rules/golden_cross.yaml')\n"
        "ruleengine.strict_json_schema()\n"
    )
    assert _heavy_modules(code) == []


def test_cli_validate_does_not_load_numeric_stack() -> None:
    code = (
        "import sys\n"
        "from ruleengine.cli import main\n"
        "try:\n"
        f"    main(['validate', {RULE!r}, 'tests/golden/errors/several_errors.yaml'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 1, e.code\n"
    )
    assert _heavy_modules(code) == []


def test_cli_validate_import_time_has_no_numeric_stack() -> None:
    """`python -X importtime` of the real console script: none of the heavy packages appear."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(CLI), "validate", RULE],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "ruleengine" in imported
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def _wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return elapsed


def test_cli_validate_is_fast() -> None:
    """Best of three runs of the console script, to damp noise from a busy machine; < 1.5 s wall."""
    assert CLI.exists()
    best = min(_wall([str(CLI), "validate", RULE]) for _ in range(3))
    print(f"ruleengine validate {RULE}: best of 3 = {best:.3f} s")
    assert best < 1.5, f"`ruleengine validate` took {best:.2f} s (limit 1.5 s)"


@pytest.mark.parametrize("module", ["ruleengine.cli", "ruleengine.api", "ruleengine.compile.frontend"])
def test_validation_modules_import_without_numeric_stack(module: str) -> None:
    assert _heavy_modules(f"import {module}") == []


def test_the_backtest_function_is_not_shadowed_by_a_subpackage() -> None:
    """`ruleengine.backtest` stays the function after every subpackage was imported (a subpackage of the
    same name would replace the attribute on import)."""
    import importlib
    import pkgutil

    import ruleengine

    for info in pkgutil.walk_packages(ruleengine.__path__, "ruleengine."):
        if info.ispkg:
            importlib.import_module(info.name)
    for name in ruleengine.__all__:
        assert not isinstance(getattr(ruleengine, name), type(ruleengine)), name
    assert callable(ruleengine.backtest) and ruleengine.backtest.__module__ == "ruleengine.backtest.run"
    assert callable(ruleengine.sweep) and ruleengine.sweep.__module__ == "ruleengine.sweep.run"
