"""The masking surrogate of paper 50 (spec 50): exact augmentation operator, Walsh eigenbasis, encoders
E1/E2/E3 and the ridge / kernel-ridge linear probes.

Notation: X = {0,1}^L uniform (inputs indexed by the integer x in [0, 2^L)), Walsh characters
chi_S(x) = prod_{j in S} (-1)^{x_j} with S a subset of bits (an integer bit mask), lambda_S = (1-alpha)^{|S|}.
"""

from __future__ import annotations

import itertools

import numpy as np


def popcount(v: np.ndarray) -> np.ndarray:
    """Number of set bits of every entry (small non-negative integers)."""
    v = np.asarray(v, dtype=np.int64)
    out = np.zeros_like(v)
    while np.any(v):
        out += v & 1
        v = v >> 1
    return out


def walsh_matrix(L: int) -> np.ndarray:
    """chi[x, S] = (-1)^{|x & S|}: the eigenfunctions phi_S of T T*, orthonormal in L2(P_X)."""
    N = 2**L
    x = np.arange(N)
    return (1 - 2 * (popcount(x[:, None] & x[None, :]) & 1)).astype(float)


def degrees(L: int) -> np.ndarray:
    """|S| of every character S (indexed like the columns of walsh_matrix)."""
    return popcount(np.arange(2**L))


def eigenvalues(alpha: float, L: int) -> np.ndarray:
    """lambda_S = (1 - alpha)^{|S|} (spec 50, masking model)."""
    return (1.0 - alpha) ** degrees(L)


def target_coefficients(L: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """c_empty = 0, c_S = z_S decay^{|S|}, z_S ~ N(0, 1), normalised to ||f*||^2 = sum c_S^2 = 1."""
    c = rng.standard_normal(2**L) * decay ** degrees(L)
    c[0] = 0.0
    return c / np.sqrt(np.sum(c**2))


def invariance_eps(c: np.ndarray, lam: np.ndarray) -> float:
    """epsilon = sum (1 - lambda_S) c_S^2 / sum c_S^2: how much f* varies under augmentation."""
    return float(np.sum((1.0 - lam) * c**2) / np.sum(c**2))


# -- the augmentation operator built by brute force (for the closed-form checks, V1) -------------------
def masking_operator(L: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """A[x, a] = A(a|x) over the 3^L augmented strings a in {0, 1, M}^L (each bit masked w.p. alpha, kept
    otherwise), and the augmented marginal P_A(a) = sum_x P_X(x) A(a|x)."""
    N = 2**L
    augmented = np.array(list(itertools.product((0, 1, 2), repeat=L)))  # 2 = mask token
    bits = (np.arange(N)[:, None] >> np.arange(L)[None, :]) & 1  # bit j of x
    masked = augmented[None, :, :] == 2
    agree = augmented[None, :, :] == bits[:, None, :]
    per_bit = np.where(masked, alpha, np.where(agree, 1.0 - alpha, 0.0))
    A = per_bit.prod(axis=2)
    P_A = A.mean(axis=0)  # P_X uniform
    return A, P_A


def operator_spectrum(L: int, alpha: float) -> tuple[np.ndarray, float]:
    """Eigenvalues of T T* (squared singular values of B_{x,a} = sqrt(P_X(x)) A(a|x) / sqrt(P_A(a)),
    descending) and kappa^2 = max_x K_X(x, x) with K_X(x, x') = sum_a A(a|x) A(a|x') / P_A(a)."""
    A, P_A = masking_operator(L, alpha)
    N = A.shape[0]
    B = np.sqrt(1.0 / N) * A / np.sqrt(P_A)[None, :]
    s = np.linalg.svd(B, compute_uv=False)
    K_diag = np.sum(A**2 / P_A[None, :], axis=1)
    return np.sort(s**2)[::-1], float(K_diag.max())


# -- encoders ------------------------------------------------------------------------------------------
def top_d_characters(L: int, q: int) -> np.ndarray:
    """E1: the top-d eigenspace = all characters of degree <= q (d = sum_{k<=q} C(L, k))."""
    return np.flatnonzero(degrees(L) <= q)


def partner_characters(L: int, q: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """E2: a distinct random character S' of degree q+1 or q+2 for each of the d top-d features."""
    pool = np.flatnonzero((degrees(L) == q + 1) | (degrees(L) == q + 2))
    return rng.choice(pool, size=d, replace=False)


def encoder_features(chi: np.ndarray, lam: np.ndarray, S: np.ndarray,
                     S_prime: np.ndarray | None = None, theta: float = 0.0) -> np.ndarray:
    """Phi_bar(x) = T Phi(x) on every input (N x d). E1: sqrt(lambda_S) chi_S. E2 (mixed on the augmented
    side, so T maps psi_S -> sqrt(lambda_S) chi_S): cos(theta) sqrt(lambda_S) chi_S + sin(theta)
    sqrt(lambda_S') chi_S'."""
    F = chi[:, S] * np.sqrt(lam[S])[None, :]
    if S_prime is not None and theta != 0.0:
        F = np.cos(theta) * F + np.sin(theta) * chi[:, S_prime] * np.sqrt(lam[S_prime])[None, :]
    return F


def augmentation_kernel(L: int, alpha: float) -> np.ndarray:
    """K_X(x, x') = sum_S lambda_S chi_S(x) chi_S(x') = (2 - alpha)^{#agree} alpha^{#disagree} (N x N)."""
    x = np.arange(2**L)
    h = popcount(x[:, None] ^ x[None, :])
    return (2.0 - alpha) ** (L - h) * alpha**h


# -- probes (vectorised over the draws of the labelled sample) -----------------------------------------
def ridge_probe_error(F: np.ndarray, f_star: np.ndarray, idx: np.ndarray, y: np.ndarray, rho: float
                      ) -> np.ndarray:
    """Linear probe w = argmin (1/n) sum (w^T Phi_bar(x_i) - y_i)^2 + rho ||w||^2 for every draw (rows of
    idx, y), and its exact error E_x (f_hat - f*)^2 over all inputs."""
    n = idx.shape[1]
    d = F.shape[1]
    Fi = F[idx]  # (draws, n, d)
    G = np.matmul(Fi.transpose(0, 2, 1), Fi) / n + rho * np.eye(d)
    b = np.matmul(Fi.transpose(0, 2, 1), y[:, :, None]) / n
    w = np.linalg.solve(G, b)[:, :, 0]
    f_hat = w @ F.T
    return np.mean((f_hat - f_star[None, :]) ** 2, axis=1)


def krr_error(K: np.ndarray, f_star: np.ndarray, idx: np.ndarray, y: np.ndarray, rho: float) -> np.ndarray:
    """E3, RKHS regression with kernel K_X: f_hat = K(., X)(K_XX + n rho I)^{-1} y; exact error."""
    n = idx.shape[1]
    Kxx = K[idx[:, :, None], idx[:, None, :]]
    beta = np.linalg.solve(Kxx + n * rho * np.eye(n), y[:, :, None])[:, :, 0]
    f_hat = np.einsum("snN,sn->sN", K[idx], beta)
    return np.mean((f_hat - f_star[None, :]) ** 2, axis=1)


def span_approx_error(F: np.ndarray, f_star: np.ndarray) -> float:
    """Exact approximation error of f* by span(Phi_bar): least squares over all inputs (uniform P_X)."""
    coef, *_ = np.linalg.lstsq(F, f_star, rcond=None)
    return float(np.mean((F @ coef - f_star) ** 2))


def spearman_rows(x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of every row of Y with x (no ties expected: continuous values)."""
    rx = np.argsort(np.argsort(x)).astype(float)
    rY = np.argsort(np.argsort(Y, axis=1), axis=1).astype(float)
    rx -= rx.mean()
    rY -= rY.mean(axis=1, keepdims=True)
    return (rY @ rx) / np.sqrt((rY**2).sum(axis=1) * (rx @ rx))
