"""The backtest result model (pydantic v2, JSON-serialisable): what `ruleengine.backtest` returns.

`BacktestResult` holds one `RunResult` per run (a symbol, a pair mapping, or a whole portfolio), the
warnings (Diagnostic records, as in error details) and the provenance (strategy hash, parameters, data range,
package versions). Every float is finite or None: metrics that are undefined (a ratio over zero, no trades)
are None, never NaN or infinity, so the JSON is valid everywhere.

A backtest of a universe holds thousands of trades and equity points, so `backtest` builds a run's
``trades`` and ``equity`` (and the report's ``_benchmark_equity``) on first use: the model holds a `Pending`
recipe instead, which attribute access, serialisation (``model_dump``, ``to_json``), equality and ``repr``
turn into the real value. The public behaviour and the JSON are the same as for a model built eagerly.

Example:
    >>> r = BacktestResult(results=[], warnings=[], provenance=Provenance(strategy_name="x", strategy_hash="0"))
    >>> r.to_json()[:52]
    '{"success":true,"synthetic":false,"fill_contract":"F'
"""

from __future__ import annotations

import gc
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    computed_field,
    field_serializer,
    model_serializer,
    model_validator,
)

from .risk import FILL_CONTRACT

_M = TypeVar("_M", bound=BaseModel)
_set = object.__setattr__


def trusted(cls: type[_M], values: dict[str, Any], private: dict[str, Any] | None = None) -> _M:
    """A model from values that are already of the right types (our engine's): no validation, no copy.

    `model_construct` does the same with more bookkeeping (aliases, defaults); `values` must hold every
    field, in field order (the JSON's key order), as fresh objects (they are not copied).
    """
    m = cls.__new__(cls)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_fields_set__", set(values))
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", private)
    return m


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while thousands of small, surviving objects are built.

    A universe's results (and their trades, when first used) are such objects; every 700 of them the
    collector would scan the young generations, and now and then the whole heap (large after pandas and the
    data), for cycles that cannot be there. They are collected once, at the first allocation after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Pending:
    """A field value built on first use: ``fn(*args)`` (module-level `fn`, so results still pickle)."""

    __slots__ = ("args", "fn")

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args

    def build(self) -> Any:
        return self.fn(*self.args)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Pending, (self.fn, *self.args))


class Metrics(BaseModel):
    """Performance of one run. Percentages are in percent (5.0 = 5 %); see `ruleengine.backtest.metrics`."""

    total_trades: int = Field(description="trades, including one still open at the end (exit_reason end_of_data)")
    winning_trades: int = Field(description="trades with pnl > 0")
    losing_trades: int = Field(description="trades with pnl < 0 (pnl == 0 is neither)")
    win_rate: float | None = Field(description="winning / total trades x 100; None without trades")
    total_return_pct: float
    total_return_dollars: float
    final_equity: float
    avg_win_pct: float | None = Field(description="mean pnl_pct of winning trades; None without any")
    avg_loss_pct: float | None = Field(description="mean pnl_pct of losing trades (negative); None without any")
    profit_factor: float | None = Field(description="gross profit / gross loss; None without losing trades")
    max_drawdown_pct: float = Field(description="largest fall from a running peak (initial cash included), > 0")
    sharpe_ratio: float | None = Field(description="mean / std (ddof 1) of bar returns x sqrt(bars per year)")
    sortino_ratio: float | None
    cagr_pct: float | None = Field(description="compound annual growth over the run's bars")
    calmar_ratio: float | None = Field(description="CAGR / max drawdown")
    exposure_pct: float = Field(description="share of bars ending with a position held, x 100")
    best_trade_pct: float | None
    worst_trade_pct: float | None
    avg_holding_bars: float | None
    avg_holding_days: float | None = Field(description="mean calendar days from entry to exit")
    benchmark_return_pct: float | None = Field(description="buy and hold of the benchmark over the same bars")
    periods_per_year: float = Field(description="annualisation factor used (252 for daily bars)")


class SkippedEntry(BaseModel):
    """An entry signal a portfolio could not act on: the cash left did not cover its position size."""

    time: str
    symbol: str


class SkippedEntries(BaseModel):
    """The entries a portfolio skipped (``--portfolio``): how many, and the first ones in time order."""

    count: int
    first: list[SkippedEntry] = Field(description="the first ones (at most SKIPPED_SHOWN), by time")


#: how many skipped entries a result lists (all of them are counted)
SKIPPED_SHOWN = 20


class Trade(BaseModel):
    """One round trip. Bars are rows of the run's equity curve (0 = the first requested bar)."""

    symbol: str
    entry_time: str
    exit_time: str
    entry_price: float
    exit_price: float
    size: float
    pnl: float
    pnl_pct: float
    fees: float
    exit_reason: str
    entry_bar: int
    exit_bar: int


_TRADE_COLUMNS = ("column", "entry_bar", "exit_bar", "entry_price", "exit_price", "size", "pnl", "pnl_pct", "fees",
                  "exit_reason")
_TRADE_FIELDS = tuple(Trade.model_fields)  # symbol, entry_time, exit_time, ..., exit_reason, entry_bar, exit_bar


class TradeTable:
    """The trades of one simulation as column arrays (rows grouped by run); `Trade` models made on demand.

    Args:
        columns: ``column`` (the simulation column), ``entry_bar``, ``exit_bar`` (rows of the full index),
            ``entry_price``, ``exit_price``, ``size``, ``pnl``, ``pnl_pct``, ``fees``, ``exit_reason``.
        times: the bar labels as text from row `start` of the index on (trades never start before it).
        start: the index row of ``times[0]``.
        names: the symbol label of each simulation column.
        open_times: the date of each bar's first session, like `times` (weekly / monthly bars, labelled by
            their last session); a fill at a bar's open (columns ``entry_at_open`` / ``exit_at_open``) is
            dated there, every other fill at the bar's label. None: the labels are the fills' times.
    """

    def __init__(self, columns: dict[str, Any], times: list[str], start: int, names: list[str],
                 open_times: list[str] | None = None) -> None:
        self.columns, self.times, self.start, self.names = columns, times, start, names
        self.open_times = open_times
        self._lists: list[list[Any]] | None = None

    def _fill_times(self, bars: list[int], at_open: str) -> list[str]:
        """The time of each fill: its bar's label, or the bar's first session for a fill at the open."""
        s, times, opened = self.start, self.times, self.open_times
        if opened is None or at_open not in self.columns:
            return [times[b - s] for b in bars]
        return [(opened if o else times)[b - s] for b, o in zip(bars, self.columns[at_open].tolist())]

    def models(self, lo: int, hi: int, offset: int) -> list[Trade]:
        """Rows ``lo:hi`` as `Trade` models, their bars counted from index row `offset` (the run's first bar)."""
        if self._lists is None:  # Python values of every row at once (numpy's tolist is one C loop)
            c = {name: self.columns[name].tolist() for name in _TRADE_COLUMNS}
            times, s, names = self.times, self.start, self.names
            self._lists = [[names[j] for j in c["column"]], self._fill_times(c["entry_bar"], "entry_at_open"),
                           self._fill_times(c["exit_bar"], "exit_at_open"), c["entry_price"], c["exit_price"], c["size"],
                           c["pnl"], c["pnl_pct"], c["fees"], [str(x) for x in c["exit_reason"]], c["entry_bar"],
                           c["exit_bar"]]
        cols = [col[lo:hi] for col in self._lists]
        cols[10] = [b - offset for b in cols[10]]
        cols[11] = [b - offset for b in cols[11]]
        with gc_paused():  # a portfolio's run can hold tens of thousands of trades
            return [trusted(Trade, dict(zip(_TRADE_FIELDS, row))) for row in zip(*cols)]


class EquityCurve(BaseModel):
    """Equity marked at each bar's close: two arrays of the same length."""

    time: list[str]
    value: list[float]


def equity_curve(times: list[str], lo: int, hi: int, values: Any) -> EquityCurve:
    """``EquityCurve`` of bars ``lo:hi`` of `times` with the float array `values` (one per bar)."""
    return trusted(EquityCurve, {"time": times[lo:hi], "value": values.tolist()})


class Benchmark(BaseModel):
    """Buy and hold of one symbol over the same bars (bought at the first close, no fees)."""

    symbol: str | None
    total_return_pct: float | None
    synthetic: bool = False


class DataInfo(BaseModel):
    """Where the run's data came from and what range it covers (warm-up history excluded)."""

    providers: dict[str, str]
    synthetic: bool
    frequency: str
    start: str | None
    end: str | None
    bars: int


_LAZY_FIELDS = frozenset({"trades", "equity"})


class RunResult(BaseModel):
    """One run: a symbol, a ``{slot: symbol}`` mapping, or a portfolio of symbols.

    ``trades``, ``equity`` and ``_benchmark_equity`` may hold a `Pending` value until first used.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    label: str
    symbols: dict[str, str | list[str]]
    params: dict[str, Any]
    metrics: Metrics
    benchmark: Benchmark
    trades: list[Trade]
    equity: EquityCurve
    risk: dict[str, Any]
    data: DataInfo
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    skipped_entries: SkippedEntries | None = Field(
        default=None, description="portfolio runs: entries skipped because the cash left was short")
    # Series for the HTML report only (not serialised): traded close prices and the benchmark's equity.
    _close: Any = PrivateAttr(default=None)
    _benchmark_equity: Any = PrivateAttr(default=None)

    if not TYPE_CHECKING:
        def __getattribute__(self, name: str) -> Any:
            value = object.__getattribute__(self, name)
            if name in _LAZY_FIELDS and type(value) is Pending:
                value = value.build()
                object.__getattribute__(self, "__dict__")[name] = value
            return value

        def __getattr__(self, name: str) -> Any:  # private attributes (`_benchmark_equity`)
            value = super().__getattr__(name)
            if type(value) is Pending:
                value = value.build()
                self.__pydantic_private__[name] = value
            return value

    # Serialising builds a pending value once, like attribute access (typed returns keep the fast serialiser)
    @field_serializer("trades")
    def _serialize_trades(self, value: Any) -> list[Trade]:
        return self.trades if type(value) is Pending else value

    @field_serializer("equity")
    def _serialize_equity(self, value: Any) -> EquityCurve:
        return self.equity if type(value) is Pending else value

    def _materialize(self) -> None:
        """Build every pending value now (comparisons and repr read the fields directly)."""
        for name in _LAZY_FIELDS:
            getattr(self, name)
        for name in self.__private_attributes__:
            getattr(self, name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RunResult):
            self._materialize()
            other._materialize()
        return super().__eq__(other)

    def __repr_args__(self) -> Any:
        self._materialize()
        return super().__repr_args__()

    def exit_reasons(self) -> dict[str, int]:
        """How many trades ended for each reason."""
        out: dict[str, int] = {}
        for t in self.trades:
            out[t.exit_reason] = out.get(t.exit_reason, 0) + 1
        return out


class Provenance(BaseModel):
    """What produced a result: enough to reproduce it."""

    strategy_name: str
    strategy_hash: str = Field(description="sha256 of the canonical JSON of the strategy document")
    params: dict[str, Any] = Field(default_factory=dict)
    risk_overrides: dict[str, Any] = Field(default_factory=dict)
    symbols: Any = None
    start: str | None = None
    end: str | None = None
    frequency: str | None = None
    init_cash: float = 10_000.0
    portfolio: bool = False
    engine: str = "numba"
    benchmark: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    created_at: str | None = None


class BacktestResult(BaseModel):
    """Everything a backtest produced; `to_json()` gives the CLI's ``--json`` object.

    Text that is the same for every run (the fill contract) is held once here, not in each `RunResult`:
    a universe of 500 runs would otherwise repeat it 500 times.
    """

    success: Literal[True] = True
    fill_contract: str = Field(default=FILL_CONTRACT,
                               description="the fill rules every run of this result followed")
    results: list[RunResult]
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    provenance: Provenance

    @model_validator(mode="before")
    @classmethod
    def _contract_of_older_results(cls, data: Any) -> Any:
        """Results stored before the contract moved to the top held it in each run: take the first run's."""
        if isinstance(data, dict) and "fill_contract" not in data:
            runs = data.get("results") or []
            first = runs[0] if runs and isinstance(runs[0], dict) else {}
            if isinstance(first.get("fill_contract"), str):
                data = {**data, "fill_contract": first["fill_contract"]}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def synthetic(self) -> bool:
        """True when any run used synthetic (sample) data: ``"synthetic"`` at the top of the JSON object."""
        return any(r.data.synthetic for r in self.results)

    @model_serializer(mode="wrap")
    def _synthetic_first(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``success`` then ``synthetic`` first: a reader of the JSON sees at once whether the data were real."""
        out: dict[str, Any] = handler(self)
        return {"success": out.pop("success"), "synthetic": out.pop("synthetic"), **out}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data."""
        with gc_paused():  # builds the pending trades and equity curves: see `gc_paused`
            return self.model_dump(mode="json")

    def to_json(self, indent: int | None = None) -> str:
        """The JSON object: ``{"success": true, "synthetic": false, "fill_contract": "...", "results": [...],
        "warnings": [...], "provenance": {...}}``."""
        with gc_paused():
            return self.model_dump_json(indent=indent)

    def write_report(self, path: str, **kwargs: Any) -> str:
        """Write the self-contained HTML report (see `ruleengine.backtest.report.write_report`)."""
        from .report import write_report

        return write_report(self, path, **kwargs)


def strategy_hash(strategy: Any) -> str:
    """sha256 of the canonical JSON of a `TradingStrategy` (sorted keys, no whitespace, unset fields left out)."""
    text = json.dumps(strategy.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def package_versions(vectorbt: bool = False) -> dict[str, str]:
    """Versions of Python and the packages a result depends on (vectorbt only when it was used)."""
    return dict(_versions(vectorbt))


@lru_cache(maxsize=2)
def _versions(vectorbt: bool) -> dict[str, str]:
    """Looked up once per process: reading package metadata takes milliseconds, and the loaded code does
    not change while the process runs."""
    from importlib import metadata

    names = ["ruleengine", "numpy", "pandas", "numba", "pydantic"] + (["vectorbt"] if vectorbt else [])
    out = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


__all__ = ["SKIPPED_SHOWN", "BacktestResult", "Benchmark", "DataInfo", "EquityCurve", "Metrics", "Pending",
           "Provenance", "RunResult", "SkippedEntries", "SkippedEntry", "Trade", "TradeTable", "equity_curve",
           "gc_paused", "package_versions", "strategy_hash", "trusted"]
