"""Paper 42 proxy interpolation-error bounds (spec 42, `reconstructed`: the paper's theorem was not readable).

For P1 interpolation on a triangulation, per cell ||u - I_h u||_{L2(K)} <= C diam(K) ||grad u||_{L2(K)} (first
order, matching the |grad u| monitor) and <= C' diam(K)^2 |u|_{H2(K)} (second order), so
    B1 = sqrt(sum_K diam(K)^2 int_K |grad u|^2),   B2 = sqrt(sum_K diam(K)^4 int_K |D^2 u|_F^2),
the integrals by fine-grid quadrature (each fine point carries the weight 1/M^2 of its cell and belongs to the
triangle that contains it). C, C' are unknown: fitted on the uniform mesh at the smallest N.
"""

from __future__ import annotations

import numpy as np


def proxy_bounds(diam_at: np.ndarray, ux: np.ndarray, uy: np.ndarray, uxx: np.ndarray, uxy: np.ndarray,
                 uyy: np.ndarray) -> tuple[float, float]:
    """B1, B2 from diam(K(p)) at every fine point p (M, M) and the fine-grid derivatives of u."""
    h2 = 1.0 / ux.size  # quadrature weight of a fine point on the unit square
    b1 = float(np.sqrt(np.sum(diam_at**2 * (ux**2 + uy**2)) * h2))
    b2 = float(np.sqrt(np.sum(diam_at**4 * (uxx**2 + 2 * uxy**2 + uyy**2)) * h2))
    return b1, b2


def fit_constant(error_mean: float, bound_mean: float) -> float:
    """C such that C * B equals the measured error (the uniform mesh at the smallest N)."""
    if bound_mean <= 0:
        raise ValueError("the proxy bound must be positive to fit its constant")
    return error_mean / bound_mean
