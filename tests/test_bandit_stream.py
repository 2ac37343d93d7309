"""Paper 02 (bandit-stream): the fast simulator against a per-pull oracle, accounting, and a negative
control for every claim."""

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

import boundrun
from boundrun.config import ConfigError
from boundrun.experiments.bandit_stream import CLAIMS, bounds, environments, reference
from boundrun.experiments.bandit_stream import algorithms as A

CLAIM = {c.name: c for c in CLAIMS}


def test_eps_and_pull_counts_follow_the_spec():
    K, T = 100, 10**5
    eps = A.eps_of(K, T)
    assert eps == pytest.approx(0.1)
    assert A.ue_pulls(K, T) == math.ceil(1e3 ** (2 / 3) * math.log(1e5) ** (1 / 3))
    assert A.naive_pulls(K, eps) == math.ceil(math.log(100) / eps**2)
    assert A.log_star_levels(100) == 4
    spec = A.tower_logstar_spec(100, eps)
    b0 = math.ceil(1 / eps**2)
    assert spec.b[0] == b0 and spec.b[1] == math.ceil(4 / eps**2) and spec.b[2] == math.ceil(16 / eps**2)
    assert spec.c[0] == math.ceil(4 / eps**2) and spec.c[1] == math.ceil(2**4 * spec.b[1] / 2**2)
    assert spec.c[-1] == math.inf
    assert A.tower_log_spec(100, eps).L == 4 and A.tower_loglog_spec(100, eps).L == 2


def test_bounds_formulas():
    assert bounds.opt_rate(8, 1000) == pytest.approx(2 * 100)
    assert bounds.ue_upper(8, 1000) == pytest.approx(3 * 200 * math.log(1000) ** (1 / 3) + 10)
    T = np.array([1e4, 1e5, 1e6, 1e7])
    R = 2.5 * bounds.opt_rate(10, T)
    assert bounds.fit_constant(10, T, R) == pytest.approx(2.5)


def test_clear_cut_instances_have_one_082_arm_and_the_rest_in_0_08():
    mu = environments.clear_cut(np.random.default_rng(0), 50, 30)
    assert ((mu == 0.82).sum(axis=1) == 1).all()
    rest = mu[mu != 0.82]
    assert rest.min() >= 0 and rest.max() <= 0.8 and abs(rest.mean() - 0.5) < 0.01
    assert len(set(np.argmax(mu, axis=1))) > 10  # the best arm's stream position is random


@pytest.mark.parametrize("setting", ["clear_cut", "mix_in"])
@pytest.mark.parametrize("alg", A.ALGORITHMS)
def test_fast_simulator_matches_the_per_pull_oracle_in_distribution(alg, setting):
    K, T, S = 6, 3000, 300
    mu = environments.SETTINGS[setting](np.random.default_rng(11), S, K)
    fast = A.run_algorithm(alg, mu, T, np.random.default_rng(12), A.Compat()).regret
    rng = np.random.default_rng(13)
    ref = np.array([reference.regret(alg, mu[s], T, rng) for s in range(S)])
    # the same instances, independent rewards: the regret distributions agree (two-sample KS), and the
    # per-instance differences have mean zero (paired t-test, which has power against small shifts)
    assert stats.ks_2samp(fast, ref, method="asymp").pvalue > 1e-3
    d = fast - ref
    assert d.std() == 0 or stats.ttest_1samp(d, 0.0).pvalue > 1e-3


def test_the_oracle_test_has_power_against_a_wrong_algorithm():
    K, T, S = 6, 3000, 300
    mu = environments.mix_in(np.random.default_rng(11), S, K)
    fast = A.run_algorithm("naive_eps", mu, T, np.random.default_rng(12), A.Compat()).regret
    rng = np.random.default_rng(13)
    ref = np.array([reference.regret("uniform", mu[s], T, rng) for s in range(S)])
    assert stats.ttest_1samp(fast - ref, 0.0).pvalue < 1e-3


@pytest.mark.parametrize("alg", ["uniform", "naive_eps"])
def test_exploration_regret_of_uniform_exploration_is_m_times_the_sum_of_gaps(alg):
    K, T = 20, 10**7
    mu = environments.mix_in(np.random.default_rng(3), 8, K)
    out = A.run_algorithm(alg, mu, T, np.random.default_rng(4), A.Compat())
    m = A.ue_pulls(K, T) if alg == "uniform" else A.naive_pulls(K, A.eps_of(K, T))
    gaps = mu.max(axis=1, keepdims=True) - mu
    np.testing.assert_allclose(out.explore_regret, m * gaps.sum(axis=1), rtol=1e-12)
    assert (out.n_explore == m * K).all()
    np.testing.assert_allclose(out.regret, out.explore_regret + (T - m * K) * out.delta_commit, rtol=1e-12)


@pytest.mark.parametrize(("K", "T"), [(20, 100), (20, 400), (50, 60), (30, 10**6), (100, 10**9)])
@pytest.mark.parametrize("alg", A.ALGORITHMS)
def test_total_pulls_equal_T_even_when_exploration_exhausts_the_budget(alg, K, T):
    mu = environments.mix_in(np.random.default_rng(5), 6, K)
    out = A.run_algorithm(alg, mu, T, np.random.default_rng(6), A.Compat())
    assert (out.pulls == T).all()
    assert (out.regret >= -1e-9).all() and (out.regret <= T + 1e-9).all()


def test_memory_accounting():
    K, T = 100, 10**8
    mu = environments.mix_in(np.random.default_rng(7), 4, K)
    eps = A.eps_of(K, T)
    for alg, expected in (("uniform", 2), ("naive_eps", 2), ("goa_hp", 2), ("goa_frac", 3)):
        assert (A.run_algorithm(alg, mu, T, np.random.default_rng(8), A.Compat()).max_arms_stored == expected).all()
    for alg, make in A.TOWERS.items():
        L = make(K, eps).L
        stored = A.run_algorithm(alg, mu, T, np.random.default_rng(8), A.Compat()).max_arms_stored
        # kings of the occupied levels plus the arm in hand: at least 2 once a level is full, at most L + 1
        assert (stored >= 2).all() and (stored <= L + 1).all() and A.memory_cap(alg, K, eps) == 2 * L + 1


def test_paper_code_switches_change_the_behaviour_and_are_labelled(tmp_path):
    res = boundrun.run("bandit-stream", profile="smoke", out=str(tmp_path), compat="paper_code", seeds=2)
    assert set(res.results["compat"]) == {"paper_code"}
    assert res.notes and "paper_code" in res.notes[0]
    fixed = boundrun.run("bandit-stream", profile="smoke", out=str(tmp_path), seeds=2)
    a = res.results[res.results.metric == "regret"]["value"].to_numpy()
    b = fixed.results[fixed.results.metric == "regret"]["value"].to_numpy()
    assert not np.allclose(a, b)


def test_grid_points_that_would_overflow_int64_are_left_out_with_a_note(tmp_path):
    res = boundrun.run("bandit-stream", profile="smoke", out=str(tmp_path), K=1000, beta=[2.5, 7.5], seeds=2,
                       algorithms=["uniform"])
    assert sorted(res.results["T"].unique()) == [round(1000**2.5)]
    assert any("left out" in n for n in res.notes)


def test_bad_parameters_are_config_errors(tmp_path):
    for kw, msg in ((dict(K=2), "K must be"), (dict(T=[50.0], K=100), "T must be >= K"),
                    (dict(settings=["nope"]), "settings"), (dict(compat="x"), "compat"),
                    (dict(algorithms=["ucb"]), "unknown algorithm"), (dict(T=[2.0**63]), r"2\^62"),
                    (dict(K=10**7, beta=[3.0]), "beta must list")):
        with pytest.raises(ConfigError, match=msg):
            boundrun.run("bandit-stream", profile="smoke", out=str(tmp_path), **kw)


# -- verdicts and their negative controls ---------------------------------------------------------------

SMALL = dict(K=100, beta=[2.5, 3.0, 3.5, 4.0, 4.5], seeds=12, settings=["clear_cut"], k_sweep=[], needle_c=[])


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return boundrun.run("bandit-stream", out=str(tmp_path_factory.mktemp("good")), **SMALL)


@pytest.fixture(scope="module")
def wrong_eps(tmp_path_factory):
    """A broken variant: eps = (K/T)^0.45 instead of (K/T)^(1/3): exploration K/eps^2 grows like T^0.9."""
    return boundrun.run("bandit-stream", out=str(tmp_path_factory.mktemp("bad")), eps_exponent=0.45, **SMALL)


def status(res, name):
    return res.claims.set_index("claim").loc[name, "status"]


def test_smoke_profile_runs_and_leaves_undecidable_claims_inconclusive(tmp_path):
    res = boundrun.run("bandit-stream", profile="smoke", out=str(tmp_path))
    st = res.claims.set_index("claim")["status"]
    for name in ("k_scaling", "k_scaling_naive", "lower_bound_shape"):  # sweeps 2 and 3 are not run in smoke
        assert st[name] == "inconclusive"
    assert st["memory"] == "pass" and st["total_pulls"] == "pass"


def test_rate_and_ratio_claims_pass_and_fail_with_a_wrong_eps(good, wrong_eps):
    for name in ("rate_in_T", "optimal_ratio_bounded"):
        assert status(good, name) == "pass", good.claims
        assert status(wrong_eps, name) == "fail", wrong_eps.claims


def test_bounded_ratio_check_tells_ue_log_growth_apart_on_the_wide_grid(tmp_path):
    # up to T = 1e15 (ln T_max / ln T_min)^(1/3) = 1.44 > 1.3: UE's (ln T)^(1/3) growth fails check 2
    res = boundrun.run("bandit-stream", out=str(tmp_path), **{**SMALL, "beta": [2.5, 4.0, 5.5, 7.5],
                                                              "algorithms": ["uniform", "tower_log"]})
    assert status(res, "optimal_ratio_bounded") == "pass"
    as_optimal = dataclasses.replace(CLAIM["optimal_ratio_bounded"], methods=("uniform",))
    assert as_optimal.evaluate(res.results, res.bounds, "T").status == "fail"


def test_ue_upper_bound_claim_fails_with_a_too_small_constant(good, tmp_path):
    assert status(good, "ue_below_upper") == "pass"
    bad = boundrun.run("bandit-stream", out=str(tmp_path), ue_const=0.1, **SMALL)
    assert status(bad, "ue_below_upper") == "fail"


def test_ue_log_growth_fails_when_the_predicted_log_power_is_altered(good):
    assert status(good, "ue_log_growth") == "pass"
    altered = dataclasses.replace(CLAIM["ue_log_growth"], expected=lambda xs: math.log(xs[-1]) / math.log(xs[0]))
    assert altered.evaluate(good.results, good.bounds, "T").status == "fail"


def test_headline_fails_when_the_contender_is_naive_eps(good):
    assert status(good, "headline_beats_ue") == "pass"
    swapped = dataclasses.replace(CLAIM["headline_beats_ue"], better=("naive_eps",))
    assert swapped.evaluate(good.results, good.bounds, "T").status == "fail"


def test_k_scaling_claims_separate_naive_from_optimal_algorithms(tmp_path):
    res = boundrun.run("bandit-stream", out=str(tmp_path), K=20, beta=[3.0], seeds=2, settings=["mix_in"],
                       k_sweep=[25, 50, 100, 200, 400], k_sweep_seeds=12, needle_c=[],
                       algorithms=["naive_eps", "tower_log", "goa_hp"])
    assert status(res, "k_scaling") == "pass" and status(res, "k_scaling_naive") == "pass"
    # negative control: naive_eps judged by the optimal algorithms' band fails (its extra ln K)
    as_optimal = dataclasses.replace(CLAIM["k_scaling"], methods=("naive_eps",))
    assert as_optimal.evaluate(res.results, res.bounds, "T").status == "fail"


def test_lower_bound_shape_passes_for_real_algorithms_and_fails_for_the_oracle(tmp_path):
    kw = dict(K=20, beta=[2.5, 3.0, 3.5], seeds=2, settings=["mix_in"], k_sweep=[], needle_c=[0.5, 1.0, 2.0],
              needle_seeds=12)
    res = boundrun.run("bandit-stream", out=str(tmp_path), algorithms=["tower_log", "goa_hp"], **kw)
    assert status(res, "lower_bound_shape") == "pass"
    oracle = boundrun.run("bandit-stream", out=str(tmp_path), algorithms=["oracle"], **kw)
    assert status(oracle, "lower_bound_shape") == "fail"


def test_memory_and_budget_claims_fail_on_a_violation(good):
    r = good.results.copy()
    r.loc[r["metric"] == "memory_slack", "value"] -= 4.0
    r.loc[r["metric"] == "pull_gap", "value"] += 1.0
    assert CLAIM["memory"].evaluate(r, good.bounds, "T").status == "fail"
    assert CLAIM["total_pulls"].evaluate(r, good.bounds, "T").status == "fail"
