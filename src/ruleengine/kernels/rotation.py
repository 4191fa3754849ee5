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
say (a point-in-time universe holds no name outside its membership). Layout as in `simulate.py`: 2-D inputs
are (N, T) C-ordered.
"""
import numba
import numpy as np

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
def rebalance_nb(price, close, weights, leave, init_cash, fees, slippage, min_change, start):
    """Rebalance one account to `weights` (N, T; NaN: no order on that bar) at `price` (N, T; the fill and
    valuation price), from bar `start` on; `close` (N, T) values the positions after each bar; `leave` (N, T)
    int64 sells a held symbol whole where it is > 0 (its `REASONS` index).

    Returns (equity (T,), cash (T,), units (N, T) held after each bar, orders `ORDER_DT` in time order).
    """
    n, t_len = price.shape
    units = np.zeros(n)
    val = np.full(n, np.nan)  # the last known fill price (valuation)
    mark = np.full(n, np.nan)  # the last known close
    cash = init_cash
    equity = np.empty(t_len)
    cash_out = np.empty(t_len)
    held = np.zeros((n, t_len))
    orders = np.empty(n * 8, dtype=ORDER_DT)
    n_orders = 0
    order_value = np.empty(n)
    for t in range(t_len):
        for c in range(n):
            if np.isfinite(price[c, t]):
                val[c] = price[c, t]
        if t >= start:
            for c in range(n):
                if leave[c, t] > 0 and units[c] > 0:  # without a price on the bar (delisted): at its last close
                    adj = slipped_nb(price[c, t] if np.isfinite(price[c, t]) else mark[c], -1.0, slippage)
                    sold = units[c]
                    proceeds = sold * adj
                    fee = proceeds * fees
                    cash = _add_nb(cash, proceeds - fee)
                    units[c] = 0.0
                    orders, n_orders = _record_nb(orders, n_orders, t, c, -sold, adj, fee, leave[c, t])
        trade = False
        if t >= start:
            for c in range(n):
                if not np.isnan(weights[c, t]):
                    trade = True
                    break
        if trade:
            value = cash
            for c in range(n):
                if units[c] != 0.0:
                    value += units[c] * val[c]
            for c in range(n):
                w = weights[c, t]
                # NaN sorts last (no order): vectorbt's approximate order value, target minus held value
                order_value[c] = np.inf if np.isnan(w) else w * value - units[c] * val[c]
            seq = np.argsort(order_value, kind="mergesort")
            for k in range(n):
                c = seq[k]
                w = weights[c, t]
                p = price[c, t]
                if np.isnan(w) or not (p > 0) or not (value > 0) or leave[c, t] > 0:
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
        total = cash
        for c in range(n):
            if np.isfinite(close[c, t]):
                mark[c] = close[c, t]
            held[c, t] = units[c]
            if units[c] != 0.0:
                total += units[c] * mark[c]
        equity[t] = total
        cash_out[t] = cash
    return equity, cash_out, held, orders[:n_orders]
