"""What a cross-sectional function needs besides its input: who is in the universe on each bar, in which order.

Per-symbol functions see one column at a time; `rank`, `top` and the other cross-sectional functions
(`lang.functions`, ``cross_sectional=True``) see, on each bar, the columns of one parameter set: the
symbols of the run. Which of them take part on bar t is the universe's membership (all symbols, or a
point-in-time universe such as ``@sp500``: `MarketData.members`); ties of `top`/`bottom` go to the earlier
symbol name (`order`). A run of one symbol has no cross-section: C117.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import Diagnostic, RuleEngineError
from ..lang.functions import CROSS_SECTIONAL

#: the hint of C117 (a cross-sectional function in a run of one symbol)
UNIVERSE_HINT = ("run it over a universe: --symbols AAPL,MSFT,XOM, --symbols @universe.txt or --symbols @sp500 "
                 "(several symbols; a one-symbol run has nothing to rank against)")


@dataclass(frozen=True)
class CrossSection:
    """`member` (T, S) bool: symbol s belongs to the universe on bar t; `order` (S,) int64: each symbol's
    position in name order."""

    member: np.ndarray
    order: np.ndarray

    @classmethod
    def of(cls, n_rows: int, n_cols: int, labels: Sequence[str] | None = None,
           member: np.ndarray | None = None) -> CrossSection:
        """Everyone a member on every bar unless `member` says otherwise; name order from `labels` (else the
        column order)."""
        if member is None:
            member = np.ones((n_rows, n_cols), dtype=np.bool_, order="F")
        if labels is None:
            order = np.arange(n_cols, dtype=np.int64)
        else:
            order = np.empty(n_cols, dtype=np.int64)
            order[np.argsort(np.asarray(labels, dtype=object), kind="stable")] = np.arange(n_cols)
        return cls(np.asfortranarray(member, dtype=np.bool_), order)


def uses_cross_section(plan: Any) -> bool:
    """True when a plan (`Plan` or `GridPlan`) computes a cross-sectional function."""
    ops = {"fn:" + name for name in CROSS_SECTIONAL}
    blocks = getattr(plan, "blocks", None)
    if blocks is not None and not hasattr(plan, "graph"):
        return any(b.op in ops for b in blocks)
    return any(plan.graph.nodes[i].op in ops for i in plan.order)


def needs_universe(n_cols: int, found: Diagnostic | None = None) -> None:
    """C117 when a cross-sectional plan runs on fewer than 2 symbols (`found`: the diagnostic pointing at the
    call, when the caller knows the document)."""
    if n_cols >= 2:
        return
    raise RuleEngineError([found or Diagnostic(
        "C117", "a cross-sectional function (rank, percentile, cs_zscore, cs_mean, top, bottom) needs a "
        "universe of several symbols, this run has one", hint=UNIVERSE_HINT)])


def restrict_to_members(groups: tuple[np.ndarray, ...], members: np.ndarray) -> tuple[np.ndarray, ...]:
    """A point-in-time universe's rule for trading: entries (long and short) only on bars where the symbol is
    a member; an exit signal on every bar where it is not, so a held position closes on the first bar after
    its membership ended. `groups` are (T, P*S) signal groups (entries, exits[, short entries, short exits]),
    `members` (T, S); both are changed in place and returned."""
    n_sets = groups[0].shape[1] // members.shape[1]
    inside = np.tile(members, (1, n_sets))
    for i, g in enumerate(groups):
        if i % 2 == 0:
            g &= inside
        else:
            g |= ~inside
    return groups
