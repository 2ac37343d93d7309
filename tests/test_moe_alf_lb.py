"""moe-alf-lb (paper 32): formulas against independent computations, a smoke run, a negative control per claim."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import boundrun
from boundrun.config import ConfigError
from boundrun.experiments import moe_alf_lb as exp
from boundrun.experiments.moe_alf_lb import algorithms as alg
from boundrun.experiments.moe_alf_lb import bounds
from boundrun.experiments.moe_alf_lb.simulate import time_grid

CLAIMS = {c.name: c for c in exp.CLAIMS}
# small enough for seconds, long enough (T = 1200) for the sign rule at u = 1e-3 to balance E = 8 experts
TINY = dict(E=8, K=2, N=128, T=1200, seeds=2, comparator_tokens=2000, comparator_steps=200, grid_points=12,
            lp_points=0, drift_T=1000, det_N=256, det_steps=60, harmonic_c0=[1.0, 10.0], sign_u=[1e-3])


def _scores(rng: np.random.Generator, n: int, E: int) -> np.ndarray:
    return rng.uniform(size=(n, E))


def test_route_matches_brute_force_top_k():
    rng = np.random.default_rng(0)
    s, p, K = _scores(rng, 20, 5), rng.normal(size=5) * 0.3, 2
    r = alg.route(s, p, K)
    for n in range(20):
        best = max(itertools.combinations(range(5), K), key=lambda J: sum(s[n, i] - p[i] for i in J))
        assert set(np.flatnonzero(r.mask[n])) == set(best)
        assert r.topsum[n] == pytest.approx(sum(s[n, i] - p[i] for i in best))
    assert r.loads.sum() == 20 * K


def test_dual_gradient_matches_central_difference():
    rng = np.random.default_rng(1)
    s, K = _scores(rng, 300, 6), 2
    p = rng.normal(size=6) * 0.1
    g = alg.dual_grad(alg.route(s, p, K).loads, 300, K)
    d = 1e-7  # below the smallest gap between scores, so the difference stays on one linear piece
    fd = [(alg.dual_value(s, p + d * e, K) - alg.dual_value(s, p - d * e, K)) / (2 * d) for e in np.eye(6)]
    np.testing.assert_allclose(fd, g, atol=1e-6)


def test_dual_is_flat_along_all_ones():
    rng = np.random.default_rng(2)
    s, p = _scores(rng, 100, 6), rng.normal(size=6)
    assert alg.dual_value(s, p + 0.37, 3) == pytest.approx(alg.dual_value(s, p, 3), abs=1e-12)


def test_lp_balanced_matches_brute_force_assignment():
    rng = np.random.default_rng(3)
    N, E, K = 4, 4, 2  # c_bar = 2
    s = _scores(rng, N, E)
    best = -np.inf
    for Js in itertools.product(itertools.combinations(range(E), K), repeat=N):
        loads = np.bincount(np.ravel(Js), minlength=E)
        if loads.max() <= 2:
            best = max(best, sum(s[n, list(J)].sum() for n, J in enumerate(Js)))
    x = alg.lp_balanced(s, K)
    assert (x.sum(axis=1) == K).all() and (x.sum(axis=0) <= 2).all()
    assert (s * x).sum() == pytest.approx(best)


def test_comparator_reaches_lp_value_by_strong_duality():
    rng = np.random.default_rng(4)
    n, E, K = 400, 8, 2
    s = rng.uniform(size=(n, E)) ** np.linspace(0.3, 3, E)  # unequal popularity
    lp_value = (s * alg.lp_balanced(s, K)).sum() / n
    cmp = alg.comparator(s, K, 1500)
    assert cmp.F_star >= lp_value - 1e-9  # weak duality: every price is an upper bound
    assert cmp.F_star == pytest.approx(lp_value, abs=2e-3)
    assert abs(cmp.p_star.sum()) < 1e-9


def test_curvature_estimator_recovers_known_quadratic():
    rng = np.random.default_rng(5)
    E = 6
    Q, _ = np.linalg.qr(np.column_stack([np.ones(E), rng.normal(size=(E, E - 1))]))
    lam = np.array([7.0, 0.5, 1.0, 2.0, 3.0, 4.0])  # 7 along the all-ones direction, to be projected out
    A = Q @ np.diag(lam) @ Q.T
    H = alg.fd_hessian(lambda p: A @ p, rng.normal(size=E), h=0.02)
    mu, L = alg.curvature_on_subspace(H)
    assert mu == pytest.approx(0.5) and L == pytest.approx(4.0)


def test_vectorised_updates_match_each_rule():
    rng = np.random.default_rng(6)
    methods = [alg.Method("n", "none"), alg.Method("s", "sign", 1e-3), alg.Method("g", "grad", 0.05),
               alg.Method("h", "harmonic", 3.0)]
    loads = rng.integers(0, 50, size=(2, 4, 5)).astype(float)
    for direction in (1, -1):
        got = alg.method_steps(methods, 7, loads, N=100, K=2, direction=direction)
        for j, m in enumerate(methods):
            np.testing.assert_allclose(got[:, j], m.step(7, loads[:, j], 100, 2, direction))
    # ALF-LB raises the bias (lowers the price) of an underloaded expert: c_bar = 40, load 10
    assert alg.Method("s", "sign", 1e-3).step(1, np.array([10.0, 70.0]), 40, 2, 1)[0] == pytest.approx(-1e-3)


def test_bound_formula_and_fits():
    t = np.array([1, 2, 5, 10, 50, 100, 200])
    np.testing.assert_allclose(bounds.log_bound(t, 2.0, 1.5), 0.5 * 2.0 * 2.25 * (1 + np.log(t)))
    np.testing.assert_allclose(bounds.log_fit(t, 3 + 2 * np.log(t)), 3 + 2 * np.log(t))
    np.testing.assert_allclose(bounds.sqrt_fit(t, 4 * np.sqrt(t)), 4 * np.sqrt(t))
    assert bounds.log_shape_ratio(np.log(2000), np.log(200), 2000) == pytest.approx(1.0)
    assert bounds.log_shape_ratio(np.sqrt(2000), np.sqrt(200), 2000) == pytest.approx(2.2, abs=0.05)
    g = time_grid(2000, 20)
    assert g[0] == 1 and g[-1] == 2000 and 200 in g


def test_sign_rule_obeys_preference_rule_and_wrong_sign_breaks_it():
    rng = np.random.default_rng(7)
    s = rng.uniform(size=(1, 400, 8)) ** np.linspace(0.3, 3, 8)
    us = np.array([1e-3, 1e-2])
    ok = alg.deterministic_sign(s, 2, us, 80)
    assert ok.pref_ok.all()
    assert (np.diff(ok.dual[:, 0, 0]) <= 1e-12).all()  # small steps far from balance: the dual descends
    bad = alg.deterministic_sign(s, 2, us, 80, direction=-1)
    assert bad.pref_ok.mean() < 0.9 and (np.diff(bad.dual[:, 0, 0]) > 0).mean() > 0.5


def test_bad_parameters_are_refused():
    with pytest.raises(ConfigError, match="K < E"):
        boundrun.run("moe-alf-lb", profile="smoke", out="/nonexistent-never-written", E=4, K=4)
    with pytest.raises(ConfigError, match="update_sign"):
        boundrun.run("moe-alf-lb", profile="smoke", out="/nonexistent-never-written", update_sign=0)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return boundrun.run("moe-alf-lb", profile="smoke", out=str(tmp_path_factory.mktemp("smoke")))


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    """The same small configuration with the ALF-LB update and with the wrong-sign update."""
    out = str(tmp_path_factory.mktemp("paired"))
    return {s: boundrun.run("moe-alf-lb", out=out, update_sign=s, **TINY) for s in (1, -1)}


def test_smoke_run_writes_complete_folder(smoke):
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (smoke.path / f).exists()
    status = dict(zip(smoke.claims["claim"], smoke.claims["status"], strict=True))
    assert set(status) == set(CLAIMS)
    # smoke runs the sign rule at u = 1e-2 only: the u = 1e-3 balance claims have no data
    assert status["balance_vs_no_balance"] == status["balance_vs_floor"] == "inconclusive"
    assert {"log_bound[c0=10]", f"log_fit[{exp.H1}]"} <= set(smoke.bounds["bound"])


def test_wrong_sign_update_turns_every_claim_from_pass_to_fail(paired):
    status = {s: dict(zip(r.claims["claim"], r.claims["status"], strict=True)) for s, r in paired.items()}
    for name in CLAIMS:
        if name == "no_balance_linear":  # no_balance has no update to flip
            continue
        assert (status[1][name], status[-1][name]) == ("pass", "fail"), name


def _evaluate(run, name, metric, scale, methods=None):
    df = run.results.copy()
    sel = df["metric"] == metric
    if methods is not None:
        sel &= df["method"].isin(methods)
    df.loc[sel, "value"] *= scale(df.loc[sel]) if callable(scale) else scale
    return CLAIMS[name].evaluate(df, run.bounds, "t").status


def test_report_claims_turn_to_fail_on_perturbed_frames(smoke):
    assert _evaluate(smoke, "log_bound_ratio", "bound_ratio", 1.0) != "fail"
    assert _evaluate(smoke, "log_bound_ratio", "bound_ratio", 50.0) == "fail"
    # a regret that grows like t^2 beyond t = T/10 breaks the log shape
    assert _evaluate(smoke, "log_regret_shape_other_c0", "regret_per_log",
                     lambda d: np.where(d["t"] == d["t"].max(), 100.0, 1.0)) == "fail"
    assert _evaluate(smoke, "log_regret_shape", "regret_per_log",
                     lambda d: np.where(d["t"] == d["t"].max(), 100.0, 1.0)) == "fail"
    assert _evaluate(smoke, "no_balance_linear", "regret", lambda d: np.sqrt(d["t"])) == "fail"


def test_online_loop_regret_and_loads_match_a_direct_replay():
    from boundrun.experiments.moe_alf_lb.simulate import Instance, run_online

    inst = Instance.draw(np.random.default_rng(10), 6, 4)
    p_star = alg.project_mean_zero(np.random.default_rng(11).normal(size=6) * 0.2)
    methods = [alg.Method("fixed", "fixed"), alg.Method("none", "none"), alg.Method("h", "harmonic", 2.0)]
    T, N, K = 12, 40, 2
    tr = run_online(inst, methods, p_star, N=N, K=K, T=T, seeds=1, rng=np.random.default_rng(12),
                    grid=np.array([1, 5, 12]))
    rng, p_h, regret, gmax = np.random.default_rng(12), np.zeros(6), np.zeros(3), 0.0
    for t in range(1, T + 1):
        s = inst.sample(rng, (1, N))[0]
        ref = alg.dual_value(s, p_star, K)
        for j, p in enumerate((p_star, np.zeros(6), p_h)):
            regret[j] += alg.dual_value(s, p, K) - ref
        loads = np.array([np.argsort(s[n] - p_h)[-K:] for n in range(N)]).ravel()
        c = np.bincount(loads, minlength=6)
        gmax = max(gmax, np.linalg.norm((N * K / 6 - c) / N))
        p_h = p_h - (2.0 / t) * (N * K / 6 - c) / N  # b += (c0/t)(c_bar - c)/N with p = -b
        if t == 12:
            np.testing.assert_allclose(tr.regret[-1, 0], regret, atol=1e-12)
            assert tr.regret[-1, 0, 0] == 0.0
            assert tr.gnorm_max[0, 2] == pytest.approx(gmax)
            assert tr.maxvio_tail[0, 2] == pytest.approx(c.max() / (N * K / 6) - 1)  # last 10% = last step
