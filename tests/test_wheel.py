"""The built wheel ships the grammar and the py.typed marker, and the parser works from a clean install
outside the repository.

Builds the wheel with `python -m build`, installs it with lark only (`--no-deps`) into a fresh venv without
system site packages, and parses from a temporary working directory, so neither the source tree nor the
development fallback for the grammar can be used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

_PROBE = r"""
import json, sys
from importlib import resources
from pathlib import Path

import ruleengine
from ruleengine.lang.parse import parse, grammar_text
from ruleengine.lang.check import Env, ParamInfo, check_expression

tree = parse('crosses_above(sma(close, 10), sma(close, 30))')
assert tree.func == 'crosses_above', tree
res = resources.files('ruleengine') / 'grammar' / 'expression.lark'
env = Env({'prices': ['close']}, 'prices', {'fast': ParamInfo('fast', 'int', 2, 50)})
ty, diags = check_expression(parse('close > sma(close, fast)'), env)
try:
    parse('close > sma(close, 20')
    error = None
except ruleengine.errors.RuleEngineError as exc:
    error = exc.diagnostics[0].code
print(json.dumps({
    'package': str(Path(ruleengine.__file__).resolve().parent),
    'py_typed': (Path(ruleengine.__file__).resolve().parent / 'py.typed').is_file(),
    'resource': str(res),
    'resource_is_file': res.is_file(),
    'grammar_equals_resource': grammar_text() == res.read_text(encoding='utf-8'),
    'grammar': grammar_text(),
    'type': str(ty),
    'diags': [d.code for d in diags],
    'error': error,
    'heavy': sorted({m.split('.')[0] for m in sys.modules}
                    & {'numpy', 'pandas', 'numba', 'pydantic', 'yaml'}),
}))
"""


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    proc = subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], cwd=ROOT, timeout=300)
    (whl,) = dist.glob("ruleengine-*.whl")
    return whl


def test_wheel_contains_grammar_and_sources(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "ruleengine/grammar/expression.lark" in names
    for module in ("__init__.py", "errors.py", "source.py", "cli/__init__.py", "cli/__main__.py", "lang/parse.py",
                   "lang/check.py"):
        assert f"ruleengine/{module}" in names
    grammar = zipfile.ZipFile(wheel).read("ruleengine/grammar/expression.lark").decode("utf-8")
    assert grammar == (ROOT / "grammar" / "expression.lark").read_text(encoding="utf-8")
    assert not any(n.startswith(("tests/", "rules/", "src/")) for n in names)
    # PEP 561: the empty marker tells type checkers that the installed package carries its own annotations
    assert "ruleengine/py.typed" in names
    assert zipfile.ZipFile(wheel).read("ruleengine/py.typed") == b""


def test_clean_install_parses_from_packaged_grammar(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, env=_clean_env())
    py = venv / "bin" / "python"
    cfg = (venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    _run(
        [str(py), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel), "lark"],
        cwd=tmp_path,
        env=_clean_env(),
        timeout=300,
    )

    work = tmp_path / "elsewhere"
    work.mkdir()
    out = json.loads(_run([str(py), "-c", _PROBE], cwd=work, env=_clean_env()).strip().splitlines()[-1])

    package = Path(out["package"])
    assert package.is_relative_to(venv), f"imported ruleengine from {package}, not from the clean venv"
    assert not package.is_relative_to(ROOT)
    assert out["resource_is_file"], "grammar/expression.lark is missing from the installed package"
    assert Path(out["resource"]).is_relative_to(venv)
    assert out["grammar_equals_resource"]
    assert out["py_typed"], "py.typed is missing from the installed package"
    assert out["grammar"] == (ROOT / "grammar" / "expression.lark").read_text(encoding="utf-8")
    assert out["type"] == "true/false series"
    assert out["diags"] == []
    assert out["error"] == "P102"
    assert out["heavy"] == [], f"the parser imported {out['heavy']}"
