"""Recursive smoothers: EMA, RSI (Wilder), MACD line / signal / histogram.

1-D kernels follow TA-Lib's algorithms including their seeding (EMA seeded
with the SMA of its first window; RSI with the average gain/loss of its
first n changes). 2-D drivers take (T, C) F-ordered float64 input plus int64
per-column periods, apply the NaN-as-missing rule, return (T, C) F-ordered
float64. Lookbacks are leading-NaN counts on gap-free data.
"""
import numba

from ._util import alloc_f64, check_int_arg, nan_1d, scatter, take, valid_rows

# --------------------------------------------------------------------------- 1-D kernels


@numba.njit(cache=True)
def _ema_from(x, n, k, start, out):
    """TA-Lib INT_EMA: out[start] = SMA(x[start-n+1 .. start]), then
    out[t] = (x[t] - out[t-1]) * k + out[t-1] for t > start. Requires start < len(x)."""
    total = 0.0
    for i in range(start - n + 1, start + 1):
        total += x[i]
    prev = total / n
    out[start] = prev
    for t in range(start + 1, x.shape[0]):
        prev = ((x[t] - prev) * k) + prev
        out[t] = prev


@numba.njit(cache=True)
def ema_1d_nb(x, n):
    """Exponential moving average; oracle TA-Lib ``EMA``.

    k = 2 / (n + 1), seeded with the SMA of the first n values. Lookback ``n - 1``.

    Args:
        x (float64[:]): gap-free series.
        n (int): period, >= 1.
    """
    T = x.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("period must be >= 1")
    if T < n:
        return out
    _ema_from(x, n, 2.0 / (n + 1.0), n - 1, out)
    return out


@numba.njit(cache=True)
def rsi_1d_nb(x, n):
    """Relative strength index (Wilder); oracle TA-Lib ``RSI``. Lookback ``n``.

    Seed = average gain / average loss of the first n changes, then Wilder's
    smoothing avg = (avg * (n - 1) + change) / n. RSI = 100 * gain / (gain + loss),
    and 0 where gain + loss == 0 (flat window), as TA-Lib (exact test, TA-Lib >= 0.8).
    n = 1 (rejected by TA-Lib) uses the same formula: 100 on an up move, else 0.
    Agrees with TA-Lib 0.8.1 to ~1e-15 relative (not bit for bit: its build
    fuses some multiply-adds).

    Args:
        x (float64[:]): gap-free series.
        n (int): period, >= 1.
    """
    T = x.shape[0]
    out = nan_1d(T)
    if n < 1:
        raise ValueError("period must be >= 1")
    if T <= n:
        return out
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
    tot = gain + loss
    out[n] = 100.0 * (gain / tot) if tot > 0.0 else 0.0
    for today in range(n + 1, T):
        v = x[today]
        d = v - prev_value
        prev_value = v
        loss *= n - 1
        gain *= n - 1
        loss -= min(d, 0.0)  # branch-free: the sign of d is unpredictable
        gain += max(d, 0.0)
        loss /= n
        gain /= n
        tot = gain + loss
        out[today] = 100.0 * (gain / tot) if tot > 0.0 else 0.0
    return out


@numba.njit(cache=True)
def macd_1d_nb(x, fast, slow, signal):
    """MACD line, signal and histogram; oracle TA-Lib ``MACD(fast, slow, signal)``.

    As TA-Lib: periods are swapped if slow < fast; both EMAs start at index
    slow-1, the slow one seeded with SMA(x[0 .. slow-1]) and the fast one with
    SMA(x[slow-fast .. slow-1]); macd = fast EMA - slow EMA; signal = EMA(signal)
    of the macd line seeded with the SMA of its first ``signal`` values;
    hist = macd - signal.

    Args:
        x (float64[:]): gap-free series.
        fast, slow, signal (int): periods, >= 1.
    Returns:
        tuple(float64[:], float64[:], float64[:]): (macd, signal, hist); lookbacks
        ``max(fast, slow) - 1`` for macd (TA-Lib only outputs it from the signal's
        start) and ``max(fast, slow) + signal - 2`` for signal and hist.
    """
    T = x.shape[0]
    macd = nan_1d(T)
    sig = nan_1d(T)
    hist = nan_1d(T)
    if fast < 1 or slow < 1 or signal < 1:
        raise ValueError("periods must be >= 1")
    if slow < fast:
        fast, slow = slow, fast
    start = slow - 1
    if T <= start:
        return macd, sig, hist
    ema_fast = nan_1d(T)
    ema_slow = nan_1d(T)
    _ema_from(x, slow, 2.0 / (slow + 1.0), start, ema_slow)
    _ema_from(x, fast, 2.0 / (fast + 1.0), start, ema_fast)
    for t in range(start, T):
        macd[t] = ema_fast[t] - ema_slow[t]
    sig_start = start + signal - 1
    if T <= sig_start:
        return macd, sig, hist
    _ema_from(macd, signal, 2.0 / (signal + 1.0), sig_start, sig)
    for t in range(sig_start, T):
        hist[t] = macd[t] - sig[t]
    return macd, sig, hist


# --------------------------------------------------------------------------- 2-D drivers


@numba.njit(cache=True)
def ema_nb(x, n):
    """2-D EMA (TA-Lib ``EMA``): x float64 (T, C), n int64 (C,). Lookback ``n - 1``."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        scatter(out, c, idx, ema_1d_nb(take(x, c, idx), n[c]))
    return out


@numba.njit(cache=True)
def rsi_nb(x, n):
    """2-D RSI (TA-Lib ``RSI``). Lookback ``n``."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        scatter(out, c, idx, rsi_1d_nb(take(x, c, idx), n[c]))
    return out


@numba.njit(cache=True)
def _macd_driver(x, fast, slow, signal, which):
    T, C = x.shape
    check_int_arg(fast, C, 1)
    check_int_arg(slow, C, 1)
    check_int_arg(signal, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        m, s, h = macd_1d_nb(take(x, c, idx), fast[c], slow[c], signal[c])
        if which == 0:
            scatter(out, c, idx, m)
        elif which == 1:
            scatter(out, c, idx, s)
        else:
            scatter(out, c, idx, h)
    return out


@numba.njit(cache=True)
def macd_nb(x, fast, slow, signal):
    """2-D MACD line (TA-Lib ``MACD`` macd). Lookback ``max(fast, slow) - 1``."""
    return _macd_driver(x, fast, slow, signal, 0)


@numba.njit(cache=True)
def macd_signal_nb(x, fast, slow, signal):
    """2-D MACD signal line (TA-Lib ``MACD`` macdsignal). Lookback ``max(fast, slow) + signal - 2``."""
    return _macd_driver(x, fast, slow, signal, 1)


@numba.njit(cache=True)
def macd_hist_nb(x, fast, slow, signal):
    """2-D MACD histogram (TA-Lib ``MACD`` macdhist). Lookback ``max(fast, slow) + signal - 2``."""
    return _macd_driver(x, fast, slow, signal, 2)
