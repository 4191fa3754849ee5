"""Shared numba helpers of the kernels and of the generated 2-D drivers (numpy + numba only).

The drivers (made by ``_columns.drive``) implement the "a NaN is a missing observation" rule per column.
A driver built for ``sma_1d_nb`` reads::

    x_, out, idx, b = begin1(x, n)              # checks, F-ordered input, output, scratch
    for c in range(out.shape[1]):
        xc, o = cols1(x_, out, c, idx, b[:, 0], b[:, 1])
        sma_1d_nb(xc, n[c], o)                   # the kernel
        put_back(out, c, idx, o)

:func:`cols1` (and its 2/3/4-input variants) scans column c: a gap-free
column (the common case) is handed to the kernel in place as ``x[:, c]`` /
``out[:, c]`` of the Fortran-ordered arrays (no copies); otherwise the rows
where every input is non-NaN are compressed into scratch columns (their row
numbers into idx), the kernel runs on the compressed series and
:func:`put_back` scatters its output to ``out[:, c]`` with NaN on the absent
rows. Both paths hand the kernels 1-D views of F-ordered 2-D arrays, so each
kernel compiles once.

Cold compile: numba types and compiles every branch of a function and every
jitted function it calls, and each distinct jitted callee is one more
compilation (~0.1 s each in a fresh process with an empty cache). So no
driver switches between kernels at run time (a runtime ``which`` would
compile all of them), and the plumbing is three small self-contained helpers
(``beginK``, ``colsK``, ``put_back``; the argument checks are inlined in
``beginK``). Outputs and scratch are allocated Fortran-ordered
(``np.empty((k, T)).T``) inside these helpers or inline: a literal int
argument to a jitted helper would compile one specialisation per value.
"""
import numpy as np

from ._numba import numba  # numba with the kernel cache stamp installed

# error messages of the argument checks (shared by check_* and the inlined checks of the begin* helpers)
_LENGTH = "per-column argument must have one value per column (length C)"
_MINIMUM = "window/period argument below its minimum"
_SHAPE = "input series must all have the same (T, C) shape"


@numba.njit(cache=True, nogil=True)
def check_int_arg(w, C, min_value):
    """Validate a per-column integer argument: length C, every value >= min_value."""
    if w.shape[0] != C:
        raise ValueError(_LENGTH)
    for c in range(C):
        if w[c] < min_value:
            raise ValueError(_MINIMUM)


@numba.njit(cache=True, nogil=True)
def check_float_arg(k, C):
    """Validate a per-column float argument: length C."""
    if k.shape[0] != C:
        raise ValueError(_LENGTH)


@numba.njit(cache=True, nogil=True)
def check_same_shape(a, b):
    """Raise unless two 2-D inputs have the same shape."""
    if a.shape[0] != b.shape[0] or a.shape[1] != b.shape[1]:
        raise ValueError(_SHAPE)


@numba.njit(cache=True, nogil=True)
def nan_head(out, k):
    """out[:k] = NaN (the lookback rows; all of out if k >= len(out))."""
    for t in range(min(k, out.shape[0])):
        out[t] = np.nan


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
def true_range(high, low, close, t):
    """TA-Lib true range of bar t (t >= 1): max(h-l, |c[t-1]-h|, |c[t-1]-l|)."""
    h = high[t]
    lo = low[t]
    cy = close[t - 1]
    greatest = h - lo
    greatest = max(greatest, abs(cy - h))
    return max(greatest, abs(cy - lo))


@numba.njit(cache=True, nogil=True)
def dm_tr(high, low, close, t):
    """+DM1, -DM1 and true range of bar t (t >= 1), as in ta_ADX.c."""
    diff_p = high[t] - high[t - 1]
    diff_m = low[t - 1] - low[t]
    plus = 0.0
    minus = 0.0
    if diff_m > 0 and diff_p < diff_m:
        minus = diff_m
    elif diff_p > 0 and diff_p > diff_m:
        plus = diff_p
    return plus, minus, true_range(high, low, close, t)


@numba.njit(cache=True, nogil=True)
def rolling_max_into(x, n, out, s):
    """out[t] = max(x[t-n+1 .. t]) of a gap-free series for t >= n-1, NaN before.

    Exact (a window's maximum is one of its values; on ties the value at the
    latest index, like TA-Lib's MAX scan and a monotonic deque, which only
    matters for -0.0 vs 0.0). O(T) without data-dependent branches: van Herk /
    Gil-Werman blocks of n rows, s (length >= len(x)) holds the in-block
    suffix maxima, a forward scan the in-block prefix maxima.
    """
    T = x.shape[0]
    nan_head(out, n - 1)
    if T < n:
        return
    for b in range(0, T, n):
        e = min(b + n, T)
        m = x[e - 1]
        s[e - 1] = m
        for i in range(e - 2, b - 1, -1):
            v = x[i]
            m = m if m >= v else v  # noqa: FURB136 -- the later value wins ties (explicit select)
            s[i] = m
    out[n - 1] = s[0]
    for b in range(n, T, n):
        p = -np.inf
        for t in range(b, min(b + n, T)):
            v = x[t]
            p = v if v >= p else p  # noqa: FURB136
            q = s[t - n + 1]
            out[t] = p if p >= q else q  # noqa: FURB136


@numba.njit(cache=True, nogil=True)
def rolling_min_into(x, n, out, s):
    """out[t] = min(x[t-n+1 .. t]) for t >= n-1, NaN before; mirror of :func:`rolling_max_into`."""
    T = x.shape[0]
    nan_head(out, n - 1)
    if T < n:
        return
    for b in range(0, T, n):
        e = min(b + n, T)
        m = x[e - 1]
        s[e - 1] = m
        for i in range(e - 2, b - 1, -1):
            v = x[i]
            m = m if m <= v else v  # noqa: FURB136
            s[i] = m
    out[n - 1] = s[0]
    for b in range(n, T, n):
        p = np.inf
        for t in range(b, min(b + n, T)):
            v = x[t]
            p = v if v <= p else p  # noqa: FURB136
            q = s[t - n + 1]
            out[t] = p if p <= q else q  # noqa: FURB136


# --------------------------------------------------------------------------- driver plumbing (see above)


@numba.njit(cache=True, nogil=True)
def begin1(x, n):
    """One-input driver set-up: check n as :func:`check_int_arg` (length C, >= 1); return (x F-ordered,
    out, idx, b): out new float64 (T, C) F-ordered; idx int64 (T,) row numbers for :func:`cols1`;
    b float64 (T, 4) F-ordered scratch (columns 0, 1 for cols1, 2, 3 for the kernel).

    The checks are inlined here (and in begin2/3/4): every jitted callee is one more cold compilation.
    """
    T, C = x.shape
    if n.shape[0] != C:
        raise ValueError(_LENGTH)
    for c in range(C):
        if n[c] < 1:
            raise ValueError(_MINIMUM)
    return np.asfortranarray(x), np.empty((C, T)).T, np.empty(T, dtype=np.int64), np.empty((4, T)).T


@numba.njit(cache=True, nogil=True)
def begin1_bool(x, n):
    """:func:`begin1` for a bool output: (x F-ordered, bool out, idx, float and bool compressed columns)."""
    T, C = x.shape
    check_int_arg(n, C, 1)
    return (np.asfortranarray(x), np.empty((C, T), dtype=np.bool_).T, np.empty(T, dtype=np.int64),
            np.empty((1, T)).T[:, 0], np.empty((1, T), dtype=np.bool_).T[:, 0])


@numba.njit(cache=True, nogil=True)
def col_has_nan(x, c):
    """True if column c of x holds a NaN (branch-free scan, vectorised by LLVM)."""
    bad = False
    for t in range(x.shape[0]):
        bad |= np.isnan(x[t, c])
    return bad


@numba.njit(cache=True, nogil=True)
def cols1(x, out, c, idx, xb, ob):
    """Kernel views of column c: (x[:, c], out[:, c]) when the column has no NaN (the kernel runs in
    place), else (xb[:m], ob[:m]) with the m non-NaN rows of x[:, c] copied into xb and their row
    numbers into idx[:m]; :func:`put_back` then scatters ob[:m] to out[:, c]."""
    T = x.shape[0]
    bad = False
    for t in range(T):  # branch-free scan, vectorised
        bad |= np.isnan(x[t, c])
    if not bad:
        return x[:, c], out[:, c]
    m = 0
    for t in range(T):
        v = x[t, c]
        if not np.isnan(v):
            idx[m] = t
            xb[m] = v
            m += 1
    return xb[:m], ob[:m]


@numba.njit(cache=True, nogil=True)
def begin2(a, d):
    """Two-input driver set-up (windows are checked by the driver): check the shapes; return (a, d F-ordered,
    out, idx, b (T, 5): columns 0..2 for :func:`cols2`, 3 and 4 for the kernel)."""
    T, C = a.shape
    if d.shape[0] != T or d.shape[1] != C:
        raise ValueError(_SHAPE)
    return (np.asfortranarray(a), np.asfortranarray(d), np.empty((C, T)).T, np.empty(T, dtype=np.int64),
            np.empty((5, T)).T)


@numba.njit(cache=True, nogil=True)
def begin3(a, d, e, n):
    """Three-input driver set-up: check the shapes (as e's) and n (as :func:`begin1`); return
    (a, d, e F-ordered, out, idx, b (T, 7))."""
    T, C = e.shape
    if a.shape[0] != T or a.shape[1] != C or d.shape[0] != T or d.shape[1] != C:
        raise ValueError(_SHAPE)
    if n.shape[0] != C:
        raise ValueError(_LENGTH)
    for c in range(C):
        if n[c] < 1:
            raise ValueError(_MINIMUM)
    a, d, e = np.asfortranarray(a), np.asfortranarray(d), np.asfortranarray(e)
    return a, d, e, np.empty((C, T)).T, np.empty(T, dtype=np.int64), np.empty((7, T)).T


@numba.njit(cache=True, nogil=True)
def begin4(a, d, e, f, n):
    """Four-input driver set-up: check the shapes (as e's) and n (as :func:`begin1`); return
    (a, d, e, f F-ordered, out, idx, b (T, 7))."""
    T, C = e.shape
    if a.shape[0] != T or a.shape[1] != C or d.shape[0] != T or d.shape[1] != C or f.shape[0] != T or f.shape[1] != C:
        raise ValueError(_SHAPE)
    if n.shape[0] != C:
        raise ValueError(_LENGTH)
    for c in range(C):
        if n[c] < 1:
            raise ValueError(_MINIMUM)
    a, d, e, f = np.asfortranarray(a), np.asfortranarray(d), np.asfortranarray(e), np.asfortranarray(f)
    return a, d, e, f, np.empty((C, T)).T, np.empty(T, dtype=np.int64), np.empty((7, T)).T


@numba.njit(cache=True, nogil=True)
def cols2(a, d, out, c, idx, b):
    """:func:`cols1` for two inputs (a row is absent when either is NaN): (a, d, out) views of column c,
    in place, or compressed into b[:, 0], b[:, 1] with the output in b[:, 2]."""
    T = a.shape[0]
    bad = False
    for t in range(T):
        bad |= np.isnan(a[t, c]) | np.isnan(d[t, c])
    if not bad:
        return a[:, c], d[:, c], out[:, c]
    ab, db = b[:, 0], b[:, 1]
    m = 0
    for t in range(T):
        if not (np.isnan(a[t, c]) or np.isnan(d[t, c])):
            idx[m] = t
            ab[m] = a[t, c]
            db[m] = d[t, c]
            m += 1
    return ab[:m], db[:m], b[:, 2][:m]


@numba.njit(cache=True, nogil=True)
def cols3(a, d, e, out, c, idx, b):
    """:func:`cols1` for three inputs: (a, d, e, out) views of column c, in place, or the rows where no
    input is NaN compressed into b[:, 0..2] with the output in b[:, 3]."""
    T = a.shape[0]
    bad = False
    for t in range(T):
        bad |= np.isnan(a[t, c]) | np.isnan(d[t, c]) | np.isnan(e[t, c])
    if not bad:
        return a[:, c], d[:, c], e[:, c], out[:, c]
    ab, db, eb = b[:, 0], b[:, 1], b[:, 2]
    m = 0
    for t in range(T):
        if not (np.isnan(a[t, c]) or np.isnan(d[t, c]) or np.isnan(e[t, c])):
            idx[m] = t
            ab[m] = a[t, c]
            db[m] = d[t, c]
            eb[m] = e[t, c]
            m += 1
    return ab[:m], db[:m], eb[:m], b[:, 3][:m]


@numba.njit(cache=True, nogil=True)
def cols4(a, d, e, f, out, c, idx, b):
    """:func:`cols1` for four inputs: (a, d, e, f, out) views of column c, in place, or the rows where no
    input is NaN compressed into b[:, 0..3] with the output in b[:, 4]."""
    T = a.shape[0]
    bad = False
    for t in range(T):
        bad |= np.isnan(a[t, c]) | np.isnan(d[t, c]) | np.isnan(e[t, c]) | np.isnan(f[t, c])
    if not bad:
        return a[:, c], d[:, c], e[:, c], f[:, c], out[:, c]
    ab, db, eb, fb = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    m = 0
    for t in range(T):
        if not (np.isnan(a[t, c]) or np.isnan(d[t, c]) or np.isnan(e[t, c]) or np.isnan(f[t, c])):
            idx[m] = t
            ab[m] = a[t, c]
            db[m] = d[t, c]
            eb[m] = e[t, c]
            fb[m] = f[t, c]
            m += 1
    return ab[:m], db[:m], eb[:m], fb[:m], b[:, 4][:m]


@numba.njit(cache=True, nogil=True)
def put_back(out, c, idx, vals):
    """After the kernel: when vals is a compressed column (len m < T), out[:, c] = NaN, then
    out[idx[j], c] = vals[j]; nothing to do when vals is out[:, c] itself."""
    T = out.shape[0]
    m = vals.shape[0]
    if m < T:
        for t in range(T):
            out[t, c] = np.nan
        for j in range(m):
            out[idx[j], c] = vals[j]


@numba.njit(cache=True, nogil=True)
def put_back_bool(out, c, idx, vals):
    """:func:`put_back` for a bool output: absent rows are False."""
    T = out.shape[0]
    m = vals.shape[0]
    if m < T:
        for t in range(T):
            out[t, c] = False
        for j in range(m):
            out[idx[j], c] = vals[j]
