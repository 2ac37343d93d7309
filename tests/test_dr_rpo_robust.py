"""Paper 47 (dr-rpo-robust): formula checks against independent computations, a smoke run, and a
negative control for every claim."""

from __future__ import annotations

import numpy as np
import pytest

import boundrun
from boundrun import registry
from boundrun.claims import evaluate_all
from boundrun.config import ConfigError
from boundrun.experiments.dr_rpo_robust import algorithms as alg
from boundrun.experiments.dr_rpo_robust import bounds

NAME = "dr-rpo-robust"


def smoke_env() -> alg.LinearRMDP:
    return alg.make_env(6, 3, 3, 3, 0.4, 0.7, 0.4, np.random.default_rng(0))


def default_env() -> alg.LinearRMDP:
    return alg.make_env(12, 4, 5, 4, 0.4, 0.6, 0.4, np.random.default_rng(0))


def claim(name: str):  # noqa: ANN201
    return next(c for c in registry.get(NAME).claims if c.name == name)


def verdict(name: str, results, bounds_df) -> str:  # noqa: ANN001
    return evaluate_all([claim(name)], results, bounds_df, "episode")[0].status


# --------------------------------------------------------------------------------------- formulas
def _tv_lp(V: np.ndarray, mu0: np.ndarray, rho: float) -> float:
    """min_mu mu.V s.t. mu in the simplex, 1/2 ||mu - mu0||_1 <= rho, as an LP in (mu, t >= |mu - mu0|)."""
    from scipy.optimize import linprog

    S = len(V)
    c = np.concatenate([V, np.zeros(S)])
    eye = np.eye(S)
    A_ub = np.block([[eye, -eye], [-eye, -eye], [np.zeros((1, S)), 0.5 * np.ones((1, S))]])
    b_ub = np.concatenate([mu0, -mu0, [rho]])
    A_eq = np.concatenate([np.ones(S), np.zeros(S)])[None]
    out = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1.0], bounds=[(0, None)] * (2 * S))
    assert out.status == 0
    return float(out.fun)


def _tv_mass_moving(V: np.ndarray, mu0: np.ndarray, rho: float) -> float:
    """Move rho of mu0's mass from the highest-V states onto argmin V."""
    mu = mu0.copy()
    left = rho
    for s in np.argsort(-V):
        take = min(left, mu[s])
        mu[s] -= take
        left -= take
    mu[np.argmin(V)] += rho - left
    return float(mu @ V)


def test_tv_inner_problem_equals_linear_program_and_mass_moving():
    rng = np.random.default_rng(1)
    for _ in range(100):
        S, d = int(rng.integers(2, 9)), int(rng.integers(1, 4))
        V = rng.uniform(0, 3, size=S) * (rng.random(S) < 0.8)
        mu0 = rng.dirichlet(np.ones(S) * rng.uniform(0.2, 2), size=d)
        rho = float(rng.uniform(0, 1))
        z = alg.robust_factor_values(V[None], mu0, rho)[0]
        for i in range(d):
            assert z[i] == pytest.approx(_tv_lp(V, mu0[i], rho), abs=1e-7)
            assert z[i] == pytest.approx(_tv_mass_moving(V, mu0[i], rho), abs=1e-10)


def test_ridge_alpha_estimate_is_exact_with_exact_moments_and_grid():
    """With Lambda = n G and sum phi f(s') = n G mu0 f (no ridge, no noise), nu_hat(alpha) is
    E_mu0[min(V, alpha)] exactly, and the grid max equals the exact dual when V lies on the grid."""
    rng = np.random.default_rng(2)
    d, S, H = 4, 7, 3
    alpha = np.linspace(0, H, 25)
    mu0 = rng.dirichlet(np.ones(S), size=d)
    Phi = rng.dirichlet(np.ones(d), size=30)
    G = Phi.T @ Phi
    inv = np.linalg.inv(500 * G)[None]
    C = (500 * G @ mu0)[None]
    V = rng.choice(alpha[:17], size=(1, S))
    V[0, 0] = 0.0
    for rho in (0.0, 0.1, 0.3, 0.7):
        z = alg.estimate_factor_values(inv, C, V, alpha, np.array([rho]))
        np.testing.assert_allclose(z, alg.robust_factor_values(V, mu0, rho), atol=1e-9)


def test_learner_estimate_converges_to_exact_robust_value_of_its_policy():
    """Policy evaluation from nominal data only: with many uniform-policy episodes, no bonus and a fine
    alpha grid, V_hat_1(s_1) of the uniform policy approaches its exact robust value."""
    env = smoke_env()
    rng = np.random.default_rng(3)
    for rho in (0.0, 0.3):
        ln = alg.Learner(env, 1, "policy", np.array([rho]), 0.0, eta=0.0, beta=0.0, n_alpha=601, ridge=1.0)
        for _ in range(4000):
            for h, (s, a, s2) in enumerate(alg.sample_episode(env, ln.logpi, rng)):
                ln.observe(h, s, a, s2)
        Q = ln.optimistic_q()
        v_hat = (np.exp(ln.logpi[0, 0, env.start]) * Q[0, 0, env.start]).sum()
        exact = alg.robust_policy_value(env, ln.logpi, rho, 0.0)[0]
        assert v_hat == pytest.approx(exact, abs=0.02)


def test_observe_accumulates_gram_matrix_and_next_state_sums():
    env = default_env()
    rng = np.random.default_rng(4)
    ln = alg.Learner(env, 3, "policy", np.full(3, 0.3), 0.1, 0.01, 1.0, 5, 1.0)
    seen = []
    for _ in range(20):
        for h, (s, a, s2) in enumerate(alg.sample_episode(env, ln.logpi, rng)):
            ln.observe(h, s, a, s2)
            seen += [(b, h, s[b], a[b], s2[b]) for b in range(3)]
    Lam = np.broadcast_to(np.eye(env.d), (3, env.H, env.d, env.d)).copy()
    C = np.zeros((3, env.H, env.d, env.S))
    for b, h, s, a, s2 in seen:
        f = env.phi[s, a]
        Lam[b, h] += np.outer(f, f)
        C[b, h, :, s2] += f
    np.testing.assert_allclose(ln.Lam, Lam)
    np.testing.assert_allclose(ln.C, C)


def test_bonus_width_is_the_lambda_inverse_norm():
    env = smoke_env()
    ln = alg.Learner(env, 1, "value", np.zeros(1), 0.0, 0.0, beta=1.0, n_alpha=5, ridge=2.0)
    Q = ln.optimistic_q()  # no data: Q_H = min(1, r + ||phi||_{(2I)^-1})
    expect = np.minimum(1.0, env.reward + np.linalg.norm(env.phi, axis=-1) / np.sqrt(2.0))
    expect[env.fail] = 0.0
    np.testing.assert_allclose(Q[0, -1], expect)


def test_mirror_descent_update_maximises_the_regularized_proximal_objective():
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    rng = np.random.default_rng(5)
    A = 4
    logref = np.full(A, -np.log(A))
    for eta, lam in ((0.5, 0.1), (2.0, 0.0), (0.3, 1.0)):
        logpi = log_softmax(rng.normal(size=A))
        Q = rng.uniform(0, 3, size=A)
        new = alg.mirror_descent_update(logpi, Q, eta, lam, logref)

        def neg(x, logpi=logpi, Q=Q, eta=eta, lam=lam):  # noqa: ANN001, ANN202
            lp = log_softmax(x)
            p = np.exp(lp)
            return -(p @ Q - lam * p @ (lp - logref) - p @ (lp - logpi) / eta)

        best = minimize(neg, np.zeros(A), method="BFGS", options={"gtol": 1e-10})
        np.testing.assert_allclose(np.exp(new), np.exp(log_softmax(best.x)), atol=1e-5)


def test_soft_optimal_reproduces_the_spec_planning_check():
    env = default_env()
    _, pi3 = alg.soft_optimal(env, 0.3, 0.1)
    _, pi1 = alg.soft_optimal(env, 0.1, 0.1)
    _, nom = alg.soft_optimal(env, 0.0, 0.0)
    assert np.exp(pi3[0, 0, 3]) == pytest.approx(0.16, abs=0.005)
    assert np.exp(pi1[0, 0, 3]) == pytest.approx(0.55, abs=0.005)
    for q, rob, nomv in ((0.0, 1.63, 1.80), (0.3, 0.99, 0.92), (0.5, 0.70, 0.53)):
        assert alg.policy_return(env, pi3[None], q)[0] == pytest.approx(rob, abs=0.006)
        assert alg.policy_return(env, nom[None], q)[0] == pytest.approx(nomv, abs=0.006)
    small = smoke_env()
    _, rob = alg.soft_optimal(small, 0.3, 0.1)
    _, nom = alg.soft_optimal(small, 0.0, 0.0)
    for q, r, nv in ((0.0, 1.26, 1.40), (0.5, 0.63, 0.53)):
        assert alg.policy_return(small, rob[None], q)[0] == pytest.approx(r, abs=0.006)
        assert alg.policy_return(small, nom[None], q)[0] == pytest.approx(nv, abs=0.006)


def test_nominal_greedy_return_matches_closed_form_survival_sum():
    """Risky-first policy in mu^q: 0 now, then theta_hi per step while surviving: theta_hi sum (1-q)^j."""
    env = default_env()
    _, nom = alg.soft_optimal(env, 0.0, 0.0)
    for q in (0.0, 0.2, 0.5, 1.0):
        expect = 0.6 * sum((1 - q) ** j for j in range(1, env.H))
        assert alg.policy_return(env, nom[None], q)[0] == pytest.approx(expect, abs=1e-12)


def test_optimal_value_dominates_every_policy_and_is_attained():
    env = smoke_env()
    rng = np.random.default_rng(6)
    from scipy.special import log_softmax

    for rho, lam in ((0.3, 0.1), (0.1, 0.0), (0.0, 0.5)):
        vstar, pistar = alg.soft_optimal(env, rho, lam)
        assert alg.robust_policy_value(env, pistar[None], rho, lam)[0] == pytest.approx(vstar, abs=1e-10)
        logpi = log_softmax(3 * rng.normal(size=(200, env.H, env.S, env.A)), axis=-1)
        assert (alg.robust_policy_value(env, logpi, rho, lam) <= vstar + 1e-12).all()


def test_robust_value_with_zero_radius_is_the_nominal_return():
    env = default_env()
    from scipy.special import log_softmax

    logpi = log_softmax(np.random.default_rng(7).normal(size=(5, env.H, env.S, env.A)), axis=-1)
    np.testing.assert_allclose(alg.robust_policy_value(env, logpi, 0.0, 0.0), alg.policy_return(env, logpi, 0.0))


def test_step_size_bonus_and_sqrt_fit_formulas():
    assert alg.step_size(4, 4, 3000) == pytest.approx(np.sqrt(2 * np.log(4) / (16 * 3000)))
    assert alg.bonus_scale(0.1, 5, 4, 3000, 0.05) == pytest.approx(0.1 * 20 * np.sqrt(np.log(40 * 3000 / 0.05)))
    k = np.arange(25, 3001, 25)
    assert bounds.sqrt_fit_constant(k, 3.0 * np.sqrt(k)) == pytest.approx(3.0)
    # only the first half enters the fit
    R = np.where(k <= 1500, 2.0 * np.sqrt(k), 100.0 * k)
    assert bounds.sqrt_fit_constant(k, R) == pytest.approx(2.0)
    np.testing.assert_allclose(bounds.linear_ref(k, 0.5), 0.5 * k)


# --------------------------------------------------------------------------------------- runs
def test_bad_parameters_raise_config_error():
    with pytest.raises(ConfigError, match="rhos"):
        boundrun.run(NAME, profile="smoke", rhos=[1.2])
    with pytest.raises(ConfigError, match="K"):
        boundrun.run(NAME, profile="smoke", K=1)
    with pytest.raises(ConfigError, match="algorithm"):
        boundrun.run(NAME, profile="smoke", algorithms=["ppo"])


def test_smoke_run_writes_a_complete_folder_and_stays_inconclusive(tmp_path):
    out = boundrun.run(NAME, profile="smoke", out=str(tmp_path))
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (out.path / f).exists()
    assert set(out.claims["status"]) == {"inconclusive"}  # one seed decides nothing
    assert {"sqrt_fit", "linear_ref", "planning_robust", "planning_nominal"} <= set(out.bounds["bound"])


@pytest.fixture(scope="module")
def mini(tmp_path_factory):  # noqa: ANN001, ANN201
    """Smoke environment, K = 300, 4 seeds, rho = 0.3, no bonus (so that dr_rpo converges within K)."""
    return boundrun.run(NAME, profile="smoke", out=str(tmp_path_factory.mktemp("mini")), K=300, seeds=4,
                        rhos=[0.3], record_every=10, c_beta=0.0)


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):  # noqa: ANN001, ANN201
    """The broken variant: eta = 0, so every policy learner stays at pi_ref (linear regret)."""
    return boundrun.run(NAME, profile="smoke", out=str(tmp_path_factory.mktemp("frozen")), K=300, seeds=4,
                        rhos=[0.3], record_every=10, c_beta=0.0, eta_scale=0.0, algorithms=["dr_rpo"],
                        lam_low=None)


def test_regret_claims_pass_when_learning_and_fail_when_frozen(mini, frozen):
    for name in ("sublinear_slope", "sqrt_extrapolation"):
        assert verdict(name, mini.results, mini.bounds) == "pass"
        assert verdict(name, frozen.results, frozen.bounds) == "fail"


def test_horizon_slope_fails_for_linear_regret(mini):
    """Report-only claim: regret proportional to K across horizons must fail the band."""
    res = mini.results.copy()
    rows = res[(res["metric"] == "regret") & (res["method"] == "dr_rpo") & (res["sweep"] == "learning")].copy()
    rows = rows[rows["episode"].isin([60, 120, 240])]
    rows["sweep"] = "horizon"
    rows["value"] = 0.03 * rows["episode"] * (1 + 0.01 * rows["seed"])
    assert verdict("horizon_slope", rows, mini.bounds) == "fail"
    rows["value"] = 0.5 * np.sqrt(rows["episode"]) * (1 + 0.01 * rows["seed"])
    assert verdict("horizon_slope", rows, mini.bounds) == "pass"


def _scale(results, metric: str, method: str, factor: float, **where):  # noqa: ANN001, ANN202
    res = results.copy()
    sel = (res["metric"] == metric) & (res["method"] == method)
    for col, v in where.items():
        sel &= res[col] == v
    res.loc[sel, "value"] *= factor
    return res


def test_robustness_claim_fails_when_dr_rpo_loses_under_shift(mini):
    assert verdict("robust_under_shift", mini.results, mini.bounds) == "pass"
    bad = _scale(mini.results, "return", "dr_rpo", 0.8, q=0.5)
    assert verdict("robust_under_shift", bad, mini.bounds) == "fail"


def test_price_of_robustness_claim_fails_when_dr_rpo_wins_nominally(mini):
    assert verdict("price_of_robustness", mini.results, mini.bounds) == "pass"
    bad = _scale(mini.results, "return", "dr_rpo", 1.2, q=0.0)
    assert verdict("price_of_robustness", bad, mini.bounds) == "fail"


def test_consistency_claim_fails_when_values_differ(mini):
    assert verdict("lam_consistency", mini.results, mini.bounds) == "pass"
    bad = _scale(mini.results, "value_ratio", "dr_rpo_lowlam", 1.1)
    assert verdict("lam_consistency", bad, mini.bounds) == "fail"
