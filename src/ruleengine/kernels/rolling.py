"""Rolling-window kernels: SMA/mean, WMA, SUM, STDDEV, z-score, MAX/MIN, Bollinger, VWAP.

1-D kernels (``<op>_1d_nb``) read gap-free float64 series and write their
result into a caller-provided 1-D output of the same length (NaN on the
lookback rows, every other row written once), following TA-Lib's algorithms;
the 2-D drivers (``<op>_nb``, made from them by ``_columns.drive``) take (T, C) Fortran-ordered float64 inputs plus
one int64 window (and, for Bollinger, one float64 k) per column, apply the
NaN-as-missing rule per column (gap-free columns in place, see ``_util``) and
return a new (T, C) F-ordered float64 array.

Lookbacks below are the number of leading NaN rows on gap-free data.
"""
import math

import numpy as np

from ._columns import drive
from ._numba import numba  # numba with the kernel cache stamp installed
from ._util import nan_head, rolling_max_into, rolling_min_into

# --------------------------------------------------------------------------- 1-D kernels


@numba.njit(cache=True, nogil=True)
def sma_1d_nb(x, n, out):
    """Simple moving average; oracle TA-Lib ``SMA`` (== pandas ``rolling(n).mean()``).

    Running sum in TA-Lib's order (add the new value, emit, drop the trailing one).

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
        out (float64[:]): output, len(x); lookback ``n - 1``.
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("window must be >= 1")
    nan_head(out, n - 1)
    if T < n:
        return
    total = 0.0
    for i in range(n - 1):
        total += x[i]
    for i in range(n - 1, T):
        total += x[i]
        tmp = total
        total -= x[i - n + 1]  # the trailing value
        out[i] = tmp / n


@numba.njit(cache=True, nogil=True)
def sum_1d_nb(x, n, out):
    """Rolling sum; oracle TA-Lib ``SUM``. Lookback ``n - 1``.

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
        out (float64[:]): output, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("window must be >= 1")
    nan_head(out, n - 1)
    if T < n:
        return
    total = 0.0
    for i in range(n - 1):
        total += x[i]
    for i in range(n - 1, T):
        total += x[i]
        tmp = total
        total -= x[i - n + 1]  # the trailing value
        out[i] = tmp


@numba.njit(cache=True, nogil=True)
def wma_1d_nb(x, n, out):
    """Linearly weighted moving average (weights 1..n, newest heaviest); oracle TA-Lib ``WMA``.

    TA-Lib's O(1) update (running weighted sum and running plain sum), with
    TA-Lib's re-anchoring of both sums from the window every 8*n bars (wma.c
    #255) so rounding residue cannot accumulate. Lookback ``n - 1``.

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
        out (float64[:]): output, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("window must be >= 1")
    nan_head(out, n - 1)
    if T < n:
        return
    if n == 1:
        for i in range(T):
            out[i] = x[i]
        return
    divider = float(n) * (n + 1) / 2.0
    period_sum = 0.0
    period_sub = 0.0
    in_idx = 0
    w = 1
    while in_idx < n - 1:
        v = x[in_idx]
        period_sub += v
        period_sum += v * w
        in_idx += 1
        w += 1
    bars_since_reseed = 8 * n
    trailing_idx = 0
    trailing_value = 0.0
    while in_idx < T:
        v = x[in_idx]
        period_sub += v
        period_sub -= trailing_value
        period_sum += v * n
        bars_since_reseed -= 1
        if bars_since_reseed <= 0:
            bars_since_reseed = 8 * n
            period_sub = 0.0
            period_sum = 0.0
            w = 1
            for j in range(in_idx - (n - 1), in_idx + 1):
                period_sub += x[j]
                period_sum += x[j] * w
                w += 1
        trailing_value = x[trailing_idx]
        trailing_idx += 1
        out[in_idx] = period_sum / divider
        period_sum -= period_sub
        in_idx += 1


FLAT_STD_RATIO = 1e-9  # a rolling std below this fraction of the window mean's magnitude is rounding, not spread


@numba.njit(cache=True, nogil=True)
def var_1d_nb(x, n, k, which, out):
    """Population variance over a rolling window; oracle TA-Lib ``VAR`` (nbdev=1).

    TA-Lib >= 0.8 cancellation-free algorithm (var.c, #118/#243), bit-identical to
    the installed TA-Lib 0.8.1: running sums of the deviations from a shift (the
    first window value), rebuilt with a fresh two-pass computation around the
    window mean whenever the variance falls below 1e-6 of the mean squared
    deviation it is extracted from, when the value leaving the window dwarfs the
    remaining sum of squares (1e6 x), or at least every 32*n bars; a rebuilt
    variance below 1e-12 of its mean square (a window flat to within the rounding
    of its own mean) is 0. Never negative; exactly 0 on a flat window. One departure from TA-Lib: a window
    whose std is below ``FLAT_STD_RATIO`` (1e-9) of its mean's magnitude is flat too (variance 0), so
    ``zscore(zscore(close, 2), 2)`` or ``bb_percent`` of a series that is constant up to rounding (the z-score
    of two bars is +-1 with a residue up to ~1e-12 from running sums over a price) is NaN instead of noise of
    order 1. Real prices never come near it (two-decimal prices that move at all within a window of 200 have a
    std above 1e-7 of their level).
    Lookback ``n - 1``.

    ``which`` selects what is written per row from the variance v, the
    population std sd = sqrt(v), the SMA mid (TA-Lib's running sum, computed in
    the same pass) and the bands up/lo = mid +/- sd * k (TA-Lib ``BBANDS``,
    matype=0): 0 v, 1 sd (TA-Lib ``STDDEV``), 2 z-score (x - mid) / sd (NaN where
    sd == 0), 3 up, 4 lo, 5 %B (x - lo) / (up - lo) (NaN where up == lo),
    6 width (up - lo) / mid (NaN where mid == 0).

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
        k (float): band multiplier (which 3..6).
        which (int): output selector (above).
        out (float64[:]): output, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("window must be >= 1")
    nan_head(out, n - 1)
    if T < n:
        return
    inv_n = 1.0 / n
    shift = x[0]
    t1 = 0.0
    t2 = 0.0
    total = 0.0  # the SMA's running sum (which >= 2)
    for j in range(n - 1):
        d = x[j] - shift
        t1 += d
        t2 += d * d
        total += x[j]
    bars_since_reseed = 32 * n
    for i in range(n - 1, T):
        d = x[i] - shift
        t1 += d
        t2 += d * d
        m1 = t1 * inv_n
        var = t2 * inv_n - m1 * m1
        d = x[i - n + 1] - shift  # remove the trailing value
        t1 -= d
        dd = d * d
        t2 -= dd
        bars_since_reseed -= 1
        if var < 0.000001 * (t2 * inv_n) or dd > 1000000.0 * t2 or bars_since_reseed <= 0:
            bars_since_reseed = 32 * n
            start = i - (n - 1)
            s = 0.0
            for j in range(start, i + 1):
                s += x[j]
            shift = s * inv_n
            t1 = 0.0
            t2 = 0.0
            for j in range(start, i + 1):
                d = x[j] - shift
                t1 += d
                t2 += d * d
            m1 = t1 * inv_n
            var = t2 * inv_n - m1 * m1
            if var < 0.000000000001 * (t2 * inv_n):
                var = 0.0
            d = x[start] - shift
            t1 -= d
            t2 -= d * d
        mean = shift + m1
        if var < FLAT_STD_RATIO * FLAT_STD_RATIO * (mean * mean):
            # flat to within the rounding of an upstream computation: a ratio over it (z-score, %B) would be
            # noise of order 1, not information
            var = 0.0
        if which == 0:
            out[i] = var
            continue
        sd = math.sqrt(var)
        if which == 1:
            out[i] = sd
            continue
        total += x[i]
        mid = total / n
        total -= x[i - n + 1]
        if which == 2:
            out[i] = (x[i] - mid) / sd if sd > 0.0 else np.nan
            continue
        dev = sd * k
        up = mid + dev
        lo = mid - dev
        if which == 3:
            out[i] = up
        elif which == 4:
            out[i] = lo
        elif which == 5:
            w = up - lo
            out[i] = (x[i] - lo) / w if (w != 0.0 and not np.isnan(w)) else np.nan
        else:
            out[i] = (up - lo) / mid if (mid != 0.0 and not np.isnan(mid)) else np.nan


@numba.njit(cache=True, nogil=True)
def highest_1d_nb(x, n, out, s):
    """Rolling maximum; oracle TA-Lib ``MAX``. Lookback ``n - 1``.

    The exact window maximum (the same value TA-Lib's cached-extremum scan
    returns) by van Herk / Gil-Werman blocks; s: scratch, len(x).
    """
    if n < 1:
        raise ValueError("window must be >= 1")
    rolling_max_into(x, n, out, s)


@numba.njit(cache=True, nogil=True)
def lowest_1d_nb(x, n, out, s):
    """Rolling minimum; oracle TA-Lib ``MIN``. Lookback ``n - 1``; s: scratch, len(x)."""
    if n < 1:
        raise ValueError("window must be >= 1")
    rolling_min_into(x, n, out, s)


@numba.njit(cache=True, nogil=True)
def vwap_1d_nb(high, low, close, volume, n, out, pv):
    """Rolling VWAP = sum(tp * volume, n) / sum(volume, n), tp = (h + l + c) / 3.

    Oracle pandas ``(tp * v).rolling(n).sum() / v.rolling(n).sum()``; NaN where the
    window's volume sum is 0 (a window of zero volumes is detected by counting,
    so running-sum residue cannot fake a non-zero sum). Lookback ``n - 1``.

    Args:
        high, low, close, volume (float64[:]): gap-free series of equal length.
        n (int): window, >= 1.
        out (float64[:]): output, len(close).
        pv (float64[:]): scratch, len(close).
    """
    T = close.shape[0]
    if n < 1:
        raise ValueError("window must be >= 1")
    nan_head(out, n - 1)
    if T < n:
        return
    for i in range(T):
        pv[i] = (high[i] + low[i] + close[i]) / 3.0 * volume[i]
    s_pv = 0.0
    s_v = 0.0
    nonzero = 0
    for i in range(T):
        s_pv += pv[i]
        s_v += volume[i]
        if volume[i] != 0.0:
            nonzero += 1
        if i >= n:
            j = i - n
            s_pv -= pv[j]
            s_v -= volume[j]
            if volume[j] != 0.0:
                nonzero -= 1
        if nonzero == 0:
            s_pv = 0.0
            s_v = 0.0
        if i >= n - 1:
            out[i] = s_pv / s_v if (nonzero > 0 and s_v != 0.0) else np.nan


# --------------------------------------------------------------------------- 2-D drivers (see ``_columns``)

sma_nb = drive(sma_1d_nb, "sma_nb", ("x",), ("n",),
               doc="2-D SMA (TA-Lib ``SMA``): x float64 (T, C), n int64 (C,). Lookback ``n - 1``.")
mean_nb = drive(sma_1d_nb, "mean_nb", ("x",), ("n",),
                doc="2-D rolling mean (pandas ``rolling(n).mean()``), the kernel of :func:`sma_nb`.")
sum_nb = drive(sum_1d_nb, "sum_nb", ("x",), ("n",), doc="2-D rolling sum (TA-Lib ``SUM``). Lookback ``n - 1``.")
wma_nb = drive(wma_1d_nb, "wma_nb", ("x",), ("n",), doc="2-D WMA (TA-Lib ``WMA``). Lookback ``n - 1``.")
stddev_nb = drive(var_1d_nb, "stddev_nb", ("x",), ("n",), options=(0.0, 1),
                  doc="2-D population std (TA-Lib ``STDDEV(nbdev=1)``). Lookback ``n - 1``.")
zscore_nb = drive(var_1d_nb, "zscore_nb", ("x",), ("n",), options=(0.0, 2),
                  doc="2-D z-score (x - SMA) / population std, NaN where std == 0 (pandas "
                      "``(x - x.rolling(n).mean()) / x.rolling(n).std(ddof=0)``). Lookback ``n - 1``.")
highest_nb = drive(highest_1d_nb, "highest_nb", ("x",), ("n",), scratch=1,
                   doc="2-D rolling max (TA-Lib ``MAX``). Lookback ``n - 1``.")
lowest_nb = drive(lowest_1d_nb, "lowest_nb", ("x",), ("n",), scratch=1,
                  doc="2-D rolling min (TA-Lib ``MIN``). Lookback ``n - 1``.")
bb_upper_nb = drive(var_1d_nb, "bb_upper_nb", ("x",), ("n", "k:f"), options=(3,),
                    doc="2-D upper Bollinger band (TA-Lib ``BBANDS`` upper, matype=0). k float64 (C,). "
                        "Lookback ``n - 1``.")
bb_middle_nb = drive(sma_1d_nb, "bb_middle_nb", ("x",), ("n", "k:f"), skip=("k",),
                     doc="2-D middle Bollinger band (= SMA; TA-Lib ``BBANDS`` middle). Lookback ``n - 1``.")
bb_lower_nb = drive(var_1d_nb, "bb_lower_nb", ("x",), ("n", "k:f"), options=(4,),
                    doc="2-D lower Bollinger band (TA-Lib ``BBANDS`` lower). Lookback ``n - 1``.")
bb_percent_nb = drive(var_1d_nb, "bb_percent_nb", ("x",), ("n", "k:f"), options=(5,),
                      doc="2-D %B = (x - lower) / (upper - lower) of TA-Lib ``BBANDS``, NaN where the band "
                          "width is 0. Lookback ``n - 1``.")
bb_width_nb = drive(var_1d_nb, "bb_width_nb", ("x",), ("n", "k:f"), options=(6,),
                    doc="2-D band width = (upper - lower) / middle of TA-Lib ``BBANDS``, NaN where middle == 0. "
                        "Lookback ``n - 1``.")
vwap_nb = drive(vwap_1d_nb, "vwap_nb", ("high", "low", "close", "volume"), ("n",), scratch=1,
                doc="2-D rolling VWAP (pandas ``(tp * v).rolling(n).sum() / v.rolling(n).sum()``); rows with any "
                    "NaN input are absent. Lookback ``n - 1``.")
