"""Comp-sum losses on a finite input space: exact conditional risks, tabular gradient descent, the exact
conditional calibration function.

Notation (spec 24): n classes, scores h(x, .) in R^n, softmax s_y = e^{h_y} / sum_y' e^{h_y'},
    l_tau(s_y) = (s_y^(tau-1) - 1)/(1 - tau)  (tau != 1),   -log s_y  (tau = 1),
C_tau(s, p) = sum_y p_y l_tau(s_y); its infimum over the simplex is at s_y ∝ p_y^(1/(2-tau)) for tau < 2 and
approached at s = e_argmax(p) for tau >= 2. Arrays of scores have shape (..., m, n), conditionals p (..., m, n).
"""

from __future__ import annotations

import itertools

import numpy as np

A_INF = 50.0  # tau >= 2: "optimal" scores A_INF * log p (s ∝ p^50, close to e_argmax p; the inf is not attained)


def log_softmax(H: np.ndarray) -> np.ndarray:
    Hmax = H.max(axis=-1, keepdims=True)
    return H - Hmax - np.log(np.exp(H - Hmax).sum(axis=-1, keepdims=True))


def s_pow(logs: np.ndarray, tau: float) -> np.ndarray:
    """s^(tau-1), from log s."""
    return np.exp((tau - 1.0) * logs)


def loss(logs: np.ndarray, tau: float) -> np.ndarray:
    """l_tau of the softmax probability, from log s (expm1 keeps tau near 1 accurate)."""
    if tau == 1:
        return -logs
    return np.expm1((tau - 1.0) * logs) / (1.0 - tau)


def cond_risk_inf(p: np.ndarray, tau: float) -> np.ndarray:
    """inf_s C_tau(s, p) over the simplex (last axis): (Z^(2-tau) - 1)/(1-tau), Z = sum p^(1/(2-tau)) for
    tau < 2 (the entropy at tau = 1), (1 - max p)/(tau - 1) for tau >= 2."""
    p = np.asarray(p, dtype=float)
    if tau == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            return -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=-1)
    if tau < 2:
        Z = (p ** (1.0 / (2.0 - tau))).sum(axis=-1)
        return np.expm1((2.0 - tau) * np.log(Z)) / (1.0 - tau)
    return (1.0 - p.max(axis=-1)) / (tau - 1.0)


def regret_tau(H: np.ndarray, p: np.ndarray, tau: float) -> np.ndarray:
    """Conditional surrogate regret Delta C_tau(h, x) = C_tau(s(h), p) - inf C_tau, shape (..., m)."""
    logs = log_softmax(H)
    if tau >= 2:
        # C - C* = (max p - sum p s^(tau-1))/(tau - 1): no cancellation of two O(1) numbers
        return (p.max(axis=-1) - (p * s_pow(logs, tau)).sum(axis=-1)) / (tau - 1.0)
    C = np.where(p > 0, p * loss(logs, tau), 0.0).sum(axis=-1)
    return C - cond_risk_inf(p, tau)


def regret_01(H: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Conditional 0-1 regret max_y p_y - p_{argmax h} (ties toward the lowest index, as numpy.argmax)."""
    k = np.argmax(H, axis=-1)[..., None]
    return p.max(axis=-1) - np.take_along_axis(np.broadcast_to(p, H.shape), k, axis=-1)[..., 0]


def optimal_scores(p: np.ndarray, tau: float) -> np.ndarray:
    """Population-optimal tabular scores: a log p with a = 1/(2-tau) (s ∝ p^a); A_INF log p for tau >= 2."""
    a = 1.0 / (2.0 - tau) if tau < 2 else A_INF
    return a * np.log(np.maximum(p, 1e-300))


# -- training: full-batch gradient descent on the empirical l_tau risk ------------------------------------


def empirical_risk_and_grad(H: np.ndarray, N: np.ndarray, n_train: int, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Empirical risk (1/n_train) sum_{x,y} N[x,y] l_tau(s_y(x)) per instance (leading axis), and its gradient
    in the scores: d l_tau(s_y)/d h_z = -s_y^(tau-1) (1[y=z] - s_z)."""
    logs = log_softmax(H)
    L = (N * loss(logs, tau)).sum(axis=(-2, -1)) / n_train
    w = N * s_pow(logs, tau)  # N[x,y] s_y^(tau-1)
    s = np.exp(logs)
    G = (-w + s * w.sum(axis=-1, keepdims=True)) / n_train
    return L, G


def train_gd(N: np.ndarray, tau: float, n_train: int, steps: int, lr0: float, record: np.ndarray) -> np.ndarray:
    """Gradient descent from h = 0 on a batch of instances N (B, m, n). A step that increases an instance's
    empirical loss is rejected and its step size halved (spec 24). Returns the scores after each step count
    in `record` (0 = the initial, fully tied scores): shape (len(record), B, m, n)."""
    B = N.shape[0]
    H = np.zeros(N.shape)
    lr = np.full(B, float(lr0))
    L, G = empirical_risk_and_grad(H, N, n_train, tau)
    want = set(int(r) for r in record)
    out = {0: H.copy()} if 0 in want else {}
    for step in range(1, steps + 1):
        Hc = H - lr[:, None, None] * G
        Lc, Gc = empirical_risk_and_grad(Hc, N, n_train, tau)
        ok = Lc <= L
        H = np.where(ok[:, None, None], Hc, H)
        G = np.where(ok[:, None, None], Gc, G)
        L = np.where(ok, Lc, L)
        lr = np.where(ok, lr, lr / 2)
        if step in want:
            out[step] = H.copy()
    return np.stack([out[int(r)] for r in record])


# -- the exact conditional calibration function delta_tau(eps) = inf {Delta C_tau : Delta C_01 >= eps} ---


def pooled(p: np.ndarray, k: int) -> np.ndarray:
    """p with class k pooled with the classes above it: G = {k} plus the largest p_j while p_j exceeds the
    running mean of G; every class of G gets that mean. For tau < 2, inf{C_tau(s, p): s_k = max_j s_j} =
    C*_tau(pooled(p, k)) (KKT of a convex problem: the tied classes share one multiplier)."""
    p = np.asarray(p, dtype=float)
    n = p.shape[-1]
    others = [j for j in range(n) if j != k]
    q = p[..., others]
    order = np.argsort(-q, axis=-1, kind="stable")
    qs = np.take_along_axis(q, order, axis=-1)
    csum = np.concatenate([np.zeros(p.shape[:-1] + (1,)), np.cumsum(qs, axis=-1)], axis=-1)
    means = (p[..., k:k + 1] + csum) / np.arange(1, n + 1)  # mean of G after adding the j largest others
    nxt = np.concatenate([qs, np.full(p.shape[:-1] + (1,), -np.inf)], axis=-1)
    j_star = np.argmax(nxt <= means, axis=-1)  # first j whose next class does not exceed the mean
    mu = np.take_along_axis(means, j_star[..., None], axis=-1)[..., 0]
    out = p.copy()
    out[..., k] = mu
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(n - 1), axis=-1)
    in_g = ranks < j_star[..., None]
    out[..., others] = np.where(in_g, mu[..., None], q)
    return out


def inf_given_argmax(p: np.ndarray, k: int, tau: float) -> np.ndarray:
    """inf {C_tau(s, p) : s_k >= s_j for all j}. tau < 2: C* of the pooled p (convex case); tau >= 2: l_tau is
    linear/concave in s, so the minimum is at a vertex of that polytope, s uniform on a set S containing k."""
    if tau < 2:
        return cond_risk_inf(pooled(p, k), tau)
    n = p.shape[-1]
    best = None
    ell0 = 1.0 / (tau - 1.0)  # l_tau(0)
    for r in range(n):
        for rest in itertools.combinations([j for j in range(n) if j != k], r):
            S = [k, *rest]
            pS = p[..., S].sum(axis=-1)
            size = len(S)
            val = pS * (1.0 - size ** (1.0 - tau)) / (tau - 1.0) + (1.0 - pS) * ell0
            best = val if best is None else np.minimum(best, val)
    return best


def _calib_objective(p: np.ndarray, tau: float) -> np.ndarray:
    """Delta C_tau of the best s predicting class 1 when class 0 is the most likely: inf - C*."""
    return inf_given_argmax(p, 1, tau) - cond_risk_inf(p, tau)


def calibration_delta(tau: float, n: int, eps: float, grid: int = 241) -> float:
    """delta_tau(eps) = inf over p, s of Delta C_tau(s, p) subject to Delta C_01 >= eps, for n in {2, 3}.

    By label symmetry class 0 is argmax p and s predicts class 1, so Delta C_01 = p_0 - p_1 >= eps; the inner
    infimum over s is exact (`inf_given_argmax`), the outer one over p is a dense grid followed by SLSQP
    restarts from the best grid points for tau < 2 (the minimum of all feasible values found)."""
    from scipy.optimize import minimize

    if n not in (2, 3):
        raise ValueError(f"the calibration panel covers n in {{2, 3}}, got {n}")

    def probs(v: np.ndarray) -> np.ndarray:
        v = np.atleast_2d(v)
        p1 = v[:, 0]
        p2 = v[:, 1] if n == 3 else np.zeros_like(p1)
        cols = [1.0 - p1 - p2, p1] + ([p2] if n == 3 else [])
        return np.clip(np.stack(cols, axis=-1), 0.0, 1.0)

    p1_max = (1.0 - eps) / 2.0
    p1 = np.linspace(0.0, p1_max, grid)
    if n == 3 and eps < 0.5:  # the corner where p_0 = p_2 meets p_0 - p_1 = eps
        p1 = np.sort(np.append(p1, (1.0 - 2.0 * eps) / 3.0))
    if n == 3:
        u = np.linspace(0.0, 1.0, grid)
        P1, U = np.meshgrid(p1, u, indexing="ij")
        p2max = np.minimum((1.0 - P1) / 2.0, 1.0 - eps - 2.0 * P1)  # p_0 >= p_2 and p_0 - p_1 >= eps
        V = np.stack([P1.ravel(), (U * p2max).ravel()], axis=-1)
    else:
        V = p1[:, None]
    f = _calib_objective(probs(V), tau)
    best = float(f.min())
    cons = [{"type": "ineq", "fun": lambda v: 1.0 - 2.0 * v[0] - (v[1] if n == 3 else 0.0) - eps}]
    if n == 3:
        cons.append({"type": "ineq", "fun": lambda v: 1.0 - v[0] - 2.0 * v[1]})
    bnds = [(0.0, 1.0)] * V.shape[1]
    # tau >= 2: the objective is piecewise linear (a min over vertices), where SLSQP only crawls; the grid
    # (which contains the region's corners) decides there
    for i in np.argsort(f)[:3] if tau < 2 else []:
        r = minimize(lambda v: float(_calib_objective(probs(v), tau)[0]), V[i], method="SLSQP", bounds=bnds,
                     constraints=cons, options={"ftol": 1e-14, "maxiter": 200})
        v = np.clip(r.x, 0.0, 1.0)
        p = probs(v)[0]
        if p[0] - p[1] >= eps - 1e-12 and (n == 2 or p[0] >= p[2] - 1e-12):
            best = min(best, float(_calib_objective(p[None], tau)[0]))
    return best
