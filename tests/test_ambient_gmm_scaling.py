"""Paper 49 (ambient-gmm-scaling): the estimator's pieces against exact computations (Gauss-Hermite
quadrature, a generic Hankel solver, the transport linear program, the 1-D CDF formula), the bound formulas
in closed-form special cases, a smoke run, and a negative control for every claim."""

import dataclasses

import numpy as np
import pytest
from numpy.polynomial import hermite_e as He

import boundrun
from boundrun.config import ConfigError
from boundrun.experiments.ambient_gmm_scaling import CLAIMS
from boundrun.experiments.ambient_gmm_scaling import algorithms as A
from boundrun.experiments.ambient_gmm_scaling import bounds as B

CLAIM = {c.name: c for c in CLAIMS}


# -- the estimator --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "s"), [(0.7, 1.0), (-0.3, 2.0), (1.2, 1.25)])
def test_hermite_moments_are_exactly_unbiased_under_gauss_hermite_quadrature(a, s):
    # E f(a + s Z) = sum_i w_i f(a + s x_i) / sqrt(2 pi), exact for polynomials of degree < 2 * 20
    x, w = He.hermegauss(20)
    w = w / np.sqrt(2 * np.pi)
    for j in range(1, 4):
        c = np.zeros(j + 1)
        c[j] = 1.0
        assert np.sum(w * s**j * He.hermeval(x + a / s, c)) == pytest.approx(a**j, abs=1e-12)
    raw = np.sum(w * (a + s * x) ** 2)  # the broken variant's second moment keeps the noise s^2
    assert raw == pytest.approx(a**2 + s**2)


def test_hermite_moments_match_the_formula_with_inverse_variance_weights():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(3, 50))
    s = np.where(np.arange(50) < 20, 1.0, 2.0)
    m = A.hermite_moments(y, s, 2)
    for j, f in ((1, lambda y, s: y), (2, lambda y, s: y**2 - s**2), (3, lambda y, s: y**3 - 3 * s**2 * y)):
        om = s ** (-2.0 * j)
        np.testing.assert_allclose(m[:, j], (f(y, s) * om).sum(axis=1) / om.sum(), rtol=1e-12)


def test_dmm_recovers_a_two_atom_distribution_from_its_exact_moments():
    atoms, w = np.array([-0.5, 0.8]), np.array([0.4, 0.6])
    m = np.array([[np.sum(w * atoms**j) for j in range(4)]])
    a, p = A.dmm_k2(m)
    np.testing.assert_allclose(a[0], atoms, atol=1e-12)
    np.testing.assert_allclose(p[0], w, atol=1e-12)


def test_vectorised_dmm_agrees_with_the_generic_hankel_solver():
    rng = np.random.default_rng(2)
    for _ in range(50):
        at = np.sort(rng.uniform(-1, 1, 2))
        w = rng.dirichlet([1, 1])
        m = np.array([np.sum(w * at**j) for j in range(4)]) + np.r_[0, rng.normal(0, 0.02, 3)]
        if m[2] - m[1] ** 2 <= 0:
            continue
        a, p = A.dmm_k2(m[None])
        ag, pg = A.dmm_generic(m, 2)
        np.testing.assert_allclose(a[0], ag, atol=1e-9)
        np.testing.assert_allclose(p[0], pg, atol=1e-9)


def test_dmm_collapses_to_one_atom_when_the_hankel_determinant_is_not_positive():
    a, p = A.dmm_k2(np.array([[1.0, 0.3, 0.05, 0.2]]))  # variance 0.05 - 0.09 < 0
    np.testing.assert_allclose(a[0], [0.3, 0.3])
    np.testing.assert_allclose(p[0], [1.0, 0.0])


def test_two_atom_w1_matches_the_transport_linear_program_and_the_1d_cdf_formula():
    rng = np.random.default_rng(3)
    for d in (1, 3):
        a = rng.normal(size=(40, 2, d))
        p = rng.dirichlet([1, 1], size=40)
        b, q = rng.normal(size=(2, d)), np.array([0.3, 0.7])
        w = A.w1_two_atoms(a, p, b, q)
        ref = [A.w1_linprog(a[r], p[r], b, q) for r in range(40)]
        np.testing.assert_allclose(w, ref, atol=1e-9)
        if d == 1:  # W1 = integral |F - G| in one dimension
            for r in range(40):
                pts = np.sort(np.r_[a[r, :, 0], b[:, 0]])
                F = [(p[r] * (a[r, :, 0] <= t)).sum() for t in pts[:-1]]
                G = [(q * (b[:, 0] <= t)).sum() for t in pts[:-1]]
                assert w[r] == pytest.approx(np.sum(np.abs(np.subtract(F, G)) * np.diff(pts)), abs=1e-12)


def test_the_estimator_is_consistent_and_removes_heterogeneous_noise():
    inst = A.instance("I1")
    s = np.where(np.arange(200000) < 50000, 1.0, 1.5)
    X = A.sample(inst, s, 4, np.random.default_rng(4))
    atoms, wt, _ = A.estimate(X, s)
    assert A.w1_two_atoms(atoms, wt, inst.theta, inst.w).max() < 0.1
    bad, wb, _ = A.estimate(X, s, denoise=False)  # raw moments: the noise spreads the atoms apart
    assert A.w1_two_atoms(bad, wb, inst.theta, inst.w).min() > 0.3


def test_the_subspace_step_finds_the_direction_of_the_atoms_in_high_dimension():
    inst = A.instance("I3", np.random.default_rng(5), d_high=20)
    out = A.run_scales(inst, 20000, [1.0, 2.0], 4, np.random.default_rng(6))
    assert out[1.0][1].max() < 0.2 and out[1.0][0].max() < 0.15
    assert out[2.0][1].mean() > out[1.0][1].mean()  # more noise, worse direction (same draws)
    e = inst.theta[1] / np.linalg.norm(inst.theta[1])
    assert A.sin_angle(e[None], e)[0] == pytest.approx(0.0, abs=1e-7)


# -- the bounds -----------------------------------------------------------------------------------------

def test_homogeneous_noise_rescales_the_bracket_by_s():
    n, s, d = 1e5, 1.7, 50
    n4, n6 = B.effective_sizes(np.full(int(n), s))
    assert n4 == pytest.approx(n * s**-4) and n6 == pytest.approx(n * s**-6)
    assert B.bracket(n4, n6, d) == pytest.approx(s * ((d / n) ** 0.25 + n ** (-1 / 6)))


def test_fitted_constant_interpolation_and_effective_size():
    N = np.array([1e3, 1e4, 1e5])
    br = B.bracket(N, N, 1)
    assert B.fit_constant(np.array([2.0, 1.0, 5.0]) * br, br, 2) == pytest.approx(2.0)
    assert B.loglog_interp(N, 3 * N**-0.4, 3e3) == pytest.approx(3 * 3e3**-0.4)
    assert B.n_eff(2000, 18000, 2.0) == pytest.approx(2000 + 18000 / 64)


def test_bad_parameters_are_config_errors(tmp_path):
    for kw, msg in ((dict(s_e2=[0.5, 1.0]), "s must be >= 1"), (dict(k=3), "k must be 2"),
                    (dict(clean_fraction=1.5), "clean_fraction"), (dict(instances_e1=["I9"]), "instances_e1"),
                    (dict(N_e1=[1000, 2000], s_e4=[1.05]), "outside the E1 grid")):
        with pytest.raises(ConfigError, match=msg):
            boundrun.run("ambient-gmm-scaling", profile="smoke", out=str(tmp_path), **kw)


# -- runs, verdicts and their negative controls --------------------------------------------------------

def test_smoke_profile_decides_only_the_bound_check(tmp_path):
    res = boundrun.run("ambient-gmm-scaling", profile="smoke", out=str(tmp_path))
    st = res.claims.set_index("claim")["status"]
    assert st["V1_bound"] == "pass"
    assert (st.drop("V1_bound") == "inconclusive").all()
    assert {"rate_bound", "parametric_n^-1/2", "neff_pred", "neff_pred_x1.5"} <= set(res.bounds["bound"])
    assert (res.path / "figure.png").exists()


SMALL = dict(seeds=12, instances_e1=["I1", "I3"], N_e1=[1000, 3162, 10000, 31623, 100000], instances_e2=["I1", "I2"],
             N_e2=20000, s_e3=[1.0, 1.5, 2.0], N_e3=2000, d_high=10, s_e4=[2.0], seeds_e4=40)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return boundrun.run("ambient-gmm-scaling", out=str(tmp_path_factory.mktemp("good")), **SMALL)


@pytest.fixture(scope="module")
def raw_moments(tmp_path_factory):
    """Broken estimator: raw moments, the noise variance is never removed, so W1 stalls at its bias."""
    return boundrun.run("ambient-gmm-scaling", out=str(tmp_path_factory.mktemp("bad")), seeds=12,
                        instances_e1=["I1"], N_e1=[1000, 3162, 10000, 31623, 100000], instances_e2=[], s_e3=[],
                        s_e4=[], denoise=False)


@dataclasses.dataclass
class Frames:
    results: object
    bounds: object


def evaluate(name, res, **changes):
    claim = dataclasses.replace(CLAIM[name], **changes) if changes else CLAIM[name]
    return claim.evaluate(res.results, res.bounds, "N", "default").status


def perturbed(res, fn, **where):
    r = res.results.copy()
    sel = np.ones(len(r), dtype=bool)
    for col, v in where.items():
        sel &= (r[col] == v).to_numpy()
    r.loc[sel, "value"] = fn(r.loc[sel])
    return Frames(r, res.bounds)


def test_rate_bound_and_slope_fail_for_the_estimator_that_keeps_the_noise(good, raw_moments):
    assert evaluate("V1_bound", good) == "pass"
    assert evaluate("V1_bound", raw_moments) == "fail"
    assert evaluate("V1_slope", raw_moments) == "fail"


def test_slope_fails_when_the_error_falls_faster_than_parametric(good):
    faster = perturbed(good, lambda d: d["value"] * (d["N"] / 1000.0) ** -0.5, sweep="E1", metric="w1")
    assert evaluate("V1_slope", faster) == "fail"
    assert evaluate("V1_slope_I3", faster) == "fail"
    stalled = perturbed(good, lambda d: d["value"] * (d["N"] / 1000.0) ** 0.5, sweep="E1", metric="w1")
    assert evaluate("V1_bound", stalled) == "fail"


def test_price_exponents_fail_when_the_error_grows_too_fast_in_s(good):
    steeper = perturbed(good, lambda d: d["value"] * d["s"] ** 3, sweep="E2", metric="w1")
    assert evaluate("V2_price_I1", steeper) == "fail"
    assert evaluate("V2_price_I2", steeper) == "fail"
    flat = perturbed(good, lambda d: d["value"] * d["s"] ** -3, sweep="E3", metric="sin_angle")
    assert evaluate("V3_price_dim", flat) == "fail"


def test_mixture_order_fails_when_the_mixed_set_is_made_worse(good):
    worse = perturbed(good, lambda d: d["value"] * 4, sweep="E4", method="mix")
    assert evaluate("V4_mix_beats_clean10", worse) == "fail"
    assert evaluate("V4_mix_beats_noisy100", worse) == "fail"
    assert evaluate("V4_neff_upper", worse) == "fail"
    better = perturbed(good, lambda d: d["value"] / 4, sweep="E4", method="mix")
    assert evaluate("V4_neff_lower", better) == "fail"


def test_simulated_error_matches_the_gaussian_moment_asymptotics_across_noise_scales():
    # independent route to the E2 price: the DMM applied to N(m, Sigma(s)/n) moments, Sigma exact by quadrature
    inst, n = A.instance("I1"), 100000
    sim = A.run_scales(inst, n, [1.0, 1.5], 60, np.random.default_rng(7))
    for s in (1.0, 1.5):
        ref = A.clt_mean_w1(inst, s, n, 20000, np.random.default_rng(8))
        assert sim[s][0].mean() == pytest.approx(ref, rel=0.25)
    q_clt = 2 * np.log(A.clt_mean_w1(inst, 1.5, n, 20000, np.random.default_rng(9))
                       / A.clt_mean_w1(inst, 1.0, n, 20000, np.random.default_rng(9))) / np.log(1.5)
    assert 4.0 < q_clt < 6.0  # the local price exponent at s in [1, 1.5] sits below its large-s limit 6
