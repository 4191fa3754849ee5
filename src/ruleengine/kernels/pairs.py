"""Pair positions: two legs opened and closed together as one position (numpy + numba only).

A pair strategy's column q trades two instruments, leg a (its first price slot) and leg b. Going long the pair
buys a and sells b short; going short the pair does the opposite. `pair_bar_step_nb` is a pair's bar, called by
the single run's column loop `_pair_column_nb` (beside `simulate._column_nb`) and by the sweep's
(`sweep_sim.sweep_pairs_nb`): each leg opens with `enter_nb` and closes with `leave_nb`, the fill step's own
functions (each leg its own fill price, slippage, fees and a short leg's borrow cost), and the signals are read
with `intents_nb` / `closes_nb` / `entry_side_nb`, so there is no second copy of the fill arithmetic.
What is the pair's own (``PAIR_FILL_CONTRACT`` in ruleengine.backtest.risk says it for users):

- Sizing at the signal bar's hedge ratio (the level kind ``hedge_ratio``, fixed for the trade): the budget
  (``position_size`` x cash, fees included) is split so that leg b's value is hedge_ratio x leg a's
  (dollar_neutral), or so that leg b's units are hedge_ratio x leg a's (``hedge_units``). A hedge ratio that is
  NaN or not above 0 opens nothing.
- Stops and targets act on the combined value of both legs (each marked with `worth_nb`) against the value
  at entry (units x entry price of each leg, after slippage, before fees): stop loss at (1 - stop_loss), take
  profit at (1 + take_profit), trailing stop at (1 - trailing_stop) x the highest combined value since entry.
  They are checked at the open (a gap through a level fills both legs at their opens) and at the close (fills
  at the closes), never inside the bar: the legs' highs and lows are not simultaneous.
- A bar where either leg has no close is skipped (no fill, no signal consumed, no stop check); an open pair is
  marked at each leg's last close meanwhile.
- Signals as for one position (`intents_nb`): entries/exits are the long side of the pair (the short side with
  ``risk.short``); a long/short strategy's ``short_entries`` / ``short_exits`` the short side; an opposite
  entry while a pair is open closes it and opens the other side at the same fill (a reversal).

Numba's cache does not see a change in `simulate.py`'s functions inlined here: touch this file after editing
them (as `sweep_sim.py` says).
"""
import numpy as np

from ._numba import numba  # numba with the kernel cache stamp installed
from .enums import ExitReason, pair_trade_dt
from .modes import columns_by_mode, in_column_order, per_mode
from .simulate import (
    EXIT_FEE,
    EXIT_GROSS,
    EXIT_PRICE,
    EXIT_UNITS,
    POS_ENTRY,
    POS_ENTRY_BAR,
    POS_ENTRY_FEE,
    POS_HELD,
    POS_IN,
    POS_SPENT,
    POS_UNITS,
    bar_nb,
    borrow_nb,
    closes_nb,
    enter_nb,
    entry_side_nb,
    entry_time_nb,
    flat_nb,
    held_units_nb,
    intents_nb,
    leave_nb,
    level_nb,
    mark_out_nb,
    max_hold_nb,
    no_exit_nb,
    on_stack_nb,
    record_nb,
    set_nb,
    short_signals_nb,
    signals_nb,
    slipped_nb,
    worth_nb,
)


@numba.njit(cache=True, inline="always")
def pair_value_nb(pa, pb, price_a, price_b, now, entry_time, risk):
    """What both legs are worth at these prices and time `now` (`worth_nb`: the short leg less its accrued
    borrow cost; `entry_time` the entry bar's time); 0.0 when flat."""
    if pa[POS_IN] == 0.0:
        return 0.0
    return worth_nb(pa, price_a, now, entry_time, risk) + worth_nb(pb, price_b, now, entry_time, risk)


@numba.njit(cache=True, inline="always")
def entry_value_nb(pa, pb):
    """The pair's value at its legs' entry prices (after slippage, before fees): the base of its stops."""
    return pa[POS_UNITS] * pa[POS_ENTRY] + pb[POS_UNITS] * pb[POS_ENTRY]


@numba.njit(cache=True, inline="always")
def pair_stop_nb(value, base, peak, risk):
    """The stop or target reached by the pair's combined `value` (an `ExitReason` code, -1 for none): the
    loss side first (stop loss base x (1 - stop_loss) or trail peak x (1 - trailing_stop), the higher level
    acts, the stop loss on a tie), then the take profit base x (1 + take_profit)."""
    level = np.nan
    reason = -1
    if not np.isnan(risk.stop_loss):
        level = base * (1 - risk.stop_loss)
        reason = ExitReason.stop_loss
    if not np.isnan(risk.trailing_stop):
        trail = peak * (1 - risk.trailing_stop)
        if np.isnan(level) or trail > level:
            level = trail
            reason = ExitReason.trailing_stop
    if not np.isnan(level) and value <= level:
        return reason
    if not np.isnan(risk.take_profit) and value >= base * (1 + risk.take_profit):
        return ExitReason.take_profit
    return -1


@numba.njit(cache=True, inline="always")
def enter_pair_nb(t, fill_a, fill_b, budget, hedge, side, hedge_units, risk):
    """Both legs opened on bar t at fill prices (fill_a, fill_b), `budget` cash in all (fees included); side 1.0
    long the pair (long a, short b), -1.0 short the pair. Returns (leg a, leg b)."""
    slip = risk.slippage
    if hedge_units:  # units_b = hedge x units_a: budget_a / budget = price_a / (price_a + hedge x price_b)
        adj_a = slipped_nb(fill_a, side, slip)
        budget_a = budget * adj_a / (adj_a + hedge * slipped_nb(fill_b, -side, slip))
    else:  # value_b = hedge x value_a
        budget_a = budget / (1.0 + hedge)
    return (enter_nb(t, fill_a, budget_a, slip, risk.fees, side),
            enter_nb(t, fill_b, budget - budget_a, slip, risk.fees, -side))


@numba.njit(cache=True, inline="always")
def record_pair_nb(records, n, q, pa, exa, pb, exb, exit_bar):
    """Write the closed pair (legs pa, pb closed by exa, exb on `exit_bar`) as record n (`pair_trade_dt`): the
    first leg's fields as `record_nb` writes them, then the combined pnl, pnl_pct and fees and the second leg."""
    n1 = record_nb(records, n, q, pa, exa, exit_bar)
    rec = records[n]
    pnl_a = rec["pnl"]
    pnl_b = (exb[EXIT_GROSS] - exb[EXIT_FEE]) - pb[POS_SPENT]
    fees_b = pb[POS_ENTRY_FEE] + exb[EXIT_FEE]
    rec["pnl"] = pnl_a + pnl_b
    rec["pnl_pct"] = (pnl_a + pnl_b) / (pa[POS_SPENT] + pb[POS_SPENT]) * 100.0
    rec["fees"] = rec["fees"] + fees_b
    rec["leg_a_pnl"] = pnl_a
    rec["leg_b_pnl"] = pnl_b
    rec["leg_b_entry_price"] = pb[POS_ENTRY]
    rec["leg_b_exit_price"] = exb[EXIT_PRICE]
    rec["leg_b_size"] = abs(exb[EXIT_UNITS])
    rec["leg_b_fees"] = fees_b
    return n1


@numba.njit(cache=True, inline="always")
def no_pair_exit_nb():
    """No pair closed (an exit of `pair_bar_step_nb` whose reason is -1)."""
    return (-1.0, flat_nb(), no_exit_nb(), flat_nb(), no_exit_nb())


@numba.njit(cache=True, inline="always")
def mark_out_pair_nb(pa, pb, last_a, last_b, now, entry_time, risk):
    """A pair still open at the end: each leg marked at its last close (`mark_out_nb`), the short leg paying
    its borrow cost accrued until `now`: (leg a, leg b, exit a, exit b)."""
    pa, exa = mark_out_nb(pa, last_a, borrow_nb(pa, now, entry_time, risk))
    pb, exb = mark_out_nb(pb, last_b, borrow_nb(pb, now, entry_time, risk))
    return pa, pb, exa, exb


@numba.njit(cache=True, inline="always")
def leave_pair_nb(pa, pb, fill_a, fill_b, reason, cash, now, entry_time, risk):
    """Close both legs at fill prices (fill_a, fill_b) at time `now`, the short leg paying its accrued borrow
    cost: (leg a, leg b, cash, exit); the exit is (reason, leg a closed, its `leave_nb` exit, leg b closed, its
    exit), what `record_pair_nb` records."""
    pa, exa = leave_nb(pa, fill_a, reason, risk.slippage, risk.fees, borrow_nb(pa, now, entry_time, risk))
    pb, exb = leave_nb(pb, fill_b, reason, risk.slippage, risk.fees, borrow_nb(pb, now, entry_time, risk))
    cash += (exa[EXIT_GROSS] - exa[EXIT_FEE]) + (exb[EXIT_GROSS] - exb[EXIT_FEE])
    return pa, pb, cash, (float(reason), pa, exa, pb, exb)


@numba.njit(cache=True, inline="always")
def pair_signals_nb(entries, exits, short_entries, short_exits, levels, q, t, pend, exec_open, last_bar, risk):
    """What acts on bar t of signal column q: (the intents, `intents_nb`; the hedge ratio of their signal bar,
    NaN without an entry; the new pending signals). `pend` and the result's last item are the signals pending
    since the previous close (long entry, long exit, short entry, short exit; open fills); `last_bar` is the
    previous bar both legs traded (an open fill's signal bar)."""
    e, x, pend_e, pend_x = signals_nb(pend[0], pend[1], exec_open, entries[q, t], exits[q, t])
    # long_short read at run time (the single-leg loops take it as a literal for long-only speed; a pair's bar
    # costs two legs anyway)
    se_t, sx_t = short_signals_nb(short_entries, short_exits, q, t, risk.long_short)
    se, sx, pend_se, pend_sx = signals_nb(pend[2], pend[3], exec_open, se_t, sx_t)
    it = intents_nb(e, x, se, sx, risk, risk.long_short)
    hedge = np.nan
    if it[0] or it[2]:
        hedge = level_nb(levels, risk.hedge_ratio_row, q, last_bar if exec_open else t)
    return it, hedge, (pend_e, pend_x, pend_se, pend_sx)


@numba.njit(cache=True, inline="always")
def pair_bar_step_nb(pa, pb, base, peak, cash, t, oa, ob, ca, cb, now, entry_time, it, hedge, exec_open, hedge_units,
                     risk):
    """Bar t of a pair that trades its own cash, in time order, both legs having a bar: (leg a, leg b, value at
    entry, highest value since, cash, exit at the open, exit at the close).

    The open: the exit order pending there (open fills) or a gap through a stop level (`pair_stop_nb` on the
    values at the opens), then an entry (open fills). The close: the stops on the values at the closes, the
    exit signal (close fills), max hold, then an entry (close fills). An entry needs the pair flat at the start
    of the bar, or closed on it by the opposite entry's signal (a reversal), a hedge ratio > 0 and cash > 0.
    `it` and `hedge` are `pair_signals_nb`'s; `hedge` the hedge ratio of the signal bar; ``now`` bar t's time,
    ``entry_time`` the entry bar's of a pair held before the bar. An exit is `leave_pair_nb`'s (reason -1: none).
    """
    want = entry_side_nb(it)
    side = pa[POS_IN]
    closing = side != 0.0 and closes_nb(side, it)
    may_enter = want != 0.0 and (side == 0.0 or closing) and hedge > 0 and np.isfinite(hedge)
    at_open = no_pair_exit_nb()
    at_close = no_pair_exit_nb()
    reason = -1
    if side != 0.0:  # the open
        value = pair_value_nb(pa, pb, oa, ob, now, entry_time, risk)
        reason = ExitReason.signal if exec_open and closing else pair_stop_nb(value, base, peak, risk)
        if reason >= 0:
            pa, pb, cash, at_open = leave_pair_nb(pa, pb, oa, ob, reason, cash, now, entry_time, risk)
        else:
            peak = max(peak, value)
    if exec_open and may_enter and (side == 0.0 or reason == ExitReason.signal) and cash > 0:
        budget = min(cash, risk.position_size * cash)
        pa, pb = enter_pair_nb(t, oa, ob, budget, hedge, want, hedge_units, risk)
        cash -= budget
        base = peak = entry_value_nb(pa, pb)
    if pa[POS_IN] != 0.0:  # the close of a pair held after the open
        new = exec_open and pa[POS_ENTRY_BAR] == t  # entered at this bar's open: its stops only
        if new:
            entry_time = now
        held = pa[POS_HELD] if new else pa[POS_HELD] + 1.0
        pa = set_nb(pa, POS_HELD, held)
        value = pair_value_nb(pa, pb, ca, cb, now, entry_time, risk)
        reason = pair_stop_nb(value, base, peak, risk)
        if reason < 0 and not new:
            if closing and not exec_open:
                reason = ExitReason.signal
            elif max_hold_nb(held, now, entry_time, risk):
                reason = ExitReason.max_hold
        if reason >= 0:
            pa, pb, cash, at_close = leave_pair_nb(pa, pb, ca, cb, reason, cash, now, entry_time, risk)
        else:
            peak = max(peak, value)
    if not exec_open and may_enter and (side == 0.0 or reason == ExitReason.signal) and cash > 0:
        budget = min(cash, risk.position_size * cash)
        pa, pb = enter_pair_nb(t, ca, cb, budget, hedge, want, hedge_units, risk)
        cash -= budget
        base = peak = entry_value_nb(pa, pb)
    return pa, pb, base, peak, cash, at_open, at_close


def simulate_pairs_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits,
                      short_entries, short_exits, levels, times, start, risk, hedge_units, init_cash, max_trades):
    """Independent pair runs: column q trades leg a (the ``*_a`` prices' row q) against leg b with its own
    `init_cash`. Signals, levels, times, start and risk as `simulate.simulate_nb` takes them (the hedge ratio
    is the level row ``risk.hedge_ratio_row``); `hedge_units` True sizes units_b = hedge x units_a.

    Returns (records (`pair_trade_dt`), n_trades, equity, cash, units of leg a, units of leg b), the last four
    (N, T); units are negative for a short leg. The columns run by ``exec_open`` (`ruleengine.kernels.modes`:
    each fill mode's loop is compiled only when a run uses it), records merged back in column order.
    """
    N, T = close_a.shape
    records = np.empty(max_trades, dtype=pair_trade_dt)
    equity = np.empty((N, T))
    cash_out = np.empty((N, T))
    units_a = np.empty((N, T))
    units_b = np.empty((N, T))
    n = 0
    groups = columns_by_mode(risk)
    for mode, cols in groups:
        n = simulate_pairs_entry(mode.exec_open)(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b,
                                                 entries, exits, short_entries, short_exits, levels, times, start,
                                                 risk, hedge_units, init_cash, cols, records, n, equity, cash_out,
                                                 units_a, units_b)
    in_column_order(records, n, len(groups) > 1)
    return records, n, equity, cash_out, units_a, units_b


@per_mode
def simulate_pairs_entry(exec_open: bool):
    """The compiled loop over the pair columns `cols` of one ``exec_open`` (a literal of the closure)."""

    @numba.njit(cache=True)
    def simulate_pairs_mode_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits,
                               short_entries, short_exits, levels, times, start, risk, hedge_units, init_cash, cols,
                               records, n, equity, cash_out, units_a, units_b):
        for q in cols:
            n = _pair_column_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits,
                                short_entries, short_exits, levels, times, start, q, risk[q], exec_open, hedge_units,
                                init_cash, records, n, equity, cash_out, units_a, units_b)
        return n

    return simulate_pairs_mode_nb


@numba.njit(cache=True)
def _pair_column_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits, short_entries,
                    short_exits, levels, times, start, q, risk, exec_open, hedge_units, init_cash, records, n, equity,
                    cash_out, units_a, units_b):
    """Pair column q of `simulate_pairs_nb`: each bar where both legs trade through `pair_bar_step_nb`, its
    closed pairs recorded; returns n."""
    T = close_a.shape[1]
    risk = on_stack_nb(risk)  # type: ignore[call-arg]  # numba passes the typing context
    pa = flat_nb()
    pb = flat_nb()
    cash = init_cash
    pend = (False, False, False, False)
    last_a = last_b = np.nan  # each leg's last close, its mark while the other leg has no bar
    last_bar_a = last_bar_b = -1
    last_bar = -1  # the last bar both legs traded: the signal bar of an order pending at the open
    base = peak = 0.0  # the open pair's value at entry and its highest value since (the trailing stop's)
    for t in range(T):
        ca = close_a[q, t]
        cb = close_b[q, t]
        if t >= start:
            if not np.isnan(ca):
                last_a, last_bar_a = ca, t
            if not np.isnan(cb):
                last_b, last_bar_b = cb, t
        if t < start or np.isnan(ca) or np.isnan(cb):
            equity[q, t] = cash + pair_value_nb(pa, pb, last_a, last_b, times[t], entry_time_nb(pa, times, risk), risk)
            cash_out[q, t] = cash
            units_a[q, t] = held_units_nb(pa)
            units_b[q, t] = held_units_nb(pb)
            continue
        oa, _ha, _la, ca = bar_nb(open_a, high_a, low_a, close_a, q, t)
        ob, _hb, _lb, cb = bar_nb(open_b, high_b, low_b, close_b, q, t)
        it, hedge, pend = pair_signals_nb(entries, exits, short_entries, short_exits, levels, q, t, pend, exec_open,
                                          last_bar, risk)
        pa, pb, base, peak, cash, at_open, at_close = pair_bar_step_nb(
            pa, pb, base, peak, cash, t, oa, ob, ca, cb, times[t], entry_time_nb(pa, times, risk), it, hedge,
            exec_open, hedge_units, risk)
        for ex in (at_open, at_close):
            if ex[0] >= 0:
                n = record_pair_nb(records, n, q, ex[1], ex[2], ex[3], ex[4], t)
        last_bar = t
        equity[q, t] = cash + pair_value_nb(pa, pb, ca, cb, times[t], entry_time_nb(pa, times, risk), risk)
        cash_out[q, t] = cash
        units_a[q, t] = held_units_nb(pa)
        units_b[q, t] = held_units_nb(pb)
    if pa[POS_IN] != 0.0:  # still open: each leg marked at its last close, no exit order, fee or slippage
        end = max(last_bar_a, last_bar_b)
        pa, pb, exa, exb = mark_out_pair_nb(pa, pb, last_a, last_b, times[end], entry_time_nb(pa, times, risk),
                                            risk)
        n = record_pair_nb(records, n, q, pa, exa, pb, exb, end)
    return n
