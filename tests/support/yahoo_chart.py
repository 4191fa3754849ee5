"""Payloads shaped like Yahoo's chart API (``GET /v8/finance/chart/{symbol}``, ``events=div,splits``), built
from bars, for the stand-in server (tests/support/fmp_server.py with ``prefix="/"``).

The shape follows what Yahoo returns and what yfinance parses (``yfinance.utils.parse_quotes`` /
``parse_actions``): ``chart.result[0]`` with ``meta`` (``exchangeTimezoneName``, ``instrumentType``,
``currency``, ``validRanges``, ``tradingPeriods`` for intraday), ``timestamp`` (epoch seconds: a daily bar at
its 09:30 open, an intraday bar at its start), ``events.dividends`` / ``events.splits`` keyed by epoch seconds, and
``indicators.quote[0]`` / ``indicators.adjclose[0]``. tests/fixtures/yahoo/*.json are the same shape, written out.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

TZ = "America/New_York"
VALID_RANGES = ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"]


def _epoch(t: pd.Timestamp) -> int:
    return int(t.timestamp())


def _session(day: pd.Timestamp, hh: int, mm: int) -> int:
    return _epoch(pd.Timestamp(day.date()).tz_localize(TZ) + pd.Timedelta(hours=hh, minutes=mm))


def chart(symbol: str, bars: pd.DataFrame, *, intraday: bool = False, adjclose: Any = None,
          dividends: Mapping[str, float] | None = None, splits: Mapping[str, tuple[int, int]] | None = None,
          instrument: str = "EQUITY") -> dict[str, Any]:
    """A chart-API body: `bars` (open, high, low, close, volume; index = session dates, or intraday bar starts
    in New York time), dividends {ex-date: amount}, splits {ex-date: (numerator, denominator)}."""
    index = pd.DatetimeIndex(bars.index)
    if intraday:
        local = index.tz_localize(TZ) if index.tz is None else index.tz_convert(TZ)
        stamps = [_epoch(t) for t in local]
    else:
        stamps = [_session(t, 9, 30) for t in index]
    meta: dict[str, Any] = {
        "currency": "USD", "symbol": symbol, "exchangeName": "NMS", "fullExchangeName": "NasdaqGS",
        "instrumentType": instrument, "firstTradeDate": 345479400, "regularMarketTime": stamps[-1] if stamps else 0,
        "hasPrePostMarketData": True, "gmtoffset": -18000, "timezone": "EST", "exchangeTimezoneName": TZ,
        "priceHint": 2, "dataGranularity": "5m" if intraday else "1d", "range": "", "validRanges": VALID_RANGES,
    }
    if intraday:
        days = sorted({pd.Timestamp(t, unit="s", tz="UTC").tz_convert(TZ).normalize() for t in stamps})
        meta["tradingPeriods"] = [[{"timezone": "EST", "start": _session(d, 9, 30), "end": _session(d, 16, 0),
                                    "gmtoffset": -18000}] for d in days]
    events: dict[str, Any] = {}
    if dividends:
        opens = {d: _session(pd.Timestamp(d), 9, 30) for d in dividends}
        events["dividends"] = {str(opens[d]): {"amount": a, "date": opens[d]} for d, a in dividends.items()}
    if splits:
        opens = {d: _session(pd.Timestamp(d), 9, 30) for d in splits}
        events["splits"] = {str(opens[d]): {"date": opens[d], "numerator": float(n), "denominator": float(m),
                                            "splitRatio": f"{n}:{m}"} for d, (n, m) in splits.items()}
    quote = {c: [float(v) for v in bars[c]] for c in ("open", "high", "low", "close")}
    quote["volume"] = [int(v) for v in bars["volume"]]
    result: dict[str, Any] = {"meta": meta, "timestamp": stamps}
    if events:
        result["events"] = events
    result["indicators"] = {"quote": [quote]}
    if not intraday:
        adj = bars["close"] if adjclose is None else adjclose
        result["indicators"]["adjclose"] = [{"adjclose": [float(v) for v in adj]}]
    return {"chart": {"result": [result], "error": None}}
