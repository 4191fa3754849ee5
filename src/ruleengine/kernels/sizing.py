"""How many units an entry takes: the sizing arithmetic of the fill step (numpy + numba only).

`size_nb` is the one sizing function (`budget_nb`, its first half, is what a pair splits between its legs,
`ruleengine.kernels.pairs`). The fill step (`ruleengine.kernels.simulate`: a single run's `bar_step_nb`, the
portfolio's `_enter_all_nb`, and through them the sweep kernel) calls it with the entry's fill price after
slippage, the equity it sizes on (a flat column's cash in a single run; the portfolio's equity before the
step's entries) and the cash it pays with, then opens the position it describes. The method is the
one the risk record gives (at most one per document, S130); its fields are fractions (``_pct`` / 100):

- ``risk_per_trade``: units = equity x R / d, d the distance from the fill to the stop loss level at the fill
  (`ruleengine.kernels.simulate.entry_stop_distance_nb`, the one function that knows the stops): hitting the
  stop loses R of the equity (plus fees and slippage, and less when the open gaps through it: more);
- ``volatility_target``: a position worth equity x V / vol, vol the strategy's volatility expression at the
  signal bar (a fraction of price a year, e.g. 0.25): the position's volatility is V of the equity;
- ``position_size_cash``: a fixed spend, fee included;
- ``position_size`` (the default method): that fraction of the equity.

Spend = units x price x (1 + fees). A spend above the cash is cut to the cash in a single run (reported:
``SizeNote.capped_by_cash``) and skipped in a portfolio (``SizeNote.cash``: never a partial position, today's
portfolio rule). ``whole_units`` rounds the units down (0 units: skipped). The fractional arithmetic is the
one the fill step always had (units = spend / (1 + fees) / price), so existing runs are bit-identical.
"""
import numpy as np

from ._inline_compile import install as _fresh_ir_inlining
from ._numba import numba  # numba with the kernel cache stamp installed
from .enums import SizeNote

_fresh_ir_inlining()  # before any compile: this module's inline="always" functions (see _inline_compile)

NO_NOTE = -1


@numba.njit(cache=True, inline="always")
def budget_nb(adj, equity, cash, stop_distance, volatility, in_portfolio, risk):
    """(spend fee included, note) of an entry at `adj` by the risk record's method, before it becomes units:
    what a pair splits between its legs (`ruleengine.kernels.pairs`), and `size_nb`'s first half.

    `note` is -1, ``SizeNote.capped_by_cash`` (a single run's spend cut to the cash), or a skip reason with
    spend 0 (``no_stop``, ``no_volatility``, ``cash``). A pair passes adj 1.0 and the stop loss fraction as
    `stop_distance`: its value per unit of value at entry.
    """
    fees = risk.fees
    if not np.isnan(risk.position_size):  # the default method first (the methods exclude each other)
        spend = risk.position_size * equity
    elif not np.isnan(risk.position_size_cash):
        spend = risk.position_size_cash
    elif not np.isnan(risk.risk_per_trade):
        if not stop_distance > 0:
            return 0.0, SizeNote.no_stop
        spend = equity * risk.risk_per_trade / stop_distance * adj * (1 + fees)
    else:  # volatility_target
        if not volatility > 0:
            return 0.0, SizeNote.no_volatility
        spend = equity * risk.volatility_target / volatility * (1 + fees)
    note = NO_NOTE
    if spend > cash:
        if in_portfolio:
            return 0.0, SizeNote.cash
        spend = cash
        note = SizeNote.capped_by_cash
    return spend, note


@numba.njit(cache=True, inline="always")
def skipped_nb(note):
    """The entry was skipped (`note` a skip reason: not -1, not ``capped_by_cash``)."""
    return note >= 0 and note != SizeNote.capped_by_cash


@numba.njit(cache=True, inline="always")
def whole_nb(spend, adj, fees):
    """The whole units `spend` (fee included) buys at `adj`, rounded down."""
    return np.floor(spend / (adj * (1 + fees)))


@numba.njit(cache=True, inline="always")
def size_nb(adj, equity, cash, stop_distance, volatility, in_portfolio, risk):
    """(units, spend, entry fee, note) of an entry at `adj` (the fill price after slippage).

    `note` is -1 (sized as asked), ``SizeNote.capped_by_cash`` (a single run's spend cut to the cash), or a
    skip reason with units 0 (``no_stop``, ``no_volatility``, ``cash``, ``zero_units``). NaN in
    `stop_distance` or `volatility` means unknown at this bar (a warm-up, or no stop): the entry is skipped
    when its method needs it.
    """
    fees = risk.fees
    spend, note = budget_nb(adj, equity, cash, stop_distance, volatility, in_portfolio, risk)
    if skipped_nb(note):
        return 0.0, 0.0, 0.0, note
    if risk.whole_units:
        units = whole_nb(spend, adj, fees)
        if units == 0.0:
            return 0.0, 0.0, 0.0, SizeNote.zero_units
        cost = units * adj
        return units, cost + cost * fees, cost * fees, note
    net = spend / (1 + fees)
    return net / adj, spend, spend - net, note
