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
                assert node.module in (None, "ruleengine") and node.level in ((2,) if package else (1,)) \
                    or node.module == "ruleengine" and node.level == 0, (path, node.module, node.level)
    assert users, "no interface module uses the parameter functions: the test looks in the wrong place"


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
