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
entry_price, bars_held, unrealized_pct, highest_since_entry, lowest_since_entry at bar t's close).
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

REASONS = ("signal", "stop_loss", "take_profit", "trailing_stop", "max_hold", "end_of_data")
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


def _after_open(bar: tuple[float, float, float, float], t: int, pos: dict[str, Any], r: Any, now: Any,
                want_exit: bool, use_open: bool) -> tuple[float, str] | None:
    """The rest of bar t for a position held after the open: the stops on the bar's range (also on the bar
    of an entry at this open), then the orders at the close (the signal exit with close fills, max hold)."""
    new = pos["bar"] == t  # entered at this bar's open: nothing at the close can apply yet
    hit = _stop(bar, pos, r, pos["bars"] if new else pos["bars"] + 1)
    _advance(pos, bar, new)
    if new:
        return hit
    if hit is not None:
        return hit
    if want_exit and not use_open:
        return bar[3], "signal"
    if _max_hold_reached(r, pos, now):
        return bar[3], "max_hold"
    return None


def _advance(pos: dict[str, Any], bar: tuple[float, float, float, float], new: bool) -> None:
    """A held position after a bar: its peak (after the bar's check), extremes, bars held."""
    pos["peak"] = max(pos["peak"], bar[1]) if pos["side"] > 0 else min(pos["peak"], bar[2])
    pos["high"], pos["low"] = max(pos["high"], bar[1]), min(pos["low"], bar[2])
    if not new:
        pos["bars"] += 1


def _rule_at_close(exit_rule: Any, pos: dict[str, Any] | None, bar: tuple[float, float, float, float], t: int,
                   j: int, r: Any, advance: bool) -> bool:
    """The exit rule on a held position at bar t's close (false when flat; on a long_short strategy's longs
    only): with close fills on the position as this bar leaves it (`advance`), with open fills after the bar."""
    if exit_rule is None or pos is None or (getattr(r, "direction", "long") == "long_short" and pos["side"] < 0):
        return False
    if advance:
        pos = dict(pos)
        _advance(pos, bar, False)
    return bool(exit_rule(t, j, position_state(pos, bar[3])))


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


def reference_simulate(prices: dict[str, Any], entries: Any, exits: Any, index: Any, risks: list[Any],
                       init_cash: float = 10_000.0, start: int = 0, short_entries: Any = None,
                       short_exits: Any = None, *, distances: dict[str, Any] | None = None, exit_rule: Any = None,
                       counts: dict[str, int] | None = None) -> tuple[list[dict[str, Any]], list[list[float]]]:
    """Independent runs. Returns (trades, equity[t][j]).

    Each bar in time order: the open (an exit order pending since the previous close, or an entry, for
    open fills), the rest of the bar (stops and targets, then the orders at the close), the close (an
    entry with close fills, only when the symbol was flat at the start of the bar, or just closed by the
    opposite entry: a reversal). The exit rule's truth joins the bar's exit signal: with close fills on the
    position at this close, with open fills at each close of a held position (also on its entry bar), pending
    for the next bar. ``counts["bad_distances"]`` counts the unusable distances of entries.
    """
    counts = counts if counts is not None else {}
    counts.setdefault("bad_distances", 0)
    T = len(index)
    N = len(risks)
    trades: list[dict[str, Any]] = []
    equity = [[0.0] * N for _ in range(T)]
    for j in range(N):
        r = risks[j]
        fee, slip, frac = r.fees_pct / 100, r.slippage_pct / 100, r.position_size_pct / 100
        use_open = r.execution_price == "open"
        cash = init_cash
        pos: dict[str, Any] | None = None
        pending = (False, False, False, False)  # signals waiting for the next bar (open fills)
        last_close, last_t = math.nan, -1

        def close_out(fill: tuple[float, str], t: int) -> None:
            nonlocal cash, pos
            assert pos is not None
            px = fill[0] * (1 - pos["side"] * slip)
            gross = _worth(pos, px)
            exit_fee = pos["units"] * px * fee + _borrow(pos, r, index[t])
            cash += gross - exit_fee
            trades.append(_trade(j, pos, t, px, gross, exit_fee, fill[1]))
            pos = None

        def enter(px: float, side: int, t: int) -> None:
            nonlocal cash, pos
            if side != 0 and cash > 0:
                spend = min(cash, frac * cash)
                px = px * (1 + side * slip)
                levels = _levels(distances, last_t if use_open else t, j, px, side)  # the signal's bar
                counts["bad_distances"] += levels[2]
                pos = _open(px, spend, fee, t, index[t], side, levels)
                cash -= spend

        for t in range(T):
            bar = _bar(prices, t, j) if t >= start else None
            if bar is None:
                equity[t][j] = cash + _worth(pos, last_close) - _borrow(pos, r, index[t])
                continue
            o, _h, _lo, c = bar
            if use_open:
                sig, pending = pending, _signals(entries, exits, short_entries, short_exits, t, j)
            else:
                sig = _signals(entries, exits, short_entries, short_exits, t, j)
                if _rule_at_close(exit_rule, pos, bar, t, j, r, advance=True):
                    sig = (sig[0], True, sig[2], sig[3])
            it = _intents(r, *sig)
            flat_before = pos is None
            if use_open:  # the open
                if pos is not None and _closes(pos["side"], it):
                    close_out((o, "signal"), t)
                    enter(o, _entry_side(it), t)  # the opposite entry reverses at the same fill
                elif pos is None:
                    enter(o, _entry_side(it), t)
            reversing = False
            if pos is not None:  # the rest of the bar
                fill = _after_open(bar, t, pos, r, index[t], _closes(pos["side"], it), use_open)
                if fill is not None:
                    reversing = fill[1] == "signal"
                    close_out(fill, t)
            if not use_open and (flat_before or reversing):  # the close
                enter(c, _entry_side(it), t)
            if use_open and _rule_at_close(exit_rule, pos, bar, t, j, r, advance=False):
                pending = (pending[0], True, pending[2], pending[3])  # an exit order for the next open
            last_close, last_t = c, t
            equity[t][j] = cash + _worth(pos, c) - _borrow(pos, r, index[t])
        if pos is not None:
            trades.append(_trade(j, pos, last_t, last_close, _worth(pos, last_close),
                                 _borrow(pos, r, index[last_t]), "end_of_data"))
    return trades, equity


def reference_portfolio(prices: dict[str, Any], entries: Any, exits: Any, index: Any, risks: list[Any],
                        init_cash: float = 10_000.0, start: int = 0, short_entries: Any = None,
                        short_exits: Any = None, *, distances: dict[str, Any] | None = None, exit_rule: Any = None
                        ) -> tuple[list[dict[str, Any]], list[float], list[tuple[int, int]]]:
    """One shared cash account. Each bar in time order, each phase over all columns in column order: exits
    at the open, entries at the open (open fills), the rest of the bar, entries at the close (close fills).
    Entries are sized on the equity at their fill (taken before the phase's entries) and skipped when the
    cash left is short. Returns (trades, equity[t], skipped entries as (bar, column))."""
    T = len(index)
    N = len(risks)
    use_open = risks[0].execution_price == "open"
    cash = init_cash
    pos: list[dict[str, Any] | None] = [None] * N
    pending = [(False, False, False, False)] * N
    last_close = [math.nan] * N
    last_t = [-1] * N
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
                  k: int) -> None:
        """Entries at the open (k = 0) or the close (k = 3) of bar t."""
        nonlocal cash
        value = cash
        for j in range(N):
            if pos[j] is not None:
                value += _worth(pos[j], last_close[j] if bars[j] is None else bars[j][k]) - \
                    _borrow(pos[j], risks[j], index[t])
        for j in range(N):
            r, bar, side = risks[j], bars[j], _entry_side(its[j])
            if not may_enter[j] or pos[j] is not None or side == 0 or value <= 0:
                continue
            want = r.position_size_pct / 100 * value
            if want > cash:
                skipped.append((t, j))
                continue
            px = bar[k] * (1 + side * r.slippage_pct / 100)
            levels = _levels(distances, last_t[j] if k == 0 else t, j, px, side)
            pos[j] = _open(px, want, r.fees_pct / 100, t, index[t], side, levels)
            cash -= want

    for t in range(T):
        if t < start:
            equity[t] = cash
            continue
        bars = [_bar(prices, t, j) for j in range(N)]
        its: list[tuple[bool, bool, bool, bool]] = [(False, False, False, False)] * N
        may_enter = [False] * N  # flat at the bar's start, or closed on it by the opposite entry (reversal)
        for j in range(N):  # the open: signals, orders pending at the open
            if bars[j] is None:
                continue
            if use_open:
                sig, pending[j] = pending[j], _signals(entries, exits, short_entries, short_exits, t, j)
            else:
                sig = _signals(entries, exits, short_entries, short_exits, t, j)
                if _rule_at_close(exit_rule, pos[j], bars[j], t, j, risks[j], advance=True):
                    sig = (sig[0], True, sig[2], sig[3])
            its[j] = _intents(risks[j], *sig)
            may_enter[j] = pos[j] is None
            p = pos[j]
            if use_open and p is not None and _closes(p["side"], its[j]):
                close_out(j, (bars[j][0], "signal"), t)
                may_enter[j] = True
        if use_open:
            enter_all(t, bars, may_enter, its, 0)
        for j in range(N):  # the rest of the bar
            p = pos[j]
            if bars[j] is None or p is None:
                continue
            fill = _after_open(bars[j], t, p, risks[j], index[t], _closes(p["side"], its[j]), use_open)
            if fill is not None:
                close_out(j, fill, t)
                may_enter[j] = may_enter[j] or fill[1] == "signal"
        if not use_open:
            enter_all(t, bars, may_enter, its, 3)
        for j in range(N):
            if bars[j] is not None:
                if use_open and _rule_at_close(exit_rule, pos[j], bars[j], t, j, risks[j], advance=False):
                    pending[j] = (pending[j][0], True, pending[j][2], pending[j][3])
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
