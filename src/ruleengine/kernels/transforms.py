"""Return transforms, running sums and lags: pct_change, log_return, cumsum (NaN-as-missing), shift (positional).

1-D kernels (``<op>_1d_nb``) write into a caller-provided output; 2-D drivers
take (T, C) F-ordered float64 input and int64 per-column lags and return
(T, C) F-ordered float64 (NaN-as-missing: gap-free columns run in place, see
``_util``). Lookbacks are leading-NaN counts on gap-free data.
"""
import numpy as np

from ._columns import drive
from ._numba import numba  # numba with the kernel cache stamp installed
from ._util import ieee_div, nan_head

# --------------------------------------------------------------------------- 1-D kernels


@numba.njit(cache=True, nogil=True)
def pct_change_1d_nb(x, n, out):
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
def log_return_1d_nb(x, n, out):
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
def shift_1d_nb(x, n, out):
    """Positional lag out[t] = x[t-n] (NaN for t < n); oracle pandas ``shift(n)``.

    Lookback ``n``; n = 0 copies.

    Args:
        x (float64[:]): series (NaN kept in place).
        n (int): lag, >= 0.
        out (float64[:]): output, len(x).
    """
    if n < 0:
        raise ValueError("lag must be >= 0")
    for t in range(x.shape[0]):
        out[t] = x[t - n] if t >= n else np.nan



@numba.njit(cache=True, nogil=True)
def cumsum_1d_nb(x, out):
    """Running sum from the first value; oracle pandas ``cumsum()`` (which skips NaN and keeps it in place).
    Lookback 0.

    Args:
        x (float64[:]): gap-free series.
        out (float64[:]): output, len(x).
    """
    total = 0.0
    for t in range(x.shape[0]):
        total += x[t]
        out[t] = total

# --------------------------------------------------------------------------- 2-D drivers (see ``_columns``)

pct_change_nb = drive(pct_change_1d_nb, "pct_change_nb", ("x",), ("n",),
                      doc="2-D fractional change over n valid observations (pandas ``pct_change(n)``; NaN rows "
                          "absent). Lookback ``n``.")
log_return_nb = drive(log_return_1d_nb, "log_return_nb", ("x",), ("n",),
                      doc="2-D log return over n valid observations (numpy ``log(x / x.shift(n))``; NaN rows "
                          "absent). Lookback ``n``.")
shift_nb = drive(shift_1d_nb, "shift_nb", ("x",), ("n",), positional=True, minimum=0,
                 doc="2-D positional lag (pandas ``shift(n)``, NaN stays where it is). Lookback ``n``; n >= 0.")
cumsum_nb = drive(cumsum_1d_nb, "cumsum_nb", ("x",),
                  doc="2-D running sum over the valid rows (pandas ``cumsum()``; NaN rows stay NaN). Lookback 0.")
