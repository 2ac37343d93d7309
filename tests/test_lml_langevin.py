"""Paper 43 (lml-langevin): GMM score/Hessian against finite differences, lm_correct against the explicit
inverse, W2 against brute force, the T1 bound, a smoke run, and a negative control for every claim."""

import dataclasses
import itertools
import math

import numpy as np
import pandas as pd
import pytest

import boundrun
from boundrun.config import ConfigError
from boundrun.experiments.lml_langevin import CLAIMS, bounds
from boundrun.experiments.lml_langevin import algorithms as A

CLAIM = {c.name: c for c in CLAIMS}


@pytest.fixture(scope="module")
def gmm():
    return A.make_gmm(np.random.default_rng(0), 3, k=4)


def test_score_and_hessian_match_finite_differences_of_the_log_density(gmm):
    x, ab, h = np.random.default_rng(1).standard_normal((5, 3)), 0.3, 1e-5
    E = np.eye(3)
    fd_s = np.stack([(gmm.logpdf(x + h * e, ab) - gmm.logpdf(x - h * e, ab)) / (2 * h) for e in E], axis=1)
    np.testing.assert_allclose(gmm.score(x, ab), fd_s, rtol=1e-6, atol=1e-7)
    s, H = gmm.hessian(x, ab)
    fd_H = np.stack([(gmm.score(x + h * e, ab) - gmm.score(x - h * e, ab)) / (2 * h) for e in E], axis=2)
    np.testing.assert_allclose(H, fd_H, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H, np.swapaxes(H, 1, 2), atol=1e-12)


def test_logpdf_at_alpha_bar_one_is_the_mixture_density(gmm):
    x = np.random.default_rng(2).standard_normal((4, 3))
    dens = sum(gmm.pi[j] * _gauss(x, gmm.m[j], gmm.Q[j] @ np.diag(gmm.lam[j]) @ gmm.Q[j].T) for j in range(4))
    np.testing.assert_allclose(gmm.logpdf(x), np.log(dens), rtol=1e-10)


def _gauss(x, m, S):
    d = len(m)
    diff = x - m
    q = np.einsum("nd,de,ne->n", diff, np.linalg.inv(S), diff)
    return np.exp(-0.5 * q) / math.sqrt((2 * math.pi) ** d * np.linalg.det(S))


def test_lm_correct_equals_the_explicit_damped_inverse_up_to_scale():
    rng = np.random.default_rng(3)
    g, v, lam = rng.standard_normal((6, 5)), rng.standard_normal((6, 5)), 0.7
    raw = A.lm_correct(g, v, lam, rescale=False)
    ref = np.stack([lam * np.linalg.solve(lam * np.eye(5) + np.outer(v[i], v[i]), g[i]) for i in range(6)])
    np.testing.assert_allclose(raw, ref, rtol=1e-10)
    res = A.lm_correct(g, v, lam)
    np.testing.assert_allclose(np.linalg.norm(res, axis=1), np.linalg.norm(g, axis=1), rtol=1e-12)
    np.testing.assert_allclose(A.lm_correct(g, g, lam), g, rtol=1e-12)  # kappa = 0: v = g gives g back


def test_damping_limit_and_t1_bound_against_the_closed_form():
    rng = np.random.default_rng(4)
    g, v = rng.standard_normal((200, 4)), rng.standard_normal((200, 4))
    vv = (v * v).sum(1)
    gh = g / np.linalg.norm(g, axis=1, keepdims=True)
    for rho in (0.1, 1.0, 10.0, 1e4):
        d = A.lm_correct(g, v, rho * vv)
        dev = np.linalg.norm(d / np.linalg.norm(d, axis=1, keepdims=True) - gh, axis=1)
        assert (dev <= bounds.t1_upper(rho) + 1e-12).all()
    # lambda -> 0: the direction tends to the component of g orthogonal to v
    d0 = A.lm_correct(g, v, 1e-12 * vv, rescale=False)
    perp = g - v * ((v * g).sum(1) / vv)[:, None]
    np.testing.assert_allclose(d0, perp, atol=1e-9)


def test_newton_direction_solves_the_damped_system_and_flags_non_pd():
    rng = np.random.default_rng(5)
    B = rng.standard_normal((3, 4, 4))
    H = -np.einsum("nij,nkj->nik", B, B)  # negative definite: always PD after damping
    H[2] = np.eye(4) * 10  # lambda I - 0.5 * 10 I is not PD for lambda = 1
    g = rng.standard_normal((3, 4))
    dn, pd = A.newton_direction(g, H, 0.5, 1.0)
    assert pd.tolist() == [True, True, False]
    for i in range(2):
        np.testing.assert_allclose((np.eye(4) - 0.5 * H[i]) @ dn[i], g[i], rtol=1e-10)


def test_exact_w2_equals_brute_force_over_permutations_and_sliced_w2_in_1d():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    best = min(((a - b[list(p)]) ** 2).sum(1).mean() for p in itertools.permutations(range(6)))
    assert A.w2_exact(a, b) == pytest.approx(math.sqrt(best), rel=1e-12)
    a1, b1 = rng.standard_normal((50, 1)), rng.standard_normal((50, 1))
    assert A.w2_sliced(a1, b1, np.ones((1, 1))) == pytest.approx(A.w2_exact(a1, b1), rel=1e-12)


def test_ddim_recovers_a_point_mass_exactly():
    # a single component with tiny covariance: DDIM with the exact score lands on the mean
    g = A.GMM(np.ones(1), np.array([[1.0, -2.0]]), np.eye(2)[None], np.full((1, 2), 1e-12))
    out = A.sample(g, np.random.default_rng(7).standard_normal((10, 2)), 5, "ddim").x0
    np.testing.assert_allclose(out, np.broadcast_to([1.0, -2.0], (10, 2)), atol=1e-5)


def test_trailing_timesteps_follow_diffusers():
    assert A.trailing_timesteps(5).tolist() == [999, 799, 599, 399, 199]
    assert A.trailing_timesteps(6).tolist() == [999, 832, 666, 499, 332, 166]


def test_bad_parameters_are_config_errors(tmp_path):
    for kw, msg in ((dict(kappas=[1.0]), "kappas"), (dict(c_grid=[0.0]), "c_grid"), (dict(nfe=[0]), "nfe"),
                    (dict(n_exact=10**6), "n_exact")):
        with pytest.raises(ConfigError, match=msg):
            boundrun.run("lml-langevin", profile="smoke", out=str(tmp_path), **kw)


# -- verdicts and their negative controls ---------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return boundrun.run("lml-langevin", profile="smoke", out=str(tmp_path_factory.mktemp("smoke")))


def status(res, name):
    return res.claims.set_index("claim").loc[name, "status"]


def test_v2_win_fraction_counts_levels_where_lml_is_closer():
    from boundrun.experiments.lml_langevin.runner import win_fraction

    r = pd.DataFrame({"d": 2, "seed": 0, "sigma": [0.1, 0.1, 0.5, 0.5, 0.9, 0.9], "metric": "t2_err",
                      "method": ["lml", "first_order"] * 3, "value": [1.0, 2.0, 3.0, 2.0, 1.0, 1.0]})
    assert win_fraction(r)["value"].tolist() == [pytest.approx(2 / 3)]


def test_smoke_decides_v0_v1_and_leaves_v2_v3_inconclusive(smoke):
    for name in ("v0_kappa0_equals_ddim", "v1_damping_limit", "t1_below_bound"):
        assert status(smoke, name) == "pass", smoke.claims
    for name in ("v2_lowrank_beats_first_order", "v3_quality"):
        assert status(smoke, name) == "inconclusive"


def _eval(claim, res, transform):
    r = res.results.copy()
    transform(r)
    return claim.evaluate(r, res.bounds, "NFE", profile="default").status


def test_v0_fails_when_lm_samples_differ_from_ddim(smoke):
    def perturb(r):
        r.loc[r["metric"] == "kappa0_gap", "value"] += 1e-7  # the size of a float32 rescaling error
    assert _eval(CLAIM["v0_kappa0_equals_ddim"], smoke, perturb) == "fail"


def test_v1_and_t1_bound_fail_on_a_slower_decay(smoke):
    def slower(r):
        m = r["metric"] == "t1_dev"
        r.loc[m, "value"] *= r.loc[m, "lam_rel"] ** 0.4 * 2
    assert _eval(CLAIM["v1_damping_limit"], smoke, slower) == "fail"
    assert _eval(CLAIM["t1_below_bound"], smoke, slower) == "fail"


def test_v2_fails_when_lml_is_never_closer_to_newton(smoke):
    def always(r):
        r.loc[r["metric"] == "t2_win_frac", "value"] = 0.9
    assert _eval(CLAIM["v2_lowrank_beats_first_order"], smoke, always) == "pass"

    def never(r):
        r.loc[r["metric"] == "t2_win_frac", "value"] = 0.1
    assert _eval(CLAIM["v2_lowrank_beats_first_order"], smoke, never) == "fail"


def test_v3_fails_when_lm_is_worse_and_passes_when_clearly_better(smoke):
    def worse(r):
        r.loc[(r["metric"] == "w2_exact") & (r["method"] == "ddim_lm"), "value"] *= 1.5
    assert _eval(CLAIM["v3_quality"], smoke, worse) == "fail"

    def better(r):
        r.loc[(r["metric"] == "w2_exact") & (r["method"] == "ddim_lm"), "value"] *= 0.5
    v3 = dataclasses.replace(CLAIM["v3_quality"])
    r = smoke.results.copy()
    better(r)
    assert v3.evaluate(r, smoke.bounds, "NFE", profile="default").status == "pass"


def test_dpm1_lm_at_kappa0_and_newton_at_huge_damping_reduce_to_ddim(gmm):
    xT = np.random.default_rng(8).standard_normal((50, 3))
    ref = A.sample(gmm, xT, 6, "ddim").x0
    np.testing.assert_allclose(A.sample(gmm, xT, 6, "dpm1_lm", 0.0, 0.1).x0, ref, atol=1e-10)
    np.testing.assert_allclose(A.sample(gmm, xT, 6, "newton_lm", 0.5, 1e12).x0, ref, atol=1e-8)
    assert np.abs(A.sample(gmm, xT, 6, "ddim_lm", 0.5, 0.01).x0 - ref).max() > 1e-3  # kappa > 0 acts
