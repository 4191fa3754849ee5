"""Overfitting statistics: DSR / PSR and PBO by CSCV against hand-computed cases."""
from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import pytest

from ruleengine.errors import RuleEngineError
from ruleengine.sweep.overfit import (
    EULER_GAMMA,
    annualise_sharpe,
    deannualise_sharpe,
    deannualise_sharpe_variance,
    deflated_sharpe_ratio,
    deflated_sharpe_ratio_from_returns,
    expected_max_sharpe,
    pbo_cscv,
    per_period_sharpe,
    probabilistic_sharpe_ratio,
    sample_moments,
    sharpe_metric,
)

Z = NormalDist()


def _d122(call, *args, **kwargs):
    with pytest.raises(RuleEngineError) as info:
        call(*args, **kwargs)
    (diag,) = info.value.diagnostics
    assert diag.code == "D122" and diag.hint and diag.path
    return diag


# --- Sharpe helpers ---------------------------------------------------------------------------------------


def test_per_period_sharpe_and_annualisation():
    # mean 0.02, std (ddof=1) sqrt(((-0.01)^2 + 0.01^2 + 0) / 2) = 0.01
    assert per_period_sharpe([0.01, 0.03, 0.02]) == pytest.approx(2.0, abs=1e-12)
    assert per_period_sharpe([0.01, np.nan, 0.03, 0.02]) == pytest.approx(2.0, abs=1e-12)  # NaN dropped
    assert math.isnan(per_period_sharpe([0.01, 0.01, 0.01]))
    assert math.isnan(per_period_sharpe([0.01]))
    assert deannualise_sharpe(2.5, 250) == pytest.approx(0.15811388300841897, abs=1e-15)
    assert annualise_sharpe(deannualise_sharpe(1.7, 52), 52) == pytest.approx(1.7, abs=1e-15)
    assert deannualise_sharpe_variance(0.5, 250) == pytest.approx(0.002, abs=1e-18)
    _d122(deannualise_sharpe, 1.0, 0)


def test_sample_moments_by_hand():
    # [0, 0, 0, 4]: mean 1, deviations (-1, -1, -1, 3): m2 = 12/4 = 3, m3 = 24/4 = 6, m4 = 84/4 = 21
    skew, kurt = sample_moments([0.0, 0.0, 0.0, 4.0])
    assert skew == pytest.approx(6 / 3**1.5, abs=1e-12)
    assert kurt == pytest.approx(21 / 9, abs=1e-12)
    assert sample_moments([1.0, -1.0, 1.0, -1.0]) == (0.0, 1.0)
    _d122(sample_moments, [2.0, 2.0])


# --- PSR / DSR --------------------------------------------------------------------------------------------


def test_psr_by_hand():
    # SR 0.1 vs 0, T 101, normal: z = 0.1 * sqrt(100) / sqrt(1 - 0 + (3 - 1)/4 * 0.01) = 1 / sqrt(1.005)
    z = 1.0 / math.sqrt(1.005)
    assert z == pytest.approx(0.9975093361076329, abs=1e-15)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101) == pytest.approx(Z.cdf(z), abs=1e-15)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101) == pytest.approx(0.8407, abs=1e-4)
    # skew -1, kurt 6: denominator sqrt(1 + 0.1 + 5/4 * 0.01) = sqrt(1.1125)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101, skew=-1.0, kurtosis=6.0) == pytest.approx(
        Z.cdf(1.0 / math.sqrt(1.1125)), abs=1e-15)
    assert probabilistic_sharpe_ratio(0.1, 0.1, 50) == 0.5


def test_psr_monotonicity():
    srs = [probabilistic_sharpe_ratio(sr, 0.05, 250) for sr in np.linspace(-0.2, 0.3, 11)]
    assert all(a < b for a, b in itertools.pairwise(srs))
    longer = [probabilistic_sharpe_ratio(0.1, 0.05, t) for t in (20, 100, 500, 2000)]
    assert all(a < b for a, b in itertools.pairwise(longer))          # more evidence when SR > benchmark
    shorter = [probabilistic_sharpe_ratio(0.0, 0.05, t) for t in (20, 100, 500, 2000)]
    assert all(a > b for a, b in itertools.pairwise(shorter))         # and less when SR < benchmark
    skews = [probabilistic_sharpe_ratio(0.1, 0.05, 250, skew=g) for g in (-3.0, -1.0, 0.0, 1.0)]
    assert all(a < b for a, b in itertools.pairwise(skews))           # negative skew hurts a positive SR
    kurts = [probabilistic_sharpe_ratio(0.1, 0.05, 250, kurtosis=k) for k in (3.0, 6.0, 12.0)]
    assert all(a > b for a, b in itertools.pairwise(kurts))           # fat tails hurt
    benches = [probabilistic_sharpe_ratio(0.1, b, 250) for b in (0.0, 0.05, 0.1, 0.15)]
    assert all(a > b for a, b in itertools.pairwise(benches))


def test_dsr_by_hand():
    # N = 10 trials, V[SR] = 0.01 (sd 0.1), SR 0.2 over T = 101 normal returns
    q1 = Z.inv_cdf(1 - 1 / 10)                  # Z^-1(0.9)
    q2 = Z.inv_cdf(1 - 1 / (10 * math.e))       # Z^-1(1 - 0.036788)
    assert q1 == pytest.approx(1.2815515655446004, abs=1e-12)
    assert q2 == pytest.approx(1.789242, abs=1e-6)
    sr0 = math.sqrt(0.01) * ((1 - EULER_GAMMA) * q1 + EULER_GAMMA * q2)
    assert sr0 == pytest.approx(0.1574598, abs=1e-7)   # 0.1 (0.5418 + 1.0328)
    z = (0.2 - sr0) * math.sqrt(100) / math.sqrt(1 + (3 - 1) / 4 * 0.2**2)   # sqrt(1.02)
    r = deflated_sharpe_ratio(0.2, n_obs=101, n_trials=10, var_trials_sr=0.01)
    assert r.sr0 == pytest.approx(sr0, abs=1e-15)
    assert r.z == pytest.approx(z, abs=1e-12)
    assert r.dsr == pytest.approx(Z.cdf(z), abs=1e-15)
    assert r.z == pytest.approx(0.42121, abs=1e-5)             # 0.42540 / 1.00995
    assert r.dsr == pytest.approx(0.6632, abs=1e-4)
    assert (r.n_obs, r.n_trials, r.var_trials_sr, r.skew, r.kurtosis) == (101, 10, 0.01, 0.0, 3.0)
    assert r.to_dict()["dsr"] == r.dsr


def test_dsr_reproduces_bailey_lopez_de_prado_example():
    # The paper's numerical example: annual SR 2.5, T = 1250 daily observations, N = 100 trials, annual
    # variance of the trials' SR 0.5, skewness -3, kurtosis 10; reported SR0 = 0.1132 (daily), DSR = 0.9004.
    sr = deannualise_sharpe(2.5, 250)
    var = deannualise_sharpe_variance(0.5, 250)
    r = deflated_sharpe_ratio(sr, n_obs=1250, n_trials=100, var_trials_sr=var, skew=-3.0, kurtosis=10.0)
    assert round(r.sr0, 4) == 0.1132
    assert round(r.dsr, 4) == 0.9004


def test_dsr_is_one_half_at_the_expected_maximum_and_single_trial_is_psr():
    sr0 = expected_max_sharpe(50, 0.004)
    r = deflated_sharpe_ratio(sr0, n_obs=500, n_trials=50, var_trials_sr=0.004, skew=-0.5, kurtosis=5.0)
    assert r.z == 0.0 and r.dsr == 0.5
    one = deflated_sharpe_ratio(0.08, n_obs=300, n_trials=1, var_trials_sr=0.004)
    assert one.sr0 == 0.0
    assert one.dsr == probabilistic_sharpe_ratio(0.08, 0.0, 300)
    # more trials, or more dispersed trials, deflate more
    dsrs = [deflated_sharpe_ratio(0.1, 500, n, 0.004).dsr for n in (2, 10, 100, 10_000)]
    assert all(a > b for a, b in itertools.pairwise(dsrs))
    assert deflated_sharpe_ratio(0.1, 500, 100, 0.001).dsr > deflated_sharpe_ratio(0.1, 500, 100, 0.004).dsr


def test_dsr_from_returns_composes_the_pieces():
    rng = np.random.default_rng(7)
    returns = rng.normal(0.001, 0.01, 300)
    trials = np.array([0.01, 0.05, -0.02, np.nan, 0.08])
    r = deflated_sharpe_ratio_from_returns(returns, trials)
    skew, kurt = sample_moments(returns)
    var = float(np.var([0.01, 0.05, -0.02, 0.08], ddof=1))
    expect = deflated_sharpe_ratio(per_period_sharpe(returns), 300, 5, var, skew, kurt)
    assert r == expect
    _d122(deflated_sharpe_ratio_from_returns, np.zeros(10), trials)
    _d122(deflated_sharpe_ratio_from_returns, returns, [])


@pytest.mark.parametrize("kwargs, path", [
    ({"n_obs": 1}, "n_obs"),
    ({"n_trials": 0}, "n_trials"),
    ({"n_trials": 2.5}, "n_trials"),
    ({"var_trials_sr": -0.1}, "var_trials_sr"),
    ({"kurtosis": 0.0}, "kurtosis"),                       # excess kurtosis passed by mistake
    ({"sr": float("nan")}, "sr"),
    ({"sr": 1.0, "skew": 2.0, "kurtosis": 1.0}, "sr"),     # 1 - 2 + 0 <= 0: an annualised SR, say
])
def test_dsr_bad_input(kwargs, path):
    args = {"sr": 0.1, "n_obs": 100, "n_trials": 10, "var_trials_sr": 0.01} | kwargs
    assert _d122(deflated_sharpe_ratio, **args).path == path


# --- PBO --------------------------------------------------------------------------------------------------


def _column_sum(a: np.ndarray) -> np.ndarray:
    return a.sum(axis=0)


def test_pbo_s2_by_hand_with_ties():
    m = np.array([[1, 2, 0],
                  [1, 0, 1],
                  [2, 1, 0],
                  [0, 0, 1]], dtype=float)
    # blocks B0 = rows 0-1 (sums 2, 2, 1) and B1 = rows 2-3 (sums 2, 1, 1); combinations (B0,) and (B1,)
    # (B0,): IS [2, 2, 1] ties 0 and 1 -> column 0; OOS [2, 1, 1] -> 2 is best, rank 3 of 3, w = 3/4
    # (B1,): IS [2, 1, 1] -> column 0; OOS [2, 2, 1] -> tie with column 1: rank 1 + (2 + 1)/2 = 2.5, w = 2.5/4
    r = pbo_cscv(m, n_splits=2, metric=_column_sum)
    assert r.n_combinations == 2 and r.block_rows == 2 and r.rows_dropped == 0 and r.n_configs == 3
    assert r.chosen.tolist() == [0, 0]
    assert r.oos_relative_rank.tolist() == [0.75, 0.625]
    assert r.lambdas == pytest.approx([math.log(3), math.log(5 / 3)], abs=1e-15)
    assert r.pbo == 0.0 and r.prob_oos_loss == 0.0
    assert math.isnan(r.slope) and math.isnan(r.intercept)   # one IS value: no line


def test_pbo_s4_by_hand():
    m = np.array([[3, 0, 1],
                  [0, 2, 1],
                  [1, 1, 3],
                  [0, 1, 6]], dtype=float)           # one row per block, totals [4, 4, 11]
    r = pbo_cscv(m, n_splits=4, metric=_column_sum)
    # combination: IS sums -> chosen; OOS sums (total - IS) -> rank of chosen, w = rank / 4
    expected = {
        (0, 1): ([3, 2, 2], 0, [1, 2, 9], 1.0),
        (0, 2): ([4, 1, 4], 0, [0, 3, 7], 1.0),      # tie in IS: lowest column
        (0, 3): ([3, 1, 7], 2, [1, 3, 4], 3.0),
        (1, 2): ([1, 3, 4], 2, [3, 1, 7], 3.0),
        (1, 3): ([0, 3, 7], 2, [4, 1, 4], 2.5),      # tie in OOS: average rank of 2 and 3
        (2, 3): ([1, 2, 9], 2, [3, 2, 2], 1.5),      # tie in OOS: average rank of 1 and 2
    }
    assert list(expected) == list(itertools.combinations(range(4), 2))
    assert r.n_combinations == 6
    assert r.chosen.tolist() == [v[1] for v in expected.values()]
    assert r.is_metric.tolist() == [v[0][v[1]] for v in expected.values()]
    assert r.oos_metric.tolist() == [v[2][v[1]] for v in expected.values()]
    ranks = [v[3] for v in expected.values()]
    assert r.lambdas == pytest.approx([math.log(k / (4 - k)) for k in ranks], abs=1e-15)
    assert r.pbo == 0.5                               # lambdas <= 0: ln(1/3), ln(1/3), ln(0.6)
    # OOS on IS: x = [3, 4, 7, 4, 7, 9], y = [1, 0, 4, 7, 4, 2]; Sxx = 220 - 6 (34/6)^2 = 82/3, Sxy = 105 - 102
    assert r.slope == pytest.approx(9 / 82, abs=1e-12)
    assert r.intercept == pytest.approx(3 - 9 / 82 * 34 / 6, abs=1e-12)
    assert r.prob_oos_loss == 0.0
    assert r.to_dict() == {"pbo": 0.5, "n_combinations": 6, "n_splits": 4, "n_configs": 3, "block_rows": 1,
                           "rows_dropped": 0, "slope": r.slope, "intercept": r.intercept, "prob_oos_loss": 0.0}
    assert r.to_dict(arrays=True)["chosen"] == [0, 0, 2, 2, 2, 2]


def test_pbo_s2_by_hand_with_the_default_sharpe_metric():
    m = np.array([[1, 2], [3, 4], [0, 3], [2, 1]], dtype=float)
    # B0: col 0 [1, 3] mean 2 sd sqrt(2) -> 2/sqrt(2); col 1 [2, 4] -> 3/sqrt(2)
    # B1: col 0 [0, 2] -> 1/sqrt(2); col 1 [3, 1] -> 2/sqrt(2). Column 1 wins IS and OOS both times: w = 2/3
    r = pbo_cscv(m, n_splits=2)
    s2 = math.sqrt(2)
    assert r.chosen.tolist() == [1, 1]
    assert r.is_metric == pytest.approx([3 / s2, 2 / s2], abs=1e-12)
    assert r.oos_metric == pytest.approx([2 / s2, 3 / s2], abs=1e-12)
    assert r.lambdas == pytest.approx([math.log(2)] * 2, abs=1e-12)
    assert r.pbo == 0.0
    assert r.slope == pytest.approx(-1.0, abs=1e-12)           # two points (3/s2, 2/s2) and (2/s2, 3/s2)
    assert r.intercept == pytest.approx(5 / s2, abs=1e-12)


def test_pbo_noise_is_near_one_half():
    pbos = [pbo_cscv(np.random.default_rng(seed).normal(0.0, 0.01, (480, 50)), n_splits=8).pbo
            for seed in range(40)]
    assert all(0.0 <= p <= 1.0 for p in pbos)
    assert 0.4 <= float(np.mean(pbos)) <= 0.6
    assert min(pbos) < 0.35 and max(pbos) > 0.65            # single noisy sweeps vary widely


def test_pbo_truly_better_configuration_is_zero():
    rng = np.random.default_rng(1)
    m = rng.normal(0.0, 0.01, (160, 10))
    m[:, 3] += 0.05                                          # better in every block by 5 standard deviations
    r = pbo_cscv(m, n_splits=16)
    assert r.n_combinations == 12_870
    assert r.pbo == 0.0
    assert set(r.chosen.tolist()) == {3}
    assert r.lambdas == pytest.approx(np.full(12_870, math.log(10)), abs=1e-12)   # rank 10 of 10: w = 10/11
    assert r.prob_oos_loss == 0.0


def test_pbo_in_sample_winner_always_loses_out_of_sample():
    # x sums to 0 over the whole history, so its OOS mean is minus its IS mean; the other configuration is -x.
    # Whichever has the positive IS Sharpe ratio wins in-sample and has the negative OOS one: always last.
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 0.01, 80)
    x -= x.mean()
    r = pbo_cscv(np.column_stack([x, -x]), n_splits=8)
    assert r.pbo == 1.0
    assert r.lambdas == pytest.approx(np.full(70, math.log(0.5)), abs=1e-12)      # rank 1 of 2: w = 1/3
    assert r.prob_oos_loss == 1.0
    assert r.slope < 0


def test_pbo_fast_sharpe_path_equals_the_generic_path():
    rng = np.random.default_rng(11)
    m = rng.normal(0.0005, 0.01, (97, 7))
    fast = pbo_cscv(m, n_splits=8)
    slow = pbo_cscv(m, n_splits=8, metric=lambda a: sharpe_metric(a))
    assert fast.rows_dropped == 1 and fast.block_rows == 12
    assert fast.chosen.tolist() == slow.chosen.tolist()
    np.testing.assert_allclose(fast.is_metric, slow.is_metric, rtol=1e-10)
    np.testing.assert_allclose(fast.oos_metric, slow.oos_metric, rtol=1e-10)
    np.testing.assert_array_equal(fast.lambdas, slow.lambdas)
    # many configurations: the fast path works in several chunks of combinations
    wide = rng.normal(0.0, 0.01, (64, 400))
    a, b = pbo_cscv(wide, n_splits=16), pbo_cscv(wide, n_splits=16, metric=lambda a: sharpe_metric(a))
    assert a.chosen.tolist() == b.chosen.tolist()
    np.testing.assert_array_equal(a.lambdas, b.lambdas)


def test_pbo_drops_the_oldest_rows_and_ranks_nan_last():
    m = np.array([[100, 0], [1, 2], [1, 2], [3, 1], [3, 1]], dtype=float)
    r = pbo_cscv(m, n_splits=2, metric=_column_sum)          # row 0 is dropped: blocks [1,2]x2 and [3,1]x2
    assert r.rows_dropped == 1 and r.block_rows == 2
    assert r.is_metric.tolist() == [4.0, 6.0]

    def nan_first(a: np.ndarray) -> np.ndarray:
        out = a.sum(axis=0)
        out[0] = np.nan
        return out

    r = pbo_cscv(np.array([[1, 0, 2], [1, 5, 2]], dtype=float), n_splits=2, metric=nan_first)
    # IS row 0 [nan, 0, 2] -> column 2, OOS row 1 [nan, 5, 2]; IS row 1 [nan, 5, 2] -> column 1, OOS [nan, 0, 2]
    assert r.chosen.tolist() == [2, 1]                       # NaN is never the winner
    assert r.oos_relative_rank.tolist() == [0.5, 0.5]        # rank 2 of 3 both times: above the NaN only
    assert r.lambdas.tolist() == [0.0, 0.0] and r.pbo == 1.0  # exactly at the OOS median counts as overfit


def test_pbo_zero_variance_configurations():
    # a configuration that never trades (all 0) scores 0; a riskless gain +inf
    m = np.zeros((8, 3))
    m[:, 1] = np.tile([0.01, -0.01, 0.02, -0.005], 2)
    m[:, 2] = 0.001
    np.testing.assert_array_equal(sharpe_metric(np.zeros((4, 2)))[0], 0.0)
    r = pbo_cscv(m, n_splits=2)
    assert set(r.chosen.tolist()) == {2}


@pytest.mark.parametrize("perf, kwargs, path", [
    (np.zeros((20, 3)), {"n_splits": 3}, "n_splits"),
    (np.zeros((20, 3)), {"n_splits": 0}, "n_splits"),
    (np.zeros((20, 3)), {"n_splits": 4.0}, "n_splits"),
    (np.zeros((5, 3)), {"n_splits": 8}, "n_splits"),                 # T < S
    (np.zeros((3, 3)), {"n_splits": 2}, "n_splits"),                 # 1 row per half: no Sharpe ratio
    (np.zeros((40, 3)), {"n_splits": 18}, "n_splits"),               # 48,620 combinations > limit
    (np.zeros((20, 1)), {}, "performance"),                          # one configuration
    (np.zeros(20), {}, "performance"),                               # 1-D
    (np.full((20, 2), np.nan), {}, "performance"),
    ([["a", "b"], ["c", "d"]], {}, "performance"),
    (np.zeros((20, 3)), {"n_splits": 4, "metric": lambda a: a.sum()}, "metric"),
])
def test_pbo_bad_input(perf, kwargs, path):
    assert _d122(pbo_cscv, perf, **kwargs).path == path


def test_pbo_combination_limit_can_be_raised():
    assert _d122(pbo_cscv, np.zeros((20, 3)), n_splits=8, max_combinations=69).hint == \
        "use n_splits <= 6 (20 combinations) or raise max_combinations"
    assert _d122(pbo_cscv, np.zeros((40, 3)), n_splits=18).hint == \
        "use n_splits <= 16 (12,870 combinations) or raise max_combinations"
    assert pbo_cscv(np.random.default_rng(0).normal(size=(20, 3)), n_splits=8, max_combinations=70) \
        .n_combinations == 70
