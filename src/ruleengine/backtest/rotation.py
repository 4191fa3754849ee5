"""A rotation portfolio's backtest: target weights -> one shared-cash account -> `RotationResult`.

The compiled strategy gives the target weights (`CompiledStrategy.rotation_weights`); `rebalance_weights`
trades them with the rotation kernel (`ruleengine.kernels.rotation.rebalance_nb`) at the chosen price: the
rebalance bar's close (``execution_price: close``) or the next bar's open (``open``: the weights move one bar
later, and the open prices value the account); `RotationResult` holds the equity, metrics, every order, the
holdings after each rebalance, the turnover and each symbol's contribution.

Example:
    >>> res = backtest("rules/momentum_rotation.yaml", "@sp500", data="../shared/data")  # doctest: +SKIP
    >>> res.holdings[-1].weights  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from ..errors import Diagnostic, RuleEngineError
from .result import Benchmark, DataInfo, Metrics

#: how a rotation fills, printed with every result
ROTATION_FILL_CONTRACT = (
    "rotation: target weights are computed at the close of the last bar of each rebalance period from data up to "
    "that bar; execution_price close fills at that close, open at the next bar's open; every symbol is traded "
    "to weight x the account's value at the fill price, sells before buys; a buy the cash cannot cover buys what "
    "it can (fee included); fees and slippage on the traded value; a name within min_weight_change_pct of its "
    "target is not traded; positions are valued at the last known close")


class RotationOrder(BaseModel):
    time: str
    symbol: str
    units: float = Field(description="units bought (> 0) or sold (< 0)")
    price: float = Field(description="fill price after slippage")
    value: float = Field(description="units x price (signed)")
    fees: float
    reason: str = Field(description="rebalance; left_universe (sold at the close of its first bar outside the "
                                    "universe); delisted (its prices ended: sold at its last close)")


class Holding(BaseModel):
    time: str = Field(description="the rebalance bar (its fills)")
    weights: dict[str, float] = Field(description="symbol -> its share of the equity after the bar's orders")
    turnover_pct: float = Field(description="value traded on the bar / the equity, in %")


class Contribution(BaseModel):
    symbol: str
    pnl: float = Field(description="what the symbol's trades earned, fees included (held positions at the last "
                                   "close)")
    pnl_pct: float = Field(description="pnl / initial cash, in %")


class RotationResult(BaseModel):
    """One rotation portfolio's result (what ``ruleengine backtest`` prints for a rotation strategy)."""

    success: bool = True
    kind: str = "rotation"
    strategy: str
    synthetic: bool
    fill_contract: str = ROTATION_FILL_CONTRACT
    start: str
    end: str
    init_cash: float
    symbols: list[str]
    params: dict[str, Any] = Field(default_factory=dict, description="the parameter set it ran with")
    costs: dict[str, Any] = Field(default_factory=dict, description="fees_pct, slippage_pct, execution_price and "
                                  "min_weight_change_pct as they applied")
    data: DataInfo | None = Field(None, description="providers per slot, synthetic, frequency, range and bars")
    benchmark: Benchmark = Field(default_factory=lambda: Benchmark(symbol=None, total_return_pct=None),
                                 description="the index-like benchmark: buy and hold of one symbol (SPY by "
                                             "default) over the same bars, no fees")
    metrics: Metrics
    turnover_pct_per_year: float | None = Field(description="value traded / mean equity per year, in %")
    holdings: list[Holding]
    orders: list[RotationOrder]
    contribution: list[Contribution] = Field(description="per symbol, largest first")
    equity: list[float] = Field(description="the account's value at each bar's close")
    times: list[str] = Field(default_factory=list, description="each bar of `equity` (and the benchmark curves)")
    benchmark_equity: list[float] | None = Field(
        None, description="the index-like benchmark's buy and hold from the initial cash, per bar (None without one)")
    universe_equity: list[float] = Field(
        default_factory=list, description="the equal-weight buy and hold of the same point-in-time universe from the "
                                          "initial cash, per bar, no fees (`universe_benchmark`)")
    warnings: list[dict[str, Any]] = Field(default_factory=list)

    def to_json(self, indent: int | None = None) -> str:
        return self.model_dump_json(indent=indent)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def write_report(self, path: str, **kwargs: Any) -> str:
        """Write the HTML report (`rotation_report.write_rotation_report`); returns the path written."""
        from .rotation_report import write_rotation_report

        return write_rotation_report(self, path, **kwargs)


def rotation_refused(what: str) -> RuleEngineError:
    """S143: `what` does not run a rotation portfolio yet (it trades each symbol's own signals)."""
    return RuleEngineError([Diagnostic("S143", f"{what} does not run a rotation portfolio yet", path="rotation",
                                       hint="backtest it: ruleengine backtest FILE --symbols ... (one parameter "
                                            "set)")])


@dataclass
class Rebalanced:
    """The kernel's output over all bars (warm-up history included)."""

    equity: np.ndarray  # (T,)
    cash: np.ndarray  # (T,)
    units: np.ndarray  # (T, S); (0, S) when not kept
    n_held: np.ndarray  # (T,) symbols held after each bar
    orders: np.ndarray  # `ORDER_DT`


def rebalance_weights(weights: np.ndarray, open_: np.ndarray, close: np.ndarray, *, init_cash: float,
                      fees_pct: float, slippage_pct: float, execution_price: str = "close",
                      min_weight_change_pct: float = 0.0, start: int = 0,
                      members: np.ndarray | None = None, leave: np.ndarray | None = None,
                      last_known: dict[str, np.ndarray] | None = None, keep_units: bool = True) -> Rebalanced:
    """Trade (T, S) target `weights` (NaN: no order) in one account from bar `start` on; prices (T, S). A held
    symbol is sold whole on the first bar it is not a member (`members` (T, S); None: always) and on the first
    bar after its last price (delisted: at that last price). A sweep computes what all its variants share once:
    `leave` (`leave_codes`) and `last_known` ({"open" | "close": `kernels.rotation.last_known_nb` of it},
    filled in here when missing). `keep_units` False leaves out the (T, S) units (a sweep needs `n_held`)."""
    from ..kernels.rotation import last_known_nb, rebalance_nb

    price = close
    leave = leave_codes(close, members) if leave is None else leave
    if execution_price == "open":  # decided at t's close, filled at t+1's open
        weights, leave = _next_bar(weights, np.nan), _next_bar(leave, 0)
        price = open_
        start = start + 1 if start < len(weights) else start
    c = np.ascontiguousarray  # the kernel is bar-major: (T, S) C-ordered (no copy for arrays already so)
    price, close = c(price, np.float64), c(close, np.float64)
    known = last_known if last_known is not None else {}
    for kind, x in (("open" if execution_price == "open" else "close", price), ("close", close)):
        if kind not in known:
            known[kind] = last_known_nb(x)
    equity, cash, units, n_held, orders = rebalance_nb(price, close, c(weights, np.float64), c(leave, np.int64),
                                               known["open" if execution_price == "open" else "close"],
                                               known["close"], float(init_cash), fees_pct / 100.0,
                                               slippage_pct / 100.0, min_weight_change_pct / 100.0, int(start),
                                               bool(keep_units))
    return Rebalanced(equity, cash, units, n_held, orders)


def leave_codes(close: np.ndarray, members: np.ndarray | None = None) -> np.ndarray:
    """(T, S) int64: where a held symbol is sold whole (`kernels.rotation.REASONS` index): after its last price
    (delisted), else where it is not a member (left_universe); 0 elsewhere."""
    from ..kernels.rotation import REASONS

    leave = np.where(_delisted(close), REASONS.index("delisted"), 0)
    if members is not None:
        leave[(leave == 0) & ~members] = REASONS.index("left_universe")
    return leave


def turnover_pct_per_year(orders: np.ndarray, equity: np.ndarray, periods_per_year: float) -> float | None:
    """Value traded by `orders` (`ORDER_DT`) / the mean of `equity` (the run's bars) per year, in %."""
    traded = np.abs(orders["units"] * orders["price"]) if len(orders) else np.empty(0)
    years = len(equity) / periods_per_year if periods_per_year else 0.0
    return float(traded.sum() / np.mean(equity) / years * 100) if years > 0 and len(equity) else None


def _next_bar(x: np.ndarray, fill: Any) -> np.ndarray:
    """`x` one bar later (what is decided at t's close acts at t+1's open)."""
    out = np.full_like(x, fill)
    out[1:] = x[:-1]
    return out


def _delisted(close: np.ndarray) -> np.ndarray:
    """(T, S) bool: bars after a symbol's last price (it stopped trading: its position ends at that price)."""
    rows = np.arange(close.shape[0])[:, None]
    seen = np.isfinite(close)
    last = np.where(seen.any(axis=0), close.shape[0] - 1 - np.argmax(seen[::-1], axis=0), close.shape[0])
    return rows > last[None, :]


def backtest_rotation(compiled: Any, md: Any, strat_params: Mapping[str, Any], risk_over: Mapping[str, Any],
                      init_cash: float, warnings: list[Diagnostic], benchmark: Any = None) -> RotationResult:
    """The rotation of `compiled` over the market data `md` (one parameter set); `benchmark` is the index-like
    benchmark's `build._Bench` (its closes on the requested bars; None or a symbol-less one: none)."""
    from ..kernels.rotation import REASONS
    from .build import buy_and_hold
    from .metrics import compute_metrics
    from .universe_benchmark import equal_weight_universe

    strat = compiled.strategy
    rot = strat.rotation
    sets = compiled.param_sets(strat_params or None)
    if len(sets) != 1:
        raise RuleEngineError([Diagnostic("D103", f"a rotation backtest runs one parameter set, got {len(sets)}",
                                          path="params", hint="give one value per parameter, or sweep them: "
                                                              "ruleengine sweep FILE --grid ...")])
    fees = float(risk_over.get("fees_pct", strat.risk.fees_pct) or 0.0)
    slip = float(risk_over.get("slippage_pct", strat.risk.slippage_pct) or 0.0)
    exec_price = str(sets[0]["execution_price"])
    band = rot.weight_band(sets[0])
    weights, _sig = compiled.rotation_weights(md, strat_params or None)
    base = strat.price_slot()
    close, open_ = md.inputs[(base, "close")], md.inputs[(base, "open")]
    run = rebalance_weights(weights, open_, close, init_cash=init_cash, fees_pct=fees, slippage_pct=slip,
                            execution_price=exec_price, min_weight_change_pct=band,
                            start=md.start, members=md.members)
    s0 = md.start
    index = md.index[s0:]
    labels = md.labels
    equity = run.equity[s0:]
    universe = equal_weight_universe(close[s0:], None if md.members is None else md.members[s0:], init_cash)
    bench_close = None if benchmark is None or benchmark.symbol is None else benchmark.close
    bench_equity, bench_ret = (None, None) if bench_close is None else buy_and_hold(bench_close, init_cash)
    metrics = compute_metrics(equity, None, init_cash=init_cash, index=index, frequency=md.frequency,
                              position=(run.units[s0:] != 0).any(axis=1), benchmark_return_pct=bench_ret,
                              universe_benchmark_return_pct=(universe[-1] / init_cash - 1) * 100 if len(universe)
                              else None)
    orders = run.orders
    times = bar_times(md.index)
    # the record fields as Python scalars first: reading numpy scalars one by one costs more than the models
    fields = {k: orders[k].tolist() for k in ("bar", "column", "units", "price", "fees", "reason")}
    order_rows = [RotationOrder(time=times[t], symbol=labels[c], units=u, price=p, value=u * p, fees=f,
                                reason=REASONS[r])
                  for t, c, u, p, f, r in zip(*fields.values(), strict=True)]
    traded = np.abs(orders["units"] * orders["price"]) if len(orders) else np.empty(0)
    turnover = turnover_pct_per_year(orders, equity, metrics.periods_per_year)
    start, end = (str(index[0].date()), str(index[-1].date())) if len(index) else ("", "")
    synthetic = bool(md.synthetic)
    return RotationResult(
        strategy=strat.name, synthetic=synthetic, start=start, end=end, init_cash=init_cash, symbols=labels,
        params=dict(sets[0]),
        costs={"fees_pct": fees, "slippage_pct": slip, "execution_price": exec_price, "min_weight_change_pct": band},
        data=DataInfo(providers=md.providers, synthetic=synthetic, price_basis=md.price_basis, frequency=md.frequency,
                      start=start or None, end=end or None, bars=len(index)),
        benchmark=Benchmark(symbol=None if bench_close is None else benchmark.symbol, total_return_pct=bench_ret,
                            synthetic=bool(benchmark is not None and benchmark.synthetic)),
        metrics=metrics, turnover_pct_per_year=turnover, holdings=_holdings(run, orders, traded, close, times, labels),
        orders=order_rows, contribution=_contribution(run, orders, close, labels, init_cash),
        equity=equity.tolist(), times=times[s0:],
        benchmark_equity=None if bench_equity is None else bench_equity.tolist(),
        universe_equity=np.asarray(universe, dtype=np.float64).tolist(), warnings=[w.to_dict() for w in warnings])


def bar_times(index: pd.DatetimeIndex) -> list[str]:
    """Each bar's label as ``YYYY-MM-DD HH:MM`` (how a rotation's orders and holdings are dated), in one
    vectorised pass (pandas' strftime formats element by element)."""
    if not len(index):
        return []
    naive = index.tz_localize(None) if index.tz is not None else index
    return [t.replace("T", " ") for t in np.datetime_as_string(naive.values.astype("datetime64[m]")).tolist()]


def _holdings(run: Rebalanced, orders: np.ndarray, traded: np.ndarray, close: np.ndarray, times: list[str],
              labels: list[str]) -> list[Holding]:
    """Each bar with orders: the weights after them (at the bar's close) and the value traded."""
    out = []
    bars = np.unique(orders["bar"]) if len(orders) else np.empty(0, np.int64)
    for t in bars:
        cols = np.flatnonzero(run.units[t])
        price = close[t, cols]
        value = run.units[t, cols] * np.where(np.isnan(price), 0.0, price)  # no close on the bar: shown as 0
        eq = run.equity[t]
        held = {labels[j]: v / eq for j, v in zip(cols.tolist(), value.tolist(), strict=True)}
        out.append(Holding(time=times[int(t)], weights=held,
                           turnover_pct=float(traded[orders["bar"] == t].sum() / eq * 100)))
    return out


def _contribution(run: Rebalanced, orders: np.ndarray, close: np.ndarray, labels: list[str],
                  init_cash: float) -> list[Contribution]:
    """Per symbol: cash from its sells minus cash into its buys, fees included, plus what it holds at the end."""
    pnl = np.zeros(len(labels))
    if len(orders):
        np.add.at(pnl, orders["column"], -orders["units"] * orders["price"] - orders["fees"])
    if len(close):  # each symbol's last close (a delisted one's: before its prices ended)
        seen = np.isfinite(close)
        last_row = close.shape[0] - 1 - np.argmax(seen[::-1], axis=0)
        last = np.where(seen.any(axis=0), close[last_row, np.arange(close.shape[1])], 0.0)
        pnl += run.units[-1] * last
    return [Contribution(symbol=labels[j], pnl=float(pnl[j]), pnl_pct=float(pnl[j] / init_cash * 100))
            for j in np.argsort(-pnl, kind="stable") if pnl[j] != 0 or run.units[-1, j] != 0]
