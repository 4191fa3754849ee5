"""Oracle tests of the numba kernels on REAL market data: ../shared/data/daily.parquet where it exists, else
the committed sample of it (tests/fixtures/daily_sample: the same symbols, 500 bars each; `real_daily`).

Every 2-D driver is compared with TA-Lib (default settings, unstable period 0)
or a pandas reference:

* gap-free series from several symbols and several windows (2 .. 200), rtol 1e-8
  (plus a tiny atol only for quantities that cross 0), with the leading-NaN
  count checked against the documented lookback;
* the same series with injected NaN gaps (leading NaNs, scattered rows, a run;
  different rows in different inputs) against ``oracle(dropna).reindex`` for the
  NaN-as-missing functions, and against the positional oracle for the others;
* series shorter than / equal to the lookback;
* batched multi-column calls (C > 1, a DIFFERENT window per column, columns with
  their own NaN padding) that must equal the per-column calls bit for bit;
* output layout (F-contiguous) and dtype.

Symbols: SPY (Stooq ETF), AAPL (cn), LEHMQ (ml4t: penny-priced stub with long
flat stretches), HPCCP (ml4t: thin, zero-volume days), WWY (ml4t: 949 of 950
bars flat with zero volume -- every zero-range / zero-division rule).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import talib  # the oracle (pyproject [test]): missing means a broken set-up, not a skip

from ruleengine.compile.execute import kernel
from ruleengine.kernels import channels, events, oscillators, regression, rolling, smoothing, transforms, trend
from ruleengine.lang.functions import FUNCTIONS

SYMBOLS = ["SPY", "AAPL", "LEHMQ", "HPCCP", "WWY"]
RTOL = 1e-8


# --------------------------------------------------------------------------- inputs


def _tp(df):
    return (df["high"] + df["low"] + df["close"]) / 3


INPUTS: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "high": lambda df: df["high"],
    "low": lambda df: df["low"],
    "close": lambda df: df["close"],
    "volume": lambda df: df["volume"],
    # a second float series for the crossing functions: a (NaN-led) moving average
    "close_ma20": lambda df: df["close"].rolling(20).mean(),
    # boolean conditions for the event functions
    "up1pct": lambda df: (df["close"] / df["close"].shift(1) - 1) > 0.01,
    "vol_spike": lambda df: df["volume"] > df["volume"].rolling(50, min_periods=1).mean() * 1.5,
}


# --------------------------------------------------------------------------- oracles


def _np(s):
    return np.asarray(s, dtype=float)


def o_talib1(fn, **kw):
    return lambda x, *p: fn(_np(x), *p, **kw)


def o_bb(which):
    def f(x, n, k):
        u, m, lo = talib.BBANDS(_np(x), n, k, k, 0)
        if which == "upper":
            return u
        if which == "middle":
            return m
        if which == "lower":
            return lo
        with np.errstate(divide="ignore", invalid="ignore"):
            w = u - lo
            if which == "percent":
                return np.where(w != 0, (_np(x) - lo) / w, np.nan)
            return np.where(m != 0, w / m, np.nan)

    return f


def o_keltner(side):
    """Keltner channel in pandas from TA-Lib's EMA (middle) and ATR (band width): middle + side * k * atr."""
    def run(h, lo, c, n, k):
        mid = pd.Series(talib.EMA(_np(c), n) if n > 1 else _np(c))
        if side == 0:
            return mid.to_numpy()
        atr = pd.Series(talib.ATR(_np(h), _np(lo), _np(c), n))
        return (mid + side * (k * atr)).to_numpy()
    return run


def o_donchian(side):
    """Donchian channel in pandas: rolling max of high (1), min of low (-1), or their mean (0)."""
    def run(h, lo, n):
        hi, low = pd.Series(_np(h)).rolling(n).max(), pd.Series(_np(lo)).rolling(n).min()
        return (hi if side > 0 else low if side < 0 else (hi + low) / 2).to_numpy()
    return run


def o_zscore(x, n):
    # pandas' formula, with TA-Lib's (accurate) population std: pandas' own rolling
    # std is only good to ~1e-8 on real prices (see test_zscore_vs_pure_pandas).
    xs = pd.Series(_np(x))
    sd = talib.STDDEV(_np(x), n, 1) if n > 1 else np.zeros(len(xs))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (xs - xs.rolling(n).mean()).to_numpy() / sd
    return np.where(sd > 0, z, np.nan)


def o_vwap(h, lo, c, v, n):
    tp = (pd.Series(_np(h)) + pd.Series(_np(lo)) + pd.Series(_np(c))) / 3
    vs = pd.Series(_np(v))
    num = (tp * vs).rolling(n).sum()
    den = vs.rolling(n).sum()
    return (num / den).where(den != 0).to_numpy()


def o_macd(which):
    def f(x, fast, slow, sig):
        if which == "line":  # signal=1: TA-Lib outputs the line from max(fast, slow) - 1
            return talib.MACD(_np(x), fast, slow, 1)[0]
        _m, s, h = talib.MACD(_np(x), fast, slow, sig)
        return s if which == "signal" else h

    return f


def o_stoch(which):
    def f(h, lo, c, fk, sk, sd):
        if which == "k":  # slowd=1: TA-Lib outputs slowk from fastk + slowk - 2
            return talib.STOCH(_np(h), _np(lo), _np(c), fk, sk, 0, 1, 0)[0]
        return talib.STOCH(_np(h), _np(lo), _np(c), fk, sk, 0, sd, 0)[1]

    return f


def o_pct_change(x, n):
    xs = pd.Series(_np(x))
    return (xs / xs.shift(n) - 1).to_numpy()


def o_log_return(x, n):
    xs = pd.Series(_np(x))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log((xs / xs.shift(n)).to_numpy())


def o_shift(x, n):
    return pd.Series(_np(x)).shift(n).to_numpy()


def o_rising(sign):
    def f(x, n):
        d = pd.Series(_np(x)).diff()
        hit = (d > 0) if sign > 0 else (d < 0)
        return (hit.astype(float).rolling(n).sum() == n).to_numpy()

    return f


def o_crosses(sign):
    def f(a, b):
        a = _np(a)
        b = _np(b)
        out = np.zeros(len(a), dtype=bool)
        if sign > 0:
            out[1:] = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
        else:
            out[1:] = (a[1:] < b[1:]) & (a[:-1] >= b[:-1])
        return out

    return f


def o_bars_since(cond):
    out = np.full(len(cond), np.nan)
    last = None
    for t, v in enumerate(np.asarray(cond, dtype=bool)):
        if v:
            last = t
        if last is not None:
            out[t] = t - last
    return out


def o_within(cond, n):
    return pd.Series(np.asarray(cond, dtype=bool)).rolling(n, min_periods=1).max().astype(bool).to_numpy()


def o_count(cond, n):
    return pd.Series(np.asarray(cond, dtype=bool)).astype(float).rolling(n).sum().to_numpy()


# --------------------------------------------------------------------------- specs


@dataclass
class Spec:
    name: str
    driver: Callable
    inputs: tuple[str, ...]
    params: list[tuple]
    ptypes: str  # one char per param: "i" int64 window, "f" float64
    oracle: Callable
    lookback: Callable | None  # leading NaN count on gap-free data, None for bool outputs
    atol: float = 0.0
    kind: str = "absent"  # "absent": NaN-as-missing; "positional"; "bool_in": bool inputs
    out: str = "f"  # "f" float64, "b" bool
    data_nan: bool = False  # may also be NaN after the lookback (e.g. zscore where std == 0)


W = [(2,), (5,), (14,), (50,), (200,)]
MACD_P = [(12, 26, 9), (26, 12, 9), (2, 3, 2), (5, 35, 5), (50, 200, 20)]
STOCH_P = [(5, 3, 3), (14, 3, 5), (2, 1, 1), (21, 5, 2), (100, 10, 10)]
BB_P = [(2, 2.0), (5, 1.0), (20, 2.0), (50, 2.5), (200, 1.5)]
KC_P = [(1, 1.0), (2, 2.0), (10, 1.5), (20, 2.0), (100, 3.0)]


def lb_n1(n, *_):
    return n - 1


def lb_n(n, *_):
    return n


def lb_macd_line(f, s, g):
    return max(f, s) - 1


def lb_macd_sig(f, s, g):
    return max(f, s) + g - 2


SPECS = [
    Spec("sma", rolling.sma_nb, ("close",), W, "i", o_talib1(talib.SMA), lb_n1),
    Spec("mean", rolling.mean_nb, ("close",), W, "i", lambda x, n: pd.Series(_np(x)).rolling(n).mean().to_numpy(),
         lb_n1),
    Spec("wma", rolling.wma_nb, ("close",), W, "i", o_talib1(talib.WMA), lb_n1),
    Spec("sum", rolling.sum_nb, ("volume",), W, "i", o_talib1(talib.SUM), lb_n1),
    Spec("stddev", rolling.stddev_nb, ("close",), W, "i", lambda x, n: talib.STDDEV(_np(x), n, 1), lb_n1),
    Spec("zscore", rolling.zscore_nb, ("close",), W, "i", o_zscore, lb_n1, atol=1e-9, data_nan=True),
    Spec("highest", rolling.highest_nb, ("high",), W, "i", o_talib1(talib.MAX), lb_n1),
    Spec("lowest", rolling.lowest_nb, ("low",), W, "i", o_talib1(talib.MIN), lb_n1),
    Spec("bb_upper", rolling.bb_upper_nb, ("close",), BB_P, "if", o_bb("upper"), lb_n1),
    Spec("bb_middle", rolling.bb_middle_nb, ("close",), BB_P, "if", o_bb("middle"), lb_n1),
    Spec("bb_lower", rolling.bb_lower_nb, ("close",), BB_P, "if", o_bb("lower"), lb_n1),
    Spec("bb_percent", rolling.bb_percent_nb, ("close",), BB_P, "if", o_bb("percent"), lb_n1, atol=1e-9, data_nan=True),
    Spec("bb_width", rolling.bb_width_nb, ("close",), BB_P, "if", o_bb("width"), lb_n1),
    Spec("keltner_upper", channels.keltner_upper_nb, ("high", "low", "close"), KC_P, "if", o_keltner(+1), lb_n),
    Spec("keltner_middle", channels.keltner_middle_nb, ("high", "low", "close"), KC_P, "if", o_keltner(0), lb_n1),
    Spec("keltner_lower", channels.keltner_lower_nb, ("high", "low", "close"), KC_P, "if", o_keltner(-1), lb_n),
    Spec("donchian_upper", channels.donchian_upper_nb, ("high", "low"), W, "i", o_donchian(1), lb_n1),
    Spec("donchian_middle", channels.donchian_middle_nb, ("high", "low"), W, "i", o_donchian(0), lb_n1),
    Spec("donchian_lower", channels.donchian_lower_nb, ("high", "low"), W, "i", o_donchian(-1), lb_n1),
    Spec("vwap", rolling.vwap_nb, ("high", "low", "close", "volume"), W, "i", o_vwap, lb_n1, data_nan=True),
    Spec("ema", smoothing.ema_nb, ("close",), W, "i", o_talib1(talib.EMA), lb_n1),
    Spec("dema", smoothing.dema_nb, ("close",), [(1,)] + W, "i", o_talib1(talib.DEMA), lambda n: 2 * n - 2),
    Spec("tema", smoothing.tema_nb, ("close",), [(1,)] + W, "i", o_talib1(talib.TEMA), lambda n: 3 * n - 3),
    Spec("trix", smoothing.trix_nb, ("close",), [(1,)] + W, "i", o_talib1(talib.TRIX), lambda n: 3 * n - 2,
         atol=1e-10),
    Spec("kama", smoothing.kama_nb, ("close",), W, "i", o_talib1(talib.KAMA), lb_n),
    Spec("rsi", smoothing.rsi_nb, ("close",), W, "i", o_talib1(talib.RSI), lb_n),
    Spec("macd", smoothing.macd_nb, ("close",), MACD_P, "iii", o_macd("line"), lb_macd_line, atol=1e-10),
    Spec("macd_signal", smoothing.macd_signal_nb, ("close",), MACD_P, "iii", o_macd("signal"), lb_macd_sig, atol=1e-10),
    Spec("macd_hist", smoothing.macd_hist_nb, ("close",), MACD_P, "iii", o_macd("hist"), lb_macd_sig, atol=1e-10),
    Spec("roc", oscillators.roc_nb, ("close",), W, "i", o_talib1(talib.ROC), lb_n, atol=1e-9),
    Spec("mom", oscillators.mom_nb, ("close",), W, "i", o_talib1(talib.MOM), lb_n, atol=1e-10),
    Spec("atr", oscillators.atr_nb, ("high", "low", "close"), [(1,)] + W, "i",
         lambda h, lo, c, n: talib.ATR(_np(h), _np(lo), _np(c), n), lb_n),
    Spec("natr", oscillators.natr_nb, ("high", "low", "close"), [(1,)] + W, "i",
         lambda h, lo, c, n: talib.NATR(_np(h), _np(lo), _np(c), n), lb_n),
    Spec("cci", oscillators.cci_nb, ("high", "low", "close"), W, "i",
         lambda h, lo, c, n: talib.CCI(_np(h), _np(lo), _np(c), n), lb_n1, atol=1e-9),
    Spec("willr", oscillators.willr_nb, ("high", "low", "close"), W, "i",
         lambda h, lo, c, n: talib.WILLR(_np(h), _np(lo), _np(c), n), lb_n1, atol=1e-10),
    Spec("mfi", oscillators.mfi_nb, ("high", "low", "close", "volume"), W, "i",
         lambda h, lo, c, v, n: talib.MFI(_np(h), _np(lo), _np(c), _np(v), n), lb_n, atol=1e-9),
    Spec("adx", oscillators.adx_nb, ("high", "low", "close"), W[:-1] + [(100,)], "i",
         lambda h, lo, c, n: talib.ADX(_np(h), _np(lo), _np(c), n), lambda n: 2 * n - 1),
    Spec("obv", oscillators.obv_nb, ("close", "volume"), [()], "",
         lambda c, v: talib.OBV(_np(c), _np(v)), lambda: 0),
    Spec("ppo", smoothing.ppo_nb, ("close",), [(12, 26), (26, 12), (2, 3), (2, 5), (50, 200)], "ii",
         lambda x, f, s: talib.PPO(_np(x), f, s, 1), lambda f, s: max(f, s) - 1, atol=1e-10),
    Spec("plus_di", trend.plus_di_nb, ("high", "low", "close"), W[:-1] + [(100,)], "i",
         lambda h, lo, c, n: talib.PLUS_DI(_np(h), _np(lo), _np(c), n), lb_n, atol=1e-10),
    Spec("minus_di", trend.minus_di_nb, ("high", "low", "close"), W[:-1] + [(100,)], "i",
         lambda h, lo, c, n: talib.MINUS_DI(_np(h), _np(lo), _np(c), n), lb_n, atol=1e-10),
    Spec("ultosc", oscillators.ultosc_nb, ("high", "low", "close"), [(7, 14, 28), (1, 2, 3), (5, 10, 50), (2, 20, 200)],
         "iii", lambda h, lo, c, a, b, d: talib.ULTOSC(_np(h), _np(lo), _np(c), a, b, d),
         lambda a, b, d: max(a, b, d), atol=1e-10),
    Spec("sar", trend.sar_nb, ("high", "low"), [(0.02, 0.2), (0.01, 0.1), (0.3, 0.2), (0.05, 0.5)], "ff",
         lambda h, lo, a, m: talib.SAR(_np(h), _np(lo), a, m), lambda a, m: 1),
    Spec("ad", oscillators.ad_nb, ("high", "low", "close", "volume"), [()], "",
         lambda h, lo, c, v: talib.AD(_np(h), _np(lo), _np(c), _np(v)), lambda: 0, atol=1e-6),
    Spec("stoch_k", oscillators.stoch_k_nb, ("high", "low", "close"), STOCH_P, "iii", o_stoch("k"),
         lambda fk, sk, sd: fk + sk - 2, atol=1e-10),
    Spec("stoch_d", oscillators.stoch_d_nb, ("high", "low", "close"), STOCH_P, "iii", o_stoch("d"),
         lambda fk, sk, sd: fk + sk + sd - 3, atol=1e-10),
    Spec("ts_rank", regression.ts_rank_nb, ("close",), W, "i",
         lambda x, n: pd.Series(_np(x)).rolling(n).rank(method="average", pct=True).to_numpy(), lb_n1),
    Spec("corr", regression.corr_nb, ("close", "volume"), W, "i",
         lambda a, b, n: talib.CORREL(_np(a), _np(b), n), lb_n1, atol=1e-10),
    Spec("beta", regression.beta_nb, ("close", "high"), W, "i",
         lambda x, m, n: talib.BETA(_np(m), _np(x), n), lb_n, atol=1e-10),
    Spec("slope", regression.slope_nb, ("close",), W, "i", o_talib1(talib.LINEARREG_SLOPE), lb_n1, atol=1e-10),
    Spec("pct_change", transforms.pct_change_nb, ("close",), [(1,)] + W, "i", o_pct_change, lb_n, atol=1e-12),
    Spec("log_return", transforms.log_return_nb, ("close",), [(1,)] + W, "i", o_log_return, lb_n, atol=1e-12),
    Spec("cumsum", transforms.cumsum_nb, ("close",), [()], "", lambda x: pd.Series(_np(x)).cumsum().to_numpy(),
         lambda: 0),
    Spec("shift", transforms.shift_nb, ("close",), [(0,), (1,)] + W, "i", o_shift, lb_n, kind="positional"),
    Spec("rising", events.rising_nb, ("close",), [(1,), (2,), (3,), (5,)], "i", o_rising(+1), None, out="b"),
    Spec("falling", events.falling_nb, ("close",), [(1,), (2,), (3,), (5,)], "i", o_rising(-1), None, out="b"),
    Spec("crosses_above", events.crosses_above_nb, ("close", "close_ma20"), [()], "", o_crosses(+1), None,
         kind="positional", out="b"),
    Spec("crosses_below", events.crosses_below_nb, ("close", "close_ma20"), [()], "", o_crosses(-1), None,
         kind="positional", out="b"),
    Spec("bars_since", events.bars_since_nb, ("up1pct",), [()], "", o_bars_since, None, kind="bool_in"),
    Spec("within", events.within_nb, ("vol_spike",), [(1,), (2,), (5,), (20,)], "i", o_within, None,
         kind="bool_in", out="b"),
    Spec("count", events.count_nb, ("up1pct",), [(1,), (2,), (5,), (20,), (200,)], "i", o_count, lambda n: n - 1,
         kind="bool_in"),
]
SPEC_IDS = [s.name for s in SPECS]
NAN_SPECS = [s for s in SPECS if s.kind != "bool_in"]  # bool inputs cannot carry NaN




def test_every_registry_kernel_has_one_oracle_row():
    """SPECS is THE oracle table: every registry function with a kernel has exactly one row, under its
    registry name, whose driver is the kernel the executor calls (no data needed)."""
    # cross-sectional kernels have their pandas oracle in tests/test_cross_section.py (rows over a universe)
    with_kernel = {name: f.kernel for name, f in FUNCTIONS.items() if f.kernel and not f.cross_sectional}
    assert len(SPEC_IDS) == len(set(SPEC_IDS))
    missing = sorted(set(with_kernel) - set(SPEC_IDS))
    assert not missing, f"registry functions with a kernel but no oracle row in SPECS: {missing}"
    assert not sorted(set(SPEC_IDS) - set(with_kernel)), "oracle rows for names the registry does not know"
    for spec in SPECS:
        assert spec.driver is kernel(with_kernel[spec.name]), f"{spec.name}: row tests another driver"


# --------------------------------------------------------------------------- helpers


def as_col(a: np.ndarray) -> np.ndarray:
    """1-D -> (T, 1) Fortran-ordered."""
    return np.asfortranarray(np.asarray(a).reshape(-1, 1))


def param_arrays(spec: Spec, params_per_col: list[tuple]) -> list[np.ndarray]:
    out = []
    for j, t in enumerate(spec.ptypes):
        dtype = np.int64 if t == "i" else np.float64
        out.append(np.array([p[j] for p in params_per_col], dtype=dtype))
    return out


def run(spec: Spec, series: list[np.ndarray], params: tuple) -> np.ndarray:
    """Call the 2-D driver on a single column and return the 1-D result (checks layout/dtype)."""
    res = spec.driver(*[as_col(s) for s in series], *param_arrays(spec, [params]))
    check_layout(spec, res, len(series[0]), 1)
    return res[:, 0]


def check_layout(spec: Spec, res: np.ndarray, T: int, C: int) -> None:
    assert res.shape == (T, C)
    assert res.dtype == (np.bool_ if spec.out == "b" else np.float64)
    assert res.flags.f_contiguous


def assert_match(ours, ref, atol, label):
    ref = np.asarray(ref)
    if ref.dtype == bool or ours.dtype == bool:
        np.testing.assert_array_equal(ours, ref.astype(bool), err_msg=label)
        return
    ref = ref.astype(float)
    nan_o = np.isnan(ours)
    nan_r = np.isnan(ref)
    if not np.array_equal(nan_o, nan_r):
        rows = np.flatnonzero(nan_o != nan_r)[:5]
        raise AssertionError(f"{label}: NaN pattern differs at rows {rows}: ours={ours[rows]} ref={ref[rows]}")
    m = ~nan_r
    np.testing.assert_allclose(ours[m], ref[m], rtol=RTOL, atol=atol, err_msg=label)


def build_inputs(spec: Spec, df: pd.DataFrame) -> list[np.ndarray]:
    out = []
    for name in spec.inputs:
        s = INPUTS[name](df)
        out.append(s.to_numpy(dtype=bool) if spec.kind == "bool_in" else s.to_numpy(dtype=float))
    return out


def oracle(spec: Spec, series: list[np.ndarray], params: tuple) -> np.ndarray:
    return np.asarray(spec.oracle(*series, *params))


def inject_gaps(series: list[np.ndarray]) -> list[np.ndarray]:
    """NaN gaps: 5 leading rows (all inputs), scattered rows (different per input), a run of 25."""
    T = len(series[0])
    out = []
    for k, s in enumerate(series):
        s = s.astype(float).copy()
        s[:5] = np.nan
        s[np.arange(40 + 7 * k, T, 97)] = np.nan
        if k == 0:
            s[T // 2 : T // 2 + 25] = np.nan
        out.append(s)
    return out


def oracle_absent(spec: Spec, series: list[np.ndarray], params: tuple) -> np.ndarray:
    """oracle(dropna rows where any input is NaN).reindex(all rows)."""
    valid = np.ones(len(series[0]), dtype=bool)
    for s in series:
        valid &= ~np.isnan(s)
    res = oracle(spec, [s[valid] for s in series], params)
    if spec.out == "b":
        full = np.zeros(len(valid), dtype=bool)
    else:
        full = np.full(len(valid), np.nan)
    full[valid] = res
    return full


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("symbol", SYMBOLS)
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_gap_free_matches_oracle(spec, symbol, real_ohlcv_of):
    df = real_ohlcv_of(symbol)
    series = build_inputs(spec, df)
    for params in spec.params:
        label = f"{spec.name}{params} {symbol}"
        ours = run(spec, series, params)
        assert_match(ours, oracle(spec, series, params), spec.atol, label)
        if spec.lookback is not None and spec.kind == "absent":
            lb = spec.lookback(*params)
            lead = int(np.argmax(~np.isnan(ours))) if (~np.isnan(ours)).any() else len(ours)
            if spec.data_nan:
                assert lead >= min(lb, len(ours)), f"{label}: {lead} leading NaN, documented lookback {lb}"
            else:
                assert lead == min(lb, len(ours)), f"{label}: {lead} leading NaN, documented lookback {lb}"


@pytest.mark.parametrize("symbol", ["SPY", "LEHMQ", "HPCCP", "WWY"])
@pytest.mark.parametrize("spec", NAN_SPECS, ids=[s.name for s in NAN_SPECS])
def test_nan_gaps(spec, symbol, real_ohlcv_of):
    df = real_ohlcv_of(symbol)
    series = build_inputs(spec, df)
    gapped = inject_gaps(series)
    if spec.name.startswith("crosses"):
        gapped[1] = series[1].copy()  # the MA keeps its own leading NaN, plus scattered gaps
        gapped[1][np.arange(60, len(gapped[1]), 131)] = np.nan
    for params in spec.params:
        label = f"{spec.name}{params} {symbol} gapped"
        ours = run(spec, gapped, params)
        if spec.kind == "positional":
            ref = oracle(spec, gapped, params)
        else:
            ref = oracle_absent(spec, gapped, params)
        assert_match(ours, ref, spec.atol, label)


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_short_series(spec, real_ohlcv_of):
    df = real_ohlcv_of("AAPL")
    series = build_inputs(spec, df)
    for params in spec.params:
        lb = spec.lookback(*params) if spec.lookback is not None else 3
        for T in sorted({0, 1, max(lb - 1, 0), lb, lb + 1}):
            short = [s[:T] for s in series]
            ours = run(spec, short, params)
            label = f"{spec.name}{params} T={T}"
            if T == 0:
                assert ours.shape == (0,)
                continue
            ref = oracle(spec, short, params)
            assert_match(ours, ref, spec.atol, label)
            if spec.lookback is not None and spec.out == "f" and spec.kind != "bool_in":
                assert np.isnan(ours[: min(lb, T)]).all(), label


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_batched_columns_equal_single_columns(spec, real_ohlcv_of):
    """C > 1 with a DIFFERENT window per column (and per-column NaN padding from
    aligning symbols of different histories) equals the per-column calls exactly."""
    symbols = ["SPY", "AAPL", "LEHMQ", "HPCCP", "WWY"]
    frames = {s: real_ohlcv_of(s) for s in symbols}
    index = frames["SPY"].index
    for s in symbols[1:]:
        index = index.union(frames[s].index)
    cols = []
    for s in symbols:
        df = frames[s]
        ser = build_inputs(spec, df)
        aligned = []
        for a in ser:
            if spec.kind == "bool_in":
                full = np.zeros(len(index), dtype=bool)
            else:
                full = np.full(len(index), np.nan)
            full[index.get_indexer(df.index)] = a
            aligned.append(full)
        cols.append(aligned)
    C = len(symbols)
    params_per_col = [spec.params[j % len(spec.params)] for j in range(C)]
    inputs_2d = [np.asfortranarray(np.column_stack([cols[j][k] for j in range(C)])) for k in range(len(spec.inputs))]
    res = spec.driver(*inputs_2d, *param_arrays(spec, params_per_col))
    check_layout(spec, res, len(index), C)
    for j in range(C):
        single = run(spec, [cols[j][k] for k in range(len(spec.inputs))], params_per_col[j])
        np.testing.assert_array_equal(res[:, j], single, err_msg=f"{spec.name} column {j} {params_per_col[j]}")
    # and each column still matches the oracle on its own valid rows
    if spec.kind == "absent":
        for j in range(C):
            ref = oracle_absent(spec, [cols[j][k] for k in range(len(spec.inputs))], params_per_col[j])
            assert_match(res[:, j], ref, spec.atol, f"{spec.name} batched column {j}")


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_zscore_vs_pure_pandas(symbol, real_ohlcv_of):
    """Pure pandas oracle for zscore, within pandas' own accuracy.

    pandas' rolling std is an online algorithm: good to ~1e-9..1e-8 relative on
    ordinary prices, but only ~1e-6 on LEHMQ (prices fell from ~$100 to cents,
    and the running sums keep residue of the old magnitude; e.g. a 14-bar window
    with one outlier has z = sqrt(13) exactly, pandas gives 3.6055466 instead of
    3.6055513), and it returns residue (1e-8 .. 5e-6) instead of 0 on exactly flat
    windows, where zscore is NaN here (std == 0). The strict oracle test
    (test_gap_free_matches_oracle[zscore-*], rtol 1e-8) therefore uses pandas'
    formula with TA-Lib's STDDEV; this test pins the pure-pandas agreement.
    """
    x = real_ohlcv_of(symbol)["close"].reset_index(drop=True)
    for n in [2, 5, 14, 50, 200]:
        ours = run(SPECS[SPEC_IDS.index("zscore")], [x.to_numpy()], (n,))
        sd = x.rolling(n).std(ddof=0)
        ref = ((x - x.rolling(n).mean()) / sd).where(sd != 0).to_numpy()
        both = ~np.isnan(ours) & ~np.isnan(ref)
        np.testing.assert_allclose(ours[both], ref[both], rtol=1e-5, atol=1e-5)
        only_pd = ~np.isnan(ref) & np.isnan(ours)
        # rows where pandas has a value and we do not: windows that are exactly flat,
        # where pandas' rolling std leaves residue (up to ~5e-6 on LEHMQ's cent prices)
        flat = (x.rolling(n).max() == x.rolling(n).min()).to_numpy()
        assert flat[only_pd].all()
        assert not (np.isnan(ref) & ~np.isnan(ours))[n - 1 :].any()


def test_stoch_k_and_macd_equal_talib_default_output_range(real_ohlcv_of):
    """Where TA-Lib's full STOCH / MACD calls are defined, our slowk / macd line equal them."""
    df = real_ohlcv_of("SPY")
    h, lo, c = (df[k].to_numpy() for k in ("high", "low", "close"))
    k_ta, _ = talib.STOCH(h, lo, c, 14, 3, 0, 5, 0)
    k_ours = oscillators.stoch_k_nb(as_col(h), as_col(lo), as_col(c), *(np.array([v]) for v in (14, 3, 5)))[:, 0]
    m = ~np.isnan(k_ta)
    np.testing.assert_allclose(k_ours[m], k_ta[m], rtol=RTOL, atol=1e-10)
    assert np.isnan(k_ours[: 14 + 3 - 2]).all() and not np.isnan(k_ours[14 + 3 - 2])
    macd_ta, _, _ = talib.MACD(c, 12, 26, 9)
    macd_ours = smoothing.macd_nb(as_col(c), *(np.array([v]) for v in (12, 26, 9)))[:, 0]
    m = ~np.isnan(macd_ta)
    np.testing.assert_allclose(macd_ours[m], macd_ta[m], rtol=RTOL, atol=1e-10)
    assert np.isnan(macd_ours[:25]).all() and not np.isnan(macd_ours[25])
