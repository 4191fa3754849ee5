"""Event / boolean kernels: crosses, rising/falling streaks, bars-since, within, count.

Positional semantics (comparisons with NaN are False), except rising/falling,
which follow the NaN-as-missing rule (absent rows are False). Inputs are
(T, C) F-ordered float64 or bool arrays, windows int64 (C,); outputs are new
(T, C) F-ordered bool or float64 arrays. 1-D kernels ``<op>_1d_nb`` write into
a caller-provided output; the 2-D drivers ``<op>_nb`` are made from them by
``_columns.drive`` (positional: every row, NaN included).
"""
import numpy as np

from ._columns import drive
from ._numba import numba  # numba with the kernel cache stamp installed

# --------------------------------------------------------------------------- 1-D kernels


@numba.njit(cache=True, nogil=True)
def crosses_above_1d_nb(a, b, out):
    """out[t] = a[t] > b[t] and a[t-1] <= b[t-1]; False at t = 0 and wherever one of the four values is
    NaN. Oracle pandas ``(a > b) & (a.shift(1) <= b.shift(1))``."""
    T = a.shape[0]
    if T > 0:
        out[0] = False
    for t in range(1, T):
        out[t] = (a[t] > b[t]) and (a[t - 1] <= b[t - 1])


@numba.njit(cache=True, nogil=True)
def crosses_below_1d_nb(a, b, out):
    """out[t] = a[t] < b[t] and a[t-1] >= b[t-1]; False at t = 0 and on NaN. Oracle pandas
    ``(a < b) & (a.shift(1) >= b.shift(1))``."""
    T = a.shape[0]
    if T > 0:
        out[0] = False
    for t in range(1, T):
        out[t] = (a[t] < b[t]) and (a[t - 1] >= b[t - 1])


@numba.njit(cache=True, nogil=True)
def rising_1d_nb(x, n, falling, out):
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
def bars_since_1d_nb(cond, out):
    """Bars since cond was last True (0 on a True bar); NaN before the first True. Oracle: a Python loop."""
    last = -1
    for t in range(cond.shape[0]):
        if cond[t]:
            last = t
        out[t] = t - last if last >= 0 else np.nan


@numba.njit(cache=True, nogil=True)
def within_1d_nb(cond, n, out):
    """True if cond was True at least once in the last n bars including the current one
    (a partial window at the start counts). Oracle pandas ``cond.rolling(n, min_periods=1).max()``."""
    if n < 1:
        raise ValueError("n must be >= 1")
    last = -n - 1
    for t in range(cond.shape[0]):
        if cond[t]:
            last = t
        out[t] = t - last < n


@numba.njit(cache=True, nogil=True)
def count_1d_nb(cond, n, out):
    """Number of True among the last n bars; NaN for the first n - 1 bars.

    Oracle pandas ``cond.astype(float).rolling(n).sum()``.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    cnt = 0
    for t in range(cond.shape[0]):
        if cond[t]:
            cnt += 1
        if t >= n and cond[t - n]:
            cnt -= 1
        out[t] = cnt if t >= n - 1 else np.nan


# --------------------------------------------------------------------------- 2-D drivers (see ``_columns``)

crosses_above_nb = drive(crosses_above_1d_nb, "crosses_above_nb", ("a", "b"), positional=True, out="b",
                         doc="2-D a crosses above b (pandas ``(a > b) & (a.shift(1) <= b.shift(1))``; "
                             "positional, NaN -> False). a, b float64 (T, C) -> bool (T, C).")
crosses_below_nb = drive(crosses_below_1d_nb, "crosses_below_nb", ("a", "b"), positional=True, out="b",
                         doc="2-D a crosses below b (pandas ``(a < b) & (a.shift(1) >= b.shift(1))``; "
                             "positional, NaN -> False). a, b float64 (T, C) -> bool (T, C).")
rising_nb = drive(rising_1d_nb, "rising_nb", ("x",), ("n",), options=(False,), out="b",
                  doc="2-D strictly rising n steps in a row over valid observations (pandas "
                      "``(x.diff() > 0).rolling(n).sum() == n``; NaN rows absent -> False).")
falling_nb = drive(rising_1d_nb, "falling_nb", ("x",), ("n",), options=(True,), out="b",
                   doc="2-D strictly falling n steps in a row over valid observations (pandas "
                       "``(x.diff() < 0).rolling(n).sum() == n``; NaN rows absent -> False).")
bars_since_nb = drive(bars_since_1d_nb, "bars_since_nb", ("cond",), positional=True,
                      doc="2-D bars since cond was last True (0 on True; NaN before the first True; oracle a Python "
                          "loop). bool -> float64.")
within_nb = drive(within_1d_nb, "within_nb", ("cond",), ("n",), positional=True, out="b",
                  doc="2-D cond True at least once in the last n bars (pandas "
                      "``cond.rolling(n, min_periods=1).max()``). bool -> bool.")
count_nb = drive(count_1d_nb, "count_nb", ("cond",), ("n",), positional=True,
                 doc="2-D number of True in the last n bars, NaN for the first n - 1 (pandas "
                     "``cond.rolling(n).sum()``). bool -> float64.")
