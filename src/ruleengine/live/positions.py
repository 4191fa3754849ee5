"""Positions held live: where they come from, and their position variables on the evaluated bar.

An exit condition on position variables (``bars_held >= 10``, ``close < entry_price - 2 * atr(...)``) needs a
trade: in a backtest the fill step holds it; live, the user does. A `HeldPosition` is one the user holds in a
ticker, from one of three places (a later one replaces an earlier one for its ticker):

- **the user's own fills** (a broker export or SnapTrade, `ruleengine.live.fills`): the position they leave open,
  entered at its first fill at the average price of the fills that built it (`fill_positions`);

- **the store**: an acted entry signal of the strategy without an outcome yet (``ruleengine signals act``): the
  acted price is the entry price, and the entry bar is the one its fill follows from the signal's bar under the
  strategy's fill rule (the signal's bar with close fills, the next bar with open fills);
- **given** (``--position AAPL:long:140.5:2017-06-01``): side, entry price and the date (or time) of the entry
  fill's bar.

A pair strategy's held position is a pair (both legs, `ruleengine.live.held_pairs`), from the same three places.

`position_values` computes the variables on the evaluated bar exactly as the fill step defines them
(`ruleengine.lang.position.POSITION_VARIABLES`): the entry bar is the first bar at or after the entry time
(after it for ``after_bar``); ``bars_held`` counts the bars with a price after the entry bar; the extremes start
at the entry price and take each later bar's high and low, and the entry bar's own range too when the entry
filled at its open (a close fill has nothing after it on that bar).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from ..sides import Side

if TYPE_CHECKING:
    from .held_pairs import HeldPair

#: how a given position is written: TICKER:SIDE:PRICE:DATE
POSITION_FORMAT = "TICKER:SIDE:PRICE:DATE, e.g. AAPL:long:140.5:2017-06-01"


@dataclass(frozen=True)
class HeldPosition:
    """A position the user holds in `ticker` (see the module docstring)."""

    ticker: str
    side: Side
    entry_price: float
    entry_time: pd.Timestamp  # the entry fill's bar, or (``after_bar``) the bar its fill follows
    source: str  # "given" | "store signal N"
    after_bar: bool = False  # the fill is on the first bar after `entry_time` (an open fill of a stored signal)
    units: float | None = None  # the shares held, when known (the user's own fills)

    def describe(self) -> str:
        when = self.entry_time.date() if self.entry_time == self.entry_time.normalize() else self.entry_time
        rule = "the bar after " if self.after_bar else ""
        return f"{self.side} from {rule}{when} at {self.entry_price:g} ({self.source})"


#: a held position of either kind (one symbol's, or a pair's)
Held = TypeVar("Held", bound="HeldPosition | HeldPair")


def parse_position(spec: str) -> HeldPosition | HeldPair:
    """A given position from ``TICKER:SIDE:PRICE:DATE``, or a pair's (a run ``A/B`` as its ticker:
    `ruleengine.live.held_pairs.parse_pair_position`); T107 (path ``position``) when it is not one."""
    parts = [p.strip() for p in spec.split(":", 3)]
    if "/" in parts[0]:
        from .held_pairs import parse_pair_position

        return parse_pair_position(spec)

    bad = position_error(spec, f"write it as {POSITION_FORMAT}")
    if len(parts) != 4 or not all(parts):
        raise bad("expected four parts separated by ':'")
    ticker, side, price, date = parts
    if side not in ("long", "short"):
        raise bad(f"the side is '{side}', not long or short")
    entry = positive_number(price, "price", bad)
    return HeldPosition(ticker.upper(), side, entry, entry_date(date, bad), "given")  # type: ignore[arg-type]


def position_error(spec: str, hint: str) -> Callable[[str], RuleEngineError]:
    """What a malformed ``--position`` `spec` raises: T107 (path ``position``) saying why, with `hint`."""

    def bad(why: str) -> RuleEngineError:
        return RuleEngineError([Diagnostic("T107", f"--position '{spec}': {why}", path="position", hint=hint)])

    return bad


def positive_number(text: str, what: str, bad: Callable[[str], RuleEngineError]) -> float:
    """A ``--position``'s price or units: a finite number > 0, else `bad`'s error."""
    try:
        x = float(text)
    except ValueError:
        raise bad(f"the {what} '{text.strip()}' is not a number") from None
    if not math.isfinite(x) or x <= 0:
        raise bad(f"the {what} {text.strip()} is not a positive number")
    return x


def entry_date(text: str, bad: Callable[[str], RuleEngineError]) -> pd.Timestamp:
    """A ``--position``'s entry date or time (an aware time as New York's wall clock), else `bad`'s error."""
    try:
        when = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise bad(f"the date '{text}' is not a date") from None
    return when.tz_convert("America/New_York").tz_localize(None) if when.tz is not None else when


def stored_positions(store: Any, strategy_id: int, *, open_fills: bool) -> list[HeldPosition | HeldPair]:
    """The strategy's open positions in the store: its acted entry signals without an outcome (a pair's signal:
    its held pair, `ruleengine.live.held_pairs.stored_pair`)."""
    from .held_pairs import stored_pair

    held: list[HeldPosition | HeldPair] = []
    for sig in store.list_signals(strategy_id, signal_type="entry"):
        if sig.user_acted and sig.outcome is None and (sig.data_snapshot or {}).get("pair"):
            held.append(stored_pair(sig, open_fills=open_fills))
        elif sig.user_acted and sig.outcome is None and sig.acted_price:
            held.append(HeldPosition(sig.ticker, sig.direction, float(sig.acted_price), pd.Timestamp(sig.bar_time),
                                     f"store signal {sig.id}", after_bar=open_fills))
    return held


def fill_positions(fills: pd.DataFrame | None, until: Any) -> list[HeldPosition]:
    """The positions the user's own fills (`ruleengine.live.fills.portfolio_fills`: columns symbol, quantity
    signed, price; indexed by UTC time) leave open after the fills up to `until`: per ticker, the position since
    it was last flat (or crossed zero), entered at the first fill of it, at the average price of the fills that
    built it (sales reduce it at that average)."""
    if fills is None or fills.empty:
        return []
    cut = pd.Timestamp(until)
    cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")
    held: list[HeldPosition] = []
    for ticker, rows in fills[fills.index <= cut].sort_index(kind="stable").groupby("symbol", sort=True):
        qty = cost = 0.0
        opened: pd.Timestamp | None = None
        for when, row in rows.iterrows():
            q, price = float(row["quantity"]), float(row["price"])
            if abs(qty) < 1e-9 or (qty > 0) != (qty + q > 0):  # from flat, or across zero: a new position
                qty, cost, opened = qty + q, price, pd.Timestamp(when)
            elif (q > 0) == (qty > 0):  # adds: a new average price
                cost = (cost * abs(qty) + price * abs(q)) / abs(qty + q)
                qty += q
            else:  # reduces at the average
                qty += q
            if abs(qty) < 1e-9:
                qty, opened = 0.0, None
        if opened is not None and abs(qty) >= 1e-9:
            entry = opened.tz_convert("America/New_York").tz_localize(None)
            held.append(HeldPosition(str(ticker).upper(), "long" if qty > 0 else "short", cost, entry,
                                     f"your fills: {abs(qty):g} shares", units=abs(qty)))
    return held


def by_ticker(positions: Sequence[Held]) -> dict[str, Held]:
    """One position per ticker (a pair's: its run ``A/B``); T107 when two are given for the same one (which
    would the exit close?)."""
    out: dict[str, Held] = {}
    for p in positions:
        if p.ticker in out:
            raise RuleEngineError([Diagnostic(
                "T107", f"two open positions in {p.ticker}: {out[p.ticker].describe()} and {p.describe()}",
                path="position", hint="give one --position per ticker, or close the stored one first: "
                "ruleengine signals close ID --price P")])
        out[p.ticker] = p
    return out


def position_values(held: HeldPosition, index: pd.DatetimeIndex, high: np.ndarray, low: np.ndarray,
                    close: np.ndarray, r: int, exec_open: bool) -> dict[str, float] | str:
    """The position variables of `held` at bar `r` of one symbol's bars (see the module docstring), or why
    they have no value there (the entry comes after the bar, or is before the data loaded)."""
    e = entry_row(held, index, r)
    if isinstance(e, str):
        return e
    later = slice(e if exec_open else e + 1, r + 1)
    highs, lows = high[later], low[later]
    top = max(held.entry_price, float(np.nanmax(highs))) if np.isfinite(highs).any() else held.entry_price
    bottom = min(held.entry_price, float(np.nanmin(lows))) if np.isfinite(lows).any() else held.entry_price
    c = float(close[r])
    long = held.side == "long"
    unrealized = (c / held.entry_price - 1.0) * 100.0 if long else (1.0 - c / held.entry_price) * 100.0
    return {"entry_price": held.entry_price, "bars_held": float(np.isfinite(close[e + 1:r + 1]).sum()),
            "unrealized_pct": unrealized, "highest_since_entry": top, "lowest_since_entry": bottom}


def entry_row(held: Any, index: pd.DatetimeIndex, r: int) -> int | str:
    """The row of `index` on which `held` (a `HeldPosition` or a held pair: ``entry_time``, ``after_bar``,
    ``describe()``) entered: the first bar at or after its entry time (after it for ``after_bar``; on daily bars
    a fill inside a session is that session's bar); or why it has none up to bar `r` (the entry comes after the
    bar, or before the data loaded)."""
    stamp = _naive(index)
    when = held.entry_time.tz_localize(None) if held.entry_time.tz is not None else held.entry_time
    if len(stamp) and bool((stamp == stamp.normalize()).all()):
        when = when.normalize()
    e = int(stamp.searchsorted(when, side="right" if held.after_bar else "left"))
    if e > r:
        return f"the position's entry ({held.describe()}) is after the evaluated bar"
    if e == 0 and stamp[0] > when:
        return f"no bars loaded from the position's entry ({held.describe()})"
    return e


def _naive(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Bar labels as naive New York times (daily labels: their dates), comparable with an entry's time."""
    if index.tz is None:
        return index
    daily = bool((index == index.normalize()).all())
    return index.tz_convert("UTC" if daily else "America/New_York").tz_localize(None)
