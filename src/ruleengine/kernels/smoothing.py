"""Recursive smoothers: EMA, DEMA, TEMA, TRIX, KAMA, RSI (Wilder), MACD line / signal / histogram, PPO.

1-D kernels (``<op>_1d_nb``, writing into a caller-provided output) follow
TA-Lib's algorithms including their seeding (EMA seeded with the SMA of its
first window; RSI with the average gain/loss of its first n changes). 2-D
drivers take (T, C) F-ordered float64 input plus int64 per-column periods,
apply the NaN-as-missing rule (gap-free columns in place, see ``_util``),
return (T, C) F-ordered float64. Lookbacks are leading-NaN counts on gap-free data.
"""
import numpy as np

from ._columns import drive
from ._numba import numba  # numba with the kernel cache stamp installed
from ._util import nan_head

# --------------------------------------------------------------------------- 1-D kernels


@numba.njit(cache=True, nogil=True)
def ema_1d_nb(x, n, out):
    """Exponential moving average; oracle TA-Lib ``EMA``.

    k = 2 / (n + 1), seeded with the SMA of the first n values. Lookback ``n - 1``.

    Args:
        x (float64[:]): gap-free series.
        n (int): period, >= 1.
        out (float64[:]): output, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("period must be >= 1")
    nan_head(out, n - 1)
    if T < n:
        return
    k = 2.0 / (n + 1.0)
    total = 0.0  # TA-Lib INT_EMA: the seed is the SMA of the first n values
    for i in range(n):
        total += x[i]
    prev = total / n
    out[n - 1] = prev
    for t in range(n, T):
        prev = ((x[t] - prev) * k) + prev
        out[t] = prev


@numba.njit(cache=True, nogil=True)
def ema2_1d_nb(x0, x1, n0, n1, o0, o1):
    """:func:`ema_1d_nb` of two gap-free series of one length, side by side.

    Same operations per series (identical results); the two recursions are
    independent dependency chains, so the CPU overlaps their latencies.
    """
    T = x0.shape[0]
    t0 = max(n0, n1)
    if n0 < 1 or n1 < 1 or T <= t0:
        ema_1d_nb(x0, n0, o0)
        ema_1d_nb(x1, n1, o1)
        return
    ema_1d_nb(x0[:t0], n0, o0[:t0])  # each series on its own up to row t0 - 1
    ema_1d_nb(x1[:t0], n1, o1[:t0])
    k0 = 2.0 / (n0 + 1.0)
    k1 = 2.0 / (n1 + 1.0)
    p0 = o0[t0 - 1]
    p1 = o1[t0 - 1]
    for t in range(t0, T):
        p0 = ((x0[t] - p0) * k0) + p0
        p1 = ((x1[t] - p1) * k1) + p1
        o0[t] = p0
        o1[t] = p1


@numba.njit(cache=True, nogil=True)
def ema_chain_1d_nb(x, n, which, out, s1, s2):
    """EMAs of EMAs; oracle TA-Lib ``DEMA`` (which 0), ``TEMA`` (1), ``TRIX`` (2).

    e1 = ema(x, n) (valid from row n-1), e2 = ema(e1, n) and e3 = ema(e2, n), each seeded with the SMA of
    the first n values of its input (TA-Lib's INT_EMA). DEMA = 2 e1 - e2 (lookback ``2n - 2``),
    TEMA = 3 e1 - 3 e2 + e3 (lookback ``3n - 3``), TRIX = (e3 / e3[t-1] - 1) * 100, 0 where e3[t-1] == 0
    (TA-Lib's ROC rule; lookback ``3n - 2``).

    Args:
        x (float64[:]): gap-free series.
        n (int): period, >= 1.
        which (int): 0 DEMA, 1 TEMA, 2 TRIX.
        out (float64[:]): output, len(x).
        s1, s2 (float64[:]): scratch, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("period must be >= 1")
    a = n - 1  # first row of e1
    b = 2 * a  # first row of e2
    c = 3 * a  # first row of e3
    head = b if which == 0 else (c if which == 1 else c + 1)
    nan_head(out, head)
    if T <= head:
        return
    ema_1d_nb(x, n, s1)
    ema_1d_nb(s1[a:], n, s2[a:])
    if which == 0:
        for t in range(b, T):
            out[t] = (2.0 * s1[t]) - s2[t]
        return
    ema_1d_nb(s2[b:], n, out[b:])
    if which == 1:
        for t in range(c, T):
            out[t] = ((3.0 * s1[t]) - (3.0 * s2[t])) + out[t]
        return
    prev = out[c]
    for t in range(c + 1, T):
        cur = out[t]
        out[t] = ((cur / prev) - 1.0) * 100.0 if prev != 0.0 else 0.0
        prev = cur
    out[c] = np.nan


@numba.njit(cache=True, nogil=True)
def kama_1d_nb(x, n, out):
    """Kaufman adaptive moving average; oracle TA-Lib ``KAMA`` (ta_KAMA.c). Lookback ``n``.

    Efficiency ratio er = |x[t] - x[t-n]| / sum(|x[i] - x[i-1]|) over the last n changes (1 where that sum
    is <= 0 or <= the signed change, as TA-Lib; the running sum is reset to exactly 0 after n unchanged bars,
    TA-Lib >= 0.8's exact flat-window rule); smoothing sc = (er * (2/3 - 2/31) + 2/31) ** 2;
    kama = kama[t-1] + sc * (x[t] - kama[t-1]), seeded with x[n-1].

    Args:
        x (float64[:]): gap-free series.
        n (int): period, >= 1.
        out (float64[:]): output, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("period must be >= 1")
    nan_head(out, n)
    if T <= n:
        return
    const_max = 2.0 / (30.0 + 1.0)
    const_diff = 2.0 / (2.0 + 1.0) - const_max
    total = 0.0
    null_run = 0
    for i in range(n):
        d = x[i] - x[i + 1]
        total += abs(d)
        null_run = null_run + 1 if d == 0.0 else 0
    prev = x[n - 1]
    for t in range(n, T):
        if t > n:
            total -= abs(x[t - n - 1] - x[t - n])
            d = x[t] - x[t - 1]
            total += abs(d)
            null_run = null_run + 1 if d == 0.0 else 0
            if null_run >= n:
                null_run = n
                total = 0.0
        roc = x[t] - x[t - n]
        er = 1.0 if (total <= 0.0 or total <= roc) else abs(roc / total)
        sc = (er * const_diff) + const_max
        sc *= sc
        prev = ((x[t] - prev) * sc) + prev
        out[t] = prev


@numba.njit(cache=True, nogil=True)
def _rsi_avgs(x, n, og, ol, t1):
    """RSI averages of rows n <= t < t1 (t1 > n) into og (gain) / ol (loss): the seed (mean gain / loss
    of the first n changes) at row n, then Wilder's smoothing avg = (avg * (n - 1) + change) / n."""
    prev_value = x[0]
    gain = 0.0
    loss = 0.0
    for today in range(1, n + 1):
        v = x[today]
        d = v - prev_value
        prev_value = v
        loss -= min(d, 0.0)  # branch-free: the sign of d is unpredictable
        gain += max(d, 0.0)
    loss /= n
    gain /= n
    ol[n] = loss
    og[n] = gain
    nm1 = n - 1
    inv = 1.0 / n  # a multiply instead of a divide in the recursion: ~4x shorter dependency chain
    for t in range(n + 1, t1):
        d = x[t] - x[t - 1]
        loss = (loss * nm1 - min(d, 0.0)) * inv
        gain = (gain * nm1 + max(d, 0.0)) * inv
        og[t] = gain
        ol[t] = loss


@numba.njit(cache=True, nogil=True)
def rsi_1d_nb(x, n, out, s):
    """Relative strength index (Wilder); oracle TA-Lib ``RSI``. Lookback ``n``.

    Seed = average gain / average loss of the first n changes, then Wilder's
    smoothing avg = (avg * (n - 1) + change) / n, computed as a multiply by 1/n
    (the divide's latency would bound the recursion). RSI = 100 * gain / (gain + loss),
    and 0 where gain + loss == 0 (flat window), as TA-Lib (exact test, TA-Lib >= 0.8).
    n = 1 (rejected by TA-Lib) uses the same formula: 100 on an up move, else 0.
    Agrees with TA-Lib 0.8.1 to ~1e-15 relative (not bit for bit: 1/n is rounded,
    and TA-Lib's build fuses some multiply-adds). The averages are computed first (gain into out,
    loss into the scratch s, len(x)), the ratio in a second, vectorised pass.

    Args:
        x (float64[:]): gap-free series.
        n (int): period, >= 1.
        out (float64[:]): output, len(x).
        s (float64[:]): scratch, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("period must be >= 1")
    nan_head(out, n)
    if T <= n:
        return
    _rsi_avgs(x, n, out, s, T)
    for t in range(n, T):  # the ratio (vectorised)
        gain = out[t]
        tot = gain + s[t]
        out[t] = 100.0 * (gain / tot) if tot > 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def rsi2_1d_nb(x0, x1, n0, n1, o0, o1, s0, s1):
    """:func:`rsi_1d_nb` of two gap-free series of one length, side by side.

    Same operations per series (identical results); the four averages are
    independent dependency chains, so the CPU overlaps their latencies.
    """
    T = x0.shape[0]
    if n0 < 1 or n1 < 1:
        raise ValueError("period must be >= 1")
    nan_head(o0, n0)
    nan_head(o1, n1)
    t0 = min(max(n0, n1) + 1, T)  # the rows from t0 on run side by side
    if T > n0:
        _rsi_avgs(x0, n0, o0, s0, t0)
    if T > n1:
        _rsi_avgs(x1, n1, o1, s1, t0)
    if t0 < T:  # both seeded: rows t0.. side by side
        m0 = n0 - 1
        m1 = n1 - 1
        g0 = o0[t0 - 1]
        l0 = s0[t0 - 1]
        g1 = o1[t0 - 1]
        l1 = s1[t0 - 1]
        i0 = 1.0 / n0
        i1 = 1.0 / n1
        for t in range(t0, T):
            d0 = x0[t] - x0[t - 1]
            d1 = x1[t] - x1[t - 1]
            l0 = (l0 * m0 - min(d0, 0.0)) * i0
            g0 = (g0 * m0 + max(d0, 0.0)) * i0
            l1 = (l1 * m1 - min(d1, 0.0)) * i1
            g1 = (g1 * m1 + max(d1, 0.0)) * i1
            o0[t] = g0
            s0[t] = l0
            o1[t] = g1
            s1[t] = l1
    for t in range(n0, T):  # the ratios (vectorised), as in rsi_1d_nb
        gain = o0[t]
        tot = gain + s0[t]
        o0[t] = 100.0 * (gain / tot) if tot > 0.0 else 0.0
    for t in range(n1, T):
        gain = o1[t]
        tot = gain + s1[t]
        o1[t] = 100.0 * (gain / tot) if tot > 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def macd_1d_nb(x, fast, slow, signal, which, out):
    """MACD line, signal or histogram; oracle TA-Lib ``MACD(fast, slow, signal)``.

    As TA-Lib: periods are swapped if slow < fast; both EMAs start at index
    slow-1, the slow one seeded with SMA(x[0 .. slow-1]) and the fast one with
    SMA(x[slow-fast .. slow-1]); macd = fast EMA - slow EMA; signal = EMA(signal)
    of the macd line seeded with the SMA of its first ``signal`` values;
    hist = macd - signal. One pass, the three recursions side by side.

    Args:
        x (float64[:]): gap-free series.
        fast, slow, signal (int): periods, >= 1.
        which (int): 0 macd (lookback ``max(fast, slow) - 1``; TA-Lib only
            outputs it from the signal's start), 1 signal, 2 hist (lookback
            ``max(fast, slow) + signal - 2``).
        out (float64[:]): output, len(x).
    """
    T = x.shape[0]
    if fast < 1 or slow < 1 or signal < 1:
        raise ValueError("periods must be >= 1")
    if slow < fast:
        fast, slow = slow, fast
    start = slow - 1
    sig_start = start + signal - 1
    nan_head(out, start if which == 0 else sig_start)
    if T <= start:
        return
    k_slow = 2.0 / (slow + 1.0)
    k_fast = 2.0 / (fast + 1.0)
    k_sig = 2.0 / (signal + 1.0)
    total = 0.0
    for i in range(start + 1):
        total += x[i]
    ema_slow = total / slow
    total = 0.0
    for i in range(start - fast + 1, start + 1):
        total += x[i]
    ema_fast = total / fast
    total = 0.0  # the signal's seed: sum of the macd line over [start, sig_start]
    sig = 0.0
    for t in range(start, T):
        if t > start:
            xt = x[t]
            ema_slow = ((xt - ema_slow) * k_slow) + ema_slow
            ema_fast = ((xt - ema_fast) * k_fast) + ema_fast
        m = ema_fast - ema_slow
        if t > sig_start:
            sig = ((m - sig) * k_sig) + sig
        else:
            total += m
            if t == sig_start:
                sig = total / signal
        if which == 0:
            out[t] = m
        elif t >= sig_start:
            out[t] = sig if which == 1 else m - sig



@numba.njit(cache=True, nogil=True)
def ppo_1d_nb(x, fast, slow, out, s):
    """Percentage price oscillator with EMAs; oracle TA-Lib ``PPO(fast, slow, matype=1)``.

    (ema(x, fast) - ema(x, slow)) / ema(x, slow) * 100, 0 where the slow EMA is 0; each EMA is
    :func:`ema_1d_nb` over the whole series (seeded with the SMA of its own first window, unlike MACD's).
    Periods swapped if slow < fast, as TA-Lib. Lookback ``max(fast, slow) - 1``.

    Args:
        x (float64[:]): gap-free series.
        fast, slow (int): periods, >= 1.
        out (float64[:]): output, len(x).
        s (float64[:]): scratch, len(x).
    """
    T = x.shape[0]
    if fast < 1 or slow < 1:
        raise ValueError("periods must be >= 1")
    if slow < fast:
        fast, slow = slow, fast
    nan_head(out, slow - 1)
    if T < slow:
        return
    ema_1d_nb(x, fast, s)
    ema_1d_nb(x, slow, out)
    for t in range(slow - 1, T):
        e = out[t]
        out[t] = ((s[t] - e) / e) * 100.0 if e != 0.0 else 0.0

# --------------------------------------------------------------------------- 2-D drivers (see ``_columns``)

# EMA and RSI run gap-free columns two at a time (their two-column kernels), the other columns one at a time.
ema_nb = drive(ema_1d_nb, "ema_nb", ("x",), ("n",), pair=ema2_1d_nb,
               doc="2-D EMA (TA-Lib ``EMA``): x float64 (T, C), n int64 (C,). Lookback ``n - 1``.")
rsi_nb = drive(rsi_1d_nb, "rsi_nb", ("x",), ("n",), scratch=1, pair=rsi2_1d_nb,
               doc="2-D RSI (TA-Lib ``RSI``). Lookback ``n``.")
MACD = ("fast", "slow", "signal")
macd_nb = drive(macd_1d_nb, "macd_nb", ("x",), MACD, options=(0,),
                doc="2-D MACD line (TA-Lib ``MACD`` macd). Lookback ``max(fast, slow) - 1``.")
macd_signal_nb = drive(macd_1d_nb, "macd_signal_nb", ("x",), MACD, options=(1,),
                       doc="2-D MACD signal line (TA-Lib ``MACD`` macdsignal). "
                           "Lookback ``max(fast, slow) + signal - 2``.")
macd_hist_nb = drive(macd_1d_nb, "macd_hist_nb", ("x",), MACD, options=(2,),
                     doc="2-D MACD histogram (TA-Lib ``MACD`` macdhist). Lookback ``max(fast, slow) + signal - 2``.")
ema_chain_doc = "2-D {} (TA-Lib ``{}``; EMAs of EMAs seeded with SMAs). Lookback ``{}``."
dema_nb = drive(ema_chain_1d_nb, "dema_nb", ("x",), ("n",), options=(0,), scratch=2,
                doc=ema_chain_doc.format("double EMA", "DEMA", "2n - 2"))
tema_nb = drive(ema_chain_1d_nb, "tema_nb", ("x",), ("n",), options=(1,), scratch=2,
                doc=ema_chain_doc.format("triple EMA", "TEMA", "3n - 3"))
trix_nb = drive(ema_chain_1d_nb, "trix_nb", ("x",), ("n",), options=(2,), scratch=2,
                doc=ema_chain_doc.format("TRIX, rate of change of the triple EMA", "TRIX", "3n - 2"))
kama_nb = drive(kama_1d_nb, "kama_nb", ("x",), ("n",),
                doc="2-D Kaufman adaptive moving average (TA-Lib ``KAMA``). Lookback ``n``.")
ppo_nb = drive(ppo_1d_nb, "ppo_nb", ("x",), ("fast", "slow"), scratch=1,
               doc="2-D percentage price oscillator (TA-Lib ``PPO`` with matype 1, EMA). "
                   "Lookback ``max(fast, slow) - 1``.")
