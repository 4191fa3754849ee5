"""Synthetic fundamentals, earnings and insider trades of the ``sample`` provider (SYNTHETIC data).

Quarter k ends on the k-th calendar quarter end from 1994-12-31. Per quarter: revenue grows with noise,
margins wander around per-symbol levels, shares drift down slowly; eps = net income / shares. Earnings are
announced 25-40 days after the quarter end (rolled to a session; BMO or AMC at random), the estimate misses
the actual by a few percent (beats are more common), and the 10-Q (10-K for the fourth quarter) is filed
3-12 (15-30) days after the announcement, available at 16:30 New York on the filing date. Insider trades are
purchases (P) and sales (S) on about 3% of sessions at about that day's close, available 2 business days
later. All streams are sequential from the epoch, so a record never depends on the requested range.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .pit import announcement_available_at, filing_available_at, lagged_available_at
from .sample import stream, symbol_seed

_FIRST_QUARTER_END = pd.Timestamp("1994-12-31")
_Q_PARAMS, _Q_GROWTH, _Q_MARGIN, _Q_SHARES, _Q_EST, _Q_TIMING, _Q_BALANCE = range(20, 27)
_I_EVENT, _I_CODE, _I_SIZE, _I_WHO, _I_PRICE = range(40, 45)
_INSIDERS = (("Alex Morgan", "Chief Executive Officer"), ("Jordan Lee", "Chief Financial Officer"),
             ("Sam Patel", "Director"), ("Chris Novak", "Director"), ("Taylor Brooks", "General Counsel"))


def _roll(dates: pd.DatetimeIndex, sessions: pd.DatetimeIndex) -> np.ndarray:
    """Position of the first session on or after each date (len(sessions) when beyond the last one)."""
    return np.searchsorted(sessions.as_unit("ns").asi8, pd.DatetimeIndex(dates).as_unit("ns").asi8, side="left")


def quarters(symbol: str, sessions: pd.DatetimeIndex, closes: np.ndarray) -> pd.DataFrame:
    """One row per quarter whose announcement and filing fall on or before the last of `sessions`."""
    seed = symbol_seed(symbol)
    last = sessions[-1]
    k = int((last.year - 1994) * 4 + 4)
    period_end = pd.DatetimeIndex([(_FIRST_QUARTER_END + pd.offsets.QuarterEnd(i)) for i in range(k)])
    p = stream(seed, _Q_PARAMS)
    u = p.random(8)
    r0 = float(np.exp(np.log(5e7) + u[0] * (np.log(2e10) - np.log(5e7))))
    g_mu, gm0 = 0.005 + 0.025 * u[1], 0.25 + 0.40 * u[2]
    om_share, pe = 0.3 + 0.2 * u[3], 12.0 + 13.0 * u[4]
    turnover, lev0, cash0, debt0 = 0.8 + 1.7 * u[5], 0.35 + 0.4 * u[6], 0.04 + 0.16 * u[7], 0.45

    revenue = r0 * np.exp(np.cumsum(g_mu + 0.04 * stream(seed, _Q_GROWTH).standard_normal(k)))
    m = stream(seed, _Q_MARGIN).standard_normal((k, 3))  # drawn as rows: quarter k uses row k only
    gross_margin = np.clip(gm0 + 0.02 * m[:, 0], 0.05, 0.9)
    op_margin = np.clip(gross_margin * om_share + 0.02 * m[:, 1], -0.3, 0.6)
    net_income = revenue * (0.75 * op_margin + 0.01 * m[:, 2])
    annual_ni0 = 4 * r0 * gm0 * om_share * 0.75
    shares0 = annual_ni0 * pe / max(float(closes[0]), 0.01)
    shares = shares0 * np.exp(np.cumsum(-0.002 + 0.004 * stream(seed, _Q_SHARES).standard_normal(k)))
    eps = np.round(net_income / shares, 2)
    eps_diluted = np.round(net_income / (shares * 1.015), 2)
    e = stream(seed, _Q_EST).standard_normal(k)
    estimate = np.round(eps - np.abs(eps) * (0.03 + 0.07 * e) - 0.005 * np.sign(e), 2)
    surprise = np.round(eps - estimate, 4)
    with np.errstate(divide="ignore", invalid="ignore"):
        surprise_pct = np.where(estimate != 0, 100 * surprise / np.abs(estimate), np.nan)

    t = stream(seed, _Q_TIMING).random((k, 3))
    announce_pos = _roll(period_end + pd.to_timedelta(25 + np.floor(16 * t[:, 0]), unit="D"), sessions)
    q4 = period_end.month == 12
    filing_lag = np.where(q4, 15 + np.floor(16 * t[:, 2]), 3 + np.floor(10 * t[:, 2]))
    ok = announce_pos < len(sessions)
    announce = sessions.take(np.minimum(announce_pos, len(sessions) - 1))
    filed_pos = _roll(announce + pd.to_timedelta(filing_lag, unit="D"), sessions)
    ok &= filed_pos < len(sessions)
    filed = sessions.take(np.minimum(filed_pos, len(sessions) - 1))

    b = stream(seed, _Q_BALANCE).standard_normal((k, 3))
    assets = revenue * 4 * turnover * np.exp(0.02 * b[:, 0])
    liabilities = assets * np.clip(lev0 + 0.02 * b[:, 1], 0.05, 0.95)
    cash = assets * cash0 * np.exp(0.1 * b[:, 2])
    out = pd.DataFrame({
        "period_end": period_end, "announce_date": announce,
        "announce_time": np.where(t[:, 1] < 0.5, "BMO", "AMC"), "filed": filed,
        "form": np.where(q4, "10-K", "10-Q"),
        "fiscal_year": period_end.year.astype("float64"), "fiscal_quarter": period_end.quarter.astype("float64"),
        "revenue": np.round(revenue), "gross_profit": np.round(revenue * gross_margin),
        "operating_income": np.round(revenue * op_margin), "net_income": np.round(net_income),
        "eps": eps, "eps_diluted": eps_diluted, "estimated_eps": estimate, "surprise": surprise,
        "surprise_percentage": surprise_pct, "shares_outstanding": np.round(shares),
        "total_assets": np.round(assets), "total_liabilities": np.round(liabilities),
        "total_equity": np.round(assets - liabilities), "cash_and_equivalents": np.round(cash),
        "total_debt": np.round(liabilities * debt0),
    })
    out["book_value"] = out["total_equity"]
    return out[ok].reset_index(drop=True)


def insider_trades(symbol: str, sessions: pd.DatetimeIndex, closes: np.ndarray) -> pd.DataFrame:
    """Open-market purchases and sales on about 3% of sessions, at about that day's close."""
    seed = symbol_seed(symbol)
    n = len(sessions)
    hit = stream(seed, _I_EVENT).random(n) < 0.03
    code = np.where(stream(seed, _I_CODE).random(n) < 0.35, "P", "S")
    shares = np.round(np.exp(8.0 + 1.2 * stream(seed, _I_SIZE).standard_normal(n)))
    who = np.floor(stream(seed, _I_WHO).random(n) * len(_INSIDERS)).astype(int)
    price = np.round(closes * np.exp(0.005 * stream(seed, _I_PRICE).standard_normal(n)), 2)
    idx = np.flatnonzero(hit)
    return pd.DataFrame({
        "transaction_date": sessions.take(idx), "transaction_code": code[idx], "shares": shares[idx],
        "price": price[idx], "insider_name": [_INSIDERS[w][0] for w in who[idx]],
        "insider_title": [_INSIDERS[w][1] for w in who[idx]],
    })


_STATEMENT_COLUMNS = {
    "income_statement": ("revenue", "gross_profit", "operating_income", "net_income", "eps", "eps_diluted"),
    "balance_sheet": ("total_assets", "total_liabilities", "total_equity", "cash_and_equivalents",
                      "total_debt", "book_value"),
    "fundamentals": ("revenue", "net_income", "eps", "total_assets", "total_liabilities", "total_equity",
                     "book_value", "shares_outstanding"),
}


def events(symbol: str, kind: str, daily: pd.DataFrame) -> pd.DataFrame:
    """Every record of `kind` up to the end of `daily` (naive session index), indexed by available_at."""
    sessions = pd.DatetimeIndex(daily.index).as_unit("ns")
    closes = daily["close"].to_numpy()
    if kind == "insider_trades":
        trades = insider_trades(symbol, sessions, closes)
        trades.index = lagged_available_at(trades["transaction_date"], business_days=2)
        return trades
    q = quarters(symbol, sessions, closes)
    if kind == "earnings":
        out = q[["eps", "eps", "estimated_eps", "surprise", "surprise_percentage", "announce_date",
                 "announce_time", "period_end", "fiscal_year", "fiscal_quarter"]].copy()
        out.columns = ["eps", "reported_eps", "estimated_eps", "surprise", "surprise_percentage",
                       "announce_date", "announce_time", "period_end", "fiscal_year", "fiscal_quarter"]
        out.index = announcement_available_at(q["announce_date"], q["announce_time"].tolist())
        return out
    out = q[[*_STATEMENT_COLUMNS[kind], "period_end", "filed", "form", "fiscal_year", "fiscal_quarter"]].copy()
    out.index = filing_available_at(q["filed"])
    return out
