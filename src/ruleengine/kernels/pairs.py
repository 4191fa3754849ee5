"""Pair positions: two legs opened and closed together as one position (numpy + numba only).

A pair strategy's column q trades two instruments, leg a (its first price slot) and leg b. Going long the pair
buys a and sells b short; going short the pair does the opposite. `pair_bar_step_nb` is a pair's bar, called by
the single run's column loop `_pair_column_nb` (beside `simulate._column_nb`) and by the sweep's
(`sweep_sim.sweep_pairs_nb`): each leg opens with `enter_nb` and closes with `leave_nb`, the fill step's own
functions (each leg its own fill price, slippage, fees and a short leg's borrow cost), and the signals are read
with `intents_nb` / `closes_nb` / `entry_side_nb`, so there is no second copy of the fill arithmetic.
What is the pair's own (``PAIR_FILL_CONTRACT`` in ruleengine.backtest.risk says it for users):

- Sizing at the signal bar's hedge ratio (the level kind ``hedge_ratio``, fixed for the trade): the budget of
  the sizing method (`ruleengine.kernels.sizing.budget_nb`, the single position's, on the pair's value as its
  price) is split so that leg b's value is hedge_ratio x leg a's (dollar_neutral), or so that leg b's units
  are hedge_ratio x leg a's (``hedge_units``); whole units round leg a down and size leg b from it
  (`enter_pair_nb`). A hedge ratio that is NaN or not above 0 opens nothing.
- Stops and targets act on the combined value of both legs (each marked with `worth_nb`) against the value
  at entry (units x entry price of each leg, after slippage, before fees): stop loss at (1 - stop_loss), take
  profit at (1 + take_profit) or the take-profit table's row, trailing stop at (1 - trailing_stop) x the
  highest combined value since entry (once it reached the activation, when one is set).
  They are checked at the open (a gap through a level fills both legs at their opens) and at the close (fills
  at the closes), never inside the bar: the legs' highs and lows are not simultaneous. Leg a's position tuple
  carries the pair's own state: POS_HELD its bars, POS_PEAK / POS_FAR its highest / lowest value since entry.
- The exit program of the held side (`ruleengine.kernels.exit_program`; a long_short short pair: ``short_exit``'s)
  reads the pair's position variables
  (`pair_variables_nb`: entry_price is the value at entry, unrealized_pct the value's change, the extremes the
  value's), joining the exit signal at the close (close fills) or pending for the next open (open fills), as
  the single position's column loops do (`pair_program_before_nb` / `pair_program_after_nb`).
- A bar where either leg has no close is skipped (no fill, no signal consumed, no stop check); an open pair is
  marked at each leg's last close meanwhile.
- Signals as for one position (`intents_nb`): entries/exits are the long side of the pair (the short side with
  ``risk.short``); a long/short strategy's ``short_entries`` / ``short_exits`` the short side; an opposite
  entry while a pair is open closes it and opens the other side at the same fill (a reversal).
"""
import numpy as np

from ._numba import numba  # numba with the kernel cache stamp installed
from .enums import ExitReason, SizeNote, pair_trade_dt, skip_dt
from .exit_program import run_exit_program_nb
from .modes import columns_by_mode, in_column_order, per_mode
from .simulate import (
    EXIT_FEE,
    EXIT_GROSS,
    EXIT_PRICE,
    EXIT_UNITS,
    POS_ENTRY,
    POS_ENTRY_BAR,
    POS_ENTRY_FEE,
    POS_FAR,
    POS_HELD,
    POS_IN,
    POS_PEAK,
    POS_SPENT,
    POS_UNITS,
    bar_nb,
    borrow_nb,
    closes_nb,
    enter_nb,
    entry_side_nb,
    entry_time_nb,
    exit_stack_nb,
    flat_nb,
    has_exit_program_nb,
    held_units_nb,
    intents_nb,
    leave_nb,
    level_nb,
    mark_out_nb,
    max_hold_nb,
    no_exit_nb,
    note_nb,
    on_stack_nb,
    record_nb,
    set_nb,
    short_signals_nb,
    signals_nb,
    slipped_nb,
    table_take_profit_nb,
    worth_nb,
)
from .sizing import NO_NOTE, budget_nb, skipped_nb, whole_nb


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
def pair_stop_nb(value, base, peak, held, risk):
    """The stop or target reached by the pair's combined `value` (an `ExitReason` code, -1 for none), `held`
    bars into the trade (this bar included): the loss side first (stop loss base x (1 - stop_loss) or trail
    peak x (1 - trailing_stop), the higher level acts, the stop loss on a tie; the trail only once peak >=
    base x (1 + trailing_stop_activation) when an activation is set), then the take profit base x
    (1 + take_profit), or the take_profit_by_bars row of `held` bars (`table_take_profit_nb`)."""
    tsl = risk.trailing_stop
    tp = risk.take_profit
    if risk.take_profit_rows > 0:
        tp = table_take_profit_nb(risk, held)
    act = risk.trailing_stop_activation
    if not np.isnan(act) and not peak >= base * (1 + act):
        tsl = np.nan  # not activated yet: no trail
    level = np.nan
    reason = -1
    if not np.isnan(risk.stop_loss):
        level = base * (1 - risk.stop_loss)
        reason = ExitReason.stop_loss
    if not np.isnan(tsl):
        trail = peak * (1 - tsl)
        if np.isnan(level) or trail > level:
            level = trail
            reason = ExitReason.trailing_stop
    if not np.isnan(level) and value <= level:
        return reason
    if not np.isnan(tp) and value >= base * (1 + tp):
        return ExitReason.take_profit
    return -1


@numba.njit(cache=True, inline="always")
def pair_marked_nb(pa, value):
    """Leg a with the pair's extremes moved by its combined `value` at an open or close: leg a's POS_PEAK and
    POS_FAR hold the highest and lowest value of the pair since its entry (the trailing stop's peak, and
    highest_since_entry / lowest_since_entry), never a leg's own price."""
    return set_nb(set_nb(pa, POS_PEAK, max(pa[POS_PEAK], value)), POS_FAR, min(pa[POS_FAR], value))


@numba.njit(cache=True, inline="always")
def leg_nb(t, adj, units, fees, side):
    """A leg of `units` whole units opened on bar t at `adj` (after slippage), its fee on top: `enter_nb`'s
    position for a size given in units (whole_units)."""
    cost = units * adj
    return (side, units, adj, adj, cost + cost * fees, cost * fees, float(t), 0.0, np.nan, np.nan, adj)


@numba.njit(cache=True, inline="always")
def enter_pair_nb(t, fill_a, fill_b, equity, cash, in_portfolio, hedge, volatility, side, hedge_units, risk):
    """Both legs opened on bar t at fill prices (fill_a, fill_b); side 1.0 long the pair (long a, short b), -1.0
    short the pair: (leg a, leg b, cash spent fees included, note), the legs flat when the entry is skipped
    (`note` a `SizeNote` skip reason; -1 or ``capped_by_cash`` otherwise).

    The budget is `ruleengine.kernels.sizing.budget_nb`'s on `equity`, paid from `cash`, for a position whose
    "price" is its value per unit of value at entry (adj 1.0): position_size_pct of the equity,
    position_size_cash, risk_per_trade_pct (the stop loss fraction is the distance: hitting the stop on the
    pair's value V0 x (1 - stop_loss) loses the percentage of the equity, plus fees and slippage) or
    volatility_target_pct (`volatility` the pair's, read at the signal bar). It is split at the hedge ratio:
    units_b = hedge x units_a (`hedge_units`), else leg b's value = hedge x leg a's. With whole_units leg a
    is rounded down, and leg b sized from leg a's whole units at the hedge ratio, rounded down (the hedge ratio
    kept as closely as whole units allow, never above the budget; 0 units in either leg: ``zero_units``)."""
    slip = risk.slippage
    fees = risk.fees
    stop = risk.stop_loss if not np.isnan(risk.risk_per_trade) else np.nan  # else unread
    budget, note = budget_nb(1.0, equity, cash, stop, volatility, in_portfolio, risk)
    if skipped_nb(note):
        return flat_nb(), flat_nb(), 0.0, note
    adj_a = slipped_nb(fill_a, side, slip)
    if hedge_units:  # units_b = hedge x units_a: budget_a / budget = price_a / (price_a + hedge x price_b)
        budget_a = budget * adj_a / (adj_a + hedge * slipped_nb(fill_b, -side, slip))
    else:  # value_b = hedge x value_a
        budget_a = budget / (1.0 + hedge)
    if risk.whole_units:
        adj_b = slipped_nb(fill_b, -side, slip)
        units_a = whole_nb(budget_a, adj_a, fees)
        units_b = np.floor(hedge * units_a) if hedge_units else np.floor(hedge * units_a * adj_a / adj_b)
        if units_a == 0.0 or units_b == 0.0:
            return flat_nb(), flat_nb(), 0.0, SizeNote.zero_units
        pa = leg_nb(t, adj_a, units_a, fees, side)
        pb = leg_nb(t, adj_b, units_b, fees, -side)
        budget = pa[POS_SPENT] + pb[POS_SPENT]
    else:
        pa = enter_nb(t, fill_a, budget_a, slip, fees, side)
        pb = enter_nb(t, fill_b, budget - budget_a, slip, fees, -side)
    base = entry_value_nb(pa, pb)
    return set_nb(set_nb(pa, POS_PEAK, base), POS_FAR, base), pb, budget, note


@numba.njit(cache=True, inline="always")
def own_pair_entry_nb(pa, pb, t, fill_a, fill_b, cash, hedge, volatility, side, hedge_units, risk):
    """An entry of a pair that trades its own cash (flat: its equity is its cash): (leg a, leg b, cash, note);
    skipped, the legs stay as they are."""
    ea, eb, spent, note = enter_pair_nb(t, fill_a, fill_b, cash, cash, False, hedge, volatility, side, hedge_units,
                                        risk)
    if ea[POS_IN] == 0.0:
        return pa, pb, cash, note
    return ea, eb, cash - spent, note


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
def pair_signals_nb(entries, exits, short_entries, short_exits, levels, q, t, pend, exec_open, last_bar, program,
                    risk):
    """What acts on bar t of signal column q: (the intents, `intents_nb`; the hedge ratio and the volatility of
    their signal bar, NaN without an entry; the new pending signals). `pend` and the result's last item are the
    signals pending since the previous close (long entry, long exit, short entry, short exit; open fills);
    `last_bar` is the previous bar both legs traded (an open fill's signal bar); `program` the exit program's
    truth at this close for (the exit, the short exit) (close fills: it joins this bar's exit signals,
    `pair_program_nb`)."""
    e, x, pend_e, pend_x = signals_nb(pend[0], pend[1], exec_open, entries[q, t], exits[q, t])
    x = x or program[0]
    # long_short read at run time (the single-leg loops take it as a literal for long-only speed; a pair's bar
    # costs two legs anyway)
    se_t, sx_t = short_signals_nb(short_entries, short_exits, q, t, risk.long_short)
    se, sx, pend_se, pend_sx = signals_nb(pend[2], pend[3], exec_open, se_t, sx_t)
    sx = sx or program[1]
    it = intents_nb(e, x, se, sx, risk, risk.long_short)
    hedge = volatility = np.nan
    if it[0] or it[2]:
        bar = last_bar if exec_open else t
        hedge = level_nb(levels, risk.hedge_ratio_row, q, bar)
        volatility = level_nb(levels, risk.volatility_row, q, bar)
    return it, hedge, volatility, (pend_e, pend_x, pend_se, pend_sx)


@numba.njit(cache=True, inline="always")
def pair_variables_nb(pa, pb, value):
    """The position variables of a held pair whose combined value is `value` at a bar's close
    (`ruleengine.lang.position` order): entry_price is the pair's value at entry V0 (the base of its stops),
    bars_held its bars, unrealized_pct (value / V0 - 1) x 100, highest_since_entry / lowest_since_entry the
    highest / lowest value since the entry (V0, then the values at each open and close)."""
    base = entry_value_nb(pa, pb)
    return (base, pa[POS_HELD], (value / base - 1.0) * 100.0, pa[POS_PEAK], pa[POS_FAR])


@numba.njit(cache=True)
def pair_program_nb(pa, pb, oa, ob, ca, cb, now, entry_time, ahead, ops, args, levels, risk, q, t, stack):
    """The exit program of the held pair's side (`ruleengine.kernels.exit_program`; a long_short strategy's short
    pair runs ``short_exit``'s, any other the ``exit`` block's: `exit_program_nb` says where each is) at the close
    of bar t (signal column q), on its position variables (`pair_variables_nb`): (its truth for the exit, for the
    short exit), False for a side without a program. With `ahead` (close fills, called before the bar's step) the
    pair as it stands at this close if no stop acts first: a bar more held, its extremes moved by its values at
    this open and close; else (open fills) the pair after the step, the truth pending for the next open. Not
    inlined, behind the caller's guard (`exit_program_nb` says why)."""
    short_side = risk.long_short and pa[POS_IN] < 0.0
    row = risk.short_exit_program_row if short_side else risk.exit_program_row
    if row < 0:
        return False, False
    value = pair_value_nb(pa, pb, ca, cb, now, entry_time, risk)
    if ahead:
        pa = set_nb(pa, POS_HELD, pa[POS_HELD] + 1.0)
        pa = pair_marked_nb(pair_marked_nb(pa, pair_value_nb(pa, pb, oa, ob, now, entry_time, risk)), value)
    begin, end = (risk.exit_program_end, ops.shape[0]) if short_side else (0, risk.exit_program_end)
    hit = run_exit_program_nb(ops, args, begin, end, levels, row, q, t, pair_variables_nb(pa, pb, value), stack)
    return hit and not short_side, hit and short_side


@numba.njit(cache=True, inline="always")
def pair_open_nb(pa, pb, cash, oa, ob, now, entry_time, closing, exec_open, risk):
    """The open of a bar for a pair held before it: a bar more held, then the exit order pending there (open
    fills, `closing`) or a gap through a stop level (`pair_stop_nb` on the values at the opens), else its
    extremes moved by its value at the open: (leg a, leg b, cash, exit, reason code or -1)."""
    pa = set_nb(pa, POS_HELD, pa[POS_HELD] + 1.0)  # this bar is held from its open (the take-profit table)
    value = pair_value_nb(pa, pb, oa, ob, now, entry_time, risk)
    reason = ExitReason.signal if exec_open and closing else \
        pair_stop_nb(value, entry_value_nb(pa, pb), pa[POS_PEAK], pa[POS_HELD], risk)
    if reason >= 0:
        pa, pb, cash, ex = leave_pair_nb(pa, pb, oa, ob, reason, cash, now, entry_time, risk)
        return pa, pb, cash, ex, reason
    return pair_marked_nb(pa, value), pb, cash, no_pair_exit_nb(), reason


@numba.njit(cache=True, inline="always")
def pair_close_nb(pa, pb, cash, t, ca, cb, now, entry_time, closing, exec_open, risk):
    """The close of bar t for a pair held after its open: the stops on the values at the closes, the exit
    signal (close fills, `closing`), max hold (neither on the bar of an entry at its open), else its extremes
    moved by its value at the close: (leg a, leg b, cash, exit, reason code or -1)."""
    new = exec_open and pa[POS_ENTRY_BAR] == t  # entered at this bar's open: its stops only
    if new:
        entry_time = now
    held = pa[POS_HELD]
    value = pair_value_nb(pa, pb, ca, cb, now, entry_time, risk)
    reason = pair_stop_nb(value, entry_value_nb(pa, pb), pa[POS_PEAK], held, risk)
    if reason < 0 and not new:
        if closing and not exec_open:
            reason = ExitReason.signal
        elif max_hold_nb(held, now, entry_time, risk):
            reason = ExitReason.max_hold
    if reason >= 0:
        pa, pb, cash, ex = leave_pair_nb(pa, pb, ca, cb, reason, cash, now, entry_time, risk)
        return pa, pb, cash, ex, reason
    return pair_marked_nb(pa, value), pb, cash, no_pair_exit_nb(), reason


@numba.njit(cache=True, inline="always")
def pair_bar_step_nb(pa, pb, cash, t, oa, ob, ca, cb, now, entry_time, it, hedge, volatility, exec_open, hedge_units,
                     risk):
    """Bar t of a pair that trades its own cash, in time order, both legs having a bar: (leg a, leg b, cash, exit
    at the open, exit at the close, note).

    The open (`pair_open_nb`), an entry (open fills), the close (`pair_close_nb`), an entry (close fills). An
    entry needs the pair flat at the start of the bar, or closed on it by the opposite entry's signal (a
    reversal), a hedge ratio > 0 and cash > 0; it is sized by `enter_pair_nb` (``note`` -1, or the `SizeNote`
    of an entry skipped or cut to the cash). `it`, `hedge` and `volatility` are `pair_signals_nb`'s; ``now``
    bar t's time, ``entry_time`` the entry bar's of a pair held before the bar. The pair's value at entry,
    bars held and extremes live in leg a (`entry_value_nb`, POS_HELD, `pair_marked_nb`). An exit is
    `leave_pair_nb`'s (reason -1: none).
    """
    want = entry_side_nb(it)
    side = pa[POS_IN]
    closing = side != 0.0 and closes_nb(side, it)
    may_enter = want != 0.0 and (side == 0.0 or closing) and hedge > 0 and np.isfinite(hedge)
    at_open = no_pair_exit_nb()
    at_close = no_pair_exit_nb()
    note = NO_NOTE
    reason = -1
    if side != 0.0:
        pa, pb, cash, at_open, reason = pair_open_nb(pa, pb, cash, oa, ob, now, entry_time, closing, exec_open, risk)
    if exec_open and may_enter and (side == 0.0 or reason == ExitReason.signal) and cash > 0:
        pa, pb, cash, note = own_pair_entry_nb(pa, pb, t, oa, ob, cash, hedge, volatility, want, hedge_units, risk)
    if pa[POS_IN] != 0.0:
        pa, pb, cash, at_close, reason = pair_close_nb(pa, pb, cash, t, ca, cb, now, entry_time, closing, exec_open,
                                                       risk)
    if not exec_open and may_enter and (side == 0.0 or reason == ExitReason.signal) and cash > 0:
        pa, pb, cash, note = own_pair_entry_nb(pa, pb, t, ca, cb, cash, hedge, volatility, want, hedge_units, risk)
    return pa, pb, cash, at_open, at_close, note


def simulate_pairs_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits,
                      short_entries, short_exits, levels, exit_ops, exit_args, times, start, risk, hedge_units,
                      init_cash, max_trades):
    """Independent pair runs: column q trades leg a (the ``*_a`` prices' row q) against leg b with its own
    `init_cash`. Signals, levels, the exit program (``exit_ops`` / ``exit_args``), times, start and risk as
    `simulate.simulate_nb` takes them (the hedge ratio is the level row ``risk.hedge_ratio_row``);
    `hedge_units` True sizes units_b = hedge x units_a.

    Returns (records (`pair_trade_dt`), n_trades, equity, cash, units of leg a, units of leg b, notes, n_notes),
    equity, cash and units (N, T), units negative for a short leg; ``notes`` (`skip_dt`, the first
    ``max_trades``) the entries skipped or cut down to the cash, ``n_notes`` counts them all. The columns run by
    ``exec_open`` (`ruleengine.kernels.modes`: each fill mode's loop is compiled only when a run uses it),
    records merged back in column order.
    """
    N, T = close_a.shape
    records = np.empty(max_trades, dtype=pair_trade_dt)
    skip = np.empty(max_trades, dtype=skip_dt)
    equity = np.empty((N, T))
    cash_out = np.empty((N, T))
    units_a = np.empty((N, T))
    units_b = np.empty((N, T))
    n = n_skip = 0
    groups = columns_by_mode(risk)
    for mode, cols in groups:
        n, n_skip = simulate_pairs_entry(mode.exec_open)(
            open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits, short_entries,
            short_exits, levels, exit_ops, exit_args, times, start, risk, hedge_units, init_cash, cols, records, n,
            equity, cash_out, units_a, units_b, skip, n_skip)
    in_column_order(records, n, len(groups) > 1)
    in_column_order(skip, min(n_skip, max_trades), len(groups) > 1)
    return records, n, equity, cash_out, units_a, units_b, skip[:min(n_skip, max_trades)], n_skip


@per_mode
def simulate_pairs_entry(exec_open: bool):
    """The compiled loop over the pair columns `cols` of one ``exec_open`` (a literal of the closure)."""

    @numba.njit(cache=True)
    def simulate_pairs_mode_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits,
                               short_entries, short_exits, levels, exit_ops, exit_args, times, start, risk,
                               hedge_units, init_cash, cols, records, n, equity, cash_out, units_a, units_b, skip,
                               n_skip):
        for q in cols:
            n, n_skip = _pair_column_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries,
                                        exits, short_entries, short_exits, levels, exit_ops, exit_args, times, start,
                                        q, risk[q], exec_open, hedge_units, init_cash, records, n, equity, cash_out,
                                        units_a, units_b, skip, n_skip)
        return n, n_skip

    return simulate_pairs_mode_nb


@numba.njit(cache=True, inline="always")
def pair_program_before_nb(pa, pb, oa, ob, ca, cb, now, entry_time, has_program, exec_open, ops, args, levels, risk,
                           q, t, stack):
    """The exit program's truth that joins bar t's exit signals (close fills, a held pair: `pair_program_nb`'s
    (exit, short exit)); (False, False) otherwise. A column loop's call before `pair_signals_nb`."""
    if has_program and not exec_open and pa[POS_IN] != 0.0:
        return pair_program_nb(pa, pb, oa, ob, ca, cb, now, entry_time, True, ops, args, levels, risk, q, t, stack)
    return False, False


@numba.njit(cache=True, inline="always")
def pair_program_after_nb(pend, pa, pb, oa, ob, ca, cb, now, entry_time, has_program, exec_open, ops, args, levels,
                          risk, q, t, stack):
    """The pending signals after bar t's step, the exit program's truth on the pair after the step pending for
    the next open as the held side's exit (open fills, a held pair). A column loop's call after
    `pair_bar_step_nb`."""
    if has_program and exec_open and pa[POS_IN] != 0.0:
        x, sx = pair_program_nb(pa, pb, oa, ob, ca, cb, now, entry_time, False, ops, args, levels, risk, q, t, stack)
        return (pend[0], pend[1] or x, pend[2], pend[3] or sx)
    return pend


@numba.njit(cache=True)
def _pair_column_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits, short_entries,
                    short_exits, levels, exit_ops, exit_args, times, start, q, risk, exec_open, hedge_units, init_cash,
                    records, n, equity, cash_out, units_a, units_b, skip, n_skip):
    """Pair column q of `simulate_pairs_nb`: each bar where both legs trade through `pair_bar_step_nb` (the exit
    program around it), its closed pairs recorded, its entries skipped or cut noted; returns (n, n_skip)."""
    T = close_a.shape[1]
    risk = on_stack_nb(risk)  # type: ignore[call-arg]  # numba passes the typing context
    stack = exit_stack_nb()
    has_program = has_exit_program_nb(risk)
    pa = flat_nb()
    pb = flat_nb()
    cash = init_cash
    pend = (False, False, False, False)
    last_a = last_b = np.nan  # each leg's last close, its mark while the other leg has no bar
    last_bar_a = last_bar_b = -1
    last_bar = -1  # the last bar both legs traded: the signal bar of an order pending at the open
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
        now = times[t]
        program = pair_program_before_nb(pa, pb, oa, ob, ca, cb, now, entry_time_nb(pa, times, risk), has_program,
                                           exec_open, exit_ops, exit_args, levels, risk, q, t, stack)
        it, hedge, vol, pend = pair_signals_nb(entries, exits, short_entries, short_exits, levels, q, t, pend,
                                               exec_open, last_bar, program, risk)
        pa, pb, cash, at_open, at_close, note = pair_bar_step_nb(
            pa, pb, cash, t, oa, ob, ca, cb, now, entry_time_nb(pa, times, risk), it, hedge, vol, exec_open,
            hedge_units, risk)
        for ex in (at_open, at_close):
            if ex[0] >= 0:
                n = record_pair_nb(records, n, q, ex[1], ex[2], ex[3], ex[4], t)
        if note >= 0:
            n_skip = note_nb(skip, n_skip, t, q, note)
        pend = pair_program_after_nb(pend, pa, pb, oa, ob, ca, cb, now, entry_time_nb(pa, times, risk), has_program,
                                     exec_open, exit_ops, exit_args, levels, risk, q, t, stack)
        last_bar = t
        equity[q, t] = cash + pair_value_nb(pa, pb, ca, cb, now, entry_time_nb(pa, times, risk), risk)
        cash_out[q, t] = cash
        units_a[q, t] = held_units_nb(pa)
        units_b[q, t] = held_units_nb(pb)
    if pa[POS_IN] != 0.0:  # still open: each leg marked at its last close, no exit order, fee or slippage
        end = max(last_bar_a, last_bar_b)
        pa, pb, exa, exb = mark_out_pair_nb(pa, pb, last_a, last_b, times[end], entry_time_nb(pa, times, risk),
                                            risk)
        n = record_pair_nb(records, n, q, pa, exa, pb, exb, end)
    return n, n_skip
