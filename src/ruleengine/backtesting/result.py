"""The backtest result model (pydantic v2, JSON-serialisable): what `ruleengine.backtest` returns.

`BacktestResult` holds one `RunResult` per run (a symbol, a pair mapping, or a whole portfolio), the
warnings (Diagnostic records, as in error details) and the provenance (strategy hash, parameters, data range,
package versions). Every float is finite or None: metrics that are undefined (a ratio over zero, no trades)
are None, never NaN or infinity, so the JSON is valid everywhere.

Example:
    >>> r = BacktestResult(results=[], warnings=[], provenance=Provenance(strategy_name="x", strategy_hash="0"))
    >>> r.to_json()[:16]
    '{"success":true,'
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


class Metrics(BaseModel):
    """Performance of one run. Percentages are in percent (5.0 = 5 %); see `ruleengine.backtesting.metrics`."""

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


class EquityCurve(BaseModel):
    """Equity marked at each bar's close: two arrays of the same length."""

    time: list[str]
    value: list[float]


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


class RunResult(BaseModel):
    """One run: a symbol, a ``{slot: symbol}`` mapping, or a portfolio of symbols."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    label: str
    symbols: dict[str, str | list[str]]
    params: dict[str, Any]
    metrics: Metrics
    benchmark: Benchmark
    trades: list[Trade]
    equity: EquityCurve
    fill_contract: str
    risk: dict[str, Any]
    data: DataInfo
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    # Series for the HTML report only (not serialised): traded close prices and the benchmark's equity.
    _close: Any = PrivateAttr(default=None)
    _benchmark_equity: Any = PrivateAttr(default=None)

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
    """Everything a backtest produced; `to_json()` gives the CLI's ``--json`` object."""

    success: Literal[True] = True
    results: list[RunResult]
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    provenance: Provenance

    @property
    def synthetic(self) -> bool:
        """True when any run used synthetic (sample) data."""
        return any(r.data.synthetic for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data."""
        return self.model_dump(mode="json")

    def to_json(self, indent: int | None = None) -> str:
        """The JSON object: ``{"success": true, "results": [...], "warnings": [...], "provenance": {...}}``."""
        return self.model_dump_json(indent=indent)

    def write_report(self, path: str, **kwargs: Any) -> str:
        """Write the self-contained HTML report (see `ruleengine.backtesting.report.write_report`)."""
        from .report import write_report

        return write_report(self, path, **kwargs)


def strategy_hash(strategy: Any) -> str:
    """sha256 of the canonical JSON of a `TradingStrategy` (sorted keys, no whitespace, unset fields left out)."""
    text = json.dumps(strategy.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def package_versions(vectorbt: bool = False) -> dict[str, str]:
    """Versions of Python and the packages a result depends on (vectorbt only when it was used)."""
    from importlib import metadata

    names = ["ruleengine", "numpy", "pandas", "numba", "pydantic"] + (["vectorbt"] if vectorbt else [])
    out = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


__all__ = ["BacktestResult", "Benchmark", "DataInfo", "EquityCurve", "Metrics", "Provenance", "RunResult", "Trade",
           "package_versions", "strategy_hash"]
