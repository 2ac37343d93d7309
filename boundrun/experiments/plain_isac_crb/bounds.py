"""Deterministic (conditional) Cramer-Rao bounds for single-snapshot 3-D harmonic retrieval (spec 11).

H = sum_p beta_p a_p o d_p o v_p + W, W ~ CN(0, sigma^2). Both functions return a (3, P) array: the
variances of angle (deg^2), distance (m^2) and radial speed ((m/s)^2) per object.
"""

from __future__ import annotations

import numpy as np


def crb_per_dimension(dX: np.ndarray, X: np.ndarray, Y: np.ndarray, Z: np.ndarray, S: np.ndarray,
                      sigma2: float = 1.0, Ns: int = 1) -> np.ndarray:
    """calcCRBTensor (Van Trees, Optimum Array Processing, eq. 8.110) for the dimension with factor X:
    the other dimensions' parameters known, the amplitudes unknown. Returns the full P x P matrix."""
    YZ = (Y.conj().T @ Y) * (Z.conj().T @ Z)
    G = (dX.conj().T @ dX) * YZ
    Q = (dX.conj().T @ X) * YZ
    Phi = (X.conj().T @ X) * YZ
    Hm = G - Q @ np.linalg.solve(Phi, Q.conj().T)
    return sigma2 / (2 * Ns) * np.linalg.inv(np.real(S * Hm.T))


def crb_per_dimension_all(A, D, V, dA, dD, dV, beta: np.ndarray, S_kind: str = "diag") -> np.ndarray:
    """The three per-dimension bounds' diagonals; S = diag|beta|^2 (authors) or beta beta^H (exact)."""
    S = np.diag(np.abs(beta) ** 2) if S_kind == "diag" else np.outer(beta, beta.conj())
    return np.stack([np.diag(crb_per_dimension(dA, A, D, V, S)), np.diag(crb_per_dimension(dD, D, A, V, S)),
                     np.diag(crb_per_dimension(dV, V, A, D, S))])


def joint_fim(A, D, V, dA, dD, dV, beta: np.ndarray, sigma2: float = 1.0) -> np.ndarray:
    """F = (2/sigma^2) Re(J^H J) over (theta_p, dist_p, v_p, Re beta_p, Im beta_p) for p = 1..P (that order,
    parameter-major). Each Jacobian column is c * u1 o u2 o u3, so J^H J is the Hadamard product of the
    three factor Gram matrices and conj(c) c^T."""
    one = np.ones_like(beta)
    U1 = np.concatenate([dA, A, A, A, A], axis=1)
    U2 = np.concatenate([D, dD, D, D, D], axis=1)
    U3 = np.concatenate([V, V, dV, V, V], axis=1)
    c = np.concatenate([beta, beta, beta, one, 1j * one])
    G = np.outer(c.conj(), c) * (U1.conj().T @ U1) * (U2.conj().T @ U2) * (U3.conj().T @ U3)
    return 2 / sigma2 * np.real(G)


def crb_joint(A, D, V, dA, dD, dV, beta: np.ndarray, sigma2: float = 1.0) -> np.ndarray:
    """All 5P real parameters unknown: the theta / dist / v diagonal of F^{-1}, shape (3, P)."""
    P = len(beta)
    F = joint_fim(A, D, V, dA, dD, dV, beta, sigma2)
    # scale to unit diagonal before inverting (the parameters' units differ by orders of magnitude)
    s = 1 / np.sqrt(np.diag(F))
    C = np.linalg.inv(F * np.outer(s, s)) * np.outer(s, s)
    return np.diag(C)[: 3 * P].reshape(3, P)
