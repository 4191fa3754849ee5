"""Point-in-time alignment of published records (events, fundamentals) onto price bars.

Records are indexed by ``available_at`` (UTC; see `ruleengine.data.pit`). The one rule: a record is visible on
bar ``t`` iff ``available_at <= close(t)``, where ``close(t)`` comes from
`ruleengine.data.calendar.bar_close_times` (daily bar: session close; intraday bar: start + length, capped at
the session close). Each record therefore *arrives* on exactly one bar: the first bar whose close is at or after
its availability (records available after the last bar never arrive; records without an availability instant
(NaT) are dropped as never visible). A declared ``lag_bars = k`` delays the arrival by k further bars.

* ``how="ffill"`` (fundamentals, earnings): "last value" semantics. On each bar, each column holds the value
  of the latest arrived record (latest ``available_at``; ties broken by row order, later row wins) that has a
  value in that column; NaN before the first such record. With ``skipna=False`` the latest record replaces the
  whole row, missing values included.
* ``how="sum" | "count"``: per-bar totals of the records arriving on that bar (0 on bars with none).
* ``how="last" | "first" | "mean" | "min" | "max"``: per-bar statistic of the arriving records (NaN on bars
  with none).

Example:
    >>> import pandas as pd
    >>> bars = pd.DatetimeIndex(["2014-01-27", "2014-01-28"], tz="UTC")
    >>> rec = pd.DataFrame({"eps": [14.5]}, index=pd.DatetimeIndex(["2014-01-27 21:30"], tz="UTC"))
    >>> align_to_bars(rec, bars, "1Day")["eps"].tolist()
    [nan, 14.5]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from ..schema.kinds import KIND_COLUMNS
from .calendar import DEFAULT_CALENDAR, EXCHANGE_TZ, bar_close_times
from .frames import as_float
from .pit import lagged_available_at

HOWS = ("ffill", "sum", "count", "last", "first", "mean", "min", "max")

#: Form 4 transaction codes counted as open-market purchases / sales. Grants (A), option exercises (M), tax
#: withholding (F), gifts (G), dispositions to the issuer (D), conversions (C) and other (J) are not counted:
#: they are not discretionary trades at the market price.
BUY_CODES: tuple[str, ...] = ("P",)
SELL_CODES: tuple[str, ...] = ("S",)


def _check_bars(bar_index: Any) -> pd.DatetimeIndex:
    if not isinstance(bar_index, pd.DatetimeIndex):
        raise RuleEngineError([Diagnostic("D105", "bar index is not a DatetimeIndex",
                                          hint="index price bars by their time (tz-aware UTC)")])
    if not bar_index.is_monotonic_increasing or not bar_index.is_unique:
        raise RuleEngineError([Diagnostic("D105", "bar index is not sorted and unique",
                                          hint="sort the bars by time and drop duplicate timestamps")])
    return bar_index


def _availability(records: pd.DataFrame) -> pd.DatetimeIndex:
    idx = records.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise RuleEngineError([Diagnostic("D105", "records are not indexed by their availability time",
                                          hint="index records by 'available_at' (see ruleengine.data.pit)")])
    # base.py: available_at is UTC; a naive index is taken as UTC as well.
    return (idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")).as_unit("ns")


def arrival_positions(available_at: pd.DatetimeIndex, bar_closes: pd.DatetimeIndex,
                      lag_bars: int = 0) -> np.ndarray:
    """Index of the first bar whose close is >= each availability instant (+ `lag_bars`); len(bars) = never.

    Example:
        >>> closes = pd.DatetimeIndex(["2020-01-02 21:00", "2020-01-03 21:00"], tz="UTC")
        >>> arrival_positions(pd.DatetimeIndex(["2020-01-02 21:00", "2020-01-02 21:30"], tz="UTC"), closes)
        array([0, 1])
    """
    if lag_bars < 0:
        raise RuleEngineError([Diagnostic("D103", f"negative lag {lag_bars}", hint="a lag must be >= 0 bars")])
    closes = bar_closes.as_unit("ns").asi8
    # Bar closes are non-decreasing for a sorted bar index; the running max guards odd calendars.
    closes = np.maximum.accumulate(closes) if len(closes) else closes
    avail = available_at.as_unit("ns").asi8
    pos = np.searchsorted(closes, avail, side="left") + lag_bars
    pos = np.where(available_at.isna(), len(closes), pos)
    return np.minimum(pos, len(closes))


def align_to_bars(records: pd.DataFrame, bar_index: pd.DatetimeIndex, frequency: str, *, how: str = "ffill",
                  columns: Sequence[str] | None = None, lag_bars: int = 0, skipna: bool = True,
                  tz: str = EXCHANGE_TZ, calendar: str = DEFAULT_CALENDAR,
                  bar_closes: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """As-of join of records on bar close times (see the module docstring for the rules).

    Args:
        records: rows indexed by ``available_at`` (UTC).
        bar_index: the price bars (labels as in `ruleengine.data.base`), sorted and unique.
        frequency: the bars' frequency (``1Min`` ... ``1Month``).
        how: ``ffill`` (last value) or a per-bar aggregation (see `HOWS`).
        columns: columns to align (default: all for ffill/first/last, numeric ones otherwise).
        lag_bars: extra bars of delay declared for the source.
        skipna: ffill only: carry each column's latest non-missing value (True) or the latest row (False).
        tz, calendar: exchange time zone and calendar of the bars.
        bar_closes: precomputed `bar_close_times(bar_index, frequency)` (saves work in a universe).

    Returns:
        A DataFrame indexed by `bar_index`.
    """
    if how not in HOWS:
        raise RuleEngineError([Diagnostic("D103", f"unknown alignment '{how}'", hint="one of: " + ", ".join(HOWS))])
    bars = _check_bars(bar_index)
    closes = bar_closes if bar_closes is not None else bar_close_times(bars, frequency, tz, calendar)
    if columns is None:
        numeric = how not in ("ffill", "first", "last")
        columns = [c for c in records.columns if not numeric or pd.api.types.is_numeric_dtype(records[c])]
    missing = [c for c in columns if c not in records.columns]
    if missing:
        raise RuleEngineError([Diagnostic("D102", f"records have no column '{missing[0]}'",
                                          hint="available: " + ", ".join(map(str, records.columns)))])
    avail = _availability(records)
    n = len(bars)
    frame = records.loc[:, list(columns)].reset_index(drop=True)
    frame["_pos"] = arrival_positions(avail, closes, lag_bars)
    frame["_at"] = avail.asi8
    frame = frame[frame["_pos"] < n]
    # Stable sort: later availability wins; equal instants keep their row order.
    frame = frame.sort_values("_at", kind="mergesort").drop(columns="_at")
    grouped = frame.groupby("_pos", sort=True)
    if how == "ffill":
        if skipna:
            per_bar = grouped.last()
            out = per_bar.reindex(range(n)).ffill()
        else:
            row = pd.Series(np.arange(len(frame)), index=frame["_pos"].to_numpy())
            latest = row.groupby(level=0).last().reindex(range(n)).ffill()
            taken = frame.drop(columns="_pos").reset_index(drop=True)
            out = taken.reindex(latest.to_numpy()).reset_index(drop=True)
    elif how in ("sum", "count"):
        per_bar = grouped.sum(numeric_only=False) if how == "sum" else grouped.count()
        out = per_bar.reindex(range(n)).fillna(0)
    else:
        out = getattr(grouped, how)().reindex(range(n))
    out = out.reindex(columns=list(columns))
    out.index = bars
    return out


def aggregate_insider(trades: pd.DataFrame, bar_index: pd.DatetimeIndex, frequency: str, *,
                      lag_bars: int = 0, reporting_lag_days: int | None = None,
                      buy_codes: Sequence[str] = BUY_CODES, sell_codes: Sequence[str] = SELL_CODES,
                      tz: str = EXCHANGE_TZ, calendar: str = DEFAULT_CALENDAR,
                      bar_closes: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """Insider trades per bar: the ``insider_trades`` kind columns, each trade counted on its arrival bar.

    Purchases are transaction code ``P``, sales ``S`` (`BUY_CODES`, `SELL_CODES`); other codes are ignored.
    Values are shares x price (a missing price adds 0 value); net = buy - sell. Bars without trades are 0.

    Args:
        trades: one row per transaction with ``transaction_code``, ``shares``, ``price``, indexed by
            ``available_at`` -- or, with `reporting_lag_days`, availability is recomputed as
            `lagged_available_at(transaction_date, business_days=reporting_lag_days)` from the
            ``transaction_date`` column (else the index dates).
        bar_index, frequency: the price bars.
        lag_bars: extra bars of delay.
    """
    need = [c for c in ("transaction_code", "shares", "price") if c not in trades.columns]
    if need:
        raise RuleEngineError([Diagnostic("D102", f"insider trades have no column '{need[0]}'",
                                          hint="expected transaction_code, shares, price per transaction")])
    t = trades
    if reporting_lag_days is not None:
        dates = t["transaction_date"] if "transaction_date" in t.columns else t.index
        t = t.set_axis(lagged_available_at(dates, business_days=reporting_lag_days, tz=tz), axis=0)
    code = t["transaction_code"].astype("string").str.strip().str.upper()
    shares = pd.to_numeric(t["shares"], errors="coerce").astype("float64")
    value = (shares * pd.to_numeric(t["price"], errors="coerce").astype("float64")).fillna(0.0)
    buy = code.isin(list(buy_codes)).fillna(False).to_numpy(bool)
    sell = code.isin(list(sell_codes)).fillna(False).to_numpy(bool)
    rows = pd.DataFrame({
        "buy_count": buy.astype("float64"), "sell_count": sell.astype("float64"),
        "buy_shares": np.where(buy, shares, 0.0), "sell_shares": np.where(sell, shares, 0.0),
        "buy_value": np.where(buy, value, 0.0), "sell_value": np.where(sell, value, 0.0),
    }, index=t.index)[buy | sell]
    out = align_to_bars(rows, bar_index, frequency, how="sum", lag_bars=lag_bars, tz=tz, calendar=calendar,
                        bar_closes=bar_closes).astype("float64")
    out["net_shares"] = out["buy_shares"] - out["sell_shares"]
    out["net_value"] = out["buy_value"] - out["sell_value"]
    return out.loc[:, list(KIND_COLUMNS["insider_trades"])]


def aggregate_mentions(mentions: pd.DataFrame, bar_index: pd.DatetimeIndex, frequency: str, *,
                       tz: str = EXCHANGE_TZ, calendar: str = DEFAULT_CALENDAR,
                       bar_closes: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """Social-media mentions per bar: the ``social_mentions`` kind columns, each post on its arrival bar.

    `mentions` holds one row per post naming the symbol, indexed by the post's creation instant, with
    ``sentiment`` and ``trending`` (`ruleengine.data.mentions.mention_records`). Per bar: ``mention_volume``
    is the number of arriving posts (0 on bars without any), ``sentiment`` their mean score and ``trending``
    the rank at the latest of them (both NaN on bars without posts: nothing was said).
    """
    need = [c for c in ("sentiment", "trending") if c not in mentions.columns]
    if need:
        raise RuleEngineError([Diagnostic("D102", f"mentions have no column '{need[0]}'",
                                          hint="expected sentiment and trending per post")])
    rows = pd.DataFrame({"mention_volume": np.ones(len(mentions)),
                         "sentiment": as_float(mentions["sentiment"]),
                         "trending": as_float(mentions["trending"])}, index=mentions.index)
    kw: dict[str, Any] = {"tz": tz, "calendar": calendar, "bar_closes": bar_closes}
    volume = align_to_bars(rows, bar_index, frequency, how="sum", columns=["mention_volume"], **kw)
    mood = align_to_bars(rows, bar_index, frequency, how="mean", columns=["sentiment"], **kw)
    rank = align_to_bars(rows, bar_index, frequency, how="last", columns=["trending"], **kw)
    out = pd.concat([volume, mood, rank], axis=1).astype("float64")
    return out.loc[:, list(KIND_COLUMNS["social_mentions"])]



def position_after_fills(fills: pd.DataFrame) -> pd.DataFrame:
    """The position after each fill (in index order): ``shares`` held and ``cost_basis``, the average cost per
    share of what is held (fees included; NaN when flat).

    Average cost: a fill that adds to the position (or opens one) averages its price and fees in; one that
    reduces it keeps the average (its gain is realized); one that crosses zero opens the rest at its price.
    """
    quantity = as_float(fills["quantity"])
    price = as_float(fills["price"])
    fees = as_float(fills["fees"]) if "fees" in fills.columns else np.zeros(len(fills))
    shares, cost = 0.0, float("nan")
    held, basis = np.empty(len(fills)), np.empty(len(fills))
    for i, (q, p, f) in enumerate(zip(quantity, price, np.nan_to_num(fees), strict=True)):
        if shares == 0 or np.sign(q) == np.sign(shares):
            total = abs(shares) + abs(q)
            cost = ((0.0 if shares == 0 else cost * abs(shares)) + abs(q) * p + f) / total if total else cost
        elif abs(q) > abs(shares):
            cost = p
        shares += q
        if abs(shares) < 1e-9:
            shares, cost = 0.0, float("nan")
        held[i], basis[i] = shares, cost
    return pd.DataFrame({"shares": held, "cost_basis": basis}, index=fills.index)


def aggregate_fills(fills: pd.DataFrame | None, bar_index: pd.DatetimeIndex, frequency: str, close: np.ndarray,
                    *, tz: str = EXCHANGE_TZ, calendar: str = DEFAULT_CALENDAR,
                    bar_closes: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """The user's position on each bar: the ``portfolio`` kind columns from their fills.

    `fills` holds one row per fill (``quantity`` signed, ``price``, ``fees``) indexed by when it happened; a
    fill counts from the first bar whose close is at or after it, so ``shares`` on bar t is the sum of the
    fills up to t (0 before the first), ``cost_basis`` the average cost then, and ``unrealized_pct`` the open
    gain at the bar's `close` in percent (a short gains when the price falls; NaN when flat).
    """
    n = len(bar_index)
    if fills is None or fills.empty:
        shares, basis = np.zeros(n), np.full(n, np.nan)
    else:
        state = position_after_fills(fills)
        aligned = align_to_bars(state, bar_index, frequency, how="ffill", skipna=False, tz=tz, calendar=calendar,
                                bar_closes=bar_closes)
        shares = aligned["shares"].fillna(0.0).to_numpy(dtype="float64")
        basis = aligned["cost_basis"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(shares != 0, np.sign(shares) * (close / basis - 1.0) * 100.0, np.nan)
    return pd.DataFrame({"shares": shares, "cost_basis": basis, "unrealized_pct": gain}, index=bar_index)
