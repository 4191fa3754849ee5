"""The rotation kernel: one shared cash account rebalanced to target weights (numpy + numba only).

`rebalance_nb` is vectorbt's ``Portfolio.from_orders(close, size=weights, size_type="targetpercent",
cash_sharing=True, group_by=True, call_seq="auto")`` for long-only weights, operation for operation (the
oracle test is ``tests/test_rotation.py``): on a bar whose weights are not NaN, the account's value is its cash
plus every position at the bar's fill price (the last known one where a symbol has none); each column's order is
its target (weight x value / price) minus its units; orders run in ascending order of their value, so sells
free cash before buys; a buy the cash cannot cover buys what the cash pays for, fee included (vectorbt's
partial fill). Prices after slippage and fees use the fill step's arithmetic (`simulate.slipped_nb`; a buy
capped by the cash splits it as `simulate.enter_nb` does, fee = cash - cash / (1 + fees)).

Turnover control (`min_change`, a fraction): a column that holds units and keeps a weight > 0 is not traded
when its weight at the fill price is within `min_change` of its target (vectorbt has no such rule; 0 turns it
off). A held symbol flagged in `leave` (1: it left the universe; 2: it was delisted, no price after its last one)
is sold whole on that bar, at the bar's fill price or, without one, its last close, whatever the weights
say (a point-in-time universe holds no name outside its membership). Layout: 2-D inputs are (T, N) C-ordered,
bar-major (unlike `simulate.py`'s (N, T)): every bar reads and writes all symbols, so a bar's values are
contiguous (the symbol-major layout cost a cache miss per symbol and bar: ~10x slower on 500 symbols).
"""
import numpy as np

from ._numba import numba  # numba with the kernel cache stamp installed
from .simulate import slipped_nb

#: vectorbt's tolerances (``vectorbt.utils.math_``): a buy within them of the cash is covered in full
_REL_TOL = 1e-9
_ABS_TOL = 1e-12

#: why a rotation's order was placed (`ORDER_DT` "reason"; `leave` codes are the last two)
REASONS = ("rebalance", "left_universe", "delisted")
#: one order of a rotation: bar, column, signed units (buy > 0), fill price after slippage, fee, reason
ORDER_DT = np.dtype([("bar", np.int64), ("column", np.int64), ("units", np.float64), ("price", np.float64),
                     ("fees", np.float64), ("reason", np.int64)])


@numba.njit(cache=True, inline="always")
def _close_or_less_nb(a, b):
    """a <= b within vectorbt's tolerances (``is_close_or_less_nb``)."""
    if a == b or abs(a - b) <= max(_REL_TOL * max(abs(a), abs(b)), _ABS_TOL):
        return True
    return a < b


@numba.njit(cache=True, inline="always")
def _add_nb(a, b):
    """a + b, exactly 0 when they cancel within the tolerances (vectorbt's ``add_nb``: no dust positions)."""
    if abs(a + b) <= max(_REL_TOL * max(abs(a), abs(b)), _ABS_TOL):
        return 0.0
    return a + b


@numba.njit(cache=True)
def _record_nb(orders, n_orders, t, c, units, price, fee, reason):
    """Append one order (the buffer doubles when full): (orders, count)."""
    if n_orders == len(orders):
        grown = np.empty(2 * len(orders), dtype=ORDER_DT)
        grown[:n_orders] = orders[:n_orders]
        orders = grown
    orders[n_orders]["bar"] = t
    orders[n_orders]["column"] = c
    orders[n_orders]["units"] = units
    orders[n_orders]["price"] = price
    orders[n_orders]["fees"] = fee
    orders[n_orders]["reason"] = reason
    return orders, n_orders + 1


@numba.njit(cache=True, nogil=True)
def last_known_nb(x):
    """(T, N) the last finite value of each column up to each bar, NaN before the first (pandas ``ffill``)."""
    t_len, n = x.shape
    out = np.empty((t_len, n))
    for c in range(n):
        out[0, c] = x[0, c]
    for t in range(1, t_len):
        for c in range(n):
            v = x[t, c]
            out[t, c] = v if np.isfinite(v) else out[t - 1, c]
    for c in range(n):  # +-inf is not a price: NaN until a finite one (as the finite checks of a bar loop)
        if not np.isfinite(out[0, c]):
            out[0, c] = np.nan
    return out


@numba.njit(cache=True)
def _held_columns_nb(units, cols):
    """The columns holding units, ascending, into `cols`; returns their count."""
    k = 0
    for c in range(len(units)):
        if units[c] != 0.0:
            cols[k] = c
            k += 1
    return k


@numba.njit(cache=True, nogil=True)
def rebalance_nb(price, close, weights, leave, last_price, last_close, init_cash, fees, slippage, min_change,
                 start, keep_units=True):
    """Rebalance one account to `weights` (T, N; NaN: no order on that bar) at `price` (T, N; the fill and
    valuation price), from bar `start` on; `close` (T, N) values the positions after each bar; `leave` (T, N)
    int64 sells a held symbol whole where it is > 0 (its `REASONS` index). `last_price` / `last_close` are
    `last_known_nb` of `price` / `close` (the valuation prices of symbols without a price on a bar; a sweep
    computes them once for all its variants).

    Work per bar follows the held symbols (a handful), not the universe, except on bars with weights: the
    positions are summed in column order as a pass over every column would.

    Returns (equity (T,), cash (T,), units (T, N) held after each bar (`keep_units` False: (0, N), a sweep needs
    only the count), the number of symbols held after each bar (T,), orders `ORDER_DT` in time order).
    """
    t_len, n = price.shape
    units = np.zeros(n)
    cash = init_cash
    equity = np.empty(t_len)
    cash_out = np.empty(t_len)
    held = np.zeros((t_len if keep_units else 0, n))
    n_held = np.empty(t_len, dtype=np.int64)
    orders = np.empty(n * 8, dtype=ORDER_DT)
    n_orders = 0
    order_value = np.empty(n)
    cand = np.empty(n, dtype=np.int64)
    cols = np.empty(n, dtype=np.int64)  # the held columns, ascending
    k_held = 0
    for t in range(t_len):
        if t >= start:
            sold_any = False
            for i in range(k_held):
                c = cols[i]
                if leave[t, c] > 0:  # without a price on the bar (delisted): at its last close
                    p = price[t, c]
                    adj = slipped_nb(p if np.isfinite(p) else (last_close[t - 1, c] if t > 0 else np.nan), -1.0,
                                     slippage)
                    sold = units[c]
                    proceeds = sold * adj
                    fee = proceeds * fees
                    cash = _add_nb(cash, proceeds - fee)
                    units[c] = 0.0
                    sold_any = True
                    orders, n_orders = _record_nb(orders, n_orders, t, c, -sold, adj, fee, leave[t, c])
            if sold_any:
                k_held = _held_columns_nb(units, cols)
        trade = False
        if t >= start:
            for c in range(n):
                if not np.isnan(weights[t, c]):
                    trade = True
                    break
        if trade:
            value = cash
            for i in range(k_held):
                c = cols[i]
                value += units[c] * last_price[t, c]
            # vectorbt's approximate order value (target minus held value) orders the columns. A column without
            # a weight (NaN) or with none to reach from none (weight 0, no units) places no order wherever it
            # sorts, so only the others are sorted: a stable sort of a subset keeps their order in the whole
            m = 0
            for c in range(n):
                w = weights[t, c]
                if np.isnan(w) or (w == 0.0 and units[c] == 0.0):
                    continue
                order_value[m] = w * value - units[c] * last_price[t, c]
                cand[m] = c
                m += 1
            seq = np.argsort(order_value[:m], kind="mergesort")
            for k in range(m):
                c = cand[seq[k]]
                w = weights[t, c]
                p = price[t, c]
                if np.isnan(w) or not (p > 0) or not (value > 0) or leave[t, c] > 0:
                    continue
                if min_change > 0 and units[c] != 0.0 and w > 0 and abs(units[c] * p / value - w) < min_change:
                    continue
                size = w * value / p - units[c]
                if abs(size) <= _ABS_TOL:  # vectorbt ignores a size within its tolerance of 0
                    continue
                if size > 0:
                    adj = slipped_nb(p, 1.0, slippage)
                    cost = size * adj
                    fee = cost * fees
                    if _close_or_less_nb(cost + fee, cash):
                        spent = cost + fee
                    else:  # what the cash pays for, fee included
                        net = cash / (1 + fees)
                        if net <= 0:
                            continue
                        size = net / adj
                        fee = cash - net
                        spent = cash
                    cash = _add_nb(cash, -spent)
                    units[c] = _add_nb(units[c], size)
                elif size < 0:
                    sold = min(units[c], -size)
                    if sold <= 0:
                        continue
                    adj = slipped_nb(p, -1.0, slippage)
                    proceeds = sold * adj
                    fee = proceeds * fees
                    cash = _add_nb(cash, proceeds - fee)
                    units[c] = _add_nb(units[c], -sold)
                    size = -sold
                else:
                    continue
                orders, n_orders = _record_nb(orders, n_orders, t, c, size, adj, fee, 0)
            k_held = _held_columns_nb(units, cols)
        total = cash
        for i in range(k_held):
            c = cols[i]
            if keep_units:
                held[t, c] = units[c]
            total += units[c] * last_close[t, c]
        n_held[t] = k_held
        equity[t] = total
        cash_out[t] = cash
    return equity, cash_out, held, n_held, orders[:n_orders]
