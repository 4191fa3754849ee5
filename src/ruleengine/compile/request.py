"""The `DataRequest` of a rule strategy: the columns its conditions read, the bars the simulation needs, and
the convergence history; with the D144 warnings of windows counted over coarser slots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..data.request import BAR_COLUMNS, DataRequest
from ..errors import Diagnostic
from ..schema.params import ParamsInput

if TYPE_CHECKING:
    from .compiled import CompiledStrategy


def rules_data_request(compiled: CompiledStrategy, params: ParamsInput) -> DataRequest:
    """The request of `compiled` for `params` (lists: the most demanding set's history)."""
    strat = compiled.strategy
    given = dict(params or {}) if isinstance(params, Mapping) else {}
    needed = {k: set(v) for k, v in compiled.required_columns().items()}
    for name, slot in strat.data.items():  # the simulation needs the bars of every price slot
        if slot.kind == "ohlcv":
            needed.setdefault(name, set()).update(BAR_COLUMNS)
    plan_params = {k: v for k, v in given.items() if k in strat.params}
    freq = str({**strat.default_params(), **given}.get("execution_frequency") or "1Day")
    request = DataRequest(slots=dict(strat.data), columns={s: frozenset(c) for s, c in needed.items()},
                          warmup_bars=compiled.converge_bars(plan_params or None), frequency=freq,
                          price_slot=strat.price_slot())
    warnings = _time_of_day_without_intraday_bars(compiled, freq)
    coarse = request.coarser_slots()
    if coarse:
        warnings += _windows_over_coarse_slots(compiled, plan_params, coarse, freq)
    return replace(request, warnings=tuple(warnings)) if warnings else request


def _time_of_day_without_intraday_bars(compiled: CompiledStrategy, freq: str) -> list[Diagnostic]:
    """L119 where hour() or minute() is read on daily or coarser bars: they have no time of day (NaN), so a
    comparison with them is never true."""
    if freq.endswith(("Min", "Hour")):
        return []
    return [Diagnostic("L119", f"{name}() has no value on {freq} bars (they have no time of day): conditions "
                       "comparing it are never true", severity="warning", path="params.execution_frequency",
                       hint="run at an intraday execution_frequency (1Min .. 1Hour), or use dayofweek(), day() or "
                            "month()")
            for name in compiled.bar_value_names() if name in ("hour", "minute")]


def _windows_over_coarse_slots(compiled: CompiledStrategy, plan_params: Mapping[str, Any], coarse: list[str],
                               freq: str) -> list[Diagnostic]:
    """D144 where a window or a lag reads only coarser slots: it counts execution bars, on which such a slot
    holds its last completed bar (``sma(weekly.close, 10)`` on daily bars is 10 daily values, not 10 weeks)."""
    from ..lang.functions import FUNCTIONS

    strat = compiled.strategy
    graph = getattr(compiled.plan(dict(plan_params) or None), "graph", None)
    if graph is None:
        return []
    reads: list[set[str]] = []
    out: dict[tuple[str, str], Diagnostic] = {}
    for node in graph.nodes:
        slots = {node.static[0]} if node.op == "col" else set().union(*(reads[a] for a in node.args))
        reads.append(slots)
        fn = FUNCTIONS.get(node.op[3:]) if node.op.startswith("fn:") else None
        if fn is None or not any(a.kind in ("window", "lag") for a in fn.args):
            continue
        if slots and slots <= set(coarse):
            slot = min(slots)
            out.setdefault((fn.name, slot), Diagnostic(
                "D144", f"{fn.name}(...) over slot '{slot}' ({strat.data[slot].frequency}) counts {freq} bars: "
                f"'{slot}' holds its last completed bar on each of them, so a window of n is n {freq} values, "
                f"not n {strat.data[slot].frequency} bars", severity="warning", path=f"data.{slot}",
                hint=f"size the window in {freq} bars, or run the strategy with execution_frequency "
                     f"{strat.data[slot].frequency}"))
    return list(out.values())
