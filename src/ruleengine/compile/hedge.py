"""A pair's hedge ratio (``pair.hedge_ratio``) as an expression: checked at stage 3, computed at stage 6.

The hedge ratio of a pair position is read at its signal bar and fixed for the trade (`ruleengine.kernels.pairs`);
when the document gives an expression (e.g. a rolling regression beta) it is one float series per parameter set
and market column, handed to the kernels as the level kind ``hedge_ratio``. A true/false expression is S139.
A bar where it is NaN or not above 0 opens no pair (a window's warm-up included), so it adds no warm-up of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, RuleEngineError, Span
from ..lang.check import Env, check_expression
from ..lang.parse import parse
from ..schema.strategy import TradingStrategy
from ..source import Loaded
from .frontend import CheckedCondition, ConditionSource, Fragment, locate
from .ir import Graph, Memo, free_params, lower
from .plan import Plan, _schedule

if TYPE_CHECKING:
    import numpy as np

#: the document path of the hedge ratio
HEDGE_PATH = ("pair", "hedge_ratio")


def check_hedge_ratio(strategy: TradingStrategy, env: Env, doc: Loaded | None
                      ) -> tuple[CheckedCondition | None, list[Diagnostic]]:
    """The checked hedge ratio expression (None for a pair with a fixed number, or no pair) and its
    diagnostics, located in the document."""
    text = strategy.pair.hedge_expression() if strategy.pair is not None else None
    if text is None:
        return None, []
    src = ConditionSource("pair", 0, text, [Fragment(0, len(text), HEDGE_PATH)], text)
    try:
        tree = parse(text)
    except RuleEngineError as exc:
        return None, [locate(d, src, doc) for d in exc.diagnostics]
    ty, diags = check_expression(tree, env, "hedge_ratio")
    if not diags and ty.is_bool:
        diags = [Diagnostic("S139", f"the hedge ratio is a {ty}, not a number", Span(1, 1, 1, len(text) + 1), None,
                            "write the ratio itself, e.g. hedge_ratio: \"sma(asset_a.close, 60) / "
                            "sma(asset_b.close, 60)\", or a number such as 1.5", stage="check")]
    located = [locate(d, src, doc) for d in diags]
    if any(d.severity == "error" for d in located):
        return None, located
    return CheckedCondition(src, tree), located


def hedge_plan(hedge: CheckedCondition, param_sets: list[dict[str, Any]]) -> tuple[Plan, list[int]]:
    """The hedge ratio of each parameter set lowered into one graph (shared subtrees once) and planned: the plan
    and each set's root."""
    graph = Graph()
    memo: Memo = {}
    free = free_params(hedge.tree)
    roots = [lower(hedge.tree, params, graph, memo, free) for params in param_sets]
    plan = Plan(graph, param_sets, [(r, r) for r in roots])
    _schedule(plan)
    return plan, roots


def hedge_converge_bars(hedge: CheckedCondition, param_sets: list[dict[str, Any]]) -> int:
    """History the hedge ratio needs before the first traded bar to equal its full-history value (its window,
    and a recursive indicator's memory): the data layer fetches it like the conditions' warm-up."""
    plan, roots = hedge_plan(hedge, param_sets)
    return max(plan.converge[r] for r in roots)


def hedge_ratio_levels(hedge: CheckedCondition, param_sets: list[dict[str, Any]],
                       inputs: Mapping[tuple[str, str], np.ndarray], n_rows: int, n_cols: int) -> np.ndarray:
    """The hedge ratio of every parameter set on every market column: (T, P*S) float64, parameter set major
    (the layout of the entries)."""
    import numpy as np

    from .execute import compute

    plan, roots = hedge_plan(hedge, param_sets)
    values = compute(plan, inputs, n_rows, n_cols)
    out = np.empty((n_rows, len(param_sets) * n_cols), dtype=np.float64, order="F")
    for p, root in enumerate(roots):
        out[:, p * n_cols:(p + 1) * n_cols] = values[root]  # a scalar (a parameter alone) broadcasts
    return out
