"""Walk-forward and hold-out validation of a sweep, and its overfitting statistics (`walk_forward`).

The data are loaded once, with the history the grid's most demanding combination needs before the first
requested bar. Rows of the requested range are then cut (`ruleengine.sweep.folds`):

- **Hold-out** (``holdout="20%"``): the last part of the range is never seen by any search. The parameters
  chosen on everything before it (the *in-sample* part) are then run on it once.
- **Walk-forward** (``walk_forward="train=504,test=126[,step=63][,anchored]"``): on each fold the grid is
  re-optimised on the training window (the best combination by `metric`) and that combination is run on
  the following test window. Every window is traded like a backtest that starts on its first bar: flat,
  with the initial cash, indicators computed with all the history before it (no cold start), and a
  position still open on its last bar marked at that bar's close. Folds are cut from the in-sample part.
- **Decay** of a fold: OOS metric / IS metric of the chosen combination, defined when the IS value is
  positive (a ratio of a negative IS value has no meaning); the mean decay averages the defined ones.
  For ``max_drawdown_pct`` a decay above 1 means a deeper drawdown out of sample.
- **Stitched out-of-sample equity**: the test windows' bar returns chained in time order (a window's
  first return is against the initial cash, as the window starts flat), one curve per symbol. With
  ``step`` < ``test`` the windows overlap and each one is cut where the next one starts; with ``step`` >
  ``test`` the untested rows are left out.

**Overfitting statistics** (`overfitting`, over the in-sample search: the whole range without a hold-out):

- Trials N = the combinations evaluated (after constraints and sampling).
- Deflated Sharpe ratio of the best combination (`ruleengine.sweep.overfit.deflated_sharpe_ratio_from_returns`):
  its per-bar returns (re-simulated), and the variance of the N trials' per-bar Sharpe ratios (the table's
  annualised ``sharpe_ratio`` / sqrt(bars per year); trials without one count in N only).
- PBO by CSCV (`ruleengine.sweep.overfit.pbo_cscv`, per-bar Sharpe ratio as the CSCV metric) over the
  per-bar returns of the top K combinations by `metric` (K = `pbo_top`, 200 by default: the cost grows with
  K x C(S, S/2)), S = `pbo_splits` blocks (16, fewer when the range is short).
- With several symbols a combination's per-bar returns are the equal-weight mean of its runs' returns, and
  the table's Sharpe ratios are those averaged over the symbols (`SweepResult.by_combination`).

Example:
    >>> wf = walk_forward("rules/golden_cross.yaml", "SPY", "2008-01-01", "2017-12-29", data="../shared/data",
    ...                   walk_forward="train=504,test=126", holdout="20%",
    ...                   grid=["fast=5:50:5", "slow=20:200:10"], constraints=["fast < slow"])  # doctest: +SKIP
    >>> wf.mean_decay, wf.holdout["oos"]["sharpe_ratio"], wf.overfit.pbo.pbo  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..backtest.params import RunRequest, check_whole, fill_values
from ..errors import Diagnostic, RuleEngineError
from .folds import Fold, holdout_split, parse_walk_forward, walk_forward_folds
from .grid import RISK_AXES, combinations, default_grid, grid_size, parse_grid
from .result import SweepResult, _plain
from .rotation import PORTFOLIO, is_rotation, rotation_equity
from .stats import check_metric, trades_short

Progress = Callable[[int, int, str], None]
#: configurations whose per-bar returns go into the PBO (the best ones by the sweep's metric)
PBO_TOP = 200
#: CSCV blocks S (C(16, 8) = 12,870 combinations), fewer when the range is short
PBO_SPLITS = 16
#: float64 values of signals/equity held at once while re-simulating configurations
_SIM_BUDGET = 8_000_000
_STEPS = 1000  # progress units per sweep


@dataclass
class OverfitStats:
    """Number of trials, deflated Sharpe ratio and PBO of one search (see the module docstring)."""

    n_trials: int
    grid_size: int
    top_k: int
    n_obs: int
    periods_per_year: float
    dsr: Any = None  # overfit.DSRResult
    pbo: Any = None  # overfit.PBOResult
    notes: list[str] = field(default_factory=list)  # why a statistic is missing

    def to_dict(self) -> dict[str, Any]:
        dsr = None
        if self.dsr is not None:
            dsr = {k: _plain(v) for k, v in self.dsr.to_dict().items()}
            dsr["sr_annual"] = _plain(self.dsr.sr * math.sqrt(self.periods_per_year))
        return {"n_trials": self.n_trials, "grid_size": self.grid_size, "pbo_configs": self.top_k,
                "n_obs": self.n_obs, "periods_per_year": self.periods_per_year, "dsr": dsr,
                "pbo": None if self.pbo is None else self.pbo.to_dict(), "notes": list(self.notes)}


@dataclass
class FoldResult:
    """One walk-forward fold: rows (absolute, of the market), the chosen combination, IS and OOS metrics."""

    fold: Fold
    train_dates: tuple[str, str]
    test_dates: tuple[str, str]
    params: dict[str, Any]  # the chosen swept values
    n_trials: int
    is_metrics: dict[str, Any]
    oos_metrics: dict[str, Any]
    decay: float | None
    #: L123 of the chosen combination's run on the test window (distances unusable at an entry there)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, metric: str) -> dict[str, Any]:
        return {"train_start": self.train_dates[0], "train_end": self.train_dates[1],
                "test_start": self.test_dates[0], "test_end": self.test_dates[1],
                "train_bars": self.fold.train_len, "test_bars": self.fold.test_len,
                "params": {k: _plain(v) for k, v in self.params.items()}, "n_trials": self.n_trials,
                "is": self.is_metrics, "oos": self.oos_metrics, f"is_{metric}": self.is_metrics.get(metric),
                f"oos_{metric}": self.oos_metrics.get(metric), "decay": _plain(self.decay),
                "warnings": list(self.warnings)}


@dataclass
class WalkForwardResult:
    """What `walk_forward` returns.

    Attributes:
        sweep: the search over the whole in-sample part (its `best` is the parameters run on the hold-out).
        overfit: overfitting statistics of that search.
        folds: walk-forward folds (empty without ``walk_forward``).
        stitched: the stitched out-of-sample equity, one column per symbol (None without folds).
        stitched_metrics: per symbol: bars, total return, CAGR, Sharpe, Sortino, max drawdown of `stitched`.
        holdout: rows, dates, params and IS/OOS metrics of the hold-out run (None without one).
        spec: the walk-forward specification (train, test, step, anchored) or None.
    """

    sweep: SweepResult
    overfit: OverfitStats
    metric: str
    folds: list[FoldResult]
    stitched: pd.DataFrame | None
    stitched_metrics: dict[str, dict[str, Any]]
    holdout: dict[str, Any] | None
    spec: dict[str, Any] | None
    synthetic: bool
    elapsed: float
    samples: int | None = None
    seed: int = 0

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """The in-sample search's warnings, then those of each fold's test run and of the hold-out run."""
        return [*self.sweep.warnings, *(w for f in self.folds for w in f.warnings),
                *(self.holdout["warnings"] if self.holdout is not None else [])]

    @property
    def mean_decay(self) -> float | None:
        vals = [f.decay for f in self.folds if f.decay is not None]
        return float(np.mean(vals)) if vals else None

    def mean_metric(self, which: str) -> float | None:
        """Mean over the folds of the chosen combinations' `metric` in sample (``"is"``) or out (``"oos"``)."""
        got = [(f.is_metrics if which == "is" else f.oos_metrics).get(self.metric) for f in self.folds]
        vals = [float(v) for v in got if v is not None]
        return float(np.mean(vals)) if vals else None

    def to_dict(self, n: int | None = None) -> dict[str, Any]:
        """The ``--json`` object: the in-sample sweep's fields plus overfitting, walk_forward and holdout."""
        out = self.sweep.to_dict(n)
        out["elapsed"] = round(self.elapsed, 6)
        out["sweep_elapsed"] = round(self.sweep.elapsed, 6)
        out["synthetic"] = self.synthetic
        out["grid_size"] = self.overfit.grid_size
        out["samples"], out["seed"] = self.samples, self.seed
        out["overfitting"] = self.overfit.to_dict()
        out["walk_forward"] = None if self.spec is None else {
            **self.spec, "folds": [f.to_dict(self.metric) for f in self.folds],
            "mean_decay": _plain(self.mean_decay), f"mean_is_{self.metric}": _plain(self.mean_metric("is")),
            f"mean_oos_{self.metric}": _plain(self.mean_metric("oos")), "stitched": self.stitched_metrics}
        out["holdout"] = self.holdout
        out["warnings"] = self.warnings
        return out

    def to_json(self, n: int | None = None, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(n), indent=indent, allow_nan=False)

    def write_report(self, path: str, **kwargs: Any) -> str:
        """The HTML report (`ruleengine.sweep.report.write_sweep_report`)."""
        from .report import write_sweep_report

        return write_sweep_report(self, path, **kwargs)


# ------------------------------------------------------------------------------------------ entry point


def walk_forward(strategy: Any, symbols: Any = None, start: Any = None, end: Any = None, *,
                 walk_forward: str | Mapping[str, Any] | None = "train=504,test=126",
                 holdout: str | float | None = None, grid: Sequence[str] | Mapping[str, Any] | None = None,
                 constraints: Sequence[str] = (), metric: str = "sharpe_ratio", top: int = 20,
                 samples: int | None = None, seed: int = 0, params: Mapping[str, Any] | None = None,
                 provider: str | None = None, data: str | None = None, init_cash: float = 10_000.0,
                 chunk_size: int | None = None, market: Any = None, pbo_top: int = PBO_TOP,
                 pbo_splits: int = PBO_SPLITS, progress: Progress | None = None,
                 threads: int | None = None, runner: Callable[..., Any] | None = None,
                 memory_mb: float | None = None) -> WalkForwardResult:
    """Sweep with walk-forward re-optimisation, an unseen hold-out and overfitting statistics.

    Args:
        strategy, symbols, start, end, grid, constraints, metric, top, samples, seed, params, provider, data,
            init_cash, chunk_size, threads, memory_mb: as for `ruleengine.sweep.run.sweep`.
        runner: how the searches' chunks run (`ruleengine.sweep.run.Runner`, e.g.
            `ruleengine.sweep.executors.process_runner()`); one runner serves every search.
        walk_forward: ``"train=504,test=126[,step=63][,anchored]"`` or the keywords of
            `ruleengine.sweep.folds.walk_forward_folds`; None = no folds (the search and the statistics).
        holdout: the unseen last part: ``"20%"``, 0.2 or a number of bars; None = none.
        market: an already loaded `MarketData` (its requested range is used).
        pbo_top, pbo_splits: K configurations and S blocks of the PBO.
        progress: ``progress(done, total, step)`` over all the searches (the CLI's bar).

    Raises:
        RuleEngineError: bad grid, constraint, metric, walk-forward or hold-out specification (D122: a window
            longer than the data), data errors.
    """
    from ..backtest.metrics import periods_per_year
    from ..strategies import signal_source
    from .run import sweep

    t0 = time.perf_counter()
    compiled = signal_source(strategy)
    check_metric(metric, trades_short(compiled.strategy), is_rotation(compiled))
    spec = _spec(walk_forward)
    axes = prepare_grid(compiled, grid, constraints, samples, seed, params)
    req = RunRequest(symbols, start, end, provider, data, init_cash, dict(params or {}))
    md = market if market is not None else load_market(compiled, req, axes)
    n_rel = md.n_rows - md.start
    split = md.start + (holdout_split(n_rel, holdout)[0] if holdout is not None else n_rel)
    try:
        folds = [] if spec is None else [
            Fold(*(r + md.start for r in f.as_tuple())) for f in walk_forward_folds(
                split - md.start, spec["train"], spec["test"], anchored=spec["anchored"], step=spec["step"])]
    except RuleEngineError as exc:
        if holdout is None:
            raise
        # the folds only see the rows before the hold-out: say so, the user counted the whole range
        raise RuleEngineError([Diagnostic(d.code, f"{d.message} before the hold-out ({md.n_rows - split} of "
                                          f"{n_rel} bars held out)", path=d.path, hint=d.hint)
                               for d in exc.diagnostics]) from None
    total = (1 + 2 * len(folds) + (holdout is not None)) * _STEPS
    common = {"grid": grid, "constraints": constraints, "metric": metric, "samples": samples, "seed": seed,
              "params": params, "provider": provider, "data": data, "init_cash": init_cash,
              "chunk_size": chunk_size, "market": md, "threads": threads, "runner": runner, "memory_mb": memory_mb}
    done = [0]

    def stage(step: str) -> Progress | None:
        """A progress callback for the next search, mapped onto the whole run."""
        if progress is None:
            return None
        base = done[0] * _STEPS
        done[0] += 1
        return lambda d, t, s: progress(base + (int(_STEPS * d / t) if t else 0), total, f"{step}: {s}")

    # the symbols as given: `SweepResult.detail` re-runs a rotation over that universe (its membership included)
    search = sweep(compiled, symbols, top=top, rows=(md.start, split), progress=stage("in-sample search"),
                   **common)
    fold_results: list[FoldResult] = []
    returns: list[np.ndarray] = []
    for k, fold in enumerate(folds):
        where = f"fold {k + 1}/{len(folds)}"
        res = sweep(compiled, top=1, rows=(fold.train_start, fold.train_end), progress=stage(f"{where} train"),
                    **common)
        chosen = res.best
        oos = _run_one(compiled, md, chosen, (fold.test_start, fold.test_end), req, stage(f"{where} test"))
        is_m, oos_m = _metrics_of(res), _metrics_of(oos)
        fold_results.append(FoldResult(
            fold, _dates(md, fold.train_start, fold.train_end), _dates(md, fold.test_start, fold.test_end),
            {k2: chosen[k2] for k2 in res.grid}, res.n_trials, is_m, oos_m, _decay(is_m, oos_m, metric),
            _run_warnings(oos, f"walk-forward fold {k + 1} test", f"walk_forward.folds[{k}]", md,
                          fold.test_start, fold.test_end)))
        # overlapping test windows (step < test) are cut where the next one starts
        stop = min(fold.test_end, folds[k + 1].test_start) if k + 1 < len(folds) else fold.test_end
        eq = _equity(compiled, md, [chosen], fold.test_start, stop, init_cash, _columns(search, md))
        returns.append(_bar_returns(eq, init_cash))
    stitched, stitched_metrics = _stitch(md, folds, returns, init_cash, search)
    hold = None
    if holdout is not None:
        res = _run_one(compiled, md, search.best, (split, md.n_rows), req, stage("hold-out"))
        is_m, oos_m = _metrics_of(search), _metrics_of(res)
        hold = {"start": _dates(md, split, md.n_rows)[0], "end": _dates(md, split, md.n_rows)[1],
                "bars": md.n_rows - split, "spec": str(holdout),
                "params": {k: _plain(v) for k, v in search.best.items() if k in search.grid},
                "is": is_m, "oos": oos_m, "decay": _plain(_decay(is_m, oos_m, metric)),
                "warnings": _run_warnings(res, "hold-out", "holdout", md, split, md.n_rows)}
    stats = overfitting(compiled, md, search, rows=(md.start, split), top_k=pbo_top, n_splits=pbo_splits,
                        periods=periods_per_year(md.frequency))
    if progress is not None:
        progress(total, total, "done")
    return WalkForwardResult(search, stats, metric, fold_results, stitched, stitched_metrics, hold, spec,
                             bool(getattr(md, "synthetic", False)), time.perf_counter() - t0, samples, seed)


def _spec(walk_forward: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if walk_forward is None:
        return None
    if isinstance(walk_forward, str):
        return parse_walk_forward(walk_forward)
    if isinstance(walk_forward, Mapping):
        unknown = sorted(set(walk_forward) - {"train", "test", "step", "anchored"})
        if unknown or "train" not in walk_forward or "test" not in walk_forward:
            raise RuleEngineError([Diagnostic(
                "D122", f"walk_forward needs train and test, got {dict(walk_forward)!r}", path="walk_forward",
                hint="e.g. {'train': 504, 'test': 126, 'anchored': False} or 'train=504,test=126'")])
        return {"train": walk_forward["train"], "test": walk_forward["test"],
                "anchored": bool(walk_forward.get("anchored", False)), "step": walk_forward.get("step")}
    raise RuleEngineError([Diagnostic("D122", f"cannot read walk_forward {walk_forward!r}", path="walk_forward",
                                      hint="e.g. 'train=504,test=126,anchored'")])


# ------------------------------------------------------------------------------------------ data


def prepare_grid(compiled: Any, grid: Sequence[str] | Mapping[str, Any] | None, constraints: Sequence[str],
                 samples: int | None, seed: int, params: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """The grid's axes, with the constraints and sampling checked before any data is fetched."""
    from ..backtest.risk import resolve_risk

    strat = compiled.strategy
    fixed = dict(params or {})
    axes = parse_grid(strat, grid) if grid is not None else {
        k: v for k, v in default_grid(strat).items() if k not in fixed}
    risk = resolve_risk(strat, fill_values(fixed)).to_dict()
    values = {**strat.default_params(), **{k: risk[k] for k in RISK_AXES if k in risk}, **fixed}
    check = {k: v for k, v in axes.items() if k != "execution_frequency"}
    if samples is not None or grid_size(check) <= 200_000:  # larger grids are checked by the sweep itself
        combinations(check, constraints, samples, seed, fixed=values)
    return axes


def load_market(compiled: Any, req: RunRequest, axes: Mapping[str, Sequence[Any]]) -> Any:
    """The market data with the history the grid's most demanding values need before `start`.

    Windows grow monotonically with their parameter, so the history is the largest convergence warm-up of
    the sets that hold one numeric signal parameter at its lowest or highest grid value.
    """
    from ..data.market import load_market_data

    strat = compiled.strategy
    signal = [p for p in strat.params if p not in ("execution_price", "execution_frequency")]
    fixed = {k: v for k, v in req.params.items() if k in strat.params and k != "execution_price"}
    freq = axes.get("execution_frequency")
    if freq:
        fixed["execution_frequency"] = freq[0]
    sets = [dict(fixed)]
    for p in signal:
        values = [v for v in axes.get(p, []) if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if values:
            sets += [{**fixed, p: min(values)}, {**fixed, p: max(values)}]
    warm = int(compiled.converge_bars(sets))
    request = compiled.data_request(fixed or None).with_overrides(warmup_bars=warm)
    return load_market_data(request, req.symbols, req.start, req.end, provider=req.provider, data=req.data)


# ------------------------------------------------------------------------------------------ evaluation


def _run_one(compiled: Any, md: Any, chosen: Mapping[str, Any], rows: tuple[int, int], req: RunRequest,
             progress: Progress | None) -> SweepResult:
    """One combination on rows [r0, r1) of the market (the same engine and metrics as the search)."""
    from .run import sweep

    return sweep(compiled, grid={}, params=dict(chosen), market=md, rows=rows, init_cash=req.init_cash,
                 provider=req.provider, data=req.data, top=1, progress=progress)


def _run_warnings(res: SweepResult, where: str, path: str, md: Any, r0: int, r1: int) -> list[dict[str, Any]]:
    """L123 of one out-of-sample run (the chosen combination on rows [r0, r1)) saying which run it was, under
    `path`: the in-sample search's own warning covers only the rows it searched."""
    first, last = _dates(md, r0, r1)
    return [{**w, "path": f"{path}.{w['path']}", "message": f"{where} {first} .. {last}, the chosen "
             f"combination: {w['message']}"} for w in res.warnings if w.get("code") == "L123"]


def _metrics_of(res: SweepResult) -> dict[str, Any]:
    """Every metric of the best combination (averaged over the symbols), JSON-ready."""
    row = res.by_combination.iloc[0]
    return {m: _plain(row[m], m) for m in res.metric_columns}


def _decay(is_m: Mapping[str, Any], oos_m: Mapping[str, Any], metric: str) -> float | None:
    a, b = is_m.get(metric), oos_m.get(metric)
    if a is None or b is None or not a > 0:
        return None
    return float(b) / float(a)


def _dates(md: Any, r0: int, r1: int) -> tuple[str, str]:
    from ..data.frames import INTRADAY

    fmt = "%Y-%m-%d %H:%M" if md.frequency in INTRADAY else "%Y-%m-%d"
    return md.index[r0].strftime(fmt), md.index[r1 - 1].strftime(fmt)


def _columns(res: SweepResult, md: Any) -> list[int]:
    """Market columns of the runs a sweep evaluated (skipped symbols left out), in market order; a rotation's
    one run (its portfolio over every column) is ``[0]``."""
    if res.rotation:
        return [0]
    runs = res.context.get("runs", {})
    return [j for j, label in enumerate(md.labels) if label in runs]


def _equity(compiled: Any, md: Any, sets: Sequence[Mapping[str, Any]], r0: int, r1: int, init_cash: float,
            columns: Sequence[int]) -> np.ndarray:
    """Equity of rows [r0, r1) for each (set x column), set-major: (r1 - r0, len(sets) * len(columns)).

    Signals come from the whole history (causal: the same values as on a slice ending at r1); the fill
    contract runs from r0 (flat, `init_cash`) through r1 - 1 (`ruleengine.backtest.simulation.simulate`). A
    rotation's one column per set is its portfolio (`ruleengine.sweep.rotation.rotation_equity`).
    """
    if is_rotation(compiled):
        return rotation_equity(compiled, md, sets, r0, r1, init_cash)[0]
    from ..backtest.pairs import simulate_pair_run
    from ..backtest.risk import resolve_risk
    from ..backtest.simulation import simulate

    strat = compiled.strategy
    base = strat.traded_slot() or next(s for s, _ in md.inputs)
    sig_sets = [{k: v for k, v in s.items() if k in strat.params and k != "execution_price"} for s in sets]
    risks = [resolve_risk(strat, fill_values(s)) for s in sets]
    sig = compiled.signals(md, sig_sets)
    cols = [p * md.n_cols + j for p in range(len(sets)) for j in columns]
    prices = {c: np.tile(md.inputs[(base, c)][:r1, list(columns)], (1, len(sets)))
              for c in ("open", "high", "low", "close")}
    options = {"index": md.index[:r1], "risk": [risks[p] for p in range(len(sets)) for _ in columns],
               "init_cash": float(init_cash), "start": r0}
    if strat.pair is None:
        sim = simulate(prices, **sig.columns(cols, r1), **options)
    else:  # both legs as one position
        prices_b = {c: np.tile(md.inputs[(strat.pair.legs[1], c)][:r1, list(columns)], (1, len(sets)))
                    for c in prices}
        sim = simulate_pair_run(strat.pair, prices, prices_b, sig.columns(cols, r1), **options)
    return sim.equity[r0:r1]


def _bar_returns(equity: np.ndarray, init_cash: float) -> np.ndarray:
    """Per column: equity / previous equity - 1, the first bar against the initial cash (0 where undefined)."""
    prev = np.vstack([np.full((1, equity.shape[1]), init_cash), equity[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        r = equity / prev - 1.0
    return np.where(np.isfinite(r), r, 0.0)


def _stitch(md: Any, folds: list[Fold], returns: list[np.ndarray], init_cash: float,
            search: SweepResult) -> tuple[pd.DataFrame | None, dict[str, dict[str, Any]]]:
    """The chained out-of-sample equity per symbol and its metrics."""
    from ..backtest.metrics import cagr, drawdown_pct, periods_per_year, sharpe_ratio, sortino_ratio

    if not folds:
        return None, {}
    labels = [PORTFOLIO] if search.rotation else [md.labels[j] for j in _columns(search, md)]
    r = np.vstack(returns)
    rows = np.concatenate([np.arange(f.test_start, f.test_start + len(x)) for f, x in zip(folds, returns, strict=True)])
    equity = init_cash * np.cumprod(1.0 + r, axis=0)
    frame = pd.DataFrame(equity, index=md.index[rows], columns=labels)
    ppy = periods_per_year(md.frequency)
    out: dict[str, dict[str, Any]] = {}
    for j, label in enumerate(labels):
        eq = equity[:, j]
        growth = cagr(float(eq[-1]), init_cash, len(eq), ppy)
        out[label] = {"start": _dates(md, int(rows[0]), int(rows[-1]) + 1)[0],
                      "end": _dates(md, int(rows[0]), int(rows[-1]) + 1)[1], "bars": len(eq),
                      "total_return_pct": _plain((eq[-1] / init_cash - 1) * 100),
                      "cagr_pct": None if growth is None else _plain(growth * 100),
                      "sharpe_ratio": sharpe_ratio(r[:, j], ppy), "sortino_ratio": sortino_ratio(r[:, j], ppy),
                      "max_drawdown_pct": _plain(float(drawdown_pct(eq, init_cash).max()))}
    return frame, out


# ------------------------------------------------------------------------------------------ statistics


def overfitting(compiled: Any, md: Any, result: SweepResult, *, rows: tuple[int, int] | None = None,
                top_k: int = PBO_TOP, n_splits: int = PBO_SPLITS, periods: float | None = None) -> OverfitStats:
    """Trials, DSR of the best combination and PBO of the top `top_k` (see the module docstring).

    Args:
        compiled: the compiled strategy; md: the `MarketData` the sweep ran on.
        result: the sweep; rows: the rows it traded (default the market's requested range).
        top_k: configurations in the PBO; n_splits: its CSCV blocks (reduced to fit short ranges).
        periods: bars per year (default from the market's frequency).
    """
    from ..backtest.metrics import periods_per_year
    from .overfit import deflated_sharpe_ratio_from_returns, pbo_cscv
    from .run import run_rows

    bad_top = check_whole("pbo_top", top_k, 2, f"e.g. {PBO_TOP}")
    if bad_top is not None:
        raise RuleEngineError([bad_top])
    r0, r1 = rows or (md.start, md.n_rows)
    ppy = float(periods or periods_per_year(md.frequency))
    ranked = result.by_combination
    k = min(top_k, len(ranked))
    stats = OverfitStats(result.n_trials, grid_size(result.grid), k if k >= 2 else 0, 0, ppy)
    columns = _columns(result, md)
    sets = [{**result.fixed, **result.combinations[int(c)]} for c in ranked["combination"].iloc[:k]]
    per_set = max(1, _SIM_BUDGET // max(1, md.n_rows * len(columns)))
    matrix = np.empty((r1 - r0, len(sets)))
    best_cols: np.ndarray | None = None
    for lo in range(0, len(sets), per_set):
        part = sets[lo:lo + per_set]
        eq = _equity(compiled, md, part, r0, r1, result.init_cash, columns)
        ret = _bar_returns(eq, result.init_cash).reshape(r1 - r0, len(part), len(columns))
        matrix[:, lo:lo + len(part)] = ret.mean(axis=2)
        if lo == 0:
            best_cols = ret[:, 0, :]
    # the best combination's returns over each run's own bars (those its table metrics were computed on)
    close = md.inputs[(compiled.strategy.traded_slot() or next(s for s, _ in md.inputs), "close")][:, columns]
    a, b = (np.array([r0]), np.array([r1])) if result.rotation else run_rows(close, r0, r1)
    assert best_cols is not None
    best = best_cols[:, 0][a[0] - r0:b[0] - r0] if len(columns) == 1 else best_cols.mean(axis=1)
    stats.n_obs = len(best)
    sharpes = ranked["sharpe_ratio"].to_numpy(dtype=float) / math.sqrt(ppy)
    try:
        stats.dsr = deflated_sharpe_ratio_from_returns(best, sharpes)
    except RuleEngineError as exc:
        stats.notes.append(f"DSR: {exc.diagnostics[0].message}")
    if k < 2:
        stats.notes.append("PBO: needs at least 2 combinations")
        return stats
    splits = _fit_splits(r1 - r0, n_splits)
    try:
        stats.pbo = pbo_cscv(matrix, n_splits=splits)
    except RuleEngineError as exc:
        stats.notes.append(f"PBO: {exc.diagnostics[0].message}")
    if splits != n_splits and stats.pbo is not None:
        stats.notes.append(f"PBO: {splits} blocks instead of {n_splits} ({r1 - r0} bars)")
    return stats


def _fit_splits(n_rows: int, wanted: int) -> int:
    """The largest even S <= `wanted` that leaves blocks of at least 4 rows (Sharpe ratios need a few)."""
    s = max(2, int(wanted) - int(wanted) % 2)
    while s > 2 and n_rows // s < 4:
        s -= 2
    return s


__all__ = [
    "PBO_SPLITS",
    "PBO_TOP",
    "FoldResult",
    "OverfitStats",
    "WalkForwardResult",
    "load_market",
    "overfitting",
    "prepare_grid",
    "walk_forward",
]
