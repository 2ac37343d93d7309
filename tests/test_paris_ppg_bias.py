"""Paper 53 (paris-ppg-bias): the Kalman ground truth against brute-force Gaussian conditioning, the score
against finite differences, the samplers against their exact laws, PaRIS/PPG against the exact smoothing
expectation, the fitted bound curves, a smoke run, and a negative control for every claim."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

import boundrun
from boundrun import claims as claims_mod
from boundrun.config import ConfigError
from boundrun.engine import ProgressReporter, RunContext
from boundrun.experiments import paris_ppg_bias as ppg
from boundrun.experiments.paris_ppg_bias import algorithms as A
from boundrun.experiments.paris_ppg_bias import bounds as B
from boundrun.registry import get
from boundrun.results import tidy_bounds, tidy_results

EXP = "paris-ppg-bias"
MODEL = A.Model()
CLAIM = {c.name: c for c in ppg.CLAIMS}


def joint_gaussian(n: int, a: float, sx: float, sy: float) -> tuple[np.ndarray, np.ndarray]:
    """Covariance of x_{0:n} (stationary AR(1)) and of y_{0:n} = x + noise, built entry by entry."""
    v = sx**2 / (1 - a * a)
    idx = np.arange(n + 1)
    Sxx = v * a ** np.abs(idx[:, None] - idx[None, :])
    return Sxx, Sxx + sy**2 * np.eye(n + 1)


# -- the exact ground truth ---------------------------------------------------------------------------------

@pytest.mark.parametrize("a", [0.9, -0.4])
def test_kalman_smoother_matches_brute_force_gaussian_conditioning(a):
    n, sx, sy = 5, 0.5, 1.0
    y = A.simulate(A.Model(a, sx, sy), n, np.random.default_rng(3))
    Sxx, Syy = joint_gaussian(n, a, sx, sy)
    Kg = Sxx @ np.linalg.inv(Syy)
    mean, cov = Kg @ y, Sxx - Kg @ Sxx  # x | y (Cov(x, y) = Sxx)
    s = A.kalman_smoother(y, a, sx, sy)
    np.testing.assert_allclose(s.m[0], mean, atol=1e-12)
    np.testing.assert_allclose(s.P[0], np.diag(cov), atol=1e-12)
    np.testing.assert_allclose(s.C[0], np.diag(cov, 1), atol=1e-12)
    np.testing.assert_allclose(s.loglik[0], multivariate_normal(np.zeros(n + 1), Syy).logpdf(y), rtol=1e-12)
    phi = A.exact_functionals(y, a, sx, sy)[0]
    second = cov + np.outer(mean, mean)
    np.testing.assert_allclose(phi, [np.trace(second, 1), np.trace(second[:-1, :-1]), second[0, 0]], rtol=1e-12)


def test_fisher_identity_score_equals_finite_difference_of_the_log_likelihood():
    y = A.simulate(MODEL, 60, np.random.default_rng(1))
    a, h = np.array([0.3, 0.85, 0.9]), 1e-5
    fd = (A.loglik(y, a + h, 0.5, 1.0) - A.loglik(y, a - h, 0.5, 1.0)) / (2 * h)
    np.testing.assert_allclose(A.exact_score(y, a, 0.5, 1.0), fd, rtol=1e-6)


# -- the samplers ---------------------------------------------------------------------------------------------

def test_row_categorical_draws_follow_each_rows_weights():
    rng = np.random.default_rng(0)
    w = np.array([[1.0, 2.0, 0.0, 5.0], [0.0, 0.0, 1.0, 1.0]])
    idx = A.categorical_rows(w, 40_000, rng)
    for r in range(2):
        freq = np.bincount(idx[r], minlength=4) / 40_000
        np.testing.assert_allclose(freq, w[r] / w[r].sum(), atol=0.01)


@pytest.mark.parametrize("exact_max", [0, 10**9])  # accept-reject path and full-kernel path
def test_backward_draws_follow_the_exact_backward_kernel(monkeypatch, exact_max):
    monkeypatch.setattr(A, "EXACT_MAX", exact_max)
    rng = np.random.default_rng(5)
    N, R = 5, 4000
    xi_t = np.tile(rng.normal(size=N), (R, 1))
    w_t = np.tile(rng.random(N) + 0.1, (R, 1))
    xi_next = np.tile(rng.normal(size=N) * 1.5, (R, 1))  # spread out: some draws need many AR rounds
    a = np.full(R, 0.9)
    J = A.backward_draws(xi_t, w_t, xi_next, a, 0.5, rng)
    Lam = A.backward_kernel_exact(xi_t[:1], w_t[:1], xi_next[:1], a[:1], 0.5)[0]
    for i in range(N):
        freq = np.bincount(J[:, i, :].ravel(), minlength=N) / (R * A.M_TILDE)
        np.testing.assert_allclose(freq, Lam[i], atol=4 * np.sqrt(0.25 / (R * A.M_TILDE)))


def test_paris_with_many_particles_recovers_the_exact_smoothing_expectation():
    y = A.simulate(MODEL, 10, np.random.default_rng(2))
    phi = A.exact_functionals(y, 0.9, 0.5, 1.0)[0]
    est = A.paris_pass(y, np.full(20, 0.9), MODEL, 400, np.random.default_rng(3)).estimate
    se = est.std(axis=0, ddof=1) / np.sqrt(20)
    assert (np.abs(est.mean(axis=0) - phi) < 4 * se + 0.02 * np.abs(phi)).all()


def test_ppg_removes_the_small_N_bias_of_paris():
    # N = 4 particles on n = 6: PaRIS is visibly biased; PPG's stationary law is the smoothing law, so after a
    # few iterations the chain average is unbiased (the construction the spec reads from the abstract)
    y = A.simulate(MODEL, 6, np.random.default_rng(4))
    phi = A.exact_functionals(y, 0.9, 0.5, 1.0)[0]
    out = A.ppg_chain(y, MODEL, 4, 6, 3000, np.random.default_rng(5))
    se = out.std(axis=1, ddof=1) / np.sqrt(3000)
    z = (out.mean(axis=1) - phi) / se
    assert abs(z[0, 0]) > 6  # PaRIS (k = 0)
    assert (np.abs(z[-1, :2]) < 4).all()  # PPG at k = 6
    # without the clamped reference the iterations are fresh PaRIS passes and keep the bias
    out_nc = A.ppg_chain(y, MODEL, 4, 3, 3000, np.random.default_rng(5), conditional=False)
    z_nc = (out_nc.mean(axis=1) - phi) / (out_nc.std(axis=1, ddof=1) / np.sqrt(3000))
    assert abs(z_nc[-1, 0]) > 6


def test_conditional_pass_keeps_the_reference_as_the_last_particle_and_returns_a_path():
    y = A.simulate(MODEL, 8, np.random.default_rng(6))
    ref = np.tile(np.linspace(-1, 1, 9), (3, 1))
    p = A.paris_pass(y, np.full(3, 0.9), MODEL, 5, np.random.default_rng(7), reference=ref,
                     conditional=np.array([True, True, True]), backward_sample=True)
    assert p.reference.shape == (3, 9) and np.isfinite(p.reference).all()
    with pytest.raises(ValueError, match="reference"):
        A.paris_pass(y, np.full(3, 0.9), MODEL, 5, np.random.default_rng(7), conditional=np.ones(3, bool))


# -- the bound curves -----------------------------------------------------------------------------------------

def test_fitted_curves_recover_their_constants():
    k = np.arange(1, 6)
    c, rho = B.fit_geometric(k, B.geometric(k, 0.3, 0.6))
    assert c == pytest.approx(0.3) and rho == pytest.approx(0.6)
    N = np.array([8.0, 16, 32])
    assert B.fit_power(N, B.power(N, 2.5, -1.0), -1.0) == pytest.approx(2.5)
    assert B.first_half(np.array([50, 100, 200, 400])).tolist() == [True, True, False, False]


# -- config and runs -----------------------------------------------------------------------------------------

def test_bad_parameters_are_refused_with_exit_code_2(tmp_path):
    with pytest.raises(ConfigError, match="a must"):
        boundrun.run(EXP, profile="smoke", out=str(tmp_path), a=1.0)
    with pytest.raises(ValueError, match="burn_in"):
        ppg.ParisPpgBiasConfig(K=3, burn_in=3)
    with pytest.raises(ValueError, match="e2_N"):
        ppg.ParisPpgBiasConfig(e2_N=[1, 8])


def test_smoke_run_writes_a_complete_folder_and_fails_nothing(tmp_path):
    out = boundrun.run(EXP, profile="smoke", out=str(tmp_path))
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (out.path / f).exists()
    st = dict(zip(out.claims["claim"], out.claims["status"], strict=True))
    assert "fail" not in st.values(), st
    for name in ("paris_bias_one_over_N", "ppg_variance_linear_in_n", "ppg_sa_closer_to_mle", "ppg_sa_grad_rate",
                 "ppg_bias_decays_N64"):
        assert st[name] == "inconclusive"  # no data in smoke


SMALL = ppg.ParisPpgBiasConfig(seeds=60, n=30, K=4, e1_N=[16], e2_N=[4, 8, 16], e3_n=[10, 20, 40], e3_N=8,
                               e3_seeds=40, e4_N=[16], e4_steps=60, e4_seeds=3)


def _evaluate(cfg: ppg.ParisPpgBiasConfig):
    exp = get(EXP)
    ctx = RunContext(cfg.seed, cfg.seeds, "default", ProgressReporter("quiet"))
    res = exp.run(cfg, ctx)
    results = tidy_results(res.measurements, EXP, exp.x, exp.facets)
    bnds = tidy_bounds(res.bounds, EXP, exp.x, exp.facets)
    verdicts = {r.claim: r for r in claims_mod.evaluate_all(exp.claims, results, bnds, exp.x)}
    return verdicts, results, bnds


@pytest.fixture(scope="module")
def small():
    return _evaluate(SMALL)


def _status(name: str, results: pd.DataFrame, bnds: pd.DataFrame) -> str:
    return CLAIM[name].evaluate(results, bnds, get(EXP).x, "default").status


def test_small_run_has_every_study_and_bound_curve(small):
    _, res, bnds = small
    assert set(res["study"]) == {"E1", "E2", "E3", "E4"}
    assert set(bnds["bound"]) == {"geometric_fit", "paris_c_over_N", "var_c_n", "sa_c_m_half"}
    assert np.isfinite(res["value"]).all()


def test_without_clamping_ppg_keeps_the_paris_bias_and_the_fifth_claim_fails():
    cfg = replace(SMALL, e2_N=[], e3_n=[], e4_N=[], conditional=False)
    verdicts, _, _ = _evaluate(cfg)
    assert verdicts["ppg_bias_below_fifth_of_paris"].status == "fail", verdicts["ppg_bias_below_fifth_of_paris"].detail


def _synthetic_decay(rate: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for f in ppg.FUNCS:
        for k in range(1, 5):
            v = 0.1 * np.exp(rate * k) + 0.002 * rng.normal(size=30)
            rows.append(pd.DataFrame({"experiment": EXP, "method": "ppg", "k": k, "study": "E1", "N": 16, "n_hor": 50,
                                      "functional": f, "m": 0, "exp_k": np.exp(k), "seed": np.arange(30),
                                      "metric": "bias_decay", "value": v}))
    return pd.concat(rows, ignore_index=True)


def test_bias_decay_claim_passes_a_geometric_decay_and_fails_a_growth(small):
    _, _, bnds = small
    assert _status("ppg_bias_decays_N16", _synthetic_decay(-0.5), bnds) == "pass"
    assert _status("ppg_bias_decays_N16", _synthetic_decay(+0.3), bnds) == "fail"


def _scaled(res: pd.DataFrame, mask: pd.Series, factor) -> pd.DataFrame:  # noqa: ANN001
    bad = res.copy()
    bad.loc[mask, "value"] = bad.loc[mask, "value"] * (factor(bad.loc[mask]) if callable(factor) else factor)
    return bad


def test_paris_bias_rate_fails_when_the_bias_does_not_shrink_with_N(small):
    _, res, bnds = small
    mask = (res["metric"] == "bias") & (res["study"] == "E2") & (res["method"] == "paris")
    bad = _scaled(res, mask, lambda d: d["N"].to_numpy() ** 1.0)  # slope -1 -> 0
    assert _status("paris_bias_one_over_N", bad, bnds) == "fail"


def test_order_claims_fail_when_ppg_bias_is_inflated(small):
    _, res, bnds = small
    mask = (res["metric"] == "bias") & (res["study"] == "E2") & (res["method"] == "ppg")
    bad = _scaled(res, mask, 0.0)
    bad.loc[mask, "value"] = 5.0 * res.loc[(res["metric"] == "bias") & (res["study"] == "E2")
                                           & (res["method"] == "paris"), "value"].to_numpy()
    assert _status("ppg_bias_below_paris_every_N", bad, bnds) == "fail"
    assert _status("ppg_bias_below_fifth_of_paris", bad, bnds) == "fail"


def test_variance_rate_fails_when_variance_grows_quadratically(small):
    _, res, bnds = small
    mask = res["metric"] == "var_total"
    bad = _scaled(res, mask, lambda d: d["n_hor"].to_numpy() ** 1.0)
    assert _status("ppg_variance_linear_in_n", bad, bnds) == "fail"


def test_learning_claims_fail_on_perturbed_frames(small):
    _, res, bnds = small
    mask = (res["metric"] == "final_abs_err") & (res["method"] == "ppg_sa")
    other = res.loc[(res["metric"] == "final_abs_err") & (res["method"] == "paris_sgd"), "value"].to_numpy()
    bad = res.copy()
    bad.loc[mask, "value"] = 10 * other + 0.01
    assert _status("ppg_sa_closer_to_mle", bad, bnds) == "fail"
    mask = (res["metric"] == "grad_sq_running") & (res["method"] == "ppg_sa")
    flat = res.copy()
    flat.loc[mask, "value"] = 1.0 + 0.01 * np.random.default_rng(0).random(mask.sum())  # no decay in m
    assert _status("ppg_sa_grad_rate", flat, bnds) == "fail"
    assert _status("ppg_sa_grad_rate_at_least_half", flat, bnds) == "fail"


def test_same_seed_gives_identical_frames():
    cfg = replace(SMALL, seeds=5, n=8, K=2, slope_k=2, burn_in=0, e2_N=[], e3_n=[], e4_N=[])
    _, a, ba = _evaluate(cfg)
    _, b, bb = _evaluate(cfg)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(ba, bb)
