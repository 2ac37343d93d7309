"""The sample-wise landscape bound of spec 35 (part A), as small pure functions.

For per-sample losses l_i that are beta-smooth on a region holding the sample-wise minimisers theta*_i and
their mean theta_bar*, smoothness at the stationary points theta*_i gives
l_i(theta_bar*) <= l_i(theta*_i) + (beta/2) ||theta_bar* - theta*_i||^2; averaging over i,

    min_theta L(theta) <= L(theta_bar*) <= (1/n) sum_i l_i(theta*_i) + (beta/2) Psi,
    Psi = (1/n) sum_i ||theta*_i - theta_bar*||^2.

The paper's own statement and constants could not be read (spec 35): `reconstructed`.
"""

from __future__ import annotations

import numpy as np


def psi(theta_star: np.ndarray) -> np.ndarray:
    """Dispersion of the sample-wise minima, Psi = (1/n) sum_i ||theta*_i - mean||^2.

    theta_star: (..., n, D) -> (...,)."""
    dev = theta_star - theta_star.mean(axis=-2, keepdims=True)
    return (dev**2).sum(axis=(-2, -1)) / theta_star.shape[-2]


def psi_pairwise(theta_star: np.ndarray) -> np.ndarray:
    """The same dispersion in its pairwise form (1/(2 n^2)) sum_{i,j} ||theta*_i - theta*_j||^2 (a check)."""
    n = theta_star.shape[-2]
    diff = theta_star[..., :, None, :] - theta_star[..., None, :, :]
    return (diff**2).sum(axis=(-3, -2, -1)) / (2 * n**2)


def smoothness(X: np.ndarray, rho: float) -> np.ndarray:
    """beta = max_i ||x_i||^2 / 4 + rho: the logistic loss has curvature sigma' <= 1/4 along x_i."""
    return (X**2).sum(axis=-1).max(axis=-1) / 4 + rho


def psi_bound(mean_sample_min: np.ndarray, beta: np.ndarray, Psi: np.ndarray, beta_scale: float = 1.0) -> np.ndarray:
    """Upper bound on min L: mean_i l_i(theta*_i) + (beta/2) Psi (beta_scale != 1 only as a negative control)."""
    return mean_sample_min + beta_scale * beta / 2 * Psi
