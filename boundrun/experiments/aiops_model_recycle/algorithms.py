"""Paper 09 (aiops-model-recycle): the drifting failure-prediction stream, the per-period models, ROC-AUC,
and the model-selection mechanisms of spec 09 (section "Mechanisms evaluated on each target period").

Periods are 1-indexed in the paper/spec (t = 1..P); arrays here are 0-indexed, so period t lives at index
t - 1 and "the models M_j, j < t" are the rows 0..t-2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.special import expit
from scipy.stats import rankdata

# ----------------------------------------------------------------------------------------------------------
# data: recurring concepts (Markov chain), gradual drift of the weights, covariate shift of the mean


def solve_intercept(norm_w: float, rate: float = 0.08, n_nodes: int = 200) -> float:
    """b with E_{z ~ N(0, ||w||^2)}[sigmoid(z + b)] = rate (spec 09, Data): brentq on a Gauss-Hermite rule."""
    x, wq = np.polynomial.hermite.hermgauss(n_nodes)
    z = np.sqrt(2.0) * norm_w * x  # E f(z) = pi^(-1/2) sum_i w_i f(sqrt(2) s x_i)

    def excess(b: float) -> float:
        return float(wq @ expit(z + b)) / np.sqrt(np.pi) - rate

    return float(optimize.brentq(excess, -60.0, 60.0, xtol=1e-13))


def concept_path(u_first: float, u_stay: np.ndarray, u_switch: np.ndarray, C: int, rho: float) -> np.ndarray:
    """c(1) uniform on C concepts; then stay with probability rho, else move to one of the C - 1 others
    uniformly. Driven by given uniforms so that both rho values of a seed share their randomness."""
    P = len(u_stay) + 1
    c = np.empty(P, dtype=int)
    c[0] = min(int(u_first * C), C - 1)
    for t in range(1, P):
        if u_stay[t - 1] < rho:
            c[t] = c[t - 1]
        else:
            k = min(int(u_switch[t - 1] * (C - 1)), C - 2)
            c[t] = k if k < c[t - 1] else k + 1  # the k-th of the other concepts
    return c


@dataclass
class StreamNoise:
    """Everything random about one replicate except the concept path's dependence on rho."""

    w: np.ndarray  # (C, d) base concepts w_c
    b: np.ndarray  # (C,) intercepts b_c
    drift: np.ndarray  # (P, d) sum_{tau <= t} xi_tau
    mean: np.ndarray  # (P, d) m_t
    Z: np.ndarray  # (P, n, d) standard normal noise of x
    U: np.ndarray  # (P, n) label uniforms
    u_first: float
    u_stay: np.ndarray
    u_switch: np.ndarray
    train: np.ndarray  # (P, n) bool: the 75 % training part of each period
    energy_idx: np.ndarray  # (P, m) the training-part rows whose features similarity_select compares
    u_random: np.ndarray  # (P,) uniforms of random_hist


def draw_noise(rng: np.random.Generator, P: int, n: int, d: int, C: int, w_scale: float, drift_sd: float,
               shift_sd: float, rate: float, train_frac: float, n_energy: int) -> StreamNoise:
    w = rng.normal(0.0, w_scale / np.sqrt(d), size=(C, d))  # w_c ~ N(0, I_d * 1.5^2 / d)
    b = np.array([solve_intercept(float(np.linalg.norm(wc)), rate) for wc in w])
    xi = rng.normal(0.0, drift_sd / np.sqrt(d), size=(P, d))  # xi_tau ~ N(0, (0.05^2 / d) I)
    steps = rng.normal(0.0, shift_sd, size=(P, d))
    steps[0] = 0.0  # m_1 = 0
    Z = rng.standard_normal((P, n, d))
    U = rng.random((P, n))
    u_first, u_stay, u_switch = rng.random(), rng.random(P - 1), rng.random(P - 1)
    n_train = int(round(train_frac * n))
    train = np.zeros((P, n), dtype=bool)
    m = min(n_energy, n_train)
    energy_idx = np.empty((P, m), dtype=int)
    for t in range(P):
        perm = rng.permutation(n)
        train[t, perm[:n_train]] = True
        energy_idx[t] = np.sort(rng.choice(perm[:n_train], size=m, replace=False))
    return StreamNoise(w, b, np.cumsum(xi, axis=0), np.cumsum(steps, axis=0), Z, U, u_first, u_stay, u_switch,
                       train, energy_idx, rng.random(P))


def make_stream(noise: StreamNoise, rho: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (P, n, d), y (P, n) in {0, 1}, c (P,): y ~ Bernoulli(sigmoid(w_{c(t),t} . x + b_{c(t)})),
    w_{c,t} = w_c + sum_{tau <= t} xi_tau, x ~ N(m_t, I)."""
    C = len(noise.b)
    c = concept_path(noise.u_first, noise.u_stay, noise.u_switch, C, rho)
    X = noise.Z + noise.mean[:, None, :]
    w_t = noise.w[c] + noise.drift  # (P, d)
    logit = np.einsum("tnd,td->tn", X, w_t) + noise.b[c][:, None]
    y = (noise.U < expit(logit)).astype(float)
    return X, y, c


# ----------------------------------------------------------------------------------------------------------
# models: L2-regularised logistic regression (batched Newton) and a histogram gradient-boosting classifier


def fit_logreg(X: np.ndarray, y: np.ndarray, weight: np.ndarray, C_reg: float = 1.0, max_iter: int = 50,
               tol: float = 1e-10) -> np.ndarray:
    """B independent fits at once. Minimises sum_i weight_i * logloss_i + ||beta||^2 / (2 C_reg) (intercept
    unpenalised: scikit-learn's LogisticRegression(C=C_reg) objective) by Newton's method.
    X (B, n, d), y and weight (B, n); returns (B, d + 1), the intercept last."""
    B, n, d = X.shape
    X1 = np.concatenate([X, np.ones((B, n, 1))], axis=2)
    pen = np.full(d + 1, 1.0 / C_reg)
    pen[-1] = 0.0
    beta = np.zeros((B, d + 1))
    for _ in range(max_iter):
        p = expit(np.einsum("bnk,bk->bn", X1, beta))
        g = np.einsum("bnk,bn->bk", X1, weight * (p - y)) + pen * beta
        s = weight * p * (1.0 - p)
        H = np.matmul((X1 * s[:, :, None]).transpose(0, 2, 1), X1) + np.diag(pen)
        step = np.linalg.solve(H, g[:, :, None])[:, :, 0]
        beta = beta - step
        if np.abs(step).max() < tol:
            break
    return beta


def logreg_score(beta: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Logits of B models on one sample X (n, d): (B, n)."""
    return beta[:, :-1] @ X.T + beta[:, -1:]


@dataclass
class Forest:
    """A fitted gradient-boosted ensemble of depth-limited regression trees on binned features."""

    edges: list[np.ndarray]  # per feature: the bin thresholds
    feature: np.ndarray  # (T, 2^depth - 1) split feature of each internal node (heap order)
    threshold: np.ndarray  # (T, 2^depth - 1) bin index: go left iff bin <= threshold
    leaf: np.ndarray  # (T, 2^depth) leaf values (learning rate applied)
    base: float
    depth: int


def _bin(X: np.ndarray, edges: list[np.ndarray]) -> np.ndarray:
    return np.stack([np.searchsorted(e, X[:, f], side="right") for f, e in enumerate(edges)], axis=1)


def fit_gbdt(X: np.ndarray, y: np.ndarray, n_iter: int = 100, lr: float = 0.1, depth: int = 5,
             n_bins: int = 32, min_leaf: int = 20, l2: float = 0.0) -> Forest:
    """Histogram gradient boosting for the logistic loss (Newton leaf values, second-order split gain),
    like scikit-learn's HistGradientBoostingClassifier but grown depth-wise to `depth` (<= 2^depth leaves)
    instead of leaf-wise to max_leaf_nodes; quantile bins; no early stopping (sklearn's default for
    n <= 10 000). Nodes that cannot split keep their samples together (both children get the same value)."""
    n, d = X.shape
    qs = np.linspace(0, 1, n_bins + 1)[1:-1]
    edges = [np.unique(np.quantile(X[:, f], qs)) for f in range(d)]
    Xb = _bin(X, edges)  # (n, d) in 0..n_bins-1
    nb = n_bins
    pbar = np.clip(y.mean(), 1e-6, 1 - 1e-6)
    base = float(np.log(pbar / (1 - pbar)))
    F = np.full(n, base)
    n_int = 2**depth - 1
    feats = np.zeros((n_iter, n_int), dtype=int)
    thr = np.full((n_iter, n_int), nb, dtype=int)  # threshold nb: everything goes left
    leaves = np.zeros((n_iter, 2**depth))
    flat = (np.arange(d) * nb)[None, :] + Xb  # (n, d) feature-bin code
    for it in range(n_iter):
        p = expit(F)
        g, h = p - y, p * (1 - p)
        node = np.zeros(n, dtype=int)  # index within the current level
        for level in range(depth):
            m = 2**level
            code = (node[:, None] * (d * nb) + flat).ravel()
            size = m * d * nb
            G = np.bincount(code, np.repeat(g, d), minlength=size).reshape(m, d, nb)
            Hs = np.bincount(code, np.repeat(h, d), minlength=size).reshape(m, d, nb)
            N = np.bincount(code, minlength=size).reshape(m, d, nb)
            GL, HL, NL = G.cumsum(2), Hs.cumsum(2), N.cumsum(2)
            Gt, Ht, Nt = GL[:, :, -1:], HL[:, :, -1:], NL[:, :, -1:]
            GR, HR, NR = Gt - GL, Ht - HL, Nt - NL
            gain = GL**2 / (HL + l2 + 1e-12) + GR**2 / (HR + l2 + 1e-12) - Gt**2 / (Ht + l2 + 1e-12)
            gain[(NL < min_leaf) | (NR < min_leaf)] = -np.inf
            gain = gain.reshape(m, d * nb)
            best = gain.argmax(axis=1)
            ok = np.isfinite(gain[np.arange(m), best]) & (gain[np.arange(m), best] > 1e-12)
            f_best, b_best = best // nb, best % nb
            heap = m - 1 + np.arange(m)
            feats[it, heap] = np.where(ok, f_best, 0)
            thr[it, heap] = np.where(ok, b_best, nb)
            go_right = Xb[np.arange(n), feats[it, heap][node]] > thr[it, heap][node]
            node = 2 * node + go_right
        m = 2**depth
        Gl = np.bincount(node, g, minlength=m)
        Hl = np.bincount(node, h, minlength=m)
        val = np.where(Hl > 0, -Gl / (Hl + l2 + 1e-12), 0.0) * lr
        leaves[it] = val
        F = F + val[node]
    return Forest(edges, feats, thr, leaves, base, depth)


def gbdt_score(forest: Forest, X: np.ndarray) -> np.ndarray:
    """Raw (logit) scores of a fitted forest on X (n, d). A sample goes right at a node
    iff its bin exceeds the node's bin threshold b, i.e. iff x >= edges[f][b] (bins count edges <= x)."""
    T = forest.leaf.shape[0]
    # bin thresholds -> raw thresholds; b = n_bins (or past the last edge) means "no split": never go right
    value = np.full(forest.threshold.shape, np.inf)
    for f, e in enumerate(forest.edges):
        sel = (forest.feature == f) & (forest.threshold < len(e))
        value[sel] = e[forest.threshold[sel]]
    n = len(X)
    F = np.full(n, forest.base)
    for it in range(T):
        feat, val = forest.feature[it], value[it]
        node = np.zeros(n, dtype=int)
        for level in range(forest.depth):
            heap = 2**level - 1 + node
            node = 2 * node + (X[np.arange(n), feat[heap]] >= val[heap])
        F += forest.leaf[it, node]
    return F


# ----------------------------------------------------------------------------------------------------------
# ROC-AUC and the energy distance


def roc_auc(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ROC-AUC of every row of scores (R, n) against one label vector y (n,) in {0, 1}: the Mann-Whitney
    statistic with average ranks for ties (what sklearn.metrics.roc_auc_score computes)."""
    scores = np.atleast_2d(scores)
    pos = y > 0.5
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        raise ValueError("ROC-AUC needs both classes in the period")
    r = rankdata(scores, axis=1)
    return (r[:, pos].sum(axis=1) - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def mean_abs_within(s: np.ndarray) -> np.ndarray:
    """E|X - X'| of the empirical law of each sorted row of s (..., m) (pairs with replacement)."""
    m = s.shape[-1]
    i = np.arange(1, m + 1)
    return 2.0 * (s * (2 * i - m - 1)).sum(axis=-1) / m**2


def energy_distance_matrix(S: np.ndarray) -> np.ndarray:
    """ED[j, t, f] = scipy.stats.energy_distance(S[j, f], S[t, f]) for samples S (P, d, m), via
    ED^2 = 2 E|X - Y| - E|X - X'| - E|Y - Y'| (= 2 * integral (F - G)^2) with sorted samples and prefix sums."""
    P, d, m = S.shape
    s = np.sort(S, axis=2)
    within = mean_abs_within(s)  # (P, d)
    off = 2.0 * np.abs(s).max() + 1.0  # separates the blocks: one global sorted array holds every (j, f)
    shift = off * np.arange(P * d).reshape(P, d, 1)
    flat = (s + shift).ravel()
    pre = np.concatenate([np.zeros((P, d, 1)), np.cumsum(s, axis=2)], axis=2)  # prefix sums per block
    tot = pre[:, :, -1]
    ED = np.zeros((P, P, d))
    jj, ff = np.arange(P)[:, None], np.arange(d)[None, :]
    for t in range(P):
        v = s[t]  # (d, m) queries, compared with every block (j, f)
        q = v[None, :, :] + shift  # (P, d, m)
        k = np.searchsorted(flat, q.ravel(), side="left").reshape(P, d, m) - (jj * d + ff)[:, :, None] * m
        pk = np.take_along_axis(pre, k, axis=2)
        cross = (v[None] * (2 * k - m) - 2 * pk + tot[:, :, None]).sum(axis=2) / m**2  # E|X_j - Y_t|
        ED[:, t] = np.sqrt(np.maximum(2 * cross - within - within[t][None], 0.0))
    return ED


# ----------------------------------------------------------------------------------------------------------
# the mechanisms


SINGLE = ("retrain_latest", "adjacent_best", "adjacent_k_best", "similarity_select", "random_hist")
POOLED = ("retrain_window_w", "ensemble_weighted")
MECHANISMS = (*SINGLE, *POOLED, "oracle")


@dataclass
class PeriodOutcome:
    """A_t of every mechanism (dict of arrays over target periods t = 3..P) and which model each picked."""

    auc: dict[str, np.ndarray]
    pick: dict[str, np.ndarray]  # 0-indexed model picked (-1 for pooled / ensemble)
    targets: np.ndarray  # 1-indexed target periods


def select_and_score(A_full: np.ndarray, A_val_diag: np.ndarray, ens_auc: callable, ED: np.ndarray,
                     sd_target: np.ndarray, window_auc: np.ndarray, u_random: np.ndarray, k: int,
                     adjacency_labels: str = "previous", oracle_labels: str = "target",
                     temperature: float = 0.02) -> PeriodOutcome:
    """Every mechanism of spec 09 on every target period t = 3..P.

    A_full[j, s] = AUC(M_j; D_s) on all of period s; A_val_diag[j] = AUC(M_j; validation part of D_j);
    ens_auc(t0, weights) = AUC on D_t of the weighted average of the models' probabilities; ED[j, t, f] the
    raw energy distances, sd_target[t, f] the target's per-coordinate sd (standardisation);
    window_auc[t0] the pooled retrain's AUC on D_t; u_random[t0] uniforms for random_hist.
    adjacency_labels='target' and oracle_labels='previous' are the negative controls (label leak / an
    oracle computed on period t-1's labels)."""
    P = A_full.shape[1]
    # the labelled scores mechanisms may use: a model on its own period is scored on its validation part
    A_sel = A_full.copy()
    A_sel[np.arange(len(A_val_diag)), np.arange(len(A_val_diag))] = A_val_diag
    out: dict[str, list[float]] = {m: [] for m in MECHANISMS}
    pick: dict[str, list[int]] = {m: [] for m in MECHANISMS}
    targets = np.arange(3, P + 1)
    for t in targets:
        t0 = t - 1  # 0-indexed target; candidates are rows 0..t0-1 (M_1..M_{t-1})
        cand = np.arange(t0)
        truth = A_full[cand, t0]  # AUC(M_j; D_t)
        lab = t0 if adjacency_labels == "target" else t0 - 1  # the labelled period adjacency mechanisms use

        def take(name: str, j: int, truth: np.ndarray = truth) -> None:
            out[name].append(float(truth[j]))
            pick[name].append(int(j))

        # 7. oracle (the bound): argmax_j AUC(M_j; D_t); the control picks on D_{t-1}'s labels instead
        take("oracle", int(np.argmax(truth)) if oracle_labels == "target" else int(np.argmax(A_sel[cand, t0 - 1])))
        # 1. periodical retraining: the newest model; its window variant is fitted on pooled periods
        take("retrain_latest", t0 - 1)
        out["retrain_window_w"].append(float(window_auc[t0]))
        pick["retrain_window_w"].append(-1)
        # 2. temporal adjacency: the best model on the most recent labelled period
        score_lab = A_full[cand, lab] if adjacency_labels == "target" else A_sel[cand, lab]
        take("adjacent_best", int(np.argmax(score_lab)))
        # 3. smoothed adjacency: best mean AUC over periods max(1, t-k)..t-1
        lo = max(0, t0 - k)
        window = np.arange(lo, t0) if adjacency_labels != "target" else np.arange(lo + 1, t0 + 1)
        src = A_full if adjacency_labels == "target" else A_sel
        take("adjacent_k_best", int(np.argmax(src[np.ix_(cand, window)].mean(axis=1))))
        # 4. similarity: closest training-period features to D_t's unlabelled features (standardised by D_t)
        dist = (ED[cand, t0] / sd_target[t0][None, :]).mean(axis=1)
        take("similarity_select", int(np.argmin(dist)))
        # 5. softmax(AUC on D_{t-1} / temperature)-weighted average of all historical models
        a = score_lab / temperature
        wts = np.exp(a - a.max())
        out["ensemble_weighted"].append(float(ens_auc(t0, wts / wts.sum())))
        pick["ensemble_weighted"].append(-1)
        # 6. floor: a uniformly random historical model
        take("random_hist", min(int(u_random[t0] * t0), t0 - 1))
    return PeriodOutcome({m: np.array(v) for m, v in out.items()}, {m: np.array(v) for m, v in pick.items()},
                         targets)


@dataclass
class StreamResult:
    outcome: PeriodOutcome
    A_full: np.ndarray  # (P - 1, P) the model-by-period AUC matrix (models M_1..M_{P-1})
    A_val: np.ndarray  # (P - 1,) AUC of M_j on the validation part of its own period
    concepts: np.ndarray  # (P,) c(t), 0-indexed


def run_stream(noise: StreamNoise, rho: float, *, model: str, k: int, w: int, temperature: float,
               C_reg: float, gbdt: dict, adjacency_labels: str = "previous",
               oracle_labels: str = "target") -> StreamResult:
    """One replicate at one rho: fit M_1..M_{P-1} on their periods' training parts, build the AUC matrix,
    fit the pooled window models, and score every mechanism on t = 3..P."""
    X, y, c = make_stream(noise, rho)
    P, n, d = X.shape
    tr = noise.train
    n_tr = int(tr[0].sum())
    Xtr = np.stack([X[t][tr[t]] for t in range(P)])  # (P, n_tr, d)
    ytr = np.stack([y[t][tr[t]] for t in range(P)])

    # the P - 1 per-period models, and their scores on every period (full data) and on their validation part
    if model == "logreg":
        beta = fit_logreg(Xtr[:-1], ytr[:-1], np.ones((P - 1, n_tr)), C_reg)
        scores = np.stack([logreg_score(beta, X[s]) for s in range(P)], axis=1)  # (P-1, P, n)
    else:
        forests = [fit_gbdt(Xtr[j], ytr[j], **gbdt) for j in range(P - 1)]
        scores = np.stack([np.stack([gbdt_score(f, X[s]) for s in range(P)]) for f in forests])
    A_full = np.stack([roc_auc(scores[:, s], y[s]) for s in range(P)], axis=1)  # (P-1, P)
    A_val = np.array([roc_auc(scores[j, j][~tr[j]], y[j][~tr[j]])[0] for j in range(P - 1)])

    # retrain_window_w: for target t, one model on the pooled training parts of periods max(1, t-w)..t-1
    window_auc = np.full(P, np.nan)
    targets = np.arange(2, P)  # 0-indexed targets t0 = t - 1 >= 2
    if model == "logreg":
        Xw = np.zeros((len(targets), w * n_tr, d))
        yw = np.zeros((len(targets), w * n_tr))
        ww = np.zeros((len(targets), w * n_tr))
        for i, t0 in enumerate(targets):
            periods = np.arange(max(0, t0 - w), t0)
            m = len(periods) * n_tr
            Xw[i, :m] = Xtr[periods].reshape(m, d)
            yw[i, :m] = ytr[periods].reshape(m)
            ww[i, :m] = 1.0  # padding rows carry weight 0
        bw = fit_logreg(Xw, yw, ww, C_reg)
        for i, t0 in enumerate(targets):
            window_auc[t0] = roc_auc(logreg_score(bw[i : i + 1], X[t0]), y[t0])[0]
    else:
        for t0 in targets:
            periods = np.arange(max(0, t0 - w), t0)
            f = fit_gbdt(Xtr[periods].reshape(-1, d), ytr[periods].reshape(-1), **gbdt)
            window_auc[t0] = roc_auc(gbdt_score(f, X[t0])[None], y[t0])[0]

    # similarity_select: energy distances between per-period feature samples (n_energy points each)
    S = np.stack([X[t][noise.energy_idx[t]].T for t in range(P)])  # (P, d, m)
    ED = energy_distance_matrix(S)
    sd_target = S.std(axis=2)

    probs = expit(scores)

    def ens_auc(t0: int, wts: np.ndarray) -> float:
        return float(roc_auc((wts @ probs[:t0, t0])[None], y[t0])[0])

    out = select_and_score(A_full, A_val, ens_auc, ED, sd_target, window_auc, noise.u_random, k,
                           adjacency_labels, oracle_labels, temperature)
    return StreamResult(out, A_full, A_val, c)
