"""The static check of strategy code (`ruleengine.sandbox.static`): every rule, with its code and line:col.

The check is feedback for the LLM repair loop, not the security boundary (tests/test_sandbox_attacks.py proves
the kernel layers). These tests pin what it rejects, where it says the problem is, and that the code strategies
in rules/ and common legitimate patterns pass.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import ruleengine
from ruleengine.sandbox.static import (
    MAX_CODE_BYTES,
    check_code,
    declared_warmup,
    entry_point,
    imported_modules,
    locate,
)

ROOT = Path(__file__).resolve().parents[1]
CODE_RULES = sorted((ROOT / "rules").glob("code_*.yaml"))

HEAD = "def generate_signals(data, params):\n    c = data['prices']['close']\n"
TAIL = "    return c > 0, c < 0\n"


def body(*lines: str) -> str:
    """Strategy code: HEAD (lines 1-2), the given lines (from line 3), TAIL."""
    return HEAD + "".join(f"    {line}\n" for line in lines) + TAIL


def codes(code: str) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.col) if d.span else (d.code, 0, 0) for d in check_code(code)]


# ------------------------------------------------------------------------------------------ accepted code
GOOD = [
    body("f = c.rolling(params['fast']).mean()", "s = c.ewm(span=20, adjust=False).mean()"),
    body("hi = c.rolling(20).max()", "lo = c.expanding().min()", "x = (c - lo) / (hi - lo)"),
    body("r = c.rolling(5).apply(lambda w: w.max() - w.min(), raw=True)"),
    body("m = data['prices'][['close']].max(axis=1)", "n = data['prices'][['close']].min(1)"),
    body("import numpy as np", "x = np.where(c > c.shift(1), 1.0, 0.0)", "y = c.to_numpy()"),
    body("import math", "k = math.sqrt(params['n'])", "z = abs(c.diff()) * k"),
    "import ta\nimport vectorbt as vbt\n" + body("r = ta.momentum.RSIIndicator(c, 14).rsi()",
                                                 "m = vbt.MA.run(c, 10).ma"),
    '"""A docstring."""\nWARMUP_BARS = 250\nTHRESH = 0.5\n' + body("x = c.pct_change() > THRESH"),
    body("for i in range(3):", "    c = c.shift(i)", "idx = c.index.month"),
]


@pytest.mark.parametrize("code", GOOD, ids=range(len(GOOD)))
def test_legitimate_code_passes(code: str) -> None:
    assert check_code(code) == []


@pytest.mark.parametrize("path", CODE_RULES, ids=lambda p: p.stem)
def test_code_strategies_in_rules_pass_and_validate(path: Path) -> None:
    strategy = ruleengine.load_strategy(str(path))
    assert strategy.code and check_code(strategy.code, entry_point(strategy)) == []  # a rotation: generate_weights
    assert ruleengine.validate(str(path)) == []


def test_the_code_twins_exist() -> None:
    assert [p.stem for p in CODE_RULES] == ["code_momentum_rotation", "code_pairs_zscore", "code_pe_ratio_earnings",
                                            "code_rsi_mean_reversion"]


# ------------------------------------------------------------------------------------------ rejected code
BAD = [
    # (id, code, [(code, line, col)])
    ("syntax", "def generate_signals(data, params)\n    return 1, 2\n", [("X101", 1, 35)]),
    ("no_function", "import pandas as pd\nx = 1\n", [("X102", 1, 1)]),
    ("wrong_signature", "def generate_signals(data):\n    return 1, 2\n", [("X102", 1, 1)]),
    ("varargs", "def generate_signals(*args):\n    return 1, 2\n", [("X102", 1, 1)]),
    ("import_os", "import os\n" + body(), [("X103", 1, 1)]),
    ("from_subprocess", "from subprocess import run\n" + body(), [("X103", 1, 1)]),
    ("import_star", "from numpy import *\n" + body(), [("X103", 1, 1)]),
    ("relative", "from . import x\n" + body(), [("X103", 1, 1)]),
    ("dunder_attr", body("x = ().__class__"), [("X104", 3, 9)]),
    ("underscore_name", body("_x = 1"), [("X104", 3, 5)]),
    ("dunder_text", body("k = 'a__b'"), [("X104", 3, 9)]),
    ("eval", body("eval('1')"), [("X105", 3, 5)]),
    ("exec", body("exec('1')"), [("X105", 3, 5)]),
    ("open", body("open('/etc/passwd')"), [("X105", 3, 5)]),
    ("getattr", body("getattr(c, 'mean')"), [("X105", 3, 5)]),
    ("globals", body("g = globals()"), [("X105", 3, 9)]),
    ("type", body("t = type(c)"), [("X105", 3, 9)]),
    ("format", body("t = '{0}'.format(c)"), [("X105", 3, 9)]),
    ("gi_frame", body("f = g.gi_frame"), [("X105", 3, 9)]),
    ("read_csv", "import pandas as pd\n" + body("pd.read_csv('/etc/passwd')"), [("X106", 4, 5)]),
    ("to_csv", body("c.to_csv('out.csv')"), [("X106", 3, 5)]),
    ("to_pickle", body("c.to_pickle('out.csv')"), [("X106", 3, 5)]),
    ("np_save", "import numpy as np\n" + body("np.save('out.csv', c)"), [("X106", 4, 5)]),
    ("np_load", "import numpy as np\n" + body("np.load('out.csv')"), [("X106", 4, 5)]),
    ("tofile", body("c.values.tofile('out.csv')"), [("X106", 3, 5)]),
    ("pd_io", "import pandas as pd\n" + body("pd.io.common.os.system('id')"), [("X106", 4, 5)]),
    ("ctypeslib", "import numpy as np\n" + body("np.ctypeslib.ctypes.CDLL(None)"), [("X106", 4, 5)]),
    ("pickle_compat", "import pandas as pd\n" + body("pd.compat.pickle_compat.loads(b'')"), [("X106", 4, 5)]),
    ("submodule", "import pandas.io.common\n" + body(), [("X106", 1, 1)]),
    ("now", "import pandas as pd\n" + body("t = pd.Timestamp.now()"), [("X107", 4, 9)]),
    ("now_text", "import pandas as pd\n" + body("t = pd.Timestamp('now')"), [("X107", 4, 22)]),
    ("np_random", "import numpy as np\n" + body("r = np.random.rand(3)"), [("X107", 4, 9)]),
    ("sample", body("s = c.sample(5)"), [("X107", 3, 9)]),
    ("id", body("k = id(c)"), [("X107", 3, 9)]),
    ("shift_negative", body("f = c.shift(-1)"), [("X108", 3, 9)]),
    ("shift_periods", body("f = c.shift(periods=-2)"), [("X108", 3, 9)]),
    ("iloc_negative", body("last = c.iloc[-1]"), [("X108", 3, 12)]),
    ("iloc_slice", body("head = c.iloc[:-5]"), [("X108", 3, 12)]),
    ("whole_mean", body("z = (c - c.mean()) / c.std()"), [("X108", 3, 14), ("X108", 3, 26)]),
    ("whole_max", body("m = c.max()"), [("X108", 3, 9)]),
    ("centered", body("m = c.rolling(5, center=True).mean()"), [("X108", 3, 22)]),
    ("bfill", body("m = c.bfill()"), [("X108", 3, 9)]),
    ("fillna_bfill", body("m = c.fillna(method='bfill')"), [("X108", 3, 18)]),
    ("interpolate", body("m = c.interpolate()"), [("X108", 3, 9)]),
    ("top_level_call", "print('hi')\n" + body(), [("X110", 1, 1)]),
    ("top_level_loop", "for i in range(3):\n    pass\n" + body(), [("X110", 1, 1)]),
    ("class", "class K:\n    pass\n" + body(), [("X111", 1, 1), ("X110", 1, 1)]),
    ("generator", body("g = (yield 1)"), [("X111", 3, 10)]),
    ("global", body("global k"), [("X111", 3, 5)]),
    ("warmup_text", "WARMUP_BARS = '250'\n" + body(), [("X112", 1, 1)]),
    ("warmup_negative", "WARMUP_BARS = -5\n" + body(), [("X112", 1, 1)]),
]


@pytest.mark.parametrize("code, expected", [(c, e) for _, c, e in BAD], ids=[i for i, _, _ in BAD])
def test_rejected_with_code_and_position(code: str, expected: list[tuple[str, int, int]]) -> None:
    assert codes(code) == expected


def test_every_rejection_has_a_message_a_hint_and_the_code_path() -> None:
    for _, code, _ in BAD:
        for d in check_code(code):
            assert d.path == "code" and d.message and d.hint and d.stage == "sandbox"
            assert d.to_dict()["line"] is not None


def test_all_problems_are_reported_at_once() -> None:
    code = "import os\n" + body("x = c.shift(-1)", "eval('1')", "c.to_csv('out.csv')")
    assert [d.code for d in check_code(code)] == ["X103", "X108", "X105", "X106"]


def test_size_and_complexity_limits_reject_before_compiling() -> None:
    big = body(*["x = 1"] * (MAX_CODE_BYTES // 8))
    assert [d.code for d in check_code(big)] == ["X109"]
    deep = body("x = " + "(" * 250 + "1" + ")" * 250)  # beyond the parser's own limit: a syntax error
    assert [d.code for d in check_code(deep)] == ["X101"]
    nested = body("x = " + "[" * 90 + "]" * 90)
    assert [d.code for d in check_code(nested)] == ["X109"]
    wide = body("x = " + "+".join(["c"] * 3000))  # 3,000 additions: 6,000 nodes, nested 3,000 deep
    t0 = time.perf_counter()
    assert [d.code for d in check_code(wide)] == ["X109"]
    assert time.perf_counter() - t0 < 2.0


def test_declared_warmup_and_imports() -> None:
    assert declared_warmup("WARMUP_BARS = 120\n" + body()) == 120
    assert declared_warmup(body()) is None
    assert imported_modules("import numpy as np\nfrom vectorbt import MA\n" + body()) == {"numpy", "vectorbt"}


def test_positions_map_into_the_yaml_document(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ndata:\n  prices: {kind: ohlcv, columns: [close]}\ncode: |\n"
                    "  def generate_signals(data, params):\n"
                    "      c = data['prices']['close']\n"
                    "      return c.shift(-1) > c, c < 0\n", encoding="utf-8")
    diags = ruleengine.validate(str(path))
    assert [(d.code, d.span.file, d.span.line, d.span.col) for d in diags] == [("X108", str(path), 7, 14)]
    assert "code line 3" in diags[0].message
    # without a document the span stays relative to the code
    code = ruleengine.load_strategy(str(path)).code
    assert locate(check_code(code), code, None)[0].span.line == 3


def test_compile_strategy_raises_the_static_diagnostics(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ndata:\n  prices: {kind: ohlcv}\ncode: |\n  import os\n"
                    "  def generate_signals(data, params):\n      return 1, 2\n", encoding="utf-8")
    with pytest.raises(ruleengine.RuleEngineError) as exc:
        ruleengine.compile_strategy(str(path))
    d = exc.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.col) == ("X103", 5, 3)
    assert exc.value.error_type == "validation_error"


def test_cli_validate_renders_code_errors_and_accepts_the_code_rules(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: s\ndata:\n  prices: {kind: ohlcv}\ncode: |\n  def generate_signals(data, params):\n"
                    "      c = data['prices']['close']\n      return c > c.mean(), c < 0\n", encoding="utf-8")
    cli = Path(sys.executable).parent / "ruleengine"
    bad = subprocess.run([str(cli), "validate", str(path)], capture_output=True, text=True, check=False, timeout=60)
    assert bad.returncode == 1
    assert "error[X108]" in bad.stdout and f"{path}:7:18" in bad.stdout
    good = subprocess.run([str(cli), "validate", *map(str, CODE_RULES)], capture_output=True, text=True, check=False,
                          timeout=60, cwd=ROOT)
    assert good.returncode == 0, good.stdout
    assert good.stdout.count("ok: ") == len(CODE_RULES)


def test_validate_of_code_stays_light() -> None:
    code = ("import json, sys, ruleengine\n"
            "for f in ['rules/code_rsi_mean_reversion.yaml', 'rules/code_pairs_zscore.yaml']:\n"
            "    assert ruleengine.validate(f) == [], f\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pandas', 'numba'})))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_cli_explain_describes_a_code_strategy() -> None:
    from typer.testing import CliRunner

    from ruleengine.cli import app

    res = CliRunner().invoke(app, ["explain", str(ROOT / "rules" / "code_pairs_zscore.yaml")])
    assert res.exit_code == 0, res.output
    assert "code strategy" in res.output and "warm-up: 120 bars" in res.output
    res = CliRunner().invoke(app, ["explain", "--json", str(ROOT / "rules" / "code_pe_ratio_earnings.yaml")])
    info = __import__("json").loads(res.output)
    assert info["kind"] == "code" and info["data"]["earnings"]["columns"] == ["eps", "estimated_eps"]
