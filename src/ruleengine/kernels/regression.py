"""Rolling statistics over time: correlation, beta of returns, regression slope, rank of today in a window.

1-D kernels (``<op>_1d_nb``) read gap-free float64 series and write into a caller-provided output (NaN on
the lookback rows); the 2-D drivers (``<op>_nb``, made by ``_columns.drive``) take (T, C) F-ordered inputs
and one int64 window per column and apply the NaN-as-missing rule (a row where any input is NaN is absent).
LINEARREG_SLOPE follows TA-Lib's algorithm; CORREL and BETA are computed from each window's centered sums
(two passes: TA-Lib 0.8's values, which running sums of squares miss by up to 1e-7 on small moves of large
prices); ts_rank is pandas' ``rolling(n).rank(pct=True)``.
"""
import math

from ._columns import drive
from ._numba import numba  # numba with the kernel cache stamp installed
from ._util import nan_head


@numba.njit(cache=True, nogil=True)
def _centered(a, b, lo, hi):
    """(sum (a - mean a)^2, sum (b - mean b)^2, sum (a - mean a)(b - mean b)) over rows lo..hi-1, two-pass;
    a variance is exactly 0 when the window is flat (every value equal), whatever the rounding of its mean."""
    n = hi - lo
    ma = 0.0
    mb = 0.0
    a_flat = True
    b_flat = True
    for t in range(lo, hi):
        ma += a[t]
        mb += b[t]
        a_flat &= a[t] == a[lo]
        b_flat &= b[t] == b[lo]
    ma /= n
    mb /= n
    saa = 0.0
    sbb = 0.0
    sab = 0.0
    for t in range(lo, hi):
        da = a[t] - ma
        db = b[t] - mb
        saa += da * da
        sbb += db * db
        sab += da * db
    return (0.0 if a_flat else saa), (0.0 if b_flat else sbb), sab


@numba.njit(cache=True, nogil=True)
def corr_1d_nb(a, b, n, out):
    """Pearson correlation of a and b over the last n bars; oracle TA-Lib ``CORREL``. Lookback ``n - 1``.

    cov / sqrt(var_a * var_b) from each window's centered sums (two passes, O(n) per bar: running sums of
    squares lose the digits of small moves on large prices), 0 where either window is flat.

    Args:
        a, b (float64[:]): gap-free series.
        n (int): window, >= 1.
        out (float64[:]): output, len(a).
    """
    T = a.shape[0]
    if n < 1:
        raise ValueError("window must be >= 1")
    nan_head(out, n - 1)
    for t in range(n - 1, T):
        saa, sbb, sab = _centered(a, b, t - n + 1, t + 1)
        v = saa * sbb
        out[t] = sab / math.sqrt(v) if v > 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def beta_1d_nb(x, market, n, out, rx, rm):
    """Beta of x's one-bar returns on the market's over the last n returns; oracle TA-Lib ``BETA(market, x, n)``.

    r = p[t] / p[t-1] - 1 (0 after a zero price, as TA-Lib); beta = cov(rm, rx) / var(rm) from each window's
    centered sums (two passes, O(n) per bar), 0 where the market's returns are flat. Lookback ``n``.

    Args:
        x, market (float64[:]): gap-free prices.
        n (int): window of returns, >= 1.
        out (float64[:]): output, len(x).
        rx, rm (float64[:]): scratch, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("window must be >= 1")
    nan_head(out, n)
    for t in range(1, T):
        rx[t] = (x[t] - x[t - 1]) / x[t - 1] if x[t - 1] != 0.0 else 0.0
        rm[t] = (market[t] - market[t - 1]) / market[t - 1] if market[t - 1] != 0.0 else 0.0
    for t in range(n, T):
        smm, _sxx, smx = _centered(rm, rx, t - n + 1, t + 1)
        out[t] = smx / smm if smm > 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def slope_1d_nb(x, n, out):
    """Least-squares slope of x against the bar number over the last n bars (units of x per bar); oracle
    TA-Lib ``LINEARREG_SLOPE``. Each window summed afresh, as TA-Lib (O(n) per bar). Lookback ``n - 1``.

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 2.
        out (float64[:]): output, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("window must be >= 1")
    nan_head(out, n - 1)
    sum_x = n * (n - 1) * 0.5
    sum_x_sqr = n * (n - 1) * (2 * n - 1) / 6.0
    divisor = sum_x * sum_x - n * sum_x_sqr
    for t in range(n - 1, T):
        sum_xy = 0.0
        sum_y = 0.0
        for i in range(n - 1, -1, -1):  # i bars ago, TA-Lib's order
            v = x[t - i]
            sum_y += v
            sum_xy += i * v
        out[t] = (n * sum_xy - sum_x * sum_y) / divisor if divisor != 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def ts_rank_1d_nb(x, n, out):
    """Rank of x[t] among the last n values (this one included) as a fraction in (0, 1]; oracle pandas
    ``rolling(n).rank(method="average", pct=True)``.

    rank = (values below x[t]) + (values equal to x[t], itself included, + 1) / 2, divided by n: 1 when
    today is the unique highest, 1/n when it is the unique lowest, ties share their average rank. O(n) per
    bar. Lookback ``n - 1``.

    Args:
        x (float64[:]): gap-free series.
        n (int): window, >= 1.
        out (float64[:]): output, len(x).
    """
    T = x.shape[0]
    if n < 1:
        raise ValueError("window must be >= 1")
    nan_head(out, n - 1)
    for t in range(n - 1, T):
        v = x[t]
        below = 0
        equal = 0
        for j in range(t - n + 1, t + 1):
            w = x[j]
            below += w < v
            equal += w == v
        out[t] = (below + (equal + 1) / 2.0) / n


# --------------------------------------------------------------------------- 2-D drivers (see ``_columns``)

corr_nb = drive(corr_1d_nb, "corr_nb", ("a", "b"), ("n",),
                doc="2-D rolling Pearson correlation (TA-Lib ``CORREL``). Lookback ``n - 1``.")
beta_nb = drive(beta_1d_nb, "beta_nb", ("x", "market"), ("n",), scratch=2,
                doc="2-D rolling beta of one-bar returns (TA-Lib ``BETA(market, x)``). Lookback ``n``.")
slope_nb = drive(slope_1d_nb, "slope_nb", ("x",), ("n",),
                 doc="2-D rolling regression slope per bar (TA-Lib ``LINEARREG_SLOPE``). Lookback ``n - 1``.")
ts_rank_nb = drive(ts_rank_1d_nb, "ts_rank_nb", ("x",), ("n",),
                   doc="2-D rank of today within the last n values, in (0, 1] (pandas ``rolling(n).rank(pct=True)``)."
                       " Lookback ``n - 1``.")
