"""Hostile CLI arguments (issue 14): bad output paths for every command that writes a file.

A path that cannot be written is refused before the work starts (D170): each case also gives a data path or
store that would fail later, so seeing D170 (and not the later error) proves the check came first. A write
that fails only when it happens (``/dev/full``: no space left) ends in D171, never a traceback after the run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.hostile import assert_structured, run_cli
from support.paths import ROOT, SHARED_DATA

GC = str(ROOT / "rules" / "golden_cross.yaml")
NO_DATA = ["--data", "no-such-folder/prices"]  # would fail with a data error if the run started


def _bad_path(kind: str, tmp: Path, name: str = "out.html") -> str:
    if kind == "missing folder":
        return str(tmp / "no" / "such" / "folder" / name)
    if kind == "a folder":
        return str(tmp)
    if kind == "a fifo":
        fifo = tmp / "pipe"
        os.mkfifo(fifo)
        return str(fifo)
    raise AssertionError(kind)


def _commands(path: str, tmp: Path) -> dict[str, list[str]]:
    db = str(tmp / "store.db")
    return {
        "backtest --report": ["backtest", GC, "--symbols", "SPY", *NO_DATA, "--report", path],
        "sweep --report": ["sweep", GC, "--symbols", "SPY", *NO_DATA, "--grid", "fast=5,10", "--report", path],
        "strategies export -o": ["strategies", "export", "1", "--db", db, "-o", path],
        "create --out": ["create", "buy the dip", "--out", path],
        "refine --out": ["refine", GC, "tighter stop", "--out", path],
    }


COMMANDS = ["backtest --report", "sweep --report", "strategies export -o", "create --out", "refine --out"]


@pytest.mark.parametrize("kind", ["missing folder", "a folder", "a fifo"])
@pytest.mark.parametrize("command", COMMANDS)
def test_unwritable_output_path_is_refused_before_the_work(command: str, kind: str, tmp_path: Path) -> None:
    path = _bad_path(kind, tmp_path)
    env = {"OPENAI_API_KEY": "", "RULEENGINE_MODEL": ""}  # create/refine would fail with L107 if they ran
    proc = run_cli(_commands(path, tmp_path)[command], seconds=60, env=env)
    assert_structured(proc)
    assert proc.returncode == 1
    assert "error[D170]" in proc.stdout, proc.stdout + proc.stderr
    assert "hint" in proc.stdout
    if kind == "missing folder":
        assert not (tmp_path / "no").exists()  # no folder is created for a typo


def test_output_path_error_as_json(tmp_path: Path) -> None:
    proc = run_cli(["backtest", GC, "--symbols", "SPY", *NO_DATA, "--report", str(tmp_path), "--json"],
                   seconds=60)
    assert_structured(proc)
    out = json.loads(proc.stdout)
    assert out["success"] is False and out["error"]["details"][0]["code"] == "D170"
    assert out["error"]["details"][0]["path"] == "report"


@pytest.mark.realdata
@pytest.mark.parametrize("command", ["backtest", "sweep"])
def test_report_on_a_full_device_is_d171_not_a_traceback(command: str) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full does not exist on this system")
    args = [command, GC, "--symbols", "SPY", "--data", str(SHARED_DATA), "--start", "2015-01-01",
            "--end", "2016-12-30", "--report", "/dev/full", "--json"]
    if command == "sweep":
        args += ["--grid", "fast=5,10", "--grid", "slow=30,40"]
    # 4 GB of address space: under hostile.py's default 2 GB a real run (numba, pyarrow threads) stalls
    proc = run_cli(args, seconds=180, megabytes=4096)
    assert_structured(proc)
    out = json.loads(proc.stdout)
    assert out["success"] is False, out
    detail = out["error"]["details"][0]
    assert detail["code"] == "D171" and "No space left" in detail["message"], detail
    assert out["error"]["type"] == "execution_error"


def test_strategies_export_to_a_full_device_is_d171(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full does not exist on this system")
    db = str(tmp_path / "store.db")
    added = run_cli(["strategies", "add", GC, "--db", db], seconds=60)
    assert added.returncode == 0, added.stdout + added.stderr
    proc = run_cli(["strategies", "export", "1", "--db", db, "-o", "/dev/full"], seconds=60)
    assert_structured(proc)
    assert proc.returncode == 1 and "error[D171]" in proc.stdout, proc.stdout + proc.stderr


def test_every_file_writing_option_is_covered_here() -> None:
    """A new --report/--out/-o option must join the cases above (and call check_output_path)."""
    import typer

    from ruleengine.cli import app

    def walk(cmd, path=()):
        if isinstance(getattr(cmd, "commands", None), dict):
            for name, sub in cmd.commands.items():
                yield from walk(sub, (*path, name))
        else:
            yield path, cmd

    writers = {" ".join(path) + " " + opt
               for path, cmd in walk(typer.main.get_command(app))
               for p in cmd.params if p.param_type_name == "option"
               for opt in p.opts if opt in ("--report", "--out", "--output", "-o") and (
                   opt != "--output" or "-o" not in p.opts)}
    assert writers == set(COMMANDS), writers
