"""Paper 07 (ib-information-plane): the generator, every information estimator against closed forms or brute force,
the IB curve, backprop by finite differences, a smoke run, bad parameters, and a negative control for every claim."""

import dataclasses
import itertools

import numpy as np
import pytest

import boundrun
from boundrun.config import ConfigError
from boundrun.experiments.ib_information_plane import CLAIMS, DEPTH_PRESETS
from boundrun.experiments.ib_information_plane import algorithms as A
from boundrun.experiments.ib_information_plane import bounds as B

CLAIM = {c.name: c for c in CLAIMS}


@pytest.fixture(scope="module")
def data():
    return A.make_dataset(0.99, np.random.default_rng(0))


def pys_of(d):
    return np.stack([1 - d.py1_s, d.py1_s], axis=1)


def brute_mi(pxy: np.ndarray) -> float:
    """Mutual information (bits) of a joint table, term by term."""
    px, py = pxy.sum(1), pxy.sum(0)
    return sum(pxy[i, j] * np.log2(pxy[i, j] / (px[i] * py[j]))
               for i in range(pxy.shape[0]) for j in range(pxy.shape[1]) if pxy[i, j] > 0)


# -- data ---------------------------------------------------------------------------------------------------

def test_icosahedron_has_twelve_unit_vertices_with_five_nearest_neighbours():
    V = A.icosahedron()
    assert V.shape == (12, 3)
    np.testing.assert_allclose(np.linalg.norm(V, axis=1), 1.0)
    G = V @ V.T
    near = np.isclose(G, G[0][np.argsort(-G[0])[1]])
    assert (near.sum(axis=1) == 5).all()  # every vertex of a regular icosahedron has 5 nearest neighbours


def test_score_is_rotation_invariant_and_takes_twenty_levels(data):
    Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))
    f_rot = (((2 * data.X - 1) @ (A.icosahedron() @ Q)) ** 2).sum(axis=1)
    np.testing.assert_allclose(f_rot, data.f, atol=1e-9)
    assert len(np.unique(data.s)) == 20 and data.ps.sum() == pytest.approx(1.0)
    assert (np.diff(data.py1_s) >= 0).all()  # groups are ordered by f (saturated at 1 in floating point on top)


def test_gamma_gives_the_target_mutual_information_and_balanced_classes(data):
    assert data.I_XY == pytest.approx(0.99, abs=1e-10)
    direct = A.h2(data.py1.mean()) - np.mean([A.h2(p) for p in data.py1])
    assert direct == pytest.approx(0.99, abs=1e-10)
    assert abs((data.f > data.theta).mean() - 0.5) < 0.01
    d2 = A.make_dataset(0.9, np.random.default_rng(0))
    assert d2.I_XY == pytest.approx(0.9, abs=1e-10) and d2.gamma < data.gamma


def test_entropies_against_closed_forms():
    assert A.h2(0.5) == pytest.approx(1.0) and A.h2(0.0) == 0.0 and A.h2(1.0) == 0.0
    assert A.h2(0.11) == pytest.approx(-(0.11 * np.log2(0.11) + 0.89 * np.log2(0.89)))
    assert A.entropy(np.full(8, 1 / 8)) == pytest.approx(3.0)


# -- binned estimates ---------------------------------------------------------------------------------------

def test_plane_point_of_identity_and_constant_representations(data):
    ixt, ity, itye = A.plane_point(np.arange(4096), data.py1, data.y)
    assert ixt == pytest.approx(12.0) and ity == pytest.approx(data.I_XY)
    assert itye == pytest.approx(A.h2(data.y.mean()))  # labels are a function of x: I(X;Y_emp) = H(Y_emp)
    assert A.plane_point(np.zeros(4096, dtype=np.int64), data.py1, data.y)[:2] == pytest.approx((0.0, 0.0))


def test_plane_point_of_the_sign_partition_matches_a_joint_table(data):
    t = (data.f > data.theta).astype(np.int64)
    ixt, ity, _ = A.plane_point(t, data.py1, data.y)
    pxy = np.array([[np.sum((t == a) * (data.py1 if y else 1 - data.py1)) / 4096 for y in (0, 1)] for a in (0, 1)])
    assert ity == pytest.approx(brute_mi(pxy), abs=1e-12)
    assert ixt == pytest.approx(A.h2(t.mean()))
    # the same partition through the reduced problem on S
    pts = A.contiguous_partitions(data.ps, pys_of(data), max_cells=2)
    assert np.isclose(pts, [ixt, ity], atol=1e-12).all(axis=1).any()


def test_bin_codes_give_the_same_cells_as_unique_tuples_of_bin_indices():
    T = np.tanh(np.random.default_rng(2).standard_normal((4096, 5)) * 0.3)
    codes = A.bin_codes(T)
    tuples = np.unique(np.digitize(T, np.linspace(-1, 1, 30)), axis=0, return_inverse=True)[1].ravel()
    # same partition: a bijection between the two labelings
    pairs = set(zip(codes.tolist(), tuples.tolist(), strict=True))
    assert len(pairs) == len(set(codes.tolist())) == len(set(tuples.tolist()))
    wide = np.tanh(np.random.default_rng(3).standard_normal((200, 14)))  # too wide for int64 codes
    assert len(set(A.bin_codes(wide).tolist())) == len(np.unique(np.digitize(wide, np.linspace(-1, 1, 30)), axis=0))


# -- the IB curve -------------------------------------------------------------------------------------------

def test_ib_point_matches_a_brute_force_joint_table():
    rng = np.random.default_rng(4)
    ps = rng.dirichlet(np.ones(5))
    pys = rng.dirichlet(np.ones(2), size=5)
    pts = rng.dirichlet(np.ones(3), size=5)
    I_ST, I_TY = A._ib_point(ps, pys, pts)
    pst = ps[:, None] * pts
    assert I_ST == pytest.approx(brute_mi(pst))
    assert I_TY == pytest.approx(brute_mi(pst.T @ pys))


def test_contiguous_partitions_are_the_best_deterministic_quantisers_on_a_small_problem():
    rng = np.random.default_rng(5)
    ps = rng.dirichlet(np.ones(6))
    p1 = np.sort(rng.random(6))
    pys = np.stack([1 - p1, p1], axis=1)
    for k in (2, 3):
        brute = max(A._ib_point(ps, pys, np.eye(k)[list(lab)])[1] for lab in itertools.product(range(k), repeat=6))
        assert A.contiguous_partitions(ps, pys, max_cells=k)[:, 1].max() == pytest.approx(brute, abs=1e-12)


def test_upper_concave_envelope_covers_every_point_with_decreasing_slopes():
    pts = np.random.default_rng(6).random((300, 2))
    hull = A.upper_concave_envelope(pts)
    assert (np.interp(pts[:, 0], hull[:, 0], hull[:, 1]) >= pts[:, 1] - 1e-12).all()
    assert (np.diff(np.diff(hull[:, 1]) / np.diff(hull[:, 0])) < 0).all()
    assert all(np.isclose(pts, v).all(axis=1).any() for v in hull)


def test_ib_curve_is_concave_nondecreasing_and_under_the_trivial_bound(data):
    F = A.ib_curve(data.ps, pys_of(data), np.logspace(-1, 4, 20), 2, np.random.default_rng(7))
    R = np.linspace(0, 12, 1201)
    f = F(R)
    assert f[0] == pytest.approx(0.0, abs=1e-12) and F(F.H_S) == pytest.approx(data.I_XY)
    assert F.H_S == pytest.approx(A.entropy(data.ps)) and F(12.0) == pytest.approx(data.I_XY)
    assert (np.diff(f) >= -1e-12).all() and (np.diff(f, 2) <= 1e-12).all()
    assert (f <= B.trivial_ib(R, data.I_XY) + 1e-12).all()
    # near-deterministic rule: the sign partition (about 1 bit) already comes within 0.003 bit of I(X;Y)
    assert data.I_XY - F(1.0) < 0.003


def test_iterative_ib_reaches_full_relevance_at_large_beta_and_stays_under_the_curve(data):
    ps, pys = data.ps, pys_of(data)
    pts = A.iterative_ib(ps, pys, np.logspace(-1, 4, 20), 21, 2, np.random.default_rng(8))
    assert pts[:, 1].max() == pytest.approx(data.I_XY, abs=1e-4)
    assert pts[:2, 1].max() < 0.05  # beta = 0.1: everything merged
    F = A.ib_curve(ps, pys, np.logspace(-1, 4, 20), 2, np.random.default_rng(8))
    assert (pts[:, 1] <= F(pts[:, 0]) + 1e-9).all()


# -- the network --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_backprop_matches_finite_differences(activation):
    rng = np.random.default_rng(9)
    sizes = [12, 4, 3, 2]
    W = [rng.standard_normal((2, a, c)) * 0.7 for a, c in zip(sizes[:-1], sizes[1:], strict=True)]
    b = [rng.standard_normal((2, 1, c)) * 0.3 for c in sizes[1:]]
    x = rng.integers(0, 2, (2, 7, 12)).astype(float)
    T1 = np.eye(2)[rng.integers(0, 2, (2, 7))]
    gW = [np.zeros_like(w) for w in W]
    gb = [np.zeros_like(v) for v in b]
    A.loss_and_grads(W, b, x, T1, activation, gW, gb)
    eps = 1e-6
    for P, G in ((W, gW), (b, gb)):
        for ell in range(len(P)):
            for idx in [(0, 0, 0), (1, 0, P[ell].shape[2] - 1)]:
                old = P[ell][idx]
                P[ell][idx] = old + eps
                up = A.loss_and_grads(W, b, x, T1, activation, [g.copy() for g in gW], [g.copy() for g in gb])
                P[ell][idx] = old - eps
                dn = A.loss_and_grads(W, b, x, T1, activation, [g.copy() for g in gW], [g.copy() for g in gb])
                P[ell][idx] = old
                assert G[ell][idx] == pytest.approx((up - dn)[idx[0]] / (2 * eps), rel=1e-5, abs=1e-8)


def test_training_lowers_the_loss_and_logs_every_layer(data):
    lg = A.train(data, [10, 7, 5, 4, 3], "tanh", 2, 0.85, 30, 5, np.random.default_rng(10))
    assert lg.plane.shape == (2, len(A.info_epochs(30, 5)), 6, 3)
    assert (lg.loss[:, -1] < lg.loss[:, 0]).all()
    assert (lg.plane[:, :, 0, 0] > 11.9).all()  # the 10-unit first layer keeps almost every pattern apart
    assert (lg.grad_mean > 0).all() and (lg.grad_std > 0).all()


def test_info_epochs_and_convergence_epoch():
    E = A.info_epochs(4000, 150)
    assert E[0] == 1 and E[-1] == 4000 and (np.diff(E) > 0).all()
    assert A.convergence_epoch(np.array([1.0, 0.5, 0.3, 0.203, 0.2])) == 4
    assert DEPTH_PRESETS[6] == [10, 7, 5, 4, 4, 3]


def test_truncated_normal_stays_within_two_standard_deviations():
    z = A.truncated_normal(np.random.default_rng(11), (20000,), 0.5)
    assert np.abs(z).max() <= 1.0 and 0.4 < z.std() / 0.5 < 0.95


# -- runs, config, verdicts ---------------------------------------------------------------------------------

def test_smoke_profile_decides_the_gated_bounds_and_leaves_the_trends_inconclusive(tmp_path):
    res = boundrun.run("ib-information-plane", profile="smoke", out=str(tmp_path))
    st = res.claims.set_index("claim")["status"]
    for name in ("ib_bound", "ixt_at_most_12", "ity_at_most_ixy", "ixy_is_099"):
        assert st[name] == "pass", res.claims
    for name in ("converged_near_ib", "compression_tanh", "no_compression_relu", "compression_at_diffusion",
                 "deeper_converges_faster"):
        assert st[name] == "inconclusive"
    folder = next((tmp_path / "ib-information-plane").glob("20*"))
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (folder / f).exists()


def test_bad_parameters_are_config_errors(tmp_path):
    for kw, msg in ((dict(I_XY=1.2), "I_XY"), (dict(train_frac=[0.0]), "train_frac"), (dict(hidden=[10, 0]), "hidden"),
                    (dict(depth_layers=[7]), "depth_layers"), (dict(n_info=1), "n_info")):
        with pytest.raises(ConfigError, match=msg):
            boundrun.run("ib-information-plane", profile="smoke", out=str(tmp_path), **kw)


def test_a_wrong_generator_fails_the_mutual_information_check(tmp_path):
    res = boundrun.run("ib-information-plane", profile="smoke", out=str(tmp_path), I_XY=0.95, epochs=5, n_info=2)
    assert res.claims.set_index("claim").loc["ixy_is_099", "status"] == "fail"


SMALL = dict(seeds=2, epochs=30, n_info=6, ib_betas=10, ib_restarts=1, relu_runs=1, depth_layers=[1, 2, 3],
             depth_epochs=8)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return boundrun.run("ib-information-plane", out=str(tmp_path_factory.mktemp("small")), **SMALL)


def evaluate(name, res, metric, shift, where=None):
    """The claim on the run's frames with `metric` shifted by `shift` (set to `shift` where `where` holds)."""
    r = res.results.copy()
    sel = r["metric"] == metric
    if where is not None:
        r.loc[sel & where(r), "value"] = shift
    else:
        r.loc[sel, "value"] += shift
    return CLAIM[name].evaluate(r, res.bounds, "epoch", "default").status


def test_gated_bound_claims_pass_and_fail_when_one_point_crosses(small):
    st = small.claims.set_index("claim")["status"]
    for name in ("ib_bound", "ixt_at_most_12", "ity_at_most_ixy"):
        assert st[name] == "pass"
    one = lambda r: (r["seed"] == 1) & (r["layer"] == 5) & (r["epoch"] == r["epoch"].max())  # noqa: E731
    assert evaluate("ib_bound", small, "ib_excess", 0.02, one) == "fail"  # a single point of a single run
    assert evaluate("ixt_at_most_12", small, "I_XT", 12.01, one) == "fail"
    assert evaluate("ity_at_most_ixy", small, "ity_excess", 1e-3, one) == "fail"


def test_report_claims_are_decided_in_default_and_fail_when_perturbed(small):
    detail = small.claims.set_index("claim")["detail"]
    for name in ("converged_near_ib", "compression_tanh", "no_compression_relu", "deeper_converges_faster"):
        assert "no data" not in detail[name] and "fewer than" not in detail[name]
    assert evaluate("converged_near_ib", small, "gap_final", 0.5) == "fail"
    assert evaluate("no_compression_relu", small, "compression", 1.0) == "fail"
    assert evaluate("compression_at_diffusion", small, "phase_lag", 3.0) == "fail"
    assert evaluate("deeper_converges_faster", small, "depth_spearman", 2.0) == "fail"
    r = small.results.copy()
    r.loc[r["metric"] == "compression", "value"] = 0.0
    assert CLAIM["compression_tanh"].evaluate(r, small.bounds, "epoch", "default").status == "fail"


def test_ib_excess_is_computed_against_the_run_curve(small):
    r = small.results
    piv = r[(r["method"] == "tanh") & r["metric"].isin(["I_XT", "I_TY", "ib_excess"])].pivot_table(
        index=["seed", "epoch", "layer"], columns="metric", values="value")
    curve = small.bounds[small.bounds["bound"] == "ib_curve"].drop_duplicates("ixt").sort_values("ixt")
    F = np.interp(piv["I_XT"], curve["ixt"], curve["value"])
    # the bounds grid is 0.05 bit wide, so linear interpolation of the concave curve is within 0.05 * slope <= 0.05
    assert np.all(np.abs(piv["I_TY"] - F - piv["ib_excess"]) <= 0.05)
    assert dataclasses.is_dataclass(CLAIM["ib_bound"])
