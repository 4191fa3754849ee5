"""Cross-sectional kernels: on each bar, an operation over the symbols of one parameter set.

Inputs: ``x`` (T, W) float64 where W = k * S holds k stacked values side by side, each a block of S symbol
columns (the layout of `compile.program`: a block is one parameter set's symbols); ``member`` (T, S) bool,
whether symbol s belongs to the universe on bar t; ``order`` (S,) int64, the position of each symbol in
name order (ties of `top` / `bottom` go to the earlier name). A value takes part only where it is a member
and not NaN; every other cell of the output is NaN (False for the selections). Only row t is read to
compute row t: a cross-section is as causal as its input.
"""
import numpy as np

from ._numba import numba  # numba with the kernel cache stamp installed


@numba.njit(cache=True, nogil=True)
def _valid(x, member, t, c0, S, vals, cols):
    """Gather the usable values of row t of the block starting at column c0; returns their count."""
    m = 0
    for s in range(S):
        v = x[t, c0 + s]
        if member[t, s] and not np.isnan(v):
            vals[m] = v
            cols[m] = s
            m += 1
    return m


@numba.njit(cache=True, nogil=True)
def _average_ranks(vals, m, ranks):
    """ranks[i] = ascending rank of vals[i] among vals[:m] (1 = smallest), ties averaged (pandas
    ``rank(method="average")``)."""
    idx = np.argsort(vals[:m], kind="mergesort")
    i = 0
    while i < m:
        j = i
        while j + 1 < m and vals[idx[j + 1]] == vals[idx[i]]:
            j += 1
        r = (i + j) / 2.0 + 1.0
        for q in range(i, j + 1):
            ranks[idx[q]] = r
        i = j + 1


@numba.njit(cache=True, nogil=True)
def _ranked(x, member, descending, pct):
    T, W = x.shape
    S = member.shape[1]
    out = np.full((W, T), np.nan).T
    vals = np.empty(S)
    cols = np.empty(S, dtype=np.int64)
    ranks = np.empty(S)
    for c0 in range(0, W, S):
        for t in range(T):
            m = _valid(x, member, t, c0, S, vals, cols)
            if m == 0:
                continue
            _average_ranks(vals, m, ranks)
            for i in range(m):
                r = ranks[i]
                if pct:
                    out[t, c0 + cols[i]] = (r - 1.0) / (m - 1.0) if m > 1 else np.nan
                elif descending:
                    out[t, c0 + cols[i]] = m + 1.0 - r
                else:
                    out[t, c0 + cols[i]] = r
    return out


@numba.njit(cache=True, nogil=True)
def rank_nb(x, member):
    """1 = the largest value of the bar; ties share the average of their ranks
    (pandas ``rank(axis=1, ascending=False)``)."""
    return _ranked(x, member, True, False)


@numba.njit(cache=True, nogil=True)
def percentile_nb(x, member):
    """(ascending average rank - 1) / (members - 1): 0 the smallest, 1 the largest; NaN below 2 members
    (pandas ``(rank(axis=1) - 1) / (count(axis=1) - 1)``)."""
    return _ranked(x, member, False, True)


@numba.njit(cache=True, nogil=True)
def cs_mean_nb(x, member):
    """Mean of the bar's usable values, written to every usable cell (pandas ``mean(axis=1)``)."""
    return _moments(x, member, False)


@numba.njit(cache=True, nogil=True)
def cs_zscore_nb(x, member):
    """(x - mean) / population std (ddof 0) of the bar; NaN below 2 members or when the std is 0
    (pandas ``sub(mean(axis=1), axis=0).div(std(axis=1, ddof=0), axis=0)``)."""
    return _moments(x, member, True)


@numba.njit(cache=True, nogil=True)
def _moments(x, member, zscore):
    T, W = x.shape
    S = member.shape[1]
    out = np.full((W, T), np.nan).T
    vals = np.empty(S)
    cols = np.empty(S, dtype=np.int64)
    for c0 in range(0, W, S):
        for t in range(T):
            m = _valid(x, member, t, c0, S, vals, cols)
            if m == 0:
                continue
            mean = 0.0
            for i in range(m):
                mean += vals[i]
            mean /= m
            if not zscore:
                for i in range(m):
                    out[t, c0 + cols[i]] = mean
                continue
            if m < 2:
                continue
            var = 0.0
            for i in range(m):
                var += (vals[i] - mean) ** 2
            std = np.sqrt(var / m)
            if std == 0.0:
                continue
            for i in range(m):
                out[t, c0 + cols[i]] = (vals[i] - mean) / std
    return out


#: up to this n, `_select` keeps the best n in a sorted buffer (one pass over the bar's symbols); above, one sort
_PARTIAL_MAX = 64


@numba.njit(cache=True, nogil=True)
def _select(x, member, order, n, best):
    """True for the n[c0] largest (best) or smallest usable values of each bar; ties go to the earlier name.

    Symbols are visited in name order, so "the earlier name wins a tie" is "an equal value never displaces one
    seen before". For n <= `_PARTIAL_MAX` every bar keeps a sorted buffer of its best n so far (insertion after
    equal keys), filled column by column: the inputs are read in their memory order and most values only meet
    the bar's current worst kept key. Larger n: one stable sort of each bar's keys. Both give the first n of a
    stable sort by value over the name-sorted symbols (pandas ``rank(method="first")``), without sorting every
    bar (a sweep selects thousands of times).
    """
    T, W = x.shape
    S = member.shape[1]
    out = np.zeros((W, T), dtype=np.bool_).T
    names = np.empty(S, dtype=np.int64)  # names[i]: the column of the i-th symbol in name order
    for s in range(S):
        names[order[s]] = s
    kmax = 0
    for c0 in range(0, W, S):
        kmax = max(kmax, min(n[c0], _PARTIAL_MAX))
    kept_keys = np.empty((T, max(kmax, 1)))  # smaller is better
    kept_cols = np.empty((T, max(kmax, 1)), dtype=np.int64)
    count = np.empty(T, dtype=np.int64)
    worst = np.empty(T)  # the worst kept key of a full buffer (+inf until full)
    keys = np.empty(S)
    cols = np.empty(S, dtype=np.int64)
    for c0 in range(0, W, S):
        k = n[c0]
        if k <= 0:
            continue
        if k <= _PARTIAL_MAX:
            count[:] = 0
            worst[:] = np.inf
            for i in range(S):
                s = names[i]
                xs = x[:, c0 + s]
                ms = member[:, s]
                for t in range(T):
                    v = -xs[t] if best else xs[t]
                    # NaN fails the comparison: only usable values better than the bar's worst kept one go on
                    if not v < worst[t] or not ms[t]:
                        continue
                    key = v
                    m = count[t]
                    j = m if m < k else k - 1  # full: the worst kept one drops out
                    while j > 0 and kept_keys[t, j - 1] > key:
                        kept_keys[t, j] = kept_keys[t, j - 1]
                        kept_cols[t, j] = kept_cols[t, j - 1]
                        j -= 1
                    kept_keys[t, j] = key
                    kept_cols[t, j] = s
                    if m < k:
                        count[t] = m + 1
                    if count[t] == k:
                        worst[t] = kept_keys[t, k - 1]
            for t in range(T):
                for i in range(count[t]):
                    out[t, c0 + kept_cols[t, i]] = True
            continue
        for t in range(T):
            m = 0
            for i in range(S):
                s = names[i]
                v = x[t, c0 + s]
                if member[t, s] and not np.isnan(v):
                    keys[m] = -v if best else v
                    cols[m] = s
                    m += 1
            by_key = np.argsort(keys[:m], kind="mergesort")
            for i in range(min(k, m)):
                out[t, c0 + cols[by_key[i]]] = True
    return out


@numba.njit(cache=True, nogil=True)
def top_nb(x, member, order, n):
    """True for the n largest values of the bar, ties to the earlier name (pandas ``rank(axis=1, ascending=False,
    method="first") <= n`` over the name-sorted columns)."""
    return _select(x, member, order, n, True)


@numba.njit(cache=True, nogil=True)
def bottom_nb(x, member, order, n):
    """True for the n smallest values of the bar, ties to the earlier name (pandas ``rank(axis=1, method="first") <= n``
    over the name-sorted columns)."""
    return _select(x, member, order, n, False)
