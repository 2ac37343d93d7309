"""Paper 28 (ibp-tightness): tightness routines against brute force, the T1/T2 bounds, the training pieces,
a smoke run, and a negative control for every claim."""

import dataclasses
import itertools
import math

import numpy as np
import pytest

import boundrun
from boundrun import datasets
from boundrun.config import ConfigError
from boundrun.experiments.ibp_tightness import CLAIMS
from boundrun.experiments.ibp_tightness import algorithms as A
from boundrun.experiments.ibp_tightness import bounds as B

CLAIM = {c.name: c for c in CLAIMS}


# -- the tightness routines against brute force ---------------------------------------------------------------

def box_vertices(x, eps):
    return np.array([x + eps * np.array(s) for s in itertools.product((-1.0, 1.0), repeat=len(x))])


def interval_propagation(Ws, x, eps, relu):
    """Plain lower/upper interval arithmetic, layer by layer (the textbook IBP)."""
    lo, hi = x - eps, x + eps
    for i, W in enumerate(Ws):
        Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
        lo, hi = Wp @ lo + Wn @ hi, Wp @ hi + Wn @ lo
        if relu and i < len(Ws) - 1:
            lo, hi = np.maximum(lo, 0), np.maximum(hi, 0)
    return lo, hi


def test_dln_tightness_is_the_exact_box_radius_over_the_ibp_radius():
    rng = np.random.default_rng(0)
    Ws = [rng.normal(size=(6, 4)), rng.normal(size=(5, 6)), rng.normal(size=(3, 5))]
    x, eps = rng.normal(size=4), 0.3
    P = Ws[2] @ Ws[1] @ Ws[0]
    img = box_vertices(x, eps) @ P.T  # a linear image of a box is spanned by the images of its vertices
    r_opt = (img.max(axis=0) - img.min(axis=0)) / 2
    lo, hi = interval_propagation(Ws, x, eps, relu=False)
    np.testing.assert_allclose(A.tightness_dln(Ws), r_opt / ((hi - lo) / 2), rtol=1e-12)


def test_elision_merges_the_specification_into_the_last_layer():
    rng = np.random.default_rng(1)
    Ws = [rng.normal(size=(7, 4)), rng.normal(size=(4, 7))]
    y = np.array([2, 0])
    C = A.elision_rows(y, 4)
    assert C.shape == (2, 3, 4) and (C.sum(axis=2) == 0).all() and (C[0, :, 2] == 1).all()
    tau = A.tightness_dln(Ws, C)
    for b in range(2):
        np.testing.assert_allclose(tau[b], A.tightness_dln([Ws[0], C[b] @ Ws[1]]), rtol=1e-12)


def test_relu_local_tightness_matches_explicit_local_linear_maps_with_clipped_radii():
    rng = np.random.default_rng(2)
    Ws = [rng.normal(size=(8, 5)), rng.normal(size=(6, 8)), rng.normal(size=(4, 6))]
    bs = [rng.normal(size=8), rng.normal(size=6), rng.normal(size=4)]
    X = rng.normal(size=(3, 5))
    y = np.array([0, 3, 1])
    C = A.elision_rows(y, 4)
    eps = rng.uniform(0.01, 0.1, size=(3, 5))
    D = A.activation_patterns(Ws, X, bs)
    got = A.tightness_relu_local(Ws, D, C, eps)
    for b in range(3):
        D1, D2 = np.diag(D[0][b]), np.diag(D[1][b])
        num = np.abs(C[b] @ Ws[2] @ D2 @ Ws[1] @ D1 @ Ws[0]) @ eps[b]
        den = np.abs(C[b] @ Ws[2]) @ D2 @ np.abs(Ws[1]) @ D1 @ np.abs(Ws[0]) @ eps[b]
        np.testing.assert_allclose(got[b], num / den, rtol=1e-12)
    # patterns are the signs of the pre-activations at the clean input
    z1 = X @ Ws[0].T + bs[0]
    np.testing.assert_array_equal(D[0], (z1 > 0).astype(float))


def test_relu_local_tightness_of_an_all_active_net_is_the_dln_tightness():
    rng = np.random.default_rng(3)
    Ws = [rng.normal(size=(9, 4)), rng.normal(size=(9, 9)), rng.normal(size=(5, 9))]
    D = [np.ones((1, 9)), np.ones((1, 9))]
    np.testing.assert_allclose(A.tightness_relu_local(Ws, D)[0], A.tightness_dln(Ws), rtol=1e-12)


def test_float32_numerator_keeps_the_tiny_tightness_of_deep_wide_nets_accurate():
    rng = np.random.default_rng(10)
    X, y = rng.normal(size=(8, 64)), rng.integers(0, 10, size=8)
    dims = [64, 256, 256, 256, 256, 10]
    Ws = [A.kaiming_normal(rng, dims[i + 1], dims[i]) for i in range(5)]
    D = A.activation_patterns(Ws, X)
    t64 = A.tightness_relu_local(Ws, D, A.elision_rows(y, 10))
    t32 = A.tightness_relu_local(Ws, D, A.elision_rows(y, 10), dtype=np.float32)
    assert t64.mean() < 1e-3
    np.testing.assert_allclose(t32, t64, rtol=1e-4)


def test_a_net_with_a_dead_hidden_layer_counts_as_exact():
    Ws = [np.ones((3, 2)), np.ones((2, 3))]
    assert A.tightness_relu_local(Ws, [np.zeros((1, 3))])[0].tolist() == [1.0, 1.0]


# -- T1: exactness --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", A.CONSTRUCTIONS)
def test_sign_consistent_constructions_are_exact_and_a_flip_breaks_exactness(kind):
    rng = np.random.default_rng(4)
    W1, W2 = A.sign_consistent_net(rng, kind)
    assert W1.shape == (30, 20) and W2.shape == (10, 30)
    assert B.sign_consistent(W1, W2)
    np.testing.assert_allclose(A.tightness_dln([W1, W2]), 1.0, atol=1e-12)
    W1f = A.flip_signs(rng, W1, 0.01)
    assert (W1f != W1).sum() == 6 and not B.sign_consistent(W1f, W2)
    assert A.tightness_dln([W1f, W2]).max() < 1 - 1e-9


def test_the_sign_condition_is_necessary_and_sufficient_on_small_random_nets():
    rng = np.random.default_rng(5)
    for _ in range(200):
        W1 = rng.choice([-1.0, 0.0, 1.0], size=(3, 2)) * rng.uniform(0.5, 1, size=(3, 2))
        W2 = rng.choice([-1.0, 1.0], size=(2, 3)) * rng.uniform(0.5, 1, size=(2, 3))
        exact = np.allclose(np.abs(W2 @ W1), np.abs(W2) @ np.abs(W1), rtol=0, atol=1e-12)
        assert exact == B.sign_consistent(W1, W2)


# -- T2: initialisation ---------------------------------------------------------------------------------------

def test_t2_formula_has_the_spec_constants():
    assert B.tau_init_equal(64, 2, relu=False) == pytest.approx(math.sqrt(math.pi / 128), rel=1e-12)
    assert B.tau_init_equal(64, 3, relu=True) == pytest.approx(math.pi / 64, rel=1e-12)
    assert B.tau_init([32, 128], relu=False) == pytest.approx(math.sqrt(math.pi / 64) * math.sqrt(math.pi / 256))
    assert B.t2_slope(4) == -1.5


def test_t2_formula_matches_a_monte_carlo_of_one_hidden_layer_dlns():
    """Spec's check: L = 2, n = 64 gives 0.157 against 0.1567 (here with elision rows, 30 nets)."""
    rng = np.random.default_rng(6)
    y = rng.integers(0, 10, size=64)
    C = A.elision_rows(y, 10)
    taus = [A.tightness_dln([A.kaiming_normal(rng, 64, 64), A.kaiming_normal(rng, 10, 64)], C).mean()
            for _ in range(30)]
    assert np.mean(taus) == pytest.approx(B.tau_init_equal(64, 2, relu=False), rel=0.05)


# -- C and D pieces -------------------------------------------------------------------------------------------

def test_pca_weights_are_exact_at_w1_and_reconstruct_with_zero_loss():
    rng = np.random.default_rng(7)
    X, V = A.embedding_data(rng, 200, 20, 1)
    tau, ro, ri = A.embedding_radii(V.T, V, None)
    assert tau == pytest.approx(1.0, abs=1e-12) and ro == pytest.approx(ri)
    assert A.ibp_recon_loss(V.T, V, X, 0.0, False, 2) < 1e-12
    X5, V5 = A.embedding_data(rng, 200, 20, 5)
    np.testing.assert_allclose(V5.T @ V5, np.eye(5), atol=1e-12)
    assert A.embedding_radii(V5.T, V5, None)[0] < 0.9


def test_ibp_reconstruction_loss_is_the_worst_box_corner_and_matches_torch():
    import torch

    rng = np.random.default_rng(8)
    W1, W2, X = rng.normal(size=(3, 4)), rng.normal(size=(4, 3)), rng.normal(size=(5, 4))
    b1, b2 = rng.normal(size=3), rng.normal(size=4)
    for relu in (False, True):
        lo, hi = zip(*[interval_propagation_biased([W1, W2], [b1, b2], x, 0.1, relu) for x in X], strict=True)
        worst = np.maximum(np.abs(np.array(lo) - X), np.abs(np.array(hi) - X))
        for p in (1, 2):
            v = A.ibp_recon_loss(W1, W2, X, 0.1, relu, p, b1, b2)
            assert v == pytest.approx(np.linalg.norm(worst, ord=p, axis=1).mean(), rel=1e-12)
            T = torch.as_tensor
            t = A.ibp_recon_loss_torch(T(W1), T(W2), T(X), 0.1, relu, p, T(b1), T(b2))
            assert float(t) == pytest.approx(v, rel=1e-12)


def interval_propagation_biased(Ws, bs, x, eps, relu):
    lo, hi = x - eps, x + eps
    for i, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
        lo, hi = Wp @ lo + Wn @ hi + b, Wp @ hi + Wn @ lo + b
        if relu and i < len(Ws) - 1:
            lo, hi = np.maximum(lo, 0), np.maximum(hi, 0)
    return lo, hi


def test_ibp_margins_are_sound_and_match_interval_arithmetic_on_the_elided_net():
    import torch

    torch.manual_seed(0)
    net = A._mlp(6).double()
    rng = np.random.default_rng(9)
    x = rng.uniform(0, 1, size=(4, 64))
    y = np.array([0, 3, 9, 5])
    with torch.no_grad():
        m = A.ibp_margins(net, torch.as_tensor(x), torch.as_tensor(y), 0.05).numpy()
        for _ in range(50):  # sampled points of the clipped box never beat the bound
            xs = np.clip(x + rng.uniform(-0.05, 0.05, size=x.shape), 0, 1)
            z = net(torch.as_tensor(xs)).numpy()
            diff = z[np.arange(4), y][:, None] - np.stack([np.delete(z[b], y[b]) for b in range(4)])
            assert (diff >= m - 1e-9).all()
    Ws = [layer.weight.detach().numpy() for layer in net if isinstance(layer, torch.nn.Linear)]
    bs = [layer.bias.detach().numpy() for layer in net if isinstance(layer, torch.nn.Linear)]
    C = A.elision_rows(y, 10)
    for b in range(4):
        lo, hi = np.maximum(x[b] - 0.05, 0), np.minimum(x[b] + 0.05, 1)
        for W, bb in zip(Ws[:-1], bs[:-1], strict=True):
            Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
            lo, hi = np.maximum(Wp @ lo + Wn @ hi + bb, 0), np.maximum(Wp @ hi + Wn @ lo + bb, 0)
        Wc, bc = C[b] @ Ws[-1], C[b] @ bs[-1]
        np.testing.assert_allclose(m[b], np.maximum(Wc, 0) @ lo + np.minimum(Wc, 0) @ hi + bc, rtol=1e-9)


def test_generated_digits_are_balanced_images_in_the_unit_box_with_a_stratified_split():
    X, y = datasets.make_digits(np.random.default_rng(0), 500)
    assert X.shape == (500, 64) and X.min() >= 0 and X.max() <= 1
    assert np.bincount(y).tolist() == [50] * 10
    tr, te = datasets.stratified_split(y, 0.2, np.random.default_rng(0))
    assert len(te) == 100 and np.bincount(y[te]).tolist() == [10] * 10 and not set(tr) & set(te)


# -- runs, verdicts, negative controls ------------------------------------------------------------------------

def evaluate(name, res, results=None, profile="default", **changes):
    claim = dataclasses.replace(CLAIM[name], **changes) if changes else CLAIM[name]
    return claim.evaluate(res.results if results is None else results, res.bounds, "width", profile).status


def perturb(res, metric, fn, **where):
    df = res.results.copy()
    m = df["metric"] == metric
    for k, v in where.items():
        m &= df[k].isin(v) if isinstance(v, list) else df[k] == v
    df.loc[m, "value"] = fn(df.loc[m])
    return df


def test_bad_parameters_are_config_errors(tmp_path):
    for kw, msg in ((dict(depths=[1, 2]), "depths"), (dict(flip_q=[0.0]), "flip_q"), (dict(parts=["x"]), "parts"),
                    (dict(train_epochs=10), "train_epochs"), (dict(emb_widths=[200]), "embedding widths"),
                    (dict(widths=[0]), "widths")):
        with pytest.raises(ConfigError, match=msg):
            boundrun.run("ibp-tightness", profile="smoke", out=str(tmp_path), **kw)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return boundrun.run("ibp-tightness", profile="smoke", out=str(tmp_path_factory.mktemp("smoke")))


def test_smoke_run_writes_a_complete_folder_and_leaves_trained_claims_inconclusive(smoke):
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (smoke.path / f).exists(), f
    st = smoke.claims.set_index("claim")["status"]
    for name in ("v1_magnitude", "v2_exact_sign_consistent", "v2_flipped_below_one", "v2_monotone_in_q",
                 "v3_pca_exact_w1", "v3_pca_decreasing", "v3_pca_zero_loss"):
        assert st[name] == "pass", name
    for name in ("v3_ibp_tight", "v3_ibp_vs_pca", "v3_std_near_pca", "v3_ibp_loss_below_pca",
                 "v4_ibp_5x_standard", "v4_ibp_tau_rises", "v4_std_pgd_tau_falls", "v4_cert_rises"):
        assert st[name] == "inconclusive", name
    assert {"t2_dln", "t2_relu", "ibp_upper"} <= set(smoke.bounds["bound"])


INIT_SMALL = dict(parts=["init"], depths=[2, 3, 4, 5, 6], widths=[32, 64, 128], seeds=4, n_inputs=24)


@pytest.fixture(scope="module")
def init_run(tmp_path_factory):
    return boundrun.run("ibp-tightness", out=str(tmp_path_factory.mktemp("init")), **INIT_SMALL)


def test_v1_magnitude_fails_when_the_t2_constant_is_wrong(init_run, tmp_path):
    assert evaluate("v1_magnitude", init_run) == "pass"
    bad = boundrun.run("ibp-tightness", out=str(tmp_path), init_const=1.4, **INIT_SMALL)
    assert evaluate("v1_magnitude", bad) == "fail"
    assert evaluate("v1_magnitude_L6", bad) == "fail"


@pytest.mark.parametrize("L", [2, 3, 4, 5, 6])
def test_v1_slope_fails_when_tightness_loses_its_width_decay(init_run, L):
    flat = perturb(init_run, "tau", lambda d: d["value"] * d["width"] ** 0.3)
    assert evaluate(f"v1_slope_L{L}", init_run, results=flat) == "fail"


EXACT_SMALL = dict(parts=["exactness"], exact_nets=8)


@pytest.fixture(scope="module")
def exact_run(tmp_path_factory):
    return boundrun.run("ibp-tightness", out=str(tmp_path_factory.mktemp("exact")), **EXACT_SMALL)


def test_v2_exactness_fails_when_the_construction_breaks_the_sign_condition(exact_run, tmp_path):
    assert evaluate("v2_exact_sign_consistent", exact_run) == "pass"
    bad = boundrun.run("ibp-tightness", out=str(tmp_path), flip_sign_consistent=0.05, **EXACT_SMALL)
    assert evaluate("v2_exact_sign_consistent", bad) == "fail"


def test_v2_below_one_and_monotonicity_fail_on_perturbed_frames(exact_run):
    assert evaluate("v2_flipped_below_one", exact_run) == "pass"
    assert evaluate("v2_monotone_in_q", exact_run) == "pass"
    exact = perturb(exact_run, "tau", lambda d: 1.0, q=[0.5])
    assert evaluate("v2_flipped_below_one", exact_run, results=exact) == "fail"
    rising = perturb(exact_run, "tau_step", lambda d: -d["value"])
    assert evaluate("v2_monotone_in_q", exact_run, results=rising) == "fail"


EMB_SMALL = dict(parts=["embedding"], emb_widths=[1, 3, 5, 8], emb_trained_widths=[5], emb_N=200, emb_d=30,
                 emb_epochs=300, emb_seeds=2)


@pytest.fixture(scope="module")
def emb_run(tmp_path_factory):
    return boundrun.run("ibp-tightness", out=str(tmp_path_factory.mktemp("emb")), **EMB_SMALL)


def test_v3_pca_claims_fail_on_perturbed_frames(emb_run):
    for name in ("v3_pca_exact_w1", "v3_pca_decreasing", "v3_pca_zero_loss"):
        assert evaluate(name, emb_run) == "pass", name
    inexact = perturb(emb_run, "tau", lambda d: d["value"] - 0.05, method="pca", width=1)
    assert evaluate("v3_pca_exact_w1", emb_run, results=inexact) == "fail"
    rising = perturb(emb_run, "pca_spearman", lambda d: 0.5)
    assert evaluate("v3_pca_decreasing", emb_run, results=rising) == "fail"
    lossy = perturb(emb_run, "std_loss", lambda d: d["value"] + 1e-3, method="pca")
    assert evaluate("v3_pca_zero_loss", emb_run, results=lossy) == "fail"


def test_v3_trained_claims_fail_on_perturbed_frames(emb_run):
    pca_tau = emb_run.results.query("metric == 'tau' and method == 'pca' and width == 5")["value"].to_numpy()
    loose = perturb(emb_run, "tau", lambda d: pca_tau, method="ibp", width=5)
    assert evaluate("v3_ibp_tight", emb_run, results=loose) == "fail"
    assert evaluate("v3_ibp_vs_pca", emb_run, results=loose) == "fail"
    assert evaluate("v3_ibp_relu_tight", emb_run,
                    results=perturb(emb_run, "tau", lambda d: 0.3, method="ibp_relu")) == "fail"
    far = perturb(emb_run, "tau_minus_pca", lambda d: d["value"] + 0.5)
    assert evaluate("v3_std_near_pca", emb_run, results=far) == "fail"
    pca_loss = emb_run.results.query("metric == 'ibp_loss' and method == 'pca' and width == 5")["value"].to_numpy()
    worse = perturb(emb_run, "ibp_loss", lambda d: 2 * pca_loss, method="ibp", width=5)
    assert evaluate("v3_ibp_loss_below_pca", emb_run, results=worse) == "fail"
    std_loss = emb_run.results.query("metric == 'std_loss' and method == 'std' and width == 5")["value"].to_numpy()
    better = perturb(emb_run, "std_loss", lambda d: std_loss / 2, method="ibp", width=5)
    assert evaluate("v3_ibp_pays_in_std_loss", emb_run, results=better, where={"part": "embedding", "width": 5}) \
        == "fail"
    # smoke cannot decide the trained parts, even with data
    assert evaluate("v3_ibp_tight", emb_run, results=loose, profile="smoke") == "inconclusive"


TRAIN_SMALL = dict(parts=["training"], train_widths=[32, 64], train_epochs=30, n_digits=200)


@pytest.fixture(scope="module")
def train_run(tmp_path_factory):
    return boundrun.run("ibp-tightness", out=str(tmp_path_factory.mktemp("train")), **TRAIN_SMALL)


def test_training_measures_accuracies_and_tightness_in_range(train_run):
    r = train_run.results
    for m in ("clean_acc", "cert_acc", "pgd_acc", "tau"):
        v = r[r["metric"] == m]["value"]
        assert len(v) == 6 and v.between(0, 1).all(), m
    cert = r[r["metric"] == "cert_acc"].set_index(["method", "width"])["value"]
    pgd = r[r["metric"] == "pgd_acc"].set_index(["method", "width"])["value"]
    assert (cert <= pgd + 1e-12).all()  # a certified point cannot be attacked


def test_v4_claims_fail_on_perturbed_frames(train_run):
    std_tau = train_run.results.query("metric == 'tau' and method == 'standard'")["value"].to_numpy()
    loose = perturb(train_run, "tau", lambda d: std_tau, method="ibp")
    assert evaluate("v4_ibp_5x_standard", train_run, results=loose) == "fail"
    assert evaluate("v4_ibp_5x_standard_all_n", train_run, results=loose) == "fail"
    assert evaluate("v4_ibp_tau_rises", train_run,
                    results=perturb(train_run, "tau_spearman", lambda d: -1.0, method="ibp")) == "fail"
    assert evaluate("v4_std_pgd_tau_falls", train_run,
                    results=perturb(train_run, "tau_spearman", lambda d: 1.0, method="pgd")) == "fail"
    assert evaluate("v4_cert_rises", train_run,
                    results=perturb(train_run, "cert_spearman", lambda d: -1.0, method="ibp")) == "fail"


def test_embedding_relu_tightness_agrees_with_the_general_local_routine():
    rng = np.random.default_rng(11)
    W1, W2, X, b1 = rng.normal(size=(4, 7)), rng.normal(size=(7, 4)), rng.normal(size=(9, 7)), rng.normal(size=4)
    D = (X @ W1.T + b1 > 0).astype(float)
    tau, ro, ri = A.embedding_radii(W1, W2, X, b1)
    assert tau == pytest.approx(A.tightness_relu_local([W1, W2], [D]).mean(), rel=1e-12)
    assert A.embedding_radii(W1, W2, None)[0] == pytest.approx(A.tightness_dln([W1, W2]).mean(), rel=1e-12)
