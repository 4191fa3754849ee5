"""Docs kept honest: the README table is the registry's, its commands exist, the registry is complete."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from ruleengine.compile.execute import kernel
from ruleengine.lang.functions import _WARMUP_TEXT, FUNCTIONS

ROOT = Path(__file__).resolve().parents[1]


def _update_readme():
    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "scripts" / "update_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_function_table_is_generated_from_the_registry() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _update_readme().render(text) == text, "run: .venv/bin/python scripts/update_readme.py"
    for name in FUNCTIONS:
        assert f"`{name}(" in text


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/demo.sh" in text and "bash scripts/test.sh" in text
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_registry_warmup_matches_the_kernel(name: str) -> None:
    """The declared lookback equals the leading NaN / False bars of the kernel on gap-free data."""
    fn = FUNCTIONS[name]
    rng = np.random.default_rng(0)
    n = 300
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    cols = {"x": close, "a": close, "b": close[::-1].copy(), "close": close, "high": close * 1.01,
            "low": close * 0.99, "volume": rng.uniform(1e5, 1e6, n)}
    static: dict[str, float] = {}
    series, statics = [], []
    for i, a in enumerate(fn.args):
        if a.kind in ("window", "lag"):
            v = max(a.minimum, 3 + 2 * i)
            static[a.name] = v
            statics.append(np.array([v], dtype=np.int64))
        elif a.kind == "number":
            static[a.name] = 2.0
            statics.append(np.array([2.0]))
        elif a.kind == "cond":
            series.append(np.asfortranarray(rng.uniform(size=(n, 1)) < 0.3))
        else:
            series.append(np.asfortranarray(cols.get(a.name, close).reshape(n, 1)))
    expected = fn.lookback(static)
    formula = _WARMUP_TEXT[name].split(" (")[0]
    env = {**static, "max": max}
    assert eval(re.sub(r"(\d)([a-z])", r"\1*\2", formula), env) == expected, (name, formula)
    if not fn.kernel or fn.cross_sectional:
        return  # cross-sectional kernels read a universe: tests/test_cross_section.py
    out = kernel(fn.kernel)(*series, *statics)[:, 0]
    if out.dtype == bool:
        return  # events: checked against their pandas reference elsewhere
    valid = np.flatnonzero(~np.isnan(out))
    first = valid[0] if len(valid) else n
    if name == "bars_since":
        return  # depends on when the condition is first true
    assert first == expected, (name, first, expected)


def test_readme_command_line_section_lists_only_real_commands() -> None:
    """Every `ruleengine <command>` in README's command-line block answers --help (exit 0)."""
    from typer.testing import CliRunner

    from ruleengine.cli import app

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Command line", 1)[1].split("```", 2)[1]
    commands = {tuple(w for w in line.split()[1:3] if w.isalpha() and w.islower())
                for line in block.splitlines() if line.startswith("ruleengine ")}
    assert ("data", "show") in commands and ("providers",) in commands
    runner = CliRunner()
    for cmd in commands:
        result = runner.invoke(app, [*cmd, "--help"])
        assert result.exit_code == 0, (cmd, result.output)


def _run_readme_example(heading: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Run the first Python block after `heading` in README.md, as written, from the project root."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = text.split(heading, 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec("import ruleengine\n" + code, scope)  # noqa: S102 - our own README
    return scope


@pytest.mark.realdata
def test_readme_data_example_runs(shared_data, monkeypatch) -> None:
    scope = _run_readme_example("## Data: providers", monkeypatch)
    assert scope["md"].labels == ["SPY"] and len(scope["sig"].entries) > 0


@pytest.mark.realdata
def test_readme_backtest_example_runs(shared_data, monkeypatch) -> None:
    scope = _run_readme_example("## Backtests", monkeypatch)
    run = scope["run"]
    assert run.symbols == {"prices": "SPY"} and run.metrics.total_trades > 0
    assert __import__("json").loads(scope["result"].to_json())["success"] is True


@pytest.mark.realdata
def test_readme_sweep_example_runs(shared_data, monkeypatch) -> None:
    scope = _run_readme_example("## Sweeps, walk-forward", monkeypatch)
    assert scope["res"].n_trials == len(scope["res"].table) and scope["res"].best["fast"] < scope["res"].best["slow"]
    assert len(scope["wf"].folds) > 5


def test_readme_tells_how_to_run_the_cli_after_the_quick_start() -> None:
    """After `bash scripts/demo.sh`, `ruleengine` is not on PATH: README says how to run it (issue 13)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "source .venv/bin/activate" in quick and ".venv/bin/ruleengine" in quick
    assert "ruleengine --version" in quick
    assert (ROOT / "scripts" / "demo.sh").read_text(encoding="utf-8").count(".venv/bin/ruleengine") >= 3


def _fake_python(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in for python3 that records its calls: `-m venv DIR` makes DIR/bin/{python,ruleengine}."""
    log = tmp_path / "calls.log"
    fake = tmp_path / "fakepy"
    fake.write_text(f"""#!/usr/bin/env bash
echo "$*" >> {log}
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
  printf '#!/usr/bin/env bash\\necho "ruleengine 9.9"\\n' > "$3/bin/ruleengine" && chmod +x "$3/bin/ruleengine"
fi
case "$*" in *"install"*" -e "*) echo "PIP-INSTALL-OUTPUT";; esac
""", encoding="utf-8")
    fake.chmod(0o755)
    return fake, log


def test_setup_prints_each_step_and_pips_progress(tmp_path: Path) -> None:
    """No minute of silence: a line before each step, and pip's own output (not --quiet) while it installs."""
    import shutil
    import subprocess

    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", repo / "scripts" / "setup.sh")
    fake, log = _fake_python(tmp_path)
    proc = subprocess.run(["bash", str(repo / "scripts" / "setup.sh"), "test"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": str(fake)}, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    steps = [line for line in lines if line.startswith("==> ")]
    assert steps[0].startswith("==> creating the virtual environment")
    install = next(i for i, line in enumerate(lines) if line.startswith("==> installing ruleengine with the extras"))
    assert install < lines.index("PIP-INSTALL-OUTPUT")  # the step is announced before pip runs
    assert "==> installed: ruleengine 9.9" in lines
    assert "source .venv/bin/activate" in steps[-1] and ".venv/bin/ruleengine" in steps[-1]
    call = next(c for c in log.read_text(encoding="utf-8").splitlines() if " -e " in c)
    assert "--quiet" not in call and "--progress-bar on" in call and call.endswith("-e .[test]")
