"""A rotation portfolio's expressions (stage 3) and its target weights (after execution).

The ``hold`` selection and the weight expression (``volatility`` for inverse-volatility weights, or
``weights`` itself) are checked here and handed to the planners as levels (`exit_program.level_trees`:
kinds `HOLD` and `WEIGHT`), so they share subexpressions, warm-up and cross-sections with everything else.
`target_weights` turns those levels into the (T, P*S) weights the rebalancing kernel trades to: on a rebalance
bar, the held names (selected, members, allowed by the entry/exit filters, with a weight > 0) normalised to 1,
0 for the others; NaN on every other bar. Row t reads only values at t (causal: truncation-tested).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import Diagnostic, RuleEngineError, Span
from ..lang.check import Env, check_expression
from ..lang.parse import parse
from ..lang.position import position_dependent
from ..schema.strategy import TradingStrategy
from ..source import Loaded
from .frontend import CheckedCondition, ConditionSource, Fragment, locate

if TYPE_CHECKING:  # numpy stays out of `validate` (tests/test_startup.py): imported where weights are computed
    import numpy as np

#: level kinds of a rotation (`exit_program.level_trees`)
HOLD = "rotation_hold"
WEIGHT = "rotation_weight"


def check_rotation(strategy: TradingStrategy, env: Env, doc: Loaded | None, exits: list[CheckedCondition]
                   ) -> tuple[dict[str, CheckedCondition], list[Diagnostic]]:
    """The checked rotation expressions by level kind and their diagnostics, located in the document: the
    selection must be true/false (C108), the weight a number (L121); exit filters take no position variables
    (S143: a rotation has no trades whose state they could read)."""
    rot = strategy.rotation
    if rot is None:
        return {}, []
    fields = [(HOLD, "hold", True)]
    weight_field = rot.weight_field()
    if weight_field is not None:
        fields.append((WEIGHT, weight_field, False))
    out: dict[str, CheckedCondition] = {}
    diags: list[Diagnostic] = []
    for kind, name, is_bool in fields:
        text = str(getattr(rot, name))
        src = ConditionSource("rotation", name, text, [Fragment(0, len(text), ("rotation", name))], text)
        whole = Span(1, 1, 1, len(text) + 1)
        try:
            tree = parse(text)
        except RuleEngineError as exc:
            diags += [locate(d, src, doc) for d in exc.diagnostics]
            continue
        ty, found = check_expression(tree, env, "rotation")
        if not found and is_bool and not ty.is_bool:
            found = [Diagnostic("C108", f"rotation.hold is a {ty}, not true/false", whole, None,
                                "select the names to hold, e.g. top(roc(close, 126), 10)", stage="check")]
        elif not found and not is_bool and not ty.is_numeric:
            found = [Diagnostic("L121", f"rotation.{name} is a {ty}, not a number", whole, None,
                                "give a number expression, e.g. stddev(log_return(close, 1), 60)", stage="check")]
        located = [locate(d, src, doc) for d in found]
        diags += located
        if not any(d.severity == "error" for d in located):
            out[kind] = CheckedCondition(src, tree)
    for cond in exits:
        if position_dependent(cond.tree):
            diags.append(locate(Diagnostic(
                "S143", "a rotation portfolio cannot use position variables in exit conditions: its exit "
                "conditions filter the held names on each rebalance bar", Span(1, 1, 1, len(cond.source.text) + 1),
                None, "filter on a condition of the bar (e.g. close < sma(close, 200))"), cond.source, doc))
    return out, diags


def target_weights(hold: np.ndarray, weight: np.ndarray | None, rebalance: np.ndarray, start: int,
                   allowed: np.ndarray | None = None, inverse: bool = False, n_sets: int = 1,
                   out: np.ndarray | None = None) -> np.ndarray:
    """(T, P*S) target weights from the (T, P*S) `hold` level (1.0 where selected), the raw `weight` level
    (None: equal; `inverse`: 1 / weight), the (T,) bool `rebalance` bars and the (T, P*S) bool `allowed` (the
    entry/exit filters and membership; None: all). Rows before `start` (warm-up history) and rows that are not
    rebalance bars are NaN; a rebalance bar's weights are 0 outside the held names and sum to 1 over them (0
    everywhere when nothing is held), per parameter set (`n_sets` blocks of S columns). `out`: a (T, P*S) array
    that is NaN outside the rebalance rows, written in place (a sweep reuses one per chunk)."""
    import numpy as np

    n_rows, n_cols = hold.shape
    out = np.full((n_rows, n_cols), np.nan) if out is None else out
    rows = np.flatnonzero(rebalance)
    rows = rows[rows >= start]  # only these rows are computed: a sweep calls this once per variant
    held = hold[rows] == 1.0
    if allowed is not None:
        held &= allowed[rows]
    if weight is None:
        raw = held.astype(np.float64)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            w = 1.0 / weight[rows] if inverse else weight[rows]
        ok = held & np.isfinite(w) & (w > 0)
        raw = np.where(ok, w, 0.0)
    sub = raw.reshape(len(rows), n_sets, n_cols // n_sets)
    total = sub.sum(axis=2, keepdims=True)
    out[rows] = (sub / np.where(total > 0, total, 1.0)).reshape(len(rows), n_cols)
    return out
