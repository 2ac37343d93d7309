"""Paper 06 (rtf-crb): the CRB against a real-parameter Slepian-Bangs FIM, the estimators against exact
covariances and the bound, the generator, and a negative control for every claim."""

import dataclasses

import numpy as np
import pytest

import boundrun
from boundrun.config import ConfigError
from boundrun.experiments.rtf_crb import CLAIMS
from boundrun.experiments.rtf_crb import algorithms as A
from boundrun.experiments.rtf_crb import bounds as B

CLAIM = {c.name: c for c in CLAIMS}
M, K = 2, 5
N = M * K


def setting(rho_s=0.75, rho_v=0.25, snr=-5.0, kind="frequency", seed=3):
    atf = A.draw_atf(np.random.default_rng(seed), M, K)
    a = A.vec(atf)
    R_sK, R_s = A.target_cov(rho_s, M, K)
    R_v = A.noise_cov(a, R_s, M, K, kind, rho_v, snr)
    return atf, a, R_sK, R_s, R_v


# -- the bounds -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("rho_s", "rho_v", "kind"), [(0.0, 0.0, "white"), (0.75, 0.25, "frequency"),
                                                      (0.95, 0.75, "frequency")])
def test_unconditional_crb_matches_a_real_parameter_fim_by_finite_differences(rho_s, rho_v, kind):
    atf, a, _, R_s, R_v = setting(rho_s, rho_v, kind=kind)
    L, e = 1000, 1e-6
    E = np.eye(2 * N)

    def R_y(t):  # theta = [Re a, Im a]
        A_ = np.diag(t[:N] + 1j * t[N:])
        return A_ @ R_s @ A_.conj().T + R_v

    def h_real(t):
        h = A.vec(A.rtf_of(A.unvec(t[:N] + 1j * t[N:], M)))
        return np.concatenate([h.real, h.imag])

    t0 = np.concatenate([a.real, a.imag])
    dR = [(R_y(t0 + e * E[i]) - R_y(t0 - e * E[i])) / (2 * e) for i in range(2 * N)]
    Ri = np.linalg.inv(R_y(t0))
    F = np.array([[L * np.real(np.trace(Ri @ dR[i] @ Ri @ dR[j])) for j in range(2 * N)] for i in range(2 * N)])
    Jh = np.array([(h_real(t0 + e * E[i]) - h_real(t0 - e * E[i])) / (2 * e) for i in range(2 * N)]).T
    C = Jh @ np.linalg.pinv(F, rcond=1e-9, hermitian=True) @ Jh.T
    expected = np.diag(C)[:N] + np.diag(C)[N:]  # E|dh|^2 = var(Re) + var(Im)
    v = A.vec(B.crb_unconditional(atf, R_s, R_v, L))
    np.testing.assert_allclose(v, expected, rtol=1e-6, atol=1e-12 * expected.max())
    assert (v[::M] == 0).all() and (v > 0).sum() == N - K  # reference entries carry no error


def test_fisher_is_proportional_to_L_so_the_crb_falls_as_one_over_L():
    atf, a, _, R_s, R_v = setting()
    np.testing.assert_allclose(B.fisher_unconditional(a, R_s, R_v, 470), 47 * B.fisher_unconditional(a, R_s, R_v, 10),
                               rtol=1e-12)
    c10, c1000 = (B.scalar(B.crb_unconditional(atf, R_s, R_v, L)) for L in (10, 1000))
    assert c10 / c1000 == pytest.approx(100, rel=1e-8)


def test_khatri_rao_is_the_columnwise_kronecker_product():
    from scipy.linalg import khatri_rao

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(3, 4)) + 1j, rng.normal(size=(5, 4))
    np.testing.assert_allclose(B.khatri_rao(X, Y), khatri_rao(X, Y))


def test_conditional_fisher_equals_the_sum_over_frames():
    atf, a, R_sK, R_s, R_v = setting()
    s_K = A.cn(np.random.default_rng(1), (7, K)) @ A.sqrtm_psd(R_sK).T
    Ri = np.linalg.inv(R_v)
    loop = sum(np.diag(np.repeat(s, M)).conj().T @ Ri @ np.diag(np.repeat(s, M)) for s in s_K)
    gram = s_K.T @ s_K.conj()
    np.testing.assert_allclose(B.fisher_conditional(R_v, gram, M), loop, rtol=1e-12, atol=1e-12)


def test_conditional_crb_is_the_exact_covariance_of_the_gls_atf_estimate():
    # with s known, a_hat = F_c^-1 sum_l S_l^H R_v^-1 y_l is unbiased with covariance exactly F_c^-1
    atf, a, R_sK, R_s, R_v = setting(snr=5.0)
    rng = np.random.default_rng(2)
    L, S = 20, 4000
    s_K = A.cn(rng, (L, K)) @ A.sqrtm_psd(R_sK).T
    Sl = np.repeat(s_K, M, axis=1)  # (L, N) diagonals of S_l
    Fc = B.fisher_conditional(R_v, s_K.T @ s_K.conj(), M)
    v = A.cn(rng, (S, L, N)) @ A.sqrtm_psd(R_v).T
    y = Sl * a + v
    Ri = np.linalg.inv(R_v)
    score = np.einsum("ln,nk,slk->sn", Sl.conj(), Ri, y)
    a_hat = score @ np.linalg.inv(Fc).T
    d = a_hat - a
    emp = d.T @ d.conj() / S
    np.testing.assert_allclose(np.real(np.diag(emp)), np.real(np.diag(np.linalg.inv(Fc))), rtol=0.1)


# -- the estimators ------------------------------------------------------------------------------------

@pytest.mark.parametrize("rho_s", [0.0, 0.5, 0.95])
def test_both_estimators_recover_the_rtf_exactly_from_the_true_covariance(rho_s):
    atf, a, _, R_s, R_v = setting(rho_s=rho_s)
    R_y = (np.diag(a) @ R_s @ np.diag(a).conj().T + R_v)[None]
    h = A.rtf_of(atf)
    for m in ("cw", "svd_direct"):
        np.testing.assert_allclose(A.estimate(m, R_y, R_v, M, 10**6)[0], h, atol=1e-9)
    # the wet-covariance step returns A R_s A^H exactly
    np.testing.assert_allclose(A.wet_covariance(R_y, R_v, K, 10**6)[0], np.diag(a) @ R_s @ np.diag(a).conj().T,
                               atol=1e-9)


def test_svd_direct_uses_the_principal_left_singular_vector_of_each_bin_block():
    atf, a, R_sK, R_s, R_v = setting()
    r = A.simulate(np.random.default_rng(4), a, R_sK, R_v, M, 30, 3)
    R_x = A.wet_covariance(r.R_hat, R_v, K, 30)
    h = A.svd_direct(r.R_hat, R_v, M, 30)
    for s in range(3):
        for k in range(K):
            u = np.linalg.svd(R_x[s, k * M:(k + 1) * M, :])[0][:, 0]
            np.testing.assert_allclose(h[s, :, k], u / u[0], rtol=1e-8)


def test_svd_direct_keeps_rank_min_K_L_with_few_frames():
    atf, a, R_sK, R_s, R_v = setting()
    r = A.simulate(np.random.default_rng(5), a, R_sK, R_v, M, 3, 4)
    assert np.linalg.matrix_rank(A.wet_covariance(r.R_hat, R_v, K, 3)[0], tol=1e-9) == 3
    assert np.isfinite(A.svd_direct(r.R_hat, R_v, M, 3)).all()


def test_cw_attains_the_crb_without_spectral_correlation():
    # rho_s = rho_v = 0: the bins decouple and CW is the narrowband ML estimator (spec's review check)
    atf, a, R_sK, R_s, R_v = setting(rho_s=0.0, rho_v=0.0)
    L, S = 1000, 1000
    r = A.simulate_sufficient(np.random.default_rng(6), a, R_sK, R_v, M, L, S)
    err = A.squared_error(A.covariance_whitening(r.R_hat, R_v, M), A.rtf_of(atf))
    crb = B.scalar(B.crb_unconditional(atf, R_s, R_v, L))
    se = err.std() / np.sqrt(S)
    assert abs(err.mean() - crb) < 3 * se


def test_hermitian_angle_ignores_scale_and_measures_direction():
    h = A.rtf_of(A.draw_atf(np.random.default_rng(0), M, K))
    assert A.hermitian_angle(h * (2 - 1j), h) == pytest.approx(0.0, abs=1e-7)
    orth = np.stack([-h[1].conj(), h[0].conj()])  # orthogonal to h in every bin
    assert A.hermitian_angle(orth, h) == pytest.approx(np.pi / 2)


# -- the generator -------------------------------------------------------------------------------------

def test_atf_puts_the_largest_modulus_on_the_reference_microphone():
    atf = A.draw_atf(np.random.default_rng(9), 3, 50)
    assert (np.argmax(np.abs(atf), axis=0) == 0).all()
    assert np.abs(atf.real).max() <= 1 and np.abs(atf.imag).max() <= 1


@pytest.mark.parametrize("kind", ["frequency", "white"])
def test_noise_covariance_has_the_snr_the_floor_and_the_correlation_pattern(kind):
    atf, a, _, R_s, R_v = setting(rho_v=0.6, snr=-5.0, kind=kind)
    p_wet = np.mean(np.abs(a) ** 2) * 0.5
    floor = p_wet / 1e4
    corr = R_v - floor * np.eye(N)
    assert np.mean(np.diag(corr)) == pytest.approx(p_wet * 10**0.5)
    i, j = np.indices((N, N))
    assert np.abs(corr[(j - i) % M != 0]).max() < 1e-12 * corr[0, 0]  # only the same microphone correlates across bins
    off = corr[((j - i) % M == 0) & (i != j)] / corr[0, 0]
    np.testing.assert_allclose(off, 0.6 if kind == "frequency" else 0.0, atol=1e-9)


def test_bartlett_wishart_has_the_moments_of_summed_outer_products():
    d, L, S = 4, 20, 20000
    W = A.complex_wishart_identity(np.random.default_rng(8), d, L, S)
    np.testing.assert_allclose(W.mean(axis=0), L * np.eye(d), atol=0.15)
    # CW_d(L, I): E|W_ij|^2 = L (i != j), Var W_ii = L
    off = np.abs(W[:, 0, 1]) ** 2
    assert off.mean() == pytest.approx(L, rel=0.03)
    assert W[:, 2, 2].real.var() == pytest.approx(L, rel=0.05)
    assert np.allclose(W, np.swapaxes(W.conj(), 1, 2))


@pytest.mark.parametrize("L", [10, 47, 200])
def test_sufficient_statistics_give_the_estimators_the_same_error_distribution_as_frames(L):
    from scipy import stats

    atf, a, R_sK, R_s, R_v = setting()
    h = A.rtf_of(atf)
    S = 600
    frames = A.simulate(np.random.default_rng(10), a, R_sK, R_v, M, L, S)
    suff = A.simulate_sufficient(np.random.default_rng(11), a, R_sK, R_v, M, L, S)
    for m in ("cw", "svd_direct"):
        e1, e2 = (A.squared_error(A.estimate(m, r.R_hat, R_v, M, L), h) for r in (frames, suff))
        assert stats.ks_2samp(e1, e2).pvalue > 1e-3
    c1, c2 = (B.scalar(B.crb_conditional(atf, R_v, r.dry_gram)) for r in (frames, suff))
    assert stats.ks_2samp(c1, c2).pvalue > 1e-3


def test_the_distribution_check_has_power_against_a_wrong_frame_count():
    from scipy import stats

    atf, a, R_sK, R_s, R_v = setting()
    h = A.rtf_of(atf)
    frames = A.simulate(np.random.default_rng(10), a, R_sK, R_v, M, 200, 600)
    suff = A.simulate_sufficient(np.random.default_rng(11), a, R_sK, R_v, M, 150, 600)
    e1, e2 = (A.squared_error(A.estimate("svd_direct", r.R_hat, R_v, M, 200), h) for r in (frames, suff))
    assert stats.ks_2samp(e1, e2).pvalue < 1e-3


def test_sample_covariances_are_unbiased():
    atf, a, R_sK, R_s, R_v = setting()
    L, S = 50, 2000
    r = A.simulate(np.random.default_rng(7), a, R_sK, R_v, M, L, S)
    R_y = np.diag(a) @ R_s @ np.diag(a).conj().T + R_v
    assert np.abs(r.R_hat.mean(axis=0) - R_y).max() < 0.03 * np.abs(R_y).max()
    assert np.abs(r.dry_gram.mean(axis=0) / L - R_sK).max() < 0.02


def test_bad_parameters_are_config_errors(tmp_path):
    for kw, msg in ((dict(M=1), "M must be"), (dict(nstft=7), "nstft"), (dict(a_rho_s=[0.0, 1.0]), "a_rho_s"),
                    (dict(sweeps=["e"]), "sweeps"), (dict(c_L=[0, 10]), "frame counts"),
                    (dict(crb_variant="nope"), "crb_variant"), (dict(c_panels=["pink"]), "c_panels")):
        with pytest.raises(ConfigError, match=msg):
            boundrun.run("rtf-crb", profile="smoke", out=str(tmp_path), **kw)


# -- runs, verdicts and their negative controls --------------------------------------------------------

def status(res, name):
    return res.claims.set_index("claim").loc[name, "status"]


def evaluate(name, res, profile="default", **changes):
    claim = dataclasses.replace(CLAIM[name], **changes) if changes else CLAIM[name]
    return claim.evaluate(res.results, res.bounds, "rho_s", profile).status


def test_smoke_profile_runs_and_leaves_monte_carlo_claims_inconclusive(tmp_path):
    res = boundrun.run("rtf-crb", profile="smoke", out=str(tmp_path))
    st = res.claims.set_index("claim")["status"]
    assert st["crb_drop_rho_s"] == "pass" and st["crb_monotone_rho_s"] == "pass"  # exact, decided anywhere
    for name in ("bound_respected", "svd_beats_cw", "cw_flat_in_rho_s", "crb_drop_rho_v", "svd_rate_in_L",
                 "svd_gap_shrinks", "crb_rate_in_L"):
        assert st[name] == "inconclusive", name
    assert set(res.bounds["bound"]) == {"crb_uncond", "crb_cond"}
    assert (res.bounds["value"] > 0).all()


SMALL = dict(sweeps=["a", "b", "c"], seeds=100)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return boundrun.run("rtf-crb", out=str(tmp_path_factory.mktemp("good")), **SMALL)


@pytest.fixture(scope="module")
def no_subtraction(tmp_path_factory):
    """Broken SVD-direct: the whitened noise (lambda - 1) is not removed, so R_x keeps a noise part."""
    return boundrun.run("rtf-crb", out=str(tmp_path_factory.mktemp("bad")), sweeps=["c"], seeds=100,
                        c_panels=["frequency"], svd_subtract_noise=False)


@dataclasses.dataclass
class Frames:
    results: object
    bounds: object


def perturbed(res, metric, fn):
    """The run's frames with `metric` replaced by fn(rows of that metric)."""
    r = res.results.copy()
    sel = r["metric"] == metric
    r.loc[sel, "value"] = fn(r.loc[sel])
    return Frames(r, res.bounds)


def test_bound_respected_fails_when_the_mse_drops_below_the_crb(good):
    for name in ("bound_respected", "bound_respected_small_L"):
        assert status(good, name) != "fail", good.claims
        halved = perturbed(good, "mse", lambda d: d["value"] * 0.4)
        assert evaluate(name, halved) == "fail"


def test_crb_drop_in_rho_s_fails_when_the_bound_ignores_target_correlation(good, tmp_path):
    full = good
    assert status(full, "crb_drop_rho_s") == "pass" and status(full, "crb_monotone_rho_s") == "pass"
    diag = boundrun.run("rtf-crb", out=str(tmp_path), crb_variant="diag_target", sweeps=["a"], seeds=2)
    assert status(diag, "crb_drop_rho_s") == "fail"
    # the review finding: with rho_v = 0.75 the CRB rises with rho_s (report-only claim fails; the same
    # claim on the rho_v = 0.25 panel passes)
    assert status(full, "crb_drop_rho_s_noise_correlated") == "fail"
    assert evaluate("crb_drop_rho_s_noise_correlated", full, where={"sweep": "a", "panel": "rho_v=0.25"}) == "pass"
    risen = perturbed(full, "crb_rise_db", lambda d: d["value"] + 0.5)
    assert evaluate("crb_monotone_rho_s", risen) == "fail"


def test_crb_drop_in_rho_v_fails_when_the_bound_ignores_noise_correlation(good, tmp_path):
    full = good
    assert status(full, "crb_drop_rho_v") == "pass" and status(full, "crb_monotone_rho_v") == "pass"
    diag = boundrun.run("rtf-crb", out=str(tmp_path), crb_variant="diag_noise", sweeps=["b"], seeds=2)
    assert status(diag, "crb_drop_rho_v") == "fail"
    risen = perturbed(full, "crb_rise_db", lambda d: d["value"] + 0.5)
    assert evaluate("crb_monotone_rho_v", risen) == "fail"


def test_svd_beats_cw_fails_when_the_roles_are_swapped(good):
    assert status(good, "svd_beats_cw") == "pass"
    assert evaluate("svd_beats_cw", good, better=("cw",), than="svd_direct") == "fail"


def test_cw_flatness_passes_for_cw_and_fails_for_the_wideband_estimator(good):
    assert status(good, "cw_flat_in_rho_s") == "pass"
    assert evaluate("cw_flat_in_rho_s", good, metric="svd_direct_range_excess") == "fail"


def test_crb_rate_fails_when_the_bound_loses_its_one_over_L(good):
    assert status(good, "crb_rate_in_L") == "pass"
    slower = perturbed(good, "crb_mse", lambda d: d["value"] * d["L"] ** 0.1)
    assert evaluate("crb_rate_in_L", slower) == "fail"


def test_svd_rate_and_gap_fail_when_svd_direct_keeps_the_noise(good, no_subtraction):
    for name in ("svd_rate_in_L", "svd_gap_shrinks"):
        assert status(good, name) != "fail", good.claims
        assert status(no_subtraction, name) == "fail", no_subtraction.claims
