"""`ruleengine sweep`: the rich summary, --json (one object, or the ERROR_SCHEMA with exit 1 for each bad
input), walk-forward / hold-out / --report, and Ctrl-C (exit 130, no traceback) on the real console script."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ruleengine.cli import app
from ruleengine.sweep.run import sweep

ROOT = Path(__file__).resolve().parents[1]
GC = "rules/golden_cross.yaml"
RANGE = ["--start", "2012-01-01", "--end", "2016-12-30"]
BASE = [GC, "--symbols", "SPY", "--provider", "sample", *RANGE]
GRID = ["--grid", "fast=5:30:5", "--grid", "slow=20:100:20", "--constraint", "fast < slow",
        "--param", "stop_loss_pct=8", "--param", "max_hold_days=none"]
runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_env(provider_env_cleared, monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def library():
    """The same sweep through the library: what the command must report."""
    return sweep(GC, "SPY", "2012-01-01", "2016-12-30", provider="sample", grid=["fast=5:30:5", "slow=20:100:20"],
                 constraints=["fast < slow"], params={"stop_loss_pct": 8.0, "max_hold_days": None})


def run(*args: str):
    result = runner.invoke(app, ["sweep", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout
    return result


def run_json(*args: str) -> tuple[int, dict]:
    result = run(*args, "--json")
    return result.exit_code, json.loads(result.stdout)  # the whole stdout is one JSON object


def test_summary_table_and_statistics(library) -> None:
    res = run(*BASE, *GRID, "--top", "3")
    out = res.stdout
    assert res.exit_code == 0, out
    assert "SYNTHETIC DATA" in out and "warning[D120]" in out
    assert "grid size 30, trials 27;" in out and "combinations/s" in out
    assert "top 3 of 27 by sharpe_ratio" in out
    best = library.table.iloc[0]
    row = next(line for line in out.splitlines() if line.split()[:1] == ["1"])  # compact table: no borders
    cells = row.split()
    assert cells[:4] == ["1", str(best["fast"]), str(best["slow"]), f"{best['sharpe_ratio']:,.3f}"]
    assert "deflated Sharpe ratio 0." in out and "probability of backtest overfitting" in out
    assert f"best: fast={library.best['fast']}, slow={library.best['slow']}" in out
    assert "walk-forward" not in out and "hold-out" not in out


def test_json_is_one_object_with_the_ranking_and_statistics(library) -> None:
    code, d = run_json(*BASE, *GRID, "--top", "4")
    assert code == 0 and d["success"] is True and d["synthetic"] is True
    assert d["n_trials"] == 27 and d["grid_size"] == 27 + 3 and len(d["rows"]) == 4
    assert d["best"] == {**library.best, "stop_loss_pct": 8.0}
    assert [r["sharpe_ratio"] for r in d["rows"]] == pytest.approx(library.table["sharpe_ratio"].head(4).tolist(),
                                                                   rel=1e-12)
    o = d["overfitting"]
    assert o["n_trials"] == 27 and o["pbo_configs"] == 27 and o["pbo"]["n_splits"] == 16
    assert o["dsr"]["sr_annual"] == pytest.approx(library.table["sharpe_ratio"].iloc[0], rel=1e-9)
    assert 0 <= o["dsr"]["dsr"] <= 1 and 0 <= o["pbo"]["pbo"] <= 1
    assert d["walk_forward"] is None and d["holdout"] is None and d["samples"] is None
    code, d = run_json(*BASE, *GRID, "--samples", "10", "--seed", "4")
    assert code == 0 and d["n_trials"] == 10 == d["overfitting"]["n_trials"] and (d["samples"], d["seed"]) == (10, 4)
    assert d["grid_size"] == 30 and d["rows_total"] == 10


def test_walk_forward_holdout_and_report(tmp_path) -> None:
    page = tmp_path / "sweep.html"
    code, d = run_json(*BASE, *GRID, "--walk-forward", "train=252,test=252", "--holdout", "20%", "--report",
                       str(page), "--pbo-top", "10")
    assert code == 0
    wf = d["walk_forward"]
    assert wf["train"] == 252 and wf["test"] == 252 and wf["anchored"] is False
    assert len(wf["folds"]) == 3 and wf["folds"][0]["train_start"] == "2012-01-03"
    assert d["holdout"]["bars"] == 252 and d["holdout"]["end"] == "2016-12-30"  # 20 % of 1,258 bars
    assert d["overfitting"]["pbo_configs"] == 10
    for f in wf["folds"]:
        assert f["decay"] is None or f["decay"] == pytest.approx(f["oos_sharpe_ratio"] / f["is_sharpe_ratio"])
    text = page.read_text(encoding="utf-8")
    assert "<h2>Walk-forward</h2>" in text and "<h2>Hold-out</h2>" in text and "SYNTHETIC DATA" in text
    human = run(*BASE, *GRID, "--walk-forward", "train=252,test=252", "--holdout", "20%")
    assert human.exit_code == 0
    assert "walk-forward: train 252, test 252, rolling" in human.stdout
    assert "stitched out-of-sample SPY" in human.stdout and "hold-out 2016-01-04 .. 2016-12-30" in human.stdout


@pytest.mark.parametrize(("args", "code", "path"), [
    (["--grid", "fast=1:50:5"], "D103", "grid.fast"),                            # outside PARAM_SCHEMA bounds
    (["--grid", "fast=50:60:5", "--grid", "slow=20,30", "--constraint", "fast < slow"], "D122", "constraints"),
    (["--grid", "fast=5:50:five"], "D103", "grid.fast"),                         # non-numeric step
    (["--grid", "fast=5,10", "--metric", "sharpe"], "D122", "metric"),
    (["--grid", "fast=5,10", "--walk-forward", "train=1300,test=300"], "D122", "walk_forward"),
    (["--grid", "fast=5,10", "--walk-forward", "train=252"], "D122", "walk_forward"),
    (["--grid", "fast=5,10", "--holdout", "1258"], "D122", "holdout"),
    (["--grid", "fastt=5,10"], "D104", "grid.fastt"),
    (["--grid", "fast=5,10", "--constraint", "fast < slow +"], "P102", "constraints[0]"),
    (["--grid", "fast=5,10", "--param", "stop_loss_pct=abc"], "D103", "params.stop_loss_pct"),
    (["--grid", "fast=5,10", "--heatmap", "fast"], "D122", "heatmap"),
])
def test_user_errors_are_error_schema_with_exit_1(args, code, path) -> None:
    status, d = run_json(*BASE, *args)
    assert status == 1 and d["success"] is False and d["error"]["type"] == "validation_error"
    first = d["error"]["details"][0]
    assert first["code"] == code and first["path"] == path and first["message"]
    human = run(*BASE, *args)
    assert human.exit_code == 1 and f"error[{code}]" in human.stdout


def test_walk_forward_window_longer_than_the_data_names_the_bars() -> None:
    status, d = run_json(*BASE, "--grid", "fast=5,10", "--walk-forward", "train=1000,test=300", "--holdout", "300")
    detail = d["error"]["details"][0]
    assert status == 1 and "958 bars before the hold-out (300 of 1258 bars held out)" in detail["message"]
    assert "train + test <= 958" in detail["hint"]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see the sweep running")
def test_ctrl_c_stops_cleanly_with_exit_130() -> None:
    """SIGINT in the middle of a long sweep (380,028 combinations x 3 symbols x 22 years, ~1 min uninterrupted):
    a message, exit 130, no traceback."""
    cmd = [sys.executable, "-m", "ruleengine.cli", "sweep", GC, "--symbols", "SPY,QQQ,IWM", "--provider", "sample",
           "--start", "1995-01-03", "--end", "2016-12-30", "--grid", "fast=2:100", "--grid", "slow=5:400",
           "--grid", "rsi_max=50:100:5", "--constraint", "fast < slow"]
    # the same sweep on a tiny grid first: on an empty numba cache (a fresh clone) its kernels compile here, so
    # that the signal below lands while chunks run, not during a compilation (a minute, not interruptible)
    warm = [*cmd[:-8], "--grid", "fast=5", "--grid", "slow=50", "--grid", "rsi_max=70"]
    assert subprocess.run(warm, cwd=ROOT, capture_output=True, timeout=900).returncode == 0
    # SIGINT as a terminal gives it: a job started in the background by a shell without job control inherits it
    # ignored, and Python then keeps ignoring it
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        # imports and the data take ~1.5 s of CPU: past 3 s the sweep's chunks are running
        while _cpu_seconds(proc.pid) < 3.0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out[-500:], err[-2000:])
    assert "interrupted: sweep stopped" in err and "Traceback" not in err and out == ""
    assert time.monotonic() - sent < 10  # only the chunks already running finish


@pytest.mark.realdata
def test_sweep_on_real_prices(shared_data) -> None:
    code, d = run_json(GC, "--symbols", "SPY", "--data", str(shared_data), "--start", "2008-01-01", "--end",
                       "2017-12-29", "--grid", "fast=10:50:10", "--grid", "slow=50:200:50", "--constraint",
                       "fast < slow", "--param", "stop_loss_pct=5", "--param", "take_profit_pct=10")
    assert code == 0 and d["synthetic"] is False and d["n_trials"] == 19
    assert not any(w["code"] == "D120" for w in d["warnings"])
    lib = sweep(GC, "SPY", "2008-01-01", "2017-12-29", data=str(shared_data), grid=["fast=10:50:10", "slow=50:200:50"],
                constraints=["fast < slow"], params={"stop_loss_pct": 5, "take_profit_pct": 10})
    assert d["rows"][0]["sharpe_ratio"] == pytest.approx(lib.table["sharpe_ratio"].iloc[0], rel=1e-12)
    assert d["overfitting"]["dsr"]["n_obs"] == 2517
