"""Tests of the groupwise-regret experiment (paper 14): formulas against independent computations, a smoke
run, and a negative control for every claim."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import boundrun
from boundrun.config import ConfigError
from boundrun.engine import run_in_memory
from boundrun.experiments import groupwise_regret as gw
from boundrun.experiments.groupwise_regret import algorithms, bounds, data
from boundrun.registry import get

EXP = "groupwise-regret"


# -- formulas against independent computations -----------------------------------------------------------
def _anh_weight_direct(R: float, C: float) -> float:
    phi = lambda r, c: math.exp(max(r, 0.0) ** 2 / (3 * c))  # noqa: E731
    return 0.5 * (phi(R + 1, C + 1) - phi(R - 1, C + 1))


def test_anh_log_weight_equals_the_potential_difference():
    for R, C in [(0, 0), (0.5, 2), (-0.5, 1), (3.0, 7.0), (-0.99, 4), (10.0, 40.0), (-1.0, 3), (-5, 9)]:
        w = _anh_weight_direct(R, C)
        lw = float(algorithms.anh_log_weight(np.array(R), np.array(C)))
        if w == 0:
            assert lw == -np.inf
        else:
            assert lw == pytest.approx(math.log(w), rel=1e-12, abs=1e-12)


def test_anh_log_weight_stays_finite_where_the_potential_overflows():
    R, C = np.array(5000.0), np.array(6000.0)  # exp([R+1]^2/(3(C+1))) = exp(1389): overflows float64
    lw = float(algorithms.anh_log_weight(R, C))
    a, gap = 5001.0**2 / (3 * 6001.0), 4 * 5000.0 / (3 * 6001.0)
    assert lw == pytest.approx(math.log(0.5) + a + math.log(1 - math.exp(-gap)), rel=1e-12)


def test_anh_probabilities_sleep_and_fall_back_to_uniform_over_awake():
    R = np.array([[0.0, 2.0, -3.0, 1.0], [-2.0, -5.0, 0.0, 0.0]])
    C = np.array([[1.0, 4.0, 3.0, 2.0], [2.0, 5.0, 0.0, 0.0]])
    awake = np.array([[True, True, True, False], [True, True, False, False]])
    p = algorithms.anh_probabilities(R, C, awake, np.full(4, -np.log(4)))
    w = [_anh_weight_direct(r, c) for r, c in zip(R[0, :3], C[0, :3], strict=True)]
    np.testing.assert_allclose(p[0, :3], np.array(w) / sum(w), rtol=1e-12)
    assert p[0, 3] == 0.0
    np.testing.assert_allclose(p[1], [0.5, 0.5, 0.0, 0.0])  # both awake weights are 0 -> uniform


def _brute_force_stream(X, Y, member, lam):  # noqa: ANN001, ANN202
    """Plain per-round re-implementation (direct matrix solves, direct potentials), one replicate."""
    T, d = X.shape
    G = member.shape[1]
    R, C = np.zeros(G), np.zeros(G)
    L_mix, L_base, L_glob = np.zeros(G), np.zeros(G), np.zeros(G)
    for t in range(T):
        x, y, aw = X[t], Y[t], member[t]
        yg = np.zeros(G)
        for g in range(G):
            rows = [s for s in range(t) if member[s, g]]
            A = lam * np.eye(d) + sum((np.outer(X[s], X[s]) for s in rows), np.zeros((d, d))) + np.outer(x, x)
            bvec = sum((Y[s] * X[s] for s in rows), np.zeros(d))
            yg[g] = np.clip(x @ np.linalg.solve(A, bvec), -1, 1)
        lg = (yg - y) ** 2 / 4
        w = np.array([_anh_weight_direct(R[g], C[g]) / G if aw[g] else 0.0 for g in range(G)])
        p = w / w.sum() if w.sum() > 0 else aw / aw.sum()
        yhat = p @ yg
        for g in range(G):
            if aw[g]:
                r = p @ lg - lg[g]
                R[g] += r
                C[g] += abs(r)
                L_mix[g] += (yhat - y) ** 2 / 4
                L_base[g] += lg[g]
                L_glob[g] += lg[0]
    return L_mix, L_base, L_glob, R, C


def test_run_stream_matches_a_brute_force_reimplementation():
    rng = np.random.default_rng(3)
    X, Y, M, _ = data.synthetic(rng, 2, 60, 3, data.parse_attributes(["0.6/0.4", "0.5/0.3/0.2"]))
    rec = algorithms.run_stream(X, Y, M, np.array([25, 60]), lam=0.7, flipped=False)
    for s in range(2):
        L_mix, L_base, L_glob, R, C = _brute_force_stream(X[s], Y[s], M[s], 0.7)
        np.testing.assert_allclose(rec.L_mix[-1, s], L_mix, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(rec.L_base[-1, s], L_base, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(rec.L_global[-1, s], L_glob, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(rec.R_anh[-1, s], R, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(rec.C_anh[-1, s], C, rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(rec.T_g[-1, s], M[s].sum(axis=0))


def test_comparator_matches_least_squares_on_each_group_prefix():
    rng = np.random.default_rng(4)
    X, Y, M, _ = data.synthetic(rng, 2, 400, 4, data.parse_attributes(["0.7/0.3"]))
    ck = np.array([50, 400])
    L, Theta = algorithms.comparator(*algorithms.group_sums(X, Y, M, ck), lam_cmp=1e-10)
    for j, t in enumerate(ck):
        for s in range(2):
            for g in range(M.shape[2]):
                rows = M[s, :t, g]
                theta, *_ = np.linalg.lstsq(X[s, :t][rows], Y[s, :t][rows], rcond=None)
                loss = np.sum((X[s, :t][rows] @ theta - Y[s, :t][rows]) ** 2) / 4
                assert L[j, s, g] == pytest.approx(loss, rel=1e-6, abs=1e-9)
                assert Theta[j, s, g] == pytest.approx(np.linalg.norm(theta), rel=1e-6)


def test_bound_g_matches_the_spec_formula_by_hand():
    T_g, Theta, G, d, lam = 1000.0, 0.5, 8, 10, 1.0
    anh = math.sqrt(3 * T_g * (math.log(G) + 2 * math.log(1 + math.log(1 + T_g)) + math.log(2)))
    vaw = 0.25 * (lam * Theta**2 + d * math.log(1 + T_g / (lam * d)))
    assert float(bounds.anh_term(T_g, G)) == pytest.approx(anh, rel=1e-14)
    assert float(bounds.vaw_term(T_g, Theta, d, lam)) == pytest.approx(vaw, rel=1e-14)
    assert float(bounds.bound_g(T_g, Theta, G, d, lam)) == pytest.approx(anh + vaw, rel=1e-14)
    assert anh + vaw == pytest.approx(143.96 + 11.60, abs=0.01)  # worked by hand: sqrt(3000*6.9086) + 46.40/4


def test_loglog_slope_rows_agrees_with_polyfit_and_floors_at_one():
    T_g = np.array([[100.0, 120.0], [300.0, 350.0], [1000.0, 1100.0], [3000.0, 3500.0]])
    reg = np.array([[5.0, -3.0], [9.0, 0.5], [14.0, 2.0], [30.0, 4.0]])
    got = bounds.loglog_slope_rows(T_g, reg)
    for k in range(2):
        want = np.polyfit(np.log(T_g[:, k]), np.log(np.maximum(reg[:, k], 1.0)), 1)[0]
        assert got[k] == pytest.approx(want, rel=1e-12)


def test_fit_sqrt_rate_is_least_squares_through_the_origin():
    T_g = np.array([100.0, 400.0, 900.0])
    reg = np.array([11.0, 19.0, 31.0])
    c = bounds.fit_sqrt_rate(T_g, reg)
    grid = np.linspace(c - 0.1, c + 0.1, 2001)
    sse = ((reg[None] - grid[:, None] * np.sqrt(T_g)[None]) ** 2).sum(axis=1)
    assert grid[np.argmin(sse)] == pytest.approx(c, abs=1e-4)


def test_synthetic_stream_lies_in_the_unit_ball_with_the_spec_groups():
    rng = np.random.default_rng(5)
    X, Y, M, names = data.synthetic(rng, 2, 20_000, 10, data.parse_attributes(["0.7/0.3", "0.5/0.5",
                                                                                 "0.6/0.3/0.1"]))
    assert names == ["all", "a1=0", "a1=1", "a2=0", "a2=1", "a3=0", "a3=1", "a3=2"]
    assert np.linalg.norm(X, axis=-1).max() <= 1.0
    assert np.abs(Y).max() <= 1.0
    assert (M.sum(axis=-1) == 4).all()  # everyone + one level of each of the three attributes
    np.testing.assert_allclose(M.mean(axis=(0, 1)), [1, 0.7, 0.3, 0.5, 0.5, 0.6, 0.3, 0.1], atol=0.01)
    # E||x||^2 = d/(d+2) for the uniform distribution on the unit ball
    assert (np.linalg.norm(X, axis=-1) ** 2).mean() == pytest.approx(10 / 12, abs=0.005)


def test_diabetes_table_matches_the_published_data():
    F, target, raw = data.diabetes_table()
    assert raw.shape == (442, 11)
    # scikit-learn's load_diabetes first row (columns whose raw values are exact in the text table)
    for col, v in [(0, 0.0380759064334241), (1, 0.0506801187398187), (2, 0.0616962065186885),
                   (4, -0.0442234984244464), (5, -0.0348207628376986), (6, -0.0434008456520269),
                   (7, -0.00259226199818282), (9, -0.0176461251598052)]:
        assert F[0, col] == pytest.approx(v, abs=1e-12)
    assert target.mean() == pytest.approx(152.133484162896, abs=1e-9)
    assert target.std(ddof=1) == pytest.approx(77.093005, abs=1e-6)
    np.testing.assert_allclose(raw[:, 3].mean(), 94.647014, atol=1e-6)  # BP
    np.testing.assert_allclose(raw[:, 8].mean(), 4.641411, atol=1e-6)  # S5


def test_diabetes_stream_is_scaled_and_grouped_as_the_spec_says():
    X, Y, M, names = data.diabetes(np.random.default_rng(0), 3)
    assert X.shape == (3, 442, 10) and len(names) == 8
    assert np.linalg.norm(X, axis=-1).max() == pytest.approx(1.0)
    assert Y.min() == -1.0 and Y.max() == 1.0
    assert (M[..., 0]).all()
    sizes = M[0].sum(axis=0)
    assert sizes[1] + sizes[2] == 442 and sizes[3] + sizes[4] == 442 and sizes[5:].sum() == 442


# -- config -------------------------------------------------------------------------------------------------
def test_bad_parameters_are_refused_with_exit_code_2(tmp_path):
    with pytest.raises(ConfigError, match="lam"):
        boundrun.run(EXP, profile="smoke", out=str(tmp_path), lam=0)
    with pytest.raises(ConfigError, match="attribute"):
        boundrun.run(EXP, profile="smoke", out=str(tmp_path), attributes=["0.7/0.2"])
    with pytest.raises(ValueError, match="base_sign"):
        gw.GroupwiseRegretConfig(base_sign=0)


# -- runs ---------------------------------------------------------------------------------------------------
def test_smoke_run_writes_a_complete_folder_and_decides_nothing_on_one_seed(tmp_path):
    out = boundrun.run(EXP, profile="smoke", out=str(tmp_path))
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (out.path / f).exists()
    st = dict(zip(out.claims["claim"], out.claims["status"], strict=True))
    # the synthetic cells have one seed: every claim touching them must be inconclusive, never pass
    assert set(st.values()) == {"inconclusive"}


# a stronger signal (theta_scale 0.9) so that 8 000 rounds and 3 seeds decide every claim
SMALL = gw.GroupwiseRegretConfig(T=8000, seeds=6, datasets=["synthetic"], theta_scale=0.9)


def _evaluate(cfg: gw.GroupwiseRegretConfig):
    """Run the runner in-process (no files) and evaluate every claim on its frames."""
    run = run_in_memory(EXP, cfg)
    return run.verdicts, run.results, run.bounds


@pytest.fixture(scope="module")
def small():
    return _evaluate(SMALL)


@pytest.fixture(scope="module")
def flipped():
    return _evaluate(replace(SMALL, base_sign=-1))


def test_small_correct_run_fails_no_claim_and_passes_the_decisive_ones(small):
    verdicts, _, _ = small
    assert all(v.status != "fail" for v in verdicts.values()), {k: v.status for k, v in verdicts.items()}
    # with 6 seeds the two max-over-groups claims can straddle their thresholds; the rest are decided
    for name in ("bound_holds", "sublinear_slope", "sublinear_per_round", "benefit_groups", "benefit_mean"):
        assert verdicts[name].status == "pass", verdicts[name].detail


def test_regret_decomposes_into_sleeping_experts_and_base_regret(small):
    _, res, _ = small
    wide = res[res["method"] == "groupwise_anh"].pivot_table(
        index=["t", "group", "seed"], columns="metric", values="value")
    wide = wide.dropna(subset=["regret"])
    # convexity: Reg_g <= R_g (ANH, expected loss) + (L_{A_g} - L_cmp)
    assert (wide["regret"] <= wide["se_regret"] + wide["base_regret"] + 1e-9).all()
    assert (wide["se_regret"] <= bounds.anh_term(wide["T_g"], 8) + 1e-9).all()


@pytest.mark.parametrize("claim", ["bound_holds", "control_exceeds_bound", "sublinear_slope",
                                   "sublinear_per_round", "benefit_groups", "benefit_mean"])
def test_sign_flipped_base_learners_fail_the_claim(flipped, claim):
    verdicts, _, _ = flipped
    assert verdicts[claim].status == "fail", verdicts[claim].detail


def test_without_group_effects_global_ridge_is_not_linear_anywhere_and_groups_do_not_help():
    verdicts, _, _ = _evaluate(replace(SMALL, delta_scale=0.0))
    assert verdicts["global_linear_somewhere"].status == "fail", verdicts["global_linear_somewhere"].detail
    # one linear model is right for everyone: mixing per-group learners only adds their estimation cost
    assert verdicts["benefit_groups"].status == "fail", verdicts["benefit_groups"].detail


def test_bound_claim_fails_on_a_perturbed_diabetes_frame():
    cfg = gw.GroupwiseRegretConfig(datasets=["diabetes"], diabetes_perms=5, flipped_control=False)
    verdicts, res, bnds = _evaluate(cfg)
    assert verdicts["bound_holds"].status == "pass"
    exp = get(EXP)
    bad = res.copy()
    hit = (bad["metric"] == "regret") & (bad["method"] == "groupwise_anh") & (bad["group"] == "sex=2")
    bound = bnds[(bnds["bound"] == "bound_g") & (bnds["group"] == "sex=2")].set_index("t")["value"]
    bad.loc[hit, "value"] = 1.5 * bad.loc[hit, "t"].map(bound).to_numpy()
    claim = next(c for c in exp.claims if c.name == "bound_holds")
    assert claim.evaluate(bad, bnds, exp.x).status == "fail"


def test_same_seed_gives_identical_frames():
    cfg = replace(SMALL, T=500, seeds=2)
    _, a, ba = _evaluate(cfg)
    _, b, bb = _evaluate(cfg)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(ba, bb)
