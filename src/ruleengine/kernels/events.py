"""Event / boolean kernels: crosses, rising/falling streaks, bars-since, within, count.

Positional semantics (comparisons with NaN are False), except rising/falling,
which follow the NaN-as-missing rule (absent rows are False). Inputs are
(T, C) F-ordered float64 or bool arrays, windows int64 (C,); outputs are new
(T, C) F-ordered bool or float64 arrays.
"""
import numba
import numpy as np

from ._util import alloc_bool, alloc_f64, check_int_arg, check_same_shape, scatter_bool, take, valid_rows

# --------------------------------------------------------------------------- 1-D kernels


@numba.njit(cache=True)
def crosses_above_1d_nb(a, b):
    """out[t] = a[t] > b[t] and a[t-1] <= b[t-1]; False at t = 0 and wherever one of
    the four values is NaN."""
    T = a.shape[0]
    out = np.zeros(T, dtype=np.bool_)
    for t in range(1, T):
        out[t] = (a[t] > b[t]) and (a[t - 1] <= b[t - 1])
    return out


@numba.njit(cache=True)
def crosses_below_1d_nb(a, b):
    """out[t] = a[t] < b[t] and a[t-1] >= b[t-1]; False at t = 0 and on NaN."""
    T = a.shape[0]
    out = np.zeros(T, dtype=np.bool_)
    for t in range(1, T):
        out[t] = (a[t] < b[t]) and (a[t - 1] >= b[t - 1])
    return out


@numba.njit(cache=True)
def rising_1d_nb(x, n):
    """True where x rose strictly on each of the last n steps (gap-free series).

    Oracle pandas ``(x.diff() > 0).astype(float).rolling(n).sum() == n``. False for t < n.
    """
    T = x.shape[0]
    out = np.zeros(T, dtype=np.bool_)
    if n < 1:
        raise ValueError("n must be >= 1")
    run = 0
    for t in range(1, T):
        run = run + 1 if x[t] > x[t - 1] else 0
        out[t] = run >= n
    return out


@numba.njit(cache=True)
def falling_1d_nb(x, n):
    """True where x fell strictly on each of the last n steps (gap-free series). False for t < n."""
    T = x.shape[0]
    out = np.zeros(T, dtype=np.bool_)
    if n < 1:
        raise ValueError("n must be >= 1")
    run = 0
    for t in range(1, T):
        run = run + 1 if x[t] < x[t - 1] else 0
        out[t] = run >= n
    return out


@numba.njit(cache=True)
def bars_since_1d_nb(cond):
    """Bars since cond was last True (0 on a True bar); NaN before the first True."""
    T = cond.shape[0]
    out = np.full(T, np.nan)
    last = -1
    for t in range(T):
        if cond[t]:
            last = t
        if last >= 0:
            out[t] = t - last
    return out


@numba.njit(cache=True)
def within_1d_nb(cond, n):
    """True if cond was True at least once in the last n bars including the current one
    (a partial window at the start counts). Oracle ``cond.rolling(n, min_periods=1).max()``."""
    T = cond.shape[0]
    out = np.zeros(T, dtype=np.bool_)
    if n < 1:
        raise ValueError("n must be >= 1")
    last = -n - 1
    for t in range(T):
        if cond[t]:
            last = t
        out[t] = t - last < n
    return out


@numba.njit(cache=True)
def count_1d_nb(cond, n):
    """Number of True among the last n bars; NaN for the first n - 1 bars.

    Oracle ``cond.astype(float).rolling(n).sum()``.
    """
    T = cond.shape[0]
    out = np.full(T, np.nan)
    if n < 1:
        raise ValueError("n must be >= 1")
    cnt = 0
    for t in range(T):
        if cond[t]:
            cnt += 1
        if t >= n and cond[t - n]:
            cnt -= 1
        if t >= n - 1:
            out[t] = cnt
    return out


# --------------------------------------------------------------------------- 2-D drivers


@numba.njit(cache=True)
def crosses_above_nb(a, b):
    """2-D a crosses above b (positional; NaN -> False). a, b float64 (T, C) -> bool (T, C)."""
    check_same_shape(a, b)
    T, C = a.shape
    out = alloc_bool(T, C)
    for c in range(C):
        for t in range(1, T):
            out[t, c] = (a[t, c] > b[t, c]) and (a[t - 1, c] <= b[t - 1, c])
    return out


@numba.njit(cache=True)
def crosses_below_nb(a, b):
    """2-D a crosses below b (positional; NaN -> False). a, b float64 (T, C) -> bool (T, C)."""
    check_same_shape(a, b)
    T, C = a.shape
    out = alloc_bool(T, C)
    for c in range(C):
        for t in range(1, T):
            out[t, c] = (a[t, c] < b[t, c]) and (a[t - 1, c] >= b[t - 1, c])
    return out


@numba.njit(cache=True)
def rising_nb(x, n):
    """2-D strictly rising n steps in a row over valid observations (NaN rows absent -> False)."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    out = alloc_bool(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        scatter_bool(out, c, idx, rising_1d_nb(take(x, c, idx), n[c]))
    return out


@numba.njit(cache=True)
def falling_nb(x, n):
    """2-D strictly falling n steps in a row over valid observations (NaN rows absent -> False)."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    out = alloc_bool(T, C)
    for c in range(C):
        idx = valid_rows(x, c)
        scatter_bool(out, c, idx, falling_1d_nb(take(x, c, idx), n[c]))
    return out


@numba.njit(cache=True)
def bars_since_nb(cond):
    """2-D bars since cond was last True (0 on True; NaN before the first True). bool -> float64."""
    T, C = cond.shape
    out = alloc_f64(T, C)
    for c in range(C):
        last = -1
        for t in range(T):
            if cond[t, c]:
                last = t
            out[t, c] = t - last if last >= 0 else np.nan
    return out


@numba.njit(cache=True)
def within_nb(cond, n):
    """2-D cond True at least once in the last n bars (partial start window counts). bool -> bool."""
    T, C = cond.shape
    check_int_arg(n, C, 1)
    out = alloc_bool(T, C)
    for c in range(C):
        k = n[c]
        last = -k - 1
        for t in range(T):
            if cond[t, c]:
                last = t
            out[t, c] = t - last < k
    return out


@numba.njit(cache=True)
def count_nb(cond, n):
    """2-D number of True in the last n bars; NaN for the first n - 1 bars. bool -> float64."""
    T, C = cond.shape
    check_int_arg(n, C, 1)
    out = alloc_f64(T, C)
    for c in range(C):
        k = n[c]
        cnt = 0
        for t in range(T):
            if cond[t, c]:
                cnt += 1
            if t >= k and cond[t - k, c]:
                cnt -= 1
            out[t, c] = cnt if t >= k - 1 else np.nan
    return out
