"""Stage 6 for levels: the per-bar numeric series a strategy hands the simulation beside its signals.

A level (`ruleengine.kernels.enums.LEVEL_KINDS`) is an expression in price units evaluated on every bar, such
as a limit or stop entry order's price; the simulation reads it at the bar of the signal it belongs to. The
levels of every parameter set are one plan (`plan.build_expression_plan`), evaluated node by node (a level is
one expression: nothing to batch); their bars before the expression has a value are NaN (an entry signal
there places no order), and a level's warm-up and convergence count in the strategy's like a condition's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .execute import compute
from .plan import Plan, build_expression_plan

if TYPE_CHECKING:
    from .frontend import Analysis


def level_trees(analysis: Analysis) -> dict[str, Any]:
    """The checked expression of each level kind the strategy uses: ``entry_order_price`` for a limit or stop
    entry order."""
    return {} if analysis.order_price is None else {"entry_order_price": analysis.order_price.tree}


def plan_levels(analysis: Analysis, param_sets: list[dict[str, Any]]) -> Plan | None:
    """The plan of the strategy's levels for these parameter sets (None without levels)."""
    trees = level_trees(analysis)
    return build_expression_plan(list(trees.values()), param_sets) if trees else None


def level_values(analysis: Analysis, plan: Plan, inputs: Mapping[tuple[str, str], np.ndarray], n_rows: int,
                 n_cols: int) -> dict[str, np.ndarray]:
    """Kind -> (T, P*S) float64 levels, parameter set major; NaN before the expression has a value."""
    values = compute(plan, inputs, n_rows, n_cols, batch=False)
    kinds = list(level_trees(analysis))
    n_sets = len(plan.param_sets)
    out = {kind: np.empty((n_sets * n_cols, n_rows), dtype=np.float64).T for kind in kinds}
    for p, roots in enumerate(plan.roots):
        for kind, root in zip(kinds, roots, strict=True):
            block = out[kind][:, p * n_cols:(p + 1) * n_cols]
            block[...] = values[root]  # a constant price broadcasts over the bars
            block[:min(plan.lookback[root], n_rows)] = np.nan
    return out
