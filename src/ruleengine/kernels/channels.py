"""Price channels: Keltner (an EMA with bands of k ATRs) and Donchian (the highest high / lowest low of n bars).

1-D kernels (``<op>_1d_nb``) read gap-free float64 series and write into a caller-provided output (NaN on
the lookback rows); the 2-D drivers (``_columns.drive``) take (T, C) F-ordered inputs plus one window (and k)
per column and apply the NaN-as-missing rule (a row where any input is NaN is absent).
"""
from ._columns import drive
from ._numba import numba  # numba with the kernel cache stamp installed
from ._util import rolling_max_into, rolling_min_into
from .oscillators import atr_1d_nb
from .smoothing import ema_1d_nb

# --------------------------------------------------------------------------- 1-D kernels


@numba.njit(cache=True, nogil=True)
def keltner_1d_nb(high, low, close, n, k, which, out, s):
    """Keltner channel: middle ema(close, n), bands middle +- k * atr(high, low, close, n); oracle pandas
    from TA-Lib ``EMA`` and ``ATR``.

    which 0 upper, 1 middle, 2 lower. Lookback ``n`` for the bands (the ATR's), ``n - 1`` for the middle.

    Args:
        high, low, close (float64[:]): gap-free series.
        n (int): period of both the EMA and the ATR, >= 1.
        k (float): band width in ATRs.
        which (int): 0 upper, 1 middle, 2 lower.
        out (float64[:]): output, len(close).
        s (float64[:]): scratch, len(close).
    """
    T = close.shape[0]
    if which == 1:
        ema_1d_nb(close, n, out)
        return
    atr_1d_nb(high, low, close, n, False, out)
    ema_1d_nb(close, n, s)
    sign = 1.0 if which == 0 else -1.0
    for t in range(n, T):
        out[t] = s[t] + sign * (k * out[t])


@numba.njit(cache=True, nogil=True)
def donchian_1d_nb(high, low, n, which, out, s1, s2):
    """Donchian channel over the last n bars (this one included); oracle pandas ``rolling(n).max()`` /
    ``.min()``: which 0 upper = highest high, 1 middle = (upper + lower) / 2, 2 lower = lowest low.
    Lookback ``n - 1``.

    Args:
        high, low (float64[:]): gap-free series.
        n (int): window, >= 1.
        which (int): 0 upper, 1 middle, 2 lower.
        out (float64[:]): output, len(high).
        s1, s2 (float64[:]): scratch, len(high).
    """
    if which == 0:
        rolling_max_into(high, n, out, s1)
        return
    if which == 2:
        rolling_min_into(low, n, out, s1)
        return
    rolling_max_into(high, n, out, s1)
    rolling_min_into(low, n, s2, s1)
    for t in range(n - 1, high.shape[0]):
        out[t] = (out[t] + s2[t]) / 2.0


# --------------------------------------------------------------------------- 2-D drivers (see ``_columns``)

HLC = ("high", "low", "close")
keltner_upper_nb = drive(keltner_1d_nb, "keltner_upper_nb", HLC, ("n", "k:f"), options=(0,), scratch=1,
                         doc="2-D upper Keltner band ema(close, n) + k * atr(n) (pandas from TA-Lib ``EMA``, "
                             "``ATR``). Lookback ``n``.")
keltner_middle_nb = drive(keltner_1d_nb, "keltner_middle_nb", HLC, ("n", "k:f"), options=(1,), scratch=1,
                          doc="2-D middle Keltner line ema(close, n) (TA-Lib ``EMA``). Lookback ``n - 1``.")
keltner_lower_nb = drive(keltner_1d_nb, "keltner_lower_nb", HLC, ("n", "k:f"), options=(2,), scratch=1,
                         doc="2-D lower Keltner band ema(close, n) - k * atr(n) (pandas from TA-Lib ``EMA``, "
                             "``ATR``). Lookback ``n``.")
donchian_upper_nb = drive(donchian_1d_nb, "donchian_upper_nb", ("high", "low"), ("n",), options=(0,), scratch=2,
                          doc="2-D upper Donchian band, the highest high of n bars (pandas ``rolling(n).max()``). "
                              "Lookback ``n - 1``.")
donchian_middle_nb = drive(donchian_1d_nb, "donchian_middle_nb", ("high", "low"), ("n",), options=(1,), scratch=2,
                           doc="2-D middle Donchian line, (highest high + lowest low) / 2 over n bars (pandas "
                               "rolling max / min). Lookback ``n - 1``.")
donchian_lower_nb = drive(donchian_1d_nb, "donchian_lower_nb", ("high", "low"), ("n",), options=(2,), scratch=2,
                          doc="2-D lower Donchian band, the lowest low of n bars (pandas ``rolling(n).min()``). "
                              "Lookback ``n - 1``.")
