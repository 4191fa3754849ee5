"""Oscillators and range indicators: ROC, MOM, ATR, NATR, CCI, WILLR, MFI, ADX, OBV, A/D, STOCH, ULTOSC.

1-D kernels (``<op>_1d_nb``, writing into a caller-provided output; some
take scratch arrays of the series' length) follow TA-Lib's algorithms
(seeding, Wilder smoothing, zero-division rules of TA-Lib >= 0.8, where
flatness tests are exact or scaled to the window's own price level instead of
a fixed 1e-8 band). 2-D drivers take (T, C) F-ordered float64 inputs plus
int64 per-column periods, treat rows where any input is NaN as absent
(gap-free columns run in place, see ``_util``), and return (T, C) F-ordered
float64. Lookbacks are leading-NaN counts on gap-free data.
"""
from ._columns import drive
from ._numba import numba  # numba with the kernel cache stamp installed
from ._util import dm_tr, nan_head, rolling_max_into, rolling_min_into, true_range
from .rolling import sma_1d_nb

# TA-Lib's TA_EPSILON; TA_IS_ZERO_SCALED(v, s) == |v| <= _EPS * s.
_EPS = 1e-14

# --------------------------------------------------------------------------- 1-D kernels


@numba.njit(cache=True, nogil=True)
def roc_1d_nb(x, n, out):
    """Rate of change in percent, ((x[t] / x[t-n]) - 1) * 100; oracle TA-Lib ``ROC``.

    0 where x[t-n] == 0 (TA-Lib's rule). Lookback ``n``.

    Args:
        x (float64[:]): gap-free series.
        n (int): period, >= 1.
        out (float64[:]): output, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("period must be >= 1")
    nan_head(out, n)
    for t in range(n, T):
        prev = x[t - n]
        out[t] = ((x[t] / prev) - 1.0) * 100.0 if prev != 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def mom_1d_nb(x, n, out):
    """Momentum x[t] - x[t-n]; oracle TA-Lib ``MOM``. Lookback ``n``.

    Args:
        x (float64[:]): gap-free series.
        n (int): period, >= 1.
        out (float64[:]): output, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("period must be >= 1")
    nan_head(out, n)
    for t in range(n, T):
        out[t] = x[t] - x[t - n]


@numba.njit(cache=True, nogil=True)
def atr_1d_nb(high, low, close, n, normalize, out):
    """Average true range (Wilder); oracle TA-Lib ``ATR`` (``NATR`` with normalize). Lookback ``n``.

    Seed = mean of the true ranges of bars 1..n, then
    atr = (atr * (n - 1) + tr) / n. n = 1 gives the true range (TA-Lib ``TRANGE``).
    TA-Lib 0.8 evaluates this step as a fused two-coefficient update, so results
    agree to ~1e-15 relative rather than bit for bit.

    normalize: NATR = ATR / close * 100, 0 where close == 0 (TA-Lib's exact
    test). TA-Lib quirk kept for n = 1: the output is the raw, un-normalized
    true range (TA-Lib documents this as deliberate), not TR / close * 100.

    Args:
        high, low, close (float64[:]): gap-free series.
        n (int): period, >= 1.
        normalize (bool): NATR instead of ATR.
        out (float64[:]): output, len(close).
    """
    T = close.shape[0]
    if n < 1:
        raise ValueError("period must be >= 1")
    nan_head(out, n)
    if T <= n:
        return
    norm = normalize and n != 1
    total = 0.0
    for t in range(1, n + 1):
        total += true_range(high, low, close, t)
    prev = total / n
    for t in range(n, T):
        if t > n:
            prev = (prev * (n - 1) + true_range(high, low, close, t)) / n
        if norm:
            c = close[t]
            out[t] = (prev / c) * 100.0 if c != 0.0 else 0.0
        else:
            out[t] = prev


@numba.njit(cache=True, nogil=True)
def _cci_emit(tp, i, avg, dev, n, out):
    # TA-Lib's CCI output for row i from its window mean and (unnormalised) mean-deviation sum
    dev /= n
    num = tp[i] - avg
    scale = abs(avg)
    if abs(num) > _EPS * scale and abs(dev) > _EPS * scale:
        out[i] = num / (0.015 * dev)
    else:
        out[i] = 0.0


@numba.njit(cache=True, nogil=True)
def cci_1d_nb(high, low, close, n, out, tp):
    """Commodity channel index; oracle TA-Lib ``CCI``. Lookback ``n - 1``.

    tp = (h + l + c) / 3; cci = (tp - mean(tp)) / (0.015 * mean|tp - mean(tp)|),
    summed in TA-Lib's circular-buffer order. 0 where either the deviation of
    the last tp or the mean deviation is zero relative to the window's level
    (TA_IS_ZERO_SCALED(v, |mean|), TA-Lib >= 0.8). Row t's tp sits in buffer
    slot t % n, so row i's sums run over tp[b .. i] then tp[i-n+1 .. b-1]
    (b = i - i % n); rows of one n-block are summed four at a time (same order
    per row, four independent add chains).

    Args:
        high, low, close (float64[:]): gap-free series.
        n (int): period, >= 1.
        out (float64[:]): output, len(close).
        tp (float64[:]): scratch, len(close).
    """
    T = close.shape[0]
    if n < 1:
        raise ValueError("period must be >= 1")
    nan_head(out, n - 1)
    if T < n:
        return
    for i in range(T):
        tp[i] = (high[i] + low[i] + close[i]) / 3
    i = n - 1
    while i < T:
        b = i - i % n
        r = i - b
        if r + 3 < n and i + 3 < T:  # rows i .. i+3: slot j holds tp[b + j] for j <= r + lane
            a0 = a1 = a2 = a3 = 0.0
            for j in range(r + 1):
                v = tp[b + j]
                a0 += v
                a1 += v
                a2 += v
                a3 += v
            for q in range(1, 4):  # slot r + q: the new tp[b + r + q] for lanes >= q
                vn = tp[b + r + q]
                vo = tp[b + r + q - n]
                a0 += vo
                a1 += vn if q <= 1 else vo
                a2 += vn if q <= 2 else vo
                a3 += vn
            for j in range(r + 4, n):
                v = tp[b + j - n]
                a0 += v
                a1 += v
                a2 += v
                a3 += v
            a0 /= n
            a1 /= n
            a2 /= n
            a3 /= n
            d0 = d1 = d2 = d3 = 0.0
            for j in range(r + 1):
                v = tp[b + j]
                d0 += abs(v - a0)
                d1 += abs(v - a1)
                d2 += abs(v - a2)
                d3 += abs(v - a3)
            for q in range(1, 4):
                vn = tp[b + r + q]
                vo = tp[b + r + q - n]
                d0 += abs(vo - a0)
                d1 += abs((vn if q <= 1 else vo) - a1)
                d2 += abs((vn if q <= 2 else vo) - a2)
                d3 += abs(vn - a3)
            for j in range(r + 4, n):
                v = tp[b + j - n]
                d0 += abs(v - a0)
                d1 += abs(v - a1)
                d2 += abs(v - a2)
                d3 += abs(v - a3)
            _cci_emit(tp, i, a0, d0, n, out)
            _cci_emit(tp, i + 1, a1, d1, n, out)
            _cci_emit(tp, i + 2, a2, d2, n, out)
            _cci_emit(tp, i + 3, a3, d3, n, out)
            i += 4
            continue
        avg = 0.0
        for j in range(r + 1):
            avg += tp[b + j]
        for j in range(r + 1, n):
            avg += tp[b + j - n]
        avg /= n
        dev = 0.0
        for j in range(r + 1):
            dev += abs(tp[b + j] - avg)
        for j in range(r + 1, n):
            dev += abs(tp[b + j - n] - avg)
        _cci_emit(tp, i, avg, dev, n, out)
        i += 1


@numba.njit(cache=True, nogil=True)
def willr_1d_nb(high, low, close, n, out, lows, s):
    """Williams %R; oracle TA-Lib ``WILLR``. Lookback ``n - 1``.

    ((hh - c) / (hh - ll)) * -100, clamped to [-100, 0]; 0 where the range is
    zero relative to its extremes (TA_IS_ZERO_SCALED(hh-ll, |hh|+|ll|), TA-Lib >= 0.8).

    Args:
        high, low, close (float64[:]): gap-free series.
        n (int): period, >= 1.
        out (float64[:]): output, len(close).
        lows, s (float64[:]): scratch, len(close).
    """
    T = close.shape[0]
    if n < 1:
        raise ValueError("period must be >= 1")
    if T < n:
        nan_head(out, T)
        return
    rolling_max_into(high, n, out, s)  # hh, overwritten row by row below
    rolling_min_into(low, n, lows, s)
    for t in range(n - 1, T):
        h = out[t]
        lo = lows[t]
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


@numba.njit(cache=True, nogil=True)
def mfi_1d_nb(high, low, close, volume, n, out, pos_buf, neg_buf):
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
        out (float64[:]): output, len(close).
        pos_buf, neg_buf (float64[:]): scratch, len(close).
    """
    T = close.shape[0]
    if n < 1:
        raise ValueError("period must be >= 1")
    nan_head(out, n)
    if T <= n:
        return
    for t in range(1, T):  # each bar's signed money flow (branch-free, vectorised)
        tp = (high[t] + low[t] + close[t]) / 3.0
        prev = (high[t - 1] + low[t - 1] + close[t - 1]) / 3.0
        diff = tp - prev
        money = 0.0 if abs(diff) <= _EPS * (abs(tp) + abs(prev)) else tp * volume[t]
        pos_buf[t] = 0.0 if diff < 0.0 else money
        neg_buf[t] = money if diff < 0.0 else 0.0
    pos_sum = 0.0
    neg_sum = 0.0
    null_run = 0
    for today in range(1, T):
        if today > n:
            pos_sum -= pos_buf[today - n]
            neg_sum -= neg_buf[today - n]
        pos = pos_buf[today]
        neg = neg_buf[today]
        pos_sum += pos
        neg_sum += neg
        null_run = null_run + 1 if (pos == 0.0 and neg == 0.0) else 0  # money == 0
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


@numba.njit(cache=True, nogil=True)
def adx_1d_nb(high, low, close, n, out):
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
        out (float64[:]): output, len(close).
    """
    T = close.shape[0]
    if n < 1:
        raise ValueError("period must be >= 1")
    nan_head(out, 2 * n - 1)
    if T <= 2 * n - 1:
        return
    pdm = 0.0
    mdm = 0.0
    tr = 0.0
    for t in range(1, n):
        p, m, r = dm_tr(high, low, close, t)
        pdm += p
        mdm += m
        tr += r
    sum_dx = 0.0
    adx = 0.0
    for t in range(n, T):
        p, m, r = dm_tr(high, low, close, t)
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


@numba.njit(cache=True, nogil=True)
def obv_1d_nb(close, volume, out):
    """On-balance volume; oracle TA-Lib ``OBV``: obv[0] = volume[0], then +/- volume
    on an up/down close (unchanged close: unchanged obv). Lookback 0.

    Args:
        close, volume (float64[:]): gap-free series.
        out (float64[:]): output, len(close).
    """
    T = close.shape[0]
    if T == 0:
        return
    out[0] = volume[0]
    for t in range(1, T):  # per-bar step, vectorised: +v up, -v down, -0.0 flat (x + -0.0 == x)
        c = close[t]
        p = close[t - 1]
        v = volume[t]
        out[t] = v if c > p else (-v if c < p else -0.0)
    prev_obv = out[0]
    for t in range(1, T):  # x + -v == x - v exactly: the same sums as TA-Lib's +=/-=
        prev_obv += out[t]
        out[t] = prev_obv


@numba.njit(cache=True, nogil=True)
def stoch_1d_nb(high, low, close, fastk, slowk, slowd, which, out, s1, s2, s3):
    """Slow stochastic %K (which 0) or %D (which 1); oracle TA-Lib ``STOCH(fastk, slowk, 0, slowd, 0)``.

    fast %K = (c - ll) / (hh - ll) * 100 over fastk bars (0 where the range is
    zero relative to its extremes, TA-Lib >= 0.8), slow %K = SMA(fast %K, slowk),
    slow %D = SMA(slow %K, slowd). Lookbacks ``fastk + slowk - 2`` for slow %K
    (TA-Lib outputs it only from slowd's start) and ``fastk + slowk + slowd - 3``.

    Args:
        high, low, close (float64[:]): gap-free series.
        fastk, slowk, slowd (int): periods, >= 1.
        which (int): 0 slow %K, 1 slow %D.
        out (float64[:]): output, len(close).
        s1, s2, s3 (float64[:]): scratch, len(close).
    """
    T = close.shape[0]
    if fastk < 1 or slowk < 1 or slowd < 1:
        raise ValueError("periods must be >= 1")
    a = fastk + slowk - 2  # first row of slow %K
    nan_head(out, a if which == 0 else a + slowd - 1)
    if T <= a:
        return
    rolling_max_into(high, fastk, s1, s3)
    rolling_min_into(low, fastk, s2, s3)
    for t in range(fastk - 1, T):  # fast %K, in place of hh
        h = s1[t]
        lo = s2[t]
        rng = h - lo
        s1[t] = ((close[t] - lo) / rng) * 100.0 if abs(rng) > _EPS * (abs(h) + abs(lo)) else 0.0
    if which == 0:
        sma_1d_nb(s1[fastk - 1:], slowk, out[fastk - 1:])
    else:
        sma_1d_nb(s1[fastk - 1:], slowk, s2[fastk - 1:])
        sma_1d_nb(s2[a:], slowd, out[a:])


@numba.njit(cache=True, nogil=True)
def ad_1d_nb(high, low, close, volume, out):
    """Chaikin accumulation/distribution line; oracle TA-Lib ``AD``. Lookback 0.

    ad += ((close - low) - (high - close)) / (high - low) * volume on every bar with high > low (a bar without
    range adds nothing), starting from 0 before the first bar.

    Args:
        high, low, close, volume (float64[:]): gap-free series.
        out (float64[:]): output, len(close).
    """
    ad = 0.0
    for t in range(close.shape[0]):
        h = high[t]
        lo = low[t]
        c = close[t]
        rng = h - lo
        if rng > 0.0:
            ad += (((c - lo) - (h - c)) / rng) * volume[t]
        out[t] = ad


@numba.njit(cache=True, nogil=True)
def _ultosc_terms(high, low, close, t):
    # buying pressure close - true low and the true range of bar t (t >= 1), as TA-Lib's CALC_TERMS
    cy = close[t - 1]
    true_low = min(low[t], cy)
    return close[t] - true_low, true_range(high, low, close, t)


@numba.njit(cache=True, nogil=True)
def ultosc_1d_nb(high, low, close, short, medium, long, out):
    """Ultimate oscillator; oracle TA-Lib ``ULTOSC(short, medium, long)`` (periods in that order).

    a_k = sum(close - min(low, prev close)) / sum(true range) over the last k bars (a window without any true
    range adds 0); 100 * (4 a_short + 2 a_medium + a_long) / 7. Running sums in TA-Lib's order (add today,
    emit, drop the trailing bar), reset to exactly 0 once a whole window of bars without range or pressure has
    gone by (TA-Lib >= 0.8's exact rule). Lookback ``max(short, medium, long)``.

    Args:
        high, low, close (float64[:]): gap-free series.
        short, medium, long (int): periods, >= 1, in that order (the registry enforces it; TA-Lib sorts them).
        out (float64[:]): output, len(close).
    """
    T = close.shape[0]
    if short < 1 or medium < 1 or long < 1:
        raise ValueError("periods must be >= 1")
    start = max(short, max(medium, long))
    nan_head(out, start)
    if T <= start:
        return
    a1 = b1 = a2 = b2 = a3 = b3 = 0.0
    null_run = 0
    for i in range(start - long + 1, start):
        a, b = _ultosc_terms(high, low, close, i)
        null_run = null_run + 1 if (a == 0.0 and b == 0.0) else 0
        if i >= start - short + 1:
            a1 += a
            b1 += b
        if i >= start - medium + 1:
            a2 += a
            b2 += b
        a3 += a
        b3 += b
    for t in range(start, T):
        a, b = _ultosc_terms(high, low, close, t)
        a1 += a
        a2 += a
        a3 += a
        b1 += b
        b2 += b
        b3 += b
        null_run = null_run + 1 if (a == 0.0 and b == 0.0) else 0
        if null_run >= short:
            a1 = b1 = 0.0
        if null_run >= medium:
            a2 = b2 = 0.0
        if null_run >= long:
            null_run = long
            a3 = b3 = 0.0
        v = 0.0
        if b1 > 0.0:
            v += 4.0 * (a1 / b1)
        if b2 > 0.0:
            v += 2.0 * (a2 / b2)
        if b3 > 0.0:
            v += a3 / b3
        a, b = _ultosc_terms(high, low, close, t - short + 1)
        a1 -= a
        b1 -= b
        a, b = _ultosc_terms(high, low, close, t - medium + 1)
        a2 -= a
        b2 -= b
        a, b = _ultosc_terms(high, low, close, t - long + 1)
        a3 -= a
        b3 -= b
        out[t] = 100.0 * (v / 7.0)


# --------------------------------------------------------------------------- 2-D drivers (see ``_columns``)

HLC = ("high", "low", "close")
roc_nb = drive(roc_1d_nb, "roc_nb", ("x",), ("n",),
               doc="2-D rate of change in percent (TA-Lib ``ROC``). Lookback ``n``.")
mom_nb = drive(mom_1d_nb, "mom_nb", ("x",), ("n",), doc="2-D momentum (TA-Lib ``MOM``). Lookback ``n``.")
atr_nb = drive(atr_1d_nb, "atr_nb", HLC, ("n",), options=(False,),
               doc="2-D average true range (TA-Lib ``ATR``). Lookback ``n``.")
natr_nb = drive(atr_1d_nb, "natr_nb", HLC, ("n",), options=(True,),
                doc="2-D normalized ATR in percent (TA-Lib ``NATR``; n = 1 is the raw true range, as TA-Lib). "
                    "Lookback ``n``.")
cci_nb = drive(cci_1d_nb, "cci_nb", HLC, ("n",), scratch=1,
               doc="2-D commodity channel index (TA-Lib ``CCI``). Lookback ``n - 1``.")
willr_nb = drive(willr_1d_nb, "willr_nb", HLC, ("n",), scratch=2,
                 doc="2-D Williams %R (TA-Lib ``WILLR``). Lookback ``n - 1``.")
adx_nb = drive(adx_1d_nb, "adx_nb", HLC, ("n",), doc="2-D ADX (TA-Lib ``ADX``). Lookback ``2n - 1``.")
mfi_nb = drive(mfi_1d_nb, "mfi_nb", (*HLC, "volume"), ("n",), scratch=2,
               doc="2-D money flow index (TA-Lib ``MFI``). Lookback ``n``.")
obv_nb = drive(obv_1d_nb, "obv_nb", ("close", "volume"),
               doc="2-D on-balance volume (TA-Lib ``OBV``; starts at the first valid row's volume). Lookback 0.")
stoch_k_nb = drive(stoch_1d_nb, "stoch_k_nb", HLC, ("fastk", "slowk", "slowd"), options=(0,), scratch=3,
                   doc="2-D slow %K (TA-Lib ``STOCH`` slowk, SMA smoothing). Lookback ``fastk + slowk - 2``.")
stoch_d_nb = drive(stoch_1d_nb, "stoch_d_nb", HLC, ("fastk", "slowk", "slowd"), options=(1,), scratch=3,
                   doc="2-D slow %D (TA-Lib ``STOCH`` slowd, SMA smoothing). Lookback ``fastk + slowk + slowd - 3``.")
ad_nb = drive(ad_1d_nb, "ad_nb", (*HLC, "volume"),
              doc="2-D Chaikin A/D line (TA-Lib ``AD``; starts at 0 before the first valid row). Lookback 0.")
ultosc_nb = drive(ultosc_1d_nb, "ultosc_nb", HLC, ("short", "medium", "long"),
                  doc="2-D ultimate oscillator (TA-Lib ``ULTOSC``). Lookback ``max(short, medium, long)``.")
