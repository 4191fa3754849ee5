"""Live signals of a rotation portfolio: its rebalance plan on the latest completed bar.

A rotation does not signal per symbol: on each rebalance bar it sets target weights over the universe. Its live
signal (`rotation_plan`) says, from the same data and the same compiled selection a backtest uses:

- **targets**: the names the rotation would hold if it rebalanced on the evaluated bar (on a rebalance bar: the
  orders of that bar's close, or of the next open with ``execution_price: open``; on any other bar: what the
  next rebalance would select if the data did not move), with their weights;
- **held**: the targets set by the last rebalance at or before that bar (what a follower of the strategy holds);
- **buy** / **sell**: the names that come in and go out between the two;
- the **reason** of each name: the value of the expression the selection ranks (``roc(close, 126)`` in
  ``top(roc(close, 126), 10)``) and its rank among the universe's members that have one on that bar (1 = the
  first chosen: the largest for ``top``, ``rank``, ``percentile`` and ``cs_zscore``, the smallest for
  ``bottom``);
- the **next rebalance**: the next session that closes a rebalance period (exchange calendar).

The target of a name on bar t reads bars up to t only, so the plan on a rebalance bar equals the backtest's
weights on that bar (tested with ``asof`` cuts). Real data only, as for every live signal (D160).

Example:
    >>> plan = rotation_plan("rules/momentum_rotation.yaml", "@sp500", data="../shared/data")  # doctest: +SKIP
    >>> plan.buy, plan.sell  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

#: calendar days loaded before the evaluated bar (the warm-up history comes on top): the last rebalance of a
#: monthly rotation lies inside them
ROTATION_SPAN_DAYS = 100
#: functions whose first argument is the value a selection ranks, and whether the smallest ranks first
_RANKED = {"top": False, "rank": False, "percentile": False, "cs_zscore": False, "bottom": True}


class RotationTarget(BaseModel):
    symbol: str
    weight: float = Field(description="the target weight (0..1)")
    held_weight: float = Field(description="its target at the last rebalance (0: not held)")
    action: str = Field(description="buy (comes in), sell (goes out), hold (stays; its weight may change)")
    value: float | None = Field(description="the value the selection ranks, on the evaluated bar")
    rank: int | None = Field(description="its place among the universe's members with a value (1 = chosen first)")
    reason: str


class RotationPlan(BaseModel):
    """A rotation's live signal: what to hold from the next rebalance, and the orders it means."""

    kind: str = "rotation"
    strategy_name: str
    bar_time: datetime = Field(description="the evaluated bar (UTC)")
    rebalance: str = Field(description="the rebalance period")
    rebalance_today: bool = Field(description="the evaluated bar closes a rebalance period: its orders are due")
    next_rebalance: str | None = Field(description="the next session closing a rebalance period (after the bar)")
    last_rebalance: str | None = Field(description="the last rebalance bar at or before the evaluated bar")
    ranked_by: str | None = Field(description="the expression whose values rank the names (None: not a ranking)")
    targets: list[RotationTarget] = Field(description="every name held now or after the rebalance, largest "
                                                      "target first")
    buy: list[str]
    sell: list[str]
    evaluated: int = Field(description="symbols with a bar on the evaluated bar")
    text: str
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    providers: dict[str, str] = Field(default_factory=dict)
    synthetic: bool = False


def rotation_plan(strategy: Any, symbols: Any, *, asof: Any = None, provider: str | None = None,
                  data: str | None = None, params: Mapping[str, Any] | None = None, now: datetime | None = None,
                  no_cache: bool = False) -> RotationPlan:
    """The rebalance plan of a rotation strategy on the latest completed bar (at or before `asof`).

    Args:
        strategy: a path, text, dict, `TradingStrategy`, `CompiledStrategy` or stored `StrategyRecord` with a
            ``rotation`` block.
        symbols: the universe (``"@sp500"``, ``"SPY,QQQ,IWM"``, ``"@file"``, ...).
        asof, provider, data, params, now, no_cache: as for `ruleengine.live_scan`.

    Raises:
        RuleEngineError: S143 for a strategy without a rotation; D160 without real data; data errors.
    """
    from ..errors import Diagnostic, RuleEngineError
    from .signals import _last_completed_row, _strategy_params, load_live_data, resolve_target

    target = resolve_target(strategy)
    strat = target.strategy
    rot = strat.rotation
    if rot is None:
        raise RuleEngineError([Diagnostic("S143", "a rebalance plan needs a rotation strategy", path="rotation",
                                          hint="live signals of entry/exit strategies: ruleengine signals FILE "
                                               "--symbols ... (live_scan)")])
    strat_params = _strategy_params(strat, params)
    md = load_live_data(target, symbols, asof=asof, params=strat_params, provider=provider, data=data,
                        no_cache=no_cache, span_days=ROTATION_SPAN_DAYS)
    r = _last_completed_row(md, asof, now or datetime.now(UTC))
    seen = md.head(r + 1)
    compiled = target.compiled  # rules or generate_weights code: the same two steps as a backtest's weights
    levels = compiled.rotation_levels(seen, strat_params or None)
    values_set = levels.param_sets[0]
    if len(levels.param_sets) != 1:
        raise RuleEngineError([Diagnostic("D103", f"a rebalance plan takes one parameter set, got "
                                          f"{len(levels.param_sets)}", path="params",
                                          hint="give one value per parameter")])
    period = rot.rebalance_period(values_set)
    weights = compiled.rotation_targets(seen, levels, 0)
    today = np.zeros(seen.n_rows, dtype=bool)
    today[r] = True
    plan = compiled.rotation_targets(seen, levels, 0, bars=today)  # as if bar r closed a period
    rebalanced = np.flatnonzero(~np.isnan(weights).all(axis=1))
    last = int(rebalanced[-1]) if len(rebalanced) else None
    held = weights[last] if last is not None else np.zeros(seen.n_cols)
    goal = plan[r]
    ranked_by, values, ranks = _ranking(strat, seen, strat_params, r)
    base = strat.price_slot()
    has_bar = np.isfinite(seen.inputs[(base, "close")][r])
    rows = []
    for j in np.flatnonzero((goal > 0) | (held > 0)):
        sym = seen.labels[j]
        action = "buy" if held[j] == 0 else "sell" if goal[j] == 0 else "hold"
        value = None if values is None or not np.isfinite(values[j]) else float(values[j])
        rank = None if ranks is None or ranks[j] == 0 else int(ranks[j])
        rows.append(RotationTarget(symbol=sym, weight=float(goal[j]), held_weight=float(held[j]), action=action,
                                   value=value, rank=rank, reason=_reason(ranked_by, value, rank, action)))
    rows.sort(key=lambda t: (-t.weight, -t.held_weight, t.symbol))
    bar = md.index[r]
    ends = md.period_ends(period)
    due = bool(ends is not None and ends[r])
    res = RotationPlan(
        strategy_name=strat.name, bar_time=bar.tz_convert("UTC").tz_localize(None).to_pydatetime(),
        rebalance=period, rebalance_today=due, next_rebalance=_next_rebalance(bar, md.frequency, period),
        last_rebalance=None if last is None else str(md.index[last].date()), ranked_by=ranked_by, targets=rows,
        buy=[t.symbol for t in rows if t.action == "buy"], sell=[t.symbol for t in rows if t.action == "sell"],
        evaluated=int(has_bar.sum()), text="", warnings=[w.to_dict() for w in md.warnings],
        providers=dict(md.providers), synthetic=bool(md.synthetic))
    res.text = _summary(res)
    return res


def _ranking(strat: Any, seen: Any, params: Mapping[str, Any], r: int
             ) -> tuple[str | None, np.ndarray | None, np.ndarray | None]:
    """(the ranked expression's text, its values on bar r, each symbol's rank (0: none)) of the selection, or
    Nones when ``hold`` ranks nothing. The values come from the same compiler: a copy of the document that
    weights by the ranked expression (its weight level is that expression on every symbol and bar)."""
    from ..compile.rotation import WEIGHT
    from ..lang import ast
    from ..lang.parse import parse
    from ..lang.printer import to_text
    from ..strategies import signal_source

    rot = strat.rotation
    if rot.hold is None:  # generate_weights code: no ranked expression to show
        return None, None, None
    call = next((n for n in parse(rot.hold).walk() if isinstance(n, ast.Call) and n.func in _RANKED and n.args),
                None)
    if call is None:
        return None, None, None
    text = to_text(call.args[0])
    doc = strat.to_dict()
    doc["rotation"] = {**doc["rotation"], "weights": text}
    doc["rotation"].pop("volatility", None)
    sig = signal_source(doc).signals(seen, dict(params) or None)
    values = np.asarray(sig.levels[WEIGHT][r, :seen.n_cols], dtype=np.float64)
    ok = np.isfinite(values)
    if seen.members is not None:
        ok &= seen.members[r]
    order = np.argsort(values[ok] if _RANKED[call.func] else -values[ok], kind="stable")  # ties: column order
    ranks = np.zeros(len(values), dtype=np.int64)
    ranks[np.flatnonzero(ok)[order]] = np.arange(1, len(order) + 1)
    return text, values, ranks


def _reason(ranked_by: str | None, value: float | None, rank: int | None, action: str) -> str:
    what = {"buy": "comes in", "sell": "goes out", "hold": "stays"}[action]
    if ranked_by is None:
        return f"{what}: selected by the hold expression" if action != "sell" else f"{what}: no longer selected"
    if value is None:
        return f"{what}: {ranked_by} has no value on the bar"
    return f"{what}: {ranked_by} = {value:.6g}, rank {rank}"


def _next_rebalance(bar: pd.Timestamp, frequency: str, period: str) -> str | None:
    """The first session after `bar` that closes a `period` (exchange calendar); None where it cannot say."""
    from ..data.bar_values import period_ends
    from ..data.calendar import sessions_between

    # daily and coarser bars are labelled by their session's date (UTC midnight)
    day = (bar.tz_convert("UTC").tz_localize(None) if bar.tz is not None else bar).normalize()
    sessions = sessions_between(day + pd.Timedelta(days=1), day + pd.Timedelta(days=45))
    ends = period_ends(sessions, "1Day", "1Day" if period == frequency else period)
    if ends is None or not ends.any():
        return None
    return str(pd.Timestamp(sessions[int(np.argmax(ends))]).date())


def _summary(p: RotationPlan) -> str:
    held = [t for t in p.targets if t.weight > 0]
    when = (f"rebalance due at this bar ({p.bar_time:%Y-%m-%d})" if p.rebalance_today
            else f"next rebalance {p.next_rebalance or 'unknown'} (with the data of {p.bar_time:%Y-%m-%d})")
    hold = ", ".join(f"{t.symbol} {t.weight * 100:.1f} %" for t in held) or "nothing"
    moves = "; ".join(part for part in (("buy " + ", ".join(p.buy)) if p.buy else "",
                                        ("sell " + ", ".join(p.sell)) if p.sell else "") if part)
    return f"{when}: hold {hold}" + (f"; {moves}" if moves else "; no change of names")


__all__ = ["ROTATION_SPAN_DAYS", "RotationPlan", "RotationTarget", "rotation_plan"]
