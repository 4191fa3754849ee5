"""A slow, plain-Python reading of the fill contract (ruleengine.backtest.risk.FILL_CONTRACT), tests only.

Long, short and long/short (`LONG_SHORT_FILL_CONTRACT`: four signals, reversal at the same fill, the borrow
cost of a short accrued by calendar time) all read their signals through `_intents`.

Written from the contract's text, bar by bar and column by column with plain floats and dicts, without
numba or ruleengine's kernel, so that the engine can be checked against it. It is the contract's executable
spec: a bar's events happen in time order (the open, the rest of the bar, the close). Returns trades as a
list of dicts with the keys of `Simulation.trades` (times left out) and the equity curve as lists.

Exits that know the trade (`EXITS_FILL_CONTRACT`): ``distances`` maps ``stop_loss_distance`` /
``take_profit_distance`` to (T, N) per-bar values, read at the entry signal's bar; ``exit_rule(t, j, state)``
is the exit condition on position variables, written by each test in plain Python (``state`` holds
entry_price, bars_held, unrealized_pct, highest_since_entry, lowest_since_entry at bar t's close);
``short_exit_rule`` the same for a long_short strategy's shorts (its ``short_exit`` block), joining the short exit.

Pairs (`PAIR_FILL_CONTRACT`): `reference_pairs` (each pair on its own cash) and `reference_pairs_portfolio`
(pairs sharing one account) step each pair through `_Pair`: its sizing methods on the pair's value, whole
units per leg, stops, activation and take-profit table on the combined value, and an exit rule on the pair's
position variables (`pair_state`).
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

REASONS = ("signal", "stop_loss", "take_profit", "trailing_stop", "max_hold", "end_of_data", "exit_order")
_YEAR_NS = 365 * 86_400 * 10**9  # the borrow cost's year: 365 calendar days


def _bar(prices: dict[str, Any], t: int, j: int) -> tuple[float, float, float, float] | None:
    c = float(prices["close"][t][j])
    if math.isnan(c):
        return None
    o = float(prices["open"][t][j])
    o = c if math.isnan(o) else o
    h = float(prices["high"][t][j])
    h = max(o, c) if math.isnan(h) else h
    lo = float(prices["low"][t][j])
    lo = min(o, c) if math.isnan(lo) else lo
    return o, h, lo, c


def _pct(v: float | None) -> float | None:
    return None if v is None else v / 100.0


def _table_take_profit(risk: Any, held: int) -> float | None:
    """take_profit_by_bars: the % of the row with the largest bars <= held, as a fraction (None before the
    first row or without a table)."""
    rows = [pct for bars, pct in (getattr(risk, "take_profit_by_bars", None) or ()) if bars <= held]
    return rows[-1] / 100.0 if rows else None


def _stop(bar: tuple[float, float, float, float], pos: dict[str, Any], risk: Any,
          held: int) -> tuple[float, str] | None:
    """The stop that fills inside this bar, if any: (price before slippage, reason). `held` is the bars held at
    this bar (for the take-profit table): 0 on the bar of an entry at its open, else the bars after the entry
    bar including this one."""
    o, h, lo, _ = bar
    sl, tp, tsl = _pct(risk.stop_loss_pct), _pct(risk.take_profit_pct), _pct(risk.trailing_stop_pct)
    if getattr(risk, "take_profit_by_bars", None):
        tp = _table_take_profit(risk, held)
    act = _pct(getattr(risk, "trailing_stop_activation_pct", None))
    if tsl is not None and act is not None:  # no trail before the peak (short: trough) reached the activation
        long = pos["side"] > 0
        reached = pos["peak"] >= pos["entry"] * (1 + act) if long else pos["peak"] <= pos["entry"] * (1 - act)
        tsl = tsl if reached else None
    if pos["side"] < 0:
        return _short_stop(bar, pos, sl, tp, tsl)
    candidates = []
    if sl is not None:
        candidates.append((pos["entry"] * (1 - sl), "stop_loss"))
    if pos["stop"] is not None:  # a distance stop, fixed at the entry (the document has no stop_loss_pct then)
        candidates.append((pos["stop"], "stop_loss"))
    if tsl is not None:
        candidates.append((pos["peak"] * (1 - tsl), "trailing_stop"))
    if candidates:
        level, reason = candidates[0]
        for lv, rs in candidates[1:]:
            if lv > level:  # the higher loss-side level is reached first; the stop loss keeps a tie
                level, reason = lv, rs
        if o <= level:
            return o, reason  # gapped through: the open
        if lo <= level <= h:
            return level, reason
    target = pos["entry"] * (1 + tp) if tp is not None else pos["target"]
    if target is not None:
        if o >= target:
            return o, "take_profit"
        if lo <= target <= h:
            return target, "take_profit"
    return None


def _short_stop(bar: tuple[float, float, float, float], pos: dict[str, Any], sl: float | None, tp: float | None,
                tsl: float | None) -> tuple[float, str] | None:
    """A short's stops: the loss side above the entry (the trail above the lowest low), the target below."""
    o, h, lo, _ = bar
    candidates = []
    if sl is not None:
        candidates.append((pos["entry"] * (1 + sl), "stop_loss"))
    if pos["stop"] is not None:
        candidates.append((pos["stop"], "stop_loss"))
    if tsl is not None:
        candidates.append((pos["peak"] * (1 + tsl), "trailing_stop"))
    if candidates:
        level, reason = min(candidates, key=lambda c: c[0])  # min keeps the first (stop loss) on a tie
        if o >= level:
            return o, reason
        if lo <= level <= h:
            return level, reason
    target = pos["entry"] * (1 - tp) if tp is not None else pos["target"]
    if target is not None:
        if o <= target:
            return o, "take_profit"
        if lo <= target <= h:
            return target, "take_profit"
    return None


def _worth(pos: dict[str, Any] | None, px: float) -> float:
    """A position's value at px: units x px long; a short: its collateral plus units x (entry - px)."""
    if pos is None:
        return 0.0
    if pos["side"] < 0:
        return pos["units"] * pos["entry"] + pos["units"] * (pos["entry"] - px)
    return pos["units"] * px


def _intents(r: Any, e: bool, x: bool, se: bool, sx: bool) -> tuple[bool, bool, bool, bool]:
    """(long entry, long exit, short entry, short exit) acting on a bar, from its signals.

    A long strategy's entries/exits are its long side, a short strategy's its short side; a long_short
    strategy has both. An entry with its own side's exit on one bar: neither; then a long and a short entry
    on one bar: neither (vectorbt's "ignore" for both conflicts)."""
    direction = getattr(r, "direction", "long")
    if direction == "short":
        e, x, se, sx = False, False, e, x
    elif direction == "long":
        se = sx = False
    le, lx = e and not x, x and not e
    se, sx = se and not sx, sx and not se
    if le and se:
        le = se = False
    return le, lx, se, sx


def _closes(side: int, it: tuple[bool, bool, bool, bool]) -> bool:
    """A signal closes the position on `side`: its own exit, or the opposite entry (which then reverses it)."""
    le, lx, se, sx = it
    return (lx or se) if side > 0 else (sx or le)


def _entry_side(it: tuple[bool, bool, bool, bool]) -> int:
    """The side an entry signal opens (1 long, -1 short, 0 none)."""
    return 1 if it[0] else -1 if it[2] else 0


def _borrow(pos: dict[str, Any] | None, r: Any, now: Any) -> float:
    """The borrow cost a short has accrued by `now`: units x entry x annual rate x calendar time held."""
    rate = (getattr(r, "borrow_cost_pct", 0.0) or 0.0) / 100
    if pos is None or pos["side"] > 0 or rate == 0:
        return 0.0
    return pos["units"] * pos["entry"] * rate * (pd.Timedelta(now - pos["time"]).value / _YEAR_NS)


def _signals(entries: Any, exits: Any, short_entries: Any, short_exits: Any, t: int, j: int
             ) -> tuple[bool, bool, bool, bool]:
    se = bool(short_entries[t][j]) if short_entries is not None else False
    sx = bool(short_exits[t][j]) if short_exits is not None else False
    return bool(entries[t][j]), bool(exits[t][j]), se, sx


def _max_hold_reached(r: Any, pos: dict[str, Any], now: Any) -> bool:
    """Max hold: the time since the entry bar reaches max_hold_days, or the bars after it max_hold_bars."""
    # in integer nanoseconds (Python ints: no overflow for any max_hold_days)
    days_up = r.max_hold_days is not None and \
        pd.Timedelta(now - pos["time"]).value >= r.max_hold_days * 86_400 * 10**9
    bars_up = r.max_hold_bars is not None and pos["bars"] >= r.max_hold_bars
    return days_up or bars_up


def _exit_level(r: Any, pos: dict[str, Any] | None, prev: int, j: int, exit_levels: Any,
                short_exit_levels: Any) -> float:
    """The exit order resting during the bar after `prev` (the symbol's previous bar) for `pos`, the position
    held at the bar's open: the level its expression had at prev's close (a long_short strategy's shorts: the
    short level); NaN without an exit order, when flat, or for a position entered after prev."""
    if getattr(r, "exit_order", "market") == "market" or pos is None or prev < 0 or pos["bar"] > prev:
        return math.nan
    short = pos["side"] < 0 and getattr(r, "direction", "long") == "long_short"
    return float((short_exit_levels if short else exit_levels)[prev][j])


def _loss_side(reason: str, r: Any) -> bool:
    """A stop, a trail or a stop exit order is on the loss side; a take profit or a limit exit order on the
    profit side."""
    return r.exit_order == "stop" if reason == "exit_order" else reason != "take_profit"


def _own_first(o: float, fill: float, hit: tuple[float, str], r: Any, kind: str, side: int) -> bool:
    """Whether the position's own exit `hit` comes before an order of `kind` filling inside the bar at `fill`:
    when it fills at the open, when it is on the loss side and the order a limit, or when both are on one side
    and its level is as near to the open or nearer (the rule of reversal and exit orders alike)."""
    price, reason = hit
    own_loss, order_loss = _loss_side(reason, r), kind == "stop"
    if price == o or (own_loss and not order_loss):
        return True
    if own_loss == order_loss:
        first = side * (fill - price) > 0 if order_loss else side * (price - fill) > 0
        return not first
    return False


def _with_exit_order(bar: tuple[float, float, float, float], pos: dict[str, Any], r: Any, xlevel: float,
                     hit: tuple[float, str] | None) -> tuple[float, str] | None:
    """The position's exit on the rest of a bar with its exit order at `xlevel` beside its own stop or target
    `hit`: a sell stop / limit (a short's buy back) fills by `_order_fill` with the opposite side; through the
    open it comes first, inside the bar `_own_first` decides."""
    if not math.isfinite(xlevel):
        return hit
    filled = _order_fill(bar, xlevel, r.exit_order, -pos["side"])
    if filled is None:
        return hit
    if hit is not None and filled[0] != bar[0] and _own_first(bar[0], filled[0], hit, r, r.exit_order, pos["side"]):
        return hit
    return filled[0], "exit_order"


def _after_open(bar: tuple[float, float, float, float], t: int, pos: dict[str, Any], r: Any, now: Any,
                want_exit: bool, use_open: bool, xlevel: float = math.nan) -> tuple[float, str] | None:
    """The rest of bar t for a position held after the open: the stops on the bar's range (also on the bar
    of an entry at this open; for an order filled inside the bar, `bar` is what followed the fill) and the
    exit order at `xlevel` (not on the entry bar), then the orders at the close (the signal exit with close
    fills, max hold)."""
    new = pos["bar"] == t  # entered at this bar's open or inside it (an order's fill): no max hold yet
    hit = _stop(bar, pos, r, pos["bars"] if new else pos["bars"] + 1)
    if not new:
        hit = _with_exit_order(bar, pos, r, xlevel, hit)
    _advance(pos, bar, new)
    if new:
        if hit is None and want_exit and not use_open:  # an order's fill, then an exit signal at the close
            return bar[3], "signal"
        return hit
    if hit is not None:
        return hit
    if want_exit and not use_open:
        return bar[3], "signal"
    if _max_hold_reached(r, pos, now):
        return bar[3], "max_hold"
    return None


def _side(r: Any) -> int:
    """The side a long or short order column's entries open: -1 for a short strategy, else 1."""
    return -1 if getattr(r, "direction", "long") == "short" else 1


def _order_intents(kind: str, it: tuple[bool, bool, bool, bool]) -> tuple[bool, bool, bool, bool]:
    """The intents that act at market: an order column's entries act through its orders only."""
    return it if kind == "market" else (False, it[1], False, it[3])


def _reversal(bar: tuple[float, float, float, float], pos: dict[str, Any], r: Any, order: dict[str, Any],
              kind: str, xlevel: float = math.nan) -> tuple[float, tuple[float, float, float, float]] | None:
    """A long_short order of the other side than the held `pos` on this bar: (fill, the part of the bar after
    it) when it reverses the position here, else None. At the open it comes first; inside the bar it is one
    more exit level of the position (a stop order on the loss side, a limit on the profit side), and the
    position's own stop or target comes first when it fills at the open, when it is on the loss side and the
    order on the profit side, or when both are on one side and its level is as near to the open or nearer
    (`_own_first`; the position's exit order at `xlevel` is one of its own exits)."""
    filled = _order_fill(bar, order["level"], kind, order["side"])
    if filled is None or filled[0] == bar[0]:
        return filled
    hit = _with_exit_order(bar, pos, r, xlevel, _stop(bar, pos, r, pos["bars"] + 1))
    if hit is None:
        return filled
    return None if _own_first(bar[0], filled[0], hit, r, kind, pos["side"]) else filled


def _order_fill(bar: tuple[float, float, float, float], level: float, kind: str,
                side: int) -> tuple[float, tuple[float, float, float, float]] | None:
    """A pending limit or stop order on this bar: (fill price, the part of the bar after the fill) or None.

    A long limit and a short stop wait for the price to come down to the level, a long stop and a short limit
    for it to come up. An open already through the level fills at the open (the whole bar follows); else a
    level inside the bar fills at the level, and what certainly followed is the range from the level to the
    bar's extreme beyond it, and to the close."""
    o, h, lo, c = bar
    if (kind == "limit") == (side > 0):  # the level is below the price
        if o <= level:
            return o, bar
        if lo <= level:
            return level, (level, max(level, c), lo, c)
        return None
    if o >= level:
        return o, bar
    if h >= level:
        return level, (level, h, min(level, c), c)
    return None


def _placed(order: dict[str, Any] | None, held: int, r: Any, raw: tuple[bool, bool, bool, bool],
            levels: tuple[float, float], t: int) -> dict[str, Any] | None:
    """The order after bar t's close (`held` the side held: 0 flat), from the bar's own signals `raw` (entry,
    exit, short entry, short exit) and order levels (long side's, short side's). A long or short strategy: an
    exit signal cancels it, an entry signal while flat places one at the bar's level (a NaN or infinite level:
    none; its bar t is the signal bar whose levels its entry reads), replacing a pending one; else it stays.
    long_short: each side's exit cancels that side's order; an entry of a side (without its own exit) places
    that side's order unless that side is held, replacing a pending one; both sides' entries: nothing new."""
    e, x, se, sx = raw

    def new(level: float, side: int) -> dict[str, Any] | None:
        return {"level": level, "left": r.order_valid_bars, "bar": t, "side": side} if math.isfinite(level) else None

    if getattr(r, "direction", "long") != "long_short":
        if x:
            return None
        return new(levels[0], _side(r)) if e and held == 0 else order
    if order is not None and ((x and order["side"] > 0) or (sx and order["side"] < 0)):
        order = None
    le, sen = e and not x, se and not sx
    if le and sen:
        return order
    if le and held <= 0:
        return new(levels[0], 1)
    if sen and held >= 0:
        return new(levels[1], -1)
    return order


def _order_levels(order_levels: Any, short_order_levels: Any, t: int, j: int) -> tuple[float, float]:
    short = math.nan if short_order_levels is None else float(short_order_levels[t][j])
    return float(order_levels[t][j]), short


def _advance(pos: dict[str, Any], bar: tuple[float, float, float, float], new: bool) -> None:
    """A held position after a bar: its peak (after the bar's check), extremes, bars held."""
    pos["peak"] = max(pos["peak"], bar[1]) if pos["side"] > 0 else min(pos["peak"], bar[2])
    pos["high"], pos["low"] = max(pos["high"], bar[1]), min(pos["low"], bar[2])
    if not new:
        pos["bars"] += 1


def _with_rule(sig: tuple[bool, bool, bool, bool], rules: tuple[Any, Any], pos: dict[str, Any] | None,
               bar: tuple[float, float, float, float], t: int, j: int, r: Any, advance: bool
               ) -> tuple[bool, bool, bool, bool]:
    """`sig` (entry, exit, short entry, short exit) with the held side's exit rule on the position at bar t's
    close joined to that side's exit: `rules` are (exit_rule, short_exit_rule); a long_short strategy's short
    reads short_exit_rule into the short exit, any other position exit_rule into the exit. With close fills on
    the position as this bar leaves it (`advance`), with open fills after the bar. Flat: `sig` unchanged."""
    short_side = pos is not None and getattr(r, "direction", "long") == "long_short" and pos["side"] < 0
    rule = rules[1] if short_side else rules[0]
    if rule is None or pos is None:
        return sig
    if advance:
        pos = dict(pos)
        _advance(pos, bar, False)
    if not rule(t, j, position_state(pos, bar[3])):
        return sig
    return (sig[0], sig[1], sig[2], True) if short_side else (sig[0], True, sig[2], sig[3])


def position_state(pos: dict[str, Any], close: float) -> dict[str, float]:
    """The position variables of a held trade at a bar's close (the names of `ruleengine.lang.position`)."""
    return {"entry_price": pos["entry"], "bars_held": float(pos["bars"]),
            "unrealized_pct": pos["side"] * (close / pos["entry"] - 1) * 100,
            "highest_since_entry": pos["high"], "lowest_since_entry": pos["low"]}


def _levels(distances: dict[str, Any] | None, t_signal: int, j: int, px: float, side: int
            ) -> tuple[float | None, float | None, int]:
    """(stop level, target level, how many of the two distances were unusable) of an entry at `px` whose
    signal was on bar `t_signal`: entry -/+ the distance for a long, mirrored for a short; a distance <= 0 or
    NaN gives no such exit for the trade (and is counted)."""
    out: list[float | None] = []
    bad = 0
    for name, sign in (("stop_loss_distance", -1), ("take_profit_distance", 1)):
        series = (distances or {}).get(name)
        if series is None:
            out.append(None)
            continue
        d = float(series[t_signal][j])
        if math.isnan(d) or d <= 0:
            out.append(None)
            bad += 1
        else:
            out.append(px + sign * side * d)
    return out[0], out[1], bad


def _open(px: float, spend: float, fee: float, t: int, time: Any, side: int,
          levels: tuple[float | None, float | None, int] = (None, None, 0)) -> dict[str, Any]:
    return {"side": side, "entry": px, "peak": px, "high": px, "low": px, "units": spend / (1 + fee) / px,
            "spent": spend, "fee": spend - spend / (1 + fee), "bar": t, "time": time, "bars": 0,
            "stop": levels[0], "target": levels[1]}


def _set(r: Any, name: str) -> float | None:
    """A risk field of `r`, None when not given (a RiskSpec built before the field existed has none)."""
    return getattr(r, name, None)


def _budget(r: Any, px: float, equity: float, cash: float, distance: float | None, vol: float, portfolio: bool
            ) -> tuple[float | None, str | None]:
    """(spend fee included, note) an entry at `px` asks for by the sizing method of `r`; spend None when skipped
    (the note says why). `distance` is the distance from px to the stop loss level (risk_per_trade_pct; None:
    no stop known), `vol` the volatility at the signal bar. More than the cash: cut to the cash in a single
    run (note capped_by_cash), skipped in a portfolio."""
    fee = r.fees_pct / 100
    if _set(r, "risk_per_trade_pct") is not None:
        if distance is None:  # no stop known at the fill: no size
            return None, "no_stop"
        spend = equity * r.risk_per_trade_pct / 100 / distance * px * (1 + fee)
    elif _set(r, "volatility_target_pct") is not None:
        if not vol > 0:  # NaN (warm-up) or zero: no size
            return None, "no_volatility"
        spend = equity * r.volatility_target_pct / 100 / vol * (1 + fee)
    elif _set(r, "position_size_cash") is not None:
        spend = r.position_size_cash
    else:
        spend = r.position_size_pct / 100 * equity
    if spend > cash:
        if portfolio:
            return None, "cash"
        return cash, "capped_by_cash"
    return spend, None


def _enter(r: Any, px: float, side: int, equity: float, cash: float, vol: float, portfolio: bool, t: int,
           time: Any, levels: tuple[float | None, float | None, int] = (None, None, 0)
           ) -> tuple[dict[str, Any] | None, float, str | None]:
    """(position, cash spent fee included, note) of an entry at price `px` (after slippage) with `equity` to
    size on and `cash` to pay with; no position when skipped, the note saying why (or that the size was cut to
    the cash).

    The methods: risk_per_trade_pct (equity x R / the distance from px to the stop loss), volatility_target_pct
    (a position worth equity x V / vol, `vol` the volatility at the signal bar), position_size_cash (a fixed
    spend), else position_size_pct x equity. More than the cash: cut to the cash in a single run, skipped in a
    portfolio. whole_units: units rounded down, 0 units skipped. `levels` are `_levels`' (the distance stop
    and target of the entry, fixed on the position; the stop is risk_per_trade_pct's without stop_loss_pct)."""
    fee = r.fees_pct / 100
    distance = None
    if _set(r, "risk_per_trade_pct") is not None:
        if r.stop_loss_pct is not None:
            distance = px * r.stop_loss_pct / 100  # the stop loss level is px x (1 -/+ sl)
        elif levels[0] is not None:
            distance = abs(px - levels[0])  # the distance stop of the signal's bar
    spend, note = _budget(r, px, equity, cash, distance, vol, portfolio)
    if spend is None:
        return None, 0.0, note
    if not _set(r, "whole_units"):
        return _open(px, spend, fee, t, time, side, levels), spend, note
    units = math.floor(spend / (px * (1 + fee)))
    if units == 0:
        return None, 0.0, "zero_units"
    cost = units * px
    return {**_open(px, spend, fee, t, time, side, levels), "units": units, "spent": cost + cost * fee,
            "fee": cost * fee}, cost + cost * fee, note


def reference_simulate(prices: dict[str, Any], entries: Any, exits: Any, index: Any, risks: list[Any],
                       init_cash: float = 10_000.0, start: int = 0, short_entries: Any = None,
                       short_exits: Any = None, volatility: Any = None,
                       notes: list[tuple[int, int, str]] | None = None, *, distances: dict[str, Any] | None = None,
                       exit_rule: Any = None, counts: dict[str, int] | None = None,
                       order_levels: Any = None, short_order_levels: Any = None, exit_levels: Any = None,
                       short_exit_levels: Any = None, short_exit_rule: Any = None
                       ) -> tuple[list[dict[str, Any]], list[list[float]]]:
    """Independent runs. Returns (trades, equity[t][j]).

    Each bar in time order: the open (an exit order pending since the previous close, or an entry, for
    open fills), the rest of the bar (stops and targets, then the orders at the close), the close (an
    entry with close fills, only when the symbol was flat at the start of the bar, or just closed by the
    opposite entry: a reversal). An entry is sized by `_enter` on the cash (the equity of a flat column),
    `volatility[t][j]` read at its signal bar; `notes` (if given) collects (bar, column, note) of the entries
    skipped or cut to the cash. The exit rule's truth joins the bar's exit signal: with close fills on the
    position at this close, with open fills at each close of a held position (also on its entry bar), pending
    for the next bar; a long_short strategy's short reads `short_exit_rule` into its short exit (`_with_rule`).
    ``counts["bad_distances"]`` counts the unusable distances of entries.

    A column whose risk has ``entry_order`` limit or stop (direction long or short) enters through orders
    instead (`order_levels`[t][j] the level computed at bar t's close): an entry signal at a close while flat
    places the order at that bar's level (a new signal replaces a pending order: its level, and its validity
    restarts; a NaN or infinite level places none), an exit signal at a close cancels it; from the next bar on
    it is worked for ``order_valid_bars`` bars of the column (`_order_fill`), sized as a market entry at its
    fill on the levels of the bar that placed it, and that bar's stops see only what followed the fill.
    A long_short order column has a level per side (`short_order_levels` the short side's); an order of the
    side not held while a position is held reverses it at its fill (`_reversal`).

    A risk with ``exit_order`` stop or limit (EXIT_ORDER_FILL_CONTRACT) has an exit order for the position held
    at a bar's open at `exit_levels`[prev][j] (`short_exit_levels` for a long_short strategy's shorts), prev
    the symbol's previous bar (`_exit_level`), worked on the rest of the bar beside its stops
    (`_with_exit_order`).
    """
    counts = counts if counts is not None else {}
    counts.setdefault("bad_distances", 0)
    rules = (exit_rule, short_exit_rule)
    T = len(index)
    N = len(risks)
    trades: list[dict[str, Any]] = []
    equity = [[0.0] * N for _ in range(T)]
    for j in range(N):
        r = risks[j]
        fee, slip = r.fees_pct / 100, r.slippage_pct / 100
        use_open = r.execution_price == "open"
        kind = getattr(r, "entry_order", "market")
        cash = init_cash
        pos: dict[str, Any] | None = None
        order: dict[str, Any] | None = None  # a pending limit or stop order: level, bars left
        pending = (False, False, False, False)  # signals waiting for the next bar (open fills)
        last_close, last_t = math.nan, -1
        signal_bar = -1  # the bar whose close gave the signals acting now

        def close_out(fill: tuple[float, str], t: int) -> None:
            nonlocal cash, pos
            assert pos is not None
            px = fill[0] * (1 - pos["side"] * slip)
            gross = _worth(pos, px)
            exit_fee = pos["units"] * px * fee + _borrow(pos, r, index[t])
            cash += gross - exit_fee
            trades.append(_trade(j, pos, t, px, gross, exit_fee, fill[1]))
            pos = None

        def enter(px: float, side: int, t: int, at: int | None = None) -> None:
            """An entry at `px` before slippage, on the levels of the signal's bar (`at`: an order's)."""
            nonlocal cash, pos
            if side != 0 and cash > 0:
                px = px * (1 + side * slip)
                at = signal_bar if at is None else at
                levels = _levels(distances, at, j, px, side)  # the signal's bar
                vol = math.nan if volatility is None else float(volatility[at][j])
                pos, spend, note = _enter(r, px, side, cash, cash, vol, False, t, index[t], levels)
                if pos is not None:
                    counts["bad_distances"] += levels[2]
                cash -= spend
                if note is not None and notes is not None:
                    notes.append((t, j, note))

        for t in range(T):
            bar = _bar(prices, t, j) if t >= start else None
            if bar is None:
                equity[t][j] = cash + _worth(pos, last_close) - _borrow(pos, r, index[t])
                continue
            o, _h, _lo, c = bar
            xlevel = _exit_level(r, pos, last_t, j, exit_levels, short_exit_levels)
            if use_open:
                sig, pending = pending, _signals(entries, exits, short_entries, short_exits, t, j)
                signal_bar = last_t
            else:
                sig = _signals(entries, exits, short_entries, short_exits, t, j)
                signal_bar = t
                sig = _with_rule(sig, rules, pos, bar, t, j, r, advance=True)
            it = _order_intents(kind, _intents(r, *sig))
            side = _entry_side(it)  # an order column enters by its order below
            flat_before = pos is None
            if use_open:  # the open
                if pos is not None and _closes(pos["side"], it):
                    close_out((o, "signal"), t)
                    enter(o, side, t)  # the opposite entry reverses at the same fill
                elif pos is None:
                    enter(o, side, t)
            rest = bar
            if order is not None:  # a pending limit or stop order, inside the bar
                if pos is None:
                    filled = _order_fill(bar, order["level"], kind, order["side"])
                else:  # long_short: an order of the other side reverses the position at its fill
                    filled = _reversal(bar, pos, r, order, kind, xlevel)
                    if filled is not None:
                        close_out((filled[0], "signal"), t)
                order["left"] -= 1
                if filled is not None:
                    enter(filled[0], order["side"], t, order["bar"])
                    rest = filled[1]
                if filled is not None or order["left"] == 0:
                    order = None
            reversing = False
            if pos is not None:  # the rest of the bar
                fill = _after_open(rest, t, pos, r, index[t], _closes(pos["side"], it), use_open, xlevel)
                if fill is not None:
                    reversing = fill[1] == "signal"
                    close_out(fill, t)
            if not use_open and (flat_before or reversing):  # the close
                enter(c, side, t)
            if use_open:  # an exit order for the next open
                pending = _with_rule(pending, rules, pos, bar, t, j, r, advance=False)
            if kind != "market":  # the close: this bar's signals place, replace or cancel the order
                order = _placed(order, 0 if pos is None else pos["side"], r,
                                _signals(entries, exits, short_entries, short_exits, t, j),
                                _order_levels(order_levels, short_order_levels, t, j), t)
            last_close, last_t = c, t
            equity[t][j] = cash + _worth(pos, c) - _borrow(pos, r, index[t])
        if pos is not None:
            trades.append(_trade(j, pos, last_t, last_close, _worth(pos, last_close),
                                 _borrow(pos, r, index[last_t]), "end_of_data"))
    return trades, equity


def reference_portfolio(prices: dict[str, Any], entries: Any, exits: Any, index: Any, risks: list[Any],
                        init_cash: float = 10_000.0, start: int = 0, short_entries: Any = None,
                        short_exits: Any = None, volatility: Any = None,
                        notes: list[tuple[int, int, str]] | None = None, *, distances: dict[str, Any] | None = None,
                        exit_rule: Any = None, order_levels: Any = None, short_order_levels: Any = None,
                        exit_levels: Any = None, short_exit_levels: Any = None, short_exit_rule: Any = None
                        ) -> tuple[list[dict[str, Any]], list[float], list[tuple[int, int]]]:
    """One shared cash account. Each bar in time order, each phase over all columns in column order: exits
    at the open, entries at the open (open fills), the limit and stop orders' fills (sized on the equity at
    the open, on the levels of the bar that placed them), the rest of the bar, entries at the close (close
    fills), the orders placed or cancelled at the close (as in `reference_simulate`).
    Entries are sized by `_enter` on the equity at their fill (taken before the phase's entries) and skipped
    when the cash left is short, when max_open_positions are open, or when the gross exposure (units x price
    of every position: the held ones at the phase's price, the phase's new ones at their entry price) would
    pass max_gross_exposure_pct of that equity. Returns (trades, equity[t], skipped entries for want of cash
    as (bar, column)); `notes` (if given) collects (bar, column, reason) of every skip."""
    rules = (exit_rule, short_exit_rule)
    T = len(index)
    N = len(risks)
    use_open = risks[0].execution_price == "open"
    cash = init_cash
    pos: list[dict[str, Any] | None] = [None] * N
    pending = [(False, False, False, False)] * N
    kinds = [getattr(r, "entry_order", "market") for r in risks]
    orders: list[dict[str, Any] | None] = [None] * N
    rests: dict[int, tuple[float, float, float, float]] = {}  # the part of bar t after an order's fill
    last_close = [math.nan] * N
    last_t = [-1] * N
    signal_bar = [-1] * N
    trades: list[dict[str, Any]] = []
    skipped: list[tuple[int, int]] = []
    equity = [0.0] * T

    def close_out(j: int, fill: tuple[float, str], t: int) -> None:
        nonlocal cash
        p, r = pos[j], risks[j]
        assert p is not None
        px = fill[0] * (1 - p["side"] * r.slippage_pct / 100)
        gross, exit_fee = _worth(p, px), p["units"] * px * r.fees_pct / 100 + _borrow(p, r, index[t])
        cash += gross - exit_fee
        trades.append(_trade(j, p, t, px, gross, exit_fee, fill[1]))
        pos[j] = None

    def enter_all(t: int, bars: list[Any], may_enter: list[bool], its: list[tuple[bool, bool, bool, bool]],
                  k: int, fills: dict[int, tuple[float, int, int]] | None = None) -> None:
        """Entries at the open (k = 0) or the close (k = 3) of bar t: market entries, or the order fills
        (column -> (price, the bar that placed the order, its side)) sized on the equity at the open."""
        nonlocal cash
        value = cash
        gross = 0.0  # units x price of the positions held, then of the ones entered
        held = 0
        for j in range(N):
            if pos[j] is not None:
                mark = last_close[j] if bars[j] is None else bars[j][k]
                value += _worth(pos[j], mark) - _borrow(pos[j], risks[j], index[t])
                gross += pos[j]["units"] * mark
                held += 1
        for j in range(N):
            r, bar, side = risks[j], bars[j], _entry_side(its[j])
            if fills is not None:
                side = fills[j][2] if j in fills else 0
            elif kinds[j] != "market":
                side = 0  # a limit or stop column enters by its order
            if not may_enter[j] or pos[j] is not None or side == 0 or value <= 0:
                continue
            cap = _set(r, "max_open_positions")
            if cap is not None and held >= cap:
                note = "max_open_positions"
            else:
                at, px = (signal_bar[j], bar[k]) if fills is None else (fills[j][1], fills[j][0])
                vol = math.nan if volatility is None else float(volatility[at][j])
                px = px * (1 + side * r.slippage_pct / 100)
                levels = _levels(distances, at, j, px, side)
                entered, spend, note = _enter(r, px, side, value, cash, vol, True, t, index[t], levels)
                exposure = _set(r, "max_gross_exposure_pct")
                if entered is not None and exposure is not None and \
                        gross + entered["units"] * entered["entry"] > exposure / 100 * value:
                    entered, note = None, "max_gross_exposure"
                if entered is not None:
                    pos[j] = entered
                    cash -= spend
                    gross += entered["units"] * entered["entry"]
                    held += 1
            if note == "cash":
                skipped.append((t, j))
            if note is not None and notes is not None:
                notes.append((t, j, note))

    for t in range(T):
        if t < start:
            equity[t] = cash
            continue
        bars = [_bar(prices, t, j) for j in range(N)]
        xlevels = [_exit_level(risks[j], pos[j], last_t[j], j, exit_levels, short_exit_levels) for j in range(N)]
        its: list[tuple[bool, bool, bool, bool]] = [(False, False, False, False)] * N
        may_enter = [False] * N  # flat at the bar's start, or closed on it by the opposite entry (reversal)
        for j in range(N):  # the open: signals, orders pending at the open
            if bars[j] is None:
                continue
            if use_open:
                sig, pending[j] = pending[j], _signals(entries, exits, short_entries, short_exits, t, j)
                signal_bar[j] = last_t[j]
            else:
                sig = _signals(entries, exits, short_entries, short_exits, t, j)
                signal_bar[j] = t
                sig = _with_rule(sig, rules, pos[j], bars[j], t, j, risks[j], advance=True)
            its[j] = _order_intents(kinds[j], _intents(risks[j], *sig))
            may_enter[j] = pos[j] is None
            p = pos[j]
            if use_open and p is not None and _closes(p["side"], its[j]):
                close_out(j, (bars[j][0], "signal"), t)
                may_enter[j] = True
        if use_open:
            enter_all(t, bars, may_enter, its, 0)
        fills: dict[int, tuple[float, int, int]] = {}
        rests.clear()
        for j in range(N):  # the limit and stop orders
            order = orders[j]
            if bars[j] is None or order is None:
                continue
            p = pos[j]
            if p is None:
                filled = _order_fill(bars[j], order["level"], kinds[j], order["side"])
            else:  # long_short: an order of the other side reverses the position at its fill
                filled = _reversal(bars[j], p, risks[j], order, kinds[j], xlevels[j])
                if filled is not None:
                    close_out(j, (filled[0], "signal"), t)
            order["left"] -= 1
            if filled is not None:
                fills[j], rests[j] = (filled[0], order["bar"], order["side"]), filled[1]
            if filled is not None or order["left"] == 0:
                orders[j] = None
        enter_all(t, bars, [j in fills for j in range(N)], its, 0, fills)
        for j in range(N):  # the rest of the bar
            p = pos[j]
            if bars[j] is None or p is None:
                continue
            bar = rests[j] if j in rests and p["bar"] == t else bars[j]
            fill = _after_open(bar, t, p, risks[j], index[t], _closes(p["side"], its[j]), use_open, xlevels[j])
            if fill is not None:
                close_out(j, fill, t)
                may_enter[j] = may_enter[j] or fill[1] == "signal"
        if not use_open:
            enter_all(t, bars, may_enter, its, 3)
        for j in range(N):  # the close: the orders
            if bars[j] is not None and kinds[j] != "market":
                p = pos[j]
                orders[j] = _placed(orders[j], 0 if p is None else p["side"], risks[j],
                                    _signals(entries, exits, short_entries, short_exits, t, j),
                                    _order_levels(order_levels, short_order_levels, t, j), t)
        for j in range(N):
            if bars[j] is not None:
                if use_open:
                    pending[j] = _with_rule(pending[j], rules, pos[j], bars[j], t, j, risks[j], advance=False)
                last_close[j], last_t[j] = bars[j][3], t
        equity[t] = cash + sum(_worth(p, last_close[j]) - _borrow(p, risks[j], index[t])
                               for j, p in enumerate(pos) if p is not None)
    for j, p in enumerate(pos):
        if p is not None:
            trades.append(_trade(j, p, last_t[j], last_close[j], _worth(p, last_close[j]),
                                 _borrow(p, risks[j], index[last_t[j]]), "end_of_data"))
    return trades, equity, skipped


def _trade(j: int, pos: dict[str, Any], t: int, px: float, gross: float, exit_fee: float,
           reason: str) -> dict[str, Any]:
    pnl = gross - exit_fee - pos["spent"]
    return {"column": j, "entry_bar": pos["bar"], "exit_bar": t, "entry_price": pos["entry"], "exit_price": px,
            "size": pos["units"], "pnl": pnl, "pnl_pct": pnl / pos["spent"] * 100, "exit_reason": reason,
            "fees": pos["fee"] + exit_fee, "direction": pos["side"]}


# ------------------------------------------------------------------------------------------------ pairs
def _pair_stop(value: float, pair: dict[str, Any], held: int, r: Any) -> str | None:
    """The combined stop or target the pair's value reaches, `held` bars into the trade (this bar included):
    the loss side first (the higher of stop loss and trail, the stop loss on a tie; the trail only once the
    highest value reached the activation), then the take profit (or the take_profit_by_bars row)."""
    base, peak = pair["base"], pair["high"]
    sl, tp, tsl = _pct(r.stop_loss_pct), _pct(r.take_profit_pct), _pct(r.trailing_stop_pct)
    if getattr(r, "take_profit_by_bars", None):
        tp = _table_take_profit(r, held)
    act = _pct(getattr(r, "trailing_stop_activation_pct", None))
    if tsl is not None and act is not None and not peak >= base * (1 + act):
        tsl = None
    levels = []
    if sl is not None:
        levels.append((base * (1 - sl), "stop_loss"))
    if tsl is not None:
        levels.append((peak * (1 - tsl), "trailing_stop"))
    if levels:
        level, reason = max(levels, key=lambda lv: lv[0])  # max keeps the first (stop loss) on a tie
        if value <= level:
            return reason
    if tp is not None and value >= base * (1 + tp):
        return "take_profit"
    return None


def pair_state(pair: dict[str, Any], value: float) -> dict[str, float]:
    """The position variables of a held pair whose value is `value` at a bar's close: entry_price is its value
    at entry, unrealized_pct its value's change, highest/lowest_since_entry its value's extremes."""
    return {"entry_price": pair["base"], "bars_held": float(pair["a"]["bars"]),
            "unrealized_pct": (value / pair["base"] - 1) * 100, "highest_since_entry": pair["high"],
            "lowest_since_entry": pair["low"]}


class _Pair:
    """One pair column of the reference (legs a and b as one position): its entries, stops and exits; the
    caller keeps the cash (an own account, or a portfolio's)."""

    def __init__(self, r: Any, j: int, index: Any, sizing: str, trades: list[dict[str, Any]]) -> None:
        self.r, self.j, self.index, self.sizing, self.trades = r, j, index, sizing, trades
        self.fee, self.slip = r.fees_pct / 100, r.slippage_pct / 100
        # {"a": leg, "b": leg, "base": value at entry, "high" / "low": highest / lowest value since}
        self.pos: dict[str, Any] | None = None

    @property
    def side(self) -> int:
        return 0 if self.pos is None else self.pos["a"]["side"]

    def worth(self, px_a: float, px_b: float, now: Any) -> float:
        """Both legs at these prices, less the short leg's borrow cost accrued by `now` (0 when flat)."""
        if self.pos is None:
            return 0.0
        return sum(_worth(leg, px) - _borrow(leg, self.r, now)
                   for leg, px in ((self.pos["a"], px_a), (self.pos["b"], px_b)))

    def exposure(self, px_a: float, px_b: float) -> float:
        """Both legs' units x price."""
        assert self.pos is not None
        return self.pos["a"]["units"] * px_a + self.pos["b"]["units"] * px_b

    def mark(self, value: float) -> None:
        assert self.pos is not None
        self.pos["high"], self.pos["low"] = max(self.pos["high"], value), min(self.pos["low"], value)

    def rule(self, sig: tuple[bool, bool, bool, bool], rules: tuple[Any, Any], t: int, ba: Any, bb: Any,
             ahead: bool) -> tuple[bool, bool, bool, bool]:
        """`sig` with the held side's exit rule on the pair at bar t's close joined to that side's exit (`rules`:
        (exit_rule, short_exit_rule), the latter for a long_short strategy's short pairs, as `_with_rule`):
        `ahead` (close fills, before the bar) on the pair as it stands at that close, else as it is."""
        short_side = self.pos is not None and getattr(self.r, "direction", "long") == "long_short" and self.side < 0
        rule = rules[1] if short_side else rules[0]
        if rule is None or self.pos is None:
            return sig
        now = self.index[t]
        value = self.worth(ba[3], bb[3], now)
        state = self.pos
        if ahead:
            state = {**self.pos, "a": {**self.pos["a"], "bars": self.pos["a"]["bars"] + 1}}
            for v in (self.worth(ba[0], bb[0], now), value):
                state["high"], state["low"] = max(state["high"], v), min(state["low"], v)
        if not rule(t, self.j, pair_state(state, value)):
            return sig
        return (sig[0], sig[1], sig[2], True) if short_side else (sig[0], True, sig[2], sig[3])

    def enter(self, px_a: float, px_b: float, side: int, hr: float, vol: float, t: int, equity: float, cash: float,
              portfolio: bool) -> tuple[float, str | None]:
        """Open both legs at (px_a, px_b) before slippage, sized on `equity` and paid from `cash`: (cash spent,
        note); nothing spent when skipped. The budget is `_budget`'s for a position whose price is its value (1.0)
        and whose stop is stop_loss_pct of it; split at the hedge ratio; whole units: leg a rounded down, leg b
        from leg a's units at the hedge ratio, rounded down."""
        r, fee, slip, index = self.r, self.fee, self.slip, self.index
        sl = _set(r, "stop_loss_pct")
        budget, note = _budget(r, 1.0, equity, cash, None if sl is None else sl / 100, vol, portfolio)
        if budget is None:
            return 0.0, note
        adj_a, adj_b = px_a * (1 + side * slip), px_b * (1 - side * slip)
        if self.sizing == "hedge_ratio_units":
            budget_a = budget * adj_a / (adj_a + hr * adj_b)
        else:
            budget_a = budget / (1 + hr)
        if _set(r, "whole_units"):
            units_a = math.floor(budget_a / (adj_a * (1 + fee)))
            units_b = math.floor(hr * units_a if self.sizing == "hedge_ratio_units" else hr * units_a * adj_a / adj_b)
            if units_a == 0 or units_b == 0:
                return 0.0, "zero_units"
            legs = []
            for adj, units, sd in ((adj_a, units_a, side), (adj_b, units_b, -side)):
                cost = units * adj
                legs.append({**_open(adj, cost * (1 + fee), fee, t, index[t], sd), "units": units,
                             "spent": cost + cost * fee, "fee": cost * fee})
            a, b = legs
            budget = a["spent"] + b["spent"]
        else:
            a = _open(adj_a, budget_a, fee, t, index[t], side)
            b = _open(adj_b, budget - budget_a, fee, t, index[t], -side)
        base = a["units"] * a["entry"] + b["units"] * b["entry"]
        self.pos = {"a": a, "b": b, "base": base, "high": base, "low": base}
        return budget, note

    def close_out(self, px_a: float, px_b: float, reason: str, t: int, end: bool = False) -> float:
        """Close both legs (at the prices, before slippage; `end`: marked, no fee or slippage): the proceeds."""
        assert self.pos is not None
        legs = []
        proceeds = 0.0
        for leg, px in ((self.pos["a"], px_a), (self.pos["b"], px_b)):
            px = px if end else px * (1 - leg["side"] * self.slip)
            gross = _worth(leg, px)
            exit_fee = (0.0 if end else leg["units"] * px * self.fee) + _borrow(leg, self.r, self.index[t])
            proceeds += gross - exit_fee
            legs.append(_trade(self.j, leg, t, px, gross, exit_fee, reason))
        ta, tb = legs
        pnl = ta["pnl"] + tb["pnl"]
        spent = self.pos["a"]["spent"] + self.pos["b"]["spent"]
        self.trades.append({**ta, "direction": self.pos["a"]["side"], "pnl": pnl, "pnl_pct": pnl / spent * 100,
                            "fees": ta["fees"] + tb["fees"], "leg_a_pnl": ta["pnl"], "leg_b_pnl": tb["pnl"],
                            "leg_b_entry_price": tb["entry_price"], "leg_b_exit_price": tb["exit_price"],
                            "leg_b_size": tb["size"], "leg_b_fees": tb["fees"]})
        self.pos = None
        return proceeds

    def at_open(self, ba: Any, bb: Any, t: int, closes: bool, use_open: bool) -> tuple[str | None, float]:
        """The open of bar t for a pair held before it: a bar more held, the exit order pending there (open
        fills) or a gap through a stop: (reason or None, proceeds)."""
        assert self.pos is not None
        self.pos["a"]["bars"] += 1  # this bar is held from its open
        value = self.worth(ba[0], bb[0], self.index[t])
        reason = "signal" if use_open and closes else _pair_stop(value, self.pos, self.pos["a"]["bars"], self.r)
        if reason is not None:
            return reason, self.close_out(ba[0], bb[0], reason, t)
        self.mark(value)
        return None, 0.0

    def at_close(self, ba: Any, bb: Any, t: int, closes: bool, use_open: bool) -> tuple[str | None, float]:
        """The close of bar t for a pair held after its open: stops, the exit signal (close fills), max hold."""
        assert self.pos is not None
        new = use_open and self.pos["a"]["bar"] == t
        value = self.worth(ba[3], bb[3], self.index[t])
        reason = _pair_stop(value, self.pos, self.pos["a"]["bars"], self.r)
        if reason is None and not new:
            if closes and not use_open:
                reason = "signal"
            elif _max_hold_reached(self.r, self.pos["a"], self.index[t]):
                reason = "max_hold"
        if reason is not None:
            return reason, self.close_out(ba[3], bb[3], reason, t)
        self.mark(value)
        return None, 0.0


def _pair_signals(r: Any, sig: tuple[bool, bool, bool, bool], side: int, hedge: Any, volatility: Any,
                  signal_bar: int, j: int) -> tuple[int, bool, float, float]:
    """(side an entry wants, whether the signals close the held side, hedge ratio, volatility of the signal
    bar)."""
    le, lx, se, sx = _intents(r, *sig)
    want = 1 if le else -1 if se else 0
    closes = (lx or se) if side > 0 else (sx or le) if side < 0 else False
    hr = float(hedge[signal_bar][j]) if want and signal_bar >= 0 else math.nan
    vol = float(volatility[signal_bar][j]) if want and signal_bar >= 0 and volatility is not None else math.nan
    return want, closes, hr, vol


def reference_pairs(prices_a: dict[str, Any], prices_b: dict[str, Any], entries: Any, exits: Any, index: Any,
                    risks: list[Any], hedge: Any, sizing: str = "dollar_neutral", init_cash: float = 10_000.0,
                    start: int = 0, short_entries: Any = None, short_exits: Any = None, *, volatility: Any = None,
                    exit_rule: Any = None, notes: list[tuple[int, int, str]] | None = None,
                    short_exit_rule: Any = None) -> tuple[list[dict[str, Any]], list[list[float]]]:
    """Pair runs (PAIR_FILL_CONTRACT): column j trades leg a (prices_a) against leg b (prices_b) on its own
    cash; `hedge[t][j]` the hedge ratio and `volatility[t][j]` the pair's volatility read at the signal bar.
    Returns (trades, equity[t][j]); a trade has the keys of `Simulation.trades` for a pair (the first leg's
    prices and size, combined pnl/pnl_pct/fees, leg fields).

    ``exit_rule(t, j, state)`` is the exit condition on the pair's position variables (`pair_state`): with
    close fills it joins bar t's exit signal on the pair as it stands at that close (a bar more held, its
    extremes through the values at this open and close), with open fills it is read on the pair after bar t
    and exits at the next open; on a long_short strategy's long pairs, its short pairs reading
    ``short_exit_rule`` into their short exit (`_Pair.rule`). `notes` collects (bar, column, note) of the
    entries a sizing rule skipped or cut to the cash."""
    rules = (exit_rule, short_exit_rule)
    T, N = len(index), len(risks)
    trades: list[dict[str, Any]] = []
    equity = [[0.0] * N for _ in range(T)]
    for j in range(N):
        r = risks[j]
        use_open = r.execution_price == "open"
        cash = init_cash
        pair = _Pair(r, j, index, sizing, trades)
        pending = (False, False, False, False)
        last = [math.nan, math.nan]
        last_t = [-1, -1]
        last_both = -1  # the last bar both legs traded (an open fill's signal bar)

        def enter(px_a: float, px_b: float, want: int, hr: float, vol: float, t: int) -> None:
            nonlocal cash
            if cash > 0:
                spent, note = pair.enter(px_a, px_b, want, hr, vol, t, cash, cash, False)
                cash -= spent
                if note is not None and notes is not None:
                    notes.append((t, j, note))

        for t in range(T):
            bars = [_bar(prices_a, t, j), _bar(prices_b, t, j)] if t >= start else [None, None]
            for k, bar in enumerate(bars):
                if bar is not None:
                    last[k], last_t[k] = bar[3], t
            ba, bb = bars
            if ba is None or bb is None:  # either leg without a price: nothing happens, marked at last closes
                equity[t][j] = cash + pair.worth(*last, index[t])
                continue
            if use_open:
                sig, pending = pending, _signals(entries, exits, short_entries, short_exits, t, j)
            else:
                sig = _signals(entries, exits, short_entries, short_exits, t, j)
                sig = pair.rule(sig, rules, t, ba, bb, ahead=True)
            side = pair.side
            want, closes, hr, vol = _pair_signals(r, sig, side, hedge, volatility, last_both if use_open else t, j)
            can = want != 0 and (side == 0 or closes) and math.isfinite(hr) and hr > 0
            reason: str | None = None
            if side != 0:  # the open
                reason, proceeds = pair.at_open(ba, bb, t, closes, use_open)
                cash += proceeds
            if use_open and can and (side == 0 or reason == "signal"):  # an entry at the open
                enter(ba[0], bb[0], want, hr, vol, t)
            if pair.pos is not None:  # the close
                reason, proceeds = pair.at_close(ba, bb, t, closes, use_open)
                cash += proceeds
            if not use_open and can and (side == 0 or reason == "signal"):
                enter(ba[3], bb[3], want, hr, vol, t)
            if use_open:  # an exit order for the next open
                pending = pair.rule(pending, rules, t, ba, bb, ahead=False)
            last_both = t
            equity[t][j] = cash + pair.worth(ba[3], bb[3], index[t])
        if pair.pos is not None:
            cash += pair.close_out(last[0], last[1], "end_of_data", max(last_t), end=True)
    return trades, equity


def reference_pairs_portfolio(prices_a: dict[str, Any], prices_b: dict[str, Any], entries: Any, exits: Any,
                              index: Any, risks: list[Any], hedge: Any, sizing: str = "dollar_neutral",
                              init_cash: float = 10_000.0, start: int = 0, short_entries: Any = None,
                              short_exits: Any = None, *, volatility: Any = None, exit_rule: Any = None,
                              notes: list[tuple[int, int, str]] | None = None, short_exit_rule: Any = None
                              ) -> tuple[list[dict[str, Any]], list[float]]:
    """The pair columns as one shared cash account: each bar, each phase over all pairs in column order (the
    open, the entries at the open, the close, the entries at the close), as `reference_portfolio` does for
    single positions. An entry is sized on the equity before the phase's entries (every held pair at this open
    or close, at its legs' last closes without a bar), skipped when the cash left is short (never cut), when
    max_open_positions pairs are held, or when both legs' units x price of every pair (the new ones at their
    entry prices) would pass max_gross_exposure_pct of that equity. Returns (trades, equity[t])."""
    rules = (exit_rule, short_exit_rule)
    T, N = len(index), len(risks)
    use_open = risks[0].execution_price == "open"
    trades: list[dict[str, Any]] = []
    pairs = [_Pair(risks[j], j, index, sizing, trades) for j in range(N)]
    pending = [(False, False, False, False)] * N
    last = [[math.nan, math.nan] for _ in range(N)]
    last_t = [[-1, -1] for _ in range(N)]
    last_both = [-1] * N
    equity = [0.0] * T
    cash = init_cash

    def enter_all(t: int, bars: list[Any], wants: list[tuple[int, float, float]], may_enter: list[bool],
                  k: int) -> None:
        """The entries at the open (k = 0) or close (k = 3) of bar t."""
        nonlocal cash
        value, gross, held = cash, 0.0, 0
        for j, pair in enumerate(pairs):
            if pair.pos is not None:
                ba, bb = bars[j]
                px = (last[j][0], last[j][1]) if ba is None or bb is None else (ba[k], bb[k])
                value += pair.worth(*px, index[t])
                gross += pair.exposure(*px)
                held += 1
        for j, pair in enumerate(pairs):
            want, hr, vol = wants[j]
            if not may_enter[j] or want == 0 or pair.pos is not None or value <= 0 or \
                    not (math.isfinite(hr) and hr > 0):
                continue
            r = risks[j]
            cap = _set(r, "max_open_positions")
            if cap is not None and held >= cap:
                note: str | None = "max_open_positions"
            else:
                ba, bb = bars[j]
                spent, note = pair.enter(ba[k], bb[k], want, hr, vol, t, value, cash, True)
                exposure = _set(r, "max_gross_exposure_pct")
                if pair.pos is not None:
                    added = pair.exposure(pair.pos["a"]["entry"], pair.pos["b"]["entry"])
                    if exposure is not None and gross + added > exposure / 100 * value:
                        pair.pos, note = None, "max_gross_exposure"
                    else:
                        cash -= spent
                        gross += added
                        held += 1
            if note is not None and notes is not None:
                notes.append((t, j, note))

    for t in range(T):
        if t < start:
            equity[t] = cash
            continue
        bars = [(_bar(prices_a, t, j), _bar(prices_b, t, j)) for j in range(N)]
        wants: list[tuple[int, float, float]] = [(0, math.nan, math.nan)] * N
        closing = [False] * N
        may_enter = [False] * N
        for j, pair in enumerate(pairs):  # the open
            ba, bb = bars[j]
            if ba is None or bb is None:
                continue
            r = risks[j]
            if use_open:
                sig, pending[j] = pending[j], _signals(entries, exits, short_entries, short_exits, t, j)
            else:
                sig = _signals(entries, exits, short_entries, short_exits, t, j)
                sig = pair.rule(sig, rules, t, ba, bb, ahead=True)
            side = pair.side
            want, closing[j], hr, vol = _pair_signals(r, sig, side, hedge, volatility,
                                                      last_both[j] if use_open else t, j)
            wants[j] = (want, hr, vol)
            may_enter[j] = side == 0
            if side != 0:
                reason, proceeds = pair.at_open(ba, bb, t, closing[j], use_open)
                cash += proceeds
                may_enter[j] = reason == "signal"
        if use_open:
            enter_all(t, bars, wants, may_enter, 0)
        for j, pair in enumerate(pairs):  # the close
            ba, bb = bars[j]
            if ba is None or bb is None or pair.pos is None:
                continue
            reason, proceeds = pair.at_close(ba, bb, t, closing[j], use_open)
            cash += proceeds
            may_enter[j] = may_enter[j] or reason == "signal"
        if not use_open:
            enter_all(t, bars, wants, may_enter, 3)
        for j, pair in enumerate(pairs):  # the marks
            ba, bb = bars[j]
            for k, bar in enumerate(bars[j]):
                if bar is not None:
                    last[j][k], last_t[j][k] = bar[3], t
            if ba is not None and bb is not None:
                if use_open:
                    pending[j] = pair.rule(pending[j], rules, t, ba, bb, ahead=False)
                last_both[j] = t
        equity[t] = cash + sum(pair.worth(*last[j], index[t]) for j, pair in enumerate(pairs))
    for j, pair in enumerate(pairs):
        if pair.pos is not None:
            cash += pair.close_out(last[j][0], last[j][1], "end_of_data", max(last_t[j]), end=True)
    return trades, equity
