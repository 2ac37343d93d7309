"""Tests of the fewshot-adaptation-bound experiment (paper 20): formulas and estimators against independent
computations, a smoke run, and a negative control for every claim."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.stats import norm

import boundrun
from boundrun.config import ConfigError
from boundrun.engine import run_in_memory
from boundrun.experiments import fewshot_adaptation_bound as fab
from boundrun.experiments.fewshot_adaptation_bound import algorithms as alg
from boundrun.experiments.fewshot_adaptation_bound import bounds
from boundrun.registry import get

EXP = "fewshot-adaptation-bound"


# -- formulas against independent computations -----------------------------------------------------------
def test_thm3_rhs_matches_a_hand_evaluation_and_the_reviews_minimum():
    a, m, mp, dvc, delta, K = 0.5, 2256, 2000, 9, 0.05, 128
    beta = 2 * K / m
    hand = (0.07 + 4 * math.sqrt(a * a / beta + (1 - a) ** 2 / (1 - beta))
            * math.sqrt((2 * dvc * math.log(2 * (m + 1)) + 2 * math.log(8 / delta)) / m)
            + 2 * (1 - a) * (0.5 * 0.3 + 4 * math.sqrt((2 * dvc * math.log(2 * mp) + math.log(8 / delta)) / mp) + 0.1))
    assert float(bounds.thm3_rhs(a, beta, m, mp, dvc, delta, 0.07, 0.3, 0.1)) == pytest.approx(hand, rel=1e-12)
    # spec review: the smallest right-hand side on the grid (d_hat = lambda = 0, eps* = Phi(-1.5)) is ~1.76
    vals = [float(bounds.thm3_rhs(al, 2 * k / (2000 + 2 * k), 2000 + 2 * k, 2000, d + 1, 0.05, norm.cdf(-1.5), 0, 0))
            for d in (2, 4, 8, 16, 32) for k in (1, 2, 4, 8, 16, 32, 64, 128) for al in (0, .25, .5, .75, 1)]
    assert min(vals) == pytest.approx(1.763, abs=2e-3)


def test_linear_error_is_the_monte_carlo_error_of_the_rule():
    rng = np.random.default_rng(0)
    mu_T, shift = alg.target_geometry(45.0, 1.5, 32)
    w, b = rng.standard_normal(32), 0.4
    n = 400_000
    y = rng.choice([-1.0, 1.0], size=n)
    Z = y[:, None] * mu_T + shift + rng.standard_normal((n, 32))
    mc = np.mean(np.sign(Z @ w + b) != y)
    exact = float(alg.linear_error(w[None], np.array([b]), mu_T, shift)[0])
    assert exact == pytest.approx(mc, abs=4 * math.sqrt(0.25 / n))


def test_best_in_class_error_is_the_closed_form_and_phi_minus_r_at_full_dimension():
    D, r, g = 32, 1.5, 30.0
    v = alg.direction_v(D)
    assert np.linalg.norm(v) == pytest.approx(1.0) and v[0] == 0 and v[1] / v[2] == pytest.approx(2.0)
    for d in (2, 4, 8, 16):
        gr = math.radians(g)
        closed = norm.cdf(-r * math.sqrt(math.cos(gr) ** 2 + math.sin(gr) ** 2 * float((v[1:d] ** 2).sum())))
        assert alg.best_in_class_error(g, d, r, D) == pytest.approx(closed, rel=1e-12)
        mu_T, shift = alg.target_geometry(g, r, D)  # the Bayes rule on d coordinates reaches it
        e = alg.linear_error(mu_T[None, :d], np.zeros(1), mu_T[:d], shift[:d])[0]
        assert e == pytest.approx(closed, rel=1e-10)
    assert alg.best_in_class_error(g, D, r, D) == pytest.approx(norm.cdf(-r), rel=1e-12)


def test_logistic_regression_matches_a_generic_optimiser_with_weights():
    rng = np.random.default_rng(1)
    B, n, d = 3, 40, 4
    X = rng.standard_normal((B, n, d)) + 0.5
    y = np.sign(rng.standard_normal((B, n)) + X[..., 0])
    s = rng.uniform(0.2, 3.0, size=(B, n))
    w, b = alg.fit_logreg(X, y, s, C=0.7)
    for i in range(B):
        def f(th, i=i):  # noqa: ANN001, ANN202
            m = y[i] * (X[i] @ th[:d] + th[d])
            return 0.5 * th[:d] @ th[:d] + 0.7 * np.sum(s[i] * np.logaddexp(0, -m))
        ref = minimize(f, np.zeros(d + 1), method="BFGS", options={"gtol": 1e-10}).x
        np.testing.assert_allclose(np.r_[w[i], b[i]], ref, atol=1e-5)


def test_proxy_a_distance_is_zero_for_equal_domains_and_two_for_separated_ones():
    rng = np.random.default_rng(2)
    U = rng.standard_normal((4000, 3))
    assert alg.proxy_a_distance(U[:2000], U[2000:]) < 0.15
    assert alg.proxy_a_distance(U[:2000], U[2000:] + np.array([20.0, 0, 0])) == pytest.approx(2.0)


def test_shape_fit_recovers_the_coefficients_of_an_exact_curve():
    K = np.array([1, 2, 4, 8, 16, 32, 64, 128], float)
    err = 0.1 + 0.3 * bounds.shape_basis(K, 9)
    a, b = bounds.shape_fit(K, err, 9, 4)
    assert (a, b) == pytest.approx((0.1, 0.3), abs=1e-12)


def test_bad_parameters_are_refused_with_exit_code_2(tmp_path):
    with pytest.raises(ConfigError, match="alphas"):
        boundrun.run(EXP, profile="smoke", out=str(tmp_path), alphas=[1.5])
    with pytest.raises(ValueError, match="capacities"):
        fab.FewshotAdaptationBoundConfig(d_grid=[64])
    with pytest.raises(ValueError, match="K_grid"):
        fab.FewshotAdaptationBoundConfig(K_grid=[0, 4])


# -- runs ---------------------------------------------------------------------------------------------------
def test_smoke_run_writes_a_complete_folder_and_decides_only_the_spearman_part(tmp_path):
    out = boundrun.run(EXP, profile="smoke", out=str(tmp_path))
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (out.path / f).exists()
    st = dict(zip(out.claims["claim"], out.claims["status"], strict=True))
    assert st.pop("v2_probe_spearman") == "pass"
    assert set(st.values()) == {"inconclusive"}


def _small(**kw) -> fab.FewshotAdaptationBoundConfig:  # noqa: ANN003
    base = dict(K_grid=[1, 4, 16, 64], g_grid=[0.0, 30.0, 60.0], d_grid=[2, 8], seeds=6, m_S=300, m_prime=400,
                n_large=2000, alphas=[0.5])
    return fab.FewshotAdaptationBoundConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def small_run():  # noqa: ANN201
    return run_in_memory(EXP, _small())


def _reeval(run, name: str, metric: str, f) -> str:  # noqa: ANN001
    """Evaluate claim `name` on the run's frames with `metric`'s values replaced by f(values)."""
    claim = next(c for c in get(EXP).claims if c.name == name)
    res = run.results.copy()
    sel = res["metric"] == metric
    if not sel.any():  # add rows (V1 has none: Thm 3 is vacuous everywhere)
        base = res[res["metric"] == "err"].copy()
        base["metric"] = metric
        res = pd.concat([res, base], ignore_index=True)
        sel = res["metric"] == metric
    res.loc[sel, "value"] = f(res.loc[sel, "value"].to_numpy())
    return claim.evaluate(res, run.bounds, "K", "default").status


def test_thm3_is_vacuous_on_the_grid_so_validity_is_inconclusive_and_a_violation_fails(small_run):
    assert small_run.verdicts["v1_thm3_valid"].status == "inconclusive"
    thm3 = small_run.bounds[small_run.bounds["bound"].str.startswith("thm3")]
    assert (thm3["value"] > 1).all()
    assert _reeval(small_run, "v1_thm3_valid", "thm3_margin", lambda v: np.full_like(v, 0.05)) == "fail"


def test_capping_the_shots_breaks_the_sample_size_claims(small_run):
    assert small_run.verdicts["v2_probe_spearman"].status == "pass"
    broken = run_in_memory(EXP, _small(shot_cap=1, g_grid=[30.0], d_grid=[8]))
    assert broken.verdicts["v2_probe_spearman"].status == "fail"
    assert broken.verdicts["v2_probe_slope"].status == "fail"


def test_gap_claims_fail_when_the_error_or_gain_falls_with_the_gap(small_run):
    assert _reeval(small_run, "v3_zeroshot_gap", "zs_increment", lambda v: v * 0 - 0.05) == "fail"
    assert _reeval(small_run, "v3_gain_gap", "gain_increment", lambda v: v * 0 - 0.05) == "fail"


def test_report_claims_fail_on_reversed_trends(small_run):
    assert _reeval(small_run, "v4_best_d_grows", "best_d_increment", lambda v: v * 0 - 1) == "fail"
    assert _reeval(small_run, "v5_shape_residual", "shape_resid", lambda v: v + 0.1) == "fail"
    assert _reeval(small_run, "v5_best_alpha_grows_K", "best_alpha_increment_K", lambda v: v * 0 - 0.25) == "fail"
    assert _reeval(small_run, "v5_best_alpha_grows_g", "best_alpha_increment_g", lambda v: v * 0 - 0.25) == "fail"


def test_zero_shot_model_is_shared_across_shots_and_bounds_cover_every_measured_cell(small_run):
    r = small_run.results
    zs = r[(r["metric"] == "err") & (r["method"] == "zero-shot")]
    assert (zs.groupby(["g", "d", "seed"])["value"].nunique() == 1).all()
    b = small_run.bounds[small_run.bounds["bound"] == "thm3_probe"]
    probe = r[(r["metric"] == "err") & (r["method"] == "probe")][["K", "g", "d"]].drop_duplicates()
    assert len(probe.merge(b, on=["K", "g", "d"])) == len(probe)
