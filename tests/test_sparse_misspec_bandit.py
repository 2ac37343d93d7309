"""Paper 16 (sparse-misspec-bandit): instance construction, the covering algorithm, the G-optimal design, the
LS adversary and the bounds against independent computations; a smoke run; a negative control per claim."""

from __future__ import annotations

import math
from itertools import combinations, product

import numpy as np
import pytest

import boundrun
from boundrun.config import ConfigError
from boundrun.experiments import sparse_misspec_bandit as exp_mod
from boundrun.experiments.sparse_misspec_bandit import algorithms as al
from boundrun.experiments.sparse_misspec_bandit import bounds as B

NAME = "sparse-misspec-bandit"
CLAIMS = {c.name: c for c in exp_mod.CLAIMS}
# a small run with a d sweep (s = 1) and the adversarial family: enough cells for every claim
MINI = dict(seeds=3, eps_sweep=[], s_sweep=[], d_sweep=[3, 5, 8], d_sweep_s=1, d_sweep_eps=0.3,
            families=["none", "adversarial_ls"], n_rand=150, n_candidates=60)


def _status(out, name):  # noqa: ANN001, ANN202
    return out.claims.set_index("claim").loc[name, "status"]


def _evaluate(name, results, bounds):  # noqa: ANN001, ANN202
    return CLAIMS[name].evaluate(results, bounds, "eps").status


@pytest.fixture(scope="module")
def mini(tmp_path_factory):  # noqa: ANN001, ANN201
    return boundrun.run(NAME, out=str(tmp_path_factory.mktemp("mini")), **MINI)


# ---------------------------------------------------------------------------------------------------- sizes
def test_lattice_matches_brute_force_count_and_spec_action_counts() -> None:
    for s, eps in [(1, 0.3), (2, 0.2), (3, 0.25)]:
        h = eps / math.sqrt(s)
        m = int(1 / h) + 1
        brute = sum(1 for k in product(range(-m, m + 1), repeat=s)
                    if all(k) and sum(v * v for v in k) * h * h <= 1 + 1e-12)
        assert len(al.lattice_ball(s, eps)) == brute
    # |A| quoted by the spec (review count), with 2000 decoys
    for (d, s, eps), n in {(10, 2, 0.2): 7940, (20, 2, 0.2): 27080, (10, 2, 0.1): 27920}.items():
        assert math.comb(d, s) * len(al.lattice_ball(s, eps)) + 2000 == n


def test_representatives_project_onto_the_canonical_points() -> None:
    g = al.build_grid(5, 2, 0.3, 0.3, 1.1, 200)
    for k, S in enumerate(g.supports):
        np.testing.assert_array_equal(g.G_int[g.rep[k]][:, S], g.P_int)
    # P is exactly the set of projections of the grid on any support
    proj = {tuple(r) for r in g.G_int[:, [1, 3]].tolist()}
    assert proj == {tuple(r) for r in g.P_int.tolist()}


# ---------------------------------------------------------------------------------------------------- cover
def _small_instance(d=5, s=2, eps=0.3, n_rand=300, seed=0):  # noqa: ANN001, ANN202
    g = al.build_grid(d, s, eps, eps, 1.1, 500)
    rng = np.random.default_rng(seed)
    return g, al.make_instance(g, rng, n_rand), rng


def test_cover_queries_form_an_eps_separated_eps_cover_of_every_projection() -> None:
    g, inst, rng = _small_instance()
    q = al.sparse_cover_queries(g, inst, rng)
    assert len(np.unique(q)) == len(q)
    eps = g.eps
    for S in g.supports:
        proj_all = inst.A[:, S]
        proj_q = inst.A[q][:, S]
        d_min = np.sqrt(((proj_all[:, None, :] - proj_q[None, :, :]) ** 2).sum(-1)).min(axis=1)
        assert d_min.max() <= eps + 1e-9  # every projection within eps of a queried one
    assert len(q) <= B.q_upper(g.d, g.s, eps)


def test_greedy_net_is_separated_and_covering_by_brute_force() -> None:
    X = np.random.default_rng(3).uniform(-1, 1, size=(400, 2))
    D2 = ((X[:, None] - X[None]) ** 2).sum(-1)
    kept = al.greedy_net_from_sqdist(D2, 0.2**2, np.arange(400))
    sub = D2[np.ix_(kept, kept)] + np.eye(len(kept)) * 9
    assert sub.min() > 0.2**2  # separated
    assert D2[:, kept].min(axis=1).max() <= 0.2**2 + 1e-12  # covering
    assert len(kept) <= (1 + 2 / 0.2) ** 2 * 2  # packing bound on the ball of radius sqrt(2)


def test_cover_guarantee_three_eps_on_needle_instances() -> None:
    for seed in range(4):
        g, inst, rng = _small_instance(seed=seed)
        inst_n, eta = al.eta_needle(inst, g.eps, rng)
        r = inst_n.A @ inst_n.theta + eta
        assert np.abs(eta).max() <= g.eps
        q = al.sparse_cover_queries(g, inst_n, rng)
        a = al.sparse_cover(q, al.Oracle(r, 0.0, 1, rng))
        assert (r.max() - r[a]) / g.eps <= 3 + 1e-9


def test_needle_fallback_builds_a_unit_action_just_below_the_linear_optimum() -> None:
    g, inst, rng = _small_instance(d=8, n_rand=1)
    inst.A[-1] = -inst.theta  # the only decoy cannot qualify
    inst_n, eta = al.eta_needle(inst, g.eps, rng)
    L = (inst.A @ inst.theta).max()
    a = inst_n.A[-1]
    assert abs(np.linalg.norm(a) - 1) < 1e-9 and abs(a @ inst.theta - (L - g.eps / 2)) < 1e-9
    assert eta[-1] == g.eps and (eta[:-1] == -g.eps).all()


# ---------------------------------------------------------------------------------------------------- design
def test_g_optimal_design_reaches_kiefer_wolfowitz_tolerance_with_direct_leverages() -> None:
    g, inst, _ = _small_instance(d=6, s=2)
    des = al.design_of(inst.A, 1.1, 2000)
    Ad = inst.A[des.support]
    np.testing.assert_allclose(des.V, (Ad.T * des.weights) @ Ad, atol=1e-10)
    assert abs(des.weights.sum() - 1) < 1e-10
    lev = np.einsum("ij,jk,ik->i", inst.A, np.linalg.inv(des.V), inst.A)
    assert lev.max() <= 1.1 * 6 + 1e-8 and lev.max() >= 6 - 1e-8  # KW: max leverage >= d for any design
    # a cross-polytope: the optimal design is uniform and max leverage exactly d
    X = np.vstack([np.eye(4), -np.eye(4)])
    w, V, _ = al.g_optimal_design(X, 1.0001, 100)
    np.testing.assert_allclose(np.linalg.eigvalsh(V), 0.25, atol=1e-12)


def test_adversary_inflation_matches_explicit_weighted_least_squares() -> None:
    g, inst, rng = _small_instance(d=6, s=2)
    des = al.design_of(inst.A, 1.1, 2000)
    adv = al.eta_adversarial_ls(inst, des, g.eps, rng, 80)
    assert np.abs(adv.eta).max() <= g.eps
    r = inst.A @ inst.theta + adv.eta
    # independent LS: minimise sum_i w_i (<theta, a_i> - r_i)^2 with lstsq on sqrt(w)-scaled rows
    sw = np.sqrt(des.weights)
    th = np.linalg.lstsq(inst.A[des.support] * sw[:, None], r[des.support] * sw, rcond=None)[0]
    Vinv = np.linalg.inv(des.V)
    iota_b = np.abs(inst.A[adv.b] @ Vinv @ inst.A[des.support].T) @ des.weights
    assert (th - inst.theta) @ inst.A[adv.b] == pytest.approx(g.eps * iota_b, rel=1e-8)
    assert adv.iota <= math.sqrt(des.g_max) + 1e-9  # Cauchy-Schwarz
    a_hat = al.ls_gopt(inst, des, al.Oracle(r, 0.0, 1, rng))
    assert a_hat == int(np.argmax(inst.A @ th))
    sub = (r.max() - r[a_hat]) / g.eps
    assert sub <= B.err_ls(6) + 1e-9


def test_sparse_ls_candidate_is_within_its_bound_and_queries_are_counted() -> None:
    g, inst, rng = _small_instance(d=6, s=2)
    _, eta = al.eta_needle(inst, g.eps, rng)
    r = inst.A @ inst.theta + eta
    sd = al.sparse_designs(g, inst, 1.1, 500)
    for k, S in enumerate(g.supports):
        X = np.vstack([g.P, inst.A[g.n_grid:][:, S]])
        lev = np.einsum("ij,jk,ik->i", X, np.linalg.inv(sd.V[k]), X)
        assert lev.max() <= 1.1 * 2 + 1e-8
    o = al.Oracle(r, 0.0, 1, rng)
    a = al.sparse_ls(g, inst, sd, o)
    assert (r.max() - r[a]) / g.eps <= B.err_sparse_ls(2) + 1e-9
    assert o.n_queries == len(o.seen) > 0


def test_oracle_noise_has_the_repetition_scaled_variance_and_caches() -> None:
    rng = np.random.default_rng(1)
    o = al.Oracle(np.zeros(20000), 0.1, B.n_rep(0.1, 0.1), rng)
    y = o.query(np.arange(20000))
    assert B.n_rep(0.1, 0.1) == 16 and y.std() == pytest.approx(0.1 / 4, rel=0.03)
    np.testing.assert_array_equal(o.query(np.arange(5)), y[:5])
    assert o.n_queries == 20000


def test_bound_formulas() -> None:
    assert B.q_upper(10, 2, 0.2) == 45 * 11**2
    assert B.err_ls(8) == pytest.approx(2 + 2 * 4)
    assert B.err_sparse_ls(2) == pytest.approx(6)
    assert B.iota_upper(10, 1.1) == pytest.approx(math.sqrt(11))
    assert B.n_rep(0.0, 0.1) == 1
    assert math.comb(6, 2) == len(list(combinations(range(6), 2)))


# ---------------------------------------------------------------------------------------------------- runs
def test_smoke_run_writes_a_complete_folder_and_decides_only_what_it_can(tmp_path) -> None:  # noqa: ANN001
    out = boundrun.run(NAME, profile="smoke", out=str(tmp_path))
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (out.path / f).exists()
    assert _status(out, "cover_within_3eps") == "pass"
    assert _status(out, "cover_queries_below_q_upper") == "pass"
    for name in ("cover_queries_growth", "ls_inflation_sqrt_d", "ls_vs_cover_ratio", "ls_vs_cover_margin",
                 "ls_grows_with_d"):
        assert _status(out, name) == "inconclusive"


def test_same_seed_gives_identical_results(mini, tmp_path) -> None:  # noqa: ANN001
    again = boundrun.run(NAME, out=str(tmp_path), **MINI)
    assert again.results.equals(mini.results)


def test_mini_run_has_data_for_every_claim(mini) -> None:  # noqa: ANN001
    claims = mini.claims.set_index("claim")
    assert claims.loc["cover_within_3eps", "status"] == "pass"
    assert claims.loc["cover_queries_below_q_upper", "status"] == "pass"
    assert not claims["detail"].str.contains("no data").any()


# ---------------------------------------------------------------------------------------------------- negative controls
def test_cover_guarantee_fails_with_a_too_coarse_net(tmp_path) -> None:  # noqa: ANN001
    out = boundrun.run(NAME, profile="smoke", out=str(tmp_path), cover_radius=4.0, seeds=6)
    assert _status(out, "cover_within_3eps") == "fail"


def test_query_bound_fails_with_a_too_fine_net(tmp_path) -> None:  # noqa: ANN001
    out = boundrun.run(NAME, profile="smoke", out=str(tmp_path), cover_radius=0.3)
    assert _status(out, "cover_queries_below_q_upper") == "fail"


def test_query_growth_fails_when_queries_grow_like_the_square(mini) -> None:  # noqa: ANN001
    res = mini.results.copy()
    q = res["metric"] == "queries"
    res.loc[q, "value"] = res.loc[q, "dse"] ** 2
    assert _evaluate("cover_queries_growth", res, mini.bounds) == "fail"


def test_inflation_rate_fails_when_iota_decays_with_d(mini) -> None:  # noqa: ANN001
    res = mini.results.copy()
    m = res["metric"] == "iota"
    res.loc[m, "value"] = 1.0 / res.loc[m, "d"]
    assert _evaluate("ls_inflation_sqrt_d", res, mini.bounds) == "fail"


def _set_subopt(res, method, fn):  # noqa: ANN001, ANN202
    m = (res["metric"] == "subopt") & (res["method"] == method)
    res.loc[m, "value"] = fn(res.loc[m])
    return res


def test_ratio_claim_fails_when_cover_is_as_bad_as_ls(mini) -> None:  # noqa: ANN001
    res = _set_subopt(mini.results.copy(), "ls_gopt", lambda r: 2.0 + 0.1 * r["seed"])
    res = _set_subopt(res, "sparse_cover", lambda r: 2.0 + 0.1 * r["seed"])
    assert _evaluate("ls_vs_cover_ratio", res, mini.bounds) == "fail"


def test_margin_claim_fails_when_ls_is_no_worse_than_cover(mini) -> None:  # noqa: ANN001
    res = mini.results.copy()
    m = res["metric"] == "ls_minus_cover"
    res.loc[m, "value"] = 0.1 * res.loc[m, "seed"]
    assert _evaluate("ls_vs_cover_margin", res, mini.bounds) == "fail"


def test_growth_claim_fails_when_ls_error_shrinks_with_d(mini) -> None:  # noqa: ANN001
    res = _set_subopt(mini.results.copy(), "ls_gopt", lambda r: 10.0 / r["d"] + 0.01 * r["seed"])
    assert _evaluate("ls_grows_with_d", res, mini.bounds) == "fail"


@pytest.mark.parametrize("claim,method", [("ls_within_err_ls", "ls_gopt"), ("sparse_ls_within_err", "sparse_ls")])
def test_report_only_error_bounds_fail_when_errors_exceed_them(mini, claim, method) -> None:  # noqa: ANN001
    res = mini.results.copy()
    m = (res["metric"] == "subopt_worst") & (res["method"] == method)
    res.loc[m, "value"] = 100.0
    assert _evaluate(claim, res, mini.bounds) == "fail"
    assert not CLAIMS[claim].gated


# ---------------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("override", [dict(s_sweep_eps=1.5), dict(s_sweep=[6]), dict(fw_tol=1.0),
                                      dict(families=["bogus"]), dict(algorithms=["random_search"]),
                                      dict(cover_radius=0.0)])
def test_bad_parameters_are_refused(tmp_path, override) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError):
        boundrun.run(NAME, profile="smoke", out=str(tmp_path), **override)
