"""Paper 11 (plain-isac-crb): both CRBs against finite-difference Fisher matrices and the single-tone closed
form, the root-MUSIC / AIC / compression / fusion steps against direct computations, the smoke run, bad
parameters, and a negative control for every claim."""

import dataclasses

import numpy as np
import pytest

import boundrun
from boundrun.config import ConfigError
from boundrun.experiments.plain_isac_crb import CLAIMS
from boundrun.experiments.plain_isac_crb import algorithms as A
from boundrun.experiments.plain_isac_crb import bounds as B

CLAIM = {c.name: c for c in CLAIMS}


def small(theta=(60.0, 100.0), dist=(50.0, 200.0), kmh=(0.0, 20.0), N_R=6, K=10, N=12):
    return A.make_scenario(26e9, N_R, K, N, 60e3, 1.25, theta, dist, kmh, round_delay=False)


def model_vec(sc, t):
    """vec E[H] as a function of the 5P real parameters (theta, dist, v, Re beta, Im beta), parameter-major."""
    P = sc.P
    th, di, v, br, bi = t.reshape(5, P)
    Af, Df, Vf = A.factors(sc, th, di, v)
    return A.noiseless(Af, Df, Vf, br + 1j * bi).ravel()


def fd_jacobian(sc, t, steps):
    return np.stack([(model_vec(sc, t + h * e) - model_vec(sc, t - h * e)) / (2 * h)
                     for h, e in zip(steps, np.eye(len(t)), strict=True)], axis=1)


def setup(sc, snr=10.0, seed=0):
    beta = A.gains(sc, np.random.default_rng(seed).uniform(0, 2 * np.pi, sc.P), snr)
    Af, Df, Vf = A.factors(sc, sc.theta, sc.dist, sc.v)
    return beta, (Af, Df, Vf, *A.derivative_factors(sc, Af, Df, Vf))


def params(sc, beta):
    return np.concatenate([sc.theta, sc.dist, sc.v, beta.real, beta.imag])


STEPS = lambda P: np.repeat([1e-4, 1e-3, 1e-4, 1e-6, 1e-6], P)  # noqa: E731


# -- the bounds ------------------------------------------------------------------------------------------

def test_joint_fisher_matrix_matches_a_finite_difference_jacobian():
    sc = small()
    beta, fac = setup(sc)
    J = fd_jacobian(sc, params(sc, beta), STEPS(sc.P))
    F_fd = 2 * np.real(J.conj().T @ J)
    order = np.arange(5 * sc.P).reshape(5, sc.P).T.ravel()  # both are parameter-major: same order
    F = B.joint_fim(*fac, beta)
    np.testing.assert_allclose(F, F_fd[np.ix_(order, order)][np.ix_(np.argsort(order), np.argsort(order))],
                               rtol=1e-5, atol=1e-6 * np.abs(F_fd).max())


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_per_dimension_crb_with_signal_outer_product_is_the_crb_with_other_dimensions_known(dim):
    # Van Trees (8.110) with S = beta beta^H = inverse of the Schur complement of the FIM over
    # (this dimension's parameters, Re beta, Im beta), computed here from finite differences
    sc = small()
    beta, fac = setup(sc, seed=3)
    P = sc.P
    J = fd_jacobian(sc, params(sc, beta), STEPS(P))
    keep = np.r_[dim * P:(dim + 1) * P, 3 * P:5 * P]
    F = 2 * np.real(J[:, keep].conj().T @ J[:, keep])
    expected = np.diag(np.linalg.inv(F))[:P]
    got = B.crb_per_dimension_all(*fac, beta, "outer")[dim]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_single_object_crb_matches_the_single_tone_closed_form():
    # one complex exponential in N1 samples, amplitude unknown, N2 N3 coherent repeats:
    # var(w) >= 6 sigma^2 / (|b|^2 N2 N3 N1 (N1^2 - 1)); w = pi cos(theta) gives the angle in degrees
    sc = small(theta=(70.0,), dist=(120.0,), kmh=(10.0,), N_R=8, K=12, N=9)
    beta, fac = setup(sc, snr=3.0)
    N1, N2, N3 = sc.N_R, sc.K, sc.N
    crb_w = 6 / (abs(beta[0]) ** 2 * N2 * N3 * N1 * (N1**2 - 1))
    dw_dtheta = np.pi * np.sin(np.deg2rad(70.0)) * np.pi / 180
    crb_theta = crb_w / dw_dtheta**2
    crb_w2 = 6 / (abs(beta[0]) ** 2 * N1 * N3 * N2 * (N2**2 - 1))
    crb_dist = crb_w2 / (2 * np.pi * sc.df / A.C) ** 2
    crb_w3 = 6 / (abs(beta[0]) ** 2 * N1 * N2 * N3 * (N3**2 - 1))
    crb_v = crb_w3 / (2 * np.pi * sc.Ts * sc.fc / A.C) ** 2
    expected = np.array([crb_theta, crb_dist, crb_v])
    np.testing.assert_allclose(B.crb_joint(*fac, beta)[:, 0], expected, rtol=1e-8)
    np.testing.assert_allclose(B.crb_per_dimension_all(*fac, beta, "diag")[:, 0], expected, rtol=1e-8)


def test_crbs_fall_as_one_over_snr_and_joint_is_never_below_per_dimension():
    sc = small()
    for seed in range(5):
        b0, fac = setup(sc, snr=0.0, seed=seed)
        b20, _ = setup(sc, snr=20.0, seed=seed)
        np.testing.assert_allclose(B.crb_joint(*fac, b0) / B.crb_joint(*fac, b20), 100, rtol=1e-9)
        np.testing.assert_allclose(B.crb_per_dimension_all(*fac, b0) / B.crb_per_dimension_all(*fac, b20), 100,
                                   rtol=1e-9)
        assert (B.crb_per_dimension_all(*fac, b0, "outer") <= B.crb_joint(*fac, b0) * (1 + 1e-9)).all()


# -- the estimator steps ---------------------------------------------------------------------------------

def test_averaging_compression_is_the_mode_product_with_block_averaging_matrices():
    H = A.cn(np.random.default_rng(0), (1, 4, 12, 14))
    deltas = (2, 3, 7)
    mats = []
    for n, d in zip(H.shape[1:], deltas, strict=True):
        M = np.zeros((n // d, n))
        for i in range(n // d):
            M[i, i * d:(i + 1) * d] = 1 / d
        mats.append(M)
    np.testing.assert_allclose(A.compress(H, "averaging", deltas)[0], A.mode_products(H, mats), atol=1e-12)
    assert A.compress(H, "decimation", deltas)[0].shape == (1, 2, 4, 2)
    Hs, dl = A.compress(H, "smoothing", (1, 1, 1))
    assert Hs.shape == (1, 4, 12, 14) and dl == (1, 1, 1)
    Hd, _ = A.compress(H, "decimation2", deltas, np.random.default_rng(1))
    assert Hd.shape == (42, 2, 4, 2)


def test_root_music_recovers_noise_free_frequencies_and_aic_finds_their_number():
    rng = np.random.default_rng(1)
    w = np.array([-2.0, -0.3, 0.4, 1.7])
    N, cols = 20, 60
    Y = np.exp(1j * np.outer(np.arange(N), w)) @ A.cn(rng, (4, cols)) + 1e-4 * A.cn(rng, (N, cols))
    np.testing.assert_allclose(np.sort(A.ode_music(Y, 1, 4)), w, atol=1e-4)
    R = Y @ Y.conj().T / cols
    assert A.aic(np.sort(np.linalg.eigvalsh(R))[::-1], cols) == 4


def test_newton_root_finder_agrees_with_numpy_roots():
    rng = np.random.default_rng(2)
    N, cols = 120, 30
    w = np.array([-1.0, 0.2, 0.25, 2.5])
    Y = np.exp(1j * np.outer(np.arange(N), w)) @ A.cn(rng, (4, cols)) + 0.3 * A.cn(rng, (N, cols))
    R = Y @ Y.conj().T / cols
    U = np.linalg.eigh(R)[1][:, ::-1][:, :4]
    c = sum(np.convolve(U[:, i], np.conj(U[::-1, i])) for i in range(4))
    c[N - 1] -= N
    exact = A.roots_near_circle(c, 4, exact_max_degree=10**6)
    fast = A.roots_near_circle(c, 4, exact_max_degree=10)
    np.testing.assert_allclose(np.sort(np.angle(fast)), np.sort(np.angle(exact)), atol=1e-9)


@pytest.mark.parametrize("fusion", ["tensor_omp", "tensor_ls"])
def test_plain_recovers_a_noise_free_scenario_exactly(fusion):
    sc = A.make_scenario(26e9, 8, 48, 56, 60e3, 1.25, [60.0, 120.0, 90.0], [50.0, 200.0, 300.0],
                         [0.0, 20.0, 10.0])
    beta, (Af, Df, Vf, *_) = setup(sc, snr=20.0)
    H = A.noiseless(Af, Df, Vf, beta)[None]
    for comp, deltas in (("averaging", (1, 2, 4)), ("none", (1, 1, 1)), ("decimation", (1, 2, 4))):
        e2 = A.paired_errors(A.plain(H, sc, comp, deltas, fusion, 2), sc)
        # noise-free signal roots are double roots on the unit circle: found to ~sqrt(machine eps)
        assert np.sqrt(e2.max(axis=1)).tolist() == pytest.approx([0, 0, 0], abs=1e-3), comp


def test_baselines_find_the_objects_at_high_snr():
    sc = A.make_scenario(26e9, 8, 48, 56, 60e3, 1.25, [60.0, 120.0], [50.0, 200.0], [0.0, 20.0])
    beta, (Af, Df, Vf, *_) = setup(sc, snr=40.0)
    H = A.noiseless(Af, Df, Vf, beta)[None] + A.cn(np.random.default_rng(0), (1, 8, 48, 56))
    half = A.half_spacings(sc)
    for est in (A.sequential(H, sc, "averaging", (1, 2, 4)), A.joint_fft(H, sc, "averaging", (1, 2, 4), (64, 64, 64))):
        assert (np.sqrt(A.paired_errors(est, sc)) < half[:, None]).all()


def test_errors_pair_estimates_and_truth_by_angle():
    sc = small(theta=(100.0, 60.0))
    est = (np.array([61.0, 99.0]), np.array([200.0, 50.0]), np.array([20 / 3.6, 0.0]))
    e2 = A.paired_errors(est, sc)
    np.testing.assert_allclose(e2[0], [1.0, 1.0])
    np.testing.assert_allclose(e2[1:], 0, atol=1e-12)
    assert A.paired_errors((est[0][:1], est[1][:1], est[2][:1]), sc) is None


# -- runs, bad parameters, verdicts and negative controls -------------------------------------------------

def test_bad_parameters_are_config_errors(tmp_path):
    for kw, msg in ((dict(deltas=[1, 5, 4]), "deltas"), (dict(deltas=[2, 2, 4]), "deltas"),
                    (dict(compression="zip"), "compression"), (dict(use_true_np=3), "use_true_np"),
                    (dict(theta_deg=[60.0, 190.0]), "theta_deg"), (dict(dist_m=[50.0]), "same length"),
                    (dict(variants=["none/omp"]), "variants"), (dict(dist_m=[50.0, 5000.0]), "alias")):
        with pytest.raises(ConfigError, match=msg):
            boundrun.run("plain-isac-crb", profile="smoke", out=str(tmp_path), **kw)


def test_smoke_profile_runs_and_leaves_monte_carlo_claims_inconclusive(tmp_path):
    res = boundrun.run("plain-isac-crb", profile="smoke", out=str(tmp_path))
    st = res.claims.set_index("claim")["status"]
    assert st["crb_sanity"] == "pass"
    for name in ("bound_respected", "bound_respected_distinct", "crb_slope", "efficiency_loss_bounded",
                 "efficiency_loss_not_growing", "resolved"):
        assert st[name] == "inconclusive", name
    assert set(res.bounds["bound"]) == {"crb_joint", "crb_per_dim"} and (res.bounds["value"] > 0).all()
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (res.path / f).exists(), f


@pytest.fixture(scope="module")
def run4(tmp_path_factory):
    """Smoke scenario on a 4-point SNR grid with 6 repetitions: every claim has data."""
    return boundrun.run("plain-isac-crb", profile="smoke", out=str(tmp_path_factory.mktemp("run4")),
                        snr_db=[0.0, 5.0, 10.0, 20.0], seeds=6, baselines=["sequential"], baseline_snr_db=[20.0])


@dataclasses.dataclass
class Frames:
    results: object
    bounds: object


def evaluate(name, frames):
    return CLAIM[name].evaluate(frames.results, frames.bounds, "snr_db", "default").status


def perturbed(res, metric, fn):
    r = res.results.copy()
    sel = r["metric"] == metric
    r.loc[sel, "value"] = fn(r.loc[sel])
    return Frames(r, res.bounds)


def test_every_claim_is_decidable_on_a_small_grid_and_the_sanity_check_passes(run4):
    for name in CLAIM:
        assert evaluate(name, run4) in ("pass", "fail", "inconclusive")
    assert evaluate("crb_sanity", run4) == "pass"
    assert evaluate("efficiency_loss_bounded", run4) == "pass"
    assert "sequential" in set(run4.results["method"])


@pytest.mark.parametrize(("name", "metric", "fn"), [
    ("bound_respected", "mse_over_crb", lambda r: r["value"] * 0.05),  # an estimator beating the CRB
    ("bound_respected_distinct", "mse_distinct_over_crb", lambda r: r["value"] * 0.05),
    ("crb_slope", "mse", lambda r: r["value"] * r["snr_lin"] ** 0.6),  # RMSE falling too slowly
    ("crb_slope", "mse", lambda r: r["value"] / r["snr_lin"] ** 0.6),  # ... or too fast
    ("efficiency_loss_bounded", "mse_over_crb", lambda r: r["value"] * 1e4),
    ("efficiency_loss_not_growing", "mse_over_crb", lambda r: r["value"] * r["snr_lin"]),
    ("resolved", "resolved", lambda r: r["value"] * 0.0),
    ("crb_sanity", "crb_ratio", lambda r: r["value"] * 1.01),  # per-dimension above joint: a broken bound
])
def test_negative_controls_turn_each_claim_to_fail(run4, name, metric, fn):
    assert evaluate(name, perturbed(run4, metric, fn)) == "fail"


def test_every_claim_has_a_negative_control():
    with open(__file__) as f:
        src = f.read()
    assert all(f'("{name}",' in src for name in CLAIM)


def test_tied_objects_are_left_out_of_the_distinct_metric(tmp_path):
    # two static objects share v = 0: no velocity row of mse_distinct may average over them
    res = boundrun.run("plain-isac-crb", profile="smoke", out=str(tmp_path), theta_deg=[60.0, 90.0, 120.0],
                       dist_m=[50.0, 150.0, 250.0], speed_kmh=[0.0, 0.0, 20.0], seeds=1, snr_db=[30.0])
    r = res.results
    e2 = r[(r.metric == "mse_distinct") & (r.dim == "velocity")]["value"].iloc[0]
    all3 = r[(r.metric == "mse") & (r.dim == "velocity")]["value"].iloc[0]
    assert e2 != pytest.approx(all3)
    assert (r[r.metric == "mse_distinct"].dim.value_counts() == 1).all()
