"""The fill contract through vectorbt's ``Portfolio.from_signals``: the oracle of the numba engine.

``simulate(..., engine="vectorbt")`` lands here. It maps a `RiskSpec` onto ``from_signals`` as follows
(vectorbt 1.2, numba engine):

- ``direction="longonly"`` (``"shortonly"`` for a short strategy), ``size=position_size_pct/100`` with
  ``size_type="percent"`` (a percent of cash),
  ``fees`` and ``slippage`` as fractions, ``init_cash``, ``accumulate=False`` and the default
  ``upon_long_conflict="ignore"`` (entry and exit on one bar cancel);
- ``sl_stop`` / ``tp_stop`` as fractions, ``sl_trail=True`` for a trailing stop,
  ``stop_entry_price="fillprice"`` (levels from the entry price after slippage) and
  ``stop_exit_price="stopmarket"`` (stop exits pay slippage like every other exit);
- ``execution_price="close"``: ``price=close``; ``"open"``: ``price=open`` and the signals moved to each
  column's next existing bar (so vectorbt's stops are live from the bar after the fill, as in the contract);
- rows before ``start`` are cut off, signals on rows without a bar are dropped.
- a short column (``direction: short``): ``direction="shortonly"`` and ``upon_short_conflict="ignore"``;
  the trades and the equity equal the kernel's, but the cash does not: vectorbt's cash holds a short's sale
  proceeds, the kernel's sets the short's collateral aside (the equity adds it back).
- a long/short column (``direction: long_short``): ``short_entries`` / ``short_exits`` beside the entries and
  exits (which then act as the long side: vectorbt's direction "both"), ``upon_long_conflict``,
  ``upon_short_conflict`` and ``upon_dir_conflict`` "ignore" (an entry with its exit, or both entries, on one
  bar: neither acts) and ``upon_opposite_entry="reverse"`` (close and open the other side at the same
  fill: `ruleengine.backtest.risk.LONG_SHORT_FILL_CONTRACT`). vectorbt reverses with one order and refuses
  a percent size for it, so the size is ``np.inf`` (the whole cash) with ``lock_cash=True`` (a short is
  sized on the free cash, as the kernel's collateral); the order is split back into the two trades, its fee
  pro rata. Columns of each kind run in their own ``from_signals`` call. A column whose short loses more than
  its collateral (equity at or below zero, D131: no margin call) differs from then on: the kernel buys it
  back with cash it then owes, vectorbt's lock_cash cannot cover more than its cash (the oracle tests use
  symbols that stay solvent).

What ``from_signals`` cannot express (a D103 `RuleEngineError` pointing at the field):

- a time stop (``max_hold_days`` / ``max_hold_bars``): vectorbt has none; nor any exit of the document
  besides the three stops above (`VECTORBT_EXITS`: a new exit kind is refused here until it is mapped);
- a borrow cost (``borrow_cost_pct``), and a long/short column's position size below 100 %;
- a limit or stop entry order (``entry_order``): from_signals enters at the close or the next open only;
- a limit or stop exit order (``exit_order``): its stops are fixed fractions, not a level re-placed each bar;
- a stop loss together with a wider trailing stop: vectorbt has ONE loss-side stop, fixed or trailing.
  When ``trailing_stop_pct <= stop_loss_pct`` the trailing level is never below the fixed one, so the
  trailing stop alone is passed and the runs are identical; otherwise both levels matter and it refuses.

Where ``from_signals`` follows another order than the fill contract (open fills only): it checks a bar's
stops before the exit order pending at that bar's open (a stop level reached later in the bar fills
instead of the open), and it does not check the bar of an entry at the open for stops. The contract
follows time order; ``simulate(..., fill_order="vectorbt")`` reproduces vectorbt's order with our engine,
which is what the oracle tests compare trade for trade.

vectorbt does not record why a position was closed: the exit reason of each trade is recovered from the
bar data (the stop levels from the entry price and the running high, checked on the exit bar like the
contract says; otherwise the signal, or end_of_data for a position still open).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from ..kernels.enums import ExitReason, trade_dt
from ..schema.strategy import EXIT_FIELDS, FLAG_RISK_FIELDS, RISK_RULE_FIELDS, UNSET_RISK_FIELDS
from .risk import RiskSpec
from .simulation import Simulation, risk_arrays, trades_frame

#: the document's exits that ``from_signals`` expresses (sl_stop, tp_stop, sl_trail); every other is refused
VECTORBT_EXITS = ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct")
#: why an exit is refused, where there is more to say than that vectorbt lacks it
_WHY_NOT = {"max_hold_days": "no time stop (max hold)", "max_hold_bars": "no time stop (max hold)"}


def _unsupported(field: str, message: str) -> RuleEngineError:
    return RuleEngineError([Diagnostic("D103", message, path=f"risk.{field}",
                                       hint="use the default engine (engine='numba'), which implements it")])


def refuse_unexpressible(risks: list[RiskSpec], exit_program: object = None) -> None:
    """Raise D103 for the first exit ``from_signals`` cannot express (an exit program on position variables,
    a distance, the take-profit table, the trailing activation, a time stop, a wider trail, an exit order)."""
    if exit_program is not None:
        raise RuleEngineError([Diagnostic("D103", "vectorbt's from_signals has no exit on position variables",
                                          path="exit", hint="use the default engine (engine='numba'), which "
                                                            "implements it")])
    for r in risks:
        if r.exit_order != "market":
            raise RuleEngineError([Diagnostic(
                "D103", f"vectorbt's from_signals has no {r.exit_order} exit order re-placed each bar at a price "
                "series", path="exit_order.type", hint="use the default engine (engine='numba'), which implements it")])
        _loss_stop(r)


def _loss_stop(r: RiskSpec) -> tuple[float, bool]:
    """(sl_stop fraction or NaN, sl_trail) for one column; raises when vectorbt cannot express the risk."""
    for field in (*UNSET_RISK_FIELDS, *FLAG_RISK_FIELDS):  # sized by position_size_pct only
        if getattr(r, field):
            raise _unsupported(field, f"this engine sizes by position_size_pct only, not by {field}")
    if r.borrow_cost_pct:
        raise _unsupported("borrow_cost_pct", "vectorbt's from_signals has no borrow cost")
    if r.direction == "long_short" and r.position_size_pct != 100:
        raise _unsupported("position_size_pct", "vectorbt reverses a long/short position with one order sized "
                           "on the whole cash: position_size_pct must be 100 there")
    for field in (*EXIT_FIELDS, *RISK_RULE_FIELDS):
        if field not in VECTORBT_EXITS and getattr(r, field) is not None:
            raise _unsupported(field, f"vectorbt's from_signals has {_WHY_NOT.get(field, f'no {field} exit')}")
    if r.trailing_stop_pct is not None:
        if r.stop_loss_pct is not None and r.trailing_stop_pct > r.stop_loss_pct:
            raise _unsupported("trailing_stop_pct", "vectorbt's from_signals has one loss-side stop: a stop loss "
                               "and a wider trailing stop cannot both be expressed")
        return r.trailing_stop_pct / 100.0, True
    return (np.nan if r.stop_loss_pct is None else r.stop_loss_pct / 100.0), False


def _to_next_bar(sig: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Move each column's signals to that column's next row with a bar (dropped when there is none)."""
    out = np.zeros_like(sig)
    for j in range(sig.shape[1]):
        rows = np.flatnonzero(valid[:, j])
        out[rows[1:], j] = sig[rows[:-1], j]
    return out


def _col(values: list[float]) -> np.ndarray:
    """One value per column, shaped (1, N) so that vectorbt broadcasts it along the rows."""
    return np.array(values, dtype=np.float64)[None, :]


def simulate_vectorbt(prices: Mapping[str, np.ndarray], entries: np.ndarray, exits: np.ndarray,
                      index: pd.DatetimeIndex, risks: list[RiskSpec], *, init_cash: float = 10_000.0,
                      start: int = 0, short_entries: np.ndarray | None = None,
                      short_exits: np.ndarray | None = None) -> Simulation:
    """`ruleengine.backtest.simulation.simulate` through ``vbt.Portfolio.from_signals`` (independent columns);
    `short_entries` / `short_exits` are the short side of the long/short columns."""
    import vectorbt as vbt
    from vectorbt.portfolio.enums import Direction

    px = {k: np.asarray(prices[k], dtype=np.float64) for k in ("open", "high", "low", "close")}
    T, N = px["close"].shape
    if any(r.entry_order != "market" for r in risks):
        raise RuleEngineError([Diagnostic(
            "D103", "vectorbt's from_signals has no limit or stop entry order at a price series",
            path="entry_order.type", hint="use the default engine (engine='numba'), which implements it")])
    stops = [_loss_stop(r) for r in risks]
    kinds = sorted({_kind(r) for r in risks})
    if len(kinds) > 1:  # price= or the signals' meaning differ: one from_signals call per kind of column
        return _by_kind(prices, entries, exits, index, risks, init_cash, start, short_entries, short_exits)
    use_open, both = kinds[0]
    sl = {k: np.ascontiguousarray(v[start:]) for k, v in px.items()}  # one layout: one numba compilation
    valid = ~np.isnan(sl["close"])

    def signals(x: np.ndarray | None) -> np.ndarray:
        a = np.zeros_like(valid) if x is None else np.ascontiguousarray(np.asarray(x, dtype=bool)[start:] & valid)
        return _to_next_bar(a, valid) if use_open else a

    ent, ext = signals(entries), signals(exits)
    kwargs: dict[str, object] = {"engine": "numba"} if "engine" in vbt.Portfolio.from_signals.__code__.co_varnames \
        else {}
    if both:  # entries/exits are the long side; the reversal is one order of the whole cash (module doc)
        kwargs.update(short_entries=signals(short_entries), short_exits=signals(short_exits), size=np.inf,
                      size_type="amount", lock_cash=True, upon_dir_conflict="ignore", upon_opposite_entry="reverse")
    else:
        kwargs.update(direction=np.array([Direction.ShortOnly if r.direction == "short" else Direction.LongOnly
                                          for r in risks])[None, :],
                      size=_col([r.position_size_pct / 100.0 for r in risks]), size_type="percent")
    pf = vbt.Portfolio.from_signals(
        close=sl["close"], entries=ent, exits=ext, open=sl["open"], high=sl["high"], low=sl["low"],
        price=sl["open"] if use_open else sl["close"], accumulate=False,
        fees=_col([r.fees_pct / 100.0 for r in risks]), slippage=_col([r.slippage_pct / 100.0 for r in risks]),
        sl_stop=_col([s for s, _ in stops]), sl_trail=np.array([t for _, t in stops])[None, :],
        tp_stop=_col([np.nan if r.take_profit_pct is None else r.take_profit_pct / 100.0 for r in risks]),
        stop_entry_price="fillprice", stop_exit_price="stopmarket", upon_long_conflict="ignore",
        upon_short_conflict="ignore",
        init_cash=float(init_cash), **kwargs)
    orders = pf.orders.records_arr
    trades = trades_frame(_trade_orders(orders, sl, risks, start), index, by_time=False)
    cash = np.full((T, N), float(init_cash))
    pos = np.zeros((T, N))
    cash[start:] = np.asarray(pf.cash())
    pos[start:] = np.asarray(pf.assets())
    mark = pd.DataFrame(px["close"]).ffill().to_numpy()
    with np.errstate(invalid="ignore"):
        equity = cash + np.where(pos != 0, pos * mark, 0.0)
    return Simulation(trades, equity, cash, pos, "vectorbt")


def _kind(r: RiskSpec) -> tuple[bool, bool]:
    """What one ``from_signals`` call must share: (open fills, long/short)."""
    return r.execution_price == "open", r.direction == "long_short"


def _by_kind(prices: Mapping[str, np.ndarray], entries: np.ndarray, exits: np.ndarray, index: pd.DatetimeIndex,
             risks: list[RiskSpec], init_cash: float, start: int, short_entries: np.ndarray | None,
             short_exits: np.ndarray | None) -> Simulation:
    """Columns of different kinds (`_kind`): simulate each group, put the columns back in order."""
    T, N = np.shape(prices["close"])
    equity, cash, pos = np.empty((T, N)), np.empty((T, N)), np.empty((T, N))
    parts = []
    for kind in sorted({_kind(r) for r in risks}):
        cols = np.array([j for j, r in enumerate(risks) if _kind(r) == kind])
        sub = simulate_vectorbt({k: np.asarray(v)[:, cols] for k, v in prices.items()},
                                np.asarray(entries)[:, cols], np.asarray(exits)[:, cols], index,
                                [risks[j] for j in cols], init_cash=init_cash, start=start,
                                short_entries=None if short_entries is None else np.asarray(short_entries)[:, cols],
                                short_exits=None if short_exits is None else np.asarray(short_exits)[:, cols])
        equity[:, cols], cash[:, cols], pos[:, cols] = sub.equity, sub.cash, sub.position
        t = sub.trades.copy()
        t["column"] = cols[t["column"].to_numpy()]
        parts.append(t)
    trades = pd.concat(parts, ignore_index=True).sort_values(["column", "entry_bar"], kind="stable")
    return Simulation(trades.reset_index(drop=True), equity, cash, pos, "vectorbt")


def _trade_orders(orders: np.ndarray, px: dict[str, np.ndarray], risks: list[RiskSpec], start: int) -> np.ndarray:
    """vectorbt's orders -> the kernel's trade records (`trade_dt`, rows relative to the full index).

    Each column's orders in time order open and close one position at a time (``accumulate=False``); an
    order larger than the position it closes (a long/short reversal) also opens the other side with the
    rest, its fee split pro rata. A short's entry is a sell: its proceeds stay as collateral, and the exit
    hands back the collateral plus the gain units x (entry - exit), as the kernel's `value_nb` does."""
    rows: list[tuple[int, int, int, int, float, float, float, float, float, float, int]] = []
    close = px["close"]
    for j in range(close.shape[1]):
        mine = orders[orders["col"] == j]
        mine = mine[np.argsort(mine["idx"], kind="stable")]
        valid = np.flatnonzero(~np.isnan(close[:, j]))
        held: tuple[int, int, float, float, float] | None = None  # side, bar, entry price, units, entry fee
        for order in mine:
            bar, price, size, fee = int(order["idx"]), float(order["price"]), float(order["size"]), float(order["fees"])
            side = 1 if order["side"] == 0 else -1  # vectorbt's OrderSide: 0 buy, 1 sell
            opened = size
            if held is not None:  # closes the position held (an order on its own side never comes)
                units = min(size, held[3])
                x_fee = fee if units == size else fee * units / size
                reason = _reason(px, j, held[1], bar, held[2], risks[j], held[0])
                rows.append(_trade_row(j, held, bar, price, x_fee, reason, start))
                held, opened = None, size - units
            if opened > 1e-12 * size:
                held = (side, bar, price, opened, fee if opened == size else fee * opened / size)
        if held is not None:
            x_bar = int(valid[-1])
            rows.append(_trade_row(j, held, x_bar, float(close[x_bar, j]), 0.0, ExitReason.end_of_data, start))
    return np.array(rows, dtype=trade_dt)


def _trade_row(j: int, held: tuple[int, int, float, float, float], x_bar: int, x_price: float, x_fee: float,
               reason: int, start: int) -> tuple[int, int, int, int, float, float, float, float, float, float, int]:
    """One `trade_dt` row of column j: the position `held` (side, bar, entry price, units, entry fee) closed
    on `x_bar` at `x_price` paying `x_fee`."""
    side, e_bar, entry, units, e_fee = held
    spent = units * entry + e_fee
    gross = units * x_price if side > 0 else units * (2.0 * entry - x_price)
    pnl = gross - x_fee - spent
    return (j, e_bar + start, x_bar + start, reason, entry, x_price, units, pnl, pnl / spent * 100.0, e_fee + x_fee,
            side)


def _reason(px: dict[str, np.ndarray], j: int, e_bar: int, x_bar: int, entry: float, r: RiskSpec,
            side: int) -> int:
    """Why vectorbt closed a trade: a stop whose level the exit bar reached, else the signal."""
    from ..kernels.simulate import stop_fill_nb

    if side > 0:  # the trailing stop's reference: the highest high since the entry (lowest low for a short)
        highs = px["high"][e_bar + 1:x_bar, j]
        peak = max(entry, float(np.nanmax(highs))) if np.isfinite(highs).any() else entry
    else:
        lows = px["low"][e_bar + 1:x_bar, j]
        peak = min(entry, float(np.nanmin(lows))) if np.isfinite(lows).any() else entry
    o, h, lo, c = (float(px[k][x_bar, j]) for k in ("open", "high", "low", "close"))
    o = c if np.isnan(o) else o
    h = max(o, c) if np.isnan(h) else h
    lo = min(o, c) if np.isnan(lo) else lo
    _, reason = stop_fill_nb(o, h, lo, entry, peak, float(side), risk_arrays([r])[0])
    return ExitReason.signal if reason < 0 else int(reason)
