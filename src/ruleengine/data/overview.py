"""A look at the data layer without a strategy: the providers and one symbol's data.

`describe_providers` is what ``ruleengine providers`` lists; `preview_data` is what ``ruleengine data show``
prints (the head and tail of one symbol's data and a summary). Both are public (`ruleengine.describe_providers`,
`ruleengine.preview_data`) so the CLI and the agent tools show the same thing.

Example:
    >>> p = preview_data("SPY", provider="sample", start="2020-01-01", end="2020-03-31", rows=2)
    >>> p.summary["synthetic"], len(p.frame), p.total_rows
    (True, 4, 62)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import RuleEngineError
from .base import FetchRequest
from .frames import INTRADAY, to_timestamp
from .registry import default_registry

#: columns ``data show`` puts in a terminal table for kinds whose declared columns do not say it
_INSIDER_COLUMNS = ("transaction_date", "transaction_code", "shares", "price", "insider_name")
_INTRADAY_LABELS = ("1Min", "5Min", "15Min", "30Min", "1Hour")


def describe_providers(data: str | None = None) -> dict[str, Any]:
    """Every data provider (kinds, frequencies, synthetic or not, availability) and the default per kind.

    ``local`` is listed also when no data path is set: it exists, but needs ``--data PATH`` to read.

    Args:
        data: a Parquet/CSV file or folder for the local provider (default: ``$RULEENGINE_DATA``).

    Returns:
        ``{"providers": [...], "defaults": {kind: {"provider": name or None, "reason": why}}}``.

    Example:
        >>> "sample" in [p["name"] for p in describe_providers()["providers"]]
        True
    """
    registry = default_registry(data)
    described = registry.describe()
    if "local" not in registry:
        described = [{"name": "local", "description": "Parquet/CSV files of your own", "synthetic": False,
                      "kinds": {}, "available": False, "configured": False,
                      "error": "give --data PATH (or set RULEENGINE_DATA)", "default_for": {}}, *described]
    return {"providers": described,
            "defaults": {k: {"provider": n or None, "reason": why}
                         for k, (n, why) in registry.defaults_by_kind().items()}}


@dataclass(frozen=True)
class DataPreview:
    """One symbol's data as ``data show`` prints it.

    Attributes:
        frame: the rows shown (the head and the tail when there are more than twice `rows`).
        labels: the time label of each shown row (a date for daily bars, exchange time for intraday ones).
        summary: symbol, kind, provider, frequency, range, row count, synthetic flag and warning, attrs.
        total_rows: rows fetched.
        rows: rows shown at the head and at the tail.
    """

    frame: pd.DataFrame
    labels: list[str]
    summary: dict[str, Any]
    total_rows: int
    rows: int

    def to_dict(self) -> dict[str, Any]:
        """The summary and the rows shown as JSON-ready data (``data show --json`` without ``success``)."""
        records = [{"time": label, **{c: _json_value(v) for c, v in row.items()}}
                   for label, (_, row) in zip(self.labels, self.frame.iterrows(), strict=True)]
        return {**self.summary, "data": records}

    def columns(self) -> list[str]:
        """The columns a terminal table shows: the kind's own columns (and the fiscal period) when present."""
        from ..schema.kinds import KIND_COLUMNS

        kind = self.summary["kind"]
        wanted = _INSIDER_COLUMNS if kind == "insider_trades" else (*KIND_COLUMNS.get(kind, ()), "period_end")
        return [c for c in wanted if c in self.frame.columns] or list(self.frame.columns)

    def cells(self) -> list[tuple[str, list[str]]]:
        """(time label, cell texts of `columns`) for each shown row: numbers rounded for a terminal."""
        columns = self.columns()
        return [(label, [_cell(v) for v in row])
                for label, (_, row) in zip(self.labels, self.frame[columns].iterrows(), strict=True)]

    @property
    def index_name(self) -> str:
        return str(self.frame.index.name or "time")

    @property
    def local_times(self) -> bool:
        """True when the labels are exchange-local times (intraday bars and events), not dates."""
        return self.summary["kind"] != "ohlcv" or self.summary["frequency"] in _INTRADAY_LABELS


def preview_data(symbol: str, *, kind: str = "ohlcv", provider: str | None = None, data: str | None = None,
                 start: str | None = None, end: str | None = None, frequency: str = "1Day", rows: int = 10,
                 no_cache: bool = False) -> DataPreview:
    """Fetch one symbol's data and keep its head and tail with a summary.

    Missing ends default to the provider's latest data and a year before it (five days for intraday bars,
    five years for events). OHLCV delivered at a finer frequency is resampled to completed bars of
    `frequency`, as a strategy would see it.

    Raises:
        RuleEngineError: an unknown provider, kind, frequency or symbol, or a bad date.

    Example:
        >>> preview_data("SPY", provider="sample", end="2020-12-31").summary["first"]
        '2020-01-02'
    """
    registry = default_registry(data, no_cache=no_cache)
    source = registry.resolve(None, kind, frequency, cli_provider=provider)
    lo, hi = _default_range(source, symbol, kind, frequency, start, end)
    frame = source.fetch(FetchRequest(symbol, kind, to_timestamp(lo, "start date"),
                                      to_timestamp(hi, "end date"), frequency))
    if kind == "ohlcv" and str(frame.attrs.get("frequency", frequency)) != frequency and not frame.empty:
        from .resample import resample_ohlcv  # show the bars a strategy would see: completed ones only

        frame = resample_ohlcv(frame, frequency, from_frequency=str(frame.attrs["frequency"]))
    synthetic = bool(frame.attrs.get("synthetic", source.synthetic))
    warning = (frame.attrs.get("warning") or f"SYNTHETIC data: not {symbol}'s real prices") if synthetic else None
    shown = frame if len(frame) <= 2 * rows else pd.concat([frame.head(rows), frame.tail(rows)])
    tz = str(frame.attrs.get("timezone", "America/New_York"))
    delivered = str(frame.attrs.get("frequency", frequency))
    labels = [_time_label(t, kind, delivered, tz) for t in shown.index]
    summary = {"symbol": symbol, "kind": kind, "provider": source.name, "frequency": delivered,
               "requested_frequency": frequency, "timezone": tz, "synthetic": synthetic, "warning": warning,
               "start": str(pd.Timestamp(lo).date()), "end": str(pd.Timestamp(hi).date()), "rows": len(frame),
               "first": labels[0] if labels else None, "last": labels[-1] if labels else None,
               "attrs": {k: v for k, v in frame.attrs.items() if isinstance(v, (str, int, float, bool))},
               "incomplete_sessions": list(frame.attrs.get("incomplete_sessions", []))}
    return DataPreview(shown, labels, summary, len(frame), rows)


def _default_range(source: Any, symbol: str, kind: str, frequency: str, start: str | None,
                   end: str | None) -> tuple[Any, Any]:
    """The requested range; missing ends default to the provider's latest data and a year (5 for events)."""
    span = pd.Timedelta(days=5 if frequency in INTRADAY else 365) if kind == "ohlcv" else pd.Timedelta(days=5 * 365)
    if end is None:
        last = pd.Timestamp.now().normalize()
        if start is None:
            try:
                held = source.available_range(symbol, kind, frequency)
            except RuleEngineError:
                held = None  # the fetch reports the unknown symbol with its did-you-mean
            if held is not None:  # None: the provider cannot say
                # Daily labels are dates at 00:00 UTC; instants are read in exchange time.
                daily = kind == "ohlcv" and frequency not in INTRADAY
                last = held[1].tz_convert("UTC" if daily else "America/New_York").tz_localize(None)
        hi: Any = last.normalize()
    else:
        hi = to_timestamp(end, "end date")
    lo = to_timestamp(start, "start date") if start is not None else pd.Timestamp(hi) - span
    return lo, hi


def _time_label(t: Any, kind: str, frequency: str, tz: str) -> str:
    if kind == "ohlcv" and frequency not in INTRADAY:
        return str(t.date())
    return str(t.tz_convert(tz).strftime("%Y-%m-%d %H:%M"))


def _json_value(v: Any) -> Any:
    if isinstance(v, float):
        return None if math.isnan(v) else v
    if v is None or isinstance(v, (str, int, bool)):
        return v
    try:
        return None if pd.isna(v) else str(v)
    except (TypeError, ValueError):
        return str(v)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if v.is_integer() and abs(v) < 1e5:
            return str(int(v))
        return f"{v:,.0f}" if abs(v) >= 1e5 else (f"{v:.4g}" if abs(v) < 1 else f"{v:,.2f}")
    if isinstance(v, pd.Timestamp):
        return str(v.date()) if v == v.normalize() else str(v)
    return "" if v is None or str(v) in ("NaT", "nan", "<NA>", "None") else str(v)


__all__ = ["DataPreview", "describe_providers", "preview_data"]
