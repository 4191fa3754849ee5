"""The backtest result model (pydantic v2, JSON-serialisable): what `ruleengine.backtest` returns.

`BacktestResult` holds one `RunResult` per run (a symbol, a pair mapping, or a whole portfolio), the
warnings (Diagnostic records, as in error details) and the provenance (strategy hash, parameters, data range,
package versions). Every float is finite or None: metrics that are undefined (a ratio over zero, no trades)
are None, never NaN or infinity, so the JSON is valid everywhere.

A backtest of a universe holds thousands of trades and equity points, so `backtest` keeps them as the
simulation's arrays and makes the Python values on first use: a run's ``trades`` and its equity curve's
``time`` and ``value`` are `Deferred` sequences (a list built on first use: indexing, iteration, ``len``,
equality and ``repr`` as that list). The fields are declared as sequences that serialise as lists, so the JSON
is the same as for a model built eagerly, and a result read back from JSON holds plain lists.

Example:
    >>> r = BacktestResult(results=[], warnings=[], provenance=Provenance(strategy_name="x", strategy_hash="0"))
    >>> r.to_json()[:52]
    '{"success":true,"synthetic":false,"fill_contract":"F'
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Annotated, Any, Generic, Literal, TypeVar, overload

import numpy as np
from pydantic import (
    BaseModel,
    Field,
    PlainSerializer,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    computed_field,
    model_serializer,
    model_validator,
)

from ..kernels.enums import PAIR_TRADE_COLUMNS
from .risk import FILL_CONTRACT

_T = TypeVar("_T")


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


class Deferred(Sequence[_T], Generic[_T]):
    """A list built on first use by ``fn(*args)``, then kept; it behaves as that list (read-only).

    `fn` is a module-level function or a bound method of a picklable object, so that a result pickles (and
    copies) with the recipe while the list is not built yet.
    """

    __slots__ = ("_items", "_recipe")

    def __init__(self, fn: Callable[..., list[_T]], *args: Any) -> None:
        self._recipe: tuple[Callable[..., list[_T]], tuple[Any, ...]] | None = (fn, args)
        self._items: list[_T] | None = None

    @property
    def built(self) -> bool:
        """Whether the list was made already."""
        return self._items is not None

    def items(self) -> list[_T]:
        """The list (built now if it was not yet)."""
        if self._items is None:
            assert self._recipe is not None
            fn, args = self._recipe
            self._items, self._recipe = fn(*args), None
        return self._items

    def __len__(self) -> int:
        return len(self.items())

    @overload
    def __getitem__(self, i: int) -> _T: ...
    @overload
    def __getitem__(self, i: slice) -> list[_T]: ...
    def __getitem__(self, i: int | slice) -> _T | list[_T]:
        return self.items()[i]

    def __iter__(self) -> Iterator[_T]:
        return iter(self.items())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Deferred):
            other = other.items()
        return self.items() == other if isinstance(other, list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a list, so unhashable like one

    def __repr__(self) -> str:
        return repr(self.items())

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(seq)`` in one step (numpy would otherwise read a sequence item by item)."""
        return np.asarray(self.items(), dtype=dtype)

    def __reduce__(self) -> tuple[Any, ...]:
        if self._recipe is None:
            return (list, (self._items,))
        fn, args = self._recipe
        return (Deferred, (fn, *args))


def _keep_deferred(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A `Deferred` value is the engine's own (valid by construction): kept as it is, not built to check it."""
    return value if isinstance(value, Deferred) else handler(value)


def _as_list(value: Sequence[Any]) -> list[Any]:
    """A `Deferred` sequence's list (built now), so that it serialises exactly like a plain list."""
    if isinstance(value, Deferred):
        return value.items()
    return value if isinstance(value, list) else list(value)


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
    #: left out when None (a single-symbol run has no universe): such results read as before
    universe_benchmark_return_pct: float | None = Field(
        None, exclude_if=lambda v: v is None,
        description="a universe's run only: equal-weight buy and hold of the same point-in-time universe over "
                    "the same bars (on each bar its members with a price; rebalanced to equal weight when they "
                    "change, a leaver sold at its last close), from the same initial cash, without fees")
    periods_per_year: float = Field(description="annualisation factor used (252 for daily bars)")


class SideMetrics(BaseModel):
    """The trade statistics of one side's trades (long or short) of a run: `Metrics`' trade fields, same
    definitions, plus the side's pnl in money. A run's long/short split (`RunResult.sides`)."""

    total_trades: int
    winning_trades: int
    losing_trades: int
    win_rate: float | None
    pnl: float = Field(description="sum of the side's trade pnl (money, fees included)")
    avg_win_pct: float | None
    avg_loss_pct: float | None
    profit_factor: float | None
    best_trade_pct: float | None
    worst_trade_pct: float | None
    avg_holding_bars: float | None
    avg_holding_days: float | None


class SkippedEntry(BaseModel):
    """An entry signal not acted on as its sizing asked: skipped, or (a single run) cut down to the cash."""

    time: str
    symbol: str
    reason: str = Field("cash", exclude_if=lambda v: v == "cash",  # left out as before reasons existed
                        description="cash (a portfolio's cash left was short), max_open_positions, "
                                            "max_gross_exposure, zero_units (whole_units), no_stop "
                                            "(risk_per_trade_pct), no_volatility (volatility_target_pct), or "
                                            "capped_by_cash (made with all the cash: smaller than asked)")


class SkippedEntries(BaseModel):
    """The entries skipped (a portfolio's for want of cash or by a cap; any run's by a sizing rule) or cut down
    to the cash: how many, and the first ones in time order."""

    count: int
    first: list[SkippedEntry] = Field(description="the first ones (at most SKIPPED_SHOWN), by time")
    #: count per reason, when a reason other than cash occurred (left out otherwise: results read as before)
    by_reason: dict[str, int] | None = Field(None, exclude_if=lambda v: v is None)


#: how many skipped entries a result lists (all of them are counted)
SKIPPED_SHOWN = 20


class TradeLeg(BaseModel):
    """One leg of a pair trade: its instrument, side and fills (prices after slippage; fees of both sides)."""

    symbol: str
    side: Literal["long", "short"]
    entry_price: float
    exit_price: float
    size: float
    pnl: float
    fees: float


class Trade(BaseModel):
    """One round trip. Bars are rows of the run's equity curve (0 = the first requested bar).

    A pair trade (a strategy with a ``pair`` block) is one position of two legs: entry_price, exit_price and
    size are its first leg's, pnl, pnl_pct and fees both legs' together (pnl_pct of the cash both took),
    direction long = long the first leg and short the second; ``legs`` lists each leg.
    """

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
    #: omitted from the JSON for a long trade (the default): long results read as before direction existed
    direction: Literal["long", "short"] = Field("long", exclude_if=lambda v: v == "long")
    #: a pair trade's two legs, first leg first; omitted from the JSON for a one-instrument trade
    legs: list[TradeLeg] | None = Field(None, exclude_if=lambda v: v is None)


#: a list of trades, or a `Deferred` one; serialised as a list
TradeList = Annotated[Sequence[Trade], WrapValidator(_keep_deferred),
                      PlainSerializer(_as_list, return_type=list[Trade])]
_TRADES = TypeAdapter(list[Trade])

_TRADE_COLUMNS = ("column", "entry_bar", "exit_bar", "entry_price", "exit_price", "size", "pnl", "pnl_pct", "fees",
                  "exit_reason", "direction")
_TRADE_FIELDS = tuple(f for f in Trade.model_fields if f != "legs")  # symbol, entry_time, ..., direction


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
        leg_symbols: a pair run's (first leg, second leg) symbols of each simulation column; its columns then
            hold ``leg_a_pnl``, ``leg_b_pnl`` and the second leg's ``leg_b_*`` (`PAIR_TRADE_COLUMNS`).
    """

    def __init__(self, columns: dict[str, Any], times: list[str], start: int, names: list[str],
                 open_times: list[str] | None = None, leg_symbols: list[tuple[str, str]] | None = None) -> None:
        self.columns, self.times, self.start, self.names = columns, times, start, names
        self.open_times = open_times
        self.leg_symbols = leg_symbols
        self._lists: list[list[Any]] | None = None

    def _fill_times(self, bars: list[int], at_open: str) -> list[str]:
        """The time of each fill: its bar's label, or the bar's first session for a fill at the open."""
        s, times, opened = self.start, self.times, self.open_times
        if opened is None or at_open not in self.columns:
            return [times[b - s] for b in bars]
        return [(opened if o else times)[b - s] for b, o in zip(bars, self.columns[at_open].tolist(), strict=True)]

    def models(self, lo: int, hi: int, offset: int) -> list[Trade]:
        """Rows ``lo:hi`` as `Trade` models, their bars counted from index row `offset` (the run's first bar)."""
        if self._lists is None:  # Python values of every row at once (numpy's tolist is one C loop)
            c = {name: self.columns[name].tolist() for name in _TRADE_COLUMNS}
            names = self.names
            self._lists = [[names[j] for j in c["column"]], self._fill_times(c["entry_bar"], "entry_at_open"),
                           self._fill_times(c["exit_bar"], "exit_at_open"), c["entry_price"], c["exit_price"],
                           c["size"], c["pnl"], c["pnl_pct"], c["fees"], [str(x) for x in c["exit_reason"]],
                           c["entry_bar"], c["exit_bar"], ["short" if d < 0 else "long" for d in c["direction"]]]
        cols = [col[lo:hi] for col in self._lists]
        cols[10] = [b - offset for b in cols[10]]
        cols[11] = [b - offset for b in cols[11]]
        with gc_paused():  # a portfolio's run can hold tens of thousands of trades
            # validated in one call of pydantic's core: as fast as building unvalidated models one by one
            rows = [dict(zip(_TRADE_FIELDS, row, strict=True)) for row in zip(*cols, strict=True)]
            if self.leg_symbols is not None:
                for row, legs in zip(rows, self._legs(lo, hi), strict=True):
                    row["legs"] = legs
            return _TRADES.validate_python(rows)

    def _legs(self, lo: int, hi: int) -> list[list[dict[str, Any]]]:
        """Rows ``lo:hi`` of a pair run: each trade's two legs (`TradeLeg` fields)."""
        assert self.leg_symbols is not None
        c = {name: self.columns[name][lo:hi].tolist() for name in (
            "column", "direction", "entry_price", "exit_price", "size", "fees", *PAIR_TRADE_COLUMNS)}
        out = []
        for i, j in enumerate(c["column"]):
            first, second = ("long", "short") if c["direction"][i] > 0 else ("short", "long")
            sym_a, sym_b = self.leg_symbols[j]
            out.append([
                {"symbol": sym_a, "side": first, "entry_price": c["entry_price"][i], "exit_price": c["exit_price"][i],
                 "size": c["size"][i], "pnl": c["leg_a_pnl"][i], "fees": c["fees"][i] - c["leg_b_fees"][i]},
                {"symbol": sym_b, "side": second, "entry_price": c["leg_b_entry_price"][i],
                 "exit_price": c["leg_b_exit_price"][i], "size": c["leg_b_size"][i], "pnl": c["leg_b_pnl"][i],
                 "fees": c["leg_b_fees"][i]}])
        return out


class EquityCurve(BaseModel):
    """Equity marked at each bar's close: two sequences of the same length (lists, or `Deferred` ones)."""

    time: Annotated[Sequence[str], WrapValidator(_keep_deferred),
                    PlainSerializer(_as_list, return_type=list[str])]
    value: Annotated[Sequence[float], WrapValidator(_keep_deferred),
                     PlainSerializer(_as_list, return_type=list[float])]


def _slice(items: list[str], lo: int, hi: int) -> list[str]:
    return items[lo:hi]


def equity_curve(times: list[str], lo: int, hi: int, values: Any) -> EquityCurve:
    """``EquityCurve`` of bars ``lo:hi`` of `times` with the float array `values` (one per bar), both made
    into Python lists on first use."""
    return EquityCurve(time=Deferred(_slice, times, lo, hi), value=Deferred(values.tolist))


class Benchmark(BaseModel):
    """Buy and hold of one symbol over the same bars (bought at the first close, no fees)."""

    symbol: str | None
    total_return_pct: float | None
    synthetic: bool = False


class DataInfo(BaseModel):
    """Where the run's data came from and what range it covers (warm-up history excluded).

    ``price_basis`` (price slot -> raw, split-adjusted or total-return) is present when a provider states how
    its prices are adjusted (yahoo, alpaca, fmp); files and synthetic data state none and leave it out.
    """

    providers: dict[str, str]
    synthetic: bool
    frequency: str
    start: str | None
    end: str | None
    bars: int
    price_basis: dict[str, str] = Field(default_factory=dict)

    def sources(self) -> str:
        """``prices=yahoo (split-adjusted), eps=fmp``: each slot's provider, with its price basis when stated."""
        return ", ".join(f"{k}={v}" + (f" ({self.price_basis[k]})" if k in self.price_basis else "")
                         for k, v in self.providers.items())

    @model_serializer(mode="wrap")
    def _basis_when_stated(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out = dict(handler(self))
        if not out.get("price_basis"):
            out.pop("price_basis", None)
        return out


class PairInfo(BaseModel):
    """How a pair strategy's run traded its two legs: the legs' slots (first leg first), the hedge ratio as the
    document gives it (a number, or the expression read at each entry's signal bar) and the sizing."""

    legs: list[str]
    hedge_ratio: float | str
    sizing: Literal["dollar_neutral", "hedge_ratio_units"]

    def describe(self, symbols: dict[str, str | list[str]]) -> str:
        """``long the pair = buy XLE (asset_a), sell short XLF (asset_b); hedge ratio 1 (dollar_neutral: the
        second leg's value = hedge ratio x the first's)``; a portfolio of pairs names the slots only."""
        a, b = ((f"{symbols[s]} ({s})" if isinstance(symbols.get(s), str) else s) for s in self.legs)
        ratio = f"{self.hedge_ratio:g}" if isinstance(self.hedge_ratio, float) else self.hedge_ratio
        how = ("units of the second leg = hedge ratio x units of the first" if self.sizing == "hedge_ratio_units"
               else "the second leg's value = hedge ratio x the first's")
        return f"long the pair = buy {a}, sell short {b}; hedge ratio {ratio} ({self.sizing}: {how})"


class RunResult(BaseModel):
    """One run: a symbol, a ``{slot: symbol}`` mapping, or a portfolio of symbols.

    ``trades`` (and the equity curve's lists) may be `Deferred`: built on first use.
    """

    label: str
    symbols: dict[str, str | list[str]]
    params: dict[str, Any]
    metrics: Metrics
    benchmark: Benchmark
    trades: TradeList
    equity: EquityCurve
    risk: dict[str, Any]
    data: DataInfo
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    skipped_entries: SkippedEntries | None = Field(
        default=None, description="portfolio runs: entries skipped because the cash left was short")
    #: left out of the JSON for a long strategy's run: its result reads as before shorts existed
    sides: dict[str, SideMetrics] | None = Field(
        default=None, exclude_if=lambda v: v is None,
        description="the long/short split of the trade statistics, keyed long and short (strategies whose "
        "direction is short or long_short)")
    #: left out of the JSON for a run of one instrument
    pair: PairInfo | None = Field(default=None, exclude_if=lambda v: v is None,
                                  description="a pair strategy's legs, hedge ratio and sizing")
    #: what the HTML report draws besides the equity (`ruleengine.backtest.build.ChartSeries`; not serialised)
    _chart: Any = PrivateAttr(default=None)

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


__all__ = ["SKIPPED_SHOWN", "BacktestResult", "Benchmark", "DataInfo", "Deferred", "EquityCurve", "Metrics",
           "PairInfo", "Provenance", "RunResult", "SideMetrics", "SkippedEntries", "SkippedEntry", "Trade", "TradeList",
           "TradeTable", "equity_curve", "gc_paused", "package_versions"]
