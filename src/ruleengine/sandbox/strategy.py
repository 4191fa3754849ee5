"""`CodeStrategy`: a strategy whose ``code`` runs in the sandbox, a `ruleengine.strategies.SignalSource`.

`ruleengine.compile_strategy` returns one for a document with ``code:`` (after the static check), so
``backtest``, ``sweep``, walk-forward and ``signals`` work for code strategies as for rules (the same
interface, implemented here without knowing the rule compiler). Differences:

- **Columns**: the code may read every declared column of every slot (`required_columns`: the slot's
  ``columns``, or all columns of its kind). Each call of ``generate_signals`` receives one run's frames.
- **Warm-up**: what the code declares as ``WARMUP_BARS = n`` (a top-level constant), else
  `DEFAULT_WARMUP_BARS`. That many bars of history are loaded before the start date and never traded.
- **Acceptance**: before the signals of a parameter set on a market are used for the first time, the code must
  pass the determinism and lookahead checks (`ruleengine.sandbox.checks.accept`) for that set on that market
  (the first few runs); every set a sweep runs is checked; ``verify=False`` skips them.
- **Cost**: one sandboxed run per call of `signals` (all parameter sets and runs in one child), and one
  more for the checks of the sets not checked yet on that market.
- **Budgets**: each call of ``generate_signals`` has `call_timeout` seconds (CPU and wall clock); a run has
  `timeout` + `CALL_SECONDS` per further call, at most `max_run_seconds`. A limit names the symbol and the
  parameter set it stopped (X122 / X123) and the run fails.

Example:
    >>> import ruleengine  # doctest: +SKIP
    >>> s = ruleengine.compile_strategy("rules/code_rsi_mean_reversion.yaml")  # doctest: +SKIP
    >>> sig = s.signals(ruleengine.load_data(s, "SPY", "2015-01-01", "2016-12-30"))  # doctest: +SKIP
    >>> sig.to_pandas().entries.sum()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, RuleEngineError
from ..schema.kinds import KIND_COLUMNS
from ..schema.strategy import TradingStrategy
from ..sides import DIRECTIONS
from ..source import Loaded
from .checks import signal_names

#: the order levels a code strategy returns -> their level kinds (`ruleengine.kernels.enums.LEVEL_KINDS`)
ORDER_LEVEL_KINDS = {"entry_price": "entry_order_price", "short_entry_price": "short_entry_order_price",
                     "exit_price": "exit_order_price", "short_exit_price": "short_exit_order_price"}

if TYPE_CHECKING:
    import numpy as np

    from ..data.market import MarketData
    from ..data.request import DataRequest
    from ..signal_set import SignalSet

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

    #: the signals come from the sandbox's own processes: a sweep runs its chunks one after the other here
    #: (a code strategy does not travel to worker processes)
    runs_in_process = False

    @property
    def code(self) -> str:
        return self.strategy.code or ""

    # ------------------------------------------------------------------ planning
    def param_sets(self, params: Any = None) -> list[dict[str, Any]]:
        """The parameter sets `params` expands to (lists make a grid), checked against PARAM_SCHEMA."""
        from ..schema.params import expand

        return expand(self.strategy.params, params)

    def warmup(self, params: Any = None) -> int:
        """Bars before the start date that are loaded and never traded: WARMUP_BARS or the default."""
        from .static import declared_warmup

        declared = declared_warmup(self.code)
        return DEFAULT_WARMUP_BARS if declared is None else declared

    def converge_bars(self, params: Any = None) -> int:
        """The same as `warmup` (the sandbox cannot derive convergence from code)."""
        return self.warmup(params)

    def path_dependent(self, params: Any = None) -> bool:
        """False: the sandbox cannot tell (the acceptance checks compare runs on shorter histories instead)."""
        return False

    def required_columns(self) -> dict[str, set[str]]:
        """Slot -> the columns the code may read: the declared ones, or all columns of the slot's kind."""
        return {name: set(slot.columns or KIND_COLUMNS[slot.kind]) for name, slot in self.strategy.data.items()}

    def data_request(self, params: Any = None) -> DataRequest:
        """Every column the code may read, plus the bars of every price slot; `warmup` bars of history."""
        from ..data.request import BAR_COLUMNS, DataRequest

        s = self.strategy
        values = {**s.default_params(), **(dict(params) if isinstance(params, Mapping) else {})}
        columns = {n: frozenset(c | (BAR_COLUMNS if s.data[n].kind in _PRICE_KINDS else set()))
                   for n, c in self.required_columns().items()}
        return DataRequest(slots=dict(s.data), columns=columns, warmup_bars=self.warmup(params),
                           frequency=str(values.get("execution_frequency") or "1Day"), price_slot=s.price_slot())

    def _slots(self) -> dict[str, list[str]]:
        return {name: list(slot.columns or KIND_COLUMNS[slot.kind]) for name, slot in self.strategy.data.items()}

    # ------------------------------------------------------------------ execution
    def signals(self, market: MarketData | Any, params: Any = None, threads: int | None = None) -> SignalSet:
        """Boolean entries and exits of every parameter set on every column of `market` (as
        `CompiledStrategy.signals`), computed by ``generate_signals`` in the sandbox.

        Args:
            market: a `MarketData` (its bar times are what the code sees), or {slot: DataFrame} (a bare
                DataFrame for a single-slot strategy) with flat or (symbol, column) columns.
            params: parameter values; lists give every combination as more columns.
            threads: ignored (the sandbox pool runs the code).
        """
        from ..data.market import MarketData
        from ..signal_set import SignalSet

        if not isinstance(market, MarketData):
            price = next((s for s, slot in self.strategy.data.items() if slot.kind in _PRICE_KINDS), None)
            request = self.data_request(params)
            request = replace(request, price_slot=price).with_overrides(columns=self.required_columns())
            market = MarketData.from_frames(market, request)
        sets = self.param_sets(params)
        inputs, n_rows, labels, index = market.inputs, market.n_rows, list(market.labels), market.index
        missing = [f"{s}.{c}" for s, cols in self._slots().items() for c in cols if (s, c) not in inputs]
        if missing:
            raise RuleEngineError([Diagnostic("D102", f"the data have no column '{m}'", path=f"data.{m}",
                                              hint="load the data for this strategy (ruleengine.load_data)")
                                   for m in missing])

        def run(sets: Sequence[Mapping[str, Any]], columns: Sequence[int] | None = None,
                cuts: Sequence[int] = ()) -> tuple[np.ndarray, ...]:
            return self._run(inputs, index, labels, sets, columns, cuts)

        signals = run(sets)
        if self.verify:
            self._check_sets(run, market, sets, signals, n_rows, labels, index, market.start)
        names = self._returns()
        got = dict(zip(names, signals, strict=True))
        levels = {kind: got[name] for name, kind in ORDER_LEVEL_KINDS.items() if name in got}
        return SignalSet(got["entries"], got["exits"], sets, index, labels, market.start, market.unnamed,
                         short_entries=got.get("short_entries"), short_exits=got.get("short_exits"), levels=levels)

    def _returns(self) -> tuple[str, ...]:
        """What generate_signals returns: the signals of the strategy's direction, then the order levels of a
        limit or stop entry order, then those of a limit or stop exit order."""
        return signal_names(self.strategy.direction, not self.strategy.entry_order.is_market(),
                            not self.strategy.exit_order.is_market())

    def _check_sets(self, run: Any, market: Any, sets: Sequence[Mapping[str, Any]],
                    full: tuple[np.ndarray, ...], n_rows: int, labels: Sequence[Any], index: Any,
                    start: int, names: Sequence[str] | None = None, columns: Sequence[int] | None = None) -> None:
        """The acceptance checks of the sets not yet checked on `market`."""
        import weakref

        from .checks import accept
        from .protocol import params_key

        entry = self._checked.get(id(market))
        seen = entry[1] if entry is not None and entry[0]() is market else set()
        todo = [p for p, params in enumerate(sets) if params_key(params) not in seen]
        if not todo:
            return
        n_cols = len(labels)
        pick = [p * n_cols + j for p in todo for j in range(n_cols)]
        accept(run, n_rows, labels, index, [sets[p] for p in todo], tuple(a[:, pick] for a in full), start=start,
               columns=columns, names=names or self._returns())
        for key in [k for k, (r, _) in self._checked.items() if r() is None]:
            del self._checked[key]  # markets that are gone
        self._checked[id(market)] = (weakref.ref(market), seen | {params_key(sets[p]) for p in todo})

    def _run(self, inputs: Mapping[tuple[str, str], np.ndarray], index: Any, labels: Sequence[Any],
             sets: Sequence[Mapping[str, Any]], columns: Sequence[int] | None, cuts: Sequence[int],
             names: Sequence[str] | None = None) -> tuple[np.ndarray, ...]:
        from .protocol import job_from_inputs
        from .runner import DEFAULT_MEMORY, run_job

        price = [s for s, slot in self.strategy.data.items() if slot.kind in _PRICE_KINDS]
        job = job_from_inputs(self.code, inputs, index, labels, self._slots(), price, sets, columns, cuts,
                              names or self._returns())
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

    def accept(self, data: Any, params: Any = None) -> None:
        """Run the determinism and lookahead checks on `data` (a `MarketData`) now; raises X128 / X129."""
        verify, self.verify = self.verify, True
        try:
            self._checked.pop(id(data), None)
            if self.strategy.rotation is not None:
                self.rotation_levels(data, params)
            else:
                self.signals(data, params)
        finally:
            self.verify = verify

    # ------------------------------------------------------------------ rotation (generate_weights)
    def rotation_levels(self, market: MarketData, params: Any = None) -> CodeWeights:
        """The weights ``generate_weights`` returns for every parameter set on `market` (one call per set sees
        the whole universe), after the determinism and lookahead checks (X128 / X129: the weights of a bar must
        not change when later bars are removed)."""
        from .protocol import WEIGHTS

        sets = self.param_sets(params)
        inputs, n_rows, labels, index = market.inputs, market.n_rows, list(market.labels), market.index

        def run(sets: Sequence[Mapping[str, Any]], columns: Sequence[int] | None = None,
                cuts: Sequence[int] = ()) -> tuple[np.ndarray, ...]:
            return self._run(inputs, index, labels, sets, columns, cuts, WEIGHTS)

        weights = run(sets)
        if self.verify:  # every column is the universe: the checks run all of them, once per cut
            self._check_sets(run, market, sets, weights, n_rows, labels, index, market.start, WEIGHTS,
                             list(range(len(labels))))
        return CodeWeights(weights[0], sets)

    def rotation_targets(self, market: MarketData, levels: CodeWeights, index: int, rebalance: str | None = None,
                         bars: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """The (T, S) target weights of parameter set `index`: the code's weights on the rebalance bars from
        the requested start on (a symbol outside a point-in-time universe on that bar gets none, as a rule
        rotation's selection), NaN on every other bar (`CompiledStrategy.rotation_targets`)."""
        import numpy as np

        rot = self.strategy.rotation
        assert rot is not None, "rotation_targets needs a rotation strategy"
        bars = rot.rebalance_bars(market, levels.param_sets[index], rebalance, bars)
        s = market.n_cols
        w = levels.weights[:, index * s:(index + 1) * s]
        if market.members is not None:
            w = np.where(market.members, w, 0.0)
        rows = np.flatnonzero(bars)
        rows = rows[rows >= market.start]
        out = np.full(w.shape, np.nan) if out is None else out
        out[rows] = w[rows]
        return out

    def rotation_weights(self, market: MarketData, params: Any = None) -> tuple[np.ndarray, CodeWeights]:
        """The (T, P*S) target weights of every parameter set (`rotation_targets`) and the code's weights."""
        import numpy as np

        levels = self.rotation_levels(market, params)
        parts = [self.rotation_targets(market, levels, i) for i in range(len(levels.param_sets))]
        return (parts[0] if len(parts) == 1 else np.hstack(parts)), levels


    # ------------------------------------------------------------------ explain
    def inspect(self, market: Any, params: Any = None, tail: int = 21) -> list[Any]:
        """[]: the code has no conditions whose values could be shown (its signals are its only output)."""
        return []

    def explain(self) -> dict[str, Any]:
        """What `ruleengine explain --json` prints for a code strategy (no conditions: the code decides)."""
        s = self.strategy
        cols = self.required_columns()
        return {"name": s.name, "description": s.description, "timeframe": s.timeframe, "kind": "code",
                "direction": s.direction,
                "data": {n: {"kind": d.kind, "frequency": d.frequency, "columns": sorted(cols[n])}
                         for n, d in s.data.items()},
                "params": {n: p.model_dump(exclude_none=True) for n, p in s.params.items()},
                "warmup_bars": self.warmup(), "code_lines": len(self.code.splitlines()),
                "risk": s.risk.model_dump(exclude_none=True),
                **({"rotation": {"rebalance": s.rotation.rebalance, "weights": "generate_weights",
                                 "min_weight_change_pct": s.rotation.min_weight_change_pct}}
                   if s.rotation is not None else {})}

    def explain_text(self) -> str:
        d = self.explain()
        rot = d.get("rotation")
        entry = "generate_weights" if rot else "generate_signals"
        lines = [f"{d['name']}  ({d['timeframe'] or 'no timeframe: no default exits'}, code strategy: "
                 f"{entry} runs in the sandbox)"]
        if d["description"]:
            lines.append(f"  {d['description']}")
        if rot:
            lines.append(f"rotation: the weights generate_weights returns, traded at the close of the last bar of "
                         f"each {rot['rebalance']} period (not within {rot['min_weight_change_pct']} points of the "
                         "target)")
            lines.append("data (each call of generate_weights gets these columns of every symbol):")
        else:
            lines.append(f"direction: {d['direction']}: "
                         f"{DIRECTIONS[d['direction']].replace('conditions', 'signals')}")
            lines.append("data (each call of generate_signals gets these columns of one run):")
        lines += [f"  {n}: {v['kind']} at {v['frequency']}; {', '.join(v['columns'])}" for n, v in d["data"].items()]
        lines.append("params: " + ", ".join(f"{n}={p['default']!r}" for n, p in d["params"].items()))
        lines.append(f"code: {d['code_lines']} lines; passed the static check")
        lines.append(f"warm-up: {d['warmup_bars']} bars of history before the first traded bar")
        if d["risk"]:
            lines.append("risk: " + ", ".join(f"{k}={v}" for k, v in d["risk"].items()))
        return "\n".join(lines) + "\n"


@dataclass
class CodeWeights:
    """What generate_weights returned: (T, P*S) weights (set-major; 0 where a cut copy saw no bar) per set."""

    weights: np.ndarray
    param_sets: list[dict[str, Any]]


def code_strategy(strategy: TradingStrategy, document: Loaded | None = None) -> CodeStrategy:
    """A `CodeStrategy` after the static check (X1xx diagnostics at their place in the document)."""
    from .static import check_code, entry_point, locate

    code = strategy.code or ""
    errors = [d for d in check_code(code, entry_point(strategy)) if d.severity == "error"]
    if errors:
        raise RuleEngineError(locate(errors, code, document), document.source if document else None)
    return CodeStrategy(strategy, document)


__all__ = [
    "CALL_SECONDS",
    "CALL_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WARMUP_BARS",
    "MAX_RUN_SECONDS",
    "CodeStrategy",
    "CodeWeights",
    "code_strategy",
]
