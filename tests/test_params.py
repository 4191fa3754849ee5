"""Run parameters in one module (`ruleengine.backtest.params`): the public names the CLI and the agent
tools use, and one diagnostic for a bad ``--param`` / ``params`` whichever command or function receives it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ruleengine
from ruleengine import RuleEngineError, live_signals, sweep
from ruleengine import backtest as run_backtest
from ruleengine.backtest import params as params_module
from ruleengine.cli import app

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "ruleengine"
GC = "rules/golden_cross.yaml"
PARAM_NAMES = ("parse_param_args", "split_params")
runner = CliRunner()


def test_public_api_exports_the_parameter_functions() -> None:
    for name in PARAM_NAMES:
        assert name in ruleengine.__all__
        assert getattr(ruleengine, name) is getattr(params_module, name)


def _interface_modules() -> list[Path]:
    return [*SRC.glob("cli*.py"), *SRC.glob("cli/**/*.py"), *SRC.glob("llm/**/*.py"), SRC / "tools.py"]


def test_cli_and_llm_take_parameter_functions_from_the_public_api() -> None:
    """cli/ and llm/ may use only ruleengine's public names (architecture.md): no private module for these."""
    users = []
    for path in _interface_modules():
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and any(a.name in PARAM_NAMES for a in node.names):
                users.append(path.name)
                package = path.parent != SRC  # `from .. import x` inside llm/, `from . import x` at the top
                assert (node.module in (None, "ruleengine") and node.level in ((2,) if package else (1,))) \
                    or (node.module == "ruleengine" and node.level == 0), (path, node.module, node.level)
    assert users, "no interface module uses the parameter functions: the test looks in the wrong place"


def _owner(path: Path) -> str:
    """The interface package a module belongs to: ``ruleengine.cli`` or ``ruleengine.llm`` (tools.py is the
    agent tools' public face over llm/)."""
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return "ruleengine.llm" if parts == ("ruleengine", "tools") else ".".join(parts[:2])


def _imported_module(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module of ``from X import ...`` (a relative X resolved against the file's package)."""
    if node.level == 0:
        return node.module or ""
    package = path.relative_to(SRC.parent).with_suffix("").parts[:-1]
    base = package[:len(package) - (node.level - 1)]
    return ".".join([*base, *((node.module or "").split(".") if node.module else [])])


def interface_import_violations(path: Path, source: str) -> list[str]:
    """Imports of an interface module (cli/, llm/, tools.py) that bypass ruleengine's public API.

    Allowed: ``import ruleengine``, ``from ruleengine import NAME`` / ``ruleengine.NAME`` with NAME in
    ``ruleengine.__all__``, and the module's own package (cli/ or llm/) without its ``_private`` names.
    Every import counts, also those inside functions.
    """
    public, own, found = set(ruleengine.__all__), _owner(path), []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names
                      if a.name.startswith("ruleengine.") and not a.name.startswith(own + ".")]
        elif isinstance(node, ast.ImportFrom):
            module = _imported_module(path, node)
            names = [a.name for a in node.names]
            if module == "ruleengine":
                found += [f"from ruleengine import {n} (not in __all__)" for n in names if n not in public]
            elif module == own or module.startswith(own + "."):
                found += [f"from {module} import {n} (private)" for n in names if n.startswith("_")]
            elif module.startswith("ruleengine."):
                found.append(f"from {module} import {', '.join(names)}")
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ruleengine"
              and node.attr not in public):
            found.append(f"ruleengine.{node.attr} (not in __all__)")
    return [f"{path.relative_to(SRC.parent)}:{v}" for v in found]


def test_cli_and_llm_import_only_public_names() -> None:
    """cli/, llm/ and tools.py use only ruleengine's public names (architecture.md: interfaces go through the
    public API): no private module of another package, no name outside ``ruleengine.__all__``."""
    modules = [p for p in _interface_modules() if p.exists()]
    assert {"__init__.py", "common.py", "handlers.py", "prompt.py", "tools.py"} <= {p.name for p in modules}
    violations = [v for p in modules for v in interface_import_violations(p, p.read_text(encoding="utf-8"))]
    assert violations == []


@pytest.mark.parametrize(("where", "source", "bad"), [
    ("llm/prompt.py", "def f():\n    from ..backtest.risk import TIMEFRAME_DEFAULTS\n", True),
    ("llm/prompt.py", "from ..errors import Diagnostic\n", True),
    ("llm/prompt.py", "from .. import Diagnostic, TIMEFRAME_DEFAULTS\n", False),
    ("llm/prompt.py", "from .. import _LAZY\n", True),
    ("llm/prompt.py", "from .wire import wire_form\n", False),
    ("cli/run.py", "from .common import or_exit\n", False),
    ("cli/run.py", "from . import common\n", False),
    ("cli/run.py", "from .common import _risk_field_like\n", True),
    ("cli/run.py", "from ruleengine.compile.compiled import compile_strategy\n", True),
    ("cli/run.py", "import ruleengine.store\n", True),
    ("cli/run.py", "import ruleengine\nruleengine.compile_strategy('x')\n", False),
    ("cli/run.py", "import ruleengine\nruleengine.api.explain('x')\n", True),
    ("cli/run.py", "from ..llm.handlers import symbols_text\n", True),
    ("tools.py", "from .llm.tools import call\n", False),
    ("tools.py", "from .data.symbols import parse_symbols\n", True),
])
def test_the_import_rule_tells_public_from_private(where: str, source: str, bad: bool) -> None:
    assert bool(interface_import_violations(SRC / where, source)) is bad


def _cli_error(*args: str) -> list[dict]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.stdout
    data = json.loads(result.stdout)
    assert data["success"] is False
    return data["error"]["details"]


@pytest.mark.parametrize(("param", "code"), [
    ("nope=1", "D104"),            # unknown name, with the did-you-mean / list hint
    ("fast=ten", "D103"),          # not a number
    ("justaname", "D103"),         # not name=value
    ("max_hold_days=1.5", "D103"),  # a risk field that takes whole numbers
])
def test_bad_param_gives_the_same_diagnostic_in_backtest_sweep_and_signals(param: str, code: str) -> None:
    given = ["--symbols", "SPY", "--param", param]
    back = _cli_error("backtest", GC, *given)
    swept = _cli_error("sweep", GC, *given)
    live = _cli_error("signals", "run", GC, *given)
    assert back[0]["code"] == code
    assert back == swept == live


def test_a_document_expression_given_as_a_run_parameter_says_where_it_lives() -> None:
    """``--param stop_loss_distance=3``: the distance is compiled with the document, so D104 says to change it
    there or to set a parameter inside it, and names the strategy's parameters (atr_multiple here)."""
    atr = str(Path(__file__).resolve().parents[1] / "rules" / "atr_breakout.yaml")
    d = _cli_error("backtest", atr, "--symbols", "SPY", "--param", "stop_loss_distance=3")[0]
    assert (d["code"], d["path"]) == ("D104", "params.stop_loss_distance")
    assert "part of the document" in d["message"] and "atr_multiple" in d["hint"]
    assert "risk.stop_loss_distance" in d["hint"]


def _library_error(call) -> list[dict]:
    with pytest.raises(RuleEngineError) as info:
        call()
    return [d.to_dict() for d in info.value.diagnostics]


@pytest.mark.parametrize("params", [{"nope": 1}, {"fsat": 20}])
def test_unknown_param_gives_the_same_diagnostic_in_the_library(params: dict) -> None:
    """Before any data is read: backtest, sweep and live_signals split parameters the same way."""
    back = _library_error(lambda: run_backtest(GC, "SPY", params=params))
    swept = _library_error(lambda: sweep(GC, "SPY", params=params))
    live = _library_error(lambda: live_signals(GC, "SPY", params=params))
    assert back[0]["code"] == "D104"
    assert back == swept == live


@pytest.mark.parametrize("init_cash", [0, -5.0, float("nan"), True])
def test_bad_init_cash_gives_the_same_diagnostic_in_backtest_and_sweep(init_cash: float) -> None:
    back = _library_error(lambda: run_backtest(GC, "SPY", init_cash=init_cash))
    swept = _library_error(lambda: sweep(GC, "SPY", init_cash=init_cash))
    assert back[0]["code"] == "D103" and back[0]["path"] == "init_cash"
    assert back[0]["hint"] == "e.g. --init-cash 10000"
    assert back == swept
