"""The drivers' in-place fast path (gap-free columns) and paired EMA / RSI columns.

Gap-free columns run their kernel directly on the column views of the F-ordered
input and output; columns with NaN go through the compressed path; EMA and RSI
run gap-free columns two at a time. Whatever path a column takes, a batched
call must equal the single-column calls bit for bit, for any mix of windows,
gaps and column counts, and for C-ordered input too. Each 1-D kernel compiles
once for both paths, and compiling a driver compiles no other driver's kernel.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ruleengine.kernels import events, oscillators, rolling, smoothing, transforms

T = 300


def _series(seed):
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.02, T)))
    spread = np.abs(rng.normal(0, 0.01, T)) * close
    high = close + spread * rng.random(T)
    low = close - spread * rng.random(T)
    volume = rng.integers(0, 1000, T).astype(float)
    return [high, low, close, volume]


def _panel(C, gaps):
    """(high, low, close, volume) (T, C) F-ordered; the columns listed in gaps get NaN rows."""
    cols = [_series(c) for c in range(C)]
    for c in gaps:
        for j, s in enumerate(cols[c]):
            s[(np.arange(T) + 3 * j + c) % 11 == 0] = np.nan
            s[:c + 2] = np.nan
    return [np.asfortranarray(np.column_stack([cols[c][j] for c in range(C)])) for j in range(4)]


def _ints(C, choices):
    return np.array([choices[c % len(choices)] for c in range(C)], dtype=np.int64)


# name: (driver, input indices into (high, low, close, volume), params(C))
CASES = {
    "sma": (rolling.sma_nb, (2,), lambda C: (_ints(C, [5, 1, 20, 3]),)),
    "sum": (rolling.sum_nb, (3,), lambda C: (_ints(C, [5, 1, 20]),)),
    "wma": (rolling.wma_nb, (2,), lambda C: (_ints(C, [5, 1, 20]),)),
    "stddev": (rolling.stddev_nb, (2,), lambda C: (_ints(C, [5, 1, 20]),)),
    "zscore": (rolling.zscore_nb, (2,), lambda C: (_ints(C, [5, 2, 20]),)),
    "highest": (rolling.highest_nb, (0,), lambda C: (_ints(C, [5, 1, 7, 400]),)),
    "lowest": (rolling.lowest_nb, (1,), lambda C: (_ints(C, [5, 1, 7]),)),
    "bb_percent": (rolling.bb_percent_nb, (2,), lambda C: (_ints(C, [5, 20]), np.full(C, 2.0))),
    "bb_width": (rolling.bb_width_nb, (2,), lambda C: (_ints(C, [5, 20]), np.full(C, 1.5))),
    "vwap": (rolling.vwap_nb, (0, 1, 2, 3), lambda C: (_ints(C, [5, 1, 20]),)),
    "ema": (smoothing.ema_nb, (2,), lambda C: (_ints(C, [5, 1, 20, 3, 299, 400]),)),
    "rsi": (smoothing.rsi_nb, (2,), lambda C: (_ints(C, [14, 1, 2, 30, 298, 400]),)),
    "macd_hist": (smoothing.macd_hist_nb, (2,), lambda C: (_ints(C, [12, 3]), _ints(C, [26, 2]), _ints(C, [9, 1]))),
    "roc": (oscillators.roc_nb, (2,), lambda C: (_ints(C, [5, 1]),)),
    "atr": (oscillators.atr_nb, (0, 1, 2), lambda C: (_ints(C, [14, 1, 3]),)),
    "natr": (oscillators.natr_nb, (0, 1, 2), lambda C: (_ints(C, [14, 1, 3]),)),
    "cci": (oscillators.cci_nb, (0, 1, 2), lambda C: (_ints(C, [14, 1, 2, 3, 4, 5, 20]),)),
    "willr": (oscillators.willr_nb, (0, 1, 2), lambda C: (_ints(C, [14, 1, 3]),)),
    "mfi": (oscillators.mfi_nb, (0, 1, 2, 3), lambda C: (_ints(C, [14, 1, 3]),)),
    "adx": (oscillators.adx_nb, (0, 1, 2), lambda C: (_ints(C, [14, 1, 3]),)),
    "obv": (oscillators.obv_nb, (2, 3), lambda C: ()),
    "stoch_d": (oscillators.stoch_d_nb, (0, 1, 2),
                lambda C: (_ints(C, [14, 1, 5]), _ints(C, [3, 1]), _ints(C, [3, 2, 1]))),
    "log_return": (transforms.log_return_nb, (2,), lambda C: (_ints(C, [1, 5]),)),
    "rising": (events.rising_nb, (2,), lambda C: (_ints(C, [1, 2, 3]),)),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("C,gaps", [(1, ()), (2, ()), (5, ()), (7, (1, 4)), (6, (0, 5))])
def test_batched_equals_single_columns(name, C, gaps):
    fn, which, params = CASES[name]
    data = _panel(C, gaps)
    inputs = [data[j] for j in which]
    ps = params(C)
    out = fn(*inputs, *ps)
    assert out.flags.f_contiguous and out.shape == (T, C)
    for c in range(C):
        single = fn(*[np.asfortranarray(x[:, c:c + 1]) for x in inputs], *[p[c:c + 1] for p in ps])
        np.testing.assert_array_equal(out[:, c], single[:, 0], err_msg=f"{name} column {c}")
    out_c = fn(*[np.ascontiguousarray(x) for x in inputs], *ps)
    np.testing.assert_array_equal(out, out_c)


def test_each_kernel_compiles_once_for_both_paths():
    here = str(Path(__file__).resolve().parent)
    code = (
        "import sys\n"
        f"sys.path.insert(0, {here!r})\n"
        "import numpy as np\n"
        "import test_kernels_fastpath as m\n"
        "from ruleengine.kernels import rolling, smoothing, oscillators, transforms, events\n"
        "for name, (fn, which, params) in m.CASES.items():\n"
        "    for C, gaps in [(3, ()), (4, (1,))]:\n"
        "        data = m._panel(C, gaps)\n"
        "        fn(*[data[j] for j in which], *params(C))\n"
        "        fn(*[np.ascontiguousarray(data[j]) for j in which], *params(C))\n"
        "mods = (rolling, smoothing, oscillators, transforms, events)\n"
        "sigs = {k: len(d.signatures) for mod in mods for k, d in vars(mod).items() if k.endswith('_1d_nb')}\n"
        "print(len(sigs) >= 20, {k: v for k, v in sigs.items() if v > 1})\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "True {}"


def test_a_driver_compiles_only_its_own_kernel(tmp_path):
    """No driver switches between kernels at run time (numba would compile every branch): in a fresh
    process with an empty numba cache, each driver's first call compiles its own kernel(s) only."""
    code = (
        "import numpy as np\n"
        "from ruleengine.kernels import rolling, smoothing, oscillators, transforms, events\n"
        "mods = (rolling, smoothing, oscillators, transforms, events)\n"
        "x = np.asfortranarray(np.random.default_rng(0).random((60, 3)) + 1.0)\n"
        "n = np.full(3, 5, dtype=np.int64)\n"
        "seen = set()\n"
        "for fn, args in [(rolling.bb_upper_nb, (x, n, np.full(3, 2.0))), (smoothing.rsi_nb, (x, n)),\n"
        "                 (oscillators.stoch_k_nb, (x, x, x, n, n, n))]:\n"
        "    fn(*args)\n"
        "    now = {k for m in mods for k, d in vars(m).items() if k.endswith('_1d_nb') and d.signatures}\n"
        "    print(fn.__name__, sorted(now - seen))\n"
        "    seen |= now\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False,
                         env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "bb_upper_nb ['var_1d_nb']",
        "rsi_nb ['rsi2_1d_nb', 'rsi_1d_nb']",
        "stoch_k_nb ['sma_1d_nb', 'stoch_1d_nb']",
    ]
