"""A slow, plain-Python reading of the fill contract (ruleengine.backtest.risk.FILL_CONTRACT), tests only.

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


def _side(r: Any) -> int:
    return -1 if getattr(r, "direction", "long") == "short" else 1


def _max_hold_reached(r: Any, pos: dict[str, Any], now: Any) -> bool:
    """Max hold: the time since the entry bar reaches max_hold_days, or the bars after it max_hold_bars."""
    # in integer nanoseconds (Python ints: no overflow for any max_hold_days)
    days_up = r.max_hold_days is not None and \
        pd.Timedelta(now - pos["time"]).value >= r.max_hold_days * 86_400 * 10**9
    bars_up = r.max_hold_bars is not None and pos["bars"] >= r.max_hold_bars
    return days_up or bars_up


def _after_open(bar: tuple[float, float, float, float], t: int, pos: dict[str, Any], r: Any, now: Any,
                want_exit: bool, use_open: bool, exit_rule: Any = None, j: int = 0,
                sig_entry: bool = False) -> tuple[float, str] | None:
    """The rest of bar t for a position held after the open: the stops on the bar's range (also on the bar
    of an entry at this open), then the orders at the close (the signal exit with close fills: the exit
    signal or the exit rule on the position's state at this close, unless the bar's entry signal cancels
    it; max hold)."""
    new = pos["bar"] == t  # entered at this bar's open: nothing at the close can apply yet
    hit = _stop(bar, pos, r, pos["bars"] if new else pos["bars"] + 1)
    pos["peak"] = max(pos["peak"], bar[1]) if pos["side"] > 0 else min(pos["peak"], bar[2])  # after the check
    pos["high"], pos["low"] = max(pos["high"], bar[1]), min(pos["low"], bar[2])
    if new:
        return hit
    pos["bars"] += 1
    if hit is not None:
        return hit
    if not use_open and (want_exit or (exit_rule is not None and not sig_entry
                                       and exit_rule(t, j, position_state(pos, bar[3])))):
        return bar[3], "signal"
    if _max_hold_reached(r, pos, now):
        return bar[3], "max_hold"
    return None


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
                       init_cash: float = 10_000.0, start: int = 0, *, distances: dict[str, Any] | None = None,
                       exit_rule: Any = None, counts: dict[str, int] | None = None
                       ) -> tuple[list[dict[str, Any]], list[list[float]]]:
    """Independent runs. Returns (trades, equity[t][j]).

    Each bar in time order: the open (an exit order pending since the previous close, or an entry, for
    open fills), the rest of the bar (stops and targets, then the orders at the close), the close (an
    entry with close fills, only when the symbol was flat at the start of the bar). With open fills the
    exit rule is evaluated at each close of a held position (also on its entry bar) and its truth joins the
    exit order pending for the next bar. ``counts["bad_distances"]`` counts the unusable distances of entries.
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
        side = _side(r)
        cash = init_cash
        pos: dict[str, Any] | None = None
        pending = (False, False)  # (entry, exit) signals waiting for the next bar (open fills)
        last_close, last_t = math.nan, -1

        def close_out(fill: tuple[float, str], t: int) -> None:
            nonlocal cash, pos
            assert pos is not None
            px = fill[0] * (1 - side * slip)
            gross = _worth(pos, px)
            cash += gross - pos["units"] * px * fee
            trades.append(_trade(j, pos, t, px, gross, pos["units"] * px * fee, fill[1]))
            pos = None

        for t in range(T):
            bar = _bar(prices, t, j) if t >= start else None
            if bar is None:
                equity[t][j] = cash + _worth(pos, last_close)
                continue
            o, _h, _lo, c = bar
            if use_open:
                sig, pending = pending, (bool(entries[t][j]), bool(exits[t][j]))
            else:
                sig = (bool(entries[t][j]), bool(exits[t][j]))
            want_entry, want_exit = sig[0] and not sig[1], sig[1] and not sig[0]
            flat_before = pos is None
            if use_open:  # the open
                if pos is not None and want_exit:
                    close_out((o, "signal"), t)
                elif pos is None and want_entry and cash > 0:
                    spend = min(cash, frac * cash)
                    px = o * (1 + side * slip)
                    levels = _levels(distances, last_t, j, px, side)  # the signal bar: the symbol's previous bar
                    counts["bad_distances"] += levels[2]
                    pos = _open(px, spend, fee, t, index[t], side, levels)
                    cash -= spend
            if pos is not None:  # the rest of the bar
                fill = _after_open(bar, t, pos, r, index[t], want_exit, use_open, exit_rule, j, sig[0])
                if fill is not None:
                    close_out(fill, t)
            if not use_open and flat_before and want_entry and cash > 0:  # the close
                spend = min(cash, frac * cash)
                px = c * (1 + side * slip)
                levels = _levels(distances, t, j, px, side)
                counts["bad_distances"] += levels[2]
                pos = _open(px, spend, fee, t, index[t], side, levels)
                cash -= spend
            if use_open and pos is not None and exit_rule is not None and exit_rule(t, j, position_state(pos, c)):
                pending = (pending[0], True)  # the rule at this close: an exit order for the next open
            last_close, last_t = c, t
            equity[t][j] = cash + _worth(pos, c)
        if pos is not None:
            trades.append(_trade(j, pos, last_t, last_close, _worth(pos, last_close), 0.0, "end_of_data"))
    return trades, equity


def reference_portfolio(prices: dict[str, Any], entries: Any, exits: Any, index: Any, risks: list[Any],
                        init_cash: float = 10_000.0, start: int = 0, *, distances: dict[str, Any] | None = None,
                        exit_rule: Any = None
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
    pending = [(False, False)] * N
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
        gross, exit_fee = _worth(p, px), p["units"] * px * r.fees_pct / 100
        cash += gross - exit_fee
        trades.append(_trade(j, p, t, px, gross, exit_fee, fill[1]))
        pos[j] = None

    def enter_all(t: int, bars: list[Any], may_enter: list[bool], sigs: list[tuple[bool, bool]],
                  k: int) -> None:
        """Entries at the open (k = 0) or the close (k = 3) of bar t."""
        nonlocal cash
        value = cash
        for j in range(N):
            if pos[j] is not None:
                value += _worth(pos[j], last_close[j] if bars[j] is None else bars[j][k])
        for j in range(N):
            r, bar = risks[j], bars[j]
            if not may_enter[j] or pos[j] is not None or not (sigs[j][0] and not sigs[j][1]) or value <= 0:
                continue
            want = r.position_size_pct / 100 * value
            if want > cash:
                skipped.append((t, j))
                continue
            px = bar[k] * (1 + _side(r) * r.slippage_pct / 100)
            levels = _levels(distances, last_t[j] if k == 0 else t, j, px, _side(r))
            pos[j] = _open(px, want, r.fees_pct / 100, t, index[t], _side(r), levels)
            cash -= want

    for t in range(T):
        if t < start:
            equity[t] = cash
            continue
        bars = [_bar(prices, t, j) for j in range(N)]
        sigs: list[tuple[bool, bool]] = [(False, False)] * N
        may_enter = [False] * N
        for j in range(N):  # the open: signals, orders pending at the open
            if bars[j] is None:
                continue
            if use_open:
                sigs[j], pending[j] = pending[j], (bool(entries[t][j]), bool(exits[t][j]))
            else:
                sigs[j] = (bool(entries[t][j]), bool(exits[t][j]))
            may_enter[j] = pos[j] is None
            if use_open and pos[j] is not None and sigs[j][1] and not sigs[j][0]:
                close_out(j, (bars[j][0], "signal"), t)
        if use_open:
            enter_all(t, bars, may_enter, sigs, 0)
        for j in range(N):  # the rest of the bar
            p = pos[j]
            if bars[j] is None or p is None:
                continue
            fill = _after_open(bars[j], t, p, risks[j], index[t], sigs[j][1] and not sigs[j][0], use_open,
                               exit_rule, j, sigs[j][0])
            if fill is not None:
                close_out(j, fill, t)
        if not use_open:
            enter_all(t, bars, may_enter, sigs, 3)
        for j in range(N):
            if bars[j] is not None:
                p = pos[j]
                if use_open and p is not None and exit_rule is not None and \
                        exit_rule(t, j, position_state(p, bars[j][3])):
                    pending[j] = (pending[j][0], True)
                last_close[j], last_t[j] = bars[j][3], t
        equity[t] = cash + sum(_worth(p, last_close[j]) for j, p in enumerate(pos) if p is not None)
    for j, p in enumerate(pos):
        if p is not None:
            trades.append(_trade(j, p, last_t[j], last_close[j], _worth(p, last_close[j]), 0.0, "end_of_data"))
    return trades, equity, skipped


def _trade(j: int, pos: dict[str, Any], t: int, px: float, gross: float, exit_fee: float,
           reason: str) -> dict[str, Any]:
    pnl = gross - exit_fee - pos["spent"]
    return {"column": j, "entry_bar": pos["bar"], "exit_bar": t, "entry_price": pos["entry"], "exit_price": px,
            "size": pos["units"], "pnl": pnl, "pnl_pct": pnl / pos["spent"] * 100, "exit_reason": reason,
            "fees": pos["fee"] + exit_fee}
