"""One strategy interface: `SignalSource`, and the one function that turns any input into one.

Rule strategies (`ruleengine.compile.compiled.CompiledStrategy`) and code strategies
(`ruleengine.sandbox.strategy.CodeStrategy`) implement `SignalSource` structurally; neither knows the
other, nor this module. This is the one place that knows both: `signal_source` sends a document with
``code:`` to the sandbox (after its static check) and anything else to the rule compiler. Callers (backtest,
sweep, walk-forward, live signals, the store, the agent tools) never ask which one they have: where the two
behave differently they ask the source (``runs_in_process``, ``inspect``, ``path_dependent``).

`load_data` (public as ``ruleengine.load_data``) asks the source for its `DataRequest` and hands that to the
data layer, which never sees a strategy.

Example:
    >>> src = signal_source("name: x\\ndata: {prices: {kind: ohlcv}}\\nentry: ['close > sma(close, 20)']\\n")
    >>> isinstance(src, SignalSource), src.warmup()
    (True, 19)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import Diagnostic, RuleEngineError
from .schema.strategy import TradingStrategy
from .source import Loaded

if TYPE_CHECKING:
    from .compile.inspect import InspectedCondition as InspectedCondition  # what `inspect` returns
    from .data.market import MarketData
    from .data.registry import ProviderRegistry
    from .data.request import DataRequest
    from .signal_set import SignalSet


@runtime_checkable
class SignalSource(Protocol):
    """A strategy ready to produce signals: its document, what data it needs, and the signals on that data."""

    strategy: TradingStrategy  # the document
    document: Loaded | None  # the document as read (text and positions), when it came from text
    #: True when ``signals`` computes in the calling process (sweeps may spread it over threads and processes);
    #: False when it runs in processes of its own (the sandbox)
    runs_in_process: bool

    def required_columns(self) -> dict[str, set[str]]:
        """Slot -> the columns the signals read."""
        ...

    def data_request(self, params: Any = None) -> DataRequest:
        """Slots, columns, history and execution frequency the data layer loads for these parameter values."""
        ...

    def warmup(self, params: Any = None) -> int:
        """Bars at the start that are never traded."""
        ...

    def converge_bars(self, params: Any = None) -> int:
        """History after which the values equal their full-history values."""
        ...

    def param_sets(self, params: Any = None) -> list[dict[str, Any]]:
        """The full parameter sets `params` expands to (lists make a grid)."""
        ...

    def path_dependent(self, params: Any = None) -> bool:
        """True when a value depends on where the history starts (live signals then load more of it)."""
        ...

    def signals(self, market: MarketData | Any, params: Any = None, threads: int | None = None) -> SignalSet:
        """Entries and exits of every parameter set on every column of `market` (or of user DataFrames)."""
        ...

    def accept(self, market: MarketData, params: Any = None) -> None:
        """Run now the checks that must pass before signals on `market` are trusted (code: determinism and
        lookahead in the sandbox, X128 / X129; rules are causal by construction: nothing to run)."""
        ...

    def inspect(self, market: MarketData, params: Any = None, tail: int = 21) -> list[InspectedCondition]:
        """Each condition's values on the last `tail` bars (what live reasoning and idle diagnosis show);
        [] when the strategy has no conditions to show."""
        ...

    def explain(self) -> dict[str, Any]:
        """Machine-readable explanation (what ``ruleengine explain --json`` prints)."""
        ...

    def explain_text(self) -> str:
        """The explanation for a terminal."""
        ...


def signal_source(obj: Any, document: Loaded | None = None, *, allow_paths: bool = True) -> SignalSource:
    """Any strategy input as a `SignalSource`: a path, YAML/JSON text, a dict, a `TradingStrategy`, or a source.

    A document with ``code:`` becomes a sandbox-backed code strategy (its code passed the static check); any
    other is compiled (every condition parsed and checked). Raises `RuleEngineError` with all diagnostics.
    `allow_paths=False` (the agent tools): a string is always the document's text, never a file name.

    Example:
        >>> signal_source("name: x\\ndata: {prices: {}}\\nentry: [close > 1]\\n").strategy.name
        'x'
    """
    if isinstance(obj, SignalSource):
        return obj
    if not isinstance(obj, TradingStrategy):
        from .schema.load import load_document

        loaded = load_document(obj, allow_paths)
        obj, document = loaded.strategy, loaded.document
    if obj.code is not None:
        from .sandbox.strategy import code_strategy

        refused = _code_distances(obj, document)
        if refused:
            raise RuleEngineError(refused, document.source if document else None)
        return code_strategy(obj, document)
    from .compile.compiled import compile_rules

    return compile_rules(obj, document)


def _code_distances(strategy: TradingStrategy, document: Loaded | None) -> list[Diagnostic]:
    """L124 for a stop / take-profit distance in a code strategy: the compiler computes distances per bar, the
    sandbox does not (yet), and a distance nobody computes would silently be no exit."""
    out = []
    for name in ("stop_loss_distance", "take_profit_distance"):
        if getattr(strategy.risk, name) is not None:
            out.append(Diagnostic("L124", f"{name} needs rule conditions: a code strategy cannot give a distance yet",
                                  document.span_of(("risk", name)) if document is not None else None,
                                  f"risk.{name}", "use stop_loss_pct / take_profit_pct, or write the strategy as "
                                  "entry/exit conditions", stage="check"))
    return out


def check_document(strategy: TradingStrategy, document: Loaded | None = None) -> list[Diagnostic]:
    """Every problem of a loaded document's conditions (parse and type check) or code (the sandbox's static
    check: the code is never run here), without raising; [] when there is none."""
    if strategy.code is not None:
        from .sandbox.static import check_code, entry_point, locate

        return _code_distances(strategy, document) + locate(check_code(strategy.code, entry_point(strategy)),
                                                            strategy.code, document)
    from .compile.frontend import analyze

    return analyze(strategy, document).diagnostics


def load_data(strategy: Any, symbols: Any, start: Any = None, end: Any = None, *,
              params: Mapping[str, Any] | None = None, registry: ProviderRegistry | None = None,
              provider: str | None = None, data: str | None = None,
              columns: Mapping[str, set[str]] | None = None, warmup_bars: int | None = None,
              no_cache: bool = False) -> MarketData:
    """Fetch, resample and align every slot a strategy reads, for the runs `symbols` asks for.

    Args:
        strategy: a `SignalSource` (``compile_strategy``'s result), a `TradingStrategy`, or anything
            `load_strategy` accepts.
        symbols: ``"SPY"``, ``"SPY,QQQ"``, ``["SPY", "QQQ"]``, ``"asset_a=GLD,asset_b=SLV"``, a mapping, or
            ``"@universe.txt"`` (see `ruleengine.data.symbols`).
        start, end: the requested range (dates, exchange time; inclusive). Default: the last 10 years (20
            sessions for intraday execution) up to today, or up to the end of a local file's data.
        params: parameter values (``execution_frequency`` picks the bar frequency; windows the warm-up).
        registry: providers (default `default_registry(data)`); `provider` is ``--provider``.
        columns: slot -> columns to bind (default: those the strategy reads, plus OHLC of price slots).
        warmup_bars: bars of history before `start` (default: the strategy's convergence history).
        no_cache: bypass the on-disk cache of remote providers.

    Example:
        >>> md = load_data("rules/golden_cross.yaml", "SPY", "2020-01-01", "2020-06-30")  # doctest: +SKIP
        >>> md.inputs[("prices", "close")].shape  # doctest: +SKIP
    """
    from .data.market import load_market_data

    request = signal_source(strategy).data_request(params)
    request = request.with_overrides(columns=columns, warmup_bars=warmup_bars)
    return load_market_data(request, symbols, start, end, registry=registry, provider=provider, data=data,
                            no_cache=no_cache)


__all__ = ["SignalSource", "check_document", "load_data", "signal_source"]
