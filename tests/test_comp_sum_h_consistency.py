"""Paper 24 (comp-sum-h-consistency): the bound and every estimator against independent computations, the
smoke run, bad parameters, and a negative control for every claim."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize, minimize_scalar

import boundrun
from boundrun.config import ConfigError
from boundrun.experiments.comp_sum_h_consistency import CLAIMS
from boundrun.experiments.comp_sum_h_consistency import algorithms as A
from boundrun.experiments.comp_sum_h_consistency.bounds import Gamma_tau, T_tau
from boundrun.experiments.comp_sum_h_consistency.driver import upper_envelope

CLAIM = {c.name: c for c in CLAIMS}
TAUS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


def ell(s, tau):
    """l_tau straight from the definition Phi_tau(1/s - 1)."""
    u = 1.0 / s - 1.0
    return math.log1p(u) if tau == 1 else ((1 + u) ** (1 - tau) - 1) / (1 - tau)


def C(s, p, tau):
    return sum(pi * ell(si, tau) for pi, si in zip(p, s, strict=True) if pi > 0)


def two_class_gap(t, tau):
    """C(1/2, 1/2) - inf_s C(s, p) for p = ((1+t)/2, (1-t)/2), the inf by a bounded scalar search."""
    p = ((1 + t) / 2, (1 - t) / 2)
    r = minimize_scalar(lambda a: C((a, 1 - a), p, tau), bounds=(1e-12, 1 - 1e-12), method="bounded",
                        options={"xatol": 1e-12})
    return C((0.5, 0.5), p, tau) - min(r.fun, C((1 - 1e-15, 1e-15), p, tau) if tau >= 2 else r.fun)


@pytest.mark.parametrize("tau", [0.0, 0.3, 0.5, 1.0, 1.5, 2.0])
def test_T_tau_at_two_classes_is_the_exact_conditional_gap_at_the_tie(tau):
    for t in (0.05, 0.3, 0.7, 0.95):
        assert float(T_tau(t, tau, 2)) == pytest.approx(two_class_gap(t, tau), rel=1e-6, abs=1e-10)


def test_T_tau_closed_forms_and_n_dependence():
    t = np.linspace(0, 1, 11)
    np.testing.assert_allclose(T_tau(t, 0.0, 7), 1 - np.sqrt(1 - t**2), atol=1e-15)
    H = -(((1 + t) / 2) * np.log((1 + t) / 2) + np.where(t < 1, ((1 - t) / 2) * np.log(np.maximum(1 - t, 1e-300) / 2),
                                                           0))
    np.testing.assert_allclose(T_tau(t, 1.0, 5), np.log(2) - H, atol=1e-14)
    np.testing.assert_allclose(T_tau(t, 2.0, 5), t / 5)
    np.testing.assert_allclose(T_tau(t, 3.0, 4), t / (2 * 16))
    np.testing.assert_allclose(T_tau(t, 1.5, 3), T_tau(t, 1.5, 2) * (2 / 3) ** 0.5)
    for tau in (0.0, 0.5, 1.0, 1.5):  # square-root regime: T ~ c t^2 near 0
        assert T_tau(1e-3, tau, 3) / T_tau(2e-3, tau, 3) == pytest.approx(0.25, rel=1e-3)
        assert np.all(np.diff(T_tau(np.linspace(0, 1, 101), tau, 3)) > 0)


@pytest.mark.parametrize("tau", TAUS)
def test_Gamma_inverts_T_and_is_one_beyond_T_of_one(tau):
    t = np.array([1e-4, 0.01, 0.2, 0.6, 0.99])
    np.testing.assert_allclose(Gamma_tau(T_tau(t, tau, 3), tau, 3), t, rtol=1e-7)
    top = float(T_tau(1.0, tau, 3))
    assert Gamma_tau(top * 1.01, tau, 3)[0] == 1.0 and Gamma_tau(0.0, tau, 3)[0] == 0.0
    assert Gamma_tau(T_tau(0.4, tau, 3, scale=2.0), tau, 3, scale=2.0)[0] == pytest.approx(0.4, rel=1e-8)


@pytest.mark.parametrize("tau", TAUS)
def test_conditional_risk_infimum_matches_numerical_minimisation(tau):
    rng = np.random.default_rng(1)
    for p in rng.dirichlet(np.ones(3), size=3):
        r = minimize(lambda h, p=p: C(np.exp(h - np.logaddexp.reduce(h)), p, tau), np.zeros(3), method="Nelder-Mead",
                     options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000})
        best = r.fun
        if tau >= 2:  # the infimum sits at a vertex: compare with a nearly one-hot score
            h = 40.0 * (np.arange(3) == np.argmax(p))
            best = min(best, C(np.exp(h - np.logaddexp.reduce(h)), p, tau))
        assert float(A.cond_risk_inf(p, tau)) == pytest.approx(best, abs=1e-7)
        H = rng.normal(size=(4, 3))
        direct = [C(np.exp(h - np.logaddexp.reduce(h)), p, tau) - float(A.cond_risk_inf(p, tau)) for h in H]
        np.testing.assert_allclose(A.regret_tau(H, np.broadcast_to(p, H.shape), tau), direct, atol=1e-12)


def test_zero_one_regret_breaks_ties_toward_the_lowest_index():
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    H = np.zeros((2, 3))
    np.testing.assert_allclose(A.regret_01(H, p), [0.3, 0.0])
    np.testing.assert_allclose(A.regret_01(np.array([[0.0, 0.0, 1.0], [0, 2.0, 2.0]]), p), [0.2, 0.5])


@pytest.mark.parametrize("tau", [0.0, 1.0, 1.5, 2.0])
def test_empirical_gradient_matches_finite_differences(tau):
    rng = np.random.default_rng(2)
    N = rng.integers(0, 4, size=(1, 5, 3)).astype(float)
    H = rng.normal(size=(1, 5, 3))
    _, G = A.empirical_risk_and_grad(H, N, 20, tau)
    num = np.zeros_like(H)
    for idx in np.ndindex(H.shape):
        e = np.zeros_like(H)
        e[idx] = 1e-6
        num[idx] = (A.empirical_risk_and_grad(H + e, N, 20, tau)[0][0]
                    - A.empirical_risk_and_grad(H - e, N, 20, tau)[0][0]) / 2e-6
    np.testing.assert_allclose(G, num, atol=1e-7)


def test_gradient_descent_never_increases_the_empirical_loss_and_records_the_tied_start():
    rng = np.random.default_rng(3)
    N = rng.multinomial(40, np.ones(3) / 3, size=(2, 6)).astype(float)
    rec = np.array([0, 1, 2, 5, 10, 30])
    Hs = A.train_gd(N, 0.0, 240, 30, 5.0, rec)  # a large step on purpose: steps get rejected and halved
    assert Hs.shape == (6, 2, 6, 3) and np.all(Hs[0] == 0)
    L = np.array([A.empirical_risk_and_grad(H, N, 240, 0.0)[0] for H in Hs])
    assert np.all(np.diff(L, axis=0) <= 1e-12) and L[-1].max() < L[0].min()


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 1.5, 2.0])
def test_inner_infimum_with_a_forced_argmax_matches_constrained_slsqp(tau):
    rng = np.random.default_rng(4)
    for p in rng.dirichlet(np.ones(3) * 0.7, size=4):
        k = int(np.argsort(p)[0])  # force the least likely class
        cons = [{"type": "eq", "fun": lambda s: s.sum() - 1}]
        cons += [{"type": "ineq", "fun": lambda s, j=j, k=k: s[k] - s[j]} for j in range(3) if j != k]
        best = min(minimize(lambda s, p=p: C(np.clip(s, 1e-12, 1), p, tau), s0, method="SLSQP",
                            bounds=[(1e-12, 1)] * 3, constraints=cons, options={"ftol": 1e-14}).fun
                   for s0 in ([1 / 3] * 3, [0.2, 0.2, 0.6][::-1], [0.45, 0.1, 0.45]))
        assert float(A.inf_given_argmax(p, k, tau)) == pytest.approx(best, abs=2e-6)


def test_calibration_function_matches_brute_force_over_p_and_s():
    """delta_tau(eps) by plain SLSQP over (p, s) with restarts, nothing of the pooled inner formula."""
    rng = np.random.default_rng(5)

    def brute(tau, eps):
        def f(z):
            p, s = np.clip(z[:3], 0, 1), np.clip(z[3:], 1e-12, 1)
            one_plus_u = 1.0 / s  # Phi_tau(u) with u = 1/s - 1, vectorised
            phi = np.log(one_plus_u) if tau == 1 else (one_plus_u ** (1 - tau) - 1) / (1 - tau)
            return float(p @ phi) - float(A.cond_risk_inf(p, tau))

        cons = [{"type": "eq", "fun": lambda z: z[:3].sum() - 1}, {"type": "eq", "fun": lambda z: z[3:].sum() - 1},
                {"type": "ineq", "fun": lambda z: z[0] - z[1] - eps}, {"type": "ineq", "fun": lambda z: z[0] - z[2]},
                {"type": "ineq", "fun": lambda z: z[4] - z[3]}, {"type": "ineq", "fun": lambda z: z[4] - z[5]}]
        vals = []
        for _ in range(8):
            z0 = np.concatenate([rng.dirichlet(np.ones(3)), rng.dirichlet(np.ones(3))])
            r = minimize(f, z0, method="SLSQP", bounds=[(0, 1)] * 6, constraints=cons,
                         options={"ftol": 1e-13, "maxiter": 500})
            if r.success:
                vals.append(r.fun)
        return min(vals)

    # tau in (1, 2) is where n = 3 differs from n = 2 (the worst p has three non-zero classes); for tau <= 1 the
    # optimum sits on p_2 = 0, where plain SLSQP crawls, and V3 checks delta = T there
    for tau, eps in ((1.2, 0.2), (1.5, 0.4), (1.5, 0.8)):
        assert A.calibration_delta(tau, 3, eps) == pytest.approx(brute(tau, eps), abs=3e-4)
    for eps in (0.1, 0.3, 0.5):  # MAE, n = 3: the LP over vertices gives eps/3 for eps <= 1/2 (by hand)
        assert A.calibration_delta(2.0, 3, eps) == pytest.approx(eps / 3, abs=1e-9)


def test_upper_envelope_matches_brute_force():
    rng = np.random.default_rng(6)
    x, y = rng.exponential(size=50), rng.uniform(size=50)
    u = np.geomspace(0.01, 10, 13)
    brute = [max([yi for xi, yi in zip(x, y, strict=True) if xi <= ui], default=0.0) for ui in u]
    np.testing.assert_allclose(upper_envelope(x, y, u), brute)


def test_bad_parameters_are_config_errors(tmp_path):
    for kw, msg in ((dict(tau=[-0.5]), "tau must"), (dict(kappa=[0.0]), "kappa"), (dict(n_classes=[1]), "n_classes"),
                    (dict(calib_n=[4]), "calib_n"), (dict(lr=0.0), "lr"), (dict(perturb_sigma=[1.0, 0.1]), "perturb"),
                    (dict(probe_t=[1.0]), "probe_t"), (dict(bound_scale=-1.0), "bound_scale")):
        with pytest.raises(ConfigError, match=msg):
            boundrun.run("comp-sum-h-consistency", profile="smoke", out=str(tmp_path), **kw)


def status(res, name):
    return res.claims.set_index("claim").loc[name, "status"]


def test_smoke_profile_runs_decides_v1_v2_and_leaves_v3_v4_inconclusive(tmp_path):
    res = boundrun.run("comp-sum-h-consistency", profile="smoke", out=str(tmp_path))
    assert (res.path / "figure.png").exists() and (res.path / "claims.csv").exists()
    st = res.claims.set_index("claim")["status"]
    for name in ("V1_validity", "V1_validity_pointwise", "V2_tightness"):
        assert st[name] == "pass", res.claims
    for name in ("V3_calibration_lower", "V3_calibration_tight_n2", "V3_calibration_tight_n3", "V4_sqrt_growth",
                 "V4_linear_growth"):
        assert st[name] == "inconclusive"


SMALL = dict(m=30, n_classes=[2, 3], kappa=[1.0], tau=[0.0, 1.0, 1.5, 2.0], seeds=1, steps=40, checkpoints=5,
             n_random=30, n_perturbed=60, calib_n=[2, 3], calib_eps=4)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return boundrun.run("comp-sum-h-consistency", out=str(tmp_path_factory.mktemp("good")), **SMALL)


def test_small_default_run_passes_the_gated_claims(good):
    for name in ("V1_validity", "V1_validity_pointwise", "V2_tightness", "V3_calibration_lower",
                 "V3_calibration_tight_n2", "V3_calibration_tight_n3"):
        assert status(good, name) == "pass", good.claims


def test_validity_and_calibration_lower_bound_fail_with_an_inflated_T(tmp_path):
    """Negative control: T_tau x 1.5 is no longer a lower bound of the calibration function."""
    bad = boundrun.run("comp-sum-h-consistency", out=str(tmp_path), bound_scale=1.5, **SMALL)
    for name in ("V1_validity", "V1_validity_pointwise", "V3_calibration_lower", "V3_calibration_tight_n2",
                 "V3_calibration_tight_n3"):
        assert status(bad, name) == "fail", bad.claims
    assert bad.notes and "bound_scale" in bad.notes[0]


def test_tightness_fails_with_a_deflated_T(tmp_path):
    """Negative control: T_tau x 0.5 is a valid but loose bound; the probes no longer touch its Gamma."""
    bad = boundrun.run("comp-sum-h-consistency", out=str(tmp_path), bound_scale=0.5, **SMALL)
    assert status(bad, "V2_tightness") == "fail" and status(bad, "V3_calibration_tight_n2") == "fail"
    assert status(bad, "V1_validity") == "pass" and status(bad, "V3_calibration_lower") == "pass"


def _envelope_frame(power, taus=(1.0, 2.0)):
    u = np.geomspace(1e-7, 1e-3, 9)
    rows = [dict(experiment="x", method=f"tau={t:g}", dR_tau=ui, part="envelope", tau=t,
                 regime="tau<=1" if t <= 1 else "tau>=2", n_classes=n, kappa=1.0, source="all", eps=0.0, seed=s,
                 metric="env_near0", value=(0.5 if n == 2 else 0.3) * ui**power * (1 + 0.01 * s))
            for t in taus for n in (2, 3) for ui in u for s in range(3)]
    return pd.DataFrame(rows)


def test_growth_claims_tell_square_root_from_linear_envelopes():
    sq, lin = _envelope_frame(0.5), _envelope_frame(1.0)
    b = pd.DataFrame(columns=["bound", "side", "constant", "dR_tau", "metric", "value"])
    assert CLAIM["V4_sqrt_growth"].evaluate(sq, b, "dR_tau").status == "pass"
    assert CLAIM["V4_sqrt_growth"].evaluate(lin, b, "dR_tau").status == "fail"
    assert CLAIM["V4_linear_growth"].evaluate(lin, b, "dR_tau").status == "pass"
    assert CLAIM["V4_linear_growth"].evaluate(sq, b, "dR_tau").status == "fail"


def test_growth_claim_on_a_run_fails_with_an_altered_exponent(good):
    r = good.results
    for name in ("V4_sqrt_growth", "V4_linear_growth"):
        real = CLAIM[name].evaluate(r, good.bounds, "dR_tau")
        assert np.isfinite(real.measured)
        altered = dataclasses.replace(CLAIM[name], exponent=real.measured + 1.0)
        assert altered.evaluate(r, good.bounds, "dR_tau").status == "fail"
