"""A slow, plain-Python reading of the fill contract (ruleengine.backtesting.risk.FILL_CONTRACT), tests only.

Written from the contract's text, bar by bar and column by column with plain floats and dicts, without
numba or ruleengine's kernel, so that the engine can be checked against it. Returns trades as a list of
dicts with the keys of `Simulation.trades` (times left out) and the equity curve as lists.
"""
from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

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


def _stop(bar: tuple[float, float, float, float], pos: dict[str, Any], risk: Any) -> tuple[float, str] | None:
    """The stop that fills inside this bar, if any: (price before slippage, reason)."""
    o, h, lo, _ = bar
    sl, tp, tsl = _pct(risk.stop_loss_pct), _pct(risk.take_profit_pct), _pct(risk.trailing_stop_pct)
    candidates = []
    if sl is not None:
        candidates.append((pos["entry"] * (1 - sl), "stop_loss"))
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
    if tp is not None:
        level = pos["entry"] * (1 + tp)
        if o >= level:
            return o, "take_profit"
        if lo <= level <= h:
            return level, "take_profit"
    return None


def reference_simulate(prices: dict[str, Any], entries: Any, exits: Any, index: Any, risks: list[Any],
                       init_cash: float = 10_000.0, start: int = 0) -> tuple[list[dict[str, Any]], list[list[float]]]:
    """Independent runs. Returns (trades, equity[t][j])."""
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
        pending = (False, False)  # (entry, exit) signals waiting for the next bar (open fills)
        last_close, last_t = math.nan, -1
        for t in range(T):
            bar = _bar(prices, t, j) if t >= start else None
            if bar is None:
                equity[t][j] = cash + (pos["units"] * last_close if pos else 0.0)
                continue
            o, h, _lo, c = bar
            if use_open:
                sig, pending = pending, (bool(entries[t][j]), bool(exits[t][j]))
            else:
                sig = (bool(entries[t][j]), bool(exits[t][j]))
            want_entry, want_exit = sig[0] and not sig[1], sig[1] and not sig[0]
            if pos is not None:
                hit = _stop(bar, pos, r)
                pos["peak"] = max(pos["peak"], h)  # after the check
                pos["bars"] += 1
                fill = None
                if hit is not None:
                    fill = hit
                elif want_exit:
                    fill = (o if use_open else c, "signal")
                else:
                    days_up = r.max_hold_days is not None and \
                        index[t] >= pos["time"] + timedelta(days=r.max_hold_days)
                    bars_up = r.max_hold_bars is not None and pos["bars"] >= r.max_hold_bars
                    if days_up or bars_up:
                        fill = (c, "max_hold")
                if fill is not None:
                    px = fill[0] * (1 - slip)
                    gross = pos["units"] * px
                    cash += gross - gross * fee
                    trades.append(_trade(j, pos, t, px, gross, gross * fee, fill[1]))
                    pos = None
            elif want_entry and cash > 0:
                px = (o if use_open else c) * (1 + slip)
                spend = min(cash, frac * cash)
                units = spend / (1 + fee) / px
                pos = {"entry": px, "peak": px, "units": units, "spent": spend, "fee": spend - spend / (1 + fee),
                       "bar": t, "time": index[t], "bars": 0}
                cash -= spend
            last_close, last_t = c, t
            equity[t][j] = cash + (pos["units"] * c if pos else 0.0)
        if pos is not None:
            trades.append(_trade(j, pos, last_t, last_close, pos["units"] * last_close, 0.0, "end_of_data"))
    return trades, equity


def reference_portfolio(prices: dict[str, Any], entries: Any, exits: Any, index: Any, risks: list[Any],
                        init_cash: float = 10_000.0, start: int = 0) -> tuple[list[dict[str, Any]], list[float]]:
    """One shared cash account: exits of all columns first, then entries sized on the equity at the fill."""
    T = len(index)
    N = len(risks)
    use_open = risks[0].execution_price == "open"
    cash = init_cash
    pos: list[dict[str, Any] | None] = [None] * N
    pending = [(False, False)] * N
    last_close = [math.nan] * N
    last_t = [-1] * N
    trades: list[dict[str, Any]] = []
    equity = [0.0] * T
    for t in range(T):
        if t < start:
            equity[t] = cash
            continue
        bars = [_bar(prices, t, j) for j in range(N)]
        sigs: list[tuple[bool, bool]] = [(False, False)] * N
        may_enter = [False] * N
        for j in range(N):
            r, bar = risks[j], bars[j]
            if bar is None:
                continue
            if use_open:
                sigs[j], pending[j] = pending[j], (bool(entries[t][j]), bool(exits[t][j]))
            else:
                sigs[j] = (bool(entries[t][j]), bool(exits[t][j]))
            p = pos[j]
            may_enter[j] = p is None
            if p is None:
                continue
            o, h, _lo, c = bar
            hit = _stop(bar, p, r)
            p["peak"] = max(p["peak"], h)
            p["bars"] += 1
            fill = hit
            if fill is None and sigs[j][1] and not sigs[j][0]:
                fill = (o if use_open else c, "signal")
            if fill is None and ((r.max_hold_days is not None and index[t] >= p["time"] + timedelta(days=r.max_hold_days))
                                 or (r.max_hold_bars is not None and p["bars"] >= r.max_hold_bars)):
                fill = (c, "max_hold")
            if fill is not None:
                px = fill[0] * (1 - r.slippage_pct / 100)
                gross = p["units"] * px
                cash += gross - gross * r.fees_pct / 100
                trades.append(_trade(j, p, t, px, gross, gross * r.fees_pct / 100, fill[1]))
                pos[j] = None
        value = cash
        for j in range(N):
            if pos[j] is not None:
                bar = bars[j]
                mark = last_close[j] if bar is None else (bar[0] if use_open else bar[3])
                value += pos[j]["units"] * mark
        for j in range(N):
            r, bar = risks[j], bars[j]
            if not may_enter[j] or not (sigs[j][0] and not sigs[j][1]) or value <= 0:
                continue
            want = r.position_size_pct / 100 * value
            if want > cash:
                continue
            fee = r.fees_pct / 100
            px = (bar[0] if use_open else bar[3]) * (1 + r.slippage_pct / 100)
            pos[j] = {"entry": px, "peak": px, "units": want / (1 + fee) / px, "spent": want,
                      "fee": want - want / (1 + fee), "bar": t, "time": index[t], "bars": 0}
            cash -= want
        for j in range(N):
            if bars[j] is not None:
                last_close[j], last_t[j] = bars[j][3], t
        equity[t] = cash + sum(p["units"] * last_close[j] for j, p in enumerate(pos) if p is not None)
    for j, p in enumerate(pos):
        if p is not None:
            trades.append(_trade(j, p, last_t[j], last_close[j], p["units"] * last_close[j], 0.0, "end_of_data"))
    return trades, equity


def _trade(j: int, pos: dict[str, Any], t: int, px: float, gross: float, exit_fee: float, reason: str) -> dict[str, Any]:
    pnl = gross - exit_fee - pos["spent"]
    return {"column": j, "entry_bar": pos["bar"], "exit_bar": t, "entry_price": pos["entry"], "exit_price": px,
            "size": pos["units"], "pnl": pnl, "pnl_pct": pnl / pos["spent"] * 100, "exit_reason": reason,
            "fees": pos["fee"] + exit_fee}
