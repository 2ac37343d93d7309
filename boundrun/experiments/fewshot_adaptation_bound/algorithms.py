"""The surrogate's data model and learners (spec 20, "Experiment").

Features z in R^D. Source: z | y ~ N(y mu_S, I), mu_S = r e_1. Target with gap g: z | y ~ N(y mu_T + c e_D, I),
mu_T = r (cos g e_1 + sin g v), v_j ∝ 1/(j-1) for j = 2..D, ||v|| = 1, c = g/30 (g in degrees).
A classifier of capacity d sees the first d coordinates only (d_VC = d + 1 with a bias).

The learner is L2-regularised logistic regression with an unpenalised intercept, the objective of
sklearn's LogisticRegression(C) with sample weights s_i:  1/2 ||w||^2 + C sum_i s_i log(1 + exp(-y_i (w.x_i + b))),
solved by damped Newton steps, batched over independent problems (draws).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit, ndtr


def direction_v(D: int) -> np.ndarray:
    """v = sum_{j=2..D} v_j e_j with v_j ∝ 1/(j-1) and ||v|| = 1 (index 0 is e_1)."""
    v = np.zeros(D)
    v[1:] = 1.0 / np.arange(1, D)
    return v / np.linalg.norm(v)


def target_geometry(g_deg: float, r: float, D: int) -> tuple[np.ndarray, np.ndarray]:
    """(mu_T, shift): the class mean direction of the target and its class-independent shift c e_D."""
    g = np.deg2rad(g_deg)
    mu_T = r * (np.cos(g) * np.eye(D)[0] + np.sin(g) * direction_v(D))
    shift = np.zeros(D)
    shift[D - 1] = g_deg / 30.0
    return mu_T, shift


def best_in_class_error(g_deg: float, d: int, r: float, D: int) -> float:
    """Exact eps_T(h*_T) of linear classifiers on the first d coordinates:
    Phi(-r sqrt(cos^2 g + sin^2 g sum_{2<=j<=d} v_j^2)); at d = D the visible shift is absorbed by the
    bias, giving Phi(-r)."""
    mu_T, _ = target_geometry(g_deg, r, D)
    return float(ndtr(-np.linalg.norm(mu_T[:d])))


def linear_error(w: np.ndarray, b: np.ndarray, mu: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Exact 0-1 error of sign(w.z + b) under z | y ~ N(y mu + shift, I), y uniform on {-1, +1}
    (w: (..., d); mu, shift restricted to the same d coordinates)."""
    norm = np.linalg.norm(w, axis=-1)
    a = w @ mu
    s = w @ shift + b
    with np.errstate(divide="ignore", invalid="ignore"):
        err = 0.5 * (ndtr(-(a + s) / norm) + ndtr(-(a - s) / norm))
    return np.where(norm > 0, err, 0.5)


def fit_logreg(X: np.ndarray, y: np.ndarray, s: np.ndarray | None = None, C: float = 1.0,
               tol: float = 1e-9, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Batched L2 logistic regression (intercept unpenalised). X: (B, n, d), y: (B, n) in {-1, +1},
    s: sample weights (B, n) or None. Returns w (B, d), b (B,)."""
    B, n, d = X.shape
    s = np.ones((B, n)) if s is None else s
    Z = np.concatenate([X, np.ones((B, n, 1))], axis=2) * y[..., None]  # rows y_i (x_i, 1)
    reg = np.ones(d + 1)
    reg[-1] = 0.0  # the intercept is not penalised
    theta = np.zeros((B, d + 1))

    def objective(th: np.ndarray, idx: np.ndarray | slice = slice(None)) -> np.ndarray:
        m = np.matmul(Z[idx], th[..., None])[..., 0]
        return 0.5 * (th**2 * reg).sum(-1) - C * (s[idx] * log_expit(m)).sum(-1)

    f = objective(theta)
    for _ in range(max_iter):
        m = np.matmul(Z, theta[..., None])[..., 0]
        p = expit(-m)  # = 1 - sigma(margin)
        grad = theta * reg - C * np.matmul((s * p)[:, None, :], Z)[:, 0]
        if np.abs(grad).max() < tol:
            break
        h = C * s * p * (1 - p)
        H = np.matmul(Z.transpose(0, 2, 1), Z * h[..., None]) + np.diag(reg)[None]
        H[:, -1, -1] += 1e-12  # keeps an all-one-class sample solvable
        step = -np.linalg.solve(H, grad[..., None])[..., 0]
        # damped Newton: halve the step, problem by problem, until the objective does not increase
        t = np.ones(B)
        todo = np.arange(B)
        for _ in range(30):
            new = objective(theta[todo] + t[todo, None] * step[todo], todo)
            ok = new <= f[todo] + 1e-12
            f[todo[ok]] = new[ok]
            todo = todo[~ok]
            if len(todo) == 0:
                break
            t[todo] *= 0.5
        t[todo] = 0.0  # no decrease found: keep theta (converged to rounding)
        theta = theta + t[:, None] * step
    return theta[:, :d], theta[:, d]


def proxy_a_distance(U_S: np.ndarray, U_T: np.ndarray, C: float = 1.0) -> float:
    """Proxy A-distance 2(1 - 2 err) of a linear domain classifier trained on one half of U_S, U_T and
    tested on the other half (Ben-David et al. 2006); clipped at 0 (a chance-level classifier)."""
    h_s, h_t = len(U_S) // 2, len(U_T) // 2
    Xtr = np.concatenate([U_S[:h_s], U_T[:h_t]])
    ytr = np.concatenate([-np.ones(h_s), np.ones(h_t)])
    Xte = np.concatenate([U_S[h_s:], U_T[h_t:]])
    yte = np.concatenate([-np.ones(len(U_S) - h_s), np.ones(len(U_T) - h_t)])
    w, b = fit_logreg(Xtr[None], ytr[None], C=C)
    err = float(np.mean(np.sign(Xte @ w[0] + b[0]) != yte))
    return max(0.0, 2.0 * (1.0 - 2.0 * err))
