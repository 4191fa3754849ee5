"""`compile_rules` (stages 2-4) and `CompiledStrategy`: a rule strategy as a signal source.

`CompiledStrategy` implements `ruleengine.strategies.SignalSource` (structurally: this package knows nothing
of the sandbox nor of the code strategies beside it): its data request, warm-up and convergence,
``signals(market, params)`` returning a `ruleengine.signal_set.SignalSet`, and ``explain()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import RuleEngineError
from ..lang import ast
from ..schema.params import ParamsInput, expand
from ..schema.strategy import TradingStrategy
from ..source import Loaded
from .frontend import Analysis, analyze
from .plan import Plan, build_plan

if TYPE_CHECKING:  # pandas/numpy stay out of `validate`
    import numpy as np

    from ..data.market import MarketData
    from ..data.request import DataRequest
    from ..signal_set import SignalSet
    from .cross import CrossSection
    from .exit_program import ExitProgram
    from .grid_plan import GridPlan
    from .inspect import InspectedCondition

#: from this many parameter sets on, plans are built from templates with numpy (see `CompiledStrategy.plan`)
GRID_MIN_SETS = 8


@dataclass
class CompiledStrategy:
    """A checked strategy, ready to produce signals for any data and parameter values.

    Example:
        >>> import ruleengine, pandas as pd
        >>> s = ruleengine.load_strategy("rules/golden_cross.yaml")  # doctest: +SKIP
        >>> sig = ruleengine.compile_strategy(s).signals(prices).to_pandas()  # doctest: +SKIP
        >>> sig.entries.sum()  # doctest: +SKIP
    """

    strategy: TradingStrategy
    analysis: Analysis
    document: Loaded | None = None
    # caches of derived values, rebuilt on demand (and left behind when the strategy is pickled)
    _plans: dict[str, Plan | GridPlan] = field(default_factory=dict, init=False, repr=False, compare=False)
    _templates: Any = field(default=None, init=False, repr=False, compare=False)
    _required: dict[str, set[str]] | None = field(default=None, init=False, repr=False, compare=False)
    _exit_programs: dict[str, ExitProgram | None] = field(default_factory=dict, init=False, repr=False,
                                                          compare=False)

    #: signals are computed in the calling process (sweeps may spread them over threads and processes)
    runs_in_process = True

    # ------------------------------------------------------------------ planning
    def plan(self, params: ParamsInput = None) -> Plan | GridPlan:
        """The execution plan for the given parameter values (lists make a grid); recent plans are reused.

        From `GRID_MIN_SETS` parameter sets on, the plan is built from the conditions' templates with
        numpy (`grid_plan.GridPlan`); below, set by set (`plan.Plan`, whose graph `explain` shows). Both
        give identical signals (tested).
        """
        raw = _raw_key(params)
        plan = self._plans.get(raw) if raw is not None else None
        if plan is None:
            sets = expand(self.strategy.params, params)
            key = raw if raw is not None else repr(sets)
            plan = self._plans.get(key)
            if plan is None:
                plan = self._grid_plan(sets) if len(sets) >= GRID_MIN_SETS else build_plan(self.analysis, sets)
                if len(self._plans) >= 8:
                    self._plans.pop(next(iter(self._plans)))
                self._plans[key] = plan
        return plan

    def node_plan(self, params: ParamsInput = None) -> Plan:
        """The set-by-set plan (`plan.Plan`) whatever the number of sets: the reference for grid plans."""
        return build_plan(self.analysis, expand(self.strategy.params, params))

    def _grid_plan(self, sets: list[dict[str, Any]]) -> GridPlan:
        from .grid_plan import build_grid_plan
        from .template import lower_templates

        if self._templates is None:
            self._templates = lower_templates(self.analysis)
        templates = self._templates
        return build_grid_plan(templates, sets)

    def param_sets(self, params: ParamsInput = None) -> list[dict[str, Any]]:
        """The full parameter sets `params` expands to (lists make a grid), checked against PARAM_SCHEMA."""
        return expand(self.strategy.params, params)

    def warmup(self, params: ParamsInput = None) -> int:
        """Bars at the start that are never traded (the longest lookback along any condition path)."""
        return int(self.plan(params).warmups().max())

    def converge_bars(self, params: ParamsInput = None) -> int:
        """History after which recursive indicators equal their full-history values within 1e-10 (a pair's hedge
        ratio expression included)."""
        bars = int(self.plan(params).converges().max())
        if self.analysis.hedge_ratio is not None:
            from .hedge import hedge_converge_bars

            bars = max(bars, hedge_converge_bars(self.analysis.hedge_ratio, self.param_sets(params)))
        return bars

    def required_columns(self) -> dict[str, set[str]]:
        """Slot -> columns the conditions read (found once: every `signals` call checks them)."""
        found = self._required
        if found is None:
            found = {}
            a = self.analysis
            order_price = [p for p in (a.order_price, a.short_order_price, a.exit_order_price,
                                       a.short_exit_order_price) if p is not None]
            hedge = [a.hedge_ratio] if a.hedge_ratio is not None else []
            for cond in [*a.entry, *a.exit, *a.short_entry, *a.short_exit, *a.risk.values(), *hedge, *order_price,
                         *a.rotation.values()]:
                for node in cond.tree.walk():
                    ref = getattr(node, "ref", None)
                    if ref and ref[0] == "column":
                        found.setdefault(ref[1], set()).add(ref[2])
            if not found:  # conditions on parameters only: still bind the price slot for the index
                found[self.strategy.price_slot() or next(iter(self.strategy.data))] = set()
            self._required = found
        return {slot: set(cols) for slot, cols in found.items()}

    def bar_value_names(self) -> list[str]:
        """The calendar values of the bar the conditions read (`dayofweek()`, `month_end()`, ...), sorted."""
        from ..lang.functions import FUNCTIONS

        a = self.analysis
        hedge = [a.hedge_ratio] if a.hedge_ratio is not None else []
        return sorted({node.func for cond in [*a.entry, *a.exit, *a.short_entry, *a.short_exit, *a.risk.values(),
                                              *hedge]
                       for node in cond.tree.walk()
                       if isinstance(node, ast.Call) and node.func in FUNCTIONS and FUNCTIONS[node.func].bar_value})

    def market_inputs(self, market: MarketData) -> Mapping[tuple[str, str], np.ndarray]:
        """The arrays the plan reads from `market`: its columns, plus the calendar values of its bars under
        (`BAR_SLOT`, name) when the conditions use them."""
        from ..lang.functions import BAR_SLOT

        names = self.bar_value_names()
        if not names:
            return market.inputs
        return {**market.inputs, **{(BAR_SLOT, k): v for k, v in market.bar_values(names).items()}}

    def accept(self, market: MarketData, params: ParamsInput = None) -> None:
        """Nothing to run: rule signals are causal by construction (every function is; the checker rejects
        negative lags), so no market needs an acceptance run."""

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the caches: a worker process builds its own plans."""
        return {"strategy": self.strategy, "analysis": self.analysis, "document": self.document}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.strategy, self.analysis, self.document = state["strategy"], state["analysis"], state["document"]
        self._plans, self._templates, self._required, self._exit_programs = {}, None, None, {}

    def data_request(self, params: ParamsInput = None) -> DataRequest:
        """What the data layer loads for these parameter values: the columns the conditions read plus the
        bars of every price slot, and the convergence history of the most demanding set."""
        from .request import rules_data_request

        return rules_data_request(self, params)

    def path_dependent(self, params: ParamsInput = None) -> bool:
        """True when a value depends on where the history starts (a function marked ``path_dependent``)."""
        from ..lang.functions import FUNCTIONS

        ops = {"fn:" + f.name for f in FUNCTIONS.values() if f.path_dependent}
        plan = self.plan(params)
        if not isinstance(plan, Plan):  # a template-built grid plan has no graph: the set-by-set one does
            plan = self.node_plan(params)
        return any(plan.graph.nodes[i].op in ops for i in plan.order)

    # ------------------------------------------------------------------ execution
    def signals_arrays(self, inputs: Mapping[tuple[str, str], np.ndarray], n_rows: int, n_cols: int,
                       params: ParamsInput = None, threads: int | None = None
                       ) -> tuple[np.ndarray, np.ndarray, Plan | GridPlan]:
        """Raw form on bare arrays (no bar times): inputs (slot, column) -> (T, S) float64; returns (T, P*S)
        bool entries and exits (parameter set major, symbol minor; a long_short strategy's long side) and the
        plan. Many symbols run on `threads` threads (default: ``RULEENGINE_THREADS`` or the usable CPUs; 1
        turns it off). `group_arrays` returns every signal group, `execute_arrays` the levels too."""
        groups, plan = self.group_arrays(inputs, n_rows, n_cols, params, threads)
        return groups[0], groups[1], plan

    def group_arrays(self, inputs: Mapping[tuple[str, str], np.ndarray], n_rows: int, n_cols: int,
                     params: ParamsInput = None, threads: int | None = None
                     ) -> tuple[tuple[np.ndarray, ...], Plan | GridPlan]:
        """`signals_arrays` with every signal group: (entries, exits) for a long or short strategy, (entries,
        exits, short entries, short exits) for a long_short one (`TradingStrategy.signal_groups`)."""
        groups, _levels, plan = self.execute_arrays(inputs, n_rows, n_cols, params, threads)
        return groups, plan

    def execute_arrays(self, inputs: Mapping[tuple[str, str], np.ndarray], n_rows: int, n_cols: int,
                       params: ParamsInput = None, threads: int | None = None, xs: CrossSection | None = None
                       ) -> tuple[tuple[np.ndarray, ...], dict[str, np.ndarray], Plan | GridPlan]:
        """`group_arrays` with the levels by kind (T, P*S float64: stop / take-profit distances, the exit
        program's levels: what `signals` puts in `SignalSet.levels`). `xs`: membership and name order of the
        universe for cross-sectional functions (`compile.cross`; default everyone, column order)."""
        from .execute import execute_into

        plan = self.plan(params)
        groups, levels = execute_into(plan, inputs, n_rows, n_cols, threads, xs)
        return groups, levels, plan

    def cross_sectional(self) -> bool:
        """True when a condition or risk expression uses a cross-sectional function (it needs a universe)."""
        return self._cross_call() is not None

    def _cross_call(self) -> tuple[Any, Any] | None:
        """(checked condition, call node) of the first cross-sectional call, None when there is none."""
        from ..lang.check import cross_sectional_calls

        a = self.analysis
        for cond in [*a.entry, *a.exit, *a.short_entry, *a.short_exit, *a.risk.values(), *a.rotation.values()]:
            calls = cross_sectional_calls(cond.tree)
            if calls:
                return cond, calls[0]
        return None

    def check_universe(self, n_cols: int) -> None:
        """C117, pointing at the call in the document, when a cross-sectional strategy runs on one symbol."""
        found = self._cross_call() if n_cols < 2 else None
        if found is None:
            return
        from ..errors import Diagnostic, Span
        from .cross import UNIVERSE_HINT
        from .frontend import locate

        cond, call = found
        diag = Diagnostic("C117", f"{call.func} ranks across the symbols of a universe, this run has one symbol",
                          Span(1, call.start + 1, 1, call.end + 1), None, UNIVERSE_HINT)
        raise RuleEngineError([locate(diag, cond.source, self.document)])

    def exit_program(self, group: str = "exit") -> ExitProgram | None:
        """The exit program on position variables (`exit_program.ExitProgram`) of the exit group `group` (``exit``,
        or a long_short strategy's ``short_exit``), None when its conditions use none; the same object on every
        call."""
        if group not in self._exit_programs:
            from .exit_program import split_exit

            self._exit_programs[group] = split_exit(self.analysis, group).program
        return self._exit_programs[group]

    def signals(self, market: MarketData | Any, params: ParamsInput = None,
                threads: int | None = None) -> SignalSet:
        """Boolean entries and exits of every parameter set on every column of `market`.

        Args:
            market: a `ruleengine.MarketData` (from `load_data`: its rows before ``start`` are history), or
                {slot: DataFrame} (a bare DataFrame for a single-slot strategy) with flat columns for one
                symbol or (symbol, column) columns for several (`MarketData.from_frames`).
            params: parameter values; lists give every combination as more columns; a list of dicts
                gives exactly those sets.
            threads: threads over the symbols (see `signals_arrays`).

        Returns:
            A `SignalSet`; ``.to_pandas()`` gives Series for one symbol and one parameter set, else
            DataFrames whose columns are the varying parameters (and the symbol), over the requested range.
        """
        from ..data.market import MarketData
        from ..signal_set import SignalSet

        if not isinstance(market, MarketData):
            market = MarketData.from_frames(market, self._frames_request(params))
        missing = [(s, c) for s, cols in self.required_columns().items() for c in sorted(cols)
                   if (s, c) not in market.inputs]
        if missing:
            from ..errors import Diagnostic

            raise RuleEngineError([Diagnostic("D102", f"the market data has no column '{s}.{c}'",
                                              path=f"data.{s}.{c}", hint="load it for this strategy")
                                   for s, c in missing])
        inputs = self.market_inputs(market)
        self.check_universe(market.n_cols)
        xs = None
        if self.cross_sectional():
            from .cross import CrossSection

            xs = CrossSection.of(market.n_rows, market.n_cols, market.labels, market.members)
        groups, levels, plan = self.execute_arrays(inputs, market.n_rows, market.n_cols, params, threads, xs)
        if market.members is not None:
            from .cross import restrict_to_members

            groups = restrict_to_members(groups, market.members)
        short = groups[2:4] if len(groups) == 4 else (None, None)
        levels = dict(levels)  # the plan's (distances, the exit program's), and a pair's hedge ratio
        if self.analysis.hedge_ratio is not None:
            from .hedge import hedge_ratio_levels

            levels["hedge_ratio"] = hedge_ratio_levels(self.analysis.hedge_ratio, plan.param_sets, inputs,
                                                       market.n_rows, market.n_cols)
        return SignalSet(groups[0], groups[1], plan.param_sets, market.index, market.labels, market.start,
                         market.unnamed, short_entries=short[0], short_exits=short[1], levels=levels,
                         exit_program=self.exit_program(), short_exit_program=self.exit_program("short_exit"))

    def rotation_weights(self, market: MarketData, params: ParamsInput = None) -> tuple[np.ndarray, SignalSet]:
        """A rotation's (T, P*S) target weights (`compile.rotation.target_weights`: NaN off the rebalance bars
        and in the warm-up history; on a rebalance bar the held names' weights summing to 1 per parameter set)
        and the signal set they come from. A name is held where ``rotation.hold`` selects it, it is a member of
        the universe, its entry conditions (if any) are true and its exit conditions false."""
        import numpy as np

        sig = self.rotation_levels(market, params)
        parts = [self.rotation_targets(market, sig, i) for i in range(len(sig.param_sets))]
        return (parts[0] if len(parts) == 1 else np.hstack(parts)), sig

    def rotation_levels(self, market: MarketData, params: ParamsInput = None) -> SignalSet:
        """What `rotation_targets` reads: the signals (and the hold / weight levels) of every parameter set."""
        return self.signals(market, params)

    def rotation_targets(self, market: MarketData, sig: SignalSet, index: int, rebalance: str | None = None,
                         bars: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """The (T, S) target weights of parameter set `index` of `sig` (its signals on `market`), rebalanced
        every `rebalance` (default: that set's ``rotation.rebalance``; `bars`: its ``market.period_ends``, when
        the caller has them). A sweep computes the signals once per distinct selection and calls this per
        rebalance period (`out`: an array NaN outside the rebalance bars it writes into)."""
        from .rotation import HOLD, WEIGHT, target_weights

        rot = self.strategy.rotation
        assert rot is not None, "rotation_targets needs a rotation strategy"
        bars = rot.rebalance_bars(market, sig.param_sets[index], rebalance, bars)
        s = market.n_cols
        block = slice(index * s, (index + 1) * s)
        allowed = None
        if self.strategy.entry is not None:
            allowed = sig.entries[:, block].copy()
        if self.strategy.exit is not None:
            allowed = ~sig.exits[:, block] if allowed is None else allowed & ~sig.exits[:, block]
        if market.members is not None:
            allowed = market.members.copy() if allowed is None else allowed & market.members
        weight = sig.levels.get(WEIGHT)
        return target_weights(sig.levels[HOLD][:, block], None if weight is None else weight[:, block], bars,
                              market.start, allowed, inverse=rot.weights == "inverse_volatility", out=out)

    def _frames_request(self, params: ParamsInput) -> DataRequest:
        """The request DataFrames are bound with: only the columns the conditions read."""
        return self.data_request(params).with_overrides(columns=self.required_columns())

    def inspect(self, market: MarketData, params: Any = None, tail: int = 21) -> list[InspectedCondition]:
        """Every condition's node values on the last `tail` bars of `market` (one parameter set)."""
        from .inspect import inspect_conditions

        return inspect_conditions(self, self.market_inputs(market), market.n_rows, market.n_cols, params, tail=tail)

    # ------------------------------------------------------------------ explain
    def explain(self) -> dict[str, Any]:
        """Machine-readable explanation (what `ruleengine explain --json` prints)."""
        from .explain import explain_dict

        return explain_dict(self)

    def explain_text(self) -> str:
        from .explain import explain_text

        return explain_text(self)


def _raw_key(params: ParamsInput) -> str | None:
    """An exact cache key of the parameters as given (skips re-expanding a grid that was seen before), or
    None when they hold anything but plain JSON values (numpy arrays print abbreviated: not a safe key)."""
    import json

    try:
        return "raw:" + json.dumps(params, allow_nan=True)
    except (TypeError, ValueError):
        return None


def compile_rules(strategy: TradingStrategy | Any, document: Loaded | None = None) -> CompiledStrategy:
    """Parse and check every condition; raises `RuleEngineError` with all diagnostics.

    Accepts a `TradingStrategy`, or anything `load_strategy` accepts (path, text, dict). A document with
    ``code:`` is not for this compiler: `ruleengine.compile_strategy` sends it to the sandbox.
    """
    if not isinstance(strategy, TradingStrategy):
        from ..schema.load import load_document

        loaded = load_document(strategy)
        strategy, document = loaded.strategy, loaded.document
    if strategy.code is not None:
        raise ValueError("compile_rules() got a code strategy: use ruleengine.compile_strategy")
    analysis = analyze(strategy, document)
    errors = [d for d in analysis.diagnostics if d.severity == "error"]
    if errors:
        raise RuleEngineError(errors, document.source if document else None)
    return CompiledStrategy(strategy, analysis, document)
