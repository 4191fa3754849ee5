"""Point-in-time availability: the UTC instant from which a published record may be used.

The rule everything else follows: a record with ``available_at = a`` is visible on a bar whose close instant
``c`` satisfies ``a <= c``. A daily bar closes at the XNYS session close (16:00 local, 13:00 on half days); an
intraday bar closes at its start + its length (see `ruleengine.data.calendar.bar_close_times`). Records are
never dated by their fiscal period end.

* Announcements (earnings): ``BMO`` -> 08:00 local on the announcement date (usable on that day's bar);
  ``AMC``, missing or unknown -> 16:30 local (usable from the next session's bar, conservative);
  ``'HH:MM'`` -> that local time.
* SEC filings: the EDGAR acceptance instant when known (naive = exchange local time; never before 00:00 local
  on the filing date), else 16:30 local on the filing date.
* Records without a publication time: date + a declared lag, 16:30 local on the resulting day
  (Form 4 insider trades: 2 business days; annual fundamentals without filing dates: 90 calendar days).

Example:
    >>> str(announcement_available_at(["2014-01-27"], "AMC")[0])
    '2014-01-27 21:30:00+00:00'
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from .calendar import DEFAULT_CALENDAR, add_business_days, to_dates

EXCHANGE_TZ = "America/New_York"
AFTER_CLOSE = "16:30"   # local time used for "after the close" records (later than any regular or half-day close)
BEFORE_OPEN = "08:00"   # local time used for "before the open" records

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _at_local(dates: pd.DatetimeIndex, times: list[str], tz: str) -> pd.DatetimeIndex:
    """Naive dates + local 'HH:MM' times -> UTC instants (NaT where the date is NaT)."""
    offsets = pd.to_timedelta([t + ":00" for t in times])
    local = pd.DatetimeIndex(dates + offsets)
    # 08:00 / 16:30 never fall in a DST gap; an explicit 'HH:MM' inside one moves forward (conservative).
    aware = local.tz_localize(tz, nonexistent="shift_forward", ambiguous=np.zeros(len(local), dtype=bool))
    return aware.tz_convert("UTC").as_unit("ns")


def _instants(idx: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    """Timestamps -> UTC instants; naive ones are exchange local time."""
    if idx.tz is None:
        idx = idx.tz_localize(tz, nonexistent="shift_forward", ambiguous=np.zeros(len(idx), dtype=bool))
    return idx.tz_convert("UTC").as_unit("ns")


def _when_time(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return AFTER_CLOSE
    text = str(value).strip().upper()
    if text == "BMO":
        return BEFORE_OPEN
    match = _HHMM.match(text)
    if match:
        return f"{int(match.group(1)):02d}:{match.group(2)}"
    return AFTER_CLOSE  # 'AMC', 'DMT', '--' ... : unknown means after the close (never earlier than true)


def announcement_available_at(dates: Any, when: Any = None, tz: str = EXCHANGE_TZ) -> pd.DatetimeIndex:
    """UTC instants from which announcements are usable.

    Args:
        dates: date-like sequence (announcement day, exchange calendar date).
        when: sequence of ``'BMO' | 'AMC' | None | 'HH:MM'`` (local), or one value for all.
            BMO -> BEFORE_OPEN local on that date (usable on that day's bar); AMC, None, unknown ->
            AFTER_CLOSE local (usable from the next session's bar, conservative); 'HH:MM' -> that local time.
        tz: the exchange time zone.

    Example:
        >>> [str(x) for x in announcement_available_at(["2015-04-27", "2015-04-28"], ["AMC", "BMO"])]
        ['2015-04-27 20:30:00+00:00', '2015-04-28 12:00:00+00:00']
    """
    d = to_dates(dates)
    if when is None or isinstance(when, str) or np.isscalar(when):
        times = [_when_time(when)] * len(d)
    else:
        times = [_when_time(w) for w in when]
        if len(times) != len(d):
            raise ValueError(f"when has {len(times)} values for {len(d)} dates")
    return _at_local(d, times, tz)


def filing_available_at(filed: Any, accepted: Any = None, tz: str = EXCHANGE_TZ) -> pd.DatetimeIndex:
    """SEC filings: the EDGAR acceptance instant when known, else AFTER_CLOSE local on the filing date.

    Naive acceptance timestamps are taken as exchange local time (EDGAR reports Eastern time). An acceptance
    instant before the filing date's start (00:00 local) is moved to it: a filing is public from its date.

    Example:
        >>> [str(x) for x in filing_available_at(["2009-08-07", "2009-08-07"], ["2009-08-07 09:27", None])]
        ['2009-08-07 13:27:00+00:00', '2009-08-07 20:30:00+00:00']
    """
    fallback = _at_local(to_dates(filed), [AFTER_CLOSE] * len(to_dates(filed)), tz)
    if accepted is None:
        return fallback
    values = pd.Index(accepted) if not np.isscalar(accepted) else pd.Index([accepted] * len(fallback))
    if len(values) != len(fallback):
        raise ValueError(f"accepted has {len(values)} values for {len(fallback)} filing dates")
    try:
        acc = _instants(pd.DatetimeIndex(pd.to_datetime(values)), tz)
    except (ValueError, TypeError):  # a mix of naive and tz-aware values: convert one by one
        acc = pd.DatetimeIndex([_instants(pd.DatetimeIndex([pd.Timestamp(v)]), tz)[0] if pd.notna(v)
                                else pd.NaT for v in values], tz="UTC").as_unit("ns")
    # A filing is not public before its filing date: never earlier than 00:00 local on that date (EDGAR
    # dates filings accepted after 17:30 on the next business day; the max only guards bad timestamps).
    day_start = _at_local(to_dates(filed), ["00:00"] * len(fallback), tz)
    too_early = np.asarray(~acc.isna() & ~day_start.isna() & (acc < day_start))
    acc = acc.where(~too_early, day_start)
    return pd.DatetimeIndex(acc.where(~acc.isna(), fallback))


def lagged_available_at(dates: Any, business_days: int = 0, calendar_days: int = 0,
                        tz: str = EXCHANGE_TZ) -> pd.DatetimeIndex:
    """Records without a publication time: date + a declared lag, AFTER_CLOSE local on the resulting day.

    Calendar days are added first, then business days (sessions of the XNYS calendar: the n-th session
    strictly after the date). Form 4 insider trades: ``business_days=2`` (usable from the 3rd session after
    the trade); annual fundamentals without filing dates: ``calendar_days=90``.

    Example:
        >>> str(lagged_available_at(["2019-12-20"], business_days=2)[0])   # Fri -> Tue 12-24, 16:30 local
        '2019-12-24 21:30:00+00:00'
    """
    d = to_dates(dates) + pd.Timedelta(days=calendar_days)
    d = add_business_days(d, business_days, DEFAULT_CALENDAR)
    return _at_local(d, [AFTER_CLOSE] * len(d), tz)
