"""The user's real fills in tracking and live signals, when their portfolio export is configured.

With ``RULEENGINE_PORTFOLIO`` set (`ruleengine.data.portfolio.PortfolioProvider`), or SnapTrade's settings
(`ruleengine.data.snaptrade.SnapTradeProvider`), tracking records what the user did from their own fills
instead of asking for it (``signals act`` / ``signals close`` by hand):

* an entry signal not yet acted on is acted on by the first fill of its ticker on its side (a buy for a long
  entry, a sell for a short one) at or after the signal's bar and before the ticker's next entry signal of that
  side, at the fill's price and time;
* an acted entry without an outcome is closed by the first later fill that brings the user's position in the
  ticker back to flat (or across it), at that fill's price and time.

A fill serves one signal only; signals already acted on or closed by hand are left as they are. Live signals
name the position the user holds in each ticker ("you hold 40 shares"), as of the signal's bar.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd


def portfolio_fills() -> pd.DataFrame | None:
    """Every fill of the user's configured source: the broker export (``RULEENGINE_PORTFOLIO``), else SnapTrade
    (``SNAPTRADE_CLIENT_ID``); None when neither is set."""
    if os.environ.get("RULEENGINE_PORTFOLIO"):
        from ..data.portfolio import PortfolioProvider

        return PortfolioProvider().fills()
    if os.environ.get("SNAPTRADE_CLIENT_ID"):
        from ..data.snaptrade import SnapTradeProvider

        return SnapTradeProvider().fills()
    return None


def holding_note(fills: pd.DataFrame | None, ticker: str, at: Any) -> str:
    """``you hold 40 shares`` / ``you hold no shares`` of `ticker` after the fills up to `at`; '' without fills."""
    if fills is None:
        return ""
    t = pd.Timestamp(at)
    t = t.tz_localize("UTC") if t.tzinfo is None else t
    mine = fills[(fills["symbol"] == ticker) & (fills.index <= t)]
    shares = float(mine["quantity"].sum()) if len(mine) else 0.0
    if abs(shares) < 1e-9:
        return "you hold no shares"
    word = "share" if abs(shares) == 1 else "shares"
    return f"you hold {shares:g} {word}" if shares > 0 else f"you are short {-shares:g} {word}"


def _utc(value: Any) -> pd.Timestamp:
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def apply_fills(store: Any, signals: list[Any], fills: pd.DataFrame) -> int:
    """Act on and close stored signals from the user's fills (see the module docstring); returns the number of
    signals changed."""
    changed = 0
    used: set[int] = set()
    by_ticker: dict[str, list[Any]] = {}
    for s in signals:
        if s.signal_type == "entry":
            by_ticker.setdefault(s.ticker, []).append(s)
    for ticker, entries in by_ticker.items():
        mine = fills[fills["symbol"] == ticker]
        rows = list(zip(mine.index, mine["quantity"].to_numpy(float), mine["price"].to_numpy(float),
                        range(len(mine)), strict=True))
        held = mine["quantity"].cumsum().to_numpy(float)
        entries = sorted(entries, key=lambda s: s.bar_time)
        for k, sig in enumerate(entries):
            side = 1.0 if sig.direction != "short" else -1.0
            later = [e.bar_time for e in entries[k + 1:] if e.direction == sig.direction]
            until = _utc(later[0]) if later else None
            start = _utc(sig.bar_time)
            acted_at = _utc(sig.acted_at) if sig.user_acted and sig.acted_at is not None else None
            if not sig.user_acted:
                hit = next((r for r in rows if r[3] not in used and r[0] >= start
                            and (until is None or r[0] < until) and r[1] * side > 0), None)
                if hit is None:
                    continue
                used.add(hit[3])
                store.act(sig.id, price=hit[2], when=hit[0].tz_localize(None))
                acted_at, changed = hit[0], changed + 1
            if sig.outcome is None and acted_at is not None:
                out = next((r for r in rows if r[3] not in used and r[0] > acted_at and r[1] * side < 0
                            and held[r[3]] * side <= 1e-9), None)
                if out is not None:
                    used.add(out[3])
                    store.close_signal(sig.id, out[2], when=out[0].tz_localize(None))
                    changed += 1
    return changed
