"""Event / boolean kernels: crosses, rising/falling streaks, bars-since, within, count.

Positional semantics (comparisons with NaN are False), except rising/falling,
which follow the NaN-as-missing rule (absent rows are False). Inputs are
(T, C) F-ordered float64 or bool arrays, windows int64 (C,); outputs are new
(T, C) F-ordered bool or float64 arrays.
"""
import numba
import numpy as np

from ._util import check_int_arg, check_same_shape, cols1, put_back_bool

# --------------------------------------------------------------------------- 1-D kernels


@numba.njit(cache=True, nogil=True)
def crosses_above_1d_nb(a, b):
    """out[t] = a[t] > b[t] and a[t-1] <= b[t-1]; False at t = 0 and wherever one of
    the four values is NaN."""
    T = a.shape[0]
    out = np.zeros(T, dtype=np.bool_)
    for t in range(1, T):
        out[t] = (a[t] > b[t]) and (a[t - 1] <= b[t - 1])
    return out


@numba.njit(cache=True, nogil=True)
def crosses_below_1d_nb(a, b):
    """out[t] = a[t] < b[t] and a[t-1] >= b[t-1]; False at t = 0 and on NaN."""
    T = a.shape[0]
    out = np.zeros(T, dtype=np.bool_)
    for t in range(1, T):
        out[t] = (a[t] < b[t]) and (a[t - 1] >= b[t - 1])
    return out


@numba.njit(cache=True, nogil=True)
def rising_into_nb(x, n, out, falling=False):
    """True where x rose strictly on each of the last n steps (gap-free series); with
    falling, where it fell strictly. Written into the bool output out (len(x)).

    Oracle pandas ``(x.diff() > 0).astype(float).rolling(n).sum() == n``. False for t < n.
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("n must be >= 1")
    if T == 0:
        return
    out[0] = False
    run = 0
    for t in range(1, T):
        step = x[t] < x[t - 1] if falling else x[t] > x[t - 1]
        run = (run + 1) * step  # branch-free streak count: the direction is unpredictable
        out[t] = run >= n


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
def crosses_above_nb(a, b):
    """2-D a crosses above b (positional; NaN -> False). a, b float64 (T, C) -> bool (T, C)."""
    check_same_shape(a, b)
    T, C = a.shape
    out = np.empty((C, T), dtype=np.bool_).T  # every row written below
    for c in range(C):
        if T > 0:
            out[0, c] = False
        for t in range(1, T):
            out[t, c] = (a[t, c] > b[t, c]) and (a[t - 1, c] <= b[t - 1, c])
    return out


@numba.njit(cache=True, nogil=True)
def crosses_below_nb(a, b):
    """2-D a crosses below b (positional; NaN -> False). a, b float64 (T, C) -> bool (T, C)."""
    check_same_shape(a, b)
    T, C = a.shape
    out = np.empty((C, T), dtype=np.bool_).T  # every row written below
    for c in range(C):
        if T > 0:
            out[0, c] = False
        for t in range(1, T):
            out[t, c] = (a[t, c] < b[t, c]) and (a[t - 1, c] >= b[t - 1, c])
    return out


@numba.njit(cache=True, nogil=True)
def _begin_rising(x, n):
    # rising/falling set-up: (x F-ordered, bool out, row-index buffer, compressed-input and -output columns)
    T, C = x.shape
    check_int_arg(n, C, 1)
    return (np.asfortranarray(x), np.empty((C, T), dtype=np.bool_).T, np.empty(T, dtype=np.int64),
            np.empty((1, T)).T[:, 0], np.empty((1, T), dtype=np.bool_).T[:, 0])


@numba.njit(cache=True, nogil=True)
def rising_nb(x, n):
    """2-D strictly rising n steps in a row over valid observations (NaN rows absent -> False)."""
    xf, out, idx, xb, ob = _begin_rising(x, n)
    for c in range(out.shape[1]):
        xs, o = cols1(xf, out, c, idx, xb, ob)
        rising_into_nb(xs, n[c], o, np.bool_(False))
        put_back_bool(out, c, idx, o)
    return out


@numba.njit(cache=True, nogil=True)
def falling_nb(x, n):
    """2-D strictly falling n steps in a row over valid observations (NaN rows absent -> False)."""
    xf, out, idx, xb, ob = _begin_rising(x, n)
    for c in range(out.shape[1]):
        xs, o = cols1(xf, out, c, idx, xb, ob)
        rising_into_nb(xs, n[c], o, np.bool_(True))
        put_back_bool(out, c, idx, o)
    return out


@numba.njit(cache=True, nogil=True)
def bars_since_nb(cond):
    """2-D bars since cond was last True (0 on True; NaN before the first True). bool -> float64."""
    T, C = cond.shape
    out = np.empty((C, T)).T
    for c in range(C):
        last = -1
        for t in range(T):
            if cond[t, c]:
                last = t
            out[t, c] = t - last if last >= 0 else np.nan
    return out


@numba.njit(cache=True, nogil=True)
def within_nb(cond, n):
    """2-D cond True at least once in the last n bars (partial start window counts). bool -> bool."""
    T, C = cond.shape
    check_int_arg(n, C, 1)
    out = np.empty((C, T), dtype=np.bool_).T  # every row written below
    for c in range(C):
        k = n[c]
        last = -k - 1
        for t in range(T):
            if cond[t, c]:
                last = t
            out[t, c] = t - last < k
    return out


@numba.njit(cache=True, nogil=True)
def count_nb(cond, n):
    """2-D number of True in the last n bars; NaN for the first n - 1 bars. bool -> float64."""
    T, C = cond.shape
    check_int_arg(n, C, 1)
    out = np.empty((C, T)).T
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
