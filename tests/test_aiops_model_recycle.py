"""Paper 09 (aiops-model-recycle): estimators against independent computations, the mechanisms on a
hand-made AUC matrix, a smoke run, and a negative control for every claim."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats
from scipy.special import expit

import boundrun
from boundrun.config import ConfigError
from boundrun.engine import run_in_memory
from boundrun.experiments import aiops_model_recycle as amr
from boundrun.experiments.aiops_model_recycle import algorithms as A
from boundrun.experiments.aiops_model_recycle import bounds as B

EXP = "aiops-model-recycle"
CLAIM = {c.name: c for c in amr.CLAIMS}


def test_intercept_gives_the_target_failure_rate_under_direct_quadrature():
    for s in (0.3, 1.5, 3.0):
        b = A.solve_intercept(s, 0.08)
        rate, _ = integrate.quad(lambda z, s=s, b=b: stats.norm.pdf(z, scale=s) * expit(z + b), -15 * s, 15 * s,
                                 epsabs=1e-14, epsrel=1e-13, limit=500)
        assert rate == pytest.approx(0.08, abs=1e-11)


def test_concept_chain_stays_with_probability_rho_and_switches_uniformly_to_another_concept():
    rng = np.random.default_rng(0)
    P, C, rho = 20001, 4, 0.85
    c = A.concept_path(rng.random(), rng.random(P - 1), rng.random(P - 1), C, rho)
    stay = c[1:] == c[:-1]
    assert abs(stay.mean() - rho) < 0.01
    moves = np.stack([c[:-1][~stay], c[1:][~stay]], axis=1)
    for a in range(C):
        to = moves[moves[:, 0] == a, 1]
        counts = np.bincount(to, minlength=C)
        assert counts[a] == 0 and stats.chisquare(np.delete(counts, a)).pvalue > 1e-3


def test_stream_has_the_spec_failure_rate_and_covariate_shift():
    noise = A.draw_noise(np.random.default_rng(1), P=6, n=20000, d=10, C=4, w_scale=1.5, drift_sd=0.0,
                         shift_sd=0.0, rate=0.08, train_frac=0.75, n_energy=100)
    X, y, c = A.make_stream(noise, 0.85)
    assert abs(y.mean() - 0.08) < 0.006  # no drift and m_t = 0: the base rate of every concept is 8 %
    assert noise.train.sum(axis=1).tolist() == [15000] * 6
    assert np.allclose(noise.mean, 0.0)


def test_logreg_matches_a_generic_optimiser_on_the_same_objective():
    rng = np.random.default_rng(2)
    n, d, C_reg = 300, 4, 0.7
    X = rng.normal(size=(2, n, d))
    y = (rng.random((2, n)) < expit(X @ np.array([1.0, -2.0, 0.5, 0.0]) - 1)).astype(float)
    wt = np.ones((2, n))
    wt[1, 200:] = 0.0  # padding rows must not count
    beta = A.fit_logreg(X, y, wt, C_reg)
    for b in range(2):
        m = int(wt[b].sum())
        Xb, yb = X[b, :m], y[b, :m]

        def obj(p, Xb=Xb, yb=yb):
            z = Xb @ p[:-1] + p[-1]
            return np.sum(np.logaddexp(0, z) - yb * z) + p[:-1] @ p[:-1] / (2 * C_reg)

        ref = optimize.minimize(obj, np.zeros(d + 1), method="BFGS", options={"gtol": 1e-9}).x
        assert np.allclose(beta[b], ref, atol=1e-5)


def test_roc_auc_equals_the_pairwise_count_with_ties():
    rng = np.random.default_rng(3)
    y = (rng.random(60) < 0.3).astype(float)
    S = np.round(rng.normal(size=(3, 60)), 1)  # rounding creates ties
    auc = A.roc_auc(S, y)
    for r in range(3):
        pos, neg = S[r, y == 1], S[r, y == 0]
        brute = np.mean([1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg)])
        assert auc[r] == pytest.approx(brute, abs=1e-12)


def test_energy_distance_matrix_matches_scipy():
    rng = np.random.default_rng(4)
    S = rng.normal(size=(4, 3, 50)) * rng.uniform(0.5, 2, size=(4, 3, 1)) + rng.normal(size=(4, 3, 1))
    ED = A.energy_distance_matrix(S)
    for j, t, f in itertools.product(range(4), range(4), range(3)):
        # compare squares: the square root amplifies rounding on the diagonal (distance 0)
        assert ED[j, t, f] ** 2 == pytest.approx(stats.energy_distance(S[j, f], S[t, f]) ** 2, abs=1e-12)


def test_gbdt_stump_picks_the_best_split_and_the_newton_leaf_values():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 2))
    y = (rng.random(400) < expit(3 * X[:, 1])).astype(float)
    f = A.fit_gbdt(X, y, n_iter=1, lr=0.5, depth=1, n_bins=16, min_leaf=20)
    assert f.feature[0, 0] == 1  # the informative feature
    base = np.log(y.mean() / (1 - y.mean()))
    g, h = expit(base) - y, expit(base) * (1 - expit(base))
    # brute force over the bin thresholds of feature 1: the second-order gain of every admissible split
    thr_values = f.edges[1]
    gains = []
    for v in thr_values:
        left = X[:, 1] < v
        if min(left.sum(), (~left).sum()) < 20:
            gains.append(-np.inf)
            continue
        gains.append(g[left].sum() ** 2 / (h * left).sum() + g[~left].sum() ** 2 / (h * ~left).sum())
    best_v = thr_values[int(np.argmax(gains))]
    left = X[:, 1] < best_v
    score = A.gbdt_score(f, X)
    assert np.allclose(score[left], base - 0.5 * g[left].sum() / (h * left).sum())
    assert np.allclose(score[~left], base - 0.5 * g[~left].sum() / (h * ~left).sum())


def test_gbdt_scores_on_raw_features_equal_the_binned_traversal_of_the_fit():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(1000, 4))
    y = (rng.random(1000) < expit(2 * X[:, 0] - 2 + X[:, 1] ** 2)).astype(float)
    f = A.fit_gbdt(X, y, n_iter=10, depth=3, n_bins=16)
    Xb, n = A._bin(X, f.edges), len(X)
    F = np.full(n, f.base)
    for it in range(10):
        node = np.zeros(n, dtype=int)
        for level in range(3):
            h = 2**level - 1 + node
            node = 2 * node + (Xb[np.arange(n), f.feature[it, h]] > f.threshold[it, h])
        F += f.leaf[it, node]
    assert np.allclose(A.gbdt_score(f, X), F, atol=1e-12)


def test_gbdt_learns_a_nonlinear_concept_better_than_logreg():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(4000, 3))
    y = (rng.random(4000) < expit(3 * (np.abs(X[:, 0]) - 0.8))).astype(float)
    f = A.fit_gbdt(X[:3000], y[:3000], n_iter=30, depth=3)
    beta = A.fit_logreg(X[None, :3000], y[None, :3000], np.ones((1, 3000)))
    auc_gb = A.roc_auc(A.gbdt_score(f, X[3000:])[None], y[3000:])[0]
    auc_lr = A.roc_auc(A.logreg_score(beta, X[3000:]), y[3000:])[0]
    assert auc_gb > 0.75 > auc_lr


def _hand_matrix():
    # 4 models (M_1..M_4) x 5 periods; A[j, s] = AUC(M_{j+1}; D_{s+1})
    A_full = np.array([
        [0.90, 0.70, 0.60, 0.80, 0.85],
        [0.60, 0.90, 0.75, 0.70, 0.60],
        [0.65, 0.70, 0.95, 0.65, 0.70],
        [0.80, 0.65, 0.60, 0.95, 0.90],
    ])
    A_val = np.array([0.80, 0.72, 0.74, 0.70])  # held-out AUC of each model on its own period
    return A_full, A_val


def test_mechanisms_pick_the_models_the_spec_defines_on_a_hand_made_matrix():
    A_full, A_val = _hand_matrix()
    P, d = 5, 2
    ED = np.ones((P, P, d))
    ED[1, 3] = 0.1  # M_2's training period looks most like period 4
    ED[2, 4] = 0.1  # M_3's like period 5
    u = np.array([0.0, 0.0, 0.1, 0.99, 0.5])
    window = np.array([0, 0, 0.5, 0.6, 0.7])
    out = A.select_and_score(A_full, A_val, lambda t0, w: float(w.max()), ED, np.ones((P, d)), window, u, k=3)
    assert out.targets.tolist() == [3, 4, 5]
    # t = 3: candidates M_1, M_2; labelled period 2 (M_2 on its validation part: 0.72 > M_1's 0.70)
    # t = 4: labelled period 3: M_1 0.60, M_2 0.75, M_3 validation 0.74 -> M_2
    # t = 5: labelled period 4: M_1 0.80, M_2 0.70, M_3 0.65, M_4 validation 0.70 -> M_1
    assert out.pick["adjacent_best"].tolist() == [1, 1, 0]
    assert out.pick["retrain_latest"].tolist() == [1, 2, 3]
    assert out.pick["oracle"].tolist() == [1, 0, 3]
    # adjacent_k_best, t = 5: mean over periods 2..4 -> M_1 (0.70+0.60+0.80)/3 = .70, M_2 (.72+.75+.70)/3 = .723,
    # M_3 (.70+.74+.65)/3 = .697, M_4 (.65+.60+.70)/3 = .65 -> M_2
    assert out.pick["adjacent_k_best"][2] == 1
    assert out.pick["similarity_select"].tolist() == [0, 1, 2]
    assert out.pick["random_hist"].tolist() == [0, 2, 2]
    assert out.auc["oracle"].tolist() == B.oracle_upper(A_full).tolist() == [0.75, 0.80, 0.90]
    assert out.auc["retrain_window_w"].tolist() == [0.5, 0.6, 0.7]
    for m in A.SINGLE:
        assert np.all(out.auc[m] <= out.auc["oracle"])


def test_the_negative_control_oracle_picks_with_the_previous_period():
    A_full, A_val = _hand_matrix()
    ED = np.ones((5, 5, 1))
    out = A.select_and_score(A_full, A_val, lambda t0, w: 0.5, ED, np.ones((5, 1)), np.zeros(5), np.zeros(5),
                             k=3, oracle_labels="previous")
    assert out.pick["oracle"].tolist() == out.pick["adjacent_best"].tolist()
    assert B.bound_excess(out.auc["retrain_latest"], out.auc["oracle"]) > 0


def test_bound_helpers():
    U, a = np.array([0.8, 0.9, 0.7]), np.array([0.8, 0.85, 0.75])
    assert np.allclose(B.oracle_gap(U, a), [0, 0.05, -0.05])
    assert B.bound_excess(a, U) == pytest.approx(0.05)
    assert B.frac_above(a, U) == pytest.approx(1 / 3)


# ------------------------------------------------------------------------------------------------------------
# runs and claims

SMALL = amr.AiopsModelRecycleConfig(P=8, n_per_period=800, d=10, seeds=3, rho=[0.6, 0.85], n_energy=200)


def _evaluate(cfg: amr.AiopsModelRecycleConfig):
    """Run the runner in-process (no files) and evaluate every claim on its frames."""
    run = run_in_memory(EXP, cfg)
    return run.verdicts, run.results, run.bounds


@pytest.fixture(scope="module")
def small():
    return _evaluate(SMALL)


def test_smoke_profile_writes_a_complete_run_folder(tmp_path):
    out = boundrun.run(EXP, profile="smoke", out=str(tmp_path))
    for f in ("results.csv", "bounds.csv", "summary.csv", "claims.csv", "figure.png", "manifest.json"):
        assert (out.path / f).exists()
    st = dict(zip(out.claims["claim"], out.claims["status"], strict=True))
    assert st["oracle_bound_respected"] == "pass"  # an exact invariant: decided on one seed
    assert all(st[c] == "inconclusive" for c in st if c != "oracle_bound_respected")  # one seed decides nothing


def test_small_run_respects_the_oracle_and_matches_the_bound_curve(small):
    verdicts, res, bnds = small
    assert verdicts["oracle_bound_respected"].status == "pass"
    auc = res[res["metric"] == "auc"]
    wide = auc.pivot_table(index=["t", "rho", "seed"], columns="method", values="value")
    for m in A.SINGLE:
        assert (wide[m] <= wide["oracle"] + 1e-12).all()
    curve = bnds[(bnds["bound"] == "oracle_upper") & (bnds["metric"] == "auc")].set_index(["t", "rho"])["value"]
    assert np.allclose(curve.sort_index(), wide["oracle"].groupby(["t", "rho"]).mean().sort_index())
    assert set(res["t"][res["metric"] == "auc"]) == set(range(3, 9))


def test_oracle_is_the_column_max_of_the_emitted_model_by_period_matrix(small):
    _, res, _ = small
    mat = res[res["metric"] == "auc_model"]
    assert len(mat) == SMALL.seeds * len(SMALL.rho) * (SMALL.P - 1) * SMALL.P
    orc = res[(res["metric"] == "auc") & (res["method"] == "oracle")].set_index(["t", "rho", "seed"])["value"]
    for (t, rho, seed), u in orc.items():
        cand = mat[(mat["t"] == t) & (mat["rho"] == rho) & (mat["seed"] == seed) & (mat["model_j"] < t)]
        assert len(cand) == t - 1 and u == cand["value"].max()


def test_gbdt_learner_runs_through_the_experiment():
    verdicts, res, _ = _evaluate(replace(SMALL, model="gbdt", P=4, n_per_period=300, d=3, seeds=2, rho=[0.85],
                                         gbdt_iter=3, n_energy=50))
    assert verdicts["oracle_bound_respected"].status == "pass"
    assert set(res["method"]) >= set(A.MECHANISMS)


def test_same_seed_gives_identical_frames():
    cfg = replace(SMALL, seeds=1, rho=[0.85])
    _, a, _ = _evaluate(cfg)
    _, b, _ = _evaluate(cfg)
    pd.testing.assert_frame_equal(a, b)


def test_negative_control_oracle_on_previous_labels_fails_the_bound_check():
    verdicts, _, _ = _evaluate(replace(SMALL, oracle_labels="previous"))
    assert verdicts["oracle_bound_respected"].status == "fail"


def test_negative_control_label_leak_closes_the_gap_and_fails_the_gap_check():
    verdicts, res, _ = _evaluate(replace(SMALL, adjacency_labels="target"))
    assert verdicts["oracle_gap_exists"].status == "fail"
    gap = res[(res["metric"] == "mean_gap") & (res["method"] == "adjacent_best")]["value"]
    assert np.allclose(gap, 0.0)


def _shift(res: pd.DataFrame, method: str, delta: float, rho: float) -> pd.DataFrame:
    bad = res.copy()
    sel = (bad["metric"] == "mean_auc") & (bad["method"] == method) & (bad["rho"] == rho)
    bad.loc[sel, "value"] -= delta
    return bad


@pytest.mark.parametrize("name,method,rho", [
    ("adjacency_prevails_over_retraining", "best_adjacency", 0.85),
    ("adjacent_best_beats_random", "adjacent_best", 0.85),
    ("adjacent_k_best_beats_random", "adjacent_k_best", 0.85),
    ("adjacency_vs_retraining_rho06", "best_adjacency", 0.6),
])
def test_negative_control_adjacency_claims_fail_when_adjacency_loses(small, name, method, rho):
    _, res, bnds = small
    claim = CLAIM[name]
    other = claim.than
    # put the adjacency mechanism 0.05 below its reference in every seed (paired: same seeds)
    ref = res[(res["metric"] == "mean_auc") & (res["method"] == other) & (res["rho"] == rho)]
    bad = res.copy()
    sel = (bad["metric"] == "mean_auc") & (bad["method"] == method) & (bad["rho"] == rho)
    bad.loc[sel, "value"] = ref.sort_values("seed")["value"].to_numpy() - 0.05
    assert claim.evaluate(bad, bnds, "t").status == "fail"


def test_gap_claim_fails_on_frames_with_a_vanishing_gap(small):
    _, res, bnds = small
    bad = res.copy()
    bad.loc[(bad["metric"] == "mean_gap") & (bad["method"] == "similarity_select"), "value"] = 0.001
    assert CLAIM["oracle_gap_exists"].evaluate(bad, bnds, "t").status == "fail"


def test_best_adjacency_is_the_adjacency_mechanism_with_the_higher_mean(small):
    _, res, _ = small
    m = res[res["metric"] == "mean_auc"]
    for _rho, g in m.groupby("rho"):
        means = g.groupby("method")["value"].mean()
        assert means["best_adjacency"] == pytest.approx(max(means["adjacent_best"], means["adjacent_k_best"]))


def test_bad_parameters_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="rho"):
        boundrun.run(EXP, profile="smoke", out=str(tmp_path), rho=[1.5])
    with pytest.raises(ConfigError, match="generator"):
        boundrun.run(EXP, profile="smoke", out=str(tmp_path), generator="river_agrawal")
    with pytest.raises(ValueError, match="P must be"):
        amr.AiopsModelRecycleConfig(P=2)
