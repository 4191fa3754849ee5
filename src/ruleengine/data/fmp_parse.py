"""FMP payloads -> frames in the provider contract of `ruleengine.data.base`.

Each function takes the rows fmpsdk returned (lists of dicts with FMP's camelCase fields) and returns a frame
in the shared vocabulary (`ruleengine.schema.kinds.KIND_COLUMNS`). Anything that is not the documented
shape (a missing field, a non-numeric value, an unparsable date) raises `MalformedPayload`, which the provider
turns into D114. Availability follows `ruleengine.data.pit`: a record with ``available_at = a`` is visible on
a bar whose close instant ``c`` satisfies ``a <= c``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..schema.kinds import KIND_COLUMNS
from .pit import EXCHANGE_TZ, announcement_available_at, filing_available_at, lagged_available_at

#: FMP field -> our column, per kind (camelCase -> the snake_case vocabulary).
INCOME_FIELDS = {"revenue": "revenue", "grossProfit": "gross_profit", "operatingIncome": "operating_income",
                 "netIncome": "net_income", "eps": "eps", "epsDiluted": "eps_diluted"}
# book_value is the common shareholders' equity (totalStockholdersEquity, without minority interest);
# total_equity is FMP's totalEquity (with minority interest).
BALANCE_FIELDS = {"totalAssets": "total_assets", "totalLiabilities": "total_liabilities",
                  "totalEquity": "total_equity", "cashAndCashEquivalents": "cash_and_equivalents",
                  "totalDebt": "total_debt", "totalStockholdersEquity": "book_value"}
KEY_METRICS_FIELDS = {"marketCap": "market_cap", "returnOnEquity": "roe"}
RATIOS_FIELDS = {"priceToEarningsRatio": "pe_ratio", "priceToBookRatio": "pb_ratio",
                 "dividendYield": "dividend_yield", "debtToEquityRatio": "debt_to_equity"}
OHLCV_FIELDS = {"open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume"}

#: Key metrics without a matching statement filing date: period end + this many calendar days (the 10-K
#: deadline of the smallest filers; 10-Qs are due within 40-45 days, so this is never earlier than true).
KEY_METRICS_LAG_DAYS = 90
#: Form 4 without a filing date: transaction date + 2 business days (the SEC deadline).
INSIDER_LAG_BUSINESS_DAYS = 2
#: Columns (and dtypes) of an insider-trades frame: one row per Form 4 transaction.
INSIDER_COLUMNS = {"transaction_code": "object", "shares": "float64", "price": "float64",
                   "acquired_disposed": "object", "insider_name": "object", "shares_owned_after": "float64",
                   "transaction_date": "datetime64[ns]"}


class MalformedPayload(ValueError):
    """The payload does not have the shape FMP documents (-> D114)."""


def as_records(payload: Any, what: str) -> list[dict[str, Any]]:
    """The payload as a list of dicts, or MalformedPayload."""
    if not isinstance(payload, list):
        raise MalformedPayload(f"{what}: expected a JSON list of records, got {type(payload).__name__}")
    bad = next((i for i, row in enumerate(payload) if not isinstance(row, dict)), None)
    if bad is not None:
        raise MalformedPayload(f"{what}: record {bad} is {type(payload[bad]).__name__}, not an object")
    return payload


def _frame(rows: list[dict[str, Any]], required: Sequence[str], what: str) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows)
    missing = [f for f in required if f not in df.columns]
    if missing:
        raise MalformedPayload(f"{what}: field(s) {', '.join(repr(m) for m in missing)} missing from the records")
    return df


def _numbers(df: pd.DataFrame, fields: Mapping[str, str], what: str, optional: bool = False) -> pd.DataFrame:
    """FMP numeric fields -> float64 columns under our names (null -> NaN; text -> MalformedPayload)."""
    out = pd.DataFrame(index=df.index)
    for src, dst in fields.items():
        if src not in df.columns:
            if optional:
                out[dst] = np.nan
                continue
            raise MalformedPayload(f"{what}: field '{src}' missing from the records")
        raw = df[src]
        if raw.map(lambda v: isinstance(v, bool | dict | list)).any():
            raise MalformedPayload(f"{what}: field '{src}' is not a number")
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna()
        if bad.any():
            raise MalformedPayload(f"{what}: field '{src}' has a non-numeric value {raw[bad].iloc[0]!r}")
        out[dst] = values.astype("float64")
    return out


def _dates(raw: pd.Series, what: str, field: str, fmt: str | None = None,
           required: bool = True) -> pd.DatetimeIndex:
    """Naive timestamps from FMP's date strings (None/'' -> NaT unless required)."""
    text = raw.astype("object").where(raw.notna() & (raw.astype("string").str.strip() != ""), None)
    parsed = pd.to_datetime(text, errors="coerce", format=fmt)
    bad = parsed.isna() & text.notna()
    if bad.any() or (required and parsed.isna().any()):
        sample = raw[bad | parsed.isna()].iloc[0]
        raise MalformedPayload(f"{what}: field '{field}' has an invalid date {sample!r}")
    return pd.DatetimeIndex(parsed).as_unit("ns")


def ohlcv_frame(rows: list[dict[str, Any]], intraday: bool, tz: str = EXCHANGE_TZ) -> pd.DataFrame:
    """Price bars -> index ``time`` (UTC), float64 OHLCV, sorted, duplicates dropped (last wins).

    Daily rows (``YYYY-MM-DD``) are labelled by their session date at 00:00 UTC. Intraday rows
    (``YYYY-MM-DD HH:MM:SS`` exchange local time, bar start) become UTC instants; a wall time that does not
    exist or is ambiguous at a DST change (never inside the regular session) is dropped.
    """
    what = "intraday prices" if intraday else "daily prices"
    df = _frame(rows, ["date", *OHLCV_FIELDS], what)
    out = _numbers(df, OHLCV_FIELDS, what)
    when = _dates(df["date"], what, "date")
    if intraday:
        local = when.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        keep = ~local.isna()
        out, index = out[keep], local[keep].tz_convert("UTC")
    else:
        index = when.normalize().tz_localize("UTC")
    out.index = pd.DatetimeIndex(index, name="time").as_unit("ns")
    return out[~out.index.duplicated(keep="last")].sort_index()


def _surprise(actual: pd.Series, estimate: pd.Series) -> tuple[pd.Series, pd.Series]:
    surprise = actual - estimate
    denom = estimate.abs().where(estimate != 0)
    return surprise, surprise / denom * 100.0


def earnings_frame(rows: list[dict[str, Any]], tz: str = EXCHANGE_TZ) -> pd.DataFrame:
    """Quarterly EPS announcements -> index ``available_at`` (announcement date + BMO/AMC time).

    ``eps`` and ``reported_eps`` are the reported EPS (``epsActual``; ``eps`` in FMP's older payloads),
    ``estimated_eps`` the consensus (``epsEstimated``), ``surprise = reported - estimated`` and
    ``surprise_percentage = surprise / |estimated| * 100`` (NaN when the estimate is 0 or missing). The
    report time comes from ``time`` (``bmo``/``amc``; anything else counts as after the close).
    """
    what = "earnings"
    actual_field = "eps" if rows and "eps" in rows[0] and "epsActual" not in rows[0] else "epsActual"
    df = _frame(rows, ["date", actual_field, "epsEstimated"], what)
    nums = _numbers(df, {actual_field: "eps", "epsEstimated": "estimated_eps"}, what)
    announced = _dates(df["date"], what, "date").normalize()
    times = df["time"] if "time" in df.columns else pd.Series([None] * len(df), index=df.index)
    when = [str(t).strip().upper() if isinstance(t, str) and t.strip().lower() in ("bmo", "amc") else None
            for t in times]
    surprise, pct = _surprise(nums["eps"], nums["estimated_eps"])
    out = pd.DataFrame({"eps": nums["eps"], "reported_eps": nums["eps"], "estimated_eps": nums["estimated_eps"],
                        "surprise": surprise, "surprise_percentage": pct}, index=df.index)
    out = out[list(KIND_COLUMNS["earnings"])].astype("float64")
    out["announce_time"] = pd.Series(when, index=df.index, dtype="object")
    out["announce_date"] = announced
    out.index = pd.DatetimeIndex(announcement_available_at(announced, when, tz=tz), name="available_at")
    return out.sort_index(kind="stable")


def _statement_info(df: pd.DataFrame, what: str) -> pd.DataFrame:
    info = pd.DataFrame(index=df.index)
    info["period_end"] = _dates(df["date"], what, "date").normalize()
    info["fiscal_year"] = (pd.to_numeric(df["fiscalYear"], errors="coerce").astype("float64")
                           if "fiscalYear" in df.columns else np.nan)
    info["fiscal_period"] = df["period"].astype("object") if "period" in df.columns else None
    return info


def filing_instants(df: pd.DataFrame, what: str, tz: str = EXCHANGE_TZ) -> pd.DatetimeIndex:
    """available_at of statement rows: EDGAR acceptance (``acceptedDate``) else 16:30 on ``filingDate``."""
    filed = _dates(df["filingDate"], what, "filingDate").normalize()
    accepted = (_dates(df["acceptedDate"], what, "acceptedDate", required=False)
                if "acceptedDate" in df.columns else pd.DatetimeIndex([pd.NaT] * len(df)))
    return filing_available_at(filed, accepted, tz=tz)


def statement_frame(rows: list[dict[str, Any]], kind: str, tz: str = EXCHANGE_TZ) -> pd.DataFrame:
    """Quarterly income statements or balance sheets -> index ``available_at`` (filing/acceptance time)."""
    fields = INCOME_FIELDS if kind == "income_statement" else BALANCE_FIELDS
    what = kind.replace("_", " ")
    df = _frame(rows, ["date", "filingDate", *fields], what)
    out = _numbers(df, fields, what)[list(KIND_COLUMNS[kind])]
    out = out.join(_statement_info(df, what))
    out.index = pd.DatetimeIndex(filing_instants(df, what, tz), name="available_at")
    return out.sort_index(kind="stable")


def key_metrics_frame(metrics: list[dict[str, Any]], ratios: list[dict[str, Any]],
                      statements: list[dict[str, Any]], tz: str = EXCHANGE_TZ) -> pd.DataFrame:
    """Key metrics + ratios of the same periods -> index ``available_at``.

    ``market_cap`` and ``roe`` come from FMP's key-metrics, ``pe_ratio``, ``pb_ratio``, ``dividend_yield``
    (a fraction) and ``debt_to_equity`` from its ratios, joined on the period end. FMP computes them with the
    price at the period end and publishes them with the statements, so a row is available when the income
    statement of that period was filed (``acceptedDate``/``filingDate``); a period without a statement is
    available ``KEY_METRICS_LAG_DAYS`` calendar days after its end (16:30 local).
    """
    m = _frame(metrics, ["date", *KEY_METRICS_FIELDS], "key metrics")
    left = _numbers(m, KEY_METRICS_FIELDS, "key metrics").join(_statement_info(m, "key metrics"))
    if ratios:
        r = _frame(ratios, ["date", *RATIOS_FIELDS], "ratios")
        right = _numbers(r, RATIOS_FIELDS, "ratios")
        right["period_end"] = _dates(r["date"], "ratios", "date").normalize()
    else:  # no ratios for these periods: the ratio columns stay NaN
        right = pd.DataFrame({**{c: pd.Series(dtype="float64") for c in RATIOS_FIELDS.values()},
                              "period_end": pd.Series(dtype="datetime64[ns]")})
    right = right.drop_duplicates("period_end", keep="first")
    merged = left.merge(right, on="period_end", how="outer")
    merged = merged.drop_duplicates("period_end", keep="first").reset_index(drop=True)
    lagged = lagged_available_at(merged["period_end"], calendar_days=KEY_METRICS_LAG_DAYS, tz=tz)
    available = pd.Series(lagged, index=merged.index)
    if statements:
        s = _frame(statements, ["date", "filingDate"], "income statement")
        filed = pd.Series(filing_instants(s, "income statement", tz),
                          index=_dates(s["date"], "income statement", "date").normalize())
        filed = filed[~filed.index.duplicated(keep="first")]
        known = merged["period_end"].map(filed)
        available = known.where(known.notna(), available)
    cols = list(KIND_COLUMNS["key_metrics"])
    out = merged[cols].astype("float64").join(merged[["period_end", "fiscal_year", "fiscal_period"]])
    out.index = pd.DatetimeIndex(available, name="available_at").tz_convert("UTC")
    return out.sort_index(kind="stable")


def insider_frame(rows: list[dict[str, Any]], tz: str = EXCHANGE_TZ) -> pd.DataFrame:
    """Form 4 transactions -> one row per transaction, index ``available_at``.

    Available at 16:30 local on the filing date (``filingDate``; its clock time, when FMP sends one, is not
    the EDGAR acceptance time, so only the date is used), else ``INSIDER_LAG_BUSINESS_DAYS`` sessions after
    the transaction date. ``transaction_code`` is the SEC code (``S`` of ``S-Sale``), ``shares`` the shares
    transacted (positive), ``price`` the price per share, ``acquired_disposed`` ``A`` or ``D``.
    """
    what = "insider trades"
    df = _frame(rows, ["transactionDate", "transactionType", "securitiesTransacted", "price"], what)
    nums = _numbers(df, {"securitiesTransacted": "shares", "price": "price", "securitiesOwned":
                         "shares_owned_after"}, what, optional=True)
    traded = _dates(df["transactionDate"], what, "transactionDate").normalize()
    filed = (_dates(df["filingDate"], what, "filingDate", required=False).normalize()
             if "filingDate" in df.columns else pd.DatetimeIndex([pd.NaT] * len(df)))
    lagged = lagged_available_at(traded, business_days=INSIDER_LAG_BUSINESS_DAYS, tz=tz)
    has_filed = ~filed.isna()
    from_filing = filing_available_at(filed.where(has_filed, traded), tz=tz)
    available = pd.DatetimeIndex(from_filing.where(has_filed, lagged))
    codes = df["transactionType"].map(lambda t: str(t).split("-", 1)[0].strip().upper() if t else "")
    out = pd.DataFrame({
        "transaction_code": codes.astype("object"),
        "shares": nums["shares"].abs(),
        "price": nums["price"],
        "acquired_disposed": (df["acquisitionOrDisposition"].astype("object")
                              if "acquisitionOrDisposition" in df.columns else None),
        "insider_name": df["reportingName"].astype("object") if "reportingName" in df.columns else None,
        "shares_owned_after": nums["shares_owned_after"],
        "transaction_date": traded,
    }, index=df.index).astype(INSIDER_COLUMNS)
    out.index = pd.DatetimeIndex(available, name="available_at").as_unit("ns")
    return out.sort_index(kind="stable")


def empty_events(kind: str) -> pd.DataFrame:
    """An empty frame of an event kind (index ``available_at``, UTC), with the columns a full one has."""
    cols = INSIDER_COLUMNS if kind == "insider_trades" else dict.fromkeys(KIND_COLUMNS[kind], "float64")
    out = pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})
    out.index = pd.DatetimeIndex([], tz="UTC", name="available_at").as_unit("ns")
    return out
