"""Bounds of paper 01 (spec 01, C1-C3), as small pure functions.

C1 (hierarchical KL bound): |gen| <= (1/n) sum_i sqrt(2 sigma^2 D_k^(i)); in the Gaussian instance
    D_k = I(w; V_k^(i)) is a Gaussian mutual information (exact, log-determinants).
C2 (Wasserstein bound): gen <= E_w[Lip_k(w) W_1(law(V_k^(i) | w), law(V~_k))], W_1 <= W_2 (Gelbrich).
C3 (SDPI): contraction coefficients of Dropout, DropConnect and Gaussian-noise layers.
"""

from __future__ import annotations

import numpy as np

SIGMA_LOSS = 0.5  # a [0, 1]-valued loss is 1/2-sub-Gaussian
LIP_PHI = 0.25  # phi(u) = 1 / (1 + e^u) is 1/4-Lipschitz


# -- Gaussian chain -----------------------------------------------------------------------------------

def chain_moments(A: list[np.ndarray], s: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """B_k = A_k ... A_1 (B_0 = I) and Sigma_k = A_k Sigma_{k-1} A_k^T + s^2 I (Sigma_0 = 0), k = 0..L."""
    d0 = A[0].shape[1]
    B, S = [np.eye(d0)], [np.zeros((d0, d0))]
    for Ak in A:
        B.append(Ak @ B[-1])
        S.append(Ak @ S[-1] @ Ak.T + s**2 * np.eye(Ak.shape[0]))
    return B, S


def joint_blocks(B: list[np.ndarray], S: list[np.ndarray], k: int, n: int, sigma_x: float, sigma_xi: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cov(w), Cov(V_k), Cov(w, V_k^(i)) of the noisy class-mean-difference readout (spec, Part A)."""
    L = len(B) - 1
    C_ww = (sigma_x**2 * B[L] @ B[L].T + S[L]) / n + sigma_xi**2 * np.eye(B[L].shape[0])
    C_vv = sigma_x**2 * B[k] @ B[k].T + S[k]
    C_wv = sigma_x**2 / n * B[L] @ B[k].T
    return C_ww, C_vv, C_wv


def gaussian_mi(C_ww: np.ndarray, C_vv: np.ndarray, C_wv: np.ndarray) -> float:
    """I(w; v) in nats of a jointly Gaussian pair: (1/2)[log det C_ww + log det C_vv - log det J]."""
    J = np.block([[C_ww, C_wv], [C_wv.T, C_vv]])
    return 0.5 * (np.linalg.slogdet(C_ww)[1] + np.linalg.slogdet(C_vv)[1] - np.linalg.slogdet(J)[1])


def kl_bound(D: np.ndarray | float, sigma: float = SIGMA_LOSS) -> np.ndarray | float:
    """C1: sqrt(2 sigma^2 D_k) (all training examples are exchangeable, so the average over i is one term)."""
    return np.sqrt(2 * sigma**2 * np.asarray(D))


def psd_sqrt(S: np.ndarray) -> np.ndarray:
    lam, U = np.linalg.eigh((S + S.T) / 2)
    return (U * np.sqrt(np.clip(lam, 0, None))) @ U.T


def gelbrich_w2_sq(m1: np.ndarray, S1: np.ndarray, m2: np.ndarray, S2: np.ndarray) -> float:
    """W_2^2 between N(m1, S1) and N(m2, S2) (Gelbrich 1990)."""
    r2 = psd_sqrt(S2)
    cross = psd_sqrt(r2 @ S1 @ r2)
    return float(np.sum((m1 - m2) ** 2) + np.trace(S1 + S2 - 2 * cross))


def wasserstein_bound_draws(A: list[np.ndarray], B: list[np.ndarray], S: list[np.ndarray], k: int, n: int,
                            sigma_x: float, sigma_xi: float, m: np.ndarray, w: np.ndarray) -> np.ndarray:
    """C2 integrand Lip_k(w) W_2(law(V_k^(i) | w), law(V~_k)) for each row of w (draws from the law of w).

    Lip_k(w) = (1/4) ||(A_L ... A_{k+1})^T w||; V_k^(i) | w is Gaussian conditioning of the joint law, its
    covariance does not depend on w, so W_2^2 = ||K (w - E w)||^2 + a constant trace term."""
    L = len(A)
    C_ww, C_vv, C_wv = joint_blocks(B, S, k, n, sigma_x, sigma_xi)
    Kmat = np.linalg.solve(C_ww, C_wv).T  # C_vw C_ww^{-1}
    S_cond = C_vv - Kmat @ C_wv
    trace_term = gelbrich_w2_sq(np.zeros(len(C_vv)), S_cond, np.zeros(len(C_vv)), C_vv)
    shift = (w - B[L] @ m) @ Kmat.T
    w2 = np.sqrt(np.sum(shift**2, axis=1) + max(trace_term, 0.0))
    P = np.eye(B[k].shape[0])
    for Aj in A[k:]:  # A_L ... A_{k+1}
        P = Aj @ P
    lip = LIP_PHI * np.linalg.norm(w @ P, axis=1)
    return lip * w2


# -- SDPI coefficients (C3) -----------------------------------------------------------------------------

def eta_dropout(p: float | np.ndarray, d: int | np.ndarray) -> np.ndarray:
    """Dropout on a width-d input: the output forgets the input when all d units drop (Doeblin)."""
    return 1.0 - np.asarray(p, dtype=float) ** np.asarray(d)


def eta_dropconnect(p: float | np.ndarray, d: int | np.ndarray, d_out: int) -> np.ndarray:
    """DropConnect on a d_out x d weight matrix: every one of the d d_out weights must drop."""
    return 1.0 - np.asarray(p, dtype=float) ** (np.asarray(d) * d_out)


def eta_gaussian_noise(D: float | np.ndarray, s: float) -> np.ndarray:
    """Gaussian noise injection with pre-noise outputs of Euclidean diameter D: 2 Phi(D / (2 s)) - 1."""
    from scipy.stats import norm

    return 2 * norm.cdf(np.asarray(D, dtype=float) / (2 * s)) - 1


def contraction_product(widths: list[int], p: float) -> float:
    """prod_j (1 - p^{d_j}) over the Dropout layers of an architecture (C3's depth/width message)."""
    return float(np.prod(eta_dropout(p, np.asarray(widths))))


def kl_discrete(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """KL(P || Q) in nats along the last axis (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(P > 0, P * (np.log(P) - np.log(Q)), 0.0)
    return t.sum(axis=-1)
