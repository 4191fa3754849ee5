"""`SweepResult`: the ranked metrics table of a sweep, the best parameters, and detailed re-runs.

The table has one row per (combination, symbol): ``rank`` (1 = best), ``combination`` (the index of the
combination in `SweepResult.combinations`), ``symbol`` (the run label: ``SPY``, or ``GLD/SLV`` for a pair),
one column per swept name, then every metric of `ruleengine.sweep.stats.METRICS` (NaN where the metric is
undefined: no trades, no variance, no drawdown), then, for a strategy that trades short (direction short or
long_short), its long/short split `ruleengine.sweep.stats.SIDE_METRICS` (long_trades, long_win_rate, long_pnl,
short_trades, short_win_rate, short_pnl). Rows are ranked by `metric`, the highest value first, except
``max_drawdown_pct`` (the lowest first); undefined values rank last and ties keep the grid order.

With several symbols, `by_combination` averages every metric over the symbols (undefined values left out)
and `best` is the combination with the best average; with one symbol that is the top row.

`detail` and `top_backtests` re-run ranked rows through `ruleengine.backtest()` (trades, equity curve,
benchmark): the same engine contract the sweep's fused kernel follows, so their metrics equal the table's
(the tests check it to 1e-9 relative on every rule).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from .stats import COUNTS, LOWER_IS_BETTER, metric_names


@dataclass
class SweepResult:
    """What `ruleengine.sweep` returns (see the module docstring for the table).

    Attributes:
        table: the ranked (combination x symbol) metrics table.
        metric: the ranking metric.
        best: the best combination's full parameters (swept values plus the fixed ones), ready for
            ``ruleengine.backtest(params=...)``.
        n_trials: combinations evaluated (the number of trials of the deflated Sharpe ratio).
        n_symbols: symbols (runs) each combination was evaluated on.
        elapsed: seconds the sweep took (data loading included).
        warnings: Diagnostic records (skipped symbols, synthetic data, ...).
        grid: the swept names and their values; constraints: the constraints applied.
        combinations: every evaluated combination (swept names only), indexed by the table's ``combination``.
        fixed: values given in ``params`` (the same for every combination).
        top: how many rows `to_json` and `top_backtests` show by default.
        synthetic: True when the data were synthetic (the sample provider); ``"synthetic"`` in the JSON.
        sides: the table has the long/short split (a strategy that trades short).
        rotation: a rotation portfolio's sweep: one row per combination (symbol ``portfolio``), the metrics of
            `ruleengine.sweep.stats.ROTATION_METRICS`.
    """

    table: pd.DataFrame
    metric: str
    best: dict[str, Any]
    n_trials: int
    n_symbols: int
    elapsed: float
    warnings: list[dict[str, Any]]
    grid: dict[str, list[Any]]
    constraints: list[str]
    combinations: list[dict[str, Any]]
    fixed: dict[str, Any] = field(default_factory=dict)
    top: int = 20
    frequency: str = "1Day"
    init_cash: float = 10_000.0
    #: the grid-dependent memory estimated before the run and its limit (`ruleengine.sweep.budget`)
    memory_estimate_mb: float = 0.0
    memory_limit_mb: float = 0.0
    #: the resolved risk of the fixed values (`RiskSpec.to_dict`: its ``notes`` name the exits filled from the
    #: timeframe); a swept risk axis overrides its field per combination
    risk: dict[str, Any] = field(default_factory=dict)
    #: how `detail` reaches the data again: strategy, {label: run}, start, end, provider, data
    context: dict[str, Any] = field(default_factory=dict, repr=False)
    synthetic: bool = False
    #: price slot -> raw, split-adjusted or total-return, where the provider states it (in the JSON only then)
    price_basis: dict[str, str] = field(default_factory=dict)
    sides: bool = False
    rotation: bool = False

    # ------------------------------------------------------------------------------------------ views
    def rate_text(self) -> str:
        """Combinations per second as a reader wants it: ``1,234``, ``0.2`` for a slow search (a compile or a
        large grid: "0 combinations/s" misled), ``n/a`` without a measured time."""
        if self.elapsed <= 0:
            return "n/a"
        rate = self.n_trials / self.elapsed
        return f"{rate:,.0f}" if rate >= 10 else f"{rate:.2g}"

    @property
    def metric_columns(self) -> tuple[str, ...]:
        """The table's metric columns (`ruleengine.sweep.stats.metric_names`)."""
        return metric_names(self.sides, self.rotation)

    @property
    def by_combination(self) -> pd.DataFrame:
        """One row per combination: metrics averaged over the symbols, ranked like the table."""
        from .stats import rank_order

        names = self.metric_columns
        cols = ["combination", *self.grid, *names]
        frame = self.table[cols]
        if self.n_symbols > 1:
            frame = frame.groupby("combination", sort=True).agg(
                {**dict.fromkeys(self.grid, "first"), **dict.fromkeys(names, "mean")}).reset_index()
        else:
            frame = frame.sort_values("combination", kind="stable")
        frame = frame.iloc[rank_order(frame[self.metric].to_numpy(dtype=float), self.metric)]
        frame = frame.reset_index(drop=True)
        frame.insert(0, "rank", range(1, len(frame) + 1))
        return frame

    def params_of(self, rank: int = 1) -> dict[str, Any]:
        """Full parameters of the table row ranked `rank` (1 = best)."""
        row = self._row(rank)
        return {**self.fixed, **self.combinations[int(row["combination"])]}

    def _row(self, rank: int) -> pd.Series:
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= len(self.table):
            raise RuleEngineError([Diagnostic("D122", f"rank must be between 1 and {len(self.table)}, got {rank!r}",
                                              path="rank", hint="1 is the best row of the table")])
        return self.table.iloc[rank - 1]

    # ------------------------------------------------------------------------------------------ re-runs
    def detail(self, rank: int = 1, **backtest_options: Any) -> Any:
        """The `BacktestResult` of the table row ranked `rank` (1 = best), re-run by `ruleengine.backtest`.

        Extra keyword arguments go to `backtest` (e.g. ``engine="vectorbt"``, ``benchmark=None``).
        """
        from ..backtest.run import backtest

        row = self._row(rank)
        ctx = self.context
        if "strategy" not in ctx:
            raise RuleEngineError([Diagnostic("D122", "this sweep result has no data context to re-run it",
                                              path="detail", hint="run the sweep with symbols or a market")])
        run = ctx["runs"][str(row["symbol"])]  # a run's slots -> symbols, or a rotation's universe
        run = dict(run) if isinstance(run, Mapping) else run
        options = {"provider": ctx.get("provider"), "data": ctx.get("data"), "init_cash": self.init_cash,
                   **backtest_options}
        return backtest(ctx["strategy"], run, ctx.get("start"), ctx.get("end"), params=self.params_of(rank),
                        **options)

    def top_backtests(self, n: int | None = None, **backtest_options: Any) -> list[Any]:
        """`detail` of the best `n` rows (default `top`)."""
        count = min(self.top if n is None else n, len(self.table))
        return [self.detail(r, **backtest_options) for r in range(1, count + 1)]

    # ------------------------------------------------------------------------------------------ output
    def rows(self, n: int | None = None) -> list[dict[str, Any]]:
        """The best `n` rows (default `top`) as JSON-ready records (None for undefined metrics)."""
        head = self.table.head(self.top if n is None else n)
        return [{k: _plain(v, k) for k, v in rec.items()} for rec in head.to_dict("records")]

    def to_dict(self, n: int | None = None) -> dict[str, Any]:
        """The ``--json`` object: summary, best parameters and the best `n` rows (default `top`)."""
        return {
            "success": True, "synthetic": self.synthetic, **({"kind": "rotation"} if self.rotation else {}),
            **({"price_basis": dict(self.price_basis)} if self.price_basis else {}), "metric": self.metric,
            "order": "ascending" if self.metric in LOWER_IS_BETTER else "descending",
            "best": {k: _plain(v, k) for k, v in self.best.items()}, "n_trials": self.n_trials,
            "n_symbols": self.n_symbols, "rows_total": len(self.table), "elapsed": round(self.elapsed, 6),
            "grid": {k: [_plain(v, k) for v in vs] for k, vs in self.grid.items()},
            "constraints": list(self.constraints), "fixed": {k: _plain(v, k) for k, v in self.fixed.items()},
            "frequency": self.frequency, "init_cash": self.init_cash,
            "memory": {"estimate_mb": round(self.memory_estimate_mb, 1), "limit_mb": round(self.memory_limit_mb, 1)},
            "risk": dict(self.risk), "rows": self.rows(n),
            "warnings": list(self.warnings),
        }

    def to_json(self, n: int | None = None, indent: int | None = None) -> str:
        """`to_dict` as JSON text (no NaN or infinity: undefined values are null)."""
        return json.dumps(self.to_dict(n), indent=indent, allow_nan=False)


def _plain(value: Any, name: str = "") -> Any:
    """A JSON-ready Python value: numpy scalars unwrapped, NaN/inf -> None, counts as int."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if name in COUNTS or name in ("rank", "combination"):
            return int(value)
    return value


def build_table(combos: Sequence[Mapping[str, Any]], names: Sequence[str], labels: Sequence[str],
                metrics: Mapping[str, Any], metric: str) -> pd.DataFrame:
    """The ranked table from per-row metric arrays (rows combination-major, symbol-minor)."""
    import operator

    import numpy as np

    from .stats import rank_order

    k = len(labels)
    n = len(combos)
    data: dict[str, Any] = {"combination": np.repeat(np.arange(n, dtype=np.int64), k),
                            "symbol": np.tile(np.array(labels, dtype=object), n)}
    for name in names:
        values = list(map(operator.methodcaller("get", name), combos))  # C speed: 100,000 rows
        kinds = set(map(type, values))
        col = pd.Series(values, dtype=object) if type(None) in kinds or any(issubclass(t, str) for t in kinds) \
            else pd.Series(values)
        data[name] = np.repeat(col.to_numpy(), k)
    data.update(metrics)
    frame = pd.DataFrame(data)
    frame = frame.iloc[rank_order(frame[metric].to_numpy(dtype=float), metric)].reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1, dtype=np.int64))
    return frame


__all__ = ["SweepResult", "build_table"]
