"""Tables stay readable at 80 columns (issue 13, getting started): with COLUMNS=80 no line of the backtest,
sweep, providers or strategies output is wider than 80 characters, and no cell is cut short ("…")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ruleengine.cli import app

ROOT = Path(__file__).resolve().parents[1]
GC = str(ROOT / "rules" / "golden_cross.yaml")


def _at_80(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.stdout


def _assert_fits(out: str) -> None:
    wide = [line for line in out.splitlines() if len(line) > 80]
    assert not wide, "\n".join(wide)
    assert "…" not in out, out


@pytest.mark.realdata
@pytest.mark.parametrize("symbols", ["SPY", "SPY,QQQ,AAPL,MSFT,XLE"])
def test_backtest_tables_fit_80_columns(shared_data, symbols: str) -> None:
    out = _at_80("backtest", GC, "--symbols", symbols, "--data", str(shared_data), "--start", "2010-01-01",
                 "--end", "2017-12-29")
    _assert_fits(out)
    # a trade row shows its full dates and prices (they were cut to '2016-0…' and '101.80…' before)
    assert re.search(r"\d{4}-\d\d-\d\d +[\d,]+\.\d\d +\d{4}-\d\d-\d\d +[\d,]+\.\d\d ", out), out


@pytest.mark.realdata
def test_sweep_and_walk_forward_tables_fit_80_columns(shared_data) -> None:
    out = _at_80("sweep", GC, "--symbols", "SPY", "--data", str(shared_data), "--start", "2008-01-01", "--end",
                 "2017-12-29", "--grid", "fast=5:50:15", "--grid", "slow=60:200:70", "--walk-forward",
                 "train=504,test=252", "--top", "5")
    _assert_fits(out)
    assert "walk-forward" in out and "top 5" in out


def test_providers_table_fits_80_columns(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("RULEENGINE_DATA", raising=False)
    _assert_fits(_at_80("providers"))


def test_strategies_table_fits_80_columns(tmp_path) -> None:
    db = str(tmp_path / "s.db")
    for rule in sorted((ROOT / "rules").glob("*.yaml"))[:5]:
        CliRunner().invoke(app, ["strategies", "add", str(rule), "--db", db, "--universe", "SPY,QQQ,IWM,EFA"])
    out = _at_80("strategies", "list", "--db", db)
    wide = [line for line in out.splitlines() if len(line) > 80]
    assert not wide and "Bollinger" in out, out
