"""Record dtypes and enums of the simulation kernels, in the style of vectorbt's ``portfolio/enums.py``.

The kernels (`ruleengine.kernels.simulate`) write their trades into an array of `trade_dt` and their
skipped portfolio entries into an array of `skip_dt`; every reader uses the field names, never positions.
An enum is a ``NamedTuple`` instance of int constants (vectorbt's pattern): numba reads its attributes as
compile-time integers, and its field names are the strings users see (``exit_reason`` in trade tables,
reports and JSON), so ``ExitReason._fields[code]`` is the name of a code.

Adding an exit kind: a field here (at the end: the codes of existing kinds must not move), the kernel
step that produces it (`ruleengine.kernels.simulate`) and the results/report that explain it.
"""
from typing import NamedTuple

import numpy as np


class ExitReasonT(NamedTuple):
    """Why a trade closed (the ``exit_reason`` field of `trade_dt`)."""

    signal: int = 0  # the strategy's exit signal
    stop_loss: int = 1
    take_profit: int = 2
    trailing_stop: int = 3
    max_hold: int = 4  # max_hold_days or max_hold_bars reached
    end_of_data: int = 5  # still open at the last bar: marked at its last close, no exit order


ExitReason = ExitReasonT()
#: the user-visible names, indexed by code
EXIT_REASON_NAMES: tuple[str, ...] = ExitReason._fields

#: one closed trade; bars are rows of the run's index, prices after slippage, ``size`` in units, ``pnl``
#: after the fees of both sides, ``pnl_pct`` = pnl / cash spent on the entry (fee included) x 100
trade_dt = np.dtype([
    ("column", np.int64),
    ("entry_bar", np.int64),
    ("exit_bar", np.int64),
    ("exit_reason", np.int64),  # an `ExitReason` code
    ("entry_price", np.float64),
    ("exit_price", np.float64),
    ("size", np.float64),
    ("pnl", np.float64),
    ("pnl_pct", np.float64),
    ("fees", np.float64),  # both sides
], align=True)

#: a portfolio entry skipped because the cash left did not cover it
skip_dt = np.dtype([
    ("bar", np.int64),
    ("column", np.int64),
], align=True)
