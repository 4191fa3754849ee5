"""Record dtypes and enums of the simulation kernels, in the style of vectorbt's ``portfolio/enums.py``.

The kernels (`ruleengine.kernels.simulate`) write their trades into an array of `trade_dt` and their
skipped entries (and entries cut down to the cash) into an array of `skip_dt`; every reader uses the field
names, never positions.
They read their risk settings from one record per column whose dtype (`ruleengine.backtest.simulation.risk_dt`)
is built from the document model's risk fields, by name too.
An enum is a ``NamedTuple`` instance of int constants (vectorbt's pattern): numba reads its attributes as
compile-time integers, and its field names are the strings users see (``exit_reason`` in trade tables,
reports and JSON), so ``ExitReason._fields[code]`` is the name of a code.

Adding an exit kind: its setting in the document model (`ruleengine.schema.strategy.RiskParameters`, which
puts it in the risk record), its reason here (at the end: the codes of existing kinds must not move), the
kernel step that produces it (`ruleengine.kernels.simulate`) and the results/report that explain it.
"""
from typing import Any, NamedTuple


class ExitReasonT(NamedTuple):
    """Why a trade closed (the ``exit_reason`` field of `trade_dt`)."""

    signal: int = 0  # the strategy's exit signal
    stop_loss: int = 1
    take_profit: int = 2
    trailing_stop: int = 3
    max_hold: int = 4  # max_hold_days or max_hold_bars reached
    end_of_data: int = 5  # still open at the last bar: marked at its last close, no exit order
    exit_order: int = 6  # the strategy's exit order (a stop or limit re-placed every bar at an expression)


class ExitOpT(NamedTuple):
    """Instructions of an exit program (`ruleengine.compile.exit_program`, run by
    `ruleengine.kernels.exit_program.run_exit_program_nb`): postfix over a stack of float64 (true/false as
    1.0/0.0). The first three push a value (their operand: a level row, a position variable's index, a
    constant); the others pop their operands and push the result, with the language's rules (NaN compares
    false under every comparison, ``x / 0`` is inf or NaN)."""

    level: int = 0  # push the level row (program's first row + operand) at this bar
    var: int = 1  # push a position variable (`ruleengine.lang.position.POSITION_INDEX`)
    const: int = 2  # push the operand
    neg: int = 3
    not_: int = 4
    add: int = 5
    sub: int = 6
    mul: int = 7
    div: int = 8
    lt: int = 9
    le: int = 10
    gt: int = 11
    ge: int = 12
    eq: int = 13
    ne: int = 14
    and_: int = 15
    or_: int = 16
    abs: int = 17
    min: int = 18
    max: int = 19
    sqrt: int = 20  # the math functions, with numpy's values outside their domain (NaN, inf, -inf)
    exp: int = 21
    log: int = 22
    pow: int = 23
    clip: int = 24  # pops three: x, lo, hi
    where: int = 25  # pops three: cond, a, b (a NaN cond is false)


ExitReason = ExitReasonT()
ExitOp = ExitOpT()
#: the opcode of each operation name of the IR (`ruleengine.lang.operators`, ``fn:`` for functions)
EXIT_OPCODES: dict[str, int] = {name.rstrip("_"): code for name, code in zip(ExitOp._fields, ExitOp, strict=True)}

#: the kinds of per-bar numeric series ("levels") a strategy may hand the fill step beside its signals, each
#: read at the bar of the signal it belongs to: a stop's and a target's distance from the entry price (price
#: units), an entry order's price, the volatility that sizes a position, a pair's hedge ratio, and a long/short
#: strategy's short entry order price (its long side's is ``entry_order_price``): `SIGNAL_LEVEL_KINDS`,
#: `ruleengine.kernels.simulate.levels_nb` reads them in this order (a new kind is added there too). Then the
#: exit order's level (a long_short strategy's short positions': ``short_exit_order_price``), read at the bar
#: before each bar a position is held, not at a signal's (`ruleengine.kernels.simulate.exit_order_level_nb`).
#: The kernels take them as rows of one (L, Q, T) float64 array; the risk record's ``<kind>_row`` names a
#: kind's row (-1: not used).
SIGNAL_LEVEL_KINDS: tuple[str, ...] = ("stop_loss_distance", "take_profit_distance", "entry_order_price",
                                       "volatility", "hedge_ratio", "short_entry_order_price")
LEVEL_KINDS: tuple[str, ...] = SIGNAL_LEVEL_KINDS + ("exit_order_price", "short_exit_order_price")
#: the entry order kinds of the risk record's ``order_kind`` (`ruleengine.schema.orders.ORDER_TYPES`' order)
ORDER_MARKET = 0
ORDER_LIMIT = 1
ORDER_STOP = 2
#: the levels of an exit program (`ruleengine.kernels.exit_program`) are kinds ``exit_program:0``,
#: ``exit_program:1``, ... after those of `LEVEL_KINDS`; the risk record's ``exit_program_row`` names the first
EXIT_PROGRAM_LEVEL = "exit_program:"
#: the levels of a long_short strategy's ``short_exit`` program: kinds ``short_exit_program:0``, ... after those
#: of the ``exit`` block's program; the risk record's ``short_exit_program_row`` names the first
SHORT_EXIT_PROGRAM_LEVEL = "short_exit_program:"
#: the user-visible names, indexed by code
EXIT_REASON_NAMES: tuple[str, ...] = ExitReason._fields


class SizeNoteT(NamedTuple):
    """Why an entry was skipped, or that it was made smaller than its sizing asked (the ``reason`` of `skip_dt`)."""

    cash: int = 0  # portfolio: the cash left did not cover the entry (never a partial position)
    max_open_positions: int = 1  # portfolio: that many positions were open
    max_gross_exposure: int = 2  # portfolio: the open positions' value would pass max_gross_exposure_pct
    zero_units: int = 3  # whole_units: the size rounds down to 0 units
    no_stop: int = 4  # risk_per_trade_pct: no stop distance > 0 at the fill
    no_volatility: int = 5  # volatility_target_pct: the volatility at the signal bar is NaN or <= 0
    capped_by_cash: int = 6  # single run: made, with all the cash, smaller than asked (not a skip)


SizeNote = SizeNoteT()
#: the user-visible names, indexed by code
SIZE_NOTE_NAMES: tuple[str, ...] = SizeNote._fields

#: one closed trade; bars are rows of the run's index, prices after slippage, ``size`` in units, ``pnl``
#: after the fees of both sides, ``pnl_pct`` = pnl / cash spent on the entry (fee included) x 100
_TRADE_FIELDS = (
    ("column", "int64"),
    ("entry_bar", "int64"),
    ("exit_bar", "int64"),
    ("exit_reason", "int64"),  # an `ExitReason` code
    ("entry_price", "float64"),
    ("exit_price", "float64"),
    ("size", "float64"),
    ("pnl", "float64"),
    ("pnl_pct", "float64"),
    ("fees", "float64"),  # both sides
    ("direction", "int64"),  # 1 long, -1 short
)

#: one closed pair position (`ruleengine.kernels.pairs`): the fields of a trade describe the position and its
#: first leg (entry_price, exit_price, size: the first leg's; pnl, pnl_pct, fees: both legs together, pnl_pct of
#: the cash both legs took; direction: 1 long the pair = long the first leg), then each leg's own P&L and the
#: second leg's fills (its side is the opposite of direction)
_PAIR_TRADE_FIELDS = _TRADE_FIELDS + (
    ("leg_a_pnl", "float64"),
    ("leg_b_pnl", "float64"),
    ("leg_b_entry_price", "float64"),
    ("leg_b_exit_price", "float64"),
    ("leg_b_size", "float64"),
    ("leg_b_fees", "float64"),
)

#: the fields a pair trade adds to a trade's
PAIR_TRADE_COLUMNS: tuple[str, ...] = tuple(name for name, _ in _PAIR_TRADE_FIELDS[len(_TRADE_FIELDS):])

#: an entry skipped (the cash left did not cover it, a cap, a sizing rule) or cut down to the cash available
_SKIP_FIELDS = (
    ("bar", "int64"),
    ("column", "int64"),
    ("reason", "int64"),  # a `SizeNote` code
)

_DTYPES = {"trade_dt": _TRADE_FIELDS, "pair_trade_dt": _PAIR_TRADE_FIELDS, "skip_dt": _SKIP_FIELDS}


def __getattr__(name: str) -> Any:
    """`trade_dt`, `pair_trade_dt` and `skip_dt`, built on first use: the enums are read where numpy must not be loaded
    (the exit reasons of the fill contract's text, on the validation path)."""
    fields = _DTYPES.get(name)
    if fields is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import numpy as np

    dtype = globals()[name] = np.dtype(list(fields), align=True)
    return dtype
