"""Exact-score Gaussian-mixture diffusion and the LML samplers (spec 43; authors' `lm_correct`).

Notation: alpha_bar = cumulative product of (1 - beta) (DDPM linear schedule), eps_hat = -sqrt(1 - alpha_bar) s_t,
s_t and H_t the closed-form score and Hessian of p_t = sum_j pi_j N(sqrt(alpha_bar) m_j, C_j),
C_j = alpha_bar S_j + (1 - alpha_bar) I.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

T_TRAIN = 1000


def alphas_cumprod(beta_start: float = 1e-4, beta_end: float = 0.02, T: int = T_TRAIN) -> np.ndarray:
    return np.cumprod(1.0 - np.linspace(beta_start, beta_end, T))


def trailing_timesteps(nfe: int, T: int = T_TRAIN) -> np.ndarray:
    """diffusers' "trailing" spacing: round(arange(T, 0, -T/N)) - 1, noisiest first."""
    return np.round(np.arange(T, 0, -T / nfe)).astype(np.int64) - 1


@dataclass
class GMM:
    pi: np.ndarray  # (k,)
    m: np.ndarray  # (k, d) means
    Q: np.ndarray  # (k, d, d) eigenvectors of S_j
    lam: np.ndarray  # (k, d) eigenvalues of S_j

    @property
    def d(self) -> int:
        return self.m.shape[1]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        j = rng.choice(len(self.pi), size=n, p=self.pi)
        z = rng.standard_normal((n, self.d)) * np.sqrt(self.lam[j])
        return self.m[j] + np.einsum("nab,nb->na", self.Q[j], z)

    def _parts(self, x: np.ndarray, ab: float):
        """Per component: log densities (n, k), g_j = -C_j^{-1}(x - mu_j) (n, k, d), C_j^{-1} diagonal in Q_j."""
        c = ab * self.lam + (1.0 - ab)  # (k, d) eigenvalues of C_j
        diff = x[:, None, :] - math.sqrt(ab) * self.m[None]  # (n, k, d)
        y = np.matmul(diff.transpose(1, 0, 2), self.Q).transpose(1, 0, 2)  # coordinates in the eigenbasis (n, k, d)
        logn = -0.5 * (y**2 / c).sum(-1) - 0.5 * np.log(c).sum(-1) - 0.5 * self.d * math.log(2 * math.pi)
        g = -np.matmul((y / c).transpose(1, 0, 2), self.Q.transpose(0, 2, 1)).transpose(1, 0, 2)
        return logn + np.log(self.pi), g, c

    def logpdf(self, x: np.ndarray, ab: float = 1.0) -> np.ndarray:
        lp, _, _ = self._parts(x, ab)
        mx = lp.max(1, keepdims=True)
        return (mx + np.log(np.exp(lp - mx).sum(1, keepdims=True)))[:, 0]

    def score(self, x: np.ndarray, ab: float) -> np.ndarray:
        lp, g, _ = self._parts(x, ab)
        r = np.exp(lp - lp.max(1, keepdims=True))
        r /= r.sum(1, keepdims=True)
        return np.einsum("nk,nkd->nd", r, g)

    def hessian(self, x: np.ndarray, ab: float) -> tuple[np.ndarray, np.ndarray]:
        """H = sum_j r_j (g_j g_j^T - C_j^{-1}) - s s^T (spec 43, GMM formula); returns (s, H)."""
        lp, g, c = self._parts(x, ab)
        r = np.exp(lp - lp.max(1, keepdims=True))
        r /= r.sum(1, keepdims=True)
        s = np.einsum("nk,nkd->nd", r, g)
        Cinv = np.einsum("kde,ke,kfe->kdf", self.Q, 1.0 / c, self.Q)
        G = g * np.sqrt(r)[:, :, None]
        k, d = Cinv.shape[0], Cinv.shape[1]
        H = G.transpose(0, 2, 1) @ G - (r @ Cinv.reshape(k, d * d)).reshape(-1, d, d) - s[:, :, None] * s[:, None, :]
        return s, H


def make_gmm(rng: np.random.Generator, d: int, k: int = 8, radius: float = 3.0,
             eig: tuple[float, float] = (0.01, 0.25)) -> GMM:
    """k equal-weight components, means at norm `radius` in random directions, random rotations with
    eigenvalues U(eig)."""
    m = rng.standard_normal((k, d))
    m *= radius / np.linalg.norm(m, axis=1, keepdims=True)
    Q = np.linalg.qr(rng.standard_normal((k, d, d)))[0]
    lam = rng.uniform(eig[0], eig[1], size=(k, d))
    return GMM(np.full(k, 1.0 / k), m, Q, lam)


def eps_hat(gmm: GMM, x: np.ndarray, ab: float) -> np.ndarray:
    return -math.sqrt(1.0 - ab) * gmm.score(x, ab)


def lm_correct(g: np.ndarray, v: np.ndarray, lamb: np.ndarray | float, rescale: bool = True) -> np.ndarray:
    """(lambda I + v v^T)^{-1} g by Sherman-Morrison without the 1/lambda factor: g - v (v.g)/(lambda + |v|^2),
    rescaled to |g| (authors' code). Row-wise over samples."""
    vg = (v * g).sum(-1, keepdims=True)
    vv = (v * v).sum(-1, keepdims=True)
    d = g - v * vg / (np.asarray(lamb, dtype=g.dtype).reshape(-1, 1) + vv)
    if not rescale:
        return d
    return d * np.linalg.norm(g, axis=-1, keepdims=True) / np.linalg.norm(d, axis=-1, keepdims=True)


def newton_direction(g: np.ndarray, H: np.ndarray, ab: float, lamb: float) -> tuple[np.ndarray, np.ndarray]:
    """(lambda I - (1 - alpha_bar) H)^{-1} g (spec 43 'Units'); returns (direction, PD mask). Rows where the
    matrix is not positive definite are returned as NaN (counted by the caller)."""
    n, d = g.shape
    A = lamb * np.eye(d)[None] - (1.0 - ab) * H
    pd = np.linalg.eigvalsh(A)[:, 0] > 0
    out = np.full_like(g, np.nan)
    if pd.any():
        out[pd] = np.linalg.solve(A[pd], g[pd][..., None])[..., 0]
    return out, pd


@dataclass
class SampleOut:
    x0: np.ndarray
    seconds_per_step: float
    non_pd: int = 0  # newton_lm: sample-steps that fell back to eps_hat


def sample(gmm: GMM, xT: np.ndarray, nfe: int, method: str, kappa: float = 0.0, c: float = 1.0,
           ab_all: np.ndarray | None = None) -> SampleOut:
    """DDIM (eta = 0) with trailing spacing. method: ddim | ddim_lm | dpm1_lm | newton_lm.
    ddim_lm: only the "direction pointing to x_t" uses the corrected noise (scheduling_ddim_lm.py);
    dpm1_lm: lm_correct on the whole first-order increment x_prev - x_t; newton_lm: exact damped Newton on eps_hat.
    lambda = c * mean |v|^2 over the batch at each step (relative grid of spec 43)."""
    ab_all = alphas_cumprod() if ab_all is None else ab_all
    ts = trailing_timesteps(nfe)
    x = xT.copy()
    prev = None  # eps_hat (ddim_lm, newton_lm) or the increment (dpm1_lm) of the previous step
    non_pd = 0
    t0 = time.perf_counter()
    for i, t in enumerate(ts):
        ab = ab_all[t]
        ab_prev = ab_all[ts[i + 1]] if i + 1 < len(ts) else 1.0
        if method == "newton_lm":
            s, H = gmm.hessian(x, ab)
            eps = -math.sqrt(1.0 - ab) * s
        else:
            eps = eps_hat(gmm, x, ab)
        x0 = (x - math.sqrt(1.0 - ab) * eps) / math.sqrt(ab)  # DDIM eq. (12), predicted x_0
        direction = eps
        if method in ("ddim_lm", "newton_lm"):
            v = eps if prev is None else kappa * prev + (1.0 - kappa) * eps
            lamb = c * float((v * v).sum(-1).mean())
            if method == "ddim_lm":
                direction = lm_correct(eps, v, lamb)
            else:
                dn, pd = newton_direction(eps, H, ab, lamb)
                non_pd += int((~pd).sum())
                dn[~pd] = eps[~pd]
                direction = dn * np.linalg.norm(eps, axis=1, keepdims=True) / np.linalg.norm(dn, axis=1, keepdims=True)
            prev = eps
        x_new = math.sqrt(ab_prev) * x0 + math.sqrt(1.0 - ab_prev) * direction
        if method == "dpm1_lm":
            D = x_new - x  # first-order increment
            v = D if prev is None else kappa * prev + (1.0 - kappa) * D
            lamb = c * float((v * v).sum(-1).mean())
            x_new = x + lm_correct(D, v, lamb)
            prev = D
        x = x_new
    return SampleOut(x, (time.perf_counter() - t0) / nfe, non_pd)


def w2_exact(a: np.ndarray, b: np.ndarray) -> float:
    """Exact W2 between two equal-size empirical measures: an optimal assignment (Birkhoff: the OT plan between
    uniform measures on n points each can be taken a permutation)."""
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    C = cdist(a, b, "sqeuclidean")
    r, col = linear_sum_assignment(C)
    return math.sqrt(C[r, col].mean())


def w2_sliced(a: np.ndarray, b: np.ndarray, theta: np.ndarray) -> float:
    """Sliced W2: sqrt of the mean over directions theta (L, d) of the 1-D W2^2 (sorted projections)."""
    pa = np.sort(a @ theta.T, axis=0)
    pb = np.sort(b @ theta.T, axis=0)
    return math.sqrt(((pa - pb) ** 2).mean())
