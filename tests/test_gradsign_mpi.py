"""Paper 35 (gradsign-mpi): the Psi bound and its pieces against independent computations, the GradSign
metrics against brute force, the data stand-in, a smoke run, and a negative control for every claim."""

import dataclasses

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.stats import rankdata

import boundrun
from boundrun import datasets as digits
from boundrun.config import ConfigError
from boundrun.experiments.gradsign_mpi import CLAIMS, _partial_spearman, nas
from boundrun.experiments.gradsign_mpi import algorithms as A
from boundrun.experiments.gradsign_mpi import bounds as B

CLAIM = {c.name: c for c in CLAIMS}
RHO = 1e-2


# -- part A: the bound and its pieces ---------------------------------------------------------------------

def test_psi_mean_deviation_form_equals_the_pairwise_form():
    th = np.random.default_rng(0).standard_normal((3, 7, 4))
    np.testing.assert_allclose(B.psi(th), B.psi_pairwise(th), rtol=1e-12)
    assert B.psi(np.repeat(th[:, :1], 7, axis=1)).max() < 1e-28


@pytest.mark.parametrize("D", [1, 5, 30])
def test_sample_minimiser_from_the_1d_root_matches_a_direct_minimisation_of_l_i(D):
    X, y = A.make_data(np.random.default_rng(D), 1, 4, D, 1.0)
    th = A.sample_minimisers(X, y, RHO)[0]
    assert np.linalg.norm(A.per_sample_grad(th[None], X, y, RHO), axis=-1).max() < 1e-10
    for i in range(4):
        def f(t, i=i):
            return np.logaddexp(0, -y[0, i] * X[0, i] @ t) + RHO / 2 * t @ t
        direct = minimize(f, np.zeros(D), method="BFGS", options={"gtol": 1e-10}).x
        np.testing.assert_allclose(th[i], direct, atol=1e-5)


def test_beta_dominates_the_largest_hessian_eigenvalue_of_every_per_sample_loss():
    X, y = A.make_data(np.random.default_rng(1), 1, 6, 4, 2.0)
    beta = B.smoothness(X, RHO)[0]
    rng = np.random.default_rng(2)
    for _ in range(20):
        t = rng.standard_normal(4) * 3
        for i in range(6):
            s = A.sigmoid(y[0, i] * X[0, i] @ t)
            H = s * (1 - s) * np.outer(X[0, i], X[0, i]) + RHO * np.eye(4)
            assert np.linalg.eigvalsh(H).max() <= beta + 1e-12
    # the constant is attained in the limit m -> 0 (sigma' = 1/4): beta is the tight smoothness constant
    i = np.argmax((X[0] ** 2).sum(axis=1))
    np.testing.assert_allclose(0.25 * X[0, i] @ X[0, i] + RHO, beta)


def test_bound_chain_min_L_le_L_at_mean_minimiser_le_psi_bound():
    X, y = A.make_data(np.random.default_rng(3), 4, 30, 6, 1.0)
    th = A.sample_minimisers(X, y, RHO)
    bound = B.psi_bound(A.per_sample_loss(th, X, y, RHO).mean(axis=1), B.smoothness(X, RHO), B.psi(th))
    L_bar = A.train_loss(th.mean(axis=1), X, y, RHO)
    L_hat = A.train_loss(np.stack([A.fit_lbfgs(X[s], y[s], RHO) for s in range(4)]), X, y, RHO)
    assert (L_hat <= L_bar + 1e-12).all() and (L_bar <= bound).all()


def test_lbfgs_reaches_the_newton_optimum():
    X, y = A.make_data(np.random.default_rng(4), 1, 40, 5, 3.0)
    th = A.fit_lbfgs(X[0], y[0], RHO)
    t = np.zeros(5)
    for _ in range(50):  # Newton on the strongly convex objective
        m = y[0] * (X[0] @ t)
        s = A.sigmoid(-m)
        g = -(X[0].T @ (s * y[0])) / 40 + RHO * t
        H = (X[0].T * (s * (1 - s))) @ X[0] / 40 + RHO * np.eye(5)
        t = t - np.linalg.solve(H, g)
    np.testing.assert_allclose(th, t, atol=1e-7)


@pytest.mark.parametrize("r", [0.0, 3.0])
def test_exact_population_loss_matches_1e5_fresh_samples(r):
    theta = np.array([1.5, -0.7, 0.3, 0.0])
    exact = A.population_loss(theta[None], r, RHO)[0]
    rng = np.random.default_rng(5)
    mc = [A.population_loss_mc(theta, r, RHO, rng) for _ in range(3)]
    se = 2.0 / np.sqrt(1e5)  # the loss has sd < 2 at this theta
    assert abs(np.mean(mc) - exact) < 4 * se / np.sqrt(3)


# -- part B: the metrics ---------------------------------------------------------------------------------

def tiny(act="tanh", depth=2, width=5, seed=0):
    torch.manual_seed(seed)
    return nas.build_mlp(nas.Arch(depth, width, act))


def batch(N=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(N, 64, generator=g), torch.randint(0, 10, (N,), generator=g)


def loop_grads(model, X, y):
    out = []
    for i in range(len(y)):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(X[i:i + 1]), y[i:i + 1]).backward()
        out.append({k: p.grad.clone() for k, p in model.named_parameters()})
    return {k: torch.stack([o[k] for o in out]) for k in out[0]}


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_per_sample_gradients_match_a_loop_of_single_sample_backward_passes(act):
    model, (X, y) = tiny(act), batch()
    fast, slow = nas.per_sample_grads(model, X, y, act), loop_grads(model, X, y)
    for k in slow:
        torch.testing.assert_close(fast[k], slow[k], rtol=1e-5, atol=1e-7)


def test_gradsign_counts_sign_agreement_on_weights_only():
    model, (X, y) = tiny(), batch()
    g = loop_grads(model, X, y)
    names = nas.weight_names(model)
    assert names == ["0.weight", "2.weight", "4.weight"]
    brute = 0.0
    n_w = 0
    for n in names:
        S = np.sign(g[n].numpy()).reshape(len(y), -1)
        for k in range(S.shape[1]):
            brute += abs(sum(S[i, k] for i in range(len(y))))
            n_w += 1
    s, m = nas.gradsign(nas.per_sample_grads(model, X, y, "tanh"), names)
    assert s == pytest.approx(brute) and m == pytest.approx(brute / n_w)
    # all samples agree: the maximum N per weight; pairs with opposite gradients: zero
    same = {n: g[n][:1].repeat(4, *[1] * (g[n].dim() - 1)) for n in names}
    nonzero = sum(int((g[n][0] != 0).sum()) for n in names)
    assert nas.gradsign(same, names)[0] == 4 * nonzero
    opp = {n: torch.cat([g[n][:1], -g[n][:1]]) for n in names}
    assert nas.gradsign(opp, names)[0] == 0.0


def test_psi_estimate_after_one_sgd_step_is_lr_squared_times_the_gradient_dispersion():
    model, (X, y) = tiny("relu"), batch(8)
    names = nas.weight_names(model)
    g = loop_grads(model, X, y)
    G = torch.cat([g[n].reshape(8, -1) for n in names], dim=1).double().numpy()
    lr = 0.05
    assert nas.psi_estimate(model, X, y, 1, lr, "relu") == pytest.approx(lr**2 * B.psi(G[None])[0], rel=1e-4)
    assert nas.psi_estimate(model, X, y, 0, lr, "relu") == 0.0


def test_synflow_of_a_one_hidden_layer_net_matches_its_closed_form():
    model = tiny("relu", depth=1, width=4)
    W1, b1 = model[0].weight.detach().double().abs(), model[0].bias.detach().double().abs()
    W2 = model[2].weight.detach().double().abs()
    h = W1 @ torch.ones(64, dtype=torch.float64) + b1  # >= 0, so relu is the identity
    # R = 1^T (W2 h + b2): dR/dW2[o, j] = h_j, dR/dW1[j, k] = sum_o W2[o, j]
    expected = (W2 * h[None, :]).sum() + (W1 * W2.sum(dim=0)[:, None]).sum()
    assert nas.synflow(model) == pytest.approx(float(expected), rel=1e-10)


def test_grad_norm_and_snip_follow_their_definitions():
    model, (X, y) = tiny(), batch()
    gn, sn = nas.batch_metrics(model, X, y)
    g = loop_grads(model, X, y)
    names = nas.weight_names(model)
    mean_g = {n: g[n].mean(dim=0) for n in names}  # the batch loss is the mean of l_i
    params = dict(model.named_parameters())
    assert gn == pytest.approx(sum(float(mean_g[n].norm()) for n in names), rel=1e-5)
    assert sn == pytest.approx(sum(float((params[n].detach() * mean_g[n]).abs().sum()) for n in names), rel=1e-5)


def test_partial_spearman_is_the_correlation_of_rank_residuals():
    rng = np.random.default_rng(6)
    z = rng.standard_normal(30)
    a, b = z + rng.standard_normal(30), z + rng.standard_normal(30)
    ra, rb, rz = rankdata(a), rankdata(b), rankdata(z)
    Z = np.column_stack([np.ones(30), rz])
    res_a = ra - Z @ np.linalg.lstsq(Z, ra, rcond=None)[0]
    res_b = rb - Z @ np.linalg.lstsq(Z, rb, rcond=None)[0]
    assert _partial_spearman(a, b, z) == pytest.approx(np.corrcoef(res_a, res_b)[0, 1], rel=1e-10)


def test_search_space_sample_is_without_replacement_and_fixed_by_seed_0():
    a, b = nas.sample_archs(60), nas.sample_archs(60)
    assert a == b and len(set(a)) == 60 and len(nas.SPACE) == 72


def test_digit_stand_in_is_in_unit_range_balanced_and_split_stratified():
    X, y = digits.make_digits(np.random.default_rng(0))
    assert X.shape == (1797, 64) and X.min() >= 0 and np.allclose(X.max(axis=1), 1)
    assert np.bincount(y).min() >= 179
    tr, te = digits.stratified_split(y, 0.2, np.random.default_rng(0))
    assert len(set(tr) & set(te)) == 0 and len(tr) + len(te) == 1797
    np.testing.assert_allclose(np.bincount(y[te]) / np.bincount(y), 0.2, atol=0.01)


# -- runs, verdicts and negative controls ------------------------------------------------------------------

def test_bad_parameters_are_config_errors(tmp_path):
    for kw, msg in ((dict(rho=0.0), "rho must be"), (dict(parts=["nope"]), "parts"), (dict(nas_archs=100), "nas_archs"),
                    (dict(psi_samples=100), "psi_samples"), (dict(a_r=[-1.0]), "a_r")):
        with pytest.raises(ConfigError, match=msg):
            boundrun.run("gradsign-mpi", profile="smoke", out=str(tmp_path), **kw)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return boundrun.run("gradsign-mpi", profile="smoke", out=str(tmp_path_factory.mktemp("smoke")))


def status(res, name):
    return res.claims.set_index("claim").loc[name, "status"]


@dataclasses.dataclass
class Frames:
    results: object
    bounds: object


def perturbed(res, metric, fn, **where):
    r = res.results.copy()
    sel = r["metric"] == metric
    for k, v in where.items():
        sel &= r[k] == v
    r.loc[sel, "value"] = fn(r.loc[sel])
    return Frames(r, res.bounds)


def evaluate(name, frames, profile="default"):
    return CLAIM[name].evaluate(frames.results, frames.bounds, "n_samples", profile).status


def test_smoke_decides_the_bound_and_leaves_the_ranking_claims_inconclusive(smoke):
    st = smoke.claims.set_index("claim")["status"]
    for name in ("psi_bound_every_dataset", "psi_bound_mean", "root_is_stationary", "psi_zero_when_identical"):
        assert st[name] == "pass", name
    for name in [c.name for c in CLAIMS if not c.gated]:
        assert st[name] == "inconclusive", name
    assert set(smoke.bounds["bound"]) == {"psi_bound", "sample_min_floor"}
    assert (smoke.path / "figure.png").exists()


def test_psi_bound_fails_when_the_smoothness_term_is_dropped(tmp_path):
    bad = boundrun.run("gradsign-mpi", out=str(tmp_path), parts=["psi-bound"], a_D=[5], a_n=[20], a_r=[0.0, 3.0],
                       seeds=4, beta_scale=0.0)
    assert status(bad, "psi_bound_every_dataset") == "fail"
    assert status(bad, "psi_bound_mean") == "fail"


def test_root_stationarity_fails_with_a_coarse_root(tmp_path):
    bad = boundrun.run("gradsign-mpi", out=str(tmp_path), parts=["psi-bound"], a_D=[20], a_n=[20], a_r=[1.0],
                       seeds=2, root_xtol=1e-3)
    assert status(bad, "root_is_stationary") == "fail"


def test_psi_zero_fails_when_identical_minima_disperse(smoke):
    spread = perturbed(smoke, "psi_degenerate", lambda d: d["value"] + 1e-6)
    assert evaluate("psi_zero_when_identical", spread) == "fail"


NAS = {"part": "mini-nas"}


@pytest.mark.parametrize(("claim", "metric", "method", "target", "value"), [
    ("gradsign_ranks_accuracy", "spearman", "gradsign_sum", "test_acc", 0.1),
    ("gradsign_beyond_size", "partial_spearman", "gradsign_sum", "test_acc", -0.3),
    ("gradsign_vs_psi", "spearman", "gradsign_sum", "psi", 0.4),
    ("psi_vs_train_loss", "spearman", "psi", "train_loss", -0.4),
])
def test_ranking_claims_fail_on_frames_with_the_wrong_correlation(smoke, claim, metric, method, target, value):
    seeds = smoke.results.loc[smoke.results["method"] == method, "seed"]
    bad = perturbed(smoke, metric, lambda d: value + 0.01 * d["seed"], method=method, target=target)
    assert seeds.nunique() >= 2
    assert evaluate(claim, bad) == "fail"
    assert evaluate(claim, bad, profile="smoke") == "inconclusive"  # smoke never decides part B


@pytest.mark.parametrize("rival", ["grad_norm", "snip", "synflow", "params"])
def test_gradsign_best_fails_when_a_rival_ranks_better(smoke, rival):
    r = smoke.results.copy()
    sel = (r["metric"] == "spearman") & (r["target"] == "test_acc")
    r.loc[sel & (r["method"] == "gradsign_sum"), "value"] = 0.2 + 0.01 * r["seed"]
    r.loc[sel & (r["method"] == rival), "value"] = 0.6 + 0.01 * r["seed"]
    assert evaluate(f"gradsign_beats_{rival}", Frames(r, smoke.bounds)) == "fail"
