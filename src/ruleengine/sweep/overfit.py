"""Overfitting statistics: the deflated Sharpe ratio (DSR) and the probability of backtest overfitting (PBO).

**Sharpe ratios here are per observation**, not annualised: SR = mean(r) / std(r, ddof=1) of the per-bar
returns r (risk-free rate 0, the same estimator as the backtest's `sharpe_ratio` before its x sqrt(P)).
`deannualise_sharpe(sr, P) = sr / sqrt(P)` and `deannualise_sharpe_variance(v, P) = v / P` convert annual
figures (P = 252 for daily bars). `kurtosis` is the plain (non-excess) kurtosis: 3 for normal returns.

Probabilistic Sharpe ratio (Bailey & Lopez de Prado 2012), the probability that the true Sharpe ratio exceeds
a benchmark SR* given T observations of skewness g3 and kurtosis g4, with Z the standard normal CDF::

    PSR(SR*) = Z( (SR - SR*) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2) )

Deflated Sharpe ratio (Bailey & Lopez de Prado 2014, "The Deflated Sharpe Ratio"): the benchmark is the
expected maximum Sharpe ratio of N independent trials whose Sharpe ratios have variance V[SR] and true value
0, with gamma = 0.5772... (Euler-Mascheroni) and e = 2.718...::

    SR0 = sqrt(V[SR]) * ((1 - gamma) * Z^-1(1 - 1/N) + gamma * Z^-1(1 - 1/(N e)))
    DSR = PSR(SR0)

With N = 1 there is no selection and SR0 = 0 (DSR = PSR(0)). The paper's example (annual SR 2.5, T = 1250
daily observations, N = 100, annual V[SR] = 0.5, skewness -3, kurtosis 10) gives SR0 = 0.1132 per day and
DSR = 0.9004; the tests reproduce both to 4 decimals.

Probability of backtest overfitting by combinatorially symmetric cross-validation (Bailey, Borwein, Lopez de
Prado & Zhu 2015, "The probability of backtest overfitting"). M is a T x N matrix of per-period returns (or
P&L) of N configurations:

1. Cut the rows into S blocks of q = floor(T / S) rows (the T - S q oldest rows are dropped so that all
   blocks are equal).
2. For each of the C(S, S/2) sets c of S/2 blocks (in `itertools.combinations(range(S), S // 2)` order), the
   rows of c are in-sample (IS) and the other blocks out-of-sample (OOS).
3. R = metric(IS rows) and Rbar = metric(OOS rows), one value per configuration; the chosen configuration
   n* = argmax R (the lowest column index among ties).
4. Its OOS rank among the N values of Rbar (1 = worst, N = best; ties get their average rank, a NaN metric
   ranks as -inf), the relative rank w = rank / (N + 1) and the logit lambda = ln(w / (1 - w)).
5. PBO = share of combinations with lambda <= 0: the in-sample winner ranks at or below the OOS median.

Performance degradation: the least-squares line Rbar[n*] = intercept + slope * R[n*] over the combinations,
and the probability of OOS loss = share of combinations with Rbar[n*] < 0. The default metric is the
per-period Sharpe ratio (`sharpe_metric`: mean / std, ddof=1; zero variance gives 0 for a zero mean and
+-inf otherwise), computed from per-block means and sums of squared deviations so that C(16, 8) = 12,870
combinations of many configurations stay fast; any callable (rows x N) -> (N,) may replace it.

Example:
    >>> r = deflated_sharpe_ratio(sr=0.1581, n_obs=1250, n_trials=100, var_trials_sr=0.002,
    ...                           skew=-3.0, kurtosis=10.0)
    >>> round(r.sr0, 4), round(r.dsr, 2)
    (0.1132, 0.9)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, NoReturn

import numpy as np

from ..errors import Diagnostic, RuleEngineError

#: Euler-Mascheroni constant.
EULER_GAMMA = 0.5772156649015329
#: Most CSCV combinations computed unless the caller raises the limit (C(16, 8): S = 16 splits).
MAX_COMBINATIONS = 12_870
# Elements of one (combinations x configurations) chunk in the fast path: bounds memory at ~32 MB per array.
_CHUNK_ELEMENTS = 4_000_000
_NORMAL = NormalDist()

Metric = Callable[[np.ndarray], np.ndarray]


def _fail(message: str, path: str, hint: str) -> NoReturn:
    raise RuleEngineError([Diagnostic("D122", message, path=path, hint=hint)])


def _finite_number(value: Any, path: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        _fail(f"{path} must be a number, got {value!r}", path, "pass a finite float")
    if not math.isfinite(out):
        _fail(f"{path} must be finite, got {out}", path, "pass a finite float")
    return out


def _whole(value: Any, path: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        _fail(f"{path} must be a whole number, got {value!r}", path, f"pass an int >= {minimum}")
    if int(value) < minimum:
        _fail(f"{path} must be at least {minimum}, got {value}", path, f"pass an int >= {minimum}")
    return int(value)


# --- Sharpe ratio helpers -------------------------------------------------------------------------------


def per_period_sharpe(returns: Sequence[float] | np.ndarray) -> float:
    """Sharpe ratio per observation: mean / std (ddof=1) of the finite returns, not annualised.

    NaN with fewer than 2 finite returns or zero variance.

    Example:
        >>> round(per_period_sharpe([0.01, 0.03, 0.02]), 6)
        2.0
    """
    r = np.asarray(returns, dtype=float).ravel()
    r = r[np.isfinite(r)]
    if len(r) < 2:
        return math.nan
    std = float(np.std(r, ddof=1))
    return float(np.mean(r)) / std if std > 0 else math.nan


def annualise_sharpe(sr: float, periods_per_year: float = 252.0) -> float:
    """Per-period Sharpe ratio x sqrt(periods per year)."""
    return sr * math.sqrt(_positive(periods_per_year))


def deannualise_sharpe(sr_annual: float, periods_per_year: float = 252.0) -> float:
    """Annual Sharpe ratio / sqrt(periods per year): the per-period value the DSR expects.

    Example:
        >>> round(deannualise_sharpe(2.5, 250), 6)
        0.158114
    """
    return sr_annual / math.sqrt(_positive(periods_per_year))


def deannualise_sharpe_variance(var_annual: float, periods_per_year: float = 252.0) -> float:
    """Variance of annual Sharpe ratios / periods per year (the square of `deannualise_sharpe`)."""
    return var_annual / _positive(periods_per_year)


def _positive(periods_per_year: float) -> float:
    p = _finite_number(periods_per_year, "periods_per_year")
    if p <= 0:
        _fail(f"periods_per_year must be positive, got {p}", "periods_per_year", "252 for daily bars")
    return p


def sample_moments(returns: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Skewness m3 / m2^1.5 and (non-excess) kurtosis m4 / m2^2 of the finite returns (central moments m_k).

    Example:
        >>> sample_moments([1.0, -1.0, 1.0, -1.0])
        (0.0, 1.0)
    """
    r = np.asarray(returns, dtype=float).ravel()
    r = r[np.isfinite(r)]
    d = r - r.mean() if len(r) else r
    m2 = float(np.mean(d**2)) if len(r) else 0.0
    if m2 <= 0:
        _fail("skewness and kurtosis need returns that vary", "returns",
              "pass at least two different finite returns")
    return float(np.mean(d**3)) / m2**1.5, float(np.mean(d**4)) / m2**2


# --- PSR and DSR ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DSRResult:
    """The deflated Sharpe ratio and its inputs (Sharpe ratios per observation).

    Attributes:
        sr: observed Sharpe ratio of the selected configuration.
        sr0: expected maximum Sharpe ratio of `n_trials` null trials (the deflating benchmark).
        dsr: probability that the true Sharpe ratio exceeds `sr0` (PSR(sr0)).
        z: the standard-normal statistic whose CDF is `dsr`.
    """

    sr: float
    sr0: float
    dsr: float
    z: float
    n_obs: int
    n_trials: int
    var_trials_sr: float
    skew: float
    kurtosis: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def expected_max_sharpe(n_trials: int, var_trials_sr: float) -> float:
    """SR0 = sqrt(V) ((1 - gamma) Z^-1(1 - 1/N) + gamma Z^-1(1 - 1/(N e))); 0 for a single trial.

    Example:
        >>> round(expected_max_sharpe(100, 1.0), 4)
        2.5306
    """
    n = _whole(n_trials, "n_trials", 1)
    v = _finite_number(var_trials_sr, "var_trials_sr")
    if v < 0:
        _fail(f"var_trials_sr must be >= 0, got {v}", "var_trials_sr",
              "pass the variance of the trials' per-period Sharpe ratios")
    if n == 1:
        return 0.0
    quantiles = ((1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n)
                 + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n * math.e)))
    return math.sqrt(v) * quantiles


def _psr_z(sr: float, sr_benchmark: float, n_obs: int, skew: float, kurtosis: float) -> float:
    sr = _finite_number(sr, "sr")
    sr_benchmark = _finite_number(sr_benchmark, "sr_benchmark")
    t = _whole(n_obs, "n_obs", 2)
    g3 = _finite_number(skew, "skew")
    g4 = _finite_number(kurtosis, "kurtosis")
    if g4 < 1:
        _fail(f"kurtosis must be at least 1, got {g4}", "kurtosis",
              "pass the plain (non-excess) kurtosis: 3 for normal returns, excess kurtosis + 3")
    var_term = 1 - g3 * sr + (g4 - 1) / 4 * sr**2
    if var_term <= 0:
        _fail(f"the Sharpe ratio's variance term 1 - skew*SR + (kurt-1)/4*SR^2 = {var_term:.6g} is not positive",
              "sr", "pass a per-period (not annualised) Sharpe ratio; see deannualise_sharpe")
    return (sr - sr_benchmark) * math.sqrt(t - 1) / math.sqrt(var_term)


def probabilistic_sharpe_ratio(sr: float, sr_benchmark: float, n_obs: int, skew: float = 0.0,
                               kurtosis: float = 3.0) -> float:
    """PSR: the probability that the true per-period Sharpe ratio exceeds `sr_benchmark`.

    Example:
        >>> probabilistic_sharpe_ratio(0.1, 0.1, n_obs=250)
        0.5
    """
    return _NORMAL.cdf(_psr_z(sr, sr_benchmark, n_obs, skew, kurtosis))


def deflated_sharpe_ratio(sr: float, n_obs: int, n_trials: int, var_trials_sr: float, skew: float = 0.0,
                          kurtosis: float = 3.0) -> DSRResult:
    """DSR = PSR(SR0): the selected Sharpe ratio deflated by the number of trials and their variance.

    Args:
        sr: per-period Sharpe ratio of the selected configuration.
        n_obs: number of return observations T behind `sr`.
        n_trials: number of configurations tried N (independent trials).
        var_trials_sr: variance of the trials' per-period Sharpe ratios V[SR].
        skew: skewness of the selected configuration's returns.
        kurtosis: its plain (non-excess) kurtosis, 3 for normal returns.
    """
    sr0 = expected_max_sharpe(n_trials, var_trials_sr)
    z = _psr_z(sr, sr0, n_obs, skew, kurtosis)
    return DSRResult(sr=float(sr), sr0=sr0, dsr=_NORMAL.cdf(z), z=z, n_obs=int(n_obs), n_trials=int(n_trials),
                     var_trials_sr=float(var_trials_sr), skew=float(skew), kurtosis=float(kurtosis))


def deflated_sharpe_ratio_from_returns(returns: Sequence[float] | np.ndarray,
                                       trial_sharpes: Sequence[float] | np.ndarray) -> DSRResult:
    """The DSR of the selected configuration's per-period `returns` among all trials' per-period Sharpe ratios.

    N = len(trial_sharpes) (every configuration tried counts, including ones without a finite Sharpe ratio);
    V[SR] = the ddof=1 variance of the finite ones (0 with fewer than 2); T = the finite returns.
    """
    r = np.asarray(returns, dtype=float).ravel()
    r = r[np.isfinite(r)]
    sr = per_period_sharpe(r)
    if not math.isfinite(sr):
        _fail("the selected configuration's Sharpe ratio is undefined (fewer than 2 returns or no variance)",
              "returns", "pass the per-period returns of a configuration that traded")
    trials = np.asarray(trial_sharpes, dtype=float).ravel()
    if len(trials) < 1:
        _fail("no trials given", "trial_sharpes", "pass the Sharpe ratio of every configuration tried")
    finite = trials[np.isfinite(trials)]
    var = float(np.var(finite, ddof=1)) if len(finite) >= 2 else 0.0
    skew, kurt = sample_moments(r)
    return deflated_sharpe_ratio(sr, len(r), len(trials), var, skew, kurt)


# --- PBO by combinatorially symmetric cross-validation ----------------------------------------------------


@dataclass(frozen=True)
class PBOResult:
    """The probability of backtest overfitting and its per-combination details.

    Arrays have one entry per combination, in `itertools.combinations(range(n_splits), n_splits // 2)` order
    (the in-sample blocks).

    Attributes:
        pbo: share of combinations whose in-sample winner ranks at or below the OOS median (lambda <= 0).
        lambdas: logits ln(w / (1 - w)) of the winner's relative OOS rank w.
        chosen: column index of the in-sample winner.
        is_metric / oos_metric: the winner's metric in-sample and out-of-sample.
        oos_relative_rank: w = rank / (N + 1), rank 1 = worst OOS.
        slope / intercept: least-squares fit oos_metric = intercept + slope * is_metric (NaN if undefined).
        prob_oos_loss: share of combinations with oos_metric < 0.
        block_rows: rows per block; rows_dropped: oldest rows left out so that blocks are equal.
    """

    pbo: float
    lambdas: np.ndarray
    n_combinations: int
    n_splits: int
    n_configs: int
    block_rows: int
    rows_dropped: int
    chosen: np.ndarray
    is_metric: np.ndarray
    oos_metric: np.ndarray
    oos_relative_rank: np.ndarray
    slope: float
    intercept: float
    prob_oos_loss: float

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        """JSON-ready summary; `arrays=True` adds the per-combination lists."""
        out: dict[str, Any] = {k: getattr(self, k) for k in (
            "pbo", "n_combinations", "n_splits", "n_configs", "block_rows", "rows_dropped", "slope",
            "intercept", "prob_oos_loss")}
        out = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}
        if arrays:
            for k in ("lambdas", "chosen", "is_metric", "oos_metric", "oos_relative_rank"):
                out[k] = getattr(self, k).tolist()
        return out


def sharpe_metric(block: np.ndarray) -> np.ndarray:
    """Per-column Sharpe ratio mean / std (ddof=1) of a (rows x N) array; zero variance gives 0 or +-inf.

    Example:
        >>> sharpe_metric(np.array([[1.0, 0.0], [3.0, 0.0]])).round(6).tolist()
        [1.414214, 0.0]
    """
    a = np.asarray(block, dtype=float)
    mean = a.mean(axis=0)
    m2 = ((a - mean) ** 2).sum(axis=0)
    return _sharpe_from_moments(mean, m2, a.shape[0])


def _sharpe_from_moments(mean: np.ndarray, m2: np.ndarray, n: int) -> np.ndarray:
    std = np.sqrt(np.maximum(m2, 0.0) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = mean / std
    # zero variance: a flat zero series (never traded) is worth 0; a riskless gain +inf, a riskless loss -inf
    if np.any(std == 0):
        out = np.where(std > 0, out, np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0)))
    return out


def pbo_cscv(performance: np.ndarray, n_splits: int = 16, metric: Metric | None = None,
             max_combinations: int = MAX_COMBINATIONS) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    Args:
        performance: T x N per-period returns (or P&L) of N configurations, rows in time order.
        n_splits: S, the even number of equal blocks (C(S, S/2) combinations).
        metric: (rows x N) -> (N,) ranking metric, higher is better; default `sharpe_metric`.
        max_combinations: refuse S whose C(S, S/2) exceeds this.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> best = rng.normal(0.0, 1.0, (64, 5)); best[:, 2] += 2.0
        >>> pbo_cscv(best, n_splits=8).pbo
        0.0
    """
    m = _check_performance(performance)
    t, n = m.shape
    s = _whole(n_splits, "n_splits", 2)
    if s % 2:
        _fail(f"n_splits must be even, got {s}", "n_splits", f"use {s - 1} or {s + 1}")
    if t < s:
        _fail(f"n_splits={s} needs at least {s} rows, the performance has {t}", "n_splits",
              f"use n_splits <= {max(2, t - t % 2)}")
    half = s // 2
    n_comb = math.comb(s, half)
    limit = _whole(max_combinations, "max_combinations", 1)
    if n_comb > limit:
        fits = max(k for k in range(2, s, 2) if math.comb(k, k // 2) <= limit or k == 2)
        _fail(f"n_splits={s} means {n_comb:,} combinations, more than the limit {limit:,}", "n_splits",
              f"use n_splits <= {fits} ({math.comb(fits, fits // 2):,} combinations) or raise max_combinations")
    q = t // s
    dropped = t - q * s
    m = m[dropped:]
    if (metric is None or metric is sharpe_metric) and q * half < 2:
        _fail(f"the Sharpe metric needs at least 2 rows per half, n_splits={s} leaves {q * half}", "n_splits",
              f"pass at least {2 * s} rows or use fewer splits")
    combos = list(itertools.combinations(range(s), half))
    blocks = m.reshape(s, q, n)
    if metric is None or metric is sharpe_metric:
        chunks = _sharpe_halves(blocks, combos)
    else:
        chunks = _generic_halves(blocks, combos, metric)
    # only the chosen configuration's values are kept per combination: memory does not grow with C x N
    chosen, is_val, oos_val, w = (np.concatenate(parts) for parts in zip(*map(_select, chunks), strict=True))
    return _summarise(chosen, is_val, oos_val, w, s, q, dropped, n)


def _check_performance(performance: Any) -> np.ndarray:
    try:
        m = np.asarray(performance, dtype=float)
    except (TypeError, ValueError):
        _fail("performance must be a numeric T x N matrix", "performance",
              "one row per period, one column per configuration")
    if m.ndim != 2:
        _fail(f"performance must be 2-D (T periods x N configurations), got {m.ndim}-D", "performance",
              "one row per period, one column per configuration (reshape a single series to (T, 1))")
    if m.shape[1] < 2:
        _fail(f"PBO needs at least 2 configurations, got {m.shape[1]}", "performance",
              "one column per configuration of the sweep")
    if not np.all(np.isfinite(m)):
        _fail("performance contains NaN or infinite values", "performance",
              "fill periods without a position (warm-up, flat) with a 0 return")
    return m


def _sharpe_halves(blocks: np.ndarray, combos: list[tuple[int, ...]]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """IS and OOS Sharpe ratios of chunks of combinations, from per-block means and squared deviations.

    A union of h blocks of q rows has mean = mean of the block means and
    M2 = sum of block M2 + q * sum (block mean - mean)^2 (Chan et al.'s pairwise update), which avoids the
    cancellation of sum(x^2) - n mean^2 over all rows.
    """
    s, q, n = blocks.shape
    half = s // 2
    means = blocks.mean(axis=1)                                     # S x N
    m2 = np.stack([((blocks[b] - means[b]) ** 2).sum(axis=0) for b in range(s)])
    ind = np.zeros((len(combos), s))
    for c, combo in enumerate(combos):
        ind[c, list(combo)] = 1.0
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for lo in range(0, len(combos), chunk):
        pair = []
        for sel in (ind[lo:lo + chunk], 1.0 - ind[lo:lo + chunk]):
            mean = sel @ means / half
            sq = sel @ means**2 / half - mean**2                    # mean squared deviation of block means
            total_m2 = sel @ m2 + q * half * np.maximum(sq, 0.0)
            pair.append(_sharpe_from_moments(mean, total_m2, q * half))
        yield pair[0], pair[1]


def _generic_halves(blocks: np.ndarray, combos: list[tuple[int, ...]],
                    metric: Metric) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    s, _, n = blocks.shape
    for combo in combos:
        rest = [b for b in range(s) if b not in combo]
        pair = []
        for idx in (list(combo), rest):
            val = np.asarray(metric(blocks[idx].reshape(-1, n)), dtype=float)
            if val.shape != (n,):
                _fail(f"the metric returned shape {val.shape}, expected ({n},)", "metric",
                      "the metric maps a (rows x N) array to one value per configuration (column)")
            pair.append(val)
        yield pair[0][None, :], pair[1][None, :]


def _select(halves: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Per combination of a chunk: the IS winner, its IS and OOS values and its relative OOS rank w."""
    r_is, r_oos = (np.where(np.isnan(r), -np.inf, r) for r in halves)
    n = r_is.shape[1]
    chosen = np.argmax(r_is, axis=1)                                # first (lowest) index among ties
    rows = np.arange(len(chosen))
    is_val = r_is[rows, chosen]
    oos_val = r_oos[rows, chosen]
    less = (r_oos < oos_val[:, None]).sum(axis=1)
    equal = (r_oos == oos_val[:, None]).sum(axis=1)                 # includes the chosen one itself
    rank = less + (equal + 1) / 2.0                                 # average rank among ties, 1 = worst
    return chosen, is_val, oos_val, rank / (n + 1)


def _summarise(chosen: np.ndarray, is_val: np.ndarray, oos_val: np.ndarray, w: np.ndarray, s: int, q: int,
               dropped: int, n: int) -> PBOResult:
    lambdas = np.log(w / (1 - w))
    finite = np.isfinite(is_val) & np.isfinite(oos_val)
    slope = intercept = math.nan
    x, y = is_val[finite], oos_val[finite]
    if len(x) >= 2 and np.ptp(x) > 0:
        slope, intercept = (float(v) for v in np.polyfit(x, y, 1))
    return PBOResult(pbo=float(np.mean(lambdas <= 0)), lambdas=lambdas, n_combinations=len(chosen),
                     n_splits=s, n_configs=n, block_rows=q, rows_dropped=dropped, chosen=chosen,
                     is_metric=is_val, oos_metric=oos_val, oos_relative_rank=w, slope=slope,
                     intercept=intercept, prob_oos_loss=float(np.mean(oos_val < 0)))
