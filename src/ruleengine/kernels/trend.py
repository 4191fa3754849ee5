"""Direction of the trend: Wilder's directional indicators +DI / -DI and the parabolic SAR.

1-D kernels (``<op>_1d_nb``) follow TA-Lib's algorithms on gap-free float64 series and write into a
caller-provided output (NaN on the lookback rows); the 2-D drivers (``_columns.drive``) take (T, C)
F-ordered inputs plus one value per column for each parameter and apply the NaN-as-missing rule.
"""
from ._columns import drive
from ._numba import numba  # numba with the kernel cache stamp installed
from ._util import dm_tr, nan_head

# --------------------------------------------------------------------------- 1-D kernels


@numba.njit(cache=True, nogil=True)
def di_1d_nb(high, low, close, n, minus, out):
    """Directional indicator +DI (minus False) or -DI (True); oracle TA-Lib ``PLUS_DI`` / ``MINUS_DI``.

    +DM / -DM and the true range summed over bars 1..n-1, then Wilder-smoothed (v = v - v / n + today) from
    bar n on; DI = 100 * DM / TR, 0 where the smoothed TR is 0 (exact test, TA-Lib >= 0.8). Lookback ``n``.

    Args:
        high, low, close (float64[:]): gap-free series.
        n (int): period, >= 1 (TA-Lib's n = 1 special case is not reproduced: the registry asks n >= 2).
        minus (bool): -DI instead of +DI.
        out (float64[:]): output, len(close).
    """
    T = close.shape[0]
    if n < 1:
        raise ValueError("period must be >= 1")
    nan_head(out, n)
    if T <= n:
        return
    dm = 0.0
    tr = 0.0
    for t in range(1, n):
        p, m, r = dm_tr(high, low, close, t)
        dm += m if minus else p
        tr += r
    for t in range(n, T):
        p, m, r = dm_tr(high, low, close, t)
        dm = dm - dm / n + (m if minus else p)
        tr = tr - tr / n + r
        out[t] = 100.0 * (dm / tr) if tr != 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def sar_1d_nb(high, low, acceleration, maximum, out):
    """Parabolic SAR; oracle TA-Lib ``SAR(acceleration, maximum)`` (ta_SAR.c). Lookback 1.

    The first direction is short when bar 1 has a -DM (low fell by more than high rose), else long; the
    stop starts at bar 0's low (long) or high (short) with the extreme point at bar 1's high (low). Each bar:
    a bar whose low (high) reaches the stop reverses to the other side with the stop at the extreme point;
    else the stop is written, the acceleration grows by `acceleration` (up to `maximum`) on a new extreme,
    and the next stop = stop + af * (ep - stop), kept outside the last two bars' range.

    Args:
        high, low (float64[:]): gap-free series.
        acceleration, maximum (float): step and cap of the acceleration factor (TA-Lib: af starts at the
            step, and a step above the cap is the cap).
        out (float64[:]): output, len(high).
    """
    T = high.shape[0]
    nan_head(out, 1)
    if T < 2:
        return
    step = acceleration
    if step > maximum:
        step = maximum
    af = step
    diff_p = high[1] - high[0]
    diff_m = low[0] - low[1]
    long = not (diff_m > 0.0 and diff_p < diff_m)
    if long:
        ep = high[1]
        sar = low[0]
    else:
        ep = low[1]
        sar = high[0]
    new_low = low[1]
    new_high = high[1]
    for t in range(1, T):
        prev_low = new_low
        prev_high = new_high
        new_low = low[t]
        new_high = high[t]
        if long:
            if new_low <= sar:  # reverse to short
                long = False
                sar = max(ep, max(prev_high, new_high))
                out[t] = sar
                af = step
                ep = new_low
                sar = sar + af * (ep - sar)
                sar = max(sar, max(prev_high, new_high))
            else:
                out[t] = sar
                if new_high > ep:
                    ep = new_high
                    af = min(af + step, maximum)
                sar = sar + af * (ep - sar)
                sar = min(sar, min(prev_low, new_low))
        elif new_high >= sar:  # reverse to long
            long = True
            sar = min(ep, min(prev_low, new_low))
            out[t] = sar
            af = step
            ep = new_high
            sar = sar + af * (ep - sar)
            sar = min(sar, min(prev_low, new_low))
        else:
            out[t] = sar
            if new_low < ep:
                ep = new_low
                af = min(af + step, maximum)
            sar = sar + af * (ep - sar)
            sar = max(sar, max(prev_high, new_high))


# --------------------------------------------------------------------------- 2-D drivers (see ``_columns``)

HLC = ("high", "low", "close")
plus_di_nb = drive(di_1d_nb, "plus_di_nb", HLC, ("n",), options=(False,),
                   doc="2-D +DI (TA-Lib ``PLUS_DI``). Lookback ``n``.")
minus_di_nb = drive(di_1d_nb, "minus_di_nb", HLC, ("n",), options=(True,),
                    doc="2-D -DI (TA-Lib ``MINUS_DI``). Lookback ``n``.")
sar_nb = drive(sar_1d_nb, "sar_nb", ("high", "low"), ("acceleration:f", "maximum:f"),
               doc="2-D parabolic SAR (TA-Lib ``SAR``). Lookback 1.")
