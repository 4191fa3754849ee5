"""`CodeStrategy`: a strategy whose ``code`` runs in the sandbox, behind `CompiledStrategy`'s interface.

`ruleengine.compile_strategy` returns one for a document with ``code:`` (after the static check), so
``backtest``, ``sweep``, walk-forward and ``signals`` work for code strategies as for rules. Differences:

- **Columns**: the code may read every declared column of every slot (`required_columns`: the slot's
  ``columns``, or all columns of its kind). Each call of ``generate_signals`` receives one run's frames.
- **Warm-up**: what the code declares as ``WARMUP_BARS = n`` (a top-level constant), else
  `DEFAULT_WARMUP_BARS`. That many bars of history are loaded before the start date and never traded.
- **Acceptance**: before the signals of a parameter set on a market are used for the first time, the code must
  pass the determinism and lookahead checks (`ruleengine.sandbox.checks.accept`) for that set on that market
  (the first few runs); every set a sweep runs is checked; ``verify=False`` skips them.
- **Cost**: one sandboxed run per call of `signals_arrays` (all parameter sets and runs in one child), and one
  more for the checks of the sets not checked yet on that market.
- **Budgets**: each call of ``generate_signals`` has `call_timeout` seconds (CPU and wall clock); a run has
  `timeout` + `CALL_SECONDS` per further call, at most `max_run_seconds`. A limit names the symbol and the
  parameter set it stopped (X122 / X123) and the run fails.

Example:
    >>> import ruleengine  # doctest: +SKIP
    >>> s = ruleengine.compile_strategy("rules/code_rsi_mean_reversion.yaml")  # doctest: +SKIP
    >>> entries, exits = s.signals(ruleengine.load_data(s, "SPY", "2015-01-01", "2016-12-30"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, RuleEngineError
from ..schema.kinds import KIND_COLUMNS
from ..schema.strategy import TradingStrategy
from ..source import Loaded

if TYPE_CHECKING:
    import numpy as np

#: history loaded before the start date when the code declares no WARMUP_BARS (one year of daily bars:
#: enough for 200-bar averages and for Wilder/EMA smoothing of windows up to ~20 to converge)
DEFAULT_WARMUP_BARS = 300
#: seconds (wall clock and CPU) per sandboxed run, plus `CALL_SECONDS` for every further call of generate_signals,
#: and never more than `MAX_RUN_SECONDS`
DEFAULT_TIMEOUT = 30.0
CALL_SECONDS = 0.25
MAX_RUN_SECONDS = 600.0
#: seconds (wall clock and CPU) of each call of generate_signals: one spinning call costs this, not the run's budget
CALL_TIMEOUT = 10.0
_PRICE_KINDS = frozenset({"ohlcv"})


@dataclass
class CodePlan:
    """The parameter sets of a run (what `CompiledStrategy.plan` gives callers that need them)."""

    param_sets: list[dict[str, Any]]
    bars: int

    def warmup(self, i: int = 0) -> int:
        return self.bars

    def converge_bars(self, i: int = 0) -> int:
        return self.bars


@dataclass(eq=False)
class CodeStrategy:
    """A checked code strategy, ready to produce signals through the sandbox."""

    strategy: TradingStrategy
    document: Loaded | None = None
    timeout: float = DEFAULT_TIMEOUT
    call_timeout: float = CALL_TIMEOUT
    max_run_seconds: float = MAX_RUN_SECONDS
    memory_bytes: int | None = None
    verify: bool = True
    #: id(market) -> (a weak reference to it, keys of the parameter sets that passed the checks on it)
    _checked: dict[int, tuple[Any, set[str]]] = field(default_factory=dict, repr=False)

    #: lets callers tell code strategies apart without importing this module
    runs_code = True

    @property
    def code(self) -> str:
        return self.strategy.code or ""

    # ------------------------------------------------------------------ planning
    def plan(self, params: Any = None) -> CodePlan:
        """The parameter sets `params` expands to (lists make a grid), checked against PARAM_SCHEMA."""
        from ..compile.params import expand

        return CodePlan(expand(self.strategy.params, params), self.warmup())

    def warmup(self, params: Any = None) -> int:
        """Bars before the start date that are loaded and never traded: WARMUP_BARS or the default."""
        from .static import declared_warmup

        declared = declared_warmup(self.code)
        return DEFAULT_WARMUP_BARS if declared is None else declared

    def converge_bars(self, params: Any = None) -> int:
        """The same as `warmup` (the sandbox cannot derive convergence from code)."""
        return self.warmup(params)

    def required_columns(self) -> dict[str, set[str]]:
        """Slot -> the columns the code may read: the declared ones, or all columns of the slot's kind."""
        return {name: set(slot.columns or KIND_COLUMNS[slot.kind]) for name, slot in self.strategy.data.items()}

    def _slots(self) -> dict[str, list[str]]:
        return {name: list(slot.columns or KIND_COLUMNS[slot.kind]) for name, slot in self.strategy.data.items()}

    # ------------------------------------------------------------------ execution
    def signals_arrays(self, inputs: Mapping[tuple[str, str], np.ndarray], n_rows: int, n_cols: int,
                       params: Any = None, threads: int | None = None, *, index: Any = None,
                       labels: Sequence[Any] | None = None, start: int | None = None
                       ) -> tuple[np.ndarray, np.ndarray, CodePlan]:
        """Raw form: inputs (slot, column) -> (T, S) float64; returns (T, P*S) bool entries and exits (parameter
        set major, symbol minor) and the plan. The bar times come from `index` or from the `MarketData` the
        inputs belong to. `threads` is ignored (the sandbox pool runs the code)."""
        plan = self.plan(params)
        market = None
        if index is None:
            from ..data.market import market_of

            market = market_of(inputs)
            if market is None:
                raise RuleEngineError([Diagnostic(
                    "X131", "a code strategy needs the bar times of its data", path="code",
                    hint="pass a MarketData from ruleengine.load_data, or DataFrames to .signals()")])
            index, labels, start = market.index, market.labels, market.start
        labels = list(labels) if labels is not None else [f"column {j}" for j in range(n_cols)]
        missing = [f"{s}.{c}" for s, cols in self._slots().items() for c in cols if (s, c) not in inputs]
        if missing:
            raise RuleEngineError([Diagnostic("D102", f"the data have no column '{m}'", path=f"data.{m}",
                                              hint="load the data for this strategy (ruleengine.load_data)")
                                   for m in missing])
        if len(index) != n_rows or len(labels) != n_cols:
            raise RuleEngineError([Diagnostic("D107", f"the data have {n_rows} rows x {n_cols} runs but "
                                              f"{len(index)} bar times and {len(labels)} labels", path="data")])

        def run(sets: Sequence[Mapping[str, Any]], columns: Sequence[int] | None = None,
                cuts: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
            return self._run(inputs, index, labels, sets, columns, cuts)

        entries, exits = run(plan.param_sets)
        if self.verify:
            self._check_sets(run, market, plan.param_sets, (entries, exits), n_rows, labels, index, int(start or 0))
        return entries, exits, plan

    def _check_sets(self, run: Any, market: Any, sets: Sequence[Mapping[str, Any]],
                    full: tuple[np.ndarray, np.ndarray], n_rows: int, labels: Sequence[Any], index: Any,
                    start: int) -> None:
        """The acceptance checks of the sets not yet checked on `market` (all of them without a market)."""
        import weakref

        from .checks import accept
        from .protocol import params_key

        entry = self._checked.get(id(market)) if market is not None else None
        seen = entry[1] if entry is not None and entry[0]() is market else set()
        todo = [p for p, params in enumerate(sets) if params_key(params) not in seen]
        if not todo:
            return
        n_cols = len(labels)
        pick = [p * n_cols + j for p in todo for j in range(n_cols)]
        accept(run, n_rows, labels, index, [sets[p] for p in todo], (full[0][:, pick], full[1][:, pick]),
               start=start)
        if market is not None:
            for key in [k for k, (r, _) in self._checked.items() if r() is None]:
                del self._checked[key]  # markets that are gone
            self._checked[id(market)] = (weakref.ref(market), seen | {params_key(sets[p]) for p in todo})

    def _run(self, inputs: Mapping[tuple[str, str], np.ndarray], index: Any, labels: Sequence[Any],
             sets: Sequence[Mapping[str, Any]], columns: Sequence[int] | None, cuts: Sequence[int]
             ) -> tuple[np.ndarray, np.ndarray]:
        from .protocol import job_from_inputs
        from .runner import DEFAULT_MEMORY, run_job

        price = [s for s, slot in self.strategy.data.items() if slot.kind in _PRICE_KINDS]
        job = job_from_inputs(self.code, inputs, index, labels, self._slots(), price, sets, columns, cuts)
        try:
            return run_job(job, timeout=self.run_seconds(len(sets) * job.n_cols), call_timeout=self.call_timeout,
                           memory_bytes=self.memory_bytes or DEFAULT_MEMORY)
        except RuleEngineError as exc:  # code lines -> positions in the document
            from .static import locate

            doc = self.document
            raise RuleEngineError(locate(exc.diagnostics, self.code, doc), doc.source if doc else None) from None

    def run_seconds(self, calls: int) -> float:
        """The budget of a sandboxed run of `calls` calls: grows with the work, bounded by `max_run_seconds`."""
        return min(self.max_run_seconds, self.timeout + CALL_SECONDS * max(0, calls - 1))

    def signals(self, data: Any, params: Any = None) -> tuple[Any, Any]:
        """Boolean entries and exits aligned with the data index (as `CompiledStrategy.signals`).

        Args:
            data: a `MarketData` (signals cover its requested range), or {slot: DataFrame} (a bare DataFrame
                for a single-slot strategy) with flat columns or (symbol, column) columns.
            params: parameter values; lists give every combination as more columns.
        """
        from ..compile.bind import Bound, bind
        from ..compile.compiled import _market_data, _wrap

        market = _market_data(data)
        plan: Any
        if market is not None:
            entries, exits, plan = self.signals_arrays(market.inputs, market.n_rows, market.n_cols, params)
            bound = Bound(market.index[market.start:], market.labels, {})
            return (_wrap(entries[market.start:], bound, plan, "entries"),
                    _wrap(exits[market.start:], bound, plan, "exits"))
        price = next((s for s, slot in self.strategy.data.items() if slot.kind in _PRICE_KINDS), None)
        bound = bind(data, list(self.strategy.data), self.required_columns(), price)
        labels = bound.symbols if bound.symbols is not None else ["data"]
        entries, exits, plan = self.signals_arrays(bound.inputs, bound.n_rows, bound.n_cols, params,
                                                   index=bound.index, labels=labels, start=0)
        return _wrap(entries, bound, plan, "entries"), _wrap(exits, bound, plan, "exits")

    def accept(self, data: Any, params: Any = None) -> None:
        """Run the determinism and lookahead checks on `data` (a `MarketData`) now; raises X128 / X129."""
        verify, self.verify = self.verify, True
        try:
            self._checked.pop(id(data), None)
            self.signals_arrays(data.inputs, data.n_rows, data.n_cols, params)
        finally:
            self.verify = verify


    # ------------------------------------------------------------------ explain
    def explain_dict(self) -> dict[str, Any]:
        """What `ruleengine explain --json` prints for a code strategy (no conditions: the code decides)."""
        s = self.strategy
        cols = self.required_columns()
        return {"name": s.name, "description": s.description, "timeframe": s.timeframe, "kind": "code",
                "data": {n: {"kind": d.kind, "frequency": d.frequency, "columns": sorted(cols[n])}
                         for n, d in s.data.items()},
                "params": {n: p.model_dump(exclude_none=True) for n, p in s.params.items()},
                "warmup_bars": self.warmup(), "code_lines": len(self.code.splitlines()),
                "risk": s.risk.model_dump(exclude_none=True)}

    def explain_text(self) -> str:
        d = self.explain_dict()
        lines = [f"{d['name']}  ({d['timeframe'] or 'no timeframe: no default exits'}, code strategy: "
                 "generate_signals runs in the sandbox)"]
        if d["description"]:
            lines.append(f"  {d['description']}")
        lines.append("data (each call of generate_signals gets these columns of one run):")
        lines += [f"  {n}: {v['kind']} at {v['frequency']}; {', '.join(v['columns'])}" for n, v in d["data"].items()]
        lines.append("params: " + ", ".join(f"{n}={p['default']!r}" for n, p in d["params"].items()))
        lines.append(f"code: {d['code_lines']} lines; passed the static check")
        lines.append(f"warm-up: {d['warmup_bars']} bars of history before the first traded bar")
        if d["risk"]:
            lines.append("risk: " + ", ".join(f"{k}={v}" for k, v in d["risk"].items()))
        return "\n".join(lines) + "\n"


def code_strategy(strategy: TradingStrategy, document: Loaded | None = None) -> CodeStrategy:
    """A `CodeStrategy` after the static check (X1xx diagnostics at their place in the document)."""
    from .static import check_code, locate

    code = strategy.code or ""
    errors = [d for d in check_code(code) if d.severity == "error"]
    if errors:
        raise RuleEngineError(locate(errors, code, document), document.source if document else None)
    return CodeStrategy(strategy, document)


def code_warmup(strategy: TradingStrategy) -> int:
    """The history a code strategy loads before its start date."""
    return CodeStrategy(strategy).warmup()


__all__ = [
    "CALL_SECONDS",
    "CALL_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "MAX_RUN_SECONDS",
    "DEFAULT_WARMUP_BARS",
    "CodePlan",
    "CodeStrategy",
    "code_strategy",
    "code_warmup",
]
