"""Edge-case tests of the numba kernels that need no market data (always run).

T = 0 / 1 / T < window, all-NaN columns, n = 1, constant series (zero std /
range), scale invariance (no fixed epsilon), division-by-zero rules, invalid
arguments, hand-written boolean examples, a randomized TA-Lib comparison with
flat runs and tiny/huge price levels, a hypothesis test of the NaN-as-missing
rule, and the import-hygiene rules of the kernels package.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ruleengine.kernels import channels, cross, events, oscillators, regression, rolling, smoothing, transforms, trend
from ruleengine.lang.functions import FUNCTIONS

KERNEL_DIR = Path(rolling.__file__).resolve().parent
MODULES = ["rolling", "smoothing", "oscillators", "regression", "trend", "channels", "transforms", "events", "_util"]

F = False
T_ = True


def col(*cols, dtype=float):
    """Columns (1-D sequences) -> (T, C) Fortran-ordered array."""
    return np.asfortranarray(np.column_stack([np.asarray(c, dtype=dtype) for c in cols]))


def i64(*v):
    return np.array(v, dtype=np.int64)


def f64(*v):
    return np.array(v, dtype=np.float64)


# name: (driver, input kind, number of inputs, param types, output kind, lookback(params))
#   input kind "f": float series, "b": bool series; params "i" int64, "f" float64
DRIVERS = {
    "sma": (rolling.sma_nb, "f", 1, "i", "f", lambda n: n - 1),
    "mean": (rolling.mean_nb, "f", 1, "i", "f", lambda n: n - 1),
    "wma": (rolling.wma_nb, "f", 1, "i", "f", lambda n: n - 1),
    "sum": (rolling.sum_nb, "f", 1, "i", "f", lambda n: n - 1),
    "stddev": (rolling.stddev_nb, "f", 1, "i", "f", lambda n: n - 1),
    "zscore": (rolling.zscore_nb, "f", 1, "i", "f", lambda n: n - 1),
    "highest": (rolling.highest_nb, "f", 1, "i", "f", lambda n: n - 1),
    "lowest": (rolling.lowest_nb, "f", 1, "i", "f", lambda n: n - 1),
    "bb_upper": (rolling.bb_upper_nb, "f", 1, "if", "f", lambda n, k: n - 1),
    "bb_middle": (rolling.bb_middle_nb, "f", 1, "if", "f", lambda n, k: n - 1),
    "bb_lower": (rolling.bb_lower_nb, "f", 1, "if", "f", lambda n, k: n - 1),
    "bb_percent": (rolling.bb_percent_nb, "f", 1, "if", "f", lambda n, k: n - 1),
    "bb_width": (rolling.bb_width_nb, "f", 1, "if", "f", lambda n, k: n - 1),
    "vwap": (rolling.vwap_nb, "f", 4, "i", "f", lambda n: n - 1),
    "ema": (smoothing.ema_nb, "f", 1, "i", "f", lambda n: n - 1),
    "rsi": (smoothing.rsi_nb, "f", 1, "i", "f", lambda n: n),
    "macd": (smoothing.macd_nb, "f", 1, "iii", "f", lambda f, s, g: max(f, s) - 1),
    "macd_signal": (smoothing.macd_signal_nb, "f", 1, "iii", "f", lambda f, s, g: max(f, s) + g - 2),
    "macd_hist": (smoothing.macd_hist_nb, "f", 1, "iii", "f", lambda f, s, g: max(f, s) + g - 2),
    "roc": (oscillators.roc_nb, "f", 1, "i", "f", lambda n: n),
    "mom": (oscillators.mom_nb, "f", 1, "i", "f", lambda n: n),
    "atr": (oscillators.atr_nb, "f", 3, "i", "f", lambda n: n),
    "natr": (oscillators.natr_nb, "f", 3, "i", "f", lambda n: n),
    "cci": (oscillators.cci_nb, "f", 3, "i", "f", lambda n: n - 1),
    "willr": (oscillators.willr_nb, "f", 3, "i", "f", lambda n: n - 1),
    "mfi": (oscillators.mfi_nb, "f", 4, "i", "f", lambda n: n),
    "adx": (oscillators.adx_nb, "f", 3, "i", "f", lambda n: 2 * n - 1),
    "obv": (oscillators.obv_nb, "f", 2, "", "f", lambda: 0),
    "stoch_k": (oscillators.stoch_k_nb, "f", 3, "iii", "f", lambda a, b, c: a + b - 2),
    "stoch_d": (oscillators.stoch_d_nb, "f", 3, "iii", "f", lambda a, b, c: a + b + c - 3),
    "pct_change": (transforms.pct_change_nb, "f", 1, "i", "f", lambda n: n),
    "log_return": (transforms.log_return_nb, "f", 1, "i", "f", lambda n: n),
    "shift": (transforms.shift_nb, "f", 1, "i", "f", lambda n: n),
    "crosses_above": (events.crosses_above_nb, "f", 2, "", "b", None),
    "crosses_below": (events.crosses_below_nb, "f", 2, "", "b", None),
    "rising": (events.rising_nb, "f", 1, "i", "b", None),
    "falling": (events.falling_nb, "f", 1, "i", "b", None),
    "bars_since": (events.bars_since_nb, "b", 1, "", "f", None),
    "within": (events.within_nb, "b", 1, "i", "b", None),
    "count": (events.count_nb, "b", 1, "i", "f", lambda n: n - 1),
}
NAMES = list(DRIVERS)

# default parameters per param signature (windows deliberately > the short T's below)
DEFAULT_PARAMS = {"i": (5,), "if": (5, 2.0), "iii": (3, 6, 4), "": ()}


def ohlcv(T, seed=0, scale=100.0):
    rng = np.random.default_rng(seed)
    close = scale * np.exp(np.cumsum(rng.normal(0, 0.02, T)))
    spread = np.abs(rng.normal(0, 0.01, T)) * close
    high = close + spread * rng.random(T)
    low = close - spread * rng.random(T)
    volume = rng.integers(0, 1000, T).astype(float)
    return high, low, close, volume


def make_inputs(name, T, C, seed=0):
    _driver, kind, k, _ptypes, _out, _lb = DRIVERS[name]
    cols = []
    for c in range(C):
        h, lo, cl, v = ohlcv(T, seed + c)
        if kind == "b":
            cols.append([cl > np.roll(cl, 1)])
        elif k == 1:
            cols.append([cl])
        elif k == 2:
            cols.append([cl, v] if name == "obv" else [cl, np.roll(cl, 3)])
        elif k == 3:
            cols.append([h, lo, cl])
        else:
            cols.append([h, lo, cl, v])
    dtype = bool if kind == "b" else float
    return [col(*[cols[c][j] for c in range(C)], dtype=dtype) for j in range(k)]


def make_params(name, C, params=None):
    ptypes = DRIVERS[name][3]
    params = DEFAULT_PARAMS[ptypes] if params is None else params
    return [np.full(C, p, dtype=np.int64 if t == "i" else np.float64) for p, t in zip(params, ptypes, strict=True)]


def call(name, inputs, params):
    return DRIVERS[name][0](*inputs, *params)


def check_out(name, res, T, C):
    assert res.shape == (T, C)
    assert res.dtype == (np.bool_ if DRIVERS[name][4] == "b" else np.float64)
    assert res.flags.f_contiguous


# --------------------------------------------------------------------------- shapes, short input


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("T", [0, 1, 2, 4])
def test_short_input_shape_layout_and_nan(name, T):
    C = 3
    res = call(name, make_inputs(name, T, C), make_params(name, C))
    check_out(name, res, T, C)
    lb_fn = DRIVERS[name][5]
    if lb_fn is not None and T > 0:
        lb = lb_fn(*DEFAULT_PARAMS[DRIVERS[name][3]])
        assert np.isnan(res[: min(lb, T)]).all()
        if lb >= T:
            assert np.isnan(res).all()


@pytest.mark.parametrize("name", NAMES)
def test_c_ordered_input_gives_same_result(name):
    T, C = 60, 3
    ins = make_inputs(name, T, C)
    params = make_params(name, C)
    res_f = call(name, ins, params)
    res_c = call(name, [np.ascontiguousarray(a) for a in ins], params)
    check_out(name, res_c, T, C)
    np.testing.assert_array_equal(res_f, res_c)


@pytest.mark.parametrize("name", [n for n in NAMES if DRIVERS[n][1] == "f"])
def test_all_nan_column(name):
    T, C = 80, 2
    ins = make_inputs(name, T, C)
    for a in ins:
        a[:, 1] = np.nan
    params = make_params(name, C)
    res = call(name, ins, params)
    check_out(name, res, T, C)
    if res.dtype == np.bool_:
        assert not res[:, 1].any()
    else:
        assert np.isnan(res[:, 1]).all()
    single = call(name, [np.asfortranarray(a[:, :1]) for a in ins], [p[:1] for p in params])
    np.testing.assert_array_equal(res[:, 0], single[:, 0])


@pytest.mark.parametrize("name", [n for n in NAMES if DRIVERS[n][3]])
def test_invalid_arguments_raise(name):
    T, C = 10, 2
    ins = make_inputs(name, T, C)
    params = make_params(name, C)
    with pytest.raises(ValueError):
        call(name, ins, [p[:1] for p in params])  # one value for two columns
    bad = [p.copy() for p in params]
    bad[0][1] = -1 if name == "shift" else 0
    with pytest.raises(ValueError):
        call(name, ins, bad)


def test_mismatched_input_shapes_raise():
    h, lo, c, _v = ohlcv(20)
    with pytest.raises(ValueError):
        oscillators.atr_nb(col(h), col(lo[:-1]), col(c), i64(3))
    with pytest.raises(ValueError):
        events.crosses_above_nb(col(c), col(c, c), )


# --------------------------------------------------------------------------- n = 1


def test_window_one():
    h, lo, c, v = ohlcv(50, seed=3)
    v[[5, 6, 20]] = 0.0
    c[10] = c[9]  # a flat step
    X = col(c)
    one = i64(1)
    for fn in (rolling.sma_nb, rolling.mean_nb, rolling.wma_nb, rolling.sum_nb, rolling.highest_nb,
               rolling.lowest_nb, smoothing.ema_nb):
        np.testing.assert_array_equal(fn(X, one)[:, 0], c)
    assert (rolling.stddev_nb(X, one) == 0).all()
    assert np.isnan(rolling.zscore_nb(X, one)).all()
    k = f64(2.0)
    np.testing.assert_array_equal(rolling.bb_upper_nb(X, one, k)[:, 0], c)
    np.testing.assert_array_equal(rolling.bb_lower_nb(X, one, k)[:, 0], c)
    assert np.isnan(rolling.bb_percent_nb(X, one, k)).all()
    assert (rolling.bb_width_nb(X, one, k) == 0).all()
    tp = (h + lo + c) / 3.0
    vw = rolling.vwap_nb(col(h), col(lo), col(c), col(v), one)[:, 0]
    np.testing.assert_allclose(vw[v != 0], tp[v != 0], rtol=1e-14)
    assert np.isnan(vw[v == 0]).all()
    rsi = smoothing.rsi_nb(X, one)[:, 0]
    assert np.isnan(rsi[0])
    np.testing.assert_array_equal(rsi[1:], np.where(np.diff(c) > 0, 100.0, 0.0))
    np.testing.assert_allclose(oscillators.roc_nb(X, one)[1:, 0], (c[1:] / c[:-1] - 1) * 100, rtol=1e-12)
    np.testing.assert_array_equal(oscillators.mom_nb(X, one)[1:, 0], np.diff(c))
    tr = np.maximum.reduce([h[1:] - lo[1:], np.abs(c[:-1] - h[1:]), np.abs(c[:-1] - lo[1:])])
    np.testing.assert_array_equal(oscillators.atr_nb(col(h), col(lo), col(c), one)[1:, 0], tr)
    # TA-Lib quirk, kept: NATR(1) is the raw true range, not normalized by the close
    np.testing.assert_array_equal(oscillators.natr_nb(col(h), col(lo), col(c), one)[1:, 0], tr)
    assert (oscillators.cci_nb(col(h), col(lo), col(c), one) == 0).all()
    np.testing.assert_allclose(oscillators.willr_nb(col(h), col(lo), col(c), one)[:, 0],
                               (h - c) / (h - lo) * -100, rtol=1e-12, atol=1e-12)
    mfi = oscillators.mfi_nb(col(h), col(lo), col(c), col(v), one)[:, 0]
    up = (np.diff(tp) > 0) & (v[1:] > 0)
    np.testing.assert_array_equal(mfi[1:], np.where(up, 100.0, 0.0))
    adx = oscillators.adx_nb(col(h), col(lo), col(c), one)[:, 0]
    assert np.isnan(adx[0]) and (adx[1:] >= 0).all() and (adx[1:] <= 100).all()
    sk = oscillators.stoch_k_nb(col(h), col(lo), col(c), one, one, one)[:, 0]
    sd = oscillators.stoch_d_nb(col(h), col(lo), col(c), one, one, one)[:, 0]
    np.testing.assert_allclose(sk, (c - lo) / (h - lo) * 100, rtol=1e-12)
    np.testing.assert_array_equal(sk, sd)
    for fn in (smoothing.macd_nb, smoothing.macd_signal_nb, smoothing.macd_hist_nb):
        assert (fn(X, one, one, one) == 0).all()
    np.testing.assert_array_equal(transforms.shift_nb(X, i64(0))[:, 0], c)
    np.testing.assert_array_equal(transforms.shift_nb(X, one)[1:, 0], c[:-1])
    np.testing.assert_array_equal(events.rising_nb(X, one)[1:, 0], np.diff(c) > 0)
    cond = col(c > 100, dtype=bool)
    np.testing.assert_array_equal(events.within_nb(cond, one)[:, 0], c > 100)
    np.testing.assert_array_equal(events.count_nb(cond, one)[:, 0], (c > 100).astype(float))


def test_talib_rejects_some_windows_of_one():
    import talib
    with pytest.raises(Exception, match="Bad Parameter"):
        talib.STDDEV(np.arange(5.0), 1)
    with pytest.raises(Exception, match="Bad Parameter"):
        talib.RSI(np.arange(5.0), 1)


def test_natr_window_one_is_talib_raw_true_range():
    """TA-Lib's NATR(1) is the raw true range (documented there as deliberate); kept."""
    import talib
    h, lo, c, _v = ohlcv(30, seed=1)
    ours = oscillators.natr_nb(col(h), col(lo), col(c), i64(1))[:, 0]
    np.testing.assert_array_equal(talib.NATR(h, lo, c, 1)[1:], talib.TRANGE(h, lo, c)[1:])
    np.testing.assert_array_equal(ours, talib.NATR(h, lo, c, 1))


# --------------------------------------------------------------------------- constant / flat series


@pytest.mark.parametrize("value", [7.5, 0.1, 1e-9, 123456.789])
def test_constant_series(value):
    T = 60
    x = np.full(T, value)
    X = col(x)
    V = col(np.full(T, 100.0))
    n = i64(5)
    k = f64(2.0)
    lb = 4
    np.testing.assert_allclose(rolling.sma_nb(X, n)[lb:, 0], value, rtol=1e-15)
    np.testing.assert_allclose(rolling.wma_nb(X, n)[lb:, 0], value, rtol=1e-15)
    np.testing.assert_allclose(smoothing.ema_nb(X, n)[lb:, 0], value, rtol=1e-15)
    assert (rolling.stddev_nb(X, n)[lb:, 0] == 0).all()
    assert np.isnan(rolling.zscore_nb(X, n)).all()
    assert np.isnan(rolling.bb_percent_nb(X, n, k)).all()
    assert (rolling.bb_width_nb(X, n, k)[lb:, 0] == 0).all()
    np.testing.assert_array_equal(rolling.bb_upper_nb(X, n, k)[lb:], rolling.bb_lower_nb(X, n, k)[lb:])
    np.testing.assert_allclose(rolling.vwap_nb(X, X, X, V, n)[lb:, 0], value, rtol=1e-14)
    assert (smoothing.rsi_nb(X, n)[5:, 0] == 0).all()
    for fn in (smoothing.macd_nb, smoothing.macd_signal_nb, smoothing.macd_hist_nb):
        assert (np.abs(fn(X, i64(3), i64(6), i64(4))[8:, 0]) <= 1e-15 * value).all()
    assert (oscillators.roc_nb(X, n)[5:, 0] == 0).all()
    assert (oscillators.mom_nb(X, n)[5:, 0] == 0).all()
    assert (oscillators.atr_nb(X, X, X, n)[5:, 0] == 0).all()
    assert (oscillators.natr_nb(X, X, X, n)[5:, 0] == 0).all()
    assert (oscillators.cci_nb(X, X, X, n)[lb:, 0] == 0).all()
    assert (oscillators.willr_nb(X, X, X, n)[lb:, 0] == 0).all()
    assert (oscillators.mfi_nb(X, X, X, V, n)[5:, 0] == 0).all()
    assert (oscillators.adx_nb(X, X, X, n)[9:, 0] == 0).all()
    assert (oscillators.obv_nb(X, V)[:, 0] == 100.0).all()
    assert (oscillators.stoch_k_nb(X, X, X, n, i64(3), i64(3))[6:, 0] == 0).all()
    assert (oscillators.stoch_d_nb(X, X, X, n, i64(3), i64(3))[8:, 0] == 0).all()
    assert (transforms.pct_change_nb(X, n)[5:, 0] == 0).all()
    assert (transforms.log_return_nb(X, n)[5:, 0] == 0).all()
    assert not events.rising_nb(X, i64(1)).any()
    assert not events.falling_nb(X, i64(1)).any()


def test_flat_run_after_movement_gives_exact_zero_std():
    """Running sums carry residue from the volatile part; a flat window must still give 0."""
    _h, _lo, c, _v = ohlcv(300, seed=7)
    x = np.concatenate([c, np.full(40, 0.1), c[:50]])
    for n in (2, 5, 20):
        sd = rolling.stddev_nb(col(x), i64(n))[:, 0]
        assert (sd[300 + n - 1 : 340] == 0).all()
        assert (sd[340:] > 0).all()
        z = rolling.zscore_nb(col(x), i64(n))[:, 0]
        assert np.isnan(z[300 + n - 1 : 340]).all()


def test_window_flat_up_to_rounding_is_flat():
    """The z-score of two bars is +-1 plus a residue of running sums (~1e-12); a ratio over a window of such
    values (%B, a second z-score) is NaN, not noise of order 1 (hypothesis found bb_percent(zscore(close, 2),
    2, 0.5) near 1.5 where the bands have no width)."""
    _h, _lo, c, _v = ohlcv(300, seed=3)
    z = rolling.zscore_nb(col(c), i64(2))[:, 0]
    assert np.nanmax(np.abs(np.abs(z[1:]) - 1.0)) > 0.0  # the residue is there
    same = np.flatnonzero(np.isclose(z[1:], z[:-1])) + 1  # windows [z[t-1], z[t]] equal up to rounding
    assert same.size > 20
    percent = rolling.bb_percent_nb(col(z), i64(2), np.array([0.5]))[:, 0]
    zz = rolling.zscore_nb(col(z), i64(2))[:, 0]
    assert np.isnan(percent[same]).all() and np.isnan(zz[same]).all()
    assert (rolling.stddev_nb(col(z), i64(2))[same, 0] == 0.0).all()
    moved = np.setdiff1d(np.arange(2, 300), same)
    assert np.isfinite(percent[moved]).all()


@pytest.mark.parametrize("scale", [1e-9, 1e6])
def test_oscillators_are_scale_invariant(scale):
    """No fixed epsilon: rescaling prices (cent stocks, big indices) leaves scale-free outputs unchanged."""
    h, lo, c, v = ohlcv(300, seed=11)
    c[100:130] = c[100]
    h[100:130] = c[100]
    lo[100:130] = c[100]
    H, L, Cc, V = col(h), col(lo), col(c), col(v)
    Hs, Ls, Cs = col(h * scale), col(lo * scale), col(c * scale)
    n = i64(14)
    pairs = [
        (smoothing.rsi_nb(Cc, n), smoothing.rsi_nb(Cs, n)),
        (oscillators.cci_nb(H, L, Cc, n), oscillators.cci_nb(Hs, Ls, Cs, n)),
        (oscillators.willr_nb(H, L, Cc, n), oscillators.willr_nb(Hs, Ls, Cs, n)),
        (oscillators.mfi_nb(H, L, Cc, V, n), oscillators.mfi_nb(Hs, Ls, Cs, V, n)),
        (oscillators.adx_nb(H, L, Cc, n), oscillators.adx_nb(Hs, Ls, Cs, n)),
        (oscillators.natr_nb(H, L, Cc, n), oscillators.natr_nb(Hs, Ls, Cs, n)),
        (oscillators.stoch_k_nb(H, L, Cc, n, i64(3), i64(3)), oscillators.stoch_k_nb(Hs, Ls, Cs, n, i64(3), i64(3))),
        (rolling.zscore_nb(Cc, n), rolling.zscore_nb(Cs, n)),
        (rolling.bb_percent_nb(Cc, n, f64(2.0)), rolling.bb_percent_nb(Cs, n, f64(2.0))),
        (transforms.pct_change_nb(Cc, n), transforms.pct_change_nb(Cs, n)),
    ]
    for a, b in pairs:
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- zero-division rules


def test_division_by_zero_rules():
    x = col([0.0, 1.0, 0.0, 0.0, -1.0, 2.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        s = pd.Series(x[:, 0])
        np.testing.assert_array_equal(transforms.pct_change_nb(x, i64(1))[:, 0], (s / s.shift(1) - 1).to_numpy())
        np.testing.assert_array_equal(transforms.log_return_nb(x, i64(1))[:, 0], np.log((s / s.shift(1)).to_numpy()))
    # TA-Lib ROC: 0 where the base is 0
    np.testing.assert_array_equal(oscillators.roc_nb(x, i64(1))[:, 0], [np.nan, 0.0, -100.0, 0.0, 0.0, -300.0])
    # NATR: 0 where close == 0 (TR 2, 1, 1 -> ATR(2) 1.5, 1.25)
    h = col([1.0, 2.0, 1.0, 1.0])
    lo = col([0.0, 0.0, 0.0, 0.0])
    c = col([1.0, 0.5, 0.0, 0.5])
    np.testing.assert_array_equal(oscillators.natr_nb(h, lo, c, i64(2))[:, 0], [np.nan, np.nan, 0.0, 250.0])
    # VWAP: NaN while the window holds no volume, defined again once it does
    p = col(np.full(6, 10.0))
    v = col([0.0, 0.0, 0.0, 5.0, 0.0, 0.0])
    np.testing.assert_array_equal(rolling.vwap_nb(p, p, p, v, i64(2))[:, 0],
                                  [np.nan, np.nan, np.nan, 10.0, 10.0, np.nan])
    # bb_width: NaN where the middle band is 0
    z = col([1.0, -1.0, 1.0, -1.0])
    w = rolling.bb_width_nb(z, i64(2), f64(2.0))[:, 0]
    assert np.isnan(w).all()


# --------------------------------------------------------------------------- hand-written events


def test_crosses():
    nan = np.nan
    a = [1, 2, 3, 2, 1, 2, nan, 3, 2, 3]
    b = [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    b2 = [0, 0, 5, 5, 0, nan, 0, 0, 9, 0]
    A, B = col(a, a), col(b, b2)
    above = events.crosses_above_nb(A, B)
    below = events.crosses_below_nb(A, B)
    np.testing.assert_array_equal(above[:, 0], [F, F, T_, F, F, F, F, F, F, T_])
    np.testing.assert_array_equal(below[:, 0], [F, F, F, F, T_, F, F, F, F, F])
    # column 2: b moves; NaN in b at t=5 blocks t=5 and t=6
    np.testing.assert_array_equal(above[:, 1], [F, F, F, F, T_, F, F, F, F, T_])
    np.testing.assert_array_equal(below[:, 1], [F, F, T_, F, F, F, F, F, T_, F])
    assert above.flags.f_contiguous and above.dtype == np.bool_


def test_rising_falling_skip_absent_rows():
    nan = np.nan
    x = [1, 2, 3, nan, 4, 4, 5, 6, 7, nan, nan, 6]
    X = col(x, x)
    r = events.rising_nb(X, i64(2, 1))
    np.testing.assert_array_equal(r[:, 0], [F, F, T_, F, T_, F, F, T_, T_, F, F, F])
    np.testing.assert_array_equal(r[:, 1], [F, T_, T_, F, T_, F, T_, T_, T_, F, F, F])
    f = events.falling_nb(X, i64(1, 2))
    np.testing.assert_array_equal(f[:, 0], [F] * 11 + [T_])
    assert not f[:, 1].any()


def test_bars_since():
    cond = col([F, F, T_, F, F, T_, T_, F], [T_, F, F, F, F, F, F, F], [F] * 8, dtype=bool)
    res = events.bars_since_nb(cond)
    nan = np.nan
    np.testing.assert_array_equal(res[:, 0], [nan, nan, 0, 1, 2, 0, 0, 1])
    np.testing.assert_array_equal(res[:, 1], [0, 1, 2, 3, 4, 5, 6, 7])
    assert np.isnan(res[:, 2]).all()
    assert res.dtype == np.float64 and res.flags.f_contiguous


def test_within_and_count():
    c0 = [F, F, T_, F, F, F, T_, F]
    c1 = [T_, F, F, F, F, F, F, F]
    cond = col(c0, c1, dtype=bool)
    w = events.within_nb(cond, i64(3, 3))
    np.testing.assert_array_equal(w[:, 0], [F, F, T_, T_, T_, F, T_, T_])
    np.testing.assert_array_equal(w[:, 1], [T_, T_, T_, F, F, F, F, F])  # partial start window counts
    cnt = events.count_nb(col([T_, F, T_, T_, F, F, T_], [T_] * 7, dtype=bool), i64(3, 1))
    nan = np.nan
    np.testing.assert_array_equal(cnt[:, 0], [nan, nan, 2, 2, 2, 1, 1])
    np.testing.assert_array_equal(cnt[:, 1], [1.0] * 7)
    big = events.count_nb(col([T_] * 4, dtype=bool), i64(10))
    assert np.isnan(big).all()


def test_shift_is_positional():
    nan = np.nan
    x = col([1.0, nan, 3.0, 4.0, nan], [1.0, 2.0, 3.0, 4.0, 5.0])
    res = transforms.shift_nb(x, i64(1, 0))
    np.testing.assert_array_equal(res[:, 0], [nan, 1.0, nan, 3.0, 4.0])
    np.testing.assert_array_equal(res[:, 1], [1.0, 2.0, 3.0, 4.0, 5.0])
    assert np.isnan(transforms.shift_nb(x, i64(9, 5))).all()


# --------------------------------------------------------------------------- TA-Lib on synthetic data


def _synthetic(seed):
    rng = np.random.default_rng(seed)
    T = int(rng.integers(5, 400))
    scale = 10.0 ** int(rng.integers(-10, 6))
    c = scale * (1 + np.cumsum(rng.standard_normal(T)) * 0.01)
    for _ in range(int(rng.integers(0, 4))):  # flat runs
        a = int(rng.integers(0, T))
        c[a : a + int(rng.integers(1, 150))] = c[a]
    spread = np.abs(rng.standard_normal(T)) * 0.005 * scale * (rng.random(T) < 0.7)
    h = c + spread
    lo = c - spread * rng.random(T)
    v = rng.integers(0, 1000, T).astype(float) * (rng.random(T) < 0.8)
    return h, lo, c, v, scale


@pytest.mark.parametrize("seed", range(40))
def test_synthetic_vs_talib(seed):
    """Random walks at price levels 1e-10 .. 1e5 with flat stretches and zero-volume bars."""
    import talib
    h, lo, c, v, scale = _synthetic(seed)
    H, L, Cc, V = col(h), col(lo), col(c), col(v)
    for n in (2, 3, 7, 14):
        N = i64(n)
        cases = [
            ("sma", rolling.sma_nb(Cc, N), talib.SMA(c, n), 0),
            ("wma", rolling.wma_nb(Cc, N), talib.WMA(c, n), 0),
            ("stddev", rolling.stddev_nb(Cc, N), talib.STDDEV(c, n), 0),
            ("bb_upper", rolling.bb_upper_nb(Cc, N, f64(2.0)), talib.BBANDS(c, n, 2.0, 2.0, 0)[0], 0),
            ("ema", smoothing.ema_nb(Cc, N), talib.EMA(c, n), 0),
            ("rsi", smoothing.rsi_nb(Cc, N), talib.RSI(c, n), 1e-9),
            ("macd_hist", smoothing.macd_hist_nb(Cc, N, i64(2 * n), i64(3)), talib.MACD(c, n, 2 * n, 3)[2],
             1e-12 * scale),
            ("atr", oscillators.atr_nb(H, L, Cc, N), talib.ATR(h, lo, c, n), 1e-15 * scale),
            ("natr", oscillators.natr_nb(H, L, Cc, N), talib.NATR(h, lo, c, n), 1e-12),
            ("cci", oscillators.cci_nb(H, L, Cc, N), talib.CCI(h, lo, c, n), 1e-9),
            ("willr", oscillators.willr_nb(H, L, Cc, N), talib.WILLR(h, lo, c, n), 1e-9),
            ("mfi", oscillators.mfi_nb(H, L, Cc, V, N), talib.MFI(h, lo, c, v, n), 1e-9),
            ("adx", oscillators.adx_nb(H, L, Cc, N), talib.ADX(h, lo, c, n), 1e-9),
            ("stoch_d", oscillators.stoch_d_nb(H, L, Cc, N, i64(3), i64(2)), talib.STOCH(h, lo, c, n, 3, 0, 2, 0)[1],
             1e-9),
            ("obv", oscillators.obv_nb(Cc, V), talib.OBV(c, v), 0),
        ]
        for name, ours, ref, atol in cases:
            ours = ours[:, 0]
            np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"{name}({n}) NaN pattern")
            m = ~np.isnan(ref)
            np.testing.assert_allclose(ours[m], ref[m], rtol=1e-8, atol=atol, err_msg=f"{name}({n}) seed {seed}")


# --------------------------------------------------------------------------- NaN-as-missing property

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays
except ImportError:  # pragma: no cover
    given = None


if given is not None:

    @settings(max_examples=60, deadline=None)
    @given(
        mask=arrays(np.bool_, st.integers(0, 120), elements=st.booleans()),
        n=st.integers(1, 12),
        seed=st.integers(0, 2**16),
    )
    def test_nan_rows_are_absent(mask, n, seed):
        """Output on NaN-gapped input == output on the compressed input, scattered back."""
        T = mask.shape[0]
        h, lo, c, _v = ohlcv(T, seed)
        hg, lg, cg = h.copy(), lo.copy(), c.copy()
        # NaN in different inputs on different rows: any NaN makes the row absent
        hg[mask & (np.arange(T) % 3 == 0)] = np.nan
        lg[mask & (np.arange(T) % 3 == 1)] = np.nan
        cg[mask & (np.arange(T) % 3 == 2)] = np.nan
        valid = ~(np.isnan(hg) | np.isnan(lg) | np.isnan(cg))
        N = i64(n)
        for fn in (oscillators.atr_nb, oscillators.adx_nb, oscillators.cci_nb, oscillators.willr_nb):
            gapped = fn(col(hg), col(lg), col(cg), N)[:, 0]
            compact = fn(col(h[valid]), col(lo[valid]), col(c[valid]), N)[:, 0]
            expected = np.full(T, np.nan)
            expected[valid] = compact
            np.testing.assert_array_equal(gapped, expected)
        valid_c = ~np.isnan(cg)
        for fn in (smoothing.ema_nb, smoothing.rsi_nb, rolling.stddev_nb, transforms.pct_change_nb):
            gapped = fn(col(cg), N)[:, 0]
            expected = np.full(T, np.nan)
            expected[valid_c] = fn(col(c[valid_c]), N)[:, 0]
            np.testing.assert_array_equal(gapped, expected)
        r = events.rising_nb(col(cg), N)[:, 0]
        expected_r = np.zeros(T, dtype=bool)
        expected_r[valid_c] = events.rising_nb(col(c[valid_c]), N)[:, 0]
        np.testing.assert_array_equal(r, expected_r)


# --------------------------------------------------------------------------- package hygiene


def _run_python(code: str, env: dict[str, str] | None = None) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False,
                         env=env)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_importing_ruleengine_does_not_import_numba():
    out = _run_python("import sys, ruleengine, ruleengine.kernels; "
                      "print('numba' in sys.modules, 'pandas' in sys.modules)")
    assert out == "False False"


def test_kernel_modules_do_not_import_pandas_and_compile_nothing_at_import():
    code = (
        "import sys\n"
        "import ruleengine.kernels.rolling, ruleengine.kernels.smoothing, ruleengine.kernels.oscillators\n"
        "import ruleengine.kernels.transforms, ruleengine.kernels.events, ruleengine.kernels._util\n"
        "import ruleengine.kernels.regression, ruleengine.kernels.trend, ruleengine.kernels.channels\n"
        "from numba.core.registry import CPUDispatcher\n"
        "mods = [m for k, m in sys.modules.items() if k.startswith('ruleengine.kernels.')]\n"
        "disp = [o for m in mods for o in vars(m).values() if isinstance(o, CPUDispatcher)]\n"
        "print('pandas' in sys.modules, len(disp) > 40, sum(len(d.signatures) for d in disp))\n"
    )
    assert _run_python(code) == "False True 0"


def test_kernel_sources_follow_the_rules():
    init = (KERNEL_DIR / "__init__.py").read_text()
    assert not [n for n in ast.parse(init).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    allowed_imports = {"numba", "numpy", "math", "typing"}
    for mod in [*MODULES, "_columns"]:
        src = (KERNEL_DIR / f"{mod}.py").read_text()
        assert len(src.splitlines()) <= 600, mod
        tree = ast.parse(src)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert {a.name.split(".")[0] for a in node.names} <= allowed_imports, mod
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                assert node.module.split(".")[0] in allowed_imports, mod
        if mod == "_columns":  # the driver generator: plain Python, run once at import
            continue
        for fn in [n for n in tree.body if isinstance(n, ast.FunctionDef)]:
            assert len(fn.decorator_list) == 1, f"{mod}.{fn.name}"
            # cached, and nogil: execute.py runs blocks of symbols in parallel threads
            assert ast.unparse(fn.decorator_list[0]) == "numba.njit(cache=True, nogil=True)", f"{mod}.{fn.name}"
            assert ast.get_docstring(fn) or fn.name.startswith("_"), f"{mod}.{fn.name} lacks a docstring"
            public = not fn.name.startswith("_")
            if public and mod != "_util":  # the naming rule: a 1-D kernel is <op>_1d_nb
                assert fn.name.endswith("_1d_nb"), f"{mod}.{fn.name}"


ORACLE_WORDS = ("TA-Lib", "pandas", "numpy", "Python loop")


TIME_SERIES_MODULES = [rolling, smoothing, oscillators, regression, trend, channels, transforms, events]


def _drivers():
    """(module, name, dispatcher) of every 2-D driver: the public ``<op>_nb`` that are not 1-D kernels."""
    from numba.core.registry import CPUDispatcher

    for mod in [*TIME_SERIES_MODULES, cross]:
        for name, obj in vars(mod).items():
            if (isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == mod.__name__
                    and not name.startswith("_") and not name.endswith("_1d_nb")):
                yield mod, name, obj


def test_drivers_follow_the_naming_rule_cached_and_nogil():
    """Every driver ``<op>_nb`` (generated or not) is cached (numba's on-disk cache) and nogil, is defined
    where its kernel is (its cache is invalidated with the kernel's module), and its docstring names its
    pandas / TA-Lib / numpy equivalent; every 1-D kernel names its oracle too (or the kernel it extends)."""
    from numba.core.caching import NullCache

    drivers = list(_drivers())
    assert len(drivers) == sum(1 for f in FUNCTIONS.values() if f.kernel)
    for mod, name, d in drivers:
        assert name.endswith("_nb") and d.__name__ == name and d.__module__ == mod.__name__, name
        assert d.targetoptions.get("nogil") is True, name
        assert not isinstance(d._cache, NullCache), f"{name} is not cached"
        assert d.py_func.__code__.co_filename == str(KERNEL_DIR / f"{mod.__name__.split('.')[-1]}.py"), name
        assert any(w in (d.__doc__ or "") for w in ORACLE_WORDS), f"{name}: no oracle named"
    for mod in TIME_SERIES_MODULES:
        for name, obj in vars(mod).items():
            if name.endswith("_1d_nb"):
                doc = obj.__doc__ or ""
                assert any(w in doc for w in (*ORACLE_WORDS, ":func:`")), f"{name}: no oracle named"


def test_each_driver_runs_one_kernel():
    """A 2-D driver calls one 1-D kernel (EMA / RSI also its two-column variant) in its own column loop,
    never a shared driver with a runtime switch over kernels: numba compiles every branch, so the first call
    of one driver would compile them all (see test_kernels_fastpath)."""
    from numba.core.registry import CPUDispatcher

    for mod, name, d in _drivers():
        if mod is cross:  # cross-sectional: one pass over each bar's row, no per-column 1-D kernel
            continue
        called = {k: v for k, v in d.py_func.__globals__.items() if isinstance(v, CPUDispatcher)
                  and k in d.py_func.__code__.co_names}
        kernels = {k: v.__name__ for k, v in called.items() if v.__name__.endswith("_1d_nb")}
        assert set(kernels) <= {"kernel", "pair"} and "kernel" in kernels, f"{name} calls {kernels}"
        if "pair" in kernels:
            assert kernels["pair"] == kernels["kernel"].replace("_1d_nb", "2_1d_nb"), name


@pytest.mark.parametrize("kwargs, message", [
    ({"series": ("x",), "params": ("out",)}, "used by the templates"),
    ({"series": ("a", "b", "d", "e", "f"), "params": ("n",)}, "missing rule takes"),
    ({"series": ("x",), "params": ("k:f",)}, "missing rule takes"),
    ({"series": ("x",), "params": ("n",), "scratch": 3}, "not enough scratch"),
    ({"series": ("x",), "params": ("n",), "options": ("3",)}, "unsupported option"),
    ({"series": ("x",), "params": ("n",), "positional": True, "scratch": 1}, "positional driver takes"),
])
def test_the_driver_generator_rejects_what_its_templates_cannot_make(kwargs, message):
    from ruleengine.kernels._columns import drive

    with pytest.raises((ValueError, TypeError), match=message):
        drive(rolling.sma_1d_nb, "bad_nb", doc="pandas", **kwargs)


def test_a_driver_made_from_a_kernel_hits_numbas_disk_cache(tmp_path):
    """Generated drivers are cached like hand-written ones: a second fresh process loads them (no compile)."""
    code = (
        "import numpy as np\n"
        "from ruleengine.kernels import rolling, smoothing, events\n"
        "x = np.asfortranarray(np.random.default_rng(0).random((60, 3)) + 1.0)\n"
        "n = np.full(3, 5, dtype=np.int64)\n"
        "for fn, args in [(rolling.bb_upper_nb, (x, n, np.full(3, 2.0))), (smoothing.rsi_nb, (x, n)),\n"
        "                 (events.crosses_above_nb, (x, x[::-1].copy(order='F')))]:\n"
        "    fn(*args)\n"
        "    print(fn.__name__, sum(fn.stats.cache_hits.values()), sum(fn.stats.cache_misses.values()))\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    first = _run_python(code, env)
    assert first.splitlines() == ["bb_upper_nb 0 1", "rsi_nb 0 1", "crosses_above_nb 0 1"]
    assert _run_python(code, env).splitlines() == ["bb_upper_nb 1 0", "rsi_nb 1 0", "crosses_above_nb 1 0"]


def test_column_indexed_crosses_equal_gathered_crosses() -> None:
    from ruleengine.kernels.events import crosses_above_nb, crosses_below_nb
    from ruleengine.kernels.gather import crosses_above_cols_nb, crosses_below_cols_nb

    rng = np.random.default_rng(11)
    a = np.asfortranarray(rng.normal(size=(300, 7)).cumsum(axis=0))
    b = np.asfortranarray(rng.normal(size=(300, 5)).cumsum(axis=0))
    a[[0, 50, 51], 2] = np.nan
    ia = np.array([0, 2, 2, 6, 3], dtype=np.int64)
    ib = np.array([4, 0, 1, 1, 3], dtype=np.int64)
    ga, gb = np.asfortranarray(a[:, ia]), np.asfortranarray(b[:, ib])
    np.testing.assert_array_equal(crosses_above_cols_nb(a, ia, b, ib), crosses_above_nb(ga, gb))
    np.testing.assert_array_equal(crosses_below_cols_nb(a, ia, b, ib), crosses_below_nb(ga, gb))
