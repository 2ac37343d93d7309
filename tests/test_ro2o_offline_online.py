"""Paper 45 (ro2o-offline-online): the linear MDP, exact DP, the count-based learners and the bound against
independent computations (brute force, Monte Carlo, per-sample regressions); a smoke run; bad parameters;
a negative control for every claim."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

import boundrun
from boundrun.config import ConfigError
from boundrun.experiments.ro2o_offline_online import CLAIMS
from boundrun.experiments.ro2o_offline_online import algorithms as alg
from boundrun.experiments.ro2o_offline_online import bounds as bd

CLAIM = {c.name: c for c in CLAIMS}
NAME = "ro2o-offline-online"


def tiny(seed: int = 0, B: int = 2, S: int = 5, A: int = 3, H: int = 3, d: int = 4) -> alg.LinearMDP:
    return alg.make_mdp(np.random.default_rng(seed), B, S, A, H, d)


# -- the MDP and exact dynamic programming --------------------------------------------------------------

def test_generated_mdp_is_a_valid_linear_mdp_with_rewards_in_unit_interval():
    m = tiny(B=3, S=8)
    np.testing.assert_allclose(m.P.sum(-1), 1.0, atol=1e-12)
    assert (m.P >= 0).all() and (m.r >= 0).all() and (m.r <= 1).all()
    b, h, s, a = 1, 2, 4, 1
    np.testing.assert_allclose(m.P[b, h, s, a], sum(m.phi[b, s, a, i] * m.mu[b, h, i] for i in range(4)))
    assert m.r[b, h, s, a] == pytest.approx(m.phi[b, s, a] @ m.theta[b, h])


def test_neighbours_are_the_three_closest_mean_features_by_brute_force():
    m = tiny(S=9)
    for b in range(2):
        bar = m.phi[b].mean(axis=1)
        for s in range(9):
            dist = sorted((np.linalg.norm(bar[s] - bar[t]), t) for t in range(9) if t != s)
            assert set(m.neighbours[b, s]) == {t for _, t in dist[:3]}


def test_optimal_value_equals_the_best_deterministic_markov_policy_by_brute_force():
    m = tiny(S=3, A=2, H=2, B=2)
    Q = alg.optimal_q(m)
    v_star = Q[:, 0, 0].max(-1)
    best = np.full(2, -np.inf)
    for flat in itertools.product(range(2), repeat=2 * 3):
        pi = np.broadcast_to(np.array(flat).reshape(1, 2, 3), (2, 2, 3))
        best = np.maximum(best, alg.policy_values(m, pi)[:, 0, 0])
    np.testing.assert_allclose(v_star, best, atol=1e-12)
    np.testing.assert_allclose(alg.policy_values(m, alg.greedy(Q))[:, 0, 0], v_star, atol=1e-12)


def test_policy_value_and_occupancy_match_monte_carlo_rollouts():
    m = tiny(seed=3, B=1, S=6, A=3, H=4)
    pi = np.random.default_rng(1).integers(0, 3, size=(1, 4, 6))
    onehot = np.eye(3)[pi]
    n = 40_000
    N = alg.rollout(m, onehot, n, np.random.default_rng(2))
    ret = (N.sum(-1) * m.r).sum() / n
    assert ret == pytest.approx(alg.policy_values(m, pi)[0, 0, 0], abs=4 * 5 / math.sqrt(n))
    emp = N.sum(axis=(-1, -2))[0] / n  # (H, S)
    np.testing.assert_allclose(emp, alg.occupancy(m, pi)[0], atol=0.015)
    assert (N.sum(-1)[0][np.eye(3)[pi[0]] == 0] == 0).all()  # only the policy's actions are played


def test_mediocre_policy_plays_the_second_best_action_and_behaviour_mixes_uniform():
    Q = np.random.default_rng(0).random((2, 3, 5, 4))
    pi = alg.mediocre_policy(Q)
    for b, h, s in itertools.product(range(2), range(3), range(5)):
        assert pi[b, h, s] == sorted(range(4), key=lambda a: -Q[b, h, s, a])[1]
    beh = alg.behaviour_policy(pi, 4, 0.2)
    np.testing.assert_allclose(beh.sum(-1), 1.0)
    assert beh[0, 0, 0, pi[0, 0, 0]] == pytest.approx(0.8 + 0.05)


def test_softmax_policy_is_a_distribution_and_tends_to_greedy():
    Q = np.random.default_rng(0).random((2, 3, 5, 4)) * 3
    p = alg.softmax_policy(Q, 0.25)
    np.testing.assert_allclose(p.sum(-1), 1.0)
    np.testing.assert_allclose(p[0, 1, 2], np.exp(Q[0, 1, 2] / 0.25) / np.exp(Q[0, 1, 2] / 0.25).sum())
    assert (alg.softmax_policy(Q, 1e-6).argmax(-1) == alg.greedy(Q)).all()


# -- learners against per-sample weighted ridge regressions ---------------------------------------------

def explicit_lsvi(m: alg.LinearMDP, N: np.ndarray, beta: float, kappa: float, lam: float, eta: float,
                  alpha: float, b: int = 0):
    """The learner written from the tuples: every transition (and every pseudo-sample) one weighted row
    of a ridge regression solved by least squares."""
    _, H, S, A, d = m.shape
    phi = m.phi[b]
    V = np.zeros(S)
    Q = np.zeros((H, S, A))
    Lams, Ws = [], []
    for h in reversed(range(H)):
        X, y, wt = [], [], []
        tuples = [(s, a, t, N[b, h, s, a, t]) for s in range(S) for a in range(A) for t in range(S)
                  if N[b, h, s, a, t] > 0]
        for s, a, t, c in tuples:
            X.append(phi[s, a]); y.append(m.r[b, h, s, a] + V[t]); wt.append(c)  # noqa: E702
        X0 = np.array(X)
        lam_real = lam * np.eye(d) + (X0 * np.array(wt)[:, None]).T @ X0
        inv_real = np.linalg.inv(lam_real)
        for s, a, t, c in tuples if eta > 0 else []:
            for s2 in m.neighbours[b, s]:
                g = beta * math.sqrt(phi[s2, a] @ inv_real @ phi[s2, a])
                X.append(phi[s2, a]); y.append(m.r[b, h, s, a] + V[t] - alpha * g); wt.append(eta * c)  # noqa: E702
        X, y, wt = np.array(X), np.array(y), np.sqrt(np.array(wt))
        design = np.vstack([X * wt[:, None], math.sqrt(lam) * np.eye(d)])
        w = np.linalg.lstsq(design, np.concatenate([y * wt, np.zeros(d)]), rcond=None)[0]
        Lam = design.T @ design
        inv = np.linalg.inv(Lam)
        for s, a in itertools.product(range(S), range(A)):
            Q[h, s, a] = min(max(phi[s, a] @ w - kappa * beta * math.sqrt(phi[s, a] @ inv @ phi[s, a]), 0.0), H - h)
        V = Q[h].max(-1)
        Lams.append(Lam); Ws.append(w)  # noqa: E702
    return Q, np.array(Lams[::-1]), np.array(Ws[::-1])


@pytest.mark.parametrize(("kappa", "eta", "alpha"), [(1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.1, 0.1, 0.1),
                                                     (0.5, 0.3, 2.0)])
def test_count_based_lsvi_equals_the_per_sample_ridge_regression(kappa, eta, alpha):
    m = tiny(seed=5, B=2, S=6, A=3, H=3, d=4)
    beh = alg.behaviour_policy(alg.mediocre_policy(alg.optimal_q(m)), 3, 0.3)
    N = alg.rollout(m, beh, 25, np.random.default_rng(6))
    beta = 0.7
    fit = alg.lsvi(m, N, beta, kappa, 1.0, eta, alpha, alg.neighbour_matrix(m.neighbours))
    for b in range(2):
        Q, Lam, w = explicit_lsvi(m, N, beta, kappa, 1.0, eta, alpha, b)
        np.testing.assert_allclose(fit.Lam[b], Lam, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(fit.w[b], w, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(fit.Q[b], Q, atol=1e-8)


def test_smoothness_pseudo_samples_only_add_psd_terms_so_the_offline_bound_shrinks():
    m = tiny(seed=8, B=4, S=10, A=4, H=3, d=5)
    Qs = alg.optimal_q(m)
    N = alg.rollout(m, alg.behaviour_policy(alg.mediocre_policy(Qs), 4, 0.2), 30, np.random.default_rng(9))
    Nb = alg.neighbour_matrix(m.neighbours)
    pevi = alg.lsvi(m, N, 1.0, 1.0, 1.0)
    ro2o = alg.lsvi(m, N, 1.0, 0.1, 1.0, 0.1, 0.1, Nb)
    assert (np.linalg.eigvalsh(ro2o.Lam - pevi.Lam) >= -1e-9).all()
    pi, occ = alg.greedy(Qs), alg.occupancy(m, alg.greedy(Qs))
    assert (bd.pevi_bound(1.0, m.phi, ro2o.Lam, pi, occ) <= bd.pevi_bound(1.0, m.phi, pevi.Lam, pi, occ)).all()


# -- the bound --------------------------------------------------------------------------------------------

def test_beta_closed_form():
    assert bd.beta(1.0, 8, 5, 200, 0.05) == pytest.approx(8 * 5 * math.sqrt(math.log(2 * 8 * 5 * 200 / 0.05)))
    assert bd.beta(0.05, 8, 5, 200, 0.05) == pytest.approx(0.05 * bd.beta(1.0, 8, 5, 200, 0.05))


def test_pevi_bound_equals_a_loop_over_steps_states_and_monte_carlo_occupancy():
    m = tiny(seed=11, B=1, S=7, A=3, H=3, d=4)
    rng = np.random.default_rng(12)
    Lam = np.empty((1, 3, 4, 4))
    for h in range(3):
        G = rng.normal(size=(4, 4))
        Lam[0, h] = np.eye(4) + G @ G.T
    pi = alg.greedy(alg.optimal_q(m))
    occ = alg.occupancy(m, pi)
    loop = 0.0
    for h, s in itertools.product(range(3), range(7)):
        f = m.phi[0, s, pi[0, h, s]]
        loop += occ[0, h, s] * math.sqrt(f @ np.linalg.inv(Lam[0, h]) @ f)
    assert bd.pevi_bound(2.5, m.phi, Lam, pi, occ)[0] == pytest.approx(2 * 2.5 * loop, rel=1e-12)
    # sampled: the norms along 20 000 trajectories of pi* average to the same expectation
    N = alg.rollout(m, np.eye(3)[pi], 20_000, np.random.default_rng(13))
    mc = sum(N[0, h, s, a].sum() * math.sqrt(m.phi[0, s, a] @ np.linalg.inv(Lam[0, h]) @ m.phi[0, s, a])
             for h, s, a in itertools.product(range(3), range(7), range(3))) / 20_000
    assert bd.expected_norms(m.phi, Lam, pi, occ).sum() == pytest.approx(mc, rel=0.02)


def test_improvement_target_is_the_larger_of_relative_and_absolute_thresholds():
    assert bd.improvement_target(1.0, 5) == pytest.approx(0.85)
    assert bd.improvement_target(0.05, 5) == pytest.approx(0.1)


# -- runs, config, verdicts -------------------------------------------------------------------------------

SMALL = dict(S=10, H=3, d=4, N_off=30, K_on=20, seeds=4)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return boundrun.run(NAME, out=str(tmp_path_factory.mktemp("good")), **SMALL)


def status(res, name):
    return res.claims.set_index("claim").loc[name, "status"]


def evaluate(name, results, bounds, **change):
    claim = dataclasses.replace(CLAIM[name], **change) if change else CLAIM[name]
    return claim.evaluate(results, bounds, "k").status


def test_smoke_profile_writes_a_complete_folder_and_leaves_online_claims_inconclusive(tmp_path):
    res = boundrun.run(NAME, profile="smoke", out=str(tmp_path))
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (res.path / f).exists()
    st = res.claims.set_index("claim")["status"]
    for name in ("online_tighter", "no_drop", "improvement", "bound_validity"):
        assert st[name] == "inconclusive"
    assert st["offline_not_larger"] == "pass" and st["offline_tighter"] == "pass"
    assert any("every evaluation" in n for n in res.notes)
    r = res.results
    assert set(r[r.metric == "subopt"]["k"]) == {0, 10, 20}
    # at k = 0 every PEVI-initialised learner evaluates the same offline pevi policy
    s0 = r[(r.metric == "subopt") & (r.k == 0)].pivot(index="seed", columns="method", values="value")
    np.testing.assert_allclose(s0["pevi_online"], s0["optimistic_switch"])


@pytest.mark.parametrize("kw", [dict(K_on=25, eval_every=10), dict(A=1), dict(S=3), dict(xi=1.5),
                                dict(eta_smooth=-0.1), dict(methods=["sac"]), dict(c_bound=0.0)])
def test_bad_parameters_are_config_errors(tmp_path, kw):
    with pytest.raises(ConfigError):
        boundrun.run(NAME, profile="smoke", out=str(tmp_path), **kw)


def test_bound_validity_fails_when_the_bound_constant_is_far_too_small(good, tmp_path):
    assert status(good, "bound_validity") == "inconclusive"  # c = 1: the bound exceeds H everywhere
    ok = boundrun.run(NAME, out=str(tmp_path), c_bound=0.02, **SMALL)  # below H, still above SubOpt
    assert status(ok, "bound_validity") == "pass"
    bad = boundrun.run(NAME, out=str(tmp_path), c_bound=1e-3, **SMALL)
    assert status(bad, "bound_validity") == "fail"
    assert evaluate("bound_validity_ro2o", bad.results, bad.bounds) in ("fail", "inconclusive")
    r = ok.results.copy()
    r.loc[r.metric == "subopt_over_bound", "value"] += 1.0  # every seed now has SubOpt > bound
    assert evaluate("bound_validity_ro2o", r, ok.bounds) == "fail"


def test_offline_bound_claims_fail_without_smoothness_pseudo_samples(good, tmp_path):
    assert status(good, "offline_tighter") == "pass" and status(good, "offline_not_larger") == "pass"
    bad = boundrun.run(NAME, out=str(tmp_path), eta_smooth=0.0, **SMALL)
    assert status(bad, "offline_tighter") == "fail"
    r = good.results.copy()
    r.loc[r.metric == "offline_bound_excess", "value"] += 0.01
    assert evaluate("offline_not_larger", r, good.bounds) == "fail"


def test_online_tighter_fails_on_inflated_ratios(good):
    assert status(good, "online_tighter") == "pass"
    r = good.results.copy()
    r.loc[r.metric == "bound_ratio_online", "value"] *= 1.5
    assert evaluate("online_tighter", r, good.bounds) == "fail"


def test_drop_claims_fail_on_shifted_first_online_evaluation(good):
    assert status(good, "no_drop") == "pass"
    r = good.results.copy()
    r.loc[r.metric == "drop_over_H", "value"] += 0.1
    assert evaluate("no_drop", r, good.bounds) == "fail"
    r.loc[r.metric == "drop_over_H", "value"] -= 0.3
    assert evaluate("optimistic_drop", r, good.bounds) == "fail"


def test_improvement_fails_when_online_subopt_ends_above_the_offline_one(good):
    assert status(good, "improvement") in ("pass", "inconclusive")
    r = good.results.copy()
    off = r[(r.metric == "subopt") & (r.k == 0) & (r.method == "ro2o_linear")].set_index("seed")["value"]
    fin = r.metric == "final_subopt"
    r.loc[fin, "value"] = r.loc[fin, "seed"].map(off).to_numpy() + 0.05 * SMALL["H"]
    assert evaluate("improvement", r, good.bounds) == "fail"


def test_smoothing_ablation_claim_follows_the_final_subopt_ordering(good):
    r = good.results.copy()
    fin = r.metric == "final_subopt"
    ref = r[fin & (r.method == "pevi_alpha")].set_index("seed")["value"]
    ro2o = fin & (r.method == "ro2o_linear")
    r.loc[ro2o, "value"] = 2.0 * r.loc[ro2o, "seed"].map(ref).to_numpy() + 0.05
    assert evaluate("smoothing_beats_alpha_only", r, good.bounds, decide_in=None) == "fail"
    r.loc[ro2o, "value"] = 0.5 * r.loc[ro2o, "seed"].map(ref).to_numpy()
    assert evaluate("smoothing_beats_alpha_only", r, good.bounds, decide_in=None) == "pass"


def test_clipped_fraction_counts_entries_on_either_clip_boundary():
    H = 3
    Q = np.ones((1, H, 2, 2))
    Q[0, 0, 0, 0] = 0.0  # at the floor
    Q[0, 1, 1, 1] = 2.0  # at the cap H - h + 1 = 2 of the second step
    Q[0, 2, 0, 1] = 1.0  # at the cap 1 of the last step: the whole last step is capped
    assert alg.clipped_fraction(Q)[0] == pytest.approx((1 + 1 + 4) / 12)
