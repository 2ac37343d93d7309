"""Mixup in the unconstrained-features model (part A) and mixup-trained MLPs with their probes (part B).

Notation follows spec 30: K classes, classifier rows w_1..w_K (a simplex ETF of norm beta), a mixed example of
classes (c, c') with weight lam has feature h and loss
    L(h) = -lam log softmax(W h)_c - (1 - lam) log softmax(W h)_c' + (mu / 2) ||h||^2.
"""

from __future__ import annotations

import numpy as np

# -- part A: unconstrained features -------------------------------------------------------------------------


def simplex_etf(K: int, d: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    """W = beta sqrt(K/(K-1)) (I_K - 11^T/K) U^T with U (d x K) orthonormal columns: rows of norm beta and
    pairwise inner products -beta^2/(K-1) (spec 30, variant (iv))."""
    if d < K:
        raise ValueError(f"d must be >= K for this construction, got d={d} < K={K}")
    U, _ = np.linalg.qr(rng.standard_normal((d, K)))
    return beta * np.sqrt(K / (K - 1)) * (np.eye(K) - np.ones((K, K)) / K) @ U.T


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def mixup_loss(H: np.ndarray, W: np.ndarray, Y: np.ndarray, mu: float) -> tuple[float, np.ndarray]:
    """Sum over rows of L(h) (soft-label cross-entropy + (mu/2)||h||^2) and its gradient in H.

    H: (n, d) features, W: (K, d), Y: (n, K) soft labels (lam on c, 1 - lam on c')."""
    Z = H @ W.T
    loss = float(np.sum(_logsumexp(Z) - (Y * Z).sum(axis=1)) + 0.5 * mu * np.sum(H * H))
    grad = (_softmax(Z) - Y) @ W + mu * H  # d/dh: W^T (p - y) + mu h
    return loss, grad


def _etf_plane(K: int, beta: float) -> np.ndarray:
    """Gram matrix rows <w_k, w_c>, <w_k, w_c'> of the ETF for k = (c, c', others): the logits of
    h = a w_c + b w_c' are G @ (a, b) (only inner products matter, so no embedding is needed)."""
    off = -beta**2 / (K - 1)
    G = np.full((K, 2), off)
    G[0] = (beta**2, off)
    G[1] = (off, beta**2)
    return G


def solve_plane(lam: np.ndarray, K: int, beta: float, mu: float, same: bool = False,
                gtol: float = 1e-10) -> np.ndarray:
    """The 2-D problem: minimise L(a w_c + b w_c') over (a, b) for each lam (BFGS, gradient tol gtol, then
    two Newton steps to polish to machine precision). same=True is the c = c' case (h = a w_c, b = 0).
    Returns (len(lam), 2) = (a, b)."""
    from scipy.optimize import minimize

    G = _etf_plane(K, beta)
    Gram = G[:2]  # <w_i, w_j> for i, j in {c, c'}
    out = np.zeros((len(lam), 2))
    for i, lm in enumerate(np.asarray(lam, dtype=float)):
        y = np.zeros(K)
        if same:
            y[0] = 1.0
        else:
            y[0], y[1] = lm, 1.0 - lm
        if same:
            Gs, Gr = G[:, :1], Gram[:1, :1]
        else:
            Gs, Gr = G, Gram

        def f(t: np.ndarray, Gs: np.ndarray = Gs, Gr: np.ndarray = Gr, y: np.ndarray = y):
            z = Gs @ t
            p = _softmax(z)
            val = _logsumexp(z[None])[0] - y @ z + 0.5 * mu * t @ Gr @ t
            return float(val), Gs.T @ (p - y) + mu * Gr @ t

        t0 = np.zeros(Gs.shape[1])
        r = minimize(f, t0, jac=True, method="BFGS", options={"gtol": gtol, "maxiter": 200})
        t = r.x
        for _ in range(3):  # Newton polish: Hessian G^T (diag p - p p^T) G + mu Gram
            p = _softmax(Gs @ t)
            Hs = Gs.T @ (np.diag(p) - np.outer(p, p)) @ Gs + mu * Gr
            t = t - np.linalg.solve(Hs, f(t)[1])
        out[i, : len(t)] = t
    return out


def plane_logit_gap(ab: np.ndarray, K: int, beta: float) -> np.ndarray:
    """z_c - z_c' = beta^2 (a - b) K / (K - 1) for h = a w_c + b w_c'."""
    return beta**2 * (ab[:, 0] - ab[:, 1]) * K / (K - 1)


def joint_ufm(W: np.ndarray, lams: np.ndarray, mu: float, rng: np.random.Generator, gtol: float = 1e-8,
              maxiter: int = 2_000, newton_steps: int = 20) -> tuple[np.ndarray, np.ndarray, float]:
    """Optimise free features h_(c, c', lam) in R^d for every ordered pair (c, c') (c = c' included) and every
    lam jointly from N(0, 1) (L-BFGS, then Newton), W fixed.

    Returns H (K, K, L, d), the pairs' soft labels (K, K, L, K) and the final gradient norm."""
    from scipy.optimize import minimize

    K, d = W.shape
    L = len(lams)
    Y = np.zeros((K, K, L, K))
    for c in range(K):
        for c2 in range(K):
            Y[c, c2, :, c] += lams
            Y[c, c2, :, c2] += 1.0 - lams
    Y = Y.reshape(-1, K)
    n = Y.shape[0]

    def f(x: np.ndarray):
        loss, g = mixup_loss(x.reshape(n, d), W, Y, mu)
        return loss, g.ravel()

    x = rng.standard_normal(n * d)
    # L-BFGS brings every feature into the basin; in float64 its line search stalls near 1e-6 (the summed loss
    # is O(n) and cannot resolve smaller decreases), so the last digits come from Newton steps on the exact
    # Hessian of the same joint objective, which is block-diagonal (one d x d block per feature).
    r = minimize(f, x, jac=True, method="L-BFGS-B",
                 options={"maxiter": maxiter, "gtol": 1e-4, "ftol": 0.0, "maxcor": 30})
    Hf = r.x.reshape(n, d)
    for _ in range(newton_steps):
        _, g = mixup_loss(Hf, W, Y, mu)
        if np.linalg.norm(g) <= gtol:
            break
        p = _softmax(Hf @ W.T)
        # block i: W^T (diag p_i - p_i p_i^T) W + mu I
        S = np.einsum("nk,kd,ke->nde", p, W, W) - np.einsum("nd,ne->nde", p @ W, p @ W) + mu * np.eye(d)
        Hf = Hf - np.linalg.solve(S, g[..., None])[..., 0]
    x = Hf.ravel()
    gnorm = float(np.linalg.norm(f(x)[1]))
    return x.reshape(K, K, L, d), Y.reshape(K, K, L, K), gnorm


# -- part B: data, network, training, probes -----------------------------------------------------------------

VARIANTS = ("mixup_ce", "erm", "mixup_mse", "mixup_etf")


def make_model(K: int, variant: str, rng: np.random.Generator, width: int = 256, feat: int = 64):
    """MLP 64 -> width -> width -> feat (ReLU after the two wide layers; linear features) and a bias-free linear
    classifier; for mixup_etf the classifier is frozen to a random simplex ETF with beta = 1."""
    import torch
    from torch import nn

    body = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, feat))
    head = nn.Linear(feat, K, bias=False)
    if variant == "mixup_etf":
        W = simplex_etf(K, feat, 1.0, rng)
        with torch.no_grad():
            head.weight.copy_(torch.as_tensor(W, dtype=torch.float32))
        head.weight.requires_grad_(False)
    return body, head


def train(X: np.ndarray, y: np.ndarray, K: int, variant: str, epochs: int, rng: np.random.Generator,
          alpha: float = 1.0, lr: float = 1e-3, weight_decay: float = 5e-4, batch: int = 128):
    """Terminal-phase training (spec 30 B): Adam, batch 128; mixup draws one lam ~ Beta(alpha, alpha) per batch and
    mixes it with a random permutation of itself (Zhang et al. 2018); CE on soft labels or MSE on one-hot."""
    import torch

    torch.manual_seed(int(rng.integers(2**31)))
    body, head = make_model(K, variant, rng)
    params = [p for p in (*body.parameters(), *head.parameters()) if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    Yt = torch.nn.functional.one_hot(torch.as_tensor(y), K).float()
    n = len(y)
    for _ in range(epochs):
        perm = torch.as_tensor(rng.permutation(n))
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            xb, yb = Xt[idx], Yt[idx]
            if variant != "erm":
                lam = float(rng.beta(alpha, alpha))
                partner = torch.as_tensor(rng.permutation(len(idx)))
                xb = lam * xb + (1 - lam) * xb[partner]
                yb = lam * yb + (1 - lam) * yb[partner]
            z = head(body(xb))
            if variant == "mixup_mse":
                loss = ((z - yb) ** 2).sum(dim=1).mean()
            else:
                loss = -(yb * torch.log_softmax(z, dim=1)).sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return body, head


def features(body, head, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    import torch

    with torch.no_grad():
        h = body(torch.as_tensor(X, dtype=torch.float32))
        z = head(h)
    return h.double().numpy(), z.double().numpy()


def probe_inputs(X: np.ndarray, y: np.ndarray, K: int, lams: np.ndarray, n_pairs: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """For every ordered class pair (c, c') (c = c' included) and lam, mix n_pairs random training pairs.
    Returns inputs (K, K, L, n_pairs, 64) flattened to rows, and the (c, c', lam index) of each row."""
    by = [np.flatnonzero(y == k) for k in range(K)]
    L = len(lams)
    Xp = np.zeros((K, K, L, n_pairs, X.shape[1]))
    for c in range(K):
        for c2 in range(K):
            i = rng.choice(by[c], size=(L, n_pairs))
            j = rng.choice(by[c2], size=(L, n_pairs))
            Xp[c, c2] = lams[:, None, None] * X[i] + (1 - lams[:, None, None]) * X[j]
    return Xp.reshape(-1, X.shape[1]), np.array(np.unravel_index(np.arange(K * K * L * n_pairs),
                                                                  (K, K, L, n_pairs))[:3]).T


# -- measures ---------------------------------------------------------------------------------------------------


def rankdata(v: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions), 1-based."""
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    sv = v[order]
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks


def spearman(u: np.ndarray, v: np.ndarray) -> float:
    """Spearman's rho: the Pearson correlation of the ranks."""
    ru, rv = rankdata(np.asarray(u, float)), rankdata(np.asarray(v, float))
    ru, rv = ru - ru.mean(), rv - rv.mean()
    return float(ru @ rv / np.sqrt((ru @ ru) * (rv @ rv)))


def ece(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error with n_bins equal-width confidence bins: sum_b |B_b|/n |acc_b - conf_b|."""
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(float)
    b = np.minimum((conf * n_bins).astype(int), n_bins - 1)  # bins [k/n, (k+1)/n), the last one closed
    tot = 0.0
    for k in range(n_bins):
        m = b == k
        if m.any():
            tot += m.sum() / len(y) * abs(correct[m].mean() - conf[m].mean())
    return float(tot)


def r_squared(target: np.ndarray, pred: np.ndarray) -> float:
    """1 - SS_res / SS_tot, pooled over all coordinates (rows are observations)."""
    t = np.asarray(target, float)
    ss_res = np.sum((t - pred) ** 2)
    ss_tot = np.sum((t - t.mean(axis=0)) ** 2)
    return float(1.0 - ss_res / ss_tot)


def fit_scale(g_theory: np.ndarray, g_net: np.ndarray) -> tuple[float, float]:
    """Least-squares s (no intercept) with s * g_theory ~ g_net, and the R^2 of that fit."""
    s = float(g_theory @ g_net / (g_theory @ g_theory))
    return s, r_squared(g_net[:, None], s * g_theory[:, None])
