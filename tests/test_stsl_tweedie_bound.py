"""Paper 40 (stsl-tweedie-bound): the closed-form mixture quantities against finite differences, autograd,
Monte Carlo and quadrature; the bound chain; the Hutchinson probe; W2; the samplers; a smoke run; and a
negative control for every claim."""

import dataclasses
import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

import boundrun
from boundrun.config import ConfigError
from boundrun.experiments.stsl_tweedie_bound import CLAIMS
from boundrun.experiments.stsl_tweedie_bound import algorithms as A
from boundrun.experiments.stsl_tweedie_bound import bounds as B

CLAIM = {c.name: c for c in CLAIMS}
ABAR = A.alpha_bar()


def setup(d=4, k=3, t=300, n=50, seed=0, sy=0.1, op="gauss"):
    rng = np.random.default_rng(seed)
    g = A.make_prior(rng, d, k)
    ab = float(ABAR[t])
    x0 = g.sample(rng, n)
    xt = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * rng.standard_normal((n, d))
    Aop = A.make_operator(rng, op, d, max(1, d // 2))
    y = x0 @ Aop.T + sy * rng.standard_normal((n, Aop.shape[0]))
    return g, ab, xt, Aop, y, rng


# -- the schedule and the prior ---------------------------------------------------------------------------

def test_ddpm_schedule_is_the_cumulative_product_of_the_linear_betas():
    assert ABAR[0] == 1.0 and len(ABAR) == 1001
    assert ABAR[1] == pytest.approx(1 - 1e-4)
    assert ABAR[1000] == pytest.approx(np.prod(1 - np.linspace(1e-4, 0.02, 1000)))
    assert 3e-5 < ABAR[1000] < 5e-5


def test_prior_samples_have_the_mixture_mean_and_covariance():
    g = A.make_prior(np.random.default_rng(1), 3, 2)
    X = g.sample(np.random.default_rng(2), 200_000)
    mean = g.pi @ g.m
    cov = np.einsum("j,jab->ab", g.pi, g.S) + np.einsum("j,ja,jb->ab", g.pi, g.m - mean, g.m - mean)
    np.testing.assert_allclose(X.mean(0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(X.T), cov, atol=0.05)
    assert ((g.u >= 0.05) & (g.u <= 0.5)).all()


# -- score, Hessian, Tweedie ---------------------------------------------------------------------------------

@pytest.mark.parametrize("t", [1, 100, 600, 1000])
def test_score_and_hessian_match_finite_differences_of_log_pt(t):
    g, ab, xt, *_ = setup(t=t, n=20)
    s, H, _ = A.score_hessian(g, xt, ab)
    h, E = 1e-5, np.eye(g.d)
    fd_s = np.stack([(A.log_pt(g, xt + h * e, ab) - A.log_pt(g, xt - h * e, ab)) / (2 * h) for e in E], 1)
    fd_H = np.stack([(A.score(g, xt + h * e, ab) - A.score(g, xt - h * e, ab)) / (2 * h) for e in E], 2)
    np.testing.assert_allclose(s, fd_s, atol=1e-7 * np.abs(s).max())
    np.testing.assert_allclose(H, fd_H, atol=1e-7 * np.abs(H).max())


def test_torch_score_and_autograd_hessian_match_the_numpy_closed_forms():
    import torch

    g, ab, xt, *_ = setup(t=400, n=5)
    tg = A.TorchGMM(g)
    s, H, _ = A.score_hessian(g, xt, ab)
    np.testing.assert_allclose(tg.score(torch.tensor(xt), ab).numpy(), s, rtol=1e-10, atol=1e-12)
    for i in range(3):
        Hi = torch.autograd.functional.jacobian(lambda x: tg.score(x[None], ab)[0], torch.tensor(xt[i]))
        np.testing.assert_allclose(Hi.numpy(), H[i], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("t", [1, 50, 500, 1000])
def test_tweedie_moments_equal_the_exact_posterior_mixture_moments(t):
    g, ab, xt, *_ = setup(d=6, t=t)
    s, H, r = A.score_hessian(g, xt, ab)
    mean, cov = A.tweedie(xt, s, H, ab)
    mm, mc = A.mixture_moments(r, *A.posterior_components(g, xt, ab))
    np.testing.assert_allclose(mean, mm, atol=1e-10 * max(1, np.abs(mm).max()))
    np.testing.assert_allclose(cov, mc, atol=1e-9 * np.abs(mc).max())


def test_posterior_components_are_the_gaussian_conditional_of_x0_given_xt():
    # one component: x0 ~ N(m, S), x_t = sqrt(ab) x0 + sqrt(1-ab) e  ->  standard Gaussian conditioning
    g, ab, xt, *_ = setup(d=3, k=1, t=250, n=4)
    S = g.S[0]
    Cxx = ab * S + (1 - ab) * np.eye(3)
    K = math.sqrt(ab) * S @ np.linalg.inv(Cxx)
    S_post, m_post = A.posterior_components(g, xt, ab)
    np.testing.assert_allclose(S_post[0], S - K @ (math.sqrt(ab) * S), atol=1e-12)
    np.testing.assert_allclose(m_post[:, 0], g.m[0] + (xt - math.sqrt(ab) * g.m[0]) @ K.T, atol=1e-12)


# -- the bound chain -----------------------------------------------------------------------------------------

def test_exact_loglik_matches_quadrature_of_the_likelihood_against_the_prior_posterior():
    # d = 2, m = 1: log p_t(y|x_t) = log  integral N(y; A x0, sy^2) p(x0 | x_t) dx0, by brute force on a grid
    g, ab, xt, Aop, y, _ = setup(d=2, k=3, t=200, n=3, sy=0.2)
    s, H, r = A.score_hessian(g, xt, ab)
    Q1 = A.exact_loglik(y, Aop, 0.2, r, *A.posterior_components(g, xt, ab))
    u = np.linspace(-9, 9, 601)
    X = np.stack(np.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)
    dA = (u[1] - u[0]) ** 2
    prior = np.exp(A.log_pt(g, X, 1.0 - 1e-15))  # abar -> 1: the prior density itself
    for i in range(3):
        trans = np.exp(-0.5 * np.sum((xt[i] - math.sqrt(ab) * X) ** 2, 1) / (1 - ab)) / (2 * math.pi * (1 - ab))
        post = prior * trans / np.sum(prior * trans * dA)
        lik = np.exp(-0.5 * ((y[i, 0] - X @ Aop[0]) / 0.2) ** 2) / math.sqrt(2 * math.pi * 0.04)
        assert Q1[i] == pytest.approx(math.log(np.sum(lik * post * dA)), abs=1e-6)


def test_q2_is_the_posterior_expectation_of_the_gaussian_loglik_by_monte_carlo():
    g, ab, xt, Aop, y, rng = setup(d=4, k=3, t=300, n=2, sy=0.3)
    s, H, r = A.score_hessian(g, xt, ab)
    mean, cov = A.tweedie(xt, s, H, ab)
    Q2 = B.q2_second_order(y, Aop, mean, cov, 0.3)
    S_post, m_post = A.posterior_components(g, xt, ab)
    for i in range(2):
        X = A.sample_mixture(rng, r[i], m_post[i], S_post, 400_000)
        ll = B.q0_first_order(np.repeat(y[i:i + 1], len(X), 0), Aop, X, 0.3)
        assert Q2[i] == pytest.approx(ll.mean(), abs=5 * ll.std() / math.sqrt(len(X)))


@pytest.mark.parametrize(("op", "d", "t"), [("gauss", 2, 40), ("subsample", 8, 500), ("blur", 8, 1000),
                                            ("gauss", 16, 900)])
def test_surrogate_sits_below_second_order_which_sits_below_the_exact_loglik(op, d, t):
    g, ab, xt, Aop, y, _ = setup(d=d, k=5, t=t, n=300, op=op, sy=0.05)
    s, H, r = A.score_hessian(g, xt, ab)
    mean, cov = A.tweedie(xt, s, H, ab)
    Q1 = A.exact_loglik(y, Aop, 0.05, r, *A.posterior_components(g, xt, ab))
    Q0 = B.q0_first_order(y, Aop, mean, 0.05)
    Q2 = B.q2_second_order(y, Aop, mean, cov, 0.05)
    Q3 = B.q3_surrogate(y, Aop, mean, d + (1 - ab) * np.trace(H, axis1=1, axis2=2), ab, 0.05)
    assert not B.excess(Q3, Q2).any() and not B.excess(Q2, Q1).any()
    assert (Q0 >= Q2).all()
    # the surrogate's slack is exactly (||A||^2 Tr Sigma - Tr(A Sigma A^T)) / (2 sy^2)
    slack = (np.linalg.norm(Aop, 2) ** 2 * np.trace(cov, axis1=1, axis2=2)
             - np.einsum("ia,nab,ib->n", Aop, cov, Aop)) / (2 * 0.05**2)
    np.testing.assert_allclose(Q2 - Q3, slack, rtol=1e-6, atol=1e-6)


def test_excess_uses_the_relative_tolerance_of_the_spec():
    b = np.array([0.0, -1e6, 5.0])
    assert not B.excess(b + np.array([5e-10, 5e-4, 4e-9]), b).any()
    assert B.excess(b + np.array([2e-9, 2e-3, 6e-9]), b).all()


def test_operators_have_the_spec_shapes_and_the_blur_rows_sum_to_one():
    rng = np.random.default_rng(0)
    Bl = A.blur_matrix(8)
    assert Bl.shape == (4, 8) and np.allclose(Bl.sum(1), 1) and (np.count_nonzero(Bl, 1) == 5).all()
    assert Bl[0, 0] == pytest.approx(1 / (1 + 2 * math.exp(-0.5) + 2 * math.exp(-2)))
    S = A.make_operator(rng, "subsample", 8, 4)
    assert S.shape == (4, 8) and np.linalg.norm(S, 2) == pytest.approx(1) and (S.sum(1) == 1).all()
    assert A.make_operator(rng, "gauss", 16, 8).shape == (8, 16)


# -- the Hutchinson probe (Eq. 4) ---------------------------------------------------------------------------

def test_hutchinson_is_exact_in_expectation_for_a_linear_score_and_converges_for_a_mixture():
    # k = 1: the score is linear, eps^T (s(x + delta eps) - s(x)) / delta = eps^T H eps for any delta
    g, ab, xt, *_ = setup(d=5, k=1, t=500, n=3)
    s, H, _ = A.score_hessian(g, xt, ab)
    eps = np.random.default_rng(3).standard_normal((3, 7, 5))
    T_hat, cv = A.hutchinson(g, xt, s, ab, eps, 1.0)
    quad = np.einsum("npa,nab,npb->np", eps, H, eps)
    np.testing.assert_allclose(T_hat, quad.mean(1), rtol=1e-10)
    np.testing.assert_allclose(cv, (np.sum(eps**2, -1) + (1 - ab) * quad).mean(1), rtol=1e-10)
    # a mixture, many probes, small delta: both forms converge to d + (1-ab) Tr H
    g, ab, xt, *_ = setup(d=4, k=5, t=300, n=4)
    s, H, _ = A.score_hessian(g, xt, ab)
    eps = np.random.default_rng(4).standard_normal((4, 100_000, 4))
    T_hat, cv = A.hutchinson(g, xt, s, ab, eps, 1e-4)
    trH = np.trace(H, axis1=1, axis2=2)
    np.testing.assert_allclose(T_hat, trH, atol=0.02 * np.abs(trH).max())
    np.testing.assert_allclose(cv, 4 + (1 - ab) * trH, atol=0.02 * np.abs(4 + (1 - ab) * trH).max())


# -- exact posterior, W2 ---------------------------------------------------------------------------------------

def test_exact_posterior_weights_and_moments_match_quadrature():
    g, ab, xt, Aop, y, _ = setup(d=2, k=3, t=10, n=1, sy=0.3)
    w, mus, Vs = A.exact_posterior(g, Aop, y[0], 0.3)
    u = np.linspace(-9, 9, 601)
    X = np.stack(np.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)
    p = np.exp(A.log_pt(g, X, 1.0 - 1e-15) - 0.5 * ((y[0, 0] - X @ Aop[0]) / 0.3) ** 2)
    p /= p.sum()
    np.testing.assert_allclose(w @ mus, p @ X, atol=1e-6)
    cov = np.einsum("j,jab->ab", w, Vs) + np.einsum("j,ja,jb->ab", w, mus - w @ mus, mus - w @ mus)
    np.testing.assert_allclose(cov, (X - p @ X).T @ ((X - p @ X) * p[:, None]), atol=1e-6)


def test_w2_exact_equals_the_best_permutation_and_sliced_w2_is_exact_in_1d():
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    best = min(np.mean(np.sum((X - Y[list(p)]) ** 2, 1)) for p in itertools.permutations(range(6)))
    assert A.w2_exact(X, Y) == pytest.approx(math.sqrt(best), rel=1e-9)
    x, z = rng.normal(size=(50, 1)), rng.normal(size=(50, 1))
    assert A.w2_sliced(x, z, rng) == pytest.approx(A.w2_exact(x, z), rel=1e-9)


# -- the samplers -------------------------------------------------------------------------------------------------

def test_samplers_count_score_evaluations_as_described():
    g, ab, xt, Aop, y, rng = setup(d=2, k=2, n=4)
    lam = np.full(4, 0.01)
    assert A.run_sampler(g, Aop, y, lam, rng, ABAR, 4, 5, 0.02)[1] == 4 * (5 * 2 + 1)  # STSL: 550 at 50 steps
    assert A.run_sampler(g, Aop, y, lam, rng, ABAR, 4, 5, 0.0)[1] == 4 * (5 + 1)  # first order
    assert A.run_sampler(g, Aop, y, lam, rng, ABAR, 4, 1, 0.0)[1] == 4 * 2  # DPS-style
    assert list(A.ddim_times(50)[:3]) == [1000, 980, 960] and A.ddim_times(50)[-1] == 20


def test_unguided_ddim_with_the_exact_score_samples_the_prior():
    rng = np.random.default_rng(6)
    g = A.make_prior(rng, 2, 3)
    Aop = np.eye(2)[:1]
    X, _ = A.run_sampler(g, Aop, np.zeros((800, 1)), np.zeros(800), rng, ABAR, 50, 1, 0.0)
    ref = g.sample(rng, 800)
    floor = A.w2_exact(g.sample(rng, 800), ref)
    assert A.w2_exact(X, ref) < floor + 0.1


def test_guidance_gradient_is_the_tweedie_jacobian_times_the_residual():
    import torch

    g, ab, xt, Aop, y, _ = setup(d=3, k=2, t=300, n=4)
    tg = A.TorchGMM(g)
    x = torch.tensor(xt, requires_grad=True)
    x0 = (x + (1 - ab) * tg.score(x, ab)) / math.sqrt(ab)
    (grad,) = torch.autograd.grad(torch.sum((torch.tensor(y) - x0 @ torch.tensor(Aop).T) ** 2), x)
    s, H, _ = A.score_hessian(g, xt, ab)
    J = (np.eye(3) + (1 - ab) * H) / math.sqrt(ab)  # d x0_bar / d x_t (symmetric)
    res = y - ((xt + (1 - ab) * s) / math.sqrt(ab)) @ Aop.T
    np.testing.assert_allclose(grad.numpy(), -2 * np.einsum("nab,nb->na", J, res @ Aop), rtol=1e-9)


# -- configuration -----------------------------------------------------------------------------------------------

def test_bad_parameters_are_config_errors(tmp_path):
    for kw, msg in ((dict(dims=[1]), "dims"), (dict(ops=["motion"]), "ops"), (dict(sigma_ys=[0.0]), "sigma_ys"),
                    (dict(surrogate="nope"), "surrogate"), (dict(n_t=0), "n_t"), (dict(deltas=[0.0]), "deltas"),
                    (dict(c_grid=[-1.0]), "c_grid"), (dict(eta=-0.1), "eta")):
        with pytest.raises(ConfigError, match=msg):
            boundrun.run("stsl-tweedie-bound", profile="smoke", out=str(tmp_path), **kw)


def test_registration_imports_no_heavy_module():
    code = ("import sys, boundrun.experiments.stsl_tweedie_bound; "
            "print(sorted(m for m in ('torch','scipy','matplotlib','pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- runs, verdicts and their negative controls ---------------------------------------------------------------------

def status(res, name):
    return res.claims.set_index("claim").loc[name, "status"]


def evaluate(name, res, profile="default", **changes):
    claim = dataclasses.replace(CLAIM[name], **changes) if changes else CLAIM[name]
    return claim.evaluate(res.results, res.bounds, "t", profile).status


@dataclasses.dataclass
class Frames:
    results: object
    bounds: object


def perturbed(res, metric, value):
    r = res.results.copy()
    r.loc[r["metric"] == metric, "value"] = value
    return Frames(r, res.bounds)


def test_smoke_profile_decides_v1_only(tmp_path):
    res = boundrun.run("stsl-tweedie-bound", profile="smoke", out=str(tmp_path))
    st = res.claims.set_index("claim")["status"]
    assert st["v1_chain_exact_trace"] == "pass"
    for name in ("v2_cv_estimator_below_q1", "v2_plain_estimator_report", "v2_paper_estimator_report",
                 "v3_first_order_overconfident", "v4_stsl_beats_first_order"):
        assert st[name] == "inconclusive", name
    assert {"Q2_second_order", "Q3_surrogate", "Q0_first_order"} <= set(res.bounds["bound"])
    assert (res.path / "figure.png").exists()


def test_v1_fails_when_the_surrogate_drops_its_trace_term(tmp_path):
    res = boundrun.run("stsl-tweedie-bound", profile="smoke", out=str(tmp_path), surrogate="first_order")
    assert status(res, "v1_chain_exact_trace") == "fail"


SMALL = dict(dims=[2, 8], ops=["gauss"], n_t=4, pairs=30, seeds=2, probes=[1, 16], sampler_dims=[2],
             sampler_seeds=2, sampler_samples=50, tune_samples=30, c_grid=[1e-3, 3e-3], ddim_steps=5, K_inner=2,
             dps_steps=[5])


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return boundrun.run("stsl-tweedie-bound", out=str(tmp_path_factory.mktemp("small")), **SMALL)


def test_v2_passes_for_the_control_variate_form_and_fails_for_the_plain_form(small):
    assert status(small, "v2_cv_estimator_below_q1") == "pass"
    # the plain estimator d + (1-ab) T_hat, judged by V2's gate, fails (the variance effect of spec 40)
    assert evaluate("v2_cv_estimator_below_q1", small, methods=("hutch_plain",)) == "fail"
    assert evaluate("v2_cv_estimator_below_q1", perturbed(small, "viol_q1", 0.05)) == "fail"


def test_v3_fails_when_first_order_never_exceeds_the_exact_loglik(small):
    assert status(small, "v3_first_order_overconfident") != "fail"
    assert evaluate("v3_first_order_overconfident", perturbed(small, "q0_over", 0.0)) == "fail"


def test_v4_fails_when_stsl_loses_every_setting(small):
    assert evaluate("v4_stsl_beats_first_order", perturbed(small, "stsl_win_frac", 0.0)) == "fail"
    assert evaluate("v4_stsl_beats_first_order", perturbed(small, "stsl_win_frac", 1.0)) == "pass"
    w2 = small.results[small.results["metric"] == "w2"]
    assert set(w2["method"]) == {"stsl", "first_order", "dps5", "posterior_ref"}
    assert np.isfinite(w2["value"]).all()
