"""OHLCV downsampling to the execution frequency: session-aware, completed bars only.

Rules (exchange time for session logic, UTC in the output; naive input is exchange local time):

* Aggregation: first open, max high, min low, last close, summed volume over the source bars of a period
  (missing values skipped). Missing source bars inside a period are fine; periods without any bar are omitted.
* Intraday periods are anchored at the session open (09:30 local on XNYS): a 1Hour bar covers 09:30-10:30 ...
  15:30-16:00 (the last one shorter; half days end at 13:00). Labelled by period start (UTC).
  ``session="regular"`` keeps only bars starting inside the session (``open <= start < close``; the 16:00 /
  13:00 closing prints are outside). ``session="all"`` keeps every bar, bucketed in three segments per day
  (midnight-open, open-close, close-midnight; a day without a session is one segment from midnight).
* Daily bars from intraday: one per session, labelled by the session date at 00:00 UTC (``session="all"``: the
  local calendar day). Weekly / monthly bars from daily: calendar week (Mon-Sun) / month, labelled by the
  period's *last* session date at 00:00 UTC: the session at whose close the bar completes, so that a label
  never names a day before the prices it summarises (a Monday label on a bar holding Friday's close reads
  as lookahead).
* Completed periods only: a period is exposed iff it lies inside the data's span: its start is not before the
  first source bar's start and its end (bar close, see `ruleengine.data.calendar.bar_close_times`) is not after
  the end of the last source bar (or the `complete_until` instant given by the caller). No partial-bar leaks.
* Incomplete sessions (regular session, from intraday data): a session whose first bar starts more than
  `edge_tolerance` after the open, or whose last bar ends more than `edge_tolerance` before the close, has
  lost its open or close (e.g. a download chunk starting at 11:00); it yields no daily bar, weeks / months
  containing it are dropped (also later, from daily bars carrying the list), and its date is listed in
  ``attrs["incomplete_sessions"]``. Intraday bars of such a session are kept (aggregated from what exists).
* Upsampling (a target finer than the source) is error D118; the source frequency returns the data unchanged.

Example:
    >>> import pandas as pd
    >>> idx = pd.date_range("2019-12-23 09:30", periods=390, freq="1min", tz="America/New_York")
    >>> df = pd.DataFrame({"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10.0}, index=idx)
    >>> day = resample_ohlcv(df, "1Day")
    >>> (str(day.index[0]), day["volume"].iloc[0])
    ('2019-12-23 00:00:00+00:00', np.float64(3900.0))
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from .calendar import (
    DEFAULT_CALENDAR,
    EXCHANGE_TZ,
    FREQUENCIES,
    INTRADAY_FREQUENCIES,
    bar_close_times,
    check_frequency,
    period_bounds_ns,
    period_sessions,
    session_bounds,
    session_bounds_ns,
    to_dates,
)

OHLCV = ("open", "high", "low", "close", "volume")
_AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
SESSIONS = ("regular", "all")


def _err(message: str, hint: str, code: str = "D118") -> RuleEngineError:
    return RuleEngineError([Diagnostic(code, message, hint=hint)])


def infer_frequency(df: pd.DataFrame, tz: str = EXCHANGE_TZ) -> str:
    """``attrs["frequency"]`` if set, else guessed from the labels (all at 00:00 UTC: 1Day; else the
    smallest gap between bars, in minutes)."""
    declared = df.attrs.get("frequency")
    if declared:
        return check_frequency(str(declared))
    idx = pd.DatetimeIndex(df.index)
    utc = idx.tz_convert("UTC") if idx.tz is not None else idx
    if len(idx) and (utc == utc.normalize()).all():
        if len(idx) < 2:
            return "1Day"
        gap = pd.Series(utc).diff().median()
        return "1Month" if gap >= pd.Timedelta(days=25) else "1Week" if gap >= pd.Timedelta(days=5) else "1Day"
    gaps = np.diff(idx.asi8) if len(idx) > 1 else np.array([], dtype=np.int64)
    gaps = gaps[gaps > 0]
    if len(gaps):
        step = pd.Timedelta(int(gaps.min()), unit=idx.unit)
        for name, length in INTRADAY_FREQUENCIES.items():
            if step == length:
                return name
    raise _err("cannot tell the frequency of the price data",
               "set df.attrs['frequency'] (e.g. '1Min') or pass from_frequency=")


def _utc_index(idx: pd.DatetimeIndex, tz: str) -> pd.DatetimeIndex:
    if idx.tz is None:  # exchange local time; an ambiguous (repeated) hour is read as standard time
        idx = idx.tz_localize(tz, nonexistent="shift_forward", ambiguous=np.zeros(len(idx), dtype=bool))
    return idx.tz_convert("UTC").as_unit("ns")


def _check_input(df: pd.DataFrame) -> None:
    if not isinstance(df.index, pd.DatetimeIndex):
        raise _err("price data are not indexed by time", "index the bars by a DatetimeIndex", "D105")
    if not df.index.is_monotonic_increasing or not df.index.is_unique:
        raise _err("price data index is not sorted and unique", "sort by time and drop duplicate bars", "D105")
    missing = [c for c in OHLCV if c not in df.columns]
    if missing:
        raise _err(f"price data have no column '{missing[0]}'", "OHLCV data need open, high, low, close, volume",
                   "D102")


def _aggregate(df: pd.DataFrame, keys: pd.Series | np.ndarray) -> pd.DataFrame:
    cols = {c: df[c].astype("float64").to_numpy() for c in OHLCV}
    frame = pd.DataFrame(cols)
    frame["_key"] = np.asarray(keys)
    return frame.groupby("_key", sort=True).agg(_AGG)


def _per_date(dates: pd.DatetimeIndex, calendar: str) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Session open/close for each (repeated) date, computed once per distinct date."""
    uniq, inverse = np.unique(dates.asi8, return_inverse=True)
    opens, closes = session_bounds(pd.DatetimeIndex(uniq), calendar)
    return opens.take(inverse), closes.take(inverse)


def _intraday_frame(df: pd.DataFrame, src: str, tz: str, session: str, calendar: str) -> pd.DataFrame:
    """Source bars with their UTC start, session date, segment bounds; filtered to the session."""
    start = _utc_index(pd.DatetimeIndex(df.index), tz)
    local_day = to_dates(start.tz_convert(tz))
    opens, closes = _per_date(local_day, calendar)
    midnight = _utc_index(local_day, tz)
    next_midnight = _utc_index(local_day + pd.Timedelta(days=1), tz)
    is_session = ~opens.isna()
    before, inside = start < opens, (start >= opens) & (start < closes)
    seg_start = np.where(~is_session | before, midnight.asi8, np.where(inside, opens.asi8, closes.asi8))
    seg_end = np.where(~is_session, next_midnight.asi8,
                       np.where(before, opens.asi8, np.where(inside, closes.asi8, next_midnight.asi8)))
    end = np.minimum(start.asi8 + INTRADAY_FREQUENCIES[src].value, seg_end)
    out = pd.DataFrame({c: df[c].to_numpy() for c in OHLCV})
    out["start"], out["end"] = start.asi8, end
    out["seg_start"], out["seg_end"] = seg_start, seg_end
    out["day"] = local_day.asi8
    out["open_at"], out["close_at"] = opens.asi8, closes.asi8
    if session == "regular":
        out = out[np.asarray(inside)]
    return out.reset_index(drop=True)


def _finish(agg: pd.DataFrame, labels: np.ndarray, attrs: dict, frequency: str, tz: str) -> pd.DataFrame:
    out = agg.loc[:, list(OHLCV)].astype("float64")
    out.index = pd.DatetimeIndex(labels, tz="UTC", name="time")
    out.attrs = {**attrs, "frequency": frequency, "timezone": tz}
    return out


def _intraday_to_intraday(bars: pd.DataFrame, target: str, first: int, last: int) -> pd.DataFrame:
    length = INTRADAY_FREQUENCIES[target].value
    bstart = bars["seg_start"] + (bars["start"] - bars["seg_start"]) // length * length
    bend = np.minimum(bstart + length, bars["seg_end"])
    agg = _aggregate(bars, bstart.to_numpy())
    ends = pd.Series(bend.to_numpy()).groupby(bstart.to_numpy()).max()
    keep = (agg.index.to_numpy() >= first) & (ends.reindex(agg.index).to_numpy() <= last)
    return agg[keep]


def _intraday_to_daily(bars: pd.DataFrame, session: str, tolerance: int, first: int, last: int,
                       tz: str) -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """Daily bars keyed by session date (ns) and the incomplete session dates."""
    agg = _aggregate(bars, bars["day"].to_numpy())
    days = pd.DatetimeIndex(agg.index.to_numpy())
    if session == "regular":
        g = bars.groupby("day")
        pstart, pend = g["open_at"].first(), g["close_at"].first()
        edges_ok = (g["start"].min() <= pstart + tolerance) & (g["end"].max() >= pend - tolerance)
        incomplete = [pd.Timestamp(d) for d in days[~edges_ok.to_numpy()]]
    else:
        pstart = pd.Series(_utc_index(days, tz).asi8, index=agg.index)
        pend = pd.Series(_utc_index(days + pd.Timedelta(days=1), tz).asi8, index=agg.index)
        edges_ok = pd.Series(True, index=agg.index)
        incomplete = []
    keep = edges_ok & (pstart >= first) & (pend <= last)
    return agg[keep.to_numpy()], incomplete


def _daily_to_period(daily: pd.DataFrame, target: str, first: int, last: int, tz: str, calendar: str,
                     incomplete: list[pd.Timestamp]) -> pd.DataFrame:
    """Weekly / monthly bars from daily bars indexed by naive session dates, labelled by their last session."""
    days = pd.DatetimeIndex(daily.index)
    periods = days.to_period("W-SUN" if target == "1Week" else "M")
    agg = _aggregate(daily.reset_index(drop=True), periods.asi8)
    keys = pd.PeriodIndex.from_ordinals(agg.index.to_numpy(), freq=periods.freq)
    opening, closing = period_sessions(keys.start_time, target, calendar)  # one calendar lookup for all
    opens, _ = session_bounds(opening, calendar)
    pstart = opens.where(~opens.isna(), _utc_index(opening, tz)).asi8
    pend = bar_close_times(closing, target, tz, calendar).asi8
    bad = pd.DatetimeIndex(incomplete).to_period(periods.freq).asi8 if incomplete else np.array([])
    keep = (pstart >= first) & (pend <= last) & ~np.isin(agg.index.to_numpy(), bad)
    out = agg[keep]
    out.index = closing[keep]
    return out


def resample_matrix(index: pd.DatetimeIndex, arrays: dict[str, np.ndarray], to_frequency: str, *,
                    tz: str = EXCHANGE_TZ, calendar: str = DEFAULT_CALENDAR
                    ) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
    """Daily (T, S) arrays -> weekly / monthly (P, S) arrays by the rules of `resample_ohlcv`, in numpy.

    `index` holds the daily labels (00:00 UTC), `arrays` ``open/high/low/close/volume`` (any subset) and
    ``_present`` (the symbol has a bar on that row). A period is kept for a symbol when it lies inside that
    symbol's data (its first day's open .. its last day's close), exactly like `resample_ohlcv` on the
    symbol's own frame (tested against it); other cells are NaN and not present. Labels: last sessions.
    """
    present = arrays["_present"]
    day_ns = pd.DatetimeIndex(index).tz_localize(None).as_unit("ns").asi8 if index.tz is not None else \
        pd.DatetimeIndex(index).as_unit("ns").asi8
    empty = {c: v[:0] for c, v in arrays.items()}
    if len(day_ns) == 0:
        return pd.DatetimeIndex([], tz="UTC", name=index.name), empty
    b = period_bounds_ns(day_ns, to_frequency, calendar)
    starts = np.flatnonzero(np.r_[True, b["start"][1:] != b["start"][:-1]])  # the rows are sorted by day
    pstart = np.where(b["no_session"], b["start"], b["open"])[starts]
    pend = np.where(b["no_session"], b["end"], b["close"])[starts]
    # each symbol's span: the open of its first day .. the close of its last day (daily bar close times)
    rows = np.arange(len(day_ns))
    has = np.asarray(present.any(axis=0))  # one flag per symbol (numpy types any() as maybe a scalar)
    first_row = np.where(has, np.argmax(present, axis=0), 0)
    last_row = np.where(has, len(rows) - 1 - np.argmax(present[::-1], axis=0), 0)
    day_open, day_close = _day_bounds_ns(day_ns, tz, calendar)
    complete = (pstart[:, None] >= day_open[first_row][None, :]) & (pend[:, None] <= day_close[last_row][None, :])
    got = np.add.reduceat(present.astype(np.int64), starts, axis=0) > 0
    keep_cell = complete & got & has[None, :]
    keep_row = keep_cell.any(axis=1)
    out: dict[str, np.ndarray] = {"_present": np.asfortranarray(keep_cell[keep_row])}
    for col, v in arrays.items():
        if col == "_present":
            continue
        agg = _period_reduce(col, np.asarray(v, dtype=np.float64), starts, rows)
        agg[~keep_cell] = np.nan
        out[col] = np.asfortranarray(agg[keep_row])
    labels = pd.DatetimeIndex(b["last"][starts][keep_row], tz="UTC", name=index.name).as_unit("ns")
    return labels, out


def _day_bounds_ns(day_ns: np.ndarray, tz: str, calendar: str) -> tuple[np.ndarray, np.ndarray]:
    """Open and close (UTC ns) of each day's session; local midnight and 16:00 for a day without one."""
    opens, closes = session_bounds_ns(day_ns, calendar)
    none = opens == np.iinfo(np.int64).min
    if none.any():
        days = pd.DatetimeIndex(day_ns)
        opens = np.where(none, _utc_index(days, tz).asi8, opens)
        closes = np.where(none, _utc_index(days + pd.Timedelta(hours=16), tz).asi8, closes)
    return opens, closes


def _period_reduce(col: str, v: np.ndarray, starts: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One column aggregated over the row groups starting at `starts`, missing values skipped (pandas'
    first / max / min / sum, and last for close and any other column)."""
    if col == "high":
        return np.fmax.reduceat(v, starts, axis=0)
    if col == "low":
        return np.fmin.reduceat(v, starts, axis=0)
    if col == "volume":
        return np.add.reduceat(np.nan_to_num(v, nan=0.0), starts, axis=0)
    if col == "open":  # the first valid value of each group
        pick = np.minimum.reduceat(np.where(np.isnan(v), len(rows), rows[:, None]), starts, axis=0)
        return np.where(pick < len(rows), np.take_along_axis(v, np.minimum(pick, len(rows) - 1), axis=0), np.nan)
    pick = np.maximum.reduceat(np.where(np.isnan(v), -1, rows[:, None]), starts, axis=0)  # the last valid one
    return np.where(pick >= 0, np.take_along_axis(v, np.maximum(pick, 0), axis=0), np.nan)


def resample_ohlcv(df: pd.DataFrame, to_frequency: str, *, tz: str = EXCHANGE_TZ, session: str = "regular",
                   calendar: str = DEFAULT_CALENDAR, from_frequency: str | None = None,
                   complete_until: pd.Timestamp | None = None,
                   edge_tolerance: pd.Timedelta | str = "30min") -> pd.DataFrame:
    """Downsample OHLCV bars to `to_frequency` (rules in the module docstring).

    Args:
        df: OHLCV bars (the provider convention of `ruleengine.data.base`, or naive exchange-local times).
        to_frequency: ``1Min`` ... ``1Month``.
        tz, calendar: exchange time zone and `exchange_calendars` name.
        session: ``regular`` (drop bars outside the session) or ``all``.
        from_frequency: the source frequency (default: ``df.attrs["frequency"]`` or inferred).
        complete_until: instant up to which the source is known complete (default: end of its last bar).
        edge_tolerance: how late a session's first bar / how early its last bar may be (regular session).

    Returns:
        Bars indexed by ``time`` (UTC), float64 OHLCV; ``attrs["frequency"] = to_frequency`` and, from
        intraday data, ``attrs["incomplete_sessions"]`` (ISO dates).
    """
    check_frequency(to_frequency, path="params.execution_frequency")
    if session not in SESSIONS:
        raise _err(f"unknown session '{session}'", "session is 'regular' or 'all'", "D103")
    _check_input(df)
    src = check_frequency(from_frequency) if from_frequency else infer_frequency(df, tz)
    if to_frequency == src:
        return df
    if src == "1Week" and to_frequency == "1Month":
        raise _err("cannot resample weekly price data to 1Month (weeks straddle months)",
                   "fetch the price slot at 1Day or finer")
    if FREQUENCIES.index(to_frequency) < FREQUENCIES.index(src):
        raise _err(f"cannot resample {src} price data to the finer frequency {to_frequency}",
                   f"fetch the price slot at {to_frequency} or finer (its 'frequency'), or set "
                   f"execution_frequency to {src} or coarser")
    attrs = dict(df.attrs)
    empty = _finish(pd.DataFrame(columns=list(OHLCV)), np.array([], dtype="int64"), attrs, to_frequency, tz)
    if df.empty:
        return empty
    if src in INTRADAY_FREQUENCIES:
        bars = _intraday_frame(df, src, tz, session, calendar)
        if bars.empty:
            return empty
        first = int(bars["start"].iloc[0])
        last = int(bars["end"].iloc[-1]) if complete_until is None else int(_utc_index(
            pd.DatetimeIndex([complete_until]), tz).asi8[0])
        if to_frequency in INTRADAY_FREQUENCIES:
            agg = _intraday_to_intraday(bars, to_frequency, first, last)
            return _finish(agg, agg.index.to_numpy(), attrs, to_frequency, tz)
        tol = pd.Timedelta(edge_tolerance).value
        daily, incomplete = _intraday_to_daily(bars, session, tol, first, last, tz)
        attrs["incomplete_sessions"] = [d.strftime("%Y-%m-%d") for d in incomplete]
        daily.index = pd.DatetimeIndex(daily.index.to_numpy())
        if to_frequency != "1Day":
            daily = _daily_to_period(daily, to_frequency, first, last, tz, calendar, incomplete)
        return _finish(daily, pd.DatetimeIndex(daily.index).asi8, attrs, to_frequency, tz)
    # Daily (or weekly) source: labels are session dates.
    days = to_dates(pd.DatetimeIndex(df.index))
    daily = pd.DataFrame({c: df[c].to_numpy() for c in OHLCV}, index=days)
    opens, _ = session_bounds(days[:1], calendar)
    first = int(opens.where(~opens.isna(), _utc_index(days[:1], tz)).asi8[0])
    last = int(bar_close_times(days[-1:], src, tz, calendar).asi8[0]) if complete_until is None else int(
        _utc_index(pd.DatetimeIndex([complete_until]), tz).asi8[0])
    # Sessions flagged by an earlier minute -> day resampling still poison their week / month.
    flagged = [pd.Timestamp(d) for d in attrs.get("incomplete_sessions", [])]
    out = _daily_to_period(daily, to_frequency, first, last, tz, calendar, flagged)
    return _finish(out, pd.DatetimeIndex(out.index).asi8, attrs, to_frequency, tz)
