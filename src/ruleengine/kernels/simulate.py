"""Simulation kernels: the fill contract of ``ruleengine.backtesting.risk.FILL_CONTRACT`` (numpy + numba only).

This is ruleengine's default backtest engine. It is our own kernel rather than vectorbt's
``Portfolio.from_signals`` because vectorbt 1.2's numba ``simulate_from_signals_nb`` is not cached (about 12 s
of compilation in every new process; the CLI must answer a one-symbol backtest in 3 s or less) and has no
time stop, which must be inside the simulation. Every function here is ``@numba.njit(cache=True)``.
The stop, gap, priority and sizing arithmetic copies vectorbt's (``get_stop_price_nb``, ``buy_nb``,
``sell_nb``) operation for operation, so the two engines agree to the last bits where both apply; the
oracle test is ``tests/test_backtest_engine.py``.

Layout: every 2-D input is (N, T) C-ordered, one row per column of the run (the transpose of the
F-ordered (T, N) arrays the rest of ruleengine uses, obtained without a copy), so that one column's bars
are contiguous and a single-column run has the same numba type as a wide one (one compilation).
Per-column risk arrays have length N: ``sl``, ``tp``, ``tsl`` are fractions (NaN = off), ``max_days``
and ``max_bars`` are int64 (<= 0 = off), ``size`` the fraction of cash (or equity) per entry, ``fees`` and
``slip`` fractions, ``exec_open`` True for next-bar-open fills. ``times`` are int64 nanoseconds (UTC).

Trades come back as ``rec_i`` (M, 4) int64 = (column, entry_bar, exit_bar, exit_reason) and ``rec_f``
(M, 6) float64 = (entry_price, exit_price, size, pnl, pnl_pct, fees) plus the count of rows used.
Exit reason codes index ``ruleengine.backtesting.engine.EXIT_REASONS``.
"""
import numba
import numpy as np

SIGNAL = 0
STOP_LOSS = 1
TAKE_PROFIT = 2
TRAILING_STOP = 3
MAX_HOLD = 4
END_OF_DATA = 5
_DAY_NS = 86_400_000_000_000


@numba.njit(cache=True)
def stop_fill_nb(o, h, lo, entry, peak, sl, tp, tsl):
    """(fill price, reason) of a stop hit inside bar (o, h, lo) of a long position; (NaN, -1) if none.

    The loss-side level is entry x (1 - sl) or peak x (1 - tsl), the higher of the two (stop loss on a
    tie); it is checked before the take profit entry x (1 + tp). A level the open is already through
    fills at the open (gap), a level inside [low, high] at the level: vectorbt's ``get_stop_price_nb``.
    """
    level = np.nan
    reason = -1
    if not np.isnan(sl):
        level = entry * (1 - sl)
        reason = STOP_LOSS
    if not np.isnan(tsl):
        trail = peak * (1 - tsl)
        if np.isnan(level) or trail > level:
            level = trail
            reason = TRAILING_STOP
    if not np.isnan(level):
        if o <= level:
            return o, reason
        if lo <= level <= h:
            return level, reason
    if not np.isnan(tp):
        level = entry * (1 + tp)
        if level <= o:
            return o, TAKE_PROFIT
        if lo <= level <= h:
            return level, TAKE_PROFIT
    return np.nan, -1


@numba.njit(cache=True)
def bar_nb(open_, high, low, close, j, t):
    """Bar t of column j with vectorbt's fill-ins: open NaN -> close, low/high NaN -> min/max(open, close)."""
    c = close[j, t]
    o = open_[j, t]
    if np.isnan(o):
        o = c
    lo = low[j, t]
    if np.isnan(lo):
        lo = min(o, c)
    h = high[j, t]
    if np.isnan(h):
        h = max(o, c)
    return o, h, lo, c


@numba.njit(cache=True)
def exit_nb(o, h, lo, c, entry, peak, held, entry_time, now, entry_sig, exit_sig, exec_open,
            sl, tp, tsl, max_days, max_bars):
    """Exit decision for a position held before this bar: (price before slippage, reason, peak, held).

    Order: stops (intrabar), then the signal exit (at the open for open fills: the previous bar's
    signals arrive as `entry_sig` / `exit_sig`; at the close otherwise), then max hold at the close.
    The trailing peak takes this bar's high after the stop check; `held` counts this bar.
    """
    price, reason = stop_fill_nb(o, h, lo, entry, peak, sl, tp, tsl)
    peak = max(peak, h)  # h is never NaN here (bar_nb fills it in)
    held += 1
    if np.isnan(price):
        if exit_sig and not entry_sig:  # both at once cancel (vectorbt's conflict mode 'ignore')
            price = o if exec_open else c
            reason = SIGNAL
        elif (max_bars > 0 and held >= max_bars) or (max_days > 0 and now >= entry_time + max_days * _DAY_NS):
            price = c
            reason = MAX_HOLD
    return price, reason, peak, held


@numba.njit(cache=True)
def record_nb(rec_i, rec_f, n, j, entry_bar, exit_bar, reason, entry_price, exit_price, units, spent,
              entry_fee, gross, exit_fee):
    """Write trade n; pnl = exit proceeds - cash spent on the entry (fees of both sides included)."""
    pnl = (gross - exit_fee) - spent
    rec_i[n, 0] = j
    rec_i[n, 1] = entry_bar
    rec_i[n, 2] = exit_bar
    rec_i[n, 3] = reason
    rec_f[n, 0] = entry_price
    rec_f[n, 1] = exit_price
    rec_f[n, 2] = units
    rec_f[n, 3] = pnl
    rec_f[n, 4] = pnl / spent * 100.0
    rec_f[n, 5] = entry_fee + exit_fee
    return n + 1


@numba.njit(cache=True)
def simulate_nb(open_, high, low, close, entries, exits, times, start, sl, tp, tsl, max_days, max_bars,
                size, fees, slip, exec_open, init_cash, max_trades):
    """Independent runs: every column trades its own `init_cash`.

    Returns (rec_i, rec_f, n_trades, equity, cash, position), the last three (N, T).
    """
    N, T = close.shape
    rec_i = np.empty((max_trades, 4), dtype=np.int64)
    rec_f = np.empty((max_trades, 6), dtype=np.float64)
    equity = np.empty((N, T))
    cash_out = np.empty((N, T))
    pos_out = np.empty((N, T))
    n = 0
    for j in range(N):
        cash = init_cash
        units = 0.0
        in_pos = False
        entry = peak = spent = entry_fee = 0.0
        entry_bar = held = entry_time = 0
        pend_e = pend_x = False
        last_close = np.nan
        last_bar = -1
        for t in range(T):
            c = close[j, t]
            if t < start or np.isnan(c):
                equity[j, t] = cash + units * last_close if in_pos else cash
                cash_out[j, t] = cash
                pos_out[j, t] = units
                continue
            o, h, lo, c = bar_nb(open_, high, low, close, j, t)
            if exec_open[j]:
                sig_e, sig_x = pend_e, pend_x
                pend_e, pend_x = entries[j, t], exits[j, t]
            else:
                sig_e, sig_x = entries[j, t], exits[j, t]
            if in_pos:
                price, reason, peak, held = exit_nb(o, h, lo, c, entry, peak, held, entry_time, times[t],
                                                    sig_e, sig_x, exec_open[j], sl[j], tp[j], tsl[j],
                                                    max_days[j], max_bars[j])
                if not np.isnan(price):
                    adj = price * (1 - slip[j])
                    gross = units * adj
                    fee = gross * fees[j]
                    cash = cash + (gross - fee)
                    n = record_nb(rec_i, rec_f, n, j, entry_bar, t, reason, entry, adj, units, spent,
                                  entry_fee, gross, fee)
                    units = 0.0
                    in_pos = False
            elif sig_e and not sig_x and cash > 0:
                adj = (o if exec_open[j] else c) * (1 + slip[j])
                spent = min(cash, size[j] * cash)
                net = spent / (1 + fees[j])
                units = net / adj
                entry_fee = spent - net
                cash = cash - spent
                entry = adj
                peak = adj
                entry_bar = t
                entry_time = times[t]
                held = 0
                in_pos = True
            last_close = c
            last_bar = t
            equity[j, t] = cash + units * c
            cash_out[j, t] = cash
            pos_out[j, t] = units
        if in_pos:  # marked at the last close: no exit order, fee or slippage
            n = record_nb(rec_i, rec_f, n, j, entry_bar, last_bar, END_OF_DATA, entry, last_close, units,
                          spent, entry_fee, units * last_close, 0.0)
    return rec_i, rec_f, n, equity, cash_out, pos_out


@numba.njit(cache=True)
def simulate_portfolio_nb(open_, high, low, close, entries, exits, times, start, sl, tp, tsl, max_days,
                          max_bars, size, fees, slip, exec_open, init_cash, max_trades):
    """One shared cash account over the N columns (``exec_open`` must be the same for every column).

    On each bar: every column's exit first (column order), then the entries (column order), each sized
    ``size[j]`` x the equity at the fill (cash + open positions at this bar's fill price, or their last
    close) taken before the bar's entries, and skipped when the cash left does not cover it.
    Returns (rec_i, rec_f, n_trades, equity (1, T), cash (1, T), position (N, T)).
    """
    N, T = close.shape
    rec_i = np.empty((max_trades, 4), dtype=np.int64)
    rec_f = np.empty((max_trades, 6), dtype=np.float64)
    equity = np.empty((1, T))
    cash_out = np.empty((1, T))
    pos_out = np.zeros((N, T))
    units = np.zeros(N)
    in_pos = np.zeros(N, dtype=np.bool_)
    entry = np.zeros(N)
    peak = np.zeros(N)
    spent = np.zeros(N)
    entry_fee = np.zeros(N)
    entry_bar = np.zeros(N, dtype=np.int64)
    entry_time = np.zeros(N, dtype=np.int64)
    held = np.zeros(N, dtype=np.int64)
    pend_e = np.zeros(N, dtype=np.bool_)
    pend_x = np.zeros(N, dtype=np.bool_)
    sig_e = np.zeros(N, dtype=np.bool_)
    sig_x = np.zeros(N, dtype=np.bool_)
    flat_before = np.zeros(N, dtype=np.bool_)
    last_close = np.full(N, np.nan)
    last_bar = np.full(N, -1, dtype=np.int64)
    cash = init_cash
    n = 0
    for t in range(T):
        if t < start:
            equity[0, t] = cash
            cash_out[0, t] = cash
            continue
        # phase 1: signals of the bar, exits
        for j in range(N):
            flat_before[j] = False
            if np.isnan(close[j, t]):
                continue
            if exec_open[j]:
                sig_e[j], sig_x[j] = pend_e[j], pend_x[j]
                pend_e[j], pend_x[j] = entries[j, t], exits[j, t]
            else:
                sig_e[j], sig_x[j] = entries[j, t], exits[j, t]
            flat_before[j] = not in_pos[j]
            if in_pos[j]:
                o, h, lo, c = bar_nb(open_, high, low, close, j, t)
                price, reason, peak[j], held[j] = exit_nb(o, h, lo, c, entry[j], peak[j], held[j],
                                                          entry_time[j], times[t], sig_e[j], sig_x[j],
                                                          exec_open[j], sl[j], tp[j], tsl[j], max_days[j],
                                                          max_bars[j])
                if not np.isnan(price):
                    adj = price * (1 - slip[j])
                    gross = units[j] * adj
                    fee = gross * fees[j]
                    cash = cash + (gross - fee)
                    n = record_nb(rec_i, rec_f, n, j, entry_bar[j], t, reason, entry[j], adj, units[j],
                                  spent[j], entry_fee[j], gross, fee)
                    units[j] = 0.0
                    in_pos[j] = False
        # phase 2: entries, sized on the equity before them
        value = cash
        for j in range(N):
            if in_pos[j]:
                if np.isnan(close[j, t]):
                    mark = last_close[j]
                else:
                    mark = bar_nb(open_, high, low, close, j, t)[0] if exec_open[j] else close[j, t]
                value += units[j] * mark
        for j in range(N):
            if flat_before[j] and sig_e[j] and not sig_x[j] and value > 0:
                o, h, lo, c = bar_nb(open_, high, low, close, j, t)
                want = size[j] * value
                if want > cash:  # not enough cash left: skip, never a partial position
                    continue
                adj = (o if exec_open[j] else c) * (1 + slip[j])
                net = want / (1 + fees[j])
                units[j] = net / adj
                entry_fee[j] = want - net
                spent[j] = want
                cash = cash - want
                entry[j] = adj
                peak[j] = adj
                entry_bar[j] = t
                entry_time[j] = times[t]
                held[j] = 0
                in_pos[j] = True
        # phase 3: marks
        value = cash
        for j in range(N):
            if not np.isnan(close[j, t]):
                last_close[j] = close[j, t]
                last_bar[j] = t
            if in_pos[j]:
                value += units[j] * last_close[j]
            pos_out[j, t] = units[j]
        equity[0, t] = value
        cash_out[0, t] = cash
    for j in range(N):
        if in_pos[j]:
            n = record_nb(rec_i, rec_f, n, j, entry_bar[j], last_bar[j], END_OF_DATA, entry[j], last_close[j],
                          units[j], spent[j], entry_fee[j], units[j] * last_close[j], 0.0)
    return rec_i, rec_f, n, equity, cash_out, pos_out
