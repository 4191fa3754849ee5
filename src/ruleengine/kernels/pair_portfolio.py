"""A portfolio of pairs: several pair columns sharing one cash account (numpy + numba only).

Column j trades leg a (the ``*_a`` prices' row j) against leg b (the ``*_b`` prices' row j) as one position,
through the pair's own phases (`ruleengine.kernels.pairs`: `pair_open_nb`, `enter_pair_nb`, `pair_close_nb`),
in the order of the single-symbol portfolio (`ruleengine.kernels.simulate._portfolio_nb`): each bar, every
phase over all columns in column order: the open (the pending exit order or a gap through a stop), the entries
at the open (open fills), the close (stops, the exit signal, max hold), the entries at the close (close
fills), the marks. A column acts on a bar only when both its legs have one.

An entry is sized on the portfolio's equity before the phase's entries (cash + every held pair at this open or
close, at its legs' last closes where one has no bar), never cut down to the cash (skipped: ``SizeNote.cash``),
and skipped when ``max_open_positions`` pairs are held (a pair is one position) or when the gross exposure
would pass ``max_gross_exposure`` x that equity: both legs of every pair count, units x price, the held ones
at this open or close, the ones entered in this phase at their entry prices.
"""
import numpy as np

from ._numba import numba  # numba with the kernel cache stamp installed
from .enums import ExitReason, SizeNote, pair_trade_dt, skip_dt
from .modes import per_mode
from .pairs import (
    enter_pair_nb,
    mark_out_pair_nb,
    pair_close_nb,
    pair_open_nb,
    pair_program_after_nb,
    pair_program_before_nb,
    pair_signals_nb,
    pair_value_nb,
    record_pair_nb,
)
from .simulate import (
    N_POS,
    POS_ENTRY,
    POS_IN,
    POS_UNITS,
    admit_nb,
    bar_nb,
    closes_nb,
    entry_side_nb,
    entry_time_nb,
    exit_stack_nb,
    flat_nb,
    has_exit_program_nb,
    held_units_nb,
    load_nb,
    note_nb,
    store_nb,
)


def simulate_pairs_portfolio_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits,
                                short_entries, short_exits, levels, exit_ops, exit_args, times, start, risk,
                                hedge_units, init_cash, max_trades):
    """One shared cash account over the N pair columns (``exec_open`` the same in every risk record); arguments
    as `ruleengine.kernels.pairs.simulate_pairs_nb`. Returns (records (`pair_trade_dt`), n_trades, equity
    (1, T), cash (1, T), units of leg a (N, T), units of leg b (N, T), notes (`skip_dt`), n_notes): the
    skipped entries in time order."""
    exec_open = bool(risk.shape[0] > 0 and risk[0]["exec_open"])
    return pairs_portfolio_entry(exec_open)(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries,
                                            exits, short_entries, short_exits, levels, exit_ops, exit_args, times,
                                            start, risk, hedge_units, init_cash, max_trades)


@per_mode
def pairs_portfolio_entry(exec_open: bool):
    """The compiled portfolio of pairs for one ``exec_open`` (a literal of the closure)."""

    @numba.njit(cache=True)
    def pairs_portfolio_mode_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits,
                                short_entries, short_exits, levels, exit_ops, exit_args, times, start, risk,
                                hedge_units, init_cash, max_trades):
        return _pairs_portfolio_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits,
                                   short_entries, short_exits, levels, exit_ops, exit_args, times, start, risk,
                                   exec_open, hedge_units, init_cash, max_trades)

    return pairs_portfolio_mode_nb


@numba.njit(cache=True)
def _pairs_portfolio_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits,
                        short_entries, short_exits, levels, exit_ops, exit_args, times, start, risk, exec_open,
                        hedge_units, init_cash, max_trades):
    N, T = close_a.shape
    records = np.empty(max_trades, dtype=pair_trade_dt)
    skip = np.empty(max_trades, dtype=skip_dt)
    n = n_skip = 0
    equity = np.empty((1, T))
    cash_out = np.empty((1, T))
    units_a = np.zeros((N, T))
    units_b = np.zeros((N, T))
    rows_a = np.empty((N, N_POS))
    rows_b = np.empty((N, N_POS))
    for j in range(N):
        store_nb(rows_a, j, flat_nb())
        store_nb(rows_b, j, flat_nb())
    pend = np.zeros((N, 4), dtype=np.bool_)  # signals pending since the previous close (open fills)
    its = np.zeros((N, 4), dtype=np.bool_)  # the bar's intents per column
    may_enter = np.zeros(N, dtype=np.bool_)  # flat at the bar's start, or closed on it by the opposite entry
    closing = np.zeros(N, dtype=np.bool_)
    hedges = np.full(N, np.nan)  # the hedge ratio and volatility of each column's acting entry signal
    vols = np.full(N, np.nan)
    last_a = np.full(N, np.nan)  # each leg's last close
    last_b = np.full(N, np.nan)
    last_bar = np.full(N, -1, dtype=np.int64)  # the last bar both legs traded (an open fill's signal bar)
    last_bar_a = np.full(N, -1, dtype=np.int64)
    last_bar_b = np.full(N, -1, dtype=np.int64)
    stack = exit_stack_nb()
    cash = init_cash
    for t in range(T):
        if t < start:
            equity[0, t] = cash
            cash_out[0, t] = cash
            continue
        now = times[t]
        for j in range(N):  # the open
            may_enter[j] = False
            if np.isnan(close_a[j, t]) or np.isnan(close_b[j, t]):
                continue
            oa, _h, _lo, ca = bar_nb(open_a, high_a, low_a, close_a, j, t)
            ob, _h, _lo, cb = bar_nb(open_b, high_b, low_b, close_b, j, t)
            pa, pb = load_nb(rows_a, j), load_nb(rows_b, j)
            entry_time = entry_time_nb(pa, times, risk[j])
            program = pair_program_before_nb(pa, pb, oa, ob, ca, cb, now, entry_time, has_exit_program_nb(risk[j]),
                                             exec_open, exit_ops, exit_args, levels, risk[j], j, t, stack)
            it, hedge, vol, p = pair_signals_nb(entries, exits, short_entries, short_exits, levels, j, t,
                                                (pend[j, 0], pend[j, 1], pend[j, 2], pend[j, 3]), exec_open,
                                                last_bar[j], program, risk[j])
            hedges[j] = hedge
            vols[j] = vol
            pend[j, 0], pend[j, 1], pend[j, 2], pend[j, 3] = p
            its[j, 0], its[j, 1], its[j, 2], its[j, 3] = it
            side = pa[POS_IN]
            closing[j] = side != 0.0 and closes_nb(side, it)
            may_enter[j] = side == 0.0
            if side != 0.0:
                pa, pb, cash, ex, reason = pair_open_nb(pa, pb, cash, oa, ob, now, entry_time, closing[j], exec_open,
                                                        risk[j])
                if ex[0] >= 0:
                    n = record_pair_nb(records, n, j, ex[1], ex[2], ex[3], ex[4], t)
                    may_enter[j] = reason == ExitReason.signal  # an opposite entry reverses at this open
                store_nb(rows_a, j, pa)
                store_nb(rows_b, j, pb)
        if exec_open:
            cash, n_skip = _enter_pairs_nb(rows_a, rows_b, t, open_a, high_a, low_a, close_a, open_b, high_b, low_b,
                                           close_b, times, its, may_enter, hedges, vols, risk, hedge_units, cash,
                                           last_a, last_b, True, skip, n_skip)
        for j in range(N):  # the close
            if np.isnan(close_a[j, t]) or np.isnan(close_b[j, t]) or rows_a[j, POS_IN] == 0.0:
                continue
            oa, _h, _lo, ca = bar_nb(open_a, high_a, low_a, close_a, j, t)
            ob, _h, _lo, cb = bar_nb(open_b, high_b, low_b, close_b, j, t)
            pa, pb = load_nb(rows_a, j), load_nb(rows_b, j)
            pa, pb, cash, ex, reason = pair_close_nb(pa, pb, cash, t, ca, cb, now, entry_time_nb(pa, times, risk[j]),
                                                     closing[j], exec_open, risk[j])
            if ex[0] >= 0:
                n = record_pair_nb(records, n, j, ex[1], ex[2], ex[3], ex[4], t)
                may_enter[j] = may_enter[j] or reason == ExitReason.signal  # the opposite entry reverses
            store_nb(rows_a, j, pa)
            store_nb(rows_b, j, pb)
        if not exec_open:
            cash, n_skip = _enter_pairs_nb(rows_a, rows_b, t, open_a, high_a, low_a, close_a, open_b, high_b, low_b,
                                           close_b, times, its, may_enter, hedges, vols, risk, hedge_units, cash,
                                           last_a, last_b, False, skip, n_skip)
        value = cash  # the marks (and, open fills, the exit program pending for the next open)
        for j in range(N):
            if not np.isnan(close_a[j, t]):
                last_a[j], last_bar_a[j] = close_a[j, t], t
            if not np.isnan(close_b[j, t]):
                last_b[j], last_bar_b[j] = close_b[j, t], t
            pa, pb = load_nb(rows_a, j), load_nb(rows_b, j)
            if not (np.isnan(close_a[j, t]) or np.isnan(close_b[j, t])):
                oa, _h, _lo, ca = bar_nb(open_a, high_a, low_a, close_a, j, t)
                ob, _h, _lo, cb = bar_nb(open_b, high_b, low_b, close_b, j, t)
                p = pair_program_after_nb((pend[j, 0], pend[j, 1], pend[j, 2], pend[j, 3]), pa, pb, oa, ob, ca, cb,
                                          now, entry_time_nb(pa, times, risk[j]), has_exit_program_nb(risk[j]),
                                          exec_open, exit_ops, exit_args, levels, risk[j], j, t, stack)
                pend[j, 1], pend[j, 3] = p[1], p[3]
                last_bar[j] = t
            value += pair_value_nb(pa, pb, last_a[j], last_b[j], now, entry_time_nb(pa, times, risk[j]), risk[j])
            units_a[j, t] = held_units_nb(pa)
            units_b[j, t] = held_units_nb(pb)
        equity[0, t] = value
        cash_out[0, t] = cash
    for j in range(N):
        if rows_a[j, POS_IN] != 0.0:  # still open: each leg marked at its last close
            pa, pb = load_nb(rows_a, j), load_nb(rows_b, j)
            end = max(last_bar_a[j], last_bar_b[j])
            pa, pb, exa, exb = mark_out_pair_nb(pa, pb, last_a[j], last_b[j], times[end],
                                                entry_time_nb(pa, times, risk[j]), risk[j])
            n = record_pair_nb(records, n, j, pa, exa, pb, exb, end)
    return records, n, equity, cash_out, units_a, units_b, skip[:min(n_skip, max_trades)], n_skip


@numba.njit(cache=True, inline="always")
def _enter_pairs_nb(rows_a, rows_b, t, open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, times, its,
                    may_enter, hedges, vols, risk, hedge_units, cash, last_a, last_b, at_open, skip, n_skip):
    """The entries of bar t at its open or close, in column order: (cash, n_skip). A column enters when
    `may_enter`, its intents hold an entry and its hedge ratio is > 0; sized by `enter_pair_nb` on the equity
    before the phase's entries, skipped (noted) for want of cash or by a cap (see the module docstring)."""
    N = rows_a.shape[0]
    wanted = False
    for j in range(N):
        wanted = wanted or (may_enter[j] and (its[j, 0] or its[j, 2]))
    if not wanted:
        return cash, n_skip
    now = times[t]
    value = cash
    gross = 0.0
    held = 0
    for j in range(N):
        if rows_a[j, POS_IN] != 0.0:
            if np.isnan(close_a[j, t]) or np.isnan(close_b[j, t]):
                mark_a, mark_b = last_a[j], last_b[j]
            elif at_open:
                mark_a = bar_nb(open_a, high_a, low_a, close_a, j, t)[0]
                mark_b = bar_nb(open_b, high_b, low_b, close_b, j, t)[0]
            else:
                mark_a, mark_b = close_a[j, t], close_b[j, t]
            pa, pb = load_nb(rows_a, j), load_nb(rows_b, j)
            value += pair_value_nb(pa, pb, mark_a, mark_b, now, entry_time_nb(pa, times, risk[j]), risk[j])
            gross += pa[POS_UNITS] * mark_a + pb[POS_UNITS] * mark_b
            held += 1
    for j in range(N):
        side = entry_side_nb((its[j, 0], its[j, 1], its[j, 2], its[j, 3]))
        hedge = hedges[j]
        if not may_enter[j] or side == 0.0 or rows_a[j, POS_IN] != 0.0 or value <= 0 or not \
                (hedge > 0 and np.isfinite(hedge)):
            continue
        if 0 < risk[j].max_open_positions <= held:
            n_skip = note_nb(skip, n_skip, t, j, SizeNote.max_open_positions)
            continue
        oa, _h, _lo, ca = bar_nb(open_a, high_a, low_a, close_a, j, t)
        ob, _h, _lo, cb = bar_nb(open_b, high_b, low_b, close_b, j, t)
        ea, eb, spent, note = enter_pair_nb(t, oa if at_open else ca, ob if at_open else cb, value, cash, True, hedge,
                                            vols[j], side, hedge_units, risk[j])
        exposure = ea[POS_UNITS] * ea[POS_ENTRY] + eb[POS_UNITS] * eb[POS_ENTRY]
        admitted, n_skip = admit_nb(ea[POS_IN], note, gross, exposure, risk[j].max_gross_exposure, value, skip,
                                    n_skip, t, j)
        if not admitted:
            continue
        store_nb(rows_a, j, ea)
        store_nb(rows_b, j, eb)
        cash -= spent
        gross += exposure
        held += 1
    return cash, n_skip
