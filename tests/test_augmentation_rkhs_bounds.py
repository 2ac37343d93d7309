"""Tests of the augmentation-rkhs-bounds experiment (paper 50): closed forms against the brute-force masking
operator, probes against direct solves, a smoke run, and a negative control for every claim."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import boundrun
from boundrun.config import ConfigError
from boundrun.engine import run_in_memory
from boundrun.experiments.augmentation_rkhs_bounds import ALPHA_GRID, CLAIMS, AugmentationRkhsConfig
from boundrun.experiments.augmentation_rkhs_bounds import algorithms as A
from boundrun.experiments.augmentation_rkhs_bounds import bounds as B

EXP = "augmentation-rkhs-bounds"
CLAIM = {c.name: c for c in CLAIMS}


# -- closed forms of the masking operator (V1) ------------------------------------------------------------
@pytest.mark.parametrize("L", [3, 5])
@pytest.mark.parametrize("alpha", [0.05, 0.5, 0.9])
def test_brute_force_operator_spectrum_equals_walsh_eigenvalues_and_kappa(L, alpha):
    lam_bf, k2 = A.operator_spectrum(L, alpha)
    lam_cf = np.sort([(1 - alpha) ** len(S) for r in range(L + 1) for S in itertools.combinations(range(L), r)])
    np.testing.assert_allclose(lam_bf, lam_cf[::-1], atol=1e-10, rtol=0)
    assert k2 == pytest.approx((2 - alpha) ** L, rel=1e-9)
    assert B.kappa_sq(alpha, L) == pytest.approx((2 - alpha) ** L, rel=1e-15)


def test_kernel_from_augmentations_equals_closed_form_and_eigen_expansion():
    L, alpha = 4, 0.3
    Aop, P_A = A.masking_operator(L, alpha)
    np.testing.assert_allclose(Aop.sum(axis=1), 1.0, atol=1e-14)  # A(.|x) is a distribution
    K_bf = (Aop / P_A) @ Aop.T  # sum_a A(a|x) A(a|x') / P_A(a)
    K_cf = A.augmentation_kernel(L, alpha)
    chi, lam = A.walsh_matrix(L), A.eigenvalues(alpha, L)
    np.testing.assert_allclose(K_bf, K_cf, rtol=1e-12)
    np.testing.assert_allclose(chi @ np.diag(lam) @ chi.T, K_cf, rtol=1e-12)
    np.testing.assert_allclose(chi.T @ chi / 2**L, np.eye(2**L), atol=1e-14)  # orthonormal in L2(P_X)


# -- target, bounds -------------------------------------------------------------------------------------
def test_target_is_normalised_without_constant_and_b2_inequality_holds():
    L = 6
    c = A.target_coefficients(L, 0.35, np.random.default_rng(3))
    deg = A.degrees(L)
    assert c[0] == 0 and np.sum(c**2) == pytest.approx(1.0)
    for alpha, q in itertools.product([0.1, 0.5, 0.9], [1, 2, 3]):
        lam = A.eigenvalues(alpha, L)
        eps = A.invariance_eps(c, lam)
        assert eps == pytest.approx(np.sum((1 - (1 - alpha) ** deg) * c**2))
        approx = B.topd_approx_error(c, deg, q)
        assert approx <= B.b2_approx_bound(eps, 1.0, (1 - alpha) ** (q + 1)) + 1e-15
        F = A.encoder_features(A.walsh_matrix(L), lam, A.top_d_characters(L, q))
        assert A.span_approx_error(F, A.walsh_matrix(L) @ c) == pytest.approx(approx, abs=1e-12)


def test_b2_is_tight_when_all_mass_sits_just_above_the_top_d_space():
    L, alpha, q = 5, 0.4, 1
    c = np.zeros(2**L)
    c[np.flatnonzero(A.degrees(L) == q + 1)[:3]] = 1 / np.sqrt(3)
    eps = A.invariance_eps(c, A.eigenvalues(alpha, L))
    assert B.b2_approx_bound(eps, 1.0, (1 - alpha) ** (q + 1)) == pytest.approx(
        B.topd_approx_error(c, A.degrees(L), q), rel=1e-12)


def test_usable_split_and_fitted_constant():
    grid = [25, 50, 100, 200, 400, 800, 1600]
    head, tail = B.usable_split(grid, 176)
    assert list(head) == [400] and list(tail) == [800, 1600]
    head, tail = B.usable_split(grid, 11)
    assert list(head) == [25, 50, 100] and list(tail) == [200, 400, 800, 1600]
    n = np.array([100.0, 200.0])
    assert B.fit_estimation_constant(n, 3.0 / n) == pytest.approx(3.0)


# -- probes against direct computations -----------------------------------------------------------------
def test_ridge_probe_matches_a_direct_per_draw_solve():
    rng = np.random.default_rng(0)
    L, rho = 5, 1e-3
    chi, lam = A.walsh_matrix(L), A.eigenvalues(0.5, L)
    f = chi @ A.target_coefficients(L, 0.35, rng)
    F = A.encoder_features(chi, lam, A.top_d_characters(L, 2), None)
    idx = rng.integers(0, 2**L, size=(3, 40))
    y = f[idx] + 0.1 * rng.standard_normal(idx.shape)
    got = A.ridge_probe_error(F, f, idx, y, rho)
    for s in range(3):
        X, n = F[idx[s]], idx.shape[1]
        # minimise (1/n)||Xw - y||^2 + rho ||w||^2 as an augmented least-squares problem
        w = np.linalg.lstsq(np.vstack([X / np.sqrt(n), np.sqrt(rho) * np.eye(F.shape[1])]),
                            np.concatenate([y[s] / np.sqrt(n), np.zeros(F.shape[1])]), rcond=None)[0]
        assert got[s] == pytest.approx(np.mean((F @ w - f) ** 2), rel=1e-9)


def test_kernel_ridge_equals_ridge_on_the_full_feature_map():
    """Representer theorem: KRR with K = Phi Phi^T and ridge n*rho equals the probe on all 2^L features."""
    rng = np.random.default_rng(1)
    L, alpha, rho = 5, 0.3, 1e-3
    chi, lam = A.walsh_matrix(L), A.eigenvalues(alpha, L)
    f = chi @ A.target_coefficients(L, 0.35, rng)
    idx = rng.integers(0, 2**L, size=(2, 25))
    y = f[idx] + 0.1 * rng.standard_normal(idx.shape)
    F_all = A.encoder_features(chi, lam, np.arange(2**L))
    np.testing.assert_allclose(A.krr_error(A.augmentation_kernel(L, alpha), f, idx, y, rho),
                               A.ridge_probe_error(F_all, f, idx, y, rho), rtol=1e-7)


def test_perturbed_encoder_at_zero_angle_is_the_top_d_encoder_and_partners_are_distinct():
    L, q = 6, 1
    chi, lam = A.walsh_matrix(L), A.eigenvalues(0.5, L)
    S = A.top_d_characters(L, q)
    Sp = A.partner_characters(L, q, len(S), np.random.default_rng(0))
    assert len(set(Sp)) == len(S) and set(A.degrees(L)[Sp]) <= {q + 1, q + 2}
    np.testing.assert_array_equal(A.encoder_features(chi, lam, S, Sp, 0.0), A.encoder_features(chi, lam, S))
    F = A.encoder_features(chi, lam, S, Sp, math.radians(30))
    expect = math.cos(math.radians(30)) * chi[:, S[3]] * math.sqrt(lam[S[3]]) + math.sin(
        math.radians(30)) * chi[:, Sp[3]] * math.sqrt(lam[Sp[3]])
    np.testing.assert_allclose(F[:, 3], expect)


def test_spearman_rows_matches_the_textbook_formula():
    x = np.array([0.0, 15.0, 30.0, 45.0, 60.0])
    Y = np.array([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1], [1, 3, 2, 4, 5.0]])
    np.testing.assert_allclose(A.spearman_rows(x, Y), [1.0, -1.0, 1 - 6 * 2 / (5 * 24)])


# -- config ---------------------------------------------------------------------------------------------
def test_bad_parameters_are_refused(tmp_path):
    for kw, msg in ((dict(alpha_grid=[0.0, 0.5]), "alpha_grid"), (dict(q_list=[5]), "q_list"),
                    (dict(rho=0.0), "rho"), (dict(methods=["mlm"]), "methods"), (dict(thetas=[100.0]), "thetas")):
        with pytest.raises(ConfigError, match=msg):
            boundrun.run(EXP, profile="smoke", out=str(tmp_path), **kw)


# -- runs, verdicts and their negative controls ---------------------------------------------------------
def test_smoke_run_decides_v1_v2_and_leaves_the_rest_inconclusive(tmp_path):
    res = boundrun.run(EXP, profile="smoke", out=str(tmp_path))
    st = res.claims.set_index("claim")["status"]
    for name in ("eigenvalues_closed_form", "kappa_closed_form", "b2_approximation", "error_matches_decomposition"):
        assert st[name] == "pass", name
    for name in ("estimation_rate", "error_grows_with_theta", "perturbed_excess_small",
                 "interior_beats_strong_masking", "interior_beats_weak_masking", "best_alpha_nonincreasing"):
        assert st[name] == "inconclusive", name
    assert {"b2", "approx_top_d", "fit_top_d", "b2_top_d"} <= set(res.bounds["bound"])


@pytest.fixture(scope="module")
def small():
    cfg = AugmentationRkhsConfig(L=6, q_list=[1], n_grid=[25, 50, 100, 200, 400, 800], alpha_grid=list(ALPHA_GRID),
                                 alpha_n=[30, 300], seeds=6)
    return run_in_memory(EXP, cfg, profile="default")


def _verdict(run, name, metric=None, fn=None, where=None):  # noqa: ANN001, ANN202
    df = run.results.copy()
    if metric is not None:
        mask = df["metric"] == metric
        for col, v in (where or {}).items():
            mask &= df[col] == v
        df.loc[mask, "value"] = fn(df.loc[mask])
    return CLAIM[name].evaluate(df, run.bounds, "n_samples", "default").status


def test_small_run_passes_the_exact_claims(small):
    for name in ("eigenvalues_closed_form", "kappa_closed_form", "b2_approximation", "error_matches_decomposition"):
        assert small.verdicts[name].status == "pass", name


@pytest.mark.parametrize("name, metric, fn, where", [
    ("eigenvalues_closed_form", "eig_abs_err", lambda d: d["value"] + 1e-8, None),
    ("kappa_closed_form", "kappa_rel_err", lambda d: d["value"] + 1e-6, None),
    ("b2_approximation", "approx", lambda d: d["value"] * 10, None),
    ("error_matches_decomposition", "fit_resid", lambda d: d["value"] + 0.05, None),
    ("estimation_rate", "excess_tail", lambda d: d["value"] * d["n_samples"], None),
    ("error_grows_with_theta", "theta_spearman", lambda d: -d["value"].abs(), None),
    ("perturbed_excess_small", "excess", lambda d: d["value"] + 0.05, None),
    ("interior_beats_strong_masking", "neg_error", lambda d: d["value"] * 0 + 1.0, {"alpha": ALPHA_GRID[-1]}),
    ("interior_beats_weak_masking", "neg_error", lambda d: d["value"] * 0 + 1.0, {"alpha": ALPHA_GRID[0]}),
    ("best_alpha_nonincreasing", "best_alpha_step", lambda d: d["value"] + 1.0, None),
])
def test_every_claim_fails_on_broken_measurements(small, name, metric, fn, where):
    assert _verdict(small, name) != "fail", name  # the unbroken frames do not fail ...
    assert _verdict(small, name, metric, fn, where) == "fail", name  # ... the broken ones do
