"""Shared numba helpers for the 2-D kernel drivers (numpy + numba only).

The drivers implement the "a NaN is a missing observation" rule with these:
per column, :func:`valid_rows` (or its 2/3/4-input variants) lists the rows
where every input series is non-NaN, :func:`take` compresses a column to
those rows (a fresh C-contiguous 1-D array), the 1-D kernel runs on the
compressed series, and :func:`scatter` writes the results back to their rows
with NaN on the absent rows.

Outputs are allocated Fortran-ordered (each column contiguous) via
:func:`alloc_f64` / :func:`alloc_bool`.
"""
import numba
import numpy as np


@numba.njit(cache=True)
def alloc_f64(T, C):
    """New uninitialised float64 (T, C) array, Fortran-ordered."""
    return np.empty((C, T), dtype=np.float64).T


@numba.njit(cache=True)
def alloc_bool(T, C):
    """New all-False bool (T, C) array, Fortran-ordered."""
    return np.zeros((C, T), dtype=np.bool_).T


@numba.njit(cache=True)
def check_int_arg(w, C, min_value):
    """Validate a per-column integer argument: length C, every value >= min_value."""
    if w.shape[0] != C:
        raise ValueError("per-column argument must have one value per column (length C)")
    for c in range(C):
        if w[c] < min_value:
            raise ValueError("window/period argument below its minimum")


@numba.njit(cache=True)
def check_float_arg(k, C):
    """Validate a per-column float argument: length C."""
    if k.shape[0] != C:
        raise ValueError("per-column argument must have one value per column (length C)")


@numba.njit(cache=True)
def check_same_shape(a, b):
    """Raise unless two 2-D inputs have the same shape."""
    if a.shape[0] != b.shape[0] or a.shape[1] != b.shape[1]:
        raise ValueError("input series must all have the same (T, C) shape")


@numba.njit(cache=True)
def valid_rows(x, c):
    """Row indices (int64) where x[:, c] is not NaN."""
    T = x.shape[0]
    idx = np.empty(T, dtype=np.int64)
    m = 0
    for t in range(T):
        if not np.isnan(x[t, c]):
            idx[m] = t
            m += 1
    return idx[:m]


@numba.njit(cache=True)
def valid_rows2(a, b, c):
    """Row indices where neither a[:, c] nor b[:, c] is NaN."""
    T = a.shape[0]
    idx = np.empty(T, dtype=np.int64)
    m = 0
    for t in range(T):
        if not (np.isnan(a[t, c]) or np.isnan(b[t, c])):
            idx[m] = t
            m += 1
    return idx[:m]


@numba.njit(cache=True)
def valid_rows3(a, b, d, c):
    """Row indices where none of a, b, d is NaN in column c."""
    T = a.shape[0]
    idx = np.empty(T, dtype=np.int64)
    m = 0
    for t in range(T):
        if not (np.isnan(a[t, c]) or np.isnan(b[t, c]) or np.isnan(d[t, c])):
            idx[m] = t
            m += 1
    return idx[:m]


@numba.njit(cache=True)
def valid_rows4(a, b, d, e, c):
    """Row indices where none of a, b, d, e is NaN in column c."""
    T = a.shape[0]
    idx = np.empty(T, dtype=np.int64)
    m = 0
    for t in range(T):
        if not (np.isnan(a[t, c]) or np.isnan(b[t, c]) or np.isnan(d[t, c]) or np.isnan(e[t, c])):
            idx[m] = t
            m += 1
    return idx[:m]


@numba.njit(cache=True)
def take(x, c, idx):
    """Compress column c of x to the rows in idx (new contiguous float64 1-D array)."""
    m = idx.shape[0]
    out = np.empty(m, dtype=np.float64)
    if m == x.shape[0]:  # no gaps (the common case): a straight copy, no indirection
        for j in range(m):
            out[j] = x[j, c]
        return out
    for j in range(m):
        out[j] = x[idx[j], c]
    return out


@numba.njit(cache=True)
def scatter(out, c, idx, vals):
    """out[:, c] = NaN, then out[idx[j], c] = vals[j]."""
    T = out.shape[0]
    if idx.shape[0] == T:  # no gaps: one straight pass
        for t in range(T):
            out[t, c] = vals[t]
        return
    for t in range(T):
        out[t, c] = np.nan
    for j in range(idx.shape[0]):
        out[idx[j], c] = vals[j]


@numba.njit(cache=True)
def scatter_bool(out, c, idx, vals):
    """out[:, c] = False, then out[idx[j], c] = vals[j]."""
    T = out.shape[0]
    if idx.shape[0] == T:
        for t in range(T):
            out[t, c] = vals[t]
        return
    for t in range(T):
        out[t, c] = False
    for j in range(idx.shape[0]):
        out[idx[j], c] = vals[j]


@numba.njit(cache=True)
def nan_1d(T):
    """New float64 1-D array of length T filled with NaN."""
    return np.full(T, np.nan)


@numba.njit(cache=True)
def ieee_div(a, b):
    """a / b with IEEE-754 semantics (x/0 -> +-inf, 0/0 -> NaN) instead of raising.

    numba's default error model raises ZeroDivisionError on float division by
    zero; this keeps numpy/pandas semantics where the spec asks for them.
    """
    if b != 0.0:
        return a / b
    if np.isnan(a) or a == 0.0:
        return np.nan
    if (a > 0.0) == (np.copysign(1.0, b) > 0.0):
        return np.inf
    return -np.inf


@numba.njit(cache=True)
def rolling_max_1d(x, n):
    """Rolling maximum of a gap-free 1-D series (NaN for the first n-1 rows); monotonic deque, O(T)."""
    T = x.shape[0]
    out = np.full(T, np.nan)
    dq = np.empty(T, dtype=np.int64)
    head = 0
    tail = 0
    for t in range(T):
        while tail > head and x[dq[tail - 1]] <= x[t]:
            tail -= 1
        dq[tail] = t
        tail += 1
        if dq[head] <= t - n:
            head += 1
        if t >= n - 1:
            out[t] = x[dq[head]]
    return out


@numba.njit(cache=True)
def rolling_min_1d(x, n):
    """Rolling minimum of a gap-free 1-D series (NaN for the first n-1 rows); monotonic deque, O(T)."""
    T = x.shape[0]
    out = np.full(T, np.nan)
    dq = np.empty(T, dtype=np.int64)
    head = 0
    tail = 0
    for t in range(T):
        while tail > head and x[dq[tail - 1]] >= x[t]:
            tail -= 1
        dq[tail] = t
        tail += 1
        if dq[head] <= t - n:
            head += 1
        if t >= n - 1:
            out[t] = x[dq[head]]
    return out
