"""The likelihood approximations of spec 40 (reconstructed chain of the paper's Theorem 4.4).

All take per-point arrays (N rows) and return log-likelihood values (N,):
  Q0  first-order Tweedie        -(m/2) log(2 pi sy^2) - ||y - A x0_bar||^2 / (2 sy^2)             (not a bound)
  Q2  second-order (Jensen)      Q0 - Tr(A Sigma A^T) / (2 sy^2)                                    Q2 <= Q1
  Q3  trace surrogate            Q0 - ||A||_2^2 ((1-ab)/ab)(d + (1-ab) Tr H) / (2 sy^2)             Q3 <= Q2
Q1 = log p_t(y | x_t) is exact (algorithms.exact_loglik).
"""

from __future__ import annotations

import math

import numpy as np


def _const(m: int, sigma_y: float) -> float:
    return -0.5 * m * math.log(2.0 * math.pi * sigma_y**2)


def q0_first_order(y: np.ndarray, A: np.ndarray, x0_bar: np.ndarray, sigma_y: float) -> np.ndarray:
    """Q0: the Gaussian log-likelihood at the Tweedie mean (first-order Tweedie, PSLD/DPS-type)."""
    res = y - x0_bar @ A.T
    return _const(A.shape[0], sigma_y) - np.sum(res**2, axis=1) / (2.0 * sigma_y**2)


def q2_second_order(y: np.ndarray, A: np.ndarray, x0_bar: np.ndarray, Sigma: np.ndarray, sigma_y: float
                    ) -> np.ndarray:
    """Q2 = E_{x0|x_t} log N(y; A x0, sy^2 I), exact for linear A given the posterior mean and covariance."""
    tr = np.einsum("ia,nab,ib->n", A, Sigma, A)  # Tr(A Sigma A^T)
    return q0_first_order(y, A, x0_bar, sigma_y) - tr / (2.0 * sigma_y**2)


def trace_sigma_from(trace_form: np.ndarray, ab: float) -> np.ndarray:
    """Tr Sigma = ((1-ab)/ab) * trace_form, with trace_form = d + (1-ab) Tr H (or an estimate of it)."""
    return ((1.0 - ab) / ab) * trace_form


def q3_surrogate(y: np.ndarray, A: np.ndarray, x0_bar: np.ndarray, trace_form: np.ndarray, ab: float,
                 sigma_y: float, norm2: float | None = None) -> np.ndarray:
    """Q3: replaces Tr(A Sigma A^T) by ||A||_2^2 Tr Sigma, which needs only Tr H_t (the paper's surrogate)."""
    a2 = np.linalg.norm(A, 2) ** 2 if norm2 is None else norm2
    return q0_first_order(y, A, x0_bar, sigma_y) - a2 * trace_sigma_from(trace_form, ab) / (2.0 * sigma_y**2)


def excess(a: np.ndarray, b: np.ndarray, rtol: float = 1e-9) -> np.ndarray:
    """True where a <= b is violated beyond the spec's tolerance: a > b + rtol * max(1, |b|)."""
    return a > b + rtol * np.maximum(1.0, np.abs(b))
