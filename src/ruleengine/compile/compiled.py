"""`compile_strategy` (stages 2-4) and `CompiledStrategy.signals` (stages 5-6 on user-supplied data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import RuleEngineError
from ..schema.strategy import TradingStrategy
from ..source import Loaded
from .frontend import Analysis, analyze
from .params import ParamsInput, expand
from .plan import Plan, build_plan

if TYPE_CHECKING:  # pandas/numpy stay out of `validate`
    import numpy as np
    import pandas as pd

    from .grid_plan import GridPlan

#: from this many parameter sets on, plans are built from templates with numpy (see `CompiledStrategy.plan`)
GRID_MIN_SETS = 8


@dataclass
class CompiledStrategy:
    """A checked strategy, ready to produce signals for any data and parameter values.

    Example:
        >>> import ruleengine, pandas as pd
        >>> s = ruleengine.load_strategy("rules/golden_cross.yaml")  # doctest: +SKIP
        >>> entries, exits = ruleengine.compile_strategy(s).signals(prices)  # doctest: +SKIP
    """

    strategy: TradingStrategy
    analysis: Analysis
    document: Loaded | None = None

    # ------------------------------------------------------------------ planning
    def plan(self, params: ParamsInput = None) -> Plan | GridPlan:
        """The execution plan for the given parameter values (lists make a grid); recent plans are reused.

        From `GRID_MIN_SETS` parameter sets on, the plan is built from the conditions' templates with
        numpy (`grid_plan.GridPlan`); below, set by set (`plan.Plan`, whose graph `explain` shows). Both
        give identical signals (tested).
        """
        cache = self.__dict__.setdefault("_plans", {})
        key = _raw_key(params)
        plan = cache.get(key) if key is not None else None
        if plan is None:
            sets = expand(self.strategy.params, params)
            if key is None:
                key = repr(sets)
                plan = cache.get(key)
        if plan is None:
            plan = self._grid_plan(sets) if len(sets) >= GRID_MIN_SETS else build_plan(self.analysis, sets)
            if len(cache) >= 8:
                cache.pop(next(iter(cache)))
            cache[key] = plan
        return plan

    def node_plan(self, params: ParamsInput = None) -> Plan:
        """The set-by-set plan (`plan.Plan`) whatever the number of sets: the reference for grid plans."""
        return build_plan(self.analysis, expand(self.strategy.params, params))

    def _grid_plan(self, sets: list[dict[str, Any]]) -> GridPlan:
        from .grid_plan import build_grid_plan
        from .template import lower_templates

        templates = self.__dict__.get("_templates")
        if templates is None:
            templates = self.__dict__["_templates"] = lower_templates(self.analysis)
        return build_grid_plan(templates, sets)

    def warmup(self, params: ParamsInput = None) -> int:
        """Bars at the start that are never traded (the longest lookback along any condition path)."""
        return int(self.plan(params).warmups().max())

    def converge_bars(self, params: ParamsInput = None) -> int:
        """History after which recursive indicators equal their full-history values within 1e-10."""
        return int(self.plan(params).converges().max())

    def required_columns(self) -> dict[str, set[str]]:
        """Slot -> columns the conditions read."""
        out: dict[str, set[str]] = {}
        for cond in [*self.analysis.entry, *self.analysis.exit]:
            for node in cond.tree.walk():
                ref = getattr(node, "ref", None)
                if ref and ref[0] == "column":
                    out.setdefault(ref[1], set()).add(ref[2])
        if not out:  # conditions on parameters only: still bind the price slot for the index
            slot = self.strategy.price_slot() or next(iter(self.strategy.data))
            out[slot] = set()
        return out

    # ------------------------------------------------------------------ execution
    def signals_arrays(self, inputs: Mapping[tuple[str, str], np.ndarray], n_rows: int, n_cols: int,
                       params: ParamsInput = None, threads: int | None = None
                       ) -> tuple[np.ndarray, np.ndarray, Plan | GridPlan]:
        """Raw form: inputs (slot, column) -> (T, S) float64 arrays; returns (T, P*S) bool entries and
        exits (parameter set major, symbol minor) and the plan. Many symbols run on `threads` threads
        (default: ``RULEENGINE_THREADS`` or the usable CPUs; 1 turns it off)."""
        from .execute import execute_into

        plan = self.plan(params)
        entries, exits = execute_into(plan, inputs, n_rows, n_cols, threads)
        return entries, exits, plan

    def signals(self, data: Any, params: ParamsInput = None) -> tuple[Any, Any]:
        """Boolean entries and exits aligned with the data index.

        Args:
            data: {slot: DataFrame} (a bare DataFrame for a single-slot strategy); columns flat for one
                symbol or (symbol, column) for several. Or a `ruleengine.data.market.MarketData` from
                `load_data`: signals then cover its requested range (warm-up history excluded), one
                column per run.
            params: parameter values; lists give every combination as more columns; a list of dicts
                gives exactly those sets.

        Returns:
            Two Series for one symbol and one parameter set, else two DataFrames whose columns are the
            varying parameters (and the symbol).
        """
        market = _market_data(data)
        if market is not None:  # stage 5 done by the data layer: arrays are ready, rows before start are history
            from .bind import Bound

            missing = [k for k in self._required_keys() if k not in market.inputs]
            if missing:
                from ..errors import Diagnostic

                raise RuleEngineError([Diagnostic("D102", f"the market data has no column '{s}.{c}'",
                                                  path=f"data.{s}.{c}", hint="load it for this strategy")
                                       for s, c in missing])
            entries, exits, plan = self.signals_arrays(market.inputs, market.n_rows, market.n_cols, params)
            bound = Bound(market.index[market.start:], market.labels, {})
            return (_wrap(entries[market.start:], bound, plan, "entries"),
                    _wrap(exits[market.start:], bound, plan, "exits"))
        from .bind import bind

        bound = bind(data, list(self.strategy.data), self.required_columns(), self.strategy.price_slot())
        entries, exits, plan = self.signals_arrays(bound.inputs, bound.n_rows, bound.n_cols, params)
        return _wrap(entries, bound, plan, "entries"), _wrap(exits, bound, plan, "exits")

    def _required_keys(self) -> list[tuple[str, str]]:
        return [(slot, c) for slot, cols in self.required_columns().items() for c in sorted(cols)]


def _market_data(data: Any) -> Any:
    """`data` when it is a `MarketData` (the data layer is only imported when it was used)."""
    import sys

    module = sys.modules.get("ruleengine.data.market")
    return data if module is not None and isinstance(data, module.MarketData) else None


def _raw_key(params: ParamsInput) -> str | None:
    """An exact cache key of the parameters as given (skips re-expanding a grid that was seen before), or
    None when they hold anything but plain JSON values (numpy arrays print abbreviated: not a safe key)."""
    import json

    try:
        return "raw:" + json.dumps(params, allow_nan=True)
    except (TypeError, ValueError):
        return None


def _wrap(arr: np.ndarray, bound: Any, plan: Plan | GridPlan, name: str) -> Any:
    import pandas as pd

    sets = plan.param_sets
    if len(sets) == 1 and bound.symbols is None:
        return pd.Series(arr[:, 0], index=bound.index, name=name)
    varying = [k for k in sets[0] if len({repr(s[k]) for s in sets}) > 1]
    symbols = bound.symbols if bound.symbols is not None else [None]
    tuples: list[tuple[Any, ...]] = []
    for s in sets:
        for sym in symbols:
            key = tuple(s[k] for k in varying)
            tuples.append(key + ((sym,) if bound.symbols is not None else ()))
    names = varying + (["symbol"] if bound.symbols is not None else [])
    if len(names) == 1:
        columns: pd.Index = pd.Index([t[0] for t in tuples], name=names[0])
    elif names:
        columns = pd.MultiIndex.from_tuples(tuples, names=names)
    else:  # several identical parameter sets
        columns = pd.RangeIndex(len(tuples), name="param_set")
    return pd.DataFrame(arr, index=bound.index, columns=columns)


def compile_strategy(strategy: TradingStrategy | Any, document: Loaded | None = None) -> CompiledStrategy:
    """Parse and check every condition; raises `RuleEngineError` with all diagnostics.

    Accepts a `TradingStrategy`, or anything `load_strategy` accepts (path, text, dict). A strategy with
    ``code:`` gives a `ruleengine.sandbox.strategy.CodeStrategy` (same interface; its code passed the static
    check and runs in the sandbox); a `CodeStrategy` is returned as it is.
    """
    from ..sandbox.strategy import CodeStrategy, code_strategy  # light: the sandbox loads nothing heavy here

    if isinstance(strategy, CodeStrategy):
        return strategy  # type: ignore[return-value]
    if not isinstance(strategy, TradingStrategy):
        from ..schema.load import load_document

        loaded = load_document(strategy)
        strategy, document = loaded.strategy, loaded.document
    if strategy.code is not None:
        return code_strategy(strategy, document)  # type: ignore[return-value]
    analysis = analyze(strategy, document)
    errors = [d for d in analysis.diagnostics if d.severity == "error"]
    if errors:
        raise RuleEngineError(errors, document.source if document else None)
    return CompiledStrategy(strategy, analysis, document)
