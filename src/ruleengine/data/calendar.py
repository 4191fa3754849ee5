"""The exchange session calendar: session opens/closes, bar close instants, business-day arithmetic.

A thin layer over `exchange_calendars` (imported lazily, one session table per exchange; the table is also kept
as a small file in the cache folder, keyed by the exchange_calendars version, so that a new process reads it
in a millisecond instead of importing and building the calendar in half a second). Session
*dates* are naive midnight timestamps (or the 00:00 UTC date labels of `ruleengine.data.base`); instants are
tz-aware UTC. The rule used by alignment: a bar *closes* at

* daily bars: the session close (16:00 local on XNYS, 13:00 on half days);
* weekly / monthly bars: the close of the last session in the calendar week (Mon-Sun) / month containing the
  label (bars are labelled by that last session, see `period_sessions`);
* intraday bars: start + bar length, capped at the close of the session containing the start.

Example:
    >>> import pandas as pd
    >>> opens, closes = session_bounds(pd.to_datetime(["2019-12-24"]))
    >>> str(closes[0])
    '2019-12-24 18:00:00+00:00'
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError, did_you_mean

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_CALENDAR = "XNYS"
EXCHANGE_TZ = "America/New_York"

#: Intraday frequency names -> bar length; coarser names -> their period kind.
INTRADAY_FREQUENCIES: dict[str, pd.Timedelta] = {
    "1Min": pd.Timedelta(minutes=1), "5Min": pd.Timedelta(minutes=5), "15Min": pd.Timedelta(minutes=15),
    "30Min": pd.Timedelta(minutes=30), "1Hour": pd.Timedelta(hours=1),
}
PERIOD_FREQUENCIES: tuple[str, ...] = ("1Day", "1Week", "1Month")
FREQUENCIES: tuple[str, ...] = (*INTRADAY_FREQUENCIES, *PERIOD_FREQUENCIES)

# Built once with generous bounds (0.2 s); rebuilt wider only when a date falls outside them. Each table is
# kept with the bounds it was built for: comparing a request with the table's first *session* instead (a
# holiday on 1990-01-01) missed the cache on every call and re-read the file and the package metadata.
_DEFAULT_START = pd.Timestamp("1990-01-01")
_DEFAULT_END = pd.Timestamp("2040-12-31")
_CALENDARS: dict[str, tuple[pd.Timestamp, pd.Timestamp, Sessions]] = {}
#: how many times a session table was built or read from its file (tests: once per process and exchange)
LOADS: dict[str, int] = {}


class Sessions:
    """The part of an exchange calendar this module uses: session dates with their UTC opens and closes."""

    def __init__(self, sessions: pd.DatetimeIndex, opens: np.ndarray, closes: np.ndarray) -> None:
        self.sessions = pd.DatetimeIndex(sessions).as_unit("ns")
        self.opens = pd.Series(pd.DatetimeIndex(opens, tz="UTC"), index=self.sessions)
        self.closes = pd.Series(pd.DatetimeIndex(closes, tz="UTC"), index=self.sessions)
        self.first_session = self.sessions[0]
        self.last_session = self.sessions[-1]
        # plain int64 views (ns) for the vectorised period arithmetic of `period_bounds_ns`
        self.session_ns = self.sessions.asi8
        self.open_ns = np.asarray(opens, dtype=np.int64)
        self.close_ns = np.asarray(closes, dtype=np.int64)

    @classmethod
    def of(cls, cal: Any) -> Sessions:
        sessions = pd.DatetimeIndex(cal.sessions).tz_localize(None)
        return cls(sessions, _utc_ns(cal.opens), _utc_ns(cal.closes))


def _utc_ns(values: Any) -> np.ndarray:
    idx = pd.DatetimeIndex(values)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return idx.tz_localize(None).as_unit("ns").asi8


def _table_path(name: str, lo: pd.Timestamp, hi: pd.Timestamp) -> Path | None:
    try:
        from importlib.metadata import version

        from .cache import default_cache_dir

        tag = version("exchange_calendars")
        return default_cache_dir().parent / "calendars" / f"{name}-{tag}-{lo:%Y%m%d}-{hi:%Y%m%d}.npz"
    except Exception:  # noqa: BLE001 - no cache folder or metadata: build the calendar instead
        return None


def _read_table(path: Path | None) -> Sessions | None:
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path) as z:
            return Sessions(pd.DatetimeIndex(z["sessions"]), z["opens"], z["closes"])
    except Exception:  # noqa: BLE001 - a damaged file is rebuilt
        return None


def _write_table(path: Path | None, table: Sessions) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, sessions=table.sessions.asi8, opens=_utc_ns(table.opens), closes=_utc_ns(table.closes))
        tmp.replace(path)  # atomic: a concurrent reader never sees half a file
    except OSError:
        pass  # a read-only cache folder only costs the rebuild next time


def check_frequency(frequency: str, path: str | None = None) -> str:
    """Return `frequency` if it is a known bar frequency, else raise D118 with a did-you-mean hint."""
    if frequency not in FREQUENCIES:
        hint = did_you_mean(frequency, FREQUENCIES) or "one of: " + ", ".join(FREQUENCIES)
        raise RuleEngineError([Diagnostic("D118", f"unknown bar frequency '{frequency}'", path=path, hint=hint)])
    return frequency


def get_calendar(name: str = DEFAULT_CALENDAR, start: Any = None, end: Any = None) -> Sessions:
    """The session table of exchange `name` (an `exchange_calendars` name), covering at least ``[start, end]``."""
    lo = min(_DEFAULT_START, pd.Timestamp(start)) if start is not None else _DEFAULT_START
    hi = max(_DEFAULT_END, pd.Timestamp(end)) if end is not None else _DEFAULT_END
    cached = _CALENDARS.get(name)
    if cached is not None and cached[0] <= lo and cached[1] >= hi:
        return cached[2]
    if cached is not None:
        lo, hi = min(lo, cached[0]), max(hi, cached[1])
    LOADS[name] = LOADS.get(name, 0) + 1
    path = _table_path(name, lo, hi)
    table = _read_table(path)
    if table is None:
        import exchange_calendars as xcals

        try:
            with warnings.catch_warnings():  # exchange_calendars' own use of Series.values under pandas 3
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                built = xcals.get_calendar(name, start=lo.strftime("%Y-%m-%d"), end=hi.strftime("%Y-%m-%d"))
        except xcals.errors.InvalidCalendarName:
            hint = did_you_mean(name, xcals.get_calendar_names()) or "an exchange_calendars name such as XNYS"
            raise RuleEngineError([Diagnostic("D118", f"unknown exchange calendar '{name}'", hint=hint)]) from None
        table = Sessions.of(built)
        _write_table(path, table)
    _CALENDARS[name] = (lo, hi, table)
    return table


def to_dates(values: Any) -> pd.DatetimeIndex:
    """Naive midnight dates of date-like values (tz-aware values: the date in their own time zone)."""
    idx = pd.DatetimeIndex(pd.to_datetime(pd.Index(values) if not np.isscalar(values) else [values]))
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx.normalize().as_unit("ns")


def _covering(name: str, dates: pd.DatetimeIndex) -> Sessions:
    valid = dates[~dates.isna()]
    if len(valid) == 0:
        return get_calendar(name)
    return get_calendar(name, valid.min() - pd.Timedelta(days=400), valid.max() + pd.Timedelta(days=400))


def session_bounds(dates: Any, calendar: str = DEFAULT_CALENDAR) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """UTC open and close instants of the sessions on `dates` (NaT where a date is not a session).

    Example:
        >>> o, c = session_bounds(["2019-12-23", "2019-12-25"])
        >>> [str(x) for x in c]
        ['2019-12-23 21:00:00+00:00', 'NaT']
    """
    d = to_dates(dates)
    o, c = session_bounds_ns(d.asi8, calendar)
    return pd.DatetimeIndex(o, tz="UTC").as_unit("ns"), pd.DatetimeIndex(c, tz="UTC").as_unit("ns")


def session_bounds_ns(day_ns: np.ndarray, calendar: str = DEFAULT_CALENDAR) -> tuple[np.ndarray, np.ndarray]:
    """`session_bounds` on int64 ns of naive midnight dates: UTC ns opens and closes, NaT where no session."""
    day_ns = np.asarray(day_ns, dtype=np.int64)
    nat = day_ns == np.iinfo(np.int64).min
    valid = day_ns[~nat]
    cal = _covering(calendar, pd.DatetimeIndex(valid[[0, -1]] if len(valid) else valid))
    s = cal.session_ns
    i = np.clip(np.searchsorted(s, day_ns), 0, len(s) - 1)
    match = (s[i] == day_ns) & ~nat
    missing = np.iinfo(np.int64).min
    return np.where(match, cal.open_ns[i], missing), np.where(match, cal.close_ns[i], missing)


def _utc(idx: pd.DatetimeIndex) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(idx)
    return (idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")).as_unit("ns")


def sessions_between(start: Any, end: Any, calendar: str = DEFAULT_CALENDAR) -> pd.DatetimeIndex:
    """Naive session dates in ``[start, end]`` (inclusive, dates)."""
    lo, hi = to_dates([start, end])
    cal = _covering(calendar, pd.DatetimeIndex([lo, hi]))
    s = cal.sessions
    return pd.DatetimeIndex(s[(s >= lo) & (s <= hi)]).as_unit("ns")


def add_business_days(dates: Any, n: int, calendar: str = DEFAULT_CALENDAR) -> pd.DatetimeIndex:
    """The n-th session strictly after each date (n > 0), strictly before (n < 0), or the date itself (n = 0).

    Dates need not be sessions: one business day after a Saturday is the Monday (if it is a session).

    Example:
        >>> [str(x.date()) for x in add_business_days(["2019-12-23", "2019-12-28"], 2)]
        ['2019-12-26', '2019-12-31']
    """
    d = to_dates(dates)
    if n == 0:
        return d
    cal = _covering(calendar, d)
    sessions = pd.DatetimeIndex(cal.sessions).as_unit("ns")
    if n > 0:
        pos = sessions.searchsorted(d, side="right") + (n - 1)
    else:
        pos = sessions.searchsorted(d, side="left") + n
    out = sessions.take(np.clip(pos, 0, len(sessions) - 1))
    return pd.DatetimeIndex(np.where(d.isna(), pd.NaT, out)).as_unit("ns")


def _local_close(dates: pd.DatetimeIndex, tz: str, close_time: str = "16:00") -> pd.DatetimeIndex:
    """`close_time` local on each date, in UTC (for dates that are not sessions)."""
    local = (dates + pd.Timedelta(close_time + ":00")).tz_localize(tz, nonexistent="shift_forward",
                                                                    ambiguous="NaT")
    return _utc(local)


def bar_close_times(index: Any, frequency: str, tz: str = EXCHANGE_TZ,
                    calendar: str = DEFAULT_CALENDAR) -> pd.DatetimeIndex:
    """UTC instant at which each bar of `index` is complete (see the module docstring).

    Daily / weekly / monthly labels are dates (00:00 UTC labels or naive dates); a daily label that is not
    a session closes at 16:00 local on that date. Intraday labels are bar starts (naive: exchange local time).

    Example:
        >>> idx = pd.DatetimeIndex(["2019-12-24 17:30"], tz="UTC")   # 12:30 local on a half day
        >>> str(bar_close_times(idx, "1Hour")[0])
        '2019-12-24 18:00:00+00:00'
    """
    check_frequency(frequency)
    idx = pd.DatetimeIndex(index)
    if frequency in INTRADAY_FREQUENCIES:
        start = _utc(idx.tz_localize(tz) if idx.tz is None else idx)
        end = start + INTRADAY_FREQUENCIES[frequency]
        session = to_dates(start.tz_convert(tz))
        opens, closes = session_bounds(session, calendar)
        inside = (start >= opens) & (start < closes)
        capped = end.where(~inside | (end <= closes), closes)
        return pd.DatetimeIndex(capped).as_unit("ns")
    labels = to_dates(idx)
    if frequency == "1Day":
        _, closes = session_bounds(labels, calendar)
        fallback = _local_close(labels, tz)
        return pd.DatetimeIndex(closes.where(~closes.isna(), fallback))
    # Weekly / monthly: the last session of the calendar period containing the label.
    b = period_bounds_ns(labels.asi8, frequency, calendar)
    closes = pd.DatetimeIndex(b["close"], tz="UTC").as_unit("ns")
    if not b["no_session"].any():
        return closes
    fallback = _local_close(pd.DatetimeIndex(b["end"]).as_unit("ns"), tz)
    return pd.DatetimeIndex(closes.where(~b["no_session"], fallback))


def _periods(dates: pd.DatetimeIndex, frequency: str) -> pd.PeriodIndex:
    """The calendar week (Mon-Sun) or month of each date."""
    return dates.to_period("W-SUN" if frequency == "1Week" else "M")


_DAY_NS = 86_400_000_000_000


def period_keys(day_ns: np.ndarray, frequency: str) -> tuple[np.ndarray, np.ndarray]:
    """First and last calendar day (ns at midnight) of the week (Mon-Sun) or month of each day (ns)."""
    days = np.asarray(day_ns, dtype=np.int64) // _DAY_NS
    if frequency == "1Week":
        start = days - (days + 3) % 7  # 1970-01-01 was a Thursday
        return start * _DAY_NS, (start + 6) * _DAY_NS
    month = days.astype("datetime64[D]").astype("datetime64[M]")
    start = month.astype("datetime64[D]").astype(np.int64)
    end = (month + 1).astype("datetime64[D]").astype(np.int64) - 1
    return start * _DAY_NS, end * _DAY_NS


def period_bounds_ns(day_ns: np.ndarray, frequency: str, calendar: str = DEFAULT_CALENDAR
                     ) -> dict[str, np.ndarray]:
    """Per day (ns at midnight): its week's / month's ``start`` and ``end`` days, ``first`` and ``last``
    session, their ``open`` and ``close`` instants (UTC ns) and ``no_session`` (a period without sessions).

    numpy only, one calendar lookup: weekly and monthly resampling and labels of a long history cost a few
    array operations instead of pandas calls per period."""
    start, end = period_keys(day_ns, frequency)
    valid = start[start > np.iinfo(np.int64).min // 2]
    lo = pd.Timestamp(int(valid.min())) if len(valid) else None
    cal = get_calendar(calendar, None if lo is None else lo - pd.Timedelta(days=400),
                       None if lo is None else pd.Timestamp(int(valid.max())) + pd.Timedelta(days=400))
    s = cal.session_ns
    top = len(s) - 1
    i_first = np.clip(np.searchsorted(s, start, side="left"), 0, top)
    i_last = np.clip(np.searchsorted(s, end, side="right") - 1, 0, top)
    first, last = s[i_first], s[i_last]
    no_session = (last < start) | (first > end)
    return {"start": start, "end": end, "first": np.where(no_session, start, first),
            "last": np.where(no_session, end, last), "open": cal.open_ns[i_first], "close": cal.close_ns[i_last],
            "no_session": no_session}


def _period_sessions(dates: pd.DatetimeIndex, frequency: str, calendar: str
                     ) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex, np.ndarray]:
    """(first session, last session, no session) of the calendar period containing each date, vectorised:
    one calendar lookup for all dates (a lookup per period made weekly runs 5-8x slower than daily)."""
    b = period_bounds_ns(dates.asi8, frequency, calendar)
    return (pd.DatetimeIndex(b["first"]).as_unit("ns"), pd.DatetimeIndex(b["last"]).as_unit("ns"),
            b["no_session"])


def period_sessions(dates: Any, frequency: str,
                    calendar: str = DEFAULT_CALENDAR) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """First and last session dates of the calendar week / month (`frequency` ``1Week`` / ``1Month``)
    containing each date; a period without a session gives its own first / last calendar day.

    A weekly or monthly bar is labelled by its last session (the session at whose close it completes), and
    a fill at such a bar's open happened in its first session.

    Example:
        >>> f, l = period_sessions(["2019-12-25"], "1Week")
        >>> str(f[0].date()), str(l[0].date())
        ('2019-12-23', '2019-12-27')
    """
    first, last, _ = _period_sessions(to_dates(dates), frequency, calendar)
    return first, last
