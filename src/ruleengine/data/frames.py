"""Helpers shared by the providers: frequencies, request bounds and the finishing touches of a frame.

A request's ``start`` / ``end`` are dates (or instants) in the exchange time zone, both inclusive: a naive
midnight ``end`` means "through the end of that day". Daily and coarser bars (00:00 UTC date labels) are
selected by their date; intraday bars and published records by their instant.

Example:
    >>> deliverable_frequency(("1Min", "1Day"), "5Min")
    '1Min'
    >>> derivable_frequencies(("1Day",))
    ('1Day', '1Week', '1Month')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from .base import PRICE_KINDS

EXCHANGE_TZ = "America/New_York"

#: Bar frequencies from finest to coarsest.
BAR_FREQUENCIES: tuple[str, ...] = ("1Min", "5Min", "15Min", "30Min", "1Hour", "1Day", "1Week", "1Month")
INTRADAY: frozenset[str] = frozenset(BAR_FREQUENCIES[:5])
#: Dates a request may name: nanosecond timestamps hold 1677-09-21 .. 2262-04-11; a century of margin leaves
#: room for warm-up history before the start and the end-of-day arithmetic.
EARLIEST_DATE, LATEST_DATE = pd.Timestamp("1800-01-01"), pd.Timestamp("2199-12-31")
_RANK = {f: i for i, f in enumerate(BAR_FREQUENCIES)}


def derivable_frequencies(native: Iterable[str]) -> tuple[str, ...]:
    """Every bar frequency obtainable from the `native` ones by aggregating (resampling down)."""
    ranks = [_RANK[f] for f in native if f in _RANK]
    if not ranks:
        return ()
    return BAR_FREQUENCIES[min(ranks):]


def deliverable_frequency(native: Iterable[str], requested: str) -> str | None:
    """The native frequency to deliver for `requested`: itself, else the coarsest finer one (None if none).

    The binder resamples what is delivered (the frame's ``attrs["frequency"]``) to what was asked for.
    """
    native = [f for f in native if f in _RANK]
    if requested in native:
        return requested
    if requested not in _RANK:
        return None
    finer = [f for f in native if _RANK[f] < _RANK[requested]]
    return max(finer, key=_RANK.__getitem__) if finer else None


def to_timestamp(value: Any, what: str = "date") -> pd.Timestamp:
    """A timestamp from user input; S104 naming the bad value otherwise."""
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        ts = None
    if ts is None or ts is pd.NaT:
        raise RuleEngineError([Diagnostic("S104", f"invalid {what} '{value}'",
                                          hint="use an ISO date such as 2015-01-31")])
    naive = ts.tz_localize(None) if ts.tz is not None else ts
    if not EARLIEST_DATE <= naive <= LATEST_DATE:  # outside, nanosecond arithmetic overflows later
        raise RuleEngineError([Diagnostic("S104", f"{what} '{value}' is outside the supported dates "
                                                  f"{EARLIEST_DATE.date()} .. {LATEST_DATE.date()}",
                                          hint="use an ISO date such as 2015-01-31")])
    return ts.as_unit("ns")


def label_bounds(start: Any, end: Any, tz: str = EXCHANGE_TZ) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[lo, hi)`` of 00:00 UTC date labels for the dates ``start`` .. ``end`` (inclusive).

    Tz-aware bounds are read in UTC, like the labels themselves (a label passed back selects its own day).
    """
    lo, hi = to_timestamp(start, "start date"), to_timestamp(end, "end date")
    if lo.tz is not None:
        lo = lo.tz_convert("UTC").tz_localize(None)
    if hi.tz is not None:
        hi = hi.tz_convert("UTC").tz_localize(None)
    return (lo.normalize().tz_localize("UTC"),
            hi.normalize().tz_localize("UTC") + pd.Timedelta(days=1))


def instant_bounds(start: Any, end: Any, tz: str = EXCHANGE_TZ) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[lo, hi)`` UTC instants: naive values are exchange local time; a midnight end takes its whole day."""
    lo, hi = to_timestamp(start, "start date"), to_timestamp(end, "end date")
    if lo.tz is None:
        lo = lo.tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
    if hi.tz is None:
        whole_day = hi == hi.normalize()
        hi = hi + (pd.Timedelta(days=1) if whole_day else pd.Timedelta(1, "ns"))
        hi = hi.tz_localize(tz, nonexistent="shift_forward", ambiguous=False)
    else:
        hi = hi + pd.Timedelta(1, "ns")
    return lo.tz_convert("UTC"), hi.tz_convert("UTC")


def request_bounds(kind: str, frequency: str, start: Any, end: Any,
                   tz: str = EXCHANGE_TZ) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The ``[lo, hi)`` UTC bounds selecting a request's rows (date labels or instants, see the module doc)."""
    if kind in PRICE_KINDS and frequency not in INTRADAY:
        return label_bounds(start, end, tz)
    return instant_bounds(start, end, tz)


def finish(frame: pd.DataFrame, *, kind: str, frequency: str, provider: str, synthetic: bool = False,
           tz: str = EXCHANGE_TZ, extra_attrs: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Set the index name, dtypes and attrs the provider contract asks for (in place; returns the frame)."""
    frame.index = pd.DatetimeIndex(frame.index).as_unit("ns")
    frame.index.name = "time" if kind in PRICE_KINDS else "available_at"
    attrs: dict[str, Any] = {"provider": provider, "kind": kind, "frequency": frequency, "timezone": tz,
                             "synthetic": bool(synthetic)}
    attrs.update(extra_attrs or {})
    frame.attrs = attrs
    return frame


def as_float(values: Any) -> np.ndarray:
    """float64 values of a column (nullable/pyarrow dtypes included; missing or not a number -> NaN; a
    number too large for float64, such as a 400-digit integer, -> +-inf)."""
    series = pd.Series(values)
    try:
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    except OverflowError:  # pandas gives up on the whole column: convert cell by cell
        return np.array([_one_float(v) for v in series.tolist()], dtype="float64")


def _one_float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        return float("inf") if str(value).strip()[:1] != "-" else float("-inf")
    except (TypeError, ValueError):
        return float("nan")


def describe_range(index: pd.DatetimeIndex, kind: str, frequency: str, tz: str = EXCHANGE_TZ) -> str:
    """'2005-02-25 .. 2017-12-29' for date labels, local times for intraday bars and records."""
    if len(index) == 0:
        return "no rows"
    if kind in PRICE_KINDS and frequency not in INTRADAY:
        return f"{index[0].date()} .. {index[-1].date()}"
    a, b = index[0].tz_convert(tz), index[-1].tz_convert(tz)
    return f"{a:%Y-%m-%d %H:%M} .. {b:%Y-%m-%d %H:%M} ({tz})"
