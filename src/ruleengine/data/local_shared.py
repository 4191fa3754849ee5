"""Loaders for the long-format files of ``../shared/data`` (recognised by file name, no configuration).

Each loader reads one file and returns a *normalized long frame*: a ``symbol`` column, a tz-aware UTC index
(date labels for daily bars, bar starts for intraday bars, ``available_at`` for published records) and the
kind's vocabulary columns as float64, plus informational columns. Point-in-time rules (see ``pit``):

* ``earnings_quarterly.parquet`` -> ``earnings``: eps = reported_eps = ``eps_actual`` (as reported, not
  split-adjusted), estimated_eps = ``eps_estimate``, surprise = eps - estimated_eps, surprise_percentage =
  100 * surprise / |estimated_eps|; available from the announcement (BMO: 08:00 New York that day; AMC or
  unknown: 16:30, i.e. usable from the next session). Rows without any EPS value are dropped.
* ``sec_financials.parquet`` -> ``income_statement`` / ``balance_sheet``: quarterly values of each filing
  (``qtrs`` 1 for flows, 0 for instants) whose ``value_date`` equals the filing's ``report_period``; us-gaap
  tags mapped to the vocabulary; available from the EDGAR acceptance instant (else 16:30 on the filing date).
* ``fundamentals_annual.parquet`` -> ``fundamentals``: no filing dates, so available 90 calendar days after
  the fiscal period end (16:30 New York), an assumed 10-K lag.
* ``insider_trades.parquet`` -> ``insider_trades``: one row per transaction, available 2 business days after
  the transaction date (the Form 4 deadline; 16:30 New York).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .frames import as_float
from .pit import announcement_available_at, filing_available_at, lagged_available_at

#: Price basis of each ``source`` of daily.parquet (the OHLC columns are kept raw; see its README).
DAILY_BASIS: dict[str, str] = {
    "cn_sp500_yahoo": "split-adjusted as of Dec 2017, not dividend-adjusted",
    "ml4t_yahoo": "raw as traded (not split-adjusted: split days show -50%/-67% jumps)",
    "stooq_etf_adjusted": "split- and dividend-adjusted by Stooq (not the traded price)",
}

#: us-gaap tags for each vocabulary column, in order of preference. A tuple inside the list is summed.
INCOME_TAGS: dict[str, list[str | tuple[str, ...]]] = {
    "revenue": ["Revenues", "SalesRevenueNet", ("SalesRevenueGoodsNet", "SalesRevenueServicesNet")],
    "gross_profit": ["GrossProfit"],
    "operating_income": ["OperatingIncomeLoss"],
    "net_income": ["NetIncomeLoss", "ProfitLoss"],
    "eps": ["EarningsPerShareBasic", "EarningsPerShareBasicAndDiluted"],
    "eps_diluted": ["EarningsPerShareDiluted", "EarningsPerShareBasicAndDiluted"],
}
BALANCE_TAGS: dict[str, list[str | tuple[str, ...]]] = {
    "total_assets": ["Assets"],
    "total_liabilities": ["Liabilities"],
    "total_equity": ["StockholdersEquity"],
    "cash_and_equivalents": ["CashAndCashEquivalentsAtCarryingValue"],
    "total_debt": ["LongTermDebtNoncurrent"],
    "book_value": ["StockholdersEquity"],
}

#: fundamentals_annual.parquet column for each vocabulary column.
FUNDAMENTALS_COLUMNS: dict[str, str] = {
    "revenue": "total_revenue", "net_income": "net_income", "eps": "earnings_per_share",
    "total_assets": "total_assets", "total_liabilities": "total_liabilities", "total_equity": "total_equity",
    "book_value": "total_equity", "shares_outstanding": "estimated_shares_outstanding",
}


@dataclass(frozen=True)
class SharedFile:
    """A recognised file: the kind it serves, its native frequency, its loader and a line of documentation."""

    kind: str
    frequency: str
    loader: Callable[[Path], pd.DataFrame]
    doc: str


def load_daily(path: Path) -> pd.DataFrame:
    """daily.parquet: raw OHLC as stored, float64; ``source`` kept for the price-basis note."""
    table = pq.read_table(path, columns=["symbol", "date", "open", "high", "low", "close", "volume", "source"])
    days = table.column("date").cast(pa.int32()).to_numpy(zero_copy_only=False).astype("int64")
    index = pd.DatetimeIndex(days * 86_400_000_000_000, tz="UTC").as_unit("ns")
    out = pd.DataFrame({"symbol": _categorical(table.column("symbol"))}, index=index)
    for col in ("open", "high", "low", "close", "volume"):
        out[col] = table.column(col).to_numpy(zero_copy_only=False).astype("float64")
    out["source"] = _categorical(table.column("source"))
    return out


def _categorical(column: pa.ChunkedArray) -> pd.Categorical:
    """A string column as a pandas Categorical (10x faster than object strings for 1e6 rows)."""
    encoded = column.dictionary_encode().combine_chunks()
    return pd.Categorical.from_codes(encoded.indices.to_numpy(zero_copy_only=False).astype("int32"),
                                     categories=pd.Index(encoded.dictionary.to_pylist(), dtype=object))


def load_intraday(path: Path) -> pd.DataFrame:
    """intraday_1min.parquet: bar starts (tz America/New_York in the file) -> UTC."""
    raw = pd.read_parquet(path)
    index = pd.DatetimeIndex(raw["datetime"]).tz_convert("UTC").as_unit("ns")
    out = pd.DataFrame({"symbol": raw["symbol"].to_numpy()}, index=index)
    for col in ("open", "high", "low", "close", "volume"):
        out[col] = as_float(raw[col])
    return out


def load_earnings(path: Path) -> pd.DataFrame:
    """earnings_quarterly.parquet -> earnings records at their announcement instant."""
    raw = pd.read_parquet(path)
    eps, est = as_float(raw["eps_actual"]), as_float(raw["eps_estimate"])
    surprise = eps - est
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(est != 0, 100.0 * surprise / np.abs(est), np.nan)
    when = raw["announce_time"].astype(object).where(raw["announce_time"].notna(), None).tolist()
    out = pd.DataFrame({
        "symbol": raw["symbol"].to_numpy(), "eps": eps, "reported_eps": eps, "estimated_eps": est,
        "surprise": surprise, "surprise_percentage": pct,
        "announce_date": pd.to_datetime(raw["announce_date"]).to_numpy(),
        "announce_time": raw["announce_time"].to_numpy(),
        "period_end": pd.to_datetime(raw["period_end"]).to_numpy(),
        "fiscal_year": as_float(raw["fiscal_year"]), "fiscal_quarter": as_float(raw["fiscal_quarter"]),
    }, index=announcement_available_at(raw["announce_date"], when))
    # An announcement row without any EPS figure would hide the previous quarter's values when carried forward.
    return out[~(np.isnan(eps) & np.isnan(est))]


def _sec_statement(path: Path, tags: dict[str, list[str | tuple[str, ...]]], qtrs: int) -> pd.DataFrame:
    """One row per filing (accession number) with the vocabulary columns of `tags`."""
    wanted = sorted({t for alts in tags.values() for a in alts for t in ((a,) if isinstance(a, str) else a)})
    raw = pd.read_parquet(path, filters=[("tag", "in", wanted), ("qtrs", "=", qtrs)])
    raw = raw[raw["symbol"].notna() & (raw["value_date"] == raw["report_period"])]
    wide = raw.pivot_table(index="adsh", columns="tag", values="value", aggfunc="first")
    out = pd.DataFrame(index=wide.index)
    for column, alternatives in tags.items():
        value = pd.Series(np.nan, index=wide.index)
        for alt in alternatives:
            parts = [alt] if isinstance(alt, str) else list(alt)
            present = [p for p in parts if p in wide.columns]
            if not present:
                continue
            candidate = wide[present].sum(axis=1, min_count=1)
            value = value.fillna(candidate)
        out[column] = value.to_numpy(dtype="float64")
    meta = raw.drop_duplicates("adsh").set_index("adsh").loc[out.index]
    out.insert(0, "symbol", meta["symbol"].to_numpy())
    for col in ("form", "fiscal_period", "adsh"):
        out[col] = meta[col].to_numpy() if col != "adsh" else meta.index.to_numpy()
    out["fiscal_year"] = as_float(meta["fiscal_year"])
    out["period_end"] = pd.to_datetime(meta["report_period"]).to_numpy()
    out["filed"] = pd.to_datetime(meta["filed"]).to_numpy()
    out.index = filing_available_at(meta["filed"], meta["accepted"])
    return out


def load_income_statement(path: Path) -> pd.DataFrame:
    """sec_financials.parquet -> quarterly income statement values (qtrs 1) per filing."""
    return _sec_statement(path, INCOME_TAGS, qtrs=1)


def load_balance_sheet(path: Path) -> pd.DataFrame:
    """sec_financials.parquet -> balance sheet values (instants, qtrs 0) at the report date per filing."""
    return _sec_statement(path, BALANCE_TAGS, qtrs=0)


def load_fundamentals(path: Path) -> pd.DataFrame:
    """fundamentals_annual.parquet -> annual values, available 90 calendar days after the period end."""
    raw = pd.read_parquet(path)
    out = pd.DataFrame({"symbol": raw["symbol"].to_numpy()},
                       index=lagged_available_at(raw["period_end"], calendar_days=90))
    for column, source in FUNDAMENTALS_COLUMNS.items():
        out[column] = as_float(raw[source])
    out["period_end"] = pd.to_datetime(raw["period_end"]).to_numpy()
    out["fiscal_year"] = as_float(raw["fiscal_year"])
    return out


def load_insider_trades(path: Path) -> pd.DataFrame:
    """insider_trades.parquet -> raw Form 4 transactions, available 2 business days after the trade."""
    raw = pd.read_parquet(path)
    dates = pd.to_datetime(raw["transaction_date"])
    unique = pd.DatetimeIndex(dates.drop_duplicates().dropna())
    lagged = pd.Series(lagged_available_at(unique, business_days=2), index=unique)
    out = pd.DataFrame({"symbol": raw["symbol"].to_numpy()}, index=pd.DatetimeIndex(dates.map(lagged)))
    out["transaction_code"] = raw["transaction_code"].to_numpy()
    out["shares"] = as_float(raw["shares"])
    out["price"] = as_float(raw["price"])
    out["shares_owned_after"] = as_float(raw["shares_owned_after"])
    out["transaction_date"] = dates.to_numpy()
    out["insider_name"] = raw["insider_name"].to_numpy()
    out["insider_title"] = raw["insider_title"].to_numpy()
    return out


#: File name -> what it serves.
SHARED_FILES: dict[str, list[SharedFile]] = {
    "daily.parquet": [SharedFile("ohlcv", "1Day", load_daily,
                                 "daily bars (daily.parquet); OHLC kept raw, the basis differs by source "
                                 "(attrs price_basis)")],
    "intraday_1min.parquet": [SharedFile("ohlcv", "1Min", load_intraday,
                                         "1-minute bars, regular session (intraday_1min.parquet)")],
    "earnings_quarterly.parquet": [SharedFile(
        "earnings", "quarterly", load_earnings,
        "quarterly EPS actual/estimate; available at the announcement (BMO 08:00, AMC/unknown 16:30 New York)")],
    "sec_financials.parquet": [
        SharedFile("income_statement", "quarterly", load_income_statement,
                   "SEC XBRL quarterly values (2009-07..2010-06 filings); available at EDGAR acceptance"),
        SharedFile("balance_sheet", "quarterly", load_balance_sheet,
                   "SEC XBRL balance sheet at the report date; available at EDGAR acceptance; "
                   "total_debt = long-term debt (noncurrent) only"),
    ],
    "fundamentals_annual.parquet": [SharedFile(
        "fundamentals", "annual", load_fundamentals,
        "annual statements without filing dates: available 90 calendar days after the fiscal period end")],
    "insider_trades.parquet": [SharedFile(
        "insider_trades", "event", load_insider_trades,
        "Form 4 transactions; available 2 business days after the transaction date")],
}
