"""Paper 05 (multimodal-synergy-bounds): information measures against closed forms, the convex solver against
an independent brute force, the bounds' pieces against direct computations, a smoke run, and a negative
control per claim."""

from __future__ import annotations

import math

import numpy as np
import pytest

import boundrun
from boundrun.config import ConfigError
from boundrun.experiments import multimodal_synergy_bounds as exp_mod
from boundrun.experiments.multimodal_synergy_bounds import algorithms as al
from boundrun.experiments.multimodal_synergy_bounds import bounds as B
from boundrun.experiments.multimodal_synergy_bounds import data as D

NAME = "multimodal-synergy-bounds"
CLAIMS = {c.name: c for c in exp_mod.CLAIMS}
TINY = dict(e1_shapes=["2x2x2"], e1_tables=[40], e2_ops=["xor", "redundant"], e2_rho=[0.0], e3_ops=[],
            e4_splits=[])
MINI = dict(TINY, seeds=4, e3_ops=["xor"], e3_n=[100, 1000, 10000])


def _h2(p: float) -> float:
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def _status(out, name):  # noqa: ANN001, ANN202
    return out.claims.set_index("claim").loc[name, "status"]


def _evaluate(name, results, bounds, profile="default"):  # noqa: ANN001, ANN202
    return CLAIMS[name].evaluate(results, bounds, "n_samples", profile).status


@pytest.fixture(scope="module")
def mini(tmp_path_factory):  # noqa: ANN001, ANN201
    return boundrun.run(NAME, out=str(tmp_path_factory.mktemp("mini")), **MINI)


# ---------------------------------------------------------------------------------------- information measures
def test_entropy_and_mutual_information_match_closed_forms() -> None:
    eps = 0.11
    P = np.zeros((1, 2, 2, 2))  # X2 = X1 through a binary symmetric channel, Y = X1
    for x1 in range(2):
        for x2 in range(2):
            P[0, x1, x2, x1] = 0.5 * (1 - eps if x1 == x2 else eps)
    assert al.mi(P, "1", "2")[0] == pytest.approx(1 - _h2(eps), abs=1e-12)
    assert al.H(P, "12")[0] == pytest.approx(1 + _h2(eps), abs=1e-12)
    assert al.mi(P, "1", "y")[0] == pytest.approx(1.0, abs=1e-12)
    xor = D.reference_table("XOR")[None]
    assert al.mi(xor, "1", "2", "y")[0] == pytest.approx(1.0, abs=1e-12)
    assert al.mi(xor, "1", "y")[0] == pytest.approx(0.0, abs=1e-12)
    assert al.mi(xor, "12", "y")[0] == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------------------------------- solver
def _brute_force_qstar_2x2x2(P: np.ndarray) -> float:
    """max H_q(Y|X1,X2) over Delta_p for one 2x2x2 table: each y-slice of q has one free entry x_y, so the
    (concave) objective is maximised by nested bounded scalar searches."""
    from scipy.optimize import minimize_scalar

    p1y, p2y = P.sum(axis=1), P.sum(axis=0)

    def slice_of(y: int, x: float) -> np.ndarray:
        r, c = p1y[:, y], p2y[:, y]
        return np.array([[x, r[0] - x], [c[0] - x, r[1] - c[0] + x]])

    def rng(y: int) -> tuple[float, float]:
        r, c = p1y[:, y], p2y[:, y]
        return max(0.0, c[0] - r[1]), min(r[0], c[0])

    def neg_h(x0: float, x1: float) -> float:
        q = np.clip(np.stack([slice_of(0, x0), slice_of(1, x1)], axis=2), 0, None)
        return -float(al.H(q[None], "12y")[0] - al.H(q[None], "12")[0])

    def inner(x0: float) -> float:
        lo, hi = rng(1)
        return minimize_scalar(lambda x1: neg_h(x0, x1), bounds=(lo, hi), method="bounded",
                               options={"xatol": 1e-12}).fun if hi > lo else neg_h(x0, lo)

    lo, hi = rng(0)
    best = minimize_scalar(inner, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    return -min(best.fun, inner(lo), inner(hi))


def test_solver_matches_brute_force_on_random_2x2x2_tables() -> None:
    P = D.dirichlet_tables((2, 2, 2), 6, np.random.default_rng(3))
    sol = al.max_cond_entropy(np.moveaxis(P, 3, 1))
    for i in range(len(P)):
        assert sol.h_max[i] == pytest.approx(_brute_force_qstar_2x2x2(P[i]), abs=1e-6)
    assert sol.gap.max() < 1e-7 and sol.infeasibility.max() < 1e-12


def test_solver_certificate_dominates_random_feasible_points_on_larger_tables() -> None:
    rng = np.random.default_rng(5)
    P = D.dirichlet_tables((3, 4, 3), 4, rng)
    sol = al.max_cond_entropy(P)  # target X1: the Delta^(1) program
    assert sol.gap.max() < 1e-7
    a, b = P.sum(axis=3), P.sum(axis=2)
    for _ in range(20):  # random points of the polytope via IPF from random positive tables
        q = al.ipf(rng.uniform(0.01, 1, size=P.shape), a, b, 2000)
        h = al.H(q, "12y") - al.H(q, "2y")  # H(T | U, V) with T on axis 1
        assert (h <= sol.h_max + 1e-9).all()


def test_solver_handles_sparse_tables_with_structural_zeros() -> None:
    P = np.stack([D.bit_table(op) for op in ("redundant", "unique1", "notebook")])
    for Q in (np.moveaxis(P, 3, 1), P, np.swapaxes(P, 1, 2)):
        sol = al.max_cond_entropy(Q)
        assert sol.gap.max() < 1e-7 and sol.infeasibility.max() < 1e-12


def test_pid_reproduces_reference_values() -> None:
    P = np.stack([D.reference_table(n) for n in D.REFERENCES])
    r = al.pid(P)
    got = {"R": r.R, "U1": r.U1, "U2": r.U2, "S": r.S}
    for i, name in enumerate(D.REFERENCES):
        for q, v in D.REFERENCE_VALUES[name].items():
            assert got[q][i] == pytest.approx(v, abs=2e-3), (name, q)
    # exact: I(X1;Y) for AND = h(1/4) - 1/2 h(1/2) = 0.3113 bits
    assert r.R[0] == pytest.approx(_h2(0.25) - 0.5, abs=1e-7)
    assert r.S[0] == pytest.approx(0.5, abs=1e-7)


def test_cond_independent_coupling_is_feasible_but_not_optimal_for_and() -> None:
    P = D.reference_table("AND")[None]
    q = al.cond_independent_coupling(P)
    np.testing.assert_allclose(q.sum(axis=2), P.sum(axis=2), atol=1e-15)
    np.testing.assert_allclose(q.sum(axis=1), P.sum(axis=1), atol=1e-15)
    assert al.mi(q, "12", "y")[0] > al.pid(P).I_q[0] + 1e-3


# ---------------------------------------------------------------------------------------- bounds
def test_disagreement_matches_explicit_loops() -> None:
    P = D.dirichlet_tables((3, 2, 4), 1, np.random.default_rng(2))[0]
    p1y, p2y, p12 = P.sum(axis=1), P.sum(axis=0), P.sum(axis=2)
    alpha = sum(p12[i, j] * ((p1y[i] / p1y[i].sum() - p2y[j] / p2y[j].sum()) ** 2).sum()
                for i in range(3) for j in range(2))
    assert B.disagreement(P[None])[0] == pytest.approx(alpha, rel=1e-12)
    assert B.C_PINSKER == pytest.approx(0.1803368801, rel=1e-9)


def test_meet_is_majorised_by_both_and_below_every_coupling_entropy() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        a, b = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(3))
        z = B.meet(a[None], b[None])[0]
        assert z.sum() == pytest.approx(1.0) and (np.diff(z) <= 1e-15).all()
        for v in (a, b):  # z is majorised by v: partial sums of sorted z never exceed those of v
            cv = np.cumsum(np.sort(v)[::-1])
            assert (np.cumsum(z)[: len(cv)] <= cv + 1e-12).all()
        for _ in range(10):  # random couplings of a and b
            M = al.ipf(rng.uniform(0.01, 1, size=(1, 1, 4, 3)), a[None, None], b[None, None], 3000)[0, 0]
            assert al.entropy(M.ravel(), (0,)) >= al.entropy(z, (0,)) - 1e-9
    # closed forms: meet(a, a) = a; meet((.6,.4), (.5,.5)) = (.5,.5)
    np.testing.assert_allclose(B.meet(np.array([[0.7, 0.3]]), np.array([[0.3, 0.7]]))[0][:2], [0.7, 0.3])
    np.testing.assert_allclose(B.meet(np.array([[0.6, 0.4]]), np.array([[0.5, 0.5]]))[0][:2], [0.5, 0.5])


def test_bounds_bracket_synergy_on_random_tables_with_the_provable_constant() -> None:
    P = D.dirichlet_tables((2, 2, 2), 60, np.random.default_rng(11))
    m = B.evaluate_tables(P)
    S = m["synergy"]
    assert (m["S_R"] <= S + 1e-6).all() and (m["S_D"] <= S + 1e-6).all() and (S <= m["S_bar"] + 1e-6).all()
    # the identity of the shared-information bound: lower_U1 == the i = 1 term of S_R
    np.testing.assert_allclose(m["lower_U1"], m["S_R_1"], atol=1e-9)
    # co-information identity R - S = I(X1;X2) - I(X1;X2|Y) on the full joint
    np.testing.assert_allclose(m["R"] - S, al.mi(P, "1", "2") - al.mi(P, "1", "2", "y"), atol=1e-7)


def test_bit_tables_are_distributions_with_the_stated_structure() -> None:
    for op in D.OPS:
        for rho in (0.0, 0.1):
            P = D.bit_table(op, rho)
            assert P.sum() == pytest.approx(1.0) and (P >= 0).all()
    xor = D.bit_table("xor")[None]
    m = B.evaluate_tables(xor)
    assert m["synergy"][0] == pytest.approx(1.0, abs=1e-6) and m["S_bar"][0] == pytest.approx(1.0, abs=1e-6)
    assert al.H(D.bit_table("redundant")[None], "12")[0] == pytest.approx(3.0)  # X2 = X1
    nb = D.bit_table("notebook")  # y is the parity of x1[0], x1[1], x2[0], x2[1] before corruption
    assert nb.sum(axis=(0, 1)) == pytest.approx([0.5, 0.5])


def test_kmeans_recovers_well_separated_clusters_and_digits_table_is_a_joint() -> None:
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(c, 0.1, size=(30, 2)) for c in ((0, 0), (5, 0), (0, 5))])
    lab = D.kmeans(X, 3, np.random.default_rng(0))
    assert all(len(set(lab[i * 30:(i + 1) * 30])) == 1 for i in range(3)) and len(set(lab)) == 3
    imgs, y = D.glyph_digits(60, np.random.default_rng(1))
    assert imgs.shape == (60, 8, 8) and imgs.min() >= 0 and imgs.max() <= 16
    P = D.digits_table(imgs, y, "top_bottom", k=4)
    assert P.shape == (4, 4, 10) and P.sum() == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------- runs
def test_smoke_run_writes_a_complete_folder_and_decides_only_what_it_can(tmp_path) -> None:  # noqa: ANN001
    out = boundrun.run(NAME, profile="smoke", out=str(tmp_path))
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (out.path / f).exists()
    for name in ("v1_S_R_below_S", "v1_S_D_below_S", "v1_S_below_S_bar", "v2_reference_values",
                 "v2_identity_lowerU1_lowerR", "v3_xor_synergy", "v3_xor_upper_tight", "v3_redundant_synergy",
                 "v3_redundant_lower_tight", "solver_certified"):
        assert _status(out, name) == "pass", name
    for name in ("v4_S_R_estimate_converges", "v4_S_bar_estimate_converges"):
        assert _status(out, name) == "inconclusive"


def test_mini_run_decides_the_estimation_claims(mini) -> None:  # noqa: ANN001
    assert _status(mini, "v4_S_R_estimate_converges") == "pass"
    assert _status(mini, "v4_S_bar_estimate_converges") == "pass"


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ConfigError):
        boundrun.run(NAME, profile="smoke", coupling="bogus")
    with pytest.raises(ConfigError):
        boundrun.run(NAME, profile="smoke", e1_shapes=["2x2"], e1_tables=[5])
    with pytest.raises(ConfigError):
        boundrun.run(NAME, profile="smoke", e2_rho=[1.5])


# ---------------------------------------------------------------------------------------- negative controls
def test_raw_disagreement_constant_breaks_the_disagreement_bound(tmp_path) -> None:  # noqa: ANN001
    out = boundrun.run(NAME, out=str(tmp_path), **dict(TINY, e1_tables=[60], c_disagreement=1.0))
    assert _status(out, "v1_S_D_below_S") == "fail"


def test_max_entropy_coupling_breaks_the_upper_bound(tmp_path) -> None:  # noqa: ANN001
    out = boundrun.run(NAME, out=str(tmp_path), **dict(TINY, entropy_lb="independent"))
    assert _status(out, "v1_S_below_S_bar") == "fail"
    assert _status(out, "v3_xor_upper_tight") == "fail"


def test_non_optimal_coupling_breaks_the_reference_values(tmp_path) -> None:  # noqa: ANN001
    out = boundrun.run(NAME, out=str(tmp_path), **dict(TINY, e1_tables=[5], coupling="cond_independent"))
    assert _status(out, "v2_reference_values") == "fail"


def _perturb(results, metric, delta, where=None):  # noqa: ANN001, ANN202
    """Shift one row of `metric` by delta; a string delta like "=-0.01" sets the value instead."""
    r = results.copy()
    rows = r.index[r["metric"] == metric]
    if where is not None:
        rows = [i for i in rows if all(r.at[i, k] == v for k, v in where.items())]
    if isinstance(delta, str):
        r.loc[rows[0], "value"] = float(delta[1:])
    else:
        r.loc[rows[0], "value"] += delta
    return r


@pytest.mark.parametrize("claim, metric, delta, where", [
    ("v1_S_R_below_S", "slack_R", "=-0.01", {"sweep": "E1"}),
    ("v1_report_S_D_quarter", "slack_D_quarter", "=-0.01", {"sweep": "E1"}),
    ("v2_identity_lowerU1_lowerR", "identity_gap", 1e-3, None),
    ("v3_xor_synergy", "synergy", -0.01, {"sweep": "E2", "family": "xor"}),
    ("v3_redundant_synergy", "synergy", 0.01, {"sweep": "E2", "family": "redundant"}),
    ("v3_redundant_lower_tight", "S_R", -0.01, {"sweep": "E2", "family": "redundant"}),
    ("solver_certified", "solver_gap", 1e-3, None),
    ("report_corr_S_R", "corr_S_R", -2.0, None),
    ("report_corr_max_lower", "corr_max_lower", -2.0, None),
    ("report_corr_S_bar", "corr_S_bar", -2.0, None),
])
def test_each_claim_fails_on_perturbed_frames(mini, claim, metric, delta, where) -> None:  # noqa: ANN001
    assert _evaluate(claim, mini.results, mini.bounds) == "pass"
    assert _evaluate(claim, _perturb(mini.results, metric, delta, where), mini.bounds) == "fail"


@pytest.mark.parametrize("claim, metric", [("v4_S_R_estimate_converges", "err_S_R"),
                                           ("v4_S_bar_estimate_converges", "err_S_bar")])
def test_estimation_claims_fail_when_errors_stop_shrinking(mini, claim, metric) -> None:  # noqa: ANN001
    r = mini.results.copy()
    rows = r["metric"] == metric
    r.loc[rows, "value"] *= (r.loc[rows, "n_samples"] / 100.0) ** 1.5  # slope raised by 1.5: errors grow
    assert _evaluate(claim, r, mini.bounds) == "fail"


def test_report_claim_on_raw_constant_fails_on_random_tables(mini) -> None:  # noqa: ANN001
    assert _status(mini, "v1_report_S_D_one") == "fail"
