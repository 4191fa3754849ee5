"""Simulation kernels: the fill contract of ``ruleengine.backtest.risk.FILL_CONTRACT`` (numpy + numba only).

This is ruleengine's default backtest engine. It is our own kernel rather than vectorbt's
``Portfolio.from_signals`` because vectorbt 1.2's numba ``simulate_from_signals_nb`` is not cached (about 12 s
of compilation in every new process; the CLI must answer a one-symbol backtest in 3 s or less), has no
time stop, which must be inside the simulation, and orders a bar's events differently (below). Every
function here is ``@numba.njit(cache=True)``. The stop, gap, priority and sizing arithmetic copies
vectorbt's (``get_stop_price_nb``, ``buy_nb``, ``sell_nb``) operation for operation, so the two engines agree
to the last bits where both apply; the oracle test is ``tests/test_backtest_engine.py``.

The fill step: every simulation (`simulate_nb`, `simulate_portfolio_nb`, and the sweep's fused kernel in
`sweep_sim.py`) opens and closes positions only through the functions of the "fill step" section below, called
in the time order of a bar: `at_open_nb` (orders pending at the open), an entry at the open, `after_open_nb`
(stops and targets on the rest of the bar, then the orders at the close), an entry at the close (an entry is
`sized_entry_nb`: sized by ``ruleengine.kernels.sizing.size_nb``, the one sizing function; a pair's legs open
with `enter_nb` on their budgets). `bar_step_nb` is that
sequence for a column that trades its own cash; the portfolio calls the same functions phase by phase over all
its columns, because its entries are sized on the equity of all of them. A position is a tuple of `N_POS`
float64 (the ``POS_*`` indices) and an exit a tuple (``EXIT_*``): the step functions take and return them, with
scalars only (no array crosses them, so nothing is reference counted per bar, and ``inline="always"`` puts them
inside each kernel's loop). The single-account loops (`_column_nb` here and in `sweep_sim.py`) are called with
``exec_open`` as a literal True or False, so each fill mode is compiled without the other's branches: the time
order costs the close-fill loop next to nothing.

``vbt_order=True`` reproduces vectorbt's order instead of the time order, for the oracle tests only: a
pending open-fill exit waits until the bar's stops were checked (a stop reached later in the bar wins over
it), and a position entered at a bar's open is not checked for stops on that bar.

Layout: every 2-D input is (N, T) C-ordered, one row per column of the run (the transpose of the
F-ordered (T, N) arrays the rest of ruleengine uses, obtained without a copy), so that one column's bars
are contiguous and a single-column run has the same numba type as a wide one (one compilation).
``times`` are int64 nanoseconds (UTC).

Risk is one record per column (``risk``, a 1-D record array of length N), read by field name only: its dtype,
``ruleengine.backtest.simulation.risk_dt``, is built from the document model's risk fields (a percentage under
its name without ``_pct``, as a fraction with NaN = off: ``stop_loss``, ``take_profit``, ``trailing_stop``,
``position_size`` (of cash, or of equity in a portfolio), ``fees``, ``slippage``, ``risk_per_trade``,
``volatility_target``, ``max_gross_exposure``; a cash amount with NaN = not given: ``position_size_cash``; a
whole number as int64 with <= 0 = off: ``max_hold_days``, ``max_hold_bars``, ``max_open_positions``; a flag:
``whole_units``), plus ``exec_open`` (True for next-bar-open fills). A new risk field of the document is in the
record without a change here: the step that acts on it reads it by name.

Beside the signals a strategy may hand per-bar numeric series, "levels" (`LEVEL_KINDS`: a stop's distance,
an order's price, ...), as one (L, N, T) float64 array whose rows the risk record names (``<kind>_row``, -1 =
not used). The column loops read them at the bar of the acting entry signal (`levels_nb`: with open fills
the previous bar, what was known when the order was placed) and pass them to the fill step as the scalar
tuple ``lv``. A long/short strategy's short signals come as ``short_entries`` / ``short_exits`` beside
``entries`` / ``exits``.

Exits that know the trade (`ruleengine.backtest.risk.EXITS_FILL_CONTRACT`): an entry fixes its distance stop
and target from the levels of its signal's bar (`arm_nb`: POS_STOP, POS_TARGET); `stop_fill_nb` also applies
the trailing activation and the take-profit table (the risk record's ``take_profit_row_*`` arrays); and a
strategy's exit programs on position variables (`exit_program_nb`, ``exit_ops`` / ``exit_args``: the ``exit``
block's program, its levels from row ``risk.exit_program_row``, then a long_short strategy's ``short_exit``
program from op ``risk.exit_program_end``, its levels from row ``risk.short_exit_program_row``) are evaluated by
each column loop for a held position at a bar's close, the held side's truth joining that side's exit signal
of the bar (close fills: before the step, on the position as it stands at the close, `advance_nb`; open fills:
after the step, pending for the next open).

Trades come back as an array of ``ruleengine.kernels.enums.trade_dt`` records plus the count of rows used;
exit reasons are ``ExitReason`` codes (same module).
"""
import numpy as np
from numba.core import cgutils
from numba.cpython.unsafe.tuple import tuple_setitem
from numba.extending import intrinsic

from ._inline_compile import install as _fresh_ir_inlining
from ._numba import numba  # numba with the kernel cache stamp installed
from .enums import (
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP,
    SIGNAL_LEVEL_KINDS,
    ExitReason,
    SizeNote,
    skip_dt,
    trade_dt,
)
from .exit_program import MAX_STACK, run_exit_program_nb
from .modes import FillMode, columns_by_mode, in_column_order, per_mode
from .sizing import NO_NOTE, size_nb

_fresh_ir_inlining()  # before any compile: this module's inline="always" functions (see _inline_compile)

_DAY_NS = 86_400_000_000_000
_YEAR_NS = 365 * 86_400e9  # the borrow cost's year: 365 calendar days, in ns (float)

# A position is a tuple of 8 float64 (numba keeps it in registers: no array, no reference counting in the
# bar loop); bar numbers are small integers, exact in a float64. After an exit, POS_IN and POS_UNITS are 0.0
# and the other fields still describe the closed trade (for its record) until the next entry.
POS_IN = 0  # 1.0 while a position is held
POS_UNITS = 1  # units held (0.0 when flat)
POS_ENTRY = 2  # entry price after slippage
POS_PEAK = 3  # highest price since the entry, for the trailing stop
POS_SPENT = 4  # cash spent on the entry, fee included
POS_ENTRY_FEE = 5
POS_ENTRY_BAR = 6
POS_HELD = 7  # bars with a price after the entry bar
POS_STOP = 8  # the stop level fixed at the entry from a stop_loss_distance (NaN: none)
POS_TARGET = 9  # the take-profit level fixed at the entry from a take_profit_distance (NaN: none)
POS_FAR = 10  # the other extreme since the entry: the lowest price long, the highest short (position variables)
N_POS = 11
# A pending limit or stop entry order is a tuple (level; bars it is still worked, 0.0 = none; the bar of the
# signal that placed it; the side it opens, 1.0 long, -1.0 short), state of the column loop next to the position
ORD_LEVEL = 0
ORD_LEFT = 1
ORD_BAR = 2
ORD_SIDE = 3
N_ORD = 4
# An exit is a tuple (reason code, or -1.0 for none; price after slippage; gross proceeds; exit fee; units)
EXIT_REASON = 0
EXIT_PRICE = 1
EXIT_GROSS = 2
EXIT_FEE = 3
EXIT_UNITS = 4
# The levels of a bar (`levels_nb`): a tuple with one float64 per kind of `SIGNAL_LEVEL_KINDS`, NaN where the
# strategy does not use the kind; LV_<KIND> is the index of a kind in it. (The exit order's levels are read
# per held bar instead: `exit_order_level_nb`.)
for _k, _kind in enumerate(SIGNAL_LEVEL_KINDS):
    globals()["LV_" + _kind.upper()] = _k
N_LEVELS = len(SIGNAL_LEVEL_KINDS)
LV_STOP_LOSS_DISTANCE = SIGNAL_LEVEL_KINDS.index("stop_loss_distance")  # (the loop above, spelled for readers)
LV_TAKE_PROFIT_DISTANCE = SIGNAL_LEVEL_KINDS.index("take_profit_distance")
LV_VOLATILITY = SIGNAL_LEVEL_KINDS.index("volatility")


@numba.njit(cache=True, inline="always")
def set_nb(pos, k, value):
    """`pos` with field k replaced by `value` (a position is an immutable tuple of float64; numba's own
    ``tuple_setitem`` builds the new one in registers). Adding a POS_* field then touches `flat_nb` and
    `N_POS` only."""
    return tuple_setitem(pos, k, value)  # type: ignore[call-arg]  # numba passes the typing context


@numba.njit(cache=True, inline="always")
def level_nb(levels, row, q, t):
    """Row `row` of the (L, Q, T) `levels` array at signal column q and bar t; NaN when row < 0 (unused)."""
    if row < 0:
        return np.nan
    return levels[row, q, t]


@numba.njit(cache=True, inline="always")
def levels_nb(levels, risk, q, t):
    """The levels of signal column q at bar t, one per kind of `SIGNAL_LEVEL_KINDS` (the tuple `lv` the fill step
    takes; LV_* index it). A kind's row is the risk record's field ``<kind>_row`` (-1: not used, NaN).
    With open fills the caller passes the bar of the pending signal: a level is what was known when the order
    was placed."""
    return (level_nb(levels, risk.stop_loss_distance_row, q, t),
            level_nb(levels, risk.take_profit_distance_row, q, t),
            level_nb(levels, risk.entry_order_price_row, q, t),
            level_nb(levels, risk.volatility_row, q, t),
            level_nb(levels, risk.hedge_ratio_row, q, t),
            level_nb(levels, risk.short_entry_order_price_row, q, t))


@numba.njit(cache=True, inline="always")
def exit_order_level_nb(levels, risk, q, prev, pos, long_short):
    """The level of the exit order resting during a bar for `pos` (`EXIT_ORDER_FILL_CONTRACT`): its price
    expression at ``prev``, the column's previous bar with a price (the close before this bar), from row
    ``exit_order_price_row`` (a long_short strategy's short position: ``short_exit_order_price_row``); NaN (no
    order this bar) without an exit order, when flat, or for a position entered on this bar or later than
    ``prev`` (its first exit order rests during the bar after its entry bar)."""
    if risk.exit_order_kind == ORDER_MARKET or pos[POS_IN] == 0.0 or pos[POS_ENTRY_BAR] > prev:
        return np.nan
    if long_short and pos[POS_IN] < 0.0:
        return level_nb(levels, risk.short_exit_order_price_row, q, prev)
    return level_nb(levels, risk.exit_order_price_row, q, prev)


@numba.njit(cache=True, inline="always")
def exit_order_fill_nb(o, h, lo, c, price, reason, xlevel, risk, side):
    """(fill price, reason) of the rest of a bar with the exit order at `xlevel` (NaN: none) resting beside the
    position's own stop or target fill (`price`, `reason`; NaN, -1: none).

    The order is a sell (buy back, short) stop or limit: a stop fills at min(open, level) when the low reaches
    the level (a short's at max(open, level) when the high does), a limit at max(open, level) when the high
    reaches it (`order_fill_nb` with the side it opens: the opposite). Against the position's own exit it
    follows the rule of a reversal order (`first_exit_is_own_nb`): at the open the order comes first."""
    if not np.isfinite(xlevel):  # NaN (or infinite): no order this bar
        return price, reason
    fill = order_fill_nb(o, h, lo, c, xlevel, risk.exit_order_kind, -side)[0]
    if np.isnan(fill):
        return price, reason
    if not np.isnan(price) and fill != o and first_exit_is_own_nb(o, fill, price, loss_side_nb(reason, risk),
                                                                   risk.exit_order_kind, side):
        return price, reason
    return fill, ExitReason.exit_order


@numba.njit(cache=True, inline="always")
def loss_side_nb(reason, risk):
    """Whether a position's exit of `reason` is on the loss side (a stop, a trail, a stop exit order) rather than
    the profit side (a take profit, a limit exit order)."""
    if reason == ExitReason.exit_order:
        return risk.exit_order_kind == ORDER_STOP
    return reason != ExitReason.take_profit


@numba.njit(cache=True, inline="always")
def first_exit_is_own_nb(o, fill, price, own_loss, order_kind, side):
    """Whether a position's own exit (fill `price`, on the loss side when `own_loss`) comes before an order of
    `order_kind` filling inside the same bar at `fill` (not at the open) on a position of `side`: when its own
    fills at the open, when its own is on the loss side and the order on the profit side (a limit), or when both
    are on one side and its own level is as near to the open as the order's or nearer (a tie goes to the
    position's exit). The one rule for a reversal order (`reverse_order_nb`) and an exit order
    (`exit_order_fill_nb`)."""
    order_loss = order_kind == ORDER_STOP
    if price == o or (own_loss and not order_loss):
        return True
    if own_loss == order_loss:
        # one side: the level nearer to the open is reached first (a loss side above a long's entry is
        # the higher one, a profit side the lower one; mirrored for a short)
        first = side * (fill - price) > 0 if order_loss else side * (price - fill) > 0
        return not first
    return False


@numba.njit(cache=True, inline="always")
def no_levels_nb():
    """The levels of a bar without an acting entry signal: none is read."""
    return (np.nan, np.nan, np.nan, np.nan, np.nan, np.nan)


@numba.njit(cache=True, inline="always")
def entry_stop_distance_nb(risk, lv, entry):
    """The stop's distance from `entry` (the entry price after slippage) known when a position opens, in
    price units; NaN when the position has no stop. The one definition of "the stop" for sizing by risk:
    entry x stop_loss, or the stop_loss_distance level of the entry signal's bar when it is > 0 (a distance
    <= 0 or NaN gives the trade no stop, `arm_nb`)."""
    if not np.isnan(risk.stop_loss):
        return entry * risk.stop_loss
    d = lv[LV_STOP_LOSS_DISTANCE]
    if d > 0:
        return d
    return np.nan


@numba.njit(cache=True, inline="always")
def arm_nb(pos, lv):
    """A position just opened with its distance stop and target fixed: entry -/+ the stop_loss_distance /
    take_profit_distance of its entry signal's bar (`lv`), mirrored for a short; a distance <= 0 or NaN
    leaves that exit off for the trade (`ruleengine.backtest` counts them in warning L123)."""
    side = pos[POS_IN]
    d = lv[LV_STOP_LOSS_DISTANCE]
    if d > 0:
        pos = set_nb(pos, POS_STOP, pos[POS_ENTRY] - side * d)
    d = lv[LV_TAKE_PROFIT_DISTANCE]
    if d > 0:
        pos = set_nb(pos, POS_TARGET, pos[POS_ENTRY] + side * d)
    return pos


@numba.njit(cache=True, inline="always")
def unarmed_nb(pos, risk):
    """(no stop, no target): whether `arm_nb` left the trade of `pos` (held or closed) without the distance stop /
    target its strategy has (``risk``'s ``<kind>_row`` >= 0), its distance at the entry signal's bar being <= 0
    or NaN. `arm_nb`'s decision read back from the position (NaN level), so that a count cannot disagree with
    the fill: the sweep kernel's L123 accumulators."""
    return (risk.stop_loss_distance_row >= 0 and np.isnan(pos[POS_STOP]),
            risk.take_profit_distance_row >= 0 and np.isnan(pos[POS_TARGET]))


@numba.njit(cache=True, inline="always")
def table_take_profit_nb(risk, held):
    """take_profit_by_bars at `held` bars: the fraction of the row with the largest bars <= held (NaN before
    the first row, or without a table)."""
    tp = np.nan
    for i in range(risk.take_profit_rows):
        if risk.take_profit_row_bars[i] <= held:
            tp = risk.take_profit_row_pct[i]
    return tp


@numba.njit(cache=True, inline="always")
def stop_fill_nb(o, h, lo, entry, peak, side, risk, stop=np.nan, target=np.nan, held=0.0):
    """(fill price, reason) of a stop hit inside bar (o, h, lo); (NaN, -1) if none. `side` is the position's
    POS_IN (1.0 long, -1.0 short: `_short_stop_fill_nb`, the mirror; `peak` is then the lowest low).

    `risk` is the column's risk record. The loss-side level is entry x (1 - stop_loss) (or `stop`, the
    distance stop fixed at the entry) or peak x (1 - trailing_stop), the higher of the two (stop loss on a
    tie); the trail acts only once peak >= entry x (1 + trailing_stop_activation) when an activation is set.
    It is checked before the take profit entry x (1 + take_profit) (or `target`, or the take_profit_by_bars
    row of `held` bars). A level the open is already through fills at the open (gap), a level inside
    [low, high] at the level: vectorbt's ``get_stop_price_nb``.
    """
    sl = risk.stop_loss
    tsl = risk.trailing_stop
    tp = risk.take_profit
    if risk.take_profit_rows > 0:
        tp = table_take_profit_nb(risk, held)
    act = risk.trailing_stop_activation
    if not np.isnan(act) and not (peak >= entry * (1 + act) if side > 0 else peak <= entry * (1 - act)):
        tsl = np.nan  # not activated yet: no trail
    if side < 0:  # a short: the loss side is above the entry, the target below (mirror of the long case)
        return _short_stop_fill_nb(o, h, lo, entry, peak, sl, tsl, tp, stop, target)
    level = np.nan
    reason = -1
    if not np.isnan(sl):
        level = entry * (1 - sl)
        reason = ExitReason.stop_loss
    elif not np.isnan(stop):
        level = stop
        reason = ExitReason.stop_loss
    if not np.isnan(tsl):
        trail = peak * (1 - tsl)
        if np.isnan(level) or trail > level:
            level = trail
            reason = ExitReason.trailing_stop
    if not np.isnan(level):
        if o <= level:
            return o, reason
        if lo <= level <= h:
            return level, reason
    level = entry * (1 + tp) if not np.isnan(tp) else target
    if not np.isnan(level):
        if level <= o:
            return o, ExitReason.take_profit
        if lo <= level <= h:
            return level, ExitReason.take_profit
    return np.nan, -1


@numba.njit(cache=True, inline="always")
def _short_stop_fill_nb(o, h, lo, entry, trough, sl, tsl, tp, stop, target):
    """`stop_fill_nb` of a short: stop loss entry x (1 + sl) (or `stop`) and trail trough x (1 + tsl) above
    (the lower acts, stop loss on a tie), take profit entry x (1 - tp) (or `target`) below; an open through a
    level fills at the open."""
    level = np.nan
    reason = -1
    if not np.isnan(sl):
        level = entry * (1 + sl)
        reason = ExitReason.stop_loss
    elif not np.isnan(stop):
        level = stop
        reason = ExitReason.stop_loss
    if not np.isnan(tsl):
        trail = trough * (1 + tsl)
        if np.isnan(level) or trail < level:
            level = trail
            reason = ExitReason.trailing_stop
    if not np.isnan(level):
        if o >= level:
            return o, reason
        if lo <= level <= h:
            return level, reason
    level = entry * (1 - tp) if not np.isnan(tp) else target
    if not np.isnan(level):
        if level >= o:
            return o, ExitReason.take_profit
        if lo <= level <= h:
            return level, ExitReason.take_profit
    return np.nan, -1


@intrinsic
def on_stack_nb(typingctx, rec):
    """A copy of risk record `rec` in the calling kernel's stack frame, read by field name like `rec`.

    A record is passed by reference into the record array, and the bar loop writes other arrays (trades,
    accumulators) that the compiler cannot prove apart from it, so it would read every field again on every
    bar. A column loop reads its record from this copy instead: nothing else can write it, so its fields stay
    in registers (measured: the sweep kernel 2-8 % slower without it, on par with scalar arguments with it).
    """
    if not isinstance(rec, numba.types.Record):
        return None

    def codegen(context, builder, signature, args):
        (ptr,) = args  # a record's value is a pointer to its bytes
        slot = cgutils.alloca_once(builder, ptr.type.pointee)  # in the entry block of the calling function
        slot.align = 16
        builder.store(builder.load(ptr), slot)
        return slot

    return rec(rec), codegen


@numba.njit(cache=True, inline="always")
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


# ------------------------------------------------------------------------------------------- the fill step
@numba.njit(cache=True, inline="always")
def flat_nb():
    """A flat position (no trade yet)."""
    return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0)  # stop, target: set by each entry


@numba.njit(cache=True, inline="always")
def no_exit_nb():
    """No exit on this bar."""
    return (-1.0, 0.0, 0.0, 0.0, 0.0)


@numba.njit(cache=True, inline="always")
def signals_nb(pend_e, pend_x, exec_open, entry, exit_):
    """(entry, exit) signals acting on this bar and the new pending pair: with open fills the previous
    bar's signals (pending since its close) act and this bar's become pending; with close fills this bar's."""
    if exec_open:
        return pend_e, pend_x, entry, exit_
    return entry, exit_, pend_e, pend_x


@numba.njit(cache=True, inline="always")
def short_signals_nb(short_entries, short_exits, q, t, long_short):
    """Bar t's short-side signals of signal column q: read only for a long/short strategy (False, False
    otherwise: a long or short strategy has its one side in entries/exits). `long_short` is a literal in
    every caller (the column loops are compiled once per value), so a long run reads and resolves nothing
    more than before long/short existed: measured, the runtime branch made the single-run kernel 2.5x slower."""
    if long_short:
        return short_entries[q, t], short_exits[q, t]
    return False, False


@numba.njit(cache=True, inline="always")
def intents_nb(e, x, se, sx, risk, long_short):
    """What the acting signals ask for: (long entry, long exit, short entry, short exit).

    A long strategy's entries/exits are its long side, a short strategy's its short side, a long/short
    strategy has both (`se`, `sx`). An entry and an exit of one side on one bar cancel (neither acts); then
    a long and a short entry on one bar cancel (vectorbt's "ignore" for both conflicts). What acts on a
    position: `closes_nb`; what a flat one opens: `entry_side_nb`. `long_short` is the caller's literal
    (`short_signals_nb`)."""
    le = e and not x
    lx = x and not e
    if long_short:
        se2 = se and not sx
        sx2 = sx and not se
        if le and se2:
            return False, lx, False, sx2
        return le, lx, se2, sx2
    if risk.short:
        return False, False, le, lx
    return le, lx, False, False


@numba.njit(cache=True, inline="always")
def entry_side_nb(it):
    """The side an entry intent opens: 1.0 long, -1.0 short, 0.0 none."""
    if it[0]:
        return 1.0
    if it[2]:
        return -1.0
    return 0.0


@numba.njit(cache=True, inline="always")
def closes_nb(side, it):
    """A signal closes a position on `side`: its own side's exit, or the opposite entry (which reverses it:
    the other side opens at the same fill)."""
    if side > 0:
        return it[1] or it[2]
    return it[3] or it[0]


@numba.njit(cache=True, inline="always")
def slipped_nb(fill, order_side, slip):
    """The price an order gets at fill price `fill` after slippage: a buy (order_side 1.0) pays more, a sell
    (-1.0) gets less."""
    return fill * (1 + order_side * slip)


@numba.njit(cache=True, inline="always")
def enter_nb(t, fill, budget, slip, fees, side):
    """The position opened on bar t at fill price `fill`, spending `budget` cash (fee included); side 1.0 long,
    -1.0 short (the budget is the short's collateral)."""
    adj = slipped_nb(fill, side, slip)
    net = budget / (1 + fees)
    return (side, net / adj, adj, adj, budget, budget - net, float(t), 0.0, np.nan, np.nan, adj)


@numba.njit(cache=True, inline="always")
def sized_entry_nb(t, fill, side, equity, cash, in_portfolio, risk, lv):
    """`enter_nb` sized: an entry on bar t at fill price `fill` on `side` (1.0 long, -1.0 short: the spend is
    then the short's collateral), sized by `ruleengine.kernels.sizing.size_nb` on `equity`, paid from `cash`:
    (position, cash spent fee included, note). The note is a `SizeNote` code (or -1): a skip reason leaves the
    position flat (``POS_IN`` 0.0) and spends nothing. The stop distance is `entry_stop_distance_nb`'s; the
    volatility is ``lv``'s (the levels of the signal's bar); the position's distance stop and target are fixed
    from ``lv`` too (`arm_nb`)."""
    adj = slipped_nb(fill, side, risk.slippage)
    stop = entry_stop_distance_nb(risk, lv, adj) if not np.isnan(risk.risk_per_trade) else np.nan  # else unread
    units, spent, fee, note = size_nb(adj, equity, cash, stop, lv[LV_VOLATILITY], in_portfolio, risk)
    if units == 0.0:
        return flat_nb(), 0.0, note
    return arm_nb((side, units, adj, adj, spent, fee, float(t), 0.0, np.nan, np.nan, adj), lv), spent, note


@numba.njit(cache=True, inline="always")
def leave_nb(pos, fill, reason, slip, fees, borrow):
    """Close `pos` at fill price `fill`: (the closed position, the exit). `borrow` (a short's accrued borrow
    cost, `borrow_nb`) is paid with the exit fee."""
    side = pos[POS_IN]
    adj = slipped_nb(fill, -side, slip)
    gross = value_nb(pos, adj)
    closed = set_nb(set_nb(pos, POS_IN, 0.0), POS_UNITS, 0.0)
    return closed, (float(reason), adj, gross, pos[POS_UNITS] * adj * fees + borrow, side * pos[POS_UNITS])


@numba.njit(cache=True, inline="always")
def value_nb(pos, price):
    """What a held position is worth at `price`: units x price long; collateral plus the short's gain short."""
    if pos[POS_IN] < 0:
        return pos[POS_UNITS] * (2.0 * pos[POS_ENTRY] - price)
    return pos[POS_UNITS] * price


@numba.njit(cache=True, inline="always")
def borrow_nb(pos, now, entry_time, risk):
    """The borrow cost a held short has accrued by time `now` (int64 ns): units x entry price x the annual
    rate x the calendar time since its entry bar (`entry_time`) in years of 365 days; 0.0 for a long or
    without a borrow cost."""
    if pos[POS_IN] < 0 and risk.borrow_cost > 0:
        return pos[POS_UNITS] * pos[POS_ENTRY] * risk.borrow_cost * ((now - entry_time) / _YEAR_NS)
    return 0.0


@numba.njit(cache=True, inline="always")
def worth_nb(pos, price, now, entry_time, risk):
    """What a held position adds to the equity at `price` and time `now`: `value_nb` less the accrued borrow
    cost of a short."""
    return value_nb(pos, price) - borrow_nb(pos, now, entry_time, risk)


@numba.njit(cache=True, inline="always")
def mark_out_nb(pos, last_close, borrow):
    """A position still open at the end: marked at its last close, no exit order, fee or slippage (a
    short pays the `borrow` cost accrued until its last bar)."""
    return leave_nb(pos, last_close, ExitReason.end_of_data, 0.0, 0.0, borrow)


@numba.njit(cache=True, inline="always")
def at_open_nb(pos, o, now, entry_time, it, exec_open, vbt_order, risk):
    """Orders pending at a bar's open: the exit order of a held position (open fills) fills at the open,
    whether its own exit or the opposite entry (a reversal: the caller then opens the other side).

    Returns (position, exit). With `vbt_order` the order waits for `after_open_nb`, after the stops
    (vectorbt's priority).
    """
    if exec_open and not vbt_order and pos[POS_IN] != 0.0 and closes_nb(pos[POS_IN], it):
        return leave_nb(pos, o, ExitReason.signal, risk.slippage, risk.fees, borrow_nb(pos, now, entry_time, risk))
    return pos, no_exit_nb()


@numba.njit(cache=True, inline="always")
def max_hold_nb(held, now, entry_time, risk):
    """Max hold reached: `held` bars after the entry bar reach max_hold_bars, or the time since the entry,
    ``now - entry_time`` (int64 ns; no overflow for any max_days), reaches max_hold_days."""
    return (risk.max_hold_bars > 0 and held >= risk.max_hold_bars) or \
        (risk.max_hold_days > 0 and (now - entry_time) // _DAY_NS >= risk.max_hold_days)


@numba.njit(cache=True, inline="always")
def after_open_nb(pos, t, o, h, lo, c, now, entry_time, it, exec_open, vbt_order, risk, xlevel):
    """The rest of bar t for a position held after the open: (position, exit).

    First the stops and targets on the bar's range (`stop_fill_nb`) and the exit order resting at `xlevel`
    (NaN: none; `exit_order_fill_nb`, never on the entry bar: `exit_order_level_nb`), the stops also on the bar
    of an entry at this open (for a limit or stop order filled inside the bar, (o, h, lo) is the part of the bar
    after its fill: `order_fill_nb`); then the orders at the close: the signal exit (close fills, also on the bar
    of an order's fill; its own exit or the opposite entry, `closes_nb`: the caller then reverses) and max hold
    (not on the entry bar). A position entered at the close has nothing after its fill on that bar (its entry
    comes after this step). The trailing peak takes the bar's high after the check; ``POS_HELD`` counts the bars
    after the entry bar.
    Max hold compares the time elapsed since the entry, ``now - entry_time`` (int64 ns; no overflow for
    any max_days). Only scalars and tuples cross this call (no array: no reference counting per bar).
    """
    if pos[POS_IN] == 0.0:
        return pos, no_exit_nb()
    new = pos[POS_ENTRY_BAR] == t  # entered at this bar's open or inside it (a close entry comes after this)
    if new and vbt_order:
        return pos, no_exit_nb()
    peak_before = pos[POS_PEAK]
    pos = advance_nb(pos, new, h, lo)  # the check below reads the extremes from before this bar
    if new and risk.order_kind != ORDER_MARKET and not risk.fill_bar_stops:  # backtesting.py's order
        price, reason = np.nan, -1
    else:
        price, reason = stop_fill_nb(o, h, lo, pos[POS_ENTRY], peak_before, pos[POS_IN], risk, pos[POS_STOP],
                                     pos[POS_TARGET], pos[POS_HELD])
    price, reason = exit_order_fill_nb(o, h, lo, c, price, reason, xlevel, risk, pos[POS_IN])
    held = pos[POS_HELD]
    if np.isnan(price):
        # (a market entry at this open had no exit signal: only an order's fill bar can have one here)
        if closes_nb(pos[POS_IN], it) and (vbt_order or not exec_open):
            price = o if exec_open else c
            reason = ExitReason.signal
        elif not new and max_hold_nb(held, now, entry_time, risk):
            price = c
            reason = ExitReason.max_hold
    if np.isnan(price):
        return pos, no_exit_nb()
    return leave_nb(pos, price, reason, risk.slippage, risk.fees, borrow_nb(pos, now, entry_time, risk))


@numba.njit(cache=True, inline="always")
def advance_nb(pos, new, h, lo):
    """A held position after bar (.., h, lo): one more bar held (none on the bar of an entry at its open),
    its extremes since the entry moved by the bar's high and low (h, lo are never NaN: `bar_nb`)."""
    held = pos[POS_HELD] if new else pos[POS_HELD] + 1.0
    if pos[POS_IN] > 0:
        peak, far = max(pos[POS_PEAK], h), min(pos[POS_FAR], lo)
    else:
        peak, far = min(pos[POS_PEAK], lo), max(pos[POS_FAR], h)
    return set_nb(set_nb(set_nb(pos, POS_HELD, held), POS_PEAK, peak), POS_FAR, far)


@numba.njit(cache=True, inline="always")
def position_variables_nb(pos, c):
    """The position variables of a held position at close `c` (`ruleengine.lang.position` order):
    entry_price, bars_held, unrealized_pct, highest_since_entry, lowest_since_entry."""
    entry = pos[POS_ENTRY]
    if pos[POS_IN] > 0:
        return (entry, pos[POS_HELD], (c / entry - 1.0) * 100.0, pos[POS_PEAK], pos[POS_FAR])
    return (entry, pos[POS_HELD], (1.0 - c / entry) * 100.0, pos[POS_FAR], pos[POS_PEAK])


@numba.njit(cache=True)
def exit_program_nb(pos, c, ops, args, levels, risk, q, t, stack, exit_, short_exit):
    """The exit signals (`exit_`, `short_exit`) of bar t (signal column q) with the exit program of the held side
    (`ruleengine.kernels.exit_program`) for `pos` at the close `c` joined to that side's: a long_short strategy's
    short runs ``short_exit``'s program (``ops[risk.exit_program_end:]``, levels from row
    ``risk.short_exit_program_row``) into `short_exit`; any other held position the ``exit`` block's program
    (``ops[:risk.exit_program_end]``, levels from ``risk.exit_program_row``) into `exit_`. Unchanged when flat,
    when that side has no program or its signal is already true. With close fills the caller passes the position
    as it stands at this close (`advance_nb`), with open fills the position after the bar (the signals pending
    for the next open).

    Not inlined, and called only behind a scalar guard (`has_exit_program_nb`): a call with arrays inlined into
    a bar loop costs their reference counting on every bar (measured: 4x slower)."""
    if pos[POS_IN] == 0.0:
        return exit_, short_exit
    if risk.long_short and pos[POS_IN] < 0.0:
        if short_exit or risk.short_exit_program_row < 0:
            return exit_, short_exit
        return exit_, run_exit_program_nb(ops, args, risk.exit_program_end, ops.shape[0], levels,
                                          risk.short_exit_program_row, q, t, position_variables_nb(pos, c), stack)
    if exit_ or risk.exit_program_row < 0:
        return exit_, short_exit
    return run_exit_program_nb(ops, args, 0, risk.exit_program_end, levels, risk.exit_program_row, q, t,
                               position_variables_nb(pos, c), stack), short_exit


@numba.njit(cache=True, inline="always")
def has_exit_program_nb(risk):
    """The column has an exit program on position variables (its ``exit`` block's, its ``short_exit`` block's or
    both): the scalar guard of `exit_program_nb`'s calls."""
    return risk.exit_program_row >= 0 or risk.short_exit_program_row >= 0


@numba.njit(cache=True, inline="always")
def exit_stack_nb():
    """The scratch stack `exit_program_nb` evaluates on (one per column loop)."""
    return np.empty(MAX_STACK)


@numba.njit(cache=True, inline="always")
def own_entry_nb(pos, t, fill, side, cash, risk, lv):
    """An entry on `side` at `fill` of a column that trades its own cash, sized by `sized_entry_nb` on the cash (the
    column is flat: its equity) when cash is left: (position, cash, note); skipped, the position stays."""
    if side == 0.0 or cash <= 0:
        return pos, cash, NO_NOTE
    entered, spent, note = sized_entry_nb(t, fill, side, cash, cash, False, risk, lv)
    if entered[POS_IN] == 0.0:
        return pos, cash, note
    return entered, cash - spent, note


@numba.njit(cache=True, inline="always")
def no_order_nb():
    """No pending order."""
    return (np.nan, 0.0, -1.0, 0.0)


@numba.njit(cache=True, inline="always")
def order_fill_nb(o, h, lo, c, level, kind, side):
    """A pending limit (`kind` ORDER_LIMIT) or stop order at `level` on bar (o, h, lo, c) of a `side` position:
    (fill price, then the open, high and low of the part of the bar after the fill); NaN fill: not reached.

    A long limit and a short stop wait for the price to come down to the level, a long stop and a short limit
    for it to come up. An open already through the level fills at the open, and the whole bar follows (as for
    an entry at the open). A level inside the bar fills at the level; what certainly followed the fill is the
    range from the level to the bar's extreme beyond it (the path went through the level to reach it) and to
    the close: (level, max(level, close), low) after a fill from above, (level, high, min(level, close)) from
    below; the extreme on the open's side may have come before the fill, so it does not count.
    """
    if (kind == ORDER_LIMIT) == (side > 0):  # the level is below the price
        if o <= level:
            return o, o, h, lo
        if lo <= level:
            return level, level, max(level, c), lo
        return np.nan, o, h, lo
    if o >= level:
        return o, o, h, lo
    if h >= level:
        return level, level, h, min(level, c)
    return np.nan, o, h, lo


@numba.njit(cache=True, inline="always")
def work_order_nb(order, o, h, lo, c, risk):
    """A pending order worked on bar (o, h, lo, c) of a flat column: (fill price or NaN, the open, high and low
    after the fill (`order_fill_nb`), the order left: none once filled or after its last valid bar)."""
    fill, ro, rh, rlo = order_fill_nb(o, h, lo, c, order[ORD_LEVEL], risk.order_kind, order[ORD_SIDE])
    return fill, ro, rh, rlo, worked_nb(order, fill)


@numba.njit(cache=True, inline="always")
def worked_nb(order, fill):
    """The order after a bar it was worked on: none once filled (`fill` not NaN) or after its last valid bar."""
    left = order[ORD_LEFT] - 1.0
    if not np.isnan(fill) or left == 0.0:
        return no_order_nb()
    return (order[ORD_LEVEL], left, order[ORD_BAR], order[ORD_SIDE])


@numba.njit(cache=True, inline="always")
def reverse_order_nb(pos, order, o, h, lo, c, risk, xlevel):
    """A pending order of the other side than the held `pos` (long_short: it closes `pos` and opens its own side
    at its fill, a reversal) worked on bar (o, h, lo, c): (fill price or NaN, the open, high and low after the
    fill, the order left).

    The order at the open (the open through its level) comes first, as every order pending at the open. Inside
    the bar it is one more exit level of `pos`: a stop order (a sell stop under a long, a buy stop over a short)
    on the loss side, a limit order on the profit side. The position's own stop or target (`stop_fill_nb` on
    the bar, as `after_open_nb` checks it, with its exit order at `xlevel`) comes first when it fills at the open,
    when it is on the loss side and the order on the profit side, or when both are on one side and its level is
    as near to the open as the order's or nearer (a tie goes to the position's exit: `first_exit_is_own_nb`);
    then the order does not fill on this bar (NaN; the bar counts to its validity, and no entry follows the exit
    on this bar)."""
    fill, ro, rh, rlo = order_fill_nb(o, h, lo, c, order[ORD_LEVEL], risk.order_kind, order[ORD_SIDE])
    if not np.isnan(fill) and fill != o:  # inside the bar: does the position's own exit come first?
        side = pos[POS_IN]
        price, reason = stop_fill_nb(o, h, lo, pos[POS_ENTRY], pos[POS_PEAK], side, risk, pos[POS_STOP],
                                     pos[POS_TARGET], pos[POS_HELD] + 1.0)
        price, reason = exit_order_fill_nb(o, h, lo, c, price, reason, xlevel, risk, side)  # its exit order too
        if not np.isnan(price) and first_exit_is_own_nb(o, fill, price, loss_side_nb(reason, risk), risk.order_kind,
                                                        side):
            fill = np.nan
            ro, rh, rlo = o, h, lo  # the whole bar is the held position's
    return fill, ro, rh, rlo, worked_nb(order, fill)


@numba.njit(cache=True, inline="always")
def place_order_nb(order, pos, t, raw, prices, risk, long_short):
    """The order after bar t's close, from this bar's own signals ``raw`` (entry, exit, short entry, short exit)
    and order levels ``prices`` (the long side's, the short side's).

    A long or short strategy (one side, in entry/exit): an exit signal cancels the order; an entry signal while
    flat places one at ``prices[0]`` (NaN or infinite: none), valid for ``risk.order_valid_bars`` bars from the
    next on, replacing a pending one; else it stays as it is. A long/short strategy: each side's exit signal
    cancels a pending order of its side; an entry of a side without its own exit on the bar places an order of
    that side (at its price) unless that side is already held, replacing a pending one of either side: while
    the other side is held it is a reversal order (`reverse_order_nb`); a long and a short entry on one bar
    cancel (no order placed, a pending one stays)."""
    e, x, se, sx = raw
    if not long_short:
        if x:
            return no_order_nb()
        if e and pos[POS_IN] == 0.0:
            return placed_nb(prices[0], -1.0 if risk.short else 1.0, t, risk)
        return order
    if (x and order[ORD_SIDE] > 0.0) or (sx and order[ORD_SIDE] < 0.0):
        order = no_order_nb()
    le = e and not x
    sen = se and not sx
    if le and sen:
        return order
    if le and pos[POS_IN] <= 0.0:
        return placed_nb(prices[0], 1.0, t, risk)
    if sen and pos[POS_IN] >= 0.0:
        return placed_nb(prices[1], -1.0, t, risk)
    return order


@numba.njit(cache=True, inline="always")
def placed_nb(price, side, t, risk):
    """An order of `side` placed at bar t's close at `price` (NaN or infinite: none)."""
    if np.isfinite(price):
        return (price, float(risk.order_valid_bars), float(t), side)
    return no_order_nb()


@numba.njit(cache=True, inline="always")
def order_step_nb(pos, order, t, o, h, lo, c, now, entry_time, it, raw, order_prices, cash, exec_open, long_short,
                  vbt_order, risk, lv, xlevel):
    """`bar_step_nb` of a column whose entries are limit or stop orders: (position, order, cash, closed, exit,
    closed2, exit2, note).

    ``order`` is the pending order (``ORD_*``; `no_order_nb` when none): its level, the bars it is still
    worked, the bar of the signal that placed it, its side. Entry intents never act at market here (``it``'s
    exits do). In time order: the exit pending at the open (open fills); the order, worked on this bar: while
    flat (`work_order_nb`) it opens the position at its fill, while the other side is held (long_short,
    `reverse_order_nb`) it closes that position at its fill (exit reason signal) and opens its own side at the
    same fill; each entry sized as a market entry (`own_entry_nb`, on ``lv``: the levels of the order's signal
    bar); the rest of the bar (`after_open_nb`, on the part after the fill); the close, where this bar's
    signals (``raw``: this bar's own, whatever execution_price) act on the order (`place_order_nb`). Two exits
    on a bar: a reversal and the new position's stop after it (``exit2``).
    """
    closed, ex = pos, no_exit_nb()
    closed2, ex2 = pos, no_exit_nb()
    if pos[POS_IN] == 0.0 and order[ORD_LEFT] == 0.0 and not (raw[0] or raw[2]):  # flat, nothing pending or new
        return pos, order, cash, closed, ex, closed2, ex2, NO_NOTE
    xit = (False, it[1], False, it[3])  # an opposite entry places a reversal order: no close at market
    if exec_open:
        pos, ex = at_open_nb(pos, o, now, entry_time, xit, exec_open, vbt_order, risk)
        if ex[EXIT_REASON] >= 0:
            closed = pos
            cash += ex[EXIT_GROSS] - ex[EXIT_FEE]
    ro, rh, rlo = o, h, lo
    note = NO_NOTE
    if order[ORD_LEFT] > 0.0:
        if pos[POS_IN] == 0.0:
            fill, ro, rh, rlo, order_after = work_order_nb(order, o, h, lo, c, risk)
        else:  # long_short: the other side is held
            fill, ro, rh, rlo, order_after = reverse_order_nb(pos, order, o, h, lo, c, risk, xlevel)
            if not np.isnan(fill):
                pos, ex = leave_nb(pos, fill, ExitReason.signal, risk.slippage, risk.fees,
                                   borrow_nb(pos, now, entry_time, risk))
                closed = pos
                cash += ex[EXIT_GROSS] - ex[EXIT_FEE]
        if not np.isnan(fill):
            pos, cash, note = own_entry_nb(pos, t, fill, order[ORD_SIDE], cash, risk, lv)
        order = order_after
    if pos[POS_IN] != 0.0:
        pos, ex_rest = after_open_nb(pos, t, ro, rh, rlo, c, now, now if pos[POS_ENTRY_BAR] == t else entry_time,
                                     xit, exec_open, vbt_order, risk, xlevel if pos[POS_ENTRY_BAR] < t else np.nan)
        if ex_rest[EXIT_REASON] >= 0:
            cash += ex_rest[EXIT_GROSS] - ex_rest[EXIT_FEE]
            if ex[EXIT_REASON] >= 0:
                closed2, ex2 = pos, ex_rest
            else:
                closed, ex = pos, ex_rest
    return (pos, place_order_nb(order, pos, t, raw, order_prices, risk, long_short), cash, closed, ex, closed2, ex2,
            note)


@numba.njit(cache=True, inline="always")
def bar_levels_nb(levels, risk, q, t, last_bar, exec_open, orders, it, order):
    """(lv, order prices) of signal column q at bar t: the levels the fill step reads (`levels_nb`: those of
    the acting entry signal's bar for a market order, of the pending order's signal bar for a limit or stop
    order) and, for an order column (`orders`), this bar's order prices, the long side's and the short side's
    (NaN otherwise; a short strategy's is the first, its entries' own)."""
    if not orders:
        return (levels_nb(levels, risk, q, last_bar if exec_open else t) if entry_side_nb(it) != 0.0
                else no_levels_nb()), (np.nan, np.nan)
    lv = levels_nb(levels, risk, q, int(order[ORD_BAR])) if order[ORD_LEFT] > 0.0 else no_levels_nb()
    return lv, (level_nb(levels, risk.entry_order_price_row, q, t),
                level_nb(levels, risk.short_entry_order_price_row, q, t))


@numba.njit(cache=True, inline="always")
def bar_step_nb(pos, order, t, o, h, lo, c, now, entry_time, it, raw, order_prices, cash, exec_open, long_short,
                orders, vbt_order, risk, lv, xlevel):
    """Bar t of a column that trades its own cash, in time order: (position, order, cash, closed, exit,
    closed2, exit2, note).

    The open (the pending exit, or an entry sized on the cash by `own_entry_nb`), the rest of the bar, the
    close (an entry); ``note`` is -1, or the `SizeNote` of an entry skipped or cut down to the cash. ``it`` is
    the bar's `intents_nb`. ``exit[EXIT_REASON] >= 0`` when a trade closed, ``closed``
    then describes it; an exit by the opposite entry reverses: the other side opens at the same fill (with
    open fills at the open, before the stops of the rest of the bar; with close fills, or vectorbt's order,
    after them). So a bar has at most one exit, except a reversal at the open whose new position is stopped
    on the same bar: ``exit2`` / ``closed2``. No other entry on the bar of an exit. ``now`` is bar t's time,
    ``entry_time`` the entry bar's (of a position held before the bar; any value when flat); ``lv`` the
    levels of the bar of the acting signals (`levels_nb`). A column whose entries are limit or stop orders
    (``orders``, a literal as ``exec_open`` and ``long_short``) enters through `order_step_nb` instead;
    ``order``, ``raw`` (this bar's own entry, exit, short entry and short exit signals) and ``order_prices``
    are read there only. ``xlevel`` is the level of the exit order resting during the bar for the position held
    at its start (`exit_order_level_nb`; NaN: none), for `after_open_nb`: a position that opened on this bar
    (a reversal) has none yet.
    """
    if orders:
        return order_step_nb(pos, order, t, o, h, lo, c, now, entry_time, it, raw, order_prices, cash, exec_open,
                             long_short, vbt_order, risk, lv, xlevel)
    flat_before = pos[POS_IN] == 0.0
    side = entry_side_nb(it)
    closed, ex = pos, no_exit_nb()
    closed2, ex2 = pos, no_exit_nb()
    note = NO_NOTE
    if flat_before and not (side != 0.0 and cash > 0):  # flat, no entry order: nothing happens
        return pos, order, cash, closed, ex, closed2, ex2, note
    if exec_open:
        if flat_before:
            pos, cash, note = own_entry_nb(pos, t, o, side, cash, risk, lv)
        else:
            pos, ex = at_open_nb(pos, o, now, entry_time, it, exec_open, vbt_order, risk)
            if ex[EXIT_REASON] >= 0:
                closed = pos
                cash += ex[EXIT_GROSS] - ex[EXIT_FEE]
                if side == 0.0:
                    return pos, order, cash, closed, ex, closed2, ex2, note
                pos, cash, note = own_entry_nb(pos, t, o, side, cash, risk, lv)  # the reversal, at the same open
    pos, ex_rest = after_open_nb(pos, t, o, h, lo, c, now, now if pos[POS_ENTRY_BAR] == t else entry_time, it,
                                 exec_open, vbt_order, risk, xlevel if pos[POS_ENTRY_BAR] < t else np.nan)
    if ex_rest[EXIT_REASON] >= 0:
        cash += ex_rest[EXIT_GROSS] - ex_rest[EXIT_FEE]
        if ex[EXIT_REASON] >= 0:  # the position reversed at this open was stopped
            closed2, ex2 = pos, ex_rest
        else:
            closed, ex = pos, ex_rest
            if ex_rest[EXIT_REASON] == ExitReason.signal:  # the opposite entry reverses at the same fill
                pos, cash, note = own_entry_nb(pos, t, o if exec_open else c, side, cash, risk, lv)
    elif not exec_open and flat_before:
        pos, cash, note = own_entry_nb(pos, t, c, side, cash, risk, lv)
    return pos, order, cash, closed, ex, closed2, ex2, note


@numba.njit(cache=True, inline="always")
def record_nb(records, n, j, pos, ex, exit_bar):
    """Write the trade of `pos` closed by `ex` on `exit_bar` as record n (`trade_dt`); pnl = exit proceeds -
    cash spent on the entry (fees of both sides included)."""
    spent = pos[POS_SPENT]
    pnl = (ex[EXIT_GROSS] - ex[EXIT_FEE]) - spent
    rec = records[n]
    rec["column"] = j
    rec["entry_bar"] = int(pos[POS_ENTRY_BAR])
    rec["exit_bar"] = exit_bar
    rec["exit_reason"] = int(ex[EXIT_REASON])
    rec["entry_price"] = pos[POS_ENTRY]
    rec["exit_price"] = ex[EXIT_PRICE]
    rec["size"] = abs(ex[EXIT_UNITS])
    rec["pnl"] = pnl
    rec["pnl_pct"] = pnl / spent * 100.0
    rec["fees"] = pos[POS_ENTRY_FEE] + ex[EXIT_FEE]
    rec["direction"] = 1 if ex[EXIT_UNITS] > 0 else -1
    return n + 1


@numba.njit(cache=True, inline="always")
def entry_time_nb(pos, times, risk):
    """The time of the entry bar of a held position, for the max hold in days and the borrow cost (0 when flat
    or unused)."""
    used = risk.max_hold_days > 0 or risk.borrow_cost > 0
    return times[int(pos[POS_ENTRY_BAR])] if used and pos[POS_IN] != 0.0 else 0


@numba.njit(cache=True, inline="always")
def held_units_nb(pos):
    """Units held now (0.0 when flat; negative short)."""
    return pos[POS_IN] * pos[POS_UNITS]


@numba.njit(cache=True, inline="always")
def load_nb(rows, j):
    """Position j of a (N, N_POS) array as a tuple."""
    return (rows[j, 0], rows[j, 1], rows[j, 2], rows[j, 3], rows[j, 4], rows[j, 5], rows[j, 6], rows[j, 7],
            rows[j, 8], rows[j, 9], rows[j, 10])


@numba.njit(cache=True, inline="always")
def load_order_nb(orders, j):
    """Order j of a (N, N_ORD) array as a tuple."""
    return (orders[j, 0], orders[j, 1], orders[j, 2], orders[j, 3])


@numba.njit(cache=True, inline="always")
def store_order_nb(orders, j, order):
    """Write order j of a (N, N_ORD) array."""
    for k in range(N_ORD):
        orders[j, k] = order[k]


@numba.njit(cache=True, inline="always")
def store_nb(rows, j, pos):
    """Write position j of a (N, N_POS) array."""
    for k in range(N_POS):
        rows[j, k] = pos[k]


# ------------------------------------------------------------------------------------------- simulations
def simulate_nb(open_, high, low, close, entries, exits, short_entries, short_exits, levels, exit_ops, exit_args,
                times, start, risk, vbt_order, init_cash, max_trades):
    """Independent runs: every column trades its own `init_cash`.

    ``short_entries`` / ``short_exits`` (N, T) bool are the short side's signals of a long/short strategy
    (any shape, unread, otherwise); ``levels`` (L, N, T) float64 the strategy's levels (`LEVEL_KINDS`, then
    the exit program's rows from ``risk.exit_program_row``); ``exit_ops`` / ``exit_args`` its exit program
    (`ruleengine.kernels.exit_program`; empty, and the row -1, without one).

    Returns (records, n_trades, equity, cash, position, notes, n_notes), equity, cash and position (N, T);
    ``notes`` (`skip_dt`, the first ``max_trades``) are the entries skipped or cut down to the cash, in
    column then time order, ``n_notes`` counts them all. The columns run by fill mode (`ruleengine.kernels.modes`:
    each mode's loop is compiled only when a run uses it), records merged back in column order.
    """
    N, T = close.shape
    records = np.empty(max_trades, dtype=trade_dt)
    skip = np.empty(max_trades, dtype=skip_dt)
    equity = np.empty((N, T))
    cash_out = np.empty((N, T))
    pos_out = np.empty((N, T))
    n = n_skip = 0
    groups = columns_by_mode(risk)
    for mode, cols in groups:
        n, n_skip = simulate_entry(mode)(open_, high, low, close, entries, exits, short_entries, short_exits, levels,
                                         exit_ops, exit_args, times, start, risk, vbt_order, init_cash, cols,
                                         records, n, equity, cash_out, pos_out, skip, n_skip)
    in_column_order(records, n, len(groups) > 1)
    in_column_order(skip, min(n_skip, max_trades), len(groups) > 1)
    return records, n, equity, cash_out, pos_out, skip[:min(n_skip, max_trades)], n_skip


@per_mode
def simulate_entry(mode: FillMode):
    """The compiled loop over the columns `cols` of one fill mode (its flags literals of the closure)."""
    exec_open, long_short, orders = mode

    @numba.njit(cache=True)
    def simulate_mode_nb(open_, high, low, close, entries, exits, short_entries, short_exits, levels, exit_ops,
                         exit_args, times, start, risk, vbt_order, init_cash, cols, records, n, equity, cash_out,
                         pos_out, skip, n_skip):
        for j in cols:
            n, n_skip = _column_nb(open_, high, low, close, entries, exits, short_entries, short_exits, levels,
                                   exit_ops, exit_args, times, start, j, risk[j], exec_open, long_short, orders,
                                   vbt_order, init_cash, records, n, equity, cash_out, pos_out, skip, n_skip)
        return n, n_skip

    return simulate_mode_nb


@numba.njit(cache=True, inline="always")
def note_nb(skip, n_skip, t, j, note):
    """Record `SizeNote` `note` of column j's entry on bar t (as row n_skip while there is room); returns the
    new count."""
    if n_skip < skip.shape[0]:
        skip[n_skip]["bar"] = t
        skip[n_skip]["column"] = j
        skip[n_skip]["reason"] = note
    return n_skip + 1


@numba.njit(cache=True, inline="always")
def admit_nb(entered_in, note, gross, exposure, cap, value, skip, n_skip, t, j):
    """A portfolio's last word on column j's entry sized on bar t (`entered_in`: its POS_IN, 0 when sizing
    refused it with `note`, -1 for none): refused too when its `exposure` (units x price) would take the gross
    exposure past `cap` x the equity `value` (never when the cap is NaN); a refusal's note is recorded.
    Returns (admitted, the new skip count)."""
    if entered_in != 0.0 and gross + exposure > cap * value:  # False when NaN
        entered_in, note = 0.0, SizeNote.max_gross_exposure
    if note >= 0:
        n_skip = note_nb(skip, n_skip, t, j, note)
    return entered_in != 0.0, n_skip


@numba.njit(cache=True)
def _column_nb(open_, high, low, close, entries, exits, short_entries, short_exits, levels, exit_ops, exit_args,
               times, start, j, risk, exec_open, long_short, orders, vbt_order, init_cash, records, n, equity,
               cash_out, pos_out, skip, n_skip):
    """Column j of `simulate_nb` (`risk` its record; `orders`: its entries are limit or stop orders): its
    trades from record row n on, its equity, cash and units, its notes from row n_skip on; returns (n,
    n_skip)."""
    T = close.shape[1]
    risk = on_stack_nb(risk)  # type: ignore[call-arg]  # numba passes the typing context
    stack = exit_stack_nb()
    has_program = has_exit_program_nb(risk)  # the guard keeps the program's call out of the loop's fast path
    pos = flat_nb()
    order = no_order_nb()
    cash = init_cash
    pend_e = pend_x = pend_se = pend_sx = False
    last_close = np.nan
    last_bar = -1
    for t in range(T):
        c = close[j, t]
        if t < start or np.isnan(c):
            units = held_units_nb(pos)
            equity[j, t] = cash + worth_nb(pos, last_close, times[t], entry_time_nb(pos, times, risk), risk) \
                if units != 0.0 else cash
            cash_out[j, t] = cash
            pos_out[j, t] = units
            continue
        o, h, lo, c = bar_nb(open_, high, low, close, j, t)
        raw_e, raw_x = entries[j, t], exits[j, t]
        sig_e, sig_x, pend_e, pend_x = signals_nb(pend_e, pend_x, exec_open, raw_e, raw_x)
        se_t, sx_t = short_signals_nb(short_entries, short_exits, j, t, long_short)
        sig_se, sig_sx, pend_se, pend_sx = signals_nb(pend_se, pend_sx, exec_open, se_t, sx_t)
        if has_program and not exec_open and pos[POS_IN] != 0.0:
            sig_x, sig_sx = exit_program_nb(advance_nb(pos, False, h, lo), c, exit_ops, exit_args, levels, risk, j, t,
                                            stack, sig_x, sig_sx)
        it = intents_nb(sig_e, sig_x, sig_se, sig_sx, risk, long_short)
        lv, order_prices = bar_levels_nb(levels, risk, j, t, last_bar, exec_open, orders, it, order)
        xlevel = exit_order_level_nb(levels, risk, j, last_bar, pos, long_short)
        pos, order, cash, closed, ex, closed2, ex2, note = bar_step_nb(pos, order, t, o, h, lo, c, times[t],
                                                                       entry_time_nb(pos, times, risk), it,
                                                                       (raw_e, raw_x, se_t, sx_t), order_prices,
                                                                       cash, exec_open, long_short, orders,
                                                                       vbt_order, risk, lv, xlevel)
        if ex[EXIT_REASON] >= 0:
            n = record_nb(records, n, j, closed, ex, t)
            if ex2[EXIT_REASON] >= 0:
                n = record_nb(records, n, j, closed2, ex2, t)
        if has_program and exec_open and pos[POS_IN] != 0.0:  # for the next open
            pend_x, pend_sx = exit_program_nb(pos, c, exit_ops, exit_args, levels, risk, j, t, stack, pend_x, pend_sx)
        if note >= 0:  # rare; guarded here, the store path kept out of the bar loop costs nothing (measured)
            n_skip = note_nb(skip, n_skip, t, j, note)
        last_close = c
        last_bar = t
        units = held_units_nb(pos)
        equity[j, t] = cash + worth_nb(pos, c, times[t], entry_time_nb(pos, times, risk), risk)
        cash_out[j, t] = cash
        pos_out[j, t] = units
    if pos[POS_IN] != 0.0:
        pos, ex = mark_out_nb(pos, last_close, borrow_nb(pos, times[last_bar], entry_time_nb(pos, times, risk), risk))
        n = record_nb(records, n, j, pos, ex, last_bar)
    return n, n_skip


def simulate_portfolio_nb(open_, high, low, close, entries, exits, short_entries, short_exits, levels, exit_ops,
                          exit_args, times, start, risk, vbt_order, init_cash, max_trades):
    """One shared cash account over the N columns (``exec_open`` and ``long_short`` must be the same in every
    risk record): `_portfolio_nb` through the entry compiled for ``long_short`` as a literal (see
    `short_signals_nb` and `ruleengine.kernels.modes`)."""
    long_short = bool(risk.shape[0] > 0 and risk[0]["long_short"])
    return portfolio_entry(long_short)(open_, high, low, close, entries, exits, short_entries, short_exits, levels,
                                       exit_ops, exit_args, times, start, risk, vbt_order, init_cash, max_trades)


@per_mode
def portfolio_entry(long_short: bool):
    """The compiled portfolio for one value of ``long_short`` (a literal of the closure)."""

    @numba.njit(cache=True)
    def portfolio_mode_nb(open_, high, low, close, entries, exits, short_entries, short_exits, levels, exit_ops,
                          exit_args, times, start, risk, vbt_order, init_cash, max_trades):
        return _portfolio_nb(open_, high, low, close, entries, exits, short_entries, short_exits, levels, exit_ops,
                             exit_args, times, start, risk, long_short, vbt_order, init_cash, max_trades)

    return portfolio_mode_nb


@numba.njit(cache=True)
def _portfolio_nb(open_, high, low, close, entries, exits, short_entries, short_exits, levels, exit_ops, exit_args,
                  times, start, risk, long_short, vbt_order, init_cash, max_trades):
    """One shared cash account over the N columns (``exec_open`` must be the same in every risk record).

    Each bar in time order, every phase over all columns (column order): the orders pending at the open;
    with open fills the entries at the open; the rest of the bar (stops, then close orders); with close
    fills the entries at the close. Each entry is sized on the equity at its fill (cash + the open positions
    at that open or close, or their last close), taken before the phase's entries, and skipped when the cash
    left does not cover it (never a partial position) or a cap stops it (`_enter_all_nb`): skipped entries
    are recorded (`skip_dt`, with their `SizeNote`) in ``skip`` (the first ``max_trades``) and counted in
    ``n_skip``.
    Returns (records, n_trades, equity (1, T), cash (1, T), position (N, T), skip (K, `skip_dt`), n_skip).
    """
    N, T = close.shape
    records = np.empty(max_trades, dtype=trade_dt)
    skip = np.empty(max_trades, dtype=skip_dt)
    n_skip = 0
    equity = np.empty((1, T))
    cash_out = np.empty((1, T))
    pos_out = np.zeros((N, T))
    rows = np.empty((N, N_POS))
    orders = np.empty((N, N_ORD))  # the pending limit or stop order of each column (ORD_*)
    rest = np.empty((N, 3))  # the open, high and low of the part of bar t after an order's fill
    market = np.full(N, np.nan)  # no fill price given: market entries at the bar's open or close
    fills = np.full(N, np.nan)  # the order fills of a bar
    order_bars = np.full(N, -1, dtype=np.int64)  # the signal bar of each order worked on the bar (its levels)
    order_its = np.zeros((N, 4), dtype=np.bool_)  # their sides, as intents
    filled = np.zeros(N, dtype=np.bool_)
    for j in range(N):
        store_nb(rows, j, flat_nb())
        store_order_nb(orders, j, no_order_nb())
    with_orders = False
    for j in range(N):
        with_orders = with_orders or risk[j].order_kind != ORDER_MARKET
    pend = np.zeros((N, 4), dtype=np.bool_)  # signals pending since the previous close (open fills)
    its = np.zeros((N, 4), dtype=np.bool_)  # the bar's `intents_nb` per column
    may_enter = np.zeros(N, dtype=np.bool_)  # flat at the bar's start, or closed on it by the opposite entry
    last_close = np.full(N, np.nan)
    last_bar = np.full(N, -1, dtype=np.int64)
    at_open = N > 0 and risk[0].exec_open
    stack = exit_stack_nb()
    cash = init_cash
    n = 0
    for t in range(T):
        if t < start:
            equity[0, t] = cash
            cash_out[0, t] = cash
            continue
        # the open: signals of the bar, orders pending at the open
        for j in range(N):
            may_enter[j] = False
            if np.isnan(close[j, t]):
                continue
            sig_e, sig_x, pend[j, 0], pend[j, 1] = signals_nb(pend[j, 0], pend[j, 1], at_open, entries[j, t],
                                                              exits[j, t])
            se_t, sx_t = short_signals_nb(short_entries, short_exits, j, t, long_short)
            sig_se, sig_sx, pend[j, 2], pend[j, 3] = signals_nb(pend[j, 2], pend[j, 3], at_open, se_t, sx_t)
            if not at_open and has_exit_program_nb(risk[j]) and load_nb(rows, j)[POS_IN] != 0.0:
                _o, h, lo, c = bar_nb(open_, high, low, close, j, t)  # the exit program on the position at the close
                sig_x, sig_sx = exit_program_nb(advance_nb(load_nb(rows, j), False, h, lo), c, exit_ops, exit_args,
                                                levels, risk[j], j, t, stack, sig_x, sig_sx)
            it = intents_nb(sig_e, sig_x, sig_se, sig_sx, risk[j], long_short)
            if risk[j].order_kind != ORDER_MARKET:  # entries act through the orders (an opposite one reverses)
                it = (False, it[1], False, it[3])
            its[j, 0], its[j, 1], its[j, 2], its[j, 3] = it
            may_enter[j] = rows[j, POS_IN] == 0.0
            if may_enter[j] or not at_open or not closes_nb(rows[j, POS_IN], it):  # no exit order at the open
                continue
            o = bar_nb(open_, high, low, close, j, t)[0]
            pos = load_nb(rows, j)
            pos, ex = at_open_nb(pos, o, times[t], entry_time_nb(pos, times, risk[j]), it, at_open, vbt_order,
                                 risk[j])
            if ex[EXIT_REASON] >= 0:
                cash += ex[EXIT_GROSS] - ex[EXIT_FEE]
                n = record_nb(records, n, j, pos, ex, t)
                store_nb(rows, j, pos)
                may_enter[j] = True  # an opposite entry reverses at this open
        if at_open:
            cash, n_skip = _enter_all_nb(rows, t, open_, high, low, close, times, its, may_enter, market, order_bars,
                                         risk, cash, last_close, last_bar, levels, True, skip, n_skip)
        if with_orders:  # the limit and stop orders, at the open or inside the bar
            for j in range(N):
                filled[j] = False
                fills[j] = np.nan
                if np.isnan(close[j, t]) or orders[j, ORD_LEFT] == 0.0:
                    continue
                o, h, lo, c = bar_nb(open_, high, low, close, j, t)
                order = load_order_nb(orders, j)
                order_bars[j] = int(order[ORD_BAR])
                side = order[ORD_SIDE]
                if rows[j, POS_IN] == 0.0:
                    f, rest[j, 0], rest[j, 1], rest[j, 2], after = work_order_nb(order, o, h, lo, c, risk[j])
                else:  # long_short: a reversal order of the held position
                    pos = load_nb(rows, j)
                    f, rest[j, 0], rest[j, 1], rest[j, 2], after = reverse_order_nb(
                        pos, order, o, h, lo, c, risk[j], exit_order_level_nb(levels, risk[j], j, last_bar[j], pos,
                                                                               long_short))
                    if not np.isnan(f):
                        pos, ex = leave_nb(pos, f, ExitReason.signal, risk[j].slippage, risk[j].fees,
                                           borrow_nb(pos, times[t], entry_time_nb(pos, times, risk[j]), risk[j]))
                        cash += ex[EXIT_GROSS] - ex[EXIT_FEE]
                        n = record_nb(records, n, j, pos, ex, t)
                        store_nb(rows, j, pos)
                store_order_nb(orders, j, after)
                filled[j] = not np.isnan(f)
                fills[j] = f
                order_its[j, 0], order_its[j, 1], order_its[j, 2], order_its[j, 3] = (side > 0, False, side < 0, False)
            cash, n_skip = _enter_all_nb(rows, t, open_, high, low, close, times, order_its, filled, fills, order_bars,
                                         risk, cash, last_close, last_bar, levels, True, skip, n_skip)
        # the rest of the bar: stops, then the orders at the close
        for j in range(N):
            if np.isnan(close[j, t]) or rows[j, POS_IN] == 0.0:
                continue
            o, h, lo, c = bar_nb(open_, high, low, close, j, t)
            if risk[j].order_kind != ORDER_MARKET and rows[j, POS_ENTRY_BAR] == t:  # an order filled in this bar
                o, h, lo = rest[j, 0], rest[j, 1], rest[j, 2]
            pos = load_nb(rows, j)
            it = (its[j, 0], its[j, 1], its[j, 2], its[j, 3])
            xlevel = exit_order_level_nb(levels, risk[j], j, last_bar[j], pos, long_short)
            pos, ex = after_open_nb(pos, t, o, h, lo, c, times[t], entry_time_nb(pos, times, risk[j]), it, at_open,
                                    vbt_order, risk[j], xlevel)
            if ex[EXIT_REASON] >= 0:
                cash += ex[EXIT_GROSS] - ex[EXIT_FEE]
                n = record_nb(records, n, j, pos, ex, t)
                if ex[EXIT_REASON] == ExitReason.signal:  # an opposite entry reverses at this close
                    may_enter[j] = True
            elif at_open and has_exit_program_nb(risk[j]) and pos[POS_IN] != 0.0:  # pending for the next open
                pend[j, 1], pend[j, 3] = exit_program_nb(pos, c, exit_ops, exit_args, levels, risk[j], j, t, stack,
                                                         pend[j, 1], pend[j, 3])
            store_nb(rows, j, pos)
        if not at_open:
            cash, n_skip = _enter_all_nb(rows, t, open_, high, low, close, times, its, may_enter, market, order_bars,
                                         risk, cash, last_close, last_bar, levels, False, skip, n_skip)
        if with_orders:  # the close: this bar's signals place, replace or cancel the orders
            for j in range(N):
                if np.isnan(close[j, t]) or risk[j].order_kind == ORDER_MARKET:
                    continue
                se_t, sx_t = short_signals_nb(short_entries, short_exits, j, t, long_short)
                prices = (level_nb(levels, risk[j].entry_order_price_row, j, t) if entries[j, t] else np.nan,
                          level_nb(levels, risk[j].short_entry_order_price_row, j, t) if se_t else np.nan)
                store_order_nb(orders, j, place_order_nb(load_order_nb(orders, j), load_nb(rows, j), t,
                                                         (entries[j, t], exits[j, t], se_t, sx_t), prices, risk[j],
                                                         long_short))
        # marks
        value = cash
        for j in range(N):
            if not np.isnan(close[j, t]):
                last_close[j] = close[j, t]
                last_bar[j] = t
            units = rows[j, POS_IN] * rows[j, POS_UNITS]
            if units != 0.0:
                pos = load_nb(rows, j)
                value += worth_nb(pos, last_close[j], times[t], entry_time_nb(pos, times, risk[j]), risk[j])
            pos_out[j, t] = units
        equity[0, t] = value
        cash_out[0, t] = cash
    for j in range(N):
        if rows[j, POS_IN] != 0.0:
            pos = load_nb(rows, j)
            pos, ex = mark_out_nb(pos, last_close[j], borrow_nb(pos, times[last_bar[j]],
                                                                entry_time_nb(pos, times, risk[j]), risk[j]))
            n = record_nb(records, n, j, pos, ex, last_bar[j])
    return records, n, equity, cash_out, pos_out, skip[:min(n_skip, max_trades)], n_skip


@numba.njit(cache=True, inline="always")
def _enter_all_nb(rows, t, open_, high, low, close, times, its, may_enter, fills, order_bars, risk, cash,
                  last_close, last_bar, levels, at_open, skip, n_skip):
    """The portfolio's entries of bar t at its open or close, in column order; returns (cash, n_skip).

    A column enters when `may_enter` (flat at the bar's start, or just closed by the opposite entry: a
    reversal) and its intents (`its`, `intents_nb`) hold an entry. Each is sized by `sized_entry_nb` on the equity
    before them: cash + every held position at this open or close (its last close without a bar), and skipped
    (recorded in ``skip`` with its `SizeNote`) when the cash left does not cover it (never a partial position),
    when ``max_open_positions`` are open, or when the gross exposure would pass ``max_gross_exposure`` x that
    equity: units x price of every position, the held ones at this open or close, the ones entered in this
    step at their entry price. A column's levels are those of its signal's bar: its previous bar with open
    fills (`last_bar`, not yet moved to t), t with close fills. `fills` are the fill prices of limit and stop
    orders (NaN: a market entry at this open or close), `order_bars` their signal bars (whose levels they
    read)."""
    wanted = False
    for j in range(rows.shape[0]):
        wanted = wanted or (may_enter[j] and (its[j, 0] or its[j, 2]))
    if not wanted:
        return cash, n_skip
    value = cash
    gross = 0.0
    held = 0
    for j in range(rows.shape[0]):
        if rows[j, POS_IN] != 0.0:
            if np.isnan(close[j, t]):
                mark = last_close[j]
            else:
                mark = bar_nb(open_, high, low, close, j, t)[0] if at_open else close[j, t]
            pos = load_nb(rows, j)
            value += worth_nb(pos, mark, times[t], entry_time_nb(pos, times, risk[j]), risk[j])
            gross += rows[j, POS_UNITS] * mark
            held += 1
    for j in range(rows.shape[0]):
        side = entry_side_nb((its[j, 0], its[j, 1], its[j, 2], its[j, 3]))
        market = np.isnan(fills[j])
        if not may_enter[j] or side == 0.0 or rows[j, POS_IN] != 0.0 or value <= 0 or \
                (market and risk[j].order_kind != ORDER_MARKET):  # a limit or stop column enters by its order
            continue
        if 0 < risk[j].max_open_positions <= held:
            n_skip = note_nb(skip, n_skip, t, j, SizeNote.max_open_positions)
            continue
        o, _h, _lo, c = bar_nb(open_, high, low, close, j, t)
        bar = (last_bar[j] if at_open else t) if market else int(order_bars[j])
        lv = levels_nb(levels, risk[j], j, bar)
        fill = (o if at_open else c) if market else fills[j]
        entered, spent, note = sized_entry_nb(t, fill, side, value, cash, True, risk[j], lv)
        exposure = entered[POS_UNITS] * entered[POS_ENTRY]
        admitted, n_skip = admit_nb(entered[POS_IN], note, gross, exposure, risk[j].max_gross_exposure, value,
                                    skip, n_skip, t, j)
        if not admitted:
            continue
        store_nb(rows, j, entered)
        cash -= spent
        gross += exposure
        held += 1
    return cash, n_skip
