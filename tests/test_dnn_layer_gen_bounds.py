"""Paper 01 (dnn-layer-gen-bounds): every bound and estimator against an independent computation, a smoke
run, bad parameters, and a negative control for every claim."""

import dataclasses

import numpy as np
import pytest

import boundrun
from boundrun.config import ConfigError
from boundrun.engine import run_in_memory
from boundrun.experiments.dnn_layer_gen_bounds import CLAIMS, DnnLayerGenBoundsConfig
from boundrun.experiments.dnn_layer_gen_bounds import algorithms as A
from boundrun.experiments.dnn_layer_gen_bounds import bounds as B

CLAIM = {c.name: c for c in CLAIMS}
SMALL = DnnLayerGenBoundsConfig(seeds=60, widths=[6, 3, 2], n_grid=[5, 10, 20], n_layer=10, extra_archs=[],
                                R_w=30, sdpi_d=[1, 2], sdpi_p=[0.5], sdpi_pairs=10, profile="default")


@pytest.fixture(scope="module")
def small_run():
    return run_in_memory("dnn-layer-gen-bounds", SMALL)


def chain(widths=(5, 4, 3, 2), s=0.7, seed=0):
    As = A.make_network(list(widths), np.random.default_rng(seed))
    Bs, Ss = B.chain_moments(As, s)
    m = np.zeros(widths[0])
    m[0] = 1.0
    return As, Bs, Ss, m


# -- information measures against closed forms ----------------------------------------------------------

def test_gaussian_mi_matches_the_bivariate_closed_form():
    for rho in (0.0, 0.3, -0.8):
        mi = B.gaussian_mi(np.array([[2.0]]), np.array([[0.5]]), np.array([[rho * 1.0]]))
        assert mi == pytest.approx(-0.5 * np.log(1 - rho**2), abs=1e-12)


def test_gelbrich_matches_one_dimensional_and_commuting_closed_forms():
    w2 = B.gelbrich_w2_sq(np.array([1.0]), np.array([[4.0]]), np.array([-0.5]), np.array([[0.25]]))
    assert w2 == pytest.approx(1.5**2 + (2.0 - 0.5) ** 2, rel=1e-12)
    S1, S2 = np.diag([1.0, 9.0]), np.diag([4.0, 1.0])
    assert B.gelbrich_w2_sq(np.zeros(2), S1, np.ones(2), S2) == pytest.approx(2 + 1 + 4, rel=1e-12)


def test_joint_covariance_of_readout_and_representation_matches_simulation():
    """Cov(w), Cov(V_k), Cov(w, V_k^(i)) by brute-force simulation of the layer-by-layer network."""
    As, Bs, Ss, m = chain()
    rng = np.random.default_rng(1)
    n, s, R, k = 3, 0.7, 200_000, 1
    U = m + rng.standard_normal((R, n, 5))

    def forward(T):  # one pass with fresh noise, returns every layer
        out = [T]
        for Ak in As:
            T = T @ Ak.T + s * rng.standard_normal(T.shape[:-1] + (Ak.shape[0],))
            out.append(T)
        return out

    w = forward(U)[-1].mean(axis=1)  # signs absorbed: Y_j T_L^(j) = B_L U_j + (sign-invariant noise)
    V = forward(U[:, 0])[k]  # example i = 0 through the trained network, fresh noise
    C_ww, C_vv, C_wv = B.joint_blocks(Bs, Ss, k, n, 1.0, 0.0)
    emp = np.cov(np.hstack([w, V]).T)
    np.testing.assert_allclose(emp[:2, :2], C_ww, atol=0.01)
    np.testing.assert_allclose(emp[2:, 2:], C_vv, atol=0.02)
    np.testing.assert_allclose(emp[:2, 2:], C_wv, atol=0.01)


def test_kl_terms_are_non_increasing_and_d0_is_the_sample_mutual_information():
    As, Bs, Ss, m = chain()
    D = [B.gaussian_mi(*B.joint_blocks(Bs, Ss, k, 4, 1.0, 0.1)) for k in range(len(As) + 1)]
    assert all(b <= a * (1 + 1e-9) for a, b in zip(D, D[1:], strict=False))
    # I(w; U_i) directly: w = B_L mean(U) + noise, so Cov(w, U_i) = B_L / n
    C_ww = B.joint_blocks(Bs, Ss, 0, 4, 1.0, 0.1)[0]
    assert D[0] == pytest.approx(B.gaussian_mi(C_ww, np.eye(5), Bs[-1] / 4), rel=1e-12)
    assert B.kl_bound(2.0) == pytest.approx(1.0)  # sqrt(2 (1/2)^2 2)


def test_gauss_hermite_risk_matches_plain_monte_carlo():
    rng = np.random.default_rng(2)
    mu, sd = np.array([0.3, -1.0]), np.array([0.5, 2.0])
    gh = A.gauss_expect(mu, sd, 40)
    mc = A.phi(mu + sd * rng.standard_normal((400_000, 2))).mean(axis=0)
    np.testing.assert_allclose(gh, mc, atol=3e-3)


def test_generalization_gap_matches_a_brute_force_simulation_of_test_and_train_risk():
    """Train/test risks via explicit noisy forward passes and sampled test points, for one architecture."""
    As, Bs, Ss, m = chain(widths=(3, 2), s=0.5)
    n, R = 4, 4000
    g = A.generalization_gap(np.random.default_rng(3), R, n, Bs[-1], Ss[-1], m, 1.0, 0.0, 40).mean()
    rng = np.random.default_rng(4)
    U = m + rng.standard_normal((R, n, 3))
    w = (U @ As[0].T + 0.5 * rng.standard_normal((R, n, 2))).mean(axis=1)
    Mc = 200
    train = A.phi(np.einsum("ri,rnmi->rnm", w, U[:, :, None, :] @ As[0].T + 0.5 * rng.standard_normal(
        (R, n, Mc, 2)))).mean(axis=(1, 2))
    Ut = m + rng.standard_normal((R, Mc, 3))
    test = A.phi(np.einsum("ri,rmi->rm", w, Ut @ As[0].T + 0.5 * rng.standard_normal((R, Mc, 2)))).mean(axis=1)
    bf = test - train
    assert g == pytest.approx(bf.mean(), abs=4 * bf.std() / np.sqrt(R) + 4e-3)
    assert g > 0


def test_wasserstein_integrand_matches_conditioning_by_hand():
    As, Bs, Ss, m = chain()
    k, n = 1, 3
    C_ww, C_vv, C_wv = B.joint_blocks(Bs, Ss, k, n, 1.0, 0.0)
    w = np.array([[0.4, -0.2], [1.0, 0.3]])
    got = B.wasserstein_bound_draws(As, Bs, Ss, k, n, 1.0, 0.0, m, w)
    for j in range(2):
        mu_c = Bs[k] @ m + C_wv.T @ np.linalg.solve(C_ww, w[j] - Bs[-1] @ m)
        S_c = C_vv - C_wv.T @ np.linalg.solve(C_ww, C_wv)
        w2 = np.sqrt(B.gelbrich_w2_sq(mu_c, S_c, Bs[k] @ m, C_vv))
        lip = 0.25 * np.linalg.norm((As[2] @ As[1]).T @ w[j])
        assert got[j] == pytest.approx(lip * w2, rel=1e-9)


# -- SDPI (Part B) ---------------------------------------------------------------------------------------

def test_merge_agrees_with_pairwise_brute_force():
    rng = np.random.default_rng(5)
    u = np.vstack([rng.normal(size=(30, 3)), np.zeros((5, 3)), rng.normal(size=(1, 3)).repeat(4, 0) + 1e-12])
    lab = A._merge_outputs(u)
    same = np.max(np.abs(u[:, None] - u[None]), axis=-1) <= 1e-9
    assert ((lab[:, None] == lab[None]) == same).all()


@pytest.mark.parametrize("mask", ["dropout", "dropconnect"])
def test_doeblin_coefficient_equals_the_dobrushin_tv_coefficient_of_the_enumerated_channel(mask):
    rng = np.random.default_rng(6)
    for d in (1, 2, 3):
        K = A.channel_matrix(rng.normal(size=(6, d)), rng.normal(size=(3, d)), 0.4, mask)
        np.testing.assert_allclose(K.sum(axis=1), 1.0, atol=1e-12)
        eta = B.eta_dropout(0.4, d) if mask == "dropout" else B.eta_dropconnect(0.4, d, 3)
        assert A.dobrushin_tv(K) == pytest.approx(eta, abs=1e-12)


def test_dropout_is_an_erasure_channel_so_the_ratio_is_one_minus_p_to_the_d():
    rng = np.random.default_rng(7)
    K = A.channel_matrix(rng.normal(size=(6, 3)), rng.normal(size=(3, 3)), 0.5, "dropout")
    P, Q = rng.dirichlet(np.ones(6), 50), rng.dirichlet(np.ones(6), 50)
    np.testing.assert_allclose(A.contraction_ratios(K, P, Q), 1 - 0.5**3, atol=1e-9)


def test_kl_discrete_and_gaussian_noise_coefficient_match_closed_forms():
    P, Q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    assert B.kl_discrete(P, Q) == pytest.approx(0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1))
    # TV(N(0, s^2), N(D, s^2)) = 2 Phi(D / 2s) - 1, by numerical integration of |f - g| / 2
    x = np.linspace(-20, 20, 400_001)
    f = np.exp(-x**2 / 2) / np.sqrt(2 * np.pi)
    g = np.exp(-(x - 1.3) ** 2 / 2) / np.sqrt(2 * np.pi)
    assert B.eta_gaussian_noise(1.3, 1.0) == pytest.approx(np.abs(f - g).sum() * (x[1] - x[0]) / 2, abs=1e-6)
    assert B.contraction_product([3, 3, 3, 3], 0.5) < B.contraction_product([6, 6], 0.5)  # deeper, narrower


# -- runs, configs, claims -------------------------------------------------------------------------------

def test_smoke_profile_writes_a_complete_run_folder(tmp_path):
    out = boundrun.run("dnn-layer-gen-bounds", profile="smoke", out=tmp_path)
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (out.path / f).exists()


def test_small_run_passes_every_gated_claim_it_can_decide(small_run):
    v = small_run.verdicts
    for name in ("kl_bound_holds", "w_bound_holds", "kl_term_monotone", "kl_bound_rate_n", "sdpi_bound_holds",
                 "dropout_is_erasure"):
        assert v[name].status == "pass", (name, v[name].detail)


@pytest.mark.parametrize("bad", [dict(s=0.0), dict(widths=[4]), dict(sdpi_p=[1.0]), dict(n_layer=7),
                                 dict(extra_archs=["4-2"])])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ValueError):
        dataclasses.replace(SMALL, **bad)


def test_bad_parameter_is_a_config_error_from_the_cli_path(tmp_path):
    with pytest.raises(ConfigError):
        boundrun.run("dnn-layer-gen-bounds", profile="smoke", out=tmp_path, s=-1.0)


def _eval(run, name, results=None, bounds=None):
    return CLAIM[name].evaluate(run.results if results is None else results,
                                run.bounds if bounds is None else bounds, "k", "default").status


def _scale(df, metric, f):
    df = df.copy()
    sel = df["metric"] == metric
    df.loc[sel, "value"] = f(df.loc[sel])
    return df


@pytest.mark.parametrize("name", ["kl_bound_holds", "w_bound_holds"])
def test_bound_claims_fail_when_gen_exceeds_the_bound(small_run, name):
    res = _scale(small_run.results, "gen", lambda d: d["value"] * 50 + 1.0)
    assert _eval(small_run, name, res) == "fail"


def test_monotonicity_claim_fails_when_a_kl_term_rises(small_run):
    res = _scale(small_run.results, "dk_rise", lambda d: d["value"].abs() + 0.1 * (d["k"] == 1))
    assert _eval(small_run, "kl_term_monotone", res) == "fail"


def test_rate_claims_fail_with_a_wrong_exponent(small_run):
    res = _scale(small_run.results, "kl_bound_L", lambda d: d["value"] / d["n_train"] ** 0.5)
    assert _eval(small_run, "kl_bound_rate_n", res) == "fail"
    res = _scale(small_run.results, "gen", lambda d: d["value"].abs() * d["n_train"] ** 1.5 + 1.0)
    assert _eval(small_run, "gen_rate_n", res) == "fail"


def test_sdpi_claims_fail_when_the_ratio_exceeds_the_coefficient(small_run):
    res = _scale(small_run.results, "r_excess", lambda d: d["value"] + 1e-3 * (d["seed"] == 3))
    assert _eval(small_run, "sdpi_bound_holds", res) == "fail"
    res = _scale(small_run.results, "erasure_gap", lambda d: d["value"] + 1e-4 * (d["seed"] == 0))
    assert _eval(small_run, "dropout_is_erasure", res) == "fail"


def test_report_claims_can_fail(small_run):
    res = _scale(small_run.results, "w_over_kl", lambda d: d["value"] * 10)
    assert _eval(small_run, "w_below_kl", res) == "fail"
    res = _scale(small_run.results, "w_monotone", lambda d: d["value"] * 0 + 1)
    assert _eval(small_run, "w_funnel_nonmonotone", res) == "fail"
