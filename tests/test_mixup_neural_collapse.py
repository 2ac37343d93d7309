"""Paper 30 (mixup-neural-collapse): formula checks, a smoke run, and a negative control per claim."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from boundrun import datasets
from boundrun.engine import run_in_memory
from boundrun.experiments.mixup_neural_collapse import CLAIMS, MixupNeuralCollapseConfig
from boundrun.experiments.mixup_neural_collapse import algorithms as A
from boundrun.experiments.mixup_neural_collapse import bounds as B

CLAIM = {c.name: c for c in CLAIMS}


def _cfg(**kw) -> MixupNeuralCollapseConfig:  # noqa: ANN003
    base = dict(ufm_K=[3], mus=[0.01], n_lam=11, n_lam_joint=5, net_K=[], variants=["mixup_ce"], epochs=0,
                n_images=300, n_probe=4, seeds=1, profile="smoke")
    base.update(kw)
    return MixupNeuralCollapseConfig(**base)


@pytest.fixture(scope="module")
def ufm_run():
    return run_in_memory("mixup-neural-collapse", _cfg(ufm_K=[3], mus=[0.01, 0.001]))


def test_etf_has_unit_rows_and_equal_negative_inner_products() -> None:
    W = A.simplex_etf(4, 7, 1.0, np.random.default_rng(0))
    G = W @ W.T
    assert np.allclose(np.diag(G), 1.0)
    assert np.allclose(G[~np.eye(4, dtype=bool)], -1 / 3)
    assert np.allclose(W.sum(axis=0), 0.0)


def test_loss_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    W, H = A.simplex_etf(3, 5, 1.0, rng), rng.standard_normal((4, 5))
    Y = np.array([[0.3, 0.7, 0], [1, 0, 0], [0, 0.5, 0.5], [0.2, 0, 0.8]])
    _, g = A.mixup_loss(H, W, Y, 0.1)
    eps, fd = 1e-6, np.zeros_like(H)
    for idx in np.ndindex(H.shape):
        E = np.zeros_like(H)
        E[idx] = eps
        fd[idx] = (A.mixup_loss(H + E, W, Y, 0.1)[0] - A.mixup_loss(H - E, W, Y, 0.1)[0]) / (2 * eps)
    assert np.allclose(g, fd, atol=1e-7)


def test_same_class_optimum_solves_the_scalar_stationarity_equation() -> None:
    from scipy.optimize import brentq

    K, mu = 5, 0.01
    # h = a w_c: mu a = (1 - p_c) K/(K-1), p_c = 1 / (1 + (K-1) exp(-a K/(K-1)))  (beta = 1)
    def eq(a: float) -> float:
        p = 1 / (1 + (K - 1) * np.exp(-a * K / (K - 1)))
        return mu * a - (1 - p) * K / (K - 1)

    a_ref = brentq(eq, 0.0, 100.0, xtol=1e-14)
    a = A.solve_plane(np.array([0.3]), K, 1.0, mu, same=True)[0, 0]
    assert a == pytest.approx(a_ref, rel=1e-10)


def test_plane_optimum_is_symmetric_and_matches_full_space_brute_force() -> None:
    from scipy.optimize import minimize

    K, mu = 4, 0.05
    lam = np.array([0.2, 0.5])
    ab = A.solve_plane(lam, K, 1.0, mu)
    assert ab[1, 0] == pytest.approx(ab[1, 1], abs=1e-12)
    W = A.simplex_etf(K, K + 2, 1.0, np.random.default_rng(2))
    y = np.array([[0.2, 0.8, 0, 0]])
    def f(h: np.ndarray) -> tuple[float, np.ndarray]:
        loss, g = A.mixup_loss(h[None], W, y, mu)
        return loss, g[0]

    r = minimize(f, np.zeros(K + 2), jac=True, method="BFGS", options={"gtol": 1e-11})
    assert np.allclose(r.x, ab[0, 0] * W[0] + ab[0, 1] * W[1], atol=1e-7)


def test_log_odds_and_ufm_gap_agree_for_small_mu() -> None:
    lam = np.array([0.25, 0.5, 0.75])
    assert np.allclose(B.log_odds(lam), [-np.log(3), 0, np.log(3)])
    assert np.allclose(B.ufm_logit_gap(lam, 3, 1.0, 1e-4), B.log_odds(lam), atol=0.01)


def test_spearman_ece_and_r2_match_independent_computations() -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    u, v = rng.standard_normal(50), np.round(rng.standard_normal(50), 1)
    assert A.spearman(u, v) == pytest.approx(spearmanr(u, v)[0], abs=1e-12)
    P = rng.dirichlet(np.ones(3), size=200)
    y = rng.integers(0, 3, 200)
    conf, pred = P.max(1), P.argmax(1)
    ref = 0.0
    for k in range(15):  # brute force over bins
        m = (conf >= k / 15) & ((conf < (k + 1) / 15) | (k == 14))
        if m.any():
            ref += m.mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
    assert A.ece(P, y, 15) == pytest.approx(ref, abs=1e-12)
    t = rng.standard_normal((30, 2))
    assert A.r_squared(t, t) == 1.0
    assert A.r_squared(t, np.broadcast_to(t.mean(0), t.shape)) == pytest.approx(0.0, abs=1e-12)
    s, r2 = A.fit_scale(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0]))
    assert s == pytest.approx(2.0) and r2 == pytest.approx(1.0)


def test_generated_digits_are_balanced_images_in_unit_range() -> None:
    X, y = datasets.make_digits(np.random.default_rng(4), 300)
    assert X.shape == (300, 64) and X.min() >= 0 and X.max() == pytest.approx(1.0)
    assert np.bincount(y).min() == 30
    tr, te = datasets.stratified_split(y, 0.2, np.random.default_rng(5))
    assert len(np.intersect1d(tr, te)) == 0 and np.bincount(y[te]).min() == 6


def test_bad_parameters_raise_value_error() -> None:
    with pytest.raises(ValueError, match="mus"):
        _cfg(mus=[0.0])
    with pytest.raises(ValueError, match="variant"):
        _cfg(variants=["cutmix"])
    with pytest.raises(ValueError, match="odd"):
        _cfg(n_lam=10)


def test_theory_claims_pass_on_the_exact_ufm(ufm_run) -> None:  # noqa: ANN001
    v = ufm_run.verdicts
    for name in ("v1_joint_matches_2d", "v1_in_span", "v1_joint_converged", "v1_boundary_symmetry",
                 "v1_gap_increasing", "v1_log_odds"):
        assert v[name].status == "pass", (name, v[name].detail)


def test_truncated_joint_solve_fails_match_span_and_convergence_claims() -> None:
    r = run_in_memory("mixup-neural-collapse", _cfg(joint_maxiter=2, joint_newton=0))
    for name in ("v1_joint_matches_2d", "v1_in_span", "v1_joint_converged"):
        assert r.verdicts[name].status == "fail", name


def _evaluate(name: str, res, bounds) -> str:  # noqa: ANN001
    return CLAIM[name].evaluate(res, bounds, "lam", profile="default").status


def test_perturbed_plane_solution_fails_symmetry_monotonicity_and_log_odds(ufm_run) -> None:  # noqa: ANN001
    res, bnd = ufm_run.results, ufm_run.bounds
    for name, metric, f in (("v1_boundary_symmetry", "sym_gap", lambda v: v + 1e-6),
                            ("v1_gap_increasing", "ab_step", lambda v: -v),
                            ("v1_log_odds", "gap_dev", lambda v: v + 0.2)):
        bad = res.copy()
        m = bad["metric"] == metric
        bad.loc[m, "value"] = f(bad.loc[m, "value"])
        assert _evaluate(name, bad, bnd) == "fail", name


def _net_frame(values: dict[str, dict[str, float]]):  # noqa: ANN202
    import pandas as pd

    rows = [(meth, 0.5, "network", 3, 0.0, 0, metric, val)
            for meth, mv in values.items() for metric, val in mv.items()]
    return pd.DataFrame(rows, columns=["method", "lam", "part", "K", "mu", "seed", "metric", "value"])


def test_network_claims_pass_and_fail_on_good_and_bad_frames() -> None:
    import pandas as pd

    good = {"mixup_etf": dict(m1_cos=0.95, top2_frac=0.98, spearman=0.97, m3_r2=0.9),
            "mixup_mse": dict(m4_r2=0.9), "mixup_ce": dict(m4_r2=0.5, ece=0.01), "erm": dict(ece=0.05)}
    bad = {"mixup_etf": dict(m1_cos=0.5, top2_frac=0.6, spearman=0.4, m3_r2=0.3),
           "mixup_mse": dict(m4_r2=0.4), "mixup_ce": dict(m4_r2=0.5, ece=0.05), "erm": dict(ece=0.01)}
    empty = pd.DataFrame(columns=["bound", "side", "constant", "lam", "part", "K", "mu", "metric", "value"])
    for name in ("v2_same_class_alignment", "v2_channel_top2", "v2_channel_spearman", "v3_theory_fit",
                 "v3_mse_convex", "v3_calibration"):
        assert _evaluate(name, _net_frame(good), empty) == "pass", name
        assert _evaluate(name, _net_frame(bad), empty) == "fail", name


def test_smoke_profile_writes_a_complete_run_folder_with_network_claims_inconclusive(tmp_path) -> None:  # noqa: ANN001
    import boundrun

    run_dir = boundrun.run("mixup-neural-collapse", profile="smoke", out=str(tmp_path)).path
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (run_dir / f).exists(), f
    import pandas as pd

    claims = pd.read_csv(run_dir / "claims.csv").set_index("claim")["status"]
    assert claims["v1_joint_matches_2d"] == "pass"
    assert (claims[[c for c in claims.index if c.startswith(("v2", "v3"))]] == "inconclusive").all()


def test_tiny_network_run_reports_every_measure_finite() -> None:
    r = run_in_memory("mixup-neural-collapse", _cfg(ufm_K=[], net_K=[3], variants=["mixup_etf", "erm"], epochs=2))
    got = set(r.results["metric"])
    assert {"m1_cos", "top2_frac", "spearman", "m3_r2", "m4_r2", "ece", "gap_median"} <= got
    assert np.isfinite(r.results["value"]).all()
    assert dataclasses.is_dataclass(_cfg())
