"""Return transforms and lags: pct_change, log_return (NaN-as-missing), shift (positional).

1-D kernels (``<op>_into_nb``) write into a caller-provided output; 2-D drivers
take (T, C) F-ordered float64 input and int64 per-column lags and return
(T, C) F-ordered float64 (NaN-as-missing: gap-free columns run in place, see
``_util``). Lookbacks are leading-NaN counts on gap-free data.
"""
import numba
import numpy as np

from ._util import begin1, check_int_arg, cols1, ieee_div, nan_1d, nan_head, put_back

# --------------------------------------------------------------------------- 1-D kernels


@numba.njit(cache=True, nogil=True)
def pct_change_into_nb(x, n, out):
    """Fractional change x[t] / x[t-n] - 1; oracle pandas ``pct_change(n)`` (no fill).

    Division by zero follows IEEE/pandas (+-inf, or NaN for 0/0). Lookback ``n``.

    Args:
        x (float64[:]): gap-free series.
        n (int): lag, >= 1.
        out (float64[:]): output, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("lag must be >= 1")
    nan_head(out, n)
    for t in range(n, T):
        out[t] = ieee_div(x[t], x[t - n]) - 1.0


@numba.njit(cache=True, nogil=True)
def log_return_into_nb(x, n, out):
    """Log return log(x[t] / x[t-n]); oracle numpy ``np.log(x / x.shift(n))``. Lookback ``n``.

    Non-positive ratios give NaN / -inf like numpy.

    Args:
        x (float64[:]): gap-free series.
        n (int): lag, >= 1.
        out (float64[:]): output, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("lag must be >= 1")
    nan_head(out, n)
    for t in range(n, T):
        out[t] = np.log(ieee_div(x[t], x[t - n]))


@numba.njit(cache=True, nogil=True)
def shift_1d_nb(x, n):
    """Positional lag out[t] = x[t-n] (NaN for t < n); oracle pandas ``shift(n)``.

    Lookback ``n``; n = 0 returns a copy.

    Args:
        x (float64[:]): series (NaN kept in place).
        n (int): lag, >= 0.
    """
    T = x.shape[0]
    out = nan_1d(T)
    if n < 0:
        raise ValueError("lag must be >= 0")
    for t in range(n, T):
        out[t] = x[t - n]
    return out


# --------------------------------------------------------------------------- 2-D drivers


@numba.njit(cache=True, nogil=True)
def pct_change_nb(x, n):
    """2-D fractional change over n valid observations (NaN rows absent). Lookback ``n``."""
    xf, out, idx, b = begin1(x, n)
    for c in range(out.shape[1]):
        xs, o = cols1(xf, out, c, idx, b[:, 0], b[:, 1])
        pct_change_into_nb(xs, n[c], o)
        put_back(out, c, idx, o)
    return out


@numba.njit(cache=True, nogil=True)
def log_return_nb(x, n):
    """2-D log return over n valid observations (NaN rows absent). Lookback ``n``."""
    xf, out, idx, b = begin1(x, n)
    for c in range(out.shape[1]):
        xs, o = cols1(xf, out, c, idx, b[:, 0], b[:, 1])
        log_return_into_nb(xs, n[c], o)
        put_back(out, c, idx, o)
    return out


@numba.njit(cache=True, nogil=True)
def shift_nb(x, n):
    """2-D positional lag (pandas ``shift(n)``, NaN stays where it is). Lookback ``n``; n >= 0."""
    T, C = x.shape
    check_int_arg(n, C, 0)
    out = np.empty((C, T)).T
    for c in range(C):
        k = n[c]
        for t in range(T):
            out[t, c] = x[t - k, c] if t >= k else np.nan
    return out
