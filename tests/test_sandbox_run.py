"""Code strategies through the sandbox: the good path, the output contract, determinism and lookahead
acceptance, the refusal on kernels without seccomp/Landlock, and `CodeStrategy` in backtest, sweep and the
CLI, where the seed 000 strategies written as code give the same signals as their rule twins.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ruleengine
from ruleengine.errors import RuleEngineError
from ruleengine.sandbox.checks import accept, lookahead_cuts
from ruleengine.sandbox.lockdown import DISABLE_ENV
from ruleengine.sandbox.pool import Pool
from ruleengine.sandbox.protocol import job_from_inputs
from ruleengine.sandbox.runner import features, run_job
from ruleengine.sandbox.strategy import DEFAULT_WARMUP_BARS, CodeStrategy

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
CLI = Path(sys.executable).parent / "ruleengine"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

SMA_CROSS = """
def generate_signals(data, params):
    c = data["prices"]["close"]
    f, s = c.rolling(params["fast"]).mean(), c.rolling(params["slow"]).mean()
    return (f > s) & (f.shift(1) <= s.shift(1)), (f < s) & (f.shift(1) >= s.shift(1))
"""
COLS = ["open", "high", "low", "close", "volume"]


def market(n_rows: int = 300, n_cols: int = 3, seed: int = 7) -> tuple[pd.DatetimeIndex, dict, list[str]]:
    idx = pd.date_range("2015-01-01", periods=n_rows, freq="B", tz="UTC")
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(rng.normal(0, 0.01, (n_rows, n_cols)).cumsum(axis=0))
    inputs = {("prices", c): np.asfortranarray(close * (1 + 0.001 * k)) for k, c in enumerate(COLS)}
    return idx, inputs, [f"S{j}" for j in range(n_cols)]


def in_process(code: str, idx: pd.DatetimeIndex, inputs: dict, labels: list[str], sets: list[dict]):
    """The reference: the same (trusted, test-written) code run here, one call per set and symbol."""
    ns: dict = {}
    exec(code, ns)  # noqa: S102 - test-written code: the in-process reference of the benign corpus
    e_cols, x_cols = [], []
    for params in sets:
        for j in range(len(labels)):
            frame = pd.DataFrame({c: inputs[("prices", c)][:, j] for c in COLS}, index=idx)
            e, x = ns["generate_signals"]({"prices": frame}, params)
            e_cols.append(e.to_numpy(bool))
            x_cols.append(x.to_numpy(bool))
    return np.column_stack(e_cols), np.column_stack(x_cols)


def sandboxed(code: str, idx, inputs, labels, sets, **kw):
    return run_job(job_from_inputs(code, inputs, idx, labels, {"prices": COLS}, ["prices"], sets), **kw)


def error_of(fn) -> ruleengine.Diagnostic:
    with pytest.raises(RuleEngineError) as exc:
        fn()
    return exc.value.diagnostics[0]


# ------------------------------------------------------------------------------------------ the good path
def test_signals_equal_the_in_process_reference_for_every_set_and_symbol() -> None:
    idx, inputs, labels = market()
    sets = [{"fast": 5, "slow": 20}, {"fast": 10, "slow": 40}]
    entries, exits = sandboxed(SMA_CROSS, idx, inputs, labels, sets)
    ref_e, ref_x = in_process(SMA_CROSS, idx, inputs, labels, sets)
    assert entries.shape == (300, 6) and entries.dtype == bool and entries.flags.f_contiguous
    np.testing.assert_array_equal(entries, ref_e)  # set-major, symbol-minor like CompiledStrategy
    np.testing.assert_array_equal(exits, ref_x)
    assert entries.sum() > 5 and exits.sum() > 5


def test_runs_without_bars_are_left_out_and_get_no_signal() -> None:
    idx, inputs, labels = market(n_cols=2)
    for k in inputs:
        inputs[k][:50, 1] = np.nan  # the second symbol starts 50 bars later (a universe's union of bars)
    code = ("def generate_signals(data, params):\n    c = data['prices']['close']\n"
            "    assert not c.isna().any() and len(c) in (250, 300), len(c)\n    return c > 0, c < 0\n")
    entries, exits = sandboxed(code, idx, inputs, labels, [{}])
    assert entries[:, 0].all() and not entries[:50, 1].any() and entries[50:, 1].all() and not exits.any()


def test_index_time_zone_and_declared_columns_reach_the_code() -> None:
    idx, inputs, labels = market(n_cols=1)
    code = ("def generate_signals(data, params):\n    p = data['prices']\n"
            "    assert str(p.index.tz) == 'UTC' and list(p.columns) == ['open', 'high', 'low', 'close', 'volume']\n"
            "    assert p.index[0].year == 2015 and params == {'k': 1}\n"
            "    return p['close'] > 0, p['close'] < 0\n")
    entries, _ = sandboxed(code, idx, inputs, labels, [{"k": 1}])
    assert entries.all()


# ------------------------------------------------------------------------------------------ output contract
CONTRACT = [
    ("return c > 0", "must return a tuple (entries, exits), got Series"),
    ("return c > 0, c < 0, c == 0", "got tuple of length 3"),
    ("return (c > 0).iloc[1:], c < 0", "entries has 299 rows, the data have 300"),
    ("return (c > 0).astype(int), c < 0", "entries has dtype int64"),
    ("return c > 0, (c > 0).where(c > 101)", "exits holds"),
    ("return data['prices'][['open', 'close']] > 0, c < 0", "entries is a DataFrame with 2 columns"),
    ("return (c > 0).to_numpy(), c < 0", "entries is a ndarray"),
    ("return (c > 0).reset_index(drop=True), c < 0", "entries is not aligned with the data index"),
]


@pytest.mark.parametrize("ret, message", CONTRACT, ids=range(len(CONTRACT)))
def test_output_contract_violations_are_x126_with_a_usable_message(ret: str, message: str) -> None:
    idx, inputs, labels = market(n_cols=1)
    code = f"def generate_signals(data, params):\n    c = data['prices']['close']\n    {ret}\n"
    d = error_of(lambda: sandboxed(code, idx, inputs, labels, [{}]))
    assert d.code == "X126" and message in d.message, d.message
    assert d.hint


def test_a_one_column_frame_is_accepted() -> None:
    idx, inputs, labels = market(n_cols=1)
    code = ("def generate_signals(data, params):\n    p = data['prices']\n"
            "    return p[['close']] > 0, p[['close']] < 0\n")
    entries, exits = sandboxed(code, idx, inputs, labels, [{}])
    assert entries.all() and not exits.any()


def test_an_exception_names_its_line_in_the_document_symbol_and_parameters(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ndata:\n  prices: {kind: ohlcv}\nparams:\n  k: {type: int, default: 0, min: 0, max: 5}\n"
                    "code: |\n  def generate_signals(data, params):\n      c = data['prices']['close']\n"
                    "      ratio = c / (params['k'] + 1)\n      return c > ratio + params['missing'], c < 0\n",
                    encoding="utf-8")
    s = ruleengine.compile_strategy(str(path))
    idx, inputs, _ = market(n_cols=1)
    frame = pd.DataFrame({c: inputs[("prices", c)][:, 0] for c in COLS}, index=idx)
    d = error_of(lambda: s.signals(frame))
    assert d.code == "X121" and "KeyError" in d.message and "code line 4" in d.message
    assert "symbol data" in d.message and "'k': 0" in d.message
    assert (d.span.file, d.span.line) == (str(path), 10)  # line 4 of the code block is line 10 of the file
    assert RuleEngineError([d]).to_error_schema()["error"]["type"] == "execution_error"


# ------------------------------------------------------------------------------------------ acceptance
def _runner(code: str, idx, inputs, labels):
    def run(sets, columns=None, cuts=()):
        job = job_from_inputs(code, inputs, idx, labels, {"prices": COLS}, ["prices"], sets, columns, cuts)
        return run_job(job, static_check=False)  # the static check would refuse these codes first
    return run


def _accept(code: str, idx, inputs, labels, sets, start=0) -> None:
    """The acceptance checks as `CodeStrategy` runs them: the full run first, then `accept` reusing it."""
    run = _runner(code, idx, inputs, labels)
    accept(run, len(idx), labels, idx, sets, run(sets), start=start)


def test_determinism_check_rejects_random_signals() -> None:
    idx, inputs, labels = market(n_cols=2)
    code = ("import numpy as np\ndef generate_signals(data, params):\n    c = data['prices']['close']\n"
            "    r = np.random.default_rng().random(len(c)) > 0.5\n    return (c > 0) & r, c < 0\n")
    d = error_of(lambda: _accept(code, idx, inputs, labels, [{}]))
    assert d.code == "X128" and "not deterministic: entries of S" in d.message  # S0 or S1: whichever differs first


@pytest.mark.parametrize("body, first_bad", [
    ("e = c.shift(-1) > c", None),  # the last row of every cut differs (measured in the notes)
    ("z = (c - c.mean()) / c.std()\n    e = z > 0.5", None),  # whole-sample normalisation
])
def test_lookahead_check_rejects_future_reads(body: str, first_bad) -> None:
    idx, inputs, labels = market(n_cols=2)
    code = f"def generate_signals(data, params):\n    c = data['prices']['close']\n    {body}\n    return e, c < 0\n"
    d = error_of(lambda: _accept(code, idx, inputs, labels, [{}], start=50))
    assert d.code == "X129" and "looks ahead" in d.message and "cut after" in d.message
    assert lookahead_cuts(300, 50) == [187, 225, 262]


def test_causal_code_passes_acceptance() -> None:
    idx, inputs, labels = market(n_cols=2)
    _accept(SMA_CROSS, idx, inputs, labels, [{"fast": 5, "slow": 20}, {"fast": 10, "slow": 40}], start=30)


def test_code_strategy_checks_each_market_once_and_reports_lookahead(tmp_path: Path) -> None:
    doc = ("name: probe\ndata:\n  prices: {kind: ohlcv, columns: [close]}\ncode: |\n"
           "  def generate_signals(data, params):\n      c = data['prices']['close']\n"
           "      m = c.rolling(len(c), min_periods=1).mean()\n      return c > m.iat[len(c) - 1], c < 0\n")
    s = ruleengine.compile_strategy(doc)  # passes the static check: only running it shows the lookahead
    idx, inputs, _ = market(n_cols=1)
    frame = pd.DataFrame({"close": inputs[("prices", "close")][:, 0]}, index=idx)
    d = error_of(lambda: s.signals(frame))
    assert d.code == "X129"
    s.verify = False  # explicitly unchecked: the signals come back
    entries = s.signals(frame).to_pandas().entries
    assert entries.dtype == bool and len(entries) == 300


def _peeking_doc(peek: str) -> str:
    """A code strategy that is causal for every n but 6, where it does `peek` (indented code lines)."""
    body = "".join(f"          {line}\n" for line in peek.splitlines())
    return ("name: causal except for one parameter value\ndata:\n  prices: {kind: ohlcv, columns: [close]}\n"
            "params:\n  n: {type: int, min: 2, max: 20, default: 4}\nrisk: {stop_loss_pct: 5}\ncode: |\n"
            "  WARMUP_BARS = 40\n\n  def generate_signals(data, params):\n      c = data['prices']['close']\n"
            "      fast, slow = c.rolling(params['n']).mean(), c.rolling(30).mean()\n"
            f"      if params['n'] == 6:\n{body}"
            "      return (fast > slow) & (fast.shift(1) <= slow.shift(1)),"
            " (fast < slow) & (fast.shift(1) >= slow.shift(1))\n")


# knows the last close of whatever data it gets: with the full history it buys dips below the final price
PEEK_AT_THE_END = ("final = c.iat[len(c) - 1]\n"
                   "return (c < 0.9 * final) & (fast > slow), c > final")


@pytest.mark.realdata
def test_a_sweep_checks_every_parameter_set_for_lookahead(shared_data: Path) -> None:
    """Issue 13 item 8: code that looks ahead for n=6 only is caught (X129 naming that set), nothing is ranked;
    the same code swept without n=6 passes and is ranked."""
    doc = _peeking_doc(PEEK_AT_THE_END)
    args = ("SPY,XOM", "2012-01-01", "2016-12-30")
    d = error_of(lambda: ruleengine.sweep(doc, *args, grid=["n=4,5,6,7"], data=str(shared_data)))
    assert d.code == "X129" and "with parameters {'n': 6}" in d.message and "looks ahead" in d.message
    ranked = ruleengine.sweep(doc, *args, grid=["n=4,5,7"], data=str(shared_data))
    assert sorted(ranked.table["n"].unique().tolist()) == [4, 5, 7]


@pytest.mark.realdata
def test_a_spinning_parameter_set_costs_its_own_call_budget_in_a_sweep(shared_data: Path) -> None:
    """Issue 14 item 4: a call that never returns for n=6 stops at the per-call limit (not the run's 30 s + 0.25 s
    per call), naming the symbol and the set."""
    s = ruleengine.compile_strategy(_peeking_doc("while True:\n    pass"))
    s.call_timeout = 1.0
    t0 = time.monotonic()
    d = error_of(lambda: ruleengine.sweep(s, "SPY,XOM", "2012-01-01", "2016-12-30", grid=["n=4,5,6,7"],
                                          data=str(shared_data)))
    elapsed = time.monotonic() - t0
    assert d.code in ("X122", "X123") and "per call" in d.message, d.message
    assert "on SPY with parameters {'n': 6}" in d.message
    assert elapsed < 20, f"took {elapsed:.1f} s"


# ------------------------------------------------------------------------------------------ the pool
def test_a_zygote_that_dies_is_replaced_and_a_job_it_held_fails_cleanly() -> None:
    import signal
    import threading
    import time

    pool = Pool(size=1)
    try:
        idx, inputs, labels = market(n_cols=1)
        sets = [{"fast": 5, "slow": 20}]
        assert pool.started == 0  # lazily: nothing runs before the first job
        first = sandboxed(SMA_CROSS, idx, inputs, labels, sets, pool=pool)
        pid = pool._all[0].info["pid"]
        sleeper = "import time\ndef generate_signals(data, params):\n    time.sleep(60)\n"
        got: list = []

        def job() -> None:
            try:
                sandboxed(sleeper, idx, inputs, labels, [{}], pool=pool, static_check=False, timeout=30)
            except RuleEngineError as exc:
                got.append(exc.diagnostics[0])

        t = threading.Thread(target=job)
        t.start()
        time.sleep(1.0)
        os.kill(pid, signal.SIGKILL)  # e.g. the OOM killer
        t.join(20)
        assert got and got[0].code == "X130"
        again = sandboxed(SMA_CROSS, idx, inputs, labels, sets, pool=pool)
        np.testing.assert_array_equal(again[0], first[0])
        assert pool.started == 2 and pool._all[0].info["pid"] != pid
    finally:
        pool.close()


# ------------------------------------------------------------------------------------------ refusal
@pytest.mark.parametrize("feature", ["landlock", "seccomp"])
def test_refused_when_a_kernel_feature_is_missing(monkeypatch: pytest.MonkeyPatch, feature: str) -> None:
    monkeypatch.setenv(DISABLE_ENV, feature)
    f = features()
    assert not f.usable and any(feature in p.lower() for p in f.problems)
    pool = Pool(size=1)
    idx, inputs, labels = market(n_cols=1)
    d = error_of(lambda: sandboxed(SMA_CROSS, idx, inputs, labels, [{"fast": 2, "slow": 5}], pool=pool))
    assert d.code == "X120" and "cannot run here" in d.message
    assert pool.started == 0  # refused before any process was started: nothing ran unprotected
    s = ruleengine.compile_strategy(str(RULES / "code_rsi_mean_reversion.yaml"))
    frame = pd.DataFrame({"close": inputs[("prices", "close")][:, 0]}, index=idx)
    assert error_of(lambda: s.signals(frame)).code == "X120"
    assert ruleengine.validate(str(RULES / "code_rsi_mean_reversion.yaml")) == []  # static feedback still works
    monkeypatch.delenv(DISABLE_ENV)
    assert features().usable


def test_the_reserved_job_ids_are_checked_against_the_accounts(tmp_path: Path) -> None:
    """Each job runs as JOB_ID_BASE + its pid: an account or group in that range makes the sandbox refuse."""
    from ruleengine.sandbox.lockdown import JOB_ID_BASE, job_ids_problems

    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
    assert job_ids_problems((str(passwd),)) == []
    passwd.write_text(passwd.read_text() + f"svc:x:{JOB_ID_BASE + 7}:100::/:/bin/false\n")
    (problem,) = job_ids_problems((str(passwd),))
    assert f"svc ({JOB_ID_BASE + 7})" in problem and "reserved for sandbox jobs" in problem
    assert job_ids_problems() == [], "this machine's accounts use the reserved range"


def test_cli_backtest_refuses_with_x120(tmp_path: Path) -> None:
    env = {**os.environ, DISABLE_ENV: "landlock,seccomp", "RULEENGINE_PROVIDER": "sample"}
    proc = subprocess.run([str(CLI), "backtest", str(RULES / "code_pairs_zscore.yaml"), "--symbols",
                           "asset_a=GLD,asset_b=SLV", "--start", "2020-01-01", "--end", "2020-06-30", "--json"],
                          capture_output=True, text=True, check=False, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["error"]["type"] == "execution_error" and out["error"]["details"][0]["code"] == "X120"


# ------------------------------------------------------------------------------------------ CodeStrategy
def test_code_strategy_interface() -> None:
    s = ruleengine.compile_strategy(str(RULES / "code_pairs_zscore.yaml"))
    assert isinstance(s, CodeStrategy) and ruleengine.compile_strategy(s) is s
    assert s.required_columns() == {"asset_a": {"close"}, "asset_b": {"close"}}
    assert s.warmup() == s.converge_bars() == 120
    assert [p["lookback"] for p in s.param_sets({"lookback": [10, 20]})] == [10, 20]
    doc = ruleengine.load_strategy(str(RULES / "code_pe_ratio_earnings.yaml")).to_dict()
    doc["code"] = doc["code"].replace("WARMUP_BARS = 0", "LIMIT = 0")
    assert ruleengine.compile_strategy(doc).warmup() == DEFAULT_WARMUP_BARS


def test_code_strategy_reads_bar_times_from_the_market_it_is_given() -> None:
    """No registry of markets: two markets sharing one inputs dict but not their bar times each give their own
    (the code's signals are computed on the times of the market passed, and the result carries them)."""
    from dataclasses import replace

    from ruleengine.data.market import MarketData

    doc = {"name": "sma", "data": {"prices": {"kind": "ohlcv"}},
           "params": {"fast": {"type": "int", "default": 5, "min": 2, "max": 50},
                      "slow": {"type": "int", "default": 20, "min": 5, "max": 200}}, "code": SMA_CROSS}
    s = ruleengine.compile_strategy(doc)
    idx, inputs, labels = market(n_cols=1)
    md = MarketData(index=idx, frequency="1Day", runs=[{"prices": lab} for lab in labels[:1]], inputs=inputs,
                    start=0, providers={})
    later = replace(md, index=idx + pd.Timedelta(days=7))
    assert later.inputs is md.inputs
    a, b = s.signals(md), s.signals(later)
    assert a.index.equals(idx) and b.index.equals(later.index)
    np.testing.assert_array_equal(a.entries, b.entries)
    ref_e, _ = in_process(SMA_CROSS, idx, inputs, labels[:1], [{"fast": 5, "slow": 20}])
    np.testing.assert_array_equal(a.entries, ref_e)


def test_code_strategy_signals_on_frames_single_and_multi_symbol() -> None:
    doc = {"name": "sma", "data": {"prices": {"kind": "ohlcv"}},
           "params": {"fast": {"type": "int", "default": 5, "min": 2, "max": 50},
                      "slow": {"type": "int", "default": 20, "min": 5, "max": 200}}, "code": SMA_CROSS}
    s = ruleengine.compile_strategy(doc)
    idx, inputs, labels = market(n_cols=2)
    one = pd.DataFrame({c: inputs[("prices", c)][:, 0] for c in COLS}, index=idx)
    sig = s.signals(one).to_pandas()
    entries, exits = sig.entries, sig.exits
    ref_e, ref_x = in_process(SMA_CROSS, idx, inputs, labels[:1], [{"fast": 5, "slow": 20}])
    assert isinstance(entries, pd.Series) and entries.index.equals(idx)
    assert entries.to_numpy().tolist() == ref_e[:, 0].tolist() and exits.to_numpy().tolist() == ref_x[:, 0].tolist()
    both = pd.concat({lab: pd.DataFrame({c: inputs[("prices", c)][:, j] for c in COLS}, index=idx)
                      for j, lab in enumerate(labels[:2])}, axis=1)
    grid_e = s.signals(both, {"fast": [5, 8]}).to_pandas().entries
    assert list(grid_e.columns) == [(5, "S0"), (5, "S1"), (8, "S0"), (8, "S1")]
    ref_e, _ = in_process(SMA_CROSS, idx, inputs, labels[:2], [{"fast": 5, "slow": 20}, {"fast": 8, "slow": 20}])
    np.testing.assert_array_equal(grid_e.to_numpy(), ref_e)


def test_load_data_binds_declared_columns_and_warmup(provider_env_cleared) -> None:
    s = ruleengine.compile_strategy(str(RULES / "code_pairs_zscore.yaml"))
    md = ruleengine.load_data(s, "asset_a=GLD,asset_b=SLV", "2020-01-01", "2020-06-30", provider="sample")
    assert set(md.inputs) == {(slot, c) for slot in ("asset_a", "asset_b")
                                      for c in ("open", "high", "low", "close")}  # declared + the bars
    assert md.start >= s.warmup()  # WARMUP_BARS = 120 of history before the start date
    sig = s.signals(md).to_pandas()
    entries, exits = sig.entries, sig.exits
    assert entries.shape == (md.n_rows - md.start, 1) and list(entries.columns) == ["GLD/SLV"]
    assert (entries.dtypes == np.dtype(bool)).all() and (exits.dtypes == np.dtype(bool)).all()


def test_backtest_and_sweep_of_a_code_strategy(provider_env_cleared) -> None:
    s = ruleengine.compile_strategy(str(RULES / "code_pairs_zscore.yaml"))
    rule = ruleengine.compile_strategy(str(RULES / "pairs_zscore.yaml"))
    md = ruleengine.load_data(rule, "asset_a=GLD,asset_b=SLV", "2019-01-01", "2020-06-30", provider="sample")
    a = ruleengine.backtest(s, md, benchmark=None)
    b = ruleengine.backtest(rule, md, benchmark=None)
    assert a.results[0].metrics.total_trades == b.results[0].metrics.total_trades > 0
    assert a.results[0].metrics.total_return_pct == pytest.approx(b.results[0].metrics.total_return_pct, abs=1e-12)
    grid = {"lookback": [10, 20], "entry_z": [1.5, 2.0]}
    ta = ruleengine.sweep(s, market=md, grid=grid).table
    tb = ruleengine.sweep(rule, market=md, grid=grid).table
    pd.testing.assert_frame_equal(ta.reset_index(drop=True), tb.reset_index(drop=True))


# ------------------------------------------------------------------------------------------ code == rules
TWINS = [("rsi_mean_reversion", "SPY,AAPL,XOM,QQQ"), ("pe_ratio_earnings", "AAPL,MSFT,JPM,XOM"),
         ("pairs_zscore", "asset_a=XLE,asset_b=XLF")]


@pytest.mark.realdata
@pytest.mark.parametrize("rule, symbols", TWINS, ids=[t[0] for t in TWINS])
def test_code_twins_give_the_rule_signals_on_real_data(shared_data: Path, rule: str, symbols: str) -> None:
    r = ruleengine.compile_strategy(str(RULES / f"{rule}.yaml"))
    c = ruleengine.compile_strategy(str(RULES / f"code_{rule}.yaml"))
    md = ruleengine.load_data(r, symbols, "2006-01-01", "2017-12-29", data=str(shared_data))
    code_sig, rule_sig = c.signals(md), r.signals(md)
    ce, cx, re_, rx = code_sig.entries, code_sig.exits, rule_sig.entries, rule_sig.exits
    s = md.start  # before it the rules mask their warm-up; the requested range is what is traded
    np.testing.assert_array_equal(ce[s:], re_[s:])
    np.testing.assert_array_equal(cx[s:], rx[s:])
    assert ce[s:].sum() >= 10 and cx[s:].sum() >= 10  # not vacuous


@pytest.mark.realdata
def test_cli_backtest_of_a_code_twin_equals_the_rule(shared_data: Path) -> None:
    proc = subprocess.run([str(CLI), "backtest", str(RULES / "code_rsi_mean_reversion.yaml"), "--symbols", "SPY,XOM",
                           "--start", "2010-01-01", "--end", "2017-12-29", "--data", str(shared_data), "--json"],
                          capture_output=True, text=True, check=False, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    code = json.loads(proc.stdout)
    rule = json.loads(ruleengine.backtest(str(RULES / "rsi_mean_reversion.yaml"), "SPY,XOM", "2010-01-01",
                                          "2017-12-29", data=str(shared_data)).to_json())
    assert [r["metrics"] for r in code["results"]] == [r["metrics"] for r in rule["results"]]
    assert [r["trades"] for r in code["results"]] == [r["trades"] for r in rule["results"]]
    assert sum(r["metrics"]["total_trades"] for r in code["results"]) > 0


@pytest.mark.realdata
def test_cli_sweep_of_a_code_twin_equals_the_rule(shared_data: Path) -> None:
    args = ("asset_a=XLE,asset_b=XLF", "2012-01-01", "2017-12-29")
    proc = subprocess.run([str(CLI), "sweep", str(RULES / "code_pairs_zscore.yaml"), "--symbols", args[0],
                           "--start", args[1], "--end", args[2], "--data", str(shared_data),
                           "--grid", "lookback=10,20", "--grid", "entry_z=1.5,2", "--json"],
                          capture_output=True, text=True, check=False, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rule = ruleengine.walk_forward(str(RULES / "pairs_zscore.yaml"), *args, walk_forward=None,
                                   grid=["lookback=10,20", "entry_z=1.5,2"], data=str(shared_data))
    assert json.loads(proc.stdout)["rows"] == json.loads(rule.to_json())["rows"]


@pytest.mark.slow
def test_vectorbt_and_ta_code_run_in_the_vectorbt_zygote() -> None:
    idx, inputs, labels = market(n_rows=400, n_cols=2)
    code = ("import ta\nimport vectorbt as vbt\n\ndef generate_signals(data, params):\n"
            "    c = data['prices']['close']\n    rsi = vbt.RSI.run(c, window=14).rsi\n"
            "    r2 = ta.momentum.RSIIndicator(c, 14).rsi()\n"
            "    return (rsi < 45).fillna(False), (r2 > 55).fillna(False)\n")
    entries, exits = sandboxed(code, idx, inputs, labels, [{}], timeout=120)
    ref_e, ref_x = in_process(code, idx, inputs, labels, [{}])
    np.testing.assert_array_equal(entries, ref_e)
    np.testing.assert_array_equal(exits, ref_x)
    assert entries.any() and exits.any()
