"""Oscillators and range indicators: ROC, MOM, ATR, NATR, CCI, WILLR, MFI, ADX, OBV, STOCH.

1-D kernels follow TA-Lib's algorithms (seeding, Wilder smoothing, zero-division
rules of TA-Lib >= 0.8, where flatness tests are exact or scaled to the
window's own price level instead of a fixed 1e-8 band). 2-D drivers take
(T, C) F-ordered float64 inputs plus int64 per-column periods, treat rows
where any input is NaN as absent, and return (T, C) F-ordered float64.
Lookbacks are leading-NaN counts on gap-free data.
"""
import numba
import numpy as np

from ._util import (
    alloc_f64,
    check_int_arg,
    check_same_shape,
    nan_1d,
    rolling_max_1d,
    rolling_min_1d,
    scatter,
    take,
    valid_rows,
    valid_rows2,
    valid_rows3,
    valid_rows4,
)
from .rolling import sma_1d_nb

# TA-Lib's TA_EPSILON; TA_IS_ZERO_SCALED(v, s) == |v| <= _EPS * s.
_EPS = 1e-14

# --------------------------------------------------------------------------- 1-D kernels


@numba.njit(cache=True)
def roc_1d_nb(x, n):
    """Rate of change in percent, ((x[t] / x[t-n]) - 1) * 100; oracle TA-Lib ``ROC``.

    0 where x[t-n] == 0 (TA-Lib's rule). Lookback ``n``.

    Args:
        x (float64[:]): gap-free series.
        n (int): period, >= 1.
    """
    T = x.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("period must be >= 1")
    for t in range(n, T):
        prev = x[t - n]
        if prev != 0.0:
            out[t] = ((x[t] / prev) - 1.0) * 100.0
        else:
            out[t] = 0.0
    return out


@numba.njit(cache=True)
def mom_1d_nb(x, n):
    """Momentum x[t] - x[t-n]; oracle TA-Lib ``MOM``. Lookback ``n``.

    Args:
        x (float64[:]): gap-free series.
        n (int): period, >= 1.
    """
    T = x.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("period must be >= 1")
    for t in range(n, T):
        out[t] = x[t] - x[t - n]
    return out


@numba.njit(cache=True)
def _true_range(high, low, close, t):
    """TA-Lib true range of bar t (t >= 1): max(h-l, |c[t-1]-h|, |c[t-1]-l|)."""
    h = high[t]
    lo = low[t]
    cy = close[t - 1]
    greatest = h - lo
    greatest = max(greatest, abs(cy - h))
    return max(greatest, abs(cy - lo))


@numba.njit(cache=True)
def atr_1d_nb(high, low, close, n):
    """Average true range (Wilder); oracle TA-Lib ``ATR``. Lookback ``n``.

    Seed = mean of the true ranges of bars 1..n, then
    atr = (atr * (n - 1) + tr) / n. n = 1 gives the true range (TA-Lib ``TRANGE``).
    TA-Lib 0.8 evaluates this step as a fused two-coefficient update, so results
    agree to ~1e-15 relative rather than bit for bit.

    Args:
        high, low, close (float64[:]): gap-free series.
        n (int): period, >= 1.
    """
    T = close.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("period must be >= 1")
    if T <= n:
        return out
    total = 0.0
    for t in range(1, n + 1):
        total += _true_range(high, low, close, t)
    prev = total / n
    out[n] = prev
    for t in range(n + 1, T):
        prev = (prev * (n - 1) + _true_range(high, low, close, t)) / n
        out[t] = prev
    return out


@numba.njit(cache=True)
def natr_1d_nb(high, low, close, n):
    """Normalized ATR, ATR / close * 100; oracle TA-Lib ``NATR``. Lookback ``n``.

    0 where close == 0 (TA-Lib's exact test). TA-Lib quirk kept for n = 1: the
    output is the raw, un-normalized true range (TA-Lib documents this as
    deliberate), not TR / close * 100.

    Args:
        high, low, close (float64[:]): gap-free series.
        n (int): period, >= 1.
    """
    out = atr_1d_nb(high, low, close, n)
    if n == 1:
        return out
    for t in range(n, close.shape[0]):
        c = close[t]
        if c != 0.0:
            out[t] = (out[t] / c) * 100.0
        else:
            out[t] = 0.0
    return out


@numba.njit(cache=True)
def cci_1d_nb(high, low, close, n):
    """Commodity channel index; oracle TA-Lib ``CCI``. Lookback ``n - 1``.

    tp = (h + l + c) / 3; cci = (tp - mean(tp)) / (0.015 * mean|tp - mean(tp)|),
    summed over a circular buffer in TA-Lib's order. 0 where either the
    deviation of the last tp or the mean deviation is zero relative to the
    window's level (TA_IS_ZERO_SCALED(v, |mean|), TA-Lib >= 0.8).

    Args:
        high, low, close (float64[:]): gap-free series.
        n (int): period, >= 1.
    """
    T = close.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("period must be >= 1")
    if T < n:
        return out
    buf = np.zeros(n)
    bidx = 0
    for i in range(n - 1):
        buf[bidx] = (high[i] + low[i] + close[i]) / 3
        bidx += 1
        if bidx == n:
            bidx = 0
    for i in range(n - 1, T):
        last = (high[i] + low[i] + close[i]) / 3
        buf[bidx] = last
        avg = 0.0
        for j in range(n):
            avg += buf[j]
        avg /= n
        dev = 0.0
        for j in range(n):
            dev += abs(buf[j] - avg)
        dev /= n
        num = last - avg
        scale = abs(avg)
        if abs(num) > _EPS * scale and abs(dev) > _EPS * scale:
            out[i] = num / (0.015 * dev)
        else:
            out[i] = 0.0
        bidx += 1
        if bidx == n:
            bidx = 0
    return out


@numba.njit(cache=True)
def willr_1d_nb(high, low, close, n):
    """Williams %R; oracle TA-Lib ``WILLR``. Lookback ``n - 1``.

    ((hh - c) / (hh - ll)) * -100, clamped to [-100, 0]; 0 where the range is
    zero relative to its extremes (TA_IS_ZERO_SCALED(hh-ll, |hh|+|ll|), TA-Lib >= 0.8).

    Args:
        high, low, close (float64[:]): gap-free series.
        n (int): period, >= 1.
    """
    T = close.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("period must be >= 1")
    if T < n:
        return out
    hh = rolling_max_1d(high, n)
    ll = rolling_min_1d(low, n)
    for t in range(n - 1, T):
        h = hh[t]
        lo = ll[t]
        rng = h - lo
        if abs(rng) > _EPS * (abs(h) + abs(lo)):
            v = ((h - close[t]) / rng) * (-100.0)
            if v > 0.0:
                v = 0.0
            elif v < -100.0:
                v = -100.0
            out[t] = v
        else:
            out[t] = 0.0
    return out


@numba.njit(cache=True)
def mfi_1d_nb(high, low, close, volume, n):
    """Money flow index; oracle TA-Lib ``MFI``. Lookback ``n``.

    tp = (h + l + c) / 3; a bar's money flow tp * volume counts as positive
    when tp rose, negative when it fell, nothing when tp is unchanged relative
    to its level (TA_IS_ZERO_SCALED(diff, |tp|+|tp_prev|)); running sums over n
    bars, reset to exactly 0 after n consecutive empty bars; output
    100 * pos / (pos + neg) with the numerator clamped to [0, total], and 0 for
    a window without any money flow (TA-Lib >= 0.8 rules).

    Args:
        high, low, close, volume (float64[:]): gap-free series.
        n (int): period, >= 1.
    """
    T = close.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("period must be >= 1")
    if T <= n:
        return out
    pos_buf = np.zeros(n)
    neg_buf = np.zeros(n)
    bidx = 0
    prev = (high[0] + low[0] + close[0]) / 3.0
    pos_sum = 0.0
    neg_sum = 0.0
    null_run = 0
    for today in range(1, T):
        if today > n:
            pos_sum -= pos_buf[bidx]
            neg_sum -= neg_buf[bidx]
        tp = (high[today] + low[today] + close[today]) / 3.0
        diff = tp - prev
        scale = abs(tp) + abs(prev)
        prev = tp
        flow = tp * volume[today]
        money = 0.0 if abs(diff) <= _EPS * scale else flow
        pos = 0.0 if diff < 0.0 else money
        neg = money if diff < 0.0 else 0.0
        pos_buf[bidx] = pos
        neg_buf[bidx] = neg
        pos_sum += pos
        neg_sum += neg
        null_run = null_run + 1 if money == 0.0 else 0
        if null_run >= n:
            null_run = n
            pos_sum = 0.0
            neg_sum = 0.0
        if today >= n:
            tot = pos_sum + neg_sum
            pc = pos_sum
            if pc < 0.0:
                pc = 0.0
            elif pc > tot:
                pc = tot
            out[today] = 0.0 if tot <= 0.0 else 100.0 * (pc / tot)
        bidx += 1
        if bidx == n:
            bidx = 0
    return out


@numba.njit(cache=True)
def _dm_tr(high, low, close, t):
    """+DM1, -DM1 and true range of bar t (t >= 1), as in ta_ADX.c."""
    diff_p = high[t] - high[t - 1]
    diff_m = low[t - 1] - low[t]
    plus = 0.0
    minus = 0.0
    if diff_m > 0 and diff_p < diff_m:
        minus = diff_m
    elif diff_p > 0 and diff_p > diff_m:
        plus = diff_p
    return plus, minus, _true_range(high, low, close, t)


@numba.njit(cache=True)
def adx_1d_nb(high, low, close, n):
    """Average directional movement index; oracle TA-Lib ``ADX`` (ta_ADX.c). Lookback ``2n - 1``.

    +DM, -DM and TR summed over bars 1..n-1, then Wilder-smoothed
    (v = v - v / n + today); DX = 100 * |-DI - +DI| / (-DI + +DI) with
    DI = 100 * DM / TR; the first ADX is the mean of the first n DX (bars
    n..2n-1), then adx = (adx * (n - 1) + dx) / n. A bar whose smoothed TR or DI
    sum is zero contributes no DX (the ADX carries over), as in ta_ADX.c; the
    zero tests are exact (TA-Lib >= 0.8 no longer uses a fixed 1e-8 band).

    Args:
        high, low, close (float64[:]): gap-free series.
        n (int): period, >= 1.
    """
    T = close.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("period must be >= 1")
    if T <= 2 * n - 1:
        return out
    pdm = 0.0
    mdm = 0.0
    tr = 0.0
    for t in range(1, n):
        p, m, r = _dm_tr(high, low, close, t)
        pdm += p
        mdm += m
        tr += r
    sum_dx = 0.0
    adx = 0.0
    for t in range(n, T):
        p, m, r = _dm_tr(high, low, close, t)
        mdm -= mdm / n
        pdm -= pdm / n
        mdm += m
        pdm += p
        tr = tr - tr / n + r
        if tr != 0.0:
            minus_di = 100.0 * (mdm / tr)
            plus_di = 100.0 * (pdm / tr)
            s = minus_di + plus_di
            if s != 0.0:
                dx = 100.0 * (abs(minus_di - plus_di) / s)
                if t < 2 * n:
                    sum_dx += dx
                else:
                    adx = (adx * (n - 1) + dx) / n
        if t == 2 * n - 1:
            adx = sum_dx / n
        if t >= 2 * n - 1:
            out[t] = adx
    return out


@numba.njit(cache=True)
def obv_1d_nb(close, volume):
    """On-balance volume; oracle TA-Lib ``OBV``: obv[0] = volume[0], then +/- volume
    on an up/down close (unchanged close: unchanged obv). Lookback 0.

    Args:
        close, volume (float64[:]): gap-free series.
    """
    T = close.shape[0]
    out = nan_1d(T)
    if T == 0:
        return out
    prev_obv = volume[0]
    prev_close = close[0]
    for t in range(T):
        c = close[t]
        if c > prev_close:
            prev_obv += volume[t]
        elif c < prev_close:
            prev_obv -= volume[t]
        out[t] = prev_obv
        prev_close = c
    return out


@numba.njit(cache=True)
def stoch_1d_nb(high, low, close, fastk, slowk, slowd):
    """Slow stochastic %K and %D; oracle TA-Lib ``STOCH(fastk, slowk, 0, slowd, 0)``.

    fast %K = (c - ll) / (hh - ll) * 100 over fastk bars (0 where the range is
    zero relative to its extremes, TA-Lib >= 0.8), slow %K = SMA(fast %K, slowk),
    slow %D = SMA(slow %K, slowd).

    Returns:
        tuple(float64[:], float64[:]): (slowk, slowd); lookbacks ``fastk + slowk - 2``
        (TA-Lib outputs slowk only from slowd's start) and ``fastk + slowk + slowd - 3``.
    """
    T = close.shape[0]
    k_out = nan_1d(T)
    d_out = nan_1d(T)
    if fastk < 1 or slowk < 1 or slowd < 1:
        raise ValueError("periods must be >= 1")
    if T < fastk:
        return k_out, d_out
    hh = rolling_max_1d(high, fastk)
    ll = rolling_min_1d(low, fastk)
    m = T - (fastk - 1)
    fk = np.empty(m)
    for t in range(fastk - 1, T):
        h = hh[t]
        lo = ll[t]
        rng = h - lo
        if abs(rng) > _EPS * (abs(h) + abs(lo)):
            fk[t - (fastk - 1)] = ((close[t] - lo) / rng) * 100.0
        else:
            fk[t - (fastk - 1)] = 0.0
    sk = sma_1d_nb(fk, slowk)
    if m < slowk:
        return k_out, d_out
    for j in range(slowk - 1, m):
        k_out[j + fastk - 1] = sk[j]
    sd = sma_1d_nb(sk[slowk - 1:].copy(), slowd)
    off = fastk - 1 + slowk - 1
    for j in range(slowd - 1, sd.shape[0]):
        d_out[j + off] = sd[j]
    return k_out, d_out


# --------------------------------------------------------------------------- 2-D drivers


@numba.njit(cache=True)
def roc_nb(x, n):
    """2-D rate of change in percent (TA-Lib ``ROC``). Lookback ``n``."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        scatter(out, c, idx, roc_1d_nb(take(x, c, idx), n[c]))
    return out


@numba.njit(cache=True)
def mom_nb(x, n):
    """2-D momentum (TA-Lib ``MOM``). Lookback ``n``."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        scatter(out, c, idx, mom_1d_nb(take(x, c, idx), n[c]))
    return out


@numba.njit(cache=True)
def _hlc_driver(high, low, close, n, which):
    # which: 0 atr, 1 natr, 2 cci, 3 willr, 4 adx
    check_same_shape(high, close)
    check_same_shape(low, close)
    T, C = close.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows3(high, low, close, c)
        h = take(high, c, idx)
        lo = take(low, c, idx)
        cl = take(close, c, idx)
        if which == 0:
            r = atr_1d_nb(h, lo, cl, n[c])
        elif which == 1:
            r = natr_1d_nb(h, lo, cl, n[c])
        elif which == 2:
            r = cci_1d_nb(h, lo, cl, n[c])
        elif which == 3:
            r = willr_1d_nb(h, lo, cl, n[c])
        else:
            r = adx_1d_nb(h, lo, cl, n[c])
        scatter(out, c, idx, r)
    return out


@numba.njit(cache=True)
def atr_nb(high, low, close, n):
    """2-D average true range (TA-Lib ``ATR``). Lookback ``n``."""
    return _hlc_driver(high, low, close, n, 0)


@numba.njit(cache=True)
def natr_nb(high, low, close, n):
    """2-D normalized ATR in percent (TA-Lib ``NATR``; n = 1 is the raw true range, as TA-Lib). Lookback ``n``."""
    return _hlc_driver(high, low, close, n, 1)


@numba.njit(cache=True)
def cci_nb(high, low, close, n):
    """2-D commodity channel index (TA-Lib ``CCI``). Lookback ``n - 1``."""
    return _hlc_driver(high, low, close, n, 2)


@numba.njit(cache=True)
def willr_nb(high, low, close, n):
    """2-D Williams %R (TA-Lib ``WILLR``). Lookback ``n - 1``."""
    return _hlc_driver(high, low, close, n, 3)


@numba.njit(cache=True)
def adx_nb(high, low, close, n):
    """2-D ADX (TA-Lib ``ADX``). Lookback ``2n - 1``."""
    return _hlc_driver(high, low, close, n, 4)


@numba.njit(cache=True)
def mfi_nb(high, low, close, volume, n):
    """2-D money flow index (TA-Lib ``MFI``). Lookback ``n``."""
    check_same_shape(high, close)
    check_same_shape(low, close)
    check_same_shape(volume, close)
    T, C = close.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows4(high, low, close, volume, c)
        r = mfi_1d_nb(take(high, c, idx), take(low, c, idx), take(close, c, idx), take(volume, c, idx), n[c])
        scatter(out, c, idx, r)
    return out


@numba.njit(cache=True)
def obv_nb(close, volume):
    """2-D on-balance volume (TA-Lib ``OBV``; starts at the first valid row's volume). Lookback 0."""
    check_same_shape(volume, close)
    T, C = close.shape
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows2(close, volume, c)
        scatter(out, c, idx, obv_1d_nb(take(close, c, idx), take(volume, c, idx)))
    return out


@numba.njit(cache=True)
def _stoch_driver(high, low, close, fastk, slowk, slowd, which):
    check_same_shape(high, close)
    check_same_shape(low, close)
    T, C = close.shape
    check_int_arg(fastk, C, 1)
    check_int_arg(slowk, C, 1)
    check_int_arg(slowd, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows3(high, low, close, c)
        k, d = stoch_1d_nb(take(high, c, idx), take(low, c, idx), take(close, c, idx), fastk[c], slowk[c], slowd[c])
        if which == 0:
            scatter(out, c, idx, k)
        else:
            scatter(out, c, idx, d)
    return out


@numba.njit(cache=True)
def stoch_k_nb(high, low, close, fastk, slowk, slowd):
    """2-D slow %K (TA-Lib ``STOCH`` slowk, SMA smoothing). Lookback ``fastk + slowk - 2``."""
    return _stoch_driver(high, low, close, fastk, slowk, slowd, 0)


@numba.njit(cache=True)
def stoch_d_nb(high, low, close, fastk, slowk, slowd):
    """2-D slow %D (TA-Lib ``STOCH`` slowd, SMA smoothing). Lookback ``fastk + slowk + slowd - 3``."""
    return _stoch_driver(high, low, close, fastk, slowk, slowd, 1)
