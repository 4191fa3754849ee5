"""Fused sweep kernel: the fill contract + the ranking metrics in one pass per column (numpy + numba only).

A sweep evaluates many (parameter set x symbol) columns and keeps only their metrics, so this kernel runs
the simulation of `ruleengine.kernels.simulate.simulate_nb` (same fill contract, same arithmetic: every bar
goes through that module's fill step `bar_step_nb`, which opens and closes the position) and accumulates,
instead of trade records and an equity curve, the sums the metrics are derived from
(`ruleengine.sweep.stats`). Memory per column is one row of `N_STATS` floats, whatever the number of bars.

Layout (as in `simulate.py`): prices are (S, T) C-ordered, one row per symbol; signals (Q, T) C-ordered,
one row per signal column of the chunk (the transpose of the compiler's F-ordered (T, Q) output, no
copy). Column c of the sweep reads prices row ``sym[c]`` and signal row ``sig[c]``, with its own risk
record ``risk[c]`` (the record of `simulate.py`), so risk values sweep without recomputing signals. A
symbol's run covers rows ``[lo[s], hi[s])``: its first to last bar with a close at or after the requested
start, exactly the bars `ruleengine.backtest` computes a run's metrics on (rows outside hold no close of
that symbol, so nothing can happen there).

Accumulated per column (indices are the module constants; the metric formulas are in
`ruleengine.backtest.metrics`):

- FINAL equity at the last bar of the run; TRADES, WINS (pnl > 0), LOSSES (pnl < 0), GROSS_PROFIT (sum of
  winning pnl), GROSS_LOSS (sum of losing pnl, negative), WIN_PCT / LOSS_PCT (sums of pnl %), BEST_PCT /
  WORST_PCT, HOLD_BARS (sum of exit_bar - entry_bar) and HOLD_DAYS (sum of calendar days held); a position
  open at the end counts as a trade marked at its last close (end_of_data).
- MAX_DD: the largest (peak - equity) / peak, the peak starting at the initial cash (a fraction).
- RET_SUM, RET_SQ, NEG_SQ, N_RET: sum of the bar returns r = equity / previous equity - 1 (the first bar
  against the initial cash), of r^2, of min(r, 0)^2, and how many were finite.
- BARS (bars of the run) and IN_MARKET (bars ending with a position held).
- NO_STOP / NO_TARGET: trades left without their distance stop / target because the stop_loss_distance /
  take_profit_distance at the entry signal's bar was <= 0 or NaN (`arm_nb` decides, `unarmed_nb` reads its
  decision back from the closed position): what warning L123 reports.
- LONG_TRADES, LONG_WINS, LONG_PNL and SHORT_TRADES, SHORT_WINS, SHORT_PNL: the trade count, winners (pnl > 0)
  and summed pnl of each side (a pair's side is its first leg's), the long/short split of a backtest.
  These two groups are added as a trade closes (the trade path), never per bar: a long-only sweep costs the
  same (measured on the golden-cross grid of 1,590 combinations: the kernel's CPU time unchanged).

Parallelism: `sweep_nb` works on a column range [c0, c1) through entries that release the GIL (``nogil=True``), so the
caller runs blocks or chunks on threads (see `ruleengine.sweep.run`); no numba threading layer is
involved, which keeps concurrent calls from several Python threads (Dask workers) safe.

Cache: numba keys its on-disk cache on a function's own file only; `_cache_stamp` adds every kernel file this
one imports (`simulate.py`'s helpers among them), so an edit there recompiles the sweep kernel too.
"""
import numpy as np

from ._numba import numba  # numba with the kernel cache stamp installed
from .modes import FillMode, columns_by_mode, per_mode
from .pairs import (
    mark_out_pair_nb,
    pair_bar_step_nb,
    pair_program_after_nb,
    pair_program_before_nb,
    pair_signals_nb,
    pair_value_nb,
)
from .simulate import (
    EXIT_FEE,
    EXIT_GROSS,
    EXIT_REASON,
    EXIT_UNITS,
    ORD_LEFT,
    POS_ENTRY_BAR,
    POS_IN,
    POS_SPENT,
    advance_nb,
    bar_levels_nb,
    bar_nb,
    bar_step_nb,
    borrow_nb,
    entry_time_nb,
    exit_order_level_nb,
    exit_program_nb,
    exit_stack_nb,
    flat_nb,
    has_exit_program_nb,
    intents_nb,
    mark_out_nb,
    no_order_nb,
    on_stack_nb,
    short_signals_nb,
    signals_nb,
    unarmed_nb,
    worth_nb,
)

FINAL = 0
TRADES = 1
WINS = 2
LOSSES = 3
GROSS_PROFIT = 4
GROSS_LOSS = 5
WIN_PCT = 6
LOSS_PCT = 7
BEST_PCT = 8
WORST_PCT = 9
MAX_DD = 10
RET_SUM = 11
RET_SQ = 12
NEG_SQ = 13
N_RET = 14
BARS = 15
IN_MARKET = 16
HOLD_BARS = 17
HOLD_DAYS = 18
NO_STOP = 19
NO_TARGET = 20
LONG_TRADES = 21  # LONG_TRADES + SIDE_WINS / SIDE_PNL: the long side's wins and pnl
SHORT_TRADES = 24  # the same three for the short side
SIDE_WINS = 1
SIDE_PNL = 2
N_STATS = 27
STAT_NAMES = ("final", "trades", "wins", "losses", "gross_profit", "gross_loss", "win_pct", "loss_pct",
              "best_pct", "worst_pct", "max_dd", "ret_sum", "ret_sq", "neg_sq", "n_ret", "bars", "in_market",
              "hold_bars", "hold_days", "no_stop", "no_target", "long_trades", "long_wins", "long_pnl",
              "short_trades", "short_wins", "short_pnl")
_DAY_NS_F = 86_400e9


@numba.njit(cache=True, nogil=True)
def _trade_nb(out, c, pnl, spent, side, entry_bar, exit_bar, entry_time, exit_time):
    """Add one closed trade of `side` (1.0 long, -1.0 short) to column c's accumulators (pnl % as `record_nb`
    computes it)."""
    pct = pnl / spent * 100.0
    out[c, TRADES] += 1.0
    at = LONG_TRADES if side > 0 else SHORT_TRADES  # the side's three accumulators
    out[c, at] += 1.0
    out[c, at + SIDE_PNL] += pnl
    if pnl > 0:
        out[c, WINS] += 1.0
        out[c, at + SIDE_WINS] += 1.0
        out[c, GROSS_PROFIT] += pnl
        out[c, WIN_PCT] += pct
    elif pnl < 0:
        out[c, LOSSES] += 1.0
        out[c, GROSS_LOSS] += pnl
        out[c, LOSS_PCT] += pct
    if out[c, TRADES] == 1.0 or pct > out[c, BEST_PCT]:
        out[c, BEST_PCT] = pct
    if out[c, TRADES] == 1.0 or pct < out[c, WORST_PCT]:
        out[c, WORST_PCT] = pct
    out[c, HOLD_BARS] += exit_bar - entry_bar
    out[c, HOLD_DAYS] += (exit_time - entry_time) / _DAY_NS_F


@numba.njit(cache=True, nogil=True)
def _column_nb(open_, high, low, close, entries, exits, short_entries, short_exits, levels, exit_ops, exit_args,
               times, j, q, lo, hi, risk, exec_open, long_short, orders, init_cash, out, c):
    """Simulate column c (prices row j, signals row q, risk record `risk`) over rows [lo, hi) and fill
    out[c, :]."""
    for k in range(N_STATS):
        out[c, k] = 0.0
    risk = on_stack_nb(risk)  # type: ignore[call-arg]  # (numba passes the typing context) fields in registers
    stack = exit_stack_nb()
    has_program = has_exit_program_nb(risk)  # the guard keeps the program's call out of the loop's fast path
    pos = flat_nb()
    order = no_order_nb()
    pend_e = pend_x = pend_se = pend_sx = False
    cash = init_cash
    last_close = np.nan
    last_bar = -1
    prev = init_cash  # equity of the previous bar (bar returns; the first against the initial cash)
    top = init_cash  # running peak of the equity for the drawdown
    max_dd = 0.0
    r_sum = r_sq = r_neg = 0.0
    n_ret = 0
    in_market = 0
    for t in range(lo, hi):
        cl = close[j, t]
        if pos[POS_IN] == 0.0 and not exec_open and (not orders or order[ORD_LEFT] == 0.0) and not (cash > 0 and (
                (entries[q, t] and not exits[q, t])
                or (long_short and short_entries[q, t] and not short_exits[q, t]))):
            # flat, no order pending and no entry on this bar (close fills): equity stays at the cash, which is
            # also the previous bar's equity, so the bar adds a zero return and nothing else (as the full path
            # below would compute, without reading the bar's open, high and low)
            if not np.isnan(cl):
                last_close = cl
                last_bar = t
            n_ret += 1
            continue
        if not np.isnan(cl):
            o, h, lw, cl = bar_nb(open_, high, low, close, j, t)
            raw_e, raw_x = entries[q, t], exits[q, t]
            sig_e, sig_x, pend_e, pend_x = signals_nb(pend_e, pend_x, exec_open, raw_e, raw_x)
            se_t, sx_t = short_signals_nb(short_entries, short_exits, q, t, long_short)
            sig_se, sig_sx, pend_se, pend_sx = signals_nb(pend_se, pend_sx, exec_open, se_t, sx_t)
            if has_program and not exec_open and pos[POS_IN] != 0.0:  # the exit program on the position at this close
                sig_x, sig_sx = exit_program_nb(advance_nb(pos, False, h, lw), cl, exit_ops, exit_args, levels, risk, q,
                                                t, stack, sig_x, sig_sx)
            it = intents_nb(sig_e, sig_x, sig_se, sig_sx, risk, long_short)
            lv, order_prices = bar_levels_nb(levels, risk, q, t, last_bar, exec_open, orders, it, order)
            xlevel = exit_order_level_nb(levels, risk, q, last_bar, pos, long_short)
            pos, order, cash, closed, ex, closed2, ex2, _note = bar_step_nb(  # notes: no metric
                pos, order, t, o, h, lw, cl, times[t], entry_time_nb(pos, times, risk), it, (raw_e, raw_x, se_t, sx_t),
                order_prices, cash, exec_open, long_short, orders, False, risk, lv, xlevel)
            if ex[EXIT_REASON] >= 0:
                _closed_nb(out, c, closed, ex, t, times, risk)
                if ex2[EXIT_REASON] >= 0:
                    _closed_nb(out, c, closed2, ex2, t, times, risk)
            if has_program and exec_open and pos[POS_IN] != 0.0:  # pending for the next open
                pend_x, pend_sx = exit_program_nb(pos, cl, exit_ops, exit_args, levels, risk, q, t, stack, pend_x,
                                                  pend_sx)
            last_close = cl
            last_bar = t
            eq = cash + worth_nb(pos, cl, times[t], entry_time_nb(pos, times, risk), risk)
        else:  # no bar for this symbol: equity marks the last known close
            eq = cash + worth_nb(pos, last_close, times[t], entry_time_nb(pos, times, risk), risk) \
                if pos[POS_IN] != 0.0 else cash
        if pos[POS_IN] != 0.0:
            in_market += 1
        prev, top, max_dd, r_sum, r_sq, r_neg, n_ret = _returns_nb(eq, prev, top, max_dd, r_sum, r_sq, r_neg, n_ret)
    if pos[POS_IN] != 0.0:  # marked at the last close: no exit order, fee or slippage
        pos, ex = mark_out_nb(pos, last_close, borrow_nb(pos, times[last_bar], entry_time_nb(pos, times, risk), risk))
        _closed_nb(out, c, pos, ex, last_bar, times, risk)
    _finish_nb(out, c, prev, max_dd, r_sum, r_sq, r_neg, n_ret, hi - lo, in_market)


@numba.njit(cache=True, nogil=True, inline="always")
def _finish_nb(out, c, final, max_dd, r_sum, r_sq, r_neg, n_ret, bars, in_market):
    """Write column c's equity accumulators at the end of its run (the trades' are written as they close)."""
    out[c, FINAL] = final
    out[c, MAX_DD] = max_dd
    out[c, RET_SUM] = r_sum
    out[c, RET_SQ] = r_sq
    out[c, NEG_SQ] = r_neg
    out[c, N_RET] = n_ret
    out[c, BARS] = bars
    out[c, IN_MARKET] = in_market


@numba.njit(cache=True, nogil=True, inline="always")
def _returns_nb(eq, prev, top, max_dd, r_sum, r_sq, r_neg, n_ret):
    """A bar's equity `eq` added to the return and drawdown accumulators: (prev, top, max_dd, r_sum, r_sq,
    r_neg, n_ret) after it (an unchanged equity adds a zero return and nothing else)."""
    if eq == prev:  # flat (or unchanged): r = 0 exactly, no new peak or drawdown
        return prev, top, max_dd, r_sum, r_sq, r_neg, n_ret + 1
    r = eq / prev - 1.0
    if np.isfinite(r):
        r_sum += r
        r_sq += r * r
        if r < 0:
            r_neg += r * r
        n_ret += 1
    if eq > top:
        top = eq
    elif top > 0:
        max_dd = max(max_dd, (top - eq) / top)
    return eq, top, max_dd, r_sum, r_sq, r_neg, n_ret


@numba.njit(cache=True, nogil=True)
def _closed_nb(out, c, pos, ex, exit_bar, times, risk):
    """Add the trade of `pos` closed by `ex` on `exit_bar` to column c's accumulators (its side as `record_nb`
    records it; a distance stop or target its entry could not fix counted for L123)."""
    entry_bar = int(pos[POS_ENTRY_BAR])
    _trade_nb(out, c, (ex[EXIT_GROSS] - ex[EXIT_FEE]) - pos[POS_SPENT], pos[POS_SPENT],
              1.0 if ex[EXIT_UNITS] > 0 else -1.0, entry_bar, exit_bar, times[entry_bar], times[exit_bar])
    no_stop, no_target = unarmed_nb(pos, risk)
    if no_stop:
        out[c, NO_STOP] += 1.0
    if no_target:
        out[c, NO_TARGET] += 1.0


def sweep_nb(open_, high, low, close, entries, exits, short_entries, short_exits, levels, exit_ops, exit_args, times,
             lo, hi, sym, sig, risk, init_cash, out, c0, c1):
    """Columns [c0, c1) of a sweep into `out` (C, N_STATS); see the module docstring for the layout.

    Args:
        open_, high, low, close: (S, T) float64, C-ordered (NaN = no bar).
        entries, exits: (Q, T) bool, C-ordered: the chunk's signal columns; short_entries, short_exits the
            same for the short side of a long/short strategy (unread otherwise).
        levels: (L, Q, T) float64, C-ordered: the chunk's levels (`ruleengine.kernels.enums.LEVEL_KINDS`, then
            the exit program's rows). exit_ops, exit_args: the strategy's exit program (empty without one).
        times: (T,) int64 nanoseconds. lo, hi: (S,) int64, the run rows [lo, hi) of each symbol.
        sym, sig: (C,) int64: the price row and the signal row of each column.
        risk: (C,) risk records (``ruleengine.backtest.simulation.risk_dt``), read by field name.
        init_cash: starting cash of every column. out: (C, N_STATS) float64, written in rows [c0, c1).

    The columns run by fill mode (`ruleengine.kernels.modes`), each mode through its own compiled entry, which
    releases the GIL.
    """
    for mode, cols in columns_by_mode(risk, np.arange(c0, c1, dtype=np.int64)):
        sweep_entry(mode)(open_, high, low, close, entries, exits, short_entries, short_exits, levels, exit_ops,
                          exit_args, times, lo, hi, sym, sig, risk, init_cash, out, cols)
    return out


@per_mode
def sweep_entry(mode: FillMode):
    """The compiled loop over the sweep columns `cols` of one fill mode (its flags literals of the closure)."""
    exec_open, long_short, orders = mode

    @numba.njit(cache=True, nogil=True)
    def sweep_mode_nb(open_, high, low, close, entries, exits, short_entries, short_exits, levels, exit_ops,
                      exit_args, times, lo, hi, sym, sig, risk, init_cash, out, cols):
        for c in cols:
            j = sym[c]
            _column_nb(open_, high, low, close, entries, exits, short_entries, short_exits, levels, exit_ops,
                       exit_args, times, j, sig[c], lo[j], hi[j], risk[c], exec_open, long_short, orders, init_cash,
                       out, c)
        return out

    return sweep_mode_nb


def sweep_pairs_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits, short_entries,
                   short_exits, levels, exit_ops, exit_args, times, lo, hi, sym, sig, risk, hedge_units, end,
                   init_cash, out, c0, c1):
    """`sweep_nb` for a pair strategy: column c trades leg a (the ``*_a`` prices' row sym[c]) against leg b
    (the ``*_b`` prices' same row) through `ruleengine.kernels.pairs.pair_bar_step_nb`, the single pair run's
    bar (its exit program around it as there); [lo, hi) are leg a's run rows and `end` the end of the rows
    traded (leg b may trade after hi); `hedge_units` as `simulate_pairs_nb` takes it. A pair's loop is compiled
    per ``exec_open`` only."""
    for mode, cols in columns_by_mode(risk, np.arange(c0, c1, dtype=np.int64)):
        sweep_pairs_entry(mode.exec_open)(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries,
                                          exits, short_entries, short_exits, levels, exit_ops, exit_args, times, lo,
                                          hi, sym, sig, risk, hedge_units, end, init_cash, out, cols)
    return out


@per_mode
def sweep_pairs_entry(exec_open: bool):
    """The compiled loop over the pair sweep columns `cols` of one ``exec_open`` (a literal of the closure)."""

    @numba.njit(cache=True, nogil=True)
    def sweep_pairs_mode_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits,
                            short_entries, short_exits, levels, exit_ops, exit_args, times, lo, hi, sym, sig, risk,
                            hedge_units, end, init_cash, out, cols):
        for c in cols:
            j = sym[c]
            _pair_column_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits,
                            short_entries, short_exits, levels, exit_ops, exit_args, times, j, sig[c], lo[j], hi[j],
                            end, risk[c], exec_open, hedge_units, init_cash, out, c)
        return out

    return sweep_pairs_mode_nb


@numba.njit(cache=True, nogil=True)
def _pair_column_nb(open_a, high_a, low_a, close_a, open_b, high_b, low_b, close_b, entries, exits, short_entries,
                    short_exits, levels, exit_ops, exit_args, times, j, q, lo, hi, end, risk, exec_open, hedge_units,
                    init_cash, out, c):
    """Pair column c (prices row j, signals row q) over leg a's rows [lo, hi) into out[c, :], as
    `ruleengine.kernels.pairs._pair_column_nb` runs it: a bar where either leg has no close changes nothing
    but the marks, and a pair open at the end is marked at each leg's last close before `end` (leg b's may
    come after hi)."""
    for k in range(N_STATS):
        out[c, k] = 0.0
    risk = on_stack_nb(risk)  # type: ignore[call-arg]  # (numba passes the typing context) fields in registers
    stack = exit_stack_nb()
    has_program = has_exit_program_nb(risk)
    pa = flat_nb()
    pb = flat_nb()
    cash = init_cash
    pend = (False, False, False, False)
    last_a = last_b = np.nan
    last_bar_a = last_bar_b = last_bar = -1
    prev = top = init_cash
    max_dd = r_sum = r_sq = r_neg = 0.0
    n_ret = in_market = 0
    for t in range(lo, hi):
        ca = close_a[j, t]
        cb = close_b[j, t]
        if not np.isnan(ca):
            last_a, last_bar_a = ca, t
        if not np.isnan(cb):
            last_b, last_bar_b = cb, t
        if not (np.isnan(ca) or np.isnan(cb)):
            oa, _ha, _la, ca = bar_nb(open_a, high_a, low_a, close_a, j, t)
            ob, _hb, _lb, cb = bar_nb(open_b, high_b, low_b, close_b, j, t)
            now = times[t]
            program = pair_program_before_nb(pa, pb, oa, ob, ca, cb, now, entry_time_nb(pa, times, risk),
                                               has_program, exec_open, exit_ops, exit_args, levels, risk, q, t, stack)
            it, hedge, vol, pend = pair_signals_nb(entries, exits, short_entries, short_exits, levels, q, t, pend,
                                                   exec_open, last_bar, program, risk)
            pa, pb, cash, at_open, at_close, _note = pair_bar_step_nb(  # notes: no metric
                pa, pb, cash, t, oa, ob, ca, cb, now, entry_time_nb(pa, times, risk), it, hedge, vol, exec_open,
                hedge_units, risk)
            for ex in (at_open, at_close):
                if ex[0] >= 0:
                    _pair_closed_nb(out, c, ex, t, times)
            pend = pair_program_after_nb(pend, pa, pb, oa, ob, ca, cb, now, entry_time_nb(pa, times, risk),
                                         has_program, exec_open, exit_ops, exit_args, levels, risk, q, t, stack)
            last_bar = t
        eq = cash + pair_value_nb(pa, pb, last_a, last_b, times[t], entry_time_nb(pa, times, risk), risk)
        if pa[POS_IN] != 0.0:
            in_market += 1
        prev, top, max_dd, r_sum, r_sq, r_neg, n_ret = _returns_nb(eq, prev, top, max_dd, r_sum, r_sq, r_neg, n_ret)
    if pa[POS_IN] != 0.0:  # marked at each leg's last close: leg b may trade after leg a's last bar
        for t in range(hi, end):
            if not np.isnan(close_b[j, t]):
                last_b, last_bar_b = close_b[j, t], t
        end_bar = max(last_bar_a, last_bar_b)
        pa, pb, exa, exb = mark_out_pair_nb(pa, pb, last_a, last_b, times[end_bar], entry_time_nb(pa, times, risk),
                                            risk)
        _pair_closed_nb(out, c, (0.0, pa, exa, pb, exb), end_bar, times)
    _finish_nb(out, c, prev, max_dd, r_sum, r_sq, r_neg, n_ret, hi - lo, in_market)


@numba.njit(cache=True, nogil=True)
def _pair_closed_nb(out, c, ex, exit_bar, times):
    """Add the pair closed by exit `ex` (`ruleengine.kernels.pairs.leave_pair_nb`'s) on `exit_bar` to column
    c's accumulators: both legs' P&L against both legs' cash, as `record_pair_nb` records it."""
    pa, exa, pb, exb = ex[1], ex[2], ex[3], ex[4]
    entry_bar = int(pa[POS_ENTRY_BAR])
    pnl = ((exa[EXIT_GROSS] - exa[EXIT_FEE]) - pa[POS_SPENT]) + ((exb[EXIT_GROSS] - exb[EXIT_FEE]) - pb[POS_SPENT])
    _trade_nb(out, c, pnl, pa[POS_SPENT] + pb[POS_SPENT], 1.0 if exa[EXIT_UNITS] > 0 else -1.0, entry_bar, exit_bar,
              times[entry_bar], times[exit_bar])


@numba.njit(cache=True, nogil=True)
def stream_nb(open_, high, low, close, sym, lo, hi, c0, c1):
    """The bandwidth floor: read open/high/low/close of every column's run once (a sum, nothing else)."""
    total = 0.0
    for c in range(c0, c1):
        j = sym[c]
        for t in range(lo[j], hi[j]):
            total += open_[j, t] + high[j, t] + low[j, t] + close[j, t]
    return total
