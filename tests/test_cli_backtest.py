"""`ruleengine backtest`: the rich summary, --json (one object, or the ERROR_SCHEMA with exit 1), --param
typing and risk overrides, --report, and every bad input without a traceback (CliRunner in process; one run of
the real console script)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.prices import sine_prices
from typer.testing import CliRunner

from ruleengine.cli import app

ROOT = Path(__file__).resolve().parents[1]
GC = "rules/golden_cross.yaml"
FAST = ["--param", "fast=10", "--param", "slow=30"]
runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_env(provider_env_cleared, monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_prices")
    df = sine_prices(200, 50, 5, 6.0)
    df.to_csv(d / "GOOD.csv", index=False)
    nan = df.copy()
    nan[["open", "high", "low", "close"]] = np.nan
    nan.to_csv(d / "NANS.csv", index=False)
    zero = df.copy()
    zero.loc[100, "open"] = 0.0
    zero.to_csv(d / "ZERO.csv", index=False)
    return d


def run(*args: str):
    result = runner.invoke(app, ["backtest", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout
    return result


def run_json(*args: str) -> tuple[int, dict]:
    result = run(*args, "--json")
    return result.exit_code, json.loads(result.stdout)  # the whole stdout is one JSON object


def test_json_success_is_one_object() -> None:
    code, data = run_json(GC, "--symbols", "SPY", "--start", "2015-01-01", "--end", "2016-12-30", *FAST)
    assert code == 0 and data["success"] is True
    assert set(data) == {"success", "synthetic", "fill_contract", "results", "warnings", "provenance"}
    assert data["synthetic"] is True and data["fill_contract"].startswith("Fill contract")
    r = data["results"][0]
    assert r["symbols"] == {"prices": "SPY"} and r["data"]["synthetic"] is True
    assert r["metrics"]["total_trades"] == len(r["trades"]) > 0
    assert r["benchmark"]["symbol"] == "SPY" and "fill_contract" not in r
    assert len(r["equity"]["time"]) == len(r["equity"]["value"]) == r["data"]["bars"]
    assert data["warnings"][0]["code"] == "D120"
    assert data["warnings"][0]["message"].startswith("SYNTHETIC data: not SPY's real prices")


def test_param_risk_overrides_and_types() -> None:
    code, data = run_json(GC, "--symbols", "SPY", "--start", "2015-01-01", "--end", "2016-12-30", *FAST,
                          "--param", "execution_price=open", "--param", "stop_loss_pct=4",
                          "--param", "rsi_max=65.5", "--param", "take_profit_pct=none", "--init-cash", "5000")
    assert code == 0, data
    r = data["results"][0]
    assert r["risk"]["execution_price"] == "open" and r["risk"]["stop_loss_pct"] == 4.0
    assert r["risk"]["take_profit_pct"] is None
    assert r["params"]["fast"] == 10 and r["params"]["rsi_max"] == 65.5
    assert r["equity"]["value"][0] == 5000.0 or r["trades"][0]["entry_bar"] == 0
    assert data["provenance"]["init_cash"] == 5000.0
    assert data["provenance"]["risk_overrides"] == {"execution_price": "open", "stop_loss_pct": 4.0,
                                                    "take_profit_pct": None}


def test_human_summary_single_run() -> None:
    result = run(GC, "--symbols", "SPY", "--start", "2015-01-01", "--end", "2016-12-30", *FAST)
    assert result.exit_code == 0
    out = result.stdout
    assert "SYNTHETIC DATA" in out and "not the symbols' real prices" in out
    for text in ("benchmark SPY (buy & hold)", "total return", "max drawdown", "Sharpe", "win rate",
                 "profit factor", "exits:", "risk: stop_loss_pct=10.0", "slippage_pct=0.0 (default)",
                 "ruleengine contract", "warning[D120]"):
        assert text in out, text
    assert "Fill contract" not in out  # printed on request (`ruleengine contract`), not after every backtest
    assert "universe equal weight" not in out  # one symbol: no universe benchmark


def test_contract_command_prints_the_fill_contract_once_and_every_addendum() -> None:
    from ruleengine.backtest import risk

    result = runner.invoke(app, ["contract"])
    assert result.exit_code == 0
    parts = [value for name, value in vars(risk).items() if name.endswith("FILL_CONTRACT")]
    assert len(parts) == 9 and set(parts) == set(risk.FILL_CONTRACT_PARTS)  # a new addendum is listed
    assert result.stdout == "\n".join(p.rstrip("\n") + "\n" for p in risk.FILL_CONTRACT_PARTS)
    everything = risk.fill_contract(["long_short"], pair=True, sized=True, knows_the_trade=True, entry_orders=["stop"],
                                    exit_orders=["stop"])
    assert everything == "".join(risk.FILL_CONTRACT_PARTS)  # the order results use
    assert result.stdout.count("Fill contract (ruleengine") == 1


def test_version_option() -> None:
    from ruleengine import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"ruleengine {__version__}\n"


def test_json_holds_the_contract_once_per_result_not_per_run() -> None:
    symbols = ",".join(["SPY", "QQQ", "IWM", "EFA", "TLT", "GLD"])
    code, data = run_json(GC, "--symbols", symbols, "--start", "2016-01-01", "--end", "2016-12-30", *FAST)
    assert code == 0 and len(data["results"]) == 6
    assert json.dumps(data).count("Fill contract") == 1
    assert data["fill_contract"].startswith("Fill contract")


def test_human_summary_universe_and_portfolio(csv_dir) -> None:
    result = run(GC, "--symbols", "SPY,QQQ,IWM", "--start", "2014-01-01", "--end", "2016-12-30", *FAST)
    assert result.exit_code == 0
    out = result.stdout
    assert "3 runs" in out and "beat their benchmark" in out and "best and worst trades" in out
    line = next(x for x in out.splitlines() if x.startswith("universe equal weight (no fees): "))
    assert len(line) <= 80 and line.endswith(" of 3 beat it")  # the universe benchmark under the runs table
    for sym in ("SPY", "QQQ", "IWM"):
        assert any(line.split()[:1] == [sym] for line in out.splitlines()), sym  # a row of the runs table
    result = run(GC, "--symbols", "SPY,QQQ,IWM", "--start", "2014-01-01", "--end", "2016-12-30", *FAST,
                 "--portfolio", "--param", "position_size_pct=30")
    assert result.exit_code == 0 and "portfolio of 3" in result.stdout and "one portfolio" in result.stdout
    assert "universe equal weight (no fees)" in result.stdout  # a row of the portfolio's metrics
    result = run(GC, "--symbols", "GOOD,NANS", "--data", str(csv_dir), *FAST)  # real (local) data: no banner
    assert result.exit_code == 0 and "SYNTHETIC" not in result.stdout
    text = " ".join(result.stdout.split())  # a warning wraps at the terminal's width (80 columns in CI)
    assert "warning[D116]: NANS: every price in the requested range is missing (NaN); skipped" in text
    assert "warning[D121]: benchmark SPY is not available" in text


def test_report_option_writes_html(tmp_path) -> None:
    out = tmp_path / "r.html"
    code, data = run_json(GC, "--symbols", "SPY", "--start", "2016-01-01", "--end", "2016-12-30", *FAST,
                          "--report", str(out))
    assert code == 0 and data["success"] is True
    text = out.read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in text and "Plotly" in text and "<script src=" not in text


@pytest.mark.parametrize(("args", "code", "etype"), [
    (["--symbols", "NOPE"], "D110", "invalid_symbol_error"),                           # unknown symbol
    (["--symbols", "GOOD", "--start", "2021-06-01"], "D111", "data_fetch_error"),        # range after the data
    (["--symbols", "GOOD", "--start", "2020-03-07", "--end", "2020-03-08"], "D111", "data_fetch_error"),  # weekend
    (["--symbols", "GOOD", "--start", "2020-05-01", "--end", "2020-02-01"], "D111", "data_fetch_error"),
    (["--symbols", "GOOD", "--param", "nope=1"], "D104", "validation_error"),          # unknown parameter
    (["--symbols", "GOOD", "--param", "fast=1000"], "D103", "validation_error"),       # out of bounds
    (["--symbols", "GOOD", "--param", "fast=ten"], "D103", "validation_error"),        # not a number
    (["--symbols", "GOOD", "--param", "stop_loss_pct=150"], "D103", "validation_error"),
    (["--symbols", "NANS"], "D111", "data_fetch_error"),                               # NaN-only data
    (["--symbols", "ZERO"], "D114", "data_fetch_error"),                               # a price <= 0
    (["--symbols", "GOOD", "--init-cash", "0"], "D103", "validation_error"),
    (["--symbols", "GOOD", "--provider", "nope"], "D108", "validation_error"),
    (["--symbols", "asset_a=GOOD"], "D115", "schema_mismatch_error"),                  # slot the strategy lacks
])
def test_bad_input_gives_error_schema(csv_dir, args, code, etype) -> None:
    exit_code, data = run_json(GC, "--data", str(csv_dir), *args)
    assert exit_code == 1
    assert data["success"] is False and set(data["error"]) == {"type", "message", "details"}
    assert data["error"]["type"] == etype and data["error"]["details"][0]["code"] == code
    human = run(GC, "--data", str(csv_dir), *args)
    assert human.exit_code == 1 and f"error[{code}]" in human.stdout


def test_bad_strategy_file_renders_positions() -> None:
    exit_code, data = run_json("tests/golden/errors/unknown_function.yaml", "--symbols", "SPY")
    assert exit_code == 1 and data["error"]["details"][0]["code"] == "C101"
    assert data["error"]["details"][0]["line"] is not None
    missing = run("nope.yaml", "--symbols", "SPY")
    assert missing.exit_code == 1 and "error[R101]" in missing.stdout


@pytest.mark.realdata
def test_console_script_on_real_data(shared_data) -> None:
    """The installed command in a fresh process: one JSON object, real prices, no traceback."""
    cli = Path(sys.executable).parent / "ruleengine"
    proc = subprocess.run([str(cli), "backtest", GC, "--symbols", "SPY", "--start", "2010-01-01", "--end",
                           "2017-12-29", "--data", str(shared_data), "--param", "fast=20", "--param", "slow=100",
                           "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    data = json.loads(proc.stdout)
    r = data["results"][0]
    assert data["warnings"] == [] and r["data"]["synthetic"] is False and r["data"]["providers"] == {"prices": "local"}
    assert (r["data"]["start"], r["data"]["end"]) == ("2010-01-04", "2017-12-29")
    assert r["metrics"]["total_trades"] == 11 and r["benchmark"]["symbol"] == "SPY"
