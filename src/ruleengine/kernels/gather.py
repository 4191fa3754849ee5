"""Column-indexed variants of two-input event kernels, for parameter grids (numpy + numba only).

On a grid the inputs of the final crosses are columns of a few stacked indicator outputs
(`sma(close, w)` for every distinct w). These kernels read `a[:, ia[k]]` and `b[:, ib[k]]` directly, so
the executor does not copy the columns side by side first. Results equal `crosses_above_nb` /
`crosses_below_nb` on the gathered columns.
"""

import numpy as np

from ._numba import numba  # numba with the kernel cache stamp installed


@numba.njit(cache=True, nogil=True)
def crosses_above_cols_nb(a, ia, b, ib):
    """crosses_above_nb(a[:, ia], b[:, ib]) without gathering: a, b float64 (T, *), ia, ib int64 (K,)."""
    T = a.shape[0]
    K = ia.shape[0]
    out = np.zeros((K, T), dtype=np.bool_).T
    for k in range(K):
        ca = ia[k]
        cb = ib[k]
        for t in range(1, T):
            out[t, k] = (a[t, ca] > b[t, cb]) and (a[t - 1, ca] <= b[t - 1, cb])
    return out


@numba.njit(cache=True, nogil=True)
def crosses_below_cols_nb(a, ia, b, ib):
    """crosses_below_nb(a[:, ia], b[:, ib]) without gathering: a, b float64 (T, *), ia, ib int64 (K,)."""
    T = a.shape[0]
    K = ia.shape[0]
    out = np.zeros((K, T), dtype=np.bool_).T
    for k in range(K):
        ca = ia[k]
        cb = ib[k]
        for t in range(1, T):
            out[t, k] = (a[t, ca] < b[t, cb]) and (a[t - 1, ca] >= b[t - 1, cb])
    return out


@numba.njit(cache=True, nogil=True)
def clear_head_nb(out, warm):
    """out[:warm[c], c] = False for every column c (the warm-up bars of each signal column)."""
    for c in range(out.shape[1]):
        for t in range(min(warm[c], out.shape[0])):
            out[t, c] = False
