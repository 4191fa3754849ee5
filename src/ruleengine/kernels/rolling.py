"""Rolling-window kernels: SMA/mean, WMA, SUM, STDDEV, z-score, MAX/MIN, Bollinger, VWAP.

1-D kernels (``<op>_1d_nb``) take gap-free float64 series and follow TA-Lib's
algorithms; the 2-D drivers (``<op>_nb``) take (T, C) Fortran-ordered float64
inputs plus one int64 window (and, for Bollinger, one float64 k) per column,
apply the NaN-as-missing rule per column and return a new (T, C) F-ordered
float64 array.

Lookbacks below are the number of leading NaN rows on gap-free data.
"""
import math

import numba
import numpy as np

from ._util import (
    alloc_f64,
    check_float_arg,
    check_int_arg,
    check_same_shape,
    nan_1d,
    scatter,
    take,
    valid_rows,
    valid_rows4,
)

# --------------------------------------------------------------------------- 1-D kernels


@numba.njit(cache=True)
def sma_1d_nb(x, n):
    """Simple moving average; oracle TA-Lib ``SMA`` (== pandas ``rolling(n).mean()``).

    Running sum in TA-Lib's order (add the new value, emit, drop the trailing one).

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
    Returns:
        float64[:]: lookback ``n - 1``.
    """
    T = x.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("window must be >= 1")
    if T < n:
        return out
    total = 0.0
    for i in range(n - 1):
        total += x[i]
    for i in range(n - 1, T):
        total += x[i]
        tmp = total
        total -= x[i - n + 1]  # the trailing value
        out[i] = tmp / n
    return out


@numba.njit(cache=True)
def sum_1d_nb(x, n):
    """Rolling sum; oracle TA-Lib ``SUM``. Lookback ``n - 1``.

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
    """
    T = x.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("window must be >= 1")
    if T < n:
        return out
    total = 0.0
    for i in range(n - 1):
        total += x[i]
    for i in range(n - 1, T):
        total += x[i]
        tmp = total
        total -= x[i - n + 1]  # the trailing value
        out[i] = tmp
    return out


@numba.njit(cache=True)
def wma_1d_nb(x, n):
    """Linearly weighted moving average (weights 1..n, newest heaviest); oracle TA-Lib ``WMA``.

    TA-Lib's O(1) update (running weighted sum and running plain sum), with
    TA-Lib's re-anchoring of both sums from the window every 8*n bars (wma.c
    #255) so rounding residue cannot accumulate. Lookback ``n - 1``.

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
    """
    T = x.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("window must be >= 1")
    if T < n:
        return out
    if n == 1:
        for i in range(T):
            out[i] = x[i]
        return out
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
    return out


@numba.njit(cache=True)
def var_1d_nb(x, n):
    """Population variance over a rolling window; oracle TA-Lib ``VAR`` (nbdev=1).

    TA-Lib >= 0.8 cancellation-free algorithm (var.c, #118/#243), bit-identical to
    the installed TA-Lib 0.8.1: running sums of the deviations from a shift (the
    first window value), rebuilt with a fresh two-pass computation around the
    window mean whenever the variance falls below 1e-6 of the mean squared
    deviation it is extracted from, when the value leaving the window dwarfs the
    remaining sum of squares (1e6 x), or at least every 32*n bars; a rebuilt
    variance below 1e-12 of its mean square (a window flat to within the rounding
    of its own mean) is 0. Never negative; exactly 0 on a flat window.
    Lookback ``n - 1``.

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
    """
    T = x.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("window must be >= 1")
    if T < n:
        return out
    inv_n = 1.0 / n
    shift = x[0]
    t1 = 0.0
    t2 = 0.0
    for j in range(n - 1):
        d = x[j] - shift
        t1 += d
        t2 += d * d
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
        out[i] = var
    return out


@numba.njit(cache=True)
def stddev_1d_nb(x, n):
    """Population standard deviation; oracle TA-Lib ``STDDEV(nbdev=1)``. Lookback ``n - 1``.

    ``sqrt`` of :func:`var_1d_nb` (exactly 0 on a flat window).

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
    """
    v = var_1d_nb(x, n)
    for i in range(v.shape[0]):
        if not np.isnan(v[i]):
            v[i] = math.sqrt(v[i])
    return v


@numba.njit(cache=True)
def zscore_1d_nb(x, n):
    """(x - SMA(x, n)) / STDDEV(x, n); NaN where the std is 0. Lookback ``n - 1``.

    Oracle pandas ``(x - x.rolling(n).mean()) / x.rolling(n).std(ddof=0)``.

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
    """
    m = sma_1d_nb(x, n)
    s = stddev_1d_nb(x, n)
    out = nan_1d(x.shape[0])
    for i in range(x.shape[0]):
        if s[i] > 0.0:
            out[i] = (x[i] - m[i]) / s[i]
    return out


@numba.njit(cache=True)
def highest_1d_nb(x, n):
    """Rolling maximum; oracle TA-Lib ``MAX``. Lookback ``n - 1``.

    TA-Lib's cached-extremum scan (rescan only when the extremum leaves the window).

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
    """
    T = x.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("window must be >= 1")
    if T < n:
        return out
    best_idx = -1
    best = 0.0
    for today in range(n - 1, T):
        trailing = today - n + 1
        v = x[today]
        if best_idx < trailing:
            best_idx = trailing
            best = x[trailing]
            for i in range(trailing + 1, today + 1):
                if x[i] >= best:
                    best_idx = i
                    best = x[i]
        elif v >= best:
            best_idx = today
            best = v
        out[today] = best
    return out


@numba.njit(cache=True)
def lowest_1d_nb(x, n):
    """Rolling minimum; oracle TA-Lib ``MIN``. Lookback ``n - 1``.

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
    """
    T = x.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("window must be >= 1")
    if T < n:
        return out
    best_idx = -1
    best = 0.0
    for today in range(n - 1, T):
        trailing = today - n + 1
        v = x[today]
        if best_idx < trailing:
            best_idx = trailing
            best = x[trailing]
            for i in range(trailing + 1, today + 1):
                if x[i] <= best:
                    best_idx = i
                    best = x[i]
        elif v <= best:
            best_idx = today
            best = v
        out[today] = best
    return out


@numba.njit(cache=True)
def bbands_1d_nb(x, n, k):
    """Bollinger bands; oracle TA-Lib ``BBANDS(n, nbdevup=k, nbdevdn=k, matype=0)``.

    middle = SMA(x, n); dev = k * STDDEV(x, n); upper/lower = middle +/- dev.

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
        k (float): band multiplier.
    Returns:
        tuple(float64[:], float64[:], float64[:]): (upper, middle, lower), lookback ``n - 1``.
    """
    mid = sma_1d_nb(x, n)
    sd = stddev_1d_nb(x, n)
    T = x.shape[0]
    up = nan_1d(T)
    lo = nan_1d(T)
    for i in range(n - 1, T):
        dev = sd[i] * k
        up[i] = mid[i] + dev
        lo[i] = mid[i] - dev
    return up, mid, lo


@numba.njit(cache=True)
def bb_percent_1d_nb(x, n, k):
    """%B = (x - lower) / (upper - lower); NaN where upper == lower. Lookback ``n - 1``."""
    up, _mid, lo = bbands_1d_nb(x, n, k)
    out = nan_1d(x.shape[0])
    for i in range(x.shape[0]):
        w = up[i] - lo[i]
        if w != 0.0 and not np.isnan(w):
            out[i] = (x[i] - lo[i]) / w
    return out


@numba.njit(cache=True)
def bb_width_1d_nb(x, n, k):
    """Band width = (upper - lower) / middle; NaN where middle == 0. Lookback ``n - 1``."""
    up, mid, lo = bbands_1d_nb(x, n, k)
    out = nan_1d(x.shape[0])
    for i in range(x.shape[0]):
        if mid[i] != 0.0 and not np.isnan(mid[i]):
            out[i] = (up[i] - lo[i]) / mid[i]
    return out


@numba.njit(cache=True)
def vwap_1d_nb(high, low, close, volume, n):
    """Rolling VWAP = sum(tp * volume, n) / sum(volume, n), tp = (h + l + c) / 3.

    Oracle pandas ``(tp * v).rolling(n).sum() / v.rolling(n).sum()``; NaN where the
    window's volume sum is 0 (a window of zero volumes is detected by counting,
    so running-sum residue cannot fake a non-zero sum). Lookback ``n - 1``.

    Args:
        high, low, close, volume (float64[:]): gap-free series of equal length.
        n (int): window, >= 1.
    """
    T = close.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("window must be >= 1")
    if T < n:
        return out
    pv = np.empty(T)
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
            s_pv -= pv[i - n]
            s_v -= volume[i - n]
            if volume[i - n] != 0.0:
                nonzero -= 1
        if nonzero == 0:
            s_pv = 0.0
            s_v = 0.0
        if i >= n - 1 and nonzero > 0 and s_v != 0.0:
            out[i] = s_pv / s_v
    return out


# --------------------------------------------------------------------------- 2-D drivers


@numba.njit(cache=True)
def sma_nb(x, n):
    """2-D SMA (TA-Lib ``SMA``): x float64 (T, C), n int64 (C,). Lookback ``n - 1``."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        scatter(out, c, idx, sma_1d_nb(take(x, c, idx), n[c]))
    return out


@numba.njit(cache=True)
def mean_nb(x, n):
    """2-D rolling mean (pandas ``rolling(n).mean()``), same kernel as :func:`sma_nb`."""
    return sma_nb(x, n)


@numba.njit(cache=True)
def sum_nb(x, n):
    """2-D rolling sum (TA-Lib ``SUM``). Lookback ``n - 1``."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        scatter(out, c, idx, sum_1d_nb(take(x, c, idx), n[c]))
    return out


@numba.njit(cache=True)
def wma_nb(x, n):
    """2-D WMA (TA-Lib ``WMA``). Lookback ``n - 1``."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        scatter(out, c, idx, wma_1d_nb(take(x, c, idx), n[c]))
    return out


@numba.njit(cache=True)
def stddev_nb(x, n):
    """2-D population std (TA-Lib ``STDDEV(nbdev=1)``). Lookback ``n - 1``."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        scatter(out, c, idx, stddev_1d_nb(take(x, c, idx), n[c]))
    return out


@numba.njit(cache=True)
def zscore_nb(x, n):
    """2-D z-score (x - SMA) / population std, NaN where std == 0. Lookback ``n - 1``."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        scatter(out, c, idx, zscore_1d_nb(take(x, c, idx), n[c]))
    return out


@numba.njit(cache=True)
def highest_nb(x, n):
    """2-D rolling max (TA-Lib ``MAX``). Lookback ``n - 1``."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        scatter(out, c, idx, highest_1d_nb(take(x, c, idx), n[c]))
    return out


@numba.njit(cache=True)
def lowest_nb(x, n):
    """2-D rolling min (TA-Lib ``MIN``). Lookback ``n - 1``."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        scatter(out, c, idx, lowest_1d_nb(take(x, c, idx), n[c]))
    return out


@numba.njit(cache=True)
def _bb_driver(x, n, k, which):
    # which: 0 upper, 1 middle, 2 lower, 3 %B, 4 width
    T, C = x.shape
    check_int_arg(n, C, 1)
    check_float_arg(k, C)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        xs = take(x, c, idx)
        if which == 3:
            r = bb_percent_1d_nb(xs, n[c], k[c])
        elif which == 4:
            r = bb_width_1d_nb(xs, n[c], k[c])
        else:
            up, mid, lo = bbands_1d_nb(xs, n[c], k[c])
            if which == 0:
                r = up
            elif which == 1:
                r = mid
            else:
                r = lo
        scatter(out, c, idx, r)
    return out


@numba.njit(cache=True)
def bb_upper_nb(x, n, k):
    """2-D upper Bollinger band (TA-Lib ``BBANDS`` upper, matype=0). k float64 (C,). Lookback ``n - 1``."""
    return _bb_driver(x, n, k, 0)


@numba.njit(cache=True)
def bb_middle_nb(x, n, k):
    """2-D middle Bollinger band (= SMA; TA-Lib ``BBANDS`` middle). Lookback ``n - 1``."""
    return _bb_driver(x, n, k, 1)


@numba.njit(cache=True)
def bb_lower_nb(x, n, k):
    """2-D lower Bollinger band (TA-Lib ``BBANDS`` lower). Lookback ``n - 1``."""
    return _bb_driver(x, n, k, 2)


@numba.njit(cache=True)
def bb_percent_nb(x, n, k):
    """2-D %B = (x - lower) / (upper - lower), NaN where the band width is 0. Lookback ``n - 1``."""
    return _bb_driver(x, n, k, 3)


@numba.njit(cache=True)
def bb_width_nb(x, n, k):
    """2-D band width = (upper - lower) / middle, NaN where middle == 0. Lookback ``n - 1``."""
    return _bb_driver(x, n, k, 4)


@numba.njit(cache=True)
def vwap_nb(high, low, close, volume, n):
    """2-D rolling VWAP (pandas oracle); rows with any NaN input are absent. Lookback ``n - 1``."""
    check_same_shape(high, close)
    check_same_shape(low, close)
    check_same_shape(volume, close)
    T, C = close.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows4(high, low, close, volume, c)
        r = vwap_1d_nb(take(high, c, idx), take(low, c, idx), take(close, c, idx), take(volume, c, idx), n[c])
        scatter(out, c, idx, r)
    return out
