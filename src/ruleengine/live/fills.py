"""The user's real fills in tracking and live signals, when their portfolio export is configured.

With ``RULEENGINE_PORTFOLIO`` set (`ruleengine.data.portfolio.PortfolioProvider`), or SnapTrade's settings
(`ruleengine.data.snaptrade.SnapTradeProvider`), tracking records what the user did from their own fills
instead of asking for it (``signals act`` / ``signals close`` by hand):

* an entry signal not yet acted on is acted on by the first fill of its ticker on its side (a buy for a long
  entry, a sell for a short one) at or after the signal's bar and before the ticker's next entry signal of that
  side, at the fill's price and time;
* an acted entry without an outcome is closed by the first later fill that brings the user's position in the
  ticker back to flat (or across it), at that fill's price and time.

A pair's signal (ticker ``XLE/XLF``) is matched leg by leg: acted on when each leg has such a fill on its own side (a
long pair: a buy of the first leg and a short sale of the second), at each leg's price and time, and closed when
each leg's position is back to flat; its return is then counted on both legs' fills (`ruleengine.store`).

A fill serves one signal only; signals already acted on or closed by hand are left as they are. Live signals
name the position the user holds in each ticker ("you hold 40 shares"), as of the signal's bar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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
    signals changed. A pair's signal is matched leg by leg (`_legs`): acted on when each leg has its fill, at
    each leg's price and time (the later one is the pair's), and closed when each leg's position is flat."""
    changed = 0
    used: set[tuple[str, int]] = set()
    rows: dict[str, list[_Fill]] = {}
    by_ticker: dict[str, list[Any]] = {}
    for s in signals:
        if s.signal_type == "entry":
            by_ticker.setdefault(s.ticker, []).append(s)
    for entries in by_ticker.values():
        entries = sorted(entries, key=lambda s: s.bar_time)
        for k, sig in enumerate(entries):
            legs = _legs(sig)
            for sym, _ in legs:
                if sym not in rows:
                    rows[sym] = _fills_of(fills, sym)
            later = [e.bar_time for e in entries[k + 1:] if e.direction == sig.direction]
            until = _utc(later[0]) if later else None
            start = _utc(sig.bar_time)
            acted = {sym: _utc(sig.acted_at) for sym, _ in legs} if sig.user_acted and sig.acted_at is not None \
                else {}
            if sig.user_acted and sig.acted_legs:
                acted = {sym: _utc(leg["time"]) for sym, leg in sig.acted_legs.items()}
            if not sig.user_acted:
                hits = [next((r for r in rows[sym] if (sym, r.k) not in used and r.time >= start
                              and (until is None or r.time < until) and r.quantity * side > 0), None)
                        for sym, side in legs]
                if any(h is None for h in hits):
                    continue
                found = dict(zip([sym for sym, _ in legs], hits, strict=True))
                used.update((sym, h.k) for sym, h in found.items() if h is not None)
                _record(store.act, sig, found)
                acted, changed = {sym: h.time for sym, h in found.items() if h is not None}, changed + 1
            if sig.outcome is None and acted:
                outs = [next((r for r in rows[sym] if (sym, r.k) not in used and r.time > acted[sym]
                              and r.quantity * side < 0 and r.held * side <= 1e-9), None) for sym, side in legs]
                if all(o is not None for o in outs):
                    found = dict(zip([sym for sym, _ in legs], outs, strict=True))
                    used.update((sym, o.k) for sym, o in found.items() if o is not None)
                    _record(store.close_signal, sig, found)
                    changed += 1
    return changed


@dataclass(frozen=True)
class _Fill:
    """One fill of a symbol: when, signed quantity, price, its position among the symbol's fills, and the
    position held after it."""

    time: pd.Timestamp
    quantity: float
    price: float
    k: int
    held: float


def _fills_of(fills: pd.DataFrame, symbol: str) -> list[_Fill]:
    mine = fills[fills["symbol"] == symbol]
    held = mine["quantity"].cumsum().to_numpy(float)
    return [_Fill(t, q, p, k, h) for k, (t, q, p, h) in enumerate(zip(
        mine.index, mine["quantity"].to_numpy(float), mine["price"].to_numpy(float), held, strict=True))]


def _legs(sig: Any) -> list[tuple[str, float]]:
    """(symbol, +1 long / -1 short) of each position the signal's entry opens: its ticker on its side, or a
    pair's two legs on theirs (``data_snapshot["pair"]["legs"]``)."""
    pair = ((sig.data_snapshot or {}).get("pair") or {}).get("legs")
    if pair:
        return [(str(leg["symbol"]), 1.0 if leg["side"] == "long" else -1.0) for leg in pair]
    return [(sig.ticker, 1.0 if sig.direction != "short" else -1.0)]


def _record(method: Any, sig: Any, found: dict[str, Any]) -> None:
    """`store.act` / `store.close_signal` of `sig` at the fills found: one price, or a pair's price and time per
    leg (the pair's time: the later leg's)."""
    when = max(f.time for f in found.values()).tz_localize(None)
    if len(found) == 1 and not (sig.data_snapshot or {}).get("pair"):
        (f,) = found.values()
        method(sig.id, f.price, when=when)
        return
    method(sig.id, {sym: f.price for sym, f in found.items()}, when=when,
           leg_times={sym: f.time.tz_localize(None) for sym, f in found.items()})
