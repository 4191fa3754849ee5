"""Calendar values of the bars of an execution index: the day of week, day, month, hour and minute of each bar,
and whether it holds the last session of a month or a quarter (the language's calendar functions).

They depend only on the bar's label and the exchange's session calendar, which is known in advance, so they
are causal by construction. Labels follow `MarketData.index`: daily bars are session dates; weekly and monthly
bars are labelled by their last session; intraday bars by their start (UTC), read in exchange time
(America/New_York), so ``hour()`` of the 9:30 bar is 9. Daily and coarser bars have no time of day: their
``hour()`` and ``minute()`` are NaN (a comparison with them is false).

Example:
    >>> import pandas as pd
    >>> idx = pd.DatetimeIndex(["2024-01-31", "2024-02-01"], tz="UTC")
    >>> v = bar_values(idx, "1Day", ["dayofweek", "month_end"])
    >>> v["dayofweek"].tolist(), v["month_end"].tolist()
    ([2.0, 3.0], [True, False])
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .calendar import EXCHANGE_TZ, INTRADAY_FREQUENCIES, period_bounds_ns, to_dates

#: name -> what it is (the registry's calendar functions; bool values are conditions)
BAR_VALUES = ("dayofweek", "day", "month", "hour", "minute", "month_end", "quarter_end")


def bar_values(index: pd.DatetimeIndex, frequency: str, names: Iterable[str]) -> dict[str, np.ndarray]:
    """Per name, its value on each bar of `index` (T,): float64, or bool for month_end / quarter_end."""
    intraday = frequency in INTRADAY_FREQUENCIES
    idx = pd.DatetimeIndex(index)
    local = (idx.tz_localize("UTC") if idx.tz is None else idx).tz_convert(EXCHANGE_TZ) if intraday else None
    days = to_dates(local if local is not None else idx)  # the bar's (last) session date
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "dayofweek":
            out[name] = days.day_of_week.to_numpy(dtype=np.float64)
        elif name == "day":
            out[name] = days.day.to_numpy(dtype=np.float64)
        elif name == "month":
            out[name] = days.month.to_numpy(dtype=np.float64)
        elif name in ("hour", "minute"):
            if local is None:
                out[name] = np.full(len(idx), np.nan)
            else:
                out[name] = (local.hour if name == "hour" else local.minute).to_numpy(dtype=np.float64)
        elif name in ("month_end", "quarter_end"):
            out[name] = _holds_period_end(days, frequency, quarter=name == "quarter_end")
        else:
            raise KeyError(name)
    return out


#: the calendar periods `period_ends` knows on bars of a day or longer
CALENDAR_PERIODS = ("1Day", "1Week", "1Month")


def period_ends(index: pd.DatetimeIndex, frequency: str, period: str) -> np.ndarray | None:
    """(T,) bool: the bars of `frequency` that hold the last session of their `period` (a rotation's rebalance
    bars): every bar when `period` is the bar's own frequency; the last session of each week or month on daily
    or weekly bars. Known from the exchange calendar alone, so causal (a month's last session is known before it
    trades). None for a combination without an answer here (a period shorter than the bars, or a calendar
    period on intraday bars)."""
    if period == frequency:
        return np.ones(len(index), dtype=bool)
    if frequency in INTRADAY_FREQUENCIES or period not in CALENDAR_PERIODS[1:] \
            or CALENDAR_PERIODS.index(period) <= CALENDAR_PERIODS.index(frequency):
        return None
    return _holds_period_end(to_dates(pd.DatetimeIndex(index)), frequency, quarter=False, period=period)


def _holds_period_end(days: pd.DatetimeIndex, frequency: str, quarter: bool, period: str = "1Month"
                      ) -> np.ndarray:
    """True where the bar's sessions include the last session of a month (of a quarter's last month; of a week
    with `period` 1Week): a daily or intraday bar's one session, a weekly bar's week up to its label, a monthly
    bar's month."""
    if not len(days):
        return np.zeros(0, dtype=bool)
    last_ns = days.asi8
    if frequency in ("1Week", "1Month"):
        first_ns = period_bounds_ns(last_ns, frequency)["first"]
    else:
        first_ns = last_ns
    held = np.zeros(len(days), dtype=bool)
    for probe in (first_ns, last_ns):  # a bar spans at most two months: those of its first and last session
        month_last = period_bounds_ns(probe, period)["last"]
        inside = (month_last >= first_ns) & (month_last <= last_ns)
        if quarter:
            inside &= pd.DatetimeIndex(month_last).month.to_numpy() % 3 == 0
        held |= inside
    return held
